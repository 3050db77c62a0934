/**
 * Fused JavaScript kernels for `gridSample`: one loop over the output points does the whole
 * op (unnormalise, padding transform, sampling) and, for the gradient, one loop produces both
 * the input and the grid gradients.
 *
 * They are registered under their own names, `S3NGridSample` and `S3NGridSampleGrad`, for the
 * `cpu` and `wasm` backends. On both, the stock ops are slow for this access pattern: cpu's
 * gather and broadcasting binary ops compute a multi-dimensional location per element, and
 * wasm's GatherV2 and strided slices are scalar loops (about 1.7 s per tap gather at
 * [16,448,448,3]). The kernels only need the generic `KernelBackend` interface (`readSync`,
 * `write`); on wasm they use its `makeOutput` / `typedArrayFromHeap` instead, to work on the
 * heap in place without copies (about 2x faster at that size).
 *
 * Other backends (webgl, webgpu, tensorflow) use the composite path of the op
 * (`src/ops/grid_sample.ts`, which picks the path), with the same semantics; the tests check
 * both paths against PyTorch and against each other.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { jsKernel, runFloat32 } from './js_kernel';

/** Resolved options of one `gridSample` call. */
export interface GridSampleConfig {
  mode: 'bilinear' | 'nearest';
  paddingMode: 'zeros' | 'border' | 'reflection';
  alignCorners: boolean;
}

/** Forward kernel: inputs `{input, grid}`, output `[batch, outHeight, outWidth, channels]`. */
export const GRID_SAMPLE_KERNEL = 'S3NGridSample';
/** Gradient kernel: inputs `{input, grid, dy}`, outputs `[dInput, dGrid]`. */
export const GRID_SAMPLE_GRAD_KERNEL = 'S3NGridSampleGrad';

const hasForward = /* @__PURE__ */ jsKernel(GRID_SAMPLE_KERNEL, gridSampleKernel as unknown as tf.KernelFunc);
const hasBackward = /* @__PURE__ */ jsKernel(GRID_SAMPLE_GRAD_KERNEL, gridSampleGradKernel as unknown as tf.KernelFunc);

/**
 * Registers the fused kernels (once) and reports whether `backendName` has them. Registration
 * is lazy, so importing the library has no side effect on the kernel registry.
 */
export function hasFusedGridSample(backendName: string): boolean {
  const forward = hasForward(backendName);
  const backward = hasBackward(backendName);
  return forward && backward;
}

/** Runs the forward kernel on the active backend. */
export function runFusedGridSample(input: tf.Tensor4D, grid: tf.Tensor4D, config: GridSampleConfig): tf.Tensor4D {
  return tf.engine().runKernel(GRID_SAMPLE_KERNEL, { input, grid }, { ...config }) as tf.Tensor4D;
}

/** Runs the gradient kernel on the active backend: `[dInput, dGrid]`. */
export function runFusedGridSampleGrad(
  input: tf.Tensor4D,
  grid: tf.Tensor4D,
  dy: tf.Tensor4D,
  config: GridSampleConfig,
): [tf.Tensor4D, tf.Tensor4D] {
  const [dInput, dGrid] = tf.engine().runKernel(GRID_SAMPLE_GRAD_KERNEL, { input, grid, dy }, { ...config }) as tf.Tensor[];
  return [dInput as tf.Tensor4D, dGrid as tf.Tensor4D];
}

/**
 * Maps a normalised grid coordinate to a pixel coordinate along one axis of length `size`,
 * and records the derivative of that map (`slope`). The float32 steps are rounded like the
 * composite path, so both paths see bit-identical coordinates.
 *
 * A NaN coordinate stays NaN (and then samples nothing); `slope` is 0 wherever the padding
 * transform clips, including exactly on the borders, as in PyTorch.
 */
class AxisMap {
  /** The pixel coordinate of the last `map` call. */
  coord = 0;
  /** d coord / d (normalised coordinate) of the last `map` call. */
  slope = 0;
  private readonly scale: number;
  private readonly shift: number;
  private readonly clip: boolean;
  private readonly reflect: boolean;
  private readonly low: number;
  private readonly span: number;
  private readonly high: number;

  constructor(size: number, paddingMode: GridSampleConfig['paddingMode'], alignCorners: boolean) {
    this.scale = alignCorners ? (size - 1) / 2 : size / 2;
    this.shift = alignCorners ? 0 : 0.5;
    this.clip = paddingMode !== 'zeros';
    this.low = alignCorners ? 0 : -0.5;
    this.span = alignCorners ? size - 1 : size;
    this.reflect = paddingMode === 'reflection' && this.span > 0;
    this.high = size - 1;
  }

