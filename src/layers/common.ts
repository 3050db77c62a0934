/**
 * Pieces shared by the S3N layers: tfjs-layers types, registration, shape checks.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
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
