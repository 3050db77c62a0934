/**
 * `s3n-layers/wasm-training`: every kernel it registers on the wasm backend against the cpu
 * backend (max |wasm - cpu| / max |cpu| <= 1e-4), no leaked tensors or wasm buffers, the
 * registration rules, and a full tfjs-layers training step on wasm against cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  WASM_TRAINING_KERNELS,
  WASM_TRAINING_REPLACED_KERNELS,
  activeWasmTrainingKernels,
  registerWasmTrainingKernels,
} from '../src/wasm-training';
import { filterPath } from '../src/kernels/wasm/Conv2DBackpropFilter';
import { inputPath } from '../src/kernels/wasm/Conv2DBackpropInput';
import { rng } from './helpers/numeric';

const TOL = 1e-4;
/** Worst relative error seen per kernel (printed at the end). */
const worst: Record<string, number> = {};

type Data = { values: Float32Array | Int32Array; shape: number[]; dtype: 'float32' | 'int32' | 'bool' };

function rand(shape: number[], seed: number): Data {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = 2 * r() - 1;
  return { values, shape, dtype: 'float32' };
}

function ints(values: number[], shape: number[]): Data {
  return { values: Int32Array.from(values), shape, dtype: 'int32' };
}

interface Result {
  shape: number[];
  dtype: string;
  values: Float32Array | Int32Array | Uint8Array;
}

/** Runs `kernel` on `backend` with fresh input tensors; checks that nothing leaks. */
async function runKernel(backend: 'cpu' | 'wasm', kernel: string, inputs: Record<string, Data>, attrs: object): Promise<Result> {
  await tf.setBackend(backend);
  const be = tf.backend();
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, d] of Object.entries(inputs)) tensors[k] = tf.tensor(d.values, d.shape, d.dtype);
  const tensorsBefore = tf.memory().numTensors;
  const buffersBefore = be.numDataIds();
  const out = tf.engine().runKernel(kernel, tensors as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { shape: out.shape, dtype: out.dtype, values: out.dataSync() as Result['values'] };
  out.dispose();
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  expect(be.numDataIds()).toBe(buffersBefore);
  tf.dispose(Object.values(tensors));
  return result;
}

function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  return scale === 0 ? diff : diff / scale;
}

/** wasm (with the entry) against a reference; records the error under `label`. */
async function compare(label: string, kernel: string, inputs: Record<string, Data>, attrs: object, reference?: Result): Promise<number> {
  const ref = reference ?? (await runKernel('cpu', kernel, inputs, attrs));
  const got = await runKernel('wasm', kernel, inputs, attrs);
  expect(got.shape).toEqual(ref.shape);
  const err = relErr(got.values, ref.values);
  worst[label] = Math.max(worst[label] ?? 0, err);
  if (!(err <= TOL)) throw new Error(`${label} ${kernel} ${JSON.stringify(attrs)}: relative error ${err}`);
  return err;
}

const PADS: Array<'same' | 'valid' | tf.backend_util.ExplicitPadding> = ['same', 'valid', [[0, 0], [1, 2], [0, 1], [0, 0]]];
const SIZES: Array<[number, number]> = [[9, 11], [7, 7], [13, 8]];

type Backprop = 'Conv2DBackpropFilter' | 'Conv2DBackpropInput' | 'DepthwiseConv2dNativeBackpropFilter' | 'DepthwiseConv2dNativeBackpropInput';

/** A convolution whose gradient the backprop kernels compute; `info.outShape` is the shape of dy. */
interface ConvCase {
  x: number[];
  filter: number[];
  strides: number | [number, number];
  pad: unknown;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'ceil';
  dilations: number;
  info: tf.backend_util.Conv2DInfo;
}

