import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { S3N, s3nLoss, smallResNet, stageModes, stepDecay } from '../../src';
import { expectClose, uniform } from '../helpers/numeric';
import { saveAndLoad } from '../helpers/round_trip';

const SIZE = 32;

function tinyS3N(seed = 1, classes = 3): S3N {
  const backbone = smallResNet({ inputSize: SIZE, widths: [4, 8], seed });
  return S3N.create(backbone, { classes, seed });
}

/** Two classes: a bright blob in the left or the right half of a noisy image. */
function synthetic(n: number, seed: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  return tf.tidy(() => {
    const noise = uniform([n, SIZE, SIZE, 3], 0, 0.2, seed);
    const labels = Array.from({ length: n }, (_, i) => i % 2);
    const blobs = labels.map((l) => {
      const cx = l === 0 ? 8 : 24;
      return tf.tidy(() => {
        const ys = tf.reshape(tf.range(0, SIZE), [SIZE, 1]);
        const xs = tf.reshape(tf.range(0, SIZE), [1, SIZE]);
        const d2 = tf.add(tf.square(tf.sub(ys, 16)), tf.square(tf.sub(xs, cx)));
        return tf.tile(tf.expandDims(tf.exp(tf.div(d2, -18)), 2), [1, 1, 3]);
      });
    });
    return { images: tf.add(noise, tf.stack(blobs)) as tf.Tensor4D, labels: tf.tensor1d(labels, 'int32') };
  });
}

