/**
 * `s3n-layers/wasm-training`: training on the tfjs wasm backend (XNNPACK, SIMD).
 *
 * tfjs-backend-wasm 4.x can run a forward pass fast but cannot train a convolutional model:
 * it has no Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter,
 * DepthwiseConv2dNativeBackpropInput or UnsortedSegmentSum kernel, and its
 * Conv2DBackpropInput is a scalar loop many times slower than the forward convolution.
 * Importing this entry registers those kernels for the 'wasm' backend, each built from
 * kernels wasm already has (Conv2D / DepthwiseConv2dNative / BatchMatMul on XNNPACK,
 * Transpose, PadV2, Slice, ScatterNd, ...) plus im2col/col2im copies on the wasm heap:
 *
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import 's3n-layers/wasm-training'; // also loads @tensorflow/tfjs-backend-wasm
 * await tf.setBackend('wasm');
 * await model.fit(xs, ys);
 * ```
 *
 * Kernels the wasm backend already registers are never overridden, with six deliberate
 * exceptions listed in {@link WASM_TRAINING_REPLACED_KERNELS}, measurably faster, smaller or
 * more correct (bench/wasm_training.ts):
 * - Conv2DBackpropInput: wasm's is a scalar C++ loop; ours runs on XNNPACK and is 3-13x
 *   faster on every ResNet-50 layer shape;
 * - Tile: wasm's computes a multi-dimensional index per element; ours copies blocks. The
 *   batch-norm gradient tiles a full activation per layer, which made Tile a quarter of a
 *   ResNet-50 training step on wasm (~700 ms of ~2.8 s) and now costs a few ms;
 * - Identity: wasm's copies the buffer; ours shares it with a reference count, as the cpu
 *   backend does. The engine clones every tensor a gradient saves, so the copies doubled the
 *   memory of a training step's forward pass;
 * - MaxPoolGrad: wasm's is a scalar loop (3.0-3.4x slower on the stem pools of a ResNet) that
 *   routes the whole gradient of a window whose values are all <= 0 to element 0 of the input
 *   and breaks ties on the last maximum; ours is bit-identical to the cpu backend (first
 *   maximum, float64 sums);
 * - Sum and Mean over LEADING axes (batch norm's moments and the gradients of its broadcasts:
 *   reduce [0, 1, 2] of NHWC, keep C): wasm's transpose the whole input first so that the
 *   reduced axes are innermost; ours add the rows in place in float64 (Sum 2-10x, Mean
 *   1.6-3x faster on ResNet-50 activation shapes) and are bit-identical to the cpu backend
 *   (wasm's Sum accumulates in float32). Other axes go to wasm's own kernels.
 * The replaced kernels stay reachable as `original` on the registered config. A kernel
 * that a future tfjs-backend-wasm adds natively is left alone.
 *
 * The ops that a tfjs-layers training step of a ResNet-style model uses (conv2d with
 * strides, depthwise/separable conv, batchNormalization, relu, max/avg pooling, add,
 * globalAveragePooling2d, dense, softmax cross-entropy, embedding) then all run on wasm.
 *
 * @packageDocumentation
 * @module s3n-layers/wasm-training
 */
// Registers the wasm backend and its kernels first, so that ours are added after them.
import '@tensorflow/tfjs-backend-wasm';
import { WASM_KERNEL_NAMES, WASM_KERNEL_SET, WASM_REPLACED_KERNEL_NAMES } from './kernels/wasm';
import { activeKernels, registerKernelSet } from './kernels/registration';

/**
 * Every kernel this entry provides for the 'wasm' backend: `Conv2DBackpropFilter`,
 * `Conv2DBackpropInput`, `DepthwiseConv2dNativeBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropInput`, `UnsortedSegmentSum`, `Tile`, `Identity`,
 * `MaxPoolGrad`, `Sum` and `Mean`.
 */
export const WASM_TRAINING_KERNELS: readonly string[] = WASM_KERNEL_NAMES;

/**
 * The kernels among {@link WASM_TRAINING_KERNELS} that tfjs-backend-wasm 4.22 already has
 * and that are replaced on purpose: Conv2DBackpropInput, Tile, Sum and Mean (faster),
 * Identity (no copy), MaxPoolGrad (faster, and matches the cpu backend).
 */
export const WASM_TRAINING_REPLACED_KERNELS: readonly string[] = WASM_REPLACED_KERNEL_NAMES;

/**
 * Registers the training kernels for the 'wasm' backend and returns the names this call
 * registered (empty when they already are: calling it again, or importing the entry twice,
 * even as two copies of this package, is harmless). A name is skipped when the wasm backend
 * already has that kernel natively, unless it is in {@link WASM_TRAINING_REPLACED_KERNELS}.
 * Kernels are registered for the backend *name*, so this works before or after
 * `tf.setBackend('wasm')`.
 *
 * Importing the entry already calls it; call it yourself only after unregistering kernels.
 *
 * @returns the kernel names registered by this call.
 *
 * @example
 * ```ts
 * import { registerWasmTrainingKernels } from 's3n-layers/wasm-training'; // registers on import
 * registerWasmTrainingKernels(); // [] : nothing left to do
 * ```
 */
export function registerWasmTrainingKernels(): string[] {
  return registerKernelSet(WASM_KERNEL_SET);
}

/**
 * The names of {@link WASM_TRAINING_KERNELS} currently served by this package on 'wasm'
 * (all seven with tfjs-backend-wasm 4.22; fewer if a later version has some natively).
 *
 * @example
 * ```ts
 * import { activeWasmTrainingKernels } from 's3n-layers/wasm-training';
 * console.log(activeWasmTrainingKernels()); // ['Conv2DBackpropFilter', 'Conv2DBackpropInput', ...]
 * ```
 */
export function activeWasmTrainingKernels(): string[] {
  return activeKernels(WASM_KERNEL_SET);
}

registerWasmTrainingKernels();
