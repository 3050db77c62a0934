/**
 * The MaxPoolGrad kernel of s3n-layers/wasm-training: bit for bit the cpu backend's result
 * (first maximum of each window, padding never selected, NaN never selected, float64 sums) on
 * shapes, paddings and data with ties, negatives, signed zeros and non-finite values; bit for
 * bit the replaced wasm kernel where that one is well defined; tf.grad of tf.maxPool end to
 * end; no leaked tensors or wasm buffers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { activeWasmTrainingKernels, WASM_TRAINING_REPLACED_KERNELS } from '../src/wasm-training';
import { maxPoolGradInto, type Pool } from '../src/kernels/wasm/MaxPoolGrad';
import { rng } from './helpers/numeric';

type Attrs = {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};
type Shape4 = [number, number, number, number];
interface Case { shape: Shape4; attrs: Attrs }
type Config = tf.KernelConfig & { original?: tf.KernelFunc };

const c = (shape: Shape4, filterSize: Attrs['filterSize'], strides: Attrs['strides'], pad: Attrs['pad'], dimRoundingMode?: Attrs['dimRoundingMode']): Case =>
  ({ shape, attrs: { filterSize, strides, pad, dimRoundingMode } });

/** The shapes of the brief plus the corners of computePool2DInfo (filters, strides, paddings, rounding). */
const CASES: Case[] = [
  c([2, 14, 14, 8], 3, 2, 'same'),
  c([1, 56, 56, 32], 3, 2, 'same'), // the stem pool, one image
  c([3, 57, 55, 3], 3, 2, 'same'), // odd sizes, batch 3
  c([1, 57, 55, 1], 2, 2, 'valid'), // one channel
  c([1, 20, 19, 64], 2, 2, 'valid'), // 64 channels
  c([1, 16, 16, 64], 3, 1, 'same'),
  c([3, 9, 11, 3], 3, 1, 'same'),
  c([1, 12, 11, 2], 4, 1, 'same'), // uneven 'same' padding (1 before, 2 after)
  c([2, 13, 12, 5], 5, 2, 'same'), // 25 taps (XNNPACK's multipass kernel)
  c([1, 11, 10, 4], [3, 2], [2, 1], 'same'),
  c([1, 10, 9, 3], 2, 3, 'valid'), // stride > filter: rows and columns no window reads
  c([2, 7, 7, 3], 1, 2, 'valid'),
  c([1, 9, 10, 3], 3, 2, 1, 'floor'),
  c([1, 9, 10, 3], 3, 2, 1, 'round'),
  c([1, 9, 10, 3], 3, 2, 1, 'ceil'), // a last column window XNNPACK does not compute
  c([1, 9, 10, 3], 3, 2, [[0, 0], [1, 2], [2, 0], [0, 0]]),
];

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const outShape = ({ shape, attrs }: Case) =>
  tf.backend_util.computePool2DInfo(shape, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode).outShape;

/** Input data: each kind stresses one rule of the argmax. */
const KINDS: Record<string, (n: number, seed: number, shape: Shape4) => Float32Array> = {
  /** Uniform in [-1, 1): mostly unique maxima, half negative. */
  uniform: (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => 2 * r() - 1); },
  /** Five levels: ties in nearly every window. */
  levels: (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => Math.floor(5 * r()) - 2); },
  /** Constant 3x3 blocks per channel parity: whole windows of equal values. */
  blocks: (n, _seed, [, h, w, ch]) => Float32Array.from({ length: n }, (_, i) => {
    const cc = i % ch;
    const x = Math.floor(i / ch) % w;
    const y = Math.floor(i / (ch * w)) % h;
    return ((Math.floor(y / 3) + Math.floor(x / 3) + (cc % 2)) % 3) - 1.5;
  }),
  /** All negative, where the replaced kernel loses gradients. */
  negative: (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => -0.5 - r()); },
  /** Only -0 and +0: the first zero wins whatever its sign. */
  zeros: (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => (r() < 0.5 ? -0 : 0)); },
  /** 5 % NaN, 10 % -Infinity, 5 % +Infinity (a NaN sends the whole call down the full scan). */
  special: (n, seed) => {
    const r = rng(seed);
    return Float32Array.from({ length: n }, () => {
      const u = r();
      return u < 0.05 ? NaN : u < 0.15 ? -Infinity : u < 0.2 ? Infinity : 2 * r() - 1;
    });
  },
  /** 90 % -Infinity, no NaN: many windows that pass no gradient on. */
  minusInf: (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => (r() < 0.9 ? -Infinity : r() - 0.5)); },
  /** Only NaN and -Infinity: no window passes a gradient on. */
  nothing: (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => (r() < 0.3 ? NaN : -Infinity)); },
};

function dyData(n: number, seed: number, special = false): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => {
    const u = r();
    if (special && u < 0.05) return NaN;
    if (special && u < 0.1) return u < 0.075 ? Infinity : -Infinity;
    return 2 * r() - 1;
  });
}

