/**
 * `s3n-layers/cpu-training`: faster training on the pure-JS tfjs 'cpu' backend.
 *
 * tfjs-backend-cpu 4.x computes `Conv2DBackpropFilter` (the filter gradient of every
 * convolution) with one `TensorBuffer.get` call per multiply-add, about 5·10⁶ multiply-adds a
 * second: on small backbones it is most of a training step. Importing this entry replaces that
 * kernel for the 'cpu' backend with one that walks the flat NHWC arrays directly. It computes
 * the same sums in another order (results agree to float32 rounding) and is deterministic.
 * NCHW inputs and non-float32 dtypes still go to tfjs' kernel. Inference is not affected.
 *
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { activeCpuTrainingKernels } from 's3n-layers/cpu-training'; // also loads @tensorflow/tfjs-backend-cpu
 *
 * await tf.setBackend('cpu');
 * console.log(activeCpuTrainingKernels()); // ['Conv2DBackpropFilter']
 * const model = tfl.sequential({
 *   layers: [
 *     tfl.layers.conv2d({ inputShape: [32, 32, 3], filters: 16, kernelSize: 3, activation: 'relu' }),
 *     tfl.layers.globalAveragePooling2d({}),
 *     tfl.layers.dense({ units: 10, activation: 'softmax' }),
 *   ],
 * });
 * model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
 * const xs = tf.randomNormal([8, 32, 32, 3]);
 * const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10);
 * await model.fit(xs, ys, { epochs: 1 }); // the conv's filter gradient runs on the fast kernel
 * ```
 *
 * The `s3n` CLI loads this entry for `--backend cpu`.
 *
 * The replaced kernel stays reachable as `original` on the registered config
 * (`tf.getKernel('Conv2DBackpropFilter', 'cpu')`); to put it back:
 *
 * ```ts
 * const ours = tf.getKernel('Conv2DBackpropFilter', 'cpu') as tf.KernelConfig & { original: tf.KernelFunc };
 * tf.unregisterKernel('Conv2DBackpropFilter', 'cpu');
 * tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'cpu', kernelFunc: ours.original });
 * ```
 *
 * @packageDocumentation
 * @module s3n-layers/cpu-training
 */
// Registers the cpu backend and its kernels first, so that ours replace them (and a later
// import of the cpu backend, already evaluated, cannot overwrite ours).
import '@tensorflow/tfjs-backend-cpu';
import { CPU_KERNEL_NAMES, CPU_KERNEL_SET } from './kernels/cpu';
import { activeKernels, registerKernelSet } from './kernels/registration';

/**
 * Every kernel this entry provides for the 'cpu' backend: `Conv2DBackpropFilter`. Each one
 * replaces the kernel tfjs-backend-cpu ships.
 */
export const CPU_TRAINING_KERNELS: readonly string[] = CPU_KERNEL_NAMES;

/**
 * Registers the kernels of {@link CPU_TRAINING_KERNELS} for the 'cpu' backend, each in place
 * of the cpu backend's own, and returns the names this call registered. The result is empty
 * when they already are: calling it again, or importing the entry twice, even as two copies
 * of this package (e.g. its CommonJS and ES module builds), is harmless. A name is skipped when
 * the cpu backend has no kernel of that name to replace (someone unregistered it).
 * Kernels are registered for the backend *name*, so this works before or after
 * `tf.setBackend('cpu')`.
 *
 * Importing the entry already calls it; call it yourself only after unregistering kernels.
 *
 * @returns the kernel names registered by this call.
 *
 * @example
 * ```ts
 * import { registerCpuTrainingKernels } from 's3n-layers/cpu-training'; // registers on import
 * registerCpuTrainingKernels(); // [] : nothing left to do
 * ```
 */
export function registerCpuTrainingKernels(): string[] {
  return registerKernelSet(CPU_KERNEL_SET);
}

/**
 * The names of {@link CPU_TRAINING_KERNELS} currently served by this package on 'cpu'
 * (all of them once the entry is imported, unless they were unregistered since).
 *
 * @example
 * ```ts
 * import { activeCpuTrainingKernels } from 's3n-layers/cpu-training';
 * console.log(activeCpuTrainingKernels()); // ['Conv2DBackpropFilter']
 * ```
 */
export function activeCpuTrainingKernels(): string[] {
  return activeKernels(CPU_KERNEL_SET);
}

registerCpuTrainingKernels();
