import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { TorchLayerBuilder, torchvisionResNet, TORCHVISION_RESNET_DEPTHS } from '../../src/backbones/torchvision_resnet';
import { torchKeyOf } from '../../src/backbones/torch_state_dict';
import { describeWithPython, torchStateDictKeys } from './torch_helpers';

/** PyTorch key → shape of every weight of a model, via the one naming rule (torchKeyOf) and the torch layout. */
function modelTorchKeys(model: tfl.LayersModel): [string, number[]][] {
  const out: [string, number[]][] = [];
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      const kind = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      const key = torchKeyOf(layer.name, layer.getClassName(), kind);
      if (key === undefined) throw new Error(`no torch key for ${w.originalName}`);
      const s = w.shape as number[];
      out.push([key, s.length === 4 ? [s[3], s[2], s[0], s[1]] : s]);
    }
  }
  return out;
}

/**
 * One model of each depth, [64, 97] input, built once and shared by the tests below (zero
 * weights: drawing random ones is slow under jest, whose vm context makes every global lookup
 * in tfjs' random loops slow).
 */
const built = new Map<number, tfl.LayersModel>();
function model(depth: (typeof TORCHVISION_RESNET_DEPTHS)[number]): tfl.LayersModel {
  if (!built.has(depth)) built.set(depth, torchvisionResNet(depth, { inputSize: [64, 97], initializer: 'zeros' }));
  return built.get(depth) as tfl.LayersModel;
}
afterAll(() => built.forEach((m) => m.dispose()));

