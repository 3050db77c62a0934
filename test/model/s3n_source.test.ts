/**
 * Zooming into real pixels (issue 15, beyond the paper): S3N sampling its zoomed and
 * complementary images from a source image larger than the backbone input.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// The fast Conv2DBackpropFilter (as the CLI uses on cpu): the training steps take seconds.
import '../../src/cpu-training';
import { ops, S3N, smallResNet } from '../../src';
import { expectClose, uniform } from '../helpers/numeric';
import { saveAndLoad } from '../helpers/round_trip';

const SIZE = 32;

function tinyS3N(options: { sourceSize?: number | [number, number]; seed?: number } = {}): S3N {
  const seed = options.seed ?? 1;
  // A small saliency grid and sampler filter (as `s3n demo`) keep the steps fast.
  return S3N.create(smallResNet({ inputSize: SIZE, widths: [4, 8], seed }), { classes: 3, seed, gridSize: 15, paddingSize: 8, fwhm: 4, sourceSize: options.sourceSize });
}

/** Mean squared Laplacian (4-neighbour, per channel, valid positions) of `image[0]` in rows/cols `[lo, hi)`. */
function laplacianEnergy(image: tf.Tensor4D, lo = 0, hi = image.shape[1]): number {
  return tf.tidy(() => {
    const c = image.shape[3];
    const k = tf.tile(tf.tensor4d([0, 1, 0, 1, -4, 1, 0, 1, 0], [3, 3, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
    const crop = tf.slice(image, [0, lo, lo, 0], [1, hi - lo, hi - lo, c]);
    return tf.mean(tf.square(tf.depthwiseConv2d(crop, k, 1, 'valid'))).dataSync()[0];
  });
}

/** A saliency map `[1, 31, 31]`: the authors' floor 0.09 plus a strong Gaussian at (row, col) (fractions of the map). */
function peakSaliency(row = 0.5, col = 0.5, sigma = 0.09): tf.Tensor3D {
  return tf.tidy(() => {
    const n = 31;
    const ys = tf.reshape(tf.linspace(0, 1, n), [n, 1]);
    const xs = tf.reshape(tf.linspace(0, 1, n), [1, n]);
    const d2 = tf.add(tf.square(tf.sub(ys, row)), tf.square(tf.sub(xs, col)));
    return tf.expandDims(tf.add(0.09, tf.mul(4, tf.exp(tf.div(d2, -2 * sigma * sigma)))), 0) as tf.Tensor3D;
  });
}

describe('ops.resizeArea', () => {
  it('is an average pooling for integer factors and an exact area mean otherwise', () => {
    const x = uniform([2, 12, 9, 3], 0, 1, 3) as tf.Tensor4D;
    expectClose(ops.resizeArea(x, [4, 3]), tf.avgPool(x, [3, 3], [3, 3], 'valid'), { atol: 0 });
    // 3 → 2 along a row: outputs average [0, 1.5) and [1.5, 3).
    const row = tf.tensor4d([1, 2, 4], [1, 1, 3, 1]);
    expectClose(ops.resizeArea(row, [1, 2]), [(1 + 0.5 * 2) / 1.5, (0.5 * 2 + 4) / 1.5], { atol: 1e-6 });
    // Non-integer factors keep a constant image and the mean of any image.
    const y = ops.resizeArea(x, [5, 7]);
    expect(y.shape).toEqual([2, 5, 7, 3]);
    expectClose(tf.mean(y, [1, 2]), tf.mean(x, [1, 2]), { atol: 1e-5 });
    expectClose(ops.resizeArea(tf.fill([1, 10, 10, 2], 0.25) as tf.Tensor4D, 7), tf.fill([1, 7, 7, 2], 0.25), { atol: 1e-6 });
    expect(ops.resizeArea(x, [12, 9]).dataSync()).toEqual(x.dataSync());
    expect(() => ops.resizeArea(x, [13, 9])).toThrow("resizeArea: size must be at most the images' size 12×9 (an area resize only shrinks), but got 13×9.");
    expect(() => ops.resizeArea(x, 0)).toThrow('resizeArea: size must be a positive integer or a [height, width] pair of positive integers, but got 0.');
  });

  it('does not alias a 1-pixel checkerboard, unlike resizeBilinear without antialiasing', () => {
    const board = tf.tidy(() => {
      const i = tf.reshape(tf.range(0, 16), [16, 1]);
      const j = tf.reshape(tf.range(0, 16), [1, 16]);
      return tf.cast(tf.reshape(tf.mod(tf.add(i, j), 2), [1, 16, 16, 1]), 'float32') as tf.Tensor4D;
    });
    expectClose(ops.resizeArea(board, 8), tf.fill([1, 8, 8, 1], 0.5), { atol: 1e-6 });
    const bilinear = tf.image.resizeBilinear(board, [8, 8]);
    expect(tf.max(tf.abs(tf.sub(bilinear, 0.5))).dataSync()[0]).toBeGreaterThan(0.4);
  });
});

describe('sampling from a 2× source (zooming into real pixels)', () => {
  it('gives the zoomed region more high-frequency energy than sampling from the input, and the same image when the source is the input', () => {
    const before = tf.memory().numTensors;
    // Fine detail at the source resolution (pixel noise), the input its 2× area downsampling.
    const source = uniform([1, 128, 128, 3], 0, 1, 11) as tf.Tensor4D;
    const input = ops.resizeArea(source, 64);
    const saliency = peakSaliency();
    const fromInput = ops.saliencyResample(input, saliency);
    const fromSource = ops.saliencyResample(source, saliency, { outputSize: 64 });
    expect(fromSource.image.shape).toEqual([1, 64, 64, 3]);
    // Same geometry: the grids are the same numbers.
    expect(fromSource.grid.dataSync()).toEqual(fromInput.grid.dataSync());
    // The centre of the zoom: magnified (more than one output pixel per input pixel).
    const g = fromInput.grid.dataSync();
    const step = (g[(32 * 64 + 33) * 2] - g[(32 * 64 + 32) * 2]) * (64 - 1) / 2; // input pixels per output pixel
    expect(step).toBeLessThan(0.6);
    const [eIn, eSrc] = [laplacianEnergy(fromInput.image, 20, 44), laplacianEnergy(fromSource.image, 20, 44)];
    const eRaw = laplacianEnergy(input);
    console.log(`Laplacian energy of the zoomed centre: from the input ${eIn.toFixed(4)}, from the 2x source ${eSrc.toFixed(4)} (x${(eSrc / eIn).toFixed(2)}); input itself ${eRaw.toFixed(4)}; zoom step ${step.toFixed(3)} input px`);
    expect(eSrc).toBeGreaterThan(3 * eIn);
    // Exact parity when the source is the input.
    const same = ops.saliencyResample(input, saliency, { outputSize: 64 });
    expect(same.image.dataSync()).toEqual(fromInput.image.dataSync());
    tf.dispose([source, input, saliency, fromInput, fromSource, same]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('S3N with sourceSize', () => {
  it('builds a two-input model (image, source) whose samplers read the source; without sourceSize the model is unchanged', () => {
    const plain = tinyS3N();
    const s3n = tinyS3N({ sourceSize: 64 });
    expect(plain.model.inputs.map((x) => x.shape)).toEqual([[null, SIZE, SIZE, 3]]);
    expect(plain.sourceSize).toBeUndefined();
    expect(s3n.model.inputs.map((x) => x.shape)).toEqual([[null, SIZE, SIZE, 3], [null, 64, 64, 3]]);
    expect(s3n.model.inputNames).toEqual(['image', 'source']);
    expect(s3n.sourceSize).toEqual([64, 64]);
    expect(s3n.inputShape).toEqual([SIZE, SIZE, 3]);
    expect(s3n.model.countParams()).toBe(plain.model.countParams());
    expect(tinyS3N({ sourceSize: [48, 40] }).sourceSize).toEqual([48, 40]);
  });

  it('is bit-identical to the authors\' network when the source is the input: outputs, explanation, training step', () => {
    const plain = tinyS3N({ seed: 3 });
    const s3n = tinyS3N({ seed: 3, sourceSize: SIZE });
    s3n.model.setWeights(plain.model.getWeights());
    const images = uniform([2, SIZE, SIZE, 3], 0, 1, 5) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 2], 'int32');
    for (const training of [false, true]) {
      const a = plain.apply(images, { training });
      const b = s3n.apply(images, { training, source: images });
      for (const k of ['fused', 'raw', 'discriminative', 'complementary'] as const) expect(b[k].dataSync()).toEqual(a[k].dataSync());
      tf.dispose([...Object.values(a), ...Object.values(b)]);
    }
    expect(s3n.predict(images, { source: images }).dataSync()).toEqual(plain.predict(images).dataSync());
    const ea = plain.explain(images);
    const eb = s3n.explain(images, { source: images });
    for (const k of Object.keys(ea) as (keyof typeof ea)[]) expect(eb[k].dataSync()).toEqual(ea[k].dataSync());
    const [oa, ob] = [plain.createOptimizer({ learningRate: 0.01 }), s3n.createOptimizer({ learningRate: 0.01 })];
    const la = plain.trainStep(images, labels, oa);
    const lb = s3n.trainStep(images, labels, ob, { source: images });
    expect(lb.dataSync()).toEqual(la.dataSync());
    const [wa, wb] = [plain.model.getWeights(), s3n.model.getWeights()];
    wa.forEach((w, i) => expect(wb[i].dataSync()).toEqual(w.dataSync()));
  });

  it('zooms into the 2× source: the same attention, more high-frequency energy in the zoomed image', () => {
    const plain = tinyS3N({ seed: 4 });
    const s3n = tinyS3N({ seed: 4, sourceSize: 2 * SIZE });
    s3n.model.setWeights(plain.model.getWeights());
    const source = uniform([1, 2 * SIZE, 2 * SIZE, 3], 0, 1, 6) as tf.Tensor4D;
    const images = s3n.resizeToInput(source);
    expect(images.shape).toEqual([1, SIZE, SIZE, 3]);
    const ea = plain.explain(images);
    const eb = s3n.explain(images, { source });
    expect(eb.zoomSaliency.dataSync()).toEqual(ea.zoomSaliency.dataSync());
    expect(eb.zoomImage.shape).toEqual([1, SIZE, SIZE, 3]);
    const [eIn, eSrc] = [laplacianEnergy(ea.zoomImage), laplacianEnergy(eb.zoomImage)];
    console.log(`S3N.explain zoomed image, Laplacian energy: from the input ${eIn.toFixed(4)}, from the 2x source ${eSrc.toFixed(4)} (x${(eSrc / eIn).toFixed(2)})`);
    expect(eSrc).toBeGreaterThan(1.5 * eIn);
    // The resampled images are what the model's branches see: same logits as the layers path.
    const out = s3n.apply(images, { source });
    expect(out.fused.shape).toEqual([1, 3]);
    expect(tf.all(tf.isFinite(out.fused)).dataSync()[0]).toBe(1);
  });

  it('trains with the source without leaking tensors, and gradients reach the radii and the filter', () => {
    const s3n = tinyS3N({ seed: 5, sourceSize: 2 * SIZE });
    const source = uniform([2, 2 * SIZE, 2 * SIZE, 3], 0, 1, 7) as tf.Tensor4D;
    const images = s3n.resizeToInput(source);
    const labels = tf.tensor1d([1, 0], 'int32');
    const opt = s3n.createOptimizer({ learningRate: 0.05, multipliers: { radius: 1000, filter: 1000 } });
    const groups = Object.fromEntries(s3n.parameterGroups().map((g) => [g.name, g.variables.map((v) => v.dataSync().slice())]));
    let afterFirst = 0;
    for (let step = 1; step <= 2; step++) {
      const { loss, outputs, skipped } = s3n.trainStepWithOutputs(images, labels, opt, { source });
      expect(skipped).toBe(false);
      expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
      tf.dispose([loss, ...Object.values(outputs)]);
      if (step === 1) afterFirst = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(afterFirst);
    for (const g of ['radius', 'filter']) {
      const now = s3n.parameterGroups().find((p) => p.name === g)!.variables.map((v) => v.dataSync());
      expect(now.some((v, i) => v.some((x, j) => x !== groups[g][i][j]))).toBe(true);
    }
    const before = tf.memory().numTensors;
    s3n.trainStep(images, labels, opt, { source }).dispose();
    s3n.predict(images, { source }).dispose();
    tf.dispose(Object.values(s3n.explain(images, { source })));
    tf.dispose(Object.values(s3n.apply(images, { source, training: true })));
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
  });

  it('saves and loads with its source input and bit-identical outputs', async () => {
    const s3n = tinyS3N({ seed: 6, sourceSize: [64, 48] });
    const source = uniform([1, 64, 48, 3], 0, 1, 8) as tf.Tensor4D;
    const images = uniform([1, SIZE, SIZE, 3], 0, 1, 9) as tf.Tensor4D;
    const loaded = await saveAndLoad(s3n);
    expect(loaded.sourceSize).toEqual([64, 48]);
    expect(loaded.predict(images, { source }).dataSync()).toEqual(s3n.predict(images, { source }).dataSync());
    const direct = s3n.model.predict([images, source]) as tf.Tensor[];
    expect(direct[0].dataSync()).toEqual(loaded.predict(images, { source }).dataSync());
  });

  it('refuses a wrong sourceSize or source with messages naming the argument, leaking nothing', () => {
    const backbone = smallResNet({ inputSize: SIZE, widths: [4, 8], seed: 1 });
    expect(() => S3N.create(backbone, { classes: 3, sourceSize: 16 })).toThrow("S3N.create: sourceSize must be at least the backbone's input 32×32, but got 16.");
    expect(() => S3N.create(backbone, { classes: 3, sourceSize: [64, 31] })).toThrow("S3N.create: sourceSize must be at least the backbone's input 32×32, but got [64,31].");
    expect(() => S3N.create(backbone, { classes: 3, sourceSize: 1.5 })).toThrow('S3N.create: sourceSize must be a positive integer or a [height, width] pair of positive integers, but got 1.5.');
    const plain = tinyS3N();
    const s3n = tinyS3N({ sourceSize: 64 });
    const images = tf.zeros([2, SIZE, SIZE, 3]) as tf.Tensor4D;
    const source = tf.zeros([2, 64, 64, 3]) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1], 'int32');
    const opt = s3n.createOptimizer();
    const before = tf.memory().numTensors;
    const need = 'must be a float32 [2, 64, 64, 3] tensor (this S3N samples from a 64×64 source)';
    expect(() => s3n.predict(images)).toThrow(`S3N.predict: source ${need}, but got undefined.`);
    expect(() => s3n.apply(images, { source: tf.zeros([1, 64, 64, 3]) as tf.Tensor4D })).toThrow(`S3N.apply: source ${need}, but got shape [1,64,64,3].`);
    expect(() => s3n.explain(images, { source: tf.zeros([2, 32, 32, 3]) as tf.Tensor4D })).toThrow(`S3N.explain: source ${need}, but got shape [2,32,32,3].`);
    expect(() => s3n.trainStep(images, labels, opt, { source: tf.zeros([2, 64, 64, 3], 'int32') as tf.Tensor4D })).toThrow(
      `S3N.trainStep: source ${need}, but got a int32 tensor of shape [2,64,64,3].`,
    );
    expect(() => s3n.trainStep(images, labels, opt)).toThrow(`S3N.trainStep: source ${need}, but got undefined.`);
    expect(() => plain.predict(images, { source })).toThrow(
      'S3N.predict: source must be undefined (this S3N has no sourceSize: it samples from images), but got a float32 tensor of shape [2,64,64,3].',
    );
    expect(() => s3n.resizeToInput(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D)).toThrow("resizeArea: size must be at most the images' size 16×16");
    // The refused calls' own zeros (made in the expect lines above) are the only new tensors.
    expect(tf.memory().numTensors).toBe(before + 4);
  });
});
