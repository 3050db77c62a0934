/**
 * `npm run bench:accuracy -- --benchmark fine-grained [--quick] [--seeds 1,2,3] [--parallel 2]
 * [--rows s3n-branchbn,…] [--tag NAME]`:
 * the ablation benchmark of issue 15. A small ResNet alone against S3N and its variants on the
 * synthetic fine-grained benchmark (src/data/fine_grained_synthetic.ts), end to end through
 * files: the benchmark is written once (by the parent process) in CUB-200-2011's layout
 * (224-pixel images), read with `readCub`, loaded by `ImagePipeline` (the authors'
 * augmentation: random resized crop and flip for training, resize to 150 and centre crop for
 * evaluation) at a 112-pixel network input.
 *
 * Rows (each: test top-1 of the model's prediction, S3N's fused output, mean ± standard error
 * over the seeds), under two protocols:
 * - **A, scratch**: every row trained from random weights for `epochs` (E) epochs;
 * - **B, fine-tune**: the backbone first trained alone (the baseline, E epochs: row 1 of A at
 *   the same seed, which is that very training, so it is not run twice), then every row trained
 *   `finetuneEpochs` (E2) more epochs from its weights (S3N on a copy of its backbone, weights
 *   and batch-norm statistics, S3N's raw classifier starting as the baseline's dense layer, as
 *   in bench/accuracy.ts; the baseline rows go on from the whole baseline).
 *
 * 1. the backbone alone (`Baseline`: backbone → global average pool → dense);
 * 2. the backbone alone at equal compute: trained round(E × r) epochs (E2 × r in B), r the
 *    ratio of S3N's training step time to the baseline's, measured by this run before the
 *    jobs start (a few steps of each on the same batch; the S3N step weighted over the
 *    schedule's 'all' and 'random' epochs), capped at `equalComputeCap` × E; the table gives the
 *    epochs and the wall time, and the JSON also the ratio of the runs' own ms/step;
 * 3. S3N as the authors built it: the head's two 3×3 buffers (`useBuffers: true`), evaluated in
 *    their 'extreme' mode (the inference mode of `S3N.setEpoch` after the switch epoch);
 * 4. S3N without the buffers (`useBuffers: false`);
 * 5. the model of row 3 evaluated in 'all' mode (`s3n.setModes({ inference: 'all' })`);
 * 6. S3N sampling its zoomed and complementary images from a 2× source (`sourceSize: 224`,
 *    `ImagePipeline` with `sourceSize`; the network input is unchanged). The training crops
 *    (half to all of the 224-pixel image) have about that many real pixels; the evaluation
 *    crop has 168, so there the source is partly an upsampling;
 * 7. flip test-time augmentation of row 3's model (mean of the softmax of the image and of its
 *    horizontal flip); 7b the same for row 6 (source flipped too); and, as a reference, the
 *    same for row 1;
 * 8. row 3 with per-branch batch-norm statistics (`branchStatistics: 'per-branch'`): the
 *    backbone's trainable weights are still shared, but the discriminative and complementary
 *    branches each keep their own moving mean and variance (in fine-tuning all three start from
 *    the pretrained backbone's), updated by their own batches and used at inference; the
 *    recalibration before evaluation re-estimates each branch's on its own inputs. Trained and
 *    evaluated like row 3 otherwise ('extreme' inference).
 *
 * For every row also where the model looks: the fraction of test images whose S3N
 * decision-map maximum (the strongest discriminative peak), or the baseline's class activation
 * map of its predicted class, lies on the detail (the crown mark of parts/part_locs.txt, within
 * its radius plus 4 pixels of the network input), against the chance level (the mean share of
 * the input covered by that disc).
 *
 * Learning rates, chosen honestly: one per model family (baseline rows 1–2, S3N rows 3–8) and
 * protocol, by a sweep over `lr.scratch` / `lr.finetune` (two values each) on the first seed
 * only, scored on a validation split carved from the training split (the last `valPerClass`
 * training images of each class; no run of any row ever trains on them, and the test split is
 * never used for a choice); the other seeds and rows reuse the choice, and the chosen
 * candidate is that seed's run of the row. `--quick` (and a single value given with
 * `--lr-scratch` / `--lr-finetune`) skips the sweep and uses the fixed value, reported as such.
 * The equal-compute baselines use the baseline's rate.
 *
 * Shared by all rows: `smallResNet` widths [8, 16, 32] (batch-norm momentum 0.9), batch 16,
 * SGD (momentum 0.9, weight decay 1e-4, classifiers ×10, ×0.1 on the last third of the
 * epochs), batch-norm statistics re-estimated on training images before evaluation
 * (bench/accuracy_train.ts: `train`, `recalibrateBatchNorm`, `evaluate`); S3N with a fixed
 * sampler filter (the authors learn it at 1e-4 × the base rate, so it barely moves, and
 * learning it doubles the step time) and the three-stage schedule switched after the first
 * third of the epochs. The dataset is the same for all seeds (its seed 0); a run's seed sets
 * the initial weights, the batch order and the augmentation draws (epoch-indexed: fine-tuning
 * draws epochs E … E+E2−1, after the pretraining's).
 *
 * Runs on the wasm backend with the library's training kernels. wasm in Node is
 * single-threaded, so `--parallel N` (default 2) runs the trainings as N child processes at
 * once: this file with `--job JSON --out FILE`, one job per (protocol, row, seed, and the
 * swept rate on the first seed), each fine-tune job after its pretrained baseline, whose
 * weights it reads from a file in the run's temporary folder.
 *
 * Default config ({@link FULL}): 8 classes, 60 training images per class (10 of them the
 * validation split, so 400 training images, 25 steps an epoch) and 50 test images per class
 * (400), E = 8, E2 = 4, seeds 1, 2, 3: 40 trainings. Time, estimated from the step times of
 * the 6-epoch run of the two-model version of this benchmark (baseline 390 ms, S3N 1610 ms per
 * step, machine loaded; a quiet machine takes about half: 195 and 805 ms, so r ≈ 4.1 and rows
 * 2 train 33 and 17 epochs): about 68 core-minutes of training (the S3N rows 52 of them), 14 of
 * evaluation and process start-up, 5 of decoding images, i.e. about 45 minutes on two quiet
 * cores with `--parallel 2` (about 90 at the loaded machine's step times; `--epochs 6
 * --finetune-epochs 3` takes three quarters of that). Row 8 added 6 trainings of about a row 3's
 * cost to the 34 of the previous version (about 38 minutes). The script prints its own projection
 * from the step times it measures before the jobs start (decoding not included).
 * `--quick`: 4 classes, 16 / 8 images per class, E = 2, E2 = 1, one seed, fixed rates, no
 * validation split: the same code paths in 2–3 minutes (numbers meaningless), written to
 * bench/results/fine_grained_quick.json instead.
 * `--rows a,b`: only those rows (plus the first seed's learning-rate candidates of both
 * families, and the scratch baselines protocol B starts from), e.g. to add one row to a table
 * already measured: training is deterministic for a seed, so the shared runs repeat exactly.
 * `--tag NAME` writes bench/results/fine_grained_NAME.json.
 *
 * Prints the jobs as they finish, then a markdown table (ready for a README). Writes
 * bench/results/fine_grained.json: the config, the step timing and the equal-compute epochs,
 * the learning rates (and every sweep candidate's validation top-1), every run (its job, every
 * output's test top-1, the on-detail figures, losses, seconds and ms/step), the table's rows
 * with their per-seed values, and the total minutes.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '../src/wasm-training';
import { S3N } from '../src';
import type { S3NOptions } from '../src';
import { evalResizeSize, ImagePipeline, readCub } from '../src/node';
import type { ImageItem } from '../src/node';
import { fineGrainedAnnotations, FineGrainedOptions, writeFineGrainedDataset } from '../src/data/fine_grained_synthetic';
import { BackboneConfig, Baseline, evaluate, makeBackbone, medianStepMs, recalibrateBatchNorm, Split, switchEpoch, train, Trainable, TrainResult } from './accuracy_train';

interface Config {
  data: Required<Pick<FineGrainedOptions, 'classes' | 'trainPerClass' | 'testPerClass' | 'size' | 'seed'>>;
  /** Training images per class held out as the validation split (only needed by a sweep). */
  valPerClass: number;
  inputSize: number;
  widths: number[];
  bnMomentum: number;
  batchSize: number;
  /** E: protocol A's epochs, and the pretraining of protocol B. */
  epochs: number;
  /** E2: protocol B's epochs after the pretraining. */
  finetuneEpochs: number;
  /** Row 2 trains at most this many times the epochs of the others. */
  equalComputeCap: number;
  /** Base learning-rate candidates of each protocol: one value is fixed; several are swept on the first seed. */
  lr: { scratch: number[]; finetune: number[] };
  seeds: number[];
  /** Child processes training at once. */
  parallel: number;
  /**
   * Only these rows besides what they need (`--rows`): the first seed's learning-rate
   * candidates of both families and the scratch baselines that protocol B starts from always run.
   */
  rows?: Row[];
}