  map(g: number): void {
    const f = Math.fround;
    let c = f(f(g + 1) * this.scale);
    if (this.shift !== 0) c = f(c - this.shift);
    let slope = this.scale;
    if (this.reflect) {
      const t = f(c - this.low);
      const a = Math.abs(t);
      const flips = Math.floor(f(a / this.span));
      const extra = f(a - f(flips * this.span));
      const odd = flips % 2 === 1;
      c = odd ? f(f(this.span - extra) + this.low) : f(extra + this.low);
      if (odd !== t < 0) slope = -slope;
    }
    if (this.clip) {
      if (c > 0 && c < this.high) {
        // inside: keep c and slope
      } else if (c <= 0) {
        c = 0;
        slope = 0;
      } else if (c >= this.high) {
        c = this.high;
        slope = 0;
      } else {
        slope = 0; // NaN
      }
    }
    this.coord = c;
    this.slope = slope;
  }
}

/** Rounds half to even, like C `nearbyint` in the default rounding mode. */
function roundHalfToEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

interface Shapes {
  batch: number;
  height: number;
  width: number;
  channels: number;
  /** outHeight * outWidth */
  points: number;
}

function shapesOf(input: tf.TensorInfo, grid: tf.TensorInfo): Shapes {
  const [batch, height, width, channels] = input.shape;
  return { batch, height, width, channels, points: grid.shape[1] * grid.shape[2] };
}

function configOf(attrs: tf.NamedAttrMap | undefined): GridSampleConfig {
  const a = attrs ?? {};
  return {
    mode: a.mode as GridSampleConfig['mode'],
    paddingMode: a.paddingMode as GridSampleConfig['paddingMode'],
    alignCorners: a.alignCorners as boolean,
  };
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function gridSampleKernel(args: KernelArgs): tf.TensorInfo {
  const input = args.inputs.input as tf.TensorInfo;
  const grid = args.inputs.grid as tf.TensorInfo;
  const s = shapesOf(input, grid);
  const config = configOf(args.attrs);
  const shape = [s.batch, grid.shape[1], grid.shape[2], s.channels];
  const [out] = runFloat32(args.backend as tf.KernelBackend, [input, grid], [shape], ([image, g], [values]) =>
    gridSampleValues(image, g, values, s, config),
  );
  return out;
}

function gridSampleGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const input = args.inputs.input as tf.TensorInfo;
  const grid = args.inputs.grid as tf.TensorInfo;
  const dy = args.inputs.dy as tf.TensorInfo;
  const s = shapesOf(input, grid);
  const config = configOf(args.attrs);
  return runFloat32(
    args.backend as tf.KernelBackend,
    [input, grid, dy],
    [input.shape, grid.shape],
    ([image, g, d], [dImage, dGrid]) => gridSampleGradValues(image, g, d, dImage, dGrid, s, config),
  );
}

/**
 * The forward pass on flat NHWC data: `image` `[batch, height, width, channels]`, `grid`
 * `[batch, outHeight, outWidth, 2]`; writes `out` `[batch, outHeight, outWidth, channels]`,
 * which must be zero on entry.
 */
function gridSampleValues(image: Float32Array, grid: Float32Array, out: Float32Array, s: Shapes, config: GridSampleConfig): void {
  const { batch, height: H, width: W, channels: C, points } = s;
  const mx = new AxisMap(W, config.paddingMode, config.alignCorners);
  const my = new AxisMap(H, config.paddingMode, config.alignCorners);
  const bilinear = config.mode === 'bilinear';
  const rowStride = W * C;
  for (let b = 0; b < batch; b++) {
    const imageBase = b * H * W * C;
    for (let p = b * points, end = (b + 1) * points; p < end; p++) {
      mx.map(grid[2 * p]);
      my.map(grid[2 * p + 1]);
      const ix = mx.coord;
      const iy = my.coord;
      const o = p * C;
      if (bilinear) {
        const x0 = Math.floor(ix);
        const y0 = Math.floor(iy);
        const fx = ix - x0;
        const fy = iy - y0;
        const wNW = (1 - fx) * (1 - fy);
        const wNE = fx * (1 - fy);
        const wSW = (1 - fx) * fy;
        const wSE = fx * fy;
        const nw = imageBase + y0 * rowStride + x0 * C;
        const sw = nw + rowStride;
        if (x0 >= 0 && x0 < W - 1 && y0 >= 0 && y0 < H - 1) {
          // All four taps inside the image (the common case): no per-tap tests.
          for (let c = 0; c < C; c++) {
            out[o + c] = wNW * image[nw + c] + wNE * image[nw + C + c] + wSW * image[sw + c] + wSE * image[sw + C + c];
          }
          continue;
        }
        // Also false for NaN and infinite coordinates.
        if (!(x0 >= -1 && x0 <= W - 1 && y0 >= -1 && y0 <= H - 1)) continue;
        const west = x0 >= 0;
        const east = x0 + 1 <= W - 1;
        const north = y0 >= 0;
        const south = y0 + 1 <= H - 1;
        for (let c = 0; c < C; c++) {
          let v = 0;
          if (north && west) v += wNW * image[nw + c];
          if (north && east) v += wNE * image[nw + C + c];
          if (south && west) v += wSW * image[sw + c];
          if (south && east) v += wSE * image[sw + C + c];
          out[o + c] = v;
        }
      } else {
        const x = roundHalfToEven(ix);
        const y = roundHalfToEven(iy);
        if (!(x >= 0 && x <= W - 1 && y >= 0 && y <= H - 1)) continue;
        const src = imageBase + y * rowStride + x * C;
        for (let c = 0; c < C; c++) out[o + c] = image[src + c];
      }
    }
  }
}