/** Element i differs when the float32 values differ, -0 vs +0 included (any NaN equals any NaN). */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `element ${i}: ${a[i]} vs ${b[i]}`;
  return null;
}

/**
 * MaxPoolGrad on `backend`, through the engine or with `kernel` called directly, with fresh
 * input tensors (`output` from tf.maxPool on that backend); checks that nothing leaks.
 */
async function maxPoolGrad(backend: 'cpu' | 'wasm', k: Case, x: Float32Array, dy: Float32Array, kernel?: tf.KernelFunc): Promise<Float32Array> {
  await tf.setBackend(backend);
  const be = tf.backend();
  const input = tf.tensor4d(x, k.shape);
  const output = tf.maxPool(input, k.attrs.filterSize, k.attrs.strides, k.attrs.pad as 'same', k.attrs.dimRoundingMode);
  const dyT = tf.tensor(dy, outShape(k));
  const tensors = tf.memory().numTensors;
  const buffers = be.numDataIds();
  const inputs = { dy: dyT, input, output };
  const out = kernel == null
    ? (tf.engine().runKernel(tf.MaxPoolGrad, inputs, k.attrs as unknown as tf.NamedAttrMap) as tf.Tensor)
    : tf.engine().makeTensorFromTensorInfo(kernel({ inputs, backend: be, attrs: k.attrs } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo);
  expect(out.shape).toEqual(k.shape);
  expect(out.dtype).toBe('float32');
  const values = out.dataSync() as Float32Array;
  out.dispose();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(be.numDataIds()).toBe(buffers);
  tf.dispose([input, output, dyT]);
  return values;
}

const label = (k: Case) => `[${k.shape.join(',')}] ${JSON.stringify(k.attrs)}`;

let config: Config;
beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  config = tf.getKernel(tf.MaxPoolGrad, 'wasm') as Config;
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('MaxPoolGrad on wasm', () => {
  it('is served by this package as a replacement, keeping the wasm kernel and its setup', () => {
    expect(activeWasmTrainingKernels()).toContain('MaxPoolGrad');
    expect(WASM_TRAINING_REPLACED_KERNELS).toContain('MaxPoolGrad');
    expect(typeof config.original).toBe('function');
    expect(typeof config.setupFunc).toBe('function');
  });

  for (const [kind, make] of Object.entries(KINDS)) {
    it(`equals the cpu backend bit for bit: ${kind} inputs, ${CASES.length} shapes and paddings`, async () => {
      let seed = kind.length * 1000;
      for (const k of CASES) {
        const x = make(size(k.shape), seed++, k.shape);
        const dy = dyData(size(outShape(k)), seed++, kind === 'special');
        const cpu = await maxPoolGrad('cpu', k, x, dy);
        const wasm = await maxPoolGrad('wasm', k, x, dy);
        const diff = firstDifference(wasm, cpu);
        if (diff != null) throw new Error(`${kind} ${label(k)}: ${diff}`);
      }
    });
  }

  it('equals the replaced wasm kernel bit for bit on distinct positive inputs (exact sums)', async () => {
    let seed = 77;
    for (const k of CASES) {
      const n = size(k.shape);
      // A random permutation of 1..n: no ties, nothing below FLT_MIN.
      const r = rng(seed++);
      const x = Float32Array.from({ length: n }, (_, i) => i + 1);
      for (let i = n - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [x[i], x[j]] = [x[j], x[i]]; }
      // Small integers: float32 and float64 sums agree, whatever the number of windows.
      const dy = Float32Array.from({ length: size(outShape(k)) }, () => Math.floor(9 * r()) - 4);
      const theirs = await maxPoolGrad('wasm', k, x, dy, config.original);
      const ours = await maxPoolGrad('wasm', k, x, dy, config.kernelFunc);
      const diff = firstDifference(ours, theirs);
      if (diff != null) throw new Error(`${label(k)}: ${diff}`);
      expect(ours).toEqual(await maxPoolGrad('cpu', k, x, dy));
    }
  });

  it('differs from the replaced kernel only where that one departs from cpu (as documented)', async () => {
    const k = c([1, 2, 4, 1], 2, 2, 'valid');
    const run = async (x: number[], dy: number[]) => ({
      cpu: Array.from(await maxPoolGrad('cpu', k, Float32Array.from(x), Float32Array.from(dy))),
      ours: Array.from(await maxPoolGrad('wasm', k, Float32Array.from(x), Float32Array.from(dy), config.kernelFunc)),
      theirs: Array.from(await maxPoolGrad('wasm', k, Float32Array.from(x), Float32Array.from(dy), config.original)),
    });
    // Ties: the first maximum (cpu, ours), the last (wasm 4.22).
    const ties = await run([2, 2, 1, 3, 1, 2, 3, 3], [5, 7]);
    expect(ties.ours).toEqual(ties.cpu);
    expect(ties.cpu).toEqual([5, 0, 0, 7, 0, 0, 0, 0]);
    expect(ties.theirs).toEqual([0, 0, 0, 0, 0, 5, 0, 7]);
    // A window of negative values away from element 0: wasm 4.22 loses its gradient.
    const neg = await run([1, 2, -3, -1, 3, 4, -2, -4], [5, 7]);
    expect(neg.ours).toEqual(neg.cpu);
    expect(neg.cpu).toEqual([0, 0, 0, 7, 0, 5, 0, 0]);
    expect(neg.theirs).toEqual([0, 0, 0, 0, 0, 5, 0, 0]);
    // A NaN dy: only at its argmax (cpu, ours), over its whole window (wasm 4.22).
    const nan = await run([1, 2, 3, 4, 5, 6, 7, 8], [NaN, 7]);
    expect(nan.ours).toEqual(nan.cpu);
    expect(nan.cpu).toEqual([0, 0, 0, 0, 0, NaN, 0, 7]);
    expect(nan.theirs).toEqual([NaN, NaN, 0, 0, NaN, NaN, 0, 7]);
  });

  it('gives the same result whatever the window-maximum hint (exact, NaN, -Infinity, absent or wrong)', () => {
    const pool: Pool = { batch: 2, inH: 9, inW: 8, ch: 3, outH: 5, outW: 4, strideH: 2, strideW: 2, filterH: 3, filterW: 3, padTop: 1, padLeft: 0 };
    const r = rng(5);
    const x = Float32Array.from({ length: 2 * 9 * 8 * 3 }, () => Math.floor(4 * r()) - 1.5);
    const dy = Float32Array.from({ length: 2 * 5 * 4 * 3 }, () => 2 * r() - 1);
    const run = (ys: Float32Array | null) => {
      const dx = new Float32Array(x.length).fill(123); // every element must be written
      maxPoolGradInto(x, dy, dx, pool, ys);
      return dx;
    };
    const reference = run(null);
    // The true window maxima (what wasm's MaxPool gives) ...
    const exact = tf.tidy(() => tf.maxPool(tf.tensor4d(x, [2, 9, 8, 3]), 3, 2, [[0, 0], [1, 1], [0, 1], [0, 0]]).dataSync() as Float32Array);
    expect(exact.length).toBe(dy.length);
    expect(firstDifference(run(exact), reference)).toBeNull();
    // ... and hints that are no tap of their window fall back to the full scan.
    for (const v of [NaN, -Infinity, Infinity, 0.25]) expect(firstDifference(run(new Float32Array(dy.length).fill(v)), reference)).toBeNull();
    expect(reference.every((v) => v !== 123)).toBe(true);
  });

  it('hands int32 inputs to the kernel it replaced', async () => {
    await tf.setBackend('wasm');
    const k = c([1, 4, 4, 2], 2, 2, 'valid');
    const run = (f: tf.KernelFunc) => tf.tidy(() => {
      const inputs = { dy: tf.ones([1, 2, 2, 2]), input: tf.tensor4d(Int32Array.from({ length: 32 }, (_, i) => (i * 7) % 11), k.shape, 'int32') };
      const info = f({ inputs: { ...inputs, output: inputs.dy }, backend: tf.backend(), attrs: k.attrs } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
      const t = tf.engine().makeTensorFromTensorInfo(info);
      return { dtype: t.dtype, values: Array.from(t.dataSync()) };
    });
    expect(run(config.kernelFunc)).toEqual(run(config.original!));
  });

  it('rejects a dy whose shape is not the pool output shape', async () => {
    await tf.setBackend('wasm');
    const input = tf.zeros([1, 6, 6, 2]);
    const dy = tf.zeros([1, 2, 2, 2]);
    expect(() => tf.engine().runKernel(tf.MaxPoolGrad, { dy, input, output: dy }, { filterSize: 2, strides: 2, pad: 'valid' })).toThrow(
      'MaxPoolGrad (s3n-layers/wasm-training): dy must have shape [1,3,3,2], but got [1,2,2,2].',
    );
    tf.dispose([input, dy]);
  });

  it('tf.grad of tf.maxPool on wasm equals cpu bit for bit, without leaking tensors', async () => {
    const shape: Shape4 = [3, 17, 15, 6];
    const r = rng(11);
    const xv = Float32Array.from({ length: size(shape) }, () => Math.floor(6 * r()) - 3); // ties and negatives
    const grad = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const x = tf.tensor4d(xv, shape);
      const w = tf.tensor4d(Float32Array.from({ length: 3 * 9 * 8 * 6 }, (_, i) => ((i * 37) % 17) / 8 - 1), [3, 9, 8, 6]);
      const tensors = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, 3, 2, 'same'), w)))(x);
      const values = g.dataSync() as Float32Array;
      g.dispose();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.backend().numDataIds()).toBe(buffers);
      tf.dispose([x, w]);
      return values;
    };
    const cpu = await grad('cpu');
    const wasm = await grad('wasm');
    expect(firstDifference(wasm, cpu)).toBeNull();
    expect(cpu.some((v) => v !== 0)).toBe(true);
  });

  it('handles an empty batch', async () => {
    const k = c([0, 6, 6, 2], 2, 2, 'valid');
    expect(Array.from(await maxPoolGrad('wasm', k, new Float32Array(0), new Float32Array(0)))).toEqual([]);
  });
});
