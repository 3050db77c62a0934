/**
 * The `s3n` CLI end to end, run from source (`node --import tsx src/cli/main.ts`, the same as
 * `npx tsx src/cli/main.ts` in one process, so that SIGKILL really kills the run).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeFolder, tempDir, writeCorruptJpeg } from '../data/layouts';

const REPO = path.resolve(__dirname, '../..');
const MAIN = path.join(REPO, 'src/cli/main.ts');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { killWhen?: RegExp; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (options.killWhen && options.killWhen.test(stdout) && child.exitCode === null) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let root: string;
let data: string;
beforeAll(async () => {
  root = tempDir('cli');
  data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 4, test: 2, size: 28 });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const TRAIN = (out: string, extra: string[] = []) => [
  'train', '--dataset', 'folder', '--data', data, '--backbone', 'small', '--widths', '4,8', '--input-size', '32',
  '--epochs', '2', '--batch-size', '4', '--lr', '0.01', '--switch-epoch', '0', '--grid-size', '15', '--padding-size', '8',
  '--fwhm', '4', '--seed', '3', '--out', out, ...extra,
];

describe('s3n CLI', () => {
  it('prints help through npx tsx, and usage errors with exit code 2', async () => {
    const help = spawnSync('npx', ['tsx', 'src/cli/main.ts', '--help'], { cwd: REPO, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: s3n <command>/);
    const [missing, unknown, badNumber] = await Promise.all([
      cli(['train', '--data', data, '--out', path.join(root, 'x')]),
      cli(['eval', '--bogus']),
      cli(['train', '--dataset', 'folder', '--data', data, '--out', path.join(root, 'x'), '--epochs', 'many']),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/s3n train: --dataset is required \(one of cub, aircraft, cars, folder\)\./);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--bogus'/);
    expect(badNumber.stderr).toMatch(/--epochs must be an integer >= 1, but got 'many'\./);
  });

  it('names the expected files for a wrong dataset root, and says how to get the tensorflow backend', async () => {
    const [wrong, tfNode] = await Promise.all([
      cli(['train', '--dataset', 'cub', '--data', data, '--out', path.join(root, 'y')]),
      cli(['predict', '--backend', 'tensorflow', '--checkpoint', root, 'x.jpg']),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/readCub: root must be a CUB-200-2011 folder containing images\.txt, image_class_labels\.txt, train_test_split\.txt, classes\.txt, images\/, but got/);
    expect(tfNode.code).toBe(1);
    expect(tfNode.stderr).toMatch(/needs @tensorflow\/tfjs-node-gpu \(CUDA\) or @tensorflow\/tfjs-node \(CPU\).*\n.*\n\s+npm install @tensorflow\/tfjs-node@4\.22\.0/);
  });

  it('resumes a killed run to the same final weights, bit for bit, as an uninterrupted run', async () => {
    const full = path.join(root, 'full');
    const killed = path.join(root, 'killed');
    // The uninterrupted run and the run to kill, side by side.
    const [a, k] = await Promise.all([cli(TRAIN(full)), cli(TRAIN(killed), { killWhen: /epoch 2\/2 started/ })]);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/epoch 1\/2: loss \d+\.\d+, train top-1 \d+\.\d%/);
    expect(a.stdout).toMatch(/epoch 2\/2: .*test top-1 fused \d+\.\d%, raw \d+\.\d%, discriminative \d+\.\d%, complementary \d+\.\d%/);
    expect(k.signal).toBe('SIGKILL');
    expect(fs.readFileSync(path.join(killed, 'checkpoints', 'latest'), 'utf8').trim()).toBe('epoch-0001');
    expect(fs.existsSync(path.join(killed, 'checkpoints', 'epoch-0002'))).toBe(false);

    const refused = await cli(TRAIN(killed));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already holds a run \(checkpoints\/epoch-0001\); pass --resume/);

    const r = await cli(TRAIN(killed, ['--resume']));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/resuming .* after epoch 1/);
    expect(r.stdout).not.toMatch(/epoch 1\/2 started/);

    const ckA = path.join(full, 'checkpoints', 'epoch-0002');
    const ckB = path.join(killed, 'checkpoints', 'epoch-0002');
    for (const f of ['weights.bin', 'optimizer.bin']) {
      expect(fs.readFileSync(path.join(ckB, f)).equals(fs.readFileSync(path.join(ckA, f)))).toBe(true);
    }
    const specs = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'model.json'), 'utf8')).weightsManifest[0].weights;
    expect(specs(ckB)).toEqual(specs(ckA));
    const state = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'state.json'), 'utf8'));
    const strip = (m: Record<string, unknown>[]) => m.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
    expect(state(ckB).drawCount).toBe(state(ckA).drawCount);
    expect(state(ckA).drawCount).toBeGreaterThan(0);
    expect(strip(state(ckB).metrics)).toEqual(strip(state(ckA).metrics));
  }, 150000);

  it('evaluates, predicts and draws pictures from a checkpoint', async () => {
    const run = path.join(root, 'full');
    const image = path.join(data, 'test', 'beta', '0.jpg');
    const broken = path.join(root, 'broken.jpg');
    writeCorruptJpeg(broken);
    const pics = path.join(root, 'pics');
    const [ev, pr, vi] = await Promise.all([
      cli(['eval', '--checkpoint', run, '--dataset', 'folder', '--data', data, '--batch-size', '3']),
      cli(['predict', '--checkpoint', run, image, broken, '--top-k', '2']),
      cli(['visualize', '--checkpoint', path.join(run, 'checkpoints', 'epoch-0002'), image, '--out', pics]),
    ]);
    expect(ev.code).toBe(0);
    expect(ev.stdout).toMatch(/folder test \(4 images, checkpoint .*epoch-0002\): top-1 fused \d+\.\d%, raw \d+\.\d%, discriminative \d+\.\d%, complementary \d+\.\d%/);
    // One of the two images was skipped: the others are printed, and the exit code says so.
    expect(pr.code).toBe(1);
    expect(pr.stderr).toMatch(/s3n predict: 1 of 2 images could not be read \(see the warnings above\)\.\n$/);
    expect(pr.stdout).toMatch(new RegExp(`${image.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n  1\\. (alpha|beta)  \\d+\\.\\d%\\n  2\\. (alpha|beta)  \\d+\\.\\d%`));
    expect(pr.stderr).toMatch(/warning: skipping cannot read image '.*broken\.jpg'/);
    expect(vi.code).toBe(0);
    const files = fs.readdirSync(pics).sort();
    expect(files).toEqual(['0_complementary.png', '0_discriminative.png', '0_figure.png', '0_peaks.png', '0_resampled.png']);
    const sharp = (await import('sharp')).default;
    const fig = await sharp(path.join(pics, '0_figure.png')).metadata();
    // Five titled panels under a header line (HEADER_HEIGHT 34 + TITLE_HEIGHT 30 above each 256-pixel panel).
    expect([fig.width, fig.height, fig.format]).toEqual([5 * 256 + 4 * 8, 34 + 30 + 256, 'png']);
    const side = await sharp(path.join(pics, '0_resampled.png')).metadata();
    expect([side.width, side.height]).toEqual([2 * 256 + 8, 34 + 30 + 256]);
  }, 90000);
});
