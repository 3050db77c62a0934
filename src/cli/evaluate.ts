/** Top-1 accuracy of the four S3N outputs over a pipeline, and class alignment by name. */
import * as tf from '@tensorflow/tfjs-core';
import type { ImagePipeline } from '../data/pipeline';
import type { DatasetSplits, ImageItem } from '../data/types';
import { S3N, S3N_OUTPUTS } from '../model/s3n';
import { UsageError } from './backend';

export type OutputName = (typeof S3N_OUTPUTS)[number];
export type Accuracies = Record<OutputName, number>;

/** Top-1 accuracy of each output (fused, raw, discriminative, complementary) on one pass of `pipeline`. */
export async function evaluate(s3n: S3N, pipeline: ImagePipeline, epoch = 0): Promise<{ accuracies: Accuracies; images: number }> {
  const correct = new Float64Array(S3N_OUTPUTS.length);
  let images = 0;
  for await (const batch of pipeline.epoch(epoch)) {
    const hits = tf.tidy(() => {
      const outs = s3n.model.apply(batch.images, { training: false }) as tf.Tensor2D[];
      return tf.stack(outs.map((o) => tf.sum(tf.cast(tf.equal(tf.argMax(o, 1), batch.labels), 'int32'))));
    });
    const h = await hits.data();
    h.forEach((v, i) => (correct[i] += v));
    images += batch.images.shape[0];
    tf.dispose([hits, batch.images, batch.labels]);
  }
  const accuracies = Object.fromEntries(S3N_OUTPUTS.map((n, i) => [n, images > 0 ? correct[i] / images : 0])) as Accuracies;
  return { accuracies, images };
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
