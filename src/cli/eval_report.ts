/**
 * `s3n eval --report DIR`: report.json (top-1, top-5, per-class accuracy and confusion matrix
 * of every output) and confusion.png (the fused output's confusion matrix as a heat map).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { UsageError } from './backend';
import { ensureWritableFolder } from './folders';
import type { EvaluationResult } from './evaluate';

/** Where the parts of confusion.png go, in pixels, for `classes` classes. */
export interface ConfusionLayout {
  /** Side of one cell: `clamp(floor(800 / classes), 2, 28)`. */
  cell: number;
  /** Left edge and top edge of the matrix. */
  left: number;
  top: number;
  /** Size of the picture. */
  width: number;
  height: number;
  /** Every `rowStep`-th row and `colStep`-th column is labelled with its class index. */
  rowStep: number;
  colStep: number;
}

const TITLE = 28;
const AXIS = 18;
const LABEL_FONT = 11;
const LEGEND = 18;
const STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];

/** The layout of {@link writeConfusionPng} for `classes` classes. */
export function confusionLayout(classes: number): ConfusionLayout {
  const cell = Math.max(2, Math.min(28, Math.floor(800 / classes)));
  const digits = String(Math.max(0, classes - 1)).length;
  const labelWidth = Math.ceil(digits * 0.62 * LABEL_FONT) + 8;
  const step = (min: number) => STEPS.find((s) => s * cell >= min) ?? STEPS[STEPS.length - 1];
  const left = AXIS + labelWidth;
  const top = TITLE + AXIS + LABEL_FONT + 6;
  return {
    cell,
    left,
    top,
    width: Math.max(left + classes * cell + 12, 420),
    height: top + classes * cell + 8 + LEGEND,
    rowStep: step(LABEL_FONT + 2),
    colStep: step(labelWidth - 4),
  };
}

const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif";
const DARK: [number, number, number] = [8, 48, 107];

/**
 * Writes a confusion matrix as a PNG heat map (see {@link confusionLayout} for its size): rows
 * are the true classes, columns the predicted ones, each cell coloured by its share of the
 * row (white 0 → dark blue 1 on a square-root scale, so that rare confusions show; a row
 * without images is grey); class indices along both axes
 * (every one when the cells are large enough, else every `rowStep`-th / `colStep`-th), and the
 * counts in the cells when they fit.
 *
 * @param file PNG file to write.
 * @param confusion `confusion[label][predicted]` counts, square.
 * @param title A line above the matrix.
 * @returns the layout used.
 */
export async function writeConfusionPng(file: string, confusion: readonly (readonly number[])[], title: string): Promise<ConfusionLayout> {
  const n = confusion.length;
  const L = confusionLayout(n);
  const rgb = new Uint8Array(L.width * L.height * 3).fill(255);
  const gap = L.cell >= 8 ? 1 : 0;
  const texts: string[] = [];
  const esc = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
  const showCounts = L.cell >= 22 && String(Math.max(0, ...confusion.flat())).length * 6.5 <= L.cell - 2;
  for (let r = 0; r < n; r++) {
    const total = confusion[r].reduce((a, b) => a + b, 0);
    for (let c = 0; c < n; c++) {
      const v = total > 0 ? confusion[r][c] / total : -1;
      const col = v < 0 ? [225, 225, 225] : [0, 1, 2].map((k) => Math.round(255 + (DARK[k] - 255) * Math.sqrt(v)));
      const x0 = L.left + c * L.cell;
      const y0 = L.top + r * L.cell;
      for (let y = y0; y < y0 + L.cell - gap; y++) {
        for (let x = x0; x < x0 + L.cell - gap; x++) rgb.set(col, (y * L.width + x) * 3);
      }
      if (showCounts && confusion[r][c] > 0) {
        texts.push(
          `<text x="${x0 + (L.cell - gap) / 2}" y="${y0 + (L.cell - gap) / 2}" font-size="10" text-anchor="middle" dominant-baseline="central" fill="${v > 0.5 ? '#ffffff' : '#202020'}">${confusion[r][c]}</text>`,
        );
      }
    }
  }
  for (let i = 0; i < n; i++) {
    if (i % L.rowStep === 0) texts.push(`<text x="${L.left - 4}" y="${L.top + (i + 0.5) * L.cell}" font-size="${LABEL_FONT}" text-anchor="end" dominant-baseline="central" fill="#202020">${i}</text>`);
    if (i % L.colStep === 0) texts.push(`<text x="${L.left + (i + 0.5) * L.cell}" y="${L.top - 4}" font-size="${LABEL_FONT}" text-anchor="middle" fill="#202020">${i}</text>`);
  }
  const matrixMidX = L.left + (n * L.cell) / 2;
  const matrixMidY = L.top + (n * L.cell) / 2;
  const titleSize = Math.max(9, Math.min(14, Math.floor((L.width - 12) / (0.62 * Math.max(1, title.length)))));
  texts.push(`<text x="6" y="${TITLE / 2}" font-size="${titleSize}" font-weight="bold" dominant-baseline="central" fill="#202020">${esc(title)}</text>`);
  const legend = 'colour: share of the true class (white 0 to blue 1, square-root scale)';
  const legendSize = Math.max(8, Math.min(11, Math.floor((L.width - 12) / (0.6 * legend.length))));
  texts.push(`<text x="6" y="${L.height - LEGEND / 2}" font-size="${legendSize}" dominant-baseline="central" fill="#404040">${legend}</text>`);
  texts.push(`<text x="${matrixMidX}" y="${TITLE + AXIS / 2}" font-size="12" text-anchor="middle" dominant-baseline="central" fill="#404040">predicted class</text>`);
  texts.push(`<text x="${AXIS / 2}" y="${matrixMidY}" font-size="12" text-anchor="middle" dominant-baseline="central" fill="#404040" transform="rotate(-90 ${AXIS / 2} ${matrixMidY})">true class</text>`);
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" font-family="${FONT}">${texts.join('')}</svg>`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.from(rgb), { raw: { width: L.width, height: L.height, channels: 3 } })
    .composite([{ input: svg, left: 0, top: 0 }])
    .png()
    .toFile(file);
  return L;
}

