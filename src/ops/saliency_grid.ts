/**
 * Saliency-driven non-uniform sampling grid: the authors' `create_grid` and `makeGaussian`
 * (S3N, Ding et al., ICCV 2019, sec. 3.3 "selective sparse sampling", which uses the
 * saliency-based sampler of Recasens et al., ECCV 2018).
 *
 * @module ops
 */
import * as tf from '@tensorflow/tfjs-core';

import { checkFloat, checkInteger, checkPositive, checkTensor, describeValue, fail, toSize2d } from './validation';
import { S3N_DEFAULTS as D } from '../defaults';
import { stopGradient } from './stop_gradient';

/**
 * Options of {@link saliencyGrid}. S3N's values (§3.3, the authors' `create_grid`): the task's
 * input size, padding 30, fwhm 13, a learnt 61×61 filter.
 */
export interface SaliencyGridOptions {
  /** Size of the returned grid, `n` or `[height, width]` (S3N: the task input size, 448). */
  outputSize: number | [number, number];
  /** Replicate padding of the saliency map, in map pixels. Default 30. */
  paddingSize?: number;
  /** Full width at half maximum of the default Gaussian filter, in map pixels. Default 13. */
  fwhm?: number;
  /**
   * A full `[2*paddingSize+1, 2*paddingSize+1]` float32 filter, e.g. a variable initialised with
   * `saliencyFilter(2*paddingSize+1, fwhm)` (S3N learns it: `S3N.filter.weight`). Gradients flow
   * to it. When omitted, the fixed Gaussian of width `fwhm` is applied in separable form.
   */
  filter?: tf.Tensor2D;
}

const FN = 'saliencyGrid';

/**
 * The authors' `makeGaussian(size, fwhm)`: a `[size, size]` Gaussian with peak 1 at
 * `c = floor(size / 2)`:
 *
 * `G[i, j] = exp(-4 ln2 ((j - c)^2 + (i - c)^2) / fwhm^2)`
 *
 * Computed in float64 on the host and rounded once to float32 (as the authors' numpy filter is
 * when it becomes a float32 conv weight). `saliencyFilter(61, 13)` is S3N's initial filter.
 *
 * It is the kernel of the saliency sampler (Recasens et al., 2018) that S3N uses in §3.3: each
 * output point of {@link saliencyGrid} is the saliency-weighted mean position under this window.
 *
 * @param size Side in pixels, an integer >= 1.
 * @param fwhm Full width at half maximum, in pixels (> 0).
 * @returns `[size, size]` float32.
 *
 * @example
 * ```ts
 * const g = ops.saliencyFilter(61, 13); // [61, 61], 1 at [30, 30], 0.5 at 6.5 px from it
 * ```
 */
export function saliencyFilter(size: number, fwhm: number): tf.Tensor2D {
  checkInteger('saliencyFilter', 'size', size, 1);
  checkPositive('saliencyFilter', 'fwhm', fwhm);
  const c = Math.floor(size / 2);
  const a = (4 * Math.log(2)) / (fwhm * fwhm);
  const data = new Float32Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) data[i * size + j] = Math.exp(-a * ((j - c) ** 2 + (i - c) ** 2));
  }
  return tf.tensor2d(data, [size, size]);
}

