/**
 * Pieces shared by the S3N layers: tfjs-layers types, registration, shape checks.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { activeTape } from '../engine_tape';
import { fail, formatShape } from '../ops/validation';

export type { Kwargs, LayerArgs, Shape };

/**
 * Registers a layer class for (de)serialisation. Class names carry the `S3N` prefix so they
 * cannot collide with another package's layers (a `>` would be safer still but it ends up in
 * tensor names, which rejects it). Registering the same name again, e.g. when both the ESM and
 * the CommonJS build are loaded, replaces the entry and never throws.
 */
export function registerLayer(cls: tf.serialization.SerializableConstructor<tf.serialization.Serializable>): void {
  tf.serialization.registerClass(cls);
}

/** The `training` flag of a layer call (`model.fit`, `apply(x, {training: true})`). */
export function isTraining(kwargs: Kwargs | undefined): boolean {
  return kwargs?.training === true;
}

/** Checks a symbolic or concrete input shape's rank (batch dimension included). */
export function checkShapeRank(fn: string, name: string, shape: Shape, rank: number, layout: string): void {
  if (shape.length !== rank) {
    fail(fn, name, `of rank ${rank} ${layout}`, `shape ${formatShape(shape)}`);
  }
}

/** Returns the list of shapes of a multi-input layer, checking how many there are. */
export function shapeList(fn: string, inputShape: Shape | Shape[], count: number, names: string): Shape[] {
  const list = Array.isArray(inputShape[0]) ? (inputShape as Shape[]) : null;
  if (list === null || list.length !== count) {
    fail(fn, 'inputs', `a list of ${count} tensors (${names})`, list === null ? 'a single tensor' : `${list.length} tensors`);
  }
  return list;
}

/** Returns the tensors of a multi-input call, checking how many there are. */
export function tensorList(fn: string, inputs: tf.Tensor | tf.Tensor[], count: number, names: string): tf.Tensor[] {
  if (!Array.isArray(inputs) || inputs.length !== count) {
    fail(fn, 'inputs', `a list of ${count} tensors (${names})`, Array.isArray(inputs) ? `${inputs.length} tensors` : 'a single tensor');
  }
  return inputs;
}

/** The shape of a single-input layer (tfjs may pass it wrapped in a one-element list). */
export function singleShape(inputShape: Shape | Shape[]): Shape {
  return Array.isArray(inputShape[0]) ? (inputShape as Shape[])[0] : (inputShape as Shape);
}

/** A single tensor from `call` inputs that may arrive wrapped in a one-element list. */
export function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

/**
 * Runs a multi-output layer's `call` once per forward pass.
 *
 * tfjs-layers 4.x executes a functional model output tensor by output tensor, so a layer with
 * several outputs is *called once per output* that the model uses: S3N's head (three
 * outputs) ran three times per forward pass and the sparse attention (two) twice. Besides the
 * wasted work, that was wrong: in the `'random'` mode the two saliency maps came from two
 * different random splits of the peaks, and the head's batch-norm moving statistics were
 * updated three times per step. A multi-output S3N layer keeps the outputs of its last call
 * here and returns them when it is called again in the same circumstances: the very same
 * input tensors (a new forward pass makes new ones, unless the layer reads the model's inputs
 * directly), the same `training` flag, the same gradient tape and the same trainable weight
 * values. So a new gradient computation or an optimizer step always computes again; only a
 * repeated call on the same input tensors with nothing else changed returns the same outputs.
 *
 * The outputs are returned as they are, even if the model has disposed some since: tfjs-layers
 * reads, from a repeated call, only the outputs it does not have yet.
 */
export class CallMemo {
  private key?: string;
  private tape?: unknown;
  private weights: object[] = [];
  private outputs?: tf.Tensor[];

  run(layer: { trainableWeights: Array<{ read(): tf.Tensor }> }, inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs | undefined, compute: () => tf.Tensor[]): tf.Tensor[] {
    const key = `${(Array.isArray(inputs) ? inputs : [inputs]).map((t) => t.id).join(',')}|${isTraining(kwargs)}`;
    const tape = activeTape();
    const weights = layer.trainableWeights.map((w) => w.read().dataId);
    const same = key === this.key && tape === this.tape && weights.length === this.weights.length && weights.every((d, i) => d === this.weights[i]);
    if (same && this.outputs !== undefined) return this.outputs;
    const outputs = compute();
    this.key = key;
    this.tape = tape;
    this.weights = weights;
    this.outputs = outputs;
    return outputs;
  }
}
