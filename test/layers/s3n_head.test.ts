/**
 * S3NHead (src/layers/s3n_head.ts) against a float64 reference written here (3×3 conv stride 2
 * padding 1 → batch norm → ReLU → mean pool → the three classifiers), in training (batch
 * statistics, moving averages updated with Bessel's correction) and inference (moving
 * statistics), plus every argument and shape check with its exact message, the weights it
 * creates, and getConfig — what `npm run mutate` asks of the file.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { S3NHead } from '../../src/layers';
import type { S3NHeadArgs } from '../../src/layers/s3n_head';
import { expectClose, uniform } from '../helpers/numeric';

type A4 = number[][][][];
type A2 = number[][];

/** A weight's name without the layer prefix, e.g. `fused_classifier_kernel`. */
const short = (w: tfl.LayerVariable) => w.originalName.split('/').pop() as string;
const weightsOf = (head: S3NHead) => Object.fromEntries(head.weights.map((w) => [short(w), w.read().arraySync()])) as Record<string, unknown>;

const BUFFER_WEIGHTS = ['buffer_kernel', 'buffer_gamma', 'buffer_beta'];
const CLASSIFIER_WEIGHTS = [
  'discriminative_classifier_kernel',
  'discriminative_classifier_bias',
  'complementary_classifier_kernel',
  'complementary_classifier_bias',
  'fused_classifier_kernel',
  'fused_classifier_bias',
];
const MOVING_WEIGHTS = ['discriminative', 'complementary'].flatMap((b) => [`${b}_buffer_moving_mean`, `${b}_buffer_moving_variance`]);

/** 3×3 conv, stride 2, zero padding 1 on each side (PyTorch's), NHWC, kernel [3, 3, in, out]. */
function conv(x: A4, k: A4): A4 {
  const [h, w, cin, cout] = [x[0].length, x[0][0].length, k[0][0].length, k[0][0][0].length];
  const oh = Math.floor((h + 2 - 3) / 2) + 1;
  const ow = Math.floor((w + 2 - 3) / 2) + 1;
  return x.map((img) =>
    Array.from({ length: oh }, (_, i) =>
      Array.from({ length: ow }, (_, j) =>
        Array.from({ length: cout }, (_, co) => {
          let s = 0;
          for (let di = 0; di < 3; di++) {
            for (let dj = 0; dj < 3; dj++) {
              const [y, xx] = [2 * i - 1 + di, 2 * j - 1 + dj];
              if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
              for (let ci = 0; ci < cin; ci++) s += img[y][xx][ci] * k[di][dj][ci][co];
            }
          }
          return s;
        }),
      ),
    ),
  );
}

/** Per-channel mean and biased variance over batch, height, width; and n = batch·height·width. */
function moments(x: A4): { mean: number[]; variance: number[]; n: number } {
  const values = x.flat(2) as number[][];
  const n = values.length;
  const d = values[0].length;
  const mean = Array.from({ length: d }, (_, c) => values.reduce((s, v) => s + v[c], 0) / n);
  const variance = Array.from({ length: d }, (_, c) => values.reduce((s, v) => s + (v[c] - mean[c]) ** 2, 0) / n);
  return { mean, variance, n };
}

const pool = (x: A4): A2 => x.map((img) => {
  const px = img.flat() as number[][];
  return px[0].map((_, c) => px.reduce((s, v) => s + v[c], 0) / px.length);
});
const dense = (x: A2, k: A2, b: number[]): A2 => x.map((row) => b.map((bj, j) => bj + row.reduce((s, v, i) => s + v * k[i][j], 0)));

interface Reference {
  logits: number[][][];
  /** The moving statistics after the call, per branch. */
  moving: Record<string, { mean: number[]; variance: number[] }>;
}

