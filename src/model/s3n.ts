/**
 * `S3N`: the whole network of Ding et al. (ICCV 2019) on top of any tfjs backbone.
 *
 * ```
 * image ─ backbone ─ features ─┬─ ClassResponseMap ─ CRMs ─┬─ mean ─────────────── raw logits
 *   │                          │                           └─ SparseAttention ─ zoom, inverse saliency
 *   ├──── SaliencySampler(zoom) ── backbone ── discriminative features ─┐
 *   └──── SaliencySampler(inverse) ─ backbone ─ complementary features ─┼─ S3NHead ─ fused, discriminative,
 *                                features ─────────────────────────────┘            complementary logits
 * ```
 * The backbone is one model called three times, so its weights are shared. With
 * `sourceSize` (beyond the paper) the model has a second input, `source`: the same image at a
 * higher resolution, which both samplers read instead of `image` (see {@link S3NOptions.sourceSize}).
 * With `branchStatistics: 'per-branch'` (beyond the paper) the two sampled branches call the
 * backbone through a layer that gives them their own batch-norm moving statistics (see
 * {@link S3NOptions.branchStatistics}).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ClassResponseMap } from '../layers/class_response_map';
import { S3N_HEAD_OUTPUTS, S3NHead, S3NHeadArgs } from '../layers/s3n_head';
import { SaliencySampler, SaliencySamplerArgs } from '../layers/saliency_sampler';
import { SparseAttention, SparseAttentionArgs } from '../layers/sparse_attention';
import { selectiveSparseSampling } from '../ops/selective_sampling';
import { resizeArea } from '../ops/resize_area';
import { Select } from '../layers/select';
import { BranchStatistics, movingStatistics, SAMPLED_BRANCHES } from '../layers/branch_statistics';
import { derivedSeed, S3N_DEFAULTS, S3N_PRESETS, S3N_SEED_OFFSETS, S3NPreset } from '../defaults';
import type { AttentionMode } from '../ops/sparse_attention';
import { checkInteger, checkOneOf, checkTensor, describeValue, fail, formatShape, toSize2d } from '../ops/validation';
import { checkLabelRange, checkLossOptions, s3nLoss, S3NLossOptions } from './loss';
import { isGradCheckpointed, setGradCheckpointing } from './grad_checkpointing';
import { leanVariableGrads } from './lean_gradients';
import { GroupedSGD, GroupedSGDOptions, ParamGroup } from './optimizer';
import { stageModes } from './schedule';
import { canReadSync, disposeAllReferences } from '../tfjs_internals';

type Sym = tfl.SymbolicTensor;

/**
 * Options of {@link S3N.create}. Only `classes` is required; every other option has the
 * authors' value as its default and is documented on the layer it configures:
 * {@link SparseAttentionArgs} (grid size, radii, base ratio, gate), {@link SaliencySamplerArgs}
 * (padding, filter width, learnable filter) and {@link S3NHeadArgs} (buffers).
 */
export interface S3NOptions
  extends Pick<SparseAttentionArgs, 'gridSize' | 'radius' | 'radiusInv' | 'baseRatio' | 'topK' | 'entropyThreshold'>,
    Pick<SaliencySamplerArgs, 'paddingSize' | 'fwhm' | 'trainableFilter'>,
    Pick<S3NHeadArgs, 'useBuffers'> {
  /** Number of classes (>= 2). */
  classes: number;
  /** Seed of the S3N layers' initialisers and of the `'random'` draws. */
  seed?: number;
  /**
   * Beyond the paper: sample the zoomed and the complementary image from a *source* image of
   * this size (`n` or `[height, width]`, each side at least the backbone input's), the same
   * picture as the network input at a higher resolution. The sampling grids are in normalised
   * coordinates, so the geometry is the same; the resampled images keep the backbone input's
   * size, but a zoom then shows real pixels instead of interpolated ones. The model gets a
   * second input, `source` `[batch, sourceHeight, sourceWidth, channels]`, used only by the
   * sampler: pass it as the `source` option of {@link S3N.apply}, {@link S3N.predict},
   * {@link S3N.explain} and {@link S3N.trainStep} (and as the second input of `s3n.model`).
   * The network input is still required: decode both from the same crop
   * (`ImagePipeline` (s3n-layers/node) with `sourceSize` does), or make it with {@link S3N.resizeToInput}.
   * Default: none, the authors' network (the image is its own source).
   */
  sourceSize?: number | [number, number];
  /**
   * Beyond the paper (an ablation of issue 15): which batch-norm moving statistics the
   * backbone's three passes use. S3N calls one backbone on the image, on the zoomed
   * (discriminative) and on the complementary image, three differently distributed batches.
   * - `'shared'` (default, the authors' PyTorch code): the backbone's moving mean and variance
   *   are updated by all three passes of a training step, and at inference every branch
   *   normalises with that mixture, although in training each pass normalised with its own
   *   batch's statistics.
   * - `'per-branch'`: the trainable weights (convolutions, batch-norm scales and offsets) are
   *   still shared and trained by all three branches, but each branch has its own moving mean
   *   and variance, updated only by its own batches (with the backbone's batch-norm momentum)
   *   and used by it at inference. The backbone's own statistics are the image branch's (what
   *   {@link S3N.explain} and the backbone alone use); the discriminative and complementary
   *   branches start from copies of them (e.g. a pretrained backbone's), held by the model as
   *   non-trainable weights, so they are saved, loaded and checkpointed with it. Expected to
   *   matter most when fine-tuning a backbone trained on plain images, whose statistics fit
   *   the image branch and not the resampled images. The model then has two more layers (its
   *   saved topology differs); a step costs about the same.
   *
   * Read it back with {@link S3N.branchStatistics}; {@link S3N.branchMovingStatistics} gives each
   * branch's variables. Needs a backbone with BatchNormalization layers.
   */
  branchStatistics?: BranchStatisticsMode;
  /**
   * A named configuration of every other model option ({@link S3N_PRESETS}); options given
   * beside it win. `'authors'`: the paper's network as the authors' code builds it (today also
   * the defaults). Default: none (each option's own default).
   */
  preset?: S3NPreset;
}

