/**
 * Images in the page: a file or URL → the network's input, the way the CLI's eval mode does it
 * (`loadImage` in s3n-layers/node: resize the shorter side to `round(600·S/448)`, centre-crop
 * S×S, ImageNet normalisation), but with the browser's canvas instead of sharp.
 */

/** ImageNet channel means (R, G, B) on [0, 1] values, as the CLI normalises. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
/** ImageNet channel standard deviations (R, G, B). */
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** A decoded image: its bitmap and a display name. */
export interface PageImage {
  bitmap: ImageBitmap;
  name: string;
}

/** Decodes an image file (any format the browser reads). Rejects with the file name when it cannot. */
export async function decodeFile(file: Blob & { name?: string }): Promise<PageImage> {
  const name = file.name ?? 'image';
  try {
    return { bitmap: await createImageBitmap(file), name };
  } catch (e) {
    throw new Error(`cannot read image '${name}': ${(e as Error).message || 'the browser could not decode it'}`);
  }
}

/** Fetches and decodes an image URL. */
export async function decodeUrl(url: string): Promise<PageImage> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot read image '${url}': HTTP ${res.status}`);
  return decodeFile(Object.assign(await res.blob(), { name: url.split('/').pop() }));
}

/**
 * RGB bytes `[size, size, 3]` of the centre crop the CLI's eval mode takes (optionally
 * mirrored, as training augmentation).
 */
export function cropPixels(bitmap: ImageBitmap, size: number, mirror = false): Uint8Array {
  const { width, height } = bitmap;
  if (!(width > 0 && height > 0)) throw new Error(`cropPixels: the image must have pixels, but got ${width}×${height}`);
  const short = Math.round((600 * size) / 448);
  const scale = short / Math.min(width, height);
  const side = size / scale; // the crop's side in source pixels
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  if (mirror) {
    ctx.translate(size, 0);
    ctx.scale(-1, 1);
  }
  ctx.drawImage(bitmap, (width - side) / 2, (height - side) / 2, side, side, 0, 0, size, size);
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const rgb = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) for (let k = 0; k < 3; k++) rgb[p * 3 + k] = rgba[p * 4 + k];
  return rgb;
}

/** ImageNet-normalised floats of RGB bytes, `[size, size, 3]` row-major. */
export function normalize(rgb: Uint8Array): Float32Array {
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = (rgb[i] / 255 - IMAGENET_MEAN[i % 3]) / IMAGENET_STD[i % 3];
  return out;
}

/** Normalised floats back to RGB bytes (rounded, clamped). */
export function denormalize(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const k = i % 3;
    out[i] = Math.max(0, Math.min(255, Math.round((values[i] * IMAGENET_STD[k] + IMAGENET_MEAN[k]) * 255)));
  }
  return out;
}
