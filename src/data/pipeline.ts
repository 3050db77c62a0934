/**
 * The seeded batch pipeline: shuffles each epoch from `(seed, epoch)`, decodes and augments
 * with sharp in the background (the next batches decode on libuv's threads while the current
 * one trains), and yields tensors. Unreadable images are reported once and skipped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AugmentMode, loadImage } from './augment';
import { epochPermutation, mixSeed, mulberry32 } from './rng';
import type { ImageItem } from './types';

/** One batch. The caller owns (and must dispose) the tensors. */
export interface Batch {
  /** Normalised images `[batch, inputSize, inputSize, 3]` float32. */
  images: tf.Tensor4D;
  /** Class indices `[batch]` int32. */
  labels: tf.Tensor1D;
  /** The items of the batch, in order (skipped images left out). */
  items: ImageItem[];
  /** 0-based index of the batch in its epoch. */
  index: number;
}

export interface PipelineOptions {
  /** `'train'` (random crop + flip, shuffled) or `'eval'` (resize + center crop, in order). */
  mode: AugmentMode;
  /** Images per batch. */
  batchSize: number;
  /** Side of the square network input. Default 448. */
  inputSize?: number;
  /** Seed of the shuffles and of the augmentation draws. Default 0. */
  seed?: number;
  /** Shuffle each epoch. Default: true in train mode, false in eval mode. */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than `batchSize`. Default false. */
  dropLast?: boolean;
  /** Batches decoded ahead of the one being consumed. Default 1. */
  prefetch?: number;
  /** Called once per unreadable image (missing, corrupt, …) with a message naming its path. Default: `console.warn`. */
  onWarning?: (message: string, item: ImageItem) => void;
}

/**
 * Batches of a list of images, epoch by epoch. The order of epoch `e` and every augmentation
 * draw depend only on `(seed, e)` and the position in the epoch, so a run resumed at epoch
 * `e` sees the same batches as an uninterrupted one.
 *
 * @example
 * ```ts
 * const train = new ImagePipeline(ds.train, { mode: 'train', batchSize: 16, inputSize: 448, seed: 0 });
 * for await (const { images, labels } of train.epoch(3)) {
 *   // images [16, 448, 448, 3], labels [16]
 *   tf.dispose([images, labels]);
 * }
 * ```
 */
export class ImagePipeline {
  readonly items: readonly ImageItem[];
  readonly mode: AugmentMode;
  readonly batchSize: number;
  readonly inputSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly prefetch: number;
  /** Paths that could not be read; they are skipped from then on. */
  readonly skipped = new Set<string>();
  private readonly onWarning: (message: string, item: ImageItem) => void;

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
    this.seed = int('seed', options.seed ?? 0, 0);
    this.prefetch = int('prefetch', options.prefetch ?? 1, 0);
    this.shuffle = options.shuffle ?? this.mode === 'train';
    this.dropLast = options.dropLast ?? false;
    this.onWarning = options.onWarning ?? ((m) => console.warn(m));
  }

  /** Number of batches of an epoch (before skipping unreadable images). */
  get length(): number {
    const n = this.items.length / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The item indices of each batch of `epoch`. */
  plan(epoch: number): number[][] {
    const order = this.shuffle ? epochPermutation(this.items.length, this.seed, epoch) : this.items.map((_, i) => i);
    const out: number[][] = [];
    for (let i = 0; i < this.length; i++) out.push(order.slice(i * this.batchSize, (i + 1) * this.batchSize));
    return out;
  }

  private decodeBatch(epoch: number, indices: number[], start: number): Promise<(Float32Array | null)[]> {
    return Promise.all(
      indices.map(async (idx, k) => {
        const item = this.items[idx];
        if (this.skipped.has(item.path)) return null;
        const rng = this.mode === 'train' ? mulberry32(mixSeed(this.seed, epoch, start + k)) : undefined;
        try {
          return await loadImage(item, { mode: this.mode, inputSize: this.inputSize, rng });
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

  /** The batches of a (0-based) epoch. Batches whose images all failed are left out. */
  async *epoch(epoch = 0): AsyncGenerator<Batch> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`ImagePipeline.epoch: epoch must be an integer >= 0, but got ${JSON.stringify(epoch)}.`);
    const plan = this.plan(epoch);
    const pending: Promise<(Float32Array | null)[]>[] = [];
    const startAt = (i: number) => this.decodeBatch(epoch, plan[i], i * this.batchSize);
    for (let i = 0; i < Math.min(plan.length, this.prefetch + 1); i++) pending.push(startAt(i));
    const pixels = this.inputSize * this.inputSize * 3;
    for (let i = 0; i < plan.length; i++) {
      const decoded = await (pending.shift() as Promise<(Float32Array | null)[]>);
      const next = i + this.prefetch + 1;
      if (next < plan.length) pending.push(startAt(next));
      const kept = plan[i].map((idx, k) => ({ item: this.items[idx], data: decoded[k] })).filter((x) => x.data !== null);
      if (kept.length === 0) continue;
      const buf = new Float32Array(kept.length * pixels);
      kept.forEach((x, k) => buf.set(x.data as Float32Array, k * pixels));
      const images = tf.tensor4d(buf, [kept.length, this.inputSize, this.inputSize, 3], 'float32');
      const labels = tf.tensor1d(Int32Array.from(kept.map((x) => x.item.label)), 'int32');
      yield { images, labels, items: kept.map((x) => x.item), index: i };
    }
  }
}
