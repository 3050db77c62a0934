/**
 * Sparse attention of S3N (paper sec. 3.2; the authors' `generate_map`, second half): every
 * class peak adds a Gaussian to a discriminative ("zoom") saliency map or to a complementary
 * ("inverse") one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { findPeaks } from './find_peaks';
import { stopGradient } from './stop_gradient';
import { checkOneOf, checkScalarLike, checkTensor, checkFloat, fail, ScalarLike } from './validation';
import { S3N_DEFAULTS as D } from '../defaults';

/**
 * How peaks are assigned to the two maps (the authors' `p`):
 * - `'all'` (p=0): every peak adds `s·K(radius·√s)` to the zoom map and `(1/s)·K(radiusInv·√s)`
 *   to the inverse map. The authors train with it for the first epochs.
 * - `'random'` (p=1): each peak goes to the zoom map with probability `s` (draw `u ~ U(0,1)`,
 *   zoom iff `s > u`), otherwise to the inverse map. Training after the first epochs.
 * - `'extreme'` (p=2): only the strongest peak (first in row-major order) goes to the zoom map, with
 *   `s·K(radius·s)` as the authors wrote it (s = 1 there, so √s = s), and only the weakest peak to
 *   the inverse map. Evaluation after the first epochs.
 */
export type AttentionMode = 'all' | 'random' | 'extreme';
/** The three {@link AttentionMode}s, in the order of the authors' `p`: `['all', 'random', 'extreme']`. */
export const ATTENTION_MODES: readonly AttentionMode[] = ['all', 'random', 'extreme'];

/**
 * Options of {@link sparseAttentionMaps}. The radii and the base ratio can be numbers or
 * one-element tensors (variables, to learn them: S3N learns both radii).
 */
export interface SparseAttentionOptions {
  /** Peak assignment, see {@link AttentionMode}. Default `'all'`. */
  mode?: AttentionMode;
  /** Radius of the discriminative Gaussians, as a fraction of the map size. Default 0.09. */
  radius?: ScalarLike;
  /** Radius of the complementary Gaussians, as a fraction of the map size. Default 0.3. */
  radiusInv?: ScalarLike;
  /** Constant added to both maps before the peaks (keeps context; identity grid when alone). Default 0.09. */
  baseRatio?: ScalarLike;
  /** Peak mask `[batch, size, size]` (0/1). Default: `findPeaks` with a 3×3 window and the mean filter. */
  peaks?: tf.Tensor3D;
  /** Uniform draws `[batch, size, size]` for `'random'`; a peak at (y, x) uses `u[y, x]`. */
  randomValues?: tf.Tensor3D;
  /** Seed for the draws of `'random'` when `randomValues` is not given. */
  seed?: number;
}

/** The two saliency maps of §3.2 and the peaks they were built from. */
export interface SparseAttentionResult {
  /** Discriminative saliency `[batch, size, size]`. */
  zoom: tf.Tensor3D;
  /** Complementary saliency `[batch, size, size]`. */
  inverse: tf.Tensor3D;
  /** The peak mask that was used, `[batch, size, size]`. */
  peaks: tf.Tensor3D;
}

/**
 * Squared row and column distances `(i - y_p)²` and `(j - x_p)²` for every cell p of a
 * `size × size` grid (row-major) and every i, j < size, repeated for `batch` samples:
 * `[batch, size², size]` each. Built on the host once per (batch, size) and uploaded per call,
 * so that the products below are same-shape element-wise ops (broadcasting ones are several
 * times slower on the cpu backend).
 */
const distanceCache = new Map<string, [Float32Array, Float32Array]>();
function squaredDistances(batch: number, size: number): [tf.Tensor3D, tf.Tensor3D] {
  const key = `${batch}x${size}`;
  let cached = distanceCache.get(key);
  if (!cached) {
    const P = size * size;
    const dy2 = new Float32Array(batch * P * size);
    const dx2 = new Float32Array(batch * P * size);
    for (let p = 0; p < P; p++) {
      const y = Math.floor(p / size);
      const x = p % size;
      for (let i = 0; i < size; i++) {
        dy2[p * size + i] = (i - y) * (i - y);
        dx2[p * size + i] = (i - x) * (i - x);
      }
    }
    for (let b = 1; b < batch; b++) {
      dy2.copyWithin(b * P * size, 0, P * size);
      dx2.copyWithin(b * P * size, 0, P * size);
    }
    if (distanceCache.size >= 8) distanceCache.delete(distanceCache.keys().next().value as string);
    cached = [dy2, dx2];
    distanceCache.set(key, cached);
  }
  const shape: [number, number, number] = [batch, size * size, size];
  return [tf.tensor3d(cached[0], shape), tf.tensor3d(cached[1], shape)];
}

