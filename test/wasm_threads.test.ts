/**
 * enableWasmThreads (src/kernels/wasm/threads.ts, entry s3n-layers/wasm-threads): the wasm
 * backend's threaded-simd build in Node. Each case runs wasm_threads_child.ts in a fresh Node
 * process (the global Worker shim and the worker_threads must not leak into Jest's sandbox or
 * other tests); spawnSync's timeout catches a process that would not end by itself.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const CHILD = path.join(__dirname, 'wasm_threads_child.ts');
const TIMEOUT_MS = 120_000;
/** enableWasmThreads' default. */
const DEFAULT_THREADS = Math.min(8, os.availableParallelism?.() ?? os.cpus().length);

interface ChildResult {
  json: Record<string, unknown>;
  ms: number;
}

/** Runs the child; fails unless it exits by itself with status 0 within the timeout. */
function child(...args: string[]): ChildResult {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 1 << 24 });
  const ms = Date.now() - t0;
  const what = `child ${args.join(' ')}: status ${r.status}, signal ${r.signal}, ${ms} ms${r.error ? `, ${r.error.message}` : ''}\n${r.stderr}`;
  if (r.error !== undefined || r.signal !== null || r.status !== 0) throw new Error(what);
  const lines = r.stdout.trim().split('\n');
  return { json: JSON.parse(lines[lines.length - 1]) as Record<string, unknown>, ms };
}

/** How many float32 values differ, bit for bit (-1 when the lengths differ). */
function differing(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) return -1;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length / 4);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

const PREFIX = 'enableWasmThreads: ';
const TOO_LATE = `${PREFIX}must be called before the wasm backend initialises (before tf.setBackend('wasm') or tf.ready()), but `;

describe('enableWasmThreads (child processes)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-wasm-threads-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('with 2 threads: a conv2d and a smallResNet training step bit-identical to the stock backend and to threads 1; the process exits by itself', () => {
    const runs = Object.fromEntries([0, 1, 2].map((t) => [t, child('run', String(t), path.join(dir, `t${t}`))]));
    const read = (t: number, what: string) => fs.readFileSync(path.join(dir, `t${t}.${what}.bin`));

    expect(runs[0].json).toMatchObject({ enabled: null, threadsCount: 1, flag: false, warnings: [] });
    expect(runs[1].json).toMatchObject({ enabled: { threads: 1, build: 'simd' }, threadsCount: 1, flag: false, warnings: [] });
    expect(runs[2].json).toMatchObject({ enabled: { threads: 2, build: 'threaded-simd' }, threadsCount: 2, flag: true, dataIdsAfterInit: 0, warnings: [] });
    // 4·32·32·32 conv outputs; all 56 weights of the model (batch-norm statistics too) after the step.
    expect(read(0, 'conv').length).toBe(4 * 32 * 32 * 32 * 4);
    expect(runs[0].json.weightCount).toBe(56);
    for (const t of [1, 2]) {
      expect([t, 'conv', differing(read(t, 'conv'), read(0, 'conv'))]).toEqual([t, 'conv', 0]);
      expect([t, 'weights', differing(read(t, 'weights'), read(0, 'weights'))]).toEqual([t, 'weights', 0]);
      expect(runs[t].json.loss).toBe(runs[0].json.loss);
    }
    expect(Number.isFinite(runs[2].json.loss)).toBe(true);
    // The unref'd pthreads do not hold the process: it ends right after its work.
    expect(runs[2].ms).toBeLessThan(60_000);
  }, 4 * TIMEOUT_MS);

  it('refuses threads 0, 9, 1.5 and "2", and a call once the wasm backend is initialising or initialised; threads 1 undoes an earlier call', () => {
    const { json } = child('errors');
    expect(json).toEqual({
      zero: `${PREFIX}options.threads must be an integer from 1 to 8, but got 0.`,
      nine: `${PREFIX}options.threads must be an integer from 1 to 8, but got 9.`,
      fraction: `${PREFIX}options.threads must be an integer from 1 to 8, but got 1.5.`,
      string: `${PREFIX}options.threads must be an integer from 1 to 8, but got '2'.`,
      byDefault: { threads: DEFAULT_THREADS, build: DEFAULT_THREADS > 1 ? 'threaded-simd' : 'simd' },
      wrapped: DEFAULT_THREADS > 1,
      undo: { threads: 1, build: 'simd' },
      restored: true,
      flagAfterUndo: false,
      pending: `${TOO_LATE}tf.setBackend('wasm') has already been called (the backend is initialising).`,
      initialised: `${TOO_LATE}the wasm backend is already initialised (with 1 thread).`,
      one: `${TOO_LATE}the wasm backend is already initialised (with 1 thread).`,
      threadsCount: 1,
      globalWorker: 'undefined',
      warnings: [],
    });
  }, TIMEOUT_MS);

  it('falls back to the stock build, with one warning, when the threaded build fails its conv2d self-check', () => {
    const { json } = child('fallback');
    expect(json).toMatchObject({ enabled: { threads: 2, build: 'threaded-simd' }, ok: true, threadsCount: 1, flag: false });
    // The restored kernel on the stock build: a 3×3 box sum of ones, 'same' padding.
    expect(json.conv).toEqual([4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4]);
    expect(json.warnings).toEqual([
      expect.stringMatching(
        /^enableWasmThreads: the threaded-simd build failed its self-check: its conv2d differs from the reference in \d+ of 8192 values \(first at \d+: .+ instead of .+\); falling back to tfjs' stock single-threaded build\.$/,
      ),
    ]);
  }, TIMEOUT_MS);
});
