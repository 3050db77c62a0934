import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ClassResponseMap, PeakFinder, S3NHead, SaliencySampler, Select, SparseAttention } from '../../src/layers';
import { findPeaks } from '../../src/ops';
import { goldenNHWC, goldenTensor, loadGolden, LOSS_TOLERANCE } from '../helpers/golden';
import { expectClose, expectNoLeak, uniform } from '../helpers/numeric';

describe('SparseAttention + SaliencySampler reproduce the authors generate_map', () => {
  const inputs = loadGolden('generate_map__inputs');
  const image = goldenNHWC(inputs, 'input_x');
  const crms = goldenNHWC(inputs, 'class_response_maps');
  const w1 = goldenNHWC(inputs, 'w1');
  const w2 = goldenNHWC(inputs, 'w2');

  it.each([
    ['generate_map__p0', 'all'],
    ['generate_map__p2', 'extreme'],
  ] as const)('%s (mode %s): images, loss and radius gradients', (file, mode) => {
    const gold = loadGolden(file);
    const attention = new SparseAttention({ gridSize: 31, radius: 0.09, radiusInv: 0.3, baseRatio: 0.09, inferenceMode: mode });
    const sampler = new SaliencySampler({ outputSize: 64 });
    const [zoomSal, invSal] = tf.unstack(attention.apply(crms) as tf.Tensor4D, 1) as tf.Tensor3D[];
    expectClose(zoomSal, tf.squeeze(goldenTensor(gold, 'xs_zoom_saliency'), [1]), { atol: 1e-5 });
    expectClose(invSal, tf.squeeze(goldenTensor(gold, 'xs_inv_saliency'), [1]), { atol: 5e-5 });
    const zoom = sampler.apply([image, zoomSal]) as tf.Tensor4D;
    const inv = sampler.apply([image, invSal]) as tf.Tensor4D;
    expectClose(zoom, goldenNHWC(gold, 'x_sampled_zoom'), { atol: 1e-3 });
    expectClose(inv, goldenNHWC(gold, 'x_sampled_inv'), { atol: 1e-3 });

    const [radius, radiusInv] = attention.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => {
      const [z, v] = tf.unstack(attention.apply(crms) as tf.Tensor4D, 1) as tf.Tensor3D[];
      const a = sampler.apply([image, z]) as tf.Tensor4D;
      const b = sampler.apply([image, v]) as tf.Tensor4D;
      return tf.add(tf.sum(tf.mul(a, w1)), tf.sum(tf.mul(b, w2))) as tf.Scalar;
    }, [radius, radiusInv]);
    expectClose(tf.reshape(value, [1]), goldenTensor(gold, 'loss'), LOSS_TOLERANCE[mode]);
    expectClose(grads[radius.name], goldenTensor(gold, 'grad_radius_scale'), { rtol: 2e-3 });
    expectClose(grads[radiusInv.name], goldenTensor(gold, 'grad_radius_inv_scale'), { rtol: 2e-3 });
  });
});

