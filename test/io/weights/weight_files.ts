/**
 * Test helpers for the weight readers: the weight files are written at test time by
 * make_weight_files.py with the real writers (torch.save, h5py), run with Debian's Python.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RawTensor } from '../../../src/io/state_dict';
import { describeWithPython, type PythonNeeds } from '../../helpers/python';
import { DEBIAN_PYTHON } from '../../helpers/requirements';

/** Debian's Python, which has python3-torch (the `python3` on PATH may not). */
export const PYTHON = DEBIAN_PYTHON;
const SCRIPT = path.join(__dirname, 'make_weight_files.py');

export { NEEDS_H5PY, NEEDS_TORCH, type PythonNeeds } from '../../helpers/python';

/**
 * {@link describeWithPython} for tests on Python-written files: writes them
 * (make_weight_files.py `mode`) into the block's temporary folder before the block. Without the
 * Python modules the tests are skipped with a printed reason (a failure under `S3N_STRICT=1`).
 *
 * @param body Gets a function returning the folder and the marker path (a file the malicious
 *   pickles would create, which must never exist).
 */
export function describeWithPythonFiles(
  title: string, mode: 'torch' | 'safetensors' | 'h5', needs: PythonNeeds,
  body: (files: { dir: () => string; marker: string }) => void,
): void {
  const marker = path.join(os.tmpdir(), `pwned-${process.pid}-${Math.random().toString(36).slice(2)}`);
  describeWithPython(title, (dir) => body({ dir, marker }), needs, {
    prefix: `s3n-weights-${mode}-`,
    setup: (dir) => {
      execFileSync(PYTHON, [SCRIPT, dir, mode, marker], { stdio: ['ignore', 'ignore', 'pipe'] });
    },
  });
}

/** An array as make_weight_files.py describes it. */
export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  /** Row-major values; NaN, ±Infinity and -0 as strings. */
  values: (number | string)[];
}

/** Decodes the JSON values (`'NaN'`, `'Infinity'`, `'-Infinity'`, `'-0'`). */
export function decodeValues(values: (number | string)[]): number[] {
  return values.map((v) => (typeof v === 'number' ? v : v === '-0' ? -0 : Number(v)));
}

/** The same encoding, for arrays read in JS (so that whole files compare with toEqual). */
export function encodeValues(values: ArrayLike<number>): (number | string)[] {
  return Array.from(values, (v) => (Number.isNaN(v) ? 'NaN' : !Number.isFinite(v) ? (v > 0 ? 'Infinity' : '-Infinity') : Object.is(v, -0) ? '-0' : v));
}

/**
 * Checks a tensor against Python's description: dtype, shape, and every value exactly (NaN as
 * NaN, -0 as -0). Mismatches are listed (at most 5) so a failure says where.
 */
export function expectTensor(name: string, actual: RawTensor | undefined, expected: ExpectedTensor): void {
  expect({ name, dtype: actual?.dtype, shape: actual?.shape, length: actual?.data.length })
    .toEqual({ name, dtype: expected.dtype, shape: expected.shape, length: expected.values.length });
  const want = decodeValues(expected.values);
  const data = (actual as RawTensor).data;
  const wrong: string[] = [];
  want.forEach((w, i) => {
    if (!Object.is(data[i], w) && wrong.length < 5) wrong.push(`${name}[${i}]: got ${data[i]}, expected ${w}`);
  });
  expect(wrong).toEqual([]);
}

/** Reads expected_<mode>.json of the folder. */
export function readExpected<T>(dir: string, mode: string): T {
  return JSON.parse(fs.readFileSync(path.join(dir, `expected_${mode}.json`), 'utf8')) as T;
}

/** Writes a copy of `file` cut to its first `length` bytes; returns its path. */
export function truncatedCopy(file: string, length: number, dir: string): string {
  const out = path.join(dir, `${path.basename(file)}.cut${length}`);
  fs.writeFileSync(out, fs.readFileSync(file).subarray(0, length));
  return out;
}
