/**
 * Benchmark of `s3n-layers/wasm-training`: a training step on the wasm backend (with the
 * entry's kernels) against the pure-JS cpu backend.
 *
 *   npx tsx bench/wasm_training.ts            # everything (the cpu ResNet-50 step takes minutes)
 *   npx tsx bench/wasm_training.ts --no-cpu-resnet
 *
 * Measured, each after one warm-up run:
 * - a Keras-style ResNet-50 at 224x224, batch 1, random weights: forward, and forward +
 *   backward (softmax cross-entropy loss and the gradients of every trainable weight via
 *   tf.variableGrads, BatchNormalization in training mode);
 * - a small ResNet-style model (conv stride 2, batchNormalization, relu, maxPooling2d,
 *   depthwiseConv2d, add, globalAveragePooling2d, dense), batch 8 at 64x64;
 * - Conv2DBackpropInput on the 3x3 and 1x1 ResNet-50 layer shapes: the kernel this entry
 *   installs against the one tfjs-backend-wasm ships (the reason it is replaced).
 *
 * `benchWasmTraining()` returns the numbers (milliseconds) for a top-level bench runner.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { activeWasmTrainingKernels, registerWasmTrainingKernels } from '../src/wasm-training';

type Sym = tfl.SymbolicTensor;

// ---------------------------------------------------------------------------------------
// Models

/** Keras `applications.ResNet50` (v1: stride on the first 1x1 conv), logits output. */
export function resnet50(size = 224, classes = 1000): tfl.LayersModel {
  let k = 0;
  const init = () => tfl.initializers.heNormal({ seed: 1000 + k++ });
  const conv = (x: Sym, filters: number, kernel: number, strides = 1, padding: 'same' | 'valid' = 'valid') =>
    tfl.layers.conv2d({ filters, kernelSize: kernel, strides, padding, kernelInitializer: init() }).apply(x) as Sym;
  const bn = (x: Sym) => tfl.layers.batchNormalization({ axis: 3, epsilon: 1.001e-5 }).apply(x) as Sym;
  const relu = (x: Sym) => tfl.layers.activation({ activation: 'relu' }).apply(x) as Sym;
  const block = (x: Sym, f: [number, number, number], stride: number, projection: boolean): Sym => {
    let y = relu(bn(conv(x, f[0], 1, stride)));
    y = relu(bn(conv(y, f[1], 3, 1, 'same')));
    y = bn(conv(y, f[2], 1));
    const skip = projection ? bn(conv(x, f[2], 1, stride)) : x;
    return relu(tfl.layers.add().apply([y, skip]) as Sym);
  };
  const input = tfl.input({ shape: [size, size, 3] });
  let x = tfl.layers.zeroPadding2d({ padding: 3 }).apply(input) as Sym;
  x = relu(bn(conv(x, 64, 7, 2)));
  x = tfl.layers.zeroPadding2d({ padding: 1 }).apply(x) as Sym;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2 }).apply(x) as Sym;
  const stages: Array<[[number, number, number], number, number]> = [
    [[64, 64, 256], 3, 1],
    [[128, 128, 512], 4, 2],
    [[256, 256, 1024], 6, 2],
    [[512, 512, 2048], 3, 2],
  ];
  for (const [f, blocks, stride] of stages) {
    x = block(x, f, stride, true);
    for (let i = 1; i < blocks; i++) x = block(x, f, 1, false);
  }
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as Sym;
  const logits = tfl.layers.dense({ units: classes, kernelInitializer: init() }).apply(x) as Sym;
  return tfl.model({ inputs: input, outputs: logits, name: 'resnet50' });
}

/** A small ResNet-style model using every layer kind the wasm training kernels serve. */
export function smallModel(size = 64, classes = 10): tfl.LayersModel {
  let k = 0;
  const init = () => tfl.initializers.glorotUniform({ seed: 2000 + k++ });
  const input = tfl.input({ shape: [size, size, 3] });
  let x = tfl.layers.conv2d({ filters: 16, kernelSize: 7, strides: 2, padding: 'same', kernelInitializer: init() }).apply(input) as Sym;
  x = tfl.layers.batchNormalization().apply(x) as Sym;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as Sym;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x) as Sym;
  let y = tfl.layers.conv2d({ filters: 32, kernelSize: 1, strides: 2, kernelInitializer: init() }).apply(x) as Sym;
  y = tfl.layers.batchNormalization().apply(y) as Sym;
  y = tfl.layers.activation({ activation: 'relu' }).apply(y) as Sym;
  y = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 1, depthwiseInitializer: init() }).apply(y) as Sym;
  y = tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', kernelInitializer: init() }).apply(y) as Sym;
  y = tfl.layers.batchNormalization().apply(y) as Sym;
  const skip = tfl.layers.conv2d({ filters: 32, kernelSize: 1, strides: 2, kernelInitializer: init() }).apply(x) as Sym;
  x = tfl.layers.activation({ activation: 'relu' }).apply(tfl.layers.add().apply([y, skip]) as Sym) as Sym;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as Sym;
  const logits = tfl.layers.dense({ units: classes, kernelInitializer: init() }).apply(x) as Sym;
  return tfl.model({ inputs: input, outputs: logits, name: 'small' });
}

