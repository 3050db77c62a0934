/**
 * GroupedSGD (src/model/optimizer.ts): every argument check with its exact message, the update
 * of two parameter groups over two steps against values computed here in float64, the momentum
 * buffers' life cycle (creation, checkpoint state, dispose) and tensor accounting — what
 * `npm run mutate` asks of the file.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GroupedSGD, ParamGroup } from '../../src/model/optimizer';
import { S3N_DEFAULTS } from '../../src/defaults';
import { expectClose } from '../helpers/numeric';

/** Variables get names unique to the file (tfjs refuses a name registered twice). */
let counter = 0;
const created: tf.Variable[] = [];
function variable(values: number[], label = 'w'): tf.Variable {
  const v = tf.variable(tf.tensor1d(values), true, `optimizer_test_${label}_${counter++}`);
  created.push(v);
  return v;
}
afterEach(() => {
  created.splice(0).forEach((v) => v.isDisposed || v.dispose());
});

const group = (name: string, lrMultiplier: number, variables: tf.Variable[]): ParamGroup => ({ name, lrMultiplier, variables });
const values = (t: tf.Tensor) => Array.from(t.dataSync());

/** One float64 step of PyTorch's SGD: v' = μv + g + λw, w' = w − lr·v'. */
function reference(w: number[], v: number[], g: number[], lr: number, momentum: number, wd: number): { w: number[]; v: number[] } {
  const v1 = w.map((wi, i) => momentum * v[i] + g[i] + wd * wi);
  return { w: w.map((wi, i) => wi - lr * v1[i]), v: v1 };
}

describe('GroupedSGD constructor', () => {
  it.each(['learningRate', 'momentum', 'weightDecay'] as const)('%s must be >= 0: exact messages for -1 and NaN, 0 accepted', (key) => {
    const groups = [group('all', 1, [variable([1])])];
    expect(() => new GroupedSGD(groups, { [key]: -1 })).toThrow(`GroupedSGD: ${key} must be a finite number >= 0, but got -1.`);
    expect(() => new GroupedSGD(groups, { [key]: NaN })).toThrow(`GroupedSGD: ${key} must be a finite number >= 0, but got NaN.`);
    expect(() => new GroupedSGD(groups, { [key]: Infinity })).toThrow(`GroupedSGD: ${key} must be a finite number >= 0, but got Infinity.`);
    const zero = new GroupedSGD(groups, { [key]: 0 });
    expect(zero[key]).toBe(0);
  });

  it('takes the given hyper-parameters and defaults to the authors', () => {
    const groups = [group('all', 1, [variable([1])])];
    const given = new GroupedSGD(groups, { learningRate: 0.05, momentum: 0.5, weightDecay: 0.02 });
    expect([given.learningRate, given.momentum, given.weightDecay]).toEqual([0.05, 0.5, 0.02]);
    const defaults = new GroupedSGD(groups);
    expect([defaults.learningRate, defaults.momentum, defaults.weightDecay]).toEqual([
      S3N_DEFAULTS.learningRate,
      S3N_DEFAULTS.momentum,
      S3N_DEFAULTS.weightDecay,
    ]);
    expect([defaults.learningRate, defaults.momentum, defaults.weightDecay]).toEqual([0.001, 0.9, 1e-4]);
    expect(new GroupedSGD(groups, {}).weightDecay).toBe(1e-4);
    expect(defaults.groups).toBe(groups);
  });

  it('weight decay: undefined uses the default 1e-4, an explicit value (0 included) is used as given', () => {
    // Zero gradient: the first velocity is exactly λ·w.
    const run = (weightDecay: number | undefined) => {
      const w = variable([100, -200]);
      const opt = new GroupedSGD([group('all', 1, [w])], { learningRate: 0.01, momentum: 0.9, weightDecay });
      const g = tf.zeros([2]);
      opt.applyGradients({ [w.name]: g });
      const state = opt.getState();
      const out = { v: values(state[w.name]), w: values(w) };
      tf.dispose([g, state]);
      opt.dispose();
      return out;
    };
    const byDefault = run(undefined);
    expectClose(byDefault.v, [1e-4 * 100, 1e-4 * -200], { rtol: 1e-6 });
    expectClose(byDefault.w, [100 - 0.01 * 1e-2, -200 + 0.01 * 2e-2], { rtol: 1e-7 });
    const none = run(0);
    expect(none.v).toEqual([0, 0]);
    expect(none.w).toEqual([100, -200]);
    const custom = run(0.5);
    expectClose(custom.v, [50, -100], { rtol: 1e-6 });
    expectClose(custom.w, [99.5, -199], { rtol: 1e-6 });
  });

  it("each group's lrMultiplier must be >= 0; the message names the group", () => {
    const ok = group('backbone', 1, [variable([1])]);
    expect(() => new GroupedSGD([ok, group('classifier', -1, [variable([2])])])).toThrow(
      "GroupedSGD: lrMultiplier of group 'classifier' must be a finite number >= 0, but got -1.",
    );
    expect(() => new GroupedSGD([group('frozen head', NaN, [variable([2])])])).toThrow(
      "GroupedSGD: lrMultiplier of group 'frozen head' must be a finite number >= 0, but got NaN.",
    );
    expect(() => new GroupedSGD([ok, group('frozen', 0, [variable([2])])])).not.toThrow();
  });

  it('refuses a variable in two groups, naming it', () => {
    const a = variable([1], 'a');
    const shared = variable([2], 'shared');
    expect(() => new GroupedSGD([group('one', 1, [a, shared]), group('two', 10, [shared])])).toThrow(
      `GroupedSGD: groups must be disjoint groups, but got variable '${shared.name}' in two groups.`,
    );
    expect(() => new GroupedSGD([group('one', 1, [a, a])])).toThrow(
      `GroupedSGD: groups must be disjoint groups, but got variable '${a.name}' in two groups.`,
    );
    expect(() => new GroupedSGD([group('one', 1, [a]), group('two', 10, [shared])])).not.toThrow();
  });
});

