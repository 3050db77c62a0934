/**
 * Multi-threaded tfjs wasm backend in Node.js: the package's `threaded-simd` build (XNNPACK on a
 * pthreadpool of emscripten pthreads, each a `worker_threads` Worker sharing the wasm memory),
 * which tfjs-backend-wasm itself never selects in Node (tensorflow/tfjs#3830). Nothing in
 * node_modules is changed and no private tfjs API is used; what it relies on is the published
 * code of `@tensorflow/tfjs-backend-wasm@4.22.0` (the peer range `~4.22.0`; other versions are
 * refused with a warning, see {@link SUPPORTED_WASM_VERSION}):
 *
 * - `dist/tf-backend-wasm.node.js`:
 *   - the flag `WASM_HAS_MULTITHREAD_SUPPORT` (its evaluator returns false whenever `IS_NODE`)
 *     is read by `init()` when the backend initialises; `init()` takes the threaded-simd glue
 *     (`wasmFactoryThreadedSimd`) when it and `WASM_HAS_SIMD_SUPPORT` are true and no
 *     `setWasmPath()` path is set;
 *   - its `locateFile('tfjs-backend-wasm-threaded-simd.worker.js')` returns
 *     `URL.createObjectURL(new Blob([wasmWorkerContents.replace(/\n/g, '\\n')],
 *     {type: 'application/javascript'}))`, and `mainScriptUrlOrBlob` is a Blob of
 *     `'var WasmBackendModuleThreadedSimd = ' + factory.toString()`. Node's Worker cannot run a
 *     blob: URL, and that factory text refers to variables of the rollup bundle's scope;
 *   - `new BackendWasm(module)` calls `init_with_threads_count(setThreadsCount's value)`;
 *     `getThreadsCount()` throws until a BackendWasm exists (how "already initialised" is
 *     told without private API); the backend is registered as `registerBackend('wasm',
 *     factory, 2)` ({@link WASM_PRIORITY}).
 * - `wasm-out/tfjs-backend-wasm-threaded-simd.js` (the emscripten glue; the same code the
 *   bundle embeds, loaded as a file by each pthread):
 *   - in Node it assigns `global.Worker = require('worker_threads').Worker` when the factory
 *     runs, then `PThread.initMainThread` creates a pool of 8 workers with
 *     `new Worker(locateFile('…worker.js'))` (more on demand for more than 8 threads);
 *   - it posts each worker `{cmd: 'load', handlers, urlOrBlob: Module.mainScriptUrlOrBlob ||
 *     _scriptDir, wasmMemory, wasmModule}`, calls `worker.unref()` once loaded and
 *     `worker.ref()` while a pthread runs on it;
 *   - `_emscripten_num_logical_cores()` is `require('os').cpus().length` in Node.
 * - `wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`: `module.exports.wasmWorkerContents`,
 *   the pthread worker's code (a template literal, so its `\n` escapes are newlines: hence the
 *   same fix-up as tfjs'), with a Node branch that uses `require`, `__filename` and
 *   `importScripts = (f) => eval(fs.readFileSync(f))`.
 * - `src/cc/backend.cc` (compiled into the .wasm): the pool gets
 *   `min(setThreadsCount's value, emscripten_num_logical_cores() / 2)` threads, the calling
 *   thread included (so a 2-vCPU machine would always get 1).
 *
 * What {@link enableWasmThreads} does, all of it when the wasm backend initialises (the call
 * itself only checks its arguments and wraps the backend's factory): sets the flag to true,
 * installs a `globalThis.Worker` (a getter, whose setter ignores the glue's assignment) that
 * gives the glue a `worker_threads.Worker` subclass: for tfjs' worker blob it starts an eval
 * worker that runs the package's `wasmWorkerContents`, and it rewrites the `load` message's
 * Blob into the path of `wasm-out/tfjs-backend-wasm-threaded-simd.js`; other URLs start
 * ordinary workers. It never lets a pthread `ref()` its worker: pthreadpool's threads live as
 * long as the module, and the main thread waits for them synchronously while they compute, so
 * an unref'd pool is safe and lets the process exit on its own. While the module instantiates
 * (and only then) `os.cpus()` reports 2 × threads entries, so backend.cc's cap is `threads`.
 *
 * Self-check: once the threaded backend exists, and before tfjs uses it, a 2×16×16×8 conv2d
 * (3×3×8×16 filter, 'same' padding, integer values so that every summation order gives the
 * same float32 result) runs through the registered wasm Conv2D kernel and is compared bit for
 * bit with a plain JS loop. On a mismatch (or any error while initialising), one warning is
 * printed, the threaded module is disposed and its workers terminated, and the stock
 * single-threaded build is initialised instead: threads never compute wrong numbers silently.
 *
 * @internal (public through `s3n-layers/wasm-threads`)
 */