/**
 * Turns a saliency map into a sampling grid that magnifies its salient regions: the authors'
 * `create_grid`, applied to `ReplicationPad2d(paddingSize)(saliency)` as S3N does.
 *
 * With `P = paddingSize`, `x` the saliency replicate-padded by `P`, `G` the
 * `(2P+1) x (2P+1)` filter and `conv` a valid cross-correlation (output `[Sh, Sw]`, the
 * saliency's own size):
 *
 * - `Px[p, q] = (q - P) / (Sw - 1)` and `Py[p, q] = (p - P) / (Sh - 1)` (padded coordinates);
 * - `den = conv(x, G)`, `gx = conv(Px * x, G) / den`, `gy = conv(Py * x, G) / den`;
 * - `grid = clamp(2 * (gx, gy) - 1, -1, 1)` (inclusive clamp gradient, as `tf.clipByValue`);
 * - bilinear resize to `outputSize` with `alignCorners: true` (PyTorch's `align_corners=True`).
 *
 * Each output point is thus the saliency-weighted mean position of its neighbourhood, so
 * sampling with the grid (`gridSample`, align corners) enlarges salient areas. A uniform
 * saliency gives the identity grid `x = 2j/(Sw-1) - 1`, `y = 2i/(Sh-1) - 1`.
 *
 * Both paths never build the padded map: replicate padding followed by a valid correlation is
 * a product of the map with constant selection matrices (clamped indices), with the `Px`/`Py`
 * weights folded in. Without `options.filter` the Gaussian is separable, `G = g ⊗ g`, and the
 * three filtered maps take five `[S, S]` matrix products (about 5·S multiply-adds per pixel, 155
 * at S = 31, instead of 3·61² for three 61x61 correlations). With `options.filter` every tap of
 * the 2-D filter is used (two large matrix products per map, about as many multiply-adds as the
 * correlations) and the filter gets its gradient through them, on every backend (wasm has no
 * `Conv2DBackpropFilter`). The two paths agree to float32 rounding for `saliencyFilter(2P+1, fwhm)`.
 *
 * **Saliency must be positive** (S3N's maps are >= its base ratio 0.09), and so must the filter:
 * `den` is a positively weighted sum of saliency values around each point (with P = 30 and
 * S = 31 the window covers the whole map), and a zero `den` gives NaN. Values are not checked
 * on the host.
 *
 * Differentiable with respect to `saliency` and `options.filter`.
 *
 * This is the grid half of S3N's selective sampling (§3.3); {@link gridSample} with
 * `alignCorners: true` is the other half. S3N turns the discriminative and the complementary
 * attention maps (§3.2) into two grids, and so two resampled images.
 *
 * @param saliency `[batch, Sh, Sw]` float32, `Sh, Sw >= 2` (S3N: `[batch, 31, 31]`).
 * @param options Output size, padding (default 30), fwhm (default 13), filter.
 * @returns `[batch, outHeight, outWidth, 2]` float32 grid in [-1, 1], last dim `(x, y)`.
 *
 * @example
 * ```ts
 * const image = tf.randomUniform([1, 64, 64, 3]) as tf.Tensor4D;
 * const { decision } = ops.decisionMap(tf.randomNormal([1, 31, 31, 10]) as tf.Tensor4D);
 * const { zoom } = ops.sparseAttentionMaps(decision);               // [1, 31, 31], >= 0.09
 * const grid = ops.saliencyGrid(zoom, { outputSize: 64 });          // [1, 64, 64, 2]
 * const zoomed = ops.gridSample(image, grid, { alignCorners: true }); // [1, 64, 64, 3]
 * ```
 */
export function saliencyGrid(saliency: tf.Tensor3D, options: SaliencyGridOptions): tf.Tensor4D {
  checkTensor(FN, 'saliency', saliency, 3, '[batch, height, width]');
  checkFloat(FN, 'saliency', saliency);
  const [, sh, sw] = saliency.shape;
  if (sh < 2 || sw < 2) fail(FN, 'saliency', 'a map of height and width >= 2', `shape [${saliency.shape.join(',')}]`);
  if (options === null || typeof options !== 'object') fail(FN, 'options', 'an object with an outputSize', describeValue(options));
  const [outH, outW] = toSize2d(FN, 'options.outputSize', options.outputSize);
  const pad = options.paddingSize ?? D.paddingSize;
  checkInteger(FN, 'options.paddingSize', pad, 0);
  const k = 2 * pad + 1;
  const fwhm = options.fwhm ?? D.fwhm;
  checkPositive(FN, 'options.fwhm', fwhm);
  const filter = options.filter;
  if (filter !== undefined) {
    checkTensor(FN, 'options.filter', filter, 2, `[${k}, ${k}] (2*paddingSize+1 square)`);
    checkFloat(FN, 'options.filter', filter);
    if (filter.shape[0] !== k || filter.shape[1] !== k) {
      fail(FN, 'options.filter', `of shape [${k},${k}] (2*paddingSize+1 square)`, `shape [${filter.shape.join(',')}]`);
    }
  }

  return tf.tidy(() => {
    // den, numX, numY: [batch, sh, sw] each.
    const [den, numX, numY] = filter === undefined
      ? separableFiltered(saliency, pad, fwhm)
      : fullFiltered(saliency, filter, pad);
    // A cell whose filtered neighbourhood has no saliency at all (an all-zero map, or a narrow
    // filter over zeros) is pulled nowhere: it keeps its own coordinate, instead of 0/0 = NaN.
    // The division uses a safe denominator, so no NaN reaches the gradient either.
    const has = tf.greater(stopGradient(den), 0);
    const safe = tf.where(has, den, tf.onesLike(den));
    const [b] = den.shape;
    const ownX = tf.tile(tf.reshape(tf.linspace(0, 1, sw), [1, 1, sw]), [b, sh, 1]);
    const ownY = tf.tile(tf.reshape(tf.linspace(0, 1, sh), [1, sh, 1]), [b, 1, sw]);
    const gx = clampUnit(tf.where(has, tf.div(numX, safe), ownX));
    const gy = clampUnit(tf.where(has, tf.div(numY, safe), ownY));
    let grid = interleave(gx, gy); // [batch, sh, sw, 2]
    if (outH !== sh || outW !== sw) grid = resizeAlignCorners(grid, outH, outW);
    return grid;
  });
}

