/**
 * The demo site (Node only): the page built by {@link buildPage}, the demo checkpoint exported
 * into `model/` and one test image per class in `samples/`. The checkpoint is the one
 * `s3n demo --backend wasm` trains (a synthetic fine-grained set, about 40 s on two cores);
 * it is made once and reused. Everything runs the package's build (`dist/cli.js`), the same
 * code the page bundles from `dist/index.mjs`.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildPage, type PageBuild } from './build';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

/** Options of {@link prepareDemoSite}. */
export interface DemoSiteOptions {
  /** Folder of the demo run (`s3n demo --out`); made when it holds no checkpoint. */
  demoDir: string;
  /** Train the demo again even when `demoDir` has a checkpoint. */
  fresh?: boolean;
  /** Epochs of the demo (default the CLI's, 6). */
  epochs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What {@link prepareDemoSite} made. */
export interface DemoSite extends PageBuild {
  /** The demo's checkpoint folder (its latest). */
  checkpoint: string;
  /** Class names of the demo. */
  classNames: string[];
  /** Sample images copied to `samples/`: file name (in `samples/`), class, source path. */
  samples: { file: string; label: string; source: string }[];
}

/**
 * Builds the page into `siteDir`, makes the demo checkpoint if needed, exports it to
 * `siteDir/model/` with `s3n export` and copies one test image per class to `siteDir/samples/`
 * (with `samples.json`).
 *
 * @throws (rejects) when `dist/` is missing (run npm run build), or with the CLI's error.
 */
export async function prepareDemoSite(siteDir: string, options: DemoSiteOptions): Promise<DemoSite> {
  const log = options.log ?? (() => undefined);
  if (!fs.existsSync(CLI)) throw new Error(`prepareDemoSite: the package build must exist (${CLI}), but it does not: run npm run build first.`);
  const page = await buildPage(siteDir);
  log(`page: ${path.join(page.dir, 'page.js')} (${(page.bundleBytes / 1e6).toFixed(2)} MB, + ${(page.wasmBytes / 1e6).toFixed(2)} MB of .wasm for the wasm backend)`);
  const demoDir = path.resolve(options.demoDir);
  const runDir = path.join(demoDir, 'run');
  const latest = path.join(runDir, 'checkpoints', 'latest');
  if (options.fresh || !fs.existsSync(latest)) {
    log(`demo: training a small S3N on synthetic data in ${demoDir} (s3n demo --backend wasm, about 40 s)…`);
    const args = [CLI, 'demo', '--backend', 'wasm', '--out', demoDir, ...(options.epochs ? ['--epochs', String(options.epochs)] : [])];
    const { stdout } = await run(process.execPath, args, { cwd: ROOT, maxBuffer: 64 << 20 });
    const done = stdout.split('\n').find((l) => l.startsWith('demo: done'));
    if (done) log(done);
  } else {
    log(`demo: reusing the checkpoint in ${runDir} (pass --fresh to train it again)`);
  }
  const checkpoint = path.join(runDir, 'checkpoints', fs.readFileSync(latest, 'utf8').trim());
  const modelDir = path.join(page.dir, 'model');
  const { stdout } = await run(process.execPath, [CLI, 'export', '--checkpoint', runDir, '--out', modelDir], { cwd: ROOT });
  log(stdout.trim());
  const classNames = fs.readFileSync(path.join(modelDir, 'classes.txt'), 'utf8').split('\n').filter((l) => l !== '');
  const samplesDir = path.join(page.dir, 'samples');
  fs.mkdirSync(samplesDir, { recursive: true });
  const samples: DemoSite['samples'] = [];
  for (const label of classNames) {
    const folder = path.join(demoDir, 'data', 'test', label);
    const first = fs.existsSync(folder) ? fs.readdirSync(folder).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort()[0] : undefined;
    if (!first) continue;
    const file = `${label}${path.extname(first)}`;
    fs.copyFileSync(path.join(folder, first), path.join(samplesDir, file));
    samples.push({ file, label, source: path.join(folder, first) });
  }
  fs.writeFileSync(path.join(samplesDir, 'samples.json'), JSON.stringify(samples.map(({ file, label }) => ({ file, label }))));
  return { ...page, checkpoint, classNames, samples };
}
