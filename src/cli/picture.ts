/**
 * Pictures of what S3N looks at (like fig. 4 of the paper), as PNGs through sharp: the five
 * panels of {@link PANELS} (input with peaks, discriminative attention, zoomed image,
 * complementary attention, complementary image), each under its title, and the predicted
 * class in a header line. Text is SVG rendered by sharp (librsvg, fonts through fontconfig:
 * DejaVu Sans or any sans-serif font installed).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'node:path';
import sharp, { type OverlayOptions, type Sharp } from 'sharp';
import { denormalize } from '../data/augment';
import type { S3N } from '../model/s3n';
import { checkTensor, fail } from '../ops/validation';
import { heatmapOverlay, PANELS, peakMarks, type PanelKey } from './panels';

export { jet, heatmapOverlay } from './panels';

/** Height in pixels of the title band above each panel. */
export const TITLE_HEIGHT = 30;
/** Height in pixels of the header line (predicted class) above the panels. */
export const HEADER_HEIGHT = 34;
/** Gap in pixels between two panels of a row. */
export const PANEL_GAP = 8;

/** The files {@link writeExplanationPictures} writes for one image. */
export interface PictureFiles {
  peaks: string;
  discriminative: string;
  complementary: string;
  resampled: string;
  figure: string;
}

/** The fused prediction drawn in the pictures' header. */
export interface PicturePrediction {
  /** Predicted class index. */
  label: number;
  /** Its name (`class N` without names). */
  className: string;
  /** Softmax probability of the fused logits, in [0, 1]. */
  probability: number;
}

/** Options of {@link writeExplanationPictures}. */
export interface PictureOptions {
  /** Class names, index = label, for the header; default `class 0`, `class 1`, … */
  classNames?: readonly string[];
  /** The source image `[1, sourceHeight, sourceWidth, 3]` of an S3N with a {@link S3N.sourceSize}. */
  source?: tf.Tensor4D;
}

const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif";

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

/** An SVG band of `width × height` on white with one line of text, vertically centred. */
function textBand(width: number, height: number, text: string, options: { size: number; bold?: boolean; align?: 'left' | 'center' }): Buffer {
  const x = options.align === 'left' ? 6 : width / 2;
  // DejaVu Sans averages ~0.6 em a character: shrink long lines to fit the band.
  const size = Math.max(9, Math.min(options.size, Math.floor((width - 12) / (0.6 * Math.max(1, text.length)))));
  const anchor = options.align === 'left' ? 'start' : 'middle';
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#ffffff"/>` +
      `<text x="${x}" y="${(height / 2).toFixed(1)}" dominant-baseline="central" text-anchor="${anchor}" font-family="${FONT}" font-size="${size}" ` +
      `font-weight="${options.bold ? 'bold' : 'normal'}" fill="#202020">${escapeXml(text)}</text></svg>`,
  );
}

function rawPng(rgb: Uint8Array, size: number, show: number): Sharp {
  return sharp(Buffer.from(rgb), { raw: { width: size, height: size, channels: 3 } }).resize(show, show, { kernel: size < show / 2 ? 'nearest' : 'cubic' });
}

/**
 * A row of titled panels with an optional header line: `n·show + (n−1)·gap` wide,
 * `[HEADER_HEIGHT +] TITLE_HEIGHT + show` high.
 */
function titledRow(panels: { png: Buffer; title: string }[], show: number, header?: string): Sharp {
  const width = panels.length * show + (panels.length - 1) * PANEL_GAP;
  const top = header === undefined ? 0 : HEADER_HEIGHT;
  const layers: OverlayOptions[] = [];
  if (header !== undefined) layers.push({ input: textBand(width, HEADER_HEIGHT, header, { size: 18, align: 'left' }), left: 0, top: 0 });
  panels.forEach((p, k) => {
    const left = k * (show + PANEL_GAP);
    layers.push({ input: textBand(show, TITLE_HEIGHT, p.title, { size: 16, bold: true }), left, top });
    layers.push({ input: p.png, left, top: top + TITLE_HEIGHT });
  });
  return sharp({ create: { width, height: top + TITLE_HEIGHT + show, channels: 3, background: '#ffffff' } }).composite(layers).png();
}

