/**
 * The published build: it loads with `require` and with `import` from Node, both at once
 * (class registration must not throw), and exposes the documented API. Builds `dist/` first
 * when it is missing or stale (test/helpers/dist.ts).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureFreshBuild } from './helpers/dist';

const root = path.resolve(__dirname, '..');

function node(code: string, type: 'commonjs' | 'module'): string {
  const file = path.join(root, 'dist', `.probe.${type === 'module' ? 'mjs' : 'cjs'}`);
  fs.writeFileSync(file, code);
  try {
    return execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8' }).trim();
  } finally {
    fs.unlinkSync(file);
  }
}

describe('package build', () => {
  beforeAll(() => ensureFreshBuild(), 300_000);

  const probe = `
    const names = ['ops', 'S3N', 'ClassResponseMap', 'PeakFinder', 'SparseAttention', 'SaliencySampler', 'S3NHead',
      'smallResNet', 'resnet50', 'cutBackbone', 's3nLoss', 'GroupedSGD'];
    const opNames = ['gridSample', 'findPeaks', 'peakAggregation', 'gaussianKernel', 'saliencyGrid', 'selectiveSparseSampling'];
    function check(m) {
      const missing = names.filter((n) => m[n] === undefined).concat(opNames.filter((n) => typeof m.ops[n] !== 'function'));
      if (missing.length) throw new Error('missing exports: ' + missing);
    }`;

  it('loads with require', () => {
    expect(node(`${probe}\nconst m = require('s3n-layers'); check(m); console.log('ok', typeof m.S3N.create);`, 'commonjs')).toBe('ok function');
  });

  it('loads with import, and together with require without registration errors', () => {
    const out = node(
      `${probe}
      import { createRequire } from 'node:module';
      const esm = await import('s3n-layers');
      check(esm);
      const cjs = createRequire(import.meta.url)('s3n-layers');
      check(cjs);
      const tf = await import('@tensorflow/tfjs-core');
      const map = tf.serialization.SerializationMap.getMap().classNameMap;
      console.log(['S3NClassResponseMap', 'S3NPeakFinder', 'S3NSparseAttention', 'S3NSaliencySampler', 'S3NHead'].every((n) => n in map));`,
      'module',
    );
    expect(out).toBe('true');
  });

  it('loads the wasm-training and node entries, and the s3n bin', () => {
    const out = node(
      `const w = require('s3n-layers/wasm-training');
      const n = require('s3n-layers/node');
      console.log(Array.isArray(w.WASM_TRAINING_KERNELS), typeof w.registerWasmTrainingKernels, typeof n.fileSystem, typeof n.readCub);`,
      'commonjs',
    );
    expect(out).toBe('true function function function');
    const help = execFileSync(process.execPath, [path.join(root, 'dist', 'cli.js'), '--help'], { encoding: 'utf8' });
    expect(help).toContain('Usage: s3n <command> [options]');
    expect(help).toMatch(/^  train /m);
  });

  it('loads the cpu-training entry with require', () => {
    const out = node(
      `const tf = require('@tensorflow/tfjs-core');
      const c = require('s3n-layers/cpu-training');
      console.log(JSON.stringify([c.CPU_TRAINING_KERNELS, c.activeCpuTrainingKernels(), c.registerCpuTrainingKernels(), typeof tf.getKernel('Conv2DBackpropFilter', 'cpu').original]));`,
      'commonjs',
    );
    expect(JSON.parse(out)).toEqual([['Conv2DBackpropFilter'], ['Conv2DBackpropFilter'], [], 'function']);
  });

  it('loads the cpu-training entry with import, and together with require: one registration, no warnings', () => {
    const out = node(
      `const warnings = [];
      console.warn = (...args) => warnings.push(args.join(' '));
      const { createRequire } = await import('node:module');
      const tf = await import('@tensorflow/tfjs-core');
      tf.env().set('PROD', true); // silences the "install tfjs-node" hint, as test/helpers/setup.ts does
      await import('@tensorflow/tfjs-layers'); // registers the gradients
      const esm = await import('s3n-layers/cpu-training');
      const registered = tf.getKernel('Conv2DBackpropFilter', 'cpu');
      const cjs = createRequire(import.meta.url)('s3n-layers/cpu-training');
      await tf.setBackend('cpu');
      const w = tf.variable(tf.ones([3, 3, 2, 4]));
      const { grads } = tf.variableGrads(() => tf.sum(tf.conv2d(tf.ones([1, 5, 5, 2]), w, 1, 'same')), [w]);
      console.log(JSON.stringify({
        esm: esm.activeCpuTrainingKernels(),
        cjs: cjs.activeCpuTrainingKernels(),
        again: [esm.registerCpuTrainingKernels(), cjs.registerCpuTrainingKernels()],
        same: tf.getKernel('Conv2DBackpropFilter', 'cpu') === registered,
        grad: tf.sum(grads[w.name]).dataSync()[0],
        warnings,
      }));`,
      'module',
    );
    // Each of the 3·3·2·4 filter weights meets the 5·5 input minus the zero padding: 16 of 25
    // positions at the corners, 20 at the edges, 25 in the centre of the 3×3 window.
    expect(JSON.parse(out)).toEqual({
      esm: ['Conv2DBackpropFilter'],
      cjs: ['Conv2DBackpropFilter'],
      again: [[], []],
      same: true,
      grad: (4 * 16 + 4 * 20 + 25) * 2 * 4,
      warnings: [],
    });
  });

  it('packs only the build, types, README, LICENSE and CHANGELOG', () => {
    const listing = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
    const files: string[] = listing[0].files.map((f: { path: string }) => f.path);
    const unexpected = files.filter((f) => !/^(dist\/|README\.md$|LICENSE$|CHANGELOG\.md$|package\.json$)/.test(f));
    expect(unexpected).toEqual([]);
    for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'README.md', 'LICENSE', 'CHANGELOG.md']) expect(files).toContain(f);
  });
});
