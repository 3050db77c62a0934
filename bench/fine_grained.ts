/**
 * `npm run bench:accuracy -- --benchmark fine-grained [--quick] [--classes N] [--epochs N]
 * [--train-per-class N] [--test-per-class N] [--seed N]`: the backbone alone against S3N on the
 * synthetic fine-grained benchmark (src/data/fine_grained_synthetic.ts), end to end through
 * files: the benchmark is written in CUB-200-2011's layout (224-pixel images), read with
 * `readCub`, loaded by `ImagePipeline` (the authors' augmentation: random resized crop and flip
 * for training, resize to 150 and centre crop for evaluation) at a 112-pixel network input.
 *
 * Both models: `smallResNet` widths [8, 16, 32] (batch-norm momentum 0.9), trained from
 * scratch for the same epochs with the same SGD (momentum 0.9, classifiers ×10, ×0.1 on the
 * last third) and base learning rate, one seed, batch-norm statistics re-estimated on training
 * images before evaluation (bench/accuracy_train.ts). S3N with a fixed sampler filter and the
 * three-stage schedule switched after the first third of the epochs. Runs on the wasm backend
 * with the library's training kernels, in one process.
 *
 * Prints top-1 on the test split (backbone alone; S3N fused, raw, discriminative,
 * complementary) and where the models look: the fraction of test images whose S3N
 * decision-map maximum (the strongest discriminative peak) lies on the detail (the crown
 * mark of parts/part_locs.txt, within its radius plus 4 pixels of the network input), the same
 * for the backbone's class activation map of its predicted class, and the chance level (the
 * mean share of the input covered by that disc). Writes bench/results/fine_grained.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '../src/wasm-training';
import { S3N } from '../src';
import { evalResizeSize, ImagePipeline, readCub } from '../src/node';
import type { ImageItem } from '../src/node';
import { fineGrainedAnnotations, FineGrainedOptions, writeFineGrainedDataset } from '../src/data/fine_grained_synthetic';
import { Baseline, BackboneConfig, evaluate, makeBackbone, recalibrateBatchNorm, Split, train, Trainable } from './accuracy_train';

interface Config {
  data: Required<Pick<FineGrainedOptions, 'classes' | 'trainPerClass' | 'testPerClass' | 'size' | 'seed'>>;
  inputSize: number;
  widths: number[];
  batchSize: number;
  epochs: number;
  learningRate: number;
  seed: number;
}

const FULL: Config = {
  data: { classes: 8, trainPerClass: 60, testPerClass: 30, size: 224, seed: 0 },
  inputSize: 112,
  widths: [8, 16, 32],
  batchSize: 16,
  epochs: 6,
  learningRate: 0.05,
  seed: 1,
};

/** Loads all images of `items` through a pipeline epoch into one split (boxes unused here). */
async function load(items: ImageItem[], mode: 'train' | 'eval', cfg: Config, epoch: number): Promise<Split> {
  const pipe = new ImagePipeline(items, { mode, batchSize: 32, inputSize: cfg.inputSize, seed: cfg.seed, shuffle: false, classes: cfg.data.classes });
  const images: tf.Tensor4D[] = [];
  const labels: tf.Tensor1D[] = [];
  for await (const b of pipe.epoch(epoch)) {
    images.push(b.images);
    labels.push(b.labels as tf.Tensor1D);
  }
  const split: Split = { images: tf.concat(images, 0), labels: tf.concat(labels, 0), boxes: [] };
  tf.dispose([...images, ...labels]);
  return split;
}

