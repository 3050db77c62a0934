/**
 * The `s3n` command line (run by `main.ts`): train, evaluate, predict with and look at S3N.
 *
 * ```
 * s3n demo [--out DIR]
 * s3n train --dataset cub|aircraft|cars|folder --data DIR --out DIR [options]
 * s3n eval --checkpoint DIR --dataset KIND --data DIR [--report DIR] [--tta flip] [--attention all]
 * s3n predict --checkpoint DIR IMAGE...
 * s3n visualize --checkpoint DIR IMAGE... --out DIR
 * s3n export --checkpoint DIR --out DIR
 * s3n synthetic --kind fine-grained|simple --out DIR
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DATASET_KINDS, DatasetKind, readDataset } from '../data';
import { loadImage, loadImageWithSource } from '../data/augment';
import type { ImageItem } from '../data/types';
import { ImagePipeline } from '../data/pipeline';
import { BACKENDS, BackendName, DEFAULT_BACKEND, setupBackend, UsageError } from './backend';
import { alignClasses, evaluate, TTA_MODES } from './evaluate';
import { prepareReportDir, writeEvalReport } from './eval_report';
import { writeFineGrainedDataset } from '../data/fine_grained_synthetic';
import { loadS3N } from './model_setup';
import { BRANCH_STATISTICS, type S3N } from '../model/s3n';
import { checkWeightsOption } from './pretrained';
import { writeExplanationPictures } from './picture';
import { exportForWeb } from './export';
import { writeSyntheticDataset } from './synthetic';
import { formatAccuracies, MAX_SKIPPED_STEPS, train, TrainOptions } from './train';
import { S3N_DEFAULTS as D } from '../defaults';

type Values = Record<string, string | boolean | undefined>;
type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;

/** PyTorch's batch-norm momentum (the weight of the new batch) for the Keras-convention default. */
const PYTORCH_BN_MOMENTUM = Number((1 - D.batchNormMomentum).toPrecision(12));