function convCase(
  x: number[], filter: number[], strides: number | [number, number], pad: unknown,
  { dataFormat = 'NHWC', dimRoundingMode, dilations = 1, depthwise = false }: Partial<Pick<ConvCase, 'dataFormat' | 'dimRoundingMode' | 'dilations'>> & { depthwise?: boolean } = {},
): ConvCase {
  const info = tf.backend_util.computeConv2DInfo(x as [number, number, number, number], filter as [number, number, number, number], strides, dilations,
    pad as 'same', dimRoundingMode, depthwise, dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast');
  return { x, filter, strides, pad, dataFormat, dimRoundingMode, dilations, info };
}

/**
 * The sweep every backprop kernel is checked on (NHWC, 3 input channels): kernels 1/3/7,
 * strides 1/2, same/valid/explicit padding, odd sizes, batch 1/2 (2 only at 9x11, and not with
 * explicit padding for conv2d); conv2d has 4 output channels, depthwise multipliers 1 and 2.
 */
function* sweep(depthwise: boolean): Generator<ConvCase> {
  for (const k of [1, 3, 7]) for (const s of [1, 2]) for (const pad of PADS) for (const [h, w] of SIZES) for (const m of depthwise ? [1, 2] : [4]) for (const n of [1, 2]) {
    if (n === 2 && (h !== 9 || (!depthwise && typeof pad === 'object'))) continue;
    const c = convCase([n, h, w, 3], [k, k, 3, m], s, pad, { depthwise });
    if (c.info.outShape[1] > 0 && c.info.outShape[2] > 0) yield c;
  }
}

/** conv2d cases off the sweep: NCHW, a numeric pad with dimRoundingMode, non-square strides. */
const CONV2D_CASES: ConvCase[] = [
  convCase([2, 3, 9, 11], [3, 3, 3, 5], 2, 'same', { dataFormat: 'NCHW' }),
  convCase([1, 3, 8, 7], [1, 1, 3, 5], 2, 'valid', { dataFormat: 'NCHW' }),
  convCase([1, 9, 10, 3], [3, 3, 3, 4], 2, 1, { dimRoundingMode: 'ceil' }),
  convCase([1, 9, 10, 3], [3, 3, 3, 4], [1, 2], 'same'),
  convCase([1, 9, 10, 3], [1, 1, 3, 4], [2, 1], 'valid'),
];

/** Depthwise cases with dilation 2: kernels 3/5, strides 1/2, same/valid, multipliers 1/2. */
function* dilated(): Generator<ConvCase> {
  for (const k of [3, 5]) for (const s of [1, 2]) for (const pad of ['same', 'valid'] as const) for (const m of [1, 2]) {
    yield convCase([2, 13, 11, 3], [k, k, 3, m], s, pad, { dilations: 2, depthwise: true });
  }
}

/** The kernel's attrs for `c`. */
function backpropAttrs(kernel: Backprop, c: ConvCase): object {
  return {
    strides: c.strides,
    pad: c.pad,
    ...(kernel.startsWith('Depthwise') ? { dilations: c.dilations } : { dataFormat: c.dataFormat }),
    dimRoundingMode: c.dimRoundingMode,
    ...(kernel.endsWith('Filter') ? { filterShape: c.filter } : { inputShape: c.x }),
  };
}

/** The same padding as `c`'s, written out explicitly. */
function explicitPad(c: ConvCase): tf.backend_util.ExplicitPadding {
  const p = c.info.padInfo;
  return [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]];
}

/**
 * Checks `kernel` on wasm against cpu on every case in turn, with random operands (the
 * filter kernels take x then dy, the input kernels dy then filter, each the next seed from
 * `seed`). With `path`, each case runs on every one of `path.values` (the kernel's
 * implementation switch `path.flag`), which is set back to `path.reset` at the end.
 */
