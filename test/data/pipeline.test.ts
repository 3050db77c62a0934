import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { evalResizeSize, IMAGENET_MEAN, IMAGENET_STD, ImageItem, ImagePipeline, loadImage, mulberry32, randomResizedCropBox, readImageFolder } from '../../src/data';
import { makeFolder, tempDir, writeCorruptJpeg, writeImage } from './layouts';

let root: string;
beforeAll(() => {
  root = tempDir('pipeline');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const norm = (v: number, k: number) => (v / 255 - IMAGENET_MEAN[k]) / IMAGENET_STD[k];

async function writeRaw(file: string, w: number, h: number, pixel: (x: number, y: number) => number[], channels = 3): Promise<string> {
  const px = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set(pixel(x, y), (y * w + x) * channels);
  await sharp(px, { raw: { width: w, height: h, channels: channels as 1 | 3 } }).png().toFile(file);
  return file;
}

describe('randomResizedCropBox', () => {
  it('draws boxes of 0.5–1 of the area with aspect ratios in [3/4, 4/3], inside the image, deterministic per seed', () => {
    const r = mulberry32(3);
    for (let i = 0; i < 200; i++) {
      const b = randomResizedCropBox(120, 90, r);
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.left + b.width).toBeLessThanOrEqual(120);
      expect(b.top + b.height).toBeLessThanOrEqual(90);
      const area = (b.width * b.height) / (120 * 90);
      expect(area).toBeGreaterThan(0.47);
      expect(area).toBeLessThanOrEqual(1);
      expect(b.width / b.height).toBeGreaterThan(0.7);
      expect(b.width / b.height).toBeLessThan(1.4);
    }
    const a = [0, 1, 2].map(() => randomResizedCropBox(120, 90, mulberry32(9)));
    expect(a[1]).toEqual(a[0]);
    expect(a[2]).toEqual(a[0]);
  });

  it('falls back to a center crop of an allowed aspect ratio for extreme images', () => {
    const b = randomResizedCropBox(400, 10, () => 0.999);
    expect(b).toEqual({ left: 193, top: 0, width: 13, height: 10 });
  });
});

describe('loadImage', () => {
  it('eval: resizes the shorter side to 600·size/448 and center-crops, normalised with the ImageNet mean/std', async () => {
    expect(evalResizeSize(448)).toBe(600);
    expect(evalResizeSize(16)).toBe(21);
    // Left half red, right half blue, 100×60: resized to 35×21, crop x ∈ [10, 26) ≈ original [28.6, 74.3).
    const file = await writeRaw(path.join(root, 'halves.png'), 100, 60, (x) => (x < 50 ? [255, 0, 0] : [0, 0, 255]));
    const out = await loadImage({ path: file }, { mode: 'eval', inputSize: 16 });
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(16 * 16 * 3);
    const at = (y: number, x: number) => [0, 1, 2].map((k) => out[(y * 16 + x) * 3 + k]);
    at(8, 1).forEach((v, k) => expect(v).toBeCloseTo(norm([255, 0, 0][k], k), 3));
    at(8, 14).forEach((v, k) => expect(v).toBeCloseTo(norm([0, 0, 255][k], k), 3));
    const raw = await loadImage({ path: file }, { mode: 'eval', inputSize: 16, normalize: false });
    expect(raw[0]).toBe(255);
  });

  it('cuts the bottom rows first when asked (the FGVC-Aircraft banner)', async () => {
    const file = path.join(root, 'banner.jpg');
    await writeImage(file, [20, 20, 20], { width: 32, height: 44, band: 20, bandColor: [250, 250, 250] });
    const bright = (a: Float32Array) => Array.from(a).filter((v, i) => i % 3 === 0 && v > 200).length;
    for (const mode of ['eval', 'train'] as const) {
      const withBanner = await loadImage({ path: file }, { mode, inputSize: 16, normalize: false, rng: mulberry32(1) });
      const cut = await loadImage({ path: file, trimBottom: 20 }, { mode, inputSize: 16, normalize: false, rng: mulberry32(1) });
      expect(bright(withBanner)).toBeGreaterThan(0);
      expect(bright(cut)).toBe(0);
    }
    await expect(loadImage({ path: file, trimBottom: 44 }, { mode: 'eval', inputSize: 8 })).rejects.toThrow(/banner\.jpg'.*too small to cut 44 rows/);
  });

  it('gives three equal channels for a grey image', async () => {
    const file = await writeRaw(path.join(root, 'grey.png'), 20, 20, (x) => [x * 12], 1);
    const raw = await loadImage({ path: file }, { mode: 'eval', inputSize: 8, normalize: false });
    for (let p = 0; p < 64; p++) expect(new Set([raw[p * 3], raw[p * 3 + 1], raw[p * 3 + 2]]).size).toBe(1);
  });

  it('train: deterministic for a seed, different across seeds, flips horizontally', async () => {
    const file = await writeRaw(path.join(root, 'gradient.png'), 40, 30, (x, y) => [x * 6, y * 8, 100]);
    const a = await loadImage({ path: file }, { mode: 'train', inputSize: 12, rng: mulberry32(5) });
    const b = await loadImage({ path: file }, { mode: 'train', inputSize: 12, rng: mulberry32(5) });
    expect(a.length).toBe(12 * 12 * 3);
    expect(Array.from(b)).toEqual(Array.from(a));
    const redSlopes = new Set<number>();
    for (let s = 0; s < 12; s++) {
      const c = await loadImage({ path: file }, { mode: 'train', inputSize: 12, rng: mulberry32(s), normalize: false });
      redSlopes.add(Math.sign(c[11 * 3] - c[0])); // red grows with x, or falls when flipped
    }
    expect(redSlopes).toEqual(new Set([1, -1]));
  });

  it('rejects a missing or corrupt file with its path', async () => {
    await expect(loadImage({ path: path.join(root, 'nope.jpg') }, { mode: 'eval', inputSize: 8 })).rejects.toThrow(/cannot read image '.*nope\.jpg': ENOENT/);
    const bad = path.join(root, 'bad.jpg');
    writeCorruptJpeg(bad);
    await expect(loadImage({ path: bad }, { mode: 'eval', inputSize: 8 })).rejects.toThrow(/cannot read image '.*bad\.jpg': /);
  });
});

describe('ImagePipeline', () => {
  let items: ImageItem[];
  beforeAll(async () => {
    const ds = readImageFolder(await makeFolder(path.join(root, 'folder'), { classes: 3, train: 3, test: 1 }));
    items = ds.train; // 9 images, labels 0,0,0,1,1,1,2,2,2
  });

  const collect = async (p: ImagePipeline, epoch: number) => {
    const out: { labels: number[]; files: string[]; pixels: number[] }[] = [];
    for await (const b of p.epoch(epoch)) {
      expect(b.images.shape).toEqual([b.items.length, 8, 8, 3]);
      expect(b.images.dtype).toBe('float32');
      expect(b.labels.dtype).toBe('int32');
      out.push({ labels: Array.from(b.labels.dataSync()), files: b.items.map((i) => path.basename(path.dirname(i.path)) + '/' + path.basename(i.path)), pixels: Array.from(b.images.dataSync()) });
      tf.dispose([b.images, b.labels]);
    }
    return out;
  };

  it('yields [B,H,W,3] float32 images and [B] int32 labels; the same order and pixels for the same seed and epoch', async () => {
    const before = tf.memory().numTensors;
    const mk = (seed: number) => new ImagePipeline(items, { mode: 'train', batchSize: 4, inputSize: 8, seed });
    const p = mk(7);
    expect(p.length).toBe(3);
    const e0 = await collect(p, 0);
    expect(e0.map((b) => b.labels.length)).toEqual([4, 4, 1]);
    expect(e0.flatMap((b) => b.labels).sort()).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    expect(await collect(mk(7), 0)).toEqual(e0);
    const e1 = await collect(p, 1);
    expect(e1.map((b) => b.files)).not.toEqual(e0.map((b) => b.files));
    expect((await collect(mk(8), 0)).map((b) => b.files)).not.toEqual(e0.map((b) => b.files));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('eval mode keeps the order; dropLast drops the short batch', async () => {
    const p = new ImagePipeline(items, { mode: 'eval', batchSize: 4, inputSize: 8, dropLast: true });
    const e = await collect(p, 0);
    expect(e.map((b) => b.labels)).toEqual([[0, 0, 0, 1], [1, 1, 2, 2]]);
    expect(await collect(p, 3)).toEqual(e);
  });

  it('reports a missing and a corrupt image once each, with their paths, skips them and goes on', async () => {
    const dir = await makeFolder(path.join(root, 'broken'), { classes: 2, train: 3, test: 1 });
    fs.rmSync(path.join(dir, 'train', 'alpha', '1.png'));
    writeCorruptJpeg(path.join(dir, 'train', 'beta', '2.jpg'));
    const ds = readImageFolder(dir);
    ds.train.push({ path: path.join(dir, 'train', 'alpha', 'gone.jpg'), label: 0 });
    const warnings: string[] = [];
    const before = tf.memory().numTensors;
    const p = new ImagePipeline(ds.train, { mode: 'train', batchSize: 3, inputSize: 8, seed: 1, onWarning: (m) => warnings.push(m) });
    const e0 = await collect(p, 0);
    expect(e0.flatMap((b) => b.labels)).toHaveLength(4);
    expect(warnings).toHaveLength(2);
    expect(warnings.find((w) => w.includes('gone.jpg'))).toMatch(/^skipping cannot read image '.*alpha\/gone\.jpg': ENOENT/);
    expect(warnings.find((w) => w.includes('beta/2.jpg'))).toMatch(/^skipping cannot read image '.*beta\/2\.jpg': /);
    await collect(p, 1);
    expect(warnings).toHaveLength(2);
    expect(p.skipped.size).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('decodes the next batch while the current one is in use (prefetch)', async () => {
    const list: ImageItem[] = [...items.slice(0, 2), { path: path.join(root, 'missing-in-batch-2.jpg'), label: 0 }, items[3]];
    const warnings: string[] = [];
    const p = new ImagePipeline(list, { mode: 'eval', batchSize: 2, inputSize: 8, prefetch: 1, onWarning: (m) => warnings.push(m) });
    const it = p.epoch(0);
    const first = await it.next();
    await new Promise((r) => setTimeout(r, 300));
    expect(warnings).toHaveLength(1); // batch 2 was read before it was asked for
    tf.dispose([first.value!.images, first.value!.labels]);
    const second = await it.next();
    expect(second.value!.labels.shape).toEqual([1]);
    tf.dispose([second.value!.images, second.value!.labels]);
    expect((await it.next()).done).toBe(true);
  });

  it('leaks no tensor when the consumer stops early', async () => {
    const before = tf.memory().numTensors;
    const p = new ImagePipeline(items, { mode: 'train', batchSize: 2, inputSize: 8, prefetch: 2 });
    for await (const b of p.epoch(0)) {
      tf.dispose([b.images, b.labels]);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('checks its options', () => {
    expect(() => new ImagePipeline(items, { mode: 'test' as never, batchSize: 2 })).toThrow(`ImagePipeline: mode must be one of 'train', 'eval', but got "test".`);
    expect(() => new ImagePipeline(items, { mode: 'eval', batchSize: 0 })).toThrow('ImagePipeline: batchSize must be an integer >= 1, but got 0.');
  });
});
