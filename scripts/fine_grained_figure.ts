/**
 * docs/images/fine_grained_synthetic.png: one training image of each class of the synthetic
 * fine-grained benchmark (src/data/fine_grained_synthetic.ts, seed 0, 224 px), with the class
 * name and a crop of the crown mark (the only thing that differs between classes) beside it.
 *
 *   npx tsx scripts/fine_grained_figure.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { fineGrainedAnnotations, writeFineGrainedDataset } from '../src/data/fine_grained_synthetic';
import { readCub } from '../src/data';


async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-fg-figure-'));
  const size = 224;
  await writeFineGrainedDataset(dir, { classes: 8, trainPerClass: 2, testPerClass: 1, size, seed: 0 });
  const ds = readCub(dir);
  const options = { classes: 8, trainPerClass: 2, testPerClass: 1, size, seed: 0 };
  const notes = fineGrainedAnnotations(options);
  const tile = 180;
  const zoom = 84;
  const cols = 4;
  const cellW = tile;
  const cellH = tile + zoom + 22;
  const composites: sharp.OverlayOptions[] = [];
  for (let c = 0; c < ds.classNames.length; c++) {
    const note = notes.find((n) => n.train && n.label === c)!;
    const item = { path: path.join(dir, 'images', note.file) };
    const crown = { x: note.detail.x, y: note.detail.y, r: note.detail.radius };
    const x0 = (c % cols) * cellW;
    const y0 = Math.floor(c / cols) * cellH;
    composites.push({ input: await sharp(item.path).resize(tile, tile).png().toBuffer(), left: x0, top: y0 });
    const r = Math.max(8, Math.round(crown.r * 1.6));
    const left = Math.max(0, Math.min(size - 2 * r, Math.round(crown.x - r)));
    const top = Math.max(0, Math.min(size - 2 * r, Math.round(crown.y - r)));
    const crop = await sharp(item.path).extract({ left, top, width: 2 * r, height: 2 * r }).resize(zoom, zoom, { kernel: 'nearest' }).png().toBuffer();
    composites.push({ input: crop, left: x0 + (tile - zoom) / 2, top: y0 + tile });
    const label = ds.classNames[c].replace(/^\d+\./, '').replace(/_/g, ' ');
    const svg = `<svg width="${cellW}" height="22" xmlns="http://www.w3.org/2000/svg"><text x="${cellW / 2}" y="16" font-size="13" font-family="DejaVu Sans, sans-serif" text-anchor="middle">${label}</text></svg>`;
    composites.push({ input: Buffer.from(svg), left: x0, top: y0 + tile + zoom });
  }
  const out = path.resolve(__dirname, '..', 'docs', 'images', 'fine_grained_synthetic.png');
  await sharp({ create: { width: cols * cellW, height: 2 * cellH, channels: 3, background: '#ffffff' } }).composite(composites).png().toFile(out);
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`wrote ${out}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
