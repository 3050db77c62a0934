/**
 * The tfjs environment flag that switches this package's fused JS kernels on and off.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { isFlagRegistered } from '../../tfjs_internals';

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
