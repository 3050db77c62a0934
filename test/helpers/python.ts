/**
 * Tests that run Debian's Python (PyTorch, torchvision, h5py) to write reference files or
 * compute reference values: {@link describeWithPython} skips them with a printed reason when
 * the modules are missing, and fails them under `S3N_STRICT=1` (CI), through
 * {@link requireTool} like every other test that needs a tool outside npm.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEBIAN_PYTHON, pythonHas, requireTool } from './requirements';

/** What a group of tests needs from Python. */
export interface PythonNeeds {
  /** Modules to import, e.g. `['torch']`. */
  modules: string[];
  /** The Debian packages that provide them. */
  apt: string;
  /**
   * Ignored: the S3N_SKIP_TORCH_TESTS / S3N_SKIP_H5PY_TESTS variables are gone (a missing module
   * now skips the tests, and fails them under S3N_STRICT=1). Accepted so older call sites compile.
   */
  skipEnv?: string;
}

/** torch and torchvision (the backbone parity tests). */
export const NEEDS_TORCHVISION: PythonNeeds = { modules: ['torch', 'torchvision'], apt: 'python3-torch python3-torchvision' };
/** torch alone (torch.save and safetensors files). */
export const NEEDS_TORCH: PythonNeeds = { modules: ['torch'], apt: 'python3-torch' };
/** h5py and numpy (Keras-layout .h5 files). */
export const NEEDS_H5PY: PythonNeeds = { modules: ['h5py', 'numpy'], apt: 'python3-h5py' };

const known = new Map<string, boolean>();

/**
 * Whether {@link DEBIAN_PYTHON} imports the modules. When it does not: throws under `S3N_STRICT=1`,
 * otherwise prints that `title` is skipped and why. One Python start per set of modules.
 */
export function hasPython(needs: PythonNeeds, title: string): boolean {
  const key = needs.modules.join(',');
  if (!known.has(key)) known.set(key, pythonHas(...needs.modules));
  return requireTool(`${DEBIAN_PYTHON} with ${needs.modules.join(', ')} (for "${title}")`, known.get(key)!, `apt-get install ${needs.apt}, or set S3N_PYTHON`);
}

/** Options of {@link describeWithPython}. */
export interface PythonBlockOptions {
  /** Prefix of the temporary folder's name. Default `s3n-python-`. */
  prefix?: string;
  /** Runs first in the block's `beforeAll`, with the new folder (e.g. to write the files the tests read). */
  setup?: (dir: string) => void;
}

/**
 * `describe` for tests that need Python modules (default torch and torchvision). The body gets
 * a temporary folder, made before the block (then `options.setup` runs) and removed after it.
 * Without the modules the block is `describe.skip` with a printed reason, or, under
 * `S3N_STRICT=1`, the test file fails saying what to install.
 */
export function describeWithPython(
  title: string,
  body: (dir: () => string) => void,
  needs: PythonNeeds = NEEDS_TORCHVISION,
  options: PythonBlockOptions = {},
): void {
  if (!hasPython(needs, title)) {
    describe.skip(title, () => body(() => ''));
    return;
  }
  let dir = '';
  describe(title, () => {
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), options.prefix ?? 's3n-python-'));
      options.setup?.(dir);
    });
    afterAll(() => {
      if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
    });
    body(() => dir);
  });
}
