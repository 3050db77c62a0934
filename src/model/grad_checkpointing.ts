/**
 * Gradient checkpointing (as `torch.utils.checkpoint` and timm's `set_grad_checkpointing`) for
 * a tfjs-layers model called inside a training step.
 *
 * While a gradient tape records, a checkpointed model keeps only its input: the activations
 * of its forward pass are released at once, and the backward pass runs the model a second
 * time, with its own tape, to get the gradients of its input and weights. A training step
 * then costs one more forward pass of that model, and its memory holds one model's
 * activations at a time instead of all of them. S3N calls its backbone three times, so this
 * divides the backbone's share of the peak by about three ({@link S3N.setGradCheckpointing}).
 *
 * The second run must compute what the first did: the model must be deterministic in
 * training mode (no dropout or noise layers, checked), and the moving statistics that batch
 * normalisation updates during the second run are put back, so they are updated once.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { isTapeRecording, tapeGradients, tapeInternalsUsable } from '../tfjs_internals';
import { fail } from '../ops/validation';

type Kwargs = Record<string, unknown>;
type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | tf.Tensor[];

/** Layers whose training-mode output is random, so that a second run would differ. */
const RANDOM_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

/** Marks a model's own `call` that checkpoints (it wraps the prototype's `call`). */
const CHECKPOINTED = Symbol.for('s3n-layers.gradCheckpointing');

function randomLayers(model: tfl.LayersModel): string[] {
  const found: string[] = [];
  const visit = (layer: tfl.layers.Layer) => {
    if (RANDOM_LAYERS.has(layer.getClassName())) found.push(layer.name);
    if (layer instanceof tfl.LayersModel) layer.layers.forEach(visit);
  };
  model.layers.forEach(visit);
  return found;
}

/**
 * `run(x)` whose backward pass recomputes `run` instead of keeping its activations.
 * `weights` are the trainable variables `run` reads (they get gradients through this op);
 * `state` are the non-trainable ones it may update (restored after the recomputation).
 */
function recomputedOnBackward(run: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, weights: tf.Variable[], state: tfl.LayerVariable[]): tf.Tensor {
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as tf.Tensor;
    save([input]);
    return {
      value: run(input),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const inputs = [saved[0], ...weights];
        const before = state.map((v) => tf.clone(v.read()));
        try {
          const { value, grads } = tapeGradients(() => run(saved[0]), inputs, dy, 'gradient checkpointing');
          value.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(inputs[i]));
        } finally {
          state.forEach((v, i) => v.write(before[i]));
          tf.dispose(before);
        }
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, ...weights);
}

/**
 * Turns gradient checkpointing of `model` on or off. When on, every call of the model while a
 * gradient tape records (e.g. inside `tf.variableGrads` or {@link leanVariableGrads}) keeps
 * only its input and recomputes its activations in the backward pass; other calls (inference,
 * `predict`) are unchanged. The gradients are the same as without checkpointing.
 *
 * @param model A single-input, single-output model, deterministic in training mode.
 * @param enable On (default) or off.
 * @throws when the model has a dropout or noise layer, or more than one input or output.
 *
 * @example
 * ```ts
 * setGradCheckpointing(backbone, true);
 * const { value, grads } = leanVariableGrads(() => loss(backbone.apply(x, { training: true }) as tf.Tensor));
 * ```
 */
export function setGradCheckpointing(model: tfl.LayersModel, enable = true): void {
  const fn = 'setGradCheckpointing';
  if (!(model instanceof tfl.LayersModel)) fail(fn, 'model', 'a tf.LayersModel', typeof model);
  const own = model as unknown as { call?: Call & { [CHECKPOINTED]?: boolean } };
  const on = isGradCheckpointed(model);
  if (!enable) {
    if (on) delete own.call; // back to the prototype's call
    return;
  }
  if (on) return;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    fail(fn, 'model', 'a model with one input and one output', `${model.inputs.length} inputs and ${model.outputs.length} outputs`);
  }
  const random = randomLayers(model);
  if (random.length > 0) {
    fail(fn, 'model', 'deterministic in training mode (its recomputation must match)', `the random layers ${random.join(', ')}`);
  }
  const original = model.call;
  const call = function (this: tfl.LayersModel, inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    // Without a trustworthy tape walk (tfjs_internals' self-check), run without checkpointing.
    if (!isTapeRecording() || !tapeInternalsUsable()) return original.call(this, inputs, kwargs);
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const run = (input: tf.Tensor) => {
      const y = original.call(this, input, kwargs);
      return Array.isArray(y) ? y[0] : y;
    };
    const weights = this.trainableWeights.map((w) => w.read() as tf.Variable);
    return recomputedOnBackward(run, x, weights, this.nonTrainableWeights);
  } as Call & { [CHECKPOINTED]?: boolean };
  call[CHECKPOINTED] = true;
  own.call = call;
}

/** Whether {@link setGradCheckpointing} is on for `model`. */
export function isGradCheckpointed(model: tfl.LayersModel): boolean {
  const own = model as unknown as { call: Call & { [CHECKPOINTED]?: boolean } };
  return Object.prototype.hasOwnProperty.call(own, 'call') && own.call[CHECKPOINTED] === true;
}
