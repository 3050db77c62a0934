/**
 * The Identity kernel of s3n-layers/wasm-training: `tf.clone` (and every tensor the engine
 * saves for a backward pass) shares the wasm heap buffer instead of copying it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmTrainingKernels } from '../src/wasm-training';
import { expectNoLeak } from './helpers/numeric';

describe('Identity on wasm', () => {
  let backend: BackendWasm;
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    backend = tf.backend() as BackendWasm;
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('is served by this package', () => {
    expect(activeWasmTrainingKernels()).toContain('Identity');
  });

  it('clones without a copy: one heap buffer, read through both tensors, freed with the last', async () => {
    const ids = backend.numDataIds();
    const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const y = tf.clone(x);
    expect(backend.numDataIds()).toBe(ids + 1);
    expect(backend.getMemoryOffset(y.dataId)).toBe(backend.getMemoryOffset(x.dataId));
    x.dispose();
    expect(y.shape).toEqual([2, 3]);
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4, 5, 6]);
    y.dispose();
    expect(backend.numDataIds()).toBe(ids);
  });

  it('keeps int32 and bool dtypes, and clones string tensors through the original kernel', async () => {
    await expectNoLeak(async () => {
      const i = tf.tensor1d([7, -8], 'int32');
      const b = tf.tensor1d([true, false], 'bool');
      const s = tf.tensor1d(['a', 'bc']);
      const [ci, cb, cs] = [i, b, s].map((t) => tf.clone(t));
      expect([ci.dtype, cb.dtype, cs.dtype]).toEqual(['int32', 'bool', 'string']);
      expect(Array.from(await ci.data())).toEqual([7, -8]);
      expect(Array.from(await cb.data())).toEqual([1, 0]);
      expect(await cs.array()).toEqual(['a', 'bc']);
      tf.dispose([i, b, s, ci, cb, cs]);
    });
  });

  it('a variable assigned after a clone leaves the clone unchanged', async () => {
    const v = tf.variable(tf.tensor1d([1, 2]));
    const snapshot = tf.clone(v);
    v.assign(tf.tensor1d([5, 6]));
    expect(Array.from(await snapshot.data())).toEqual([1, 2]);
    expect(Array.from(await v.data())).toEqual([5, 6]);
    tf.dispose([v, snapshot]);
  });
});
