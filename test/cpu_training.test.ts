/**
 * `s3n-layers/cpu-training`: its Conv2DBackpropFilter against the one tfjs-backend-cpu
 * registered (max |ours - tfjs| / max |tfjs| <= 1e-4) over strides, paddings and kernel sizes,
 * directly and through `tf.grad` of a convolution; the fallback to tfjs' kernel; no leaked
 * tensors; and the registration rules (idempotent, also with a second copy of the module).
 *
 * Dilation is not swept: Conv2DBackpropFilter has no dilation attribute, in tfjs' kernel as in
 * ours, and tfjs-core has no gradient for a dilated conv2d (checked below, so that a tfjs that
 * adds one shows up here).
 */
import * as tf from '@tensorflow/tfjs-core';
import { uniform } from './helpers/numeric';

type Entry = typeof import('../src/cpu-training');
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Shape4 = [number, number, number, number];

const TOL = 1e-4;
const NAME = tf.Conv2DBackpropFilter;

/** tfjs-backend-cpu's own kernel, looked up before the entry replaces it. */
let native: tf.KernelConfig;
let entry: Entry;

beforeAll(async () => {
  // test/helpers/setup.ts has loaded the cpu backend; the entry is imported only now.
  native = tf.getKernel(NAME, 'cpu') as tf.KernelConfig;
  entry = await import('../src/cpu-training');
});

/** The kernel registered now (ours, once the entry is imported). */
function current(): tf.KernelConfig & { original?: tf.KernelFunc } {
  return tf.getKernel(NAME, 'cpu') as tf.KernelConfig & { original?: tf.KernelFunc };
}

/** Runs `f` with `config` registered in place of the current kernel, then restores it. */
function withKernel<T>(config: tf.KernelConfig | undefined, f: () => T): T {
  const saved = current();
  tf.unregisterKernel(NAME, 'cpu');
  if (config) tf.registerKernel(config);
  try {
    return f();
  } finally {
    if (config) tf.unregisterKernel(NAME, 'cpu');
    tf.registerKernel(saved);
  }
}

function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  expect(scale).toBeGreaterThan(0);
  return diff / scale;
}

/** Runs the registered Conv2DBackpropFilter; checks that it leaves no tensor or buffer behind. */
function runFilterGrad(x: tf.Tensor, dy: tf.Tensor, attrs: object): { shape: number[]; values: Float32Array } {
  const tensors = tf.memory().numTensors;
  const buffers = tf.backend().numDataIds();
  const out = tf.engine().runKernel(NAME, { x, dy }, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { shape: out.shape, values: out.dataSync() as Float32Array };
  out.dispose();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.backend().numDataIds()).toBe(buffers);
  return result;
}

interface Case {
  x: Shape4;
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Compares ours with tfjs' kernel on random x (with exact zeros, as after a ReLU) and dy. */
function compareKernels(c: Case, seed: number): void {
  const channelsLast = (c.dataFormat ?? 'NHWC') === 'NHWC';
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, c.dimRoundingMode, false, channelsLast ? 'channelsLast' : 'channelsFirst');
  const x = tf.tidy(() => tf.relu(uniform(c.x, -0.5, 1, seed)));
  const dy = uniform(info.outShape, -1, 1, seed + 1);
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat ?? 'NHWC', dimRoundingMode: c.dimRoundingMode, filterShape: c.filter };
  const before = tf.memory().numTensors;
  const ours = runFilterGrad(x, dy, attrs);
  const theirs = withKernel(native, () => runFilterGrad(x, dy, attrs));
  expect(tf.memory().numTensors).toBe(before);
  expect(ours.shape).toEqual(c.filter);
  expect(theirs.shape).toEqual(c.filter);
  expect(relErr(ours.values, theirs.values)).toBeLessThanOrEqual(TOL);
  tf.dispose([x, dy]);
}