/** The `source` option of {@link S3N.apply}, {@link S3N.predict} and {@link S3N.explain}. */
export interface SourceOption {
  /**
   * The source image `[batch, sourceHeight, sourceWidth, channels]` float32, normalised like
   * the images, when the S3N was made with {@link S3NOptions.sourceSize} (required then, and
   * refused otherwise).
   */
  source?: tf.Tensor4D;
}

/** The four outputs of S3N, each `[batch, classes]` logits. */
export interface S3NOutputs {
  /** Fused classifier on the three pooled features (§3.4): the prediction. */
  fused: tf.Tensor2D;
  /** Original branch: spatial mean of the class response maps (§3.1). */
  raw: tf.Tensor2D;
  /** Branch on the image resampled with the discriminative attention. */
  discriminative: tf.Tensor2D;
  /** Branch on the image resampled with the complementary attention. */
  complementary: tf.Tensor2D;
}

/** What S3N looked at, for pictures (see {@link S3N.explain}). */
export interface S3NExplanation {
  /** Normalised decision map `[batch, gridSize, gridSize]`, values in [0, 1] (§3.1). */
  decision: tf.Tensor3D;
  /** Peaks of the decision map (0/1) `[batch, gridSize, gridSize]` (§3.1). */
  peaks: tf.Tensor3D;
  /** Discriminative saliency map `[batch, gridSize, gridSize]` (§3.2). */
  zoomSaliency: tf.Tensor3D;
  /** Complementary saliency map `[batch, gridSize, gridSize]` (§3.2). */
  inverseSaliency: tf.Tensor3D;
  /** Image resampled with the discriminative map `[batch, height, width, channels]` (§3.3). */
  zoomImage: tf.Tensor4D;
  /** Image resampled with the complementary map `[batch, height, width, channels]` (§3.3). */
  inverseImage: tf.Tensor4D;
}

/**
 * Options of {@link S3N.createOptimizer}: the SGD hyper-parameters (defaults: learning rate
 * 0.001, momentum 0.9, weight decay 1e-4) and the per-group learning-rate multipliers.
 */
export interface S3NOptimizerOptions extends GroupedSGDOptions {
  /** Learning-rate multipliers (authors: classifiers 10, radius 1e-4, filter 1e-4, the rest 1). */
  multipliers?: {
    /** Backbone, head buffers and everything else. Default 1. */
    base?: number;
    /** Class response map and the three classifiers of the head. Default 10. */
    classifier?: number;
    /** Both radii of the sparse attention. Default 1e-4. */
    radius?: number;
    /** The sampler's filter. Default 1e-4. */
    filter?: number;
  };
}

/**
 * Options of {@link S3N.trainStep}: those of the loss ({@link S3NLossOptions}, whose
 * `validateLabels` is checked before the forward pass) and the non-finite guard.
 */
export interface TrainStepOptions extends S3NLossOptions, SourceOption {
  /**
   * Skip a step whose loss or any gradient is not finite, leaving the weights, the momentum
   * and the batch-norm moving statistics unchanged (default true, except on webgpu, which
   * cannot read to the host synchronously: there check the loss with `await loss.data()`).
   * Costs one boolean read to
   * the host per step (the loss and every gradient are reduced on the device first); false
   * applies every update, NaN included, with no read. The check sums each gradient on the
   * device (one pass; measured over 10⁷ floats: 30 ms on cpu, 11 ms on wasm, so about 0.3 s and
   * 0.1 s a step for the 101.5 M parameters of a ResNet-50 S3N).
   */
  skipNonFinite?: boolean;
}

/**
 * Output order of {@link S3N.model}: `['fused', 'raw', 'discriminative', 'complementary']`.
 *
 * @example
 * ```ts
 * const outputs = s3n.model.predict(images) as tf.Tensor2D[];
 * const fused = outputs[S3N_OUTPUTS.indexOf('fused')];   // [batch, classes]
 * ```
 */
