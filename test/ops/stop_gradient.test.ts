/** stopGradient: the value passes unchanged, the gradient does not (tfjs has no tf.stopGradient). */
import * as tf from '@tensorflow/tfjs-core';
import { stopGradient } from '../../src/ops/stop_gradient';
import { expectNoLeak, uniform } from '../helpers/numeric';

describe('stopGradient', () => {
  it('returns the same values, shape and dtype', () => {
    const x = uniform([2, 3, 4], -2, 2, 5);
    const y = stopGradient(x);
    expect(y.shape).toEqual([2, 3, 4]);
    expect(y.dtype).toBe('float32');
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(y).not.toBe(x);
  });

  it('cuts the tape: only the direct path of x + stopGradient(x)² reaches x', () => {
    const x = tf.tensor1d([1, -2, 3]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.add(v, tf.square(stopGradient(v)))))(x);
    expect(Array.from(g.dataSync())).toEqual([1, 1, 1]);
    // Without the stop: 1 + 2x.
    const g2 = tf.grad((v: tf.Tensor) => tf.sum(tf.add(v, tf.square(v))))(x);
    expect(Array.from(g2.dataSync())).toEqual([3, -3, 7]);
  });

  it('differentiating through it alone is refused by tfjs (no path), not a silent zero', () => {
    expect(() => tf.grad((v: tf.Tensor) => tf.sum(stopGradient(v)))(tf.tensor1d([1, 2]))).toThrow('Cannot compute gradient');
  });

  it('keeps a comparison or a gather behind it out of the backward pass', () => {
    // tf.greater has no gradient: without the stop, tf.grad would fail on it.
    const x = tf.tensor1d([0.5, -1, 2]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, tf.cast(tf.greater(stopGradient(v), 0), 'float32'))))(x);
    expect(Array.from(g.dataSync())).toEqual([1, 0, 1]);
    expect(() => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, tf.cast(tf.greater(v, 0), 'float32'))))(x)).toThrow(
      'gradient function not found for Greater',
    );
  });

  it('leaks no tensor', () => {
    const x = tf.tensor1d([1, 2]);
    expectNoLeak(() => stopGradient(x).dispose());
  });
});