describe('GroupedSGD', () => {
  it('variables lists every variable of every group, in order', () => {
    const [a, b, c, d] = [1, 2, 3, 4].map((x) => variable([x]));
    const opt = new GroupedSGD([group('one', 1, [a, b]), group('empty', 5, []), group('two', 10, [c, d])]);
    expect(opt.variables).toEqual([a, b, c, d]);
    expect(opt.variables.map((v) => v.name)).toEqual([a.name, b.name, c.name, d.name]);
    expect(new GroupedSGD([]).variables).toEqual([]);
  });

  it('two steps of two groups (multipliers 1 and 10) match the float64 formula', () => {
    const lr = 0.01;
    const momentum = 0.9;
    const wd = 1e-4;
    const a0 = [1.5, -2];
    const b0 = [0.5, 3, -1];
    const a = variable(a0, 'a');
    const b = variable(b0, 'b');
    const opt = new GroupedSGD([group('backbone', 1, [a]), group('classifier', 10, [b])], { learningRate: lr, momentum, weightDecay: wd });
    const steps = [
      { ga: [0.2, -0.4], gb: [1, -0.5, 0.25] },
      { ga: [-0.1, 0.3], gb: [0.5, 0.5, -2] },
    ];
    let refA = { w: a0, v: [0, 0] };
    let refB = { w: b0, v: [0, 0, 0] };
    steps.forEach(({ ga, gb }, k) => {
      const grads = { [a.name]: tf.tensor1d(ga), [b.name]: tf.tensor1d(gb) };
      opt.applyGradients(grads);
      tf.dispose(grads);
      refA = reference(refA.w, refA.v, ga, lr * 1, momentum, wd);
      refB = reference(refB.w, refB.v, gb, lr * 10, momentum, wd);
      const state = opt.getState();
      expect(Object.keys(state).sort()).toEqual([a.name, b.name].sort());
      expectClose(state[a.name], refA.v, { atol: 1e-6 });
      expectClose(state[b.name], refB.v, { atol: 1e-6 });
      expectClose(a, refA.w, { atol: 1e-6 });
      expectClose(b, refB.w, { atol: 1e-6 });
      tf.dispose(state);
      if (k === 0) {
        // Step 1 by hand: v = g + λw; w -= lr·mult·v.
        expectClose(a, [1.5 - 0.01 * 0.20015, -2 + 0.01 * 0.4002], { atol: 1e-7 });
        expectClose(b, [0.5 - 0.1 * 1.00005, 3 + 0.1 * (0.5 - 3e-4), -1 - 0.1 * (0.25 - 1e-4)], { atol: 1e-6 });
      }
    });
    // Step 2 by hand for a[0]: v = 0.9·0.20015 + (-0.1) + 1e-4·1.4979985.
    const v2 = 0.9 * 0.20015 - 0.1 + 1e-4 * 1.4979985;
    expectClose([a.dataSync()[0]], [1.4979985 - 0.01 * v2], { atol: 1e-7 });
    opt.dispose();
  });

  it('reads the learning rate at every step (it can be scheduled)', () => {
    const w = variable([1]);
    const opt = new GroupedSGD([group('all', 2, [w])], { learningRate: 0.1, momentum: 0, weightDecay: 0 });
    const g = tf.tensor1d([1]);
    opt.applyGradients({ [w.name]: g });
    expectClose(w, [1 - 0.2], { atol: 1e-7 });
    opt.learningRate = 0.01;
    opt.applyGradients({ [w.name]: g });
    expectClose(w, [0.8 - 0.02], { atol: 1e-7 });
    g.dispose();
    opt.dispose();
  });

  it('a variable without a gradient (missing or null) is left unchanged and gets no velocity', () => {
    const a = variable([1, 2], 'a');
    const b = variable([3, 4], 'b');
    const c = variable([5, 6], 'c');
    const opt = new GroupedSGD([group('one', 1, [a, b]), group('two', 10, [c])], { learningRate: 0.1, momentum: 0.9, weightDecay: 0 });
    const g = tf.tensor1d([1, -1]);
    opt.applyGradients({ [b.name]: g, [c.name]: null as unknown as tf.Tensor });
    expect(values(a)).toEqual([1, 2]);
    expect(values(c)).toEqual([5, 6]);
    expectClose(b, [2.9, 4.1], { atol: 1e-6 });
    const state = opt.getState();
    expect(Object.keys(state)).toEqual([b.name]);
    tf.dispose(state);
    opt.applyGradients({});
    expectClose(b, [2.9, 4.1], { atol: 1e-6 });
    g.dispose();
    opt.dispose();
  });

  it('creates one velocity variable per updated variable and leaks no tensor', () => {
    const a = variable([1, 2], 'a');
    const b = variable([3, 4, 5], 'b');
    const idle = variable([6], 'idle');
    const opt = new GroupedSGD([group('one', 1, [a, idle]), group('two', 10, [b])], { learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    const grads = { [a.name]: tf.tensor1d([0.1, 0.2]), [b.name]: tf.tensor1d([0.3, 0.4, 0.5]) };
    const before = tf.memory().numTensors;
    opt.applyGradients(grads);
    expect(tf.memory().numTensors).toBe(before + 2); // the two velocities
    opt.applyGradients(grads);
    opt.applyGradients(grads);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose(grads);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before - 2);
  });

  it('the first step starts from a zero velocity, later steps keep it', () => {
    const w = variable([1]);
    const opt = new GroupedSGD([group('all', 1, [w])], { learningRate: 0.1, momentum: 0.5, weightDecay: 0 });
    const g = tf.tensor1d([2]);
    opt.applyGradients({ [w.name]: g }); // v = 2, w = 0.8
    let state = opt.getState();
    expectClose(state[w.name], [2], { atol: 0 });
    tf.dispose(state);
    opt.applyGradients({ [w.name]: g }); // v = 0.5·2 + 2 = 3, w = 0.5
    state = opt.getState();
    expectClose(state[w.name], [3], { atol: 0 });
    expectClose(w, [0.5], { atol: 1e-7 });
    tf.dispose(state);
    g.dispose();
    opt.dispose();
  });
});

describe('GroupedSGD velocity variables', () => {
  const registered = () => new Map(Object.entries(tf.engine().registeredVariables));

  it('are non-trainable, whether made by a step or by setState', () => {
    const [a, b] = [variable([1, 2], 'a'), variable([3], 'b')];
    const opt = new GroupedSGD([group('all', 1, [a, b])]);
    const before = registered();
    const g = tf.tensor1d([1, 1]);
    opt.applyGradients({ [a.name]: g });
    const t = tf.tensor1d([0.5]);
    opt.setState({ [b.name]: t });
    const added = [...registered()].filter(([name]) => !before.has(name)).map(([, v]) => v);
    expect(added.length).toBe(2);
    expect(added.map((v) => v.trainable)).toEqual([false, false]);
    expect(added.map((v) => v.shape)).toEqual([[2], [1]]);
    tf.dispose([g, t]);
    opt.dispose();
    expect(registered().size).toBe(before.size);
  });
});

describe('GroupedSGD state', () => {
  const options = { learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3 };
  const g1 = () => tf.tensor1d([0.3, -0.7, 1.1]);
  const g2 = () => tf.tensor1d([-0.2, 0.4, 0.9]);

  it('getState returns clones: disposing them leaves the optimizer working', () => {
    const w = variable([1, 2, 3]);
    const opt = new GroupedSGD([group('all', 1, [w])], options);
    const g = g1();
    opt.applyGradients({ [w.name]: g });
    const before = tf.memory().numTensors;
    const state = opt.getState();
    expect(tf.memory().numTensors).toBe(before + 1);
    const v1 = values(state[w.name]);
    tf.dispose(state);
    expect(tf.memory().numTensors).toBe(before);
    const again = opt.getState();
    expect(values(again[w.name])).toEqual(v1);
    expect(again[w.name]).not.toBe(state[w.name]);
    tf.dispose(again);
    opt.applyGradients({ [w.name]: g });
    const expected = reference(reference([1, 2, 3], [0, 0, 0], [0.3, -0.7, 1.1], 0.05, 0.9, 1e-3).w, v1, [0.3, -0.7, 1.1], 0.05, 0.9, 1e-3);
    expectClose(w, expected.w, { atol: 1e-6 });
    g.dispose();
    opt.dispose();
  });

  it('setState into a fresh optimizer then one step equals continuing the original, bit for bit', () => {
    const w = variable([1, 2, 3], 'orig');
    const opt = new GroupedSGD([group('all', 10, [w])], options);
    const [first, second] = [g1(), g2()];
    opt.applyGradients({ [w.name]: first });
    const state = opt.getState();
    const copy = tf.variable(w, true, `optimizer_test_copy_${counter++}`);
    created.push(copy);
    const fresh = new GroupedSGD([group('all', 10, [copy])], options);
    const before = tf.memory().numTensors;
    fresh.setState({ [copy.name]: state[w.name] });
    expect(tf.memory().numTensors).toBe(before + 1); // a new velocity variable
    tf.dispose(state); // tf.variable copied it
    opt.applyGradients({ [w.name]: second });
    fresh.applyGradients({ [copy.name]: second });
    expect(values(copy)).toEqual(values(w));
    const [s1, s2] = [opt.getState(), fresh.getState()];
    expect(values(s2[copy.name])).toEqual(values(s1[w.name]));
    tf.dispose([s1, s2, first, second]);
    opt.dispose();
    fresh.dispose();
  });

  it('setState over an existing velocity assigns it (no new tensor)', () => {
    const w = variable([1, 2, 3]);
    const opt = new GroupedSGD([group('all', 1, [w])], options);
    const g = g1();
    opt.applyGradients({ [w.name]: g });
    const before = tf.memory().numTensors;
    const given = tf.tensor1d([7, 8, 9]);
    opt.setState({ [w.name]: given });
    given.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const state = opt.getState();
    expect(values(state[w.name])).toEqual([7, 8, 9]);
    tf.dispose(state);
    // The step continues from the assigned velocity.
    const wBefore = values(w);
    opt.applyGradients({ [w.name]: g });
    const expected = reference(wBefore, [7, 8, 9], [0.3, -0.7, 1.1], 0.05, 0.9, 1e-3);
    expectClose(w, expected.w, { atol: 1e-6 });
    g.dispose();
    opt.dispose();
  });

  it('setState creates a velocity that did not exist, and the next step uses it', () => {
    const w = variable([1, 2, 3]);
    const opt = new GroupedSGD([group('all', 1, [w])], options);
    expect(Object.keys(opt.getState())).toEqual([]);
    const given = tf.tensor1d([1, 1, 1]);
    opt.setState({ [w.name]: given });
    given.dispose(); // tf.variable copied it
    const state = opt.getState();
    expect(values(state[w.name])).toEqual([1, 1, 1]);
    tf.dispose(state);
    const g = g1();
    opt.applyGradients({ [w.name]: g });
    const expected = reference([1, 2, 3], [1, 1, 1], [0.3, -0.7, 1.1], 0.05, 0.9, 1e-3);
    expectClose(w, expected.w, { atol: 1e-6 });
    g.dispose();
    opt.dispose();
  });

  it('setState refuses the buffer of a variable it does not train', () => {
    const w = variable([1]);
    const opt = new GroupedSGD([group('all', 1, [w])], options);
    const t = tf.tensor1d([1]);
    expect(() => opt.setState({ [w.name]: t, 'not/a/variable': t })).toThrow(
      "GroupedSGD.setState: state must be buffers of variables this optimiser updates, but got unknown variable 'not/a/variable'.",
    );
    t.dispose();
    opt.dispose();
  });

  it('dispose frees the velocity variables and leaves the trained variables alone', () => {
    const [a, b, c] = [variable([1, 2]), variable([3]), variable([4, 5, 6])];
    const opt = new GroupedSGD([group('one', 1, [a, b]), group('two', 10, [c])], options);
    const grads = { [a.name]: tf.tensor1d([1, 1]), [c.name]: tf.tensor1d([1, 1, 1]) };
    opt.applyGradients(grads);
    const before = tf.memory().numTensors;
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before - 2);
    expect(Object.keys(opt.getState())).toEqual([]);
    expect([a, b, c].map((v) => v.isDisposed)).toEqual([false, false, false]);
    // Usable again: a new step starts from zero velocity.
    const aBefore = values(a);
    opt.applyGradients(grads);
    expect(tf.memory().numTensors).toBe(before);
    expectClose(a, reference(aBefore, [0, 0], [1, 1], 0.05, 0.9, 1e-3).w, { atol: 1e-6 });
    tf.dispose(grads);
    opt.dispose();
  });
});
