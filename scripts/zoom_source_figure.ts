/**
 * The README picture of issue 15 (zooming into real pixels): one S3N zoom (the authors'
 * attention with one peak, radius 0.09, their sampler) applied to a 448×448 input and to the
 * same picture as an 896×896 source. Writes docs/images/zoom_source.png.
 *
 *   npx tsx scripts/zoom_source_figure.ts [out.png]
 *
 * The scene is drawn at 896×896 (SVG through sharp) with detail finer than a 448-pixel input
 * can hold: 1-pixel feather lines, a small label. The input is its 448×448 resize by libvips
 * (the `linear` kernel, as the data pipeline does), the source the drawing itself.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { ops } from '../src';

const INPUT = 448;
const SOURCE = 896;
const GRID = 31;
/** Where the peak is, as a fraction of the image (row, column). */
const PEAK = { row: 0.4, col: 0.6 };

function scene(size: number): Buffer {
  const lines: string[] = [];
  // Feathers: fine dark lines, 1 source pixel wide, 3 pixels apart.
  for (let k = 0; k < 60; k++) {
    const y = 250 + 3 * k;
    lines.push(`<line x1="${380}" y1="${y}" x2="${700}" y2="${y + 40 * Math.sin(k / 6)}" stroke="#3a2a10" stroke-width="1"/>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 896 896">
  <rect width="896" height="896" fill="#dfe8d0"/>
  <ellipse cx="500" cy="480" rx="260" ry="190" fill="#c99a4a"/>
  <g>${lines.join('')}</g>
  <circle cx="560" cy="330" r="34" fill="#f4f0e0" stroke="#202020" stroke-width="2"/>
  ${[4, 8, 12, 16, 20, 24, 28].map((r) => `<circle cx="560" cy="330" r="${r}" fill="none" stroke="#202020" stroke-width="1"/>`).join('')}
  <text x="470" y="395" font-family="DejaVu Sans" font-size="11" fill="#101010">S3N zooms into real pixels</text>
  <text x="470" y="409" font-family="DejaVu Sans" font-size="11" fill="#101010">beyond the 448 px input</text>
  <path d="M 760 460 L 860 420 L 860 520 Z" fill="#8a5a20"/>
</svg>`;
  return Buffer.from(svg);
}

async function rgb(svg: Buffer, size: number): Promise<Float32Array> {
  const { data } = await sharp(svg, { density: 72 }).resize(size, size, { kernel: 'linear', fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return Float32Array.from(data, (v) => v / 255);
}

function laplacianEnergy(image: tf.Tensor4D): number {
  return tf.tidy(() => {
    const k = tf.tile(tf.tensor4d([0, 1, 0, 1, -4, 1, 0, 1, 0], [3, 3, 1, 1]), [1, 1, 3, 1]) as tf.Tensor4D;
    return tf.mean(tf.square(tf.depthwiseConv2d(image, k, 1, 'valid'))).dataSync()[0];
  });
}

function band(width: number, height: number, text: string, size: number, bold = false): Buffer {
  const esc = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#ffffff"/>` +
      `<text x="${width / 2}" y="${height / 2}" dominant-baseline="central" text-anchor="middle" font-family="DejaVu Sans" font-size="${size}" font-weight="${bold ? 'bold' : 'normal'}" fill="#202020">${esc}</text></svg>`,
  );
}

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? 'docs/images/zoom_source.png');
  await tf.setBackend('cpu');
  // The drawing is the source; the input is its resize to 448, as ImagePipeline makes both.
  const drawing = await sharp(scene(SOURCE)).png().toBuffer();
  const source = tf.tensor4d(await rgb(drawing, SOURCE), [1, SOURCE, SOURCE, 3]);
  const input = tf.tensor4d(await rgb(drawing, INPUT), [1, INPUT, INPUT, 3]);
  // One peak of score 1 in a 31×31 decision map → the authors' discriminative saliency.
  const decision = tf.tidy(() => {
    const ys = tf.reshape(tf.linspace(0, 1, GRID), [GRID, 1]);
    const xs = tf.reshape(tf.linspace(0, 1, GRID), [1, GRID]);
    const d2 = tf.add(tf.square(tf.sub(ys, PEAK.row)), tf.square(tf.sub(xs, PEAK.col)));
    return tf.expandDims(tf.exp(tf.div(d2, -0.02)), 0) as tf.Tensor3D;
  });
  const { zoom } = ops.sparseAttentionMaps(decision, { mode: 'all' });
  const fromInput = ops.saliencyResample(input, zoom, { outputSize: INPUT });
  const fromSource = ops.saliencyResample(source, zoom, { outputSize: INPUT });
  const [eIn, eSrc] = [laplacianEnergy(fromInput.image), laplacianEnergy(fromSource.image)];
  console.log(`Laplacian energy of the zoomed image: from the input ${eIn.toFixed(5)}, from the 2x source ${eSrc.toFixed(5)} (x${(eSrc / eIn).toFixed(2)})`);

  const toPng = async (t: tf.Tensor4D) => {
    const [, h, w] = t.shape;
    const bytes = Uint8Array.from(await t.data(), (v) => Math.max(0, Math.min(255, Math.round(v * 255))));
    return sharp(Buffer.from(bytes), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  };
  // The centre of the zoom, 112×112 of each zoomed image, shown 4× (nearest): what the backbone sees.
  const crop = (t: tf.Tensor4D) => tf.tidy(() => {
    const c = 112;
    const cy = Math.round(PEAK.row * INPUT) - c / 2;
    const cx = Math.round(PEAK.col * INPUT) - c / 2;
    return tf.slice(t, [0, Math.max(0, cy), Math.max(0, cx), 0], [1, c, c, 3]) as tf.Tensor4D;
  });
  const enlarge = async (t: tf.Tensor4D) => sharp(await toPng(t)).resize(INPUT, INPUT, { kernel: 'nearest' }).png().toBuffer();
  const panels = [
    { title: 'Input 448×448', sub: 'the backbone input', png: await toPng(input) },
    { title: 'Zoomed, sampled from the input', sub: `Laplacian energy ${eIn.toFixed(4)}`, png: await toPng(fromInput.image) },
    { title: 'Zoomed, sampled from a 896² source', sub: `Laplacian energy ${eSrc.toFixed(4)} (×${(eSrc / eIn).toFixed(1)})`, png: await toPng(fromSource.image) },
    { title: 'Centre of the zoom ×4, from the input', sub: 'interpolated pixels', png: await enlarge(crop(fromInput.image)) },
    { title: 'Centre of the zoom ×4, from the source', sub: 'real pixels', png: await enlarge(crop(fromSource.image)) },
  ];
  const gap = 10;
  const titleH = 30;
  const subH = 24;
  const cols = 3;
  const cellW = INPUT;
  const cellH = titleH + subH + INPUT;
  const rows = [panels.slice(0, 3), panels.slice(3)];
  const width = cols * cellW + (cols - 1) * gap;
  const height = rows.length * cellH + gap;
  const layers: sharp.OverlayOptions[] = [];
  rows.forEach((row, r) =>
    row.forEach((p, c) => {
      const left = (rows[r].length === 2 ? c + 1 : c) * (cellW + gap);
      const top = r * (cellH + gap);
      layers.push({ input: band(cellW, titleH, p.title, 17, true), left, top });
      layers.push({ input: band(cellW, subH, p.sub, 14), left, top: top + titleH });
      layers.push({ input: p.png, left, top: top + titleH + subH });
    }),
  );
  const note = [
    'One S3N zoom, the same grid twice: the',
    "authors' discriminative attention (one peak,",
    'radius 0.09) and their saliency sampler.',
    '',
    'Middle: the grid reads the 448×448 input,',
    'so the zoom only interpolates.',
    'Right: it reads the same picture at 896×896',
    '(S3N.create(backbone, { sourceSize: 896 })):',
    'the output is still 448×448, with real detail.',
    '',
    'Laplacian energy: mean squared 4-neighbour',
    'Laplacian of the zoomed image (RGB in [0, 1]).',
  ];
  const text = note.map((l, i) => `<text x="16" y="${70 + 26 * i}" font-family="DejaVu Sans" font-size="16" fill="#202020">${l.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`).join('');
  layers.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${cellW}" height="${cellH}"><rect width="100%" height="100%" fill="#ffffff"/>${text}</svg>`), left: 0, top: cellH + gap });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).composite(layers).png({ compressionLevel: 9 }).toFile(out);
  console.log(`wrote ${out}`);
  tf.dispose([source, input, decision, zoom, fromInput.image, fromInput.grid, fromSource.image, fromSource.grid]);
}

void main();
