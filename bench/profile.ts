/**
 * `npm run bench -- --only profile [--quick]` (issue 14): where a tfjs training step on wasm
 * spends its time, per kernel and per category, for the vs-pytorch cases a (ResNet-10-like,
 * 112², batch 32), c (ResNet-50, 448², batch 2) and d (S3N on it at batch 1, gradient
 * checkpointing): the backbone training step and the S3N training step (`--quick`: case a
 * only).
 *
 * tf.profile() gives every kernel call with its wall time (the wasm backend's kernels are
 * synchronous, so `kernelTimeMs` is the kernel's own time). On top, this script records which
 * layer ran each kernel (a wrapper of `Layer.apply`), whether it ran in the backward pass and
 * for which forward op and layer (a wrapper of every tape node's gradient) or in the SGD update
 * (`GroupedSGD.applyGradients`), so that e.g. the batch norm's backward kernels (elementwise ops
 * and reductions) count as batch norm. Records of composite ops (customGrad scopes, which
 * contain their own kernels) are left out of the sums. Dispatch overhead = (wall time of an
 * unprofiled step − the sum of kernel times) ÷ kernel calls: the engine's and the tape's work in
 * JS between kernels.
 *
 * Writes bench/results/profile.json.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { GroupedSGD } from '../src';
import { argOf, runInChild, useBackend, writeResults } from './common';
import { Kind, makeTfjsCase, NETS, NetId, timeTfjs, wasmHeapMiB } from './vs_pytorch';


interface KernelRecord {
  name: string;
  kernelTimeMs: number | Promise<number>;
}
type Phase = 'forward' | 'backward' | 'update' | 'other';

interface Range {
  start: number;
  end: number;
  /** Layer class name, or the forward kernel of a gradient, or 'SGD'. */
  name: string;
  /** The layer that ran the forward op (gradient ranges). */
  layer?: string;
  type: 'layer' | 'grad' | 'sgd';
}

interface Hooks {
  ranges: Range[];
  uninstall: () => void;
}

type EngineInternals = {
  state: { activeProfile: { kernels: KernelRecord[] }; activeTape: { kernelName: string; gradient?: (dys: tf.Tensor[]) => Record<string, () => tf.Tensor> }[] | null };
  addTapeNode: (...args: unknown[]) => void;
};

/** Wraps Layer.apply, the engine's tape nodes' gradients and GroupedSGD.applyGradients to record kernel index ranges. */
function installHooks(): Hooks {
  const engine = tf.engine() as unknown as EngineInternals;
  const count = () => engine.state.activeProfile.kernels.length;
  const ranges: Range[] = [];
  const layerStack: string[] = [];

  const layerProto = tfl.layers.Layer.prototype as unknown as { apply: (...a: unknown[]) => unknown };
  const apply = layerProto.apply;
  layerProto.apply = function (this: tfl.layers.Layer, ...args: unknown[]) {
    const name = this instanceof tfl.LayersModel ? `model ${this.name}` : this.getClassName();
    const start = count();
    layerStack.push(name);
    try {
      return apply.apply(this, args);
    } finally {
      layerStack.pop();
      if (count() > start) ranges.push({ start, end: count(), name, type: 'layer' });
    }
  };

  const addTapeNode = engine.addTapeNode;
  engine.addTapeNode = function (this: EngineInternals, ...args: unknown[]) {
    addTapeNode.apply(this, args);
    const tape = this.state.activeTape;
    const node = tape?.[tape.length - 1];
    if (node?.gradient == null) return;
    const kernel = node.kernelName || 'customGrad';
    const layer = layerStack[layerStack.length - 1];
    const gradient = node.gradient;
    node.gradient = (dys: tf.Tensor[]) => {
      const start = count();
      const thunks = gradient(dys);
      if (count() > start) ranges.push({ start, end: count(), name: kernel, layer, type: 'grad' });
      const wrapped: Record<string, () => tf.Tensor> = {};
      for (const [k, f] of Object.entries(thunks)) {
        wrapped[k] = () => {
          const s = count();
          const r = f();
          if (count() > s) ranges.push({ start: s, end: count(), name: kernel, layer, type: 'grad' });
          return r;
        };
      }
      return wrapped;
    };
  };

  const sgdProto = GroupedSGD.prototype as unknown as { applyGradients: (...a: unknown[]) => unknown };
  const applyGradients = sgdProto.applyGradients;
  sgdProto.applyGradients = function (this: GroupedSGD, ...args: unknown[]) {
    const start = count();
    try {
      return applyGradients.apply(this, args);
    } finally {
      ranges.push({ start, end: count(), name: 'SGD', type: 'sgd' });
    }
  };

  return {
    ranges,
    uninstall: () => {
      layerProto.apply = apply;
      engine.addTapeNode = addTapeNode;
      sgdProto.applyGradients = applyGradients;
    },
  };
}

