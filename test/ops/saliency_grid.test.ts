import * as tf from '@tensorflow/tfjs-core';
// Registers the gradients of the core kernels whatever build of tfjs-core gets resolved.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';

import { saliencyFilter, saliencyGrid, SaliencyGridOptions } from '../../src/ops/saliency_grid';
import { goldenTensor, loadGolden } from '../helpers/golden';
import { checkGradients, expectClose, expectNoLeak, rng, uniform } from '../helpers/numeric';
import { addKernels, expectPortableKernels, onBackend, TEST_BACKENDS } from '../helpers/backends';

/**
 * Host float64 reference of the authors' create_grid on ReplicationPad2d(p)(saliency), written
 * directly from its definition (padded map, valid correlation, P_basis, clamp, bilinear
 * resize with align_corners=True). `filter` is `[k, k]` row-major, k = 2p+1.
 */
function referenceGrid(sal: ArrayLike<number>, shape: number[], p: number, filter: ArrayLike<number>, out: [number, number]): Float64Array {
  const [n, sh, sw] = shape;
  const k = 2 * p + 1;
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const coarse = new Float64Array(n * sh * sw * 2);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < sh; i++) {
      for (let j = 0; j < sw; j++) {
        let den = 0;
        let nx = 0;
        let ny = 0;
        for (let a = 0; a < k; a++) {
          for (let c = 0; c < k; c++) {
            const v = sal[(b * sh + clamp(i + a - p, 0, sh - 1)) * sw + clamp(j + c - p, 0, sw - 1)];
            const wv = filter[a * k + c] * v;
            den += wv;
            nx += (wv * (j + c - p)) / (sw - 1);
            ny += (wv * (i + a - p)) / (sh - 1);
          }
        }
        const o = ((b * sh + i) * sw + j) * 2;
        coarse[o] = clamp((2 * nx) / den - 1, -1, 1);
        coarse[o + 1] = clamp((2 * ny) / den - 1, -1, 1);
      }
    }
  }
  const [oh, ow] = out;
  const result = new Float64Array(n * oh * ow * 2);
  const taps = (o: number, outSize: number, inSize: number): [number, number, number] => {
    const src = outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0;
    const i0 = Math.min(Math.floor(src), inSize - 1);
    return [i0, Math.min(i0 + 1, inSize - 1), src - i0];
  };
  for (let b = 0; b < n; b++) {
    for (let oi = 0; oi < oh; oi++) {
      const [i0, i1, fy] = taps(oi, oh, sh);
      for (let oj = 0; oj < ow; oj++) {
        const [j0, j1, fx] = taps(oj, ow, sw);
        for (let ch = 0; ch < 2; ch++) {
          const at = (i: number, j: number) => coarse[((b * sh + i) * sw + j) * 2 + ch];
          const top = at(i0, j0) * (1 - fx) + at(i0, j1) * fx;
          const bottom = at(i1, j0) * (1 - fx) + at(i1, j1) * fx;
          result[((b * oh + oi) * ow + oj) * 2 + ch] = top * (1 - fy) + bottom * fy;
        }
      }
    }
  }
  return result;
}

/** makeGaussian(k, fwhm) in float64, row-major. */
function gaussian(k: number, fwhm: number): Float64Array {
  const c = Math.floor(k / 2);
  return Float64Array.from({ length: k * k }, (_, idx) => Math.exp((-4 * Math.log(2) * ((idx % k) - c) ** 2 + -4 * Math.log(2) * (Math.floor(idx / k) - c) ** 2) / fwhm ** 2));
}

/**
 * A positive saliency with a central bump of width ~`spread` (so border points are pulled
 * inwards and nothing clamps: a near-uniform map puts the border exactly on the clamp).
 */
function bumpSaliency(n: number, sh: number, sw: number, seed: number, base = 0.5, spread = 2): tf.Tensor3D {
  const r = rng(seed);
  const data = new Float32Array(n * sh * sw);
  for (let b = 0; b < n; b++) {
    const ci = (sh - 1) / 2 + (r() - 0.5);
    const cj = (sw - 1) / 2 + (r() - 0.5);
    for (let i = 0; i < sh; i++) {
      for (let j = 0; j < sw; j++) {
        data[(b * sh + i) * sw + j] = base + Math.exp(-((i - ci) ** 2 + (j - cj) ** 2) / (2 * spread ** 2)) + 0.05 * r();
      }
    }
  }
  return tf.tensor3d(data, [n, sh, sw]);
}

