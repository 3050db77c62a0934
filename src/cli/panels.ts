/**
 * The five pictures of what S3N looks at, as the CLI (`s3n visualize`, `picture.ts`) and the
 * browser page (`examples/browser/`) draw them: their order, titles and one-line
 * explanations, the jet colormap of the attention heatmaps and the peak marks. Plain
 * TypeScript without imports, so that a browser bundle can use it as well as Node.
 */

/** Key of one of the five panels, see {@link PANELS}. */
export type PanelKey = 'peaks' | 'discriminative' | 'zoomed' | 'complementary' | 'complementaryImage';

/** One panel of the explanation pictures. */
export interface PanelInfo {
  /** Stable key of the panel. */
  key: PanelKey;
  /** Title drawn above the panel. */
  title: string;
  /** One sentence saying what the panel shows (the page shows it under the title). */
  explanation: string;
}

/**
 * The panels in the order they are drawn: input with peaks, discriminative attention, zoomed
 * image, complementary attention, complementary image.
 */
export const PANELS: readonly PanelInfo[] = [
  { key: 'peaks', title: 'Input with peaks', explanation: 'Local maxima of the class response maps (red circles, the thickest is the strongest): where S3N looks.' },
  { key: 'discriminative', title: 'Discriminative attention', explanation: 'Saliency from the strongest peak(s), over the input: where the zoomed image samples densely.' },
  { key: 'zoomed', title: 'Zoomed image', explanation: 'The input resampled by the discriminative saliency: the most telling part enlarged, the context kept.' },
  { key: 'complementary', title: 'Complementary attention', explanation: 'Saliency from the weaker peaks, over the input: evidence beside the main part.' },
  { key: 'complementaryImage', title: 'Complementary image', explanation: 'The input resampled by the complementary saliency: the weaker evidence enlarged.' },
];

/** RGB of the jet colormap at `t` in [0, 1]. */
export function jet(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.max(0, Math.min(1, x)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/**
 * Blends a jet heatmap of `map` (`[h, w]` values, min–max normalised) over an RGB image
 * (`[h, w, 3]` bytes, same `h × w`). A constant map is drawn as its lowest colour.
 */
export function heatmapOverlay(rgb: ArrayLike<number>, map: ArrayLike<number>, alpha = 0.5): Uint8Array {
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

/** A peak mark of {@link peakMarks}, in pixels of a `show × show` panel. */
export interface PeakMark {
  /** Centre column, in pixels. */
  x: number;
  /** Centre row, in pixels. */
  y: number;
  /** Circle radius in pixels, larger for stronger peaks. */
  r: number;
  /** Whether this is the strongest peak (drawn thicker). */
  strongest: boolean;
}

/**
 * Circles for the peaks of one image: a grid cell maps to pixels with aligned corners, the
 * radius grows with the peak's score relative to the strongest.
 *
 * @param decision Decision map `[grid, grid]` (row-major), scores in [0, 1].
 * @param peaks Peak mask `[grid, grid]` (0/1), same layout.
 * @param grid Side of the grid.
 * @param show Side of the panel in pixels.
 */
export function peakMarks(decision: ArrayLike<number>, peaks: ArrayLike<number>, grid: number, show: number): PeakMark[] {
  const scale = grid > 1 ? (show - 1) / (grid - 1) : 0;
  let best = 0;
  for (let i = 0; i < peaks.length; i++) if (peaks[i] > 0) best = Math.max(best, decision[i]);
  const marks: PeakMark[] = [];
  for (let i = 0; i < peaks.length; i++) {
    if (peaks[i] <= 0) continue;
    const s = best > 0 ? decision[i] / best : 1;
    marks.push({ x: (i % grid) * scale, y: Math.floor(i / grid) * scale, r: Math.max(4, (show / 24) * (0.5 + s)), strongest: s > 0.999 });
  }
  return marks;
}
