/**
 * Issue 10: fine-tuning a pretrained torchvision backbone on the wasm backend. A ResNet-18 state
 * dict written by PyTorch at test time (torch_parity.py: random weights, non-trivial batch-norm
 * statistics, and the features PyTorch computes) is loaded into torchvisionResNet(18) at 64 px;
 * S3N on it, with gradient checkpointing, takes one training step on wasm (with the
 * `s3n-layers/wasm-training` kernels): the loaded backbone gives PyTorch's features, the loss is
 * finite, every trainable weight of the backbone and its batch-norm statistics change, the step
 * is the same as without checkpointing, and no tensor or wasm buffer is left behind.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/wasm-training';
import { torchvisionResNet } from '../../src/backbones/torchvision_resnet';
import { loadTorchWeights } from '../../src/io/pretrained_weights';
import { S3N } from '../../src/model';
import { describeWithPython, makeTorchReference, relativeError, TorchReference, weightDifferences, weightSnapshot } from '../backbones/torch_helpers';
import { onWasmBackend } from '../helpers/backends';

const SIZE = 64;

describeWithPython('fine-tuning a torchvision ResNet-18 loaded from a PyTorch state dict, on wasm with gradient checkpointing', (dir) => {
  onWasmBackend();
  let ref: TorchReference;
  beforeAll(() => {
    ref = makeTorchReference(dir(), 'resnet18', 5, [SIZE]);
  }, 120000);

  /** S3N on the loaded backbone, with checkpointing on or off. */
  async function build(checkpointing: boolean): Promise<S3N> {
    const backbone = torchvisionResNet(18, { inputSize: SIZE, initializer: 'zeros' });
    const report = await loadTorchWeights(backbone, ref.pth);
    expect(report.loaded).toHaveLength(100);
    return S3N.create(backbone, { classes: 3, seed: 2, gridSize: 7, paddingSize: 4, fwhm: 2 }).setGradCheckpointing(checkpointing);
  }

  /** One step: the loss and every weight after it (trainable and not), and what it left behind. */
  async function step(s3n: S3N, images: tf.Tensor4D, labels: tf.Tensor1D) {
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    const opt = s3n.createOptimizer({ learningRate: 0.01 });
    const loss = s3n.trainStep(images, labels, opt);
    const value = (await loss.data())[0];
    loss.dispose();
    opt.dispose(); // its momentum buffers, made at the first step
    return { loss: value, weights: weightSnapshot(s3n.model), leakedTensors: tf.memory().numTensors - tensors, leakedBuffers: tf.backend().numDataIds() - buffers };
  }

  it('the loaded backbone gives PyTorch\'s features on wasm; one S3N.trainStep: finite loss, the weights change, nothing leaks, the same as without checkpointing', async () => {
    const { input, features } = ref.sizes[SIZE];
    const images = tf.tensor4d(input.data, input.shape as [number, number, number, number]);
    const labels = tf.tensor1d([0, 2], 'int32');
    const s3n = await build(true);
    const plain = await build(false);
    try {
      expect(s3n.isGradCheckpointed).toBe(true);
      expect(plain.isGradCheckpointed).toBe(false);
      const out = s3n.backbone.predict(images) as tf.Tensor;
      expect(out.shape).toEqual(features.shape);
      expect(relativeError(out.dataSync(), features.data)).toBeLessThan(1e-4);
      out.dispose();

      const trainable = (m: S3N) => m.backbone.trainableWeights.map((w) => Float32Array.from(w.read().dataSync()));
      const stats = (m: S3N) => m.backbone.nonTrainableWeights.map((w) => Float32Array.from(w.read().dataSync()));
      const beforeTrainable = trainable(s3n);
      const beforeStats = stats(s3n);
      const before = weightSnapshot(s3n.model);

      const r = await step(s3n, images, labels);
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.loss).toBeGreaterThan(0);
      expect(s3n.skippedSteps).toBe(0);
      expect({ leakedTensors: r.leakedTensors, leakedBuffers: r.leakedBuffers }).toEqual({ leakedTensors: 0, leakedBuffers: 0 });
      // Every trainable weight of the backbone moved (gradient and weight decay), and the moving statistics were updated.
      const afterTrainable = trainable(s3n);
      expect(beforeTrainable.length).toBe(s3n.backbone.trainableWeights.length);
      const unchanged = (after: Float32Array[], was: Float32Array[], names: string[]) => names.filter((_, i) => weightDifferences([after[i]], [was[i]]) === 0);
      expect(unchanged(afterTrainable, beforeTrainable, s3n.backbone.trainableWeights.map((w) => w.name))).toEqual([]);
      expect(beforeStats.length).toBe(40); // running mean and variance of 20 batch norms
      expect(unchanged(stats(s3n), beforeStats, s3n.backbone.nonTrainableWeights.map((w) => w.name))).toEqual([]);
      expect(weightDifferences(r.weights, before)).toBeGreaterThan(0);

      // Without checkpointing: the same loss and weights.
      const p = await step(plain, images, labels);
      expect(p.loss).toBe(r.loss);
      expect(weightDifferences(p.weights, r.weights)).toBe(0);
    } finally {
      s3n.dispose();
      plain.dispose();
      tf.dispose([images, labels]);
    }
  });
});
