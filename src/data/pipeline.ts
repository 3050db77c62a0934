/**
 * The seeded batch pipeline: shuffles each epoch from `(seed, epoch)`, decodes and augments
 * with sharp in the background (the next batches decode on libuv's threads while the current
 * one trains), and yields tensors. Unreadable images are reported once and skipped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AugmentMode, loadImage, loadImageWithSource } from './augment';
import { epochPermutation, mixSeed, mulberry32 } from './rng';
import type { ImageItem } from './types';

/**
 * One batch yielded by {@link ImagePipeline.epoch}. The caller owns (and must dispose) the
 * tensors. `batch` is `batchSize`, or less for the last batch of an epoch and when images of
 * the batch could not be read.
 */
export interface Batch {
  /**
   * Normalised images `[batch, inputSize, inputSize, 3]` float32 (NHWC, RGB, ImageNet mean/std,
   * see {@link loadImage}).
   */
  images: tf.Tensor4D;
  /**
   * With {@link PipelineOptions.sourceSize}: the same images at the source size,
   * `[batch, sourceSize, sourceSize, 3]` float32, normalised the same way (see
   * {@link loadImageWithSource}); pass it as the `source` option of the S3N calls. Else absent.
   */
  source?: tf.Tensor4D;
  /** Class indices `[batch]` int32 (`item.label` of each image, in order). */
  labels: tf.Tensor1D;
  /** The items of the batch, in order (skipped images left out). */
  items: ImageItem[];
  /**
   * 0-based index of the batch in its epoch's {@link ImagePipeline.plan} (batches whose images
   * all failed are not yielded, so indices may skip).
   */
  index: number;
}

/** One decoded image: the network input and, with a source size, the source. */
interface Decoded {
  image: Float32Array;
  source?: Float32Array;
}

/** Options of {@link ImagePipeline}: `mode` and `batchSize` are required. */
export interface PipelineOptions {
  /** `'train'` (random crop + flip, shuffled) or `'eval'` (resize + center crop, in order). */
  mode: AugmentMode;
  /** Images per batch, an integer >= 1. */
  batchSize: number;
  /** Side of the square network input, in pixels (integer >= 1). Default 448. */
  inputSize?: number;
  /**
   * Beyond the paper: also deliver each image at this size (an integer >= `inputSize`) as
   * {@link Batch.source}, for an S3N made with `S3NOptions.sourceSize`. Both images are
   * decoded from the original file by {@link loadImageWithSource} (the same crop and flip,
   * each resized by libvips from the original pixels), and `images` is unchanged by it.
   * Default: none.
   */
  sourceSize?: number;
  /** Seed of the shuffles and of the augmentation draws (integer >= 0). Default 0. */
  seed?: number;
  /** Shuffle each epoch. Default: true in train mode, false in eval mode. */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than `batchSize`. Default false. */
  dropLast?: boolean;
  /**
   * How far decoding runs ahead (integer >= 0): while batch `i` is being consumed, batches
   * `i + 1` to `i + 1 + prefetch` are decoding, so 0 still keeps one batch in flight. Default 1.
   */
  prefetch?: number;
  /**
   * Number of classes: every `item.label` must then be an integer in `[0, classes)` (checked
   * when the pipeline is made, so training code need not read labels back from the device).
   * Default: labels need only be integers >= 0.
   */
  classes?: number;
  /** Called once per unreadable image (missing, corrupt, …) with a message naming its path. Default: `console.warn`. */
  onWarning?: (message: string, item: ImageItem) => void;
}

