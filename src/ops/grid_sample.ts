/**
 * `gridSample`: differentiable sampling of an image at arbitrary points, with the semantics of
 * PyTorch's `F.grid_sample` (4-D case), for NHWC tensors.
 *
 * Two implementations with the same semantics:
 *
 * * fused JavaScript kernels (`src/kernels/fused/grid_sample.ts`), registered for the `cpu`
 *   and `wasm` backends, where the stock gather is slow;
 * * a composite of standard ops for every other backend (webgl, webgpu, tensorflow): the grid
 *   is mapped to pixel coordinates, the image is zero-padded, the four bilinear taps are
 *   gathered with `tf.gather`, and the gradient (`grid_sample_grad.ts`) uses `tf.scatterND`.
 *
 * Both run inside `tf.customGrad`, so the gradients with respect to the input and the grid
 * never differentiate through `gather`.
 */
import * as tf from '@tensorflow/tfjs-core';

import { compositeGridSampleGrad, CompositeSaved, PAD_AFTER, PAD_BEFORE } from './grid_sample_grad';
import {
  GridSampleConfig,
  hasFusedGridSample,
  runFusedGridSample,
  runFusedGridSampleGrad,
} from '../kernels/fused/grid_sample';
import { checkBoolean, checkFloat, checkOneOf, checkTensor, describeValue, fail } from './validation';
import { FUSED_KERNELS_FLAG } from '../kernels/fused/flag';

export { FUSED_KERNELS_FLAG };

/** How a point is sampled: bilinear interpolation of the 4 neighbours, or the nearest pixel. */
export type GridSampleMode = 'bilinear' | 'nearest';

/**
 * What a point outside the image samples.
 *
 * * `'zeros'`: pixels outside the image count as 0.
 * * `'border'`: the coordinate is clamped to the image.
 * * `'reflection'`: the coordinate is reflected at the borders (repeatedly), then clamped.
 */
export type GridSamplePaddingMode = 'zeros' | 'border' | 'reflection';

/**
 * Options of {@link gridSample}, named after PyTorch's `F.grid_sample` arguments. S3N's
 * sampler (§3.3) uses `{ mode: 'bilinear', paddingMode: 'zeros', alignCorners: true }`.
 */
export interface GridSampleOptions {
  /** How a point is interpolated, see {@link GridSampleMode}. Default `'bilinear'`. */
  mode?: GridSampleMode;
  /** What a point outside the image reads, see {@link GridSamplePaddingMode}. Default `'zeros'`. */
  paddingMode?: GridSamplePaddingMode;
  /**
   * When true, -1 and 1 are the centres of the corner pixels; when false (default, as in
   * PyTorch >= 1.3), they are the outer edges of the corner pixels. **S3N uses `true`**
   * (PyTorch 0.4.1, which the reference code targets, always behaved that way).
   */
  alignCorners?: boolean;
  /**
   * Which implementation runs: `'auto'` (default: the fused kernel when the active backend has
   * one and the `S3N_FUSED_KERNELS` flag is on, otherwise the composite of tfjs ops), `'fused'`
   * (an error when the backend has none) or `'composite'` (the path webgl, webgpu and tfjs-node
   * run). Both give the same values and gradients to float32 rounding.
   */
  implementation?: GridSampleImplementation;
}

/** The implementations of {@link gridSample}, see {@link GridSampleOptions.implementation}. */
export type GridSampleImplementation = 'auto' | 'fused' | 'composite';

const OP = 'gridSample';
const MODES: readonly GridSampleMode[] = ['bilinear', 'nearest'];
const PADDING_MODES: readonly GridSamplePaddingMode[] = ['zeros', 'border', 'reflection'];
const IMPLEMENTATIONS: readonly GridSampleImplementation[] = ['auto', 'fused', 'composite'];

