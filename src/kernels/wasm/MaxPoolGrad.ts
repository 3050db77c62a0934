/**
 * MaxPoolGrad for the wasm backend: one pass over the output positions on the wasm heap,
 * channels innermost, guided by the window maxima of wasm's own (XNNPACK) MaxPool.
 *
 * This REPLACES the kernel tfjs-backend-wasm ships (tfjs-backend-wasm/src/cc/kernels/
 * MaxPoolGrad.cc), a scalar C++ loop that finds every argmax with the channels outermost and
 * then, for every input cell, visits again each window that could contain it. In a profile of
 * a ResNet-style training step (112 px, batch 32) the stem max pool's gradient took 81 ms per
 * call, 8.6 % of the backbone step. Here the window maxima come first from wasm's MaxPool
 * kernel (XNNPACK, SIMD; a few ms); then, for each output position (b, oy, ox) and channel,
 * the window's taps are read in scan order up to the first one equal to the maximum, and dy
 * is added there. The sums are kept in float64 in a ring of `filterHeight` input rows, each
 * written to dx (float32) once no later window can reach it, so dx is written exactly once,
 * sequentially. Measured with tfjs-backend-wasm 4.22 (Node 20, one thread, 3x3 stride 2
 * 'same', median of 10 calls; script kept outside the repository):
 * - [32, 56, 56, 32] (the profiled stem): 74 ms -> 24.5 ms (3.0x);
 * - [8, 112, 112, 64] (ResNet-50 stem at 224 px, batch 8): 155 ms -> 46 ms (3.4x).
 * Without the maxima (the full scan below, used when x holds a NaN or XNNPACK's geometry
 * differs) it takes 35 ms and 70 ms.
 *
 * Results are those of tfjs-backend-cpu's MaxPoolGrad, bit for bit (maxPoolPositions, then
 * a float64 sum per input cell rounded once to float32):
 * - the gradient of a window goes to its FIRST maximum in scan order (rows, then columns);
 *   padded cells are never candidates (only in-bounds taps are read);
 * - a tap is selected only when it is strictly greater than the running max, which starts
 *   at -Infinity: NaN is never selected, and a window holding only NaN and/or -Infinity
 *   passes no gradient on;
 * - dy is added only at the selected cell, so a NaN or infinite dy reaches that cell alone.
 * XNNPACK's maxima are only a hint. They are used when x has no NaN (with a NaN in a
 * window its max pool may return the maximum of part of the window) and when XNNPACK's
 * output shape and border clamping give the true window maximum (see wasmMaxPoolIsExact);
 * a window channel whose hint is -Infinity or no tap of the window gets the full scan.
 *
 * The replaced wasm kernel differs (read in MaxPoolGrad.cc and pool3d_impl.h, checked in
 * test/wasm_maxpool_grad.test.ts): it takes the LAST maximum (`>=`); its running max starts
 * at FLT_MIN (the smallest positive normal float, not -FLT_MAX), so a window whose values are
 * all <= 0 (or NaN, or subnormal) gets "argmax = element 0 of the whole input" and its
 * gradient is lost unless the window holds element 0; it multiplies every dy of a window by
 * a 0/1 mask, so a NaN or infinite dy spreads NaN over the window; and it sums in float32.
 * On windows with a unique positive maximum the two agree, bit for bit when a cell collects
 * at most two windows (float32 and float64 sums of two float32 round alike), else to the
 * rounding of three or more float32 summands. Anything but float32 rank-4 inputs goes to
 * the kernel that was replaced.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertShape, BackendWasm, replacementConfig, ReplacementKernelConfig, runKernel, TensorInfo } from './kernel_utils';

type Args = {
  inputs: { dy: TensorInfo; input: TensorInfo; output?: TensorInfo };
  backend: BackendWasm;
  attrs: tf.MaxPoolGradAttrs;
};

/** Geometry of one max pool (dilation 1, NHWC). */
export interface Pool {
  batch: number;
  inH: number;
  inW: number;
  ch: number;
  outH: number;
  outW: number;
  strideH: number;
  strideW: number;
  filterH: number;
  filterW: number;
  padTop: number;
  padLeft: number;
}

/**
 * `dx = maxPoolGrad(dy, x)` for the pool `p`; every element of `dx` is written.
 *
 * `ys`, when given, is the max pool of `x` (the window maxima). It is only a hint: a window
 * channel takes the first tap equal to its maximum, and is scanned in full (first strict
 * maximum from -Infinity) when `ys` holds -Infinity, NaN or a value none of its taps has.
 * The result is the same with or without `ys` as long as each `ys` value that is a tap of
 * its window is the largest one (true of any max pool of a NaN-free `x`).
 */