const CONV_FWD = new Set(['Conv2D', 'FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2D']);
const MATMUL = new Set(['BatchMatMul', '_FusedMatMul']);
const GATHER_SCATTER = /^(Gather|Scatter|UnsortedSegmentSum|SparseToDense|TensorScatter)/;
const POOL = /^(MaxPool|AvgPool)/;
const COPIES = new Set(['Transpose', 'PadV2', 'MirrorPad', 'Slice', 'StridedSlice', 'Concat', 'Pack', 'Unpack', 'Tile', 'Reshape', 'Identity', 'Cast', 'Fill', 'Reverse', 'ZerosLike', 'OnesLike', 'ResizeBilinear', 'ResizeBilinearGrad', 'SplitV', 'BroadcastTo']);

export interface ProfiledKernel {
  name: string;
  ms: number;
  phase: Phase;
  /** Innermost layer (forward) or the layer of the op whose gradient this is (backward). */
  layer?: string;
  /** Backward: the forward kernel whose gradient ran this one. */
  gradOf?: string;
  category: string;
}

function categorise(k: Omit<ProfiledKernel, 'category'>): string {
  const n = k.name;
  if (k.phase === 'update') return 'SGD update';
  if (CONV_FWD.has(n)) return k.phase === 'backward' ? 'conv forward, recomputed in backward (checkpointing)' : 'conv forward';
  if (n === 'Conv2DBackpropInput') return 'conv backward: input (Conv2DBackpropInput)';
  if (n === 'Conv2DBackpropFilter') return 'conv backward: filter (Conv2DBackpropFilter)';
  if (n.startsWith('S3N') || (k.layer ?? '').startsWith('S3N')) return `S3N ops ${k.phase}`;
  if (MATMUL.has(n)) return 'dense / matmul';
  if (k.layer === 'BatchNormalization') return `batch norm ${k.phase}`;
  if (GATHER_SCATTER.test(n)) return 'gather / scatter';
  if (POOL.test(n)) return `pooling ${k.phase}`;
  if (COPIES.has(n)) return `copies (transpose, pad, slice, concat, tile, cast) ${k.phase}`;
  if (k.phase === 'backward' && k.gradOf === undefined) return 'gradient accumulation (add of two gradients)';
  return `elementwise / reductions ${k.phase}`;
}

