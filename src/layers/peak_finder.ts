/**
 * `PeakFinder`: local maxima of class response maps (paper sec. 3.1, the authors'
 * `peak_stimulation`), as a layer. See {@link findPeaks}.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { findPeaks, PeakFilter } from '../ops/find_peaks';
import { checkInteger, checkOneOf, fail } from '../ops/validation';
import { checkShapeRank, Kwargs, LayerArgs, registerLayer, Shape, single, singleShape } from './common';

export interface PeakFinderArgs extends LayerArgs {
  /** Odd window size of the local-maximum test. Default 3. */
  windowSize?: number;
  /** `'mean'` keeps peaks >= the map's mean (the authors' `_mean_filter`); `'none'` keeps all. Default `'mean'`. */
  filter?: PeakFilter;
}

/**
 * Maps `[batch, height, width, channels]` to a 0/1 peak mask of the same shape. Not trainable;
 * no gradient flows through the mask.
 *
 * @example
 * ```ts
 * const mask = new PeakFinder({ windowSize: 3 }).apply(maps) as tf.Tensor4D;
 * ```
 */
export class PeakFinder extends tfl.layers.Layer {
  static className = 'S3NPeakFinder';
  readonly windowSize: number;
  readonly filter: PeakFilter;

  constructor(args: PeakFinderArgs = {}) {
    super({ ...args, trainable: false });
    const fn = 'PeakFinder';
    this.windowSize = args.windowSize ?? 3;
    checkInteger(fn, 'windowSize', this.windowSize, 1);
    if (this.windowSize % 2 !== 1) fail(fn, 'windowSize', 'an odd integer', String(this.windowSize));
    this.filter = args.filter ?? 'mean';
    checkOneOf(fn, 'filter', this.filter, ['mean', 'none'] as const);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    checkShapeRank('PeakFinder', 'input', shape, 4, '[batch, height, width, channels]');
    return shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => findPeaks(single(inputs) as tf.Tensor4D, { windowSize: this.windowSize, filter: this.filter }));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), windowSize: this.windowSize, filter: this.filter };
  }
}
registerLayer(PeakFinder);
