/**
 * Plumbing of this package's fused JavaScript kernels (registered for the cpu and wasm
 * backends under `S3N*` names): run a loop over flat float32 arrays of the inputs and
 * outputs, without copies on wasm, and register such a kernel once per backend.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { isFlagRegistered } from '../tfjs_internals';

/**
 * Name of the tfjs environment flag `'S3N_FUSED_KERNELS'` (default true): use this package's
 * fused JS kernels (`gridSample` on cpu and wasm, the SGD-momentum update on cpu) where they
 * are registered.
 * `tf.env().set('S3N_FUSED_KERNELS', false)` forces the portable composite path, which is what
 * webgl, webgpu and tfjs-node run. Both paths compute the same values and gradients.
 *
 * @example
 * ```ts
 * tf.env().set(ops.FUSED_KERNELS_FLAG, false); // composite ops everywhere (e.g. to compare)
 * ```
 */
export const FUSED_KERNELS_FLAG = 'S3N_FUSED_KERNELS';
// Registered once per tfjs-core instance, even when both the ESM and the CommonJS build load.
if (!isFlagRegistered(FUSED_KERNELS_FLAG)) {
  tf.env().registerFlag(FUSED_KERNELS_FLAG, () => true);
}

/** Backends for which the fused JS kernels are registered. */
export const JS_KERNEL_BACKENDS: readonly string[] = ['cpu', 'wasm'];

/**
 * Registers `kernelFunc` as `kernelName` for every backend of `backends` (default
 * {@link JS_KERNEL_BACKENDS}) that does not have it yet (registration is lazy and idempotent,
 * also across two copies of this package), and reports whether `backendName` has it.
 */
export function ensureJsKernel(kernelName: string, kernelFunc: tf.KernelFunc, backendName: string, backends = JS_KERNEL_BACKENDS): boolean {
  for (const name of backends) {
    if (tf.getKernel(kernelName, name) == null) tf.registerKernel({ kernelName, backendName: name, kernelFunc });
  }
  return tf.getKernel(kernelName, backendName) != null;
}

/** The wasm backend's access to tensors that live in its heap. */
interface HeapBackend {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

function isHeapBackend(backend: unknown): backend is HeapBackend {
  const b = backend as Partial<HeapBackend>;
  return typeof b.typedArrayFromHeap === 'function' && typeof b.makeOutput === 'function';
}

/**
 * Runs `compute` on float32 views of `inputs` and of new outputs of the given shapes, and
 * returns the outputs. On a heap backend (wasm) the views alias the heap, so nothing is
 * copied; elsewhere inputs are read with `readSync` and outputs written with `write`. The
 * outputs are zero on entry unless `zeroed` is false (then `compute` must write every element).
 */
export function runFloat32(
  backend: tf.KernelBackend,
  inputs: tf.TensorInfo[],
  outputShapes: number[][],
  compute: (inputs: Float32Array[], outputs: Float32Array[]) => void,
  zeroed = true,
): tf.TensorInfo[] {
  if (isHeapBackend(backend)) {
    // Allocate first: growing the heap detaches views taken earlier.
    const outputs = outputShapes.map((shape) => backend.makeOutput(shape, 'float32'));
    const outViews = outputs.map((info) => (zeroed ? backend.typedArrayFromHeap(info).fill(0) : backend.typedArrayFromHeap(info)));
    compute(
      inputs.map((info) => backend.typedArrayFromHeap(info)),
      outViews,
    );
    return outputs;
  }
  const outValues = outputShapes.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)));
  compute(
    inputs.map((info) => backend.readSync(info.dataId) as Float32Array),
    outValues,
  );
  return outValues.map((values, k) => ({
    dataId: backend.write(values, outputShapes[k], 'float32'),
    shape: outputShapes[k],
    dtype: 'float32' as const,
  }));
}