/**
 * The backward pass on flat NHWC data: given `dy` `[batch, outHeight, outWidth, channels]`,
 * accumulates into `dImage` and `dGrid` (shapes of `image` and `grid`, zero on entry).
 * Duplicate taps add up.
 */
function gridSampleGradValues(
  image: Float32Array,
  grid: Float32Array,
  dy: Float32Array,
  dImage: Float32Array,
  dGrid: Float32Array,
  s: Shapes,
  config: GridSampleConfig,
): void {
  const { batch, height: H, width: W, channels: C, points } = s;
  const mx = new AxisMap(W, config.paddingMode, config.alignCorners);
  const my = new AxisMap(H, config.paddingMode, config.alignCorners);
  const bilinear = config.mode === 'bilinear';
  const rowStride = W * C;
  for (let b = 0; b < batch; b++) {
    const imageBase = b * H * W * C;
    for (let p = b * points, end = (b + 1) * points; p < end; p++) {
      mx.map(grid[2 * p]);
      my.map(grid[2 * p + 1]);
      const ix = mx.coord;
      const iy = my.coord;
      const o = p * C;
      if (bilinear) {
        const x0 = Math.floor(ix);
        const y0 = Math.floor(iy);
        const fx = ix - x0;
        const fy = iy - y0;
        const wNW = (1 - fx) * (1 - fy);
        const wNE = fx * (1 - fy);
        const wSW = (1 - fx) * fy;
        const wSE = fx * fy;
        const nw = imageBase + y0 * rowStride + x0 * C;
        const ne = nw + C;
        const sw = nw + rowStride;
        const se = sw + C;
        // g* = sum over channels of dy * tap value (0 for taps outside the image).
        let gNW = 0;
        let gNE = 0;
        let gSW = 0;
        let gSE = 0;
        if (x0 >= 0 && x0 < W - 1 && y0 >= 0 && y0 < H - 1) {
          for (let c = 0; c < C; c++) {
            const d = dy[o + c];
            dImage[nw + c] += wNW * d;
            dImage[ne + c] += wNE * d;
            dImage[sw + c] += wSW * d;
            dImage[se + c] += wSE * d;
            gNW += image[nw + c] * d;
            gNE += image[ne + c] * d;
            gSW += image[sw + c] * d;
            gSE += image[se + c] * d;
          }
        } else {
          if (!(x0 >= -1 && x0 <= W - 1 && y0 >= -1 && y0 <= H - 1)) continue;
          const west = x0 >= 0;
          const east = x0 + 1 <= W - 1;
          const north = y0 >= 0;
          const south = y0 + 1 <= H - 1;
          for (let c = 0; c < C; c++) {
            const d = dy[o + c];
            if (north && west) {
              dImage[nw + c] += wNW * d;
              gNW += image[nw + c] * d;
            }
            if (north && east) {
              dImage[ne + c] += wNE * d;
              gNE += image[ne + c] * d;
            }
            if (south && west) {
              dImage[sw + c] += wSW * d;
              gSW += image[sw + c] * d;
            }
            if (south && east) {
              dImage[se + c] += wSE * d;
              gSE += image[se + c] * d;
            }
          }
        }
        const gx = (1 - fy) * (gNE - gNW) + fy * (gSE - gSW);
        const gy = (1 - fx) * (gSW - gNW) + fx * (gSE - gNE);
        dGrid[2 * p] = gx * mx.slope;
        dGrid[2 * p + 1] = gy * my.slope;
      } else {
        const x = roundHalfToEven(ix);
        const y = roundHalfToEven(iy);
        if (!(x >= 0 && x <= W - 1 && y >= 0 && y <= H - 1)) continue;
        const dst = imageBase + y * rowStride + x * C;
        for (let c = 0; c < C; c++) dImage[dst + c] += dy[o + c];
      }
    }
  }
}
