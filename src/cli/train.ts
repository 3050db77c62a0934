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
import { CheckpointRun, CheckpointState, loadCheckpoint, readCheckpointState, ResumePlan } from '../io/checkpoint';
import { writeFileAtomic } from '../io/fs_io';
import { stepDecay, stageModes } from '../model/schedule';
import type { GroupedSGD } from '../model/optimizer';
import { BranchStatisticsMode, S3N } from '../model/s3n';
import { UsageError } from './backend';
import { Accuracies, evaluate } from './evaluate';
import { ensureWritableFolder } from './folders';
import { buildS3N, ModelConfig } from './model_setup';
import { startEpochProgress } from './progress';

/**
 * Training steps in a row with a non-finite loss or gradient after which `s3n train` stops
 * (`--max-skipped-steps`, {@link TrainOptions.maxSkippedSteps}).
 */
export const MAX_SKIPPED_STEPS = 5;

export interface TrainOptions {
  dataset: DatasetKind;
  data: string;
  /** FGVC-Aircraft label level. */
  annotation?: AircraftAnnotation;
  backbone: string;
  /** Pretrained weights of the backbone (`--weights`: .pth/.pt/.safetensors for torchvision-resnet*, .h5 for resnet50). */
  weights?: string;
  cutLayer?: string;
  widths?: number[];
  inputSize: number;
  /** Side of the source image S3N zooms into (`--source-size`, beyond the paper; {@link S3NOptions.sourceSize}). */
  sourceSize?: number;
  /**
   * Batch-norm moving statistics shared by the three branches (unset or `'shared'`, the
   * authors') or kept per branch (`--branch-statistics per-branch`, beyond the paper;
   * {@link S3NOptions.branchStatistics}).
   */
  branchStatistics?: BranchStatisticsMode;
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
  /** Which backend runs, for the log (what the CLI's `setupBackend` returned); logged once the run's checks have passed. */
  backend?: string;
  /** Print lines (progress in plain mode, epoch summaries). */
  log: (line: string) => void;
  /** Warnings (unreadable images, …). */
  warn: (line: string) => void;
  /** Progress bar on a terminal (default: stdout is a TTY). */
  tty?: boolean;
  /**
   * Stop after this many training steps in a row whose loss or gradients were not finite (each
   * is skipped: it changes nothing). Default {@link MAX_SKIPPED_STEPS}.
   */
  maxSkippedSteps?: number;
  /**
   * Test seam: called with the images of each training batch (0-based epoch and batch index)
   * before its step; returns the images to train on (disposing the given ones if it replaces
   * them).
   *
   * @internal
   */
  beforeStep?: (images: tf.Tensor4D, epoch: number, index: number) => tf.Tensor4D;
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
  /** Training steps skipped because their loss or a gradient was not finite. */
  skippedSteps: number;
}

/** Options that must agree with the checkpoint when resuming. */
const FIXED_ON_RESUME = ['dataset', 'backbone', 'weights', 'cutLayer', 'widths', 'inputSize', 'sourceSize', 'branchStatistics', 'batchSize', 'lr', 'switchEpoch', 'lrStep', 'seed', 'gridSize', 'paddingSize', 'fwhm', 'bnMomentum', 'annotation'] as const;

/** What an option of {@link FIXED_ON_RESUME} a checkpoint does not list was (runs from before the option). */
const UNSET_ON_RESUME: Partial<Record<(typeof FIXED_ON_RESUME)[number], unknown>> = { branchStatistics: 'shared' };

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Formats the test accuracies of the four outputs. */
export function formatAccuracies(a: Accuracies): string {
  return `fused ${pct(a.fused)}, raw ${pct(a.raw)}, discriminative ${pct(a.discriminative)}, complementary ${pct(a.complementary)}`;
}

/** Throws unless the run folder `out` (and its `checkpoints/`) can be created and written. */
function checkWritable(out: string): void {
  const dir = path.join(out, 'checkpoints');
  ensureWritableFolder('--out', dir, [out, dir]);
}

