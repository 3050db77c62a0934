/**
 * leanVariableGrads: the same gradients as tf.variableGrads, a lower peak of live tensors,
 * no leaks, clear errors. Runs on cpu and on wasm (with s3n-layers/wasm-training).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../../src/wasm-training';
import { leanVariableGrads, smallResNet } from '../../src';
import { onBackend, TEST_BACKENDS } from '../helpers/backends';
import { expectNoLeak, uniform } from '../helpers/numeric';

type GradFn = (f: () => tf.Scalar, vars?: tf.Variable[]) => { value: tf.Scalar; grads: tf.NamedTensorMap };

/** A small conv net (conv, batch norm, relu, pooling, residual add, dense) and its loss. */
function convNetLoss(seed: number): { loss: () => tf.Scalar; vars: tf.Variable[]; dispose: () => void } {
  const model = smallResNet({ inputSize: 32, widths: [4, 8], seed });
  const head = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed }) });
  const x = uniform([2, 32, 32, 3], 0, 1, seed);
  const labels = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);
  const loss = () =>
    tf.losses.softmaxCrossEntropy(labels, head.apply(tf.mean(model.apply(x, { training: true }) as tf.Tensor, [1, 2])) as tf.Tensor) as tf.Scalar;
  tf.dispose(loss()); // builds the dense layer
  const vars = [...model.trainableWeights, ...head.trainableWeights].map((w) => w.read() as tf.Variable);
  return { loss, vars, dispose: () => (model.dispose(), head.dispose(), tf.dispose([x, labels])) };
}

/**
 * Tapes where one tensor feeds several ops, a gradient passes its dy through unchanged
 * (a custom gradient handing its dy on as the same object), a variable is used twice, and an
 * output is unused.
 */
function tangledLoss(): { loss: () => tf.Scalar; vars: tf.Variable[]; dispose: () => void } {
  const a = tf.variable(uniform([3, 4], -1, 1, 1));
  const b = tf.variable(uniform([4], -1, 1, 2));
  // A custom gradient that hands its dy on as the very same tensor object.
  const passThrough = tf.customGrad(((x: tf.Tensor) => ({ value: tf.mul(x, 1), gradFunc: (dy: tf.Tensor) => dy })) as unknown as Parameters<typeof tf.customGrad>[0]);
  const loss = () => {
    const h = passThrough(tf.clone(tf.add(tf.matMul(a, tf.transpose(a)), tf.sum(b)))) as tf.Tensor;
    const [p, q] = tf.split(tf.concat([h, h], 1), 2, 1);
    const unused = tf.exp(q);
    unused.dispose();
    return tf.sum(tf.add(tf.mul(p, q), tf.add(passThrough(passThrough(tf.tanh(h))), tf.mul(tf.sum(a), tf.sum(b))))) as tf.Scalar;
  };
  return { loss, vars: [a, b], dispose: () => tf.dispose([a, b]) };
}

async function gradsOf(fn: GradFn, make: () => ReturnType<typeof convNetLoss>): Promise<{ value: number; grads: Record<string, Float32Array> }> {
  const m = make();
  const { value, grads } = fn(m.loss, m.vars);
  // Keyed by position in the variable list: a second model gets other variable names.
  const out: Record<string, Float32Array> = {};
  for (const [i, v] of m.vars.entries()) if (grads[v.name] != null) out[i] = (await grads[v.name].data()) as Float32Array;
  const v = (await value.data())[0];
  tf.dispose([value, ...Object.values(grads)]);
  m.dispose();
  return { value: v, grads: out };
}

describe.each(TEST_BACKENDS)('leanVariableGrads on the %s backend', (backend) => {
  onBackend(backend);

  it.each([
    ['a conv net with batch norm', () => convNetLoss(5)],
    ['a tangled tape (fan-out, pass-through gradients, unused outputs)', tangledLoss],
  ])('gives bit-identical gradients to tf.variableGrads on %s', async (_, make) => {
    const ref = await gradsOf(tf.variableGrads, make);
    const lean = await gradsOf(leanVariableGrads, make);
    expect(lean.value).toBe(ref.value);
    expect(Object.keys(lean.grads).sort()).toEqual(Object.keys(ref.grads).sort());
    expect(Object.keys(lean.grads).length).toBeGreaterThan(1);
    for (const name of Object.keys(ref.grads)) expect(Array.from(lean.grads[name])).toEqual(Array.from(ref.grads[name]));
  });

  it('lowers the peak of live tensor bytes of a training step', async () => {
    const peak = async (fn: GradFn) => {
      const m = convNetLoss(7);
      const info = await tf.profile(() => {
        const { value, grads } = fn(m.loss, m.vars);
        return [value, ...Object.values(grads)];
      });
      tf.dispose(info.result as tf.Tensor[]);
      m.dispose();
      return info.peakBytes;
    };
    const ref = await peak(tf.variableGrads);
    const lean = await peak(leanVariableGrads);
    expect(lean).toBeLessThan(0.75 * ref);
  });

  it('leaks no tensor, and leaves no tape behind', async () => {
    const m = convNetLoss(3);
    await expectNoLeak(() => {
      const { value, grads } = leanVariableGrads(m.loss, m.vars);
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect((tf.engine() as unknown as { state: { activeTape: unknown } }).state.activeTape).toBeNull();
    m.dispose();
  });
});

describe('leanVariableGrads arguments', () => {
  it('maps a non-trainable variable of varList to null and differentiates the rest', () => {
    const a = tf.variable(tf.scalar(2), true, 'lean_arg_a');
    const frozen = tf.variable(tf.scalar(3), false, 'lean_arg_frozen');
    const { value, grads } = leanVariableGrads(() => tf.mul(tf.square(a), frozen) as tf.Scalar, [a, frozen]);
    expect(value.dataSync()[0]).toBe(12);
    expect(grads['lean_arg_a'].dataSync()[0]).toBe(12);
    expect(grads['lean_arg_frozen']).toBeNull();
    tf.dispose([a, frozen, value, grads['lean_arg_a']]);
  });

  it('rejects bad input with a clear error and leaks nothing', async () => {
    const a = tf.variable(tf.ones([2]), true, 'lean_err_a');
    const frozen = tf.variable(tf.scalar(1), false, 'lean_err_frozen');
    await expectNoLeak(() => {
      expect(() => leanVariableGrads(42 as unknown as () => tf.Scalar, [a])).toThrow(
        'leanVariableGrads: f must be a function returning a scalar, but got number.',
      );
      expect(() => leanVariableGrads(() => tf.mul(a, 2) as unknown as tf.Scalar, [a])).toThrow(
        'leanVariableGrads: f must be a function returning a scalar tf.Tensor, but got one returning a tensor of rank 1.',
      );
      expect(() => leanVariableGrads(() => tf.sum(a) as tf.Scalar, [frozen])).toThrow(
        'leanVariableGrads: varList must be at least one trainable variable, but got none.',
      );
      expect(() => leanVariableGrads(() => tf.scalar(1), [a])).toThrow(
        'leanVariableGrads: f must be a loss that depends on at least one of the variables, but got no gradient for any of them.',
      );
    });
    tf.dispose([a, frozen]);
  });
});
