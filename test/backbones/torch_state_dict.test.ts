// assignTorchStateDict on state dicts built in memory: the layouts (conv, depthwise, linear,
// batch norm), what is ignored, and the exact messages of refused state dicts, which leave the
// model untouched and no tensor behind.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { assignTorchStateDict, torchKeyOf } from '../../src/backbones/torch_state_dict';
import { torchvisionResNet } from '../../src/backbones/torchvision_resnet';
import type { RawTensor, StateDict } from '../../src/io/state_dict';
import { weightDifferences, weightSnapshot } from './torch_helpers';

/**
 * A PyTorch-layout state dict for every weight of `model` (distinct values per position and
 * weight, made without a global lookup in the loop: those are slow in jest's vm context), plus
 * what torchvision adds.
 */
function stateDictFor(model: tfl.LayersModel, extras = true): StateDict {
  const sd: StateDict = new Map();
  let k = 0;
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      const kind = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      const key = torchKeyOf(layer.name, layer.getClassName(), kind) as string;
      const s = w.shape as number[];
      const shape = s.length === 4 ? (kind === 'depthwise_kernel' ? [s[2] * s[3], 1, s[0], s[1]] : [s[3], s[2], s[0], s[1]]) : s.length === 2 ? [s[1], s[0]] : s;
      const n = shape.reduce((a, b) => a * b, 1);
      const kk = k++;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = ((i * 7 + kk * 13) % 101) / 50 - 1;
      sd.set(key, { shape, dtype: 'float32', data });
      if (kind === 'moving_variance') sd.set(`${layer.name}.num_batches_tracked`, { shape: [], dtype: 'int64', data: new Float64Array([100]) });
    }
  }
  if (extras) {
    sd.set('fc.weight', { shape: [1000, 512], dtype: 'float32', data: new Float32Array(512000) });
    sd.set('fc.bias', { shape: [1000], dtype: 'float32', data: new Float32Array(1000) });
  }
  return sd;
}

const values = weightSnapshot;
const differences = weightDifferences;

