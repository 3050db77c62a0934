#!/usr/bin/env node
// Regenerates test/fixtures/tfjs-node-kernels.json: the kernel names that @tensorflow/tfjs-node
// registers for its 'tensorflow' backend. The package's install script downloads libtensorflow,
// which is not possible everywhere, so this reads the published package's own files instead:
//
//   node tools/tfjs-node-kernels.mjs [version]      (default 4.22.0; needs the npm registry)
//
// It runs `npm pack @tensorflow/tfjs-node@VERSION` in a temporary folder, reads every
// dist/kernels/*.js that dist/register_all_kernels.js requires, and resolves each
// `kernelName: tfjs.X` through tfjs-core's kernel-name constants.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const version = process.argv[2] ?? '4.22.0';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tfc = createRequire(join(root, 'package.json'))('@tensorflow/tfjs-core');
const dir = mkdtempSync(join(tmpdir(), 'tfjs-node-'));
try {
  const tgz = execFileSync('npm', ['pack', `@tensorflow/tfjs-node@${version}`, '--silent'], { cwd: dir }).toString().trim().split('\n').pop();
  execFileSync('tar', ['xzf', tgz], { cwd: dir });
  const dist = join(dir, 'package', 'dist');
  const registry = readFileSync(join(dist, 'register_all_kernels.js'), 'utf8');
  const files = [...registry.matchAll(/require\("\.\/kernels\/([A-Za-z0-9_]+)"\)/g)].map((m) => m[1]);
  const names = new Set();
  for (const f of files) {
    const src = readFileSync(join(dist, 'kernels', `${f}.js`), 'utf8');
    for (const m of src.matchAll(/kernelName:\s*(?:tfjs(?:_core)?_1\.([A-Za-z0-9_]+)|'([A-Za-z0-9_]+)')/g)) {
      const name = m[2] ?? tfc[m[1]];
      if (typeof name !== 'string') throw new Error(`cannot resolve kernel constant ${m[1]} in kernels/${f}.js`);
      names.add(name);
    }
  }
  const out = { package: '@tensorflow/tfjs-node', version, backend: 'tensorflow', command: 'node tools/tfjs-node-kernels.mjs ' + version, kernels: [...names].sort() };
  writeFileSync(join(root, 'test', 'fixtures', 'tfjs-node-kernels.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`${out.kernels.length} kernels of @tensorflow/tfjs-node@${version} written to test/fixtures/tfjs-node-kernels.json`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
