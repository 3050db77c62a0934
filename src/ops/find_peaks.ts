/**
 * Local-maximum ("peak") detection on class response maps: the first half of the authors'
 * `peak_stimulation` (S3N, Ding et al., ICCV 2019, sec. 3.1 "class peak responses").
 *
 * @module ops
 */
import * as tf from '@tensorflow/tfjs-core';

import { checkFloat, checkOneOf, checkTensor, describeValue, fail } from './validation';

/**
 * Extra condition a local maximum must meet to count as a peak.
 *
 * - `'mean'`: the value must also be `>=` the spatial mean of its `(batch, channel)` map (the
 *   authors' `_mean_filter`, used by S3N).
 * - `'none'`: every local maximum is a peak (`peak_filter=None`).
 */
export type PeakFilter = 'mean' | 'none';

/** Options of {@link findPeaks}; the defaults are S3N's (`peak_stimulation(win_size=3, peak_filter=_mean_filter)`). */
export interface FindPeaksOptions {
  /** Side of the square window, an odd integer >= 1. Default 3 (S3N's `win_size`). */
  windowSize?: number;
  /** Extra condition on a local maximum, see {@link PeakFilter}. Default `'mean'`. */
  filter?: PeakFilter;
}

const FN = 'findPeaks';
const FILTERS: readonly PeakFilter[] = ['mean', 'none'];

/**
 * Marks the local maxima of each `(batch, channel)` map.
 *
 * The rule is the one the authors' `peak_stimulation` gets from a stride-1 max-pool with
 * `-inf` padding and `return_indices=True`: a pixel is a peak iff the first maximum of its
 * `windowSize x windowSize` window, in row-major scan order, is the pixel itself. Equivalently
 * it is strictly greater than every neighbour that comes before it in row-major order (the rows
 * above, and the pixels to its left) and at least equal to every neighbour after it. Neighbours
 * outside the image count as `-inf`, so on a plateau only its first pixel in row-major order can
 * be a peak, and a constant map has exactly one peak: its top-left pixel.
 *
 * With `filter: 'mean'` a peak must also satisfy `v >= mean(map)` (mean over height and width,
 * summed in float32 in another order than PyTorch: a value within rounding of the mean can be
 * classified differently; exact for quantised maps).
 *
 * NaN values are never peaks (in the authors' max-pool a NaN wins its window, so it can be one),
 * and no pixel next to a NaN is a peak (comparisons with NaN are false). Under `'mean'` a map
 * that contains a NaN has a NaN mean and so no peaks at all.
 *
 * The mask is a step function of `maps`: its gradient is zero, so it can be used inside a
 * function that is differentiated with `tf.grads` (no gradient flows through it).
 *
 * Vectorised (shifted slices of a `-inf`-padded copy), no data is read back to the host.
 *
 * In S3N (§3.1, class peak responses) the maps are the class response maps, or the decision
 * map built from them ({@link decisionMap}); the peaks become the centres of the sparse
 * attention's Gaussians (§3.2).
 *
 * @param maps `[batch, height, width, channels]` float32 response maps.
 * @param options Window size (default 3) and filter (default `'mean'`).
 * @returns `[batch, height, width, channels]` float32 mask of 0 and 1.
 *
 * @example
 * ```ts
 * const maps = tf.tensor4d([0, 1, 0, 0,
 *                           0, 0, 0, 0,
 *                           0, 0, 0, 0,
 *                           0, 0, 2, 0], [1, 4, 4, 1]);
 * const mask = ops.findPeaks(maps); // [1, 4, 4, 1]: 1 at (row 0, col 1) and (row 3, col 2)
 * ops.findPeaks(tf.zeros([1, 4, 4, 1]) as tf.Tensor4D); // a plateau: only its top-left pixel
 * ```
 */