/** The head in float64 from its current weights. */
function reference(head: S3NHead, inputs: A4[], training: boolean): Reference {
  const w = weightsOf(head);
  const moving: Reference['moving'] = {};
  const branch = (x: A4, b: string): A4 => {
    if (!head.useBuffers) return x;
    const c = conv(x, w[`${b}_buffer_kernel`] as A4);
    const oldMean = w[`${b}_buffer_moving_mean`] as number[];
    const oldVar = w[`${b}_buffer_moving_variance`] as number[];
    let mean = oldMean;
    let variance = oldVar;
    if (training) {
      ({ mean, variance } = moments(c));
      const { n } = moments(c);
      const m = head.momentum;
      const unbiased = variance.map((v) => (n > 1 ? (v * n) / (n - 1) : v));
      moving[b] = { mean: oldMean.map((o, i) => m * o + (1 - m) * mean[i]), variance: oldVar.map((o, i) => m * o + (1 - m) * unbiased[i]) };
    } else {
      moving[b] = { mean: oldMean, variance: oldVar };
    }
    const gamma = w[`${b}_buffer_gamma`] as number[];
    const beta = w[`${b}_buffer_beta`] as number[];
    return c.map((img) => img.map((row) => row.map((px) => px.map((v, k) => Math.max(0, (gamma[k] * (v - mean[k])) / Math.sqrt(variance[k] + head.epsilon) + beta[k])))));
  };
  const pooled = [pool(inputs[0]), pool(branch(inputs[1], 'discriminative')), pool(branch(inputs[2], 'complementary'))];
  const fused = dense(pooled[0].map((_, i) => [...pooled[0][i], ...pooled[1][i], ...pooled[2][i]]), w.fused_classifier_kernel as A2, w.fused_classifier_bias as number[]);
  const disc = dense(pooled[1], w.discriminative_classifier_kernel as A2, w.discriminative_classifier_bias as number[]);
  const comp = dense(pooled[2], w.complementary_classifier_kernel as A2, w.complementary_classifier_bias as number[]);
  return { logits: fused.map((_, i) => [fused[i], disc[i], comp[i]]), moving };
}

/** Non-trivial gamma, beta, biases and moving statistics, so that each one shows. */
function setWeights(head: S3NHead): void {
  const set: Record<string, number[]> = {
    discriminative_buffer_gamma: [1.5, 0.8],
    discriminative_buffer_beta: [0.3, -0.1],
    complementary_buffer_gamma: [0.7, 1.2],
    complementary_buffer_beta: [-0.2, 0.4],
    discriminative_buffer_moving_mean: [0.1, -0.2],
    discriminative_buffer_moving_variance: [2, 0.5],
    complementary_buffer_moving_mean: [-0.3, 0.25],
    complementary_buffer_moving_variance: [0.4, 1.5],
    discriminative_classifier_bias: [0.1, -0.2],
    complementary_classifier_bias: [-0.05, 0.15],
    fused_classifier_bias: [0.2, 0.3],
  };
  head.weights.forEach((w) => {
    const v = set[short(w)];
    if (v) w.write(tf.tensor1d(v));
  });
}

/** Three different feature maps [batch, size, size, 2]. */
const features = (batch: number, size: number, seed = 1) => [0, 1, 2].map((k) => uniform([batch, size, size, 2], -1, 1, seed + 10 * k) as tf.Tensor4D);
const arrays = (xs: tf.Tensor[]) => xs.map((x) => x.arraySync() as A4);
const movingOf = (head: S3NHead) => {
  const w = weightsOf(head);
  return Object.fromEntries(['discriminative', 'complementary'].map((b) => [b, { mean: w[`${b}_buffer_moving_mean`] as number[], variance: w[`${b}_buffer_moving_variance`] as number[] }]));
};
const flat = (x: unknown) => (x as number[]).flat(3) as number[];

