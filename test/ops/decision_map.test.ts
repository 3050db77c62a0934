/**
 * decisionMap: the entropy gate of §3.1 at its threshold, the two maps it chooses between, and
 * that no gradient flows back to the class response maps (kornia-style: values, exceptions,
 * gradients).
 */
import * as tf from '@tensorflow/tfjs-core';
import { decisionMap } from '../../src/ops';
import { expectClose, expectNoLeak, uniform } from '../helpers/numeric';

/** Σ_{i<5} p_i ln p_i of softmax([a, 0, 0, …]) over `classes` classes (the gate's value). */
function gateOf(a: number, classes: number): number {
  const z = Math.exp(a) + classes - 1;
  const p = [Math.exp(a) / z, ...new Array(classes - 1).fill(1 / z)].slice(0, 5);
  return p.reduce((s, q) => s + q * Math.log(q), 0);
}

/** The logit a with gate(a) = target (the gate rises monotonically to 0 with a). */
function logitForGate(target: number, classes: number): number {
  let lo = 0;
  let hi = 50;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (gateOf(mid, classes) > target) hi = mid;
    else lo = mid;
  }
  return (lo + hi) / 2;
}

const CLASSES = 7;
/** Maps [1, 4, 4, 7] whose class c holds a distinct pattern, so the chosen mix is visible. */
function patternMaps(): tf.Tensor4D {
  return uniform([1, 4, 4, CLASSES], 0, 1, 11) as tf.Tensor4D;
}

describe('decisionMap entropy gate', () => {
  it.each([
    [-0.19, true],
    [-0.21, false],
    [-0.5, false],
    [-0.9, false],
    [-0.05, true],
  ])('gate value %p with the default δ = 0.2: confident (top-1 map) = %p', (gate, confident) => {
    const a = logitForGate(gate, CLASSES);
    expect(gateOf(a, CLASSES)).toBeCloseTo(gate, 9);
    const maps = patternMaps();
    const scores = tf.tensor2d([[a, 0, 0, 0, 0, 0, 0]]);
    const out = decisionMap(maps, { classScores: scores });
    expect(Array.from(out.confident.dataSync())).toEqual([confident ? 1 : 0]);
    // Top-1 is class 0; the other six tie at the same probability, and tf.topk breaks ties by
    // the lower index, so the top-5 mean is over classes 0..4.
    const chosen = confident
      ? tf.slice(maps, [0, 0, 0, 0], [1, 4, 4, 1])
      : tf.mean(tf.slice(maps, [0, 0, 0, 0], [1, 4, 4, 5]), 3, true);
    const flat = tf.reshape(chosen, [1, 16]);
    const lo = tf.min(flat, 1, true);
    const expected = tf.reshape(tf.div(tf.sub(flat, lo), tf.sub(tf.max(flat, 1, true), lo)), [1, 4, 4]);
    expectClose(out.decision, expected, { atol: 1e-6 });
    expect(Array.from(out.valid.dataSync())).toEqual([1]);
  });

  it('entropyThreshold moves the gate: δ = 1 makes a gate of −0.5 confident', () => {
    const scores = tf.tensor2d([[logitForGate(-0.5, CLASSES), 0, 0, 0, 0, 0, 0]]);
    expect(Array.from(decisionMap(patternMaps(), { classScores: scores, entropyThreshold: 1 }).confident.dataSync())).toEqual([1]);
    expect(Array.from(decisionMap(patternMaps(), { classScores: scores }).confident.dataSync())).toEqual([0]);
  });

  it('the default class scores are the spatial means of the maps (the raw logits)', () => {
    const a = logitForGate(-0.1, CLASSES);
    // Class 0's map has mean a, the others mean 0, so the gate sees the scores [a, 0, …].
    const base = tf.sub(patternMaps(), tf.mean(patternMaps(), [1, 2], true));
    const maps = tf.add(base, tf.tensor1d([a, 0, 0, 0, 0, 0, 0])) as tf.Tensor4D;
    const withDefault = decisionMap(maps);
    const explicit = decisionMap(maps, { classScores: tf.tensor2d([[a, 0, 0, 0, 0, 0, 0]]) });
    expect(Array.from(withDefault.confident.dataSync())).toEqual([1]);
    expectClose(withDefault.decision, explicit.decision, { atol: 1e-6 });
  });

  it('topK sets how many maps the unconfident mean takes', () => {
    const maps = patternMaps();
    const scores = tf.tensor2d([[0.3, 0.2, 0.1, 0, 0, 0, 0]]); // flat: never confident
    const out = decisionMap(maps, { classScores: scores, topK: 2 });
    expect(Array.from(out.confident.dataSync())).toEqual([0]);
    const mean2 = tf.reshape(tf.mean(tf.slice(maps, [0, 0, 0, 0], [1, 4, 4, 2]), 3), [1, 16]);
    const lo = tf.min(mean2, 1, true);
    expectClose(out.decision, tf.reshape(tf.div(tf.sub(mean2, lo), tf.sub(tf.max(mean2, 1, true), lo)), [1, 4, 4]), { atol: 1e-6 });
  });
});