export const S3N_OUTPUTS = ['fused', 'raw', 'discriminative', 'complementary'] as const;

/**
 * `options` with the values of its `preset` (from `presets`, {@link S3N_PRESETS} by default)
 * filled in where it leaves them undefined; without a preset, `options` itself.
 *
 * @internal
 */
export function withPreset(fn: string, options: S3NOptions, presets: Readonly<Record<string, Partial<S3NOptions>>> = S3N_PRESETS): S3NOptions {
  if (options.preset === undefined) return options;
  checkOneOf(fn, 'preset', options.preset, Object.keys(presets));
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...presets[options.preset], ...given } as S3NOptions;
}

/** The values of {@link S3NOptions.branchStatistics}. */
export const BRANCH_STATISTICS = ['shared', 'per-branch'] as const;

/** One of {@link BRANCH_STATISTICS}. */
export type BranchStatisticsMode = (typeof BRANCH_STATISTICS)[number];

/**
 * The S3N network. `s3n.model` is a plain `tf.LayersModel` with the outputs
 * `[fused, raw, discriminative, complementary]`: save it with `s3n.model.save(...)`, load it
 * with `tf.loadLayersModel` and wrap it again with {@link S3N.fromModel}.
 *
 * @example
 * ```ts
 * const backbone = smallResNet({ inputSize: 64, seed: 1 });
 * const s3n = S3N.create(backbone, { classes: 10, seed: 1 });
 * const logits = s3n.predict(images);                  // fused logits [B, 10]
 * const opt = s3n.createOptimizer();
 * const loss = s3n.trainStep(images, labels, opt);     // tf.Scalar
 * ```
 */
export class S3N {
  /** The four-output network, outputs in {@link S3N_OUTPUTS} order. */
  readonly model: tfl.LayersModel;
  /** The {@link SparseAttention} layer (§3.1–3.2): holds the two learnable radii. */
  readonly attention: SparseAttention;
  /** The {@link SaliencySampler} layer (§3.3), shared by both branches: holds the learnable filter. */
  readonly sampler: SaliencySampler;
  /** The {@link ClassResponseMap} layer (§3.1). */
  readonly classResponseMap: ClassResponseMap;
  /** The {@link S3NHead} layer (§3.4): branch buffers and classifiers. */
  readonly head: S3NHead;
  /** The backbone (a nested model, called on the image and on both resampled images). */
  readonly backbone: tfl.LayersModel;
  /** With per-branch statistics, the layers through which the sampled branches call the backbone. */
  private readonly branchLayers: BranchStatistics[];

  private constructor(model: tfl.LayersModel) {
    this.model = model;
    const find = <T>(cls: abstract new (...a: never[]) => T, name: string): T => {
      const found = model.layers.filter((l) => l instanceof cls);
      if (found.length !== 1) fail('S3N', 'model', `a model with exactly one ${name} layer`, `${found.length}`);
      return found[0] as unknown as T;
    };
    this.attention = find(SparseAttention, 'SparseAttention');
    this.sampler = find(SaliencySampler, 'SaliencySampler');
    this.classResponseMap = find(ClassResponseMap, 'ClassResponseMap');
    this.head = find(S3NHead, 'S3NHead');
    this.backbone = find(tfl.LayersModel, 'backbone (nested model)');
    const branches = model.layers.filter((l): l is BranchStatistics => l instanceof BranchStatistics);
    const kinds = branches.map((b) => b.branch).sort();
    if (branches.length !== 0 && JSON.stringify(kinds) !== JSON.stringify([...SAMPLED_BRANCHES].sort())) {
      fail('S3N', 'model', 'a model with no BranchStatistics layer or one for each sampled branch (discriminative, complementary)', `BranchStatistics layers for ${kinds.join(', ')}`);
    }
    for (const b of branches) b.link(this.backbone);
    this.branchLayers = branches;
    const ok = model.inputs.length === 1 || (model.inputs.length === 2 && model.inputs.every((x) => x.shape.length === 4));
    if (!ok) fail('S3N', 'model', 'a model with the input image, or the image and a source [batch, height, width, channels]', `${model.inputs.length} inputs`);
  }