/** The detail (crown mark) of each test image in network-input pixels (eval resize + centre crop). */
function detailsInInput(cfg: Config, test: ImageItem[], root: string) {
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

/** Fraction of images whose map maximum (cell centres → input pixels, corners aligned or not) lies on the detail. */
function onDetail(argmax: ArrayLike<number>, g: [number, number], cornersAligned: boolean, size: number, details: { x: number; y: number; r: number }[]): number {
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

async function s3nPeakOnDetail(s3n: S3N, test: Split, details: { x: number; y: number; r: number }[], size: number): Promise<number> {
  const n = test.images.shape[0];
  const arg: number[] = [];
  let g = 0;
  for (let s = 0; s < n; s += 32) {
    const x = tf.slice(test.images, [s, 0, 0, 0], [Math.min(32, n - s), -1, -1, -1]) as tf.Tensor4D;
    const ex = s3n.explain(x);
    g = ex.decision.shape[1];
    arg.push(...(await tf.tidy(() => tf.argMax(tf.reshape(ex.decision, [x.shape[0], -1]), 1)).data()));
    tf.dispose([x, ...Object.values(ex)]);
  }
  return onDetail(arg, [g, g], true, size, details);
}

/** Class activation map of the predicted class: features · dense kernel, its maximum. */
async function baselineCamOnDetail(b: Baseline, test: Split, details: { x: number; y: number; r: number }[], size: number): Promise<number> {
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

export async function runFineGrainedBenchmark(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      benchmark: { type: 'string' },
      quick: { type: 'boolean', default: false },
      classes: { type: 'string' },
      epochs: { type: 'string' },
      'train-per-class': { type: 'string' },
      'test-per-class': { type: 'string' },
      seed: { type: 'string' },
      lr: { type: 'string' },
    },
  });
  const cfg: Config = { ...FULL, data: { ...FULL.data } };
  if (values.quick) Object.assign(cfg, { epochs: 2, data: { ...cfg.data, classes: 4, trainPerClass: 16, testPerClass: 8 } });
  if (values.classes) cfg.data.classes = Number(values.classes);
  if (values.epochs) cfg.epochs = Number(values.epochs);
  if (values['train-per-class']) cfg.data.trainPerClass = Number(values['train-per-class']);
  if (values['test-per-class']) cfg.data.testPerClass = Number(values['test-per-class']);
  if (values.seed) cfg.seed = Number(values.seed);
  if (values.lr) cfg.learningRate = Number(values.lr);
  await tf.setBackend('wasm');
  await tf.ready();
  const t0 = performance.now();
  const min = () => `${((performance.now() - t0) / 60000).toFixed(1)} min`;
  console.log(`fine-grained benchmark on ${tf.getBackend()}: ${JSON.stringify(cfg)}`);

  const root = path.join(os.tmpdir(), `s3n-fine-grained-${process.pid}`);
  await writeFineGrainedDataset(root, cfg.data);
  const ds = readCub(root);
  console.log(`  wrote ${root}: ${ds.classNames.length} classes, ${ds.train.length} train / ${ds.test.length} test images of ${cfg.data.size} px [${min()}]`);
  const test = await load(ds.test, 'eval', cfg, 0);
  const details = detailsInInput(cfg, ds.test, root);
  const chance = details.reduce((a, d) => a + (Math.PI * d.r * d.r) / (cfg.inputSize * cfg.inputSize), 0) / details.length;
  const net: BackboneConfig = { inputSize: cfg.inputSize, channels: 3, widths: cfg.widths, bnMomentum: 0.9 };
  // Training images of each epoch: a fresh augmentation draw (epoch-seeded), loaded before training.
  const trainSplits: Split[] = [];
  for (let e = 0; e < cfg.epochs; e++) trainSplits.push(await load(ds.train, 'train', cfg, e));
  const calib = await load(ds.train, 'train', cfg, 1000);
  console.log(`  loaded the images [${min()}]`);

  const results: Record<string, unknown> = {};
  for (const model of ['baseline', 's3n'] as const) {
    const t: Trainable =
      model === 'baseline'
        ? { kind: 'baseline', net: new Baseline(makeBackbone(net, cfg.seed), cfg.seed, cfg.data.classes) }
        : { kind: 's3n', net: S3N.create(makeBackbone(net, cfg.seed), { classes: cfg.data.classes, seed: cfg.seed, trainableFilter: false }) };
    const copies = trainSplits.map((s) => ({ images: s.images.clone(), labels: s.labels.clone(), boxes: [] }));
    const r = await train(t, { epochs: cfg.epochs, learningRate: cfg.learningRate, data: (e) => copies[e], batchSize: cfg.batchSize, seed: cfg.seed, log: `  ${model}` });
    recalibrateBatchNorm(t, calib, Math.min(30, Math.ceil(calib.images.shape[0] / cfg.batchSize)), cfg.batchSize);
    const acc = await evaluate(t, test);
    const look = t.kind === 's3n' ? await s3nPeakOnDetail(t.net, test, details, cfg.inputSize) : await baselineCamOnDetail(t.net, test, details, cfg.inputSize);
    results[model] = { top1: acc, peakOnDetail: look, train: r };
    console.log(
      `  ${model}: test top-1 ${Object.entries(acc).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`).join(', ')}; ` +
        `${t.kind === 's3n' ? 'decision-map max' : 'CAM max'} on the detail ${(100 * look).toFixed(1)}% (chance ${(100 * chance).toFixed(1)}%) ` +
        `(${r.seconds.toFixed(0)} s, ${r.msPerStep.toFixed(0)} ms/step) [${min()}]`,
    );
    t.net.dispose();
  }
  const b = results.baseline as { top1: Record<string, number>; peakOnDetail: number };
  const s = results.s3n as { top1: Record<string, number>; peakOnDetail: number };
  console.log(`\nFine-grained synthetic, ${ds.test.length} test images, ${cfg.data.classes} classes (chance ${(100 / cfg.data.classes).toFixed(1)}%), seed ${cfg.seed}, ${cfg.epochs} epochs:`);
  console.log(`  backbone alone   top-1 ${(100 * b.top1.baseline).toFixed(1)}%   CAM max on the detail ${(100 * b.peakOnDetail).toFixed(1)}%`);
  console.log(`  S3N (fused)      top-1 ${(100 * s.top1.fused).toFixed(1)}%   decision-map max on the detail ${(100 * s.peakOnDetail).toFixed(1)}%   (chance of landing there ${(100 * chance).toFixed(1)}%)`);
  const out = path.join(__dirname, 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'fine_grained.json'), JSON.stringify({ date: new Date().toISOString(), backend: tf.getBackend(), config: cfg, chance, results, totalMinutes: (performance.now() - t0) / 60000 }, null, 2));
  console.log(`wrote ${path.join(out, 'fine_grained.json')} [${min()}]`);
  tf.dispose([test.images, test.labels, calib.images, calib.labels, ...trainSplits.flatMap((x) => [x.images, x.labels])]);
  fs.rmSync(root, { recursive: true, force: true });
}

if (require.main === module) {
  runFineGrainedBenchmark(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