async function expectMatchesCpu(
  kernel: Backprop, cases: Iterable<ConvCase>, seed: number, path?: { flag: { value: string }; values: readonly string[]; reset: string },
): Promise<void> {
  for (const c of cases) {
    for (const value of path?.values ?? [undefined]) {
      if (path && value !== undefined) path.flag.value = value;
      const dy = c.info.outShape;
      const operands: Array<[string, number[]]> = kernel.endsWith('Filter') ? [['x', c.x], ['dy', dy]] : [['dy', dy], ['filter', c.filter]];
      const inputs = Object.fromEntries(operands.map(([name, shape]) => [name, rand(shape, seed++)]));
      await compare(value === undefined ? kernel : `${kernel}/${value}`, kernel, inputs, backpropAttrs(kernel, c));
    }
  }
  if (path) path.flag.value = path.reset;
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

afterAll(async () => {
  filterPath.value = 'im2col';
  inputPath.value = 'auto';
  await tf.setBackend('cpu');
  // eslint-disable-next-line no-console
  console.log(`max relative error vs cpu per kernel/path:\n${Object.entries(worst).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n')}`);
});

describe('registration', () => {
  it('serves every kernel on wasm, and registering again is a no-op', () => {
    expect(activeWasmTrainingKernels().sort()).toEqual([...WASM_TRAINING_KERNELS].sort());
    expect(registerWasmTrainingKernels()).toEqual([]);
    expect(registerWasmTrainingKernels()).toEqual([]);
    for (const k of WASM_TRAINING_KERNELS) expect(tf.getKernel(k, 'cpu')).toBeDefined();
  });

  it('is harmless when a second copy of the module is imported', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    let again: string[] | undefined;
    // A second copy of this package (say its ESM and CJS builds) sharing tfjs and its wasm backend.
    jest.isolateModules(() => {
      jest.doMock('@tensorflow/tfjs-core', () => tf);
      jest.doMock('@tensorflow/tfjs-backend-wasm', () => ({}));
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      again = (require('../src/wasm-training') as typeof import('../src/wasm-training')).registerWasmTrainingKernels();
    });
    jest.dontMock('@tensorflow/tfjs-core');
    jest.dontMock('@tensorflow/tfjs-backend-wasm');
    expect(again).toEqual([]);
    expect(warn.mock.calls.filter((c) => /already registered/.test(String(c[0])))).toEqual([]);
    warn.mockRestore();
  });

  it('replaces only the documented kernels and keeps the replaced originals', () => {
    expect([...WASM_TRAINING_REPLACED_KERNELS].sort()).toEqual(['Conv2DBackpropInput', 'Identity', 'MaxPoolGrad', 'Mean', 'Sum', 'Tile']);
    for (const k of WASM_TRAINING_REPLACED_KERNELS) {
      const config = tf.getKernel(k, 'wasm') as tf.KernelConfig & { original?: tf.KernelFunc };
      expect(typeof config.original).toBe('function');
      // The setup hook binds a kernel's C++ function; wasm's Identity is plain JS and has none.
      expect(typeof config.setupFunc).toBe(k === 'Identity' ? 'undefined' : 'function');
    }
  });

  it('never overrides a kernel the wasm backend registers natively', () => {
    const ours = tf.getKernel('UnsortedSegmentSum', 'wasm')!;
    const native: tf.KernelConfig = { kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: () => { throw new Error('native'); } };
    tf.unregisterKernel('UnsortedSegmentSum', 'wasm');
    tf.registerKernel(native);
    try {
      expect(registerWasmTrainingKernels()).toEqual([]);
      expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBe(native);
    } finally {
      tf.unregisterKernel('UnsortedSegmentSum', 'wasm');
      tf.registerKernel(ours);
    }
    expect(activeWasmTrainingKernels()).toContain('UnsortedSegmentSum');
  });
});

describe('Conv2DBackpropFilter', () => {
  const path = (values: Array<typeof filterPath.value>) => ({ flag: filterPath, values, reset: 'im2col' });
  for (const p of ['im2col', 'conv'] as const) {
    it(`matches cpu (${p}): kernels 1/3/7, strides 1/2, same/valid/explicit, odd sizes, batch 1/2`, async () => {
      await expectMatchesCpu('Conv2DBackpropFilter', sweep(false), 1, path([p]));
    });
  }

  it('matches cpu for NCHW, numeric pad with dimRoundingMode, non-square strides', async () => {
    await expectMatchesCpu('Conv2DBackpropFilter', CONV2D_CASES, 100, path(['im2col', 'conv']));
  });
});

describe('Conv2DBackpropInput', () => {
  const path = (values: Array<typeof inputPath.value>) => ({ flag: inputPath, values, reset: 'auto' });
  for (const p of ['auto', 'conv', 'col2im'] as const) {
    it(`matches cpu (${p}): kernels 1/3/7, strides 1/2, same/valid/explicit, odd sizes, batch 1/2`, async () => {
      await expectMatchesCpu('Conv2DBackpropInput', sweep(false), 200, path([p]));
    });
  }

  it('matches cpu for NCHW, numeric pad with dimRoundingMode, non-square strides, stride 3', async () => {
    const stride3 = [convCase([1, 11, 10, 2], [5, 4, 2, 3], 3, 'same'), convCase([1, 11, 10, 2], [2, 2, 2, 3], 3, 'valid')];
    await expectMatchesCpu('Conv2DBackpropInput', [...CONV2D_CASES, ...stride3], 300, path(['conv', 'col2im']));
  });

  it('is the replacement, and agrees with the wasm kernel it replaced', async () => {
    const config = tf.getKernel('Conv2DBackpropInput', 'wasm') as tf.KernelConfig & { original?: tf.KernelFunc };
    const dy = rand([1, 5, 6, 4], 400);
    const filter = rand([3, 3, 3, 4], 401);
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: [1, 9, 11, 3] };
    await tf.setBackend('wasm');
    const run = (f: tf.KernelFunc) => tf.tidy(() => {
      const t = { dy: tf.tensor(dy.values, dy.shape), filter: tf.tensor(filter.values, filter.shape) };
      const info = f({ inputs: t, backend: tf.backend(), attrs } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
      const out = tf.engine().makeTensorFromTensorInfo(info);
      return out.dataSync();
    });
    const mine = run(config.kernelFunc);
    const theirs = run(config.original!);
    expect(relErr(mine, theirs)).toBeLessThanOrEqual(TOL);
  });
});

