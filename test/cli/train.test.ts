import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { smallResNet } from '../../src/backbones/resnet';
import { train } from '../../src/cli/train';
import { fileSystem, loadCheckpoint } from '../../src/io';
import { buildBackbone } from '../../src/cli/model_setup';
import { S3N } from '../../src/model';
import { makeFolder, tempDir } from '../data/layouts';

let root: string;
beforeAll(() => {
  root = tempDir('train');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

it('trains in process without leaking tensors from epoch to epoch, and refuses conflicting --resume settings', async () => {
  const data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 2, test: 1, size: 28 });
  // What S3N.dispose() itself leaves behind (the shared backbone, applied three times, is not
  // disposed by LayersModel.dispose): the baseline of the leak checks below.
  const start = tf.memory().numTensors;
  S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 1 }), { classes: 2, seed: 1, gridSize: 15, paddingSize: 8, fwhm: 4 }).dispose();
  const leftover = tf.memory().numTensors - start;
  const before = tf.memory().numTensors;
  const live: number[] = [];
  const lines: string[] = [];
  const base = {
    dataset: 'folder' as const,
    data,
    backbone: 'small',
    widths: [4, 8],
    inputSize: 32,
    batchSize: 2,
    lr: 0.01,
    lrStep: 40,
    switchEpoch: 0,
    seed: 1,
    gridSize: 15,
    paddingSize: 8,
    fwhm: 4,
    out: path.join(root, 'run'),
    tty: false,
    warn: (l: string) => lines.push(l),
  };
  const log = (l: string) => {
    lines.push(l);
    if (/^epoch \d+\/\d+: /.test(l)) live.push(tf.memory().numTensors);
  };
  const first = await train({ ...base, epochs: 2, resume: false, log });
  expect(live).toHaveLength(2);
  expect(live[1]).toBe(live[0]);
  expect(first.metrics.map((m) => [m.epoch, m.trainingMode, m.inferenceMode])).toEqual([
    [1, 'all', 'random'],
    [2, 'random', 'extreme'],
  ]);
  first.s3n.dispose();
  expect(tf.memory().numTensors).toBe(before + leftover);

  await expect(train({ ...base, seed: 2, epochs: 3, resume: true, log }, new Set(['seed']))).rejects.toThrow(
    /--resume continues the run in '.*run' with its own settings: seed must be 1, but got 2\./,
  );
  expect(tf.memory().numTensors).toBe(before + leftover);
  // The same for a model and optimizer state loaded from a checkpoint (GroupedSGD.setState
  // keeps a clone of each restored buffer alive: measured here so that only the CLI's own
  // tensors are checked).
  const preLoad = tf.memory().numTensors;
  const ck = await loadCheckpoint(path.join(root, 'run'));
  const probe = S3N.fromModel(ck.model);
  const opt = probe.createOptimizer();
  await ck.restoreOptimizer(opt);
  opt.dispose();
  probe.dispose();
  const loadedLeftover = tf.memory().numTensors - preLoad;
  const resumedFrom = tf.memory().numTensors;
  live.length = 0;
  // Resumed with --grad-checkpointing (not a model setting, so it may change on resume).
  const more = await train({ ...base, epochs: 4, resume: true, gradCheckpointing: true, log });
  expect(more.s3n.isGradCheckpointed).toBe(true);
  expect(first.s3n.isGradCheckpointed).toBe(false);
  expect(more.metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
  expect(live).toHaveLength(2);
  expect(live[1]).toBe(live[0]);
  more.s3n.dispose();
  expect(tf.memory().numTensors).toBe(resumedFrom + loadedLeftover);
  expect(lines.filter((l) => l.startsWith('warning'))).toEqual([]);
}, 120000);

describe('--backbone PATH', () => {
  it('loads a saved tfjs LayersModel, cuts it at --cut-layer and fixes a size-agnostic input', async () => {
    const inp = tfl.input({ shape: [null, null, 3] as unknown as number[] });
    const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'feat', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(inp) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(conv) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: 5, name: 'head' }).apply(pooled) as tfl.SymbolicTensor;
    const dir = path.join(root, 'pretrained');
    await tfl.model({ inputs: inp, outputs: logits }).save(fileSystem(dir));

    const cfg = { backbone: path.join(dir, 'model.json'), inputSize: 16, classes: 3, seed: 0 };
    const bb = await buildBackbone({ ...cfg, cutLayer: 'feat' });
    expect(bb.inputs[0].shape).toEqual([null, 16, 16, 3]);
    expect(bb.outputs[0].shape).toEqual([null, 8, 8, 4]);
    await expect(buildBackbone(cfg)).rejects.toThrow(/--cut-layer is needed: .* its output has shape \[null,5\]\. Pass --cut-layer NAME with one of its layers \(…, .*feat, pool, head\)/);
    await expect(buildBackbone({ ...cfg, backbone: path.join(root, 'none') })).rejects.toThrow(/--backbone must be resnet50, small or the path of a tfjs LayersModel \(model\.json\), but loading '.*none' failed/);
  });
});

describe('--bn-momentum', () => {
  const momenta = (m: tfl.LayersModel): number[] =>
    m.layers.flatMap((l) => (l instanceof tfl.LayersModel ? momenta(l) : l.getClassName() === 'BatchNormalization' ? [l.getConfig().momentum as number] : []));

  it('reaches every batch-norm layer of a built-in backbone, whose default stays 0.99', async () => {
    const cfg = { backbone: 'small', widths: [4, 8], inputSize: 16, classes: 2, seed: 0 };
    const set = await buildBackbone({ ...cfg, bnMomentum: 0.9 });
    const unset = await buildBackbone(cfg);
    expect(momenta(set).length).toBeGreaterThan(0);
    expect(new Set(momenta(set))).toEqual(new Set([0.9]));
    expect(new Set(momenta(unset))).toEqual(new Set([0.99]));
    set.dispose();
    unset.dispose();
  });

  it('reaches every batch-norm layer of a loaded backbone', async () => {
    const inp = tfl.input({ shape: [null, null, 3] as unknown as number[] });
    const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(inp) as tfl.SymbolicTensor;
    const bn = tfl.layers.batchNormalization({ name: 'bn' }).apply(conv) as tfl.SymbolicTensor;
    const dir = path.join(root, 'with_bn');
    const saved = tfl.model({ inputs: inp, outputs: bn });
    await saved.save(fileSystem(dir));
    saved.dispose();
    const bb = await buildBackbone({ backbone: path.join(dir, 'model.json'), inputSize: 8, classes: 2, seed: 0, bnMomentum: 0.8 });
    expect(momenta(bb)).toEqual([0.8]);
    bb.dispose();
  });
});
