/**
 * Tile for the wasm backend: block copies on the wasm heap.
 *
 * This REPLACES the kernel tfjs-backend-wasm ships, whose C++ loop recomputes a
 * multi-dimensional index per element (~15 ns per element). It matters for training: the
 * gradient of batch normalisation tiles a `[1, 1, 1, C]` tensor to the full activation shape
 * for every BatchNormalization layer, which took a quarter of a ResNet-50 training step.
 * Here each input row is copied once and then replicated with `copyWithin` doubling, i.e.
 * at memcpy speed. Works for float32, int32 and bool; string tensors go to the kernel that
 * was replaced.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, replacementConfig, ReplacementKernelConfig, TensorInfo } from './kernel_utils';

type Args = { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: { reps: number[] } };
type Arr = Float32Array | Int32Array | Uint8Array;

/** Copies `dst[off, off+block)` so that it repeats `times` times in total (doubling). */
function replicate(dst: Arr, off: number, block: number, times: number): void {
  const total = block * times;
  let done = block;
  while (done < total) {
    const n = Math.min(done, total - done);
    dst.copyWithin(off + done, off, off + n);
    done += n;
  }
}

/** Writes `tile(src, reps)` into `dst` (both row-major, `outStrides` of the result). */
function tileInto(src: Arr, shape: number[], reps: number[], dst: Arr): void {
  const rank = shape.length;
  const out = shape.map((d, i) => d * reps[i]);
  const outStrides = new Array<number>(rank);
  const inStrides = new Array<number>(rank);
  let so = 1;
  let si = 1;
  for (let i = rank - 1; i >= 0; i--) {
    outStrides[i] = so;
    inStrides[i] = si;
    so *= out[i];
    si *= shape[i];
  }
  const fill = (dim: number, srcOff: number, dstOff: number): void => {
    const d = shape[dim];
    if (dim === rank - 1) {
      for (let i = 0; i < d; i++) dst[dstOff + i] = src[srcOff + i];
      replicate(dst, dstOff, d, reps[dim]);
      return;
    }
    for (let i = 0; i < d; i++) fill(dim + 1, srcOff + i * inStrides[dim], dstOff + i * outStrides[dim]);
    replicate(dst, dstOff, d * outStrides[dim], reps[dim]);
  };
  fill(0, 0, 0);
}

export function tile(args: Args, original?: tf.KernelFunc): TensorInfo {
  const { inputs: { x }, backend, attrs: { reps } } = args;
  if (x.dtype === 'string' || x.dtype === 'complex64') {
    if (original == null) throw new Error(`Tile (s3n-layers/wasm-training): dtype ${x.dtype} is not supported.`);
    return original(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
  }
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  if (x.shape.length === 0) {
    (backend.typedArrayFromHeap(out) as Arr).set(backend.typedArrayFromHeap(x) as Arr);
    return out;
  }
  // Views after the allocation (a heap growth detaches older ones).
  tileInto(backend.typedArrayFromHeap(x) as Arr, x.shape, reps, backend.typedArrayFromHeap(out) as Arr);
  return out;
}

/** Kernel config replacing `previous` (kept for string tensors, and as `original`). */
export function makeTileConfig(previous?: tf.KernelConfig): ReplacementKernelConfig {
  return replacementConfig(tf.Tile, previous, tile);
}
