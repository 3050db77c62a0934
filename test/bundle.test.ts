/**
 * The published build under a bundler: an app whose only import of this package is the bare
 * `import 's3n-layers'` (for its layer registration, `tf.serialization.registerClass`) is
 * bundled by esbuild with tree shaking, as ESM and as CommonJS, and must still load a saved
 * S3N model and predict with it. A bundler drops such an import when package.json's
 * `sideEffects` does not list the file, so this checks that field against the build: every
 * dist file that registers something (classes, the tfjs flag, kernels) must be listed, the
 * chunk files tsup splits out included. Builds `dist/` first when it is missing or stale.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import * as tf from '@tensorflow/tfjs-core';
import { S3N, smallResNet } from '../src';
import { fileSystem } from '../src/io';
import { ensureFreshBuild } from './helpers/dist';

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  sideEffects: string[];
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

/** Whether `file` (`./dist/...`) matches a `sideEffects` glob (`*` within one path segment). */
function listed(file: string): boolean {
  return pkg.sideEffects.some((glob) => {
    const re = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
    return new RegExp(`^${re}$`).test(file);
  });
}

/** The app: tfjs, then only the bare import of this package, then load and predict. */
const APP = `
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import 's3n-layers';

async function main() {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const dir = process.argv[2];
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const bytes = fs.readFileSync(path.join(dir, 'weights.bin'));
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const model = await tfl.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }),
  );
  const x = tf.tensor4d(JSON.parse(fs.readFileSync(path.join(dir, 'input.json'), 'utf8')), [2, 32, 32, 3]);
  const outputs = [].concat(model.predict(x));
  console.log(JSON.stringify(outputs.map((t) => Array.from(t.dataSync()))));
}
main().catch((e) => {
  console.error(e && e.message ? e.message : e);
  process.exit(1);
});
`;

describe('bundled app with a bare import of the package', () => {
  let tmp: string;
  let expected: number[][];

  beforeAll(async () => {
    ensureFreshBuild();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-bundle-'));
    // The app's node_modules: this package (a link to the checkout, as npm link would make it)
    // and links to every installed package, for the externals at run time.
    const modules = path.join(tmp, 'node_modules');
    fs.mkdirSync(modules);
    fs.symlinkSync(root, path.join(modules, 's3n-layers'), 'dir');
    for (const name of fs.readdirSync(path.join(root, 'node_modules'))) {
      if (name.startsWith('.')) continue;
      fs.symlinkSync(path.join(root, 'node_modules', name), path.join(modules, name), 'dir');
    }
    fs.writeFileSync(path.join(tmp, 'app.js'), APP);

    const s3n = S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 3 }), { classes: 3, seed: 3, gridSize: 15, paddingSize: 8, fwhm: 4 });
    const modelDir = path.join(tmp, 'model');
    await s3n.model.save(fileSystem(modelDir));
    const input = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 5);
    fs.writeFileSync(path.join(modelDir, 'input.json'), JSON.stringify(Array.from(input.dataSync())));
    const outputs = ([] as tf.Tensor[]).concat(s3n.model.predict(input) as tf.Tensor | tf.Tensor[]);
    expected = outputs.map((t) => Array.from(t.dataSync()));
    tf.dispose([input, ...outputs]);
    s3n.model.dispose();
  }, 300_000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it.each(['esm', 'cjs'] as const)('loads a saved S3N model and predicts (format %s)', async (format) => {
    const outfile = path.join(tmp, format === 'esm' ? 'bundle.mjs' : 'bundle.cjs');
    const result = await esbuild.build({
      absWorkingDir: tmp,
      entryPoints: [path.join(tmp, 'app.js')],
      outfile,
      bundle: true,
      platform: 'node',
      format,
      treeShaking: true,
      // The package's own code is bundled; its dependencies stay packages (tfjs must be one copy).
      external: [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies), '@tensorflow/*'],
      logLevel: 'silent',
    });
    const run = () => execFileSync(process.execPath, [outfile, path.join(tmp, 'model')], { cwd: tmp, encoding: 'utf8', stdio: 'pipe' });
    let out: string;
    try {
      out = run();
    } catch (e) {
      // Without the registration: "Unknown layer: S3NClassResponseMap. ..."
      throw new Error(`the bundled app failed: ${String((e as { stderr?: string }).stderr ?? e)}`);
    }
    const got = JSON.parse(out.trim()) as number[][];
    expect(got.map((o) => o.length)).toEqual(expected.map((o) => o.length));
    got.forEach((o, i) => o.forEach((v, j) => expect(Math.abs(v - expected[i][j])).toBeLessThanOrEqual(1e-6)));
    // esbuild warns "Ignoring this import because ... was marked as having no side effects".
    expect(result.warnings.map((w) => w.text)).toEqual([]);
  }, 120_000);

  it('sideEffects lists every dist file that registers something', () => {
    const registering = fs
      .readdirSync(path.join(root, 'dist'))
      .filter((f) => /\.(m?js)$/.test(f))
      .filter((f) => /\b(registerClass|registerFlag|registerKernel|registerGradient)\(/.test(fs.readFileSync(path.join(root, 'dist', f), 'utf8')))
      .map((f) => `./dist/${f}`);
    expect(registering).toContain('./dist/index.js');
    expect(registering.filter((f) => !listed(f))).toEqual([]);
  });
});