/**
 * Samples `input` at the points of `grid`, like PyTorch's `F.grid_sample` but channels-last.
 *
 * `grid[b, i, j]` holds `(x, y)` in normalised coordinates: x = -1 is the left of the image
 * and x = 1 the right, y = -1 the top and y = 1 the bottom (see `alignCorners`). The output
 * at `[b, i, j, :]` is the input interpolated at that point.
 *
 * Pixel coordinates are `ix = (x + 1) / 2 * (width - 1)` when `alignCorners`, otherwise
 * `ix = ((x + 1) * width - 1) / 2` (likewise `iy` with `height`). Bilinear mode blends the
 * four pixels around `(ix, iy)`; nearest mode takes the pixel at `(ix, iy)` rounded half to
 * even.
 *
 * Gradients flow to `input` and to `grid` (bilinear; in nearest mode the grid gradient is 0).
 * As in PyTorch, the gradient at a point exactly on a pixel is the one-sided (right) limit, and
 * the border / reflection clamps have zero gradient exactly at the borders.
 *
 * Non-finite grid values: NaN samples 0 in every padding mode, and so do ±Infinity with
 * `'zeros'` and `'reflection'`; with `'border'` ±Infinity is clamped to the edge. Such points
 * get a grid gradient of 0 and pass no gradient to the input.
 *
 * This is the differentiable resampling step of S3N (§3.3): the saliency sampler of
 * Recasens et al. (2018) turns a saliency map into a grid ({@link saliencyGrid}) and the image
 * is read at the grid's points.
 *
 * @param input `[batch, height, width, channels]`, float32.
 * @param grid `[batch, outHeight, outWidth, 2]`, float32, last dim `(x, y)`.
 * @param options `mode` (`'bilinear'`), `paddingMode` (`'zeros'`), `alignCorners` (`false`),
 *   `implementation` (`'auto'`).
 * @returns `[batch, outHeight, outWidth, channels]`.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import { ops } from 's3n-layers';
 *
 * const image = tf.randomUniform([1, 64, 64, 3]) as tf.Tensor4D;
 * // A 32×32 grid over the centre half of the image: a 2× zoom.
 * const lin = tf.linspace(-0.5, 0.5, 32);
 * const [x, y] = tf.meshgrid(lin, lin);                              // x varies along a row
 * const grid = tf.expandDims(tf.stack([x, y], 2), 0) as tf.Tensor4D; // [1, 32, 32, 2], (x, y)
 * const zoomed = ops.gridSample(image, grid, { alignCorners: true }); // [1, 32, 32, 3]
 * ```
 */
export function gridSample(input: tf.Tensor4D, grid: tf.Tensor4D, options: GridSampleOptions = {}): tf.Tensor4D {
  const { config, implementation } = checkArguments(input, grid, options);
  return tf.tidy(() => sampleGrid(input, grid, config, implementation));
}

/** `gridSample` after its argument checks. */
function sampleGrid(input: tf.Tensor4D, grid: tf.Tensor4D, config: GridSampleConfig, implementation: GridSampleImplementation): tf.Tensor4D {
  const available = hasFusedGridSample(tf.getBackend());
  if (implementation === 'auto' && !tf.env().getBool(FUSED_KERNELS_FLAG)) implementation = 'composite';
  if (implementation === 'fused' && !available) {
    throw new Error(`${OP}: the fused kernel is not registered for backend '${tf.getBackend()}'.`);
  }
  const fused = implementation === 'fused' || (implementation === 'auto' && available);
  const inputShape = input.shape;
  const gridShape = grid.shape;
  const sample = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor4D;
    const g = args[1] as tf.Tensor4D;
    const save = args[2] as tf.GradSaveFunc;
    if (fused) {
      save([x, g]);
      return {
        value: runFusedGridSample(x, g, config),
        gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) =>
          runFusedGridSampleGrad(saved[0] as tf.Tensor4D, saved[1] as tf.Tensor4D, dy, config),
      };
    }
    const { value, saved } = compositeGridSample(x, g, config);
    save(packSaved(saved));
    return {
      value,
      gradFunc: (dy: tf.Tensor4D, tensors: tf.Tensor[]) =>
        compositeGridSampleGrad(dy, unpackSaved(tensors, saved), config, inputShape, gridShape),
    };
  });
  return sample(input, grid) as tf.Tensor4D;
}

function checkArguments(input: unknown, grid: unknown, options: unknown): { config: GridSampleConfig; implementation: GridSampleImplementation } {
  checkTensor(OP, 'input', input, 4, '[batch, height, width, channels]');
  checkTensor(OP, 'grid', grid, 4, '[batch, outHeight, outWidth, 2]');
  if (grid.shape[3] !== 2) {
    fail(OP, 'the last dimension of grid', '2 (x, y)', `${grid.shape[3]} (grid shape [${grid.shape.join(',')}])`);
  }
  if (grid.shape[0] !== input.shape[0]) {
    fail(
      OP,
      'the batch size of grid',
      `equal to the batch size of input (${input.shape[0]})`,
      `${grid.shape[0]} (grid shape [${grid.shape.join(',')}], input shape [${input.shape.join(',')}])`,
    );
  }
  checkFloat(OP, 'input', input);
  checkFloat(OP, 'grid', grid);
  if (options === null || typeof options !== 'object') fail(OP, 'options', 'an object', describeValue(options));
  const { mode = 'bilinear', paddingMode = 'zeros', alignCorners = false, implementation = 'auto' } = options as GridSampleOptions;
  checkOneOf(OP, 'options.mode', mode, MODES);
  checkOneOf(OP, 'options.paddingMode', paddingMode, PADDING_MODES);
  checkBoolean(OP, 'options.alignCorners', alignCorners);
  checkOneOf(OP, 'options.implementation', implementation, IMPLEMENTATIONS);
  return { config: { mode, paddingMode, alignCorners }, implementation };
}

