/**
 * `SparseAttention`: class response maps → discriminative and complementary saliency maps
 * (paper sec. 3.1–3.2; the authors' `generate_map` up to the sampling grids). Holds the two
 * learnable radii, each a weight of its own so an optimiser can give it its own learning rate.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectiveAttention, SelectiveAttentionOptions, SelectiveAttentionResult } from '../ops/selective_sampling';
import { ATTENTION_MODES, AttentionMode } from '../ops/sparse_attention';
import { checkInteger, checkOneOf, checkPositive, fail } from '../ops/validation';
import { checkShapeRank, isTraining, Kwargs, LayerArgs, registerLayer, Shape, single, singleShape } from './common';
import { S3N_DEFAULTS as D } from '../defaults';

/** Constructor arguments of {@link SparseAttention} (plus `LayerArgs`); every one has S3N's default. */
export interface SparseAttentionArgs extends LayerArgs {
  /** Side of the square saliency maps; the class response maps are resized to it (bilinear, corners aligned). Default 31. */
  gridSize?: number;
  /** Initial discriminative radius, a fraction of `gridSize`. Default 0.09. */
  radius?: number;
  /** Initial complementary radius. Default 0.3. */
  radiusInv?: number;
  /** Constant floor of both maps. Default 0.09. */
  baseRatio?: number;
  /** Gate: how many top classes take part (default 5), see {@link ops.decisionMap}. */
  topK?: number;
  /** Gate: entropy threshold δ (default 0.2), see {@link ops.DecisionMapOptions.entropyThreshold}. */
  entropyThreshold?: number;
  /** Mode used when called with `training: true`. Default `'all'` (the first stage of the authors' schedule). */
  trainingMode?: AttentionMode;
  /** Mode used otherwise. Default `'extreme'` (the authors' evaluation after the first stage). */
  inferenceMode?: AttentionMode;
  /** Seed of the `'random'` draws: call n uses `seed + n`. Unseeded by default. */
  seed?: number;
}

/**
 * Maps class response maps `[batch, height, width, classes]` to the two saliency maps stacked
 * along axis 1, `[batch, 2, gridSize, gridSize]`: index 0 the discriminative (zoom) map, 1 the
 * complementary (inverse) one (split them with {@link Select}; `S3N.create` does). One output,
 * so that tfjs-layers runs the layer once per forward pass and both maps come from the same
 * `'random'` draw. Gradients reach the radius weights; the class response maps are constants
 * here, as in the authors' code.
 *
 * A thin wrapper of {@link ops.selectiveAttention} (§3.1–3.2: resize to `gridSize`, entropy
 * gate, peaks, one Gaussian per peak) with the layer's radii and the mode of the call:
 * `trainingMode` when called with `training: true` (as `model.fit` and {@link S3N.trainStep}
 * do), else `inferenceMode`. Weights: `radius` and `radius_inv`, each `[1]`, initialised to
 * `radius` and `radiusInv` (0.09 and 0.3).
 *
 * @example
 * ```ts
 * const attention = new SparseAttention({ gridSize: 31 });
 * const maps = attention.apply(crms, { training: true }) as tf.Tensor4D; // [batch, 2, 31, 31]
 * const [zoom, inverse] = tf.unstack(maps, 1);
 * ```
 */
export class SparseAttention extends tfl.layers.Layer {
  /** Name under which the class is registered for serialisation: `'S3NSparseAttention'`. */
  static className = 'S3NSparseAttention';
  /** Side of the square saliency maps (31 in S3N). */
  readonly gridSize: number;
  /** Initial value of the `radius` weight (its current value is in the weight). */
  readonly initialRadius: number;
  /** Initial value of the `radius_inv` weight. */
  readonly initialRadiusInv: number;
  /** Constant floor of both saliency maps (not learnt). */
  readonly baseRatio: number;
  /** Gate: how many top classes take part. */
  readonly topK: number;
  /** Gate: entropy threshold δ. */
  readonly entropyThreshold: number;
  /** Attention mode of calls with `training: true`; change it with {@link SparseAttention.setModes}. */
  trainingMode: AttentionMode;
  /** Attention mode of the other calls; change it with {@link SparseAttention.setModes}. */
  inferenceMode: AttentionMode;
  /** Seed of the `'random'` draws, if one was given. */
  readonly seed?: number;
  private calls = 0;
  private radius!: tfl.LayerVariable;
  private radiusInv!: tfl.LayerVariable;

  constructor(args: SparseAttentionArgs = {}) {
    super(args);
    const fn = 'SparseAttention';
    this.gridSize = args.gridSize ?? D.gridSize;
    checkInteger(fn, 'gridSize', this.gridSize, 3);
    this.initialRadius = args.radius ?? D.radius;
    checkPositive(fn, 'radius', this.initialRadius);
    this.initialRadiusInv = args.radiusInv ?? D.radiusInv;
    checkPositive(fn, 'radiusInv', this.initialRadiusInv);
    this.baseRatio = args.baseRatio ?? D.baseRatio;
    checkPositive(fn, 'baseRatio', this.baseRatio);
    this.topK = args.topK ?? D.topK;
    checkInteger(fn, 'topK', this.topK, 1);
    this.entropyThreshold = args.entropyThreshold ?? D.entropyThreshold;
    checkPositive(fn, 'entropyThreshold', this.entropyThreshold, true);
    this.trainingMode = args.trainingMode ?? D.trainingMode;
    this.inferenceMode = args.inferenceMode ?? D.inferenceMode;
    checkOneOf(fn, 'trainingMode', this.trainingMode, ATTENTION_MODES);
    checkOneOf(fn, 'inferenceMode', this.inferenceMode, ATTENTION_MODES);
    if (args.seed !== undefined) checkInteger(fn, 'seed', args.seed, 0);
    this.seed = args.seed;
  }

