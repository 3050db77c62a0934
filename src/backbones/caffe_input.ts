/**
 * Keras' "caffe" preprocessing inside the model: {@link withCaffePreprocessing}.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describeValue, fail, formatShape } from '../ops/validation';

/** ImageNet channel means (R, G, B) on [0, 1] values, the pipeline's normalisation. */
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
/** ImageNet channel standard deviations (R, G, B) on [0, 1] values. */
const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * Keras' "caffe" channel means (B, G, R) on 0–255 values, which `keras.applications.resnet50`
 * (`preprocess_input`) subtracts after flipping RGB to BGR: `[103.939, 116.779, 123.68]`.
 */
export const CAFFE_MEAN_BGR: readonly [number, number, number] = [103.939, 116.779, 123.68];

/**
 * Puts Keras' "caffe" preprocessing in front of a backbone, so that it takes the images every
 * other backbone takes here: RGB normalised with the ImageNet mean and standard deviation (what
 * `ImagePipeline` and `loadImage` of `s3n-layers/node` produce). A fixed 1×1 convolution
 * (not trainable) maps each pixel `x` (RGB, `(v/255 − mean)/std`) to `[B, G, R]` of
 * `255·(x·std + mean) − CAFFE_MEAN_BGR`: exactly Keras' `preprocess_input` of the original
 * 0–255 pixel, in float32. Use it for Keras ImageNet weights ({@link resnet50} with
 * `loadKerasWeights`) after loading them; since the conversion is part of the model, a saved S3N
 * checkpoint, its evaluation and its pictures need no other preprocessing setting.
 *
 * @param backbone A `tf.LayersModel` `[batch, H, W, 3]` (BGR, caffe) → features.
 * @returns A `tf.LayersModel` `[batch, H, W, 3]` (RGB, ImageNet mean/std) → the same features,
 *   sharing the backbone's weights; its first layer is `caffe_preprocess`.
 *
 * @example
 * ```ts
 * const keras = resnet50({ inputSize: 448 });
 * await loadKerasWeights(keras, 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5');
 * const s3n = S3N.create(withCaffePreprocessing(keras), { classes: 200 });
 * ```
 */
export function withCaffePreprocessing(backbone: tfl.LayersModel): tfl.LayersModel {
  const fn = 'withCaffePreprocessing';
  if (!(backbone instanceof tfl.LayersModel)) fail(fn, 'backbone', 'a tf.LayersModel', describeValue(backbone));
  const shape = backbone.inputs.length === 1 ? backbone.inputs[0].shape : [];
  if (shape.length !== 4 || shape[3] !== 3) {
    fail(fn, 'backbone', 'a model with one input [batch, height, width, 3]', `input shape ${backbone.inputs.map((i) => formatShape(i.shape)).join(', ')}`);
  }
  // kernel[0, 0, in, out]: output channel k (B, G, R) reads input channel 2 − k (R, G, B).
  const kernel = new Float32Array(9);
  const bias = new Float32Array(3);
  for (let k = 0; k < 3; k++) {
    const c = 2 - k;
    kernel[c * 3 + k] = 255 * IMAGENET_STD[c];
    bias[k] = 255 * IMAGENET_MEAN[c] - CAFFE_MEAN_BGR[k];
  }
  const input = tfl.input({ shape: shape.slice(1) as number[], name: 'rgb_imagenet_input' });
  const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 1, name: 'caffe_preprocess', trainable: false });
  const x = conv.apply(input) as tfl.SymbolicTensor;
  const weights = [tf.tensor4d(kernel, [1, 1, 3, 3]), tf.tensor1d(bias)];
  conv.setWeights(weights);
  tf.dispose(weights);
  return tfl.model({ inputs: input, outputs: backbone.apply(x) as tfl.SymbolicTensor, name: `${backbone.name}_caffe` });
}
