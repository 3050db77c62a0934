/**
 * Benchmark helpers: backend switching, timing (median of repeats after a warm-up, with the
 * backend's queue drained), and a result table. Benchmarks are scripts, never tests.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';

// No "install tfjs-node" console hint in the output.
tf.env().set('PROD', true);

export interface Row {
  section: string;
  name: string;
  backend: string;
  ms: number;
  /** Ratio against the named baseline row measured in the same run. */
  ratio?: number;
  baseline?: string;
  note?: string;
}

export async function useBackend(name: string): Promise<void> {
  await tf.setBackend(name);
  await tf.ready();
}

/** Runs `fn` (which returns tensors) `warmup` times, then `repeats` times; median ms. Disposes results. */
export async function time(fn: () => tf.TensorContainer, repeats = 3, warmup = 1): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    const out = fn();
    // Reading one value waits for the backend to finish the whole computation.
    const flat = flatten(out);
    if (flat.length > 0) await flat[flat.length - 1].data();
    const ms = performance.now() - t0;
    tf.dispose(flat);
    return ms;
  };
  for (let i = 0; i < warmup; i++) await once();
  const ms: number[] = [];
  for (let i = 0; i < repeats; i++) ms.push(await once());
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

function flatten(x: tf.TensorContainer): tf.Tensor[] {
  if (x instanceof tf.Tensor) return [x];
  if (Array.isArray(x)) return x.flatMap((y) => flatten(y as tf.TensorContainer));
  if (x && typeof x === 'object') return Object.values(x).flatMap((y) => flatten(y as tf.TensorContainer));
  return [];
}

/** Peak `tf.memory().numBytes` reached while running `fn` (tf.profile's peakBytes). */
export async function peakBytes(fn: () => tf.TensorContainer): Promise<number> {
  const info = await tf.profile(() => fn() as tf.TensorContainer);
  tf.dispose(flatten(info.result as tf.TensorContainer));
  return info.peakBytes;
}

export function printTable(rows: Row[]): void {
  const fmt = (r: Row) => [r.section, r.name, r.backend, (r.ms == null || !Number.isFinite(r.ms) ? '' : r.ms.toFixed(1)), r.ratio === undefined ? '' : `${r.ratio.toFixed(3)} × ${r.baseline}`, r.note ?? ''];
  const head = ['section', 'benchmark', 'backend', 'ms', 'ratio', 'note'];
  const cells = [head, ...rows.map(fmt)];
  const widths = head.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  for (const c of cells) console.log(c.map((v, i) => v.padEnd(widths[i])).join('  '));
}

/** The value after `name` on the command line (`--group a` → 'a'), or undefined. */
export function argOf(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/**
 * Runs `file` (a bench script with a child entry) in a fresh Node process with the same flags
 * (so tsx too; a fresh wasm heap, which never shrinks) and returns the JSON it wrote to the
 * file named by `--out`.
 */
export function runInChild<T>(file: string, args: string[]): T {
  const out = path.join(os.tmpdir(), `s3n-bench-${process.pid}-${Date.now()}.json`);
  const child = spawnSync(process.execPath, [...process.execArgv, file, ...args, '--out', out], { stdio: 'inherit' });
  if (child.status !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} failed (exit ${child.status})`);
  const value = JSON.parse(fs.readFileSync(out, 'utf8')) as T;
  fs.rmSync(out, { force: true });
  return value;
}

/**
 * Writes `bench/results/NAME` with the date, Node version, CPUs and load average at the end
 * before `payload`, prints its path and returns it.
 */
export function writeResults(name: string, payload: Record<string, unknown>): string {
  const dir = path.resolve(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  const head = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().map((c) => c.model), loadavgAtEnd: os.loadavg() };
  fs.writeFileSync(file, JSON.stringify({ ...head, ...payload }, null, 2));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  return file;
}
