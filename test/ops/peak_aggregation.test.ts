import * as tf from '@tensorflow/tfjs-core';
// Registers the gradients of the core kernels whatever build of tfjs-core gets resolved.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';

import { findPeaks, PeakFilter } from '../../src/ops/find_peaks';
import { peakAggregation } from '../../src/ops/peak_aggregation';
import { goldenNHWC, goldenTensor, loadGolden } from '../helpers/golden';
import { expectClose, expectNoLeak, rng, uniform } from '../helpers/numeric';
import { addKernels, expectPortableKernels, onWasmBackend } from '../helpers/backends';

const GOLDEN = [
  { name: 'peak_stimulation__random', filter: 'mean' as PeakFilter },
  { name: 'peak_stimulation__plateau', filter: 'mean' as PeakFilter },
  { name: 'peak_stimulation__random_nofilter', filter: 'none' as PeakFilter },
];

/** A 0/1 NHWC mask with about `density` ones; channel `emptyChannel` has none. */
function randomMask(shape: [number, number, number, number], density: number, seed: number, emptyChannel = -1): tf.Tensor4D {
  const r = rng(seed);
  const c = shape[3];
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor4d(Float32Array.from({ length: size }, (_, i) => (i % c !== emptyChannel && r() < density ? 1 : 0)), shape);
}

/** Host-side `sum_hw(v m) / sum_hw(m)` (0 for an empty mask) and the authors' backward. */
function reference(v: ArrayLike<number>, m: ArrayLike<number>, dy: ArrayLike<number>, shape: number[]) {
  const [n, h, w, c] = shape;
  const out = new Float64Array(n * c);
  const count = new Float64Array(n * c);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < h * w; p++) {
      for (let ch = 0; ch < c; ch++) {
        const i = (b * h * w + p) * c + ch;
        if (m[i] !== 0) out[b * c + ch] += v[i] * m[i];
        count[b * c + ch] += m[i];
      }
    }
  }
  const grad = new Float64Array(n * h * w * c);
  for (let i = 0; i < grad.length; i++) {
    const k = Math.floor(i / (h * w * c)) * c + (i % c);
    grad[i] = (m[i] * dy[k]) / (count[k] + 1e-6);
  }
  return { value: Array.from(out, (s, k) => (count[k] === 0 ? 0 : s / count[k])), grad };
}

function checkGoldenCase(name: string, filter: PeakFilter): { agg: number; grad: number } {
  const c = loadGolden(name);
  const input = goldenNHWC(c, 'input');
  const w = goldenTensor(c, 'w');
  const goldenMask = tf.tidy(() => tf.cast(goldenNHWC(c, 'peak_map'), 'float32')) as tf.Tensor4D;
  const expectedAgg = goldenTensor(c, 'aggregation');
  const expectedGrad = goldenNHWC(c, 'grad_input');

  // With the golden mask, and with the mask found by findPeaks inside the differentiated function.
  const aggGolden = peakAggregation(input, goldenMask);
  const agg = tf.tidy(() => peakAggregation(input, findPeaks(input, { filter })));
  const errAgg = Math.max(expectClose(aggGolden, expectedAgg, { atol: 1e-6 }), expectClose(agg, expectedAgg, { atol: 1e-6 }));
  const [grad] = tf.grads((x: tf.Tensor) =>
    tf.sum(tf.mul(peakAggregation(x as tf.Tensor4D, findPeaks(x as tf.Tensor4D, { filter })), w)),
  )([input]);
  const [gradGoldenMask] = tf.grads((x: tf.Tensor) => tf.sum(tf.mul(peakAggregation(x as tf.Tensor4D, goldenMask), w)))([input]);
  const errGrad = Math.max(expectClose(grad, expectedGrad, { atol: 1e-7 }), expectClose(gradGoldenMask, expectedGrad, { atol: 1e-7 }));
  tf.dispose([input, w, goldenMask, expectedAgg, expectedGrad, aggGolden, agg, grad, gradGoldenMask]);
  return { agg: errAgg, grad: errGrad };
}