describe('torchvisionResNet', () => {
  it.each([
    [18, 512],
    [34, 512],
    [50, 2048],
    [101, 2048],
    [152, 2048],
  ] as const)('ResNet-%i: [B,64,97,3] → [B,2,4,%i] (layer4, ceil(H/32)), BN eps 1e-5 and momentum 0.9, no conv bias', (depth, channels) => {
    const m = model(depth);
    expect(m.name).toBe(`torchvision_resnet${depth}`);
    expect(m.inputs[0].shape).toEqual([null, 64, 97, 3]);
    expect(m.outputs[0].shape).toEqual([null, 2, 4, channels]);
    const bns = m.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    expect(new Set(bns.map((l) => `${l.getConfig().epsilon} ${l.getConfig().momentum}`))).toEqual(new Set(['0.00001 0.9']));
    expect(m.layers.filter((l) => l.getClassName() === 'Conv2D').every((l) => l.getConfig().useBias === false)).toBe(true);
  });

  it('takes a name and a batch-norm momentum, and frees every tensor on dispose', () => {
    const before = tf.memory().numTensors;
    const m = torchvisionResNet(18, { inputSize: 65, batchNormMomentum: 0.99, name: 'odd', initializer: 'zeros' });
    expect(m.outputs[0].shape).toEqual([null, 3, 3, 512]);
    expect(m.name).toBe('odd');
    expect(new Set(m.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.getConfig().momentum))).toEqual(new Set([0.99]));
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('pads stride-2 layers explicitly (PyTorch pads symmetrically, tfjs "same" does not) and keeps "same" only for stride 1', () => {
    const m = model(50);
    const conv = (name: string) => m.getLayer(name).getConfig();
    expect([conv('conv1').padding, conv('conv1').strides, m.getLayer('conv1_pad').getConfig().padding]).toEqual(['valid', [2, 2], [[3, 3], [3, 3]]]);
    expect([conv('layer2.0.conv2').padding, conv('layer2.0.conv2').strides, m.getLayer('layer2.0.conv2_pad').getConfig().padding]).toEqual(['valid', [2, 2], [[1, 1], [1, 1]]]);
    expect([conv('layer2.0.downsample.0').padding, conv('layer2.0.downsample.0').strides]).toEqual(['valid', [2, 2]]);
    expect([conv('layer2.1.conv2').padding, conv('layer2.1.conv2').strides]).toEqual(['same', [1, 1]]);
    // v1.5: the stride is on the 3×3 conv2, not the first 1×1.
    expect(conv('layer3.0.conv1').strides).toEqual([1, 1]);
    expect([m.getLayer('maxpool').getConfig().padding, m.getLayer('maxpool').getConfig().strides, m.getLayer('maxpool_pad').getConfig().padding]).toEqual(['valid', [2, 2], [[1, 1], [1, 1]]]);
    const r18 = model(18);
    expect([r18.getLayer('layer2.0.conv1').getConfig().strides, r18.getLayer('layer2.0.conv1').getConfig().padding]).toEqual([[2, 2], 'valid']);
    expect(r18.layers.some((l) => l.name === 'layer1.0.downsample.0')).toBe(false);
  });

  it("seeds its initialisers (the same seed gives the same weights, each conv seed + its index; He normal with fan-out); 'zeros' gives zero convolutions", () => {
    // On the builder itself (random ResNets take seconds to draw under jest). Seed 4's first conv
    // is seed 3's second: each conv gets seed + its index.
    const draw = (seed: number) => {
      const b = new TorchLayerBuilder(seed, 0.9);
      const x = tfl.input({ shape: [4, 4, 512] });
      const y1 = b.conv(x, 512, 3, 1, 1, `a${seed}`);
      const y2 = b.conv(y1, 512, 3, 1, 1, `b${seed}`);
      const layers = [y1, y2].map((y) => y.sourceLayer as tfl.layers.Layer);
      const data = layers.map((l) => l.getWeights()[0].dataSync().slice());
      layers.forEach((l) => l.dispose());
      return data;
    };
    const [a1, a2] = draw(3);
    const [b1] = draw(3);
    const [c1] = draw(4);
    expect(Array.from(b1.slice(0, 8))).toEqual(Array.from(a1.slice(0, 8)));
    expect(Array.from(a2.slice(0, 8))).not.toEqual(Array.from(a1.slice(0, 8)));
    expect(Array.from(c1.slice(0, 8))).toEqual(Array.from(a2.slice(0, 8)));
    // torchvision: kaiming_normal_(mode='fan_out'): std sqrt(2 / (3·3·512)) (tfjs truncates at 2σ and rescales).
    const std = Math.sqrt((a1 as Float32Array).reduce((s: number, v: number) => s + v * v, 0) / a1.length);
    expect(std).toBeGreaterThan(0.85 * Math.sqrt(2 / (9 * 512)));
    expect(std).toBeLessThan(1.05 * Math.sqrt(2 / (9 * 512)));
    expect(model(18).getLayer('conv1').getWeights()[0].dataSync().every((v) => v === 0)).toBe(true);
  });

  it('refuses bad arguments, naming the function, the argument, the expectation and the value', () => {
    expect(() => torchvisionResNet(20 as 18, { inputSize: 64 })).toThrow('torchvisionResNet: depth must be one of 18, 34, 50, 101, 152, but got 20.');
    expect(() => torchvisionResNet(18, undefined as unknown as { inputSize: number })).toThrow("torchvisionResNet: options must be an object like { inputSize: 224 }, but got undefined.");
    expect(() => torchvisionResNet(18, {} as { inputSize: number })).toThrow(
      'torchvisionResNet: options.inputSize must be a positive integer or a [height, width] pair of positive integers, but got undefined.',
    );
    expect(() => torchvisionResNet(18, { inputSize: 0 })).toThrow('torchvisionResNet: options.inputSize must be a positive integer or a [height, width] pair of positive integers, but got 0.');
    expect(() => torchvisionResNet(18, { inputSize: 64, batchNormMomentum: 1 })).toThrow('torchvisionResNet: options.batchNormMomentum must be a number in [0, 1), but got 1.');
    expect(() => torchvisionResNet(18, { inputSize: 64, seed: 1.5 })).toThrow('torchvisionResNet: options.seed must be an integer or undefined, but got 1.5.');
    expect(() => torchvisionResNet(18, { inputSize: 64, name: 'a b' })).toThrow(
      "torchvisionResNet: options.name must be a name of letters, digits, -, ., _ and / that starts with a letter or digit, but got 'a b'.",
    );
    expect(() => torchvisionResNet(18, { inputSize: 64, initializer: 'ones' as 'zeros' })).toThrow("torchvisionResNet: options.initializer must be one of 'random', 'zeros', but got 'ones'.");
    expect(TORCHVISION_RESNET_DEPTHS).toEqual([18, 34, 50, 101, 152]);
  });
});

describeWithPython('torchvisionResNet layer names are torchvision state-dict keys', (dir) => {
  it('every weight maps to exactly the keys and shapes of torchvision.models.resnetXX().state_dict() (less num_batches_tracked and fc.*)', () => {
    const archs = TORCHVISION_RESNET_DEPTHS.map((d) => `resnet${d}`);
    const keys = torchStateDictKeys(dir(), archs);
    for (const depth of TORCHVISION_RESNET_DEPTHS) {
      const expected = keys[`resnet${depth}`].filter(([k]) => !k.endsWith('.num_batches_tracked') && !k.startsWith('fc.'));
      const got = modelTorchKeys(model(depth));
      // Same keys with the same shapes (tfjs lists layers in topological order, not module order).
      const sorted = (l: [string, number[]][]) => [...l].sort(([a], [b]) => (a < b ? -1 : 1));
      expect({ depth, keys: sorted(got) }).toEqual({ depth, keys: sorted(expected) });
      expect(got.length).toBe(new Set(got.map(([k]) => k)).size);
      const dropped = keys[`resnet${depth}`].filter(([k]) => k.endsWith('.num_batches_tracked') || k.startsWith('fc.')).map(([k]) => k);
      expect(dropped.filter((k) => k.startsWith('fc.'))).toEqual(['fc.weight', 'fc.bias']);
    }
  }, 120000);
});
