import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CAFFE_MEAN_BGR, withCaffePreprocessing } from '../../src/backbones/caffe_input';
import { smallResNet } from '../../src/backbones/resnet';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

describe('withCaffePreprocessing', () => {
  it("turns the pipeline's RGB ImageNet-normalised pixels into Keras' caffe input: BGR, 0–255 minus [103.939, 116.779, 123.68]", () => {
    // An identity "backbone" shows what the wrapped model feeds it.
    const inp = tfl.input({ shape: [2, 3, 3] });
    const identity = tfl.model({ inputs: inp, outputs: tfl.layers.activation({ activation: 'linear' }).apply(inp) as tfl.SymbolicTensor, name: 'identity' });
    const wrapped = withCaffePreprocessing(identity);
    expect(wrapped.name).toBe('identity_caffe');
    expect(wrapped.trainableWeights).toHaveLength(0);
    expect(wrapped.getLayer('caffe_preprocess').trainable).toBe(false);
    const pixels = [0, 255, 17, 128, 64, 200, 1, 2, 3, 250, 100, 50, 33, 66, 99, 12, 34, 56]; // [1,2,3,3] RGB bytes
    const normalised = pixels.map((v, i) => (v / 255 - MEAN[i % 3]) / STD[i % 3]);
    const caffe = pixels.map((_, i) => pixels[i - (i % 3) + 2 - (i % 3)] - CAFFE_MEAN_BGR[i % 3]);
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(normalised, [1, 2, 3, 3]);
    const y = wrapped.predict(x) as tf.Tensor;
    const got = Array.from(y.dataSync());
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before);
    got.forEach((v, i) => expect(Math.abs(v - caffe[i])).toBeLessThan(1e-4));
    expect(CAFFE_MEAN_BGR).toEqual([103.939, 116.779, 123.68]);
    wrapped.dispose();
  });

  it('shares the backbone and refuses what is not a 3-channel image model', () => {
    const backbone = smallResNet({ inputSize: 16, widths: [4], seed: 1 });
    const wrapped = withCaffePreprocessing(backbone);
    expect(wrapped.inputs[0].shape).toEqual([null, 16, 16, 3]);
    expect(wrapped.outputs[0].shape).toEqual(backbone.outputs[0].shape);
    expect(wrapped.trainableWeights.length).toBe(backbone.trainableWeights.length);
    expect(() => withCaffePreprocessing({} as tfl.LayersModel)).toThrow('withCaffePreprocessing: backbone must be a tf.LayersModel, but got an object with keys {}.');
    const grey = tfl.input({ shape: [8, 8, 1] });
    expect(() => withCaffePreprocessing(tfl.model({ inputs: grey, outputs: grey }))).toThrow(
      'withCaffePreprocessing: backbone must be a model with one input [batch, height, width, 3], but got input shape [null,8,8,1].',
    );
    wrapped.dispose();
  });
});