export function findPeaks(maps: tf.Tensor4D, options: FindPeaksOptions = {}): tf.Tensor4D {
  checkTensor(FN, 'maps', maps, 4, '[batch, height, width, channels]');
  checkFloat(FN, 'maps', maps);
  if (maps.size === 0) fail(FN, 'maps', 'a non-empty tensor', `shape [${maps.shape.join(',')}]`);
  const opts = options ?? {};
  const windowSize = opts.windowSize ?? 3;
  if (typeof windowSize !== 'number' || !Number.isInteger(windowSize) || windowSize < 1 || windowSize % 2 !== 1) {
    fail(FN, 'options.windowSize', 'an odd integer >= 1', describeValue(windowSize));
  }
  const filter = opts.filter ?? 'mean';
  checkOneOf(FN, 'options.filter', filter, FILTERS);

  // A window larger than the map only adds neighbours outside it (-inf, which change no
  // comparison): the same mask with the smallest window that spans the map, at a cost that no
  // longer grows with windowSize (a window of 1001 on a small map took minutes and 20 GB).
  const span = Math.max(maps.shape[1], maps.shape[2]) - 1;
  const effectiveWindow = windowSize === 1 ? 1 : Math.min(windowSize, 2 * Math.max(1, span) + 1);
  // The mask is piecewise constant in `maps`: give it a zero gradient instead of letting the
  // tape meet comparison ops, which have no gradient.
  const masked = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: peakMask(args[0] as tf.Tensor4D, effectiveWindow, filter),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return masked(maps) as tf.Tensor4D;
}

/** Flat positions of the real pixels in the comparison range of {@link peakMask}, per shape. */
const pixelIndexCache = new Map<string, Int32Array>();

function pixelIndices(batch: number, height: number, width: number, r: number): Int32Array {
  const key = `${batch},${height},${width},${r}`;
  let idx = pixelIndexCache.get(key);
  if (!idx) {
    const hp = height + 2 * r;
    const wp = width + 2 * r;
    idx = new Int32Array(batch * height * width);
    let k = 0;
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < height; i++) {
        for (let j = 0; j < width; j++) idx[k++] = b * hp * wp + i * wp + j;
      }
    }
    if (pixelIndexCache.size >= 32) pixelIndexCache.clear();
    pixelIndexCache.set(key, idx);
  }
  return idx;
}

/**
 * The forward computation of {@link findPeaks} (no argument checks).
 *
 * The maps are padded with `-inf` by `r` on every side and flattened to
 * `[batch * hp * wp, channels]`. A window offset `(dy, dx)` is then the flat offset
 * `dy * wp + dx`, so every neighbour map is a contiguous slice (no strided copies), and the
 * padding keeps neighbours of real pixels inside their own image. The comparisons run on the
 * flat range from the first to the last real pixel; one gather picks the real pixels out.
 */
function peakMask(maps: tf.Tensor4D, windowSize: number, filter: PeakFilter): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, height, width, channels] = maps.shape;
    const r = (windowSize - 1) / 2;
    let mask: tf.Tensor;
    if (r === 0) {
      // A 1x1 window: every pixel is its own maximum, except NaN (v >= v is false only for NaN).
      mask = tf.cast(tf.greaterEqual(maps, maps), 'float32');
    } else {
      const hp = height + 2 * r;
      const wp = width + 2 * r;
      const wide = tf.concat([tf.fill([batch, height, r, channels], -Infinity), maps, tf.fill([batch, height, r, channels], -Infinity)], 2);
      const padded = tf.concat([tf.fill([batch, r, wp, channels], -Infinity), wide, tf.fill([batch, r, wp, channels], -Infinity)], 1);
      const flat = tf.reshape(padded, [batch * hp * wp, channels]);
      const start = r * wp + r; // first real pixel
      const length = batch * hp * wp - 2 * start; // up to the last real pixel
      const centre = tf.slice(flat, [start, 0], [length, channels]);
      let isPeak = tf.greaterEqual(centre, centre); // false for NaN
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          if (dy === 0 && dx === 0) continue;
          const neighbour = tf.slice(flat, [start + dy * wp + dx, 0], [length, channels]);
          // Before the centre in row-major order: the centre must win strictly.
          const before = dy < 0 || (dy === 0 && dx < 0);
          isPeak = tf.logicalAnd(isPeak, before ? tf.greater(centre, neighbour) : tf.greaterEqual(centre, neighbour));
        }
      }
      const indices = tf.tensor1d(pixelIndices(batch, height, width, r), 'int32');
      mask = tf.gather(tf.cast(isPeak, 'float32'), indices, 0);
    }
    if (filter === 'mean') {
      // Per-(batch, channel) sum over the pixels as a matrix product (no transposes), then / count.
      const values = tf.reshape(maps, [batch, height * width, channels]);
      const mean = tf.div(tf.matMul(tf.ones([1, height * width]), values), height * width); // [batch, 1, channels]
      mask = tf.mul(tf.reshape(mask, [batch, height * width, channels]), tf.cast(tf.greaterEqual(values, mean), 'float32'));
    }
    return tf.reshape(mask, [batch, height, width, channels]);
  });
}