describe('layers in the functional API', () => {
  it('compose, report their output shapes and round-trip through getConfig', () => {
    const input = tfl.input({ shape: [8, 8, 6] });
    const crms = new ClassResponseMap({ classes: 5, seed: 1 }).apply(input) as tfl.SymbolicTensor;
    const mask = new PeakFinder().apply(crms) as tfl.SymbolicTensor;
    const maps = new SparseAttention({ gridSize: 15 }).apply(crms) as tfl.SymbolicTensor;
    const [zoom, inverse] = [0, 1].map((index) => new Select({ index }).apply(maps) as tfl.SymbolicTensor);
    expect(crms.shape).toEqual([null, 8, 8, 5]);
    expect(mask.shape).toEqual([null, 8, 8, 5]);
    expect(maps.shape).toEqual([null, 2, 15, 15]);
    expect(zoom.shape).toEqual([null, 15, 15]);
    expect(inverse.shape).toEqual([null, 15, 15]);
    const image = tfl.input({ shape: [20, 20, 3] });
    const sampled = new SaliencySampler({ outputSize: [12, 10], paddingSize: 7 }).apply([image, zoom]) as tfl.SymbolicTensor;
    expect(sampled.shape).toEqual([null, 12, 10, 3]);
    const logits = new S3NHead({ classes: 5 }).apply([input, input, input]) as tfl.SymbolicTensor;
    expect(logits.shape).toEqual([null, 3, 5]);
    const fused = new Select({ index: 0 }).apply(logits) as tfl.SymbolicTensor;
    expect(fused.shape).toEqual([null, 5]);

    for (const layer of [
      new ClassResponseMap({ classes: 7, useBias: false, seed: 3 }),
      new PeakFinder({ windowSize: 5, filter: 'none' }),
      new SparseAttention({ gridSize: 21, radius: 0.1, radiusInv: 0.2, baseRatio: 0.05, topK: 3, entropyThreshold: 0.1, trainingMode: 'random', inferenceMode: 'all', seed: 4 }),
      new SaliencySampler({ outputSize: [30, 40], paddingSize: 10, fwhm: 5, trainableFilter: false }),
      new S3NHead({ classes: 9, useBuffers: false, momentum: 0.5, epsilon: 1e-3, seed: 2 }),
      new Select({ index: 2 }),
    ]) {
      const cls = layer.constructor as unknown as tf.serialization.SerializableConstructor<tfl.layers.Layer>;
      const copy = (cls as unknown as { fromConfig: (c: unknown, cfg: tf.serialization.ConfigDict) => tfl.layers.Layer }).fromConfig(cls, layer.getConfig());
      const { name: _a, ...expected } = layer.getConfig();
      const { name: _b, ...actual } = copy.getConfig();
      expect(actual).toEqual(expected);
      expect(tf.serialization.SerializationMap.getMap().classNameMap[cls.className][0]).toBe(cls);
    }
  });

  it('PeakFinder equals ops.findPeaks', () => {
    const maps = uniform([2, 9, 9, 3], -1, 1, 1) as tf.Tensor4D;
    expectClose(new PeakFinder({ filter: 'none' }).apply(maps) as tf.Tensor, findPeaks(maps, { filter: 'none' }), { atol: 0 });
  });

  it('ClassResponseMap: spatial mean of the maps equals a dense layer on pooled features', () => {
    const layer = new ClassResponseMap({ classes: 4, seed: 5 });
    const x = uniform([3, 5, 6, 7], -1, 1, 2) as tf.Tensor4D;
    const maps = layer.apply(x) as tf.Tensor4D;
    const [kernel, bias] = layer.getWeights();
    const pooled = tf.add(tf.matMul(tf.mean(x, [1, 2]), kernel), bias);
    expectClose(tf.mean(maps, [1, 2]), pooled, { atol: 1e-5 });
  });

  it('S3NHead updates the buffers moving statistics only when training', () => {
    const head = new S3NHead({ classes: 3, seed: 1 });
    const f = uniform([2, 6, 6, 4], 0, 1, 3);
    head.apply([f, f, f]);
    const before = head.getWeights().map((w) => Array.from(w.dataSync()));
    head.apply([f, f, f], { training: true });
    const after = head.getWeights().map((w) => Array.from(w.dataSync()));
    const names = head.weights.map((w) => w.originalName);
    names.forEach((n, i) => {
      if (n.includes('moving')) expect(after[i]).not.toEqual(before[i]);
      else expect(after[i]).toEqual(before[i]);
    });
  });

  it('reject bad arguments with exact messages', () => {
    expect(() => new ClassResponseMap({ classes: 1 })).toThrow('ClassResponseMap: classes must be an integer >= 2, but got 1.');
    expect(() => new PeakFinder({ windowSize: 4 })).toThrow('PeakFinder: windowSize must be an odd integer, but got 4.');
    expect(() => new SparseAttention({ radius: 0 })).toThrow('SparseAttention: radius must be a finite number > 0, but got 0.');
    expect(() => new SparseAttention({ radiusInv: -1 })).toThrow('SparseAttention: radiusInv must be a finite number > 0, but got -1.');
    expect(() => new SparseAttention({ trainingMode: 'soft' as never })).toThrow(
      "SparseAttention: trainingMode must be one of 'all', 'random', 'extreme', but got 'soft'.",
    );
    expect(() => new SaliencySampler({ outputSize: -3 })).toThrow(
      'SaliencySampler: outputSize must be a positive integer or a [height, width] pair of positive integers, but got -3.',
    );
    expect(() => new S3NHead({ classes: 3, momentum: 1 })).toThrow('S3NHead: momentum must be a number in [0, 1), but got 1.');
    const sampler = new SaliencySampler({ outputSize: 8, paddingSize: 3 });
    expect(() => sampler.apply(tf.zeros([1, 8, 8, 3]))).toThrow('SaliencySampler: inputs must be a list of 2 tensors (image, saliency), but got a single tensor.');
    expect(() => sampler.apply([tf.zeros([2, 8, 8, 3]), tf.ones([3, 7, 7])])).toThrow('SaliencySampler: saliency must be a batch of 2 like image, but got a batch of 3.');
    const head = new S3NHead({ classes: 3 });
    expect(() => head.apply([tf.zeros([1, 4, 4, 2]), tf.zeros([1, 4, 4, 3]), tf.zeros([1, 4, 4, 2])])).toThrow(
      'S3NHead: discriminative features must be of depth 2 like the original features, but got depth 3.',
    );
    expect(() => new Select({ index: -1 })).toThrow('Select: index must be an integer >= 0, but got -1.');
    expect(() => new Select({ index: 2 }).apply(tf.zeros([1, 2, 5]))).toThrow('Select: index must be < 2, the size of axis 1 of the input, but got 2.');
    expect(() => new SparseAttention().apply(tf.zeros([2, 5, 5]))).toThrow(
      'SparseAttention: input must be of rank 4 [batch, height, width, classes], but got shape [2,5,5].',
    );
  });

  it('leak no tensors', async () => {
    const attention = new SparseAttention({ gridSize: 15, seed: 1, trainingMode: 'random' });
    const sampler = new SaliencySampler({ outputSize: 16, paddingSize: 7 });
    const crms = uniform([2, 8, 8, 4], 0, 1, 9) as tf.Tensor4D;
    const image = uniform([2, 16, 16, 3], 0, 1, 8) as tf.Tensor4D;
    attention.apply(crms); // build (weights are created once)
    sampler.apply([image, tf.ones([2, 15, 15])]);
    await expectNoLeak(() => {
      const maps = attention.apply(crms, { training: true }) as tf.Tensor4D;
      const z = tf.tidy(() => tf.squeeze(tf.slice(maps, [0, 0, 0, 0], [-1, 1, -1, -1]), [1])) as tf.Tensor3D;
      return [maps, z, sampler.apply([image, z])];
    });
  });
});