/** `[batch, P]` → `[batch, P, size]`, each value repeated along the last axis (a K=1 matmul). */
function repeatLast(values: tf.Tensor2D, size: number): tf.Tensor3D {
  const [batch, P] = values.shape;
  return tf.reshape(tf.matMul(tf.reshape(values, [batch * P, 1]), tf.ones([1, size])), [batch, P, size]);
}

/**
 * Sum of isotropic Gaussians placed on every cell of a `size × size` grid:
 * `out[b,i,j] = Σ_p weight[b,p] · exp(-((i-y_p)² + (j-x_p)²) / (2·sigma2[b,p]))`, p running over
 * the cells in row-major order. Separable, so it is one batched matmul
 * `EYᵀ·diag(weight)·EX` instead of a loop over peaks.
 *
 * @param weight `[batch, size*size]` (0 where there is no peak).
 * @param sigma2 `[batch, size*size]` variances in pixels², > 0 everywhere.
 */
function gaussianMixture(weight: tf.Tensor2D, sigma2: tf.Tensor2D, size: number): tf.Tensor3D {
  const [dy2, dx2] = squaredDistances(weight.shape[0], size);
  const negInv = repeatLast(tf.div(-0.5, sigma2) as tf.Tensor2D, size); // [B, P, size]
  const ey = tf.mul(tf.exp(tf.mul(dy2, negInv)), repeatLast(weight, size)); // w_p · exp(-(i-y_p)²/2σ²)
  const ex = tf.exp(tf.mul(dx2, negInv)); // exp(-(j-x_p)²/2σ²)
  return tf.matMul(ey, ex, true, false) as tf.Tensor3D;
}

/** A 0/1 mask keeping only the first (row-major) 1 of each row of a `[batch, n]` 0/1 mask. */
function firstOnly(mask: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(mask, tf.cast(tf.equal(tf.cumsum(mask, 1), 1), 'float32'));
}

/**
 * Builds the discriminative and complementary saliency maps from a decision map.
 *
 * With `s` the decision map at the peaks and `K(θ, x, y)[i,j] = exp(-((j-x)² + (i-y)²) /
 * (2·(size·θ)²))` (the authors' `kernel_generate`):
 * `zoom = baseRatio + Σ_zoom-peaks s·K(radius·√s)`,
 * `inverse = baseRatio + Σ_inverse-peaks (1/s)·K(radiusInv·√s)`; see {@link AttentionMode}.
 * Gradients reach `radius`, `radiusInv` and `baseRatio` (when given as tensors); the decision
 * map is treated as a constant. Only peaks with a positive score count. A map without peaks
 * (e.g. the all-zero map `decisionMap` returns for a constant input) gives the constant
 * `baseRatio`, i.e. the identity sampling grid.
 *
 * This is the sparse attention of the paper (§3.2): a few Gaussians on the class peaks instead
 * of a dense map, the discriminative one concentrated on the strong peaks (scaled by `s`), the
 * complementary one on the weak peaks (scaled by `1/s`) so the second branch looks at the
 * evidence the first one does not.
 *
 * @param decision `[batch, size, size]` normalised to [0, 1] (see {@link decisionMap}).
 * @param options Mode (default `'all'`), radii (defaults 0.09 and 0.3), base ratio (default
 *   0.09), and optionally the peaks and the random draws to use.
 * @returns both saliency maps and the peak mask, each `[batch, size, size]`.
 *
 * @example
 * ```ts
 * const { decision } = ops.decisionMap(crms);
 * const radius = tf.variable(tf.scalar(0.09));
 * const { zoom, inverse } = ops.sparseAttentionMaps(decision, { mode: 'all', radius });
 * ```
 */
