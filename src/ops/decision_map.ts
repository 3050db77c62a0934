/**
 * The decision map of S3N (paper sec. 3.1, "class peak responses"; the authors' `generate_map`,
 * first half): an entropy gate on the top-k class probabilities chooses which class response
 * map(s) the peaks are taken from, and the chosen map is min-max normalised to [0, 1].
 */
import * as tf from '@tensorflow/tfjs-core';
import { stopGradient } from './stop_gradient';
import { checkFloat, checkInteger, checkPositive, checkTensor, describeValue, fail } from './validation';
import { S3N_DEFAULTS as D } from '../defaults';

/** Options of {@link decisionMap}: the entropy gate of §3.1 (defaults: top-5, δ = 0.2). */
export interface DecisionMapOptions {
  /**
   * Class logits `[batch, classes]` used for the gate. Default: the spatial mean of the maps,
   * which is how the authors' code computes the raw logits.
   */
  classScores?: tf.Tensor2D;
  /** How many top classes take part in the gate and in the averaged map. Default 5. */
  topK?: number;
  /**
   * δ of the gate. With `p` the top-k softmax probabilities, the network is "confident" when
   * `Σ p·ln p > −δ` (the top-k partial entropy is below δ); it then uses the top-1 map, and
   * otherwise the mean of the top-k maps. Default 0.2.
   */
  entropyThreshold?: number;
}

/** What {@link decisionMap} returns: the map the peaks are taken from, and two per-sample flags. */
export interface DecisionMapResult {
  /**
   * `[batch, height, width]`, min-max normalised to [0, 1]. A map that cannot be normalised
   * (constant, or holding NaN/Inf) is all zeros and marked invalid.
   */
  decision: tf.Tensor3D;
  /** `[batch]` bool: true where the normalised map is usable (finite and not constant). */
  valid: tf.Tensor1D;
  /** `[batch]` bool: true where the gate chose the top-1 map. */
  confident: tf.Tensor1D;
}

/**
 * Builds the decision map from class response maps.
 *
 * 1. `p = softmax(scores)`; take the top-k probabilities and their classes.
 * 2. Gate: `Σ_{i<k} p_i ln p_i > −δ` → top-1 class map, else the mean of the top-k maps.
 * 3. Min-max normalise each map to [0, 1].
 *
 * No gradient flows back to the maps or scores (they are constants for the sampler, as in the
 * authors' code). Batch-vectorised; no host synchronisation.
 *
 * @param classResponseMaps `[batch, height, width, classes]`, at least 2 classes (S3N resizes
 *   them to 31×31 first; `topK` is capped at the number of classes).
 * @param options Gate parameters: `topK` (default 5), `entropyThreshold` (default 0.2),
 *   `classScores` (default: the spatial mean of the maps).
 * @returns the normalised map `[batch, height, width]`, its validity and the gate decision.
 *
 * @example
 * ```ts
 * const crms = tf.randomNormal([2, 31, 31, 200]) as tf.Tensor4D;
 * const { decision } = ops.decisionMap(crms);          // [2, 31, 31], values in [0, 1]
 * ```
 */
export function decisionMap(classResponseMaps: tf.Tensor4D, options: DecisionMapOptions = {}): DecisionMapResult {
  const fn = 'decisionMap';
  checkTensor(fn, 'classResponseMaps', classResponseMaps, 4, '[batch, height, width, classes]');
  checkFloat(fn, 'classResponseMaps', classResponseMaps);
  const [batch, , , classes] = classResponseMaps.shape;
  if (classes < 2) fail(fn, 'classResponseMaps', 'a tensor with at least 2 classes in its last dimension', `${classes}`);
  if (options === null || typeof options !== 'object') fail(fn, 'options', 'an object', describeValue(options));
  const { topK = D.topK, entropyThreshold = D.entropyThreshold, classScores } = options;
  checkInteger(fn, 'topK', topK, 1);
  checkPositive(fn, 'entropyThreshold', entropyThreshold, true);
  if (classScores !== undefined) {
    checkTensor(fn, 'classScores', classScores, 2, '[batch, classes]');
    if (classScores.shape[0] !== batch || classScores.shape[1] !== classes) {
      fail(fn, 'classScores', `of shape [${batch},${classes}] to match classResponseMaps`, `shape [${classScores.shape.join(',')}]`);
    }
  }
  const k = Math.min(topK, classes);

  return tf.tidy(() => {
    const [, height, width] = classResponseMaps.shape;
    // [B, H·W, C]: every step below is a batched matmul over this view, with no transpose or
    // gather of the C maps (slow on cpu for hundreds of classes; wasm's batched gather is broken
    // from batch 16 on in tfjs 4.22).
    const maps = tf.reshape(stopGradient(classResponseMaps), [batch, height * width, classes]) as tf.Tensor3D;
    const scores = classScores
      ? stopGradient(classScores)
      : tf.reshape(tf.matMul(tf.fill([batch, 1, height * width], 1 / (height * width)), maps), [batch, classes]);
    const prob = tf.softmax(scores);
    const top = tf.topk(prob, k);
    // Σ p ln p with 0·ln 0 = 0.
    const pLogP = tf.where(tf.greater(top.values, 0), tf.mul(top.values, tf.log(top.values)), tf.zerosLike(top.values));
    const confident = tf.greater(tf.sum(pLogP, 1), -entropyThreshold) as tf.Tensor1D;

    // Class weights [B, C, 1]: one-hot of the top-1 class when confident, else 1/k on each of
    // the top-k classes; the decision map is the maps weighted by them.
    // Cast to float32: tfjs-backend-webgpu 4.22 builds an invalid shader for an int32 sum over
    // axis 1, and the wasm backend's OneHot writes int32 bits whatever dtype it is asked for.
    // A multiply, not tf.cast: on tfjs-backend-webgpu 4.22 a cast from int32 relabels the int32
    // buffer, and the sum over axis 1 below then builds an invalid shader (zeros); oneHot's own
    // 'float32' dtype writes int32 bits on wasm. The product is a float32 buffer everywhere.
    const oneHots = tf.mul(tf.oneHot(top.indices, classes), tf.scalar(1, 'float32')); // [B, k, C]
    const top1 = tf.squeeze(tf.slice(oneHots, [0, 0, 0], [-1, 1, -1]), [1]);
    const meanK = tf.div(tf.sum(oneHots, 1), k);
    const weights = tf.where(tf.reshape(confident, [batch, 1]), top1, meanK);
    const raw = tf.reshape(tf.matMul(maps, tf.reshape(weights, [batch, classes, 1])), [batch, height, width]) as tf.Tensor3D;

    const lo = tf.min(raw, [1, 2], true);
    const range = tf.sub(tf.max(raw, [1, 2], true), lo);
    const finite = tf.isFinite(tf.sum(raw, [1, 2], true));
    const valid3 = tf.logicalAnd(finite, tf.greater(range, 0));
    const safeRange = tf.where(valid3, range, tf.onesLike(range));
    const normalised = tf.where(valid3, tf.div(tf.sub(raw, lo), safeRange), tf.zerosLike(raw)) as tf.Tensor3D;
    // A NaN can survive `where` only where valid3 is true, which requires a finite map.
    return { decision: normalised, valid: tf.reshape(valid3, [batch]) as tf.Tensor1D, confident };
  });
}
