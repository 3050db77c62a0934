// Run by wasm_threads.test.ts in a child Node process (`node --import tsx wasm_threads_child.ts
// MODE ...`): enableWasmThreads installs a global Worker and starts worker_threads, which must
// not leak into Jest's sandbox or other tests. Prints one JSON line; writes float32 results as
// raw files. The process must end by itself (no process.exit), which the test checks.
//
//   run THREADS OUT  THREADS 0: stock backend (enableWasmThreads not called); else
//                    enableWasmThreads({ threads: THREADS }). A conv2d and one training step of
//                    smallResNet (32 px, batch 4, GroupedSGD); writes OUT.conv.bin, OUT.weights.bin
//   errors           the messages of wrong calls, the default, and undoing with threads: 1
//   fallback         a Conv2D kernel that computes something else: the self-check must reject
//                    the threaded build and fall back to the stock one
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import * as fs from 'node:fs';
import '../src/wasm-training';
import { enableWasmThreads } from '../src/wasm-threads';
import { smallResNet } from '../src/backbones/resnet';
import { GroupedSGD, leanVariableGrads } from '../src/model';

tf.env().set('PROD', true);

const warnings: string[] = [];
console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(' '));

const messageOf = (f: () => unknown): string => {
  try {
    return `returned ${JSON.stringify(f())}`;
  } catch (e) {
    return (e as Error).message;
  }
};

const floats = (arrays: ArrayLike<number>[]): Buffer => {
  const flat = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    flat.set(a, o);
    o += a.length;
  }
  return Buffer.from(flat.buffer);
};

async function run(threads: number, out: string): Promise<Record<string, unknown>> {
  const enabled = threads > 0 ? enableWasmThreads({ threads }) : null;
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm failed to initialise');
  const r: Record<string, unknown> = { enabled, threadsCount: wasm.getThreadsCount(), flag: tf.env().get('WASM_HAS_MULTITHREAD_SUPPORT'), dataIdsAfterInit: tf.backend().numDataIds() };

  const conv = tf.tidy(() => tf.conv2d(tf.randomNormal([4, 32, 32, 16], 0, 1, 'float32', 1) as tf.Tensor4D, tf.randomNormal([3, 3, 16, 32], 0, 0.2, 'float32', 2) as tf.Tensor4D, 1, 'same'));
  fs.writeFileSync(`${out}.conv.bin`, floats([conv.dataSync()]));
  conv.dispose();

  const input = tfl.input({ shape: [32, 32, 3] });
  const features = smallResNet({ inputSize: 32, seed: 1 }).apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(features) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }).apply(pooled) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: logits });
  const images = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 4);
  const oneHot = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const opt = new GroupedSGD([{ name: 'all', lrMultiplier: 1, variables: vars }], { learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const { value, grads } = leanVariableGrads(() => tf.losses.softmaxCrossEntropy(oneHot, model.apply(images, { training: true }) as tf.Tensor) as tf.Scalar, vars);
  opt.applyGradients(grads);
  r.loss = value.dataSync()[0];
  tf.dispose([value, grads]);
  // Every weight after the step (batch-norm statistics too).
  fs.writeFileSync(`${out}.weights.bin`, floats(model.getWeights().map((w) => w.dataSync())));
  r.weightCount = model.getWeights().length;
  r.warnings = warnings;
  return r;
}

async function errors(): Promise<Record<string, unknown>> {
  const r: Record<string, unknown> = {};
  r.zero = messageOf(() => enableWasmThreads({ threads: 0 }));
  r.nine = messageOf(() => enableWasmThreads({ threads: 9 }));
  r.fraction = messageOf(() => enableWasmThreads({ threads: 1.5 }));
  r.string = messageOf(() => enableWasmThreads({ threads: '2' as unknown as number }));
  const stock = tf.findBackendFactory('wasm');
  r.byDefault = enableWasmThreads();
  r.wrapped = tf.findBackendFactory('wasm') !== stock;
  r.undo = enableWasmThreads({ threads: 1 });
  r.restored = tf.findBackendFactory('wasm') === stock;
  r.flagAfterUndo = tf.env().get('WASM_HAS_MULTITHREAD_SUPPORT');
  const pending = tf.setBackend('wasm');
  r.pending = messageOf(() => enableWasmThreads({ threads: 2 }));
  await pending;
  r.initialised = messageOf(() => enableWasmThreads({ threads: 2 }));
  r.one = messageOf(() => enableWasmThreads({ threads: 1 }));
  r.threadsCount = wasm.getThreadsCount();
  r.globalWorker = typeof (globalThis as { Worker?: unknown }).Worker;
  r.warnings = warnings;
  return r;
}

async function fallback(): Promise<Record<string, unknown>> {
  // A Conv2D that dilates: same shape, other numbers (as a broken threaded build would give).
  const original = tf.getKernel(tf.Conv2D, 'wasm') as tf.KernelConfig;
  tf.unregisterKernel(tf.Conv2D, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: (args) => original.kernelFunc({ ...args, attrs: { ...args.attrs, dilations: 2 } }) });
  const enabled = enableWasmThreads({ threads: 2 });
  const ok = await tf.setBackend('wasm');
  tf.unregisterKernel(tf.Conv2D, 'wasm');
  tf.registerKernel(original);
  const y = tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, 'same');
  return { enabled, ok, threadsCount: wasm.getThreadsCount(), flag: tf.env().get('WASM_HAS_MULTITHREAD_SUPPORT'), conv: Array.from(y.dataSync()), warnings };
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  const result = mode === 'run' ? await run(Number(args[0]), args[1]) : mode === 'errors' ? await errors() : mode === 'fallback' ? await fallback() : undefined;
  if (result === undefined) throw new Error(`unknown mode ${mode}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
