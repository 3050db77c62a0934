/**
 * `Select`: one entry of a stacked output. S3N's multi-result layers ({@link SparseAttention},
 * {@link S3NHead}) return their results stacked along axis 1, so that each is a single-output
 * layer that tfjs-layers' executor runs once per forward pass; `Select` layers split them.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkInteger, fail, formatShape } from '../ops/validation';
import { Kwargs, LayerArgs, registerLayer, Shape, single, singleShape } from './common';

/** Constructor arguments of {@link Select} (plus `LayerArgs`). */
export interface SelectArgs extends LayerArgs {
  /** Which entry of axis 1 to take (>= 0). */
  index: number;
}

/**
 * Input `[batch, n, ...rest]`, output `[batch, ...rest]`: entry `index` of axis 1
 * (`x[:, index]`). Gradients flow to that entry.
 *
 * @example
 * ```ts
 * const maps = new SparseAttention().apply(crms) as tfl.SymbolicTensor;      // [batch, 2, 31, 31]
 * const zoom = new Select({ index: 0 }).apply(maps) as tfl.SymbolicTensor;   // [batch, 31, 31]
 * ```
 */
export class Select extends tfl.layers.Layer {
  /** Name under which the class is registered for serialisation: `'S3NSelect'`. */
  static className = 'S3NSelect';
  /** The entry of axis 1 this layer takes. */
  readonly index: number;

  constructor(args: SelectArgs) {
    super(args);
    if (args == null || typeof args !== 'object') fail('Select', 'args', 'an object with {index}', String(args));
    checkInteger('Select', 'index', args.index, 0);
    this.index = args.index;
  }

  private check(shape: Shape): void {
    if (shape.length < 2) fail('Select', 'input', 'of rank >= 2 [batch, n, ...]', `shape ${formatShape(shape)}`);
    const n = shape[1];
    if (n != null && this.index >= n) fail('Select', 'index', `< ${n}, the size of axis 1 of the input`, String(this.index));
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    this.check(shape);
    return [shape[0], ...shape.slice(2)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const x = single(inputs);
    this.check(x.shape);
    return tf.tidy(() => {
      const begin = x.shape.map((_, i) => (i === 1 ? this.index : 0));
      const size = x.shape.map((d, i) => (i === 1 ? 1 : d));
      return tf.squeeze(tf.slice(x, begin, size), [1]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), index: this.index };
  }
}
registerLayer(Select);
