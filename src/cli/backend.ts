/**
 * Backend selection of the CLI: `cpu` (pure JS, always there, plus this package's cpu training
 * kernel), `wasm` (@tensorflow/tfjs-backend-wasm plus this package's wasm training kernels) and `tensorflow`
 * (libtensorflow through @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, when the user
 * installed one), and, experimental, `webgpu` (tfjs-backend-webgpu on Dawn's Node bindings, see
 * `webgpu.ts`). The default, `auto`, takes the fastest one installed: `tensorflow` when
 * tfjs-node(-gpu) is there, else `wasm` with the training kernels, else `cpu`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupNodeWebGPU } from './webgpu';

export const BACKENDS = ['auto', 'cpu', 'wasm', 'tensorflow', 'webgpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** The CLI's default backend: the fastest installed ({@link setupBackend}). */
export const DEFAULT_BACKEND: BackendName = 'auto';

async function canImport(specifier: string): Promise<boolean> {
  try {
    await import(specifier);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/**
 * What `auto` picks, fastest first: `tensorflow` (libtensorflow, when tfjs-node-gpu or
 * tfjs-node is installed), `wasm` (when tfjs-backend-wasm and this package's wasm training
 * kernels are there: on the training steps measured by `npm run bench -- --only model` several
 * times the pure-JS backend), else `cpu`. Returns the name and why.
 */
export async function fastestBackend(): Promise<{ name: Exclude<BackendName, 'auto'>; why: string }> {
  for (const s of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if (await canImport(s)) return { name: 'tensorflow', why: `${s} is installed` };
  }
  if ((await canImport('@tensorflow/tfjs-backend-wasm')) && (await importEntry('wasm-training')) !== undefined) {
    return { name: 'wasm', why: 'tfjs-node is not installed; wasm with the training kernels' };
  }
  return { name: 'cpu', why: 'neither tfjs-node nor tfjs-backend-wasm is installed' };
}

/** An error whose message is meant for the user as is (no stack trace). */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UsageError';
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(String((e as Error)?.message));
}

/** Imports the first module of `specifiers` that exists; undefined when none does. */
async function importFirst(specifiers: string[]): Promise<{ specifier: string; module: Record<string, unknown> } | undefined> {
  for (const s of specifiers) {
    try {
      const module = (await import(s)) as Record<string, unknown>;
      return { specifier: s, module };
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  return undefined;
}

/**
 * One of this package's opt-in kernel entries (`cpu-training`, `wasm-training`): src/NAME.ts
 * when run from source, else the package's own export (self-reference), else dist/NAME.js.
 * The specifiers are not literals on purpose: the build must not bundle the entry into the
 * CLI, so that its registration code stays in dist/NAME.{js,mjs} (package.json `sideEffects`)
 * rather than in a shared chunk.
 */
function importEntry(name: 'cpu-training' | 'wasm-training' | 'wasm-threads') {
  return importFirst([`../${name}`, `s3n-layers/${name}`, `./${name}.js`]);
}

/** Options of {@link setupBackend}. */
export interface BackendOptions {
  /**
   * Threads of the wasm backend (`--threads`; s3n-layers/wasm-threads): 1 (default) is tfjs'
   * stock single-threaded build. Ignored by the other backends.
   */
  threads?: number;
}

/**
 * Selects and initialises a backend (`auto`: {@link fastestBackend}). Returns a one-line
 * description for the log. Throws a {@link UsageError} with install instructions when
 * `tensorflow` is not installed.
 */
export async function setupBackend(name: BackendName, options: BackendOptions = {}): Promise<string> {
  let adapter: string | undefined;
  let threads = '';
  if (name === 'auto') {
    const { name: picked, why } = await fastestBackend();
    return `${await setupBackend(picked, options)} (auto: ${why}; --backend chooses)`;
  }
  if (name === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    // The faster cpu Conv2DBackpropFilter (tfjs' runs ~5·10⁶ multiply-adds a second).
    const found = await importEntry('cpu-training');
    if (found === undefined) {
      process.stderr.write('warning: the cpu training kernels (s3n-layers/cpu-training) were not found; training convolutions on cpu will be slow.\n');
    } else {
      // Registered on import; again here in case they were unregistered since (idempotent).
      const register = found.module.registerCpuTrainingKernels;
      if (typeof register === 'function') register();
    }
  } else if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    // The wasm training kernels (Conv2DBackpropFilter, …).
    const found = await importEntry('wasm-training');
    if (found === undefined) {
      process.stderr.write('warning: the wasm training kernels (s3n-layers/wasm-training) were not found; training on wasm may fail for lack of gradient kernels.\n');
    }
    if ((options.threads ?? 1) > 1) {
      const entry = await importEntry('wasm-threads');
      const enable = entry?.module.enableWasmThreads as ((o: { threads: number }) => { threads: number }) | undefined;
      if (enable === undefined) throw new UsageError('--threads needs s3n-layers/wasm-threads, which was not found.', 1);
      enable({ threads: options.threads as number });
    }
  } else if (name === 'tensorflow') {
    const found = await importFirst(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
    if (found === undefined) {
      throw new UsageError(
        "--backend tensorflow needs @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node (CPU), and neither is installed.\n" +
          'Install one next to s3n-layers (its install downloads libtensorflow):\n' +
          '  npm install @tensorflow/tfjs-node@4.22.0        # or @tensorflow/tfjs-node-gpu@4.22.0\n' +
          'or use --backend cpu or --backend wasm.',
        1,
      );
    }
  } else if (name === 'webgpu') {
    adapter = (await setupNodeWebGPU()).description;
  } else {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, but got '${String(name)}'.`);
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new UsageError(`the '${name}' backend failed to initialise.`, 1);
  await tf.ready();
  if (name === 'wasm' && (options.threads ?? 1) > 1) {
    // What the pool really has (1 after the threaded build's self-check fell back).
    const count = ((await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount?: () => number }).getThreadsCount?.();
    threads = `, ${count} thread${count === 1 ? '' : 's'}`;
  }
  return `${tf.getBackend()} backend${adapter === undefined ? '' : ` on ${adapter}`}${threads}`;
}