/** Golden create_grid parity for one path; returns the worst absolute errors. */
function checkGolden(filter?: tf.Tensor2D): { grid: number; coarse: number; grad: number } {
  const c = loadGolden('create_grid');
  const saliency = tf.tidy(() => tf.squeeze(goldenTensor(c, 'saliency'), [1])) as tf.Tensor3D; // NCHW [3,1,31,31]
  const w = goldenTensor(c, 'w');
  const options: SaliencyGridOptions = { outputSize: 64, filter };
  const grid = saliencyGrid(saliency, options);
  const gridPair = saliencyGrid(saliency, { ...options, outputSize: [64, 64] });
  const coarse = saliencyGrid(saliency, { ...options, outputSize: 31 });
  const expectedGrid = goldenTensor(c, 'grid');
  const expectedCoarse = goldenTensor(c, 'grid_coarse31');
  const errGrid = expectClose(grid, expectedGrid, { atol: 3e-5 });
  expectClose(gridPair, grid, { atol: 0 });
  const errCoarse = expectClose(coarse, expectedCoarse, { atol: 3e-5 });
  const [g] = tf.grads((s: tf.Tensor) => tf.sum(tf.mul(saliencyGrid(s as tf.Tensor3D, options), w)))([saliency]);
  const expectedGrad = tf.tidy(() => tf.squeeze(goldenTensor(c, 'grad_saliency'), [1]));
  const errGrad = expectClose(g, expectedGrad, { atol: 2e-4 });
  tf.dispose([saliency, w, grid, gridPair, coarse, expectedGrid, expectedCoarse, g, expectedGrad]);
  return { grid: errGrid, coarse: errCoarse, grad: errGrad };
}

/** Forward and saliency/filter gradients of sum(grid * w) on the current backend, as arrays. */
function gradsOnBackend(): { grid: Float32Array; dSaliency: Float32Array; dFilter: Float32Array } {
  const saliency = bumpSaliency(2, 7, 10, 31);
  const filter = tf.tidy(() => tf.add(saliencyFilter(9, 3), uniform([9, 9], 0, 0.2, 32))) as tf.Tensor2D;
  const w = uniform([2, 11, 13, 2], -1, 1, 33);
  const f = (s: tf.Tensor, k: tf.Tensor) => saliencyGrid(s as tf.Tensor3D, { outputSize: [11, 13], paddingSize: 4, filter: k as tf.Tensor2D });
  const grid = f(saliency, filter);
  const [ds, dk] = tf.grads((s: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(f(s, k), w)))([saliency, filter]);
  const out = { grid: grid.dataSync() as Float32Array, dSaliency: ds.dataSync() as Float32Array, dFilter: dk.dataSync() as Float32Array };
  tf.dispose([saliency, filter, w, grid, ds, dk]);
  return out;
}

describe.each(TEST_BACKENDS)('saliencyFilter on the %s backend', (backend) => {
  onBackend(backend);

  test("matches the authors' makeGaussian(61, fwhm=13) (golden, atol 1e-7)", () => {
    const c = loadGolden('make_gaussian');
    const g = saliencyFilter(61, 13);
    const expected = goldenTensor(c, 'gaussian');
    const err = expectClose(g, expected, { atol: 1e-7 });
    expect(err).toBeLessThanOrEqual(1e-7);
    expect(g.dataSync()[30 * 61 + 30]).toBe(1);
    tf.dispose([g, expected]);
  });

  test('closed form, even sizes centred at floor(size/2)', () => {
    const g = saliencyFilter(4, 2.5);
    expectClose(g, gaussian(4, 2.5), { atol: 1e-7 });
    expect(g.dataSync()[2 * 4 + 2]).toBe(1);
    g.dispose();
  });

  test('validation', () => {
    expect(() => saliencyFilter(0, 13)).toThrow('saliencyFilter: size must be an integer >= 1, but got 0.');
    expect(() => saliencyFilter(61, 0)).toThrow('saliencyFilter: fwhm must be a finite number > 0, but got 0.');
  });
});

