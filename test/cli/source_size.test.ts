/**
 * The CLI end to end with `--source-size` (S3N zooms into the image decoded at a higher
 * resolution, {@link S3NOptions.sourceSize}): train, the checkpoint's second input, resume,
 * eval (with flip TTA), predict and visualize read the source too; and the default backend
 * (`auto`), which the training log names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, tinyTrainArgs } from './cli_helpers';
import { loadS3N } from '../../src/cli/model_setup';
import { makeFolder, tempDir } from '../data/layouts';

/** The log line of the default backend here (no tfjs-node: wasm with the training kernels). */
const AUTO = 'backend: wasm backend (auto: tfjs-node is not installed; wasm with the training kernels; --backend chooses)';

let root: string;
let data: string;
beforeAll(async () => {
  root = tempDir('source-size');
  data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 2, test: 1, size: 48 });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

it('trains with --source-size 32 on a 16-pixel input, and eval, predict and visualize read the source from the checkpoint', async () => {
  const out = path.join(root, 'run');
  const run = await cli(tinyTrainArgs(data, out, ['--source-size', '32', '--epochs', '1']), { timeoutMs: 120000 });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  // No --backend: the fastest installed (no tfjs-node here: wasm with the training kernels).
  expect(run.stdout.split('\n')[0]).toBe(AUTO);
  expect(run.stdout).toContain('input 16×16 (zooming into a 32×32 source), 1 epoch of 2 batches');
  const { s3n } = await loadS3N(out);
  expect(s3n.model.inputs.map((x) => [x.name, x.shape])).toEqual([
    ['image', [null, 16, 16, 3]],
    ['source', [null, 32, 32, 3]],
  ]);
  expect(s3n.sourceSize).toEqual([32, 32]);
  s3n.dispose();

  const resumed = await cli(tinyTrainArgs(data, out, ['--source-size', '32', '--epochs', '2', '--resume']), { timeoutMs: 120000 });
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toMatch(/epoch 2\/2: loss \d/);
  const other = await cli(tinyTrainArgs(data, out, ['--source-size', '24', '--epochs', '3', '--resume']));
  expect(other.code).toBe(2);
  expect(other.stderr.split('\n')[0]).toBe(`s3n train: --resume continues the run in '${out}' with its own settings: sourceSize must be 32, but got 24.`);

  const evaluated = await cli(['eval', '--checkpoint', out, '--dataset', 'folder', '--data', data, '--tta', 'flip', '--backend', 'cpu'], { timeoutMs: 120000 });
  expect(evaluated.stderr).toBe('');
  expect(evaluated.code).toBe(0);
  expect(evaluated.stdout).toMatch(/test \(2 images, checkpoint .*, flip TTA\): top-1 fused \d/);

  const image = path.join(data, 'test', 'alpha', '0.jpg');
  const predicted = await cli(['predict', '--checkpoint', out, image, '--top-k', '2']);
  expect(predicted.code).toBe(0);
  expect(predicted.stdout.split('\n')[0]).toBe(image);
  expect(predicted.stdout).toMatch(/ {2}1\. (alpha|beta) {2}\d+\.\d%\n {2}2\. (alpha|beta) {2}\d+\.\d%\n$/);
  expect(predicted.stderr).toBe('');

  const pictures = path.join(root, 'pictures');
  const shown = await cli(['visualize', '--checkpoint', out, image, '--out', pictures]);
  expect(shown.code).toBe(0);
  expect(fs.existsSync(path.join(pictures, '0_figure.png'))).toBe(true);
}, 300_000);

it('refuses a --source-size below --input-size before any work', async () => {
  const run = await cli(tinyTrainArgs(data, path.join(root, 'refused'), ['--source-size', '8']));
  expect(run.code).toBe(2);
  expect(run.stderr.split('\n')[0]).toBe("s3n train: --source-size must be at least --input-size (16), but got '8'.");
  expect(fs.existsSync(path.join(root, 'refused'))).toBe(false);
});