/** `clamp(2g - 1, -1, 1)`; the clamp gradient passes for -1 <= v <= 1 (`tf.clipByValue`). */
function clampUnit(g: tf.Tensor): tf.Tensor {
  return tf.clipByValue(tf.sub(tf.mul(g, 2), 1), -1, 1);
}

/**
 * `tf.stack([x, y], 3)` for `[b, h, w]` maps, as two outer products: the gradient of a stack
 * is a strided slice per channel, which the cpu backend does element by element.
 */
function interleave(x: tf.Tensor, y: tf.Tensor): tf.Tensor4D {
  const [b, h, w] = x.shape;
  const m = b * h * w;
  const px = tf.matMul(tf.reshape(x, [m, 1]), tf.tensor2d([1, 0], [1, 2]));
  const py = tf.matMul(tf.reshape(y, [m, 1]), tf.tensor2d([0, 1], [1, 2]));
  return tf.reshape(tf.add(px, py), [b, h, w, 2]);
}

/**
 * `tf.image.resizeBilinear(x, [outH, outW], true)` (PyTorch's bilinear `align_corners=True`),
 * with the gradient reshaped to `x.shape`: tfjs-backend-cpu 4.22's `ResizeBilinearGrad` returns
 * the right values under a `[batch, width, height, depth]` shape, which breaks non-square maps.
 * The gradient kernel reads only the shape of `images`, so nothing is saved for it.
 */
function resizeAlignCorners(x: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  const shape = x.shape;
  const resize = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.image.resizeBilinear(args[0] as tf.Tensor4D, [outH, outW], true),
    gradFunc: (dy: tf.Tensor) => {
      const shapeOnly = tf.zeros(shape);
      const dx = tf.engine().runKernel('ResizeBilinearGrad', { images: shapeOnly, dy }, { alignCorners: true, halfPixelCenters: false });
      return tf.reshape(dx as tf.Tensor, shape);
    },
  }));
  return resize(x) as tf.Tensor4D;
}

// ---------------------------------------------------------------------------------------------
// Replicate padding + valid correlation as matrix products.
//
// Along one axis of length n (padding p, filter length k = 2p+1), output o and filter tap a read
// the padded index o + a, i.e. the input index clamp(o + a - p, 0, n - 1), at the coordinate
// (o + a - p) / (n - 1) of the authors' P_basis. So the padded, filtered maps are products of
// the unpadded map with constant 0/1 (or coordinate-weighted) selection matrices, and no padded
// copy of the map is ever built.
// ---------------------------------------------------------------------------------------------

const clampIndex = (q: number, n: number): number => Math.min(Math.max(q, 0), n - 1);

/** Small cache of host-side constant matrices (Float32Array), keyed by shape. */
const constantCache = new Map<string, Float32Array[]>();

function cached(key: string, build: () => Float32Array[]): Float32Array[] {
  let hit = constantCache.get(key);
  if (!hit) {
    hit = build();
    if (constantCache.size >= 32) constantCache.clear();
    constantCache.set(key, hit);
  }
  return hit;
}

/**
 * The separable filter `G = g ⊗ g` with `g[a] = exp(-4 ln2 (a - p)^2 / fwhm^2)`: for one axis
 * of length n, `B[h, o] = sum_a g[a] [clamp(o + a - p) = h]` and
 * `C[h, o] = sum_a g[a] (o + a - p)/(n - 1) [clamp(o + a - p) = h]`, as `[n, n]` matrices
 * (input index h, output index o), computed in float64.
 */
function separableAxis(n: number, p: number, fwhm: number): { b: Float64Array; c: Float64Array } {
  const alpha = (4 * Math.log(2)) / (fwhm * fwhm);
  const b = new Float64Array(n * n);
  const c = new Float64Array(n * n);
  for (let o = 0; o < n; o++) {
    for (let a = 0; a <= 2 * p; a++) {
      const g = Math.exp(-alpha * (a - p) ** 2);
      const q = o + a - p;
      const h = clampIndex(q, n);
      b[h * n + o] += g;
      c[h * n + o] += (g * q) / (n - 1);
    }
  }
  return { b, c };
}

