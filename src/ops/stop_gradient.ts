/**
 * `stopGradient`: the identity in the forward pass, a zero gradient in the backward pass.
 *
 * tfjs-core has no such op. S3N needs it because the class response maps that drive the
 * sampling are constants for the sampler in the authors' code (computed under `no_grad`), and
 * because the path from the maps to the peaks (top-k, gather, comparisons) must not ask a
 * backend for gradients it cannot compute (wasm has no UnsortedSegmentSum for gather's grad).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Returns `x` unchanged; gradients do not flow back through it. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return f(x) as T;
}