describe('S3N', () => {
  it('runs batch 1 and batch 3 in every mode with finite outputs of the documented shapes', () => {
    const s3n = tinyS3N();
    for (const batch of [1, 3]) {
      const images = uniform([batch, SIZE, SIZE, 3], 0, 1, batch) as tf.Tensor4D;
      for (const mode of ['all', 'random', 'extreme'] as const) {
        for (const training of [false, true]) {
          s3n.setModes({ training: mode, inference: mode });
          const out = s3n.apply(images, { training });
          for (const t of [out.fused, out.raw, out.discriminative, out.complementary]) {
            expect(t.shape).toEqual([batch, 3]);
            expect(tf.all(tf.isFinite(t)).dataSync()[0]).toBe(1);
          }
          tf.dispose(Object.values(out));
        }
      }
      expect(s3n.predict(images).shape).toEqual([batch, 3]);
    }
    expect(s3n.model.outputNames.length).toBe(4);
  });

  it('passes non-zero gradients to both radii through the sampler', () => {
    const s3n = tinyS3N();
    const { images, labels } = synthetic(2, 3);
    const radii = s3n.parameterGroups().find((g) => g.name === 'radius')!.variables;
    expect(radii.length).toBe(2);
    const { grads } = tf.variableGrads(() => s3nLoss(s3n.model.apply(images, { training: true }) as tf.Tensor[], labels), radii);
    for (const v of radii) {
      const g = grads[v.name].dataSync()[0];
      expect(Number.isFinite(g)).toBe(true);
      expect(Math.abs(g)).toBeGreaterThan(0);
    }
  });

  it('ten training steps lower the loss without leaking tensors', () => {
    const s3n = tinyS3N(2, 2);
    const { images, labels } = synthetic(6, 4);
    const opt = s3n.createOptimizer({ learningRate: 0.01 });
    const losses: number[] = [];
    let afterStep2 = 0;
    for (let step = 1; step <= 10; step++) {
      const loss = s3n.trainStep(images, labels, opt);
      losses.push(loss.dataSync()[0]);
      loss.dispose();
      if (step === 2) afterStep2 = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(afterStep2);
    expect(losses[9]).toBeLessThan(losses[0] * 0.9);
    opt.dispose();
  });

  it('is reproducible: same seed, same data, same logits after training', () => {
    const run = () => {
      const s3n = tinyS3N(5);
      s3n.setModes({ training: 'random' });
      const { images, labels } = synthetic(3, 6);
      const opt = s3n.createOptimizer({ learningRate: 0.01 });
      for (let i = 0; i < 2; i++) s3n.trainStep(images, labels, opt).dispose();
      const out = Array.from(s3n.predict(images).dataSync());
      opt.dispose();
      s3n.dispose();
      return out;
    };
    expect(run()).toEqual(run());
  });

  it('saves and loads with bit-identical outputs, radius values included', async () => {
    const s3n = tinyS3N(7);
    const { images, labels } = synthetic(2, 8);
    const opt = s3n.createOptimizer({ learningRate: 0.05, multipliers: { radius: 100 } });
    for (let i = 0; i < 2; i++) s3n.trainStep(images, labels, opt).dispose();
    const loaded = await saveAndLoad(s3n);
    const [r0, r1] = [await s3n.radii(), await loaded.radii()];
    expect(r1).toEqual(r0);
    expect(r0.radius).not.toBe(0.09);
    expect(Array.from(loaded.predict(images).dataSync())).toEqual(Array.from(s3n.predict(images).dataSync()));
    const a = s3n.apply(images);
    const b = loaded.apply(images);
    for (const k of ['fused', 'raw', 'discriminative', 'complementary'] as const) {
      expect(Array.from(b[k].dataSync())).toEqual(Array.from(a[k].dataSync()));
    }
  });

  it('gives finite outputs for a constant image (all-equal class response maps)', () => {
    const s3n = tinyS3N();
    const out = s3n.apply(tf.fill([2, SIZE, SIZE, 3], 0.5) as tf.Tensor4D, { training: true });
    for (const t of Object.values(out)) expect(tf.all(tf.isFinite(t)).dataSync()[0]).toBe(1);
    const ex = s3n.explain(tf.fill([1, SIZE, SIZE, 3], 0.5) as tf.Tensor4D);
    expectClose(ex.zoomImage, tf.fill([1, SIZE, SIZE, 3], 0.5), { atol: 1e-5 });
  });

  it('groups parameters as the authors do', () => {
    const s3n = tinyS3N();
    const groups = Object.fromEntries(s3n.parameterGroups().map((g) => [g.name, g]));
    expect(Object.keys(groups).sort()).toEqual(['base', 'classifier', 'filter', 'radius']);
    expect(groups.classifier.lrMultiplier).toBe(10);
    expect(groups.radius.lrMultiplier).toBe(1e-4);
    expect(groups.filter.lrMultiplier).toBe(1e-4);
    expect(groups.classifier.variables.length).toBe(2 + 6); // CRM kernel+bias, 3 head classifiers
    expect(groups.filter.variables.length).toBe(1);
    const total = Object.values(groups).reduce((n, g) => n + g.variables.length, 0);
    expect(total).toBe(s3n.model.trainableWeights.length);
  });

  it('dispose() frees every tensor, and optimizer state round-trips without leaks', () => {
    const before = tf.memory().numTensors;
    const s3n = tinyS3N(4);
    const { images, labels } = synthetic(2, 5);
    const opt = s3n.createOptimizer();
    s3n.trainStep(images, labels, opt).dispose();
    const state = opt.getState();
    const copy = s3n.createOptimizer();
    copy.setState(state);
    const restored = copy.getState();
    for (const k of Object.keys(state)) expect(Array.from(restored[k].dataSync())).toEqual(Array.from(state[k].dataSync()));
    tf.dispose([images, labels, ...Object.values(state), ...Object.values(restored)]);
    opt.dispose();
    copy.dispose();
    s3n.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('follows the three-stage schedule and the step decay', () => {
    expect(stageModes(0)).toEqual({ training: 'all', inference: 'random' });
    expect(stageModes(20)).toEqual({ training: 'all', inference: 'random' });
    expect(stageModes(21)).toEqual({ training: 'random', inference: 'extreme' });
    expect(stepDecay(39)).toBe(1);
    expect(stepDecay(40)).toBeCloseTo(0.1, 12);
    const s3n = tinyS3N();
    s3n.setEpoch(25);
    expect([s3n.attention.trainingMode, s3n.attention.inferenceMode]).toEqual(['random', 'extreme']);
  });

  it('backbones take a batch-norm momentum', () => {
    const bns = (m: tfl.LayersModel) => m.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.getConfig().momentum);
    expect(new Set(bns(smallResNet({ inputSize: SIZE, widths: [4] })))).toEqual(new Set([0.99]));
    expect(new Set(bns(smallResNet({ inputSize: SIZE, widths: [4], batchNormMomentum: 0.9 })))).toEqual(new Set([0.9]));
    expect(() => smallResNet({ batchNormMomentum: 1 })).toThrow('smallResNet: batchNormMomentum must be a number in [0, 1), but got 1.');
  });

  it('rejects bad input with clear errors', () => {
    const flat = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [8, 8, 3] })] });
    expect(() => S3N.create(flat, { classes: 3 })).toThrow(
      'S3N.create: backbone must be a model whose output has rank 4 [batch, h, w, depth], but got output shape [null,192].',
    );
    const backbone = smallResNet({ inputSize: SIZE, widths: [4] });
    expect(() => S3N.create(backbone, { classes: 1 })).toThrow('S3N.create: classes must be an integer >= 2, but got 1.');
    const s3n = S3N.create(backbone, { classes: 3 });
    expect(() => s3n.predict(tf.zeros([1, SIZE, SIZE, 1]) as tf.Tensor4D)).toThrow(
      "S3N.predict: images must be 3 channels like the backbone's input, but got 1 channels.",
    );
    const opt = s3n.createOptimizer();
    expect(() => s3n.trainStep(tf.zeros([2, SIZE, SIZE, 3]) as tf.Tensor4D, tf.tensor1d([0, 1, 2], 'int32'), opt)).toThrow(
      'S3N.trainStep: labels must be 2 labels like images, but got 3.',
    );
  });
});
