/**
 * Sum and Mean for the wasm backend over LEADING axes: one pass over the wasm heap, no
 * transpose.
 *
 * These REPLACE the kernels tfjs-backend-wasm 4.22 ships (tfjs-backend-wasm/src/kernels/
 * Sum.ts, Mean.ts), which first transpose the whole input so that the reduced axes are
 * innermost (kernel_utils permuteAxesAndTranspose) and then reduce each row. Batch
 * normalisation reduces the LEADING axes of NHWC activations (its moments, and the gradients
 * of its `[1, 1, 1, C]` broadcasts: reduce [0, 1, 2] of [N, H, W, C], keep C), so every such
 * call copied a full activation first: in a profile of a ResNet-50 training step on wasm
 * (448 px), Sum took 1.8 s in ~1000 calls and Mean 1.3 s of a 21 s step. Here, when the
 * reduced axes are exactly {0, ..., r-1} (in any order, r >= 1, the full reduction
 * included), x is read as M rows of K contiguous values (M = product of the reduced dims,
 * K = product of the kept ones) and each row is added into K float64 accumulators.
 * Measured with tfjs-backend-wasm 4.22 (Node 20, one thread, median of 10 calls on fresh
 * inputs, replaced and new interleaved on a machine loaded by another benchmark; script kept
 * outside the repository):
 * - sum over [0, 1, 2] of [2, 112, 112, 256]: 20-26 ms -> 6-10 ms; mean: 20-25 ms -> 10-14 ms;
 * - [8, 56, 56, 256]: sum 24-30 ms -> 6-10 ms; mean 25-30 ms -> 10-14 ms;
 * - [32, 28, 28, 64]: sum 2.9-3.6 ms -> 1.0-1.5 ms; mean 2.8-3.0 ms -> 1.7-1.9 ms;
 * - sum over [0] of [50176, 64]: 25-27 ms -> 2.6 ms.
 * (Ranges over three runs; the load made single medians vary by up to 2x.) The Mean costs
 * more than the Sum because it divides every element, as cpu does (below).
 *
 * Results are those of tfjs-backend-cpu, bit for bit (tfjs-backend-cpu/src/kernels/Sum.ts,
 * Mean.ts of 4.22):
 * - cpu's Sum transposes x to [kept..., axes[0], axes[1], ...] (the reduced axes in the order
 *   GIVEN, getAxesPermutation) and adds each row in order into a JS number, stored once into
 *   the float32 output. Here the rows of x are visited in that same order (axes[r-1]
 *   fastest: row-major order when the axes are sorted) and summed in float64, so each output
 *   is the same float64 sum rounded once to float32;
 * - cpu's Mean is NOT sum / M: it divides every element first, `fround(x / fround(M))`
 *   (RealDiv of x by the float32 scalar M into a float32 tensor), then sums those quotients
 *   as above. The same formula is used here;
 * - NaN and infinities propagate as in any IEEE sum (Inf + -Inf = NaN), as on cpu;
 * - int32 Sum accumulates with 32-bit wrap-around (`(a + v) | 0`), like the replaced kernel;
 *   int32 Mean goes to the replaced kernel.
 * The replaced Sum accumulates in float32 (2^24 + 1 + 1 + ... stays 2^24 there, see
 * test/wasm_reduce.test.ts), so it differs from cpu and from this one in the last bits. Everything else goes to the kernel that was replaced: reduced
 * axes that are not a leading prefix (e.g. the last axis only: no transpose there either),
 * repeated axes, an empty reduction (no axis), empty tensors, and other dtypes.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, replacementConfig, ReplacementKernelConfig, TensorInfo } from './kernel_utils';

type Args = {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs: { axis: number | number[]; keepDims: boolean };
};

/** A reduction over the leading axes, when that is what `axis` asks for on `shape`. */
export interface LeadingReduction {
  /** The normalised axes, in the order given (a permutation of 0..r-1). */
  axes: number[];
  /** Rows (product of the reduced dims) and row length (product of the kept dims). */
  M: number;
  K: number;
  /** Output shape (keepDims applied). */
  outShape: number[];
  /** Offsets of the rows of x in summation order (cpu's), or null for 0, 1, ..., M-1. */
  rowOrder: Int32Array | null;
}

/**
 * Parses `axis` like tfjs (util.parseAxisParam: undefined = all axes, negative from the end)
 * and returns the leading reduction it describes, or null when it is not one.
 */
