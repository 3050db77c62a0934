/**
 * Backend helpers for tests: run a describe block on wasm, and check that the kernels an op
 * dispatches exist on the wasm backend and on tfjs-node's 'tensorflow' backend (whose kernel
 * names are kept in test/fixtures/tfjs-node-kernels.json, see tools/tfjs-node-kernels.mjs).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

/** Inside a `describe`: switches to the wasm backend for the block, back to cpu after it. */
export function onWasmBackend(): void {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });
  test('the wasm backend is active', () => {
    expect(tf.getBackend()).toBe('wasm');
  });
}

/**
 * One set of tests for every backend: `describe.each(TEST_BACKENDS)('… on the %s backend',
 * (backend) => { onBackend(backend); … })` runs the same block on cpu and on wasm.
 */
const ALL_BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof ALL_BACKENDS)[number];
/**
 * `S3N_TEST_BACKENDS=cpu` (a comma-separated list) narrows the set: `npm run mutate` runs only
 * the cpu blocks, which is enough to kill a mutant of the TypeScript and twice as fast.
 */
export const TEST_BACKENDS: readonly TestBackend[] = process.env.S3N_TEST_BACKENDS
  ? ALL_BACKENDS.filter((b) => process.env.S3N_TEST_BACKENDS!.split(',').includes(b))
  : ALL_BACKENDS;

/**
 * Inside a `describe`: runs the block on `backend`. wasm is {@link onWasmBackend}; cpu is
 * what test/helpers/setup.ts selects and what every wasm block switches back to, so it is
 * only checked, by the same kind of test.
 */
export function onBackend(backend: TestBackend): void {
  if (backend === 'wasm') {
    onWasmBackend();
    return;
  }
  test('the cpu backend is active', () => {
    expect(tf.getBackend()).toBe('cpu');
  });
}

/** The kernel names tfjs-node 4.22 registers. */
export function tfjsNodeKernels(): Set<string> {
  const fixture = path.join(__dirname, '..', 'fixtures', 'tfjs-node-kernels.json');
  return new Set<string>(JSON.parse(fs.readFileSync(fixture, 'utf8')).kernels);
}

/**
 * Adds to `used` the kernels a `tf.profile` run dispatched (tf.profile also lists
 * custom-gradient scopes, which are not kernels: only names registered for cpu are kept).
 */
export function addKernels(used: Set<string>, info: { kernels: { name: string }[] }): Set<string> {
  info.kernels.forEach((k) => tf.getKernel(k.name, 'cpu') && used.add(k.name));
  return used;
}

/** Asserts that every kernel in `used` is registered by the wasm backend and by tfjs-node. */
export function expectPortableKernels(used: Set<string>): void {
  const node = tfjsNodeKernels();
  const wasm = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
  expect({ missingOnTfjsNode: [...used].filter((n) => !node.has(n)), missingOnWasm: [...used].filter((n) => !wasm.has(n)) }).toEqual({
    missingOnTfjsNode: [],
    missingOnWasm: [],
  });
}
