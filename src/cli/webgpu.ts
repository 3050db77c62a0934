/**
 * `--backend webgpu` in Node (experimental): tfjs' WebGPU backend
 * (@tensorflow/tfjs-backend-webgpu) on Dawn, the WebGPU implementation of Chromium, through its
 * Node bindings (the `webgpu` npm package). Dawn drives Vulkan (Linux), Metal (macOS) or
 * Direct3D 12 (Windows): the way to train on a GPU without libtensorflow.
 *
 * `navigator.gpu` must exist before the tfjs backend is imported (it registers itself only
 * then). Reading tensors must use `data()`: WebGPU has no synchronous read-back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from './backend';

/** What {@link setupNodeWebGPU} found. */
export interface NodeWebGPUAdapter {
  /** The adapter's vendor, architecture and description, e.g. `google swiftshader (SwiftShader driver 5.0.0)`. */
  description: string;
}

/** How to install the two packages `--backend webgpu` needs. */
export const WEBGPU_INSTALL = 'npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0';

/**
 * A native `import()` the bundler leaves alone: the `webgpu` package is ESM only, and the CLI's
 * CommonJS build would otherwise turn `import()` into `require()`.
 */
const importESM = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(String((e as Error)?.message));
}

/** Sets `navigator.gpu` (Node ≥ 21 has a `navigator`; Node 20 gets a minimal one). */
function setNavigatorGpu(gpu: unknown): void {
  const g = globalThis as { navigator?: object };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  }
  Object.defineProperty(g.navigator as object, 'gpu', { value: gpu, configurable: true, writable: true });
}

/**
 * Makes WebGPU available to tfjs in Node: loads the `webgpu` package (Dawn), sets its globals
 * and `navigator.gpu`, asks for an adapter, then imports @tensorflow/tfjs-backend-webgpu
 * (which registers the `'webgpu'` backend). Does not select the backend.
 *
 * @param dawnOptions Options for Dawn's `create` (e.g. `['backend=vulkan']`); default none.
 * @returns the adapter found.
 * @throws (rejects) a {@link UsageError} (exit code 1) saying how to install the packages when
 *   one is missing, or `no WebGPU adapter found (…)` when Dawn finds no adapter (no GPU, no
 *   Vulkan driver, or a software Vulkan without a feature Dawn requires).
 */
export async function setupNodeWebGPU(dawnOptions: string[] = []): Promise<NodeWebGPUAdapter> {
  let dawn: Record<string, unknown>;
  try {
    dawn = await importESM('webgpu');
  } catch (e) {
    if (!isNotFound(e)) throw e;
    throw new UsageError(`--backend webgpu needs the 'webgpu' package (Dawn's Node bindings) and @tensorflow/tfjs-backend-webgpu; install them next to s3n-layers:\n  ${WEBGPU_INSTALL}`, 1);
  }
  const { create, globals } = dawn as { create: (options: string[]) => { requestAdapter(o?: object): Promise<unknown> }; globals: object };
  Object.assign(globalThis, globals);
  const gpu = create(dawnOptions);
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) as { info?: { vendor?: string; architecture?: string; description?: string } } | null;
  if (adapter == null) {
    throw new UsageError(
      'no WebGPU adapter found (Dawn, through the webgpu package, found no GPU it can use: navigator.gpu.requestAdapter() returned null). ' +
        'It needs a GPU with a Vulkan driver on Linux (Metal on macOS, Direct3D 12 on Windows); Debian\'s software Vulkan (mesa lavapipe 22.3) ' +
        'lacks features Dawn requires. A software adapter for testing: SwiftShader as Chromium ships it, e.g. ' +
        'LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json. ' +
        '--backend webgpu is experimental; use --backend wasm or cpu otherwise.',
      1,
    );
  }
  setNavigatorGpu(gpu);
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    if (!isNotFound(e)) throw e;
    throw new UsageError(`--backend webgpu needs @tensorflow/tfjs-backend-webgpu; install it next to s3n-layers:\n  ${WEBGPU_INSTALL}`, 1);
  }
  if (tf.findBackendFactory('webgpu') == null) {
    throw new UsageError('the webgpu backend did not register: @tensorflow/tfjs-backend-webgpu was loaded before navigator.gpu was set (import s3n-layers\' CLI backend setup first).', 1);
  }
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture].filter((s) => s).join(' ') + (info.description ? ` (${info.description})` : '');
  return { description: description || 'unnamed adapter' };
}