describe('the registered Conv2DBackpropFilter matches tfjs-backend-cpu', () => {
  it('is ours, with tfjs-backend-cpu\'s kernel as `original`', () => {
    expect(native).toBeDefined();
    expect(current()).not.toBe(native);
    expect(current().original).toBe(native.kernelFunc);
  });

  const sweep: [number, 1 | 2, 'same' | 'valid'][] = [];
  for (const k of [1, 3, 7]) for (const s of [1, 2] as const) for (const p of ['same', 'valid'] as const) sweep.push([k, s, p]);

  it.each(sweep)('kernel size %i, stride %i, %s padding', (k, strides, pad) => {
    compareKernels({ x: [2, 13, 11, 3], filter: [k, k, 3, 5], strides, pad }, 10 * k + strides);
  });

  it.each([
    ['non-square filter and strides', { x: [3, 10, 9, 2], filter: [5, 3, 2, 4], strides: [2, 1], pad: 'valid' }],
    ['numeric padding', { x: [1, 6, 6, 2], filter: [3, 3, 2, 2], strides: 1, pad: 1 }],
    ['numeric padding with ceil rounding', { x: [2, 10, 10, 2], filter: [3, 3, 2, 3], strides: 2, pad: 0, dimRoundingMode: 'ceil' }],
    ['explicit padding', { x: [2, 7, 8, 3], filter: [3, 2, 3, 4], strides: [1, 2], pad: [[0, 0], [2, 1], [0, 1], [0, 0]] }],
    ['a filter larger than the input (same)', { x: [1, 4, 5, 2], filter: [7, 7, 2, 3], strides: 2, pad: 'same' }],
    ['one channel in and out', { x: [4, 9, 9, 1], filter: [3, 3, 1, 1], strides: 1, pad: 'same' }],
  ] as [string, Case][])('%s', (_, c) => {
    compareKernels(c, 3);
  });

  it('hands NCHW to tfjs\' kernel', () => {
    compareKernels({ x: [2, 3, 9, 8], filter: [3, 3, 3, 4], strides: 2, pad: 'same', dataFormat: 'NCHW' }, 5);
  });

  it('hands int32 to tfjs\' kernel', () => {
    const x = tf.tensor4d([1, 2, 0, 3, -1, 2, 4, 0, 1], [1, 3, 3, 1], 'int32');
    const dy = tf.tensor4d([1, -2, 3, 1], [1, 2, 2, 1], 'int32');
    const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [2, 2, 1, 1] };
    const ours = runFilterGrad(x, dy, attrs);
    const theirs = withKernel(native, () => runFilterGrad(x, dy, attrs));
    expect(Array.from(ours.values)).toEqual(Array.from(theirs.values));
    tf.dispose([x, dy]);
  });

  it.each([
    [[2, 9, 7, 3], [3, 3, 3, 5], 1, 'same'],
    [[2, 9, 7, 3], [3, 3, 3, 5], 2, 'same'],
    [[1, 8, 8, 4], [1, 1, 4, 6], 2, 'valid'],
    [[3, 10, 9, 2], [5, 3, 2, 4], [2, 1], 'valid'],
    [[1, 6, 6, 2], [3, 3, 2, 2], 1, 1],
  ] as [Shape4, Shape4, number | [number, number], Pad][])(
    'through tf.grad of conv2d: x %j, filter %j, strides %j, pad %j',
    (xShape, fShape, strides, pad) => {
      const x = uniform(xShape, -1, 1, 1) as tf.Tensor4D;
      const f = uniform(fShape, -1, 1, 2) as tf.Tensor4D;
      const grad = () => tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, w as tf.Tensor4D, strides, pad as 'same'))))(f);
      const before = tf.memory().numTensors;
      const actual = grad();
      const expected = withKernel(native, grad);
      expect(tf.memory().numTensors).toBe(before + 2);
      expect(relErr(actual.dataSync(), expected.dataSync())).toBeLessThanOrEqual(TOL);
      tf.dispose([x, f, expected, actual]);
    },
  );

  it('leaves dilated conv2d without a gradient, as tfjs does', () => {
    const x = uniform([1, 8, 8, 1], -1, 1, 1) as tf.Tensor4D;
    const f = uniform([3, 3, 1, 1], -1, 1, 2) as tf.Tensor4D;
    expect(() => tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'same', 'NHWC', 2)))(f)).toThrow(/dilation rates greater than 1/);
    tf.dispose([x, f]);
  });
});

describe('registration', () => {
  it('is idempotent', () => {
    const ours = current();
    expect(entry.CPU_TRAINING_KERNELS).toEqual([NAME]);
    expect(entry.activeCpuTrainingKernels()).toEqual([NAME]);
    expect(entry.registerCpuTrainingKernels()).toEqual([]);
    expect(entry.registerCpuTrainingKernels()).toEqual([]);
    expect(current()).toBe(ours);
  });

  it('registers again after tfjs\' kernel is put back, once', () => {
    withKernel(native, () => {
      expect(entry.activeCpuTrainingKernels()).toEqual([]);
      expect(entry.registerCpuTrainingKernels()).toEqual([NAME]);
      expect(entry.registerCpuTrainingKernels()).toEqual([]);
      expect(entry.activeCpuTrainingKernels()).toEqual([NAME]);
      expect(current().original).toBe(native.kernelFunc);
    });
  });

  it('skips a kernel the cpu backend does not have', () => {
    withKernel(undefined, () => {
      expect(entry.registerCpuTrainingKernels()).toEqual([]);
      expect(tf.getKernel(NAME, 'cpu')).toBeUndefined();
      expect(entry.activeCpuTrainingKernels()).toEqual([]);
    });
  });

  it('is shared with a second copy of the module', () => {
    const ours = current();
    let copy: Entry | undefined;
    jest.isolateModules(() => {
      // A second copy of the entry on the same tfjs (as with the CommonJS and ES module builds
      // of the package loaded together); the cpu backend is loaded already.
      jest.doMock('@tensorflow/tfjs-core', () => tf);
      jest.doMock('@tensorflow/tfjs-backend-cpu', () => ({}));
      copy = require('../src/cpu-training') as Entry;
    });
    jest.dontMock('@tensorflow/tfjs-core');
    jest.dontMock('@tensorflow/tfjs-backend-cpu');
    expect(copy).toBeDefined();
    expect(copy).not.toBe(entry);
    expect(current()).toBe(ours); // its import-time registration did nothing
    expect(copy!.activeCpuTrainingKernels()).toEqual([NAME]);
    expect(copy!.registerCpuTrainingKernels()).toEqual([]);
    expect(entry.activeCpuTrainingKernels()).toEqual([NAME]);
  });
});
