// loadKerasWeights on Keras-layout .h5 files written at test time with h5py (keras_h5.py): into
// resnet50() by layer name and weight order, values exact; split attributes and model.save's
// /model_weights layout; refused files (shape mismatch, missing and unknown layers, not HDF5)
// change nothing and leak nothing. h5wasm cannot be imported by Jest's CommonJS runtime, so
// keras_child.ts does the loading in a child Node process and this file checks its JSON.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describeWithPython, NEEDS_H5PY } from './torch_helpers';

const ROOT = path.join(__dirname, '..', '..');

describeWithPython(
  'loadKerasWeights on Keras-layout .h5 files written by h5py',
  (dir) => {
    let out: any;
    beforeAll(() => {
      const json = execFileSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'keras_child.ts'), dir()], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
      out = JSON.parse(json);
    }, 120000);

    it("loads every weight of resnet50() exactly (no transpose), skips layers without weights, ignores Keras' classifier 'predictions' and says so", () => {
      const r = out.resnet50['weights.h5'];
      expect(out.resnet50.layers).toBe(106);
      expect(r).toEqual({
        loaded: 318,
        firstLoaded: ['conv1_conv/kernel:0', 'conv1_conv/bias:0', 'conv1_bn/gamma:0'],
        ignored: [
          { key: 'predictions/kernel:0', reason: "the model has no classifier 'predictions' (a backbone without the file's head)" },
          { key: 'predictions/bias:0', reason: "the model has no classifier 'predictions' (a backbone without the file's head)" },
        ],
        format: 'keras-h5',
        wrongValues: 0,
        leaked: 0,
      });
    });

    it('reads layer_names / weight_names split into name0, name1 under /model_weights', () => {
      expect(out.small['split.h5']).toEqual({
        loaded: 36,
        firstLoaded: ['stem_conv/kernel:0', 'stem_conv/bias:0', 'stem_bn/gamma:0'],
        ignored: [],
        format: 'keras-h5',
        wrongValues: 0,
        leaked: 0,
      });
    });

    it('refuses a shape mismatch, a missing and an unknown layer, and a file that is not HDF5: exact messages, nothing changed, nothing leaked', () => {
      const small = path.join(dir(), 'small');
      expect(out.small['bad_shape.h5']).toEqual({
        error:
          `loadKerasWeights: ${small}/bad_shape.h5 does not fit the model 'small_resnet'. Nothing was loaded. 1 problem:\n` +
          "  - shape mismatch 'stem_conv/kernel:0': the model's layer 'stem_conv' expects [3,3,3,4], the file has [3,3,3,2]",
        changedValues: 0,
        leaked: 0,
      });
      expect(out.small['missing.h5']).toEqual({
        error:
          `loadKerasWeights: ${small}/missing.h5 does not fit the model 'small_resnet'. Nothing was loaded. 2 problems:\n` +
          "  - unexpected layer 'dense_9' (dense_9/kernel:0 [4,2]): the model has no layer of that name\n" +
          "  - missing layer 'stage2_block1_2_bn' (BatchNormalization): the model expects gamma [8], beta [8], moving_mean [8], moving_variance [8]",
        changedValues: 0,
        leaked: 0,
      });
      expect(out.small['not_h5.h5']).toEqual({
        error: `loadKerasWeights: ${small}/not_h5.h5 is not an HDF5 file: it starts with bytes 50 4b 03 04 20 61 20 7a, not the HDF5 signature 89 48 44 46 0d 0a 1a 0a`,
        changedValues: 0,
        leaked: 0,
      });
    });

    it('loadTorchWeights given a Keras file says which loader to use', () => {
      expect(out.torchLoaderOnH5).toBe(
        `loadTorchWeights: ${dir()}/resnet50/weights.h5 is a Keras .h5 file, not a PyTorch state dict: load it with loadKerasWeights into a Keras-named model (resnet50()).`,
      );
    });
  },
  NEEDS_H5PY,
);
