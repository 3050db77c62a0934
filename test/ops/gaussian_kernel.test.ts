import * as tf from '@tensorflow/tfjs-core';
// Registers the gradients of the core kernels whatever build of tfjs-core gets resolved.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';

import { gaussianKernel } from '../../src/ops/gaussian_kernel';
import { entry, goldenTensor, loadGolden } from '../helpers/golden';
import { checkGradients, expectClose, expectNoLeak, uniform } from '../helpers/numeric';
import { addKernels, expectPortableKernels, onBackend, TEST_BACKENDS } from '../helpers/backends';

const SIZE = 31;

interface KernelCase {
  theta: number;
  offset: [number, number] | null;
}

/** Golden parity, one `kernel_generate` call per case; returns the worst errors. */
function checkGoldenPerCase(): { kernel: number; gradRel: number } {
  const c = loadGolden('kernel_generate');
  const cases = c.params.cases as KernelCase[];
  const theta = entry(c, 'theta').data;
  const kernels = goldenTensor(c, 'kernel');
  const w = goldenTensor(c, 'w');
  const gradTheta = entry(c, 'grad_theta').data;
  let worstKernel = 0;
  let worstGrad = 0;
  cases.forEach((kc, k) => {
    // Case 6 was called with offset=None: use the default here too.
    const offset = kc.offset === null ? undefined : (kc.offset as [number, number]);
    const t = tf.tensor1d([theta[k]]);
    const expected = tf.tidy(() => tf.squeeze(tf.slice(kernels, [k, 0, 0], [1, SIZE, SIZE]), [0]));
    const wk = tf.tidy(() => tf.squeeze(tf.slice(w, [k, 0, 0], [1, SIZE, SIZE]), [0]));
    const kernel = gaussianKernel(t, SIZE, offset);
    expect(kernel.shape).toEqual([SIZE, SIZE]);
    worstKernel = Math.max(worstKernel, expectClose(kernel, expected, { atol: 1e-6 }));
    const [g] = tf.grads((x: tf.Tensor) => tf.sum(tf.mul(gaussianKernel(x, SIZE, offset), wk)))([t]);
    const got = g.dataSync()[0];
    worstGrad = Math.max(worstGrad, Math.abs(got - gradTheta[k]) / Math.abs(gradTheta[k]));
    expectClose([got], [gradTheta[k]], { rtol: 1e-4 });
    tf.dispose([t, expected, wk, kernel, g]);
  });
  tf.dispose([kernels, w]);
  return { kernel: worstKernel, gradRel: worstGrad };
}

/** All seven cases in one batched call: theta [7], offset [7, 2] (int32, case 6 stored as (15, 15)). */
function checkGoldenBatched(): void {
  const c = loadGolden('kernel_generate');
  const theta = goldenTensor(c, 'theta');
  const offset = goldenTensor(c, 'offset_xy');
  const w = goldenTensor(c, 'w');
  const kernel = gaussianKernel(theta, SIZE, offset);
  expect(kernel.shape).toEqual([7, SIZE, SIZE]);
  const expected = goldenTensor(c, 'kernel');
  expectClose(kernel, expected, { atol: 1e-6 });
  const [g] = tf.grads((x: tf.Tensor) => tf.sum(tf.mul(gaussianKernel(x, SIZE, offset), w)))([theta]);
  const expectedGrad = goldenTensor(c, 'grad_theta');
  expectClose(g, expectedGrad, { rtol: 1e-4 });
  tf.dispose([theta, offset, w, kernel, expected, g, expectedGrad]);
}

