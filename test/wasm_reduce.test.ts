/**
 * The Sum and Mean kernels of s3n-layers/wasm-training: bit for bit the cpu backend's result
 * on leading-axis reductions (sorted, unsorted, negative, all axes, keepDims, K = 1, M = 1,
 * large and mixed-sign values, NaN and infinities); the replaced wasm kernel for everything
 * else (non-prefix axes, int32 Mean, empty tensors); int32 Sum equal to the replaced kernel;
 * tf.grad through tf.moments and tf.mean; no leaked tensors or wasm buffers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { activeWasmTrainingKernels, WASM_TRAINING_REPLACED_KERNELS } from '../src/wasm-training';
import { leadingReduction } from '../src/kernels/wasm/Reduce';
import { rng } from './helpers/numeric';

type Op = 'Sum' | 'Mean';
type Axis = number | number[] | undefined;
type Config = tf.KernelConfig & { original?: tf.KernelFunc };
interface Result { shape: number[]; dtype: string; values: Float32Array | Int32Array }

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Element i differs when the values differ, -0 vs +0 included (any NaN equals any NaN). */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `element ${i}: ${a[i]} vs ${b[i]}`;
  return null;
}

/**
 * `op` on `backend` through the engine, or with `kernel` called directly, on a fresh input
 * tensor; checks that no tensor and no backend buffer leaks.
 */
async function reduce(
  backend: 'cpu' | 'wasm', op: Op, values: Float32Array | Int32Array, shape: number[], axis: Axis, keepDims: boolean,
  kernel?: tf.KernelFunc,
): Promise<Result> {
  await tf.setBackend(backend);
  const be = tf.backend();
  const x = tf.tensor(values, shape, values instanceof Int32Array ? 'int32' : 'float32');
  const tensors = tf.memory().numTensors;
  const buffers = be.numDataIds();
  const attrs = { axis, keepDims } as unknown as tf.NamedAttrMap;
  const out = kernel == null
    ? (tf.engine().runKernel(op, { x }, attrs) as tf.Tensor)
    : tf.engine().makeTensorFromTensorInfo(kernel({ inputs: { x }, backend: be, attrs } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo);
  const result = { shape: out.shape, dtype: out.dtype, values: out.dataSync() as Result['values'] };
  out.dispose();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(be.numDataIds()).toBe(buffers);
  x.dispose();
  return result;
}

/** Data kinds; `mixed` makes float32 and float64 running sums differ, `cancel` makes the order of the terms matter. */
const KINDS: Record<string, (n: number, seed: number) => Float32Array> = {
  uniform: (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => 2 * r() - 1); },
  mixed: (n, seed) => {
    const r = rng(seed);
    return Float32Array.from({ length: n }, () => { const u = r(); return u < 0.3 ? 1e7 * (r() < 0.5 ? -1 : 1) : u < 0.6 ? 1 : r() * 3 - 1.5; });
  },
  /** ±2^60 among small values: even float64 sums depend on the order of the terms. */
  cancel: (n, seed) => {
    const r = rng(seed);
    return Float32Array.from({ length: n }, () => (r() < 0.2 ? (r() < 0.5 ? -1 : 1) * 2 ** 60 : 2 * r() - 1));
  },
  big: (n, seed) => { const r = rng(seed); return Float32Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * 3e37 * r()); },
  special: (n, seed) => {
    const r = rng(seed);
    return Float32Array.from({ length: n }, () => {
      const u = r();
      return u < 0.04 ? NaN : u < 0.08 ? Infinity : u < 0.12 ? -Infinity : u < 0.2 ? -0 : 2 * r() - 1;
    });
  },
};

/** Leading-axis reductions: the fast path. */
const LEADING: Array<{ shape: number[]; axis: Axis }> = [
  { shape: [2, 7, 5, 3], axis: [0, 1, 2] },
  { shape: [2, 7, 5, 3], axis: [0, 1] },
  { shape: [2, 7, 5, 3], axis: [0] },
  { shape: [2, 7, 5, 3], axis: 0 },
  { shape: [2, 7, 5, 3], axis: undefined },
  { shape: [2, 7, 5, 3], axis: [0, 1, 2, 3] },
  { shape: [2, 7, 5, 3], axis: [-4, -3, -2] },
  { shape: [2, 7, 5, 3], axis: [2, 0, 1] }, // unsorted: cpu sums in the order given
  { shape: [2, 7, 5, 3], axis: [1, 0] },
  { shape: [2, 7, 5, 3], axis: [3, 1, 0, 2] }, // full reduction, unsorted
  { shape: [3, 4, 5, 37], axis: [0, 1, 2] }, // K = 37: blocks of 8 and a tail of 5
  { shape: [4, 9, 9, 64], axis: [0, 1, 2] }, // batch-norm-like, blocked loop over several row blocks
  { shape: [70, 16], axis: [0] }, // rank 2, K = 16, a partial row block
  { shape: [5, 6], axis: -2 },
  { shape: [23], axis: 0 }, // rank 1 (K = 1)
  { shape: [23], axis: undefined },
  { shape: [6, 5, 1], axis: [0, 1] }, // K = 1
  { shape: [1, 3, 4], axis: [0] }, // M = 1
  { shape: [1, 40], axis: [0] }, // M = 1, blocked
];

