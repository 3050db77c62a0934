/**
 * `s3n train`: the authors' training recipe on a dataset, with per-epoch evaluation of the four
 * outputs, a checkpoint after every epoch, and `--resume` from the last one.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDataset, DatasetKind } from '../data';
import type { AircraftAnnotation } from '../data/aircraft';
import { ImagePipeline } from '../data/pipeline';
import type { DatasetSplits } from '../data/types';
import { CheckpointRun, CheckpointState, loadCheckpoint, readCheckpointState } from '../io/checkpoint';
import { writeFileAtomic } from '../io/fs_io';
import { stepDecay, stageModes } from '../model/schedule';
import { S3N } from '../model/s3n';
import { UsageError } from './backend';
import { Accuracies, evaluate, trainStepWithHits } from './evaluate';
import { buildS3N, ModelConfig } from './model_setup';
import { startEpochProgress } from './progress';

export interface TrainOptions {
  dataset: DatasetKind;
  data: string;
  /** FGVC-Aircraft label level. */
  annotation?: AircraftAnnotation;
  backbone: string;
  cutLayer?: string;
  widths?: number[];
  inputSize: number;
  epochs: number;
  batchSize: number;
  lr: number;
  /** Last epoch (0-based) of the `'all'` training stage. */
  switchEpoch: number;
  /** Step of the ×0.1 learning-rate decay, in epochs. */
  lrStep: number;
  seed: number;
  out: string;
  resume: boolean;
  gridSize?: number;
  paddingSize?: number;
  fwhm?: number;
  /** Batch-norm momentum of the backbone (Keras convention; 0.9 = PyTorch's 0.1, the authors'). */
  bnMomentum?: number;
  /** Recompute the backbone's activations in the backward pass ({@link S3N.setGradCheckpointing}). */
  gradCheckpointing?: boolean;
  /** Print lines (progress in plain mode, epoch summaries). */
  log: (line: string) => void;
  /** Warnings (unreadable images, …). */
  warn: (line: string) => void;
  /** Progress bar on a terminal (default: stdout is a TTY). */
  tty?: boolean;
}

/** What one epoch produced (saved in checkpoints and `metrics.json`). */
export interface EpochMetrics {
  [key: string]: unknown;
  epoch: number;
  learningRate: number;
  trainingMode: string;
  inferenceMode: string;
  loss: number;
  trainTop1: number;
  test: Accuracies;
  seconds: number;
  imagesPerSecond: number;
}

/** Options that must agree with the checkpoint when resuming. */
const FIXED_ON_RESUME = ['dataset', 'backbone', 'cutLayer', 'widths', 'inputSize', 'batchSize', 'lr', 'switchEpoch', 'lrStep', 'seed', 'gridSize', 'paddingSize', 'fwhm', 'bnMomentum', 'annotation'] as const;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Formats the test accuracies of the four outputs. */
export function formatAccuracies(a: Accuracies): string {
  return `fused ${pct(a.fused)}, raw ${pct(a.raw)}, discriminative ${pct(a.discriminative)}, complementary ${pct(a.complementary)}`;
}

/**
 * Trains S3N. With `resume`, continues from the run's latest checkpoint (if there is one);
 * options given explicitly must then agree with the checkpoint (`explicit` names them).
 */
