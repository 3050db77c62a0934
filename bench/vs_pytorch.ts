/**
 * `npm run bench -- --only vs-pytorch [--quick]` (issue 14): the same networks trained in tfjs
 * (wasm backend with s3n-layers/wasm-training, at one thread, then at two with
 * s3n-layers/wasm-threads) and in PyTorch (bench/vs_pytorch.py,
 * Debian's /usr/bin/python3), timed side by side: a long-lived Python child runs one timed step
 * on request, so tfjs and PyTorch steps alternate (tfjs, PyTorch at 1 thread, PyTorch at 2
 * threads, again) and see the same machine load. Reported: medians and tfjs ÷ PyTorch ratios
 * (1 thread = equal threads: tfjs' wasm backend in Node runs on one).
 *
 * Cases, each in a fresh Node process (the wasm heap never shrinks):
 * - a: a ResNet-10-like trunk (torchvision BasicBlocks, one per stage, widths 32-64-128-256),
 *   112×112, batch 32: training step, forward, S3N training step;
 * - b: torchvision ResNet-50, 224×224, batch 8: training step, forward;
 * - c: ResNet-50 at 448×448, batch 2: training step, forward;
 * - d: ResNet-50 at 448×448, batch 1: training step and the S3N step, both with gradient
 *   checkpointing in tfjs (without it the S3N step does not fit the wasm backend's 4 GB heap;
 *   at batch 2 it does not fit even with it).
 * PyTorch's BLAS matters: Debian's python3-torch runs single-threaded 1×1 convolutions (most of
 * ResNet-50) through BLAS rather than oneDNN, and with Debian's default reference BLAS
 * (libblas3) they are ~8× slower than with OpenBLAS; the bench warns then (apt install
 * libopenblas0-openmp, which follows torch.set_num_threads).
 * Training step = forward in training mode, loss, backward, SGD (momentum 0.9, weight decay
 * 1e-4) on both sides; the backbone rows put a global average pool and a 200-way linear layer
 * on the trunk. The PyTorch S3N step is the authors' own code (Yao-DD/S3N sss_net.py, p = 0,
 * multi_smooth_loss), loaded from S3N_REFERENCE_DIR or .cache/S3N (a clone of it; nothing is downloaded).
 *
 * Writes bench/results/vs_pytorch.json. Without torch the section says so and is skipped.
 */
import { spawn, spawnSync, ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { GroupedSGD, leanVariableGrads, S3N, setGradCheckpointing, torchvisionResNet } from '../src';
import { TorchLayerBuilder } from '../src/backbones/torchvision_resnet';
import { argOf, printTable, Row, runInChild, useBackend, writeResults } from './common';

const REPO = path.resolve(__dirname, '..');
export const CLASSES = 200;
/** Yao-DD/S3N at the commit the golden files were made from (test/golden/README.md). */
const REFERENCE_REPO = 'https://github.com/Yao-DD/S3N';
const REFERENCE_COMMIT = 'c77729b19be2c0d8581f0c522d856a3fc7fdfa21';

export type NetId = 'a' | 'b' | 'c' | 'd';
export type Kind = 'train' | 'forward' | 's3n';

export interface NetSpec {
  id: NetId;
  net: 'resnet10' | 'resnet50';
  size: number;
  batch: number;
  label: string;
}

export const NETS: Record<NetId, NetSpec> = {
  a: { id: 'a', net: 'resnet10', size: 112, batch: 32, label: 'ResNet-10-like (32-256), 112², batch 32' },
  b: { id: 'b', net: 'resnet50', size: 224, batch: 8, label: 'ResNet-50, 224², batch 8' },
  c: { id: 'c', net: 'resnet50', size: 448, batch: 2, label: 'ResNet-50, 448², batch 2' },
  // The S3N step at 448² with batch 2 needs more than the wasm backend's 4 GB heap even with
  // gradient checkpointing (batch 1 peaks at 3.7 GB): the S3N comparison at 448² is at batch 1.
  d: { id: 'd', net: 'resnet50', size: 448, batch: 1, label: 'ResNet-50, 448², batch 1' },
};

/**
 * The ResNet-10-like trunk, torchvision layout (BasicBlock, stride on the first 3×3, downsample
 * 1×1 + BN): 7×7/2 stem + BN + ReLU + 3×3/2 max-pool, then one block per stage. bench/vs_pytorch.py
 * builds the same (`ResNet10`).
 */
export function resnet10(size: number, widths = [32, 64, 128, 256], seed = 1): tfl.LayersModel {
  const b = new TorchLayerBuilder(seed, 0.9);
  const input = tfl.input({ shape: [size, size, 3], name: 'input' });
  let x = b.relu(b.bn(b.conv(input, widths[0], 7, 2, 3, 'conv1'), 'bn1'), 'relu');
  x = tfl.layers.zeroPadding2d({ padding: 1, name: 'maxpool_pad' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid', name: 'maxpool' }).apply(x) as tfl.SymbolicTensor;
  let channels = widths[0];
  widths.forEach((w, s) => {
    const stride = s === 0 ? 1 : 2;
    x = b.basic(x, w, stride, stride !== 1 || channels !== w, `layer${s + 1}.0`);
    channels = w;
  });
  return tfl.model({ inputs: input, outputs: x, name: 'resnet10' });
}

export function makeBackbone(spec: NetSpec): tfl.LayersModel {
  return spec.net === 'resnet10' ? resnet10(spec.size) : torchvisionResNet(50, { inputSize: spec.size, seed: 1 });
}

/** Trunk → global average pool → dense (what the backbone rows train). */
export function classifier(backbone: tfl.LayersModel, classes = CLASSES): tfl.LayersModel {
  const input = tfl.input({ shape: backbone.inputs[0].shape.slice(1) as number[] });
  const f = backbone.apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(f) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: classes }).apply(pooled) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits });
}

