/**
 * WebGPU readiness: every kernel that an S3N forward pass and one full training step dispatch
 * on the portable composite path (`S3N_FUSED_KERNELS` off, as on webgpu, where this package's
 * fused JS kernels do not exist) must be registered by @tensorflow/tfjs-backend-webgpu 4.22.
 * Its kernel names are kept in test/fixtures/tfjs-webgpu-kernels.json, regenerated from the
 * installed package by `node tools/tfjs-webgpu-kernels.mjs`. (The WebGPU browser test runs the
 * step itself when Chromium has a software adapter; this test needs no GPU.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNELS_FLAG } from '../../src/ops';
import { S3N, smallResNet } from '../../src';
import { uniform } from '../helpers/numeric';
import { addKernels } from '../helpers/backends';

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'tfjs-webgpu-kernels.json'), 'utf8')) as {
  package: string;
  version: string;
  kernels: string[];
};

describe('kernels of S3N on tfjs-backend-webgpu 4.22', () => {
  afterAll(() => tf.env().set(FUSED_KERNELS_FLAG, true));

  it('the checked-in list is the installed package\'s (4.22.0)', () => {
    expect([fixture.package, fixture.version]).toEqual(['@tensorflow/tfjs-backend-webgpu', '4.22.0']);
    const installed = JSON.parse(fs.readFileSync(require.resolve('@tensorflow/tfjs-backend-webgpu/package.json'), 'utf8')).version;
    expect(installed).toBe('4.22.0');
    // Loading the package registers its kernels without a GPU (only the backend needs one).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-backend-webgpu');
    const registered = [...new Set(tf.getKernelsForBackend('webgpu').map((k) => k.kernelName))].sort();
    expect(registered).toEqual(fixture.kernels);
  });

  it.each(['all', 'random', 'extreme'] as const)('mode %s: forward and training step dispatch only kernels webgpu registers (composite path)', async (mode) => {
    const webgpu = new Set(fixture.kernels);
    tf.env().set(FUSED_KERNELS_FLAG, false);
    const before = tf.memory().numTensors;
    const s3n = S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 1 }), { classes: 3, seed: 1 });
    s3n.setModes({ training: mode });
    const opt = s3n.createOptimizer();
    const images = uniform([2, 32, 32, 3], 0, 1, 1) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 2], 'int32');
    const used = new Set<string>();
    const forward = await tf.profile(() => s3n.predict(images));
    tf.dispose(forward.result as tf.Tensor);
    addKernels(used, forward);
    const explain = await tf.profile(() => Object.values(s3n.explain(images)));
    tf.dispose(explain.result as tf.Tensor[]);
    addKernels(used, explain);
    const step = await tf.profile(() => s3n.trainStep(images, labels, opt));
    tf.dispose(step.result as tf.Tensor);
    addKernels(used, step);
    expect(used.size).toBeGreaterThan(20);
    expect([...used]).toEqual(expect.arrayContaining(['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'ScatterNd', 'ResizeBilinear', 'FusedBatchNorm']));
    expect([...used].filter((k) => !webgpu.has(k)).sort()).toEqual([]);
    tf.dispose([images, labels]);
    opt.dispose();
    s3n.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a kernel webgpu lacks would be reported (the check can fail)', () => {
    const webgpu = new Set(fixture.kernels);
    // tfjs-node has these, webgpu 4.22 does not.
    expect(['Unique', 'NonMaxSuppressionV4', 'Conv2D'].filter((k) => !webgpu.has(k))).toEqual(['Unique', 'NonMaxSuppressionV4']);
  });
});