/** The benchmark: about 45 minutes on two quiet cores (see the header). */
const FULL: Config = {
  data: { classes: 8, trainPerClass: 60, testPerClass: 50, size: 224, seed: 0 },
  valPerClass: 10,
  inputSize: 112,
  widths: [8, 16, 32],
  bnMomentum: 0.9,
  batchSize: 16,
  epochs: 8,
  finetuneEpochs: 4,
  equalComputeCap: 5,
  lr: { scratch: [0.02, 0.05], finetune: [0.005, 0.02] },
  seeds: [1, 2, 3],
  parallel: 2,
};

/** `--quick`: the same code paths in 2–3 minutes (numbers meaningless). */
const QUICK: Config = {
  ...FULL,
  data: { ...FULL.data, classes: 4, trainPerClass: 16, testPerClass: 8 },
  valPerClass: 0,
  epochs: 2,
  finetuneEpochs: 1,
  lr: { scratch: [0.05], finetune: [0.02] },
  seeds: [1],
};

type Protocol = 'scratch' | 'finetune';
const ROWS = ['baseline', 'baseline-eq', 's3n', 's3n-nobuf', 's3n-source', 's3n-branchbn'] as const;
type Row = (typeof ROWS)[number];
type Family = 'baseline' | 's3n';
const familyOf = (row: Row): Family => (row.startsWith('baseline') ? 'baseline' : 's3n');

/** One training, run in a child process. */
interface JobSpec {
  id: string;
  protocol: Protocol;
  row: Row;
  seed: number;
  learningRate: number;
  epochs: number;
  /** Augmentation epoch of the first epoch (fine-tuning continues after the pretraining's). */
  epochOffset: number;
  /** Weights of the pretrained baseline to start from (protocol B). */
  init?: string;
  /** Write the trained (and recalibrated) baseline's weights here (a pretraining for protocol B). */
  save?: string;
  /** Also evaluate on the validation split (sweep candidates). */
  val: boolean;
  root: string;
  cfg: Config;
}

interface JobResult {
  job: Omit<JobSpec, 'cfg' | 'root'>;
  train: TrainResult & { trainMsPerStep: number };
  /** Top-1 of every output on the test split (S3N in 'extreme' mode). */
  test: Record<string, number>;
  val?: Record<string, number>;
  /** S3N row 3: every output in 'all' mode. */
  testAll?: Record<string, number>;
  /** Top-1 of the flip-averaged prediction (rows 1, 3, 6). */
  testFlip?: number;
  /** Decision-map (S3N) or CAM (baseline) maximum on the detail, fraction of test images. */
  onDetail: number;
  onDetailAll?: number;
  /** Attention modes S3N was trained with (last epoch) and evaluated with. */
  modes?: { training: string; inference: string };
  seconds: { load: number; train: number; evaluate: number; total: number };
}

// ---------------------------------------------------------------- data

/** The three splits: the last `valPerClass` training images of each class are the validation split. */
function splits(cfg: Config, root: string): { train: ImageItem[]; val: ImageItem[]; test: ImageItem[] } {
  const ds = readCub(root);
  const seen = new Map<number, number>();
  const perClass = new Map<number, number>();
  for (const it of ds.train) perClass.set(it.label, (perClass.get(it.label) ?? 0) + 1);
  const train: ImageItem[] = [];
  const val: ImageItem[] = [];
  for (const it of ds.train) {
    const k = seen.get(it.label) ?? 0;
    seen.set(it.label, k + 1);
    ((perClass.get(it.label) as number) - k <= cfg.valPerClass ? val : train).push(it);
  }
  return { train, val, test: ds.test };
}

/** Loads all images of `items` through one pipeline epoch into a split (boxes unused here), with the source when asked. */
async function load(items: ImageItem[], mode: 'train' | 'eval', cfg: Config, seed: number, epoch: number, sourceSize?: number): Promise<Split> {
  const pipe = new ImagePipeline(items, { mode, batchSize: 32, inputSize: cfg.inputSize, sourceSize, seed, shuffle: false, classes: cfg.data.classes });
  const images: tf.Tensor4D[] = [];
  const sources: tf.Tensor4D[] = [];
  const labels: tf.Tensor1D[] = [];
  for await (const b of pipe.epoch(epoch)) {
    images.push(b.images);
    labels.push(b.labels as tf.Tensor1D);
    if (b.source) sources.push(b.source);
  }
  const split: Split = { images: tf.concat(images, 0), labels: tf.concat(labels, 0), boxes: [], ...(sources.length > 0 ? { source: tf.concat(sources, 0) } : {}) };
  tf.dispose([...images, ...labels, ...sources]);
  return split;
}