/** One tfjs case: `step()` runs one step (forward, or forward + backward + SGD) and returns its output. */
export interface TfjsCase {
  step: () => tf.Tensor;
  dispose: () => void;
  note: string;
}

export function makeTfjsCase(spec: NetSpec, kind: Kind, opts: { gradCheckpointing?: boolean } = {}): TfjsCase {
  const images = tf.randomUniform([spec.batch, spec.size, spec.size, 3]) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: spec.batch }, (_, i) => i % CLASSES), 'int32');
  const notes: string[] = [];
  if (kind === 's3n') {
    const s3n = S3N.create(makeBackbone(spec), { classes: CLASSES, seed: 1 });
    if (opts.gradCheckpointing) {
      s3n.setGradCheckpointing();
      notes.push('tfjs: gradient checkpointing');
    }
    const opt = s3n.createOptimizer();
    return {
      step: () => s3n.trainStep(images, labels, opt),
      dispose: () => {
        opt.dispose();
        s3n.dispose();
        tf.dispose([images, labels]);
      },
      note: notes.join('; '),
    };
  }
  const backbone = makeBackbone(spec);
  const model = classifier(backbone);
  if (opts.gradCheckpointing) {
    setGradCheckpointing(backbone);
    notes.push('tfjs: gradient checkpointing');
  }
  const oneHot = tf.oneHot(labels, CLASSES);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const opt = new GroupedSGD([{ name: 'all', lrMultiplier: 1, variables: vars }], { learningRate: 1e-3, momentum: 0.9, weightDecay: 1e-4 });
  const step =
    kind === 'forward'
      ? () => model.apply(images, { training: false }) as tf.Tensor
      : () => {
          const { value, grads } = leanVariableGrads(() => tf.losses.softmaxCrossEntropy(oneHot, model.apply(images, { training: true }) as tf.Tensor) as tf.Scalar, vars);
          opt.applyGradients(grads);
          tf.dispose(grads);
          return value;
        };
  return {
    step,
    dispose: () => {
      opt.dispose();
      model.dispose();
      tf.dispose([images, labels, oneHot]);
    },
    note: notes.join('; '),
  };
}

/** Runs one tfjs step and waits for its result; milliseconds. */
export async function timeTfjs(c: TfjsCase): Promise<number> {
  const t0 = performance.now();
  const out = c.step();
  await out.data();
  const ms = performance.now() - t0;
  out.dispose();
  return ms;
}

/** Size of the wasm heap (it only grows), MiB. */
export function wasmHeapMiB(): number {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return (b.wasm?.HEAPU8?.length ?? 0) / 2 ** 20;
}