  /**
   * Builds S3N on a backbone mapping `[batch, H, W, C]` to `[batch, h, w, depth]` (fixed H, W).
   * The resampled images have the input's size `H × W`. The backbone is used as is (its weights,
   * e.g. pretrained ones, are shared by the three branches and trained with the rest).
   *
   * @param backbone A single-input, single-output `tf.LayersModel`, e.g. {@link smallResNet},
   *   {@link resnet50} or {@link cutBackbone} of a pretrained network.
   * @param options `classes` and the S3N hyper-parameters, see {@link S3NOptions}.
   *
   * @example
   * ```ts
   * const s3n = S3N.create(resnet50({ inputSize: 448 }), { classes: 200 });
   * s3n.model.outputs.map((o) => o.shape); // four times [null, 200]
   * ```
   */
  static create(backbone: tfl.LayersModel, options: S3NOptions): S3N {
    const fn = 'S3N.create';
    if (!(backbone instanceof tfl.LayersModel)) fail(fn, 'backbone', 'a tf.LayersModel', describeValue(backbone));
    if (options == null || typeof options !== 'object') fail(fn, 'options', 'an object with at least {classes}', describeValue(options));
    options = withPreset(fn, options);
    checkInteger(fn, 'classes', options.classes, 2);
    if (backbone.inputs.length !== 1 || backbone.outputs.length !== 1) {
      fail(fn, 'backbone', 'a model with one input and one output', `${backbone.inputs.length} inputs and ${backbone.outputs.length} outputs`);
    }
    const inShape = backbone.inputs[0].shape;
    const outShape = backbone.outputs[0].shape;
    if (inShape.length !== 4 || inShape.slice(1).some((d) => d == null)) {
      fail(fn, 'backbone', 'a model whose input is [batch, height, width, channels] with known sizes', `input shape ${formatShape(inShape)}`);
    }
    if (outShape.length !== 4) {
      fail(fn, 'backbone', 'a model whose output has rank 4 [batch, h, w, depth]', `output shape ${formatShape(outShape)}`);
    }
    const branchStatistics = options.branchStatistics === undefined ? 'shared' : options.branchStatistics;
    checkOneOf(fn, 'branchStatistics', branchStatistics, BRANCH_STATISTICS);
    const statistics = branchStatistics === 'per-branch' ? movingStatistics(backbone) : [];
    if (branchStatistics === 'per-branch' && statistics.length === 0) {
      fail(fn, 'branchStatistics', "'shared' for a backbone without BatchNormalization layers (it has no moving statistics to keep per branch)", "'per-branch'");
    }
    const [, height, width, channels] = inShape as number[];
    let sourceSize: [number, number] | undefined;
    if (options.sourceSize !== undefined) {
      sourceSize = toSize2d(fn, 'sourceSize', options.sourceSize);
      if (sourceSize[0] < height || sourceSize[1] < width) {
        fail(fn, 'sourceSize', `at least the backbone's input ${height}×${width}`, describeValue(options.sourceSize));
      }
    }
    const seed = options.seed;
    const image = tfl.input({ shape: inShape.slice(1) as number[], name: 'image' });
    // The samplers read the source when there is one; the backbone always reads the image.
    const source = sourceSize ? tfl.input({ shape: [sourceSize[0], sourceSize[1], channels], name: 'source' }) : image;
    // Every layer is made (and so checks its options) before any builds its weights: a refused
    // option leaks no weight.
    const classResponseMap = new ClassResponseMap({ classes: options.classes, seed, name: 'class_response_map' });
    const attention = new SparseAttention({
      gridSize: options.gridSize,
      radius: options.radius,
      radiusInv: options.radiusInv,
      baseRatio: options.baseRatio,
      topK: options.topK,
      entropyThreshold: options.entropyThreshold,
      seed,
      name: 'sparse_attention',
    });
    const sampler = new SaliencySampler({
      outputSize: [height, width],
      paddingSize: options.paddingSize,
      fwhm: options.fwhm,
      trainableFilter: options.trainableFilter,
      name: 'saliency_sampler',
    });
    const head = new S3NHead({ classes: options.classes, useBuffers: options.useBuffers, seed: derivedSeed(seed, S3N_SEED_OFFSETS.head), name: 's3n_head' });
    // Per-branch statistics: the sampled branches call the backbone through a layer holding theirs.
    const specs = statistics.map((v) => ({ name: v.originalName, shape: v.shape as number[] }));
    const branchLayers = branchStatistics === 'shared' ? [] : SAMPLED_BRANCHES.map((branch) => new BranchStatistics({ branch, statistics: specs, featureShape: outShape, name: `${branch}_branch_statistics` }));
    const branchBackbone = (index: number): tfl.layers.Layer => (branchLayers.length === 0 ? backbone : branchLayers[index]);
    const features = backbone.apply(image) as Sym;
    const crms = classResponseMap.apply(features) as Sym;
    const raw = tfl.layers.globalAveragePooling2d({ name: 'raw_logits' }).apply(crms) as Sym;
    // Multi-result layers stack their results, so that each runs once per forward pass.
    const maps = attention.apply(crms) as Sym; // [batch, 2, gridSize, gridSize]
    const zoomSaliency = new Select({ index: 0, name: 'zoom_saliency' }).apply(maps) as Sym;
    const inverseSaliency = new Select({ index: 1, name: 'inverse_saliency' }).apply(maps) as Sym;
    const zoomImage = sampler.apply([source, zoomSaliency]) as Sym;
    const inverseImage = sampler.apply([source, inverseSaliency]) as Sym;
    const zoomFeatures = branchBackbone(0).apply(zoomImage) as Sym;
    const inverseFeatures = branchBackbone(1).apply(inverseImage) as Sym;
    const logits = head.apply([features, zoomFeatures, inverseFeatures]) as Sym; // [batch, 3, classes]
    const [fused, discriminative, complementary] = S3N_HEAD_OUTPUTS.map((name, index) => new Select({ index, name: `${name}_logits` }).apply(logits) as Sym);
    const inputs = sourceSize ? [image, source] : image;
    const model = tfl.model({ inputs, outputs: [fused, raw, discriminative, complementary], name: 's3n' });
    // Every branch starts from the backbone's statistics (e.g. a pretrained backbone's).
    for (const layer of branchLayers) layer.setWeights(statistics.map((v) => v.read()));
    return new S3N(model);
  }