/**
 * Trains S3N. With `resume`, continues the run in `out` from its newest complete checkpoint
 * (see {@link CheckpointRun.resumePlan}: a broken `latest` or an incomplete checkpoint is
 * reported, never overwritten); options given explicitly must then agree with the checkpoint
 * (`explicit` names them). Everything that can be checked before training is: `out` must be
 * writable, hold no run (without `resume`) or a run (with it), and the dataset must match.
 */
export async function train(opts: TrainOptions, explicit: ReadonlySet<string> = new Set()): Promise<{ s3n: S3N; metrics: EpochMetrics[]; checkpoint: string; data: DatasetSplits }> {
  const out = path.resolve(opts.out);
  const maxSkipped = opts.maxSkippedSteps ?? MAX_SKIPPED_STEPS;
  if (!Number.isInteger(maxSkipped) || maxSkipped < 1) throw new UsageError(`--max-skipped-steps must be an integer >= 1, but got '${maxSkipped}'.`);
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UsageError(`--out must be a folder that can be written, but '${out}' is a file.`);
  const run = new CheckpointRun(out);
  let plan: ResumePlan | undefined;
  if (!opts.resume) {
    if (run.hasCheckpoints() || fs.existsSync(path.join(out, 'metrics.json'))) {
      const epochs = fs.existsSync(run.dir) ? fs.readdirSync(run.dir).filter((n) => /^epoch-\d+$/.test(n)) : [];
      const newest = epochs.sort((x, y) => Number(x.slice(6)) - Number(y.slice(6))).pop();
      const latest = run.latest();
      const what = latest ? path.relative(out, latest) : newest ? `checkpoints/${newest}` : fs.existsSync(path.join(run.dir, 'latest')) ? 'checkpoints/latest' : 'metrics.json';
      throw new UsageError(`--out '${out}' already holds a run (${what}); pass --resume to continue it, or choose another --out.`);
    }
  } else {
    plan = run.resumePlan();
    if (!plan.started) {
      throw new UsageError(`--out '${out}' holds no run to resume (it has no checkpoints/ folder): check --out, or leave out --resume to start a new run.`);
    }
    if (plan.checkpoint === undefined && plan.problems.length > 0) {
      throw new UsageError(
        `--resume found no complete checkpoint in '${run.dir}': ${plan.problems.join('; ')}. Nothing was changed: restore the files, or start a new run with another --out.`,
        1,
      );
    }
  }
  checkWritable(out);
  let options = opts;
  let s3n: S3N | undefined;
  let state: CheckpointState | undefined;
  let restore: ((o: ReturnType<S3N['createOptimizer']>) => Promise<void>) | undefined;
  if (plan?.checkpoint) {
    const saved = (await readCheckpointState(plan.checkpoint)).config as Partial<TrainOptions>;
    for (const [k, v] of Object.entries(UNSET_ON_RESUME)) if (!(k in saved)) (saved as Record<string, unknown>)[k] = v;
    const conflicts = FIXED_ON_RESUME.filter((k) => explicit.has(k) && JSON.stringify(opts[k]) !== JSON.stringify(saved[k]));
    if (conflicts.length > 0) {
      throw new UsageError(
        `--resume continues the run in '${out}' with its own settings: ${conflicts.map((k) => `${k} must be ${JSON.stringify(saved[k])}, but got ${JSON.stringify(opts[k])}`).join('; ')}.`,
      );
    }
    options = { ...opts, ...Object.fromEntries(FIXED_ON_RESUME.filter((k) => k in saved).map((k) => [k, saved[k]])) };
    const ck = await loadCheckpoint(plan.checkpoint);
    s3n = S3N.fromModel(ck.model);
    state = ck.state;
    s3n.attention.drawCount = state.drawCount;
    restore = (o) => ck.restoreOptimizer(o);
  }
  let data: DatasetSplits;
  try {
    data = readDataset(options.dataset, options.data, { aircraft: { annotation: options.annotation } });
    if (data.train.length === 0 || data.test.length === 0) {
      throw new UsageError(`--data must hold training and test images, but got ${data.train.length} training and ${data.test.length} test images in '${data.root}'.`);
    }
    if (state && JSON.stringify(state.classNames) !== JSON.stringify(data.classNames)) {
      throw new UsageError(`--data must have the classes of the checkpoint (${state.classNames.length}), but got ${data.classNames.length} different ones in '${data.root}'.`);
    }
  } catch (e) {
    s3n?.dispose();
    throw e;
  }
  const modelConfig: ModelConfig = {
    backbone: options.backbone,
    weights: options.weights,
    cutLayer: options.cutLayer,
    widths: options.widths,
    inputSize: options.inputSize,
    sourceSize: options.sourceSize,
    branchStatistics: options.branchStatistics,
    classes: data.classNames.length,
    seed: options.seed,
    gridSize: options.gridSize,
    paddingSize: options.paddingSize,
    fwhm: options.fwhm,
    bnMomentum: options.bnMomentum,
  };
  s3n ??= await buildS3N(modelConfig, opts.log);
  s3n.setGradCheckpointing(options.gradCheckpointing === true);
  const optimizer = s3n.createOptimizer({ learningRate: options.lr });
  if (restore) await restore(optimizer);

  const warn = (m: string) => opts.warn(`warning: ${m}`);
  const classes = data.classNames.length;
  const pipeOptions = { batchSize: options.batchSize, inputSize: options.inputSize, sourceSize: s3n.sourceSize?.[0], seed: options.seed, classes, onWarning: warn };
  const trainPipe = new ImagePipeline(data.train, { mode: 'train', ...pipeOptions });
  const testPipe = new ImagePipeline(data.test, { mode: 'eval', ...pipeOptions });
  const config: Record<string, unknown> = Object.fromEntries(
    Object.entries({ ...options, data: data.root, out }).filter(([k, v]) => typeof v !== 'function' && k !== 'resume' && k !== 'tty' && v !== undefined),
  );
  const metrics: EpochMetrics[] = (state?.metrics as EpochMetrics[] | undefined) ?? [];
  const metricsFile = path.join(out, 'metrics.json');
  if (options.backend !== undefined) opts.log(`backend: ${options.backend}`);
  if (plan) {
    await run.prepareResume(plan);
    plan.notes.forEach((n) => opts.log(n));
    if (plan.checkpoint && state) {
      // metrics.json is written after each checkpoint: a run stopped in between lags one epoch.
      const text = JSON.stringify(metrics, null, 1);
      if (!fs.existsSync(metricsFile) || fs.readFileSync(metricsFile, 'utf8') !== text) await writeFileAtomic(metricsFile, text);
      opts.log(`resuming ${out} after epoch ${state.epoch} (${path.relative(out, plan.checkpoint)})`);
      if (options.weights !== undefined) opts.log(`weights: the backbone continues from the checkpoint (${options.weights}, loaded when the run started, is not read again)`);
    } else {
      opts.log(`resuming ${out}: it has no checkpoint yet (the run stopped before its first save), so training starts from epoch 1`);
    }
  }
  const first = state?.epoch ?? 0;
  if (first === 0) {
    opts.log(
      `training S3N (${options.backbone} backbone, ${s3n.model.countParams().toLocaleString('en')} parameters${s3n.branchStatistics === 'per-branch' ? ', per-branch batch-norm statistics' : ''}) on ${data.name}: ${data.classNames.length} classes, ` +
        `${data.train.length} training / ${data.test.length} test images, input ${options.inputSize}×${options.inputSize}${s3n.sourceSize ? ` (zooming into a ${s3n.sourceSize.join('×')} source)` : ''}, ${options.epochs} epoch${options.epochs === 1 ? '' : 's'} of ${trainPipe.length} batches`,
    );
  }
  if (first >= options.epochs) opts.log(`nothing to do: the run already has ${first} of ${options.epochs} epochs`);
  let checkpoint = plan?.checkpoint ?? '';
  // Skipped steps in a row (across epochs), and where the streak started.
  let streak = 0;
  let streakStart = { epoch: 0, batch: 0 };
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
    let skippedSteps = 0;
    for await (const batch of trainPipe.epoch(epoch)) {
      const images = opts.beforeStep ? opts.beforeStep(batch.images, epoch, batch.index) : batch.images;
      const { loss, hits, skipped } = trainStepWithHits(s3n, images, batch.labels, optimizer, batch.source);
      const [l, h] = skipped ? [[NaN], [0]] : await Promise.all([loss.data(), hits.data()]);
      const n = images.shape[0];
      tf.dispose([loss, hits, images, batch.labels, ...(batch.source ? [batch.source] : [])]);
      done = batch.index + 1;
      if (skipped) {
        skippedSteps++;
        if (streak++ === 0) streakStart = { epoch, batch: done };
        opts.log(`${label} batch ${done}/${trainPipe.length}: step skipped: the loss or a gradient was not finite (weights, momentum and batch-norm statistics left as they were)`);
        if (streak >= maxSkipped) {
          progress.stop();
          optimizer.dispose();
          s3n.dispose();
          const where =
            streakStart.epoch === epoch
              ? `${label}, batches ${streakStart.batch}–${done}`
              : `from epoch ${streakStart.epoch + 1} batch ${streakStart.batch} to ${label} batch ${done}`;
          const last = checkpoint
            ? `The last checkpoint, ${path.relative(out, checkpoint)}, is intact: lower --lr or check the data, then continue with --resume.`
            : 'No checkpoint was written yet: lower --lr or check the data, and start again.';
          throw new UsageError(`stopped: ${streak} training steps in a row had a non-finite loss or gradient (${where}); they changed nothing. ${last}`, 1);
        }
        continue;
      }
      streak = 0;
      seen += n;
      lossSum += l[0] * n;
      hitSum += h[0];
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
      skippedSteps,
    };
    metrics.push(m);
    const skippedText = skippedSteps > 0 ? `, ${skippedSteps} step${skippedSteps === 1 ? '' : 's'} skipped` : '';
    opts.log(
      `${label}: loss ${m.loss.toFixed(4)}, train top-1 ${pct(m.trainTop1)} | test top-1 ${formatAccuracies(accuracies)} | ${m.seconds.toFixed(1)} s, ${m.imagesPerSecond.toFixed(1)} img/s${skippedText}`,
    );
    checkpoint = await run.save(
      s3n.model,
      { epoch: epoch + 1, dataSeed: options.seed, drawCount: s3n.attention.drawCount, classNames: data.classNames, config, metrics },
      optimizer,
    );
    await writeFileAtomic(metricsFile, JSON.stringify(metrics, null, 1));
  }
  optimizer.dispose();
  if (!fs.existsSync(path.join(out, 'classes.txt'))) await writeFileAtomic(path.join(out, 'classes.txt'), `${data.classNames.join('\n')}\n`);
  return { s3n, metrics, checkpoint, data };
}

/**
 * One training step, the same as {@link S3N.trainStep} (the S3N loss, gradients, the grouped
 * SGD update, the skip of a non-finite step), that also returns how many images the fused
 * output classified right. The labels are not read back (`validateLabels: false`): the CLI's
 * pipeline checked them where they entered. `source`: the source image of an S3N with a
 * {@link S3N.sourceSize}.
 */
export function trainStepWithHits(
  s3n: S3N,
  images: tf.Tensor4D,
  labels: tf.Tensor1D,
  optimizer: GroupedSGD,
  source?: tf.Tensor4D,
): { loss: tf.Scalar; hits: tf.Scalar; skipped: boolean } {
  const { loss, outputs, skipped } = s3n.trainStepWithOutputs(images, labels, optimizer, { validateLabels: false, source });
  const hits = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(outputs.fused, 1), labels), 'int32')) as tf.Scalar);
  tf.dispose(Object.values(outputs));
  return { loss, hits, skipped };
}