export function leadingReduction(shape: number[], axis: number | number[] | undefined | null, keepDims: boolean): LeadingReduction | null {
  const rank = shape.length;
  const axes = tf.util.parseAxisParam(axis as number | number[], shape);
  const r = axes.length;
  if (r === 0 || rank === 0) return null;
  const seen = new Array<boolean>(r).fill(false);
  for (const a of axes) {
    if (a >= r || seen[a]) return null;
    seen[a] = true;
  }
  let M = 1;
  for (let i = 0; i < r; i++) M *= shape[i];
  let K = 1;
  for (let i = r; i < rank; i++) K *= shape[i];
  const kept = shape.slice(r);
  const outShape = keepDims ? [...new Array<number>(r).fill(1), ...kept] : kept;
  let sorted = true;
  for (let i = 0; i < r; i++) if (axes[i] !== i) sorted = false;
  return { axes, M, K, outShape, rowOrder: sorted ? null : rowOrderOf(shape, axes) };
}

/**
 * Row indices (in units of K) in the order cpu sums them for unsorted leading axes: an
 * odometer over the reduced dims with the LAST given axis fastest.
 */
function rowOrderOf(shape: number[], axes: number[]): Int32Array {
  const r = axes.length;
  // Row stride of each leading axis in x (row-major over the leading dims).
  const stride = new Array<number>(r);
  let s = 1;
  for (let i = r - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i];
  }
  const M = s;
  const order = new Int32Array(M);
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let m = 0; m < M; m++) {
    order[m] = off;
    for (let j = r - 1; j >= 0; j--) {
      const a = axes[j];
      idx[j]++;
      off += stride[a];
      if (idx[j] < shape[a]) break;
      off -= idx[j] * stride[a];
      idx[j] = 0;
    }
  }
  return order;
}

/** Rows per block of the blocked loops: 32 rows of K floats stay in L1/L2 across the k blocks. */
const ROWS = 32;

/**
 * `out[k] = fround(sum over rows m of f(x[row(m) * K + k]))` in float64, the rows in `order`
 * (null: 0..M-1), with `f` the identity or, for the mean (`div` > 0), `v -> fround(v / div)`.
 * Each k is one float64 chain in row order, whatever the loop blocking, so the result is the
 * same as a plain `for m, for k` loop.
 */
export function sumLeadingInto(x: Float32Array, M: number, K: number, out: Float32Array, order: Int32Array | null, div = 0): void {
  if (order === null && K >= 8) {
    if (div > 0) meanBlocked(x, M, K, out, div);
    else sumBlocked(x, M, K, out);
    return;
  }
  const mean = div > 0;
  if (K === 1) {
    let acc = 0;
    for (let m = 0; m < M; m++) {
      const v = x[order === null ? m : order[m]];
      acc += mean ? Math.fround(v / div) : v;
    }
    out[0] = acc;
    return;
  }
  const acc = new Float64Array(K);
  for (let m = 0; m < M; m++) {
    const base = (order === null ? m : order[m]) * K;
    if (mean) {
      for (let k = 0; k < K; k++) acc[k] += Math.fround(x[base + k] / div);
    } else {
      for (let k = 0; k < K; k++) acc[k] += x[base + k];
    }
  }
  out.set(acc);
}

/*
 * The blocked loops: for each block of ROWS rows, the columns go by 8 in local variables
 * (registers) over the block's rows, then back to the Float64Array. About twice as fast as
 * the plain loop, which loads and stores an accumulator per element.
 */
function sumBlocked(x: Float32Array, M: number, K: number, out: Float32Array): void {
  const acc = new Float64Array(K);
  for (let m0 = 0; m0 < M; m0 += ROWS) {
    const m1 = Math.min(M, m0 + ROWS);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      let a0 = acc[k], a1 = acc[k + 1], a2 = acc[k + 2], a3 = acc[k + 3];
      let a4 = acc[k + 4], a5 = acc[k + 5], a6 = acc[k + 6], a7 = acc[k + 7];
      for (let m = m0, b = m0 * K + k; m < m1; m++, b += K) {
        a0 += x[b]; a1 += x[b + 1]; a2 += x[b + 2]; a3 += x[b + 3];
        a4 += x[b + 4]; a5 += x[b + 5]; a6 += x[b + 6]; a7 += x[b + 7];
      }
      acc[k] = a0; acc[k + 1] = a1; acc[k + 2] = a2; acc[k + 3] = a3;
      acc[k + 4] = a4; acc[k + 5] = a5; acc[k + 6] = a6; acc[k + 7] = a7;
    }
    for (; k < K; k++) {
      let a = acc[k];
      for (let m = m0, b = m0 * K + k; m < m1; m++, b += K) a += x[b];
      acc[k] = a;
    }
  }
  out.set(acc);
}