  /**
   * Wraps a four-output model made by {@link S3N.create} (e.g. after `tf.loadLayersModel`).
   * Importing this package registers the S3N layer classes, so a saved model loads with
   * tfjs-layers' own `loadLayersModel`. A model with per-branch statistics
   * ({@link S3NOptions.branchStatistics}) runs only once wrapped (its branch layers are linked
   * to the backbone here; before, a call throws).
   *
   * @example
   * ```ts
   * let artifacts: tf.io.ModelArtifacts | undefined;
   * await s3n.model.save(tf.io.withSaveHandler(async (a) => {
   *   artifacts = a;
   *   return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
   * }));
   * const copy = S3N.fromModel(await tfl.loadLayersModel(tf.io.fromMemory(artifacts!)));
   * ```
   */
  static fromModel(model: tfl.LayersModel): S3N {
    if (!(model instanceof tfl.LayersModel)) fail('S3N.fromModel', 'model', 'a tf.LayersModel', describeValue(model));
    return new S3N(model);
  }

  /**
   * Whether the three branches share the backbone's batch-norm moving statistics (`'shared'`,
   * the authors') or each has its own (`'per-branch'`), see {@link S3NOptions.branchStatistics}.
   */
  get branchStatistics(): BranchStatisticsMode {
    return this.branchLayers.length === 0 ? 'shared' : 'per-branch';
  }

  /**
   * The batch-norm moving statistics a branch normalises with at inference and updates in
   * training: the moving mean and variance of each BatchNormalization layer of the backbone
   * (`[mean₁, variance₁, mean₂, …]`, in the backbone's layer order). With `'shared'` statistics
   * every branch gives the backbone's own variables; with `'per-branch'` the `'raw'` branch (the
   * image) gives the backbone's and each sampled branch its own copies (weights of the model).
   * Read them with `v.read()`, set them with `v.write(t)`.
   *
   * @param branch `'raw'` (the image), `'discriminative'` (the zoomed image) or `'complementary'`.
   */
  branchMovingStatistics(branch: 'raw' | 'discriminative' | 'complementary'): tfl.LayerVariable[] {
    checkOneOf('S3N.branchMovingStatistics', 'branch', branch, ['raw', ...SAMPLED_BRANCHES] as const);
    const layer = this.branchLayers.find((l) => l.branch === branch);
    return layer === undefined ? movingStatistics(this.backbone) : layer.branchStatistics;
  }

  /** Input `[height, width, channels]` of the network. */
  get inputShape(): [number, number, number] {
    return this.model.inputs[0].shape.slice(1) as [number, number, number];
  }

  /** Number of classes. */
  get classes(): number {
    return this.classResponseMap.classes;
  }

  /**
   * `[height, width]` of the source image the samplers read (see {@link S3NOptions.sourceSize}),
   * or undefined when the network samples from its input image (the authors' network).
   */
  get sourceSize(): [number, number] | undefined {
    return this.model.inputs.length === 2 ? (this.model.inputs[1].shape.slice(1, 3) as [number, number]) : undefined;
  }

  /**
   * The network input made from a source image: an area (box-filter, so antialiased) resize
   * to the backbone's input size ({@link ops.resizeArea}: average pooling when the sizes have
   * an integer ratio), for when only the source is at hand. Decoding the input from the
   * original file (as `ImagePipeline` (s3n-layers/node) does) is closer to training without a source.
   *
   * @param source `[batch, sourceHeight, sourceWidth, channels]`, each side at least the input's.
   * @returns `[batch, height, width, channels]` at the backbone's input size.
   */
  resizeToInput(source: tf.Tensor4D): tf.Tensor4D {
    const [h, w] = this.inputShape;
    return resizeArea(source, [h, w]);
  }

