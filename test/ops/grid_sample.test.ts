import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; tfjs-layers registers them (Sum and Mul are needed
// by checkGradients).
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';

import { gridSample, GridSampleImplementation, GridSampleMode, GridSampleOptions, GridSamplePaddingMode } from '../../src/ops/grid_sample';
import { goldenNHWC, goldenTensor, loadGolden } from '../helpers/golden';
import { checkGradients, expectClose, expectNoLeak, rng, uniform } from '../helpers/numeric';
import { addKernels, expectPortableKernels, onBackend, TEST_BACKENDS } from '../helpers/backends';

type Impl = GridSampleImplementation;

const GOLDEN_FILES = (['bilinear', 'nearest'] as const).flatMap((mode) =>
  (['zeros', 'border'] as const).flatMap((paddingMode) =>
    [0, 1].map((ac) => ({ name: `grid_sample__${mode}__${paddingMode}__ac${ac}`, mode, paddingMode, alignCorners: ac === 1 })),
  ),
);

/** Runs one implementation: `'auto'` goes through the public, validating `gridSample`. */
function sampleWith(impl: Impl, input: tf.Tensor4D, grid: tf.Tensor4D, options: GridSampleOptions): tf.Tensor4D {
  return gridSample(input, grid, { ...options, implementation: impl });
}

/** `[dInput, dGrid]` of `sum(gridSample(input, grid) * dy)`. */
function gradsWith(impl: Impl, input: tf.Tensor4D, grid: tf.Tensor4D, dy: tf.Tensor4D, options: GridSampleOptions): tf.Tensor[] {
  return tf.grads((x: tf.Tensor, g: tf.Tensor) => sampleWith(impl, x as tf.Tensor4D, g as tf.Tensor4D, options))([input, grid], dy);
}

/** Checks one golden file (values, and for bilinear both gradients) with the README tolerances. */
function checkGolden(impl: Impl, file: (typeof GOLDEN_FILES)[number]): void {
  const c = loadGolden(file.name);
  const options: GridSampleOptions = { mode: file.mode, paddingMode: file.paddingMode, alignCorners: file.alignCorners };
  expect(c.params).toMatchObject({ mode: file.mode, padding_mode: file.paddingMode, align_corners: file.alignCorners });
  const input = goldenNHWC(c, 'input');
  const grid = goldenTensor(c, 'grid') as tf.Tensor4D;
  const expected = goldenNHWC(c, 'output');
  const out = sampleWith(impl, input, grid, options);
  expectClose(out, expected, { atol: file.mode === 'nearest' ? 0 : 1e-5 });
  const toDispose: tf.Tensor[] = [input, grid, expected, out];
  if (file.mode === 'bilinear') {
    const dy = goldenNHWC(c, 'grad_output');
    const [dInput, dGrid] = gradsWith(impl, input, grid, dy, options);
    const expectedDInput = goldenNHWC(c, 'grad_input');
    const expectedDGrid = goldenTensor(c, 'grad_grid');
    expectClose(dInput, expectedDInput, { atol: 1e-5 });
    // No mask: the exact points grid[1,0,0:5] follow PyTorch's one-sided convention here too.
    expectClose(dGrid, expectedDGrid, { atol: 2e-4 });
    toDispose.push(dy, dInput, dGrid, expectedDInput, expectedDGrid);
  }
  tf.dispose(toDispose);
}

// ---------------------------------------------------------------------------------------------
// Independent float64 reference (plain loops) for what the golden files do not cover.

interface Reference {
  out: Float64Array;
  dInput: Float64Array;
  dGrid: Float64Array;
}

/** PyTorch's padding transform on one axis: the pixel coordinate and d coordinate / d grid. */
function referenceAxis(g: number, size: number, paddingMode: GridSamplePaddingMode, alignCorners: boolean): [number, number] {
  let coord = alignCorners ? ((g + 1) / 2) * (size - 1) : ((g + 1) * size - 1) / 2;
  let slope = alignCorners ? (size - 1) / 2 : size / 2;
  if (paddingMode === 'reflection') {
    // Reflection is a triangle wave of period 2*span between lo and lo + span.
    const lo = alignCorners ? 0 : -0.5;
    const span = alignCorners ? size - 1 : size;
    if (span > 0) {
      let m = (coord - lo) % (2 * span);
      if (m < 0) m += 2 * span;
      if (m > span) {
        coord = lo + 2 * span - m;
        slope = -slope;
      } else {
        coord = lo + m;
      }
    }
  }
  if (paddingMode !== 'zeros') {
    if (!(coord > 0 && coord < size - 1)) slope = 0;
    coord = Math.min(Math.max(coord, 0), size - 1);
  }
  return [coord, slope];
}

function referenceRound(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function referenceGridSample(
  input: ArrayLike<number>,
  [B, H, W, C]: number[],
  grid: ArrayLike<number>,
  gridShape: number[],
  dOut: ArrayLike<number>,
  { mode = 'bilinear', paddingMode = 'zeros', alignCorners = false }: GridSampleOptions,
): Reference {
  const points = gridShape[1] * gridShape[2];
  const out = new Float64Array(B * points * C);
  const dInput = new Float64Array(B * H * W * C);
  const dGrid = new Float64Array(B * points * 2);
  const at = (b: number, y: number, x: number, c: number) => ((b * H + y) * W + x) * C + c;
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < points; p++) {
      const q = b * points + p;
      const [ix, sx] = referenceAxis(grid[2 * q], W, paddingMode, alignCorners);
      const [iy, sy] = referenceAxis(grid[2 * q + 1], H, paddingMode, alignCorners);
      if (mode === 'nearest') {
        const x = referenceRound(ix);
        const y = referenceRound(iy);
        if (x >= 0 && x < W && y >= 0 && y < H) {
          for (let c = 0; c < C; c++) {
            out[q * C + c] = input[at(b, y, x, c)];
            dInput[at(b, y, x, c)] += dOut[q * C + c];
          }
        }
        continue;
      }
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const fx = ix - x0;
      const fy = iy - y0;
      let gx = 0;
      let gy = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const x = x0 + dx;
        const y = y0 + dy;
        if (!(x >= 0 && x < W && y >= 0 && y < H)) continue;
        const wx = dx ? fx : 1 - fx;
        const wy = dy ? fy : 1 - fy;
        for (let c = 0; c < C; c++) {
          const v = input[at(b, y, x, c)];
          const d = dOut[q * C + c];
          out[q * C + c] += wx * wy * v;
          dInput[at(b, y, x, c)] += wx * wy * d;
          gx += (dx ? 1 : -1) * wy * v * d;
          gy += (dy ? 1 : -1) * wx * v * d;
        }
      }
      dGrid[2 * q] = gx * sx;
      dGrid[2 * q + 1] = gy * sy;
    }
  }
  return { out, dInput, dGrid };
}