describe('decisionMap blocks gradients', () => {
  it('the class response maps and scores get no gradient through it (constants for the sampler)', () => {
    const maps = patternMaps();
    const scores = tf.tensor2d([[1, 0, 0, 0, 0, 0, 0]]);
    const w = uniform([1, 4, 4], -1, 1, 3);
    // Through decisionMap alone there is no path: tfjs refuses to differentiate.
    expect(() => tf.grads((m: tf.Tensor) => tf.sum(tf.mul(decisionMap(m as tf.Tensor4D).decision, w)))([maps])).toThrow(
      'Cannot compute gradient of y=f(x) with respect to x',
    );
    // Beside a direct path, only the direct path counts.
    const [gm, gs] = tf.grads((m: tf.Tensor, s: tf.Tensor) =>
      tf.add(tf.sum(tf.mul(decisionMap(m as tf.Tensor4D, { classScores: s as tf.Tensor2D }).decision, w)), tf.add(tf.sum(m), tf.sum(s))),
    )([maps, scores]);
    expect(Array.from(gm.dataSync())).toEqual(new Array(maps.size).fill(1));
    expect(Array.from(gs.dataSync())).toEqual(new Array(scores.size).fill(1));
  });

  it('leaks no tensor', () => {
    const maps = patternMaps();
    expectNoLeak(() => tf.dispose(Object.values(decisionMap(maps))));
  });
});

describe('decisionMap on a batch', () => {
  it('gates each image on its own: a confident image takes its top-1 map, an unconfident one the top-5 mean', () => {
    // Image 0 unconfident (gate −0.5), image 1 confident (gate −0.05), with its top class 3.
    const maps = uniform([2, 4, 4, CLASSES], 0, 1, 12) as tf.Tensor4D;
    const a0 = logitForGate(-0.5, CLASSES);
    const a1 = logitForGate(-0.05, CLASSES);
    const scores = tf.tensor2d([
      [a0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, a1, 0, 0, 0],
    ]);
    const out = decisionMap(maps, { classScores: scores });
    expect(Array.from(out.confident.dataSync())).toEqual([0, 1]);
    const norm = (m: tf.Tensor) => {
      const flat = tf.reshape(m, [1, 16]);
      const lo = tf.min(flat);
      return tf.reshape(tf.div(tf.sub(flat, lo), tf.sub(tf.max(flat), lo)), [1, 4, 4]);
    };
    // Image 0: classes 0 (top) then the tied 1, 2, 3, 4 (lower index first).
    const mean5 = tf.mean(tf.slice(maps, [0, 0, 0, 0], [1, 4, 4, 5]), 3);
    const top1 = tf.slice(maps, [1, 0, 0, 3], [1, 4, 4, 1]);
    expectClose(out.decision, tf.concat([norm(mean5), norm(top1)]), { atol: 1e-6 });
  });
});

describe('decisionMap exceptions', () => {
  const maps = () => tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
  it.each([
    [() => decisionMap(tf.zeros([4, 4, 3]) as unknown as tf.Tensor4D), 'decisionMap: classResponseMaps must be a tensor of rank 4 [batch, height, width, classes], but got rank 3 (shape [4,4,3]).'],
    [() => decisionMap(tf.zeros([1, 4, 4, 3], 'int32') as tf.Tensor4D), 'decisionMap: classResponseMaps must be a float32 tensor, but got dtype int32.'],
    [() => decisionMap(tf.zeros([1, 4, 4, 1]) as tf.Tensor4D), 'decisionMap: classResponseMaps must be a tensor with at least 2 classes in its last dimension, but got 1.'],
    [() => decisionMap(maps(), null as never), 'decisionMap: options must be an object, but got null.'],
    [() => decisionMap(maps(), 3 as never), 'decisionMap: options must be an object, but got 3.'],
    [() => decisionMap(maps(), { topK: 0 }), 'decisionMap: topK must be an integer >= 1, but got 0.'],
    [() => decisionMap(maps(), { entropyThreshold: -0.1 }), 'decisionMap: entropyThreshold must be a finite number >= 0, but got -0.1.'],
    [() => decisionMap(maps(), { classScores: tf.zeros([3]) as unknown as tf.Tensor2D }), 'decisionMap: classScores must be a tensor of rank 2 [batch, classes], but got rank 1 (shape [3]).'],
    [() => decisionMap(maps(), { classScores: tf.zeros([2, 3]) as tf.Tensor2D }), 'decisionMap: classScores must be of shape [1,3] to match classResponseMaps, but got shape [2,3].'],
    [() => decisionMap(maps(), { classScores: tf.zeros([1, 4]) as tf.Tensor2D }), 'decisionMap: classScores must be of shape [1,3] to match classResponseMaps, but got shape [1,4].'],
  ])('%#: refuses with an exact message', (call, message) => {
    expect(call).toThrow(message);
  });

  it('accepts two classes, δ = 0 and topK above the class count (k = classes)', () => {
    const two = decisionMap(uniform([1, 4, 4, 2], 0, 1, 3) as tf.Tensor4D, { entropyThreshold: 0, topK: 9 });
    expect(two.decision.shape).toEqual([1, 4, 4]);
  });
});
