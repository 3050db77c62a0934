/**
 * Issue 11, case 7: `visualize` keeps the pictures of inputs that share a file name, a
 * truncated JPEG is named as such (not "Unknown error"), `predict` fails when an input was
 * skipped, an empty batch gets a message, and a negative number after a flag gets the flag's
 * own message (not Node's "argument is ambiguous").
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { smallResNet } from '../../src/backbones/resnet';
import { main } from '../../src/cli/commands';
import { saveCheckpoint } from '../../src/io';
import { S3N } from '../../src/model';
import { COLORS, tempDir, writeCorruptJpeg, writeImage } from '../data/layouts';
import { cli } from './cli_helpers';

const tiny = () => S3N.create(smallResNet({ inputSize: 16, widths: [4], seed: 1 }), { classes: 2, seed: 1, gridSize: 7, paddingSize: 4, fwhm: 2 });

let root: string;
let checkpoint: string;
beforeAll(async () => {
  root = tempDir('messages');
  const s3n = tiny();
  checkpoint = await saveCheckpoint(path.join(root, 'ck'), s3n.model, { epoch: 1, dataSeed: 0, drawCount: 0, classNames: ['alpha', 'beta'], config: {}, metrics: [] });
  s3n.dispose();
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Runs `main(argv)` in this process and returns its exit code and what it wrote to stderr. */
async function inProcess(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(argv);
    return { code, stderr };
  } finally {
    spy.mockRestore();
  }
}

