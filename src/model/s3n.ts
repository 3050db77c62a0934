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
 * The backbone is one model called three times, so its weights are shared.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ClassResponseMap } from '../layers/class_response_map';
import { S3NHead } from '../layers/s3n_head';
import { SaliencySampler } from '../layers/saliency_sampler';
import { SparseAttention } from '../layers/sparse_attention';
import { gridSample } from '../ops/grid_sample';
import type { AttentionMode } from '../ops/sparse_attention';
import { checkInteger, checkTensor, describe, fail, formatShape } from '../ops/validation';
import { s3nLoss, S3NLossOptions } from './loss';
import { GroupedSGD, GroupedSGDOptions, ParamGroup } from './optimizer';
import { stageModes } from './schedule';

type Sym = tfl.SymbolicTensor;

export interface S3NOptions {
  /** Number of classes (>= 2). */
  classes: number;
  /** Side of the saliency maps. Default 31. */
  gridSize?: number;
  /** Initial radii and base ratio, see {@link SparseAttention}. Defaults 0.09, 0.3, 0.09. */
  radius?: number;
  radiusInv?: number;
  baseRatio?: number;
  /** Gate parameters. Defaults 5 and 0.2. */
  topK?: number;
  entropyThreshold?: number;
  /** Sampler parameters, see {@link SaliencySampler}. Defaults 30, 13, true. */
  paddingSize?: number;
  fwhm?: number;
  trainableFilter?: boolean;
  /** Use the conv-BN-ReLU buffers in the head. Default true. */
  useBuffers?: boolean;
  /** Seed of the S3N layers' initialisers and of the `'random'` draws. */
  seed?: number;
}

/** The four outputs of S3N, each `[batch, classes]` logits. */
export interface S3NOutputs {
  fused: tf.Tensor2D;
  raw: tf.Tensor2D;
  discriminative: tf.Tensor2D;
  complementary: tf.Tensor2D;
}

/** What S3N looked at, for pictures (see {@link S3N.explain}). */
export interface S3NExplanation {
  /** Normalised decision map and its peaks, `[batch, gridSize, gridSize]`. */
  decision: tf.Tensor3D;
  peaks: tf.Tensor3D;
  /** Saliency maps `[batch, gridSize, gridSize]`. */
  zoomSaliency: tf.Tensor3D;
  inverseSaliency: tf.Tensor3D;
  /** Resampled images `[batch, height, width, channels]`. */
  zoomImage: tf.Tensor4D;
  inverseImage: tf.Tensor4D;
}

export interface S3NOptimizerOptions extends GroupedSGDOptions {
  /** Learning-rate multipliers (authors: classifiers 10, radius 1e-4, filter 1e-4, the rest 1). */
  multipliers?: { base?: number; classifier?: number; radius?: number; filter?: number };
}

