/**
 * Benchmark helpers: backend switching, timing (median of repeats after a warm-up, with the
 * backend's queue drained), and a result table. Benchmarks are scripts, never tests.
 */
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
