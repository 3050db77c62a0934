/**
 * Gradients that free memory while they walk the tape backwards.
 *
 * `tf.variableGrads` (tfjs-core 4.x) keeps every intermediate gradient, and every tensor the
 * forward pass saved for the backward pass, alive until the whole backward pass has ended.
 * For a convolutional network the backward pass therefore ends at roughly the forward
 * activations *plus* the gradients of all of them: for a ResNet-50 at 224×224, batch 1, the
 * live tensors peak at about 700 MB, of which about 440 MB are gradients that nothing needs
 * any more. S3N runs its backbone three times, so on the wasm backend (a 4 GB heap) its
 * training step did not fit at all.
 *
 * {@link leanVariableGrads} computes exactly the same gradients (same tape, same gradient
 * functions, same accumulation order) and releases, as soon as a tape node has been
 * differentiated, the gradients of its outputs and the tensors it saved. The peak is then
 * about the forward tape plus one layer's gradients. It walks tfjs-core's tape itself
 * (`tapeGradients` in src/tfjs_internals.ts, checked against `tf.grads` on first use); where
 * that check fails, or inside an outer gradient computation (higher-order gradients), it falls
 * back to `tf.variableGrads`.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { insideGradient, registeredVariables, tapeGradients, tapeInternalsUsable } from '../tfjs_internals';
import { fail } from '../ops/validation';

/** What {@link leanVariableGrads} returns (the shape of `tf.variableGrads`' result). */
export interface LeanGrads {
  /** The value of `f()`, a scalar. */
  value: tf.Scalar;
  /** The gradient for each variable, keyed by variable name (`null` for non-trainable ones passed in `varList`). */
  grads: tf.NamedTensorMap;
}

/**
 * Like `tf.variableGrads(f, varList)`: the value of the scalar `f()` and its gradient with
 * respect to each trainable variable of `varList` (by default every trainable variable),
 * keyed by variable name; non-trainable variables in `varList` map to `null`, as in tfjs.
 * The gradients are identical to tfjs'; the difference is the memory: intermediate
 * gradients and saved activations are released during the backward pass instead of at its
 * end (see the module documentation). {@link S3N.trainStep} uses it.
 *
 * @param f A function returning a scalar loss; it runs once, with the gradient tape on.
 * @param varList The variables to differentiate with respect to.
 * @returns `{value, grads}`; the caller owns all of them.
 *
 * @example
 * ```ts
 * const { value, grads } = leanVariableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
 * optimizer.applyGradients(grads);
 * ```
 */
export function leanVariableGrads(f: () => tf.Scalar, varList?: tf.Variable[]): LeanGrads {
  if (typeof f !== 'function') fail('leanVariableGrads', 'f', 'a function returning a scalar', typeof f);
  if (insideGradient() || !tapeInternalsUsable()) return tf.variableGrads(f, varList);
  const all = varList ?? registeredVariables();
  const trainable = all.filter((v) => v.trainable);
  if (trainable.length === 0) fail('leanVariableGrads', 'varList', 'at least one trainable variable', 'none');

  const out = tapeGradients(f, trainable, undefined, 'leanVariableGrads');
  const y = out.value;
  if (y.rank !== 0) {
    tf.dispose([y, ...out.grads.filter((g): g is tf.Tensor => g != null)]);
    fail('leanVariableGrads', 'f', 'a function returning a scalar tf.Tensor', `one returning a tensor of rank ${y.rank}`);
  }
  const grads: Record<string, tf.Tensor | null> = {};
  trainable.forEach((v, i) => {
    const g = out.grads[i];
    if (g != null) grads[v.name] = g;
  });
  if (Object.keys(grads).length === 0) {
    y.dispose();
    fail('leanVariableGrads', 'f', 'a loss that depends on at least one of the variables', 'no gradient for any of them');
  }
  for (const v of all) if (!v.trainable) grads[v.name] = null;
  return { value: y as tf.Scalar, grads: grads as tf.NamedTensorMap };
}