const disposeSplit = (s: Split | undefined) => s && tf.dispose([s.images, s.labels, ...(s.source ? [s.source] : [])]);

interface Disc {
  x: number;
  y: number;
  r: number;
}

/** The detail (crown mark) of each test image in network-input pixels (eval resize + centre crop). */
function detailsInInput(cfg: Config, test: ImageItem[], root: string): Disc[] {
  const ann = new Map(fineGrainedAnnotations(cfg.data).map((a) => [path.join(root, 'images', a.file), a]));
  const R = evalResizeSize(cfg.inputSize);
  const k = R / cfg.data.size;
  const off = (R - cfg.inputSize) / 2;
  return test.map((it) => {
    const a = ann.get(it.path);
    if (a === undefined) throw new Error(`no annotation for ${it.path}`);
    return { x: a.detail.x * k - off, y: a.detail.y * k - off, r: a.detail.radius * k + 4 };
  });
}

// ---------------------------------------------------------------- where the models look

/** Fraction of images whose map maximum (cell centres → input pixels, corners aligned or not) lies on the detail. */
function onDetail(argmax: ArrayLike<number>, g: [number, number], cornersAligned: boolean, size: number, details: Disc[]): number {
  let hits = 0;
  details.forEach((d, i) => {
    const row = Math.floor(argmax[i] / g[1]);
    const col = argmax[i] % g[1];
    const y = cornersAligned ? (row * (size - 1)) / (g[0] - 1) : ((row + 0.5) * size) / g[0];
    const x = cornersAligned ? (col * (size - 1)) / (g[1] - 1) : ((col + 0.5) * size) / g[1];
    if (Math.hypot(x - d.x, y - d.y) <= d.r) hits++;
  });
  return hits / details.length;
}

async function s3nPeakOnDetail(s3n: S3N, test: Split, details: Disc[], size: number): Promise<number> {
  const n = test.images.shape[0];
  const arg: number[] = [];
  let g = 0;
  for (let s = 0; s < n; s += 32) {
    const m = Math.min(32, n - s);
    const x = tf.slice(test.images, [s, 0, 0, 0], [m, -1, -1, -1]) as tf.Tensor4D;
    const source = test.source && (tf.slice(test.source, [s, 0, 0, 0], [m, -1, -1, -1]) as tf.Tensor4D);
    const ex = s3n.explain(x, source ? { source } : {});
    g = ex.decision.shape[1];
    arg.push(...(await tf.tidy(() => tf.argMax(tf.reshape(ex.decision, [m, -1]), 1)).data()));
    tf.dispose([x, ...(source ? [source] : []), ...Object.values(ex)]);
  }
  return onDetail(arg, [g, g], true, size, details);
}

/** Class activation map of the predicted class: features · dense kernel, its maximum. */
async function baselineCamOnDetail(b: Baseline, test: Split, details: Disc[], size: number): Promise<number> {
  const n = test.images.shape[0];
  const arg: number[] = [];
  let hw: [number, number] = [0, 0];
  const [kernel] = b.dense.getWeights();
  for (let s = 0; s < n; s += 32) {
    const idx = tf.tidy(() => {
      const x = tf.slice(test.images, [s, 0, 0, 0], [Math.min(32, n - s), -1, -1, -1]) as tf.Tensor4D;
      const f = b.backbone.apply(x, { training: false }) as tf.Tensor4D;
      const [m, h, w, d] = f.shape;
      hw = [h, w];
      const cams = tf.reshape(tf.matMul(tf.reshape(f, [m * h * w, d]), kernel), [m, h * w, -1]);
      const pred = tf.argMax(b.model.apply(x, { training: false }) as tf.Tensor2D, 1);
      const cam = tf.sum(tf.mul(cams, tf.expandDims(tf.oneHot(pred, b.classes), 1)), 2); // [m, h*w]
      return tf.argMax(cam, 1);
    });
    arg.push(...(await idx.data()));
    idx.dispose();
  }
  return onDetail(arg, hw, false, size, details);
}

/** Top-1 of the mean of the softmax of the prediction (baseline, S3N fused) on the image and on its horizontal flip (and the source's). */
async function flipTop1(t: Trainable, data: Split, batchSize = 50): Promise<number> {
  const n = data.images.shape[0];
  let hits = 0;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const h = tf.tidy(() => {
      const x = tf.slice(data.images, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D;
      const y = tf.slice(data.labels, [start], [size]);
      const source = data.source && (tf.slice(data.source, [start, 0, 0, 0], [size, -1, -1, -1]) as tf.Tensor4D);
      const predict = (im: tf.Tensor4D, src?: tf.Tensor4D): tf.Tensor2D =>
        t.kind === 'baseline' ? (t.net.model.apply(im, { training: false }) as tf.Tensor2D) : t.net.apply(im, { training: false, ...(src ? { source: src } : {}) }).fused;
      const p = tf.add(tf.softmax(predict(x, source)), tf.softmax(predict(tf.reverse(x, 2), source && tf.reverse(source, 2))));
      return tf.sum(tf.cast(tf.equal(tf.argMax(p, 1), y), 'int32'));
    });
    hits += (await h.data())[0];
    h.dispose();
  }
  return hits / n;
}

// ---------------------------------------------------------------- models

function netOf(cfg: Config): BackboneConfig {
  return { inputSize: cfg.inputSize, channels: 3, widths: cfg.widths, bnMomentum: cfg.bnMomentum };
}

function s3nOptions(row: Row, cfg: Config, seed: number): S3NOptions {
  return {
    classes: cfg.data.classes,
    seed,
    trainableFilter: false,
    useBuffers: row !== 's3n-nobuf',
    ...(row === 's3n-source' ? { sourceSize: 2 * cfg.inputSize } : {}),
    ...(row === 's3n-branchbn' ? { branchStatistics: 'per-branch' as const } : {}),
  };
}

/** The model of a row: from scratch, or (protocol B) from the pretrained baseline `pre` (consumed). */
function build(row: Row, cfg: Config, seed: number, pre?: Baseline): Trainable {
  if (familyOf(row) === 'baseline') return { kind: 'baseline', net: pre ?? new Baseline(makeBackbone(netOf(cfg), seed), seed, cfg.data.classes) };
  const backbone = makeBackbone(netOf(cfg), seed);
  if (pre) backbone.setWeights(pre.backbone.getWeights());
  const s3n = S3N.create(backbone, s3nOptions(row, cfg, seed));
  if (pre) {
    s3n.classResponseMap.setWeights(pre.dense.getWeights()); // S3N's raw output starts where the baseline stands
    pre.dispose();
  }
  return { kind: 's3n', net: s3n };
}

