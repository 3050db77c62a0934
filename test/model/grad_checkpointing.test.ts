/**
 * Gradient checkpointing: the same gradients, weights and batch-norm statistics as without
 * it, less memory, no leak, inference untouched, clear errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../../src/wasm-training';
import { isGradCheckpointed, leanVariableGrads, S3N, setGradCheckpointing, smallResNet } from '../../src';
import { onBackend, TEST_BACKENDS } from '../helpers/backends';
import { expectNoLeak, uniform } from '../helpers/numeric';

/** Loss, every weight (trainable and not) after one S3N training step, and the logits after it. */
async function s3nStep(checkpointing: boolean): Promise<{ loss: number; weights: Float32Array[]; logits: Float32Array }> {
  const s3n = S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 4 }), { classes: 3, seed: 4 });
  expect(s3n.setGradCheckpointing(checkpointing)).toBe(s3n);
  expect(s3n.isGradCheckpointed).toBe(checkpointing);
  const images = uniform([2, 32, 32, 3], 0, 1, 6) as tf.Tensor4D;
  const labels = tf.tensor1d([2, 0], 'int32');
  const opt = s3n.createOptimizer({ learningRate: 0.05 });
  const loss = s3n.trainStep(images, labels, opt);
  const logits = s3n.predict(images);
  const out = {
    loss: (await loss.data())[0],
    weights: await Promise.all(s3n.model.getWeights().map(async (w) => (await w.data()) as Float32Array)),
    logits: (await logits.data()) as Float32Array,
  };
  tf.dispose([loss, logits, images, labels]);
  opt.dispose();
  s3n.dispose();
  return out;
}

/** A conv net called three times on different inputs, as S3N calls its backbone. */
function threeCalls(seed: number) {
  const backbone = smallResNet({ inputSize: 32, widths: [8, 16], seed });
  const xs = [0, 1, 2].map((i) => uniform([2, 32, 32, 3], 0, 1, seed + i));
  const vars = backbone.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = () => tf.addN(xs.map((x, i) => tf.mul(tf.mean(tf.square(backbone.apply(x, { training: true }) as tf.Tensor)), i + 1))) as tf.Scalar;
  return { backbone, vars, loss, dispose: () => (backbone.dispose(), tf.dispose(xs)) };
}

describe.each(TEST_BACKENDS)('gradient checkpointing on the %s backend', (backend) => {
  onBackend(backend);

  it('an S3N step gives bit-identical loss, weights, batch-norm statistics and logits', async () => {
    const plain = await s3nStep(false);
    const checkpointed = await s3nStep(true);
    expect(checkpointed.loss).toBe(plain.loss);
    expect(checkpointed.weights.length).toBe(plain.weights.length);
    checkpointed.weights.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(plain.weights[i])));
    expect(Array.from(checkpointed.logits)).toEqual(Array.from(plain.logits));
  });

  it('keeps one pass of activations instead of three: a lower peak of live tensor bytes', async () => {
    const peak = async (on: boolean) => {
      const m = threeCalls(11);
      setGradCheckpointing(m.backbone, on);
      const info = await tf.profile(() => {
        const { value, grads } = leanVariableGrads(m.loss, m.vars);
        return [value, ...Object.values(grads)];
      });
      tf.dispose(info.result as tf.Tensor[]);
      m.dispose();
      return info.peakBytes;
    };
    const plain = await peak(false);
    const checkpointed = await peak(true);
    expect(checkpointed).toBeLessThan(0.6 * plain);
  });

  it('gives the same gradients inside tf.variableGrads, and leaks no tensor', async () => {
    const m = threeCalls(12);
    const grads = async (on: boolean) => {
      setGradCheckpointing(m.backbone, on);
      const { value, grads } = tf.variableGrads(m.loss, m.vars);
      const out = await Promise.all(m.vars.map((v) => grads[v.name].data()));
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const plain = await grads(false);
    const checkpointed = await grads(true);
    checkpointed.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(plain[i])));
    await expectNoLeak(() => {
      const { value, grads } = leanVariableGrads(m.loss, m.vars);
      tf.dispose([value, ...Object.values(grads)]);
    });
    m.dispose();
  });
});

describe('setGradCheckpointing', () => {
  it('turns on and off; calls outside a gradient tape are not affected', () => {
    const backbone = smallResNet({ inputSize: 32, widths: [4, 8], seed: 2 });
    const x = uniform([1, 32, 32, 3], 0, 1, 2);
    const before = (backbone.predict(x) as tf.Tensor).dataSync();
    setGradCheckpointing(backbone);
    setGradCheckpointing(backbone); // twice: still one wrapper
    expect(isGradCheckpointed(backbone)).toBe(true);
    expect(Array.from((backbone.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(before));
    setGradCheckpointing(backbone, false);
    expect(isGradCheckpointed(backbone)).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(backbone, 'call')).toBe(false);
    backbone.dispose();
    x.dispose();
  });

  it('rejects a model it cannot recompute faithfully, with a clear error', () => {
    const input = tfl.input({ shape: [4] });
    const dropped = tfl.layers.dropout({ rate: 0.5, name: 'drop_me' }).apply(tfl.layers.dense({ units: 4 }).apply(input)) as tfl.SymbolicTensor;
    const withDropout = tfl.model({ inputs: input, outputs: dropped });
    expect(() => setGradCheckpointing(withDropout)).toThrow(
      'setGradCheckpointing: model must be deterministic in training mode (its recomputation must match), but got the random layers drop_me.',
    );
    const twoOutputs = tfl.model({ inputs: input, outputs: [dropped, input] });
    expect(() => setGradCheckpointing(twoOutputs)).toThrow('setGradCheckpointing: model must be a model with one input and one output, but got 1 inputs and 2 outputs.');
    expect(() => setGradCheckpointing({} as tfl.LayersModel)).toThrow('setGradCheckpointing: model must be a tf.LayersModel, but got object.');
    expect(isGradCheckpointed(withDropout)).toBe(false);
    withDropout.dispose();
  });
});
