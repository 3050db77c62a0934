/**
 * Mean response at the peaks: the aggregation half of the authors' `peak_stimulation`
 * (S3N, Ding et al., ICCV 2019, sec. 3.1), with its custom backward pass.
 *
 * @module ops
 */
import * as tf from '@tensorflow/tfjs-core';

import { stopGradient } from './stop_gradient';
import { checkFloat, checkTensor, fail } from './validation';

const FN = 'peakAggregation';

/** The epsilon the authors add to the peak count in the backward pass only. */
const BACKWARD_EPSILON = 1e-6;

/**
 * Averages each `(batch, channel)` map over its peaks:
 * `out[n, c] = sum_hw(maps * mask) / sum_hw(mask)`.
 *
 * Usually `mask = findPeaks(maps)`. A channel whose mask is all zero gives 0 (the authors'
 * code gives NaN there). Positions where the mask is 0 contribute nothing even when the map
 * is not finite there.
 *
 * The gradient is the authors' custom backward, not the derivative of the forward formula:
 * `d maps = mask * dy[n, c] / (count[n, c] + 1e-6)` with `count = sum_hw(mask)`, so a channel
 * without peaks gets a zero, finite gradient. No gradient flows to `mask`: it is a constant for
 * the tape (differentiating with respect to it is an error, as for any unused input).
 *
 * Built from plain ops (no custom-gradient op, so nothing has to be saved for the backward
 * pass): the value is the exact quotient, and a zero-valued term
 * `s - stopGradient(s)`, `s = sum_hw(maps * mask / (count + 1e-6))`, carries the gradient.
 *
 * In the paper (§3.1) this is the class peak response: the mean of a class response map over
 * its peaks, a class score that, unlike the spatial mean, is driven by the most informative
 * locations only. ({@link S3N} itself classifies with the spatial mean, like the authors'
 * `raw_classifier`, and uses the peaks only to place the sparse attention; this op is not on
 * its path.)
 *
 * @param maps `[batch, height, width, channels]` float32 response maps.
 * @param mask `[batch, height, width, channels]` float32 peak mask (0/1), same shape as `maps`.
 * @returns `[batch, channels]` float32.
 *
 * @example
 * ```ts
 * const crms = tf.randomNormal([2, 14, 14, 200]) as tf.Tensor4D;
 * const scores = ops.peakAggregation(crms, ops.findPeaks(crms)); // [2, 200]
 * ```
 */
export function peakAggregation(maps: tf.Tensor4D, mask: tf.Tensor4D): tf.Tensor2D {
  checkTensor(FN, 'maps', maps, 4, '[batch, height, width, channels]');
  checkFloat(FN, 'maps', maps);
  checkTensor(FN, 'mask', mask, 4, '[batch, height, width, channels]');
  checkFloat(FN, 'mask', mask);
  if (!maps.shape.every((d, i) => d === mask.shape[i])) {
    fail(FN, 'mask', `a tensor of the same shape as maps [${maps.shape.join(',')}]`, `shape [${mask.shape.join(',')}]`);
  }
  const [batch, , , channels] = maps.shape;

  return tf.tidy(() => {
    const m = stopGradient(mask);
    // Off-mask values are replaced by 0 (so NaN * 0 cannot leak in); their gradient is 0.
    const values = tf.where(tf.notEqual(m, 0), maps, tf.zerosLike(maps));
    const count = tf.sum(m, [1, 2], true); // [batch, 1, 1, channels]
    const exact = tf.divNoNan(tf.sum(tf.mul(values, m), [1, 2]), tf.reshape(count, [batch, channels]));
    // d surrogate / d maps = mask / (count + 1e-6): the authors' backward.
    const surrogate = tf.sum(tf.mul(values, tf.div(m, tf.add(count, BACKWARD_EPSILON))), [1, 2]);
    return tf.add(stopGradient(exact), tf.sub(surrogate, stopGradient(surrogate))) as tf.Tensor2D;
  });
}