async function saveWeights(file: string, weights: tf.Tensor[]): Promise<void> {
  const data = await Promise.all(weights.map((w) => w.data<'float32'>()));
  const meta = weights.map((w) => {
    if (w.dtype !== 'float32') throw new Error(`saveWeights: a ${w.dtype} weight`);
    return w.shape;
  });
  const all = new Float32Array(data.reduce((a, d) => a + d.length, 0));
  let o = 0;
  for (const d of data) {
    all.set(d, o);
    o += d.length;
  }
  fs.writeFileSync(`${file}.bin`, Buffer.from(all.buffer));
  fs.writeFileSync(`${file}.json`, JSON.stringify(meta));
}

function loadWeights(file: string): tf.Tensor[] {
  const shapes = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as number[][];
  const bytes = fs.readFileSync(`${file}.bin`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let o = 0;
  return shapes.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(all.subarray(o, o + n), shape, 'float32');
    o += n;
    return t;
  });
}

// ---------------------------------------------------------------- one job (child process)

async function runJob(job: JobSpec, out: string): Promise<void> {
  const t0 = performance.now();
  const { cfg, root, seed } = job;
  await tf.setBackend('wasm');
  await tf.ready();
  const sp = splits(cfg, root);
  const sourceSize = job.row === 's3n-source' ? 2 * cfg.inputSize : undefined;
  const test = await load(sp.test, 'eval', cfg, seed, 0, sourceSize);
  const val = job.val ? await load(sp.val, 'eval', cfg, seed, 0, sourceSize) : undefined;
  let pre: Baseline | undefined;
  if (job.init) {
    pre = new Baseline(makeBackbone(netOf(cfg), seed), seed, cfg.data.classes);
    const w = loadWeights(job.init);
    pre.model.setWeights(w);
    tf.dispose(w);
  }
  const t = build(job.row, cfg, seed, pre);
  const loadSeconds = (performance.now() - t0) / 1000;
  const r = await train(t, {
    epochs: job.epochs,
    learningRate: job.learningRate,
    data: (e) => load(sp.train, 'train', cfg, seed, job.epochOffset + e, sourceSize),
    batchSize: cfg.batchSize,
    seed,
    log: `  [${job.id}]`,
  });
  const t1 = performance.now();
  const calib = await load(sp.train, 'train', cfg, seed, 1000, sourceSize);
  recalibrateBatchNorm(t, calib, Math.min(30, Math.floor(calib.images.shape[0] / cfg.batchSize)), cfg.batchSize);
  disposeSplit(calib);
  if (job.save && t.kind === 'baseline') await saveWeights(job.save, t.net.model.getWeights());
  const details = detailsInInput(cfg, sp.test, root);
  const res: Partial<JobResult> = {};
  if (t.kind === 's3n') {
    res.modes = { training: t.net.attention.trainingMode, inference: 'extreme' };
    t.net.setModes({ inference: 'extreme' });
  }
  res.test = await evaluate(t, test);
  if (val) res.val = await evaluate(t, val);
  res.onDetail = t.kind === 's3n' ? await s3nPeakOnDetail(t.net, test, details, cfg.inputSize) : await baselineCamOnDetail(t.net, test, details, cfg.inputSize);
  if (job.row === 'baseline' || job.row === 's3n' || job.row === 's3n-source') res.testFlip = await flipTop1(t, test);
  if (t.kind === 's3n' && job.row === 's3n') {
    t.net.setModes({ inference: 'all' });
    res.testAll = await evaluate(t, test);
    res.onDetailAll = await s3nPeakOnDetail(t.net, test, details, cfg.inputSize);
    t.net.setModes({ inference: 'extreme' });
  }
  const t2 = performance.now();
  const trainSteps = r.steps ?? 1;
  const result: JobResult = {
    job: { id: job.id, protocol: job.protocol, row: job.row, seed: job.seed, learningRate: job.learningRate, epochs: job.epochs, epochOffset: job.epochOffset, init: job.init, save: job.save, val: job.val },
    train: { ...r, trainMsPerStep: (1000 * (r.seconds - (r.dataSeconds ?? 0))) / Math.max(1, trainSteps) },
    test: res.test,
    ...(res.val ? { val: res.val } : {}),
    ...(res.testAll ? { testAll: res.testAll, onDetailAll: res.onDetailAll } : {}),
    ...(res.testFlip !== undefined ? { testFlip: res.testFlip } : {}),
    onDetail: res.onDetail,
    ...(res.modes ? { modes: res.modes } : {}),
    seconds: { load: loadSeconds, train: r.seconds, evaluate: (t2 - t1) / 1000, total: (t2 - t0) / 1000 },
  };
  fs.writeFileSync(out, JSON.stringify(result, null, 2));
  t.net.dispose();
  disposeSplit(test);
  disposeSplit(val);
  const main = result.test[t.kind === 'baseline' ? 'baseline' : 'fused'];
  console.log(
    `  [${job.id}] done: test top-1 ${(100 * main).toFixed(1)}%` +
      (result.val ? `, val ${(100 * result.val[t.kind === 'baseline' ? 'baseline' : 'fused']).toFixed(1)}%` : '') +
      (result.testFlip !== undefined ? `, flip ${(100 * result.testFlip).toFixed(1)}%` : '') +
      (result.testAll ? `, 'all' mode ${(100 * result.testAll.fused).toFixed(1)}%` : '') +
      `, on the detail ${(100 * result.onDetail).toFixed(1)}%; train ${r.seconds.toFixed(0)} s (${result.train.trainMsPerStep.toFixed(0)} ms/step), evaluation ${result.seconds.evaluate.toFixed(0)} s`,
  );
}

// ---------------------------------------------------------------- step timing (parent)

interface Timing {
  /** Median ms of a training step (batch `batchSize`), after two warm-up steps. */
  baselineMs: number;
  s3nAllMs: number;
  s3nRandomMs: number;
  s3nNoBuffersMs: number;
  s3nSourceMs: number;
  /** Per-branch batch-norm statistics (row 8), 'random' mode. */
  s3nBranchBnMs: number;
}

