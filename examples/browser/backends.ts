/**
 * Which tfjs backend the page runs on: webgpu, webgl, wasm or cpu. `?backend=NAME` picks one;
 * otherwise the fastest available: a hardware WebGPU adapter, then hardware WebGL, then wasm
 * (software GPUs such as SwiftShader are slower than wasm, so they are only used when asked
 * for), then cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** The backends the page offers, fastest first. */
export const PAGE_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
/** One of {@link PAGE_BACKENDS}. */
export type PageBackend = (typeof PAGE_BACKENDS)[number];

/** What the page found about one backend. */
export interface BackendProbe {
  name: PageBackend;
  available: boolean;
  /** Software emulation of a GPU (SwiftShader, llvmpipe, …): available, but not picked automatically. */
  software: boolean;
  /** Adapter or renderer, or why it is not available. */
  detail: string;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

async function probeWebGPU(): Promise<BackendProbe> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
  if (!gpu) return { name: 'webgpu', available: false, software: false, detail: 'navigator.gpu is missing (no WebGPU in this browser, or not a secure context)' };
  let adapter: { info?: Record<string, string> } | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { name: 'webgpu', available: false, software: false, detail: `requestAdapter() threw: ${(e as Error).message}` };
  }
  if (!adapter) return { name: 'webgpu', available: false, software: false, detail: 'navigator.gpu.requestAdapter() returned null' };
  const info = adapter.info ?? {};
  const detail = [info.vendor, info.architecture, info.description].filter((s) => s).join(' ') || 'unnamed adapter';
  return { name: 'webgpu', available: true, software: SOFTWARE.test(detail), detail };
}

function probeWebGL(): BackendProbe {
  const canvas = document.createElement('canvas');
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
  if (!gl) return { name: 'webgl', available: false, software: false, detail: 'no WebGL context' };
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const detail = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return { name: 'webgl', available: true, software: SOFTWARE.test(detail), detail };
}

/** Probes every backend of {@link PAGE_BACKENDS}. */
export async function probeBackends(): Promise<BackendProbe[]> {
  const wasm = typeof WebAssembly === 'object';
  return [
    await probeWebGPU(),
    probeWebGL(),
    { name: 'wasm', available: wasm, software: false, detail: wasm ? 'WebAssembly (XNNPACK)' : 'no WebAssembly' },
    { name: 'cpu', available: true, software: false, detail: 'plain JavaScript' },
  ];
}

/** The backend to use: `requested` when given and available, else the fastest hardware one. */
export function chooseBackend(probes: BackendProbe[], requested?: string | null): { name: PageBackend; reason: string } {
  if (requested) {
    const p = probes.find((q) => q.name === requested);
    if (!p) throw new Error(`?backend must be one of ${PAGE_BACKENDS.join(', ')}, but got '${requested}'`);
    if (!p.available) throw new Error(`?backend=${requested} is not available here: ${p.detail}`);
    return { name: p.name, reason: `chosen (?backend=${requested})` };
  }
  const skipped = probes.filter((p) => p.available && p.software).map((p) => `${p.name} is software (${p.detail})`);
  const best = probes.find((p) => p.available && !p.software) as BackendProbe;
  return { name: best.name, reason: `fastest available${skipped.length ? `; ${skipped.join(', ')}` : ''}` };
}

/**
 * Initialises a backend. wasm loads its .wasm files from `wasmPath` (the build copies them
 * there); wasm and cpu also get this package's training kernels.
 */
export async function initBackend(name: PageBackend, wasmPath: string): Promise<void> {
  if (name === 'wasm') {
    setWasmPaths(wasmPath);
    await import('../../dist/wasm-training.mjs');
  } else if (name === 'cpu') {
    await import('../../dist/cpu-training.mjs');
  }
  if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend failed to initialise`);
  await tf.ready();
}
