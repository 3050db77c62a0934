/**
 * Issue 11, case 4: `s3n eval` pairs the test set's classes with the checkpoint's by name,
 * not by sort order, and refuses names that do not match, listing the differences.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { smallResNet } from '../../src/backbones/resnet';
import { saveCheckpoint } from '../../src/io';
import { S3N } from '../../src/model';
import { COLORS, tempDir, writeImage } from '../data/layouts';
import { cli } from './cli_helpers';

let root: string;
let data: string;

/**
 * A checkpoint whose four outputs always pick class index 0 (every classifier kernel zero,
 * biases [5, 0]), with the given class names.
 */
async function constantCheckpoint(dir: string, classNames: string[]): Promise<string> {
  const s3n = S3N.create(smallResNet({ inputSize: 16, widths: [4], seed: 1 }), { classes: 2, seed: 1, gridSize: 7, paddingSize: 4, fwhm: 2 });
  for (const w of s3n.model.weights) {
    if (/classifier_kernel$|class_response_map\/kernel$/.test(w.originalName)) w.write(tf.zeros(w.shape as number[]));
    if (/classifier_bias$|class_response_map\/bias$/.test(w.originalName)) w.write(tf.tensor1d([5, 0]));
  }
  await saveCheckpoint(dir, s3n.model, { epoch: 1, dataSeed: 0, drawCount: 0, classNames, config: {}, metrics: [] });
  s3n.dispose();
  return dir;
}

beforeAll(async () => {
  root = tempDir('evalclasses');
  // Test set: two 'alpha' images and one 'beta' image (folder order: alpha = 0, beta = 1).
  data = path.join(root, 'data');
  for (const [file, c] of [['train/alpha/0.jpg', 0], ['train/beta/0.jpg', 1], ['test/alpha/0.jpg', 0], ['test/alpha/1.jpg', 0], ['test/beta/0.jpg', 1]] as const) {
    await writeImage(path.join(data, file), COLORS[c], { width: 20, height: 20 });
  }
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

it('maps classes by name: a checkpoint that always answers its class 0 (beta) scores 1 of 3', async () => {
  const ck = await constantCheckpoint(path.join(root, 'beta-first'), ['beta', 'alpha']);
  const r = await cli(['eval', '--checkpoint', ck, '--dataset', 'folder', '--data', data]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  // By sort order it would pair its 'beta' with the folder's 'alpha' and score 2 of 3.
  expect(r.stdout).toMatch(
    new RegExp(`^folder test \\(3 images, checkpoint ${ck}\\): top-1 fused 33\\.3%, raw 33\\.3%, discriminative 33\\.3%, complementary 33\\.3%; top-2 fused 100\\.0%, raw 100\\.0%, discriminative 100\\.0%, complementary 100\\.0% \\(\\d+\\.\\d s\\)\\n$`),
  );
}, 30000);

it('refuses class names that do not match, listing the differences', async () => {
  const ck = await constantCheckpoint(path.join(root, 'other-names'), ['alpha', 'gamma']);
  const r = await cli(['eval', '--checkpoint', ck, '--dataset', 'folder', '--data', data]);
  expect(r.stdout).toBe('');
  expect(r.stderr).toBe(
    `s3n eval: --data must have the classes of the checkpoint (matched by name), but '${data}' differs: only in the checkpoint: 'gamma'; only in --data: 'beta'.\n`,
  );
  expect(r.code).toBe(1);
}, 30000);
