/**
 * `stopGradient`: the identity in the forward pass; in the backward pass the result is a
 * constant, disconnected from whatever produced `x` (like `torch.no_grad` / `tf.stop_gradient`).
 *
 * tfjs-core has no such op. S3N needs it because the class response maps that drive the
 * sampling are constants for the sampler in the authors' code (computed under `no_grad`). It
 * must cut the tape, not merely return a zero gradient: the peak search behind it uses ops that
 * have no gradient at all (comparisons, top-k) or whose gradient some backends lack (gather
 * needs UnsortedSegmentSum, which wasm does not have), and tfjs differentiates every op on a
 * path from the variables to the loss.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Returns a copy of `x` that the gradient tape does not connect to `x`.
 *
 * The copy is made inside a custom-gradient op that takes no tensor inputs: ops inside a
 * custom op are not recorded, and an op without inputs is reachable from no variable.
 *
 * @param x Any tensor.
 * @returns A new tensor with the same values, shape and dtype (dispose it like any other).
 *
 * @example
 * ```ts
 * const w = tf.variable(tf.scalar(2));
 * const { grads } = tf.variableGrads(() => tf.mul(w, ops.stopGradient(w)) as tf.Scalar); // d/dw = 2, not 4
 * ```
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const detached = tf.customGrad(() => ({ value: tf.clone(x), gradFunc: () => [] }));
  return (detached as unknown as () => T)();
}