export function maxPoolGradInto(x: Float32Array, dy: Float32Array, dx: Float32Array, p: Pool, ys: Float32Array | null = null): void {
  const { batch, inH, inW, ch: C, outH, outW, strideH, strideW, filterH, filterW, padTop, padLeft } = p;
  const rowLen = inW * C;
  // Sums for the dx rows a window can still reach: row r lives in slot r % filterH.
  const ring = new Float64Array(filterH * rowLen);
  // The in-bounds taps of the current window, in scan order: offset in x, offset in the ring.
  const src = new Int32Array(filterH * filterW);
  const dst = new Int32Array(filterH * filterW);

  for (let b = 0; b < batch; b++) {
    const xBatch = b * inH * rowLen;
    let next = 0; // the next dx row of this image to write
    const flushTo = (end: number): void => {
      for (; next < end; next++) {
        const slot = (next % filterH) * rowLen;
        dx.set(ring.subarray(slot, slot + rowLen), xBatch + next * rowLen);
        ring.fill(0, slot, slot + rowLen);
      }
    };
    for (let oy = 0; oy < outH; oy++) {
      const r0 = oy * strideH - padTop;
      const y0 = Math.max(0, r0);
      const y1 = Math.min(inH, r0 + filterH);
      // Rows above this window row are out of reach of every later window.
      flushTo(Math.min(y0, inH));
      for (let ox = 0; ox < outW; ox++) {
        const c0 = ox * strideW - padLeft;
        const x0 = Math.max(0, c0);
        const x1 = Math.min(inW, c0 + filterW);
        let n = 0;
        for (let y = y0; y < y1; y++) {
          for (let xx = x0; xx < x1; xx++) {
            src[n] = xBatch + y * rowLen + xx * C;
            dst[n] = (y % filterH) * rowLen + xx * C;
            n++;
          }
        }
        const o = ((b * outH + oy) * outW + ox) * C;
        for (let c = 0; c < C; c++) {
          let a = n;
          if (ys !== null) {
            const m = ys[o + c];
            if (m !== -Infinity) {
              a = 0;
              while (a < n && x[src[a] + c] !== m) a++;
            }
          }
          if (a === n) {
            // First strict maximum from -Infinity: NaN never wins, ties go to the earlier tap.
            let mv = -Infinity;
            a = -1;
            for (let k = 0; k < n; k++) {
              const v = x[src[k] + c];
              if (v > mv) {
                mv = v;
                a = k;
              }
            }
          }
          if (a >= 0) ring[dst[a] + c] += dy[o + c];
        }
      }
    }
    flushTo(inH);
  }
}

function hasNaN(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (v[i] !== v[i]) return true;
  return false;
}

/**
 * Whether tfjs-backend-wasm's MaxPool (XNNPACK) gives the true maximum of every window of a
 * NaN-free input for `info`: XNNPACK runs (more than one tap: a 1x1 pool is a strided copy
 * there, and has nothing to find here), its output has the shape computePool2DInfo gives,
 * and every window holds at least one input cell (XNNPACK clamps padded taps to the border,
 * which then stays inside the window).
 */
function wasmMaxPoolIsExact(info: tf.backend_util.Conv2DInfo): boolean {
  const { top, bottom, left, right } = info.padInfo;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const paddedH = info.inHeight + top + bottom;
  const paddedW = info.inWidth + left + right;
  return fh * fw > 1
    && top >= 0 && bottom >= 0 && left >= 0 && right >= 0
    && top < fh && bottom < fh && left < fw && right < fw
    && paddedH >= fh && paddedW >= fw
    && Math.floor((paddedH - fh) / info.strideHeight) + 1 === info.outHeight
    && Math.floor((paddedW - fw) / info.strideWidth) + 1 === info.outWidth;
}

export function maxPoolGrad(args: Args, original?: tf.KernelFunc): TensorInfo {
  const { inputs: { dy, input }, backend, attrs } = args;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32' || input.shape.length !== 4) {
    if (original == null) {
      throw new Error(`MaxPoolGrad (s3n-layers/wasm-training): only float32 NHWC inputs are supported, got ${input.dtype} [${input.shape.join(',')}].`);
    }
    return original(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
  }
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode,
  );
  assertShape('MaxPoolGrad', 'dy', dy, info.outShape);
  if (tf.util.sizeFromShape(input.shape) === 0) return backend.makeOutput(input.shape, 'float32');
  const pool: Pool = {
    batch: info.batchSize, inH: info.inHeight, inW: info.inWidth, ch: info.inChannels,
    outH: info.outHeight, outW: info.outWidth, strideH: info.strideHeight, strideW: info.strideWidth,
    filterH: info.effectiveFilterHeight, filterW: info.effectiveFilterWidth,
    padTop: info.padInfo.top, padLeft: info.padInfo.left,
  };
  // The window maxima from wasm's own (SIMD) MaxPool, when they are exact: with them most
  // window channels stop at their first maximum instead of running through every tap.
  const useMax = tf.util.sizeFromShape(info.outShape) > 0 && wasmMaxPoolIsExact(info)
    && !hasNaN(backend.typedArrayFromHeap(input) as Float32Array);
  const y = useMax ? runKernel(backend, tf.MaxPool, { x: input }, { filterSize, strides, pad, dimRoundingMode }) : null;
  try {
    const hint = y != null && y.shape.every((d, i) => d === info.outShape[i]);
    const dx = backend.makeOutput(input.shape, 'float32');
    // Views after the allocations (a heap growth detaches older ones).
    maxPoolGradInto(
      backend.typedArrayFromHeap(input) as Float32Array,
      backend.typedArrayFromHeap(dy) as Float32Array,
      backend.typedArrayFromHeap(dx) as Float32Array,
      pool,
      hint ? (backend.typedArrayFromHeap(y) as Float32Array) : null,
    );
    return dx;
  } finally {
    if (y != null) backend.disposeData(y.dataId);
  }
}

/** Kernel config replacing `previous` (kept for other dtypes, and as `original`). */
export function makeMaxPoolGradConfig(previous?: tf.KernelConfig): ReplacementKernelConfig {
  return replacementConfig(tf.MaxPoolGrad, previous, maxPoolGrad);
}