// ---------------------------------------------------------------------------------------------
// Composite path (any backend).

/**
 * Pixel coordinates along one axis of length `size`, and their derivative with respect to the
 * grid coordinate (a number when it is the same everywhere).
 *
 * NaN stays NaN through the padding transforms; the sampler treats it as outside the image.
 */
function axisCoordinates(
  g: tf.Tensor1D,
  size: number,
  paddingMode: GridSamplePaddingMode,
  alignCorners: boolean,
): { coord: tf.Tensor1D; slope: tf.Tensor1D | number } {
  const scale = alignCorners ? (size - 1) / 2 : size / 2;
  let coord: tf.Tensor = tf.mul(tf.add(g, 1), scale);
  if (!alignCorners) coord = tf.sub(coord, 0.5);
  if (paddingMode === 'zeros') return { coord: coord as tf.Tensor1D, slope: scale };

  let slope: tf.Tensor = tf.fill(coord.shape, scale);
  const low = alignCorners ? 0 : -0.5;
  const span = alignCorners ? size - 1 : size;
  if (paddingMode === 'reflection' && span > 0) {
    // Fold |coord - low| into [0, span] and reflect every other period.
    const t = tf.sub(coord, low);
    const a = tf.abs(t);
    const flips = tf.floor(tf.div(a, span));
    const extra = tf.sub(a, tf.mul(flips, span));
    const odd = tf.equal(tf.mod(flips, 2), 1);
    coord = tf.add(tf.where(odd, tf.sub(span, extra), extra), low);
    slope = tf.where(odd, tf.neg(slope), slope);
    slope = tf.where(tf.less(t, 0), tf.neg(slope), slope);
  }
  // Clamp to [0, size - 1]; the derivative is 0 on and beyond the borders, and for NaN.
  const high = size - 1;
  const inside = tf.logicalAnd(tf.greater(coord, 0), tf.less(coord, high));
  coord = tf.where(tf.lessEqual(coord, 0), tf.zerosLike(coord), tf.where(tf.greaterEqual(coord, high), tf.fill(coord.shape, high), coord));
  slope = tf.where(inside, slope, tf.zerosLike(slope));
  return { coord: coord as tf.Tensor1D, slope: slope as tf.Tensor1D };
}

/**
 * The composite forward pass. The input is zero-padded by 2 pixels before and 1 after each
 * spatial dimension; a point whose taps are all outside the image is moved to padded pixel
 * (-2, -2), whose 2x2 neighbourhood is all padding, so every tap reads a real 0 and no mask
 * multiplication (which would turn NaN * 0 into NaN) is needed.
 */