/** Compares one implementation with the float64 reference: values and both gradients. */
function checkAgainstReference(impl: Impl, input: tf.Tensor4D, grid: tf.Tensor4D, options: GridSampleOptions): void {
  const outShape = [input.shape[0], grid.shape[1], grid.shape[2], input.shape[3]];
  const dy = uniform(outShape, -1, 1, 99) as tf.Tensor4D;
  const ref = referenceGridSample(input.dataSync(), input.shape, grid.dataSync(), grid.shape, dy.dataSync(), options);
  const out = sampleWith(impl, input, grid, options);
  const [dInput, dGrid] = gradsWith(impl, input, grid, dy, options);
  const exact = options.mode === 'nearest';
  expectClose(out.dataSync(), ref.out, { atol: exact ? 0 : 1e-5 });
  expectClose(dInput.dataSync(), ref.dInput, { atol: 1e-5 });
  expectClose(dGrid.dataSync(), ref.dGrid, { atol: 1e-4, rtol: 1e-5 });
  tf.dispose([dy, out, dInput, dGrid]);
}

/** Grid coordinates (normalised) whose pixel coordinates are `pixel` along an axis of `size`. */
function normalise(pixel: number, size: number, alignCorners: boolean): number {
  return alignCorners ? (2 * pixel) / (size - 1) - 1 : (2 * pixel + 1) / size - 1;
}

/**
 * A grid whose pixel coordinates lie in [-3, size + 2] but at least 0.1 pixel away from every
 * integer and half-integer: away from the bilinear kinks, the clamp borders and the reflection
 * folds, so central differences are valid.
 */
