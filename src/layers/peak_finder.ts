/**
 * `PeakFinder`: local maxima of class response maps (paper sec. 3.1, the authors'
 * `peak_stimulation`), as a layer. See {@link findPeaks}.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { findPeaks, PeakFilter } from '../ops/find_peaks';
import { checkInteger, checkOneOf, fail } from '../ops/validation';
import { checkShapeRank, Kwargs, LayerArgs, registerLayer, Shape, single, singleShape } from './common';

/** Constructor arguments of {@link PeakFinder} (the options of {@link findPeaks}, plus `LayerArgs`). */
export interface PeakFinderArgs extends LayerArgs {
  /** Odd window size of the local-maximum test. Default 3. */
  windowSize?: number;
  /** `'mean'` keeps peaks >= the map's mean (the authors' `_mean_filter`); `'none'` keeps all. Default `'mean'`. */
  filter?: PeakFilter;
}

/**
 * Maps `[batch, height, width, channels]` to a 0/1 peak mask of the same shape: the class peak
 * responses of §3.1 (local maxima in a `windowSize` window, by default also `>=` the map's
 * mean). Not trainable, no weights; no gradient flows through the mask. {@link S3N} does not
 * need this layer (its {@link SparseAttention} finds the peaks itself); use it to build your
 * own models or to look at the peaks of each class map.
 *
 * @example
 * ```ts
 * const mask = new PeakFinder({ windowSize: 3 }).apply(maps) as tf.Tensor4D;
 * ```
 */
export class PeakFinder extends tfl.layers.Layer {
  /** Name under which the class is registered for serialisation: `'S3NPeakFinder'`. */
  static className = 'S3NPeakFinder';
  /** Side of the square window of the local-maximum test (odd). */
  readonly windowSize: number;
  /** Extra condition on a local maximum, see {@link PeakFilter}. */
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
