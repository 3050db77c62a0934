/**
 * Identity for the wasm backend: a second reference to the same heap buffer, not a copy.
 *
 * This REPLACES the kernel tfjs-backend-wasm ships, which allocates a new buffer and copies
 * the input into it. Identity is what `tf.clone` runs, and the engine clones every tensor a
 * custom gradient saves for the backward pass (`tf.customGrad`, which tfjs' fused conv2d,
 * fused matMul and tfjs-layers use under a gradient tape). During a training step the copies
 * are all alive at once: for a ResNet-50 at 224×224 they made the tape about 5× larger than
 * the activations (~1.1 GB), and an S3N step on ResNet-50 ran out of the wasm backend's 4 GB
 * heap. Sharing the buffer with a reference count is what the cpu backend and wasm's own
 * Reshape already do, and is safe because tensors are immutable (a Variable's `assign`
 * takes a new buffer). String tensors go to the kernel that was replaced.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, replacementConfig, ReplacementKernelConfig, TensorInfo } from './kernel_utils';

type Args = { inputs: { x: TensorInfo }; backend: BackendWasm };

export function identity(args: Args, original?: tf.KernelFunc): TensorInfo {
  const { inputs: { x }, backend } = args;
  if (x.dtype === 'string') {
    if (original == null) throw new Error('Identity (s3n-layers/wasm-training): dtype string is not supported.');
    return original(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
  }
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Kernel config replacing `previous` (kept for string tensors, and as `original`). */
export function makeIdentityConfig(previous?: tf.KernelConfig): ReplacementKernelConfig {
  return replacementConfig(tf.Identity, previous, identity);
}