/**
 * Explains one normalised image `[1, H, W, 3]` with `s3n.explain` and `s3n.predict`, and
 * writes five PNGs:
 *
 * - `<name>_figure.png`: the five panels of {@link PANELS} in a row (input with peaks,
 *   discriminative attention, zoomed image, complementary attention, complementary image),
 *   each under its title, below a header line with the predicted class and its probability;
 * - `<name>_peaks.png`, `_discriminative.png`, `_complementary.png`: one titled panel each,
 *   with the same header;
 * - `<name>_resampled.png`: the zoomed and the complementary image side by side, titled.
 *
 * Panels are at least 256 pixels wide (small inputs are enlarged without smoothing).
 *
 * @param s3n The network.
 * @param image `[1, height, width, 3]`, normalised as `loadImage` does.
 * @param outDir Folder to write into (must exist).
 * @param name File name prefix.
 * @param options Class names for the header, see {@link PictureOptions}.
 * @returns the file paths and the prediction drawn.
 * @throws when `image` is not a `[1, H, W, 3]` tensor, or (rejects) when a file cannot be
 *   written.
 */
export async function writeExplanationPictures(
  s3n: S3N,
  image: tf.Tensor4D,
  outDir: string,
  name: string,
  options: PictureOptions = {},
): Promise<PictureFiles & { prediction: PicturePrediction }> {
  const fn = 'writeExplanationPictures';
  checkTensor(fn, 'image', image, 4, '[1, height, width, 3]');
  if (image.shape[0] !== 1 || image.shape[3] !== 3) fail(fn, 'image', 'one RGB image [1, height, width, 3]', `shape [${image.shape.join(',')}]`);
  const [, size] = image.shape;
  const show = Math.max(256, size);
  const probs = tf.tidy(() => tf.softmax(s3n.predict(image, { source: options.source })));
  const p = await probs.data();
  probs.dispose();
  let label = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[label]) label = i;
  const prediction: PicturePrediction = { label, className: options.classNames?.[label] ?? `class ${label}`, probability: p[label] };
  const header = `Predicted: ${prediction.className} (${(100 * prediction.probability).toFixed(1)} %)`;

  const e = s3n.explain(image, { source: options.source });
  const grid = e.decision.shape[1];
  const upsample = (m: tf.Tensor3D) => tf.tidy(() => tf.image.resizeBilinear(tf.expandDims(m, 3) as tf.Tensor4D, [size, size], true));
  const [zoomUp, invUp] = [upsample(e.zoomSaliency), upsample(e.inverseSaliency)];
  const [inputPx, zoomPx, invPx, decision, peaks, zoomMap, invMap] = await Promise.all([
    image.data(),
    e.zoomImage.data(),
    e.inverseImage.data(),
    e.decision.data(),
    e.peaks.data(),
    zoomUp.data(),
    invUp.data(),
  ]);
  tf.dispose([...Object.values(e), zoomUp, invUp]);
  const rgb = denormalize(inputPx);
  const circles = peakMarks(decision, peaks, grid, show).map(
    (m) =>
      `<circle cx="${m.x.toFixed(1)}" cy="${m.y.toFixed(1)}" r="${m.r.toFixed(1)}" fill="none" stroke="#ff2020" stroke-width="${m.strongest ? 4 : 2}"/>` +
      `<circle cx="${m.x.toFixed(1)}" cy="${m.y.toFixed(1)}" r="2" fill="#ffff00"/>`,
  );
  const marks = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${show}" height="${show}">${circles.join('')}</svg>`);
  const bodies: Record<PanelKey, Promise<Buffer>> = {
    peaks: rawPng(rgb, size, show).composite([{ input: marks }]).png().toBuffer(),
    discriminative: rawPng(heatmapOverlay(rgb, zoomMap), size, show).png().toBuffer(),
    zoomed: rawPng(denormalize(zoomPx), size, show).png().toBuffer(),
    complementary: rawPng(heatmapOverlay(rgb, invMap), size, show).png().toBuffer(),
    complementaryImage: rawPng(denormalize(invPx), size, show).png().toBuffer(),
  };
  const panel = async (key: PanelKey) => ({ png: await bodies[key], title: PANELS.find((q) => q.key === key)?.title as string });
  const files: PictureFiles = {
    peaks: path.join(outDir, `${name}_peaks.png`),
    discriminative: path.join(outDir, `${name}_discriminative.png`),
    complementary: path.join(outDir, `${name}_complementary.png`),
    resampled: path.join(outDir, `${name}_resampled.png`),
    figure: path.join(outDir, `${name}_figure.png`),
  };
  const all = await Promise.all(PANELS.map((q) => panel(q.key)));
  const byKey = (key: PanelKey) => all[PANELS.findIndex((q) => q.key === key)];
  await Promise.all([
    titledRow([byKey('peaks')], show, header).toFile(files.peaks),
    titledRow([byKey('discriminative')], show, header).toFile(files.discriminative),
    titledRow([byKey('complementary')], show, header).toFile(files.complementary),
    titledRow([byKey('zoomed'), byKey('complementaryImage')], show, header).toFile(files.resampled),
    titledRow(all, show, header).toFile(files.figure),
  ]);
  return { ...files, prediction };
}