describe('assignTorchStateDict', () => {
  let model: tfl.LayersModel;
  beforeAll(() => {
    model = torchvisionResNet(18, { inputSize: 32, initializer: 'zeros' });
  });
  afterAll(() => model.dispose());

  it('transposes conv weights [out,in,kh,kw] → [kh,kw,in,out], loads BN weight/bias/running_mean/running_var, ignores num_batches_tracked and fc.*', () => {
    const sd = stateDictFor(model);
    const before = tf.memory().numTensors;
    const report = assignTorchStateDict(model, sd);
    expect(tf.memory().numTensors).toBe(before);
    expect(report.loaded).toHaveLength(20 + 4 * 20); // 20 convs, 20 BNs × 4 arrays
    expect(report.loaded.slice(0, 5)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var']);
    expect(report.ignored).toHaveLength(22);
    expect(report.ignored[0]).toEqual({ key: 'bn1.num_batches_tracked', reason: 'num_batches_tracked is a PyTorch training counter, not a weight' });
    expect(report.ignored.slice(-2)).toEqual([
      { key: 'fc.weight', reason: "the model has no classifier 'fc' (a backbone without the file's head)" },
      { key: 'fc.bias', reason: "the model has no classifier 'fc' (a backbone without the file's head)" },
    ]);
    // conv1.weight [64,3,7,7]: element (o=5, i=2, kh=1, kw=4) lands at kernel[1,4,2,5].
    const torch = sd.get('conv1.weight') as RawTensor;
    const kernel = model.getLayer('conv1').getWeights()[0];
    expect(kernel.shape).toEqual([7, 7, 3, 64]);
    expect(kernel.bufferSync().get(1, 4, 2, 5)).toBe(torch.data[((5 * 3 + 2) * 7 + 1) * 7 + 4]);
    const transposed = tf.tidy(() => tf.transpose(tf.tensor(torch.data as Float32Array, torch.shape), [2, 3, 1, 0]).dataSync() as Float32Array);
    expect(differences([kernel.dataSync() as Float32Array], [transposed])).toBe(0);
    const [gamma, beta, mean, variance] = model.getLayer('layer2.0.bn1').getWeights().map((w) => Array.from(w.dataSync()));
    expect([gamma, beta, mean, variance]).toEqual(['weight', 'bias', 'running_mean', 'running_var'].map((p) => Array.from((sd.get(`layer2.0.bn1.${p}`) as RawTensor).data)));
    // The model keeps its own copies: changing the state dict afterwards does not reach it.
    (sd.get('bn1.weight') as RawTensor).data[0] = 42;
    expect(model.getLayer('bn1').getWeights()[0].dataSync()[0]).not.toBe(42);
  });

  it('linear [out,in] → [in,out]; depthwise [in·m,1,kh,kw] → [kh,kw,in,m]; float64 arrays are converted', () => {
    const input = tfl.input({ shape: [5, 5, 2] });
    const dw = tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, useBias: true, name: 'features.0' }).apply(input) as tfl.SymbolicTensor;
    const flat = tfl.layers.flatten({ name: 'flatten' }).apply(dw) as tfl.SymbolicTensor;
    const fc = tfl.layers.dense({ units: 3, name: 'classifier.1' }).apply(flat) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: input, outputs: fc, name: 'tiny' });
    const sd = stateDictFor(m, false);
    const w = sd.get('classifier.1.weight') as RawTensor;
    sd.set('classifier.1.weight', { ...w, dtype: 'float64', data: Float64Array.from(w.data) });
    expect((sd.get('features.0.weight') as RawTensor).shape).toEqual([4, 1, 3, 3]);
    const report = assignTorchStateDict(m, sd);
    expect(report).toEqual({ loaded: ['features.0.weight', 'features.0.bias', 'classifier.1.weight', 'classifier.1.bias'], ignored: [] });
    const dwKernel = m.getLayer('features.0').getWeights()[0];
    const dwTorch = (sd.get('features.0.weight') as RawTensor).data;
    // Output channel c·m + j of torch (c = 1, j = 1 → 3), tap (kh=2, kw=0) → tfjs [2, 0, 1, 1].
    expect(dwKernel.bufferSync().get(2, 0, 1, 1)).toBe(dwTorch[3 * 9 + 2 * 3 + 0]);
    const fcKernel = m.getLayer('classifier.1').getWeights()[0];
    expect(fcKernel.shape).toEqual([36, 3]);
    expect(fcKernel.bufferSync().get(17, 2)).toBe(Math.fround(w.data[2 * 36 + 17]));
    m.dispose();
  });

  describe('refuses a state dict that does not fit, with one message listing every problem, and changes nothing', () => {
    const refused = (mutate: (sd: StateDict) => void, options?: Parameters<typeof assignTorchStateDict>[2]): string => {
      const sd = stateDictFor(model);
      mutate(sd);
      const weights = values(model);
      const before = tf.memory().numTensors;
      let message = '';
      try {
        assignTorchStateDict(model, sd, options);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(tf.memory().numTensors).toBe(before);
      expect(differences(values(model), weights)).toBe(0);
      return message;
    };
    beforeAll(() => {
      // Non-zero weights to compare with.
      assignTorchStateDict(model, stateDictFor(model));
    });

    it('a shape mismatch names the key, the expected and the found shape', () => {
      expect(refused((sd) => sd.set('conv1.weight', { shape: [64, 3, 3, 3], dtype: 'float32', data: new Float32Array(64 * 27) }))).toBe(
        "assignTorchStateDict: the state dict does not fit the model 'torchvision_resnet18'. Nothing was loaded. 1 problem:\n" +
          "  - shape mismatch 'conv1.weight': the model's layer 'conv1' expects [64,3,7,7], the file has [64,3,3,3]",
      );
    });

    it('an unknown key, a key of a known layer the layer lacks, and a missing key', () => {
      const message = refused(
        (sd) => {
          sd.set('layer5.0.conv1.weight', { shape: [2, 2], dtype: 'float32', data: new Float32Array(4) });
          sd.set('conv1.bias', { shape: [64], dtype: 'float32', data: new Float32Array(64) });
          sd.delete('layer1.0.bn1.running_var');
        },
        { source: '/x/r18.pth', caller: 'loadTorchWeights' },
      );
      expect(message).toBe(
        "loadTorchWeights: /x/r18.pth does not fit the model 'torchvision_resnet18'. Nothing was loaded. 3 problems:\n" +
          "  - unexpected 'layer5.0.conv1.weight' [2,2]: the model has no layer 'layer5.0.conv1'\n" +
          "  - unexpected 'conv1.bias' [64]: the model's layer 'conv1' (Conv2D) has no 'bias'\n" +
          "  - missing 'layer1.0.bn1.running_var': the model's layer 'layer1.0.bn1' (BatchNormalization) expects [64]",
      );
    });

    it('non-float, non-finite and wrongly sized arrays', () => {
      expect(
        refused((sd) => {
          sd.set('bn1.weight', { shape: [64], dtype: 'int64', data: new Float64Array(64) });
          const nan = new Float32Array(64);
          nan[3] = NaN;
          nan[9] = -Infinity;
          sd.set('bn1.bias', { shape: [64], dtype: 'float32', data: nan });
          sd.set('bn1.running_mean', { shape: [64], dtype: 'float32', data: new Float32Array(63) });
        }),
      ).toBe(
        "assignTorchStateDict: the state dict does not fit the model 'torchvision_resnet18'. Nothing was loaded. 3 problems:\n" +
          "  - 'bn1.weight' has dtype int64, but a weight must be float32 (or float64)\n" +
          "  - 'bn1.bias' holds 2 non-finite values (NaN or ±Infinity)\n" +
          "  - 'bn1.running_mean' has shape [64] (64 values) but holds 63 values",
      );
    });

    it('lists the first ten problems and counts the rest', () => {
      const message = refused((sd) => [...sd.keys()].filter((k) => k.startsWith('layer4.')).forEach((k) => sd.delete(k)));
      const lines = message.split('\n');
      expect(lines[0]).toBe(
        "assignTorchStateDict: the state dict does not fit the model 'torchvision_resnet18' (the file holds a ResNet with BasicBlocks [2,2,2,0], the model is a ResNet-18 (BasicBlocks [2,2,2,2]): a checkpoint of another depth?). Nothing was loaded. 25 problems:",
      );
      expect(lines.slice(1, 3)).toEqual([
        "  - missing 'layer4.0.conv1.weight': the model's layer 'layer4.0.conv1' (Conv2D) expects [512,256,3,3]",
        "  - missing 'layer4.0.bn1.weight': the model's layer 'layer4.0.bn1' (BatchNormalization) expects [512]",
      ]);
      expect(lines).toHaveLength(12);
      expect(lines[11]).toBe('  … and 15 more');
    });

    it('says so when every key has the DataParallel prefix module.', () => {
      const message = refused((sd) => {
        const entries = [...sd.entries()];
        sd.clear();
        entries.forEach(([k, v]) => sd.set(`module.${k}`, v));
      });
      expect(message.split('\n')[0]).toBe(
        "assignTorchStateDict: the state dict does not fit the model 'torchvision_resnet18' (every key starts with 'module.': saved from nn.DataParallel; save model.module.state_dict() instead). Nothing was loaded. 202 problems:",
      );
    });
  });

  it('refuses bad arguments', () => {
    expect(() => assignTorchStateDict({} as tfl.LayersModel, new Map())).toThrow('assignTorchStateDict: model must be a tf.LayersModel, but got an object with keys {}.');
    expect(() => assignTorchStateDict(model, {} as StateDict)).toThrow(
      'assignTorchStateDict: stateDict must be a StateDict (a Map from weight names to {shape, dtype, data}), but got an object with keys {}.',
    );
    expect(() => assignTorchStateDict(model, new Map(), { classifier: 'fc' as unknown as string[] })).toThrow("assignTorchStateDict: options.classifier must be an array of module names, but got 'fc'.");
    expect(() => assignTorchStateDict(model, new Map(), { caller: '' })).toThrow("assignTorchStateDict: options.caller must be a non-empty string, but got ''.");
  });
});