import * as tf from '@tensorflow/tfjs-core';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { resolveObjectURL } from 'node:buffer';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import * as path from 'node:path';
import { Worker as NodeWorker, type TransferListItem, type WorkerOptions } from 'node:worker_threads';
import { describeValue, fail } from '../../ops/validation';

/** The tfjs-backend-wasm release whose glue and worker code this module was written against. */
export const SUPPORTED_WASM_VERSION = /^4\.22\./;
/** tfjs-backend-wasm 4.22's `registerBackend('wasm', factory, 2)` priority, kept when re-registering. */
const WASM_PRIORITY = 2;
/** Most threads allowed (the glue's pre-started pool has 8 workers). */
export const MAX_WASM_THREADS = 8;
const FN = 'enableWasmThreads';
const FLAG = 'WASM_HAS_MULTITHREAD_SUPPORT';
const GLUE = 'wasm-out/tfjs-backend-wasm-threaded-simd.js';
const WORKER_CODE = 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';

/** Options of {@link enableWasmThreads}. */
export interface WasmThreadsOptions {
  /**
   * Threads of the XNNPACK pool, the calling thread included: an integer from 1 to 8. Default:
   * `min(8, os.availableParallelism())`. 1 keeps tfjs' stock single-threaded build.
   */
  threads?: number;
}

/** What {@link enableWasmThreads} set up: the pool size and the wasm build the backend will load. */
export interface WasmThreadsResult {
  /** The threads asked for (the pool the backend will start with, unless its self-check falls back to 1). */
  threads: number;
  /** The wasm build the backend will load: `'threaded-simd'` for 2 threads or more, else the stock `'simd'`. */
  build: 'threaded-simd' | 'simd';
}

/** The live configuration: set by enableWasmThreads, read by the factory when the backend initialises. */
interface Config {
  threads: number;
  /** tfjs-backend-wasm's own factory (what tf.findBackendFactory('wasm') returned before we wrapped it). */
  stockFactory: () => tf.KernelBackend | Promise<tf.KernelBackend>;
  wrapped: () => Promise<tf.KernelBackend>;
}
let config: Config | undefined;
const warned = new Set<string>();

function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(`${FN}: ${message}`);
}

// --------------------------------------------------------------------------- files of the package

/**
 * The folder of the tfjs-backend-wasm that is loaded: from Node's module cache (the copy that
 * registered the backend, also when this module is the ESM build, which has no `require`),
 * else resolved from here (CommonJS) or from the working directory.
 */
