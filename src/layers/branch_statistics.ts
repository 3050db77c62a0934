/**
 * `BranchStatistics`: S3N's shared backbone run with one branch's own batch-norm moving
 * statistics (beyond the paper: {@link S3NOptions.branchStatistics} `'per-branch'`).
 *
 * S3N calls one backbone on the image, on the zoomed and on the complementary image. With
 * `'per-branch'` the image branch calls the backbone itself (the backbone's own moving
 * statistics are that branch's), and each sampled branch calls it through a `BranchStatistics`
 * layer, which holds a copy of every moving mean and variance of the backbone's
 * BatchNormalization layers as its own non-trainable weights. Around the backbone call the
 * layer puts its copies into the backbone's variables and takes them back afterwards (tfjs
 * variables share their data when written, so nothing is copied): the backbone's
 * BatchNormalization layers then normalise with this branch's statistics at inference, and in
 * training update them (with their own momentum) from this branch's batches only. The trainable
 * weights (convolutions, gammas, betas) are the backbone's, shared by the three branches and
 * differentiated as before.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describeValue, fail, formatShape } from '../ops/validation';
import { Kwargs, LayerArgs, registerLayer, Shape, single, singleShape } from './common';

/** The two sampled branches that get their own statistics. */
export const SAMPLED_BRANCHES = ['discriminative', 'complementary'] as const;

/** A sampled branch of S3N. */
export type SampledBranch = (typeof SAMPLED_BRANCHES)[number];

/** One moving statistic: the backbone variable's `originalName` (its name in saved weights) and shape. */
export interface StatisticSpec {
  /** `originalName` of the backbone's variable, e.g. `'stem_bn/moving_mean'`. */
  name: string;
  shape: number[];
}

/** Constructor arguments of {@link BranchStatistics} (plus `LayerArgs`). */
export interface BranchStatisticsArgs extends LayerArgs {
  /** The branch whose statistics the layer holds. */
  branch: SampledBranch;
  /** The backbone's moving statistics, in {@link movingStatistics} order. */
  statistics: StatisticSpec[];
  /** The backbone's output shape `[batch, h, w, depth]` (batch `null`). */
  featureShape: (number | null)[];
}

/**
 * The moving mean and variance of every BatchNormalization layer of a built model (nested
 * models included, each layer once), in layer order: `[mean₁, variance₁, mean₂, …]`. A tfjs
 * BatchNormalization layer's weights end with its moving mean and variance (after gamma and
 * beta, trainable or frozen).
 */
export function movingStatistics(model: tfl.LayersModel): tfl.LayerVariable[] {
  const found: tfl.LayerVariable[] = [];
  const seen = new Set<tfl.layers.Layer>();
  const visit = (layers: tfl.layers.Layer[]) => {
    for (const layer of layers) {
      if (seen.has(layer)) continue;
      seen.add(layer);
      if (layer.getClassName() === 'BatchNormalization') {
        const ws = layer.weights;
        const [mean, variance] = ws.slice(-2);
        if (ws.length < 2 || !/moving_mean$/.test(mean.originalName) || !/moving_variance$/.test(variance.originalName)) {
          fail('movingStatistics', 'model', 'built BatchNormalization layers whose weights end with moving_mean, moving_variance', `layer '${layer.name}' with the weights ${ws.map((w) => w.originalName).join(', ')}`);
        }
        found.push(mean, variance);
      } else if (layer instanceof tfl.LayersModel) visit(layer.layers);
    }
  };
  visit(model.layers);
  return found;
}

/**
 * Input: the branch's image `[batch, H, W, C]`; output: the backbone's features of it,
 * `[batch, h, w, depth]`, computed with this branch's batch-norm moving statistics (see the
 * module documentation). Weights (non-trainable): one per moving statistic of the backbone,
 * named after it (`<layer name>/stem_bn/moving_mean`). Usable once linked to its backbone
 * ({@link BranchStatistics.link}; `S3N.create` and `S3N.fromModel` do it).
 */
export class BranchStatistics extends tfl.layers.Layer {
  /** Name under which the class is registered for serialisation: `'S3NBranchStatistics'`. */
  static className = 'S3NBranchStatistics';
  /** The branch whose statistics the layer holds. */
  readonly branch: SampledBranch;
  /** The backbone's moving statistics this layer has a copy of. */
  readonly statistics: StatisticSpec[];
  /** The backbone's output shape. */
  readonly featureShape: (number | null)[];
  private own: tfl.LayerVariable[] = [];
  private backbone: tfl.LayersModel | null = null;
  private home: tfl.LayerVariable[] = [];