export function sparseAttentionMaps(decision: tf.Tensor3D, options: SparseAttentionOptions = {}): SparseAttentionResult {
  const fn = 'sparseAttentionMaps';
  checkTensor(fn, 'decision', decision, 3, '[batch, size, size]');
  checkFloat(fn, 'decision', decision);
  if (decision.size === 0) fail(fn, 'decision', 'a non-empty tensor', `shape [${decision.shape.join(',')}]`);
  const [batch, size, width] = decision.shape;
  if (size !== width) fail(fn, 'decision', 'a square map [batch, size, size]', `shape [${decision.shape.join(',')}]`);
  if (options === null || typeof options !== 'object') fail(fn, 'options', 'an object', String(options));
  const { mode = 'all', radius = D.radius, radiusInv = D.radiusInv, baseRatio = D.baseRatio, peaks, randomValues, seed } = options;
  checkOneOf(fn, 'mode', mode, ATTENTION_MODES);
  for (const [name, t] of [['peaks', peaks], ['randomValues', randomValues]] as const) {
    if (t === undefined) continue;
    checkTensor(fn, name, t, 3, '[batch, size, size]');
    if (!tf.util.arraysEqual(t.shape, decision.shape)) {
      fail(fn, name, `of shape [${decision.shape.join(',')}] like decision`, `shape [${t.shape.join(',')}]`);
    }
  }

  return tf.tidy(() => {
    const r = checkScalarLike(fn, 'radius', radius);
    const rInv = checkScalarLike(fn, 'radiusInv', radiusInv);
    const base = checkScalarLike(fn, 'baseRatio', baseRatio, true);
    const P = size * size;
    const peakMask = peaks
      ? tf.cast(peaks, 'float32')
      : (tf.squeeze(findPeaks(tf.expandDims(stopGradient(decision), 3) as tf.Tensor4D, { windowSize: 3, filter: 'mean' }), [3]) as tf.Tensor3D);
    // A peak needs a positive score: 1/s weights the complementary map. Under the mean filter
    // only an all-zero (unusable) decision map has a zero-score peak.
    const flat = tf.reshape(stopGradient(decision), [batch, P]); // scores are constants
    const isPeak = tf.logicalAnd(tf.greater(tf.reshape(peakMask, [batch, P]), 0), tf.greater(flat, 0));
    const mask = tf.cast(isPeak, 'float32') as tf.Tensor2D;
    // Scores at the peaks; 1 elsewhere so that no variance or 1/s is ever 0 or infinite.
    const s = tf.where(isPeak, flat, tf.onesLike(mask)) as tf.Tensor2D;

    let zoomSel: tf.Tensor2D = mask;
    let invSel: tf.Tensor2D = mask;
    let zoomTheta2 = s; // (θ/radius)²: √s squared
    if (mode === 'random') {
      const u = randomValues ?? (tf.randomUniform([batch, size, size], 0, 1, 'float32', seed) as tf.Tensor3D);
      const toZoom = tf.cast(tf.greater(s, tf.reshape(u, [batch, P])), 'float32');
      zoomSel = tf.mul(mask, toZoom);
      invSel = tf.sub(mask, zoomSel);
    } else if (mode === 'extreme') {
      const masked = (fill: number) => tf.where(isPeak, s, tf.fill([batch, P], fill));
      const strongest = tf.cast(tf.equal(s, tf.max(masked(-Infinity), 1, true)), 'float32');
      const weakest = tf.cast(tf.equal(s, tf.min(masked(Infinity), 1, true)), 'float32');
      zoomSel = firstOnly(tf.mul(mask, strongest) as tf.Tensor2D);
      invSel = firstOnly(tf.mul(mask, weakest) as tf.Tensor2D);
      zoomTheta2 = tf.square(s); // the authors use radius(s), not radius(√s), for this peak
    }

    // σ² in pixels² = (size·θ)²; tiny floor so a zero radius gives a point mass, never 0/0.
    const sigma2 = (r2: tf.Tensor, theta2: tf.Tensor) => tf.add(tf.mul(tf.mul(r2, theta2), size * size), 1e-12) as tf.Tensor2D;
    const zoomTerms = gaussianMixture(tf.mul(zoomSel, s) as tf.Tensor2D, sigma2(tf.square(r), zoomTheta2), size);
    const invTerms = gaussianMixture(tf.div(invSel, s) as tf.Tensor2D, sigma2(tf.square(rInv), s), size);
    return {
      zoom: tf.add(base, zoomTerms) as tf.Tensor3D,
      inverse: tf.add(base, invTerms) as tf.Tensor3D,
      peaks: tf.reshape(mask, [batch, size, size]) as tf.Tensor3D,
    };
  });
}