  private checkImages(fn: string, images: tf.Tensor, options: unknown): tf.Tensor | tf.Tensor[] {
    checkTensor(fn, 'images', images, 4, '[batch, height, width, channels]');
    if (images.shape[0] < 1) fail(fn, 'images', 'a batch of at least one image', `shape [${images.shape.join(',')}]`);
    if (images.dtype !== 'float32') fail(fn, 'images', 'a float32 tensor', `dtype ${images.dtype}`);
    const [h, w, c] = this.inputShape;
    if (images.shape[3] !== c) fail(fn, 'images', `${c} channels like the backbone's input`, `${images.shape[3]} channels`);
    if (images.shape[1] !== h || images.shape[2] !== w) {
      fail(fn, 'images', `${h}×${w} images like the backbone's input`, `${images.shape[1]}×${images.shape[2]}`);
    }
    if (options == null || typeof options !== 'object') fail(fn, 'options', 'an object', describeValue(options));
    const source = (options as SourceOption).source;
    const size = this.sourceSize;
    if (size === undefined) {
      if (source !== undefined) fail(fn, 'source', 'undefined (this S3N has no sourceSize: it samples from images)', describeValue(source));
      return images;
    }
    const [sh, sw] = size;
    const expected = `a float32 [${images.shape[0]}, ${sh}, ${sw}, ${c}] tensor (this S3N samples from a ${sh}×${sw} source)`;
    if (!(source instanceof tf.Tensor) || source.rank !== 4 || source.dtype !== 'float32') fail(fn, 'source', expected, describeValue(source));
    if (source.shape[0] !== images.shape[0] || source.shape[1] !== sh || source.shape[2] !== sw || source.shape[3] !== c) {
      fail(fn, 'source', expected, `shape [${source.shape.join(',')}]`);
    }
    return [images, source];
  }

  /**
   * All four outputs, `[batch, classes]` each. `training` selects the training attention mode
   * and batch statistics (and updates the batch-norm moving averages).
   *
   * @param images `[batch, H, W, C]` at the backbone's input size.
   * @param options `training`, and the `source` image when the S3N has a {@link S3N.sourceSize}.
   */
  apply(images: tf.Tensor4D, options: { training?: boolean } & SourceOption = {}): S3NOutputs {
    const inputs = this.checkImages('S3N.apply', images, options);
    const [fused, raw, discriminative, complementary] = this.model.apply(inputs, { training: options.training === true }) as tf.Tensor2D[];
    return { fused, raw, discriminative, complementary };
  }

  /**
   * Inference: the fused logits `[batch, classes]` (inference attention mode, moving
   * batch-norm statistics).
   *
   * @param images `[batch, H, W, C]` at the backbone's input size.
   * @param options The `source` image when the S3N has a {@link S3N.sourceSize}.
   *
   * @example
   * ```ts
   * const classes = tf.argMax(s3n.predict(images), 1); // [batch] int32
   * const withSource = s3n.predict(images, { source }); // an S3N made with sourceSize
   * ```
   */
  predict(images: tf.Tensor4D, options: SourceOption = {}): tf.Tensor2D {
    const inputs = this.checkImages('S3N.predict', images, options);
    return tf.tidy(() => (this.model.apply(inputs, { training: false }) as tf.Tensor2D[])[0]);
  }

  /**
   * Sets the attention modes of the authors' three-stage schedule for a 0-based epoch (see
   * {@link stageModes}): call it at the start of every epoch.
   */
  setEpoch(epoch: number, switchEpoch: number = S3N_DEFAULTS.switchEpoch): void {
    this.attention.setModes(stageModes(epoch, switchEpoch));
  }

  /**
   * Gradient checkpointing of the backbone (like timm's `set_grad_checkpointing`): during a
   * training step each of the three backbone passes keeps only its input image, and the
   * backward pass runs it again to get its gradients. A step then costs three more backbone
   * forward passes (about +30 %), and the step's memory holds one pass's activations instead
   * of three: what lets a ResNet-50 S3N step at 448×448 fit the wasm backend's 4 GB heap.
   * The gradients, weights and batch-norm statistics after a step are the same as without it.
   * Inference is not affected. The backbone must have no dropout or noise layer.
   *
   * @param enable On (default) or off.
   * @returns this S3N.
   *
   * @example
   * ```ts
   * const s3n = S3N.create(resnet50({ inputSize: 448 }), { classes: 200 }).setGradCheckpointing();
   * ```
   */
  setGradCheckpointing(enable = true): this {
    setGradCheckpointing(this.backbone, enable);
    return this;
  }

  /** Whether {@link S3N.setGradCheckpointing} is on. */
  get isGradCheckpointed(): boolean {
    return isGradCheckpointed(this.backbone);
  }

  /** Sets the attention modes directly (see {@link AttentionMode}); an omitted mode is kept. */
  setModes(modes: { training?: AttentionMode; inference?: AttentionMode }): void {
    this.attention.setModes(modes);
  }

  /**
   * The authors' parameter groups: `classifier` (class response map, branch and fused
   * classifiers), `radius` (both radii), `filter` (the sampler's filter) and `base` (backbone,
   * head buffers and the rest). Built from the weights the layers expose
   * (`classifierWeights`, `radiusWeights`, `filterWeights`), not from weight names.
   */
  parameterGroups(multipliers: S3NOptimizerOptions['multipliers'] = {}): ParamGroup[] {
    const m = { ...S3N_DEFAULTS.multipliers, ...multipliers };
    const variables = (ws: tfl.LayerVariable[]) => ws.filter((w) => w.trainable).map((w) => w.read() as tf.Variable);
    const named = {
      classifier: variables([...this.classResponseMap.classifierWeights, ...this.head.classifierWeights]),
      radius: variables(this.attention.radiusWeights),
      filter: variables(this.sampler.filterWeights),
    };
    const taken = new Set(Object.values(named).flat());
    const groups = { base: variables(this.model.trainableWeights).filter((v) => !taken.has(v)), ...named };
    return (Object.keys(groups) as (keyof typeof groups)[]).filter((k) => groups[k].length > 0).map((k) => ({ name: k, lrMultiplier: m[k], variables: groups[k] }));
  }

