// The must-show of issue 10: torchvision's ResNet-50 and ResNet-18, built and saved by PyTorch
// at test time (random init, seeded, non-trivial batch-norm statistics, eval mode), loaded from
// the .pth and from the .safetensors file into torchvisionResNet, reproduce PyTorch's layer4
// features within 1e-4 of the largest |feature|, on cpu and wasm, at an even and an odd size.
import * as tf from '@tensorflow/tfjs-core';
import { torchvisionResNet, TorchvisionResNetDepth } from '../../src/backbones/torchvision_resnet';
import { loadTorchWeights } from '../../src/io/pretrained_weights';
import { onBackend, TEST_BACKENDS } from '../helpers/backends';
import { describeWithPython, makeTorchReference, relativeError, TorchReference } from './torch_helpers';

const TOLERANCE = 1e-4;

describeWithPython('torchvisionResNet loaded from torch.save and .safetensors files reproduces PyTorch', (dir) => {
  const refs: Record<string, TorchReference> = {};
  beforeAll(() => {
    refs.resnet50 = makeTorchReference(dir(), 'resnet50', 0, [64, 65]);
    refs.resnet18 = makeTorchReference(dir(), 'resnet18', 1, [64, 65]);
  }, 120000);

  describe.each(TEST_BACKENDS)('on the %s backend', (backend) => {
    onBackend(backend);

    // Each file at one size (even 64, odd 65: where symmetric and asymmetric padding differ).
    it.each([
      [50, 'pth', 64],
      [50, 'safetensors', 65],
      [18, 'pth', 65],
      [18, 'safetensors', 64],
    ] as const)('ResNet-%i from the .%s file, %i px: layer4 features within 1e-4 of the largest', async (depth, format, size) => {
      const ref = refs[`resnet${depth}`];
      const file = format === 'pth' ? ref.pth : ref.safetensors;
      const { input, features } = ref.sizes[size];
      const before = tf.memory().numTensors;
      const model = torchvisionResNet(depth as TorchvisionResNetDepth, { inputSize: size, initializer: 'zeros' });
      const report = await loadTorchWeights(model, file);
      const bns = depth === 50 ? 53 : 20;
      // Every conv weight and the four arrays of every batch norm; fc.* and num_batches_tracked ignored.
      expect(report.loaded.length).toBe(model.layers.filter((l) => l.getClassName() === 'Conv2D').length + 4 * bns);
      expect(report.ignored.map((i) => i.key).filter((k) => !k.endsWith('num_batches_tracked'))).toEqual(['fc.weight', 'fc.bias']);
      expect(report.ignored.filter((i) => i.key.endsWith('num_batches_tracked'))).toHaveLength(bns);
      expect(report.format).toBe(format === 'pth' ? 'torch' : 'safetensors');
      const x = tf.tensor4d(input.data, input.shape as [number, number, number, number]);
      const y = model.predict(x) as tf.Tensor;
      expect(y.shape).toEqual(features.shape);
      const err = relativeError(await y.data(), features.data);
      // S3N_GOLDEN_REPORT=1 prints the error (as the whole-network golden test does).
      if (process.env.S3N_GOLDEN_REPORT) console.log(`${backend} ResNet-${depth} .${format} ${size} px: max |tfjs - PyTorch| / max |PyTorch| = ${err.toExponential(2)}`);
      expect(err).toBeLessThan(TOLERANCE);
      tf.dispose([x, y]);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }, 120000);
  });
});
