#!/usr/bin/env node
// Regenerates test/fixtures/tfjs-webgpu-kernels.json: the kernel names that
// @tensorflow/tfjs-backend-webgpu registers for its 'webgpu' backend.
//
//   node tools/tfjs-webgpu-kernels.mjs [version]      (default 4.22.0; no GPU needed)
//
// It loads the installed package (a dev dependency) in Node: the package registers its kernels
// on import whether or not a GPU is present (only the backend itself needs navigator.gpu), so
// tfjs-core's kernel registry lists them. The installed version must be the one asked for.
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const version = process.argv[2] ?? '4.22.0';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const installed = require('@tensorflow/tfjs-backend-webgpu/package.json').version;
if (installed !== version) {
  console.error(`@tensorflow/tfjs-backend-webgpu ${installed} is installed, but ${version} was asked for: npm install -D @tensorflow/tfjs-backend-webgpu@${version} first.`);
  process.exit(1);
}
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-webgpu');
const kernels = [...new Set(tf.getKernelsForBackend('webgpu').map((k) => k.kernelName))].sort();
if (kernels.length < 100) throw new Error(`only ${kernels.length} webgpu kernels registered: the package did not load as expected`);
const out = { package: '@tensorflow/tfjs-backend-webgpu', version, backend: 'webgpu', command: 'node tools/tfjs-webgpu-kernels.mjs ' + version, kernels };
writeFileSync(join(root, 'test', 'fixtures', 'tfjs-webgpu-kernels.json'), JSON.stringify(out, null, 2) + '\n');
console.log(`${kernels.length} kernels of @tensorflow/tfjs-backend-webgpu@${version} written to test/fixtures/tfjs-webgpu-kernels.json`);