function smoothGrid(shape: [number, number, number, 2], [H, W]: [number, number], alignCorners: boolean, seed: number): tf.Tensor4D {
  const r = rng(seed);
  const n = shape[0] * shape[1] * shape[2];
  const v = new Float32Array(n * 2);
  const pick = (size: number) => {
    const whole = Math.floor(r() * (size + 6)) - 3;
    const frac = r() < 0.5 ? 0.1 + 0.3 * r() : 0.6 + 0.3 * r();
    return whole + frac;
  };
  for (let i = 0; i < n; i++) {
    v[2 * i] = normalise(pick(W), W, alignCorners);
    v[2 * i + 1] = normalise(pick(H), H, alignCorners);
  }
  return tf.tensor4d(v, shape);
}

/** The grid that samples every pixel centre of an [*, H, W, *] image. */
function identityGrid(batch: number, H: number, W: number, alignCorners: boolean): tf.Tensor4D {
  const v = new Float32Array(batch * H * W * 2);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const q = (b * H + i) * W + j;
        v[2 * q] = normalise(j, W, alignCorners);
        v[2 * q + 1] = normalise(i, H, alignCorners);
      }
    }
  }
  return tf.tensor4d(v, [batch, H, W, 2]);
}

const PADDING_MODES: GridSamplePaddingMode[] = ['zeros', 'border', 'reflection'];
const MODES: GridSampleMode[] = ['bilinear', 'nearest'];
const BOTH = [false, true];

// ---------------------------------------------------------------------------------------------