describe('flags followed by a negative number', () => {
  it.each([
    ['--epochs', '-1', '--epochs must be an integer >= 1, but got \'-1\'.'],
    ['--lr', '-0.5', '--lr must be a number > 0, but got \'-0.5\'.'],
    ['--batch-size', '-3', '--batch-size must be an integer >= 1, but got \'-3\'.'],
  ])('%s %s gets the flag\'s own message', async (flag, value, message) => {
    const r = await inProcess(['train', '--dataset', 'folder', '--data', root, '--out', path.join(root, 'never'), flag, value]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`s3n train: ${message}`);
    expect(fs.existsSync(path.join(root, 'never'))).toBe(false);
  });

  it('a value that starts with a dash but is not a number is still refused by Node\'s parser', async () => {
    const r = await inProcess(['train', '--dataset', '--data']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("s3n train: Option '--dataset' argument is ambiguous.");
  });
});

describe('an empty batch', () => {
  it.each([
    ['S3N.predict', (s: S3N, x: tf.Tensor4D) => s.predict(x)],
    ['S3N.apply', (s: S3N, x: tf.Tensor4D) => s.apply(x)],
    ['S3N.explain', (s: S3N, x: tf.Tensor4D) => s.explain(x)],
    ['S3N.trainStep', (s: S3N, x: tf.Tensor4D) => s.trainStep(x, tf.tensor1d([], 'int32'), s.createOptimizer())],
  ])('%s names the empty batch, leaking nothing', (fn, call) => {
    const s3n = tiny();
    const x = tf.zeros([0, 16, 16, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(() => call(s3n, x)).toThrow(`${fn}: images must be a batch of at least one image, but got shape [0,16,16,3].`);
    // trainStep's labels tensor is made inside the call: one tensor, not leaked by the step.
    expect(tf.memory().numTensors).toBe(before + (fn === 'S3N.trainStep' ? 1 : 0));
    x.dispose();
    s3n.dispose();
  });
});

describe('commands on images', () => {
  let images: string;
  beforeAll(async () => {
    images = path.join(root, 'images');
    await writeImage(path.join(images, 'cats', 'photo.jpg'), COLORS[0], { width: 20, height: 20 });
    await writeImage(path.join(images, 'dogs', 'photo.jpg'), COLORS[1], { width: 20, height: 20 });
    await writeImage(path.join(images, 'other.png'), COLORS[2], { width: 20, height: 20, png: true });
  });

  it('visualize: inputs with the same file name from different folders get pictures of their own', async () => {
    const out = path.join(root, 'pics');
    const inputs = [path.join(images, 'cats', 'photo.jpg'), path.join(images, 'dogs', 'photo.jpg'), path.join(images, 'other.png')];
    const r = await cli(['visualize', '--checkpoint', checkpoint, ...inputs, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const kinds = ['complementary', 'discriminative', 'figure', 'peaks', 'resampled'];
    expect(fs.readdirSync(out).sort()).toEqual(['cats_photo', 'dogs_photo', 'other'].flatMap((n) => kinds.map((k) => `${n}_${k}.png`)));
    // One line per input: `IMAGE → FIGURE`, possibly followed by what the figure shows.
    expect(r.stdout.trimEnd().split('\n').map((l) => l.replace(/ \(.*\)$/, ''))).toEqual([
      `${inputs[0]} → ${path.join(out, 'cats_photo_figure.png')}`,
      `${inputs[1]} → ${path.join(out, 'dogs_photo_figure.png')}`,
      `${inputs[2]} → ${path.join(out, 'other_figure.png')}`,
    ]);
    // Two different pictures: red and green inputs.
    const mean = async (f: string) => (await sharp(path.join(out, f)).stats()).channels.map((c) => Math.round(c.mean));
    expect(await mean('cats_photo_peaks.png')).not.toEqual(await mean('dogs_photo_peaks.png'));
  }, 30000);

  it('predict exits 1 when an input was skipped, after printing the others', async () => {
    const broken = path.join(images, 'broken.jpg');
    writeCorruptJpeg(broken);
    const good = path.join(images, 'other.png');
    const r = await cli(['predict', '--checkpoint', checkpoint, good, broken]);
    expect(r.stdout).toMatch(new RegExp(`^${good.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n  1\\. (alpha|beta)  \\d+\\.\\d%\\n  2\\. (alpha|beta)  \\d+\\.\\d%\\n$`));
    expect(r.stderr).toMatch(/^warning: skipping cannot read image '.*broken\.jpg': .*\n/);
    expect(r.stderr.trimEnd().split('\n').pop()).toBe('s3n predict: 1 of 2 images could not be read (see the warnings above).');
    expect(r.code).toBe(1);
  }, 30000);

  it('eval names truncated JPEGs as truncated, never "Unknown error"', async () => {
    // Truncated copies of a noisy 64×48 JPEG, decoded several at a time (where libvips loses
    // its error text and sharp says "Unknown error").
    const w = 64;
    const h = 48;
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37 + (i >> 7)) % 256;
    const jpeg = await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const data = path.join(root, 'truncated');
    await writeImage(path.join(data, 'train', 'alpha', 'ok.jpg'), COLORS[0]);
    await writeImage(path.join(data, 'train', 'beta', 'ok.jpg'), COLORS[1]);
    await writeImage(path.join(data, 'test', 'alpha', 'ok.jpg'), COLORS[0]);
    fs.mkdirSync(path.join(data, 'test', 'beta'));
    const cut: Record<string, number> = {};
    for (let k = 10; k < 38; k += 3) {
      const file = path.join(data, 'test', k % 2 ? 'alpha' : 'beta', `cut${k}.jpg`);
      cut[file] = Math.floor((jpeg.length * k) / 40);
      fs.writeFileSync(file, jpeg.subarray(0, cut[file]));
    }
    const r = await cli(['eval', '--checkpoint', checkpoint, '--dataset', 'folder', '--data', data, '--batch-size', '4']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^folder test \(1 images, /);
    expect(r.stderr).not.toMatch(/Unknown error/);
    // libvips may also print its own line for a failed decode ("VipsJpeg: …"): ours are the warnings.
    const warnings = r.stderr.trimEnd().split('\n').filter((l) => l.startsWith('warning:')).sort();
    expect(warnings).toEqual(
      Object.entries(cut)
        .map(([file, n]) => `warning: skipping cannot read image '${file}': truncated JPEG (the file ends after ${n} bytes, before its end-of-image marker)`)
        .sort(),
    );
  }, 30000);
});