export async function train(opts: TrainOptions, explicit: ReadonlySet<string> = new Set()): Promise<{ s3n: S3N; metrics: EpochMetrics[]; checkpoint: string; data: DatasetSplits }> {
  const out = path.resolve(opts.out);
  const run = new CheckpointRun(out);
  const latest = run.latest();
  if (latest && !opts.resume) {
    throw new UsageError(`--out '${out}' already holds a run (${path.relative(out, latest)}); pass --resume to continue it, or choose another --out.`);
  }
  let options = opts;
  let s3n: S3N;
  let state: CheckpointState | undefined;
  let restore: ((o: ReturnType<S3N['createOptimizer']>) => Promise<void>) | undefined;
  if (latest && opts.resume) {
    const saved = (await readCheckpointState(latest)).config as Partial<TrainOptions>;
    const conflicts = FIXED_ON_RESUME.filter((k) => explicit.has(k) && JSON.stringify(opts[k]) !== JSON.stringify(saved[k]));
    if (conflicts.length > 0) {
      throw new UsageError(
        `--resume continues the run in '${out}' with its own settings: ${conflicts.map((k) => `${k} must be ${JSON.stringify(saved[k])}, but got ${JSON.stringify(opts[k])}`).join('; ')}.`,
      );
    }
    options = { ...opts, ...Object.fromEntries(FIXED_ON_RESUME.filter((k) => k in saved).map((k) => [k, saved[k]])) };
    const ck = await loadCheckpoint(latest);
    s3n = S3N.fromModel(ck.model);
    state = ck.state;
    s3n.attention.drawCount = state.drawCount;
    restore = (o) => ck.restoreOptimizer(o);
    opts.log(`resuming ${out} after epoch ${state.epoch} (${path.relative(out, latest)})`);
  }
  const data = readDataset(options.dataset, options.data, { aircraft: { annotation: options.annotation } });
  if (data.train.length === 0 || data.test.length === 0) {
    throw new UsageError(`--data must hold training and test images, but got ${data.train.length} training and ${data.test.length} test images in '${data.root}'.`);
  }
  if (state && JSON.stringify(state.classNames) !== JSON.stringify(data.classNames)) {
    throw new UsageError(`--data must have the classes of the checkpoint (${state.classNames.length}), but got ${data.classNames.length} different ones in '${data.root}'.`);
  }
  const modelConfig: ModelConfig = {
    backbone: options.backbone,
    cutLayer: options.cutLayer,
    widths: options.widths,
    inputSize: options.inputSize,
    classes: data.classNames.length,
    seed: options.seed,
    gridSize: options.gridSize,
    paddingSize: options.paddingSize,
    fwhm: options.fwhm,
    bnMomentum: options.bnMomentum,
  };
  s3n ??= await buildS3N(modelConfig);
  s3n.setGradCheckpointing(options.gradCheckpointing === true);
  const optimizer = s3n.createOptimizer({ learningRate: options.lr });
  if (restore) await restore(optimizer);

  const warn = (m: string) => opts.warn(`warning: ${m}`);
  const trainPipe = new ImagePipeline(data.train, { mode: 'train', batchSize: options.batchSize, inputSize: options.inputSize, seed: options.seed, onWarning: warn });
  const testPipe = new ImagePipeline(data.test, { mode: 'eval', batchSize: options.batchSize, inputSize: options.inputSize, seed: options.seed, onWarning: warn });
  const config: Record<string, unknown> = Object.fromEntries(
    Object.entries({ ...options, data: data.root, out }).filter(([k, v]) => typeof v !== 'function' && k !== 'resume' && k !== 'tty' && v !== undefined),
  );
  const metrics: EpochMetrics[] = (state?.metrics as EpochMetrics[] | undefined) ?? [];
  const first = state?.epoch ?? 0;
  if (first === 0) {
    opts.log(
      `training S3N (${options.backbone} backbone, ${s3n.model.countParams().toLocaleString('en')} parameters) on ${data.name}: ${data.classNames.length} classes, ` +
        `${data.train.length} training / ${data.test.length} test images, input ${options.inputSize}×${options.inputSize}, ${options.epochs} epoch${options.epochs === 1 ? '' : 's'} of ${trainPipe.length} batches`,
    );
  }
  if (first >= options.epochs) opts.log(`nothing to do: the run already has ${first} of ${options.epochs} epochs`);
  let checkpoint = latest ?? '';
  for (let epoch = first; epoch < options.epochs; epoch++) {
    s3n.setEpoch(epoch, options.switchEpoch);
    const modes = stageModes(epoch, options.switchEpoch);
    optimizer.learningRate = options.lr * stepDecay(epoch, options.lrStep);
    const label = `epoch ${epoch + 1}/${options.epochs}`;
    opts.log(`${label} started (lr ${optimizer.learningRate.toPrecision(3)}, attention ${modes.training})`);
    const progress = startEpochProgress(label, trainPipe.length, { tty: opts.tty, write: opts.log });
    const t0 = Date.now();
    let seen = 0;
    let lossSum = 0;
    let hitSum = 0;
    let done = 0;
    for await (const batch of trainPipe.epoch(epoch)) {
      const { loss, hits } = trainStepWithHits(s3n, batch.images, batch.labels, optimizer);
      const [l, h] = await Promise.all([loss.data(), hits.data()]);
      const n = batch.images.shape[0];
      tf.dispose([loss, hits, batch.images, batch.labels]);
      seen += n;
      lossSum += l[0] * n;
      hitSum += h[0];
      done = batch.index + 1;
      progress.update(done, { loss: lossSum / seen, top1: hitSum / seen, imagesPerSecond: seen / ((Date.now() - t0) / 1000) });
    }
    progress.stop();
    const trainSeconds = (Date.now() - t0) / 1000;
    const { accuracies } = await evaluate(s3n, testPipe, epoch);
    const m: EpochMetrics = {
      epoch: epoch + 1,
      learningRate: optimizer.learningRate,
      trainingMode: modes.training,
      inferenceMode: modes.inference,
      loss: seen > 0 ? lossSum / seen : NaN,
      trainTop1: seen > 0 ? hitSum / seen : NaN,
      test: accuracies,
      seconds: (Date.now() - t0) / 1000,
      imagesPerSecond: seen / trainSeconds,
    };
    metrics.push(m);
    opts.log(`${label}: loss ${m.loss.toFixed(4)}, train top-1 ${pct(m.trainTop1)} | test top-1 ${formatAccuracies(accuracies)} | ${m.seconds.toFixed(1)} s, ${m.imagesPerSecond.toFixed(1)} img/s`);
    checkpoint = await run.save(
      s3n.model,
      { epoch: epoch + 1, dataSeed: options.seed, drawCount: s3n.attention.drawCount, classNames: data.classNames, config, metrics },
      optimizer,
    );
    await writeFileAtomic(path.join(out, 'metrics.json'), JSON.stringify(metrics, null, 1));
  }
  optimizer.dispose();
  if (!fs.existsSync(path.join(out, 'classes.txt'))) await writeFileAtomic(path.join(out, 'classes.txt'), `${data.classNames.join('\n')}\n`);
  return { s3n, metrics, checkpoint, data };
}
