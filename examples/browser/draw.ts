/**
 * Drawing in the page: the five explanation panels (the CLI's pictures, from the same
 * `panels.ts`: order, titles, colormap and peak marks) and the fine-tuning loss curve.
 */
import { heatmapOverlay, peakMarks } from '../../src/cli/panels';

/** Side in pixels of a panel canvas. */
export const PANEL_SIDE = 256;

/** Everything the panels show for one image, read from `s3n.explain` (host arrays). */
export interface ExplanationPixels {
  /** Input side S. */
  size: number;
  /** Side of the decision grid. */
  grid: number;
  /** Input RGB bytes `[S, S, 3]`. */
  input: Uint8Array;
  /** Decision map and peak mask `[grid, grid]`. */
  decision: ArrayLike<number>;
  peaks: ArrayLike<number>;
  /** Saliency maps upsampled to `[S, S]`. */
  zoomSaliency: ArrayLike<number>;
  inverseSaliency: ArrayLike<number>;
  /** Resampled images, RGB bytes `[S, S, 3]`. */
  zoomImage: Uint8Array;
  inverseImage: Uint8Array;
}

/** Draws RGB bytes `[size, size, 3]` scaled to fill the canvas (no smoothing when enlarged a lot). */
export function drawRGB(canvas: HTMLCanvasElement, rgb: Uint8Array, size: number): void {
  const src = new OffscreenCanvas(size, size);
  const sctx = src.getContext('2d') as OffscreenCanvasRenderingContext2D;
  const img = sctx.createImageData(size, size);
  for (let p = 0; p < size * size; p++) {
    img.data[p * 4] = rgb[p * 3];
    img.data[p * 4 + 1] = rgb[p * 3 + 1];
    img.data[p * 4 + 2] = rgb[p * 3 + 2];
    img.data[p * 4 + 3] = 255;
  }
  sctx.putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  ctx.imageSmoothingEnabled = size >= canvas.width / 2;
  ctx.drawImage(src, 0, 0, canvas.width, canvas.height);
}

/** Draws the five panels into canvases in `PANELS` order. */
export function drawPanels(canvases: HTMLCanvasElement[], e: ExplanationPixels): void {
  const [peaks, discriminative, zoomed, complementary, complementaryImage] = canvases;
  drawRGB(peaks, e.input, e.size);
  const ctx = peaks.getContext('2d') as CanvasRenderingContext2D;
  for (const m of peakMarks(e.decision, e.peaks, e.grid, peaks.width)) {
    ctx.beginPath();
    ctx.arc(m.x, m.y, m.r, 0, 2 * Math.PI);
    ctx.strokeStyle = '#ff2020';
    ctx.lineWidth = m.strongest ? 4 : 2;
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(m.x, m.y, 2, 0, 2 * Math.PI);
    ctx.fillStyle = '#ffff00';
    ctx.fill();
  }
  drawRGB(discriminative, heatmapOverlay(e.input, e.zoomSaliency), e.size);
  drawRGB(zoomed, e.zoomImage, e.size);
  drawRGB(complementary, heatmapOverlay(e.input, e.inverseSaliency), e.size);
  drawRGB(complementaryImage, e.inverseImage, e.size);
}

/** Draws a loss curve (one point per step) with its axis labels. */
export function drawLossCurve(canvas: HTMLCanvasElement, losses: number[], steps: number): void {
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const { width, height } = canvas;
  const pad = { left: 58, right: 10, top: 12, bottom: 26 };
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = '#888';
  ctx.lineWidth = 1;
  ctx.strokeRect(pad.left, pad.top, width - pad.left - pad.right, height - pad.top - pad.bottom);
  ctx.fillStyle = '#333';
  ctx.font = '12px sans-serif';
  ctx.fillText('step', width / 2 - 12, height - 6);
  ctx.save();
  ctx.translate(12, height / 2 + 12);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('loss', 0, 0);
  ctx.restore();
  if (losses.length === 0) return;
  const hi = 1.05 * Math.max(...losses);
  const lo = Math.min(0, ...losses);
  const span = hi - lo > 1e-9 ? hi - lo : 1;
  const n = Math.max(steps, losses.length, 2);
  const x = (i: number) => pad.left + ((width - pad.left - pad.right) * i) / (n - 1);
  const y = (v: number) => pad.top + (height - pad.top - pad.bottom) * (1 - (v - lo) / span);
  ctx.fillText(hi.toFixed(2), 18, pad.top + 10);
  ctx.fillText(lo.toFixed(2), 18, height - pad.bottom);
  ctx.fillText('1', x(0) - 3, height - pad.bottom + 14);
  ctx.fillText(String(n), x(n - 1) - 6, height - pad.bottom + 14);
  ctx.strokeStyle = '#1f6fd1';
  ctx.lineWidth = 2;
  ctx.beginPath();
  losses.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
  ctx.stroke();
  ctx.fillStyle = '#1f6fd1';
  losses.forEach((v, i) => {
    ctx.beginPath();
    ctx.arc(x(i), y(v), 3, 0, 2 * Math.PI);
    ctx.fill();
  });
}