function wasmPackageDir(): string {
  const nodeRequire = createRequire(path.join(process.cwd(), '[s3n-layers]'));
  const loaded = new Set<string>();
  for (const file of Object.keys(nodeRequire.cache)) {
    const m = /^(.*[\\/]@tensorflow[\\/]tfjs-backend-wasm)[\\/]/.exec(file);
    if (m) loaded.add(m[1]);
  }
  if (loaded.size === 1) return [...loaded][0];
  const own = typeof require === 'function' && typeof require.resolve === 'function' ? require : nodeRequire;
  return path.dirname(own.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

interface PackageFiles {
  glue: string;
  workerCode: string;
  /** Bytes of the blob tfjs' locateFile makes from wasmWorkerContents: how its blob: URL is told apart. */
  workerBlobSize: number;
}
let files: PackageFiles | undefined;

function packageFiles(): PackageFiles {
  if (files !== undefined) return files;
  const dir = wasmPackageDir();
  const glue = path.join(dir, GLUE);
  const workerCode = path.join(dir, WORKER_CODE);
  for (const f of [glue, workerCode]) {
    if (!fs.existsSync(f)) fail(FN, `@tensorflow/tfjs-backend-wasm's ${path.basename(f)}`, `a file in ${path.dirname(f)}`, 'none there');
  }
  const contents = (createRequire(workerCode)(workerCode) as { wasmWorkerContents?: unknown }).wasmWorkerContents;
  if (typeof contents !== 'string') fail(FN, `${WORKER_CODE}'s wasmWorkerContents`, 'a string', describeValue(contents));
  files = { glue, workerCode, workerBlobSize: Buffer.byteLength(contents.replace(/\n/g, '\\n')) };
  return files;
}

/** The eval-worker code of one pthread: the package's own worker code, as tfjs' blob would run it. */
function pthreadMain(workerCode: string): string {
  return String.raw`'use strict';
const file = ${JSON.stringify(workerCode)};
const { wasmWorkerContents } = require(file);
// tfjs' locateFile fix-up: the template literal turned the "\n" escapes into newlines.
new Function('require', '__filename', wasmWorkerContents.replace(/\n/g, '\\n'))(require, file);
`;
}

// --------------------------------------------------------------------------- the Worker shim

/** Is `url` the blob: URL tfjs' locateFile made for the pthread worker? */
function isTfjsWorkerUrl(url: unknown): url is string {
  if (typeof url !== 'string' || !url.startsWith('blob:')) return false;
  const blob = resolveObjectURL(url);
  return blob !== undefined && blob.type === 'application/javascript' && blob.size === packageFiles().workerBlobSize;
}

/** The pthread workers started (terminated when the threaded module is given up). */
const pthreadWorkers = new Set<NodeWorker>();

/** What the glue gets for `new Worker(url)`. */
class PthreadWorker extends NodeWorker {
  readonly isTfjsPthread: boolean;

  constructor(url: string | URL, options?: WorkerOptions) {
    const ours = isTfjsWorkerUrl(url);
    super(ours ? pthreadMain(packageFiles().workerCode) : url, ours ? { ...options, eval: true } : options);
    this.isTfjsPthread = ours;
    if (ours) {
      URL.revokeObjectURL(url as string);
      pthreadWorkers.add(this);
      this.once('exit', () => pthreadWorkers.delete(this));
    }
  }

  override postMessage(value: unknown, transferList?: readonly TransferListItem[]): void {
    const msg = value as { cmd?: unknown; urlOrBlob?: unknown } | null;
    if (this.isTfjsPthread && msg != null && msg.cmd === 'load' && typeof msg.urlOrBlob !== 'string') {
      value = { ...msg, urlOrBlob: packageFiles().glue };
    }
    super.postMessage(value, transferList);
  }

  /** The glue refs a worker while a pthread runs on it, i.e. forever for pthreadpool's threads. */
  override ref(): void {
    if (!this.isTfjsPthread) super.ref();
  }
}

let shimInstalled = false;

/** Another global Worker (which the shim would replace), described; undefined when there is none. */
function otherWorker(): string | undefined {
  if (shimInstalled) return undefined;
  const existing = (globalThis as { Worker?: unknown }).Worker;
  if (existing === undefined) return undefined;
  return typeof existing === 'function' && existing.name !== '' ? `the function ${existing.name}` : describeValue(existing);
}

const WORKER_EXPECTED = "undefined in Node (the pthreads need this module's worker_threads shim there)";

function installWorkerShim(): void {
  if (shimInstalled) return;
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    enumerable: false,
    get: () => PthreadWorker,
    set: (value: unknown) => {
      if (value === NodeWorker || value === PthreadWorker) return; // the glue's `global.Worker = worker_threads.Worker`
      // Someone else's Worker: theirs from now on.
      Object.defineProperty(globalThis, 'Worker', { value, writable: true, configurable: true, enumerable: false });
      shimInstalled = false;
    },
  });
  shimInstalled = true;
}

