import * as tf from '@tensorflow/tfjs-core';
// Registers the gradients of the core kernels whatever build of tfjs-core gets resolved.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';

import { findPeaks, FindPeaksOptions, PeakFilter } from '../../src/ops/find_peaks';
import { entry, goldenNHWC, loadGolden } from '../helpers/golden';
import { expectClose, expectNoLeak, rng } from '../helpers/numeric';
import { addKernels, expectPortableKernels, onWasmBackend } from '../helpers/backends';

const GOLDEN = [
  { name: 'peak_stimulation__random', filter: 'mean' as PeakFilter },
  { name: 'peak_stimulation__plateau', filter: 'mean' as PeakFilter },
  { name: 'peak_stimulation__random_nofilter', filter: 'none' as PeakFilter },
];

/**
 * The authors' rule, written as the max-pool scan it comes from: the window of the `-inf`-padded
 * map is scanned in row-major order, the argmax starts at the first window element and moves
 * only on a strictly greater value; a pixel is a peak iff the argmax is the pixel itself.
 */
function referencePeaks(data: ArrayLike<number>, shape: number[], windowSize: number, filter: PeakFilter): Float32Array {
  const [n, h, w, c] = shape;
  const r = (windowSize - 1) / 2;
  const at = (b: number, i: number, j: number, ch: number) => data[((b * h + i) * w + j) * c + ch];
  const out = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) sum += at(b, i, j, ch);
      const mean = sum / (h * w);
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          let maxVal = -Infinity;
          let arg = [-r, -r];
          for (let di = -r; di <= r; di++) {
            for (let dj = -r; dj <= r; dj++) {
              const inside = i + di >= 0 && i + di < h && j + dj >= 0 && j + dj < w;
              const v = inside ? at(b, i + di, j + dj, ch) : -Infinity;
              if (v > maxVal) {
                maxVal = v;
                arg = [di, dj];
              }
            }
          }
          const v = at(b, i, j, ch);
          const peak = arg[0] === 0 && arg[1] === 0 && (filter === 'none' || v >= mean);
          out[((b * h + i) * w + j) * c + ch] = peak ? 1 : 0;
        }
      }
    }
  }
  return out;
}

/** Rows `(n, c, y, x)` of the nonzero entries of an NHWC mask, in row-major NCHW order. */
function peakList(mask: tf.Tensor4D): number[][] {
  const nchw = tf.tidy(() => tf.transpose(mask, [0, 3, 1, 2]));
  const [n, c, h, w] = nchw.shape;
  const d = nchw.dataSync();
  nchw.dispose();
  const rows: number[][] = [];
  for (let i = 0; i < d.length; i++) {
    if (d[i] !== 0) rows.push([Math.floor(i / (c * h * w)), Math.floor(i / (h * w)) % c, Math.floor(i / w) % h, i % w]);
  }
  return rows;
}

/** A map of small integers (many ties), NHWC. */
function quantised(shape: number[], levels: number, seed: number): tf.Tensor4D {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor4d(Float32Array.from({ length: size }, () => Math.floor(r() * levels)), shape as [number, number, number, number]);
}

function checkGoldenCase(name: string, filter: PeakFilter): void {
  const c = loadGolden(name);
  const input = goldenNHWC(c, 'input');
  const mask = findPeaks(input, { windowSize: 3, filter });
  const expected = tf.tidy(() => tf.cast(goldenNHWC(c, 'peak_map'), 'float32'));
  expectClose(mask, expected, { atol: 0 });
  const list = entry(c, 'peak_list');
  const rows: number[][] = [];
  for (let k = 0; k < list.shape[0]; k++) rows.push(list.data.slice(4 * k, 4 * k + 4));
  expect(peakList(mask)).toEqual(rows);
  tf.dispose([input, mask, expected]);
}