describe.each(TEST_BACKENDS)('gaussianKernel on the %s backend', (backend) => {
  onBackend(backend);

  describe("matches the authors' kernel_generate (golden)", () => {
    test('each case on its own: kernel atol 1e-6, grad_theta rtol 1e-4 (case 6 with the default offset)', () => {
      const err = checkGoldenPerCase();
      expect(err.kernel).toBeLessThanOrEqual(1e-6);
      expect(err.gradRel).toBeLessThanOrEqual(1e-4);
    });

    test('all cases batched: theta [7] with an int32 offset [7, 2]', () => {
      checkGoldenBatched();
    });

    test('a number theta and a float32 offset tensor give the same kernel', () => {
      const c = loadGolden('kernel_generate');
      const expected = tf.tidy(() => tf.squeeze(tf.slice(goldenTensor(c, 'kernel'), [1, 0, 0], [1, SIZE, SIZE]), [0]));
      const theta1 = entry(c, 'theta').data[1];
      const a = gaussianKernel(theta1, SIZE, [0, 0]);
      const off = tf.tensor1d([0, 0]);
      const b = gaussianKernel(theta1, SIZE, off);
      expectClose(a, expected, { atol: 1e-6 });
      expectClose(b, expected, { atol: 1e-6 });
      tf.dispose([expected, a, off, b]);
    });
  });

  describe('values and shapes', () => {
    test('closed form, peak 1 at the offset, (x, y) = (column, row), fractional offsets', () => {
      const k = gaussianKernel(0.1, 9, [2.5, 6]);
      const d = k.dataSync();
      const s2 = (9 * 0.1) ** 2;
      for (let i = 0; i < 9; i++) {
        for (let j = 0; j < 9; j++) {
          expect(d[i * 9 + j]).toBeCloseTo(Math.exp(-((j - 2.5) ** 2 + (i - 6) ** 2) / (2 * s2)), 6);
        }
      }
      const peak = gaussianKernel(0.2, 7, [1, 5]);
      expect(peak.dataSync()[5 * 7 + 1]).toBe(1);
      tf.dispose([k, peak]);
    });

    test('the default offset is (floor(size/2), floor(size/2))', () => {
      for (const size of [1, 4, 7]) {
        const c = Math.floor(size / 2);
        const a = gaussianKernel(0.3, size);
        const b = gaussianKernel(0.3, size, [c, c]);
        expectClose(a, b, { atol: 0 });
        tf.dispose([a, b]);
      }
      const one = gaussianKernel(0.5, 1);
      expect(one.shape).toEqual([1, 1]);
      expect(Array.from(one.dataSync())).toEqual([1]);
      one.dispose();
    });

    test('shapes: scalar, [1], [N] theta; pair, [2], [N, 2] offset; broadcasting', () => {
      const scalar = tf.scalar(0.1);
      const one = tf.tensor1d([0.1]);
      const three = tf.tensor1d([0.1, 0.2, 0.3]);
      const offsets = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
      const offset1 = tf.tensor2d([[1, 2]]);
      const shapeOf = (t: number | tf.Tensor, o?: [number, number] | tf.Tensor) => {
        const k = gaussianKernel(t, 8, o);
        const s = k.shape;
        k.dispose();
        return s;
      };
      expect(shapeOf(scalar, [1, 2])).toEqual([8, 8]);
      expect(shapeOf(one, [1, 2])).toEqual([8, 8]);
      expect(shapeOf(one)).toEqual([8, 8]);
      expect(shapeOf(one, offset1)).toEqual([1, 8, 8]);
      expect(shapeOf(three)).toEqual([3, 8, 8]);
      expect(shapeOf(three, [1, 2])).toEqual([3, 8, 8]);
      expect(shapeOf(three, offsets)).toEqual([3, 8, 8]);
      expect(shapeOf(0.1, offsets)).toEqual([3, 8, 8]);
      expect(shapeOf(one, offsets)).toEqual([3, 8, 8]);

      // Each batched kernel equals the unbatched call.
      const batched = gaussianKernel(three, 8, offsets);
      const bd = batched.dataSync();
      [0.1, 0.2, 0.3].forEach((t, k) => {
        const single = gaussianKernel(Math.fround(t), 8, [2 * k + 1, 2 * k + 2]);
        expectClose(bd.slice(k * 64, (k + 1) * 64), single.dataSync(), { atol: 0 });
        single.dispose();
      });
      // A single theta broadcast over the offsets, and a single offset over the thetas.
      const sharedTheta = gaussianKernel(0.2, 8, offsets);
      const sharedOffset = gaussianKernel(three, 8, [3, 4]);
      const sd = sharedTheta.dataSync();
      const od = sharedOffset.dataSync();
      for (let k = 0; k < 3; k++) {
        const a = gaussianKernel(0.2, 8, [2 * k + 1, 2 * k + 2]);
        const b = gaussianKernel(three.dataSync()[k], 8, [3, 4]);
        expectClose(sd.slice(k * 64, (k + 1) * 64), a.dataSync(), { atol: 0 });
        expectClose(od.slice(k * 64, (k + 1) * 64), b.dataSync(), { atol: 0 });
        tf.dispose([a, b]);
      }
      tf.dispose([scalar, one, three, offsets, offset1, batched, sharedTheta, sharedOffset]);
    });

    test('a tensor theta of 0 gives a finite kernel (1 at the offset, 0 elsewhere) and a finite gradient', () => {
      const t = tf.tensor1d([0, 0.1]);
      const offsets = tf.tensor2d([[2, 3], [2, 3]]);
      const k = gaussianKernel(t, 5, offsets);
      const d = k.dataSync();
      expect(d.every(Number.isFinite)).toBe(true);
      for (let i = 0; i < 25; i++) expect(d[i]).toBe(i === 3 * 5 + 2 ? 1 : 0);
      const [g] = tf.grads((x: tf.Tensor) => tf.sum(gaussianKernel(x, 5, offsets)))([t]);
      const gd = g.dataSync();
      expect(gd[0] === 0).toBe(true);
      expect(Number.isFinite(gd[1]) && gd[1] > 0).toBe(true);
      tf.dispose([t, offsets, k, g]);
    });
  });

  describe('gradients', () => {
    test('theta: central differences (batched, several offsets)', () => {
      const theta = tf.tensor1d([0.05, 0.09, 0.15, 0.3]);
      const offsets = tf.tensor2d([[3, 4], [0, 0], [10.5, 2], [7, 7]]);
      const err = checkGradients((t) => gaussianKernel(t, 15, offsets), [theta], { eps: 1e-3, atol: 2e-3, rtol: 2e-3 });
      expect(err).toBeLessThan(2e-2);
      tf.dispose([theta, offsets]);
    });

    test('float32 offset: central differences (plain ops, so offsets are differentiable too)', () => {
      const theta = tf.tensor1d([0.1, 0.2]);
      const offsets = tf.tensor2d([[3.3, 4.1], [6.2, 1.7]]);
      checkGradients((o) => gaussianKernel(theta, 11, o), [offsets], { eps: 1e-3, atol: 2e-3, rtol: 2e-3 });
      tf.dispose([theta, offsets]);
    });

    test('d/dtheta matches the closed form k * d^2 / (size^2 theta^3)', () => {
      const t = tf.tensor1d([0.12]);
      const w = uniform([SIZE, SIZE], -1, 1, 3);
      const [g] = tf.grads((x: tf.Tensor) => tf.sum(tf.mul(gaussianKernel(x, SIZE, [4, 20]), w)))([t]);
      const th = Math.fround(0.12);
      const wd = w.dataSync();
      let expected = 0;
      for (let i = 0; i < SIZE; i++) {
        for (let j = 0; j < SIZE; j++) {
          const d2 = (j - 4) ** 2 + (i - 20) ** 2;
          expected += wd[i * SIZE + j] * Math.exp(-d2 / (2 * (SIZE * th) ** 2)) * (d2 / (SIZE ** 2 * th ** 3));
        }
      }
      expectClose([g.dataSync()[0]], [expected], { rtol: 1e-4 });
      tf.dispose([t, w, g]);
    });
  });

  describe('validation', () => {
    test.each([0, -0.1, NaN, Infinity])('non-positive or non-finite number theta (%p)', (theta) => {
      expect(() => gaussianKernel(theta, 31)).toThrow(`gaussianKernel: theta must be a finite number > 0, but got ${theta}.`);
    });

    test('theta tensor shape and dtype', () => {
      const square = tf.zeros([2, 2]);
      expect(() => gaussianKernel(square, 31)).toThrow(
        'gaussianKernel: theta must be a finite number > 0, a float32 tensor with one element, or a float32 tensor of shape [N], but got shape [2,2].',
      );
      const ints = tf.tensor1d([1], 'int32');
      expect(() => gaussianKernel(ints, 31)).toThrow('gaussianKernel: theta must be a float32 tensor, but got dtype int32.');
      tf.dispose([square, ints]);
    });

    test.each([0, 2.5, -3, NaN])('bad size (%p)', (size) => {
      expect(() => gaussianKernel(0.1, size)).toThrow(`gaussianKernel: size must be an integer >= 1, but got ${size}.`);
    });

    test('bad offsets', () => {
      const expected = 'gaussianKernel: offset must be an [x, y] pair of finite numbers, a tensor of shape [2] or a tensor of shape [N, 2]';
      expect(() => gaussianKernel(0.1, 31, [1] as unknown as [number, number])).toThrow(`${expected}, but got [1].`);
      expect(() => gaussianKernel(0.1, 31, [1, NaN])).toThrow(`${expected}, but got [1,NaN].`);
      const three = tf.zeros([3]);
      expect(() => gaussianKernel(0.1, 31, three)).toThrow(`${expected}, but got shape [3].`);
      const wide = tf.zeros([4, 3]);
      expect(() => gaussianKernel(0.1, 31, wide)).toThrow(`${expected}, but got shape [4,3].`);
      const theta = tf.ones([3]);
      const offsets = tf.zeros([4, 2]);
      expect(() => gaussianKernel(theta, 31, offsets)).toThrow(
        'gaussianKernel: offset must be of shape [3, 2] (one row per theta) or [2], but got shape [4,2].',
      );
      tf.dispose([three, wide, theta, offsets]);
    });
  });

  describe('memory and kernels', () => {
    test('no leaked tensors, forward and with gradients', async () => {
      const theta = tf.tensor1d([0.1, 0.2]);
      const offsets = tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32');
      await expectNoLeak(() => gaussianKernel(0.1, 31));
      await expectNoLeak(() => gaussianKernel(theta, 31, offsets));
      await expectNoLeak(() => tf.grads((t: tf.Tensor) => tf.sum(gaussianKernel(t, 31, offsets)))([theta]));
      tf.dispose([theta, offsets]);
    });

    if (backend === 'cpu') {
      // The kernels gaussianKernel dispatches do not depend on the backend it runs on.
      test('only kernels that the wasm and tensorflow (tfjs-node) backends have', async () => {
        const theta = tf.tensor1d([0.1, 0.2]);
        const offsets = tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32');
        const info = await tf.profile(() => [
          gaussianKernel(0.1, 31, [3, 4]),
          ...tf.grads((t: tf.Tensor) => tf.sum(gaussianKernel(t, 31, offsets)))([theta]),
        ]);
        const used = new Set<string>();
        addKernels(used, info);
        tf.dispose(info.result as tf.Tensor[]);
        expectPortableKernels(used);
        tf.dispose([theta, offsets]);
      });
    }
  });
});
