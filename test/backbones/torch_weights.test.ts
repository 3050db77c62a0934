// loadTorchWeights on files written by PyTorch at test time: a checkpoint of another depth, a
// truncated file, a file of another type and a missing file are each refused with a message
// naming the file and the problem; the model keeps its weights and no tensor leaks.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { torchvisionResNet } from '../../src/backbones/torchvision_resnet';
import { loadTorchWeights } from '../../src/io/pretrained_weights';
import { describeWithPython, makeTorchReference, TorchReference, weightDifferences, weightSnapshot } from './torch_helpers';

describeWithPython('loadTorchWeights refuses what does not fit', (dir) => {
  let ref: TorchReference;
  let r34: tfl.LayersModel;
  beforeAll(() => {
    ref = makeTorchReference(dir(), 'resnet18', 2, [32]);
    r34 = torchvisionResNet(34, { inputSize: 32, initializer: 'zeros' });
  }, 120000);
  afterAll(() => r34?.dispose());

  /** Runs the load, expecting it to be refused: returns the message; checks no leak, weights unchanged. */
  async function refused(model: tfl.LayersModel, file: string): Promise<string> {
    const snapshot = weightSnapshot(model);
    const before = tf.memory().numTensors;
    let message = '';
    try {
      await loadTorchWeights(model, file);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(weightDifferences(weightSnapshot(model), snapshot)).toBe(0);
    return message;
  }

  it.each(['pth', 'safetensors'] as const)('a ResNet-18 .%s into a ResNet-34: says which depths, lists the first problems', async (ext) => {
    const file = ext === 'pth' ? ref.pth : ref.safetensors;
    const lines = (await refused(r34, file)).split('\n');
    expect(lines[0]).toBe(
      `loadTorchWeights: ${file} does not fit the model 'torchvision_resnet34' (the file holds a ResNet-18 (BasicBlocks [2,2,2,2]), the model is a ResNet-34 (BasicBlocks [3,4,6,3]): a checkpoint of another depth?). Nothing was loaded. 80 problems:`,
    );
    expect(lines[1]).toBe("  - missing 'layer1.2.conv1.weight': the model's layer 'layer1.2.conv1' (Conv2D) expects [64,64,3,3]");
    expect(lines[11]).toBe('  … and 70 more');
  });

  it('a ResNet-50 model given the ResNet-18 file: shape mismatches and Bottleneck vs BasicBlock', async () => {
    const r50 = torchvisionResNet(50, { inputSize: 32, initializer: 'zeros' });
    const lines = (await refused(r50, ref.pth)).split('\n');
    r50.dispose();
    expect(lines[0]).toMatch(
      /^loadTorchWeights: .*resnet18\.pth does not fit the model 'torchvision_resnet50' \(the file holds a ResNet-18 \(BasicBlocks \[2,2,2,2\]\), the model is a ResNet-50 \(Bottlenecks \[3,4,6,3\]\): a checkpoint of another depth\?\)\. Nothing was loaded\. \d+ problems:$/,
    );
    expect(lines[1]).toBe("  - shape mismatch 'layer1.0.conv1.weight': the model's layer 'layer1.0.conv1' expects [64,64,1,1], the file has [64,64,3,3]");
  });

  // (A Keras .h5 given to loadTorchWeights: keras_weights.test.ts, whose reader h5wasm cannot load under jest.)
  it('a truncated file, a file of another type and a missing file: errors naming the file', async () => {
    const bytes = fs.readFileSync(ref.pth);
    const truncated = path.join(dir(), 'truncated.pth');
    fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(await refused(r34, truncated)).toBe(`loadTorchWeights: ${truncated} is a truncated or damaged zip archive (invalid zip data)`);
    const text = path.join(dir(), 'notes.pth');
    fs.writeFileSync(text, 'not a checkpoint\n');
    expect(await refused(r34, text)).toBe(
      `loadTorchWeights: ${text} is not a weights file this reader knows (PyTorch .pth/.pt, .safetensors, Keras .h5): it starts with bytes 6e 6f 74 20 61 20 63 68 …`,
    );
    const none = path.join(dir(), 'none.pth');
    expect(await refused(r34, none)).toMatch(new RegExp(`^loadTorchWeights: ${none.replace(/[.]/g, '\\.')} cannot be read: ENOENT`));
  });

  it('refuses a model that is not a tf.LayersModel and a file that is not a path', async () => {
    await expect(loadTorchWeights({} as tfl.LayersModel, ref.pth)).rejects.toThrow('loadTorchWeights: model must be a tf.LayersModel, but got an object with keys {}.');
    await expect(loadTorchWeights(r34, 3 as unknown as string)).rejects.toThrow('loadTorchWeights: file must be a path to a weights file (a non-empty string), but got 3.');
  });
});