describe('S3NHead constructor', () => {
  it('refuses args that are not an object', () => {
    expect(() => new S3NHead(undefined as never)).toThrow('S3NHead: args must be an object with at least {classes}, but got undefined.');
    expect(() => new S3NHead(5 as never)).toThrow('S3NHead: args must be an object with at least {classes}, but got 5.');
    expect(() => new S3NHead('x' as never)).toThrow('S3NHead: args must be an object with at least {classes}, but got x.');
    // null fails in tfjs-layers' Layer constructor (it reads args.name) before S3NHead's check.
    expect(() => new S3NHead(null as never)).toThrow(TypeError);
  });

  it('classes must be an integer >= 2', () => {
    expect(() => new S3NHead({ classes: 1 })).toThrow('S3NHead: classes must be an integer >= 2, but got 1.');
    expect(() => new S3NHead({ classes: 2.5 })).toThrow('S3NHead: classes must be an integer >= 2, but got 2.5.');
    expect(() => new S3NHead({ classes: '3' as never })).toThrow("S3NHead: classes must be an integer >= 2, but got '3'.");
    expect(() => new S3NHead({} as never)).toThrow('S3NHead: classes must be an integer >= 2, but got undefined.');
    expect(new S3NHead({ classes: 2 }).classes).toBe(2);
  });

  it('useBuffers must be a boolean', () => {
    expect(() => new S3NHead({ classes: 2, useBuffers: 'yes' as never })).toThrow("S3NHead: useBuffers must be a boolean, but got 'yes'.");
    expect(() => new S3NHead({ classes: 2, useBuffers: 1 as never })).toThrow('S3NHead: useBuffers must be a boolean, but got 1.');
    expect(() => new S3NHead({ classes: 2, useBuffers: null as never })).not.toThrow(); // null means the default
  });

  it('momentum must be in [0, 1)', () => {
    expect(() => new S3NHead({ classes: 2, momentum: 1 })).toThrow('S3NHead: momentum must be a number in [0, 1), but got 1.');
    expect(() => new S3NHead({ classes: 2, momentum: -0.1 })).toThrow('S3NHead: momentum must be a number in [0, 1), but got -0.1.');
    expect(() => new S3NHead({ classes: 2, momentum: NaN })).toThrow('S3NHead: momentum must be a number in [0, 1), but got NaN.');
    expect(() => new S3NHead({ classes: 2, momentum: 1.5 })).toThrow('S3NHead: momentum must be a number in [0, 1), but got 1.5.');
    expect(new S3NHead({ classes: 2, momentum: 0 }).momentum).toBe(0);
    expect(new S3NHead({ classes: 2, momentum: 0.999 }).momentum).toBe(0.999);
  });

  it('epsilon must be > 0', () => {
    expect(() => new S3NHead({ classes: 2, epsilon: 0 })).toThrow('S3NHead: epsilon must be a finite number > 0, but got 0.');
    expect(() => new S3NHead({ classes: 2, epsilon: -1e-5 })).toThrow('S3NHead: epsilon must be a finite number > 0, but got -0.00001.');
    expect(() => new S3NHead({ classes: 2, epsilon: NaN })).toThrow('S3NHead: epsilon must be a finite number > 0, but got NaN.');
    expect(new S3NHead({ classes: 2, epsilon: 1e-3 }).epsilon).toBe(1e-3);
  });

  it('keeps the given options and defaults to the authors', () => {
    const given = new S3NHead({ classes: 7, useBuffers: false, momentum: 0.5, epsilon: 1e-3, seed: 4 });
    expect([given.classes, given.useBuffers, given.momentum, given.epsilon, given.seed]).toEqual([7, false, 0.5, 1e-3, 4]);
    const defaults = new S3NHead({ classes: 3 });
    expect([defaults.classes, defaults.useBuffers, defaults.momentum, defaults.epsilon, defaults.seed]).toEqual([3, true, 0.9, 1e-5, undefined]);
    expect(new S3NHead({ classes: 3, useBuffers: true }).useBuffers).toBe(true);
  });
});

