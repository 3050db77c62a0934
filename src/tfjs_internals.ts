/**
 * The one module of this package that touches private parts of tfjs. Everything else uses
 * tfjs' public API, or one of the functions below.
 *
 * Mirrors, as of tfjs 4.22 (the version the peer range `~4.22` allows and CI tests):
 * - tfjs-core `src/engine.ts`: `Engine.state` (`activeTape`, `gradientDepth`, `kernelDepth`),
 *   `startTape`, `endTape`, `scopedRun`, `tidy`, `registeredVariables`;
 * - tfjs-core `src/tape.ts`: the tape nodes (`inputs`, `outputs`, `gradient`, `saved`) and
 *   their backward walk (`getFilteredNodesXToY`, `backpropagateGradients`), re-implemented
 *   here by {@link tapeGradients} so that it can free memory as it goes;
 * - tfjs-core `src/environment.ts`: `Environment.flagRegistry`;
 * - tfjs-layers `src/engine/topology.ts`: `Layer._refCount`;
 * - tfjs-layers `src/layers/normalization.ts`: `BatchNormalization.momentum`.
 *
 * A tfjs release that changes the tape would give wrong gradients without an error, so the
 * first use of the tape runs a self-check ({@link tapeInternalsUsable}): a tiny tape with
 * fan-out, saved inputs and saved outputs, whose gradients must be bit-equal to `tf.grads`',
 * with no tensor leaked and the engine's tape put back. If it fails, callers fall back to the
 * public `tf.variableGrads` (and no gradient checkpointing) with a one-time warning.
 *
 * @internal
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fail } from './ops/validation';

/** The tfjs version these internals mirror. */
export const MIRRORED_TFJS_VERSION = '4.22';

/** One entry of tfjs-core's gradient tape (tfjs-core `src/tape.ts`, `TapeNode`). */
export interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The parts of tfjs-core's `Engine` used here. */
export interface TapeEngine {
  state: { activeTape: TapeNode[] | null; gradientDepth: number; kernelDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  registeredVariables: Record<string, tf.Variable>;
}

let engineOverride: unknown = null;

/**
 * Makes this module see `engine` instead of `tf.engine()` (null: back to tfjs' own), so tests
 * can simulate a tfjs whose internals differ; tfjs' public functions keep using the real one.
 * @internal
 */
export function setEngineForTesting(engine: unknown): void {
  engineOverride = engine;
  resetTapeSelfCheck();
}

/** The engine with its tape, or null when this tfjs-core lacks the parts used here. */
export function tapeEngine(): TapeEngine | null {
  const engine = (engineOverride ?? tf.engine()) as unknown as Partial<TapeEngine>;
  const ok =
    typeof engine.startTape === 'function' &&
    typeof engine.endTape === 'function' &&
    typeof engine.scopedRun === 'function' &&
    engine.state != null &&
    typeof engine.state.gradientDepth === 'number';
  return ok ? (engine as TapeEngine) : null;
}

/** Whether a gradient tape is recording ops called now (not from inside a kernel). */
export function isTapeRecording(): boolean {
  const engine = tapeEngine();
  return engine != null && engine.state.gradientDepth > 0 && engine.state.kernelDepth === 0;
}

/** Whether an outer gradient computation is in progress (higher-order gradients). */
export function insideGradient(): boolean {
  const engine = tapeEngine();
  return engine != null && engine.state.gradientDepth > 0;
}

/** Every variable registered with the engine (what `tf.variableGrads` uses by default). */
export function registeredVariables(): tf.Variable[] {
  const engine = tf.engine() as unknown as Partial<TapeEngine>;
  return Object.values(engine.registeredVariables ?? {});
}

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
  const releaseTape = (tape: TapeNode[] | null) => {
    if (tape == null || tape === outerTape) return;
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = outerTape;
  };
  let y: tf.Tensor;
  try {
    y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
  } catch (e) {
    releaseTape(engine.state.activeTape); // an error in f: free what its tape saved
    throw e;
  }
  const tape = engine.state.activeTape ?? [];
  const ownTape = tape !== outerTape;
  if (!(y instanceof tf.Tensor)) {
    releaseTape(tape);
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
    releaseTape(tape);
  }
}


/**
 * Whether the active backend can read a tensor to the host synchronously (`dataSync`): false
 * on webgpu, where tfjs-backend-webgpu 4.22 reads through an OffscreenCanvas, which Node does
 * not have and which in Chromium loses the device. What needs such a read is off there: the
 * `validateLabels` and `skipNonFinite` guards of `S3N.trainStep` by default, and the value
 * comparison of the tape self-check.
 */
export function canReadSync(): boolean {
  return tf.getBackend() !== 'webgpu';
}

let tapeCheck: string | null | undefined; // undefined: not run yet; null: passed; string: why it failed
let warned = false;