// ---------------------------------------------------------------------------------------------
// The PyTorch child.

/** Debian's python (the one with torch), unless S3N_BENCH_PYTHON names another. */
export function pythonPath(): string {
  return process.env.S3N_BENCH_PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/**
 * A checkout of the authors' code (Yao-DD/S3N at {@link REFERENCE_COMMIT}): S3N_REFERENCE_DIR,
 * else .cache/S3N; undefined when neither has sss_net.py. Nothing is downloaded: get it with
 * `git clone https://github.com/Yao-DD/S3N .cache/S3N`.
 */
export function referenceDir(log: (s: string) => void = console.log): string | undefined {
  const dir = process.env.S3N_REFERENCE_DIR || path.join(REPO, '.cache', 'S3N');
  if (fs.existsSync(path.join(dir, 'sss_net.py'))) return dir;
  log(`vs-pytorch: no sss_net.py in ${dir}: \`git clone ${REFERENCE_REPO} .cache/S3N\` (commit ${REFERENCE_COMMIT}) or set S3N_REFERENCE_DIR for the S3N rows' PyTorch figures`);
  return undefined;
}

type Answer = Record<string, unknown> & { error?: string };

export class TorchChild {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending: ((a: Answer) => void)[] = [];
  private exited = false;

  constructor(reference: string | undefined) {
    const env = { ...process.env, ...(reference ? { S3N_REFERENCE_DIR: reference } : {}) };
    this.child = spawn(pythonPath(), [path.join(__dirname, 'vs_pytorch.py')], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`[torch] ${d.toString()}`));
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const resolve = this.pending.shift();
      let a: Answer;
      try {
        a = JSON.parse(line) as Answer;
      } catch {
        a = { error: `not JSON: ${line}` };
      }
      if (resolve) resolve(a);
    });
    const fail = (why: string) => {
      this.exited = true;
      for (const r of this.pending.splice(0)) r({ error: why });
    };
    this.child.on('error', (e) => fail(`cannot start ${pythonPath()}: ${e.message}`));
    this.child.on('exit', (code) => fail(`python exited (${code})`));
  }

  ask(msg: Record<string, unknown>): Promise<Answer> {
    if (this.exited) return Promise.resolve({ error: 'python is not running' });
    return new Promise((resolve) => {
      this.pending.push(resolve);
      this.child.stdin.write(`${JSON.stringify(msg)}\n`);
    });
  }

  async askOk(msg: Record<string, unknown>): Promise<Answer> {
    const a = await this.ask(msg);
    if (a.error !== undefined) throw new Error(`PyTorch: ${a.error}`);
    return a;
  }

  async close(): Promise<void> {
    if (!this.exited) await this.ask({ op: 'quit' });
    this.child.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// One group of cases (runs in its own process).

export interface VsResult {
  case: string;
  net: NetSpec['net'];
  size: number;
  batch: number;
  kind: Kind;
  /** Medians, ms. */
  tfjs: number;
  torch1?: number;
  torch2?: number;
  /** tfjs ÷ PyTorch at 1 and 2 threads. */
  ratio1?: number;
  ratio2?: number;
  samples: { tfjs: number[]; torch1: number[]; torch2: number[] };
  /** Threads of the tfjs wasm backend (2: `s3n-layers/wasm-threads`). */
  tfjsThreads: number;
  wasmHeapMiB: number;
  note: string;
}

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface GroupCase {
  net: NetId;
  kind: Kind;
  gradCheckpointing?: boolean;
}

/** The groups (one process each) and their cases. */
export function groups(quick: boolean): { name: string; cases: GroupCase[]; repeats: number }[] {
  const a: GroupCase[] = [
    { net: 'a', kind: 'train' },
    { net: 'a', kind: 'forward' },
    { net: 'a', kind: 's3n' },
  ];
  if (quick) {
    return [
      { name: 'a', cases: a, repeats: 3 },
      { name: 'b', cases: [{ net: 'b', kind: 'train' }, { net: 'b', kind: 'forward' }], repeats: 1 },
    ];
  }
  return [
    { name: 'a', cases: a, repeats: 5 },
    { name: 'b', cases: [{ net: 'b', kind: 'train' }, { net: 'b', kind: 'forward' }], repeats: 3 },
    { name: 'c', cases: [{ net: 'c', kind: 'train' }, { net: 'c', kind: 'forward' }], repeats: 3 },
    // The S3N step at 448² against its backbone's step, batch 1 (see NETS.d), both with gradient
    // checkpointing in tfjs (without it the S3N step does not fit the 4 GB wasm heap).
    {
      name: 'd',
      cases: [
        { net: 'd', kind: 'train', gradCheckpointing: true },
        { net: 'd', kind: 's3n', gradCheckpointing: true },
      ],
      repeats: 3,
    },
  ];
}

async function runGroup(name: string, quick: boolean, threads: number): Promise<VsResult[]> {
  const group = groups(quick).find((g) => g.name === name);
  if (group === undefined) throw new Error(`no group ${name}`);
  await import('../src/wasm-training');
  if (threads > 1) (await import('../src/wasm-threads')).enableWasmThreads({ threads });
  await useBackend('wasm');
  const reference = group.cases.some((c) => c.kind === 's3n') ? referenceDir() : undefined;
  const torch = new TorchChild(reference);
  const out: VsResult[] = [];
  try {
    for (const gc of group.cases) {
      const spec = NETS[gc.net];
      const tag = `${gc.net}/${gc.kind}`;
      console.log(`vs-pytorch ${tag}: ${spec.label}${gc.gradCheckpointing ? ' (tfjs: gradient checkpointing)' : ''}`);
      const notes: string[] = [];
      const tfCase = makeTfjsCase(spec, gc.kind, { gradCheckpointing: gc.gradCheckpointing });
      if (tfCase.note) notes.push(tfCase.note);
      const setup = await torch.ask({ op: 'setup', net: spec.net, size: spec.size, batch: spec.batch, kind: gc.kind, classes: CLASSES });
      const torchOk = setup.error === undefined;
      if (!torchOk) notes.push(`PyTorch skipped: ${setup.error}`);
      const samples = { tfjs: [] as number[], torch1: [] as number[], torch2: [] as number[] };
      const torchStep = async (threads: number) => Number((await torch.askOk({ op: 'step', threads })).ms);
      // Warm-up: one step of each (PyTorch once per thread count).
      const w = [await timeTfjs(tfCase)];
      if (torchOk) w.push(await torchStep(1), await torchStep(2));
      console.log(`  warm-up: tfjs ${w[0].toFixed(0)} ms${torchOk ? `, PyTorch 1 thread ${w[1].toFixed(0)} ms, 2 threads ${w[2].toFixed(0)} ms` : ''}`);
      for (let r = 0; r < group.repeats; r++) {
        samples.tfjs.push(await timeTfjs(tfCase));
        if (torchOk) {
          samples.torch1.push(await torchStep(1));
          samples.torch2.push(await torchStep(2));
        }
        console.log(`  ${r + 1}/${group.repeats}: tfjs ${samples.tfjs[r].toFixed(0)} ms${torchOk ? `, PyTorch 1 thread ${samples.torch1[r].toFixed(0)} ms, 2 threads ${samples.torch2[r].toFixed(0)} ms` : ''}`);
      }
      tfCase.dispose();
      const t = median(samples.tfjs);
      const t1 = torchOk ? median(samples.torch1) : undefined;
      const t2 = torchOk ? median(samples.torch2) : undefined;
      out.push({
        case: tag,
        net: spec.net,
        size: spec.size,
        batch: spec.batch,
        kind: gc.kind,
        tfjs: t,
        torch1: t1,
        torch2: t2,
        ratio1: t1 === undefined ? undefined : t / t1,
        ratio2: t2 === undefined ? undefined : t / t2,
        samples,
        tfjsThreads: threads,
        wasmHeapMiB: wasmHeapMiB(),
        note: notes.join('; '),
      });
    }
  } finally {
    await torch.close();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The section.

const KIND_LABEL: Record<Kind, string> = { train: 'training step', forward: 'forward', s3n: 'S3N training step' };

export function printVsTable(results: VsResult[]): void {
  const head = ['case', 'tfjs threads', 'tfjs wasm ms', 'torch 1T ms', 'torch 2T ms', 'tfjs/torch 1T', 'tfjs/torch 2T', 'note'];
  const f = (x: number | undefined, d = 0) => (x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d));
  const cells = [head, ...results.map((r) => [`${NETS[r.case[0] as NetId].label}: ${KIND_LABEL[r.kind]}`, String(r.tfjsThreads), f(r.tfjs), f(r.torch1), f(r.torch2), f(r.ratio1, 2), f(r.ratio2, 2), r.note])];
  const widths = head.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  for (const c of cells) console.log(c.map((v, i) => v.padEnd(widths[i])).join('  '));
}

/** The libblas.so.3 that Debian's alternatives select (what torch's BLAS calls reach), or ''. */
function blasLibrary(): string {
  try {
    return fs.realpathSync('/etc/alternatives/libblas.so.3-x86_64-linux-gnu');
  } catch {
    return '';
  }
}

/** The `vs-pytorch` section of `npm run bench`. */
export async function benchVsPytorch(options: { quick?: boolean } = {}): Promise<Row[]> {
  const quick = options.quick === true;
  const py = pythonPath();
  const hello = spawnSync(py, ['-c', 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'], { encoding: 'utf8' });
  if (hello.status !== 0) {
    console.log(`vs-pytorch: skipped: ${py} cannot import torch and torchvision (${(hello.stderr || hello.error?.message || '').trim().split('\n').pop()})`);
    return [];
  }
  const [torchVersion, torchvisionVersion] = hello.stdout.trim().split(' ');
  const blas = blasLibrary();
  if (blas.includes('/blas/')) console.log(`vs-pytorch: warning: the BLAS is Debian's reference one (${blas}): PyTorch at 1 thread will look several times slower than it is; apt-get install libopenblas0-openmp`);
  const reference = referenceDir();
  if (reference === undefined) console.log("vs-pytorch: the authors' S3N code was not found (S3N_REFERENCE_DIR, .cache/S3N): the S3N rows have no PyTorch figure");
  const started = Date.now();
  const results: VsResult[] = [];
  // tfjs at 1 thread (the stock wasm backend in Node), then at 2 (s3n-layers/wasm-threads), each
  // group in a fresh process; every child times PyTorch at 1 and 2 threads beside it.
  for (const threads of quick ? [1] : [1, 2]) {
    for (const g of groups(quick)) {
      results.push(...runInChild<VsResult[]>(__filename, ['--group', g.name, '--threads', String(threads), ...(quick ? ['--quick'] : [])]));
    }
  }
  console.log(`\nvs PyTorch (tfjs wasm at 1 and 2 threads, PyTorch ${torchVersion} CPU at 1 and 2; medians of steps timed alternately; ratio > 1: tfjs slower)`);
  printVsTable(results);
  writeResults('vs_pytorch.json', {
    torch: torchVersion,
    torchvision: torchvisionVersion,
    blas: blasLibrary(),
    reference: reference === undefined ? null : { repo: REFERENCE_REPO, commit: REFERENCE_COMMIT },
    quick,
    minutes: (Date.now() - started) / 60000,
    results,
  });
  return results.flatMap((r): Row[] => {
    const name = `${NETS[r.case[0] as NetId].label}: ${KIND_LABEL[r.kind]}`;
    const base = { section: 'vs-pytorch', name, backend: `wasm ${r.tfjsThreads}T`, ms: r.tfjs, note: r.note };
    if (r.torch1 === undefined) return [base];
    return [
      { ...base, ratio: r.ratio1, baseline: `PyTorch 1 thread ${r.torch1.toFixed(0)} ms` },
      { ...base, ratio: r.ratio2, baseline: `PyTorch 2 threads ${r.torch2!.toFixed(0)} ms` },
    ];
  });
}

if (require.main === module) {
  const group = argOf('--group');
  const out = argOf('--out');
  tf.env().set('PROD', true);
  (async () => {
    if (group !== undefined && out !== undefined) {
      fs.writeFileSync(out, JSON.stringify(await runGroup(group, process.argv.includes('--quick'), Number(argOf('--threads') ?? 1))));
    } else {
      await benchVsPytorch({ quick: process.argv.includes('--quick') });
    }
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
