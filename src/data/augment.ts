/**
 * Image decoding and the authors' augmentation, with sharp (libvips):
 *
 * - train: random resized crop (area 0.5–1 of the image, aspect ratio 3/4–4/3, as
 *   torchvision's `RandomResizedCrop(size, scale=(0.5, 1))`), resized to `inputSize`², and a
 *   horizontal flip with probability 0.5;
 * - eval: resize the shorter side to `600·inputSize/448` and center-crop `inputSize`²
 *   (`Resize(600)`, `CenterCrop(448)` at the paper's size).
 *
 * Pixels are then normalised with the ImageNet mean and standard deviation.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import type { Rng } from './rng';
import type { ImageItem } from './types';

/**
 * ImageNet channel means (R, G, B) on pixel values scaled to [0, 1]: `[0.485, 0.456, 0.406]`.
 * {@link loadImage} normalises a channel value `v` in [0, 255] to
 * `(v / 255 - IMAGENET_MEAN[k]) / IMAGENET_STD[k]`.
 */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/**
 * ImageNet channel standard deviations (R, G, B) on pixel values scaled to [0, 1]:
 * `[0.229, 0.224, 0.225]`. See {@link IMAGENET_MEAN}.
 */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/**
 * The augmentation of {@link loadImage} and {@link ImagePipeline}. `'train'`: random resized
 * crop (area 0.5–1, aspect ratio 3/4–4/3) and horizontal flip with probability 0.5; `'eval'`:
 * resize the shorter side to {@link evalResizeSize} and center crop.
 */
export type AugmentMode = 'train' | 'eval';

/** A crop box in pixels (integers), as sharp's `extract` takes it. */
export interface Box {
  /** Column of the box's left edge, 0-based from the image's left. */
  left: number;
  /** Row of the box's top edge, 0-based from the image's top. */
  top: number;
  /** Width of the box in pixels (>= 1). */
  width: number;
  /** Height of the box in pixels (>= 1). */
  height: number;
}

/**
 * torchvision's `RandomResizedCrop.get_params`: up to 10 draws of an area fraction in `scale`
 * and a log-uniform aspect ratio in `ratio` (width / height), each kept if the box fits in the
 * image, then a uniform position; falls back to a center crop of the nearest allowed aspect
 * ratio (the whole image when its own ratio is allowed). No validation: pass positive sizes and
 * increasing ranges.
 *
 * @param width Image width in pixels.
 * @param height Image height in pixels.
 * @param rng Source of uniform draws in `[0, 1)`, e.g. {@link mulberry32}; called 2 times per
 *   attempt plus 2 for the position of an accepted box.
 * @param scale Range of the box's area as a fraction of the image's. Default `[0.5, 1]` (the
 *   authors'; torchvision's default is `[0.08, 1]`).
 * @param ratio Range of the box's aspect ratio. Default `[3/4, 4/3]`.
 * @returns a box inside the image.
 *
 * @example
 * ```ts
 * randomResizedCropBox(500, 375, mulberry32(7)); // { left: 160, top: 26, width: 272, height: 349 }
 * ```
 */
