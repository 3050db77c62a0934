/**
 * Evaluation of the four S3N outputs over a pipeline: top-1 and top-5 accuracy, per-class
 * accuracy and confusion matrices, optional flip test-time augmentation; and class alignment
 * by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ImagePipeline } from '../data/pipeline';
import type { DatasetSplits, ImageItem } from '../data/types';
import { S3N, S3N_OUTPUTS } from '../model/s3n';
import { UsageError } from './backend';

export type OutputName = (typeof S3N_OUTPUTS)[number];
export type Accuracies = Record<OutputName, number>;

/**
 * Test-time augmentation of {@link evaluate}: `'none'` (one view, as the authors evaluate) or
 * `'flip'` (the image and its horizontal flip; their softmax probabilities are averaged).
 */
export const TTA_MODES = ['none', 'flip'] as const;
export type TtaMode = (typeof TTA_MODES)[number];

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Test-time augmentation, default `'none'`. */
  tta?: TtaMode;
  /** The k of the top-k accuracy (default 5; at most the number of classes is used). */
  topK?: number;
}

/** The numbers of one output over the evaluated images. */
export interface OutputReport {
  /** Fraction of images whose highest-scoring class is the label. */
  top1: number;
  /** Fraction of images whose label is among the `k` highest-scoring classes. */
  top5: number;
  /**
   * Accuracy of each class (index = label): the diagonal of `confusion` over its row sums;
   * `null` for a class without images.
   */
  perClass: (number | null)[];
  /** `confusion[label][predicted]`: image counts; each row sums to that class's image count. */
  confusion: number[][];
}

/** What {@link evaluate} measured. */
export interface EvaluationResult {
  /** Top-1 accuracy of each output. */
  accuracies: Accuracies;
  /** Top-k accuracy of each output (k = {@link EvaluationResult.k}). */
  top5: Accuracies;
  /** Number of images evaluated. */
  images: number;
  /** The k of {@link EvaluationResult.top5}: `min(topK, classes)`. */
  k: number;
  /** The test-time augmentation used. */
  tta: TtaMode;
  /** Images per class (index = label). */
  classImages: number[];
  /** Per-output details, in {@link S3N_OUTPUTS} order as keys. */
  outputs: Record<OutputName, OutputReport>;
}

/**
 * The class scores of the four outputs of `images`, in {@link S3N_OUTPUTS} order, as used for
 * ranking: with `tta` `'none'`, the logits; with `'flip'`, the mean of the softmax
 * probabilities of the image and of its horizontal flip,
 * `(softmax(f(x)) + softmax(f(flip(x)))) / 2` (probabilities rather than logits, so that each
 * view contributes a distribution; the authors evaluate a single view).
 *
 * @param s3n The network (inference mode: moving batch-norm statistics).
 * @param images `[batch, H, W, 3]` at the network's input size.
 * @param tta See {@link TTA_MODES}.
 * @param source The source image, for an S3N with a {@link S3N.sourceSize} (flipped with the image).
 * @returns four `[batch, classes]` tensors (the caller disposes them).
 */
export function outputScores(s3n: S3N, images: tf.Tensor4D, tta: TtaMode = 'none', source?: tf.Tensor4D): tf.Tensor2D[] {
  return tf.tidy(() => {
    const run = (x: tf.Tensor4D, src?: tf.Tensor4D) => {
      const o = s3n.apply(x, { source: src });
      return S3N_OUTPUTS.map((name) => o[name]);
    };
    const outs = run(images, source);
    if (tta === 'none') return outs;
    const flipped = run(tf.reverse(images, 2), source && tf.reverse(source, 2));
    return outs.map((o, i) => tf.div(tf.add(tf.softmax(o), tf.softmax(flipped[i])), 2) as tf.Tensor2D);
  });
}

