/**
 * Selective sparse sampling, end to end (paper sec. 3; the authors' `S3N.generate_map`):
 * class response maps → decision map → peaks → discriminative and complementary saliency maps →
 * sampling grids → the two resampled images. Batch-vectorised: no loop over samples or peaks
 * and no host synchronisation, so it runs inside a training step on any backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decisionMap } from './decision_map';
import { gridSample, GridSampleOptions } from './grid_sample';
import { saliencyGrid } from './saliency_grid';
import { sparseAttentionMaps, AttentionMode, SparseAttentionResult } from './sparse_attention';
import { stopGradient } from './stop_gradient';
import { checkFloat, checkInteger, checkTensor, fail, toSize2d, ScalarLike } from './validation';

/**
 * Options of {@link selectiveSparseSampling}: the union of the gate ({@link DecisionMapOptions}),
 * attention ({@link SparseAttentionOptions}) and sampler ({@link SaliencyGridOptions}) options,
 * with the same defaults.
 */
export interface SelectiveSamplingOptions extends SelectiveAttentionOptions, SaliencyResampleOptions {}

/** Options of {@link selectiveAttention} (§3.1–3.2); every option has S3N's default. */
export interface SelectiveAttentionOptions {
  /**
   * Side of the square saliency maps. The class response maps are resized to it (bilinear,
   * corners aligned, as the authors' `F.interpolate`) when they have another size. Default:
   * the maps' own size (they must then be square).
   */
  gridSize?: number;
  /** Peak assignment (`'all'`, `'random'`, `'extreme'`). Default `'all'`. */
  mode?: AttentionMode;
  /** Discriminative radius (fraction of the map size); a tensor to learn it. Default 0.09. */
  radius?: ScalarLike;
  /** Complementary radius; a tensor to learn it. Default 0.3. */
  radiusInv?: ScalarLike;
  /** Constant floor of both saliency maps. Default 0.09. */
  baseRatio?: ScalarLike;
  /** Gate: how many top classes take part, see {@link decisionMap}. Default 5. */
  topK?: number;
  /** Gate: entropy threshold δ, see {@link DecisionMapOptions.entropyThreshold}. Default 0.2. */
  entropyThreshold?: number;
  /** Class logits `[batch, classes]` for the gate (default: spatial mean of the maps). */
  classScores?: tf.Tensor2D;
  /** Uniform draws for `'random'`, `[batch, size, size]` (default: drawn with `seed`). */
  randomValues?: tf.Tensor3D;
  /** Seed of the draws of `'random'` when `randomValues` is not given. Unseeded by default. */
  seed?: number;
}

/** Options of {@link saliencyResample} (§3.3); every option has S3N's default. */
export interface SaliencyResampleOptions {
  /** Size of the resampled images. Default: the input image's `[height, width]`. */
  outputSize?: number | [number, number];
  /** Replicate padding of the saliency maps in the sampler, see {@link saliencyGrid}. Default 30. */
  paddingSize?: number;
  /** Full width at half maximum of the sampler's fixed Gaussian filter (when no `filter`). Default 13. */
  fwhm?: number;
  /** A learnable `[2·paddingSize+1, 2·paddingSize+1]` sampler filter (the authors learn it). */
  filter?: tf.Tensor2D;
}

/** The authors' sampling settings (`F.grid_sample` of PyTorch 0.4.1): bilinear, zero padding, corners aligned. */
export const S3N_SAMPLING: Readonly<Required<Omit<GridSampleOptions, 'implementation'>>> = Object.freeze({ mode: 'bilinear', paddingMode: 'zeros', alignCorners: true });

/** What {@link selectiveAttention} returns, each `[batch, size, size]`. */
export interface SelectiveAttentionResult extends SparseAttentionResult {
  /** Normalised decision map (§3.1). */
  decision: tf.Tensor3D;
}

