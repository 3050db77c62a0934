/**
 * The kernel set of `s3n-layers/cpu-training` (src/cpu-training.ts, which registers it on
 * import): kernels that replace slow ones of tfjs-backend-cpu.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelSet } from '../registration';
import { makeConv2DBackpropFilterConfig } from './Conv2DBackpropFilter';

/** Marker on every kernelFunc `s3n-layers/cpu-training` registers (shared across duplicate module copies). */
export const S3N_CPU_KERNEL_MARK = Symbol.for('s3n-layers.cpu-training.kernel');

/** Every kernel of the set: `Conv2DBackpropFilter`, which replaces tfjs-backend-cpu's. */
export const CPU_KERNEL_NAMES: readonly string[] = Object.freeze([tf.Conv2DBackpropFilter]);

function configFor(name: string, previous: tf.KernelConfig | undefined): tf.KernelConfig {
  switch (name) {
    case tf.Conv2DBackpropFilter:
      return makeConv2DBackpropFilterConfig(previous);
    default:
      throw new Error(`s3n-layers/cpu-training: unknown kernel '${name}'.`);
  }
}

/** The set: each kernel replaces the cpu backend's own, none is added where it has none. */
export const CPU_KERNEL_SET: KernelSet = {
  backend: 'cpu',
  names: CPU_KERNEL_NAMES,
  replaces: CPU_KERNEL_NAMES,
  addMissing: false,
  mark: S3N_CPU_KERNEL_MARK,
  configFor,
};
