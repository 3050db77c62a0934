/**
 * Issue 11, cases 5 and 6, the guards `s3n train` relies on: labels are checked (dtype and
 * range) before the forward pass, where they enter (the pipeline) and in `S3N.trainStep`, with
 * no tensor leaked on any refusal; a step whose loss or gradients are not finite changes
 * nothing (weights, momentum, batch-norm statistics), and the CLI reports such steps and stops
 * after `--max-skipped-steps` of them in a row, leaving the last checkpoint intact.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { smallResNet } from '../../src/backbones/resnet';
import { train } from '../../src/cli/train';
import { ImagePipeline } from '../../src/data/pipeline';
import { S3N, s3nLoss } from '../../src/model';
import { makeFolder, tempDir } from '../data/layouts';
import { tinyTrainOptions } from './cli_helpers';

const tiny = () => S3N.create(smallResNet({ inputSize: 16, widths: [4], seed: 1 }), { classes: 3, seed: 1, gridSize: 7, paddingSize: 4, fwhm: 2 });
const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

describe('labels are validated before the forward pass, leaking nothing', () => {
  let s3n: S3N;
  let optimizer: ReturnType<S3N['createOptimizer']>;
  let images: tf.Tensor4D;
  beforeAll(() => {
    s3n = tiny();
    optimizer = s3n.createOptimizer();
    images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    // A first step creates the momentum buffers, so that the leak checks below count only the step.
    const y = tf.tensor1d([0, 1], 'int32');
    tf.dispose([s3n.trainStep(images, y, optimizer), y]);
  });
  afterAll(() => {
    images.dispose();
    optimizer.dispose();
    s3n.dispose();
  });

  it.each([
    ['label 99 of 3 classes', () => tf.tensor1d([0, 99], 'int32'), 'S3N.trainStep: labels must be class indices in [0, 3), but got 99 at index 1.'],
    ['label -1', () => tf.tensor1d([-1, 0], 'int32'), 'S3N.trainStep: labels must be class indices in [0, 3), but got -1 at index 0.'],
    ['float32 labels', () => tf.tensor1d([0, 1], 'float32'), 'S3N.trainStep: labels must be an int32 tensor of class indices, but got dtype float32.'],
  ])('S3N.trainStep refuses %s, with no tensor leaked and nothing trained', (_name, make, message) => {
    const labels = make() as tf.Tensor1D;
    const weights = s3n.model.getWeights().map(bits);
    const before = tf.memory().numTensors;
    expect(() => s3n.trainStep(images, labels, optimizer)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    expect(s3n.model.getWeights().map(bits)).toEqual(weights);
    labels.dispose();
  });

  it('the range check can be turned off (validateLabels: false: no host read of the labels)', () => {
    const labels = tf.tensor1d([0, 99], 'int32');
    const loss = s3n.trainStep(images, labels, optimizer, { validateLabels: false });
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    tf.dispose([loss, labels]);
  });

  it.each([
    ['label 99 of 3 classes', () => tf.tensor1d([0, 99], 'int32'), 's3nLoss: labels must be class indices in [0, 3), but got 99 at index 1.'],
    ['label -1', () => tf.tensor1d([-1, 0], 'int32'), 's3nLoss: labels must be class indices in [0, 3), but got -1 at index 0.'],
    ['float32 labels', () => tf.tensor1d([0, 1], 'float32'), 's3nLoss: labels must be an int32 tensor of class indices, but got dtype float32.'],
  ])('s3nLoss refuses %s, with no tensor leaked', (_name, make, message) => {
    const outputs = [0, 1, 2, 3].map((i) => tf.randomNormal([2, 3], 0, 1, 'float32', i));
    const labels = make();
    const before = tf.memory().numTensors;
    expect(() => s3nLoss(outputs, labels)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...outputs, labels]);
  });

  it('ImagePipeline refuses items whose labels are not class indices, naming the item', () => {
    const items = [
      { path: '/data/a.jpg', label: 0 },
      { path: '/data/b.jpg', label: 99 },
    ];
    expect(() => new ImagePipeline(items, { mode: 'train', batchSize: 2, classes: 3 })).toThrow(
      "ImagePipeline: items[1].label must be a class index in [0, 3), but got 99 ('/data/b.jpg').",
    );
    expect(() => new ImagePipeline([{ path: '/data/c.jpg', label: 1.5 }], { mode: 'eval', batchSize: 2 })).toThrow(
      "ImagePipeline: items[0].label must be an integer >= 0, but got 1.5 ('/data/c.jpg').",
    );
    expect(() => new ImagePipeline([{ path: '/data/d.jpg', label: -1 }], { mode: 'eval', batchSize: 2 })).toThrow(
      "ImagePipeline: items[0].label must be an integer >= 0, but got -1 ('/data/d.jpg').",
    );
  });
});

describe('a step whose loss or gradients are not finite changes nothing', () => {
  it.each([NaN, Infinity])('images holding %s: weights, momentum and batch-norm statistics unchanged, bit for bit', (bad) => {
    const s3n = tiny();
    const optimizer = s3n.createOptimizer({ learningRate: 0.01 });
    const images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 2], 'int32');
    const good = s3n.trainStepWithOutputs(images, labels, optimizer);
    expect(good.skipped).toBe(false);
    tf.dispose([good.loss, ...Object.values(good.outputs)]);
    const weights = s3n.model.weights.map((w) => bits(w.read()));
    expect(s3n.model.nonTrainableWeights.length).toBeGreaterThan(0);
    const momentum = optimizer.getState();
    const momentumBits = Object.values(momentum).map(bits);
    tf.dispose(Object.values(momentum));

    const poisoned = tf.tidy(() => tf.where(tf.greater(images, 1), tf.fill(images.shape, bad), images)) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const step = s3n.trainStepWithOutputs(poisoned, labels, optimizer);
    expect(step.skipped).toBe(true);
    expect(Number.isFinite(step.loss.dataSync()[0])).toBe(false);
    tf.dispose([step.loss, ...Object.values(step.outputs)]);
    expect(tf.memory().numTensors).toBe(before);
    expect(s3n.skippedSteps).toBe(1);
    expect(s3n.model.weights.map((w) => bits(w.read()))).toEqual(weights);
    const after = optimizer.getState();
    expect(Object.values(after).map(bits)).toEqual(momentumBits);
    tf.dispose(Object.values(after));

    // The next good step trains again.
    const next = s3n.trainStepWithOutputs(images, labels, optimizer);
    expect(next.skipped).toBe(false);
    tf.dispose([next.loss, ...Object.values(next.outputs)]);
    expect(s3n.model.weights.map((w) => bits(w.read()))).not.toEqual(weights);
    tf.dispose([images, labels, poisoned]);
    optimizer.dispose();
    s3n.dispose();
  });
});

describe('s3n train with non-finite steps', () => {
  let root: string;
  let data: string;
  beforeAll(async () => {
    root = tempDir('guards');
    data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 2, test: 1, size: 20 });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Replaces the images of the chosen (epoch, batch) steps by NaN. */
  const poison = (steps: [number, number][]) => (images: tf.Tensor4D, epoch: number, index: number) => {
    if (!steps.some(([e, i]) => e === epoch && i === index)) return images;
    const nan = tf.fill(images.shape, NaN) as tf.Tensor4D;
    images.dispose();
    return nan;
  };
  const ckDir = (out: string) => path.join(out, 'checkpoints');
  const metrics = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8')) as { epoch: number; loss: number; skippedSteps: number }[];

  it('reports a skipped step and trains on', async () => {
    const out = path.join(root, 'one-bad-batch');
    const lines: string[] = [];
    const { s3n } = await train({ ...tinyTrainOptions(data, out, lines), beforeStep: poison([[1, 0]]) });
    expect(lines).toContain('epoch 2/3 batch 1/2: step skipped: the loss or a gradient was not finite (weights, momentum and batch-norm statistics left as they were)');
    expect(lines.some((l) => /^epoch 2\/3: loss \d+\.\d{4}, train top-1 .* 1 step skipped$/.test(l))).toBe(true);
    expect(metrics(out).map((m) => [m.epoch, m.skippedSteps, Number.isFinite(m.loss)])).toEqual([
      [1, 0, true],
      [2, 1, true],
      [3, 0, true],
    ]);
    for (const w of s3n.model.weights) expect(tf.all(tf.isFinite(w.read())).dataSync()[0]).toBe(1);
    s3n.dispose();
  });

  it('stops after --max-skipped-steps in a row, leaving the last checkpoint intact', async () => {
    const out = path.join(root, 'all-bad');
    const lines: string[] = [];
    await expect(train({ ...tinyTrainOptions(data, out, lines), maxSkippedSteps: 2, beforeStep: poison([[1, 0], [1, 1]]) })).rejects.toThrow(
      'stopped: 2 training steps in a row had a non-finite loss or gradient (epoch 2/3, batches 1–2); they changed nothing. ' +
        'The last checkpoint, checkpoints/epoch-0001, is intact: lower --lr or check the data, then continue with --resume.',
    );
    expect(fs.readdirSync(ckDir(out)).sort()).toEqual(['epoch-0001', 'latest']);
    expect(fs.readFileSync(path.join(ckDir(out), 'latest'), 'utf8')).toBe('epoch-0001\n');
    expect(metrics(out).map((m) => m.epoch)).toEqual([1]);
  });
});
