/**
 * The S3N loss (the authors' `multi_smooth_loss`) term by term against values computed here in
 * float64, and every argument check with its exact message (what `npm run mutate` asks of
 * src/model/loss.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkLabelRange, checkLossOptions, s3nLoss, smoothCrossEntropy } from '../../src/model/loss';

const LOGITS = [
  [2, 0, -1],
  [0.5, 1.5, -0.5],
];
const LABELS = [0, 2];

/** -mean_b Σ_c t_c log softmax(x_b)_c in float64, t = ratio on the label, (1 - ratio)/(C - 1) elsewhere. */
function reference(logits: number[][], labels: number[], ratio: number): number {
  let total = 0;
  logits.forEach((row, b) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    row.forEach((v, c) => {
      const t = c === labels[b] ? ratio : row.length > 1 ? (1 - ratio) / (row.length - 1) : 0;
      total -= t * (v - lse);
    });
  });
  return total / logits.length;
}

const value = (t: tf.Tensor) => t.dataSync()[0];
const labels = () => tf.tensor1d(LABELS, 'int32');
/** Four different logits, so that a term taken from the wrong output shows. */
const fourOutputs = () => [0, 1, 2, 3].map((k) => tf.tensor2d(LOGITS.map((r) => r.map((v, c) => v * (1 + 0.5 * k) + (k === 2 ? c : 0)))));
const asArrays = (outs: tf.Tensor[]) => outs.map((o) => o.arraySync() as number[][]);

describe('smoothCrossEntropy', () => {
  it('is plain cross-entropy by default and with ratio 1', () => {
    const x = tf.tensor2d(LOGITS);
    expect(value(smoothCrossEntropy(x, labels()))).toBeCloseTo(reference(LOGITS, LABELS, 1), 5);
    expect(value(smoothCrossEntropy(x, labels(), 1))).toBeCloseTo(reference(LOGITS, LABELS, 1), 5);
    // The documented example: [2, 0, 0], label 0.
    expect(value(smoothCrossEntropy(tf.tensor2d([[2, 0, 0]]), tf.tensor1d([0], 'int32')))).toBeCloseTo(0.2395, 4);
  });

  it.each([0.85, 0.5, 0.2])('smooths the targets with ratio %f: ratio on the label, the rest spread evenly', (ratio) => {
    const x = tf.tensor2d(LOGITS);
    expect(value(smoothCrossEntropy(x, labels(), ratio))).toBeCloseTo(reference(LOGITS, LABELS, ratio), 5);
  });

  it('with one class the target is the label alone', () => {
    expect(value(smoothCrossEntropy(tf.tensor2d([[3], [-1]]), tf.tensor1d([0, 0], 'int32'), 0.5))).toBeCloseTo(0, 6);
  });

  it('averages over the batch (not a sum)', () => {
    const one = value(smoothCrossEntropy(tf.tensor2d([LOGITS[0]]), tf.tensor1d([0], 'int32'), 0.85));
    const twice = value(smoothCrossEntropy(tf.tensor2d([LOGITS[0], LOGITS[0]]), tf.tensor1d([0, 0], 'int32'), 0.85));
    expect(twice).toBeCloseTo(one, 6);
  });
});

