/**
 * src/tfjs_internals.ts: the self-check of the tape walk, and the fallback to tfjs' public
 * `tf.variableGrads` (with one warning) when a tfjs release changes the internals it mirrors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { leanVariableGrads, setGradCheckpointing } from '../src';
import * as tfl from '@tensorflow/tfjs-layers';
import { MIRRORED_TFJS_VERSION, resetTapeSelfCheck, setEngineForTesting, tapeInternalsUsable } from '../src/tfjs_internals';

/**
 * What this module sees of a simulated tfjs release that keeps its tape under another name: the
 * real engine, whose `state.activeTape` reads as undefined. The engine itself stays intact, so
 * tfjs' own tf.variableGrads still works.
 */
function renamedTapeEngine(): unknown {
  const real = tf.engine() as unknown as { state: object };
  const state = new Proxy(real.state, { get: (t, k) => (k === 'activeTape' ? undefined : Reflect.get(t, k)) });
  return new Proxy(real, {
    get: (t, k) => {
      if (k === 'state') return state;
      const v = Reflect.get(t, k);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

function loss(x: tf.Variable, w: tf.Variable): tf.Scalar {
  return tf.sum(tf.mul(tf.relu(tf.mul(x, w)), tf.exp(x))) as tf.Scalar;
}

describe('tfjs internals self-check', () => {
  const x = tf.variable(tf.tensor1d([0.5, -1, 2]), true, 'internals_x');
  const w = tf.variable(tf.tensor1d([1, 2, -0.5]), true, 'internals_w');
  afterEach(() => {
    setEngineForTesting(null);
    jest.restoreAllMocks();
  });

  it(`passes on the installed tfjs (${tf.version_core}, mirrored ${MIRRORED_TFJS_VERSION}) without a warning`, () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    resetTapeSelfCheck();
    const before = tf.memory().numTensors;
    expect(tapeInternalsUsable()).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(warn).not.toHaveBeenCalled();
    expect(tf.version_core.startsWith(`${MIRRORED_TFJS_VERSION}.`)).toBe(true);
  });

  it('a changed engine (its tape no longer at state.activeTape) falls back to tf.variableGrads: right gradients, one warning', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    setEngineForTesting(renamedTapeEngine());
    const reference = tf.variableGrads(() => loss(x, w), [x, w]);
    for (let i = 0; i < 2; i++) {
      const lean = leanVariableGrads(() => loss(x, w), [x, w]);
      expect(lean.value.dataSync()[0]).toBe(reference.value.dataSync()[0]);
      for (const v of [x, w]) expect(Array.from(lean.grads[v.name].dataSync())).toEqual(Array.from(reference.grads[v.name].dataSync()));
      tf.dispose([lean.value, ...Object.values(lean.grads)]);
    }
    expect(tapeInternalsUsable()).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toContain('the gradients of a test tape differ from tf.grads');
    expect(warn.mock.calls[0][0]).toContain('Using tf.variableGrads instead');
    tf.dispose([reference.value, ...Object.values(reference.grads)]);
  });

  it('with the fallback, a checkpointed model trains without checkpointing and with the same gradients', () => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const input = tfl.input({ shape: [3] });
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, kernelInitializer: 'ones', name: 'internals_dense' }).apply(input) as tfl.SymbolicTensor });
    const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
    const data = tf.tensor2d([[1, 2, 3]]);
    const f = () => tf.sum(tf.square(model.apply(data, { training: true }) as tf.Tensor)) as tf.Scalar;
    const reference = tf.variableGrads(f, vars);
    setGradCheckpointing(model, true);
    setEngineForTesting(renamedTapeEngine());
    const lean = leanVariableGrads(f, vars);
    for (const v of vars) expect(Array.from(lean.grads[v.name].dataSync())).toEqual(Array.from(reference.grads[v.name].dataSync()));
    tf.dispose([reference.value, lean.value, ...Object.values(reference.grads), ...Object.values(lean.grads), data]);
    model.dispose();
  });

  it('an error inside the forward pass leaks none of the tape saved tensors', () => {
    const before = tf.memory().numTensors;
    expect(() =>
      leanVariableGrads(() => {
        tf.exp(tf.mul(x, w)); // saves its output on the tape
        throw new Error('boom');
      }, [x, w]),
    ).toThrow('boom');
    expect(tf.memory().numTensors).toBe(before);
  });
});
