/**
 * Issue 11, case 8 (EXIF): the image loader applies the EXIF orientation (phone photos come in
 * sideways otherwise), as torchvision users do with `exif_transpose`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadImage } from '../../src/data/augment';
import { tempDir } from '../data/layouts';

let root: string;
beforeAll(() => {
  root = tempDir('exif');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A 32×16 JPEG stored with its top half red and its bottom half blue, tagged with `orientation`. */
async function tagged(orientation: number): Promise<string> {
  const w = 32;
  const h = 16;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[(y * w + x) * 3 + (y < h / 2 ? 0 : 2)] = 255;
  const file = path.join(root, `o${orientation}.jpg`);
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation }).toFile(file);
  return file;
}

/** [R, G, B] at row y, column x of a loaded 16×16 image (values in [0, 255]). */
const at = (px: Float32Array, y: number, x: number) => Array.from(px.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3)).map(Math.round);
const isRed = (c: number[]) => c[0] > 200 && c[2] < 60;
const isBlue = (c: number[]) => c[2] > 200 && c[0] < 60;

it('orientation 6 (rotate 90° clockwise to show): the stored top (red) is on the right', async () => {
  expect((await sharp(await tagged(6)).metadata()).orientation).toBe(6);
  const px = await loadImage({ path: await tagged(6) }, { mode: 'eval', inputSize: 16, normalize: false });
  expect([isBlue(at(px, 8, 1)), isRed(at(px, 8, 14))]).toEqual([true, true]);
  // Upright, the image is 16 wide and 32 high: the center crop is all from its middle rows, so
  // the top and bottom rows have the same colours left and right.
  expect([isBlue(at(px, 0, 1)), isRed(at(px, 15, 14))]).toEqual([true, true]);
});

it('orientation 3 (rotate 180°): the stored top (red) is at the bottom', async () => {
  const px = await loadImage({ path: await tagged(3) }, { mode: 'eval', inputSize: 16, normalize: false });
  expect([isBlue(at(px, 1, 8)), isRed(at(px, 14, 8))]).toEqual([true, true]);
});

it('orientation 1 (none): as stored', async () => {
  const px = await loadImage({ path: await tagged(1) }, { mode: 'eval', inputSize: 16, normalize: false });
  expect([isRed(at(px, 1, 8)), isBlue(at(px, 14, 8))]).toEqual([true, true]);
});