  /**
   * SGD (momentum 0.9, weight decay 1e-4, base lr 0.001) over {@link S3N.parameterGroups}.
   *
   * @example
   * ```ts
   * const optimizer = s3n.createOptimizer({ learningRate: 0.01, multipliers: { classifier: 1 } });
   * optimizer.learningRate = 0.01 * stepDecay(epoch);     // the authors' step decay
   * ```
   */
  createOptimizer(options: S3NOptimizerOptions = {}): GroupedSGD {
    return new GroupedSGD(this.parameterGroups(options.multipliers), options);
  }

  /**
   * One training step: forward in training mode, {@link s3nLoss}, gradients, update. Returns
   * the loss as a scalar tensor (dispose it).
   *
   * Guards (see {@link TrainStepOptions}): everything about the inputs is checked before the
   * forward pass, so a refused call leaks nothing and trains nothing: shapes, int32 labels and,
   * unless `validateLabels: false`, labels in `[0, classes)` (one host read of the `[batch]`
   * labels). A step whose loss or any gradient is not finite is skipped: the weights, the
   * optimiser's momentum and the batch-norm moving statistics stay as they were (like PyTorch's
   * `GradScaler` skipping a step); it is counted in {@link S3N.skippedSteps}, and
   * {@link S3N.trainStepWithOutputs} reports it. That check reads one boolean to the host per
   * step.
   *
   * @param images `[batch, H, W, C]` float32 at the backbone's input size, batch >= 1.
   * @param labels `[batch]` int32 class indices in `[0, classes)`.
   * @param optimizer Usually {@link S3N.createOptimizer}; only its variables are trained.
   * @param options Label smoothing and term weights ({@link S3NLossOptions}), the guards, and
   *   the `source` image when the S3N has a {@link S3N.sourceSize}.
   * @throws before any computation when an argument is invalid (the message names it).
   *
   * @example
   * ```ts
   * const optimizer = s3n.createOptimizer();
   * for (let epoch = 0; epoch < epochs; epoch++) {
   *   s3n.setEpoch(epoch);
   *   for (const [x, y] of batches) tf.dispose(s3n.trainStep(x, y, optimizer));
   * }
   * ```
   */
  trainStep(images: tf.Tensor4D, labels: tf.Tensor1D, optimizer: GroupedSGD, options: TrainStepOptions = {}): tf.Scalar {
    const { loss, outputs } = this.trainStepWithOutputs(images, labels, optimizer, options);
    tf.dispose(Object.values(outputs));
    return loss;
  }

  /**
   * How many training steps were skipped because their loss or a gradient was not finite (see
   * {@link S3N.trainStep}), since this object was made. Not saved with the model.
   */
  skippedSteps = 0;