/** Makes `os.cpus()` report `n` entries until the returned function is called. */
function reportCpus(n: number): () => void {
  const real = os.cpus;
  os.cpus = () => {
    const cpus = real.call(os);
    const stub = { model: 'unknown', speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } };
    return Array.from({ length: n }, (_, i) => (cpus.length > 0 ? cpus[i % cpus.length] : stub));
  };
  return () => {
    os.cpus = real;
  };
}

// --------------------------------------------------------------------------- the self-check

const CHECK: { readonly x: readonly number[]; readonly filter: readonly number[] } = { x: [2, 16, 16, 8], filter: [3, 3, 8, 16] };

/** A small integer in [-span, span] from an index: every partial sum stays an exact float32. */
const intAt = (i: number, mul: number, span: number) => ((i * mul + 3) % (2 * span + 1)) - span;

/** conv2d, stride 1, 'same' padding, NHWC × HWIO, in plain JS. */
function referenceConv(x: Float32Array, w: Float32Array): Float32Array {
  const [n, h, wd, c] = CHECK.x;
  const [kh, kw, , o] = CHECK.filter;
  const out = new Float32Array(n * h * wd * o);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < wd; j++) {
        for (let k = 0; k < o; k++) {
          let s = 0;
          for (let di = 0; di < kh; di++) {
            const y = i + di - 1;
            if (y < 0 || y >= h) continue;
            for (let dj = 0; dj < kw; dj++) {
              const xx = j + dj - 1;
              if (xx < 0 || xx >= wd) continue;
              for (let ci = 0; ci < c; ci++) s += x[((b * h + y) * wd + xx) * c + ci] * w[((di * kw + dj) * c + ci) * o + k];
            }
          }
          out[((b * h + i) * wd + j) * o + k] = s;
        }
      }
    }
  }
  return out;
}

/**
 * Runs the registered wasm Conv2D kernel on `backend` (not yet tfjs' active backend, so through
 * the kernel registry and the KernelBackend interface) and compares it with
 * {@link referenceConv}. Returns what went wrong, or undefined.
 */
function selfCheck(backend: tf.KernelBackend): string | undefined {
  const kernel = tf.getKernel(tf.Conv2D, 'wasm');
  if (kernel === undefined) return 'no Conv2D kernel is registered for wasm';
  const x = Float32Array.from({ length: CHECK.x.reduce((a, b) => a * b) }, (_, i) => intAt(i, 7, 2));
  const w = Float32Array.from({ length: CHECK.filter.reduce((a, b) => a * b) }, (_, i) => intAt(i, 5, 1));
  const expected = referenceConv(x, w);
  const ids: tf.DataId[] = [];
  try {
    kernel.setupFunc?.(backend);
    const xInfo: tf.TensorInfo = { dataId: backend.write(x, [...CHECK.x], 'float32'), shape: [...CHECK.x], dtype: 'float32' };
    ids.push(xInfo.dataId);
    const wInfo: tf.TensorInfo = { dataId: backend.write(w, [...CHECK.filter], 'float32'), shape: [...CHECK.filter], dtype: 'float32' };
    ids.push(wInfo.dataId);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
    const out = kernel.kernelFunc({ inputs: { x: xInfo, filter: wInfo }, backend, attrs }) as tf.TensorInfo;
    ids.push(out.dataId);
    const got = backend.readSync(out.dataId) as Float32Array;
    if (got.length !== expected.length) return `its conv2d gave ${got.length} values instead of ${expected.length}`;
    let wrong = 0;
    let first = -1;
    for (let i = 0; i < got.length; i++) {
      if (!Object.is(got[i], expected[i])) {
        wrong++;
        if (first < 0) first = i;
      }
    }
    return wrong === 0 ? undefined : `its conv2d differs from the reference in ${wrong} of ${got.length} values (first at ${first}: ${got[first]} instead of ${expected[first]})`;
  } catch (e) {
    return `its conv2d failed: ${(e as Error)?.message ?? String(e)}`;
  } finally {
    for (const id of ids) backend.disposeData(id, true);
  }
}