/** tf.profile of one call of `step` with the hooks; the attributed kernels. */
async function profileStep(step: () => tf.Tensor): Promise<{ kernels: ProfiledKernel[]; composite: number; wallMs: number; peakBytes: number }> {
  const hooks = installHooks();
  let wallMs = 0;
  let info: Awaited<ReturnType<typeof tf.profile>>;
  try {
    info = await tf.profile(async () => {
      const t0 = performance.now();
      const out = step();
      await out.data();
      wallMs = performance.now() - t0;
      out.dispose();
      return [];
    });
  } finally {
    hooks.uninstall();
  }
  const records = info.kernels as unknown as KernelRecord[];
  const n = records.length;
  // Innermost range wins: paint the longest ranges first.
  const layer: (string | undefined)[] = new Array(n);
  const grad: (Range | undefined)[] = new Array(n);
  const phase: Phase[] = new Array(n).fill('other');
  const byLength = [...hooks.ranges].sort((a, b) => b.end - b.start - (a.end - a.start));
  let firstGrad = n;
  let sgdStart = n;
  for (const r of byLength) {
    for (let i = r.start; i < r.end && i < n; i++) {
      if (r.type === 'layer') layer[i] = r.name;
      else if (r.type === 'grad') grad[i] = r;
      else phase[i] = 'update';
    }
    if (r.type === 'grad') firstGrad = Math.min(firstGrad, r.start);
    if (r.type === 'sgd') sgdStart = Math.min(sgdStart, r.start);
  }
  const kernels: ProfiledKernel[] = [];
  let composite = 0;
  records.forEach((rec, i) => {
    // A customGrad scope (e.g. a checkpointed backbone, an S3N op) is recorded after the kernels it ran.
    if (tf.getKernel(rec.name, tf.getBackend()) == null) {
      composite++;
      return;
    }
    let p = phase[i];
    if (p !== 'update') p = grad[i] !== undefined || (i >= firstGrad && i < sgdStart) ? 'backward' : layer[i] !== undefined ? 'forward' : 'other';
    const g = grad[i];
    // In the backward pass the layer is the one of the forward op, unless a layer ran the kernel (recomputation).
    // (The backward pass runs outside every forward Layer.apply, so a layer there is a recomputation.)
    const lay = p === 'backward' ? (layer[i] ?? g?.layer) : layer[i];
    const k = { name: rec.name, ms: Number(rec.kernelTimeMs), phase: p, layer: lay, gradOf: g?.name };
    kernels.push({ ...k, category: categorise(k) });
  });
  return { kernels, composite, wallMs, peakBytes: info.peakBytes };
}

/** µs per tiny op: outside a tape, and forward + backward inside one. */
function dispatchMicrobench(): { opUs: number; tapedOpUs: number } {
  const a = tf.scalar(1);
  const n = 2000;
  tf.tidy(() => {
    for (let i = 0; i < 200; i++) tf.add(a, a);
  });
  let t0 = performance.now();
  tf.tidy(() => {
    let x = a;
    for (let i = 0; i < n; i++) x = tf.add(x, a);
  });
  const opUs = ((performance.now() - t0) * 1000) / n;
  const v = tf.variable(tf.scalar(1));
  t0 = performance.now();
  const { value, grads } = tf.variableGrads(() => {
    let x: tf.Tensor = v;
    for (let i = 0; i < n; i++) x = tf.add(x, a);
    return x as tf.Scalar;
  }, [v]);
  const tapedOpUs = ((performance.now() - t0) * 1000) / n;
  tf.dispose([value, ...Object.values(grads), v, a]);
  return { opUs, tapedOpUs };
}

export interface ProfileResult {
  case: string;
  label: string;
  unprofiledMs: number;
  profiledMs: number;
  kernelMs: number;
  kernelCalls: number;
  compositeRecords: number;
  overheadUsPerKernel: number;
  wasmHeapMiB: number;
  byCategory: { category: string; ms: number; calls: number; share: number }[];
  byKernel: { kernel: string; phase: Phase; ms: number; calls: number; share: number }[];
  byLayer: { layer: string; phase: Phase; ms: number; calls: number; share: number }[];
  micro: { opUs: number; tapedOpUs: number };
}

function aggregate<T extends string>(kernels: ProfiledKernel[], key: (k: ProfiledKernel) => T, total: number) {
  const m = new Map<T, { ms: number; calls: number }>();
  for (const k of kernels) {
    const e = m.get(key(k)) ?? { ms: 0, calls: 0 };
    e.ms += k.ms;
    e.calls++;
    m.set(key(k), e);
  }
  return [...m.entries()].map(([k, e]) => ({ key: k, ...e, share: e.ms / total })).sort((a, b) => b.ms - a.ms);
}