describe('S3NHead shapes', () => {
  it('needs a list of three feature maps', () => {
    const head = new S3NHead({ classes: 2 });
    const f = () => tf.zeros([1, 4, 4, 2]);
    expect(() => head.apply([f(), f()])).toThrow(
      'S3NHead: inputs must be a list of 3 tensors (original, discriminative, complementary features), but got 2 tensors.',
    );
    expect(() => head.apply([f(), f(), f(), f()])).toThrow(
      'S3NHead: inputs must be a list of 3 tensors (original, discriminative, complementary features), but got 4 tensors.',
    );
    expect(() => head.apply(f())).toThrow(
      'S3NHead: inputs must be a list of 3 tensors (original, discriminative, complementary features), but got a single tensor.',
    );
    expect(head.built).toBe(false);
  });

  it.each([
    [0, 'original'],
    [1, 'discriminative'],
    [2, 'complementary'],
  ])('feature map %i (%s) must have rank 4', (i, name) => {
    const shapes: number[][] = [[1, 4, 4, 2], [1, 4, 4, 2], [1, 4, 4, 2]];
    shapes[i] = [1, 4, 2];
    expect(() => new S3NHead({ classes: 2 }).apply(shapes.map((s) => tf.zeros(s)))).toThrow(
      `S3NHead: ${name} features must be of rank 4 [batch, height, width, depth], but got shape [1,4,2].`,
    );
    expect(() => new S3NHead({ classes: 2 }).computeOutputShape(shapes)).toThrow(
      `S3NHead: ${name} features must be of rank 4 [batch, height, width, depth], but got shape [1,4,2].`,
    );
  });

  it('needs a known depth, the same in all three', () => {
    const unknown = [[null, 4, 4, null], [null, 4, 4, null], [null, 4, 4, null]] as tfl.Shape[];
    expect(() => new S3NHead({ classes: 2 }).build(unknown)).toThrow('S3NHead: original features must be a known depth (last dimension), but got null.');
    expect(() => new S3NHead({ classes: 2 }).computeOutputShape(unknown)).toThrow(
      'S3NHead: original features must be a known depth (last dimension), but got null.',
    );
    expect(() => new S3NHead({ classes: 2 }).build([[1, 4, 4, 2], [1, 4, 4, 2], [1, 4, 4, 5]])).toThrow(
      'S3NHead: complementary features must be of depth 2 like the original features, but got depth 5.',
    );
    expect(() => new S3NHead({ classes: 2 }).build([[1, 4, 4, 2], [1, 4, 4, null], [1, 4, 4, 2]] as tfl.Shape[])).toThrow(
      'S3NHead: discriminative features must be of depth 2 like the original features, but got depth null.',
    );
  });

  it('computes the output shape [batch, 3, classes]', () => {
    const head = new S3NHead({ classes: 4 });
    expect(head.computeOutputShape([[5, 4, 4, 2], [5, 3, 3, 2], [5, 2, 2, 2]])).toEqual([5, 3, 4]);
    expect(head.computeOutputShape([[null, 4, 4, 2], [null, 4, 4, 2], [null, 4, 4, 2]])).toEqual([null, 3, 4]);
  });

  it.each([
    [[1, 2, 1], 'batches 1, 2, 1'],
    [[2, 2, 1], 'batches 2, 2, 1'],
    [[2, 1, 2], 'batches 2, 1, 2'],
    [[1, 3, 3], 'batches 1, 3, 3'],
  ])('three feature maps of batches %j are refused at call time', (batches, given) => {
    const head = new S3NHead({ classes: 2 });
    expect(() => head.apply(batches.map((b) => tf.zeros([b, 4, 4, 2])))).toThrow(
      `S3NHead: inputs must be three feature maps with the same batch size, but got ${given}.`,
    );
  });

  it('accepts feature maps of different sizes with the same batch', () => {
    const head = new S3NHead({ classes: 3, seed: 1 });
    const out = head.apply([tf.ones([2, 5, 5, 2]), tf.ones([2, 3, 3, 2]), tf.ones([2, 4, 4, 2])]) as tf.Tensor;
    expect(out.shape).toEqual([2, 3, 3]);
  });
});