// --------------------------------------------------------------------------- the factory

/** Gives up the threaded module: disposes it, stops its workers, and makes the next init stock. */
function abandonThreaded(backend: tf.KernelBackend | undefined): void {
  try {
    backend?.dispose();
  } catch {
    // already half-initialised; the workers are terminated below anyway
  }
  for (const w of pthreadWorkers) void w.terminate();
  tf.env().set(FLAG, false);
  wasmBackend.setThreadsCount(1);
}

/** The factory registered for 'wasm' by {@link enableWasmThreads}. */
async function threadedFactory(): Promise<tf.KernelBackend> {
  const c = config as Config;
  const stock = async () => c.stockFactory();
  const other = otherWorker();
  if (other !== undefined) {
    warnOnce(`globalThis.Worker must be ${WORKER_EXPECTED}, but it is ${other}; the wasm backend runs tfjs' stock single-threaded build.`);
    tf.env().set(FLAG, false);
    return stock();
  }
  installWorkerShim();
  tf.env().set(FLAG, true);
  wasmBackend.setThreadsCount(c.threads);
  let backend: tf.KernelBackend | undefined;
  let failure: string | undefined;
  const restoreCpus = reportCpus(2 * c.threads);
  try {
    backend = await stock();
  } catch (e) {
    failure = `the threaded-simd build failed to initialise (${(e as Error)?.message ?? String(e)})`;
  } finally {
    restoreCpus();
  }
  if (backend !== undefined) {
    const mismatch = selfCheck(backend);
    if (mismatch !== undefined) failure = `the threaded-simd build failed its self-check: ${mismatch}`;
  }
  if (failure !== undefined) {
    warnOnce(`${failure}; falling back to tfjs' stock single-threaded build.`);
    abandonThreaded(backend);
    return stock();
  }
  const actual = wasmBackend.getThreadsCount();
  if (actual !== c.threads) warnOnce(`asked for ${c.threads} threads, but the wasm backend's pool has ${actual}.`);
  return backend as tf.KernelBackend;
}

// --------------------------------------------------------------------------- the public function

/** Which runtime this is, when it is not Node. */
function notNode(): string | undefined {
  const p = (globalThis as { process?: { versions?: Record<string, string | undefined> } }).process;
  const versions = p?.versions;
  if (versions?.bun !== undefined) return `Bun ${versions.bun}`;
  if ((globalThis as { Deno?: unknown }).Deno !== undefined) return 'Deno';
  if (typeof versions?.node !== 'string') return typeof window === 'undefined' ? 'a runtime without process.versions.node' : 'a browser';
  return undefined;
}

/** Why it is too late to change the wasm build, or undefined. */
function tooLate(): string | undefined {
  let threads: number | undefined;
  try {
    threads = wasmBackend.getThreadsCount(); // throws "WASM backend not initialized." until a BackendWasm exists
  } catch {
    threads = undefined;
  }
  if (threads !== undefined) return `the wasm backend is already initialised (with ${threads} thread${threads === 1 ? '' : 's'})`;
  if (tf.getBackend() === 'wasm') return "tf.setBackend('wasm') has already been called (the backend is initialising)";
  return undefined;
}