/**
 * Creates `dir` (with its parents) and checks that files can be written in it, before any
 * evaluation starts.
 *
 * @throws a {@link UsageError} naming `--report` when `dir` is an existing file, cannot be
 *   created or cannot be written.
 */
export function prepareReportDir(dir: string): string {
  const out = path.resolve(dir);
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UsageError(`--report must be a folder, but '${out}' is a file.`);
  ensureWritableFolder('--report', out);
  return out;
}

/** What `s3n eval --report` records besides the numbers. */
export interface ReportContext {
  dataset: string;
  split: string;
  data: string;
  checkpoint: string;
  classNames: readonly string[];
  /** The inference attention mode the model was evaluated in. */
  attention: string;
}

/**
 * Writes `report.json` and `confusion.png` (fused output) into `dir` (which must exist).
 *
 * report.json: `dataset`, `split`, `data`, `checkpoint`, `attention` (the inference attention
 * mode), `images`, `tta`, `scores` (what was
 * ranked), `k` (of the top-k), `classes` (names, index = label), `classImages`, and for each
 * output (`fused`, `raw`, `discriminative`, `complementary`) `top1`, `top5`, `perClass`
 * (accuracy per class, `null` without images) and `confusion` (`[label][predicted]` counts);
 * `confusionImage` gives the PNG's file, output, size and cell size.
 *
 * @returns the two file paths.
 */
export async function writeEvalReport(dir: string, result: EvaluationResult, ctx: ReportContext): Promise<{ json: string; png: string }> {
  const png = path.join(dir, 'confusion.png');
  const json = path.join(dir, 'report.json');
  const title = `${ctx.dataset} ${ctx.split}, fused: top-1 ${(100 * result.accuracies.fused).toFixed(1)}%, ${result.images} images${result.tta === 'flip' ? ', flip TTA' : ''}`;
  const layout = await writeConfusionPng(png, result.outputs.fused.confusion, title);
  const report = {
    dataset: ctx.dataset,
    split: ctx.split,
    data: ctx.data,
    checkpoint: ctx.checkpoint,
    attention: ctx.attention,
    images: result.images,
    tta: result.tta,
    scores: result.tta === 'flip' ? 'mean of the softmax probabilities of the image and of its horizontal flip' : 'logits',
    k: result.k,
    classes: ctx.classNames,
    classImages: result.classImages,
    outputs: result.outputs,
    confusionImage: { file: 'confusion.png', output: 'fused', width: layout.width, height: layout.height, cell: layout.cell },
  };
  // Arrays of numbers (confusion rows, per-class lists) on one line each.
  const rows: string[] = [];
  const text = JSON.stringify(report, (_, v) => (Array.isArray(v) && v.every((x) => typeof x === 'number' || x === null) ? `\u0000${rows.push(JSON.stringify(v)) - 1}` : v), 1);
  fs.writeFileSync(json, text.replace(/"\\u0000(\d+)"/g, (_, i: string) => rows[Number(i)]) + '\n');
  return { json, png };
}
