/**
 * The CLI's pictures (`s3n visualize`, `s3n demo`): five titled panels in the order of
 * PANELS (input with peaks, discriminative attention, zoomed image, complementary attention,
 * complementary image) under a header with the predicted class; the single-panel files are
 * the same panels.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { S3N, smallResNet } from '../../src';
import { HEADER_HEIGHT, PANEL_GAP, TITLE_HEIGHT, writeExplanationPictures } from '../../src/cli/picture';
import { PANELS } from '../../src/cli/panels';
import { drawSyntheticImage } from '../../src/cli/synthetic';
import { mulberry32 } from '../../src/data/rng';
import { tempDir } from '../data/layouts';

const SIDE = 256;
let root: string;
let s3n: S3N;
let image: tf.Tensor4D;

beforeAll(() => {
  root = tempDir('pictures');
  s3n = S3N.create(smallResNet({ inputSize: 48, widths: [4, 8], seed: 2 }), { classes: 3, seed: 2, gridSize: 15, paddingSize: 8, fwhm: 4 });
  const px = drawSyntheticImage(1, 48, mulberry32(4));
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  image = tf.tensor4d(Float32Array.from(px, (v, i) => (v / 255 - mean[i % 3]) / std[i % 3]), [1, 48, 48, 3]);
});
afterAll(() => {
  image.dispose();
  s3n.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

async function rgb(file: string, box?: { left: number; top: number; width: number; height: number }): Promise<Buffer> {
  const img = sharp(file).removeAlpha();
  return (box ? img.extract(box) : img).raw().toBuffer();
}

/** Fraction of dark pixels (text) in a region. */
async function ink(file: string, box: { left: number; top: number; width: number; height: number }): Promise<number> {
  const px = await rgb(file, box);
  let dark = 0;
  for (let i = 0; i < px.length; i += 3) if (px[i] + px[i + 1] + px[i + 2] < 300) dark++;
  return dark / (px.length / 3);
}

describe('writeExplanationPictures', () => {
  it('draws the five panels in PANELS order, each under its title, with the predicted class', async () => {
    expect(PANELS.map((p) => p.title)).toEqual(['Input with peaks', 'Discriminative attention', 'Zoomed image', 'Complementary attention', 'Complementary image']);
    const before = tf.memory().numTensors;
    const r = await writeExplanationPictures(s3n, image, root, 'bird', { classNames: ['red-crested', 'green-crested', 'blue-crested'] });
    expect(tf.memory().numTensors).toBe(before);
    const probs = tf.tidy(() => tf.softmax(s3n.predict(image)));
    const p = Array.from(await probs.data());
    probs.dispose();
    const label = p.indexOf(Math.max(...p));
    expect(r.prediction).toEqual({ label, className: ['red-crested', 'green-crested', 'blue-crested'][label], probability: p[label] });

    const fig = await sharp(r.figure).metadata();
    expect([fig.width, fig.height]).toEqual([5 * SIDE + 4 * PANEL_GAP, HEADER_HEIGHT + TITLE_HEIGHT + SIDE]);
    const top = HEADER_HEIGHT + TITLE_HEIGHT;
    const body = (k: number) => ({ left: k * (SIDE + PANEL_GAP), top, width: SIDE, height: SIDE });
    // The figure's panels are the single files' panels, in PANELS order.
    const single = async (file: string, k = 0) => rgb(file, body(k));
    const expected = [await single(r.peaks), await single(r.discriminative), await single(r.resampled, 0), await single(r.complementary), await single(r.resampled, 1)];
    for (let k = 0; k < 5; k++) expect([PANELS[k].key, (await rgb(r.figure, body(k))).equals(expected[k])]).toEqual([PANELS[k].key, true]);
    // Every title band and the header have text (a font was found), and the titles differ.
    const titles: Buffer[] = [];
    for (let k = 0; k < 5; k++) {
      const band = { left: k * (SIDE + PANEL_GAP), top: HEADER_HEIGHT, width: SIDE, height: TITLE_HEIGHT };
      expect([k, (await ink(r.figure, band)) > 0.02]).toEqual([k, true]);
      titles.push(await rgb(r.figure, band));
    }
    expect(new Set(titles.map((t) => t.toString('base64'))).size).toBe(5);
    expect(await ink(r.figure, { left: 0, top: 0, width: 400, height: HEADER_HEIGHT })).toBeGreaterThan(0.02);
    // Single-panel files: header, title, panel.
    for (const f of [r.peaks, r.discriminative, r.complementary]) {
      const m = await sharp(f).metadata();
      expect([m.width, m.height]).toEqual([SIDE, HEADER_HEIGHT + TITLE_HEIGHT + SIDE]);
    }
    // The header of a single panel holds the class too (its line shrunk to fit 256 pixels).
    expect(await ink(r.peaks, { left: 0, top: 0, width: SIDE, height: HEADER_HEIGHT })).toBeGreaterThan(0.02);
  });

  it('names the class by index without class names, and refuses a batch', async () => {
    const r = await writeExplanationPictures(s3n, image, root, 'plain');
    expect(r.prediction.className).toBe(`class ${r.prediction.label}`);
    const two = tf.concat([image, image]) as tf.Tensor4D;
    await expect(writeExplanationPictures(s3n, two, root, 'two')).rejects.toThrow(
      'writeExplanationPictures: image must be one RGB image [1, height, width, 3], but got shape [2,48,48,3].',
    );
    two.dispose();
    expect(fs.existsSync(path.join(root, 'two_figure.png'))).toBe(false);
  });
});