/**
 * Sections 3.1–3.2: class response maps → (resized to `gridSize`) → decision map with the
 * entropy gate ({@link decisionMap}) → peaks → discriminative and complementary saliency maps
 * ({@link sparseAttentionMaps}). The maps are constants here (the authors compute them under
 * `no_grad`); gradients reach `radius`, `radiusInv` and `baseRatio` when they are tensors.
 *
 * @param classResponseMaps `[batch, height, width, classes]`.
 * @param options See {@link SelectiveAttentionOptions}.
 * @returns the two saliency maps, the peaks and the decision map, `[batch, size, size]` each.
 *
 * @example
 * ```ts
 * const crms = tf.randomNormal([2, 14, 14, 200]) as tf.Tensor4D;
 * const { zoom, inverse, peaks } = ops.selectiveAttention(crms, { gridSize: 31 }); // [2, 31, 31] each
 * ```
 */
export function selectiveAttention(classResponseMaps: tf.Tensor4D, options: SelectiveAttentionOptions = {}): SelectiveAttentionResult {
  const fn = 'selectiveAttention';
  checkTensor(fn, 'classResponseMaps', classResponseMaps, 4, '[batch, height, width, classes]');
  checkFloat(fn, 'classResponseMaps', classResponseMaps);
  const [, h, w] = classResponseMaps.shape;
  if (options.gridSize !== undefined) checkInteger(fn, 'gridSize', options.gridSize, 3);
  else if (h !== w) fail(fn, 'classResponseMaps', 'square maps, or a gridSize to resize them to', `${h}×${w} maps`);
  const size = options.gridSize ?? h;
  return tf.tidy(() => {
    const crms = stopGradient(classResponseMaps);
    const maps = h === size && w === size ? crms : tf.image.resizeBilinear(crms, [size, size], true);
    const { decision } = decisionMap(maps, {
      topK: options.topK,
      entropyThreshold: options.entropyThreshold,
      classScores: options.classScores,
    });
    const attention = sparseAttentionMaps(decision, {
      mode: options.mode,
      radius: options.radius,
      radiusInv: options.radiusInv,
      baseRatio: options.baseRatio,
      randomValues: options.randomValues,
      seed: options.seed,
    });
    // An unusable decision map (constant or non-finite) is all zeros: it has no peak with a
    // positive score, so both saliency maps stay at baseRatio and both grids are the identity.
    return { ...attention, decision };
  });
}

/**
 * Section 3.3: a saliency map → its sampling grid ({@link saliencyGrid}, the saliency sampler
 * of Recasens et al.) → the image resampled with it ({@link gridSample}, {@link S3N_SAMPLING}).
 * The image can be larger than `outputSize`: the grid is resolution-free, so a zoom then gains
 * real pixels.
 *
 * @param image `[batch, height, width, channels]`.
 * @param saliency `[batch, size, size]`.
 * @param options See {@link SaliencyResampleOptions}.
 * @returns the resampled image `[batch, outHeight, outWidth, channels]` and its grid
 *   `[batch, outHeight, outWidth, 2]`.
 *
 * @example
 * ```ts
 * const { image: zoomed } = ops.saliencyResample(images, zoomSaliency, { outputSize: 448 });
 * ```
 */
export function saliencyResample(
  image: tf.Tensor4D,
  saliency: tf.Tensor3D,
  options: SaliencyResampleOptions = {},
): {
  /** The resampled image `[batch, outHeight, outWidth, channels]`. */
  image: tf.Tensor4D;
  /** The sampling grid `[batch, outHeight, outWidth, 2]`, last dim (x, y) in [-1, 1]. */
  grid: tf.Tensor4D;
} {
  const fn = 'saliencyResample';
  checkTensor(fn, 'image', image, 4, '[batch, height, width, channels]');
  checkFloat(fn, 'image', image);
  const outputSize = toSize2d(fn, 'outputSize', options.outputSize ?? [image.shape[1], image.shape[2]]);
  return tf.tidy(() => {
    const grid = saliencyGrid(saliency, { outputSize, paddingSize: options.paddingSize, fwhm: options.fwhm, filter: options.filter });
    return { image: gridSample(image, grid, S3N_SAMPLING), grid };
  });
}