describe('S3NHead weights', () => {
  it('with buffers: 12 trainable weights, then the 4 moving statistics, with their shapes and initial values', () => {
    const head = new S3NHead({ classes: 3, seed: 2 });
    expect(head.classifierWeights).toEqual([]);
    expect(head.weights).toEqual([]);
    head.apply(features(1, 3));
    const trainable = ['discriminative', 'complementary'].flatMap((b) => BUFFER_WEIGHTS.map((w) => `${b}_${w}`)).concat(CLASSIFIER_WEIGHTS);
    expect(head.trainableWeights.map(short)).toEqual(trainable);
    expect(head.nonTrainableWeights.map(short)).toEqual(MOVING_WEIGHTS);
    expect(head.weights.map(short)).toEqual([...trainable, ...MOVING_WEIGHTS]);
    const shapes = Object.fromEntries(head.weights.map((w) => [short(w), w.shape]));
    expect(shapes).toEqual({
      discriminative_buffer_kernel: [3, 3, 2, 2],
      discriminative_buffer_gamma: [2],
      discriminative_buffer_beta: [2],
      complementary_buffer_kernel: [3, 3, 2, 2],
      complementary_buffer_gamma: [2],
      complementary_buffer_beta: [2],
      discriminative_classifier_kernel: [2, 3],
      discriminative_classifier_bias: [3],
      complementary_classifier_kernel: [2, 3],
      complementary_classifier_bias: [3],
      fused_classifier_kernel: [6, 3],
      fused_classifier_bias: [3],
      discriminative_buffer_moving_mean: [2],
      discriminative_buffer_moving_variance: [2],
      complementary_buffer_moving_mean: [2],
      complementary_buffer_moving_variance: [2],
    });
    const w = weightsOf(head);
    for (const b of ['discriminative', 'complementary']) {
      expect(w[`${b}_buffer_gamma`]).toEqual([1, 1]);
      expect(w[`${b}_buffer_beta`]).toEqual([0, 0]);
      expect(w[`${b}_buffer_moving_mean`]).toEqual([0, 0]);
      expect(w[`${b}_buffer_moving_variance`]).toEqual([1, 1]);
      expect(w[`${b}_classifier_bias`]).toEqual([0, 0, 0]);
    }
    expect(w.fused_classifier_bias).toEqual([0, 0, 0]);
    // Each kernel has its own seed.
    expect(flat(w.discriminative_buffer_kernel)).not.toEqual(flat(w.complementary_buffer_kernel));
    expect(flat(w.discriminative_classifier_kernel)).not.toEqual(flat(w.complementary_classifier_kernel));
  });

  it('classifierWeights: [] before build, then the kernels and biases of the three classifiers', () => {
    for (const useBuffers of [true, false]) {
      const head = new S3NHead({ classes: 2, useBuffers });
      expect(head.built).toBe(false);
      expect(head.classifierWeights).toEqual([]);
      head.build([[1, 3, 3, 2], [1, 3, 3, 2], [1, 3, 3, 2]]);
      expect(head.classifierWeights.map(short)).toEqual(CLASSIFIER_WEIGHTS);
      expect(head.classifierWeights.every((w) => head.trainableWeights.includes(w))).toBe(true);
    }
  });

  it('without buffers: only the six classifier weights', () => {
    const head = new S3NHead({ classes: 3, useBuffers: false, seed: 2 });
    head.apply(features(1, 3));
    expect(head.weights.length).toBe(6);
    expect(head.weights.map(short)).toEqual(CLASSIFIER_WEIGHTS);
    expect(head.nonTrainableWeights).toEqual([]);
  });

  it('the same seed gives the same weights', () => {
    const [a, b] = [new S3NHead({ classes: 3, seed: 9 }), new S3NHead({ classes: 3, seed: 9 })];
    a.apply(features(1, 3));
    b.apply(features(1, 3));
    expect(a.getWeights().map((t) => Array.from(t.dataSync()))).toEqual(b.getWeights().map((t) => Array.from(t.dataSync())));
  });
});

