/**
 * Training and evaluation pieces of the accuracy benchmark (bench/accuracy.ts): the baseline
 * classifier (backbone → global average pool → dense), S3N built on a copy of a trained
 * backbone, one training loop for both, top-1 evaluation of every output, and the zoom
 * diagnostics (does the discriminative image actually enlarge the digit?).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { GroupedSGD, ops, S3N, smallResNet } from '../src';

/** Labelled images on the current backend. */
export interface Split {
  images: tf.Tensor4D;
  labels: tf.Tensor1D;
  /** Digit ink boxes `[y0, x0, y1, x1]` in pixels (for the zoom diagnostics). */
  boxes: [number, number, number, number][];
  /**
   * The same images at a higher resolution, for an S3N made with `sourceSize` (passed as its
   * `source` option by {@link train}, {@link recalibrateBatchNorm} and {@link evaluate}). Absent
   * otherwise.
   */
  source?: tf.Tensor4D;
}

export interface BackboneConfig {
  inputSize: number;
  channels: number;
  widths: number[];
  /**
   * Momentum of the backbone's batch-norm moving statistics (Keras convention), passed to
   * `smallResNet` as `batchNormMomentum`. Unset: its default, tfjs' 0.99.
   */
  bnMomentum?: number;
}

export const CLASSES = 10;

export function makeBackbone(cfg: BackboneConfig, seed: number): tfl.LayersModel {
  return smallResNet({ inputSize: cfg.inputSize, channels: cfg.channels, widths: cfg.widths, seed, batchNormMomentum: cfg.bnMomentum });
}

/**
 * The baseline: the backbone alone, `backbone → globalAveragePooling2d → dense`. Keeps a
 * handle on the (nested) backbone and on the dense layer, so that S3N can start from them.
 */
export class Baseline {
  readonly model: tfl.LayersModel;
  readonly dense: tfl.layers.Layer;

