/**
 * Plumbing of this package's fused JavaScript kernels (registered for the cpu and wasm
 * backends under `S3N*` names): run a loop over flat float32 arrays of the inputs and
 * outputs, without copies on wasm, and register such a kernel once per backend, on first use,
 * through the package's one registration mechanism (`../registration.ts`).
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelSet, registerKernelSet } from '../registration';

/** Backends for which the fused JS kernels are registered. */
export const JS_KERNEL_BACKENDS: readonly string[] = ['cpu', 'wasm'];

/** Marker on every fused JS kernel function (shared across duplicate module copies). */
export const S3N_FUSED_KERNEL_MARK = Symbol.for('s3n-layers.fused-kernel');

/**
 * A fused kernel `kernelName` for every backend of `backends` (default
 * {@link JS_KERNEL_BACKENDS}). The returned function registers it for each of those backends
 * that does not have a kernel of that name yet (lazy and idempotent, also across two copies of
 * this package; a kernel someone else registered under the name is left alone) and reports
 * whether `backendName` has it.
 */
export function jsKernel(kernelName: string, kernelFunc: tf.KernelFunc, backends = JS_KERNEL_BACKENDS): (backendName: string) => boolean {
  const sets: KernelSet[] = backends.map((backend) => ({
    backend,
    names: [kernelName],
    replaces: [],
    addMissing: true,
    mark: S3N_FUSED_KERNEL_MARK,
    configFor: () => ({ kernelName, backendName: backend, kernelFunc }),
  }));
  return (backendName: string) => {
    for (const set of sets) registerKernelSet(set);
    return tf.getKernel(kernelName, backendName) != null;
  };
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