/** The true gradient for dilation d: the cpu kernel (dilation 1) with the zero-upsampled filter. */
function upsample(f: Data, d: number): Data {
  const [fh, fw, c, m] = f.shape;
  const eh = (fh - 1) * d + 1;
  const ew = (fw - 1) * d + 1;
  const out = new Float32Array(eh * ew * c * m);
  for (let a = 0; a < fh; a++) for (let b = 0; b < fw; b++) {
    out.set(f.values.subarray((a * fw + b) * c * m, (a * fw + b + 1) * c * m) as Float32Array, ((a * d) * ew + b * d) * c * m);
  }
  return { values: out, shape: [eh, ew, c, m], dtype: 'float32' };
}

describe('DepthwiseConv2dNativeBackpropFilter', () => {
  it('matches cpu: kernels 1/3/7, strides 1/2, same/valid/explicit, multipliers 1/2, odd sizes, batch 1/2', async () => {
    await expectMatchesCpu('DepthwiseConv2dNativeBackpropFilter', sweep(true), 500);
  });

  it('computes the true gradient for dilation 2 (strides 1 and 2)', async () => {
    let seed = 600;
    for (const c of dilated()) {
      const [k, , ch, m] = c.filter;
      const x = rand(c.x, seed++);
      const dy = rand(c.info.outShape, seed++);
      // Gradient wrt the upsampled filter, read back at the real taps.
      const e = (k - 1) * 2 + 1;
      const big = await runKernel('cpu', 'DepthwiseConv2dNativeBackpropFilter', { x, dy },
        { strides: c.strides, pad: explicitPad(c), dilations: 1, filterShape: [e, e, ch, m] });
      const ref = new Float32Array(k * k * ch * m);
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
        ref.set(big.values.subarray(((2 * a) * e + 2 * b) * ch * m, ((2 * a) * e + 2 * b + 1) * ch * m) as Float32Array, (a * k + b) * ch * m);
      }
      await compare('DepthwiseConv2dNativeBackpropFilter (dilation 2, vs true gradient)', 'DepthwiseConv2dNativeBackpropFilter', { x, dy },
        backpropAttrs('DepthwiseConv2dNativeBackpropFilter', c), { shape: c.filter, dtype: 'float32', values: ref });
    }
  });
});

describe('DepthwiseConv2dNativeBackpropInput', () => {
  it('matches cpu: kernels 1/3/7, strides 1/2, same/valid/explicit, multipliers 1/2, odd sizes, batch 1/2', async () => {
    await expectMatchesCpu('DepthwiseConv2dNativeBackpropInput', sweep(true), 700);
  });

  it('computes the true gradient for dilation 2 (strides 1 and 2)', async () => {
    let seed = 800;
    for (const c of dilated()) {
      const filter = rand(c.filter, seed++);
      const dy = rand(c.info.outShape, seed++);
      const ref = await runKernel('cpu', 'DepthwiseConv2dNativeBackpropInput', { dy, filter: upsample(filter, 2) },
        { strides: c.strides, pad: explicitPad(c), dilations: 1, inputShape: c.x });
      await compare('DepthwiseConv2dNativeBackpropInput (dilation 2, vs true gradient)', 'DepthwiseConv2dNativeBackpropInput', { dy, filter },
        backpropAttrs('DepthwiseConv2dNativeBackpropInput', c), ref);
    }
  });
});