  constructor(readonly backbone: tfl.LayersModel, seed: number, readonly classes = CLASSES) {
    const input = tfl.input({ shape: backbone.inputs[0].shape.slice(1) as number[] });
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(backbone.apply(input)) as tfl.SymbolicTensor;
    this.dense = tfl.layers.dense({ units: classes, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 500 }), name: 'baseline_dense' });
    this.model = tfl.model({ inputs: input, outputs: this.dense.apply(pooled) as tfl.SymbolicTensor });
  }

  /**
   * SGD with the same parameter groups as S3N's optimiser: backbone ×1, classifier ×10
   * (momentum 0.9, weight decay 1e-4), so both models are trained the same way.
   */
  createOptimizer(learningRate: number): GroupedSGD {
    const denseNames = new Set(this.dense.trainableWeights.map((w) => w.name));
    const vars = this.model.trainableWeights;
    return new GroupedSGD(
      [
        { name: 'base', lrMultiplier: 1, variables: vars.filter((w) => !denseNames.has(w.name)).map((w) => w.read() as tf.Variable) },
        { name: 'classifier', lrMultiplier: 10, variables: vars.filter((w) => denseNames.has(w.name)).map((w) => w.read() as tf.Variable) },
      ],
      { learningRate },
    );
  }

  trainStep(images: tf.Tensor4D, labels: tf.Tensor1D, optimizer: GroupedSGD): tf.Scalar {
    const { value, grads } = tf.variableGrads(() => {
      const logits = this.model.apply(images, { training: true }) as tf.Tensor2D;
      return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, this.classes), logits) as tf.Scalar;
    }, optimizer.variables);
    optimizer.applyGradients(grads);
    tf.dispose(grads);
    return value;
  }

  /** A new baseline with a copy of this one's weights (backbone, statistics and dense layer). */
  clone(cfg: BackboneConfig, seed: number): Baseline {
    const copy = new Baseline(makeBackbone(cfg, seed), seed, this.classes);
    copy.model.setWeights(this.model.getWeights());
    return copy;
  }

  logits(images: tf.Tensor4D): Record<string, tf.Tensor2D> {
    return { baseline: this.model.apply(images, { training: false }) as tf.Tensor2D };
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * S3N on a copy of `from`'s backbone (all weights, batch-norm statistics included). With
 * `initRawFromDense`, the S3N raw classifier (the class response map, a 1×1 conv whose spatial
 * mean is `dense(GAP(features))`) starts as the baseline's dense layer, so S3N's raw output
 * starts exactly where the baseline stands.
 */
export function s3nFromBaseline(from: Baseline, cfg: BackboneConfig, seed: number, initRawFromDense: boolean): S3N {
  const backbone = makeBackbone(cfg, seed);
  backbone.setWeights(from.backbone.getWeights());
  const s3n = S3N.create(backbone, { classes: CLASSES, seed, trainableFilter: false });
  if (initRawFromDense) s3n.classResponseMap.setWeights(from.dense.getWeights());
  return s3n;
}

/** S3N from scratch (fresh backbone). */
export function s3nFromScratch(cfg: BackboneConfig, seed: number): S3N {
  return S3N.create(makeBackbone(cfg, seed), { classes: CLASSES, seed, trainableFilter: false });
}

export type Trainable =
  | { kind: 'baseline'; net: Baseline }
  | { kind: 's3n'; net: S3N };

export interface TrainOptions {
  epochs: number;
  /**
   * The training images of an epoch (each epoch may draw new images: the generator is
   * cheap next to a training step), or a promise of them (e.g. decoded from files). Disposed
   * by {@link train} after the epoch.
   */
  data: (epoch: number) => Split | Promise<Split>;
  batchSize: number;
  /** Base learning rate (classifiers get ×10, S3N's radii ×1e-4, as in the authors' groups). */
  learningRate: number;
  /** Seed of the batch order. */
  seed: number;
  /** Log a line per epoch with this prefix (none when undefined). */
  log?: string;
}

/**
 * Learning-rate factor of an epoch: a short step schedule, ×0.1 for the last third of the
 * epochs (rounded up; none for a single epoch). Besides the usual gain, it lets the batch-norm
 * moving statistics catch up with weights that no longer move much.
 */
export function lrFactor(epoch: number, epochs: number): number {
  return epochs >= 2 && epoch >= epochs - Math.ceil(epochs / 3) ? 0.1 : 1;
}

/**
 * The epoch after which S3N switches from the first stage of the authors' three-stage
 * schedule to the second (they switch after epoch 20 of 60): a third of the run.
 */
export function switchEpoch(epochs: number): number {
  return Math.max(0, Math.ceil(epochs / 3) - 1);
}

function permutation(n: number, seed: number): Int32Array {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

export interface TrainResult {
  /** Mean training loss of each epoch. */
  losses: number[];
  /** Wall time in seconds, and per step in ms. */
  seconds: number;
  msPerStep: number;
  /** Training steps taken. */
  steps?: number;
  /** Of {@link TrainResult.seconds}, the time spent getting the epochs' data (`opts.data`). */
  dataSeconds?: number;
}

/**
 * Trains for `epochs` epochs, each one pass over `opts.data(epoch)` in shuffled batches (the
 * last partial batch is dropped, so every step has the same cost). For S3N, sets the
 * three-stage attention modes of each epoch (see {@link switchEpoch}); after training, S3N is
 * left in the modes of the last epoch, which is what it is evaluated with. An epoch's `source`
 * images (an S3N made with `sourceSize`) go to S3N's step as its `source` option.
 */
export async function train(t: Trainable, opts: TrainOptions): Promise<TrainResult> {
  let steps = 0;
  const optimizer = t.kind === 'baseline' ? t.net.createOptimizer(opts.learningRate) : t.net.createOptimizer({ learningRate: opts.learningRate });
  const losses: number[] = [];
  let dataMs = 0;
  const t0 = performance.now();
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    optimizer.learningRate = opts.learningRate * lrFactor(epoch, opts.epochs);
    if (t.kind === 's3n') t.net.setEpoch(epoch, switchEpoch(opts.epochs));
    const d0 = performance.now();
    const data = await opts.data(epoch);
    dataMs += performance.now() - d0;
    const n = data.images.shape[0];
    const epochSteps = Math.floor(n / opts.batchSize);
    const order = permutation(n, opts.seed * 1000 + epoch);
    let sum = 0;
    for (let s = 0; s < epochSteps; s++) {
      const idx = tf.tensor1d(order.subarray(s * opts.batchSize, (s + 1) * opts.batchSize), 'int32');
      const x = tf.gather(data.images, idx) as tf.Tensor4D;
      const y = tf.gather(data.labels, idx) as tf.Tensor1D;
      const source = data.source && (tf.gather(data.source, idx) as tf.Tensor4D);
      const loss = t.kind === 'baseline' ? t.net.trainStep(x, y, optimizer) : t.net.trainStep(x, y, optimizer, source ? { source } : {});
      sum += (await loss.data())[0];
      tf.dispose([idx, x, y, loss, ...(source ? [source] : [])]);
    }
    tf.dispose([data.images, data.labels, ...(data.source ? [data.source] : [])]);
    steps += epochSteps;
    losses.push(sum / epochSteps);
    if (!Number.isFinite(losses[epoch])) break; // diverged: no point going on
    if (opts.log !== undefined) {
      const el = (performance.now() - t0) / 1000;
      console.log(`${opts.log} epoch ${epoch + 1}/${opts.epochs} lr ${optimizer.learningRate.toPrecision(3)} loss ${losses[epoch].toFixed(4)} (${el.toFixed(0)} s)`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  optimizer.dispose();
  return { losses, seconds, msPerStep: (1000 * seconds) / Math.max(1, steps), steps, dataSeconds: dataMs / 1000 };
}

/**
 * Re-estimates the batch-norm moving statistics for the current weights ("precise BN"): runs
 * `batches` forward passes in training mode over training images, without any weight update
 * (the moving averages have momentum 0.9, so 30 batches forget the old values). Done the same
 * way for every model before it is evaluated. For S3N the pass is S3N's own training forward,
 * so the shared backbone's statistics mix original, zoomed and inverse images exactly as in
 * training; with per-branch statistics (`branchStatistics: 'per-branch'`) each branch's are
 * re-estimated on that branch's own inputs of the pass (the image, the zoomed image, the
 * complementary image).
 */
export function recalibrateBatchNorm(t: Trainable, data: Split, batches = 30, batchSize = 32): void {
  const n = data.images.shape[0];
  for (let b = 0; b < batches; b++) {
    const start = (b * batchSize) % Math.max(1, n - batchSize + 1);
    tf.tidy(() => {
      const x = tf.slice(data.images, [start, 0, 0, 0], [Math.min(batchSize, n), -1, -1, -1]) as tf.Tensor4D;
      const source = data.source && (tf.slice(data.source, [start, 0, 0, 0], [Math.min(batchSize, n), -1, -1, -1]) as tf.Tensor4D);
      if (t.kind === 'baseline') t.net.model.apply(x, { training: true });
      else t.net.apply(x, { training: true, ...(source ? { source } : {}) });
    });
  }
}

/** Top-1 accuracy of every output (`baseline`, or S3N's `fused`, `raw`, `discriminative`, `complementary`). */
export async function evaluate(t: Trainable, data: Split, batchSize = 100): Promise<Record<string, number>> {
  const n = data.images.shape[0];
  const correct: Record<string, number> = {};
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const counts = tf.tidy(() => {
      const x = tf.slice(data.images, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D;
      const y = tf.slice(data.labels, [start], [size]);
      const source = data.source && (tf.slice(data.source, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D);
      const outs: Record<string, tf.Tensor2D> = t.kind === 'baseline' ? t.net.logits(x) : { ...t.net.apply(x, { training: false, ...(source ? { source } : {}) }) };
      const names = Object.keys(outs);
      return { names, hits: tf.stack(names.map((k) => tf.sum(tf.cast(tf.equal(tf.argMax(outs[k], 1), y), 'int32')))) };
    });
    const hits = await counts.hits.data();
    counts.names.forEach((k, i) => (correct[k] = (correct[k] ?? 0) + hits[i]));
    counts.hits.dispose();
  }
  const acc: Record<string, number> = {};
  for (const k of Object.keys(correct)) acc[k] = correct[k] / n;
  return acc;
}

/** What S3N's discriminative ("zoom") branch does to the digit, averaged over a set of images. */
export interface ZoomDiagnostics {
  /** Images looked at. */
  images: number;
  /** Mean number of peaks in the decision map. */
  peaks: number;
  /** Fraction of images whose decision-map maximum lies inside the digit's box (±2 px). */
  maxOnDigit: number;
  /**
   * Mean ratio of the digit box's area in the zoomed image to its area in the original: > 1
   * means the zoom enlarges the digit (1 = identity grid).
   */
  digitMagnification: number;
  /** {@link digitMagnification} over the images whose decision-map maximum is on the digit, and over the others. */
  magnificationMaxOnDigit: number;
  magnificationMaxOffDigit: number;
  /** The same ratio for the complementary ("inverse") image: < 1 means the digit is shrunk. */
  inverseMagnification: number;
  /** Fraction of images whose digit keeps at least half of its area in the zoomed image (not cropped out). */
  digitKeptInZoom: number;
  /** The learned radii. */
  radius: number;
  radiusInv: number;
}

/**
 * Measures the zoom: the digit's box becomes a 0/1 mask image, which is resampled with the
 * very grids S3N uses for its discriminative and complementary images (`s3n.explain` in the
 * current inference mode); the mask's area before and after gives the magnification.
 */
export async function zoomDiagnostics(s3n: S3N, data: Split, count = 200): Promise<ZoomDiagnostics> {
  const n = Math.min(count, data.images.shape[0]);
  const [, h, w] = data.images.shape;
  const images = tf.slice(data.images, [0, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
  const mask = new Float32Array(n * h * w);
  data.boxes.slice(0, n).forEach(([y0, x0, y1, x1], i) => {
    for (let y = y0; y < y1; y++) mask.fill(1, i * h * w + y * w + x0, i * h * w + y * w + x1);
  });
  const boxMask = tf.tensor4d(mask, [n, h, w, 1]);
  const ex = s3n.explain(images);
  const resample = (saliency: tf.Tensor3D) =>
    tf.tidy(() => ops.gridSample(boxMask, s3n.sampler.grid(saliency), { mode: 'bilinear', paddingMode: 'zeros', alignCorners: true }));
  const zoomMask = resample(ex.zoomSaliency);
  const invMask = resample(ex.inverseSaliency);
  const [areaOrig, areaZoom, areaInv, peaks, argmax] = await Promise.all([
    tf.sum(boxMask, [1, 2, 3]).data(),
    tf.sum(zoomMask, [1, 2, 3]).data(),
    tf.sum(invMask, [1, 2, 3]).data(),
    tf.sum(ex.peaks, [1, 2]).data(),
    tf.argMax(tf.reshape(ex.decision, [n, -1]), 1).data(),
  ]);
  const g = ex.decision.shape[1];
  let mag = 0;
  let inv = 0;
  let onDigit = 0;
  let kept = 0;
  let peakSum = 0;
  let magOn = 0;
  let magOff = 0;
  for (let i = 0; i < n; i++) {
    const ratio = areaZoom[i] / areaOrig[i];
    mag += ratio;
    inv += areaInv[i] / areaOrig[i];
    if (ratio > 0.5) kept++;
    peakSum += peaks[i];
    // Decision-map cell (corners aligned) → image pixel.
    const py = (Math.floor(argmax[i] / g) * (h - 1)) / (g - 1);
    const px = ((argmax[i] % g) * (w - 1)) / (g - 1);
    const [y0, x0, y1, x1] = data.boxes[i];
    if (py >= y0 - 2 && py < y1 + 2 && px >= x0 - 2 && px < x1 + 2) {
      onDigit++;
      magOn += ratio;
    } else magOff += ratio;
  }
  const radii = await s3n.radii();
  tf.dispose([images, boxMask, zoomMask, invMask, ex.decision, ex.peaks, ex.zoomSaliency, ex.inverseSaliency, ex.zoomImage, ex.inverseImage]);
  return {
    images: n,
    peaks: peakSum / n,
    maxOnDigit: onDigit / n,
    digitMagnification: mag / n,
    magnificationMaxOnDigit: onDigit > 0 ? magOn / onDigit : NaN,
    magnificationMaxOffDigit: onDigit < n ? magOff / (n - onDigit) : NaN,
    inverseMagnification: inv / n,
    digitKeptInZoom: kept / n,
    radius: radii.radius,
    radiusInv: radii.radiusInv,
  };
}

/**
 * Top-1 of S3N's four outputs when each branch normalises with batch-norm statistics of its
 * own inputs. S3N calls one backbone three times (original, zoomed and inverse images), so its
 * batch-norm moving statistics are a mixture of three different image distributions and, at
 * inference, every branch is normalised with that mixture, whereas in training each call used
 * its own batch's statistics. Here the backbone is copied three times (same weights), each copy's
 * statistics are re-estimated on its branch's inference-time inputs (calibration images, no
 * labels), and so are those of the head's buffers (restored afterwards); the forward pass is
 * otherwise S3N's own. A diagnostic of what per-branch statistics would give to a model trained
 * with shared ones (`branchStatistics: 'per-branch'` trains them instead); the S3N model is left
 * as it was.
 */
export async function evaluatePerBranchBatchNorm(s3n: S3N, cfg: BackboneConfig, calib: Split, data: Split, batchSize = 32): Promise<Record<string, number>> {
  const copy = () => {
    const b = makeBackbone(cfg, 0);
    b.setWeights(s3n.backbone.getWeights());
    return b;
  };
  const [raw, zoom, inverse] = [copy(), copy(), copy()];
  const headWeights = s3n.head.getWeights().map((w) => w.clone()); // getWeights returns the variables' own tensors
  /** Original features, class maps and both resampled images, in inference mode. */
  const branches = (x: tf.Tensor4D) => {
    const f = raw.apply(x, { training: false }) as tf.Tensor4D;
    const crms = s3n.classResponseMap.apply(f) as tf.Tensor4D;
    const a = s3n.attention.attend(crms, { training: false });
    const sample = (s: tf.Tensor3D) => ops.gridSample(x, s3n.sampler.grid(s), { mode: 'bilinear', paddingMode: 'zeros', alignCorners: true });
    return { f, crms, zoomImage: sample(a.zoom), inverseImage: sample(a.inverse) };
  };
  const n = calib.images.shape[0];
  const batches = Math.floor(n / batchSize);
  const batch = (b: number) => tf.slice(calib.images, [b * batchSize, 0, 0, 0], [batchSize, -1, -1, -1]) as tf.Tensor4D;
  // 1. statistics of the original branch; 2. of the zoomed and inverse branches; 3. the head's buffers.
  for (let b = 0; b < batches; b++) tf.tidy(() => void raw.apply(batch(b), { training: true }));
  for (let b = 0; b < batches; b++) {
    tf.tidy(() => {
      const br = branches(batch(b));
      zoom.apply(br.zoomImage, { training: true });
      inverse.apply(br.inverseImage, { training: true });
    });
  }
  for (let b = 0; b < batches; b++) {
    tf.tidy(() => {
      const br = branches(batch(b));
      s3n.head.apply([br.f, zoom.apply(br.zoomImage) as tf.Tensor4D, inverse.apply(br.inverseImage) as tf.Tensor4D], { training: true });
    });
  }
  const total = data.images.shape[0];
  const correct: Record<string, number> = { fused: 0, raw: 0, discriminative: 0, complementary: 0 };
  for (let start = 0; start < total; start += 100) {
    const size = Math.min(100, total - start);
    const hits = tf.tidy(() => {
      const x = tf.slice(data.images, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D;
      const y = tf.slice(data.labels, [start], [size]);
      const br = branches(x);
      const logits = s3n.head.apply([br.f, zoom.apply(br.zoomImage) as tf.Tensor4D, inverse.apply(br.inverseImage) as tf.Tensor4D], { training: false }) as tf.Tensor3D;
      const [fused, disc, comp] = tf.unstack(logits, 1) as tf.Tensor2D[];
      const outs = [fused, tf.mean(br.crms, [1, 2]), disc, comp];
      return tf.stack(outs.map((o) => tf.sum(tf.cast(tf.equal(tf.argMax(o, 1), y), 'int32'))));
    });
    const h = await hits.data();
    hits.dispose();
    ['fused', 'raw', 'discriminative', 'complementary'].forEach((k, i) => (correct[k] += h[i]));
  }
  [raw, zoom, inverse].forEach((b) => b.dispose());
  s3n.head.setWeights(headWeights);
  tf.dispose(headWeights);
  const acc: Record<string, number> = {};
  for (const k of Object.keys(correct)) acc[k] = correct[k] / total;
  return acc;
}

/** Median of the 3 timed of 5 training steps (the first two warm up), in milliseconds. */
export async function medianStepMs(step: () => tf.Scalar): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const loss = step();
    await loss.data();
    loss.dispose();
    if (i >= 2) ms.push(performance.now() - t); // two warm-up steps
  }
  return ms.sort((a, b) => a - b)[1];
}