// ---------------------------------------------------------------------------------------
// Timing

function now(): number {
  return performance.now();
}

/**
 * Milliseconds of `f` (its tensors read back and disposed): one warm-up, then `reps` runs,
 * the fastest. When the warm-up alone exceeds `budgetMs`, that time is returned (as a lower
 * bound, `overBudget`) without further runs.
 */
async function timeRuns(f: () => tf.Tensor | tf.Tensor[], reps: number, budgetMs = Infinity): Promise<{ ms: number; overBudget: boolean }> {
  const once = async () => {
    const t0 = now();
    const out = f();
    const outs = Array.isArray(out) ? out : [out];
    for (const t of outs) await t.data();
    const ms = now() - t0;
    tf.dispose(outs);
    return ms;
  };
  const warm = await once();
  if (warm > budgetMs) return { ms: warm, overBudget: true };
  let best = Infinity;
  for (let i = 0; i < reps; i++) best = Math.min(best, await once());
  return { ms: best, overBudget: false };
}

async function timeIt(f: () => tf.Tensor | tf.Tensor[], reps: number): Promise<number> {
  return (await timeRuns(f, reps)).ms;
}

interface StepTimes {
  forwardMs: number;
  trainStepMs: number;
  /** The train step's warm-up exceeded the time budget: `trainStepMs` is that single (cold) run. */
  trainStepOverBudget?: boolean;
}

/** Forward, and forward + backward (loss and all weight gradients), on the current backend. */
async function timeModel(build: () => tfl.LayersModel, batch: number, reps: number, budgetMs = Infinity): Promise<StepTimes> {
  const model = build();
  const [, h, w, c] = model.inputs[0].shape as number[];
  const classes = (model.outputs[0].shape as number[])[1];
  const x = tf.randomUniform([batch, h, w, c], 0, 1, 'float32', 7);
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), 'int32'), classes));
  const forwardMs = await timeIt(() => model.apply(x, { training: false }) as tf.Tensor, reps);
  const train = await timeRuns(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    );
    return [value, ...Object.values(grads)];
  }, reps, budgetMs);
  tf.dispose([x, labels]);
  model.dispose();
  return { forwardMs, trainStepMs: train.ms, ...(train.overBudget ? { trainStepOverBudget: true } : {}) };
}

