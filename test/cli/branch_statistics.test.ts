/**
 * `s3n train --branch-statistics shared|per-branch` ({@link S3NOptions.branchStatistics}): the
 * checkpoint keeps the option and the per-branch statistics, `--resume` refuses a different
 * value (also for a run from before the option, which was `shared`), and a bad value is refused
 * before any work. The trainings are the tiny in-process run (about a second each).
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'node:path';
import { train } from '../../src/cli/train';
import { loadS3N } from '../../src/cli/model_setup';
import { cli, tinyTrainArgs, tinyTrainOptions } from './cli_helpers';
import { makeFolder, tempDir } from '../data/layouts';

let root: string;
let data: string;
beforeAll(async () => {
  root = tempDir('branch-statistics');
  data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 2, test: 1, size: 24 });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

it('trains with per-branch statistics, checkpoints them, and resumes only with the same value', async () => {
  const out = path.join(root, 'per-branch');
  const lines: string[] = [];
  // The folder's images are plain colours, which every resampling leaves as they are: train on
  // noise instead (the test seam), so that the three branches see different batches.
  const noise = (images: tf.Tensor4D, epoch: number, index: number) => {
    const x = tf.randomUniform(images.shape, 0, 1, 'float32', 100 * epoch + index) as tf.Tensor4D;
    images.dispose();
    return x;
  };
  const first = await train({ ...tinyTrainOptions(data, out, lines), epochs: 1, branchStatistics: 'per-branch', beforeStep: noise }, new Set(['branchStatistics']));
  expect(first.s3n.branchStatistics).toBe('per-branch');
  expect(lines.find((l) => l.startsWith('training S3N'))).toMatch(/^training S3N \(small backbone, [\d,]+ parameters, per-branch batch-norm statistics\) on /);
  const raw = first.s3n.branchMovingStatistics('raw').map((v) => Array.from(v.read().dataSync()));
  const zoom = first.s3n.branchMovingStatistics('discriminative').map((v) => Array.from(v.read().dataSync()));
  expect(zoom).not.toEqual(raw);
  first.s3n.dispose();
  const { s3n } = await loadS3N(out);
  expect(s3n.branchStatistics).toBe('per-branch');
  expect(s3n.branchMovingStatistics('discriminative').map((v) => Array.from(v.read().dataSync()))).toEqual(zoom);
  s3n.dispose();

  await expect(train({ ...tinyTrainOptions(data, out), epochs: 2, resume: true, branchStatistics: 'shared' }, new Set(['branchStatistics']))).rejects.toThrow(
    new Error(`--resume continues the run in '${out}' with its own settings: branchStatistics must be "per-branch", but got "shared".`),
  );
  // Without the option the run goes on with its own value.
  const resumed = await train({ ...tinyTrainOptions(data, out), epochs: 2, resume: true });
  expect(resumed.s3n.branchStatistics).toBe('per-branch');
  resumed.s3n.dispose();
});

it("a run without the option is 'shared' on resume (checkpoints from before the option too)", async () => {
  const out = path.join(root, 'shared');
  const first = await train({ ...tinyTrainOptions(data, out), epochs: 1 });
  expect(first.s3n.branchStatistics).toBe('shared');
  first.s3n.dispose();
  await expect(train({ ...tinyTrainOptions(data, out), epochs: 2, resume: true, branchStatistics: 'per-branch' }, new Set(['branchStatistics']))).rejects.toThrow(
    new Error(`--resume continues the run in '${out}' with its own settings: branchStatistics must be "shared", but got "per-branch".`),
  );
  const same = await train({ ...tinyTrainOptions(data, out), epochs: 2, resume: true, branchStatistics: 'shared' }, new Set(['branchStatistics']));
  expect(same.s3n.branchStatistics).toBe('shared');
  same.s3n.dispose();
});

it('refuses a bad --branch-statistics before any work, and documents the flag', async () => {
  const refused = path.join(root, 'refused');
  const run = await cli(tinyTrainArgs(data, refused, ['--branch-statistics', 'separate']));
  expect(run.code).toBe(2);
  expect(run.stderr.split('\n')[0]).toBe("s3n train: --branch-statistics must be one of shared, per-branch, but got 'separate'.");
  expect(fs.existsSync(refused)).toBe(false);
  const help = await cli(['train', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('--branch-statistics shared|per-branch');
});