const COMMON: OptionSpec = { backend: { type: 'string', default: DEFAULT_BACKEND }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' } };

const USAGE: Record<string, string> = {
  main: `s3n: Selective Sparse Sampling (S3N, Ding et al. ICCV 2019) on TensorFlow.js

Usage: s3n <command> [options]

Commands:
  demo        build a small synthetic fine-grained dataset, train S3N on it (about 10 s on the wasm backend), draw pictures
  train       train S3N on CUB-200-2011, FGVC-Aircraft, Stanford Cars or an image folder
  eval        top-1 and top-5 accuracy of the four outputs of a checkpoint on a dataset (--report: per class, confusion matrix)
  predict     top-k classes of images
  visualize   pictures of the peaks, attention maps and resampled images
  export      a checkpoint as a web model (model.json, weights, classes.txt) for the browser page
  synthetic   write a synthetic dataset (fine-grained: CUB-200-2011's layout, with boxes and part locations)

Every command takes --backend auto|cpu|wasm|tensorflow|webgpu and --help. The default, auto, runs
on the fastest backend installed: tensorflow (tfjs-node), else wasm with s3n-layers' training
kernels, else cpu; webgpu is experimental. --threads N (1-8, default 1) runs the wasm backend on
N threads (s3n-layers/wasm-threads: on an idle 2-core machine 1.2-1.7x faster; slower when the
cores are busy).`,
  train: `Usage: s3n train --dataset cub|aircraft|cars|folder --data DIR --out DIR [options]

  --dataset KIND        cub, aircraft, cars or folder (DIR/train/<class>/*, DIR/test/<class>/*)
  --data DIR            the dataset root in its official layout
  --annotation LEVEL    FGVC-Aircraft labels: variant (default), family or manufacturer
  --backbone NAME       resnet50 (default), small, torchvision-resnet18|34|50|101|152, or PATH of a
                        tfjs LayersModel (model.json)
  --weights FILE        pretrained backbone weights: a PyTorch .pth/.pt/.safetensors state dict for
                        torchvision-resnet* (e.g. torchvision's resnet50-0676ba61.pth), a Keras .h5
                        for resnet50 (its caffe preprocessing is then built into the backbone);
                        read once: --resume continues from the checkpoint's weights
  --cut-layer NAME      layer to cut a PATH backbone at (its output is the feature map)
  --widths A,B,...      stage widths of the small backbone (default 16,32,64)
  --input-size N        input side in pixels (default ${D.inputSize})
  --source-size N       beyond the paper: the zoomed and complementary images are sampled from the
                        image decoded at N pixels (>= --input-size; e.g. 2x), so a zoom shows real
                        pixels instead of interpolated ones (default: the input itself, as the authors)
  --branch-statistics shared|per-branch
                        beyond the paper: per-branch gives the zoomed and complementary branches
                        their own batch-norm moving statistics (updated by their own images, used
                        by them at inference; the backbone's weights stay shared); default shared,
                        as the authors
  --epochs N            (default ${D.epochs})
  --batch-size N        (default ${D.batchSize})
  --lr X                base learning rate (default ${D.learningRate}), x0.1 every --lr-step epochs (default ${D.lrStep})
  --switch-epoch N      last epoch (0-based) of the first attention stage (default ${D.switchEpoch})
  --seed N              seed of the weights, the attention draws and the data order (default 0)
  --grid-size N, --padding-size N, --fwhm X   S3N saliency grid options (defaults ${D.gridSize}, ${D.paddingSize}, ${D.fwhm})
  --bn-momentum X       backbone batch-norm momentum, Keras convention (default ${D.batchNormMomentum} = PyTorch's ${PYTORCH_BN_MOMENTUM}, the authors')
  --grad-checkpointing  recompute the backbone in the backward pass: ~30% slower steps, a third of
                        the backbone's activation memory (ResNet-50 at 448 on wasm needs it)
  --out DIR             run folder: checkpoints/, metrics.json
  --resume              continue the run in --out from its newest complete checkpoint
  --max-skipped-steps N stop after N steps in a row with a non-finite loss or gradient (default ${MAX_SKIPPED_STEPS};
                        such a step is skipped: it changes no weight)
  --backend NAME        auto (default: the fastest installed), cpu, wasm, tensorflow or webgpu (experimental)`,
  eval: `Usage: s3n eval --checkpoint DIR --dataset KIND --data DIR [--split test|train] [--batch-size N] [--report DIR] [--tta none|flip]
                [--attention extreme|all|random]

  --checkpoint DIR      a checkpoint folder or a run folder (its latest checkpoint)
  --report DIR          also write DIR/report.json (top-1, top-5, per-class accuracy and confusion
                        matrix of each output) and DIR/confusion.png (the fused output's, as a heat map)
  --tta none|flip       flip: average the softmax probabilities of each image and its horizontal
                        flip (default none: one view, as the authors evaluate)
  --attention MODE      the attention mode of the evaluation (default: the checkpoint's, 'extreme'
                        after the authors' switch epoch); 'all' did better on the fine-grained
                        benchmark (README, "Fine-grained ablations")

Prints top-1 and top-5 (top-k with k = min(5, classes)) of the fused, raw, discriminative and
complementary outputs.`,
  synthetic: `Usage: s3n synthetic --kind fine-grained|simple --out DIR [--classes N] [--train-per-class N]
                     [--test-per-class N] [--size N] [--seed N]

  fine-grained  (default) CUB-200-2011's layout (read it with --dataset cub): birds at any position,
                scale and heading whose classes differ only in the texture of a mark on the head
                (1.5-3% of the image), distractor marks off the bird, clutter, photometric noise;
                bounding_boxes.txt and parts/part_locs.txt (crown = the mark). Defaults: 8 classes,
                30 + 30 images per class, 224 px.
  simple        the demo's image folder (--dataset folder): the classes differ in the colour of a
                crest. Defaults: 4 classes, 48 + 16 images per class, 64 px.`,
  predict: `Usage: s3n predict --checkpoint DIR IMAGE... [--top-k 5]`,
  visualize: `Usage: s3n visualize --checkpoint DIR IMAGE... --out DIR

Writes <image>_figure.png (all panels, titled, with the predicted class: input with peaks,
discriminative attention, zoomed image, complementary attention, complementary image),
_peaks.png, _discriminative.png, _complementary.png and _resampled.png for each image.`,
  export: `Usage: s3n export --checkpoint DIR --out DIR

Writes model.json, its weights and classes.txt (one class name a line) to --out, for
tf.loadLayersModel in a browser (examples/browser/, npm run web). No backend needed.`,
  demo: `Usage: s3n demo [--out DIR] [--epochs N] [--seed N]

Writes a synthetic dataset (DIR/data), trains a small S3N on it (DIR/run) and draws pictures
(DIR/pictures). Default DIR: ./s3n-demo.`,
};

/**
 * `--flag -1` → `--flag=-1` for string options: Node's parser calls a value that starts with a
 * dash "ambiguous", and the flag's own check then says what it expects instead.
 */
function joinNegativeNumbers(args: string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && i + 1 < args.length && /^-(\d|\.\d|Infinity$)/.test(args[i + 1])) {
      out.push(`${args[i]}=${args[i + 1]}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

function parse(args: string[], options: OptionSpec, positionals = false): { values: Values; positionals: string[] } {
  try {
    const all = { ...COMMON, ...options };
    const r = parseArgs({ args: joinNegativeNumbers(args, all), options: all, allowPositionals: positionals, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function str(v: Values, name: string, required = false): string | undefined {
  const x = v[name];
  if (typeof x === 'string' && x !== '') return x;
  if (required) throw new UsageError(`--${name} is required.`);
  return undefined;
}

function num(v: Values, name: string, fallback: number, kind: 'int' | 'positive-int' | 'positive' | 'non-negative-int'): number {
  const raw = str(v, name);
  if (raw === undefined) return fallback;
  const x = Number(raw);
  const ok =
    Number.isFinite(x) &&
    (kind === 'positive' ? x > 0 : Number.isInteger(x) && (kind === 'int' || (kind === 'positive-int' ? x >= 1 : x >= 0)));
  if (!ok) {
    const what = { int: 'an integer', 'positive-int': 'an integer >= 1', positive: 'a number > 0', 'non-negative-int': 'an integer >= 0' }[kind];
    throw new UsageError(`--${name} must be ${what}, but got '${raw}'.`);
  }
  return x;
}

function choice<T extends string>(v: Values, name: string, choices: readonly T[], fallback?: T): T {
  const raw = str(v, name) ?? fallback;
  if (raw === undefined) throw new UsageError(`--${name} is required (one of ${choices.join(', ')}).`);
  if (!(choices as readonly string[]).includes(raw)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, but got '${raw}'.`);
  return raw as T;
}

function widths(v: Values): number[] | undefined {
  const raw = str(v, 'widths');
  if (raw === undefined) return undefined;
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || !list.every((w) => Number.isInteger(w) && w >= 1)) {
    throw new UsageError(`--widths must be a comma-separated list of integers >= 1 (e.g. 16,32,64), but got '${raw}'.`);
  }
  return list;
}

