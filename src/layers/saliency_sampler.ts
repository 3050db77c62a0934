/**
 * `SaliencySampler`: image + saliency map → resampled image (paper sec. 3.3; Recasens et al.,
 * "Learning to Zoom", ECCV 2018; the authors' `create_grid` followed by `grid_sample`). Regions
 * of high saliency get more output pixels, the rest keeps its context at a lower resolution.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { saliencyResample, SaliencyResampleOptions } from '../ops/selective_sampling';
import { saliencyFilter, saliencyGrid } from '../ops/saliency_grid';
import { checkBoolean, checkInteger, checkPositive, fail, toSize2d } from '../ops/validation';
import { checkShapeRank, Kwargs, LayerArgs, registerLayer, Shape, shapeList, tensorList } from './common';
import { S3N_DEFAULTS as D } from '../defaults';

/** Constructor arguments of {@link SaliencySampler} (plus `LayerArgs`). */
export interface SaliencySamplerArgs extends LayerArgs {
  /** Size of the resampled image, a number or `[height, width]`. The source image may be larger. */
  outputSize: number | [number, number];
  /** Replicate padding of the saliency map; the filter is `2·paddingSize+1` wide. Default 30. */
  paddingSize?: number;
  /** Full width at half maximum of the Gaussian filter, in saliency pixels. Default 13. */
  fwhm?: number;
  /**
   * Learn the filter, as the authors do (a full `(2P+1)²` weight initialised with the Gaussian).
   * When false the fixed Gaussian is applied in separable form, which is much cheaper.
   * Default true.
   */
  trainableFilter?: boolean;
}

/**
 * Inputs `[image, saliency]`: image `[batch, height, width, channels]`, saliency
 * `[batch, size, size]` (positive). Output `[batch, outHeight, outWidth, channels]`.
 * Bilinear sampling, zeros outside, corners aligned, as the authors' code. Gradients flow to
 * the image, the saliency map and (when trainable) the filter.
 *
 * This is the selective sampling of §3.3, with the saliency sampler of Recasens et al. (2018):
 * {@link saliencyGrid} turns the saliency map into a grid (each output point is the
 * saliency-weighted mean position of its neighbourhood), {@link ops.gridSample} reads the image
 * there. A uniform saliency gives the identity grid. Weight (when `trainableFilter`): `filter`
 * `[2·paddingSize+1, 2·paddingSize+1]`, initialised with `saliencyFilter(2·paddingSize+1, fwhm)`.
 *
 * @example
 * ```ts
 * const sampler = new SaliencySampler({ outputSize: 448 });
 * const zoomed = sampler.apply([image, zoomSaliency]) as tf.Tensor4D;
 * ```
 */
export class SaliencySampler extends tfl.layers.Layer {
  /** Name under which the class is registered for serialisation: `'S3NSaliencySampler'`. */
  static className = 'S3NSaliencySampler';
  /** `[outHeight, outWidth]` of the resampled image. */
  readonly outputSize: [number, number];
  /** Replicate padding of the saliency map, in saliency pixels (the filter is `2·paddingSize+1` wide). */
  readonly paddingSize: number;
  /** Full width at half maximum of the (initial) Gaussian filter, in saliency pixels. */
  readonly fwhm: number;
  /** Whether the filter is a trainable weight (else the fixed separable Gaussian is used). */
  readonly trainableFilter: boolean;
  private filter: tfl.LayerVariable | null = null;

  constructor(args: SaliencySamplerArgs) {
    super(args);
    const fn = 'SaliencySampler';
    if (args == null || typeof args !== 'object') fail(fn, 'args', 'an object with at least {outputSize}', String(args));
    this.outputSize = toSize2d(fn, 'outputSize', args.outputSize);
    this.paddingSize = args.paddingSize ?? D.paddingSize;
    checkInteger(fn, 'paddingSize', this.paddingSize, 1);
    this.fwhm = args.fwhm ?? D.fwhm;
    checkPositive(fn, 'fwhm', this.fwhm);
    this.trainableFilter = args.trainableFilter ?? D.trainableFilter;
    checkBoolean(fn, 'trainableFilter', this.trainableFilter);
  }

  private checkShapes(inputShape: Shape | Shape[]): [Shape, Shape] {
    const [image, saliency] = shapeList('SaliencySampler', inputShape, 2, 'image, saliency');
    checkShapeRank('SaliencySampler', 'image', image, 4, '[batch, height, width, channels]');
    checkShapeRank('SaliencySampler', 'saliency', saliency, 3, '[batch, size, size]');
    return [image, saliency];
  }

  override build(inputShape: Shape | Shape[]): void {
    this.checkShapes(inputShape);
    if (this.trainableFilter) {
      const k = 2 * this.paddingSize + 1;
      this.filter = this.addWeight('filter', [k, k], 'float32', tfl.initializers.zeros());
      const gaussian = saliencyFilter(k, this.fwhm);
      this.filter.write(gaussian); // the variable takes a reference; the handle can go
      gaussian.dispose();
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [image] = this.checkShapes(inputShape);
    return [image[0], this.outputSize[0], this.outputSize[1], image[3]];
  }

  /**
   * The sampling grid `[batch, outHeight, outWidth, 2]` of a saliency map `[batch, size, size]`,
   * with the layer's current filter (the layer must be built, e.g. by a first call).
   */
  grid(saliency: tf.Tensor3D): tf.Tensor4D {
    return saliencyGrid(saliency, { ...this.samplingOptions(), outputSize: this.outputSize });
  }

  /** The options of {@link ops.saliencyResample} this layer uses, with its current filter. */
  samplingOptions(): SaliencyResampleOptions {
    return {
      outputSize: this.outputSize,
      paddingSize: this.paddingSize,
      fwhm: this.fwhm,
      filter: this.filter ? (this.filter.read() as tf.Tensor2D) : undefined,
    };
  }

  /** The learnable filter weight, if any (built layer): the authors' ×1e-4 learning-rate group. */
  get filterWeights(): tfl.LayerVariable[] {
    return this.filter ? [this.filter] : [];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const [image, saliency] = tensorList('SaliencySampler', inputs, 2, 'image, saliency') as [tf.Tensor4D, tf.Tensor3D];
      if (image.shape[0] !== saliency.shape[0]) {
        fail('SaliencySampler', 'saliency', `a batch of ${image.shape[0]} like image`, `a batch of ${saliency.shape[0]}`);
      }
      return saliencyResample(image, saliency, this.samplingOptions()).image;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      outputSize: this.outputSize,
      paddingSize: this.paddingSize,
      fwhm: this.fwhm,
      trainableFilter: this.trainableFilter,
    };
  }
}
registerLayer(SaliencySampler);