describe('s3nLoss', () => {
  it('is CE(fused) + CE_0.85(raw) + CE(discriminative) + CE_0.85(complementary) by default', () => {
    const outs = fourOutputs();
    const x = asArrays(outs);
    const expected = reference(x[0], LABELS, 1) + reference(x[1], LABELS, 0.85) + reference(x[2], LABELS, 1) + reference(x[3], LABELS, 0.85);
    expect(value(s3nLoss(outs, labels()))).toBeCloseTo(expected, 4);
  });

  it.each([0, 1, 2, 3])('weights select term %i, with its own smoothing', (k) => {
    const outs = fourOutputs();
    const x = asArrays(outs);
    const weights = [0, 0, 0, 0] as [number, number, number, number];
    weights[k] = 2.5;
    const ratio = k % 2 === 1 ? 0.6 : 1;
    expect(value(s3nLoss(outs, labels(), { weights, smoothRatio: 0.6 }))).toBeCloseTo(2.5 * reference(x[k], LABELS, ratio), 4);
  });

  it('creates no tensor beyond its result', () => {
    const outs = fourOutputs();
    const y = labels();
    const before = tf.memory().numTensors;
    const loss = s3nLoss(outs, y);
    expect(tf.memory().numTensors).toBe(before + 1);
    loss.dispose();
  });

  it('checks the labels are class indices unless validateLabels is false', () => {
    const outs = fourOutputs();
    expect(() => s3nLoss(outs, tf.tensor1d([0, 3], 'int32'))).toThrow(
      's3nLoss: labels must be class indices in [0, 3), but got 3 at index 1.',
    );
    expect(() => s3nLoss(outs, tf.tensor1d([-1, 0], 'int32'))).toThrow(
      's3nLoss: labels must be class indices in [0, 3), but got -1 at index 0.',
    );
    expect(Number.isFinite(value(s3nLoss(outs, tf.tensor1d([0, 2], 'int32'))))).toBe(true);
    // Out of range, unchecked: an all-zero target for that sample (finite, nothing thrown).
    expect(Number.isFinite(value(s3nLoss(outs, tf.tensor1d([0, 3], 'int32'), { validateLabels: false })))).toBe(true);
  });

  it('rejects bad outputs and labels with exact messages', () => {
    const outs = fourOutputs();
    const y = labels();
    const msg = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(msg(() => s3nLoss(outs.slice(0, 3), y))).toBe(
      's3nLoss: outputs must be the 4 logits [fused, raw, discriminative, complementary], but got 3 tensors.',
    );
    expect(msg(() => s3nLoss(outs[0] as never, y))).toBe(
      's3nLoss: outputs must be the 4 logits [fused, raw, discriminative, complementary], but got a single tensor.',
    );
    expect(msg(() => s3nLoss([outs[0], outs[1], tf.ones([2, 3, 1]), outs[3]], y))).toBe(
      's3nLoss: outputs[2] must be a tensor of rank 2 [batch, classes], but got rank 3 (shape [2,3,1]).',
    );
    expect(msg(() => s3nLoss(outs, tf.tensor2d([[0], [1]], undefined, 'int32')))).toBe(
      's3nLoss: labels must be a tensor of rank 1 [batch] of class indices, but got rank 2 (shape [2,1]).',
    );
    expect(msg(() => s3nLoss(outs, tf.tensor1d([0, 2])))).toBe('s3nLoss: labels must be an int32 tensor of class indices, but got dtype float32.');
    expect(msg(() => s3nLoss([outs[0], outs[1], outs[2], tf.ones([2, 4])], y))).toBe('s3nLoss: outputs[3] must be [2, 3] like outputs[0], but got shape [2,4].');
    expect(msg(() => s3nLoss([outs[0], tf.ones([3, 3]), outs[2], outs[3]], y))).toBe('s3nLoss: outputs[1] must be [2, 3] like outputs[0], but got shape [3,3].');
    expect(msg(() => s3nLoss([outs[0], outs[1], tf.ones([2, 3], 'int32'), outs[3]], y))).toBe(
      's3nLoss: outputs[2] must be a float32 tensor of logits, but got dtype int32.',
    );
    const oneClass = [0, 1, 2, 3].map(() => tf.ones([2, 1]));
    expect(msg(() => s3nLoss(oneClass, y))).toBe('s3nLoss: outputs must be logits of at least one image and 2 classes, but got shape [2,1].');
    const noImage = [0, 1, 2, 3].map(() => tf.ones([0, 3]));
    expect(msg(() => s3nLoss(noImage, tf.tensor1d([], 'int32')))).toBe('s3nLoss: outputs must be logits of at least one image and 2 classes, but got shape [0,3].');
    // Two classes and one image are enough.
    const small = [0, 1, 2, 3].map(() => tf.tensor2d([[1, 0]]));
    expect(value(s3nLoss(small, tf.tensor1d([1], 'int32')))).toBeCloseTo(2 * reference([[1, 0]], [1], 1) + 2 * reference([[1, 0]], [1], 0.85), 4);
    expect(msg(() => s3nLoss(outs, tf.tensor1d([0, 1, 2], 'int32')))).toBe('s3nLoss: labels must be 2 labels like the batch, but got 3.');
  });

  it('rejects bad options with exact messages', () => {
    const outs = fourOutputs();
    const y = labels();
    const cases: [unknown, string][] = [
      [null, 'options must be an object, but got null'],
      [3, 'options must be an object, but got 3'],
      [{ smoothRatio: 0 }, 'smoothRatio must be a number in (0, 1], but got 0'],
      [{ smoothRatio: 1.01 }, 'smoothRatio must be a number in (0, 1], but got 1.01'],
      [{ smoothRatio: NaN }, 'smoothRatio must be a number in (0, 1], but got NaN'],
      [{ smoothRatio: '0.5' }, "smoothRatio must be a number in (0, 1], but got '0.5'"],
      [{ weights: [1, 1, 1] }, 'weights must be an array of 4 finite numbers >= 0 (fused, raw, discriminative, complementary), but got [1,1,1]'],
      [{ weights: [1, 1, 1, 1, 1] }, 'weights must be an array of 4 finite numbers >= 0 (fused, raw, discriminative, complementary), but got [1,1,1,1,1]'],
      [{ weights: [1, -1, 1, 1] }, 'weights must be an array of 4 finite numbers >= 0 (fused, raw, discriminative, complementary), but got [1,-1,1,1]'],
      [{ weights: [1, 1, Infinity, 1] }, 'weights must be an array of 4 finite numbers >= 0 (fused, raw, discriminative, complementary), but got [1,1,Infinity,1]'],
      [{ weights: [1, 1, 1, '1'] }, "weights must be an array of 4 finite numbers >= 0 (fused, raw, discriminative, complementary), but got [1,1,1,'1']"],
      [{ weights: 1 }, 'weights must be an array of 4 finite numbers >= 0 (fused, raw, discriminative, complementary), but got 1'],
      [{ validateLabels: 1 }, 'validateLabels must be a boolean, but got 1'],
    ];
    for (const [options, message] of cases) expect(() => s3nLoss(outs, y, options as never)).toThrow(`s3nLoss: ${message}.`);
    // The edges that are allowed.
    expect(Number.isFinite(value(s3nLoss(outs, y, { smoothRatio: 1, weights: [0, 0, 0, 0] })))).toBe(true);
    expect(value(s3nLoss(outs, y, { weights: [0, 0, 0, 0] }))).toBe(0);
  });
});