/** Everything {@link selectiveSparseSampling} computes, from the decision map to the two images. */
export interface SelectiveSamplingResult {
  /** Discriminative (zoomed) image `[batch, outHeight, outWidth, channels]`. */
  zoomImage: tf.Tensor4D;
  /** Complementary image `[batch, outHeight, outWidth, channels]`. */
  inverseImage: tf.Tensor4D;
  /** Sampling grid of the discriminative image, `[batch, outHeight, outWidth, 2]`, last dim (x, y) in [-1, 1]. */
  zoomGrid: tf.Tensor4D;
  /** Sampling grid of the complementary image, `[batch, outHeight, outWidth, 2]`. */
  inverseGrid: tf.Tensor4D;
  /** Discriminative saliency map `[batch, size, size]` (§3.2). */
  zoomSaliency: tf.Tensor3D;
  /** Complementary saliency map `[batch, size, size]` (§3.2). */
  inverseSaliency: tf.Tensor3D;
  /** Normalised decision map `[batch, size, size]` (§3.1). */
  decision: tf.Tensor3D;
  /** Peak mask of the decision map (0/1), `[batch, size, size]`: only peaks with a positive score. */
  peaks: tf.Tensor3D;
}

/**
 * Runs the selective sparse sampling of S3N: {@link selectiveAttention} (§3.1–3.2), then
 * {@link saliencyResample} (§3.3) for each of the two maps. The one composition of the method:
 * the {@link SparseAttention} and {@link SaliencySampler} layers call the same two functions,
 * and {@link S3N.explain} calls this one.
 *
 * The class response maps are resized to `gridSize` (31 in S3N) when it is given and differs.
 * The image can be larger than `outputSize`: the grids are resolution-free, so zooming then
 * gains real pixels.
 *
 * Sections 3.1–3.3 of the paper in one call, without learnable state: pass the radii (and the
 * sampler filter) as variables to learn them, as the layers do.
 *
 * @param image `[batch, height, width, channels]`.
 * @param classResponseMaps `[batch, height, width, classes]`, treated as constants.
 * @param options See {@link SelectiveSamplingOptions}; every option has S3N's default.
 *
 * @example
 * ```ts
 * const image = tf.randomUniform([2, 64, 64, 3]) as tf.Tensor4D;
 * const crms = tf.randomNormal([2, 31, 31, 10]) as tf.Tensor4D;
 * const out = ops.selectiveSparseSampling(image, crms, { mode: 'all' });
 * out.zoomImage;     // [2, 64, 64, 3]
 * out.inverseImage;  // [2, 64, 64, 3]
 * ```
 */
export function selectiveSparseSampling(
  image: tf.Tensor4D,
  classResponseMaps: tf.Tensor4D,
  options: SelectiveSamplingOptions = {},
): SelectiveSamplingResult {
  const fn = 'selectiveSparseSampling';
  checkTensor(fn, 'image', image, 4, '[batch, height, width, channels]');
  checkFloat(fn, 'image', image);
  checkTensor(fn, 'classResponseMaps', classResponseMaps, 4, '[batch, height, width, classes]');
  if (classResponseMaps.shape[0] !== image.shape[0]) {
    fail(fn, 'classResponseMaps', `a batch of ${image.shape[0]} like image`, `a batch of ${classResponseMaps.shape[0]}`);
  }
  if (options.outputSize !== undefined) toSize2d(fn, 'outputSize', options.outputSize);
  return tf.tidy(() => {
    const attention = selectiveAttention(classResponseMaps, options);
    // One grid per map (not one call on both maps and a split: the split copies the full-size
    // grids, which costs more than the second set of small 31×31 products).
    const zoom = saliencyResample(image, attention.zoom, options);
    const inverse = saliencyResample(image, attention.inverse, options);
    return {
      zoomImage: zoom.image,
      inverseImage: inverse.image,
      zoomGrid: zoom.grid,
      inverseGrid: inverse.grid,
      zoomSaliency: attention.zoom,
      inverseSaliency: attention.inverse,
      decision: attention.decision,
      peaks: attention.peaks,
    };
  });
}
