import * as tf from '@tensorflow/tfjs-core';
import { installFastCpuKernels, uninstallFastCpuKernels } from '../../src/cli/cpu_kernels';
import { expectClose, uniform } from '../helpers/numeric';

afterEach(() => uninstallFastCpuKernels());

describe('fast cpu Conv2DBackpropFilter', () => {
  it.each([
    [[2, 9, 7, 3], [3, 3, 3, 5], 1, 'same'],
    [[2, 9, 7, 3], [3, 3, 3, 5], 2, 'same'],
    [[1, 8, 8, 4], [1, 1, 4, 6], 2, 'valid'],
    [[3, 10, 9, 2], [5, 3, 2, 4], [2, 1], 'valid'],
    [[1, 6, 6, 2], [3, 3, 2, 2], 1, 1],
  ] as const)('matches tfjs for x %j, filter %j, strides %j, pad %j', (xShape, fShape, strides, pad) => {
    const x = uniform([...xShape], -1, 1, 1) as tf.Tensor4D;
    const f = uniform([...fShape], -1, 1, 2) as tf.Tensor4D;
    const grad = () => tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, w as tf.Tensor4D, strides as [number, number], pad as 'same'))))(f);
    const expected = grad();
    installFastCpuKernels();
    installFastCpuKernels(); // idempotent
    const actual = grad();
    expectClose(actual, expected, { atol: 1e-4, rtol: 1e-4 });
    tf.dispose([x, f, expected, actual]);
  });
});
