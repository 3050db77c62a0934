/**
 * Tests that need a tool outside npm (Debian's Chromium, PyTorch, h5py): on a contributor's
 * machine without it they are skipped with a printed reason; in CI (`S3N_STRICT=1`, set by
 * .ci/run) a missing tool is a failure.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Whether a missing tool fails the suite (`S3N_STRICT=1`) instead of skipping its tests. */
export const STRICT = process.env.S3N_STRICT === '1';

/** Debian's Python, the one with python3-torch (the `python3` on PATH may be another one). */
export const DEBIAN_PYTHON = process.env.S3N_PYTHON ?? '/usr/bin/python3';

/**
 * Whether the tool is there. When it is not: throws under {@link STRICT}, otherwise prints why the
 * tests that need it are skipped. Use as `(available ? describe : describe.skip)(…)`.
 */
export function requireTool(what: string, available: boolean, install: string): boolean {
  if (available) return true;
  const message = `${what} is not available: ${install}`;
  if (STRICT) throw new Error(`${message} (S3N_STRICT=1: required)`);
  // Straight to stderr: jest does not show the console of a suite whose tests are all skipped.
  process.stderr.write(`skipped: ${message}\n`);
  return false;
}

/** Whether `python -c "import <modules>"` succeeds. */
export function pythonHas(...modules: string[]): boolean {
  if (!fs.existsSync(DEBIAN_PYTHON)) return false;
  return spawnSync(DEBIAN_PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
}

/** PyTorch and torchvision in Debian's Python (apt-get install python3-torch python3-torchvision). */
export function hasTorch(): boolean {
  return requireTool('PyTorch (Debian python3-torch, python3-torchvision)', pythonHas('torch', 'torchvision'), 'apt-get install python3-torch python3-torchvision');
}

/** h5py in Debian's Python (apt-get install python3-h5py). */
export function hasH5py(): boolean {
  return requireTool('h5py (Debian python3-h5py)', pythonHas('h5py', 'numpy'), 'apt-get install python3-h5py');
}

/** Debian's Chromium at `CHROMIUM_PATH` or /usr/bin/chromium. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Whether Chromium is there (apt-get install chromium). */
export function hasChromium(): boolean {
  return requireTool(`Chromium (${CHROMIUM})`, fs.existsSync(CHROMIUM), 'apt-get install chromium, or set CHROMIUM_PATH');
}

/** The folder of SwiftShader's Vulkan driver (Debian's chromium ships it): `S3N_SWIFTSHADER_DIR` or /usr/lib/chromium. */
export const SWIFTSHADER_DIR = process.env.S3N_SWIFTSHADER_DIR ?? '/usr/lib/chromium';
/** Its Vulkan ICD file. */
export const SWIFTSHADER_ICD = `${SWIFTSHADER_DIR}/vk_swiftshader_icd.json`;
/** Whether SwiftShader's Vulkan driver is there (a software WebGPU adapter for Dawn in Node). */
export function hasSwiftShader(): boolean {
  return requireTool(`SwiftShader's Vulkan driver (${SWIFTSHADER_ICD})`, fs.existsSync(SWIFTSHADER_ICD), 'apt-get install chromium, or set S3N_SWIFTSHADER_DIR');
}