describe.each(TEST_BACKENDS)('gridSample on the %s backend', (backend) => {
  onBackend(backend);

  describe.each(['auto', 'composite'] as const)('%s implementation', (impl) => {
    test.each(GOLDEN_FILES)('matches PyTorch: $name', (file) => {
      checkGolden(impl, file);
    });

    test.each(MODES.flatMap((mode) => BOTH.map((alignCorners) => ({ mode, alignCorners }))))(
      'reflection padding matches the float64 reference ($mode, alignCorners $alignCorners)',
      ({ mode, alignCorners }) => {
        const input = uniform([2, 5, 6, 3], -1, 1, 11) as tf.Tensor4D;
        const grid = uniform([2, 7, 5, 2], -3.2, 3.2, 12) as tf.Tensor4D;
        checkAgainstReference(impl, input, grid, { mode, paddingMode: 'reflection', alignCorners });
        tf.dispose([input, grid]);
      },
    );

    test.each(PADDING_MODES.flatMap((paddingMode) => BOTH.map((alignCorners) => ({ paddingMode, alignCorners }))))(
      'bilinear, $paddingMode, alignCorners $alignCorners: matches the reference on a 1-pixel-high image',
      ({ paddingMode, alignCorners }) => {
        // Size-1 axes are an edge case of every formula (span 0 when alignCorners).
        const input = uniform([1, 1, 4, 2], -1, 1, 21) as tf.Tensor4D;
        const grid = uniform([1, 3, 4, 2], -2.5, 2.5, 22) as tf.Tensor4D;
        checkAgainstReference(impl, input, grid, { paddingMode, alignCorners });
        tf.dispose([input, grid]);
      },
    );

    test.each(PADDING_MODES.flatMap((paddingMode) => BOTH.map((alignCorners) => ({ paddingMode, alignCorners }))))(
      'bilinear gradients match central differences ($paddingMode, alignCorners $alignCorners)',
      ({ paddingMode, alignCorners }) => {
        const input = uniform([2, 5, 6, 3], -1, 1, 31) as tf.Tensor4D;
        const grid = smoothGrid([2, 3, 4, 2], [5, 6], alignCorners, 32);
        const options: GridSampleOptions = { paddingMode, alignCorners };
        // eps 1e-2 in grid units is at most 0.03 pixel here, well inside the 0.1 margin.
        checkGradients((x, g) => sampleWith(impl, x as tf.Tensor4D, g as tf.Tensor4D, options), [input, grid], {
          eps: 1e-2,
          probes: 200,
          atol: 1e-3,
          rtol: 1e-3,
        });
        tf.dispose([input, grid]);
      },
    );

    test.each(BOTH)('the identity grid reproduces the input (alignCorners %s)', (alignCorners) => {
      const input = uniform([2, 5, 7, 3], -1, 1, 41) as tf.Tensor4D;
      const grid = identityGrid(2, 5, 7, alignCorners);
      for (const mode of MODES) {
        for (const paddingMode of PADDING_MODES) {
          const out = sampleWith(impl, input, grid, { mode, paddingMode, alignCorners });
          expectClose(out, input, { atol: mode === 'nearest' ? 0 : 1e-6 });
          out.dispose();
        }
      }
      tf.dispose([input, grid]);
    });

    test('nearest rounds half to even', () => {
      // alignCorners, width 5: ix = (x + 1) * 2, so x = -0.75, -0.25, 0.25, 0.75 give 0.5 ... 3.5.
      const input = tf.tensor4d([10, 11, 12, 13, 14], [1, 1, 5, 1]);
      const grid = tf.tensor4d([-0.75, 0, -0.25, 0, 0.25, 0, 0.75, 0], [1, 1, 4, 2]);
      const out = sampleWith(impl, input, grid, { mode: 'nearest', alignCorners: true });
      expect(Array.from(out.dataSync())).toEqual([10, 12, 12, 14]);
      tf.dispose([input, grid, out]);
    });

    test.each(PADDING_MODES)('NaN and infinite grid points (%s): defined values, no NaN in the gradients', (paddingMode) => {
      const input = uniform([2, 4, 5, 3], -1, 1, 51) as tf.Tensor4D;
      const gridValues = uniform([2, 3, 4, 2], -0.9, 0.9, 52).dataSync().slice();
      // Point k of batch 0 gets a non-finite x, y or both.
      const bad: Array<[number, number, number]> = [
        [0, NaN, 0.2],
        [1, 0.3, NaN],
        [2, NaN, NaN],
        [3, Infinity, 0.1],
        [4, -Infinity, 0.1],
        [5, 0.1, Infinity],
        [6, 0.1, -Infinity],
      ];
      for (const [k, x, y] of bad) {
        gridValues[2 * k] = x;
        gridValues[2 * k + 1] = y;
      }
      const grid = tf.tensor4d(gridValues, [2, 3, 4, 2]);
      const options: GridSampleOptions = { paddingMode, alignCorners: true };
      const out = sampleWith(impl, input, grid, options);
      const dy = uniform(out.shape, -1, 1, 53) as tf.Tensor4D;
      const [dInput, dGrid] = gradsWith(impl, input, grid, dy, options);
      const o = out.dataSync();
      const dg = dGrid.dataSync();
      const x = input.dataSync();
      for (const [k, gx, gy] of bad) {
        const value = Array.from(o.slice(3 * k, 3 * k + 3));
        const pointGrad = [dg[2 * k], dg[2 * k + 1]];
        if (paddingMode === 'border' && !Number.isNaN(gx) && !Number.isNaN(gy)) {
          // ±Infinity is clamped to the edge: a finite sample from the image, and no gradient
          // along the clamped axis.
          value.forEach((v) => expect(Number.isFinite(v)).toBe(true));
          if (gx === Infinity) {
            // x clamps to column 4; y = 0.1 gives iy = 1.65, between rows 1 and 2.
            const expected = [0, 1, 2].map((c) => 0.35 * x[(1 * 5 + 4) * 3 + c] + 0.65 * x[(2 * 5 + 4) * 3 + c]);
            expectClose(value, expected, { atol: 1e-5 });
          }
          expectClose([Number.isFinite(gx) ? 0 : pointGrad[0], Number.isFinite(gy) ? 0 : pointGrad[1]], [0, 0]);
        } else {
          expectClose(value, [0, 0, 0]);
          expectClose(pointGrad, [0, 0]);
        }
      }
      expect(Array.from(o).every(Number.isFinite)).toBe(true);
      expect(Array.from(dInput.dataSync()).every(Number.isFinite)).toBe(true);
      expect(Array.from(dg).every(Number.isFinite)).toBe(true);
      tf.dispose([input, grid, out, dy, dInput, dGrid]);
    });

    test('does not leak tensors (forward and tf.grads)', async () => {
      const input = uniform([2, 5, 6, 3], -1, 1, 61) as tf.Tensor4D;
      const grid = uniform([2, 3, 4, 2], -1.2, 1.2, 62) as tf.Tensor4D;
      const dy = uniform([2, 3, 4, 3], -1, 1, 63) as tf.Tensor4D;
      for (const mode of MODES) {
        for (const paddingMode of PADDING_MODES) {
          const options: GridSampleOptions = { mode, paddingMode, alignCorners: true };
          await expectNoLeak(() => sampleWith(impl, input, grid, options));
          await expectNoLeak(() => gradsWith(impl, input, grid, dy, options));
        }
      }
      tf.dispose([input, grid, dy]);
    });
  });

  test('the fused and composite paths agree on a larger random case', () => {
    const input = uniform([2, 9, 13, 4], -2, 2, 71) as tf.Tensor4D;
    const grid = uniform([2, 11, 7, 2], -1.6, 1.6, 72) as tf.Tensor4D;
    const dy = uniform([2, 11, 7, 4], -1, 1, 73) as tf.Tensor4D;
    for (const mode of MODES) {
      for (const paddingMode of PADDING_MODES) {
        for (const alignCorners of BOTH) {
          const options: GridSampleOptions = { mode, paddingMode, alignCorners };
          const [a, b] = [sampleWith('fused', input, grid, options), sampleWith('composite', input, grid, options)];
          expectClose(a, b, { atol: mode === 'nearest' ? 0 : 1e-5 });
          const [ga, gb] = [gradsWith('fused', input, grid, dy, options), gradsWith('composite', input, grid, dy, options)];
          expectClose(ga[0], gb[0], { atol: 1e-5 });
          expectClose(ga[1], gb[1], { atol: 1e-4 });
          tf.dispose([a, b, ...ga, ...gb]);
        }
      }
    }
    tf.dispose([input, grid, dy]);
  });

  if (backend === 'cpu') {
    // Which kernels the composite path dispatches does not depend on the backend it runs on.
    test('the composite path only runs kernels that the wasm and tensorflow (tfjs-node) backends have', async () => {
      const used = new Set<string>();
      const input = uniform([2, 5, 6, 3], -1, 1, 75) as tf.Tensor4D;
      const grid = uniform([2, 3, 4, 2], -1.2, 1.2, 76) as tf.Tensor4D;
      const dy = uniform([2, 3, 4, 3], -1, 1, 77) as tf.Tensor4D;
      for (const mode of MODES) {
        for (const paddingMode of PADDING_MODES) {
          const options: GridSampleOptions = { mode, paddingMode, alignCorners: false };
          const info = await tf.profile(() => [sampleWith('composite', input, grid, options), ...gradsWith('composite', input, grid, dy, options)]);
          addKernels(used, info);
          tf.dispose(info.result as tf.Tensor[]);
        }
      }
      expect(used.has('GatherV2') && used.has('ScatterNd')).toBe(true);
      expectPortableKernels(used);
      tf.dispose([input, grid, dy]);
    });
  }

  test('gradients also flow when only one argument is differentiated', () => {
    const input = uniform([1, 4, 4, 2], -1, 1, 81) as tf.Tensor4D;
    const grid = uniform([1, 2, 3, 2], -1, 1, 82) as tf.Tensor4D;
    const dy = uniform([1, 2, 3, 2], -1, 1, 83) as tf.Tensor4D;
    const [dGridOnly] = tf.grads((g: tf.Tensor) => gridSample(input, g as tf.Tensor4D, { alignCorners: true }))([grid], dy);
    const [dInputOnly] = tf.grads((x: tf.Tensor) => gridSample(x as tf.Tensor4D, grid, { alignCorners: true }))([input], dy);
    const [dInput, dGrid] = gradsWith('auto', input, grid, dy, { alignCorners: true });
    expectClose(dGridOnly, dGrid, { atol: 0 });
    expectClose(dInputOnly, dInput, { atol: 0 });
    tf.dispose([input, grid, dy, dGridOnly, dInputOnly, dInput, dGrid]);
  });

  test('tf.scatterND sums duplicate indices (the input gradient relies on it)', () => {
    const out = tf.scatterND(tf.tensor2d([[0], [0], [1]], [3, 1], 'int32'), tf.tensor2d([[1, 2], [3, 4], [5, 6]]), [3, 2]);
    expect(Array.from(out.dataSync())).toEqual([4, 6, 5, 6, 0, 0]);
    out.dispose();
  });

  describe('argument checks', () => {
    const input = () => tf.zeros([2, 9, 11, 3]) as tf.Tensor4D;
    const grid = () => tf.zeros([2, 7, 5, 2]) as tf.Tensor4D;
    const throwsExactly = (f: () => unknown, message: string) => expect(f).toThrow(new Error(message));

    test('input rank', () => {
      throwsExactly(
        () => gridSample(tf.zeros([2, 9, 11]) as unknown as tf.Tensor4D, grid()),
        'gridSample: input must be a tensor of rank 4 [batch, height, width, channels], but got rank 3 (shape [2,9,11]).',
      );
    });

    test('grid rank', () => {
      throwsExactly(
        () => gridSample(input(), tf.zeros([2, 5, 2]) as unknown as tf.Tensor4D),
        'gridSample: grid must be a tensor of rank 4 [batch, outHeight, outWidth, 2], but got rank 3 (shape [2,5,2]).',
      );
    });

    test('grid last dimension', () => {
      throwsExactly(
        () => gridSample(input(), tf.zeros([2, 7, 5, 3]) as tf.Tensor4D),
        'gridSample: the last dimension of grid must be 2 (x, y), but got 3 (grid shape [2,7,5,3]).',
      );
    });

    test('implementation', () => {
      throwsExactly(
        () => gridSample(input(), grid(), { implementation: 'gpu' as GridSampleImplementation }),
        "gridSample: options.implementation must be one of 'auto', 'fused', 'composite', but got 'gpu'.",
      );
    });

    test('batch mismatch', () => {
      throwsExactly(
        () => gridSample(input(), tf.zeros([3, 7, 5, 2]) as tf.Tensor4D),
        'gridSample: the batch size of grid must be equal to the batch size of input (2), but got 3 (grid shape [3,7,5,2], input shape [2,9,11,3]).',
      );
    });

    test('dtypes', () => {
      throwsExactly(
        () => gridSample(tf.zeros([2, 9, 11, 3], 'int32') as tf.Tensor4D, grid()),
        'gridSample: input must be a float32 tensor, but got dtype int32.',
      );
      throwsExactly(
        () => gridSample(input(), tf.zeros([2, 7, 5, 2], 'int32') as tf.Tensor4D),
        'gridSample: grid must be a float32 tensor, but got dtype int32.',
      );
    });

    test('not a tensor', () => {
      throwsExactly(
        () => gridSample([1, 2] as unknown as tf.Tensor4D, grid()),
        'gridSample: input must be a tf.Tensor of rank 4 [batch, height, width, channels], but got [1,2].',
      );
    });

    test('unknown mode', () => {
      throwsExactly(
        () => gridSample(input(), grid(), { mode: 'bicubic' as GridSampleMode }),
        "gridSample: options.mode must be one of 'bilinear', 'nearest', but got 'bicubic'.",
      );
    });

    test('unknown paddingMode', () => {
      throwsExactly(
        () => gridSample(input(), grid(), { paddingMode: 'mirror' as GridSamplePaddingMode }),
        "gridSample: options.paddingMode must be one of 'zeros', 'border', 'reflection', but got 'mirror'.",
      );
    });

    test('non-boolean alignCorners', () => {
      throwsExactly(
        () => gridSample(input(), grid(), { alignCorners: 1 as unknown as boolean }),
        'gridSample: options.alignCorners must be a boolean, but got 1.',
      );
    });

    test('checks do not leak tensors', async () => {
      const x = input();
      const g = grid();
      await expectNoLeak(() => expect(() => gridSample(x, g, { mode: 'cubic' as GridSampleMode })).toThrow());
      tf.dispose([x, g]);
    });
  });

  test('defaults are bilinear, zeros, alignCorners false', () => {
    const input = uniform([1, 4, 5, 2], -1, 1, 91) as tf.Tensor4D;
    const grid = uniform([1, 3, 3, 2], -1.3, 1.3, 92) as tf.Tensor4D;
    const a = gridSample(input, grid);
    const b = gridSample(input, grid, { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false });
    expectClose(a, b, { atol: 0 });
    tf.dispose([input, grid, a, b]);
  });
});
