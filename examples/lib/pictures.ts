/**
 * Pictures of tensors for the examples: images and heat maps as RGB tiles, laid out in rows
 * and encoded as PNG with `sharp`.
 *
 * ```ts
 * const png = await toPng(row([imageTile(image, 3), heatTile(saliency, 192, peaks)]));
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';

/** An RGB picture: `height × width × 3` bytes, row-major. */
export interface Tile {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Reads a tensor's values (synchronously; the examples' tensors are small). */
function values(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/**
 * An image `[height, width, channels]` (1 or 3 channels, values in [0, 1]) as a tile, each
 * pixel repeated `scale × scale` times (nearest neighbour, so pixels stay visible).
 */
export function imageTile(image: tf.Tensor, scale = 1): Tile {
  const [h, w, c] = image.shape as [number, number, number];
  const v = values(image);
  const width = w * scale;
  const height = h * scale;
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = (Math.floor(y / scale) * w + Math.floor(x / scale)) * c;
      for (let k = 0; k < 3; k++) {
        const value = v[src + (c === 3 ? k : 0)];
        rgb[(y * width + x) * 3 + k] = Math.round(255 * Math.min(1, Math.max(0, value)));
      }
    }
  }
  return { width, height, rgb };
}

/** A perceptually ordered colour map (dark blue → teal → yellow), like matplotlib's viridis. */
const COLORS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function colour(t: number): [number, number, number] {
  const s = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (COLORS.length - 1);
  const i = Math.min(COLORS.length - 2, Math.floor(s));
  const f = s - i;
  return [0, 1, 2].map((k) => Math.round(COLORS[i][k] + f * (COLORS[i + 1][k] - COLORS[i][k]))) as [number, number, number];
}

/**
 * A map `[height, width]` as a `size × size` heat-map tile (min → dark, max → yellow, nearest
 * neighbour). Cells where `peaks` (same shape, 0/1) is 1 get a red square.
 */
export function heatTile(map: tf.Tensor, size: number, peaks?: tf.Tensor): Tile {
  const [h, w] = map.shape as [number, number];
  const v = values(map);
  const p = peaks ? values(peaks) : null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const range = hi > lo ? hi - lo : 1;
  const rgb = new Uint8Array(size * size * 3);
  const cell = size / Math.max(h, w);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = Math.min(h - 1, Math.floor((y * h) / size));
      const j = Math.min(w - 1, Math.floor((x * w) / size));
      let c = colour((v[i * w + j] - lo) / range);
      if (p && p[i * w + j] > 0) {
        // A red square with a white rim, in the middle of the peak's cell.
        const dy = Math.abs(y - (i + 0.5) * cell);
        const dx = Math.abs(x - (j + 0.5) * cell);
        const r = Math.max(2, cell * 0.9);
        if (Math.max(dx, dy) <= r) c = Math.max(dx, dy) > r - 1.5 ? [255, 255, 255] : [230, 30, 30];
      }
      rgb.set(c, (y * size + x) * 3);
    }
  }
  return { width: size, height: size, rgb };
}

/** Tiles side by side (top-aligned) on a white background, `gap` pixels apart. */
export function row(tiles: Tile[], gap = 6): Tile {
  const width = tiles.reduce((s, t) => s + t.width, 0) + gap * (tiles.length - 1);
  const height = Math.max(...tiles.map((t) => t.height));
  const rgb = new Uint8Array(width * height * 3).fill(255);
  let left = 0;
  for (const t of tiles) {
    for (let y = 0; y < t.height; y++) rgb.set(t.rgb.subarray(y * t.width * 3, (y + 1) * t.width * 3), (y * width + left) * 3);
    left += t.width + gap;
  }
  return { width, height, rgb };
}

/** Rows one above the other (left-aligned) on a white background, `gap` pixels apart. */
export function column(tiles: Tile[], gap = 6): Tile {
  const width = Math.max(...tiles.map((t) => t.width));
  const height = tiles.reduce((s, t) => s + t.height, 0) + gap * (tiles.length - 1);
  const rgb = new Uint8Array(width * height * 3).fill(255);
  let top = 0;
  for (const t of tiles) {
    for (let y = 0; y < t.height; y++) rgb.set(t.rgb.subarray(y * t.width * 3, (y + 1) * t.width * 3), ((top + y) * width) * 3);
    top += t.height + gap;
  }
  return { width, height, rgb };
}

/** PNG bytes of a tile. */
export async function toPng(tile: Tile): Promise<Uint8Array> {
  const png = await sharp(Buffer.from(tile.rgb), { raw: { width: tile.width, height: tile.height, channels: 3 } })
    .png({ compressionLevel: 9 })
    .toBuffer();
  return new Uint8Array(png);
}