/** `den = Bh^T x Bw`, `numX = Bh^T x Cw`, `numY = Ch^T x Bw` (five small matrix products). */
function separableFiltered(x: tf.Tensor3D, p: number, fwhm: number): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  const [n, sh, sw] = x.shape;
  const [bw, cw, bhT, chT] = cached(`sep:${sh},${sw},${p},${fwhm}`, () => {
    const w = separableAxis(sw, p, fwhm);
    const h = separableAxis(sh, p, fwhm);
    const transposed = (m: Float64Array, size: number): Float32Array => {
      const t = new Float32Array(size * size);
      for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) t[c * size + r] = m[r * size + c];
      return t;
    };
    return [Float32Array.from(w.b), Float32Array.from(w.c), transposed(h.b, sh), transposed(h.c, sh)];
  });
  const rows = tf.reshape(x, [n * sh, sw]);
  const xb = tf.reshape(tf.matMul(rows, tf.tensor2d(bw, [sw, sw])), [n, sh, sw]);
  const xc = tf.reshape(tf.matMul(rows, tf.tensor2d(cw, [sw, sw])), [n, sh, sw]);
  const bh = tf.tensor2d(bhT, [sh, sh]);
  const den = tf.matMul(bh, xb) as tf.Tensor3D;
  const numX = tf.matMul(bh, xc) as tf.Tensor3D;
  const numY = tf.matMul(tf.tensor2d(chT, [sh, sh]), xb) as tf.Tensor3D;
  return [den, numX, numY];
}

/**
 * A full `[k, k]` filter `G` (k = 2p+1):
 * `conv(pad(x), G)[i, j] = sum_{a,b} G[a, b] x[clamp(i+a-p), clamp(j+b-p)]`, computed as
 * `Y[(i, a), w] = x[clamp(i+a-p), w]` (a row selection, `L x`) followed by
 * `sum_{a,w} Y[(i, a), w] F[(a, w), j]` with `F[a, (w, j)] = sum_b G[a, b] [clamp(j+b-p) = w]`
 * (`F = G E`, linear in G, so G gets its gradient through plain matrix products). The `Py`
 * weight goes into the row selection and the `Px` weight into `E`. This is every tap of the
 * 2-D correlation, with about a third of the multiply-adds of convolving the padded map and
 * as large matrix products, which every backend runs fast and differentiates.
 */
function fullFiltered(x: tf.Tensor3D, filter: tf.Tensor2D, p: number): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  const [n, sh, sw] = x.shape;
  const k = 2 * p + 1;
  const [lp, ly, e, ex] = cached(`full:${sh},${sw},${p}`, () => {
    const lp = new Float32Array(sh * k * sh);
    const ly = new Float32Array(sh * k * sh);
    for (let i = 0; i < sh; i++) {
      for (let a = 0; a < k; a++) {
        const q = i + a - p;
        lp[(i * k + a) * sh + clampIndex(q, sh)] = 1;
        ly[(i * k + a) * sh + clampIndex(q, sh)] = q / (sh - 1);
      }
    }
    const e = new Float32Array(k * sw * sw);
    const ex = new Float32Array(k * sw * sw);
    for (let b = 0; b < k; b++) {
      for (let j = 0; j < sw; j++) {
        const q = j + b - p;
        e[b * sw * sw + clampIndex(q, sw) * sw + j] = 1;
        ex[b * sw * sw + clampIndex(q, sw) * sw + j] = q / (sw - 1);
      }
    }
    return [lp, ly, e, ex];
  });
  const fp = tf.reshape(tf.matMul(filter, tf.tensor2d(e, [k, sw * sw])), [k * sw, sw]); // [(a, w), j]
  const fx = tf.reshape(tf.matMul(filter, tf.tensor2d(ex, [k, sw * sw])), [k * sw, sw]);
  const yp = tf.reshape(tf.matMul(tf.tensor2d(lp, [sh * k, sh]), x), [n * sh, k * sw]); // [(n, i), (a, w)]
  const yy = tf.reshape(tf.matMul(tf.tensor2d(ly, [sh * k, sh]), x), [n * sh, k * sw]);
  const den = tf.reshape(tf.matMul(yp, fp), [n, sh, sw]) as tf.Tensor3D;
  const numX = tf.reshape(tf.matMul(yp, fx), [n, sh, sw]) as tf.Tensor3D;
  const numY = tf.reshape(tf.matMul(yy, fp), [n, sh, sw]) as tf.Tensor3D;
  return [den, numX, numY];
}