function compositeGridSample(
  input: tf.Tensor4D,
  grid: tf.Tensor4D,
  config: GridSampleConfig,
): { value: tf.Tensor4D; saved: CompositeSaved } {
  const [batch, height, width, channels] = input.shape;
  const [, outHeight, outWidth] = grid.shape;
  const points = batch * outHeight * outWidth;
  const paddedHeight = height + PAD_BEFORE + PAD_AFTER;
  const paddedWidth = width + PAD_BEFORE + PAD_AFTER;
  const padded = tf.reshape(
    tf.pad(input, [
      [0, 0],
      [PAD_BEFORE, PAD_AFTER],
      [PAD_BEFORE, PAD_AFTER],
      [0, 0],
    ]),
    [batch * paddedHeight * paddedWidth, channels],
  );
  const [gx, gy] = tf.unstack(tf.reshape(grid, [points, 2]), 1) as tf.Tensor1D[];
  const x = axisCoordinates(gx, width, config.paddingMode, config.alignCorners);
  const y = axisCoordinates(gy, height, config.paddingMode, config.alignCorners);

  // Flat row of padded pixel (col, row), counted from the image origin, in its batch's image.
  const batchStart = tf.reshape(
    tf.add(tf.mul(tf.range(0, batch, 1, 'int32'), int32(paddedHeight * paddedWidth)), int32(PAD_BEFORE * paddedWidth + PAD_BEFORE)),
    [batch, 1],
  );
  const flatIndex = (col: tf.Tensor1D, row: tf.Tensor1D): tf.Tensor1D => {
    const local = tf.add(tf.mul(tf.cast(row, 'int32'), int32(paddedWidth)), tf.cast(col, 'int32'));
    return tf.reshape(tf.add(tf.reshape(local, [batch, outHeight * outWidth]), batchStart), [points]);
  };
  const outside = () => tf.fill([points], -PAD_BEFORE);
  const within = (v: tf.Tensor1D, lo: number, hi: number) => tf.logicalAnd(tf.greaterEqual(v, lo), tf.lessEqual(v, hi));

  if (config.mode === 'nearest') {
    // tf.round rounds half to even. NaN and ±Inf fail the range test.
    const col = tf.round(x.coord) as tf.Tensor1D;
    const row = tf.round(y.coord) as tf.Tensor1D;
    const taps = flatIndex(
      tf.where(within(col, 0, width - 1), col, outside()) as tf.Tensor1D,
      tf.where(within(row, 0, height - 1), row, outside()) as tf.Tensor1D,
    );
    const value = tf.reshape(tf.gather(padded, taps), [batch, outHeight, outWidth, channels]) as tf.Tensor4D;
    return { value, saved: { taps, slopeX: 0, slopeY: 0 } };
  }

  // Bilinear: the north-west tap (x0, y0) and offsets; points with no tap inside the image
  // are moved to (-2, -2) with zero offsets.
  const x0 = tf.floor(x.coord);
  const y0 = tf.floor(y.coord);
  const xIn = within(x0, -1, width - 1);
  const yIn = within(y0, -1, height - 1);
  const zeros = tf.zeros([points]);
  const fx = tf.where(xIn, tf.sub(x.coord, x0), zeros) as tf.Tensor1D;
  const fy = tf.where(yIn, tf.sub(y.coord, y0), zeros) as tf.Tensor1D;
  const taps = flatIndex(tf.where(xIn, x0, outside()) as tf.Tensor1D, tf.where(yIn, y0, outside()) as tf.Tensor1D);
  const values = [
    tf.gather(padded, taps),
    tf.gather(padded, tf.add(taps, int32(1))),
    tf.gather(padded, tf.add(taps, int32(paddedWidth))),
    tf.gather(padded, tf.add(taps, int32(paddedWidth + 1))),
  ] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  const gxw = tf.sub(1, fx);
  const gyw = tf.sub(1, fy);
  const weights = [tf.mul(gxw, gyw), tf.mul(fx, gyw), tf.mul(gxw, fy), tf.mul(fx, fy)];
  const value = tf.reshape(
    tf.addN(values.map((v, k) => tf.mul(v, tf.reshape(weights[k], [points, 1])))),
    [batch, outHeight, outWidth, channels],
  ) as tf.Tensor4D;
  return { value, saved: { taps, fx, fy, values, slopeX: x.slope, slopeY: y.slope } };
}

/** An int32 scalar (a plain number would make int32 arithmetic float32). */
function int32(value: number): tf.Scalar {
  return tf.scalar(value, 'int32');
}

/** Flattens `CompositeSaved` into the tensor list `customGrad` saves (numbers stay in `shape`). */
function packSaved(s: CompositeSaved): tf.Tensor[] {
  const list: tf.Tensor[] = [s.taps];
  if (s.fx && s.fy && s.values) list.push(s.fx, s.fy, ...s.values);
  if (typeof s.slopeX !== 'number') list.push(s.slopeX);
  if (typeof s.slopeY !== 'number') list.push(s.slopeY);
  return list;
}

/** Inverse of `packSaved`, given the saved clones and the original structure. */
function unpackSaved(tensors: tf.Tensor[], shape: CompositeSaved): CompositeSaved {
  let k = 0;
  const next = () => tensors[k++];
  const taps = next() as tf.Tensor1D;
  const out: CompositeSaved = { taps, slopeX: 0, slopeY: 0 };
  if (shape.fx && shape.fy && shape.values) {
    out.fx = next() as tf.Tensor1D;
    out.fy = next() as tf.Tensor1D;
    out.values = [next(), next(), next(), next()] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  }
  out.slopeX = typeof shape.slopeX === 'number' ? shape.slopeX : (next() as tf.Tensor1D);
  out.slopeY = typeof shape.slopeY === 'number' ? shape.slopeY : (next() as tf.Tensor1D);
  return out;
}