/**
 * Makes the tfjs wasm backend run multi-threaded in Node: XNNPACK's pool of `threads` threads
 * on tfjs-backend-wasm's threaded-simd build (worker_threads sharing the wasm memory). Results
 * are bit-identical to the stock single-threaded build (the same XNNPACK kernels; each output
 * is computed by one thread in the same order).
 *
 * Call it before the wasm backend initialises, i.e. before `tf.setBackend('wasm')` or
 * `tf.ready()`; the work happens when the backend initialises (see the module's header: the
 * flag, a `globalThis.Worker` shim, `os.cpus()` during instantiation), followed by a
 * self-check that falls back to the stock build with a warning if the threaded one computes a
 * wrong conv2d. `tf.wasm.getThreadsCount()` tells the pool's size afterwards. The pthreads do
 * not keep the process alive.
 *
 * Node only. With `threads: 1` nothing is changed (a second call with 1 undoes a first).
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import 's3n-layers/wasm-training';
 * import { enableWasmThreads } from 's3n-layers/wasm-threads';
 * enableWasmThreads({ threads: 2 }); // { threads: 2, build: 'threaded-simd' }
 * await tf.setBackend('wasm');
 * ```
 *
 * @throws Error outside Node, when `threads` is not an integer from 1 to 8, when the wasm
 *   backend has already been initialised (or `tf.setBackend('wasm')` already called), or when
 *   another `globalThis.Worker` exists.
 */
export function enableWasmThreads(options: WasmThreadsOptions = {}): WasmThreadsResult {
  const runtime = notNode();
  if (runtime !== undefined) fail(FN, 'the runtime', 'Node.js (worker_threads)', runtime);
  if (options === null || typeof options !== 'object') fail(FN, 'options', 'an object { threads?: number }', describeValue(options));
  const threads = options.threads === undefined ? Math.min(MAX_WASM_THREADS, os.availableParallelism?.() ?? os.cpus().length) : options.threads;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    fail(FN, 'options.threads', `an integer from 1 to ${MAX_WASM_THREADS}`, describeValue(threads));
  }
  const late = tooLate();
  if (late !== undefined) throw new Error(`${FN}: must be called before the wasm backend initialises (before tf.setBackend('wasm') or tf.ready()), but ${late}.`);
  const current = tf.findBackendFactory('wasm');
  if (current === null) fail(FN, "the 'wasm' backend", "registered (import '@tensorflow/tfjs-backend-wasm')", "tf.findBackendFactory('wasm') = null");

  if (threads === 1) {
    if (config !== undefined && current === config.wrapped) {
      // Undo an earlier call: tfjs' own factory back, the flag as tfjs evaluates it in Node.
      tf.removeBackend('wasm');
      tf.registerBackend('wasm', config.stockFactory, WASM_PRIORITY);
      tf.env().set(FLAG, false);
    }
    config = undefined;
    return { threads: 1, build: 'simd' };
  }
  if (!SUPPORTED_WASM_VERSION.test(wasmBackend.version_wasm)) {
    warnOnce(`needs @tensorflow/tfjs-backend-wasm 4.22.x (its glue and pthread worker code), but got ${wasmBackend.version_wasm}; the wasm backend keeps tfjs' stock single-threaded build.`);
    return { threads: 1, build: 'simd' };
  }
  const other = otherWorker();
  if (other !== undefined) fail(FN, 'globalThis.Worker', WORKER_EXPECTED, other);
  packageFiles(); // fails now, not at init, if the package's files are missing

  if (config !== undefined && current === config.wrapped) {
    config.threads = threads;
  } else {
    const stockFactory = current as Config['stockFactory'];
    config = { threads, stockFactory, wrapped: threadedFactory };
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', threadedFactory, WASM_PRIORITY);
  }
  return { threads, build: 'threaded-simd' };
}