describe('peakAggregation', () => {
  describe('matches the authors peak_stimulation (golden)', () => {
    test.each(GOLDEN)('$name: aggregation (atol 1e-6) and custom backward grad_input (atol 1e-7)', ({ name, filter }) => {
      const err = checkGoldenCase(name, filter);
      expect(err.agg).toBeLessThanOrEqual(1e-6);
      expect(err.grad).toBeLessThanOrEqual(1e-7);
    });
  });

  describe('forward', () => {
    test('mean of the values under the mask, per (batch, channel)', () => {
      // [1, 2, 2, 2]: channel 0 = [1 2; 3 4], channel 1 = [10 20; 30 40]
      const v = tf.tensor4d([1, 10, 2, 20, 3, 30, 4, 40], [1, 2, 2, 2]);
      const m = tf.tensor4d([1, 0, 0, 1, 0, 1, 1, 1], [1, 2, 2, 2]);
      const out = peakAggregation(v, m);
      expect(out.shape).toEqual([1, 2]);
      expectClose(out, [(1 + 4) / 2, (20 + 30 + 40) / 3], { atol: 1e-6 });
      tf.dispose([v, m, out]);
    });

    test('random maps and masks against a host reference', () => {
      const shape: [number, number, number, number] = [3, 7, 5, 4];
      const v = uniform(shape, -2, 2, 1) as tf.Tensor4D;
      const m = randomMask(shape, 0.3, 2);
      const out = peakAggregation(v, m);
      const ref = reference(v.dataSync(), m.dataSync(), new Float32Array(12), shape);
      expectClose(out, ref.value, { atol: 1e-6 });
      tf.dispose([v, m, out]);
    });

    test('a channel without peaks gives 0, not NaN, and non-finite values off the mask are ignored', () => {
      const shape: [number, number, number, number] = [2, 4, 4, 3];
      const data = uniform(shape, -1, 1, 3).dataSync().slice();
      const m = randomMask(shape, 0.4, 4, 1);
      const md = m.dataSync();
      for (let i = 0; i < data.length; i++) if (md[i] === 0 && i % 5 === 0) data[i] = i % 2 ? NaN : Infinity;
      const v = tf.tensor4d(data, shape);
      const out = peakAggregation(v, m);
      const d = out.dataSync();
      expect(d.every(Number.isFinite)).toBe(true);
      expect(d[1]).toBe(0);
      expect(d[4]).toBe(0);
      tf.dispose([v, m, out]);
    });
  });

  describe('gradient', () => {
    test("is the authors' custom backward mask * dy / (count + 1e-6), with a finite zero for empty channels", () => {
      const shape: [number, number, number, number] = [3, 6, 5, 4];
      const v = uniform(shape, -2, 2, 5) as tf.Tensor4D;
      const m = randomMask(shape, 0.25, 6, 2);
      const dy = uniform([3, 4], -1, 1, 7);
      const [gv] = tf.grads((a: tf.Tensor) => peakAggregation(a as tf.Tensor4D, m))([v], dy);
      const ref = reference(v.dataSync(), m.dataSync(), dy.dataSync(), shape);
      expectClose(gv, ref.grad, { atol: 1e-7, rtol: 1e-6 });
      expect(Array.from(gv.dataSync()).every(Number.isFinite)).toBe(true);
      tf.dispose([v, m, dy, gv]);
    });

    test('no gradient reaches the mask: it is not connected to the output', () => {
      const v = uniform([1, 3, 3, 2], -1, 1, 13) as tf.Tensor4D;
      const m = randomMask([1, 3, 3, 2], 0.5, 14);
      expect(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(peakAggregation(a as tf.Tensor4D, b as tf.Tensor4D)))([v, m])).toThrow(
        /Cannot compute gradient of y=f\(x\) with respect to x/,
      );
      tf.dispose([v, m]);
    });

    test('differs from the true derivative m / count only by the 1e-6 in the count', () => {
      const v = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
      const m = tf.tensor4d([1, 0, 1, 0], [1, 2, 2, 1]);
      const [g] = tf.grads((a: tf.Tensor) => tf.sum(peakAggregation(a as tf.Tensor4D, m)))([v]);
      // float32: 2 + 1e-6 rounds to 2 + 4 ulp, so compare at float32 resolution.
      expectClose(g, [1 / (2 + 1e-6), 0, 1 / (2 + 1e-6), 0], { atol: 3e-8 });
      expect(g.dataSync()[0]).toBeLessThan(0.5);
      tf.dispose([v, m, g]);
    });
  });

  describe('validation', () => {
    let maps: tf.Tensor4D;
    beforeAll(() => {
      maps = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
    });
    afterAll(() => maps.dispose());

    test('mask shape mismatch', () => {
      const mask = tf.zeros([2, 4, 4, 2]) as tf.Tensor4D;
      expect(() => peakAggregation(maps, mask)).toThrow(
        'peakAggregation: mask must be a tensor of the same shape as maps [2,4,4,3], but got shape [2,4,4,2].',
      );
      mask.dispose();
    });

    test('rank of maps and mask', () => {
      const bad = tf.zeros([4, 4, 3]);
      expect(() => peakAggregation(bad as unknown as tf.Tensor4D, maps)).toThrow(
        'peakAggregation: maps must be a tensor of rank 4 [batch, height, width, channels], but got rank 3 (shape [4,4,3]).',
      );
      expect(() => peakAggregation(maps, bad as unknown as tf.Tensor4D)).toThrow(
        'peakAggregation: mask must be a tensor of rank 4 [batch, height, width, channels], but got rank 3 (shape [4,4,3]).',
      );
      bad.dispose();
    });

    test('dtype', () => {
      const mask = tf.zeros([2, 4, 4, 3], 'int32') as tf.Tensor4D;
      expect(() => peakAggregation(maps, mask)).toThrow('peakAggregation: mask must be a float32 tensor, but got dtype int32.');
      mask.dispose();
    });
  });

  describe('memory and kernels', () => {
    test('no leaked tensors, forward and with gradients', async () => {
      const v = uniform([2, 5, 5, 3], -1, 1, 8) as tf.Tensor4D;
      const m = randomMask([2, 5, 5, 3], 0.3, 9, 0);
      await expectNoLeak(() => peakAggregation(v, m));
      await expectNoLeak(() => tf.grads((a: tf.Tensor) => tf.sum(peakAggregation(a as tf.Tensor4D, m)))([v]));
      await expectNoLeak(() => tf.grads((a: tf.Tensor) => tf.sum(peakAggregation(a as tf.Tensor4D, findPeaks(a as tf.Tensor4D))))([v]));
      tf.dispose([v, m]);
    });

    test('only kernels that the wasm and tensorflow (tfjs-node) backends have', async () => {
      const v = uniform([2, 5, 5, 3], -1, 1, 8) as tf.Tensor4D;
      const m = randomMask([2, 5, 5, 3], 0.3, 9, 0);
      const info = await tf.profile(() => [
        peakAggregation(v, m),
        ...tf.grads((a: tf.Tensor) => tf.sum(peakAggregation(a as tf.Tensor4D, findPeaks(a as tf.Tensor4D))))([v]),
      ]);
      const used = new Set<string>();
      addKernels(used, info);
      tf.dispose(info.result as tf.Tensor[]);
      expectPortableKernels(used);
      tf.dispose([v, m]);
    });
  });
});

describe('peakAggregation on the wasm backend', () => {
  onWasmBackend();

  test.each(GOLDEN)('$name: aggregation and grad_input', ({ name, filter }) => {
    const err = checkGoldenCase(name, filter);
    expect(err.agg).toBeLessThanOrEqual(1e-6);
    expect(err.grad).toBeLessThanOrEqual(1e-7);
  });

  test('empty channel: 0 and a finite gradient', () => {
    const v = uniform([1, 3, 3, 2], -1, 1, 11) as tf.Tensor4D;
    const m = randomMask([1, 3, 3, 2], 0.5, 12, 1);
    const [g] = tf.grads((a: tf.Tensor) => tf.sum(peakAggregation(a as tf.Tensor4D, m)))([v]);
    expect(peakAggregation(v, m).dataSync()[1]).toBe(0);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([v, m, g]);
  });
});