describe.each(TEST_BACKENDS)('saliencyGrid on the %s backend', (backend) => {
  onBackend(backend);

  describe("matches the authors' create_grid (golden)", () => {
    test('default separable filter: grid (atol 3e-5), grid_coarse31 (outputSize 31), grad_saliency (atol 2e-4)', () => {
      const err = checkGolden();
      expect(err.grid).toBeLessThanOrEqual(3e-5);
      expect(err.coarse).toBeLessThanOrEqual(3e-5);
      expect(err.grad).toBeLessThanOrEqual(2e-4);
    });

    test('full-filter path with filter = saliencyFilter(61, 13): same tolerances', () => {
      const filter = saliencyFilter(61, 13);
      const err = checkGolden(filter);
      expect(err.grid).toBeLessThanOrEqual(3e-5);
      expect(err.coarse).toBeLessThanOrEqual(3e-5);
      expect(err.grad).toBeLessThanOrEqual(2e-4);
      filter.dispose();
    });

    test('the full-filter path agrees with the separable path (values and saliency gradients)', () => {
      const saliency = uniform([3, 31, 31], 0.09, 1.5, 41) as tf.Tensor3D;
      const filter = saliencyFilter(61, 13);
      const w = uniform([3, 48, 48, 2], -1, 1, 42);
      const sep = saliencyGrid(saliency, { outputSize: 48 });
      const full = saliencyGrid(saliency, { outputSize: 48, filter });
      expectClose(full, sep, { atol: 1e-5 });
      const [gs] = tf.grads((s: tf.Tensor) => tf.sum(tf.mul(saliencyGrid(s as tf.Tensor3D, { outputSize: 48 }), w)))([saliency]);
      const [gf] = tf.grads((s: tf.Tensor) => tf.sum(tf.mul(saliencyGrid(s as tf.Tensor3D, { outputSize: 48, filter }), w)))([saliency]);
      expectClose(gf, gs, { atol: 1e-4 });
      tf.dispose([saliency, filter, w, sep, full, gs, gf]);
    });
  });

  describe('values', () => {
    test('uniform saliency gives the identity grid (S3N size, and non-square with resizing)', () => {
      const c = loadGolden('create_grid');
      const identity = (h: number, w: number) =>
        Float64Array.from({ length: h * w * 2 }, (_, idx) => {
          const p = Math.floor(idx / 2);
          return idx % 2 === 0 ? (2 * (p % w)) / (w - 1) - 1 : (2 * Math.floor(p / w)) / (h - 1) - 1;
        });
      const constant = tf.fill([2, 31, 31], 0.09) as tf.Tensor3D;
      const g31 = saliencyGrid(constant, { outputSize: 31 });
      expectClose(g31, Float64Array.from([...identity(31, 31), ...identity(31, 31)]), { atol: 1e-6 });
      // Golden sample 2 is constant 0.09.
      // (The float32 reference itself is 6.7e-6 off at the border.)
      const golden = tf.tidy(() => tf.slice(goldenTensor(c, 'grid_coarse31'), [2, 0, 0, 0], [1, 31, 31, 2]));
      expectClose(golden, identity(31, 31), { atol: 1e-5 });
      const odd = tf.fill([1, 6, 9], 3.5) as tf.Tensor3D;
      for (const filter of [undefined, saliencyFilter(7, 2)]) {
        const g = saliencyGrid(odd, { outputSize: [10, 17], paddingSize: 3, fwhm: 2, filter });
        expectClose(g, identity(10, 17), { atol: 2e-6 });
        tf.dispose([g, filter as tf.Tensor]);
      }
      tf.dispose([constant, g31, golden, odd]);
    });

    test('non-square maps, other padding and fwhm, both paths: host float64 reference', () => {
      const shape = [2, 6, 9];
      const saliency = uniform(shape, 0.1, 2, 51) as tf.Tensor3D;
      const s = saliency.dataSync();
      const sep = saliencyGrid(saliency, { outputSize: [8, 13], paddingSize: 3, fwhm: 2.5 });
      expectClose(sep, referenceGrid(s, shape, 3, gaussian(7, 2.5), [8, 13]), { atol: 1e-5 });
      const filter = uniform([7, 7], 0.2, 1, 52) as tf.Tensor2D;
      const full = saliencyGrid(saliency, { outputSize: [8, 13], paddingSize: 3, filter });
      expectClose(full, referenceGrid(s, shape, 3, filter.dataSync(), [8, 13]), { atol: 1e-5 });
      // paddingSize 0: a 1x1 filter, the identity grid for any saliency.
      const none = saliencyGrid(saliency, { outputSize: [6, 9], paddingSize: 0 });
      expectClose(none, referenceGrid(s, shape, 0, [1], [6, 9]), { atol: 1e-6 });
      // A padding wider than the map.
      const wide = saliencyGrid(saliency, { outputSize: [3, 4], paddingSize: 12, fwhm: 9 });
      expectClose(wide, referenceGrid(s, shape, 12, gaussian(25, 9), [3, 4]), { atol: 1e-5 });
      tf.dispose([saliency, sep, filter, full, none, wide]);
    });

    test('downsampling and a 1-pixel output follow align_corners=True too', () => {
      const shape = [1, 8, 8];
      const saliency = uniform(shape, 0.1, 2, 53) as tf.Tensor3D;
      for (const out of [[3, 5], [1, 1]] as [number, number][]) {
        const g = saliencyGrid(saliency, { outputSize: out, paddingSize: 2, fwhm: 3 });
        expectClose(g, referenceGrid(saliency.dataSync(), shape, 2, gaussian(5, 3), out), { atol: 1e-5 });
        g.dispose();
      }
      saliency.dispose();
    });
  });

  describe('gradients', () => {
    test('saliency, default filter: central differences (non-square, resized, nothing clamped)', () => {
      const saliency = bumpSaliency(2, 7, 10, 61);
      const options: SaliencyGridOptions = { outputSize: [11, 13], paddingSize: 4, fwhm: 3 };
      const coarse = saliencyGrid(saliency, { ...options, outputSize: [7, 10] });
      expect(Math.max(...Array.from(coarse.dataSync(), Math.abs))).toBeLessThan(1 - 1e-3);
      checkGradients((s) => saliencyGrid(s as tf.Tensor3D, options), [saliency], { eps: 1e-2, atol: 1e-3, rtol: 1e-2, probes: 24 });
      tf.dispose([saliency, coarse]);
    });

    test('S3N size (31x31, padding 30; output 64): central differences', () => {
      const saliency = bumpSaliency(1, 31, 31, 62, 0.1, 6);
      const coarse = saliencyGrid(saliency, { outputSize: 31 });
      expect(Math.max(...Array.from(coarse.dataSync(), Math.abs))).toBeLessThan(1 - 1e-3);
      coarse.dispose();
      checkGradients((s) => saliencyGrid(s as tf.Tensor3D, { outputSize: 64 }), [saliency], { eps: 1e-2, atol: 1e-3, rtol: 1e-2, probes: 12 });
      saliency.dispose();
    });

    test('full-filter path: saliency and filter, central differences', () => {
      const saliency = bumpSaliency(2, 7, 10, 63);
      const filter = tf.tidy(() => tf.add(saliencyFilter(9, 3), uniform([9, 9], 0, 0.2, 64))) as tf.Tensor2D;
      checkGradients(
        (s, k) => saliencyGrid(s as tf.Tensor3D, { outputSize: [11, 13], paddingSize: 4, filter: k as tf.Tensor2D }),
        [saliency, filter],
        { eps: 1e-2, atol: 1e-3, rtol: 1e-2, probes: 24 },
      );
      tf.dispose([saliency, filter]);
    });

    test('clamped points pass no gradient', () => {
      // Heavy left column: column 0 pulls its x below -1, so it is clamped to exactly -1.
      const data = new Float32Array(1 * 7 * 7).fill(0.1);
      for (let i = 0; i < 7; i++) data[i * 7] = 50;
      const saliency = tf.tensor3d(data, [1, 7, 7]);
      const options: SaliencyGridOptions = { outputSize: 7, paddingSize: 3, fwhm: 3 };
      const grid = saliencyGrid(saliency, options);
      const gd = grid.dataSync();
      const wData = new Float32Array(7 * 7 * 2);
      for (let i = 0; i < 7; i++) {
        expect(gd[(i * 7) * 2]).toBe(-1);
        wData[(i * 7) * 2] = 1;
      }
      const w = tf.tensor4d(wData, [1, 7, 7, 2]);
      const [g] = tf.grads((s: tf.Tensor) => tf.sum(tf.mul(saliencyGrid(s as tf.Tensor3D, options), w)))([saliency]);
      expect(Array.from(g.dataSync()).every((v) => v === 0)).toBe(true);
      tf.dispose([saliency, grid, w, g]);
    });
  });

  describe('validation', () => {
    let saliency: tf.Tensor3D;
    beforeAll(() => {
      saliency = tf.ones([1, 31, 31]) as tf.Tensor3D;
    });
    afterAll(() => saliency.dispose());

    test('rank and size of saliency', () => {
      const four = tf.ones([1, 1, 31, 31]);
      expect(() => saliencyGrid(four as unknown as tf.Tensor3D, { outputSize: 64 })).toThrow(
        'saliencyGrid: saliency must be a tensor of rank 3 [batch, height, width], but got rank 4 (shape [1,1,31,31]).',
      );
      const thin = tf.ones([1, 1, 31]) as tf.Tensor3D;
      expect(() => saliencyGrid(thin, { outputSize: 64 })).toThrow(
        'saliencyGrid: saliency must be a map of height and width >= 2, but got shape [1,1,31].',
      );
      tf.dispose([four, thin]);
    });

    test.each([0, 2.5, -3, [64], [64, 0], '64'])('bad outputSize %p', (outputSize) => {
      const given = Array.isArray(outputSize) ? `[${outputSize.join(',')}]` : typeof outputSize === 'string' ? `'${outputSize}'` : String(outputSize);
      expect(() => saliencyGrid(saliency, { outputSize: outputSize as number })).toThrow(
        `saliencyGrid: options.outputSize must be a positive integer or a [height, width] pair of positive integers, but got ${given}.`,
      );
    });

    test('bad paddingSize, fwhm, filter', () => {
      expect(() => saliencyGrid(saliency, { outputSize: 64, paddingSize: -1 })).toThrow(
        'saliencyGrid: options.paddingSize must be an integer >= 0, but got -1.',
      );
      expect(() => saliencyGrid(saliency, { outputSize: 64, fwhm: 0 })).toThrow('saliencyGrid: options.fwhm must be a finite number > 0, but got 0.');
      const small = tf.ones([31, 31]) as tf.Tensor2D;
      expect(() => saliencyGrid(saliency, { outputSize: 64, filter: small })).toThrow(
        'saliencyGrid: options.filter must be of shape [61,61] (2*paddingSize+1 square), but got shape [31,31].',
      );
      const flat = tf.ones([61]);
      expect(() => saliencyGrid(saliency, { outputSize: 64, filter: flat as unknown as tf.Tensor2D })).toThrow(
        'saliencyGrid: options.filter must be a tensor of rank 2 [61, 61] (2*paddingSize+1 square), but got rank 1 (shape [61]).',
      );
      tf.dispose([small, flat]);
    });
  });

  describe('memory and kernels', () => {
    test('no leaked tensors, forward and with gradients, both paths', async () => {
      const saliency = bumpSaliency(2, 9, 9, 71);
      const filter = saliencyFilter(9, 3);
      await expectNoLeak(() => saliencyGrid(saliency, { outputSize: 16, paddingSize: 4 }));
      await expectNoLeak(() => saliencyGrid(saliency, { outputSize: 16, paddingSize: 4, filter }));
      await expectNoLeak(() => tf.grads((s: tf.Tensor) => tf.sum(saliencyGrid(s as tf.Tensor3D, { outputSize: 16, paddingSize: 4 })))([saliency]));
      await expectNoLeak(() =>
        tf.grads((s: tf.Tensor, k: tf.Tensor) => tf.sum(saliencyGrid(s as tf.Tensor3D, { outputSize: 16, paddingSize: 4, filter: k as tf.Tensor2D })))([
          saliency,
          filter,
        ]),
      );
      tf.dispose([saliency, filter]);
    });

    if (backend === 'cpu') {
      // The kernels saliencyGrid dispatches do not depend on the backend it runs on.
      test('only kernels that the wasm and tensorflow (tfjs-node) backends have', async () => {
        const saliency = bumpSaliency(2, 9, 9, 72);
        const filter = saliencyFilter(9, 3);
        const info = await tf.profile(() => [
          ...tf.grads((s: tf.Tensor) => tf.sum(saliencyGrid(s as tf.Tensor3D, { outputSize: 16, paddingSize: 4 })))([saliency]),
          ...tf.grads((s: tf.Tensor, k: tf.Tensor) => tf.sum(saliencyGrid(s as tf.Tensor3D, { outputSize: 16, paddingSize: 4, filter: k as tf.Tensor2D })))([
            saliency,
            filter,
          ]),
        ]);
        const used = new Set<string>();
        addKernels(used, info);
        tf.dispose(info.result as tf.Tensor[]);
        expect(used.has('ResizeBilinearGrad') && used.has('BatchMatMul')).toBe(true);
        expectPortableKernels(used);
        tf.dispose([saliency, filter]);
      });
    }
  });

  if (backend === 'wasm') {
    test('non-square, learnable filter: values and gradients agree with the cpu backend', async () => {
      const onWasm = gradsOnBackend();
      await tf.setBackend('cpu');
      const onCpu = gradsOnBackend();
      await tf.setBackend('wasm');
      expectClose(onWasm.grid, onCpu.grid, { atol: 1e-5 });
      expectClose(onWasm.dSaliency, onCpu.dSaliency, { atol: 1e-4, rtol: 1e-4 });
      expectClose(onWasm.dFilter, onCpu.dFilter, { atol: 1e-4, rtol: 1e-4 });
    });
  }
});