async function profileCase(net: NetId, kind: Kind, gradCheckpointing: boolean): Promise<ProfileResult> {
  const spec = NETS[net];
  const label = `${spec.label}: ${kind === 's3n' ? 'S3N training step' : 'training step'}${gradCheckpointing ? ' (gradient checkpointing)' : ''}`;
  console.log(`profile ${net}/${kind}: ${label}`);
  const c = makeTfjsCase(spec, kind, { gradCheckpointing });
  await timeTfjs(c); // warm-up (momentum buffers, kernel caches)
  const unprofiledMs = await timeTfjs(c);
  const p = await profileStep(c.step);
  c.dispose();
  const kernelMs = p.kernels.reduce((s, k) => s + k.ms, 0);
  const byCategory = aggregate(p.kernels, (k) => k.category, kernelMs).map(({ key, ...e }) => ({ category: key, ...e }));
  const byKernel = aggregate(p.kernels, (k) => `${k.name}|${k.phase}`, kernelMs).map(({ key, ...e }) => ({ kernel: key.split('|')[0], phase: key.split('|')[1] as Phase, ...e }));
  const byLayer = aggregate(p.kernels, (k) => `${k.layer ?? '(no layer)'}|${k.phase}`, kernelMs).map(({ key, ...e }) => ({ layer: key.split('|')[0], phase: key.split('|')[1] as Phase, ...e }));
  return {
    case: `${net}/${kind}`,
    label,
    unprofiledMs,
    profiledMs: p.wallMs,
    kernelMs,
    kernelCalls: p.kernels.length,
    compositeRecords: p.composite,
    overheadUsPerKernel: ((unprofiledMs - kernelMs) * 1000) / p.kernels.length,
    wasmHeapMiB: wasmHeapMiB(),
    byCategory,
    byKernel,
    byLayer,
    micro: dispatchMicrobench(),
  };
}

function table(head: string[], rows: string[][]): void {
  const cells = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  for (const c of cells) console.log(c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  '));
}

export function printProfile(r: ProfileResult, topKernels = 25): void {
  console.log(`\n${r.label}`);
  console.log(
    `  step ${r.unprofiledMs.toFixed(0)} ms (profiled ${r.profiledMs.toFixed(0)} ms); kernels ${r.kernelMs.toFixed(0)} ms in ${r.kernelCalls} calls; ` +
      `outside kernels ${(r.unprofiledMs - r.kernelMs).toFixed(0)} ms = ${r.overheadUsPerKernel.toFixed(1)} µs per kernel call ` +
      `(tiny op: ${r.micro.opUs.toFixed(1)} µs untaped, ${r.micro.tapedOpUs.toFixed(1)} µs taped forward+backward); wasm heap ${r.wasmHeapMiB.toFixed(0)} MiB`,
  );
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  table(['category', 'ms', 'calls', 'share'], r.byCategory.map((c) => [c.category, c.ms.toFixed(0), String(c.calls), pct(c.share)]));
  console.log('');
  table(
    ['kernel', 'phase', 'ms', 'calls', 'ms/call', 'share'],
    r.byKernel.slice(0, topKernels).map((k) => [k.kernel, k.phase, k.ms.toFixed(0), String(k.calls), (k.ms / k.calls).toFixed(2), pct(k.share)]),
  );
}

async function runGroup(name: string): Promise<ProfileResult[]> {
  await import('../src/wasm-training');
  await useBackend('wasm');
  const cases: Record<string, [NetId, Kind, boolean][]> = {
    a: [
      ['a', 'train', false],
      ['a', 's3n', false],
    ],
    'c-train': [['c', 'train', false]],
    'd-s3n': [['d', 's3n', true]],
  };
  const out: ProfileResult[] = [];
  for (const [net, kind, ck] of cases[name]) out.push(await profileCase(net, kind, ck));
  return out;
}

/** The `profile` section of `npm run bench`. */
export async function benchProfile(options: { quick?: boolean } = {}): Promise<ProfileResult[]> {
  const names = options.quick ? ['a'] : ['a', 'c-train', 'd-s3n'];
  const results: ProfileResult[] = [];
  for (const g of names) results.push(...runInChild<ProfileResult[]>(__filename, ['--group', g]));
  for (const r of results) printProfile(r);
  writeResults('profile.json', { results });
  return results;
}

if (require.main === module) {
  const group = argOf('--group');
  const out = argOf('--out');
  tf.env().set('PROD', true);
  (async () => {
    if (group !== undefined && out !== undefined) fs.writeFileSync(out, JSON.stringify(await runGroup(group)));
    else await benchProfile({ quick: process.argv.includes('--quick') });
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
