/**
 * Pictures of what S3N looks at (like fig. 4 of the paper): the input with the peaks of the
 * decision map marked, the discriminative and complementary saliency maps as heatmaps over the
 * input, and the two resampled images. PNGs through sharp.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { denormalize } from '../data/augment';
import type { S3N } from '../model/s3n';

/** RGB of the jet colormap at `t` in [0, 1]. */
export function jet(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.max(0, Math.min(1, x)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/** Blends a jet heatmap of `map` (`[h, w]` values, min–max normalised) over an RGB image. */
export function heatmapOverlay(rgb: Uint8Array, map: ArrayLike<number>, alpha = 0.5): Uint8Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    lo = Math.min(lo, map[i]);
    hi = Math.max(hi, map[i]);
  }
  const span = hi - lo > 1e-12 ? hi - lo : 1;
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < map.length; p++) {
    const color = jet((map[p] - lo) / span);
    for (let k = 0; k < 3; k++) out[p * 3 + k] = Math.round((1 - alpha) * rgb[p * 3 + k] + alpha * color[k]);
  }
  return out;
}

/** The files {@link writeExplanationPictures} writes for one image. */
export interface PictureFiles {
  peaks: string;
  discriminative: string;
  complementary: string;
  resampled: string;
  figure: string;
}

async function png(rgb: Uint8Array, size: number, show: number): Promise<Sharp> {
  return sharp(Buffer.from(rgb), { raw: { width: size, height: size, channels: 3 } }).resize(show, show, { kernel: size < show / 2 ? 'nearest' : 'cubic' });
}

/**
 * Explains one normalised image `[1, H, W, 3]` with `s3n.explain` and writes five PNGs named
 * `<name>_peaks.png`, `_discriminative.png`, `_complementary.png`, `_resampled.png` (zoomed |
 * inverse) and `_figure.png` (all five panels in a row). Panels are at least 256 pixels wide.
 */
export async function writeExplanationPictures(s3n: S3N, image: tf.Tensor4D, outDir: string, name: string): Promise<PictureFiles> {
  const [, size] = image.shape;
  const show = Math.max(256, size);
  const e = s3n.explain(image);
  const grid = e.decision.shape[1];
  const [inputPx, zoomPx, invPx, decision, peaks, zoomMap, invMap] = await Promise.all([
    image.data(),
    e.zoomImage.data(),
    e.inverseImage.data(),
    e.decision.data(),
    e.peaks.data(),
    tf.tidy(() => tf.image.resizeBilinear(tf.expandDims(e.zoomSaliency, 3) as tf.Tensor4D, [size, size], true)).data(),
    tf.tidy(() => tf.image.resizeBilinear(tf.expandDims(e.inverseSaliency, 3) as tf.Tensor4D, [size, size], true)).data(),
  ]);
  tf.dispose(Object.values(e));
  const rgb = denormalize(inputPx);
  // Peaks: circles on a grid cell → pixel mapping with aligned corners, radius by score.
  const scale = (show - 1) / (grid - 1);
  const circles: string[] = [];
  let best = 0;
  for (let i = 0; i < peaks.length; i++) if (peaks[i] > 0) best = Math.max(best, decision[i]);
  for (let i = 0; i < peaks.length; i++) {
    if (peaks[i] <= 0) continue;
    const y = Math.floor(i / grid) * scale;
    const x = (i % grid) * scale;
    const s = best > 0 ? decision[i] / best : 1;
    const r = Math.max(4, (show / 24) * (0.5 + s));
    circles.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r.toFixed(1)}" fill="none" stroke="#ff2020" stroke-width="${s > 0.999 ? 4 : 2}"/>`);
    circles.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="2" fill="#ffff00"/>`);
  }
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${show}" height="${show}">${circles.join('')}</svg>`);
  const files: PictureFiles = {
    peaks: path.join(outDir, `${name}_peaks.png`),
    discriminative: path.join(outDir, `${name}_discriminative.png`),
    complementary: path.join(outDir, `${name}_complementary.png`),
    resampled: path.join(outDir, `${name}_resampled.png`),
    figure: path.join(outDir, `${name}_figure.png`),
  };
  const panels = await Promise.all([
    (await png(rgb, size, show)).composite([{ input: svg }]).png().toBuffer(),
    (await png(heatmapOverlay(rgb, zoomMap), size, show)).png().toBuffer(),
    (await png(heatmapOverlay(rgb, invMap), size, show)).png().toBuffer(),
    (await png(denormalize(zoomPx), size, show)).png().toBuffer(),
    (await png(denormalize(invPx), size, show)).png().toBuffer(),
  ]);
  const gap = 8;
  const row = (bufs: Buffer[]) =>
    sharp({ create: { width: bufs.length * show + (bufs.length - 1) * gap, height: show, channels: 3, background: '#ffffff' } })
      .composite(bufs.map((b, k) => ({ input: b, left: k * (show + gap), top: 0 })))
      .png();
  await Promise.all([
    sharp(panels[0]).toFile(files.peaks),
    sharp(panels[1]).toFile(files.discriminative),
    sharp(panels[2]).toFile(files.complementary),
    row([panels[3], panels[4]]).toFile(files.resampled),
    row(panels).toFile(files.figure),
  ]);
  return files;
}
