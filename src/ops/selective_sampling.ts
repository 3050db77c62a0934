/**
 * Selective sparse sampling, end to end (paper sec. 3; the authors' `S3N.generate_map`):
 * class response maps → decision map → peaks → discriminative and complementary saliency maps →
 * sampling grids → the two resampled images. Batch-vectorised: no loop over samples or peaks
 * and no host synchronisation, so it runs inside a training step on any backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decisionMap } from './decision_map';
import { gridSample } from './grid_sample';
import { saliencyGrid } from './saliency_grid';
import { sparseAttentionMaps, AttentionMode } from './sparse_attention';
import { checkFloat, checkTensor, fail, toSize2d, ScalarLike } from './validation';

/**
 * Options of {@link selectiveSparseSampling}: the union of the gate ({@link DecisionMapOptions}),
 * attention ({@link SparseAttentionOptions}) and sampler ({@link SaliencyGridOptions}) options,
 * with the same defaults.
 */
export interface SelectiveSamplingOptions {
  /** Peak assignment (`'all'`, `'random'`, `'extreme'`). Default `'all'`. */
  mode?: AttentionMode;
  /** Discriminative radius (fraction of the map size); a tensor to learn it. Default 0.09. */
  radius?: ScalarLike;
  /** Complementary radius; a tensor to learn it. Default 0.3. */
  radiusInv?: ScalarLike;
  /** Constant floor of both saliency maps. Default 0.09. */
  baseRatio?: ScalarLike;
  /** Size of the resampled images. Default: the input image's `[height, width]`. */
  outputSize?: number | [number, number];
  /** Gate: how many top classes take part, see {@link decisionMap}. Default 5. */
  topK?: number;
  /** Gate: entropy threshold δ, see {@link DecisionMapOptions.entropyThreshold}. Default 0.2. */
  entropyThreshold?: number;
  /** Class logits `[batch, classes]` for the gate (default: spatial mean of the maps). */
  classScores?: tf.Tensor2D;
  /** Replicate padding of the saliency maps in the sampler, see {@link saliencyGrid}. Default 30. */
  paddingSize?: number;
  /** Full width at half maximum of the sampler's fixed Gaussian filter (when no `filter`). Default 13. */
  fwhm?: number;
  /** A learnable `[2·paddingSize+1, 2·paddingSize+1]` sampler filter (the authors learn it). */
  filter?: tf.Tensor2D;
  /** Uniform draws for `'random'`, `[batch, size, size]` (default: drawn with `seed`). */
  randomValues?: tf.Tensor3D;
  /** Seed of the draws of `'random'` when `randomValues` is not given. Unseeded by default. */
  seed?: number;
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
 * Runs the selective sparse sampling of S3N.
 *
 * The class response maps must already be at the sampler's grid size (`size × size`, 31 in
 * S3N; upsample the backbone's maps with `tf.image.resizeBilinear(crm, [31, 31], true)`).
 * The image can be larger than `outputSize`: the grids are resolution-free, so zooming then
 * gains real pixels.
 *
 * Sections 3.1–3.3 of the paper in one call, without learnable state: pass the radii (and the
 * sampler filter) as variables to learn them, as the {@link SparseAttention} and
 * {@link SaliencySampler} layers do.
 *
 * @param image `[batch, height, width, channels]`.
 * @param classResponseMaps `[batch, size, size, classes]`, treated as constants.
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
  checkTensor(fn, 'classResponseMaps', classResponseMaps, 4, '[batch, size, size, classes]');
  if (classResponseMaps.shape[0] !== image.shape[0]) {
    fail(fn, 'classResponseMaps', `a batch of ${image.shape[0]} like image`, `a batch of ${classResponseMaps.shape[0]}`);
  }
  const outputSize = toSize2d(fn, 'outputSize', options.outputSize ?? [image.shape[1], image.shape[2]]);

  return tf.tidy(() => {
    const { decision } = decisionMap(classResponseMaps, {
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
    // One grid per map (not one call on both maps and a split: the split copies the full-size
    // grids, which costs more than the second set of small 31×31 products).
    const grid = (saliency: tf.Tensor3D) =>
      saliencyGrid(saliency, { outputSize, paddingSize: options.paddingSize, fwhm: options.fwhm, filter: options.filter });
    const zoomGrid = grid(attention.zoom);
    const inverseGrid = grid(attention.inverse);
    const sample = (grid: tf.Tensor4D) => gridSample(image, grid, { mode: 'bilinear', paddingMode: 'zeros', alignCorners: true });
    return {
      zoomImage: sample(zoomGrid),
      inverseImage: sample(inverseGrid),
      zoomGrid,
      inverseGrid,
      zoomSaliency: attention.zoom,
      inverseSaliency: attention.inverse,
      decision,
      peaks: attention.peaks,
    };
  });
}
