/** ImagePipeline and loadImageWithSource delivering the source image of an S3N with sourceSize (issue 15). */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { ImageItem, ImagePipeline, loadImage, loadImageWithSource, mulberry32 } from '../../src/data';
import { ops } from '../../src';
import { tempDir } from './layouts';

let root: string;
let items: ImageItem[];
beforeAll(async () => {
  root = tempDir('pipeline-source');
  // Smooth structure (so the two resolutions can be compared) plus fine stripes.
  items = [];
  for (let n = 0; n < 3; n++) {
    const [w, h] = [150 + 20 * n, 110];
    const px = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = 128 + 90 * Math.sin((x + 7 * n) / 13) * Math.cos(y / 17);
        px.set([v, 255 - v, (x * 2 + y) % 256], (y * w + x) * 3);
      }
    }
    const file = path.join(root, `img${n}.png`);
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
    items.push({ path: file, label: n });
  }
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Mean |a − b| over the smooth channels (red, green) of two interleaved RGB arrays. */
const meanAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) if (i % 3 !== 2) s += Math.abs(a[i] - b[i]);
  return (s * 3) / (2 * a.length);
};

describe('loadImageWithSource', () => {
  it('gives the input loadImage gives (same draws) and the same region at the source size', async () => {
    for (const mode of ['train', 'eval'] as const) {
      const alone = await loadImage(items[0], { mode, inputSize: 24, rng: mulberry32(4) });
      const { image, source } = await loadImageWithSource(items[0], { mode, inputSize: 24, sourceSize: 48, rng: mulberry32(4) });
      expect(image).toEqual(alone);
      expect(source.length).toBe(48 * 48 * 3);
      const down = tf.tidy(() => ops.resizeArea(tf.tensor4d(source, [1, 48, 48, 3]), 24).dataSync());
      expect(meanAbs(down, image)).toBeLessThan(0.03); // normalised units: same geometry
      const flipped = tf.tidy(() => tf.reverse(tf.tensor4d(down, [1, 24, 24, 3]), 2).dataSync());
      expect(meanAbs(flipped, image)).toBeGreaterThan(0.3); // (what another region gives)
    }
  });

  it('refuses a source smaller than the input', async () => {
    await expect(loadImageWithSource(items[0], { mode: 'eval', inputSize: 24, sourceSize: 20 })).rejects.toThrow(
      'loadImageWithSource: sourceSize must be an integer >= inputSize (24), but got 20.',
    );
  });
});

describe('ImagePipeline with sourceSize', () => {
  it('yields the source with the same images as without it, in train and eval mode', async () => {
    for (const mode of ['train', 'eval'] as const) {
      const plain = new ImagePipeline(items, { mode, batchSize: 2, inputSize: 16, seed: 3 });
      const withSource = new ImagePipeline(items, { mode, batchSize: 2, inputSize: 16, sourceSize: 32, seed: 3 });
      expect(withSource.sourceSize).toBe(32);
      expect(plain.sourceSize).toBeUndefined();
      const a: tf.Tensor[][] = [];
      for await (const b of plain.epoch(1)) {
        expect(b.source).toBeUndefined();
        a.push([b.images, b.labels]);
      }
      let k = 0;
      for await (const b of withSource.epoch(1)) {
        expect(b.images.dataSync()).toEqual(a[k][0].dataSync());
        expect(b.labels.dataSync()).toEqual(a[k][1].dataSync());
        expect(b.source!.shape).toEqual([b.images.shape[0], 32, 32, 3]);
        const down = tf.tidy(() => ops.resizeArea(b.source!, 16).dataSync());
        expect(meanAbs(down, b.images.dataSync())).toBeLessThan(0.03);
        tf.dispose([b.images, b.source!, b.labels, ...a[k]]);
        k++;
      }
      expect(k).toBe(a.length);
    }
  });

  it('refuses a sourceSize below inputSize, naming it', () => {
    expect(() => new ImagePipeline(items, { mode: 'eval', batchSize: 2, inputSize: 16, sourceSize: 8 })).toThrow('ImagePipeline: sourceSize must be an integer >= 16, but got 8.');
    expect(() => new ImagePipeline(items, { mode: 'eval', batchSize: 2, inputSize: 16, sourceSize: 17.5 })).toThrow('ImagePipeline: sourceSize must be an integer >= 16, but got 17.5.');
  });
});
