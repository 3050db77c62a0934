/**
 * Numerical test helpers: closeness with a reported worst element, a central-difference
 * gradient checker, and a tensor-leak guard.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '../../src/data/rng';

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  /** Elements where the mask is 0 are not compared. */
  mask?: ArrayLike<number>;
}

/** Largest |a-b| and whether every element satisfies |a-b| <= atol + rtol*|b|. */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}) {
  const { atol = 0, rtol = 0, mask } = opts;
  if (actual.length !== expected.length) throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  let maxAbs = 0;
  let worst = -1;
  let ok = true;
  for (let i = 0; i < actual.length; i++) {
    if (mask && !mask[i]) continue;
    const a = actual[i];
    const e = expected[i];
    const d = Math.abs(a - e);
    const bad = !(d <= atol + rtol * Math.abs(e)) && !(Number.isNaN(a) && Number.isNaN(e));
    if (d > maxAbs || Number.isNaN(d)) {
      maxAbs = Number.isNaN(d) ? maxAbs : d;
      if (bad || worst < 0) worst = i;
    }
    if (bad) {
      ok = false;
      worst = i;
    }
  }
  return { ok, maxAbs, worst, actual: worst >= 0 ? actual[worst] : NaN, expected: worst >= 0 ? expected[worst] : NaN };
}

/** Asserts closeness; the failure message names the worst element. */
export function expectClose(actual: tf.Tensor | ArrayLike<number>, expected: tf.Tensor | ArrayLike<number>, opts: CloseOptions = {}): number {
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) {
    expect(actual.shape).toEqual(expected.shape);
  }
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  const e = expected instanceof tf.Tensor ? expected.dataSync() : expected;
  const r = compare(a, e, opts);
  if (!r.ok) {
    throw new Error(
      `not close (atol ${opts.atol ?? 0}, rtol ${opts.rtol ?? 0}): element ${r.worst} is ${r.actual}, expected ${r.expected}; max |diff| ${r.maxAbs}`,
    );
  }
  return r.maxAbs;
}

/** Deterministic pseudo-random numbers for test data (the data pipeline's mulberry32). */
export const rng = mulberry32;

/** A float32 tensor of uniform values in [lo, hi) from a seeded generator. */
export function uniform(shape: number[], lo: number, hi: number, seed: number): tf.Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * r();
  return tf.tensor(v, shape);
}

export interface GradCheckOptions {
  /** Finite-difference step. */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** How many coordinates of each input to probe (all when larger than the input). */
  probes?: number;
  seed?: number;
}

/**
 * Central-difference gradient check of a tensor-valued function.
 *
 * The scalar probed is `L(x) = sum(f(x) * w)` with fixed random weights `w`, so every output
 * element takes part. For each input, `probes` random coordinates `i` are checked:
 * `(L(x + eps e_i) - L(x - eps e_i)) / (2 eps)` against `tf.grads`. Sums are taken in float64
 * on the host. Returns the largest absolute error seen.
 */
export function checkGradients(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], opts: GradCheckOptions = {}): number {
  const { eps = 1e-2, atol = 1e-3, rtol = 1e-2, probes = 12, seed = 7 } = opts;
  const r = rng(seed);
  const outShape = tf.tidy(() => f(...inputs).shape);
  const w = uniform(outShape, -1, 1, seed + 1);
  const wData = w.dataSync();
  const loss = (xs: tf.Tensor[]): number => {
    const out = tf.tidy(() => f(...xs));
    const d = out.dataSync();
    out.dispose();
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i] * wData[i];
    return s;
  };
  const analytic = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), w)))(inputs);
  let worst = 0;
  inputs.forEach((x, k) => {
    const g = analytic[k].dataSync();
    const base = x.dataSync();
    const n = base.length;
    const idx = probes >= n ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: probes }, () => Math.floor(r() * n));
    for (const i of idx) {
      const plus = Float32Array.from(base);
      const minus = Float32Array.from(base);
      plus[i] += eps;
      minus[i] -= eps;
      const xp = tf.tensor(plus, x.shape);
      const xm = tf.tensor(minus, x.shape);
      const lp = loss(inputs.map((y, j) => (j === k ? xp : y)));
      const lm = loss(inputs.map((y, j) => (j === k ? xm : y)));
      xp.dispose();
      xm.dispose();
      const numeric = (lp - lm) / (2 * eps);
      const err = Math.abs(numeric - g[i]);
      worst = Math.max(worst, err);
      if (!(err <= atol + rtol * Math.abs(numeric))) {
        throw new Error(`gradient mismatch for input ${k} at flat index ${i}: analytic ${g[i]}, central difference ${numeric} (eps ${eps})`);
      }
    }
  });
  analytic.forEach((t) => t.dispose());
  w.dispose();
  return worst;
}

/**
 * Runs `fn`, disposes whatever tensors it returns, and asserts that the number of live tensors
 * is back to what it was before.
 */
export async function expectNoLeak(fn: () => unknown | Promise<unknown>): Promise<void> {
  const before = tf.memory().numTensors;
  const out = await fn();
  tf.dispose(collectTensors(out));
  expect(tf.memory().numTensors).toBe(before);
}

function collectTensors(x: unknown): tf.Tensor[] {
  if (x instanceof tf.Tensor) return [x];
  if (Array.isArray(x)) return x.flatMap(collectTensors);
  if (x && typeof x === 'object') return Object.values(x).flatMap(collectTensors);
  return [];
}