/**
 * Evaluates the four outputs (fused, raw, discriminative, complementary) on one pass of
 * `pipeline`: top-1 and top-k accuracy, per-class accuracy and the confusion matrix of each.
 * Classes are ranked by {@link outputScores} (ties: the lower class index first).
 *
 * @param s3n The network.
 * @param pipeline Batches of images and labels (labels in `[0, s3n.classes)`).
 * @param epoch Passed to `pipeline.epoch` (only matters for a shuffled pipeline). Default 0.
 * @param options Test-time augmentation and k, see {@link EvaluateOptions}.
 */
export async function evaluate(s3n: S3N, pipeline: ImagePipeline, epoch = 0, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const tta = options.tta ?? 'none';
  const classes = s3n.classes;
  const k = Math.min(options.topK ?? 5, classes);
  const confusion = S3N_OUTPUTS.map(() => Array.from({ length: classes }, () => new Array<number>(classes).fill(0)));
  const inTopK = new Float64Array(S3N_OUTPUTS.length);
  let images = 0;
  for await (const batch of pipeline.epoch(epoch)) {
    const top = tf.tidy(() => tf.stack(outputScores(s3n, batch.images, tta, batch.source).map((s) => tf.topk(s, k, true).indices)));
    const [idx, labels] = await Promise.all([top.data(), batch.labels.data()]);
    const n = batch.images.shape[0];
    for (let o = 0; o < S3N_OUTPUTS.length; o++) {
      for (let i = 0; i < n; i++) {
        const row = (o * n + i) * k;
        const label = labels[i];
        confusion[o][label][idx[row]]++;
        for (let j = 0; j < k; j++) {
          if (idx[row + j] === label) {
            inTopK[o]++;
            break;
          }
        }
      }
    }
    images += n;
    tf.dispose([top, batch.images, batch.labels, ...(batch.source ? [batch.source] : [])]);
  }
  const classImages = confusion[0].map((row) => row.reduce((a, b) => a + b, 0));
  const frac = (x: number) => (images > 0 ? x / images : 0);
  const outputs = Object.fromEntries(
    S3N_OUTPUTS.map((name, o) => {
      const correct = confusion[o].reduce((a, row, c) => a + row[c], 0);
      const report: OutputReport = {
        top1: frac(correct),
        top5: frac(inTopK[o]),
        perClass: confusion[o].map((row, c) => (classImages[c] > 0 ? row[c] / classImages[c] : null)),
        confusion: confusion[o],
      };
      return [name, report];
    }),
  ) as Record<OutputName, OutputReport>;
  const pick = (f: (r: OutputReport) => number) => Object.fromEntries(S3N_OUTPUTS.map((n) => [n, f(outputs[n])])) as Accuracies;
  return { accuracies: pick((r) => r.top1), top5: pick((r) => r.top5), images, k, tta, classImages, outputs };
}

/**
 * The images of a dataset split with their labels renumbered to the checkpoint's class
 * indices, pairing classes by name (not by position: two datasets sorted differently, or a
 * checkpoint trained on another reader, still match).
 *
 * @throws a {@link UsageError} (exit code 1) listing the names only in the checkpoint and only
 *   in the dataset when the two sets of names differ.
 */
export function alignClasses(checkpointClasses: readonly string[], ds: DatasetSplits, items: readonly ImageItem[]): ImageItem[] {
  const index = new Map(checkpointClasses.map((n, i) => [n, i]));
  const onlyCheckpoint = checkpointClasses.filter((n) => !ds.classNames.includes(n));
  const onlyData = ds.classNames.filter((n) => !index.has(n));
  if (onlyCheckpoint.length > 0 || onlyData.length > 0 || checkpointClasses.length !== ds.classNames.length) {
    const list = (names: string[]) => (names.length === 0 ? 'none' : names.map((n) => `'${n}'`).join(', '));
    throw new UsageError(
      `--data must have the classes of the checkpoint (matched by name), but '${ds.root}' differs: only in the checkpoint: ${list(onlyCheckpoint)}; only in --data: ${list(onlyData)}.`,
      1,
    );
  }
  return items.map((it) => ({ ...it, label: index.get(ds.classNames[it.label]) as number }));
}
