/**
 * The Gaussian blob that S3N adds to its sparse attention maps around each class peak: the
 * authors' `kernel_generate` (S3N, Ding et al., ICCV 2019, sec. 3.2, eq. for the zoom-in and
 * zoom-out attention maps, with the radius scaled by the learnable `radius` layers).
 *
 * @module ops
 */
import * as tf from '@tensorflow/tfjs-core';

import { checkInteger, checkPositive, describeValue, fail } from './validation';

const FN = 'gaussianKernel';

/**
 * Added to `(size * theta)^2` so that a tensor `theta` of 0 (which is not read on the host)
 * still gives a finite kernel: a single 1 at the offset. For any realistic theta
 * (`size * theta >= 1e-5`) it does not change a float32 value.
 */
const VARIANCE_EPSILON = 1e-12;

const THETA_EXPECTED = 'a finite number > 0, a float32 tensor with one element, or a float32 tensor of shape [N]';
const OFFSET_EXPECTED = 'an [x, y] pair of finite numbers, a tensor of shape [2] or a tensor of shape [N, 2]';

/**
 * A Gaussian of standard deviation `size * theta` pixels centred at `offset`, peak value 1:
 *
 * `K[i, j] = exp(-((j - ox)^2 + (i - oy)^2) / (2 * (size * theta)^2))`
 *
 * This is what the authors' `kernel_generate(theta, size, offset)` returns: they build a
 * normalised 2-D Gaussian density and divide it by its maximum, which cancels the prefactor
 * (value and gradient; the maximum is at the offset, where K = 1). Here the closed form is used.
 *
 * The offset is `(x, y)` = `(column, row)` in pixels, default `(floor(size/2), floor(size/2))`.
 *
 * Shapes:
 * - `theta` a number or a one-element tensor, `offset` a pair or shape `[2]`: `[size, size]`.
 * - `theta` of shape `[N]` and/or `offset` of shape `[N, 2]`: `[N, size, size]`; a single theta
 *   or a single offset is broadcast over the N kernels. (A one-element `theta` together with a
 *   pair `offset` is the unbatched case; pass `offset` as `[1, 2]` for a `[1, size, size]` result.)
 *
 * Differentiable with respect to a tensor `theta` (and a float32 tensor `offset`). A tensor
 * theta is not validated on the host: `(size * theta)^2` gets `+1e-12` so that theta = 0 gives
 * a finite kernel (1 at the offset, 0 elsewhere) with a zero gradient; a negative theta acts as
 * `|theta|`.
 *
 * In S3N (§3.2) each class peak at `(x, y)` with score `s` adds `s·K(radius·√s)` to the
 * discriminative attention map and `(1/s)·K(radiusInv·√s)` to the complementary one;
 * {@link sparseAttentionMaps} computes those sums for a whole batch at once.
 *
 * @param theta Radius relative to `size` (> 0).
 * @param size Side of the kernel in pixels, an integer >= 1 (31 in S3N).
 * @param offset Centre `(x, y)` in pixels; fractional and out-of-range values are allowed.
 * @returns `[size, size]` or `[N, size, size]` float32.
 *
 * @example
 * ```ts
 * const k = ops.gaussianKernel(0.09, 31, [10, 4]);        // [31, 31], 1 at row 4, column 10
 * const radius = tf.variable(tf.scalar(0.09));
 * const ks = ops.gaussianKernel(radius, 31, tf.tensor2d([[10, 4], [20, 25]])); // [2, 31, 31]
 * ```
 */
export function gaussianKernel(theta: number | tf.Tensor, size: number, offset?: [number, number] | tf.Tensor): tf.Tensor {
  // theta: remember how many kernels it asks for (null = unbatched).
  let thetaCount: number | null;
  if (theta instanceof tf.Tensor) {
    if (theta.dtype !== 'float32') fail(FN, 'theta', 'a float32 tensor', `dtype ${theta.dtype}`);
    if (theta.size === 1 && theta.rank <= 1) thetaCount = null;
    else if (theta.rank === 1 && theta.size > 1) thetaCount = theta.size;
    else fail(FN, 'theta', THETA_EXPECTED, `shape [${theta.shape.join(',')}]`);
  } else {
    checkPositive(FN, 'theta', theta);
    thetaCount = null;
  }
  checkInteger(FN, 'size', size, 1);
  const centre = Math.floor(size / 2);

  let offsetCount: number | null = null;
  if (offset === undefined || offset === null) {
    // default centre
  } else if (offset instanceof tf.Tensor) {
    if (offset.dtype !== 'float32' && offset.dtype !== 'int32') fail(FN, 'offset', 'a float32 or int32 tensor', `dtype ${offset.dtype}`);
    if (offset.rank === 1 && offset.shape[0] === 2) offsetCount = null;
    else if (offset.rank === 2 && offset.shape[1] === 2) offsetCount = offset.shape[0];
    else fail(FN, 'offset', OFFSET_EXPECTED, `shape [${offset.shape.join(',')}]`);
  } else if (!(Array.isArray(offset) && offset.length === 2 && offset.every((v) => typeof v === 'number' && Number.isFinite(v)))) {
    fail(FN, 'offset', OFFSET_EXPECTED, describeValue(offset));
  }

  let count: number | null = null;
  if (thetaCount !== null || offsetCount !== null) {
    if (thetaCount !== null && offsetCount !== null && thetaCount !== offsetCount) {
      fail(FN, 'offset', `of shape [${thetaCount}, 2] (one row per theta) or [2]`, `shape [${(offset as tf.Tensor).shape.join(',')}]`);
    }
    count = thetaCount ?? offsetCount;
  }

  return tf.tidy(() => {
    // Everything is laid out as [N, size, size] (N = 1 when unbatched) and squeezed at the end.
    const t = theta instanceof tf.Tensor ? tf.reshape(theta, [-1, 1, 1]) : tf.tensor3d([theta], [1, 1, 1]);
    let ox: tf.Tensor;
    let oy: tf.Tensor;
    if (offset instanceof tf.Tensor) {
      const o = tf.reshape(tf.cast(offset, 'float32'), [-1, 1, 1, 2]);
      [ox, oy] = tf.unstack(o, 3);
    } else {
      const [x, y] = offset ?? [centre, centre];
      ox = tf.tensor3d([x], [1, 1, 1]);
      oy = tf.tensor3d([y], [1, 1, 1]);
    }
    const cols = tf.reshape(tf.range(0, size, 1, 'float32'), [1, 1, size]);
    const rows = tf.reshape(tf.range(0, size, 1, 'float32'), [1, size, 1]);
    const d2 = tf.add(tf.square(tf.sub(cols, ox)), tf.square(tf.sub(rows, oy))); // [N|1, size, size]
    const variance = tf.add(tf.square(tf.mul(t, size)), VARIANCE_EPSILON); // [N|1, 1, 1]
    const k = tf.exp(tf.div(tf.mul(d2, -0.5), variance)); // [N, size, size]
    return count === null ? tf.reshape(k, [size, size]) : k;
  });
}
