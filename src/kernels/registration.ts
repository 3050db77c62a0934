/**
 * The one way this package registers kernels: add or replace a set of kernels for one
 * backend, once, even when two copies of this package (its CommonJS and ES module builds) are
 * loaded. Our kernel functions carry a `Symbol.for` mark, so that a copy recognises the
 * other's kernels as its own.
 *
 * The opt-in entries (`s3n-layers/wasm-training`, `s3n-layers/cpu-training`) call
 * {@link registerKernelSet} when imported; the fused JS kernels (`fused/js_kernel.ts`) call it
 * lazily, on first use, so that importing the library leaves the kernel registry alone.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** The kernels one entry provides for one backend. */
export interface KernelSet {
  /** The backend name, e.g. `'wasm'`. */
  backend: string;
  /** Every kernel the entry provides. */
  names: readonly string[];
  /** Those that replace a kernel the backend already has; the others only fill a gap. */
  replaces: readonly string[];
  /** Whether a kernel the backend lacks is added (else only replacements are made). */
  addMissing: boolean;
  /** Marker on our kernel functions: a `Symbol.for` key, the same in every copy of the package. */
  mark: symbol;
  /** The config of kernel `name`, given the one it replaces (if any). */
  configFor(name: string, previous: tf.KernelConfig | undefined): tf.KernelConfig;
}

function isOurs(set: KernelSet, config: tf.KernelConfig | undefined): boolean {
  return config != null && (config.kernelFunc as unknown as Record<symbol, unknown>)[set.mark] === true;
}

/** Registers the kernels of `set` that are not ours yet; returns their names. */
export function registerKernelSet(set: KernelSet): string[] {
  const registered: string[] = [];
  for (const name of set.names) {
    const existing = tf.getKernel(name, set.backend);
    if (isOurs(set, existing)) continue;
    if (existing == null ? !set.addMissing : !set.replaces.includes(name)) continue;
    const config = set.configFor(name, existing);
    if (!isOurs(set, config)) Object.defineProperty(config.kernelFunc, set.mark, { value: true });
    if (existing != null) tf.unregisterKernel(name, set.backend);
    tf.registerKernel(config);
    registered.push(name);
  }
  return registered;
}

/** The names of `set` currently served by this package. */
export function activeKernels(set: KernelSet): string[] {
  return set.names.filter((name) => isOurs(set, tf.getKernel(name, set.backend)));
}
