/**
 * Argument checks shared by every public entry point.
 *
 * Every failure throws a plain `Error` whose message names the function, the argument, what
 * was expected and what was given, e.g.
 * `gridSample: grid must have rank 4 [batch, outHeight, outWidth, 2], but got rank 3 (shape [2,5,2]).`
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** Formats a value for an error message (short, JSON-like, `NaN`/`Infinity` kept). */
export function describeValue(value: unknown): string {
  if (value instanceof tf.Tensor) return `a ${value.dtype} tensor of shape [${value.shape.join(',')}]`;
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `[${value.map(describeValue).join(',')}]`;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return `an object with keys {${Object.keys(value as object).join(', ')}}`;
  return String(value);
}

/** `[null,7,7,2048]`-style text of a (possibly symbolic) shape. */
export function formatShape(shape: readonly (number | null | undefined)[]): string {
  return `[${shape.map((d) => (d == null ? 'null' : String(d))).join(',')}]`;
}

/** Throws `fn: what must be expected, but got given.` */
export function fail(fn: string, what: string, expected: string, given: string): never {
  throw new Error(`${fn}: ${what} must be ${expected}, but got ${given}.`);
}

/** Checks that `x` is a tf.Tensor of one of the given ranks. */
export function checkTensor(fn: string, name: string, x: unknown, rank: number, layout: string): asserts x is tf.Tensor {
  if (!(x instanceof tf.Tensor)) fail(fn, name, `a tf.Tensor of rank ${rank} ${layout}`, describeValue(x));
  if (x.rank !== rank) {
    fail(fn, name, `a tensor of rank ${rank} ${layout}`, `rank ${x.rank} (shape [${x.shape.join(',')}])`);
  }
}

/** Checks that `x` is a float32 tensor (ops here are float ops). */
export function checkFloat(fn: string, name: string, x: tf.Tensor): void {
  if (x.dtype !== 'float32') fail(fn, name, 'a float32 tensor', `dtype ${x.dtype}`);
}

/** Checks that `value` is one of `choices`. */
export function checkOneOf<T extends string>(fn: string, name: string, value: unknown, choices: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    fail(fn, name, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, describeValue(value));
  }
}

/** Checks that `value` is a finite number > 0 (or >= 0 when `allowZero`). */
export function checkPositive(fn: string, name: string, value: unknown, allowZero = false): asserts value is number {
  const ok = typeof value === 'number' && Number.isFinite(value) && (allowZero ? value >= 0 : value > 0);
  if (!ok) fail(fn, name, allowZero ? 'a finite number >= 0' : 'a finite number > 0', describeValue(value));
}

/** Checks that `value` is an integer >= `min` (a safe integer: huge values like 1e30 are refused). */
export function checkInteger(fn: string, name: string, value: unknown, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(fn, name, `an integer >= ${min}`, describeValue(value));
  }
}

/** Checks that `value` is a boolean. */
export function checkBoolean(fn: string, name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') fail(fn, name, 'a boolean', describeValue(value));
}

/**
 * Normalises a size given as `n` or `[height, width]` to `[height, width]`, each an integer >= 1.
 */
export function toSize2d(fn: string, name: string, value: unknown): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : value;
  if (
    !Array.isArray(pair) || pair.length !== 2 ||
    !pair.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1)
  ) {
    fail(fn, name, 'a positive integer or a [height, width] pair of positive integers', describeValue(value));
  }
  return [pair[0] as number, pair[1] as number];
}

/** A number or a scalar tensor: a value an op can differentiate with respect to. */
export type ScalarLike = number | tf.Scalar | tf.Tensor;

/**
 * Checks a scalar argument: a finite number (> 0 unless `allowZero`) or a tensor holding one
 * element. Tensor values are not read (no host sync); ops guard them numerically instead.
 */
export function checkScalarLike(fn: string, name: string, value: unknown, allowZero = false): tf.Tensor {
  if (value instanceof tf.Tensor) {
    if (value.size !== 1) fail(fn, name, 'a number or a tensor with one element', `shape [${value.shape.join(',')}]`);
    if (value.dtype !== 'float32') fail(fn, name, 'a float32 tensor', `dtype ${value.dtype}`);
    return tf.reshape(value, []);
  }
  checkPositive(fn, name, value, allowZero);
  return tf.scalar(value);
}
