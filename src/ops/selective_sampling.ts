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
  /** Gate parameters, see {@link decisionMap}. */
  topK?: number;
  entropyThreshold?: number;
  /** Class logits `[batch, classes]` for the gate (default: spatial mean of the maps). */
  classScores?: tf.Tensor2D;
  /** Saliency-sampler parameters, see {@link saliencyGrid}. */
  paddingSize?: number;
  fwhm?: number;
  /** A learnable `[2·paddingSize+1, 2·paddingSize+1]` sampler filter (the authors learn it). */
  filter?: tf.Tensor2D;
  /** Draws for `'random'`, `[batch, size, size]`, or a seed for them. */
  randomValues?: tf.Tensor3D;
  seed?: number;
}

export interface SelectiveSamplingResult {
  /** Discriminative (zoomed) image `[batch, outHeight, outWidth, channels]`. */
  zoomImage: tf.Tensor4D;
  /** Complementary image `[batch, outHeight, outWidth, channels]`. */
  inverseImage: tf.Tensor4D;
  /** Sampling grids `[batch, outHeight, outWidth, 2]`, last dim (x, y) in [-1, 1]. */
  zoomGrid: tf.Tensor4D;
  inverseGrid: tf.Tensor4D;
  /** Saliency maps `[batch, size, size]`. */
  zoomSaliency: tf.Tensor3D;
  inverseSaliency: tf.Tensor3D;
  /** Normalised decision map `[batch, size, size]` and its peak mask (0/1). */
  decision: tf.Tensor3D;
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
 * @param image `[batch, height, width, channels]`.
 * @param classResponseMaps `[batch, size, size, classes]`, treated as constants.
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
    const batch = image.shape[0];
    const both = tf.concat([attention.zoom, attention.inverse], 0) as tf.Tensor3D;
    const grids = saliencyGrid(both, {
      outputSize,
      paddingSize: options.paddingSize,
      fwhm: options.fwhm,
      filter: options.filter,
    });
    const [zoomGrid, inverseGrid] = tf.split(grids, [batch, batch], 0) as [tf.Tensor4D, tf.Tensor4D];
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