describe('checkLossOptions and checkLabelRange', () => {
  it('fill in the defaults (validateLabels on wherever labels can be read synchronously)', () => {
    expect(checkLossOptions('f', {})).toEqual({ smoothRatio: 0.85, weights: [1, 1, 1, 1], validateLabels: true });
    expect(checkLossOptions('f', { smoothRatio: 0.5, weights: [1, 2, 3, 4], validateLabels: false })).toEqual({
      smoothRatio: 0.5,
      weights: [1, 2, 3, 4],
      validateLabels: false,
    });
  });

  it('checkLabelRange accepts 0 and classes - 1 and refuses NaN, classes and negatives', () => {
    expect(() => checkLabelRange('f', tf.tensor1d([0, 4]), 5)).not.toThrow();
    expect(() => checkLabelRange('f', tf.tensor1d([0, 5]), 5)).toThrow('f: labels must be class indices in [0, 5), but got 5 at index 1.');
    expect(() => checkLabelRange('f', tf.tensor1d([NaN]), 5)).toThrow('f: labels must be class indices in [0, 5), but got NaN at index 0.');
    expect(() => checkLabelRange('f', tf.tensor1d([2, -0.5]), 5)).toThrow('f: labels must be class indices in [0, 5), but got -0.5 at index 1.');
  });
});