describe('UnsortedSegmentSum', () => {
  it('wasm ScatterNd sums duplicate indices (what the kernel relies on)', async () => {
    await tf.setBackend('wasm');
    const out = tf.tidy(() => tf.scatterND(tf.tensor2d([[1], [1], [3]], [3, 1], 'int32'), tf.tensor2d([[1, 2], [10, 20], [5, 5]]), [4, 2]).dataSync());
    expect(Array.from(out)).toEqual([0, 0, 11, 22, 0, 0, 5, 5]);
  });

  it('matches cpu: duplicates, missing segments, negative and out-of-range ids, multi-dim ids', async () => {
    await compare('UnsortedSegmentSum', 'UnsortedSegmentSum', { x: rand([7, 3], 900), segmentIds: ints([0, 2, 0, 4, 2, 2, 1], [7]) }, { numSegments: 5 });
    await compare('UnsortedSegmentSum', 'UnsortedSegmentSum', { x: rand([6, 2, 3], 901), segmentIds: ints([3, -1, 0, 9, 3, 0], [6]) }, { numSegments: 4 });
    await compare('UnsortedSegmentSum', 'UnsortedSegmentSum', { x: rand([5], 903), segmentIds: ints([1, 0, 1, 1, 0], [5]) }, { numSegments: 2 });
  });

  it('accepts multi-dimensional segment ids (TensorFlow semantics; the cpu kernel only takes 1-d ids)', async () => {
    const x = rand([2, 3, 4], 902);
    const ids = [1, 0, 1, 2, 2, 1];
    const ref = new Float32Array(3 * 4);
    ids.forEach((id, i) => { for (let j = 0; j < 4; j++) ref[id * 4 + j] += x.values[i * 4 + j]; });
    const got = await runKernel('wasm', 'UnsortedSegmentSum', { x, segmentIds: ints(ids, [2, 3]) }, { numSegments: 3 });
    expect(got.shape).toEqual([3, 4]);
    expect(relErr(got.values, ref)).toBeLessThanOrEqual(TOL);
  });

  it('keeps int32 values exact', async () => {
    const x = ints([1, 2, 3, 4, 5, 6], [3, 2]);
    const got = await runKernel('wasm', 'UnsortedSegmentSum', { x, segmentIds: ints([1, 1, 0], [3]) }, { numSegments: 2 });
    expect(got.dtype).toBe('int32');
    expect(Array.from(got.values)).toEqual([5, 6, 4, 6]);
  });
});

describe('Tile', () => {
  it('matches cpu for float32, int32 and bool, any rank', async () => {
    const cases: Array<[number[], number[]]> = [
      [[1, 1, 1, 5], [2, 7, 3, 1]], [[3], [4]], [[2, 3], [1, 1]], [[2, 3], [3, 2]], [[2, 1, 3], [1, 4, 2]], [[1, 2, 1, 2, 3], [2, 1, 3, 1, 2]],
    ];
    let seed = 1000;
    for (const [shape, reps] of cases) {
      await compare('Tile', 'Tile', { x: rand(shape, seed++) }, { reps });
      const n = shape.reduce((a, b) => a * b, 1);
      const iv = Array.from({ length: n }, (_, i) => i * 7 - 3);
      const cpu = await runKernel('cpu', 'Tile', { x: ints(iv, shape) }, { reps });
      const wasm = await runKernel('wasm', 'Tile', { x: ints(iv, shape) }, { reps });
      expect(wasm.dtype).toBe('int32');
      expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
      const b: Data = { values: Int32Array.from(iv.map((v) => (v % 2 === 0 ? 1 : 0))), shape, dtype: 'bool' };
      const cpuB = await runKernel('cpu', 'Tile', { x: b }, { reps });
      const wasmB = await runKernel('wasm', 'Tile', { x: b }, { reps });
      expect(Array.from(wasmB.values)).toEqual(Array.from(cpuB.values));
    }
  });
});