/** The tiny tape of the self-check: fan-out of x, relu (saves its input), exp (saves its output). */
function checkFunction(x: tf.Tensor, w: tf.Tensor): tf.Scalar {
  const h = tf.relu(tf.mul(x, w));
  return tf.sum(tf.add(tf.mul(h, x), tf.add(tf.exp(tf.mul(w, 0.5)), tf.square(tf.sub(x, w))))) as tf.Scalar;
}

function runSelfCheck(): string | null {
  const engine = tapeEngine();
  if (engine == null) return 'tf.engine() has no startTape, endTape, scopedRun or state.gradientDepth';
  const x = tf.tensor1d([0.5, -1.5, 2, 0.25]);
  const w = tf.tensor1d([1.5, 0.25, -2, 3]);
  const before = tf.memory().numTensors;
  try {
    const ours = tapeGradients(() => checkFunction(x, w), [x, w], undefined, 'self-check');
    const leaked = tf.memory().numTensors - before - 1 - ours.grads.filter((g) => g != null).length;
    const restored = engine.state.activeTape == null;
    const reference = tf.grads((a: tf.Tensor, b: tf.Tensor) => checkFunction(a, b))([x, w]);
    const value = tf.tidy(() => checkFunction(x, w));
    // Without synchronous reads (webgpu) the values are not compared: the walk is the same code
    // on every backend, and the tests compare them on cpu and wasm.
    const same = (a: tf.Tensor | undefined, b: tf.Tensor) => a != null && (!canReadSync() || tf.util.arraysEqual(Array.from(a.dataSync()), Array.from(b.dataSync())));
    const ok = same(ours.value, value) && same(ours.grads[0], reference[0]) && same(ours.grads[1], reference[1]);
    tf.dispose([ours.value, ...ours.grads.filter((g): g is tf.Tensor => g != null), ...reference, value]);
    if (!ok) return 'the gradients of a test tape differ from tf.grads';
    if (leaked !== 0) return `walking a test tape leaked ${leaked} tensors`;
    if (!restored) return 'the engine did not get its tape back';
    return null;
  } catch (e) {
    return `walking a test tape threw: ${(e as Error).message}`;
  } finally {
    tf.dispose([x, w]);
  }
}

/**
 * Whether {@link tapeGradients} can be trusted with this tfjs: runs the self-check on first use
 * (not from inside a gradient computation, where it cannot run; then the answer is false for
 * now and the check runs later), and warns once when it fails.
 */
export function tapeInternalsUsable(): boolean {
  if (tapeCheck === undefined) {
    if (insideGradient()) return false;
    tapeCheck = runSelfCheck();
  }
  if (tapeCheck !== null && !warned) {
    warned = true;
    console.warn(
      `s3n-layers: this tfjs-core (${tf.version_core}) differs from the ${MIRRORED_TFJS_VERSION} gradient tape it mirrors ` +
        `(${tapeCheck}). Using tf.variableGrads instead: the same gradients with more memory, and no gradient checkpointing.`,
    );
  }
  return tapeCheck === null;
}

/** Forgets the self-check's result (tests simulate a changed tfjs with it). @internal */
export function resetTapeSelfCheck(): void {
  tapeCheck = undefined;
  warned = false;
}

/** Whether the tfjs environment flag `name` is registered (`Environment.flagRegistry`). */
export function isFlagRegistered(name: string): boolean {
  const registry = (tf.env() as unknown as { flagRegistry?: Record<string, unknown> }).flagRegistry;
  return registry != null && name in registry;
}

/**
 * Disposes a layer until tfjs-layers' reference count (`Layer._refCount`, one per call of the
 * layer in a model) reaches 0. For a layer called several times (S3N's backbone and sampler).
 */
export function disposeAllReferences(layer: tfl.layers.Layer): void {
  const counted = layer as unknown as { _refCount: number | null };
  while (counted._refCount !== null && counted._refCount > 0) layer.dispose();
}

/**
 * Sets the moving-average momentum of a built `BatchNormalization` layer (a private readonly
 * field in tfjs-layers). For a user's backbone, whose batch-norm layers were made with Keras'
 * 0.99 and should follow the authors' PyTorch 0.1 (0.9 here).
 */
export function setBatchNormMomentum(layer: tfl.layers.Layer, momentum: number): void {
  if (layer.getClassName() !== 'BatchNormalization') fail('setBatchNormMomentum', 'layer', 'a BatchNormalization layer', layer.getClassName());
  const bn = layer as unknown as { momentum: number };
  if (typeof bn.momentum !== 'number') fail('setBatchNormMomentum', 'layer', `a tfjs-layers ${MIRRORED_TFJS_VERSION} BatchNormalization (with a momentum field)`, 'none');
  bn.momentum = momentum;
}