/**
 * Batches of a list of images, epoch by epoch: {@link ImagePipeline.epoch} yields
 * {@link Batch}es of images `[batch, inputSize, inputSize, 3]` float32 (NHWC) and labels
 * `[batch]` int32. Images are decoded and augmented with {@link loadImage} (sharp, off the main
 * thread), ahead of the batch being consumed (see {@link PipelineOptions.prefetch}).
 *
 * The order of epoch `e` ({@link epochPermutation} when shuffling, the items' order otherwise)
 * and every augmentation draw (`mulberry32(mixSeed(seed, e, position in the epoch))`) depend
 * only on `(seed, e)` and the position, so a run resumed at epoch `e` sees the same batches as
 * an uninterrupted one. An image that cannot be read is reported once through `onWarning`,
 * left out of its batch and skipped from then on (see {@link ImagePipeline.skipped}).
 *
 * @example
 * ```ts
 * const ds = readCub('/data/CUB_200_2011');
 * const train = new ImagePipeline(ds.train, { mode: 'train', batchSize: 16, inputSize: 448, seed: 0 });
 * for await (const { images, labels } of train.epoch(3)) {
 *   // images [16, 448, 448, 3] float32, labels [16] int32
 *   tf.dispose([images, labels]);
 * }
 * const test = new ImagePipeline(ds.test, { mode: 'eval', batchSize: 32 }); // in order, inputSize 448
 * // Beyond the paper: also the source S3N zooms into (an S3N made with sourceSize: 896).
 * const zoom = new ImagePipeline(ds.train, { mode: 'train', batchSize: 16, inputSize: 448, sourceSize: 896 });
 * for await (const { images, source, labels } of zoom.epoch(0)) {
 *   tf.dispose(s3n.trainStep(images, labels, optimizer, { source })); // source [16, 896, 896, 3]
 *   tf.dispose([images, source!, labels]);
 * }
 * ```
 */
export class ImagePipeline {
  /** The images, as given (kept by reference, not copied). */
  readonly items: readonly ImageItem[];
  /** `'train'` or `'eval'`, see {@link PipelineOptions.mode}. */
  readonly mode: AugmentMode;
  /** Images per batch (the last batch of an epoch may have fewer). */
  readonly batchSize: number;
  /** Side of the square images of every batch, in pixels. */
  readonly inputSize: number;
  /** Side of the square source images ({@link Batch.source}), or undefined without a source. */
  readonly sourceSize: number | undefined;
  /** Seed of the shuffles and of the augmentation draws. */
  readonly seed: number;
  /** Whether each epoch is shuffled (default: in train mode only). */
  readonly shuffle: boolean;
  /** Whether the last, smaller batch of an epoch is dropped. */
  readonly dropLast: boolean;
  /** How far decoding runs ahead, see {@link PipelineOptions.prefetch}. */
  readonly prefetch: number;
  /** Paths that could not be read; they are skipped from then on. */
  readonly skipped = new Set<string>();
  private readonly onWarning: (message: string, item: ImageItem) => void;

