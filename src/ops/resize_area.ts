/**
 * Area (box-filter) downsampling: each output pixel is the mean of the input pixels its area
 * covers, partial pixels weighted by the covered fraction (OpenCV's `INTER_AREA`, PIL's `BOX`).
 * Antialiased by construction, unlike `tf.image.resizeBilinear`, which reads only the 2×2
 * pixels nearest each output point and so aliases fine detail when the factor is 2 or more.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkFloat, checkTensor, fail, toSize2d } from './validation';

/**
 * `[out, size]` weights of an area resize along one axis: row `i` averages the input interval
 * `[i·size/out, (i+1)·size/out)`; each row sums to 1.
 */
function areaWeights(size: number, out: number): Float32Array {
  const w = new Float32Array(out * size);
  const scale = size / out;
  for (let i = 0; i < out; i++) {
    const lo = i * scale;
    const hi = (i + 1) * scale;
    for (let j = Math.floor(lo); j < Math.min(size, Math.ceil(hi)); j++) {
      const covered = Math.min(hi, j + 1) - Math.max(lo, j);
      if (covered > 0) w[i * size + j] = covered / scale;
    }
  }
  return w;
}

/**
 * Downsamples images by area averaging to `size` (each side at most the image's). An integer
 * factor on both sides is an average pooling with window and stride equal to the factor;
 * other factors average the covered input area exactly (two matrix products). The same size
 * returns a copy. Differentiable (a linear map of the image).
 *
 * @param images `[batch, height, width, channels]` float32.
 * @param size Output `[height, width]` (or one number for both), each side `<=` the input's.
 * @returns `[batch, outHeight, outWidth, channels]`.
 *
 * @example
 * ```ts
 * const source = tf.randomUniform([2, 896, 896, 3]) as tf.Tensor4D;
 * const images = ops.resizeArea(source, 448); // [2, 448, 448, 3], the mean of each 2×2 block
 * ```
 */
export function resizeArea(images: tf.Tensor4D, size: number | [number, number]): tf.Tensor4D {
  const fn = 'resizeArea';
  checkTensor(fn, 'images', images, 4, '[batch, height, width, channels]');
  checkFloat(fn, 'images', images);
  const [oh, ow] = toSize2d(fn, 'size', size);
  const [batch, h, w, c] = images.shape;
  if (oh > h || ow > w) fail(fn, 'size', `at most the images' size ${h}×${w} (an area resize only shrinks)`, `${oh}×${ow}`);
  if (oh === h && ow === w) return tf.clone(images);
  if (h % oh === 0 && w % ow === 0) return tf.avgPool(images, [h / oh, w / ow], [h / oh, w / ow], 'valid');
  return tf.tidy(() => {
    // Rows: [oh, h] · [h, batch·w·c]; then columns: [ow, w] · [w, batch·oh·c].
    const rows = tf.matMul(tf.tensor2d(areaWeights(h, oh), [oh, h]), tf.reshape(tf.transpose(images, [1, 0, 2, 3]), [h, batch * w * c]));
    const byCol = tf.reshape(tf.transpose(tf.reshape(rows, [oh, batch, w, c]), [2, 1, 0, 3]), [w, batch * oh * c]);
    const cols = tf.matMul(tf.tensor2d(areaWeights(w, ow), [ow, w]), byCol);
    return tf.transpose(tf.reshape(cols, [ow, batch, oh, c]), [1, 2, 0, 3]) as tf.Tensor4D;
  });
}