async function measureSteps(cfg: Config, items: ImageItem[]): Promise<Timing> {
  const batch = await load(items.slice(0, cfg.batchSize), 'train', cfg, 0, 0, 2 * cfg.inputSize);
  const time = medianStepMs;
  const b = new Baseline(makeBackbone(netOf(cfg), 0), 0, cfg.data.classes);
  const bOpt = b.createOptimizer(0.01);
  const baselineMs = await time(() => b.trainStep(batch.images, batch.labels, bOpt));
  bOpt.dispose();
  b.dispose();
  const s3nMs = async (row: Row, modes: ('all' | 'random')[]) => {
    const s = S3N.create(makeBackbone(netOf(cfg), 0), s3nOptions(row, cfg, 0));
    const opt = s.createOptimizer({ learningRate: 0.01 });
    const ms: number[] = [];
    for (const m of modes) {
      s.setModes({ training: m });
      ms.push(await time(() => s.trainStep(batch.images, batch.labels, opt, row === 's3n-source' ? { source: batch.source } : {})));
    }
    opt.dispose();
    s.dispose();
    return ms;
  };
  const [s3nAllMs, s3nRandomMs] = await s3nMs('s3n', ['all', 'random']);
  const [s3nNoBuffersMs] = await s3nMs('s3n-nobuf', ['random']);
  const [s3nSourceMs] = await s3nMs('s3n-source', ['random']);
  const [s3nBranchBnMs] = await s3nMs('s3n-branchbn', ['random']);
  disposeSplit(batch);
  return { baselineMs, s3nAllMs, s3nRandomMs, s3nNoBuffersMs, s3nSourceMs, s3nBranchBnMs };
}

/** Mean ms of an S3N step over a run of `epochs` epochs (the first stage trains in 'all' mode, the rest in 'random'). */
function s3nRunMs(tm: Timing, epochs: number, msRandom = tm.s3nRandomMs): number {
  const first = switchEpoch(epochs) + 1;
  return (Math.min(first, epochs) * tm.s3nAllMs + Math.max(0, epochs - first) * msRandom) / epochs;
}

// ---------------------------------------------------------------- the parent: jobs, schedule, table

interface Task {
  id: string;
  deps: string[];
  /** Estimated seconds (training and evaluation), for the schedule's priorities and the projection. */
  cost: number;
  make: () => JobSpec;
  rank?: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stderr = (xs: number[]) => (xs.length < 2 ? NaN : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1) / xs.length));

interface TableRow {
  n: string;
  label: string;
  /** The runs it reads, and what it reads from them; none: not run. */
  row?: Row;
  metric?: (r: JobResult) => number | undefined;
  look?: (r: JobResult) => number | undefined;
  /** Runs shared with another row (its training time is that row's). */
  sameRunAs?: string;
  note?: string;
}

const TABLE: TableRow[] = [
  { n: '1', label: 'backbone alone', row: 'baseline', metric: (r) => r.test.baseline, look: (r) => r.onDetail },
  { n: '2', label: 'backbone alone, equal compute (S3N’s step time)', row: 'baseline-eq', metric: (r) => r.test.baseline, look: (r) => r.onDetail },
  { n: '3', label: "S3N as the authors built it (buffers, 'extreme' inference)", row: 's3n', metric: (r) => r.test.fused, look: (r) => r.onDetail },
  { n: '4', label: 'S3N without the buffers', row: 's3n-nobuf', metric: (r) => r.test.fused, look: (r) => r.onDetail },
  { n: '5', label: "row 3 evaluated in 'all' mode", row: 's3n', metric: (r) => r.testAll?.fused, look: (r) => r.onDetailAll, sameRunAs: '3' },
  { n: '6', label: 'S3N sampling from a 2× source', row: 's3n-source', metric: (r) => r.test.fused, look: (r) => r.onDetail },
  { n: '7', label: 'row 3 + flip test-time augmentation', row: 's3n', metric: (r) => r.testFlip, sameRunAs: '3' },
  { n: '7b', label: 'row 6 + flip test-time augmentation (source flipped too)', row: 's3n-source', metric: (r) => r.testFlip, sameRunAs: '6' },
  { n: 'ref', label: 'row 1 + flip test-time augmentation (reference for 7)', row: 'baseline', metric: (r) => r.testFlip, sameRunAs: '1' },
  { n: '8', label: 'row 3 with per-branch batch-norm statistics', row: 's3n-branchbn', metric: (r) => r.test.fused, look: (r) => r.onDetail },
];

interface RowSummary {
  n: string;
  label: string;
  protocol: Protocol;
  epochs?: string;
  seeds?: number[];
  perSeed?: number[];
  mean?: number;
  standardError?: number;
  onDetailPerSeed?: number[];
  onDetail?: number;
  trainSecondsPerSeed?: number[];
  msPerStepPerSeed?: number[];
  learningRate?: number;
  sameRunAs?: string;
  note?: string;
}

