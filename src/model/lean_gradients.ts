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
 * about the forward tape plus one layer's gradients. It relies on the tape structure of
 * tfjs-core's engine (`startTape`, `endTape`, `state.activeTape`, tape nodes with `inputs`,
 * `outputs`, `gradient` and `saved`), which has been stable since tfjs 1.x; where that is
 * missing, or inside an outer gradient computation (higher-order gradients), it falls back to
 * `tf.variableGrads`.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { tapeEngine, TapeEngine, TapeNode } from '../engine_tape';
import { fail } from '../ops/validation';

/**
 * The nodes of `tape` on a path from one of `xs` to `y`, in tape order, each with only the
 * inputs that depend on `xs` (the ones that receive a gradient).
 */
function nodesFromXsToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const dependsOnX = new Set<number>(xs.map((x) => x.id));
  const reachedFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => dependsOnX.has(t.id))) {
      reachedFromX.add(node.id);
      for (const o of node.outputs) dependsOnX.add(o.id);
    }
  }
  const leadsToY = new Set<number>([y.id]);
  const reachesY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => leadsToY.has(o.id))) {
      reachesY.add(node.id);
      for (const t of Object.values(node.inputs)) leadsToY.add(t.id);
    }
  }
  const path: TapeNode[] = [];
  for (const node of tape) {
    if (!reachedFromX.has(node.id) || !reachesY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (dependsOnX.has(t.id)) inputs[name] = t;
    path.push({ ...node, inputs });
  }
  return path;
}

/**
 * Walks `path` backwards from `dy` (the gradient of `y`), accumulating the gradient of every
 * tensor by id, and disposes a gradient once the node that produced its tensor has been
 * differentiated (no earlier node can add to it), and (when `releaseSaved`) the node's saved tensors.
 * Gradient functions may return their `dy` unchanged, so a tensor can be held by several
 * entries: it is disposed when the last one lets go.
 */
function backpropagate(
  engine: TapeEngine,
  path: TapeNode[],
  y: tf.Tensor,
  dy: tf.Tensor,
  keepIds: Set<number>,
  releaseSaved: boolean,
): Map<number, tf.Tensor> {
  const grads = new Map<number, tf.Tensor>([[y.id, dy]]);
  const holders = new Map<tf.Tensor, number>([[dy, 1]]);
  const hold = (t: tf.Tensor) => holders.set(t, (holders.get(t) ?? 0) + 1);
  const release = (t: tf.Tensor) => {
    const n = (holders.get(t) ?? 1) - 1;
    if (n > 0) {
      holders.set(t, n);
      return;
    }
    holders.delete(t);
    if (t !== dy) t.dispose();
  };
  for (let i = path.length - 1; i >= 0; i--) {
    const node = path[i];
    if (node.gradient == null) throw new Error(`leanVariableGrads: no gradient is registered for kernel '${node.kernelName}'.`);
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
    const inputGradients = node.gradient(dys);
    for (const [name, x] of Object.entries(node.inputs)) {
      if (!(name in inputGradients)) {
        throw new Error(`leanVariableGrads: the gradient of kernel '${node.kernelName}' has no entry for input '${name}'.`);
      }
      const dx = engine.tidy(() => inputGradients[name]());
      if (dx.dtype !== 'float32') {
        throw new Error(`leanVariableGrads: the gradient of input '${name}' of kernel '${node.kernelName}' must be float32, but got ${dx.dtype}.`);
      }
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(
          `leanVariableGrads: the gradient of input '${name}' of kernel '${node.kernelName}' must have shape [${x.shape}], but got [${dx.shape}].`,
        );
      }
      const previous = grads.get(x.id);
      if (previous == null) {
        grads.set(x.id, dx);
        hold(dx);
      } else {
        const sum = tf.add(previous, dx);
        grads.set(x.id, sum);
        hold(sum);
        release(previous);
        if (!holders.has(dx)) dx.dispose();
      }
    }
    for (const o of node.outputs) {
      const g = grads.get(o.id);
      if (g == null || keepIds.has(o.id)) continue;
      grads.delete(o.id);
      release(g);
    }
    if (releaseSaved) for (const t of node.saved ?? []) t.dispose();
  }
  return grads;
}

/**
 * The core of {@link leanVariableGrads}: runs `f` with a fresh gradient tape, then walks it
 * back from `dy` (ones when omitted) and returns `f()`'s value and the gradient of each of
 * `xs` (`undefined` where `f()` does not depend on it). The backward pass runs in a tidy, so
 * only the returned tensors survive it.
 *
 * It may run inside the backward pass of another gradient computation (tfjs' or its own):
 * the engine's tape field is shared, so the outer tape is put back when it ends. That is what
 * {@link S3N.setGradCheckpointing} needs: its backbone is re-run, with a tape, while the
 * outer backward pass is in progress. Throws when `f` does not return a tensor.
 *
 * @internal
 */
export function tapeGradients(
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  caller = 'tapeGradients',
): { value: tf.Tensor; grads: Array<tf.Tensor | undefined> } {
  const engine = tapeEngine();
  if (engine == null) throw new Error(`${caller}: this version of tfjs-core has no gradient tape to walk.`);
  const outerTape = engine.state.activeTape;
  // startTape only makes a new tape at depth 0; inside an outer recording, the nodes of `f`
  // would be appended to the outer tape, and its saved tensors released with it.
  const y = engine.scopedRun(
    () => engine.startTape(),
    () => engine.endTape(),
    () => engine.tidy('forward', f),
  );
  const tape = engine.state.activeTape ?? [];
  const ownTape = tape !== outerTape;
  const releaseTape = () => {
    if (!ownTape) return;
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = outerTape;
  };
  if (!(y instanceof tf.Tensor)) {
    releaseTape();
    fail(caller, 'f', 'a function returning a tf.Tensor', `one returning ${typeof y}`);
  }
  try {
    const path = nodesFromXsToY(tape, xs, y);
    const keepIds = new Set(xs.map((x) => x.id));
    const byIndex = engine.tidy('backward', () => {
      // Saved tensors of an outer tape may still be needed by the outer gradient computation.
      const all = backpropagate(engine, path, y, dy ?? tf.onesLike(y), keepIds, ownTape);
      const found: Record<number, tf.Tensor> = {};
      xs.forEach((x, i) => {
        const g = all.get(x.id);
        if (g != null) found[i] = g;
      });
      return found;
    });
    return { value: y, grads: xs.map((_, i) => byIndex[i]) };
  } finally {
    releaseTape();
  }
}

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
  const engine = tapeEngine();
  if (engine == null || engine.state.gradientDepth > 0) return tf.variableGrads(f, varList);
  const all = varList ?? Object.values(engine.registeredVariables);
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