  /**
   * Checks the options; nothing is read or decoded until {@link ImagePipeline.epoch} is iterated.
   *
   * @param items The images, e.g. `train` or `test` of a {@link DatasetSplits}.
   * @param options Mode, batch size and the other settings, see {@link PipelineOptions}.
   * @throws when `items` is not an array, `mode` is not `'train'` or `'eval'`, `batchSize`,
   *   `inputSize` or `classes` is not an integer >= 1, `sourceSize` is not an integer >= `inputSize`, `seed` or `prefetch` is not an integer
   *   >= 0, or an item's label is not a class index (an integer >= 0, below `classes` when
   *   given; the message names the item).
   */
  constructor(items: readonly ImageItem[], options: PipelineOptions) {
    const fn = 'ImagePipeline';
    if (!Array.isArray(items)) throw new Error(`${fn}: items must be an array of {path, label}, but got ${typeof items}.`);
    if (options?.mode !== 'train' && options?.mode !== 'eval') throw new Error(`${fn}: mode must be one of 'train', 'eval', but got ${JSON.stringify(options?.mode)}.`);
    const int = (name: string, v: unknown, min: number): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${fn}: ${name} must be an integer >= ${min}, but got ${JSON.stringify(v)}.`);
      return v;
    };
    this.items = items;
    this.mode = options.mode;
    this.batchSize = int('batchSize', options.batchSize, 1);
    this.inputSize = int('inputSize', options.inputSize ?? 448, 1);
    this.sourceSize = options.sourceSize === undefined ? undefined : int('sourceSize', options.sourceSize, this.inputSize);
    this.seed = int('seed', options.seed ?? 0, 0);
    this.prefetch = int('prefetch', options.prefetch ?? 1, 0);
    this.shuffle = options.shuffle ?? this.mode === 'train';
    this.dropLast = options.dropLast ?? false;
    this.onWarning = options.onWarning ?? ((m) => console.warn(m));
    const classes = options.classes === undefined ? undefined : int('classes', options.classes, 1);
    items.forEach((item, i) => {
      const label = (item as Partial<ImageItem> | null)?.label;
      const ok = typeof label === 'number' && Number.isInteger(label) && label >= 0 && (classes === undefined || label < classes);
      if (!ok) {
        const expected = classes === undefined ? 'an integer >= 0' : `a class index in [0, ${classes})`;
        throw new Error(`${fn}: items[${i}].label must be ${expected}, but got ${typeof label === 'number' ? String(label) : JSON.stringify(label)} ('${(item as Partial<ImageItem> | null)?.path}').`);
      }
    });
  }

  /**
   * Number of batches of an epoch, `ceil(items.length / batchSize)` (`floor` with `dropLast`),
   * counted before skipping unreadable images.
   */
  get length(): number {
    const n = this.items.length / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /**
   * The item indices (into {@link ImagePipeline.items}) of each batch of `epoch`, without
   * reading any image: {@link ImagePipeline.length} arrays of up to `batchSize` indices.
   *
   * @param epoch 0-based epoch (only matters when shuffling).
   */
  plan(epoch: number): number[][] {
    const order = this.shuffle ? epochPermutation(this.items.length, this.seed, epoch) : this.items.map((_, i) => i);
    const out: number[][] = [];
    for (let i = 0; i < this.length; i++) out.push(order.slice(i * this.batchSize, (i + 1) * this.batchSize));
    return out;
  }

  private decodeBatch(epoch: number, indices: number[], start: number): Promise<(Decoded | null)[]> {
    return Promise.all(
      indices.map(async (idx, k) => {
        const item = this.items[idx];
        if (this.skipped.has(item.path)) return null;
        const rng = this.mode === 'train' ? mulberry32(mixSeed(this.seed, epoch, start + k)) : undefined;
        try {
          const options = { mode: this.mode, inputSize: this.inputSize, rng };
          if (this.sourceSize === undefined) return { image: await loadImage(item, options) };
          return await loadImageWithSource(item, { ...options, sourceSize: this.sourceSize });
        } catch (e) {
          if (!this.skipped.has(item.path)) {
            this.skipped.add(item.path);
            this.onWarning(`skipping ${(e as Error).message}`, item);
          }
          return null;
        }
      }),
    );
  }

  /**
   * The batches of a (0-based) epoch, in {@link ImagePipeline.plan} order. Each batch holds the
   * images of its plan entry that could be read; batches whose images all failed are left out.
   * When a batch is yielded, the following `prefetch + 1` batches are already decoding. The
   * caller must dispose `images` and `labels` of every batch.
   *
   * @param epoch 0-based epoch, an integer >= 0. Default 0.
   * @throws (on the first iteration) when `epoch` is not an integer >= 0.
   */
  async *epoch(epoch = 0): AsyncGenerator<Batch> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`ImagePipeline.epoch: epoch must be an integer >= 0, but got ${JSON.stringify(epoch)}.`);
    const plan = this.plan(epoch);
    const pending: Promise<(Decoded | null)[]>[] = [];
    const startAt = (i: number) => this.decodeBatch(epoch, plan[i], i * this.batchSize);
    for (let i = 0; i < Math.min(plan.length, this.prefetch + 1); i++) pending.push(startAt(i));
    const stack = (data: Float32Array[], size: number) => {
      const pixels = size * size * 3;
      const buf = new Float32Array(data.length * pixels);
      data.forEach((d, k) => buf.set(d, k * pixels));
      return tf.tensor4d(buf, [data.length, size, size, 3], 'float32');
    };
    for (let i = 0; i < plan.length; i++) {
      const decoded = await (pending.shift() as Promise<(Decoded | null)[]>);
      const next = i + this.prefetch + 1;
      if (next < plan.length) pending.push(startAt(next));
      const kept = plan[i].map((idx, k) => ({ item: this.items[idx], data: decoded[k] })).filter((x) => x.data !== null);
      if (kept.length === 0) continue;
      const images = stack(kept.map((x) => (x.data as Decoded).image), this.inputSize);
      const source = this.sourceSize === undefined ? undefined : stack(kept.map((x) => (x.data as Decoded).source as Float32Array), this.sourceSize);
      const labels = tf.tensor1d(Int32Array.from(kept.map((x) => x.item.label)), 'int32');
      yield { images, ...(source ? { source } : {}), labels, items: kept.map((x) => x.item), index: i };
    }
  }
}