  /**
   * How many `'random'` draws this layer has made; call n uses `seed + n`. Save it with a
   * checkpoint and restore it to resume a seeded run exactly.
   */
  get drawCount(): number {
    return this.calls;
  }

  /** Sets the number of draws made so far (an integer >= 0), e.g. when resuming from a checkpoint. */
  set drawCount(n: number) {
    checkInteger('SparseAttention', 'drawCount', n, 0);
    this.calls = n;
  }

  /** Sets the modes used in training and in inference (the three-stage schedule calls this). */
  setModes(modes: { training?: AttentionMode; inference?: AttentionMode }): void {
    if (modes.training !== undefined) checkOneOf('SparseAttention.setModes', 'training', modes.training, ATTENTION_MODES);
    if (modes.inference !== undefined) checkOneOf('SparseAttention.setModes', 'inference', modes.inference, ATTENTION_MODES);
    this.trainingMode = modes.training ?? this.trainingMode;
    this.inferenceMode = modes.inference ?? this.inferenceMode;
  }

  override build(inputShape: Shape | Shape[]): void {
    this.checkInputShape(singleShape(inputShape));
    this.radius = this.addWeight('radius', [1], 'float32', tfl.initializers.constant({ value: this.initialRadius }));
    this.radiusInv = this.addWeight('radius_inv', [1], 'float32', tfl.initializers.constant({ value: this.initialRadiusInv }));
    this.built = true;
  }

  private checkInputShape(shape: Shape): void {
    checkShapeRank('SparseAttention', 'input', shape, 4, '[batch, height, width, classes]');
    const classes = shape[3];
    if (classes != null && classes < 2) fail('SparseAttention', 'input', 'class response maps with at least 2 classes', `${classes}`);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    this.checkInputShape(shape);
    return [shape[0], 2, this.gridSize, this.gridSize];
  }

  /** The radius weights `[radius, radius_inv]` (built layer), each `[1]`: the authors' ×1e-4 learning-rate group. */
  get radiusWeights(): tfl.LayerVariable[] {
    return this.built ? [this.radius, this.radiusInv] : [];
  }

  /**
   * The options of {@link ops.selectiveAttention} this layer uses in `mode`, with its current
   * radii. `seed` is the seed of the layer's next `'random'` draw (asking does not use it up).
   */
  attentionOptions(mode: AttentionMode): SelectiveAttentionOptions {
    return {
      gridSize: this.gridSize,
      topK: this.topK,
      entropyThreshold: this.entropyThreshold,
      mode,
      radius: this.radius.read(),
      radiusInv: this.radiusInv.read(),
      baseRatio: this.baseRatio,
      seed: mode === 'random' && this.seed !== undefined ? this.seed + this.calls : undefined,
    };
  }

  /**
   * The full result (decision map and peaks included) for inspection and pictures: what a call
   * computes, without the layer machinery and without using up a `'random'` draw (it shows the
   * draw the next call would make; {@link drawCount} is unchanged). Builds the layer on first use.
   *
   * @param classResponseMaps `[batch, height, width, classes]`.
   * @param options `training` picks the mode as a call does; `mode` overrides it.
   * @returns the saliency maps `zoom` and `inverse`, the `peaks` and the `decision` map, each
   *   `[batch, gridSize, gridSize]`.
   */
  attend(classResponseMaps: tf.Tensor4D, options: { training?: boolean; mode?: AttentionMode } = {}): SelectiveAttentionResult {
    if (!this.built) this.build(classResponseMaps.shape);
    return selectiveAttention(classResponseMaps, this.attentionOptions(this.modeOf(options)));
  }

  private modeOf(options: { training?: boolean; mode?: AttentionMode }): AttentionMode {
    return options.mode ?? (options.training ? this.trainingMode : this.inferenceMode);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const mode = this.modeOf({ training: isTraining(kwargs) });
      const { zoom, inverse } = selectiveAttention(single(inputs) as tf.Tensor4D, this.attentionOptions(mode));
      if (mode === 'random' && this.seed !== undefined) this.calls++;
      return tf.stack([zoom, inverse], 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      gridSize: this.gridSize,
      radius: this.initialRadius,
      radiusInv: this.initialRadiusInv,
      baseRatio: this.baseRatio,
      topK: this.topK,
      entropyThreshold: this.entropyThreshold,
      trainingMode: this.trainingMode,
      inferenceMode: this.inferenceMode,
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
    };
  }
}
registerLayer(SparseAttention);
