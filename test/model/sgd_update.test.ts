/**
 * The SGD-with-momentum step: the fused kernel (cpu) gives the same bits as the composed ops
 * (which wasm runs), and both follow PyTorch's formula.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNELS_FLAG } from '../../src/kernels/fused/flag';
import { sgdMomentumStep, SGDStep } from '../../src/model/sgd_update';
import { onBackend, TEST_BACKENDS } from '../helpers/backends';
import { expectClose, expectNoLeak, uniform } from '../helpers/numeric';

const STEPS: Array<[string, SGDStep]> = [
  ['momentum and weight decay', { learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4 }],
  ['no weight decay', { learningRate: 0.1, momentum: 0.9, weightDecay: 0 }],
  ['learning rate 0 (frozen group)', { learningRate: 0, momentum: 0.9, weightDecay: 1e-4 }],
];

async function step(fused: boolean, s: SGDStep): Promise<Float32Array[]> {
  tf.env().set(FUSED_KERNELS_FLAG, fused);
  try {
    const [w, v, g] = [1, 2, 3].map((seed) => uniform([3, 3, 8, 5], -1, 1, seed));
    const out = sgdMomentumStep(w, v, g, s);
    const values = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
    tf.dispose([w, v, g, ...out]);
    return values;
  } finally {
    tf.env().set(FUSED_KERNELS_FLAG, true);
  }
}

describe.each(TEST_BACKENDS)('sgdMomentumStep on the %s backend', (backend) => {
  onBackend(backend);

  it.each(STEPS)('fused kernel and composed ops agree bit for bit (%s)', async (_, s) => {
    const [fusedW, fusedV] = await step(true, s);
    const [composedW, composedV] = await step(false, s);
    expect(Array.from(fusedW)).toEqual(Array.from(composedW));
    expect(Array.from(fusedV)).toEqual(Array.from(composedV));
  });

  it.each(STEPS)("follows PyTorch's formula v' = μv + g + λw, w' = w − lr·v' (%s)", async (_, s) => {
    const [w, v, g] = await Promise.all([1, 2, 3].map((seed) => uniform([3, 3, 8, 5], -1, 1, seed).data()));
    const v1 = Array.from(v, (vi, i) => s.momentum * vi + g[i] + s.weightDecay * w[i]);
    const w1 = Array.from(w, (wi, i) => wi - s.learningRate * v1[i]);
    const [fusedW, fusedV] = await step(true, s);
    expectClose(fusedV, v1, { atol: 1e-6 });
    expectClose(fusedW, w1, { atol: 1e-6 });
  });

  it('runs as the one fused kernel S3NSGDMomentum on cpu, as composed ops on wasm or when the flag is off', async () => {
    const [w, v, g] = [1, 2, 3].map((seed) => uniform([16], -1, 1, seed));
    const kernels = async () => (await tf.profile(() => sgdMomentumStep(w, v, g, STEPS[0][1]))).kernels.map((k) => k.name);
    const composed = ['Multiply', 'Add', 'Multiply', 'Add', 'Multiply', 'Sub'];
    expect(await kernels()).toEqual(backend === 'cpu' ? ['S3NSGDMomentum'] : composed);
    tf.env().set(FUSED_KERNELS_FLAG, false);
    try {
      expect(await kernels()).toEqual(composed);
    } finally {
      tf.env().set(FUSED_KERNELS_FLAG, true);
    }
    tf.dispose([w, v, g]);
  });

  it('leaks no tensor', async () => {
    const [w, v, g] = [1, 2, 3].map((seed) => uniform([64], -1, 1, seed));
    await expectNoLeak(() => tf.dispose(sgdMomentumStep(w, v, g, STEPS[0][1])));
    tf.dispose([w, v, g]);
  });
});