/** Output order of {@link S3N.model}. */
export const S3N_OUTPUTS = ['fused', 'raw', 'discriminative', 'complementary'] as const;

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
  /** The four-output network. */
  readonly model: tfl.LayersModel;
  readonly attention: SparseAttention;
  readonly sampler: SaliencySampler;
  readonly classResponseMap: ClassResponseMap;
  readonly head: S3NHead;
  readonly backbone: tfl.LayersModel;

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
  }

  /**
   * Builds S3N on a backbone mapping `[batch, H, W, C]` to `[batch, h, w, depth]` (fixed H, W).
   */
  static create(backbone: tfl.LayersModel, options: S3NOptions): S3N {
    const fn = 'S3N.create';
    if (!(backbone instanceof tfl.LayersModel)) fail(fn, 'backbone', 'a tf.LayersModel', describe(backbone));
    if (options == null || typeof options !== 'object') fail(fn, 'options', 'an object with at least {classes}', describe(options));
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
    const [, height, width] = inShape as number[];
    const seed = options.seed;
    const image = tfl.input({ shape: inShape.slice(1) as number[], name: 'image' });
    const features = backbone.apply(image) as Sym;
    const classResponseMap = new ClassResponseMap({ classes: options.classes, seed, name: 'class_response_map' });
    const crms = classResponseMap.apply(features) as Sym;
    const raw = tfl.layers.globalAveragePooling2d({ name: 'raw_logits' }).apply(crms) as Sym;
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
    const [zoomSaliency, inverseSaliency] = attention.apply(crms) as Sym[];
    const sampler = new SaliencySampler({
      outputSize: [height, width],
      paddingSize: options.paddingSize,
      fwhm: options.fwhm,
      trainableFilter: options.trainableFilter,
      name: 'saliency_sampler',
    });
    const zoomImage = sampler.apply([image, zoomSaliency]) as Sym;
    const inverseImage = sampler.apply([image, inverseSaliency]) as Sym;
    const zoomFeatures = backbone.apply(zoomImage) as Sym;
    const inverseFeatures = backbone.apply(inverseImage) as Sym;
    const head = new S3NHead({ classes: options.classes, useBuffers: options.useBuffers, seed: seed === undefined ? undefined : seed + 100, name: 's3n_head' });
    const [fused, discriminative, complementary] = head.apply([features, zoomFeatures, inverseFeatures]) as Sym[];
    const model = tfl.model({ inputs: image, outputs: [fused, raw, discriminative, complementary], name: 's3n' });
    return new S3N(model);
  }

  /** Wraps a four-output model made by {@link S3N.create} (e.g. after `tf.loadLayersModel`). */
  static fromModel(model: tfl.LayersModel): S3N {
    if (!(model instanceof tfl.LayersModel)) fail('S3N.fromModel', 'model', 'a tf.LayersModel', describe(model));
    return new S3N(model);
  }

  /** Input `[height, width, channels]` of the network. */
  get inputShape(): [number, number, number] {
    return this.model.inputs[0].shape.slice(1) as [number, number, number];
  }

  /** Number of classes. */
  get classes(): number {
    return this.classResponseMap.classes;
  }

  private checkImages(fn: string, images: tf.Tensor): void {
    checkTensor(fn, 'images', images, 4, '[batch, height, width, channels]');
    const [h, w, c] = this.inputShape;
    if (images.shape[3] !== c) fail(fn, 'images', `${c} channels like the backbone's input`, `${images.shape[3]} channels`);
    if (images.shape[1] !== h || images.shape[2] !== w) {
      fail(fn, 'images', `${h}×${w} images like the backbone's input`, `${images.shape[1]}×${images.shape[2]}`);
    }
  }

  /** All four outputs. `training` selects the training attention mode and batch statistics. */
  apply(images: tf.Tensor4D, options: { training?: boolean } = {}): S3NOutputs {
    this.checkImages('S3N.apply', images);
    const [fused, raw, discriminative, complementary] = this.model.apply(images, { training: options.training === true }) as tf.Tensor2D[];
    return { fused, raw, discriminative, complementary };
  }

  /** Inference: the fused logits `[batch, classes]`. */
  predict(images: tf.Tensor4D): tf.Tensor2D {
    this.checkImages('S3N.predict', images);
    return tf.tidy(() => (this.model.apply(images, { training: false }) as tf.Tensor2D[])[0]);
  }

  /** Sets the attention modes of the authors' three-stage schedule for a 0-based epoch. */
  setEpoch(epoch: number, switchEpoch = 20): void {
    this.attention.setModes(stageModes(epoch, switchEpoch));
  }

  /** Sets the attention modes directly. */
  setModes(modes: { training?: AttentionMode; inference?: AttentionMode }): void {
    this.attention.setModes(modes);
  }

  /**
   * The authors' parameter groups: `classifier` (class response map, branch and fused
   * classifiers), `radius` (both radii), `filter` (the sampler's filter) and `base` (backbone,
   * head buffers and the rest).
   */
  parameterGroups(multipliers: S3NOptimizerOptions['multipliers'] = {}): ParamGroup[] {
    const m = { base: 1, classifier: 10, radius: 1e-4, filter: 1e-4, ...multipliers };
    const groups: Record<'base' | 'classifier' | 'radius' | 'filter', tf.Variable[]> = { base: [], classifier: [], radius: [], filter: [] };
    for (const w of this.model.trainableWeights) {
      const v = w.read() as tf.Variable;
      if (/(^|\/)(radius|radius_inv)(_\d+)?$/.test(w.originalName) && w.originalName.startsWith(this.attention.name)) groups.radius.push(v);
      else if (w.originalName.startsWith(`${this.sampler.name}/`)) groups.filter.push(v);
      else if (w.originalName.startsWith(`${this.classResponseMap.name}/`) || (w.originalName.startsWith(`${this.head.name}/`) && w.originalName.includes('classifier'))) {
        groups.classifier.push(v);
      } else groups.base.push(v);
    }
    return (Object.keys(groups) as (keyof typeof groups)[]).filter((k) => groups[k].length > 0).map((k) => ({ name: k, lrMultiplier: m[k], variables: groups[k] }));
  }

  /** SGD (momentum 0.9, weight decay 1e-4, base lr 0.001) over {@link parameterGroups}. */
  createOptimizer(options: S3NOptimizerOptions = {}): GroupedSGD {
    return new GroupedSGD(this.parameterGroups(options.multipliers), options);
  }

  /**
   * One training step: forward in training mode, {@link s3nLoss}, gradients, update. Returns
   * the loss as a scalar tensor (no host synchronisation; dispose it).
   */
  trainStep(images: tf.Tensor4D, labels: tf.Tensor1D, optimizer: GroupedSGD, lossOptions: S3NLossOptions = {}): tf.Scalar {
    this.checkImages('S3N.trainStep', images);
    checkTensor('S3N.trainStep', 'labels', labels, 1, '[batch] of class indices');
    if (labels.shape[0] !== images.shape[0]) {
      fail('S3N.trainStep', 'labels', `${images.shape[0]} labels like images`, `${labels.shape[0]}`);
    }
    const { value, grads } = tf.variableGrads(
      () => s3nLoss(this.model.apply(images, { training: true }) as tf.Tensor[], labels, lossOptions),
      optimizer.variables,
    );
    optimizer.applyGradients(grads);
    tf.dispose(grads);
    return value;
  }

  /**
   * What the network looks at: decision map, peaks, both saliency maps and both resampled
   * images, computed as in inference (or training, with `training: true`).
   */
  explain(images: tf.Tensor4D, options: { training?: boolean; mode?: AttentionMode } = {}): S3NExplanation {
    this.checkImages('S3N.explain', images);
    return tf.tidy(() => {
      const features = this.backbone.apply(images, { training: false }) as tf.Tensor4D;
      const crms = this.classResponseMap.apply(features) as tf.Tensor4D;
      const a = this.attention.attend(crms, options);
      const sample = (s: tf.Tensor3D) => gridSample(images, this.sampler.grid(s), { mode: 'bilinear', paddingMode: 'zeros', alignCorners: true });
      return {
        decision: a.decision,
        peaks: a.peaks,
        zoomSaliency: a.zoom,
        inverseSaliency: a.inverse,
        zoomImage: sample(a.zoom),
        inverseImage: sample(a.inverse),
      };
    });
  }

  /** Current radii `{radius, radiusInv}` (reads them from the device). */
  async radii(): Promise<{ radius: number; radiusInv: number }> {
    const w = this.attention.getWeights();
    const [r, ri] = await Promise.all(w.map((t) => t.data()));
    return { radius: r[0], radiusInv: ri[0] };
  }

  dispose(): void {
    this.model.dispose();
  }
}