/** Conv2DBackpropInput on ResNet-50's conv layer shapes: this entry's kernel vs the one it replaced. */
async function timeBackpropInput(reps: number): Promise<BackpropInputRow[]> {
  const config = tf.getKernel(tf.Conv2DBackpropInput, 'wasm') as tf.KernelConfig & { original?: tf.KernelFunc };
  const shapes: Array<[string, number, number, number, number, number]> = [
    // name, input size, in channels, out channels, kernel, stride
    ['224x224 7x7 3->64 s2', 224, 3, 64, 7, 2],
    ['56x56 3x3 64->64', 56, 64, 64, 3, 1],
    ['28x28 3x3 128->128', 28, 128, 128, 3, 1],
    ['14x14 3x3 256->256', 14, 256, 256, 3, 1],
    ['7x7 3x3 512->512', 7, 512, 512, 3, 1],
    ['56x56 1x1 64->256', 56, 64, 256, 1, 1],
    ['56x56 1x1 256->128 s2', 56, 256, 128, 1, 2],
    ['14x14 1x1 1024->256', 14, 1024, 256, 1, 1],
    ['7x7 1x1 512->2048', 7, 512, 2048, 1, 1],
  ];
  const rows: BackpropInputRow[] = [];
  for (const [layer, size, cin, cout, k, s] of shapes) {
    const outSize = Math.ceil(size / s);
    const dy = tf.randomUniform([1, outSize, outSize, cout], -1, 1, 'float32', 1);
    const filter = tf.randomUniform([k, k, cin, cout], -1, 1, 'float32', 2);
    const attrs = { strides: [s, s], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: [1, size, size, cin] };
    const run = (f: tf.KernelFunc) => () => {
      const info = f({ inputs: { dy, filter }, backend: tf.backend(), attrs } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
      return tf.engine().makeTensorFromTensorInfo(info);
    };
    const originalMs = config.original ? await timeIt(run(config.original), reps) : NaN;
    const entryMs = await timeIt(run(config.kernelFunc), reps);
    rows.push({ layer, originalMs, entryMs, speedup: originalMs / entryMs });
    tf.dispose([dy, filter]);
  }
  return rows;
}

interface BackpropInputRow {
  layer: string;
  /** tfjs-backend-wasm's own kernel. */
  originalMs: number;
  /** The kernel this entry registers. */
  entryMs: number;
  /** originalMs / entryMs. */
  speedup: number;
}

// ---------------------------------------------------------------------------------------

export interface WasmTrainingBench {
  /** Kernels the entry serves on wasm. */
  kernels: string[];
  resnet50: {
    wasm: StepTimes;
    /** null when skipped (`cpuResnet: false`). */
    cpu: StepTimes | null;
    /** cpu / wasm. */
    forwardSpeedup: number | null;
    trainStepSpeedup: number | null;
  };
  small: { wasm: StepTimes; cpu: StepTimes; forwardSpeedup: number; trainStepSpeedup: number };
  conv2dBackpropInput: BackpropInputRow[];
}

export interface BenchOptions {
  /** Time the ResNet-50 step on the cpu backend too (minutes). Default true. */
  cpuResnet?: boolean;
  /** Print a table. Default true. */
  log?: boolean;
}

export async function benchWasmTraining(opts: BenchOptions = {}): Promise<WasmTrainingBench> {
  const { cpuResnet = true, log = true } = opts;
  const print = (...a: unknown[]) => { if (log) console.log(...a); };
  const previous = tf.getBackend();
  registerWasmTrainingKernels();

  await tf.setBackend('wasm');
  await tf.ready();
  const kernels = activeWasmTrainingKernels();
  print(`wasm training kernels: ${kernels.join(', ')}`);

  const conv2dBackpropInput = await timeBackpropInput(3);
  print('\nConv2DBackpropInput, ResNet-50 layer shapes (batch 1), ms:');
  for (const r of conv2dBackpropInput) {
    print(`  ${r.layer.padEnd(24)} original ${r.originalMs.toFixed(1).padStart(7)}  entry ${r.entryMs.toFixed(1).padStart(7)}  x${r.speedup.toFixed(1)}`);
  }

  const smallWasm = await timeModel(() => smallModel(), 8, 3);
  const r50Wasm = await timeModel(() => resnet50(), 1, 2);
  print(`\nwasm  small    forward ${smallWasm.forwardMs.toFixed(1)} ms, train step ${smallWasm.trainStepMs.toFixed(1)} ms`);
  print(`wasm  ResNet50 forward ${r50Wasm.forwardMs.toFixed(1)} ms, train step ${r50Wasm.trainStepMs.toFixed(1)} ms`);

  await tf.setBackend('cpu');
  const smallCpu = await timeModel(() => smallModel(), 8, 1);
  print(`cpu   small    forward ${smallCpu.forwardMs.toFixed(1)} ms, train step ${smallCpu.trainStepMs.toFixed(1)} ms`);
  let r50Cpu: StepTimes | null = null;
  if (cpuResnet) {
    r50Cpu = await timeModel(() => resnet50(), 1, 1, 5 * 60 * 1000);
    const over = r50Cpu.trainStepOverBudget ? ' (warm-up run alone took over 5 min: single cold run reported)' : '';
    print(`cpu   ResNet50 forward ${r50Cpu.forwardMs.toFixed(1)} ms, train step ${r50Cpu.trainStepMs.toFixed(1)} ms${over}`);
  }
  if (previous) await tf.setBackend(previous);

  const result: WasmTrainingBench = {
    kernels,
    resnet50: {
      wasm: r50Wasm,
      cpu: r50Cpu,
      forwardSpeedup: r50Cpu ? r50Cpu.forwardMs / r50Wasm.forwardMs : null,
      trainStepSpeedup: r50Cpu ? r50Cpu.trainStepMs / r50Wasm.trainStepMs : null,
    },
    small: {
      wasm: smallWasm,
      cpu: smallCpu,
      forwardSpeedup: smallCpu.forwardMs / smallWasm.forwardMs,
      trainStepSpeedup: smallCpu.trainStepMs / smallWasm.trainStepMs,
    },
    conv2dBackpropInput,
  };
  print('\nspeedup of wasm+entry over cpu (cpu ms / wasm ms):');
  print(`  small    forward x${result.small.forwardSpeedup.toFixed(1)}, train step x${result.small.trainStepSpeedup.toFixed(1)}`);
  if (r50Cpu) {
    print(`  ResNet50 forward x${result.resnet50.forwardSpeedup!.toFixed(1)}, train step x${result.resnet50.trainStepSpeedup!.toFixed(1)}`);
  }
  return result;
}

if (process.argv[1] && /wasm_training(\.ts)?$/.test(process.argv[1])) {
  benchWasmTraining({ cpuResnet: !process.argv.includes('--no-cpu-resnet') }).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
