/**
 * `ClassResponseMap`: the 1×1 classifier over backbone features (paper sec. 3.1). Its output,
 * one map per class, is what S3N samples from; the spatial mean of the maps is the raw logits,
 * which equals a fully connected layer on average-pooled features (the authors'
 * `raw_classifier`, whose weights their `map_origin` copies).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkInteger, checkBoolean, fail } from '../ops/validation';
import { checkShapeRank, Kwargs, LayerArgs, registerLayer, Shape, single, singleShape } from './common';

/** Constructor arguments of {@link ClassResponseMap} (plus the usual tfjs `LayerArgs`: `name`, …). */
export interface ClassResponseMapArgs extends LayerArgs {
  /** Number of classes C (>= 2). */
  classes: number;
  /** Add a bias per class. Default true. */
  useBias?: boolean;
  /** Seed of the Glorot-uniform kernel initialiser (bias starts at 0). */
  seed?: number;
}

/**
 * Maps features `[batch, height, width, depth]` to class response maps
 * `[batch, height, width, classes]`: `M[b, i, j, c] = Σ_d F[b, i, j, d]·W[d, c] + bias[c]`
 * (§3.1). Weights: `kernel` `[depth, classes]` (Glorot uniform) and `bias` `[classes]` (zeros).
 *
 * The maps feed the sparse attention ({@link SparseAttention}, which resizes them to its grid);
 * their spatial mean is S3N's raw (original-branch) logits.
 *
 * @example
 * ```ts
 * const crm = new ClassResponseMap({ classes: 200 });
 * const maps = crm.apply(features) as tf.Tensor4D;            // [B, h, w, 200]
 * const logits = tf.mean(maps, [1, 2]);                        // raw logits [B, 200]
 * ```
 */
export class ClassResponseMap extends tfl.layers.Layer {
  /** Name under which the class is registered for serialisation: `'S3NClassResponseMap'`. */
  static className = 'S3NClassResponseMap';
  /** Number of classes C: the depth of the output. */
  readonly classes: number;
  /** Whether a per-class bias is added. */
  readonly useBias: boolean;
  /** Seed of the kernel initialiser, if one was given. */
  readonly seed?: number;
  private kernel!: tfl.LayerVariable;
  private bias: tfl.LayerVariable | null = null;

  /** The kernel and bias (built layer): the authors' `raw_classifier`, in the ×10 learning-rate group. */
  get classifierWeights(): tfl.LayerVariable[] {
    if (!this.built) return [];
    return this.bias ? [this.kernel, this.bias] : [this.kernel];
  }

  constructor(args: ClassResponseMapArgs) {
    super(args);
    const fn = 'ClassResponseMap';
    if (args == null || typeof args !== 'object') fail(fn, 'args', 'an object with at least {classes}', String(args));
    checkInteger(fn, 'classes', args.classes, 2);
    this.classes = args.classes;
    this.useBias = args.useBias ?? true;
    checkBoolean(fn, 'useBias', this.useBias);
    this.seed = args.seed;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    checkShapeRank('ClassResponseMap', 'input', shape, 4, '[batch, height, width, depth]');
    const depth = shape[3];
    if (depth == null) fail('ClassResponseMap', 'input', 'a known depth (last dimension)', 'null');
    this.kernel = this.addWeight('kernel', [depth, this.classes], 'float32', tfl.initializers.glorotUniform({ seed: this.seed }));
    if (this.useBias) this.bias = this.addWeight('bias', [this.classes], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    checkShapeRank('ClassResponseMap', 'input', shape, 4, '[batch, height, width, depth]');
    return [shape[0], shape[1], shape[2], this.classes];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor4D;
      const [b, h, w, d] = x.shape;
      const flat = tf.matMul(tf.reshape(x, [b * h * w, d]), this.kernel.read());
      const out = this.bias ? tf.add(flat, this.bias.read()) : flat;
      return tf.reshape(out, [b, h, w, this.classes]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), classes: this.classes, useBias: this.useBias, ...(this.seed !== undefined ? { seed: this.seed } : {}) };
  }
}
registerLayer(ClassResponseMap);
