/**
 * Model benchmarks: an S3N training step against three forward+backward passes of its
 * backbone (same batch, same backend), and the peak memory of both.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { leanVariableGrads, S3N, s3nLoss } from '../src';
import { peakBytes, Row, time, useBackend } from './common';

export interface ModelBenchCase {
  label: string;
  backend: string;
  batch: number;
  size: number;
  makeBackbone: () => tfl.LayersModel;
  trainableFilter?: boolean;
  repeats?: number;
  /** S3N with {@link S3N.setGradCheckpointing} (the backbone side is unchanged). */
  gradCheckpointing?: boolean;
  /** S3N's head with (default, as the authors) or without its two conv-BN-ReLU buffers. */
  useBuffers?: boolean;
  /** Also report the step time per image against these PyTorch CPU figures (ms per image). */
  pytorchMsPerImage?: { backbone: number; s3nStep: number };
}

/** Backbone → global average pool → dense: what "the backbone alone" trains. */
function baselineClassifier(backbone: tfl.LayersModel, classes: number): tfl.LayersModel {
  const input = tfl.input({ shape: backbone.inputs[0].shape.slice(1) as number[] });
  const f = backbone.apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(f) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: classes }).apply(pooled) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits });
}

export async function benchModel(c: ModelBenchCase, classes = 200): Promise<Row[]> {
  await useBackend(c.backend);
  const repeats = c.repeats ?? 2;
  const images = tf.randomUniform([c.batch, c.size, c.size, 3]) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: c.batch }, (_, i) => i % classes), 'int32');

  // The baseline is measured before and after S3N (a new model each time, so that only one
  // network is in memory) and the mean is used: the two figures show the drift of the run.
  // Peaks are of all live tensors (weights included), minus what earlier work left behind.
  const startBytes = tf.memory().numBytes;
  const measureBaseline = async () => {
    const leftover = tf.memory().numBytes - startBytes;
    const baseline = baselineClassifier(c.makeBackbone(), classes);
    const bVars = baseline.trainableWeights.map((w) => w.read() as tf.Variable);
    // Both sides use the same gradient function (leanVariableGrads, as S3N.trainStep does).
    const backboneStep = () => {
      const { value, grads } = leanVariableGrads(
        () => tf.losses.softmaxCrossEntropy(tf.oneHot(labels, classes), baseline.apply(images, { training: true }) as tf.Tensor) as tf.Scalar,
        bVars,
      );
      return [value, ...Object.values(grads)];
    };
    const ms = await time(() => [backboneStep(), backboneStep(), backboneStep()], repeats);
    const mem = (await peakBytes(backboneStep)) - leftover;
    baseline.dispose();
    return { ms, mem };
  };
  const before = await measureBaseline();
  const s3nLeftover = tf.memory().numBytes - startBytes;
  const variant = [c.gradCheckpointing ? 'grad checkpointing' : '', c.useBuffers === false ? 'head without buffers' : ''].filter(Boolean);
  const tag = [c.label, `batch ${c.batch}`, `${c.size}×${c.size}`, ...variant].join(', ');
  const ref = c.pytorchMsPerImage;
  const perImage = (name: string, ms: number, refMs: number, who: string): Row => ({
    section: 'vs PyTorch',
    name: `${name} per image (${tag})`,
    backend: c.backend,
    ms,
    ratio: ms / refMs,
    baseline: `${who} ${refMs / 1000} s (issue 5's figure, not measured here)`,
  });

  const s3n = S3N.create(c.makeBackbone(), { classes, trainableFilter: c.trainableFilter, useBuffers: c.useBuffers, seed: 1 });
  s3n.setGradCheckpointing(c.gradCheckpointing === true);
  const opt = s3n.createOptimizer();
  const s3nGrads = () => {
    const { value, grads } = leanVariableGrads(() => s3nLoss(s3n.model.apply(images, { training: true }) as tf.Tensor[], labels), opt.variables);
    return [value, ...Object.values(grads)];
  };
  // Before any step: like the baseline's, without momentum buffers.
  const s3nMem = (await peakBytes(s3nGrads)) - s3nLeftover;
  const fb = await time(s3nGrads, repeats);
  const step = await time(() => s3n.trainStep(images, labels, opt), repeats);
  opt.dispose();
  s3n.dispose();
  const after = await measureBaseline();
  const three = (before.ms + after.ms) / 2;
  const backboneMem = Math.max(before.mem, after.mem);
  const base = `3 × backbone fwd+bwd`;
  const rows: Row[] = [
    { section: 'model', name: `${base} (${tag})`, backend: c.backend, ms: three, note: `mean of ${before.ms.toFixed(0)} before and ${after.ms.toFixed(0)} after S3N` },
    { section: 'model', name: `S3N forward+backward (${tag})`, backend: c.backend, ms: fb, ratio: fb / three, baseline: base, note: 'target ≤ 1.10' },
    { section: 'model', name: `S3N training step incl. SGD update (${tag})`, backend: c.backend, ms: step, ratio: step / three, baseline: base },
    ...(ref == null
      ? []
      : [perImage('backbone fwd+bwd', three / 3 / c.batch, ref.backbone, 'PyTorch CPU'), perImage('S3N training step', step / c.batch, ref.s3nStep, "the authors' S3N")]),
    {
      section: 'memory',
      name: `peak numBytes S3N fwd+bwd / backbone fwd+bwd (${tag})`,
      backend: c.backend,
      ms: NaN,
      ratio: s3nMem / backboneMem,
      baseline: 'backbone',
      note: `${(s3nMem / 2 ** 20).toFixed(0)} MiB vs ${(backboneMem / 2 ** 20).toFixed(0)} MiB`,
    },
  ];
  tf.dispose([images, labels]);
  return rows;
}

/**
 * Inference only: S3N's fused prediction against three forward passes of its backbone.
 */
export async function benchModelForward(c: ModelBenchCase, classes = 200): Promise<Row[]> {
  await useBackend(c.backend);
  const repeats = c.repeats ?? 2;
  const images = tf.randomUniform([c.batch, c.size, c.size, 3]) as tf.Tensor4D;
  const backbone = c.makeBackbone();
  const three = await time(() => [0, 1, 2].map(() => backbone.apply(images, { training: false }) as tf.Tensor), repeats);
  const s3n = S3N.create(c.makeBackbone(), { classes, trainableFilter: c.trainableFilter, seed: 1 });
  const fwd = await time(() => s3n.predict(images), repeats);
  const tag = `${c.label}, batch ${c.batch}, ${c.size}×${c.size}`;
  const base = '3 × backbone forward';
  s3n.dispose();
  backbone.dispose();
  images.dispose();
  return [
    { section: 'model', name: `${base} (${tag})`, backend: c.backend, ms: three },
    { section: 'model', name: `S3N forward (${tag})`, backend: c.backend, ms: fwd, ratio: fwd / three, baseline: base },
  ];
}
