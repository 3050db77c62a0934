/**
 * Helpers for the tests of the torchvision backbones: reference data made at test time by
 * torch_parity.py with Debian's PyTorch (test/helpers/requirements.ts `DEBIAN_PYTHON`), in a
 * temporary folder. Without PyTorch the tests are skipped with a printed reason, and fail under
 * `S3N_STRICT=1` (test/helpers/python.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEBIAN_PYTHON } from '../helpers/requirements';

export { describeWithPython, NEEDS_H5PY, NEEDS_TORCH, NEEDS_TORCHVISION } from '../helpers/python';

/** Debian's Python, which has python3-torch and python3-torchvision (the `python3` on PATH may not). */
export const PYTHON = DEBIAN_PYTHON;
const SCRIPT = path.join(__dirname, 'torch_parity.py');

/** Runs torch_parity.py with the arguments; throws with its stderr when it fails. */
export function runParityScript(args: string[]): void {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${PYTHON} ${path.basename(SCRIPT)} ${args.join(' ')} failed (exit ${r.status}): ${r.error?.message ?? r.stderr}`);
}

/** What torch_parity.py `model` wrote for one architecture. */
export interface TorchReference {
  /** The `.pth` file (torch.save of the state dict). */
  pth: string;
  /** The `.safetensors` file. */
  safetensors: string;
  /** Input `[2, size, size, 3]` and features `[2, h, w, C]` (NHWC) of each size. */
  sizes: Record<number, { input: { shape: number[]; data: Float32Array }; features: { shape: number[]; data: Float32Array } }>;
}

function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Builds torchvision's `arch` with seeded random weights and BN statistics, saves it, computes features. */
export function makeTorchReference(dir: string, arch: string, seed: number, sizes: number[]): TorchReference {
  runParityScript(['model', dir, arch, String(seed), ...sizes.map(String)]);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, `${arch}.json`), 'utf8')) as { sizes: Record<string, { input: number[]; features: number[]; finite: boolean }> };
  const out: TorchReference = { pth: path.join(dir, `${arch}.pth`), safetensors: path.join(dir, `${arch}.safetensors`), sizes: {} };
  for (const s of sizes) {
    const m = meta.sizes[String(s)];
    if (!m.finite) throw new Error(`torch_parity.py: the ${arch} features at ${s} px are not finite`);
    out.sizes[s] = {
      input: { shape: m.input, data: readF32(path.join(dir, `${arch}_${s}.input.f32`)) },
      features: { shape: m.features, data: readF32(path.join(dir, `${arch}_${s}.features.f32`)) },
    };
  }
  return out;
}

/** torchvision's state-dict keys and shapes of each architecture (random init, nothing saved). */
export function torchStateDictKeys(dir: string, archs: string[]): Record<string, [string, number[]][]> {
  const file = path.join(dir, 'keys.json');
  runParityScript(['keys', file, ...archs]);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** max |a − b| / max |b|. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relativeError: lengths differ (${a.length} vs ${b.length})`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

/** Copies of every weight of a model (to check that a refused load changed nothing). */
export function weightSnapshot(m: { getWeights(): { dataSync(): ArrayLike<number> }[] }): Float32Array[] {
  return m.getWeights().map((w) => Float32Array.from(w.dataSync()));
}

/**
 * Number of values that differ between two {@link weightSnapshot}s (plain loops: a global lookup
 * in a hot loop, such as Math.abs, is slow in jest's vm context).
 */
export function weightDifferences(a: Float32Array[], b: Float32Array[]): number {
  let n = Math.abs(a.length - b.length);
  for (let k = 0; k < Math.min(a.length, b.length); k++) {
    const x = a[k];
    const y = b[k];
    if (x.length !== y.length) n++;
    else for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !(x[i] !== x[i] && y[i] !== y[i])) n++;
  }
  return n;
}