function parse(argv: string[]): { cfg: Config; quick: boolean; tag?: string; job?: string; out?: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      benchmark: { type: 'string' },
      quick: { type: 'boolean', default: false },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      parallel: { type: 'string' },
      classes: { type: 'string' },
      epochs: { type: 'string' },
      'finetune-epochs': { type: 'string' },
      'train-per-class': { type: 'string' },
      'val-per-class': { type: 'string' },
      'test-per-class': { type: 'string' },
      'lr-scratch': { type: 'string' },
      'lr-finetune': { type: 'string' },
      rows: { type: 'string' },
      tag: { type: 'string' },
      job: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const base = values.quick ? QUICK : FULL;
  const cfg: Config = { ...base, data: { ...base.data }, lr: { ...base.lr } };
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, but got '${v}'.`);
    return n;
  };
  const list = (name: string, v: string) => {
    const xs = v.split(',').map(Number);
    if (xs.length === 0 || xs.some((x) => !Number.isFinite(x) || x <= 0)) throw new Error(`--${name} must be a comma-separated list of positive numbers, but got '${v}'.`);
    return xs;
  };
  if (values.seeds) cfg.seeds = values.seeds.split(',').map((s) => int('seeds', s, 0));
  if (values.seed) cfg.seeds = [int('seed', values.seed, 0)];
  if (values.parallel) cfg.parallel = int('parallel', values.parallel, 1);
  if (values.rows) {
    const rows = values.rows.split(',');
    const bad = rows.filter((r) => !(ROWS as readonly string[]).includes(r));
    if (bad.length > 0) throw new Error(`--rows must be a comma-separated list of ${ROWS.join(', ')}, but got '${values.rows}'.`);
    cfg.rows = rows as Row[];
  }
  if (values.tag !== undefined && !/^[a-z0-9-]+$/.test(values.tag)) throw new Error(`--tag must be lower-case letters, digits and '-', but got '${values.tag}'.`);
  if (values.classes) cfg.data.classes = int('classes', values.classes, 2);
  if (values.epochs) cfg.epochs = int('epochs', values.epochs, 1);
  if (values['finetune-epochs']) cfg.finetuneEpochs = int('finetune-epochs', values['finetune-epochs'], 1);
  if (values['train-per-class']) cfg.data.trainPerClass = int('train-per-class', values['train-per-class'], 1);
  if (values['val-per-class']) cfg.valPerClass = int('val-per-class', values['val-per-class'], 0);
  if (values['test-per-class']) cfg.data.testPerClass = int('test-per-class', values['test-per-class'], 1);
  if (values['lr-scratch']) cfg.lr.scratch = list('lr-scratch', values['lr-scratch']);
  if (values['lr-finetune']) cfg.lr.finetune = list('lr-finetune', values['lr-finetune']);
  const sweeping = cfg.lr.scratch.length > 1 || cfg.lr.finetune.length > 1;
  if (sweeping && cfg.valPerClass === 0) throw new Error('a learning-rate sweep (several --lr-scratch or --lr-finetune values) needs a validation split: --val-per-class N.');
  if (cfg.data.trainPerClass - cfg.valPerClass < 1) throw new Error('--val-per-class must leave training images.');
  return { cfg, quick: values.quick === true, tag: values.tag, job: values.job, out: values.out };
}

export async function runFineGrainedBenchmark(argv: string[]): Promise<void> {
  const args = parse(argv);
  if (args.job !== undefined) {
    if (args.out === undefined) throw new Error('--job needs --out FILE');
    await runJob(JSON.parse(args.job) as JobSpec, args.out);
    return;
  }
  const { cfg, quick, tag } = args;
  const t0 = performance.now();
  const min = () => `${((performance.now() - t0) / 60000).toFixed(1)} min`;
  await tf.setBackend('wasm');
  await tf.ready();
  console.log(`fine-grained ablation benchmark on ${tf.getBackend()}, ${cfg.parallel} process(es): ${JSON.stringify(cfg)}`);

  const root = path.join(os.tmpdir(), `s3n-fine-grained-${process.pid}`);
  fs.rmSync(root, { recursive: true, force: true });
  await writeFineGrainedDataset(root, cfg.data);
  fs.mkdirSync(path.join(root, 'runs'));
  const sp = splits(cfg, root);
  console.log(`  wrote ${root}: ${cfg.data.classes} classes, ${sp.train.length} train / ${sp.val.length} validation / ${sp.test.length} test images of ${cfg.data.size} px [${min()}]`);
  const details = detailsInInput(cfg, sp.test, root);
  const chance = mean(details.map((d) => (Math.PI * d.r * d.r) / (cfg.inputSize * cfg.inputSize)));

  // Step times, the equal-compute epochs and the projection.
  const tm = await measureSteps(cfg, sp.train);
  const ratio = { scratch: s3nRunMs(tm, cfg.epochs) / tm.baselineMs, finetune: s3nRunMs(tm, cfg.finetuneEpochs) / tm.baselineMs };
  const protocolEpochs = { scratch: cfg.epochs, finetune: cfg.finetuneEpochs };
  const eqEpochs = {
    scratch: Math.min(cfg.equalComputeCap * cfg.epochs, Math.max(1, Math.round(cfg.epochs * ratio.scratch))),
    finetune: Math.min(cfg.equalComputeCap * cfg.finetuneEpochs, Math.max(1, Math.round(cfg.finetuneEpochs * ratio.finetune))),
  };
  console.log(
    `  step times (batch ${cfg.batchSize}, ms): baseline ${tm.baselineMs.toFixed(0)}, S3N ${tm.s3nAllMs.toFixed(0)} ('all') / ${tm.s3nRandomMs.toFixed(0)} ('random'), ` +
      `without buffers ${tm.s3nNoBuffersMs.toFixed(0)}, 2× source ${tm.s3nSourceMs.toFixed(0)}, per-branch statistics ${tm.s3nBranchBnMs.toFixed(0)}; S3N / baseline ${ratio.scratch.toFixed(2)} (E = ${cfg.epochs}), ${ratio.finetune.toFixed(2)} (E2 = ${cfg.finetuneEpochs}) ` +
      `→ equal compute: ${eqEpochs.scratch} and ${eqEpochs.finetune} epochs [${min()}]`,
  );

  const steps = Math.floor(sp.train.length / cfg.batchSize);
  const costOf = (row: Row, epochs: number, val: boolean): number => {
    const ms =
      row === 'baseline' || row === 'baseline-eq'
        ? tm.baselineMs
        : s3nRunMs(tm, epochs, row === 's3n-nobuf' ? tm.s3nNoBuffersMs : row === 's3n-source' ? tm.s3nSourceMs : row === 's3n-branchbn' ? tm.s3nBranchBnMs : tm.s3nRandomMs);
    // A forward pass costs about a third of a training step per image: the recalibration makes
    // one over the training images, the evaluation 5 over the test split for row 3 (outputs,
    // 'all' mode, flip: two, the decision maps), 4 for rows 1 and 6, 2 for the others (and one
    // over the validation split for a sweep candidate); plus about 4 s to start the process.
    const passes = (row === 's3n' ? 5 : row === 'baseline' || row === 's3n-source' ? 4 : 2) * sp.test.length + sp.train.length + (val ? sp.val.length : 0);
    return (epochs * steps * ms + (passes / cfg.batchSize) * (ms / 3)) / 1000 + 4;
  };

  // The jobs. First-seed runs of rows 1 and 3 are the sweep's candidates (one per rate).
  const first = cfg.seeds[0];
  const sweep = { scratch: cfg.lr.scratch.length > 1, finetune: cfg.lr.finetune.length > 1 };
  const results = new Map<string, JobResult>();
  const tasks = new Map<string, Task>();
  const idOf = (p: Protocol, row: Row, seed: number, lr?: number) => `${p}/${row}/seed${seed}${lr === undefined ? '' : `/lr${lr}`}`;
  const candidates = (p: Protocol, fam: Family) => cfg.lr[p].map((lr) => idOf(p, fam, first, lr));
  const keyOf = (fam: Family) => (fam === 'baseline' ? 'baseline' : 'fused');
  /** The chosen candidate: best validation top-1 (the first listed on a tie), or the only one. */
  const chosen = (p: Protocol, fam: Family): JobResult => {
    const rs = candidates(p, fam).map((id) => results.get(id) as JobResult);
    return rs.reduce((a, b) => ((b.val?.[keyOf(fam)] ?? -1) > (a.val?.[keyOf(fam)] ?? -1) ? b : a));
  };
  const runOf = (p: Protocol, row: Row, seed: number): JobResult | undefined =>
    seed === first && (row === 'baseline' || row === 's3n') ? chosen(p, row) : results.get(idOf(p, row, seed));
  const pretrainDeps = (seed: number) => (seed === first ? candidates('scratch', 'baseline') : [idOf('scratch', 'baseline', seed)]);
  const add = (p: Protocol, row: Row, seed: number, lr: number | undefined, deps: string[]) => {
    const id = idOf(p, row, seed, lr);
    const epochs = row === 'baseline-eq' ? eqEpochs[p] : protocolEpochs[p];
    const val = lr !== undefined && sweep[p];
    const file = (name: string) => path.join(root, 'runs', name.replace(/\//g, '_'));
    tasks.set(id, {
      id,
      deps,
      cost: costOf(row, epochs, val),
      make: () => ({
        id,
        protocol: p,
        row,
        seed,
        learningRate: lr ?? chosen(p, familyOf(row)).job.learningRate,
        epochs,
        epochOffset: p === 'scratch' ? 0 : cfg.epochs,
        ...(p === 'finetune' ? { init: (runOf('scratch', 'baseline', seed) as JobResult).job.save } : {}),
        ...(p === 'scratch' && row === 'baseline' ? { save: file(`${id}_weights`) } : {}),
        val,
        root,
        cfg,
      }),
    });
  };
  for (const p of ['scratch', 'finetune'] as const) {
    const pre = (seed: number) => (p === 'finetune' ? pretrainDeps(seed) : []);
    for (const fam of ['baseline', 's3n'] as const) for (const lr of cfg.lr[p]) add(p, fam, first, lr, pre(first));
    for (const seed of cfg.seeds) {
      for (const row of ROWS) {
        if (seed === first && (row === 'baseline' || row === 's3n')) continue;
        if (cfg.rows && !cfg.rows.includes(row) && !(p === 'scratch' && row === 'baseline')) continue;
        add(p, row, seed, undefined, [...pre(seed), ...candidates(p, familyOf(row))]);
      }
    }
  }
  // Priority: the longest chain of estimated work a job starts (its cost plus its dependents').
  const rank = (t: Task): number => (t.rank ??= t.cost + Math.max(0, ...[...tasks.values()].filter((u) => u.deps.includes(t.id)).map(rank)));
  tasks.forEach((t) => rank(t));
  const totalCost = [...tasks.values()].reduce((a, t) => a + t.cost, 0);
  console.log(`  ${tasks.size} trainings, about ${(totalCost / 60).toFixed(0)} core-minutes: projected ${(totalCost / 60 / Math.min(cfg.parallel, os.availableParallelism()) + 0.5).toFixed(0)} min with ${cfg.parallel} process(es) [${min()}]`);

  // Run them, cfg.parallel at a time, each in a child process.
  const failures: { id: string; reason: string }[] = [];
  const running = new Map<string, Promise<void>>();
  const pending = new Set(tasks.keys());
  const launch = (task: Task): Promise<void> => {
    const job = task.make();
    const out = path.join(root, 'runs', `${task.id.replace(/\//g, '_')}.json`);
    const child = spawn(process.execPath, [...process.execArgv, __filename, '--job', JSON.stringify(job), '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    readline.createInterface({ input: child.stdout }).on('line', (l) => console.log(l));
    readline.createInterface({ input: child.stderr }).on('line', (l) => console.error(`  [${task.id}] ${l}`));
    console.log(`  [${task.id}] started (pid ${child.pid}, lr ${job.learningRate}, ${job.epochs} epochs${job.init ? ', from the pretrained baseline' : ''}) [${min()}]`);
    return new Promise<void>((resolve) => {
      child.on('error', (e) => failures.push({ id: task.id, reason: e.message }));
      child.on('close', (code, signal) => {
        if (code === 0 && fs.existsSync(out)) results.set(task.id, JSON.parse(fs.readFileSync(out, 'utf8')) as JobResult);
        else failures.push({ id: task.id, reason: `exit code ${code}${signal ? `, signal ${signal}` : ''}` });
        resolve();
      });
    });
  };
  for (;;) {
    if (failures.length === 0) {
      const ready = [...pending].map((id) => tasks.get(id) as Task).filter((t) => t.deps.every((d) => results.has(d)));
      ready.sort((a, b) => (b.rank as number) - (a.rank as number));
      for (const t of ready.slice(0, Math.max(0, cfg.parallel - running.size))) {
        pending.delete(t.id);
        const p = launch(t).then(() => void running.delete(t.id));
        running.set(t.id, p);
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
    if (running.size < cfg.parallel) console.log(`  ${results.size}/${tasks.size} trainings done [${min()}]`);
  }
  if (failures.length > 0) console.error(`\n${failures.length} training(s) failed: ${failures.map((f) => `${f.id} (${f.reason})`).join('; ')}; ${pending.size} not started. The table below has what finished.`);

  // The table.
  const ok = (p: Protocol, fam: Family) => candidates(p, fam).every((id) => results.has(id));
  const lrs = {
    scratch: { baseline: ok('scratch', 'baseline') ? chosen('scratch', 'baseline').job.learningRate : undefined, s3n: ok('scratch', 's3n') ? chosen('scratch', 's3n').job.learningRate : undefined },
    finetune: { baseline: ok('finetune', 'baseline') ? chosen('finetune', 'baseline').job.learningRate : undefined, s3n: ok('finetune', 's3n') ? chosen('finetune', 's3n').job.learningRate : undefined },
  };
  const summary: RowSummary[] = [];
  for (const p of ['scratch', 'finetune'] as const) {
    for (const tr of TABLE) {
      if (tr.row === undefined || tr.metric === undefined) {
        summary.push({ n: tr.n, label: tr.label, protocol: p, note: tr.note });
        continue;
      }
      const row = tr.row;
      if (cfg.rows && !cfg.rows.includes(row) && row !== 'baseline' && row !== 's3n') {
        summary.push({ n: tr.n, label: tr.label, protocol: p, note: 'not run (--rows)' });
        continue;
      }
      const fam = familyOf(row);
      const runs = cfg.seeds.map((s) => (ok(p, fam) ? runOf(p, row, s) : undefined)).filter((r): r is JobResult => r !== undefined);
      const vals = runs.map((r) => tr.metric?.(r)).filter((v): v is number => v !== undefined);
      const looks = tr.look ? runs.map((r) => tr.look?.(r)).filter((v): v is number => v !== undefined) : [];
      const ep = row === 'baseline-eq' ? eqEpochs[p] : protocolEpochs[p];
      summary.push({
        n: tr.n,
        label: tr.label,
        protocol: p,
        epochs: p === 'scratch' ? `${ep}` : `${cfg.epochs} + ${ep}`,
        seeds: runs.map((r) => r.job.seed),
        perSeed: vals,
        mean: vals.length > 0 ? mean(vals) : undefined,
        standardError: vals.length > 0 ? stderr(vals) : undefined,
        ...(looks.length > 0 ? { onDetailPerSeed: looks, onDetail: mean(looks) } : {}),
        trainSecondsPerSeed: runs.map((r) => r.train.seconds),
        msPerStepPerSeed: runs.map((r) => r.train.trainMsPerStep),
        learningRate: lrs[p][fam],
        ...(tr.sameRunAs ? { sameRunAs: tr.sameRunAs } : {}),
        ...(vals.length < cfg.seeds.length ? { note: `${vals.length} of ${cfg.seeds.length} seeds` } : {}),
      });
    }
  }
  const observed = (p: Protocol) => {
    const ms = (row: Row) => cfg.seeds.map((s) => (ok(p, familyOf(row)) ? runOf(p, row, s)?.train.trainMsPerStep : undefined)).filter((v): v is number => v !== undefined);
    const b = ms('baseline');
    const s = ms('s3n');
    return b.length > 0 && s.length > 0 ? mean(s) / mean(b) : undefined;
  };
  const pct = (v: number | undefined) => (v === undefined ? '–' : (100 * v).toFixed(1));
  const cell = (r: RowSummary | undefined) =>
    r === undefined || r.note?.startsWith('not run') ? (r?.note ?? '') : r.mean === undefined ? 'failed' : `${pct(r.mean)} ± ${Number.isNaN(r.standardError) ? '–' : pct(r.standardError)}`;
  const secs = (r: RowSummary | undefined) => (r?.trainSecondsPerSeed && r.trainSecondsPerSeed.length > 0 ? mean(r.trainSecondsPerSeed).toFixed(0) : '–');
  const lines = [
    `| # | model | scratch: epochs | scratch: top-1 % | fine-tune: epochs | fine-tune: top-1 % | max on the detail %, scratch / fine-tune | train s per run, scratch / fine-tune |`,
    `|---|---|---|---|---|---|---|---|`,
  ];
  for (const tr of TABLE) {
    const a = summary.find((r) => r.protocol === 'scratch' && r.n === tr.n);
    const b = summary.find((r) => r.protocol === 'finetune' && r.n === tr.n);
    if (tr.row === undefined) {
      lines.push(`| ${tr.n} | ${tr.label} | | ${tr.note} | | ${tr.note} | | |`);
      continue;
    }
    const look = tr.look ? `${pct(a?.onDetail)} / ${pct(b?.onDetail)}` : '';
    const time = tr.sameRunAs ? `(row ${tr.sameRunAs})` : `${secs(a)} / ${secs(b)}`;
    lines.push(`| ${tr.n} | ${tr.label} | ${a?.epochs ?? ''} | ${cell(a)} | ${b?.epochs ?? ''} | ${cell(b)} | ${look} | ${time} |`);
  }
  const lrText = (p: Protocol) =>
    sweep[p]
      ? `chosen on the validation split (${sp.val.length} images, seed ${first}) from ${cfg.lr[p].join(' / ')}: baseline ${lrs[p].baseline ?? '–'}, S3N ${lrs[p].s3n ?? '–'}`
      : `fixed ${cfg.lr[p][0]} (no sweep)`;
  const obs = { scratch: observed('scratch'), finetune: observed('finetune') };
  const totalMinutes = (performance.now() - t0) / 60000;
  console.log(
    `\nSynthetic fine-grained benchmark (${cfg.data.classes} classes, ${sp.train.length} training / ${sp.test.length} test images, ${cfg.inputSize}-px input), ` +
      `test top-1 % (S3N: fused output), mean ± standard error over seeds ${cfg.seeds.join(', ')}; chance ${(100 / cfg.data.classes).toFixed(1)} %. ` +
      `Scratch: every row from random weights. Fine-tune: the backbone alone trained ${cfg.epochs} epochs (row 1 of scratch), then each row ${cfg.finetuneEpochs} more (row 2: more, at equal compute).\n`,
  );
  console.log(lines.join('\n'));
  console.log(
    `\nMax on the detail: the share of test images whose S3N decision-map maximum (rows 3–6, 8) or baseline class-activation-map maximum (rows 1–2) lies on the class's detail; chance ${(100 * chance).toFixed(1)} %. ` +
      `Row 2: S3N / baseline step time ${ratio.scratch.toFixed(2)} (scratch) and ${ratio.finetune.toFixed(2)} (fine-tune), measured before the runs; in the runs themselves ${obs.scratch?.toFixed(2) ?? '–'} and ${obs.finetune?.toFixed(2) ?? '–'}. ` +
      `Learning rates: scratch ${lrText('scratch')}; fine-tune ${lrText('finetune')}. Total ${totalMinutes.toFixed(1)} min with ${cfg.parallel} process(es).`,
  );

  const out = path.join(__dirname, 'results');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `fine_grained${quick ? '_quick' : ''}${tag ? `_${tag}` : ''}.json`);
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    backend: tf.getBackend(),
    quick,
    config: cfg,
    images: { train: sp.train.length, validation: sp.val.length, test: sp.test.length },
    chanceTop1: 1 / cfg.data.classes,
    chanceOnDetail: chance,
    stepTimes: tm,
    equalCompute: { ratioMeasuredBefore: ratio, ratioInTheRuns: obs, epochs: eqEpochs, cap: cfg.equalComputeCap },
    learningRates: {
      protocol: 'one rate per model family (baseline rows 1–2, S3N rows 3–8) and protocol; with several candidates, chosen by validation top-1 on the first seed, reused by the other seeds and rows',
      scratch: { ...lrs.scratch, candidates: cfg.lr.scratch, swept: sweep.scratch },
      finetune: { ...lrs.finetune, candidates: cfg.lr.finetune, swept: sweep.finetune },
    },
    table: lines.join('\n'),
    rows: summary,
    runs: [...results.values()].map((r) => {
      const fam = familyOf(r.job.row);
      const isCandidate = r.job.seed === first && (r.job.row === 'baseline' || r.job.row === 's3n') && ok(r.job.protocol, fam);
      return { ...r, reported: !isCandidate || chosen(r.job.protocol, fam as Family).job.id === r.job.id };
    }),
    failures,
    projectedMinutes: totalCost / 60 / Math.min(cfg.parallel, os.availableParallelism()),
    totalMinutes,
  };
  fs.writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(`wrote ${file} [${min()}]`);
  fs.rmSync(root, { recursive: true, force: true });
  if (failures.length > 0) process.exitCode = 1;
}

if (require.main === module) {
  runFineGrainedBenchmark(process.argv.slice(2)).then(
    () => process.exit(process.exitCode ?? 0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