describe('training step of tfjs-layers models', () => {
  function convModel(): tfl.LayersModel {
    let k = 0;
    const init = () => tfl.initializers.glorotUniform({ seed: 40 + k++ });
    type Sym = tfl.SymbolicTensor;
    const input = tfl.input({ shape: [17, 17, 3] });
    let x = tfl.layers.conv2d({ filters: 8, kernelSize: 7, strides: 2, padding: 'same', kernelInitializer: init() }).apply(input) as Sym;
    x = tfl.layers.batchNormalization().apply(x) as Sym;
    x = tfl.layers.activation({ activation: 'relu' }).apply(x) as Sym;
    x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x) as Sym;
    let y = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init() }).apply(x) as Sym;
    y = tfl.layers.batchNormalization().apply(y) as Sym;
    y = tfl.layers.activation({ activation: 'relu' }).apply(y) as Sym;
    y = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, depthwiseInitializer: init() }).apply(y) as Sym;
    y = tfl.layers.conv2d({ filters: 8, kernelSize: 1, kernelInitializer: init() }).apply(y) as Sym;
    x = tfl.layers.add().apply([x, y]) as Sym;
    x = tfl.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'valid', kernelInitializer: init() }).apply(x) as Sym;
    x = tfl.layers.averagePooling2d({ poolSize: 2, padding: 'same' }).apply(x) as Sym;
    x = tfl.layers.globalAveragePooling2d({}).apply(x) as Sym;
    const logits = tfl.layers.dense({ units: 5, kernelInitializer: init() }).apply(x) as Sym;
    return tfl.model({ inputs: input, outputs: logits });
  }

  /** Loss and gradients of `model` on `backend` (inputs rebuilt there). */
  async function step(backend: string, model: tfl.LayersModel, x: Data, labels: number[], classes: number) {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const xs = tf.tensor(x.values, x.shape);
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes));
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar,
    );
    const out = { loss: value.dataSync()[0], grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync()])) };
    tf.dispose([xs, ys, value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    return out;
  }

  it('a conv/batchnorm/depthwise/pooling/dense model: loss and every gradient match cpu', async () => {
    await tf.setBackend('cpu');
    const model = convModel();
    const x = rand([3, 17, 17, 3], 1100);
    const cpu = await step('cpu', model, x, [0, 3, 4], 5);
    const wasm = await step('wasm', model, x, [0, 3, 4], 5);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThanOrEqual(TOL * Math.abs(cpu.loss));
    expect(Object.keys(wasm.grads).sort()).toEqual(Object.keys(cpu.grads).sort());
    // The biases of the convolutions feeding a BatchNormalization have a gradient that is
    // mathematically zero (the batch mean absorbs them): both backends return rounding noise
    // (~1e-8) there, which is compared against the scale of the whole gradient instead.
    const maxAbs = (v: ArrayLike<number>) => Array.from(v).reduce((m, a) => Math.max(m, Math.abs(a)), 0);
    const globalScale = Math.max(...Object.values(cpu.grads).map(maxAbs));
    for (const name of Object.keys(cpu.grads)) {
      const own = maxAbs(cpu.grads[name]);
      let err = relErr(wasm.grads[name], cpu.grads[name]);
      if (own < 1e-5 * globalScale) err = (err * own) / globalScale;
      worst['training step (conv model gradients)'] = Math.max(worst['training step (conv model gradients)'] ?? 0, err);
      if (!(err <= TOL)) throw new Error(`gradient of ${name}: relative error ${err}`);
    }
    await tf.setBackend('cpu');
    model.dispose();
  });

  it('an embedding model (gather gradient = UnsortedSegmentSum) matches cpu, and model.fit runs on wasm', async () => {
    await tf.setBackend('cpu');
    const model = tfl.sequential({
      layers: [
        tfl.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 5, embeddingsInitializer: tfl.initializers.randomUniform({ seed: 3 }) }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }),
      ],
    });
    const ids: Data = { values: Float32Array.from([1, 2, 2, 9, 0, 4, 4, 4, 1, 7]), shape: [2, 5], dtype: 'float32' };
    const cpu = await step('cpu', model, ids, [0, 2], 3);
    const wasm = await step('wasm', model, ids, [0, 2], 3);
    for (const name of Object.keys(cpu.grads)) {
      const err = relErr(wasm.grads[name], cpu.grads[name]);
      worst['training step (embedding model gradients)'] = Math.max(worst['training step (embedding model gradients)'] ?? 0, err);
      expect(err).toBeLessThanOrEqual(TOL);
    }
    await tf.setBackend('wasm');
    const conv = convModel();
    conv.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    const xs = tf.tensor(rand([2, 17, 17, 3], 1200).values, [2, 17, 17, 3]);
    const ys = tf.tidy(() => tf.oneHot(tf.tensor1d([1, 2], 'int32'), 5));
    const history = await conv.fit(xs, ys, { epochs: 2, batchSize: 2, verbose: 0 });
    expect(history.history.loss.every((v) => Number.isFinite(v as number))).toBe(true);
    tf.dispose([xs, ys]);
    conv.dispose();
    await tf.setBackend('cpu');
    model.dispose();
  });
});
