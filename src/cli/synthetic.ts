/**
 * A small synthetic fine-grained dataset for `s3n demo`: every image shows the same "bird" (a
 * grey body with a head) at a random place on a cluttered background; the classes differ only
 * in a small coloured mark on the head. Written as an image folder (`train/<class>/*.jpg`,
 * `test/<class>/*.jpg`), no download needed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { mixSeed, mulberry32, Rng } from '../data/rng';

/** The classes of the synthetic set: the colour of the head mark. */
export const SYNTHETIC_CLASSES: readonly { name: string; color: [number, number, number] }[] = [
  { name: 'red-crested', color: [230, 40, 40] },
  { name: 'green-crested', color: [40, 200, 60] },
  { name: 'blue-crested', color: [50, 80, 235] },
  { name: 'yellow-crested', color: [240, 220, 40] },
  { name: 'magenta-crested', color: [220, 50, 220] },
  { name: 'cyan-crested', color: [40, 215, 225] },
];

export interface SyntheticOptions {
  /** Number of classes (2–6). Default 4. */
  classes?: number;
  /** Images per class in train and test. Defaults 48 and 16. */
  trainPerClass?: number;
  testPerClass?: number;
  /** Image side in pixels. Default 64. */
  size?: number;
  seed?: number;
}

function fillEllipse(px: Uint8Array, size: number, cx: number, cy: number, rx: number, ry: number, color: readonly number[]): void {
  for (let y = Math.max(0, Math.floor(cy - ry)); y <= Math.min(size - 1, Math.ceil(cy + ry)); y++) {
    for (let x = Math.max(0, Math.floor(cx - rx)); x <= Math.min(size - 1, Math.ceil(cx + rx)); x++) {
      const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      if (d <= 1) px.set(color, (y * size + x) * 3);
    }
  }
}

/** Draws one image of class `label` (RGB bytes, `size × size`). */
export function drawSyntheticImage(label: number, size: number, r: Rng): Uint8Array {
  const px = new Uint8Array(size * size * 3);
  // Clutter: a smooth tinted background, noise, and muted blobs and bars.
  const base = [90 + 60 * r(), 90 + 60 * r(), 80 + 50 * r()];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const shade = 25 * Math.sin((x + 7 * r()) / 9) * Math.cos(y / 11);
      for (let k = 0; k < 3; k++) px[(y * size + x) * 3 + k] = Math.max(0, Math.min(255, base[k] + shade + 30 * (r() - 0.5)));
    }
  }
  const blobs = 4 + Math.floor(4 * r());
  for (let i = 0; i < blobs; i++) {
    const g = 60 + 120 * r();
    const tint = [g + 30 * (r() - 0.5), g + 30 * (r() - 0.5), g * 0.8];
    if (r() < 0.5) fillEllipse(px, size, size * r(), size * r(), 2 + size * 0.1 * r(), 2 + size * 0.1 * r(), tint);
    else fillEllipse(px, size, size * r(), size * r(), 1 + size * 0.02, 3 + size * 0.2 * r(), tint);
  }
  // The bird: body, head, and the class mark on the head.
  const s = size / 64;
  const cx = size * (0.28 + 0.44 * r());
  const cy = size * (0.3 + 0.4 * r());
  const dir = r() < 0.5 ? -1 : 1;
  fillEllipse(px, size, cx, cy, 10 * s, 6.5 * s, [70, 70, 78]);
  const hx = cx + dir * 9 * s;
  const hy = cy - 6 * s;
  fillEllipse(px, size, hx, hy, 4.5 * s, 4.5 * s, [55, 55, 60]);
  fillEllipse(px, size, hx, hy - 2 * s, 3.2 * s, 2.8 * s, SYNTHETIC_CLASSES[label].color);
  return px;
}

/**
 * Writes the synthetic dataset under `root` (replacing an older one). Returns the class names.
 */
export async function writeSyntheticDataset(root: string, options: SyntheticOptions = {}): Promise<string[]> {
  const classes = options.classes ?? 4;
  if (!Number.isInteger(classes) || classes < 2 || classes > SYNTHETIC_CLASSES.length) {
    throw new Error(`writeSyntheticDataset: classes must be an integer in [2, ${SYNTHETIC_CLASSES.length}], but got ${classes}.`);
  }
  const size = options.size ?? 64;
  const seed = options.seed ?? 0;
  const counts: [string, number][] = [['train', options.trainPerClass ?? 48], ['test', options.testPerClass ?? 16]];
  await fs.promises.rm(root, { recursive: true, force: true });
  const jobs: Promise<unknown>[] = [];
  counts.forEach(([split, n], s) => {
    for (let c = 0; c < classes; c++) {
      const dir = path.join(root, split, SYNTHETIC_CLASSES[c].name);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = drawSyntheticImage(c, size, mulberry32(mixSeed(seed, s, c, i)));
        jobs.push(sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality: 92 }).toFile(path.join(dir, `${String(i).padStart(4, '0')}.jpg`)));
      }
    }
  });
  await Promise.all(jobs);
  return SYNTHETIC_CLASSES.slice(0, classes).map((c) => c.name);
}