  /**
   * {@link S3N.trainStep} that also returns the four outputs of the forward pass (before the
   * update), e.g. to count training hits without a second forward pass, and whether the step
   * was skipped. Dispose the tensors.
   */
  trainStepWithOutputs(
    images: tf.Tensor4D,
    labels: tf.Tensor1D,
    optimizer: GroupedSGD,
    options: TrainStepOptions = {},
  ): {
    /** The loss of the step, a scalar (not finite when the step was skipped). */
    loss: tf.Scalar;
    /** The four outputs of the forward pass, `[batch, classes]` each. */
    outputs: S3NOutputs;
    /** True when the loss or a gradient was not finite, so nothing was updated. */
    skipped: boolean;
  } {
    const fn = 'S3N.trainStep';
    const inputs = this.checkImages(fn, images, options);
    checkTensor(fn, 'labels', labels, 1, '[batch] of class indices');
    if (labels.dtype !== 'int32') fail(fn, 'labels', 'an int32 tensor of class indices', `dtype ${labels.dtype}`);
    if (labels.shape[0] !== images.shape[0]) {
      fail(fn, 'labels', `${images.shape[0]} labels like images`, `${labels.shape[0]}`);
    }
    if (!(optimizer instanceof GroupedSGD)) fail(fn, 'optimizer', 'a GroupedSGD (s3n.createOptimizer())', describeValue(optimizer));
    const { validateLabels } = checkLossOptions(fn, options);
    const skipNonFinite = options.skipNonFinite ?? canReadSync();
    if (typeof skipNonFinite !== 'boolean') fail(fn, 'skipNonFinite', 'a boolean', describeValue(skipNonFinite));
    if (validateLabels) checkLabelRange(fn, labels, this.classes);
    // The batch-norm moving statistics change in the forward pass: keep their current values
    // (clones share the data, so this copies nothing) to put them back if the step is skipped.
    // The model's non-trainable weights include the per-branch statistics, if any.
    const moving = skipNonFinite ? this.model.nonTrainableWeights.map((w) => [w, tf.clone(w.read())] as const) : [];
    let kept: tf.Tensor2D[] = [];
    // Same gradients as tf.variableGrads, with the backward pass releasing memory as it goes.
    const { value, grads } = leanVariableGrads(() => {
      const outs = this.model.apply(inputs, { training: true }) as tf.Tensor2D[];
      kept = outs.map((o) => tf.keep(o));
      const { source: _source, ...lossOptions } = options;
      return s3nLoss(outs, labels, { ...lossOptions, validateLabels: false });
    }, optimizer.variables);
    let skipped = false;
    if (skipNonFinite) {
      // One pass over each gradient (its sum is NaN or ±Inf iff it holds a NaN or an Inf, or
      // iff its finite values overflow float32, a step that would wreck the weights anyway),
      // then one boolean read to the host. Applying the update with where(ok, new, old) instead
      // would cost two more passes over every weight and momentum buffer.
      const ok = tf.tidy(() => {
        const sums = [value, ...Object.values(grads).filter((g): g is tf.Tensor => g != null).map((g) => tf.sum(g))];
        return tf.all(tf.isFinite(tf.stack(sums)));
      });
      skipped = ok.dataSync()[0] === 0;
      ok.dispose();
    }
    if (skipped) {
      for (const [w, before] of moving) w.write(before);
      this.skippedSteps++;
    } else {
      optimizer.applyGradients(grads);
    }
    tf.dispose(moving.map(([, t]) => t));
    tf.dispose(grads);
    const [fused, raw, discriminative, complementary] = kept;
    return { loss: value, outputs: { fused, raw, discriminative, complementary }, skipped };
  }

  /**
   * What the network looks at: decision map, peaks, both saliency maps and both resampled
   * images. The backbone always runs in inference mode (moving batch-norm statistics, the image
   * branch's with {@link S3NOptions.branchStatistics} `'per-branch'`; nothing updated);
   * `training: true` selects the training attention mode instead of the inference one, and
   * `mode` forces one. A `'random'` mode shows the draw the next training call would
   * make, without using it up ({@link SparseAttention.drawCount} is unchanged).
   *
   * @param images `[batch, H, W, C]` at the backbone's input size.
   * @param options `training`, `mode`, and the `source` image when the S3N has a
   *   {@link S3N.sourceSize}: the resampled images are then read from it (at the input's size).
   *
   * @example
   * ```ts
   * const { peaks, zoomSaliency, zoomImage, inverseImage } = s3n.explain(images);
   * // peaks [B, 31, 31] (0/1); zoomImage, inverseImage [B, H, W, C]
   * ```
   */
  explain(images: tf.Tensor4D, options: { training?: boolean; mode?: AttentionMode } & SourceOption = {}): S3NExplanation {
    const inputs = this.checkImages('S3N.explain', images, options);
    const source = (Array.isArray(inputs) ? inputs[1] : images) as tf.Tensor4D;
    const mode = options.mode ?? (options.training ? this.attention.trainingMode : this.attention.inferenceMode);
    return tf.tidy(() => {
      const features = this.backbone.apply(images, { training: false }) as tf.Tensor4D;
      const crms = this.classResponseMap.apply(features) as tf.Tensor4D;
      // The same composition the layers run; a 'random' draw is shown, not used up.
      const a = selectiveSparseSampling(source, crms, { ...this.attention.attentionOptions(mode), ...this.sampler.samplingOptions() });
      return {
        decision: a.decision,
        peaks: a.peaks,
        zoomSaliency: a.zoomSaliency,
        inverseSaliency: a.inverseSaliency,
        zoomImage: a.zoomImage,
        inverseImage: a.inverseImage,
      };
    });
  }

  /** Current radii `{radius, radiusInv}` (reads them from the device). */
  async radii(): Promise<{
    /** Discriminative radius, a fraction of the grid size. */
    radius: number;
    /** Complementary radius, a fraction of the grid size. */
    radiusInv: number;
  }> {
    const w = this.attention.getWeights();
    const [r, ri] = await Promise.all(w.map((t) => t.data()));
    return { radius: r[0], radiusInv: ri[0] };
  }

  /**
   * Frees every weight of the network, the backbone's included: the network is unusable after,
   * and the backbone must not be disposed separately. (tfjs-layers counts one reference per call
   * of a layer and disposing the outer model releases one; the backbone is called three times
   * and the sampler twice, so their remaining references are released here.) A backbone made
   * with {@link cutBackbone} shares its layers with the model it was cut from: those layers are
   * freed too (the layers after the cut are not), and disposing that model afterwards throws.
   */
  dispose(): void {
    this.model.dispose();
    for (const layer of [this.backbone, this.sampler]) disposeAllReferences(layer);
  }

}
