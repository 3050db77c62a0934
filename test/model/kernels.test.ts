/**
 * tfjs-node(-gpu) readiness: every kernel that one full S3N training step dispatches must be
 * registered by @tensorflow/tfjs-node 4.22 (its 'tensorflow' backend). tfjs-node cannot be
 * installed here (its install script downloads libtensorflow), so its kernel names are kept in
 * test/fixtures/tfjs-node-kernels.json, regenerated from the published package by
 * `node tools/tfjs-node-kernels.mjs`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNELS_FLAG } from '../../src/ops';
import { S3N, smallResNet } from '../../src';
import { uniform } from '../helpers/numeric';

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'tfjs-node-kernels.json'), 'utf8'));

describe('kernels of an S3N training step', () => {
  afterAll(() => tf.env().set(FUSED_KERNELS_FLAG, true));

  it.each(['all', 'random', 'extreme'] as const)('mode %s: all registered by tfjs-node 4.22 (composite path, as tfjs-node runs it)', async (mode) => {
    expect(fixture.version).toBe('4.22.0');
    const nodeKernels = new Set<string>(fixture.kernels);
    tf.env().set(FUSED_KERNELS_FLAG, false);
    const s3n = S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 1 }), { classes: 3, seed: 1 });
    s3n.setModes({ training: mode });
    const opt = s3n.createOptimizer();
    const images = uniform([2, 32, 32, 3], 0, 1, 1) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 2], 'int32');
    const info = await tf.profile(() => s3n.trainStep(images, labels, opt));
    tf.dispose(info.result as tf.Tensor);
    const names = [...new Set(info.kernelNames)].sort();
    // tf.profile also lists custom-gradient scopes (fusedConv2d__op, our customGrad ops), which
    // run the kernels listed beside them; keep the names that are kernels.
    const used = names.filter((k) => tf.getKernel(k, 'cpu') != null);
    expect(names.filter((k) => !used.includes(k)).every((k) => k.endsWith('__op') || k === 'unnamed scope')).toBe(true);
    expect(used.length).toBeGreaterThan(20);
    expect(used).toEqual(expect.arrayContaining(['Conv2D', 'Conv2DBackpropFilter', 'ScatterNd', 'ResizeBilinear']));
    expect(used.filter((k) => !nodeKernels.has(k))).toEqual([]);
    opt.dispose();
    s3n.dispose();
  });
});