describe('S3NHead forward against the float64 reference (classes 2, depth 2, 3×3 maps, batch 2)', () => {
  const build = (useBuffers = true) => {
    const head = new S3NHead({ classes: 2, momentum: 0.7, epsilon: 1e-3, useBuffers, seed: 11 });
    const x = features(2, 3);
    head.apply(x); // build
    if (useBuffers) setWeights(head);
    return { head, x };
  };

  it('inference uses the moving mean and variance and leaves them alone', () => {
    const { head, x } = build();
    const before = movingOf(head);
    const expected = reference(head, arrays(x), false);
    const out = head.apply(x, { training: false }) as tf.Tensor;
    expect(out.shape).toEqual([2, 3, 2]);
    expectClose(out, flat(expected.logits), { atol: 1e-5 });
    expect(movingOf(head)).toEqual(before);
    expectClose(head.apply(x) as tf.Tensor, flat(expected.logits), { atol: 1e-5 }); // the default is inference
  });

  it('training uses the batch statistics and moves the averages with the unbiased variance (n = 8)', () => {
    const { head, x } = build();
    const inference = (head.apply(x) as tf.Tensor).dataSync();
    const expected = reference(head, arrays(x), true);
    const out = head.apply(x, { training: true }) as tf.Tensor;
    expectClose(out, flat(expected.logits), { atol: 1e-5 });
    expect(compareArrays(out.dataSync(), inference)).toBeGreaterThan(1e-2);
    const moving = movingOf(head);
    for (const b of ['discriminative', 'complementary']) {
      expectClose(moving[b].mean, expected.moving[b].mean, { atol: 1e-6 });
      expectClose(moving[b].variance, expected.moving[b].variance, { atol: 1e-6 });
    }
    // By hand for one channel: m·old + (1 − m)·var·n/(n − 1), n = 2·2·2.
    const c = conv(arrays(x)[1], weightsOf(head).discriminative_buffer_kernel as A4);
    const { mean, variance, n } = moments(c);
    expect(n).toBe(8);
    expectClose([moving.discriminative.mean[0]], [0.7 * 0.1 + 0.3 * mean[0]], { atol: 1e-6 });
    expectClose([moving.discriminative.variance[0]], [0.7 * 2 + 0.3 * variance[0] * (8 / 7)], { atol: 1e-6 });
    // The classifiers and the buffers' trainable weights do not move.
    const after = weightsOf(head);
    expect(after.discriminative_buffer_gamma).toEqual([1.5, 0.8].map(Math.fround));
    expect(after.fused_classifier_bias).toEqual([0.2, 0.3].map(Math.fround));
  });

  it('two training calls move the averages twice', () => {
    const { head, x } = build();
    head.apply(x, { training: true });
    const expected = reference(head, arrays(x), true);
    head.apply(x, { training: true });
    const moving = movingOf(head);
    expectClose(moving.complementary.variance, expected.moving.complementary.variance, { atol: 1e-6 });
    expectClose(moving.complementary.mean, expected.moving.complementary.mean, { atol: 1e-6 });
  });

  it('inference is invariant to the batch composition, training is not', () => {
    const { head, x } = build();
    const alone = x.map((t) => tf.slice(t, [0, 0, 0, 0], [1, -1, -1, -1]));
    const inBatch = (head.apply(x) as tf.Tensor).arraySync() as number[][][];
    const single = (head.apply(alone) as tf.Tensor).arraySync() as number[][][];
    expectClose(single.flat(2), inBatch[0].flat(), { atol: 1e-6 });
    const state = movingOf(head);
    const trainBatch = (head.apply(x, { training: true }) as tf.Tensor).arraySync() as number[][][];
    head.weights.filter((w) => w.originalName.includes('moving')).forEach((w) => {
      const b = short(w).startsWith('discriminative') ? 'discriminative' : 'complementary';
      w.write(tf.tensor1d(short(w).endsWith('mean') ? state[b].mean : state[b].variance));
    });
    // Batch 1 of 3×3 maps: buffer output 2×2, n = 4 > 1.
    const trainSingle = (head.apply(alone, { training: true }) as tf.Tensor).arraySync() as number[][][];
    expect(compareArrays(trainSingle.flat(2), trainBatch[0].flat())).toBeGreaterThan(1e-3);
    // Alone in training, the image is normalised with its own statistics, as the reference does.
    expectClose(trainSingle.flat(2), reference(head, arrays(alone), true).logits.flat(2), { atol: 1e-5 });
  });

  it('with one value per channel (batch 1, 2×2 maps → 1×1) the update uses the biased variance 0, no NaN', () => {
    const head = new S3NHead({ classes: 2, momentum: 0.7, epsilon: 1e-3, seed: 11 });
    const x = features(1, 2, 5);
    head.apply(x);
    setWeights(head);
    const expected = reference(head, arrays(x), true);
    const out = head.apply(x, { training: true }) as tf.Tensor;
    const values = Array.from(out.dataSync());
    expect(values.every(Number.isFinite)).toBe(true);
    expectClose(values, flat(expected.logits), { atol: 1e-5 });
    const moving = movingOf(head);
    expect(moving.discriminative.variance.every(Number.isFinite)).toBe(true);
    expectClose(moving.discriminative.variance, [0.7 * 2, 0.7 * 0.5], { atol: 1e-6 });
    expectClose(moving.complementary.variance, [0.7 * 0.4, 0.7 * 1.5], { atol: 1e-6 });
    expectClose(moving.discriminative.mean, expected.moving.discriminative.mean, { atol: 1e-6 });
    // Normalised to 0, the buffer outputs ReLU(beta): the discriminative logits are dense(ReLU(beta)).
    const w = weightsOf(head);
    const pooled = [[0.3, 0]];
    expectClose((tf.unstack(out, 1)[1]).dataSync(), dense(pooled, w.discriminative_classifier_kernel as A2, w.discriminative_classifier_bias as number[])[0], { atol: 1e-5 });
  });

  it('without buffers: pooled features straight into the classifiers, the same in training and inference', () => {
    const { head, x } = build(false);
    head.weights.filter((w) => short(w).endsWith('bias')).forEach((w, i) => w.write(tf.tensor1d([0.1 * (i + 1), -0.2])));
    const expected = flat(reference(head, arrays(x), false).logits);
    // By hand: mean over height and width, then x·kernel + bias.
    const w = weightsOf(head);
    const pooled = arrays(x).map(pool);
    expectClose(flat(dense(pooled[1], w.discriminative_classifier_kernel as A2, w.discriminative_classifier_bias as number[])), expected.filter((_, i) => Math.floor(i / 2) % 3 === 1), { atol: 1e-6 });
    expectClose(head.apply(x) as tf.Tensor, expected, { atol: 1e-5 });
    expectClose(head.apply(x, { training: true }) as tf.Tensor, expected, { atol: 1e-5 });
    // It equals the same computation with tf ops.
    const byOps = tf.tidy(() => {
      const p = x.map((f) => tf.mean(f, [1, 2]));
      const lin = (v: tf.Tensor, name: string) => tf.add(tf.matMul(v, tf.tensor(w[`${name}_kernel`] as A2)), tf.tensor(w[`${name}_bias`] as number[]));
      return tf.stack([lin(tf.concat(p, 1), 'fused_classifier'), lin(p[1], 'discriminative_classifier'), lin(p[2], 'complementary_classifier')], 1);
    });
    expectClose(head.apply(x, { training: true }) as tf.Tensor, byOps, { atol: 1e-6 });
  });

  it('leaks no tensors in training or inference', () => {
    const { head, x } = build();
    const before = tf.memory().numTensors;
    tf.dispose([head.apply(x, { training: true }) as tf.Tensor, head.apply(x) as tf.Tensor]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('S3NHead getConfig', () => {
  it('has the seed only when one was given', () => {
    const seeded = new S3NHead({ classes: 4, useBuffers: false, momentum: 0.5, epsilon: 1e-3, seed: 3 }).getConfig();
    const { name: _a, ...rest } = seeded;
    expect(rest).toEqual({ trainable: true, classes: 4, useBuffers: false, momentum: 0.5, epsilon: 1e-3, seed: 3 });
    expect(new S3NHead({ classes: 4, seed: 0 }).getConfig().seed).toBe(0);
    const unseeded = new S3NHead({ classes: 2 }).getConfig();
    expect(Object.keys(unseeded)).not.toContain('seed');
    const { name: _b, ...defaults } = unseeded;
    expect(defaults).toEqual({ trainable: true, classes: 2, useBuffers: true, momentum: 0.9, epsilon: 1e-5 });
  });

  it.each<[S3NHeadArgs]>([
    [{ classes: 3, seed: 7 }],
    [{ classes: 5, useBuffers: false, momentum: 0.2, epsilon: 1e-2, seed: 1 }],
    [{ classes: 2 }],
  ])('a layer from getConfig is the same layer (%j)', (args) => {
    const head = new S3NHead(args);
    const copy = S3NHead.fromConfig(S3NHead, head.getConfig()) as S3NHead;
    expect(copy).toBeInstanceOf(S3NHead);
    const { name: _a, ...expected } = head.getConfig();
    const { name: _b, ...actual } = copy.getConfig();
    expect(actual).toEqual(expected);
    expect(Object.keys(copy.getConfig()).includes('seed')).toBe(args.seed !== undefined);
    if (args.seed !== undefined) {
      const x = features(2, 3);
      const a = head.apply(x, { training: true }) as tf.Tensor;
      const b = copy.apply(x, { training: true }) as tf.Tensor;
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    }
  });
});

/** Largest |a − b|. */
function compareArrays(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}
