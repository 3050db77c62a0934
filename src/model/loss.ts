/**
 * The S3N training loss (the authors' `multi_smooth_loss`): cross-entropy on the fused and the
 * discriminative logits, label-smoothed cross-entropy on the raw and the complementary logits.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkTensor, describeValue, fail } from '../ops/validation';
import { S3N_DEFAULTS as D } from '../defaults';
import { canReadSync } from '../tfjs_internals';

/** Options of {@link s3nLoss} (the authors' values are the defaults). */
export interface S3NLossOptions {
  /**
   * Probability given to the true class by the smoothed targets of the raw and complementary
   * outputs; the rest is spread evenly over the other classes. Default 0.85.
   */
  smoothRatio?: number;
  /** Weights of the four terms, in output order (fused, raw, discriminative, complementary). Default all 1. */
  weights?: [number, number, number, number];
  /**
   * Check that every label is a class index in `[0, classes)` before any computation (default
   * true, except on webgpu, which cannot read to the host synchronously). The check reads the labels to the host
   * (`dataSync` of the small `[batch]` tensor): free on the cpu and wasm backends, one small
   * synchronisation on WebGL. Turn it off when
   * the labels were validated where they entered (as `ImagePipeline` of `s3n-layers/node` does with its
   * `classes` option); out-of-range labels then train silently with an all-zero target.
   */
  validateLabels?: boolean;
}

/**
 * Throws unless every label is an integer class index in `[0, classes)`: reads the labels to
 * the host (see {@link S3NLossOptions.validateLabels}). Creates no tensor.
 *
 * @internal
 */
export function checkLabelRange(fn: string, labels: tf.Tensor, classes: number): void {
  const values = labels.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0 && v < classes)) fail(fn, 'labels', `class indices in [0, ${classes})`, `${v} at index ${i}`);
  }
}

/**
 * Checks the options of {@link s3nLoss} (smoothing ratio, term weights), creating no tensor.
 *
 * @internal
 */
export function checkLossOptions(fn: string, options: unknown): { smoothRatio: number; weights: [number, number, number, number]; validateLabels: boolean } {
  if (options == null || typeof options !== 'object') fail(fn, 'options', 'an object', describeValue(options));
  const { smoothRatio = D.smoothRatio, weights = [1, 1, 1, 1], validateLabels = canReadSync() } = options as S3NLossOptions;
  if (typeof smoothRatio !== 'number' || !(smoothRatio > 0 && smoothRatio <= 1)) fail(fn, 'smoothRatio', 'a number in (0, 1]', describeValue(smoothRatio));
  if (!Array.isArray(weights) || weights.length !== 4 || !weights.every((w) => typeof w === 'number' && Number.isFinite(w) && w >= 0)) {
    fail(fn, 'weights', 'an array of 4 finite numbers >= 0 (fused, raw, discriminative, complementary)', describeValue(weights));
  }
  if (typeof validateLabels !== 'boolean') fail(fn, 'validateLabels', 'a boolean', describeValue(validateLabels));
  return { smoothRatio, weights, validateLabels };
}

/**
 * `-mean(Σ_c t_c · log softmax(logits)_c)` with `t = smoothRatio` on the true class and
 * `(1 - smoothRatio)/(C - 1)` elsewhere. `smoothRatio = 1` is plain cross-entropy.
 *
 * @param logits `[batch, classes]`.
 * @param labels `[batch]` int32 class indices.
 * @param smoothRatio Target probability of the true class, in (0, 1]. Default 1.
 * @returns the mean loss over the batch, a scalar.
 *
 * @example
 * ```ts
 * const logits = tf.tensor2d([[2, 0, 0]]);
 * smoothCrossEntropy(logits, tf.tensor1d([0], 'int32'));       // plain cross-entropy ≈ 0.2395
 * smoothCrossEntropy(logits, tf.tensor1d([0], 'int32'), 0.85); // targets [0.85, 0.075, 0.075]
 * ```
 */