function meanBlocked(x: Float32Array, M: number, K: number, out: Float32Array, div: number): void {
  const f = Math.fround;
  const acc = new Float64Array(K);
  for (let m0 = 0; m0 < M; m0 += ROWS) {
    const m1 = Math.min(M, m0 + ROWS);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      let a0 = acc[k], a1 = acc[k + 1], a2 = acc[k + 2], a3 = acc[k + 3];
      let a4 = acc[k + 4], a5 = acc[k + 5], a6 = acc[k + 6], a7 = acc[k + 7];
      for (let m = m0, b = m0 * K + k; m < m1; m++, b += K) {
        a0 += f(x[b] / div); a1 += f(x[b + 1] / div); a2 += f(x[b + 2] / div); a3 += f(x[b + 3] / div);
        a4 += f(x[b + 4] / div); a5 += f(x[b + 5] / div); a6 += f(x[b + 6] / div); a7 += f(x[b + 7] / div);
      }
      acc[k] = a0; acc[k + 1] = a1; acc[k + 2] = a2; acc[k + 3] = a3;
      acc[k + 4] = a4; acc[k + 5] = a5; acc[k + 6] = a6; acc[k + 7] = a7;
    }
    for (; k < K; k++) {
      let a = acc[k];
      for (let m = m0, b = m0 * K + k; m < m1; m++, b += K) a += f(x[b] / div);
      acc[k] = a;
    }
  }
  out.set(acc);
}

/** int32 sums with 32-bit wrap-around. */
function sumLeadingInt32(x: Int32Array, M: number, K: number, out: Int32Array, order: Int32Array | null): void {
  const acc = new Int32Array(K);
  for (let m = 0; m < M; m++) {
    const base = (order === null ? m : order[m]) * K;
    for (let k = 0; k < K; k++) acc[k] = (acc[k] + x[base + k]) | 0;
  }
  out.set(acc);
}

function reduce(kind: 'Sum' | 'Mean', args: Args, original?: tf.KernelFunc): TensorInfo {
  const { inputs: { x }, backend, attrs: { axis, keepDims } } = args;
  const fallback = (): TensorInfo => {
    if (original == null) {
      throw new Error(`${kind} (s3n-layers/wasm-training): only leading-axis reductions of float32 inputs are supported, got ${x.dtype} [${x.shape.join(',')}] axis ${JSON.stringify(axis)}.`);
    }
    return original(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
  };
  const okDtype = x.dtype === 'float32' || (kind === 'Sum' && x.dtype === 'int32');
  if (!okDtype || tf.util.sizeFromShape(x.shape) === 0) return fallback();
  const red = leadingReduction(x.shape, axis, keepDims);
  if (red == null) return fallback();
  const { M, K, outShape, rowOrder } = red;
  const out = backend.makeOutput(outShape, x.dtype);
  // Views after the allocation (a heap growth detaches older ones).
  if (x.dtype === 'int32') {
    sumLeadingInt32(backend.typedArrayFromHeap(x) as Int32Array, M, K, backend.typedArrayFromHeap(out) as Int32Array, rowOrder);
  } else {
    sumLeadingInto(
      backend.typedArrayFromHeap(x) as Float32Array, M, K, backend.typedArrayFromHeap(out) as Float32Array, rowOrder,
      kind === 'Mean' ? Math.fround(M) : 0,
    );
  }
  return out;
}

export function sum(args: Args, original?: tf.KernelFunc): TensorInfo {
  return reduce('Sum', args, original);
}

export function mean(args: Args, original?: tf.KernelFunc): TensorInfo {
  return reduce('Mean', args, original);
}

/** Kernel config replacing wasm's Sum (kept for the other reductions, and as `original`). */
export function makeSumConfig(previous?: tf.KernelConfig): ReplacementKernelConfig {
  return replacementConfig(tf.Sum, previous, sum);
}

/** Kernel config replacing wasm's Mean (kept for the other reductions, and as `original`). */
export function makeMeanConfig(previous?: tf.KernelConfig): ReplacementKernelConfig {
  return replacementConfig(tf.Mean, previous, mean);
}