export function randomResizedCropBox(width: number, height: number, rng: Rng, scale: [number, number] = [0.5, 1], ratio: [number, number] = [3 / 4, 4 / 3]): Box {
  const area = width * height;
  const [logLo, logHi] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng());
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const top = Math.floor(rng() * (height - h + 1));
      const left = Math.floor(rng() * (width - w + 1));
      return { left, top, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * Shorter-side size of the eval resize, `round(600 · inputSize / 448)`: 600 at the paper's
 * input size 448 (`Resize(600)`, `CenterCrop(448)`), 300 at 224.
 */
export function evalResizeSize(inputSize: number): number {
  return Math.round((600 * inputSize) / 448);
}

/**
 * Whether `bytes` are a JPEG that stops before its end-of-image marker (`FF D9`, possibly
 * followed by zero padding): a truncated download or copy.
 */
function isTruncatedJpeg(bytes: Buffer): boolean {
  if (bytes.length < 3 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[2] !== 0xff) return false;
  let end = bytes.length;
  while (end > 2 && bytes[end - 1] === 0) end--;
  return !(bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9);
}

/** Retries of failed decodes run one at a time (see {@link decodeFailure}). */
let retryChain: Promise<unknown> = Promise.resolve();

/**
 * The reason a decode failed, for the message of {@link loadImage}. A truncated JPEG is named
 * as such. libvips keeps one error buffer for all its threads, so when several images fail at
 * once sharp may get an empty text ("Unknown error"): such a decode is retried alone to get the
 * real reason.
 */
async function decodeFailure(e: Error, bytes: Buffer | undefined, run: (bytes: Buffer) => Promise<unknown>): Promise<string> {
  if (bytes === undefined) return e.message;
  if (isTruncatedJpeg(bytes)) return `truncated JPEG (the file ends after ${bytes.length} bytes, before its end-of-image marker)`;
  if (e.message !== '' && e.message !== 'Unknown error') return e.message;
  const retry = retryChain.then(() => run(bytes));
  retryChain = retry.catch(() => undefined);
  try {
    await retry;
  } catch (again) {
    const m = (again as Error).message;
    if (m !== '' && m !== 'Unknown error') return m;
  }
  return 'libvips could not decode it and gave no reason (a corrupt file?)';
}

/** Options of {@link loadImage}. */
export interface LoadImageOptions {
  /** `'train'` (random resized crop and flip) or `'eval'` (resize and center crop), see {@link AugmentMode}. */
  mode: AugmentMode;
  /** Side of the square output, in pixels (the network's input size, e.g. 448). */
  inputSize: number;
  /** Draws for the crop and the flip (train mode only). Default `Math.random` (not reproducible). */
  rng?: Rng;
  /** Normalise with the ImageNet mean/std (default true); false returns values in [0, 255]. */
  normalize?: boolean;
}

/**
 * Reads and decodes an image file with sharp, cuts `item.trimBottom` rows at the bottom (if
 * any), applies the augmentation of `mode` and normalises with {@link IMAGENET_MEAN} /
 * {@link IMAGENET_STD}. Grey and CMYK images are converted to RGB, alpha is dropped. Resizing
 * uses sharp's `linear` kernel. The EXIF orientation is applied first (sharp's `autoOrient`,
 * torchvision's `exif_transpose`), so phone photos come upright; crops and `trimBottom` are in
 * the upright image.
 *
 * @param item The image: its `path` and optional `trimBottom` (an {@link ImageItem} will do).
 * @param options Mode, output size, random draws and normalisation, see {@link LoadImageOptions}.
 * @returns `inputSize · inputSize · 3` float32 values, row-major `[height, width, channels]`
 *   (RGB): one image of an NHWC batch. Normalised by default; in [0, 255] with
 *   `normalize: false`.
 * @throws (rejects) `cannot read image '<path>': …` when the file is missing or cannot be
 *   decoded (a truncated JPEG is named as such), or when the image has no pixels left after
 *   `trimBottom`.
 *
 * @example
 * ```ts
 * const pixels = await loadImage(cub.test[0], { mode: 'eval', inputSize: 448 });
 * const image = tf.tensor4d(pixels, [1, 448, 448, 3]); // [batch, height, width, channels]
 * ```
 */
export async function loadImage(item: Pick<ImageItem, 'path' | 'trimBottom'>, options: LoadImageOptions): Promise<Float32Array> {
  return (await decodeAtSizes(item, options, [options.inputSize]))[0];
}

/** Options of {@link loadImageWithSource}: those of {@link loadImage} and the source's size. */
export interface LoadImageWithSourceOptions extends LoadImageOptions {
  /** Side of the square source image, in pixels (>= `inputSize`), see `S3NOptions.sourceSize`. */
  sourceSize: number;
}

/**
 * {@link loadImage} at two sizes from one decode: the network input (`inputSize`²) and the
 * source the S3N samplers read (`sourceSize`², see `S3NOptions.sourceSize`), both resized
 * by libvips from the original pixels, so neither is an interpolation of the other. The input
 * is the same as {@link loadImage} gives with the same options and draws.
 *
 * Train mode: one crop box and flip (the same draws of `rng` as {@link loadImage}), resized
 * to both sizes: the same region exactly. Eval mode: the input's resize (shorter side to
 * {@link evalResizeSize}`(inputSize)`) and center crop, both scaled by `sourceSize / inputSize`
 * for the source: the same region exactly when that ratio is an integer, within one source
 * pixel otherwise.
 *
 * The source has real detail beyond the input only where the original has it: a 500-pixel
 * photo (CUB-200-2011's typical size) center-cropped to 448 has little to add at 896.
 *
 * @returns the two images as {@link loadImage} returns one (normalised unless `normalize: false`).
 * @throws (rejects) as {@link loadImage} does.
 */
export async function loadImageWithSource(
  item: Pick<ImageItem, 'path' | 'trimBottom'>,
  options: LoadImageWithSourceOptions,
): Promise<{
  /** `inputSize · inputSize · 3` values, `[height, width, channels]`. */
  image: Float32Array;
  /** `sourceSize · sourceSize · 3` values, `[height, width, channels]`. */
  source: Float32Array;
}> {
  const { inputSize, sourceSize } = options;
  if (!Number.isInteger(sourceSize) || sourceSize < inputSize) {
    throw new Error(`loadImageWithSource: sourceSize must be an integer >= inputSize (${inputSize}), but got ${JSON.stringify(sourceSize)}.`);
  }
  const [image, source] = await decodeAtSizes(item, options, [inputSize, sourceSize]);
  return { image, source };
}

/** Decodes once and returns the augmented image at each size (the first size sets the geometry). */
async function decodeAtSizes(item: Pick<ImageItem, 'path' | 'trimBottom'>, options: LoadImageOptions, sizes: number[]): Promise<Float32Array[]> {
  const { mode, inputSize } = options;
  let raws: { data: Buffer; info: OutputInfo }[];
  let file: Buffer | undefined;
  const run = async (bytes: Buffer): Promise<{ data: Buffer; info: OutputInfo }[]> => {
    // autoOrient: the EXIF orientation is applied first (phone photos), like torchvision's exif_transpose.
    const decode = () => sharp(bytes, { failOn: 'error', autoOrient: true });
    const meta = await decode().metadata();
    const width = meta.autoOrient?.width ?? meta.width ?? 0;
    let height = meta.autoOrient?.height ?? meta.height ?? 0;
    const trim = item.trimBottom ?? 0;
    if (trim > 0) {
      if (height - trim < 1) throw new Error(`the image is ${height} pixels high, too small to cut ${trim} rows`);
      height -= trim;
    }
    if (width < 1 || height < 1) throw new Error(`the image has no pixels (${width}×${height})`);
    const images: Sharp[] = [];
    if (mode === 'train') {
      const rng = options.rng ?? Math.random;
      // The box lies in the rows kept after the trim, so it also does the trim.
      const box = randomResizedCropBox(width, height, rng);
      const flip = rng() < 0.5;
      // One decode for every size: sharp's clone() shares the cropped input.
      const cropped = decode().extract(box);
      for (const size of sizes) {
        let img = cropped.clone().resize(size, size, { fit: 'fill', kernel: 'linear' });
        if (flip) img = img.flop();
        images.push(img);
      }
    } else {
      const scale = evalResizeSize(inputSize) / Math.min(width, height);
      const rw = Math.max(inputSize, Math.round(width * scale));
      const rh = Math.max(inputSize, Math.round(height * scale));
      const [left, top] = [Math.round((rw - inputSize) / 2), Math.round((rh - inputSize) / 2)];
      // Other sizes: the input's resize and crop scaled by size / inputSize (exactly the same
      // region for an integer ratio, within a pixel of the larger image otherwise).
      const kept = trim > 0 ? decode().extract({ left: 0, top: 0, width, height }) : decode();
      for (const size of sizes) {
        const k = size / inputSize;
        const [w, h] = [Math.max(size, Math.round(rw * k)), Math.max(size, Math.round(rh * k))];
        const img = kept.clone().resize(w, h, { fit: 'fill', kernel: 'linear' }).extract({
          left: Math.min(w - size, Math.round(left * k)),
          top: Math.min(h - size, Math.round(top * k)),
          width: size,
          height: size,
        });
        images.push(img);
      }
    }
    return Promise.all(images.map((img) => img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })));
  };
  try {
    file = await readFile(item.path);
    raws = await run(file);
  } catch (e) {
    throw new Error(`cannot read image '${item.path}': ${await decodeFailure(e as Error, file, run)}`);
  }
  const normalize = options.normalize ?? true;
  return raws.map(({ data, info }, i) => {
    const size = sizes[i];
    if (info.width !== size || info.height !== size) throw new Error(`cannot read image '${item.path}': decoded to ${info.width}×${info.height}, expected ${size}×${size}`);
    const c = info.channels;
    const out = new Float32Array(size * size * 3);
    for (let p = 0, q = 0; p < size * size; p++, q += c) {
      for (let k = 0; k < 3; k++) {
        const v = data[q + (c >= 3 ? k : 0)];
        out[p * 3 + k] = normalize ? (v / 255 - IMAGENET_MEAN[k]) / IMAGENET_STD[k] : v;
      }
    }
    return out;
  });
}

/**
 * Inverse of the ImageNet normalisation of {@link loadImage}: normalised floats back to RGB
 * bytes (rounded and clamped to [0, 255]), e.g. to save an input or a resampled image.
 *
 * @param values Interleaved RGB values, channels last: `[height, width, 3]` flattened (or
 *   `[batch, height, width, 3]`); the channel of value `i` is `i % 3`.
 * @returns the bytes, same length and layout (e.g. for `sharp(bytes, { raw: { width, height, channels: 3 } })`).
 */
export function denormalize(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const k = i % 3;
    out[i] = Math.max(0, Math.min(255, Math.round((values[i] * IMAGENET_STD[k] + IMAGENET_MEAN[k]) * 255)));
  }
  return out;
}
