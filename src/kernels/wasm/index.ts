/**
 * The kernel set of `s3n-layers/wasm-training` (src/wasm-training.ts, which registers it on
 * import): the training kernels tfjs-backend-wasm lacks, and six that replace slower ones.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelSet } from '../registration';
import { makeConv2DBackpropInputConfig } from './Conv2DBackpropInput';
import { conv2DBackpropFilter } from './Conv2DBackpropFilter';
import { depthwiseConv2dNativeBackpropFilter } from './DepthwiseConv2dNativeBackpropFilter';
import { depthwiseConv2dNativeBackpropInput } from './DepthwiseConv2dNativeBackpropInput';
import { S3N_KERNEL_MARK } from './kernel_utils';
import { makeIdentityConfig } from './Identity';
import { makeMaxPoolGradConfig } from './MaxPoolGrad';
import { makeMeanConfig, makeSumConfig } from './Reduce';
import { makeTileConfig } from './Tile';
import { unsortedSegmentSum } from './UnsortedSegmentSum';

/** Every kernel of the set. */
export const WASM_KERNEL_NAMES: readonly string[] = Object.freeze([
  tf.Conv2DBackpropFilter,
  tf.Conv2DBackpropInput,
  tf.DepthwiseConv2dNativeBackpropFilter,
  tf.DepthwiseConv2dNativeBackpropInput,
  tf.UnsortedSegmentSum,
  tf.Tile,
  tf.Identity,
  tf.MaxPoolGrad,
  tf.Sum,
  tf.Mean,
]);

/** Those that tfjs-backend-wasm 4.22 already has and that are replaced on purpose. */
export const WASM_REPLACED_KERNEL_NAMES: readonly string[] = Object.freeze([
  tf.Conv2DBackpropInput,
  tf.Tile,
  tf.Identity,
  tf.MaxPoolGrad,
  tf.Sum,
  tf.Mean,
]);

function configFor(name: string, previous: tf.KernelConfig | undefined): tf.KernelConfig {
  const kernelFunc = (f: unknown) => f as tf.KernelFunc;
  switch (name) {
    case tf.Conv2DBackpropFilter:
      return { kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc(conv2DBackpropFilter) };
    case tf.Conv2DBackpropInput:
      // Keeps the replaced kernel (and its setup, which binds its wasm function) for the
      // layer shapes where it is the faster one.
      return makeConv2DBackpropInputConfig(previous);
    case tf.DepthwiseConv2dNativeBackpropFilter:
      return { kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc(depthwiseConv2dNativeBackpropFilter) };
    case tf.DepthwiseConv2dNativeBackpropInput:
      return { kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc(depthwiseConv2dNativeBackpropInput) };
    case tf.UnsortedSegmentSum:
      return { kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc(unsortedSegmentSum) };
    case tf.Tile:
      return makeTileConfig(previous);
    case tf.Identity:
      return makeIdentityConfig(previous);
    case tf.MaxPoolGrad:
      return makeMaxPoolGradConfig(previous);
    case tf.Sum:
      return makeSumConfig(previous);
    case tf.Mean:
      return makeMeanConfig(previous);
    default:
      throw new Error(`s3n-layers/wasm-training: unknown kernel '${name}'.`);
  }
}

/** The set: missing kernels are added, the replaced ones replace wasm's own. */
export const WASM_KERNEL_SET: KernelSet = {
  backend: 'wasm',
  names: WASM_KERNEL_NAMES,
  replaces: WASM_REPLACED_KERNEL_NAMES,
  addMissing: true,
  mark: S3N_KERNEL_MARK,
  configFor,
};