/** Not a leading prefix (or no axis): served by the replaced kernel. */
const OTHERS: Array<{ shape: number[]; axis: Axis }> = [
  { shape: [2, 7, 5, 3], axis: [1, 2] },
  { shape: [2, 7, 5, 3], axis: [3] },
  { shape: [2, 7, 5, 3], axis: [-1] },
  { shape: [2, 7, 5, 3], axis: [0, 2] },
  { shape: [2, 7, 5, 3], axis: [] },
  { shape: [6, 20], axis: 1 },
];

const label = (op: Op, c: { shape: number[]; axis: Axis }, keepDims: boolean) =>
  `${op} [${c.shape.join(',')}] axis ${JSON.stringify(c.axis)} keepDims ${keepDims}`;

const configs: Partial<Record<Op, Config>> = {};
beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  for (const op of ['Sum', 'Mean'] as const) configs[op] = tf.getKernel(op, 'wasm') as Config;
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('Sum and Mean on wasm', () => {
  it('are served by this package as replacements, keeping the wasm kernels and their setup', () => {
    for (const op of ['Sum', 'Mean'] as const) {
      expect(activeWasmTrainingKernels()).toContain(op);
      expect(WASM_TRAINING_REPLACED_KERNELS).toContain(op);
      expect(typeof configs[op]!.original).toBe('function');
      expect(typeof configs[op]!.setupFunc).toBe('function');
    }
  });

  it('take the fast path exactly on leading-axis reductions', () => {
    for (const c of LEADING) expect(leadingReduction(c.shape, c.axis, false)).not.toBeNull();
    for (const c of OTHERS) expect(leadingReduction(c.shape, c.axis, false)).toBeNull();
    expect(leadingReduction([2, 3], [0, 0], false)).toBeNull(); // repeated axis
    expect(leadingReduction([], undefined, false)).toBeNull(); // scalar
    expect(leadingReduction([2, 7, 5, 3], [2, 0, 1], true)).toMatchObject({ M: 70, K: 3, outShape: [1, 1, 1, 3] });
    expect(leadingReduction([2, 7, 5, 3], undefined, false)).toMatchObject({ M: 210, K: 1, outShape: [], rowOrder: null });
  });

  for (const [kind, make] of Object.entries(KINDS)) {
    it(`equal the cpu backend bit for bit: ${kind} inputs, ${LEADING.length} leading reductions, keepDims both ways`, async () => {
      let seed = kind.length * 100;
      for (const op of ['Sum', 'Mean'] as const) {
        for (const c of LEADING) {
          for (const keepDims of [false, true]) {
            const x = make(size(c.shape), seed++);
            const cpu = await reduce('cpu', op, x, c.shape, c.axis, keepDims);
            const wasm = await reduce('wasm', op, x, c.shape, c.axis, keepDims);
            expect([label(op, c, keepDims), wasm.shape, wasm.dtype]).toEqual([label(op, c, keepDims), cpu.shape, cpu.dtype]);
            const diff = firstDifference(wasm.values, cpu.values);
            if (diff != null) throw new Error(`${kind} ${label(op, c, keepDims)}: ${diff}`);
          }
        }
      }
    });
  }

  it('differ from the replaced kernels where those sum in float32 (mixed magnitudes)', async () => {
    // 2^24 + 1 + 1 + ...: float32 running sums lose every one, float64 ones keep them.
    const shape = [64, 4];
    const x = Float32Array.from({ length: 256 }, (_, i) => (i < 4 ? 2 ** 24 : 1));
    for (const op of ['Sum', 'Mean'] as const) {
      const cpu = await reduce('cpu', op, x, shape, [0], false);
      const ours = await reduce('wasm', op, x, shape, [0], false, configs[op]!.kernelFunc);
      expect(firstDifference(ours.values, cpu.values)).toBeNull();
      const theirs = await reduce('wasm', op, x, shape, [0], false, configs[op]!.original);
      expect(theirs.shape).toEqual(cpu.shape);
      if (op === 'Sum') {
        expect(Array.from(cpu.values)).toEqual(new Array(4).fill(Math.fround(2 ** 24 + 63)));
        expect(Array.from(theirs.values)).toEqual(new Array(4).fill(2 ** 24));
        expect(firstDifference(theirs.values, cpu.values)).not.toBeNull();
      }
    }
  });

  it('equal the replaced kernels bit for bit on non-prefix axes (which they serve)', async () => {
    let seed = 900;
    for (const op of ['Sum', 'Mean'] as const) {
      for (const c of OTHERS) {
        for (const keepDims of [false, true]) {
          const x = KINDS.uniform(size(c.shape), seed++);
          const engine = await reduce('wasm', op, x, c.shape, c.axis, keepDims);
          const theirs = await reduce('wasm', op, x, c.shape, c.axis, keepDims, configs[op]!.original);
          expect([label(op, c, keepDims), engine.shape, engine.dtype]).toEqual([label(op, c, keepDims), theirs.shape, theirs.dtype]);
          expect(firstDifference(engine.values, theirs.values)).toBeNull();
        }
      }
    }
  });

  it('int32: Sum equals the replaced kernel (wrap-around included), Mean is handed to it', async () => {
    const r = rng(3);
    const cases: Array<{ shape: number[]; axis: Axis; values: Int32Array }> = [
      { shape: [4, 5, 6], axis: [0, 1], values: Int32Array.from({ length: 120 }, () => Math.floor(2001 * r()) - 1000) },
      { shape: [4, 5, 6], axis: [1, 0], values: Int32Array.from({ length: 120 }, () => Math.floor(2001 * r()) - 1000) },
      { shape: [4, 5, 6], axis: undefined, values: Int32Array.from({ length: 120 }, () => Math.floor(2001 * r()) - 1000) },
      { shape: [5, 10], axis: [0], values: Int32Array.from({ length: 50 }, () => 2 ** 30 + Math.floor(1000 * r())) }, // overflows
      { shape: [5, 10], axis: [1], values: Int32Array.from({ length: 50 }, () => Math.floor(2001 * r()) - 1000) }, // not leading
    ];
    for (const op of ['Sum', 'Mean'] as const) {
      for (const c of cases) {
        for (const keepDims of [false, true]) {
          const ours = await reduce('wasm', op, c.values, c.shape, c.axis, keepDims, configs[op]!.kernelFunc);
          const theirs = await reduce('wasm', op, c.values, c.shape, c.axis, keepDims, configs[op]!.original);
          expect(ours).toEqual(theirs);
          if (op === 'Sum') expect(ours.dtype).toBe('int32');
        }
      }
    }
    // Without overflow, also equal to cpu.
    const cpu = await reduce('cpu', 'Sum', cases[0].values, cases[0].shape, cases[0].axis, false);
    expect(await reduce('wasm', 'Sum', cases[0].values, cases[0].shape, cases[0].axis, false)).toEqual(cpu);
  });

  it('hand empty tensors and scalars to the replaced kernels', async () => {
    for (const op of ['Sum', 'Mean'] as const) {
      for (const [shape, axis] of [[[0, 3], [0]], [[3, 0], [0]], [[], undefined]] as Array<[number[], Axis]>) {
        const x = new Float32Array(size(shape)).fill(2.5);
        const ours = await reduce('wasm', op, x, shape, axis, false, configs[op]!.kernelFunc);
        const theirs = await reduce('wasm', op, x, shape, axis, false, configs[op]!.original);
        expect(ours.shape).toEqual(theirs.shape);
        if (size(shape) > 0) expect(Array.from(ours.values)).toEqual(Array.from(theirs.values));
      }
    }
  });

  it('tf.grad through tf.moments and tf.mean on wasm equals cpu, without leaking tensors', async () => {
    const shape = [3, 9, 7, 16];
    const xv = KINDS.uniform(size(shape), 41);
    const wv = KINDS.uniform(16, 42);
    const grad = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const w = tf.tensor1d(wv);
      const tensors = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      const f = (t: tf.Tensor) => {
        const { mean, variance } = tf.moments(t, [0, 1, 2]);
        return tf.add(tf.sum(tf.mul(variance, w)), tf.sum(tf.mul(mean, tf.sum(tf.mean(tf.square(t), [0, 1]), [0, 1]))));
      };
      const [value, g] = (() => { const { value, grad: gr } = tf.valueAndGrad(f)(x); return [value, gr]; })();
      const out = { value: value.dataSync()[0], grad: g.dataSync() as Float32Array };
      tf.dispose([value, g]);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.backend().numDataIds()).toBe(buffers);
      tf.dispose([x, w]);
      return out;
    };
    const cpu = await grad('cpu');
    const wasm = await grad('wasm');
    // Bit for bit here (the elementwise kernels of both backends round alike); 1e-6 is the brief's bound.
    expect(Math.abs(wasm.value - cpu.value)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(cpu.value)));
    let worst = 0;
    for (let i = 0; i < cpu.grad.length; i++) worst = Math.max(worst, Math.abs(wasm.grad[i] - cpu.grad[i]));
    expect(worst).toBeLessThanOrEqual(1e-6);
    expect(firstDifference(wasm.grad, cpu.grad)).toBeNull();
    expect(cpu.grad.some((v) => v !== 0)).toBe(true);
  });
});