function bnMomentum(v: Values): number {
  const x = num(v, 'bn-momentum', D.batchNormMomentum, 'positive');
  if (x >= 1) throw new UsageError(`--bn-momentum must be a number in (0, 1), but got '${str(v, 'bn-momentum')}'.`);
  return x;
}

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const warn = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/**
 * Sets up the `--backend` (default `auto`: the fastest installed) and returns which one runs:
 * `train` and `demo` log it when training starts (the other commands print only their answer).
 */
async function backendFrom(v: Values): Promise<string> {
  const threads = str(v, 'threads') === undefined ? 1 : num(v, 'threads', 1, 'positive-int');
  if (threads > 8) throw new UsageError(`--threads must be an integer from 1 to 8, but got '${threads}'.`);
  const backend = choice<BackendName>(v, 'backend', BACKENDS, DEFAULT_BACKEND);
  if (threads > 1 && backend !== 'wasm' && backend !== 'auto') {
    throw new UsageError(`--threads sets the threads of the wasm backend, but got --backend '${backend}' (use --backend wasm, or leave --threads out).`);
  }
  return setupBackend(backend, { threads });
}


const TRAIN_OPTIONS: OptionSpec = {
  dataset: { type: 'string' },
  data: { type: 'string' },
  annotation: { type: 'string' },
  backbone: { type: 'string' },
  weights: { type: 'string' },
  'cut-layer': { type: 'string' },
  widths: { type: 'string' },
  'input-size': { type: 'string' },
  'source-size': { type: 'string' },
  'branch-statistics': { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  'lr-step': { type: 'string' },
  'switch-epoch': { type: 'string' },
  seed: { type: 'string' },
  'grid-size': { type: 'string' },
  'padding-size': { type: 'string' },
  fwhm: { type: 'string' },
  'bn-momentum': { type: 'string' },
  'grad-checkpointing': { type: 'boolean' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  'max-skipped-steps': { type: 'string' },
};

/** Option name on the command line → field of {@link TrainOptions}. */
const FIELD: Record<string, string> = { 'cut-layer': 'cutLayer', 'input-size': 'inputSize', 'source-size': 'sourceSize', 'branch-statistics': 'branchStatistics', 'batch-size': 'batchSize', 'lr-step': 'lrStep', 'switch-epoch': 'switchEpoch', 'grid-size': 'gridSize', 'padding-size': 'paddingSize', 'bn-momentum': 'bnMomentum', 'grad-checkpointing': 'gradCheckpointing' };

async function cmdTrain(args: string[]): Promise<void> {
  const { values: v } = parse(args, TRAIN_OPTIONS);
  if (v.help) return print(USAGE.train);
  const annotation = str(v, 'annotation');
  const opts: TrainOptions = {
    dataset: choice<DatasetKind>(v, 'dataset', DATASET_KINDS),
    data: str(v, 'data', true) as string,
    annotation: annotation === undefined ? undefined : choice(v, 'annotation', ['variant', 'family', 'manufacturer'] as const),
    backbone: str(v, 'backbone') ?? 'resnet50',
    weights: str(v, 'weights'),
    cutLayer: str(v, 'cut-layer'),
    widths: widths(v),
    inputSize: num(v, 'input-size', D.inputSize, 'positive-int'),
    sourceSize: str(v, 'source-size') === undefined ? undefined : num(v, 'source-size', 0, 'positive-int'),
    branchStatistics: str(v, 'branch-statistics') === undefined ? undefined : choice(v, 'branch-statistics', BRANCH_STATISTICS),
    epochs: num(v, 'epochs', D.epochs, 'positive-int'),
    batchSize: num(v, 'batch-size', D.batchSize, 'positive-int'),
    lr: num(v, 'lr', D.learningRate, 'positive'),
    lrStep: num(v, 'lr-step', D.lrStep, 'positive-int'),
    switchEpoch: num(v, 'switch-epoch', D.switchEpoch, 'non-negative-int'),
    seed: num(v, 'seed', 0, 'non-negative-int'),
    gridSize: str(v, 'grid-size') === undefined ? undefined : num(v, 'grid-size', D.gridSize, 'positive-int'),
    paddingSize: str(v, 'padding-size') === undefined ? undefined : num(v, 'padding-size', D.paddingSize, 'positive-int'),
    fwhm: str(v, 'fwhm') === undefined ? undefined : num(v, 'fwhm', D.fwhm, 'positive'),
    bnMomentum: bnMomentum(v),
    gradCheckpointing: v['grad-checkpointing'] === true,
    out: str(v, 'out', true) as string,
    resume: v.resume === true,
    maxSkippedSteps: num(v, 'max-skipped-steps', MAX_SKIPPED_STEPS, 'positive-int'),
    log: print,
    warn,
  };
  if (opts.sourceSize !== undefined && opts.sourceSize < opts.inputSize) {
    throw new UsageError(`--source-size must be at least --input-size (${opts.inputSize}), but got '${opts.sourceSize}'.`);
  }
  // On --resume the backbone's weights come from the checkpoint: the file is not read then.
  checkWeightsOption(opts.backbone, opts.weights, { readable: !opts.resume });
  opts.backend = await backendFrom(v);
  const explicit = new Set(Object.keys(v).filter((k) => v[k] !== undefined).map((k) => FIELD[k] ?? k));
  const { s3n } = await train(opts, explicit);
  s3n.dispose();
}

async function cmdEval(args: string[]): Promise<void> {
  const { values: v } = parse(args, { checkpoint: { type: 'string' }, dataset: { type: 'string' }, data: { type: 'string' }, annotation: { type: 'string' }, split: { type: 'string' }, 'batch-size': { type: 'string' }, report: { type: 'string' }, tta: { type: 'string' }, attention: { type: 'string' } });
  if (v.help) return print(USAGE.eval);
  const checkpoint = str(v, 'checkpoint', true) as string;
  const kind = choice<DatasetKind>(v, 'dataset', DATASET_KINDS);
  const data = str(v, 'data', true) as string;
  const split = choice(v, 'split', ['test', 'train'] as const, 'test');
  const annotation = str(v, 'annotation') === undefined ? undefined : choice(v, 'annotation', ['variant', 'family', 'manufacturer'] as const);
  const batchSize = num(v, 'batch-size', D.batchSize, 'positive-int');
  const tta = choice(v, 'tta', TTA_MODES, 'none');
  const attention = str(v, 'attention') === undefined ? undefined : choice(v, 'attention', ['extreme', 'all', 'random'] as const);
  const reportDir = str(v, 'report') === undefined ? undefined : prepareReportDir(str(v, 'report') as string);
  await backendFrom(v);
  const { s3n, checkpoint: ck } = await loadS3N(checkpoint);
  if (attention !== undefined) s3n.setModes({ inference: attention });
  const ds = readDataset(kind, data, { aircraft: { annotation } });
  // Classes are paired by name, not by position (a checkpoint saved by another reader or version).
  const items = alignClasses(ck.state.classNames, ds, ds[split]);
  const [inputSize] = s3n.inputShape;
  const pipe = new ImagePipeline(items, { mode: 'eval', batchSize, inputSize, sourceSize: s3n.sourceSize?.[0], classes: s3n.classes, onWarning: (m) => warn(`warning: ${m}`) });
  const t0 = Date.now();
  const result = await evaluate(s3n, pipe, 0, { tta });
  const { accuracies, top5, images, k } = result;
  print(
    `${ds.name} ${split} (${images} images, checkpoint ${ck.dir}${tta === 'flip' ? ', flip TTA' : ''}${attention === undefined ? '' : `, '${attention}' attention`}): top-1 ${formatAccuracies(accuracies)}; ` +
      `top-${k} ${formatAccuracies(top5)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  s3n.dispose();
  if (reportDir !== undefined) {
    const files = await writeEvalReport(reportDir, result, { dataset: ds.name, split, data: ds.root, checkpoint: ck.dir, classNames: ck.state.classNames, attention: s3n.attention.inferenceMode });
    print(`report: ${files.json}, ${files.png}`);
  }
}

/** An image file decoded for `s3n`: the input `[1, H, W, 3]`, and the source when the S3N has a {@link S3N.sourceSize}. */
interface LoadedImage {
  file: string;
  image: tf.Tensor4D;
  source?: tf.Tensor4D;
}

/** Decodes `files` for `s3n` (eval mode), warning about and skipping those that cannot be read. */
async function loadImages(files: string[], s3n: S3N): Promise<LoadedImage[]> {
  const [inputSize] = s3n.inputShape;
  const sourceSize = s3n.sourceSize?.[0];
  const out: LoadedImage[] = [];
  for (const file of files) {
    try {
      const item = { path: path.resolve(file) };
      if (sourceSize === undefined) {
        out.push({ file, image: tf.tensor4d(await loadImage(item, { mode: 'eval', inputSize }), [1, inputSize, inputSize, 3]) });
      } else {
        const { image, source } = await loadImageWithSource(item, { mode: 'eval', inputSize, sourceSize });
        out.push({ file, image: tf.tensor4d(image, [1, inputSize, inputSize, 3]), source: tf.tensor4d(source, [1, sourceSize, sourceSize, 3]) });
      }
    } catch (e) {
      warn(`warning: skipping ${(e as Error).message}`);
    }
  }
  return out;
}

function disposeImages(images: LoadedImage[]): void {
  for (const { image, source } of images) tf.dispose([image, ...(source ? [source] : [])]);
}

async function cmdPredict(args: string[]): Promise<void> {
  const { values: v, positionals } = parse(args, { checkpoint: { type: 'string' }, 'top-k': { type: 'string' } }, true);
  if (v.help) return print(USAGE.predict);
  const checkpoint = str(v, 'checkpoint', true) as string;
  if (positionals.length === 0) throw new UsageError('predict needs at least one IMAGE.');
  const k = num(v, 'top-k', 5, 'positive-int');
  await backendFrom(v);
  const { s3n, checkpoint: ck } = await loadS3N(checkpoint);
  const names = ck.state.classNames;
  const images = await loadImages(positionals, s3n);
  for (const { file, image, source } of images) {
    const probs = tf.tidy(() => tf.softmax(s3n.predict(image, { source })));
    const p = Array.from(await probs.data());
    probs.dispose();
    const top = p.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k);
    print(file);
    top.forEach(([x, i], r) => print(`  ${r + 1}. ${names[i] ?? `class ${i}`}  ${(100 * x).toFixed(1)}%`));
  }
  disposeImages(images);
  s3n.dispose();
  if (images.length === 0) throw new UsageError('none of the images could be read.', 1);
  if (images.length < positionals.length) throw new UsageError(`${positionals.length - images.length} of ${positionals.length} images could not be read (see the warnings above).`, 1);
}

/**
 * Picture names of the inputs: the file name without its extension, prefixed with the parent
 * folder's name (and numbered if still needed) where two inputs share it, so no picture
 * overwrites another.
 */
function pictureNames(files: string[]): string[] {
  const base = (f: string) => path.basename(f, path.extname(f));
  const count = (names: string[]) => names.reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<string, number>());
  const plain = files.map(base);
  const plainCount = count(plain);
  const named = files.map((f, i) => (plainCount.get(plain[i])! > 1 ? `${path.basename(path.dirname(path.resolve(f)))}_${plain[i]}` : plain[i]));
  const namedCount = count(named);
  const seen = new Map<string, number>();
  return named.map((n) => {
    if (namedCount.get(n)! === 1) return n;
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return `${n}_${k}`;
  });
}

async function cmdVisualize(args: string[]): Promise<void> {
  const { values: v, positionals } = parse(args, { checkpoint: { type: 'string' }, out: { type: 'string' } }, true);
  if (v.help) return print(USAGE.visualize);
  const checkpoint = str(v, 'checkpoint', true) as string;
  const out = path.resolve(str(v, 'out', true) as string);
  if (positionals.length === 0) throw new UsageError('visualize needs at least one IMAGE.');
  await backendFrom(v);
  const { s3n, checkpoint: ck } = await loadS3N(checkpoint);
  fs.mkdirSync(out, { recursive: true });
  const images = await loadImages(positionals, s3n);
  const names = new Map(pictureNames(images.map((im) => im.file)).map((n, i) => [images[i], n]));
  for (const im of images) {
    const { file, image, source } = im;
    const files = await writeExplanationPictures(s3n, image, out, names.get(im) as string, { classNames: ck.state.classNames, source });
    print(`${file} → ${files.figure} (predicted ${files.prediction.className}, ${(100 * files.prediction.probability).toFixed(1)}%)`);
  }
  disposeImages(images);
  s3n.dispose();
  if (images.length === 0) throw new UsageError('none of the images could be read.', 1);
  if (images.length < positionals.length) throw new UsageError(`${positionals.length - images.length} of ${positionals.length} images could not be read (see the warnings above).`, 1);
}

async function cmdExport(args: string[]): Promise<void> {
  const { values: v } = parse(args, { checkpoint: { type: 'string' }, out: { type: 'string' } });
  if (v.help) return print(USAGE.export);
  const checkpoint = str(v, 'checkpoint', true) as string;
  const out = str(v, 'out', true) as string;
  const r = await exportForWeb(checkpoint, out);
  print(`exported ${r.checkpoint} to ${r.dir}: ${r.files.join(', ')} (${(r.weightBytes / 1e6).toFixed(2)} MB of weights, ${r.classNames.length} classes)`);
}

async function cmdSynthetic(args: string[]): Promise<void> {
  const { values: v } = parse(args, { kind: { type: 'string' }, out: { type: 'string' }, classes: { type: 'string' }, 'train-per-class': { type: 'string' }, 'test-per-class': { type: 'string' }, size: { type: 'string' }, seed: { type: 'string' } });
  if (v.help) return print(USAGE.synthetic);
  const kind = choice(v, 'kind', ['fine-grained', 'simple'] as const, 'fine-grained');
  const out = path.resolve(str(v, 'out', true) as string);
  const fine = kind === 'fine-grained';
  const classes = num(v, 'classes', fine ? 8 : 4, 'positive-int');
  const trainPerClass = num(v, 'train-per-class', fine ? 30 : 48, 'positive-int');
  const testPerClass = num(v, 'test-per-class', fine ? 30 : 16, 'positive-int');
  const size = num(v, 'size', fine ? 224 : 64, 'positive-int');
  const seed = num(v, 'seed', 0, 'non-negative-int');
  const max = fine ? 8 : 6;
  if (classes < 2 || classes > max) throw new UsageError(`--classes must be an integer in [2, ${max}] for --kind ${kind}, but got '${classes}'.`);
  if (size < 32) throw new UsageError(`--size must be an integer >= 32, but got '${size}'.`);
  const own = fine ? ['images', 'parts', 'images.txt', 'classes.txt', 'image_class_labels.txt', 'train_test_split.txt', 'bounding_boxes.txt'] : ['train', 'test'];
  const other = fs.existsSync(out) ? fs.readdirSync(out).filter((f) => !own.includes(f)) : [];
  if (other.length > 0) throw new UsageError(`--out must be a new or empty folder (or hold an earlier synthetic dataset of this kind), but '${out}' holds ${other.slice(0, 3).map((f) => `'${f}'`).join(', ')}${other.length > 3 ? ', …' : ''}.`);
  const t0 = Date.now();
  const names = fine ? (await writeFineGrainedDataset(out, { classes, trainPerClass, testPerClass, size, seed })).classNames : await writeSyntheticDataset(out, { classes, trainPerClass, testPerClass, size, seed });
  print(
    `wrote ${out}: ${names.length} classes (${names.join(', ')}), ${trainPerClass} training and ${testPerClass} test images of ${size}×${size} each (${((Date.now() - t0) / 1000).toFixed(1)} s); ` +
      `read it with --dataset ${fine ? 'cub' : 'folder'} --data ${out}`,
  );
}

async function cmdDemo(args: string[]): Promise<void> {
  const { values: v } = parse(args, { out: { type: 'string' }, epochs: { type: 'string' }, seed: { type: 'string' } });
  if (v.help) return print(USAGE.demo);
  const out = path.resolve(str(v, 'out') ?? 's3n-demo');
  const epochs = num(v, 'epochs', DEMO.epochs, 'positive-int');
  const seed = num(v, 'seed', 0, 'non-negative-int');
  const backend = await backendFrom(v);
  const t0 = Date.now();
  const dataDir = path.join(out, 'data');
  const runDir = path.join(out, 'run');
  const picDir = path.join(out, 'pictures');
  const classes = await writeSyntheticDataset(dataDir, { classes: DEMO.classes, trainPerClass: DEMO.trainPerClass, testPerClass: DEMO.testPerClass, size: 64, seed });
  print(`demo: wrote a synthetic fine-grained dataset to ${dataDir}: ${classes.length} classes (${classes.join(', ')}) that differ only in the colour of a small crest, ${DEMO.trainPerClass} training and ${DEMO.testPerClass} test images of 64×64 each`);
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.rmSync(picDir, { recursive: true, force: true });
  const { s3n, metrics, checkpoint, data } = await train({
    dataset: 'folder',
    data: dataDir,
    backbone: 'small',
    widths: DEMO.widths,
    inputSize: DEMO.inputSize,
    epochs,
    batchSize: DEMO.batchSize,
    lr: DEMO.lr,
    lrStep: D.lrStep,
    switchEpoch: Math.max(0, Math.floor(epochs / 2) - 1),
    seed,
    gridSize: DEMO.gridSize,
    paddingSize: DEMO.paddingSize,
    fwhm: DEMO.fwhm,
    bnMomentum: D.batchNormMomentum,
    out: runDir,
    resume: false,
    backend,
    log: print,
    warn,
  });
  fs.mkdirSync(picDir, { recursive: true });
  const picked = classes.map((_, c) => data.test.find((it) => it.label === c)).filter((it): it is ImageItem => it !== undefined);
  const [inputSize] = s3n.inputShape;
  for (const item of picked) {
    const x = tf.tensor4d(await loadImage(item, { mode: 'eval', inputSize }), [1, inputSize, inputSize, 3]);
    const name = `${data.classNames[item.label]}_${path.basename(item.path, path.extname(item.path))}`;
    const files = await writeExplanationPictures(s3n, x, picDir, name, { classNames: data.classNames });
    x.dispose();
    print(`demo: ${files.figure}`);
  }
  s3n.dispose();
  const last = metrics[metrics.length - 1];
  print(
    `demo: done in ${((Date.now() - t0) / 1000).toFixed(0)} s. Final test top-1: ${formatAccuracies(last.test)} (chance ${(100 / classes.length).toFixed(0)}%).\n` +
      `  checkpoint: ${checkpoint}\n  pictures:   ${picDir} (input with peaks | discriminative attention | zoomed image | complementary attention | complementary image)\n` +
      `  next: s3n predict --checkpoint ${runDir} ${picked[0]?.path ?? 'IMAGE'}`,
  );
}

/** Settings of `s3n demo` (small enough for 2–4 minutes on two CPU cores). */
export const DEMO = {
  classes: 4,
  trainPerClass: 48,
  testPerClass: 16,
  inputSize: 48,
  widths: [8, 16],
  batchSize: 16,
  epochs: 6,
  lr: 0.05,
  gridSize: 15,
  paddingSize: 8,
  fwhm: 4,
};

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  train: cmdTrain,
  eval: cmdEval,
  predict: cmdPredict,
  visualize: cmdVisualize,
  export: cmdExport,
  demo: cmdDemo,
  synthetic: cmdSynthetic,
};

/** Runs the CLI on `argv` (without `node script`). Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    print(USAGE.main);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    warn(`s3n: unknown command '${command}' (expected one of ${Object.keys(COMMANDS).join(', ')}).\n\n${USAGE.main}`);
    return 2;
  }
  tf.enableProdMode(); // also silences tfjs' "install tfjs-node" banner
  try {
    await run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      warn(`s3n ${command}: ${e.message}${e.exitCode === 2 ? `\n\n${USAGE[command]}` : ''}`);
      return e.exitCode;
    }
    warn(`s3n ${command}: ${(e as Error)?.message ?? String(e)}`);
    if (process.env.S3N_DEBUG) warn(String((e as Error)?.stack));
    return 1;
  }
}