describe('findPeaks', () => {
  describe('matches the authors peak_stimulation (golden)', () => {
    test.each(GOLDEN)('$name: peak_map exactly, peak_list in row-major NCHW order', ({ name, filter }) => {
      checkGoldenCase(name, filter);
    });

    test('the plateau case really exercises ties', () => {
      const c = loadGolden('peak_stimulation__plateau');
      const input = goldenNHWC(c, 'input');
      const loose = tf.tidy(() => {
        // Peaks under a rule that ignores ties (>= everywhere) would differ from the golden.
        const padded = tf.pad(input, [[0, 0], [1, 1], [1, 1], [0, 0]], -Infinity);
        return tf.cast(tf.equal(input, tf.maxPool(padded, 3, 1, 'valid')), 'float32');
      });
      const unfiltered = findPeaks(input, { filter: 'none' });
      expect(tf.sum(loose).dataSync()[0]).toBeGreaterThan(tf.sum(unfiltered).dataSync()[0]);
      tf.dispose([input, loose, unfiltered]);
    });
  });

  describe('tie rule', () => {
    const map = (rows: number[][]) => tf.tensor4d(rows.flat(), [1, rows.length, rows[0].length, 1]);
    const peaksOf = (rows: number[][], options: FindPeaksOptions = { filter: 'none' }) => {
      const x = map(rows);
      const m = findPeaks(x, options);
      const out = Array.from(m.dataSync());
      tf.dispose([x, m]);
      return out;
    };

    test('a constant map has one peak, its first pixel in row-major order (both filters)', () => {
      const rows = [[2, 2, 2, 2], [2, 2, 2, 2], [2, 2, 2, 2]];
      const expected = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
      expect(peaksOf(rows, { filter: 'none' })).toEqual(expected);
      expect(peaksOf(rows, { filter: 'mean' })).toEqual(expected);
    });

    test('a horizontal or vertical plateau peaks at its first pixel', () => {
      expect(peaksOf([[0, 5, 5, 0]])).toEqual([0, 1, 0, 0]);
      expect(peaksOf([[0], [5], [5], [0]])).toEqual([0, 1, 0, 0]);
    });

    test('equal diagonal neighbours: only the one earlier in row-major order', () => {
      // The mean filter drops the zero background (whose first pixel is a peak of its own).
      // (1,2) and (2,1) are down-left / up-right neighbours of each other.
      expect(peaksOf([[0, 0, 0], [0, 0, 5], [0, 5, 0]], { filter: 'mean' })).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 0]);
      // (1,0) and (2,1) are up-left / down-right neighbours.
      expect(peaksOf([[0, 0, 0], [5, 0, 0], [0, 5, 0]], { filter: 'mean' })).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0]);
    });

    test('the mean filter keeps only peaks >= the map mean', () => {
      // Peaks 1 at (0,0) and 9 at (0,3): the mean is 2.5, so only the 9 survives.
      const rows = [[1, 0, 0, 9]];
      expect(peaksOf(rows, { filter: 'none' })).toEqual([1, 0, 0, 1]);
      expect(peaksOf(rows, { filter: 'mean' })).toEqual([0, 0, 0, 1]);
      // The default filter is 'mean'.
      expect(peaksOf(rows, {})).toEqual([0, 0, 0, 1]);
    });

    test.each([1, 3, 5, 7])('any odd windowSize (%i) follows the max-pool scan rule, ties included', (windowSize) => {
      for (const filter of ['none', 'mean'] as const) {
        const shape = [2, 9, 11, 3];
        const x = quantised(shape, 4, 10 + windowSize);
        const m = findPeaks(x, { windowSize, filter });
        expect(Array.from(m.dataSync())).toEqual(Array.from(referencePeaks(x.dataSync(), shape, windowSize, filter)));
        tf.dispose([x, m]);
      }
    });

    test('windows larger than the map, and 1-pixel maps', () => {
      const x = quantised([1, 2, 3, 2], 3, 5);
      const m = findPeaks(x, { windowSize: 9, filter: 'none' });
      expect(Array.from(m.dataSync())).toEqual(Array.from(referencePeaks(x.dataSync(), [1, 2, 3, 2], 9, 'none')));
      const one = tf.tensor4d([3, -1], [2, 1, 1, 1]);
      expect(Array.from(findPeaks(one).dataSync())).toEqual([1, 1]);
      tf.dispose([x, m, one]);
    });
  });

  describe('degenerate inputs', () => {
    test('NaN: no crash, a 0/1 mask, NaN never a peak nor its neighbours; other maps unaffected', () => {
      const data = Float32Array.from({ length: 2 * 5 * 5 }, (_, i) => (i % 7) - 3);
      data[12] = NaN; // channel 0, pixel (1, 1) ... of an NHWC [1,5,5,2] map
      const x = tf.tensor4d(data, [1, 5, 5, 2]);
      const clean = tf.tensor4d(Float32Array.from(data, (v) => (Number.isNaN(v) ? -100 : v)), [1, 5, 5, 2]);
      for (const filter of ['none', 'mean'] as const) {
        const m = findPeaks(x, { filter });
        const d = m.dataSync();
        expect(d.every((v) => v === 0 || v === 1)).toBe(true);
        expect(d[12]).toBe(0);
        const ref = findPeaks(clean, { filter }).dataSync();
        // Channel 1 holds no NaN and is unchanged.
        for (let i = 1; i < d.length; i += 2) expect(d[i]).toBe(ref[i]);
        if (filter === 'mean') {
          // The NaN map has a NaN mean: no peaks at all.
          for (let i = 0; i < d.length; i += 2) expect(d[i]).toBe(0);
        } else {
          // The 8 neighbours of the NaN pixel (1,1) of channel 0 are not peaks.
          for (const [i, j] of [[0, 0], [0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1], [2, 2]]) expect(d[(i * 5 + j) * 2]).toBe(0);
        }
        m.dispose();
      }
      tf.dispose([x, clean]);
    });

    test('an all-NaN map gives no peaks', () => {
      const x = tf.fill([1, 3, 3, 1], NaN) as tf.Tensor4D;
      expect(Array.from(findPeaks(x, { filter: 'none' }).dataSync())).toEqual(new Array(9).fill(0));
      x.dispose();
    });
  });

  describe('gradients', () => {
    test('the mask has a zero gradient and does not break tf.grads', () => {
      const x = quantised([2, 6, 7, 3], 5, 3);
      const [gMask] = tf.grads((v: tf.Tensor) => tf.sum(findPeaks(v as tf.Tensor4D)))([x]);
      expect(Array.from(gMask.dataSync()).every((v) => v === 0)).toBe(true);
      // d/dx sum(x * mask(x)) = mask: the product rule with a zero mask derivative.
      const [g] = tf.grads((v: tf.Tensor) => tf.sum(tf.mul(v, findPeaks(v as tf.Tensor4D))))([x]);
      const mask = findPeaks(x);
      expectClose(g, mask, { atol: 0 });
      tf.dispose([x, gMask, g, mask]);
    });
  });

  describe('validation', () => {
    let x: tf.Tensor4D;
    beforeAll(() => {
      x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    });
    afterAll(() => x.dispose());

    test('rank', () => {
      const bad = tf.zeros([2, 3, 4]);
      expect(() => findPeaks(bad as unknown as tf.Tensor4D)).toThrow(
        'findPeaks: maps must be a tensor of rank 4 [batch, height, width, channels], but got rank 3 (shape [2,3,4]).',
      );
      bad.dispose();
    });

    test('dtype', () => {
      const bad = tf.zeros([1, 2, 2, 1], 'int32') as tf.Tensor4D;
      expect(() => findPeaks(bad)).toThrow('findPeaks: maps must be a float32 tensor, but got dtype int32.');
      bad.dispose();
    });

    test.each([4, 0, -1, 2.5, NaN])('windowSize %p', (windowSize) => {
      expect(() => findPeaks(x, { windowSize })).toThrow(
        `findPeaks: options.windowSize must be an odd integer >= 1, but got ${windowSize}.`,
      );
    });

    test.each([['3', "'3'"], [undefined, 'undefined']])('windowSize of another type: %p', (windowSize, shown) => {
      if (windowSize === undefined) {
        // undefined is the default (3), not an error.
        expect(findPeaks(x, { windowSize }).shape).toEqual([1, 4, 4, 2]);
        return;
      }
      expect(() => findPeaks(x, { windowSize: windowSize as unknown as number })).toThrow(`findPeaks: options.windowSize must be an odd integer >= 1, but got ${shown}.`);
    });

    test('an empty map', () => {
      const empty = tf.zeros([1, 0, 4, 2]) as tf.Tensor4D;
      expect(() => findPeaks(empty)).toThrow('findPeaks: maps must be a non-empty tensor, but got shape [1,0,4,2].');
      empty.dispose();
    });

    test('unknown filter', () => {
      expect(() => findPeaks(x, { filter: 'max' as PeakFilter })).toThrow(
        "findPeaks: options.filter must be one of 'mean', 'none', but got 'max'.",
      );
    });
  });

  describe('memory and kernels', () => {
    test('no leaked tensors, forward and with gradients', async () => {
      const x = quantised([2, 6, 7, 3], 5, 4);
      await expectNoLeak(() => findPeaks(x));
      await expectNoLeak(() => findPeaks(x, { windowSize: 5, filter: 'none' }));
      await expectNoLeak(() => tf.grads((v: tf.Tensor) => tf.sum(tf.mul(v, findPeaks(v as tf.Tensor4D))))([x]));
      x.dispose();
    });

    test('only kernels that the wasm and tensorflow (tfjs-node) backends have', async () => {
      const x = quantised([2, 6, 7, 3], 5, 4);
      const info = await tf.profile(() => [
        findPeaks(x),
        ...tf.grads((v: tf.Tensor) => tf.sum(tf.mul(v, findPeaks(v as tf.Tensor4D))))([x]),
      ]);
      const used = new Set<string>();
      addKernels(used, info);
      tf.dispose(info.result as tf.Tensor[]);
      expect(used.has('GatherV2')).toBe(true);
      expectPortableKernels(used);
      x.dispose();
    });
  });
});

describe('findPeaks on the wasm backend', () => {
  onWasmBackend();

  test.each(GOLDEN)('$name: peak_map exactly, peak_list order', ({ name, filter }) => {
    checkGoldenCase(name, filter);
  });

  test('windowSize 5 with ties, NaN handling, zero gradient', () => {
    const shape = [2, 9, 11, 3];
    const x = quantised(shape, 4, 21);
    const m = findPeaks(x, { windowSize: 5, filter: 'mean' });
    expect(Array.from(m.dataSync())).toEqual(Array.from(referencePeaks(x.dataSync(), shape, 5, 'mean')));
    const nan = tf.tensor4d([1, NaN, 0, 2], [1, 2, 2, 1]);
    expect(Array.from(findPeaks(nan, { filter: 'none' }).dataSync())).toEqual([0, 0, 0, 0]);
    const [g] = tf.grads((v: tf.Tensor) => tf.sum(tf.mul(v, findPeaks(v as tf.Tensor4D))))([x]);
    expectClose(g, findPeaks(x), { atol: 0 });
    tf.dispose([x, m, nan, g]);
  });
});