export function smoothCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothRatio = 1): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    // tf.oneHot refuses depth 1; with one class every label is that class.
    const onehot = classes > 1 ? tf.cast(tf.oneHot(labels, classes), 'float32') : tf.ones([labels.shape[0], 1]);
    const other = classes > 1 ? (1 - smoothRatio) / (classes - 1) : 0;
    const target = tf.add(tf.mul(onehot, smoothRatio - other), other);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), target), 1))) as tf.Scalar;
  });
}

/**
 * The S3N loss of the four outputs `[fused, raw, discriminative, complementary]` (§3.4): every
 * branch is supervised by the image label, so the sampled branches learn on their own and the
 * fused classifier learns to combine them:
 *
 * `L = w₀·CE(fused) + w₁·CE_smooth(raw) + w₂·CE(discriminative) + w₃·CE_smooth(complementary)`,
 *
 * where `CE_smooth` is {@link smoothCrossEntropy} with `smoothRatio` (default 0.85) and `CE`
 * plain cross-entropy; the weights default to 1.
 *
 * @param outputs The four logits `[batch, classes]`, in {@link S3N_OUTPUTS} order (what
 *   `s3n.model.apply` returns).
 * @param labels `[batch]` int32 class indices in `[0, classes)`.
 * @param options Smoothing ratio, term weights and the label check.
 * @returns the loss, a scalar.
 * @throws before any tensor is made, when an output is not `[batch, classes]` float32 logits
 *   like the others, when `labels` is not an int32 `[batch]` tensor, when a label is not in
 *   `[0, classes)` (unless `validateLabels: false`), or when an option is out of range.
 *
 * @example
 * ```ts
 * const outputs = s3n.model.apply(images, { training: true }) as tf.Tensor2D[];
 * const loss = s3nLoss(outputs, labels);
 * ```
 */
export function s3nLoss(outputs: tf.Tensor[], labels: tf.Tensor, options: S3NLossOptions = {}): tf.Scalar {
  const fn = 's3nLoss';
  if (!Array.isArray(outputs) || outputs.length !== 4) {
    fail(fn, 'outputs', 'the 4 logits [fused, raw, discriminative, complementary]', Array.isArray(outputs) ? `${outputs.length} tensors` : 'a single tensor');
  }
  outputs.forEach((o, i) => checkTensor(fn, `outputs[${i}]`, o, 2, '[batch, classes]'));
  checkTensor(fn, 'labels', labels, 1, '[batch] of class indices');
  if (labels.dtype !== 'int32') fail(fn, 'labels', 'an int32 tensor of class indices', `dtype ${labels.dtype}`);
  const [batch, classes] = outputs[0].shape;
  outputs.forEach((o, i) => {
    if (o.shape[0] !== batch || o.shape[1] !== classes) fail(fn, `outputs[${i}]`, `[${batch}, ${classes}] like outputs[0]`, `shape [${o.shape.join(',')}]`);
    if (o.dtype !== 'float32') fail(fn, `outputs[${i}]`, 'a float32 tensor of logits', `dtype ${o.dtype}`);
  });
  if (batch < 1 || classes < 2) fail(fn, 'outputs', 'logits of at least one image and 2 classes', `shape [${batch},${classes}]`);
  if (labels.shape[0] !== batch) fail(fn, 'labels', `${batch} labels like the batch`, `${labels.shape[0]}`);
  const { smoothRatio, weights, validateLabels } = checkLossOptions(fn, options);
  if (validateLabels) checkLabelRange(fn, labels, classes);
  const ratios = [1, smoothRatio, 1, smoothRatio];
  return tf.tidy(() =>
    tf.addN(outputs.map((o, i) => tf.mul(smoothCrossEntropy(o as tf.Tensor2D, labels as tf.Tensor1D, ratios[i]), weights[i]))) as tf.Scalar,
  );
}