  constructor(args: BranchStatisticsArgs) {
    super(args);
    const fn = 'BranchStatistics';
    if (args == null || typeof args !== 'object') fail(fn, 'args', 'an object with {branch, statistics, featureShape}', describeValue(args));
    if (!(SAMPLED_BRANCHES as readonly string[]).includes(args.branch)) fail(fn, 'branch', `one of ${SAMPLED_BRANCHES.map((b) => `'${b}'`).join(', ')}`, describeValue(args.branch));
    const okSpec = (s: StatisticSpec) => s != null && typeof s.name === 'string' && Array.isArray(s.shape) && s.shape.every((d) => Number.isSafeInteger(d) && d > 0);
    if (!Array.isArray(args.statistics) || args.statistics.length === 0 || !args.statistics.every(okSpec)) {
      fail(fn, 'statistics', 'a non-empty list of {name, shape}', describeValue(args.statistics));
    }
    if (!Array.isArray(args.featureShape) || args.featureShape.length !== 4) fail(fn, 'featureShape', 'a shape [batch, h, w, depth]', describeValue(args.featureShape));
    this.branch = args.branch;
    this.statistics = args.statistics.map((s) => ({ name: s.name, shape: [...s.shape] }));
    this.featureShape = [...args.featureShape];
  }

  override build(_inputShape: Shape | Shape[]): void {
    this.own = this.statistics.map((s) =>
      this.addWeight(s.name, s.shape, 'float32', /moving_variance$/.test(s.name) ? tfl.initializers.ones() : tfl.initializers.zeros(), undefined, false),
    );
    this.built = true;
  }

  /** This branch's moving statistics, in the order of {@link BranchStatistics.statistics}. */
  get branchStatistics(): tfl.LayerVariable[] {
    return [...this.own];
  }

  /**
   * Links the layer to the backbone whose statistics it stands in for: the backbone must have
   * the moving statistics of {@link BranchStatistics.statistics} (by name and shape).
   */
  link(backbone: tfl.LayersModel): void {
    const fn = 'BranchStatistics.link';
    const stats = movingStatistics(backbone);
    const byName = new Map(stats.map((v) => [v.originalName, v]));
    const home = this.statistics.map((s) => byName.get(s.name));
    const bad = this.statistics.findIndex((s, i) => home[i] === undefined || home[i]!.shape.join() !== s.shape.join());
    if (stats.length !== this.statistics.length || bad >= 0) {
      const what = bad >= 0 ? `'${this.statistics[bad].name}' ${home[bad] ? `of shape ${formatShape(home[bad]!.shape)} instead of ${formatShape(this.statistics[bad].shape)}` : 'missing'}` : `${stats.length} moving statistics instead of ${this.statistics.length}`;
      fail(fn, 'backbone', `the backbone whose ${this.statistics.length} batch-norm moving statistics this layer copies`, `one with ${what}`);
    }
    this.backbone = backbone;
    this.home = home as tfl.LayerVariable[];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [singleShape(inputShape)[0], ...this.featureShape.slice(1)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const backbone = this.backbone;
    if (backbone === null) {
      fail('BranchStatistics', 'layer', 'linked to its backbone (wrap the loaded model with S3N.fromModel)', `the unlinked layer '${this.name}'`);
    }
    const x = single(inputs);
    // The backbone's values (its image branch's) stay referenced while this branch's are in.
    const saved = this.home.map((v) => tf.clone(v.read()));
    try {
      this.home.forEach((v, i) => v.write(this.own[i].read()));
      return backbone.apply(x, kwargs) as tf.Tensor;
    } finally {
      // In training the backbone's batch norms have updated this branch's statistics: keep them.
      this.own.forEach((v, i) => v.write(this.home[i].read()));
      this.home.forEach((v, i) => v.write(saved[i]));
      tf.dispose(saved);
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    // `name` keys keep their value verbatim through tfjs' snake/camel-case conversion of configs.
    return {
      ...super.getConfig(),
      branch: this.branch,
      statistics: this.statistics.map((s) => ({ name: s.name, shape: [...s.shape] })),
      featureShape: [...this.featureShape],
    } as unknown as tf.serialization.ConfigDict;
  }
}
registerLayer(BranchStatistics);
