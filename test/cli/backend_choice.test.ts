/**
 * `--backend` and `--threads`: the default (`auto`) picks the fastest backend installed and the
 * training log names it; `--threads N` runs the wasm backend on N threads
 * (s3n-layers/wasm-threads) and the log says how many the pool has.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, tinyTrainArgs } from './cli_helpers';
import { makeFolder, tempDir } from '../data/layouts';

let root: string;
let data: string;
beforeAll(async () => {
  root = tempDir('backend-choice');
  data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 2, test: 1, size: 24 });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const backendLine = (stdout: string) => stdout.split('\n').find((l) => l.startsWith('backend: '));

it('--threads 2 trains on the threaded wasm backend and exits by itself', async () => {
  const r = await cli(tinyTrainArgs(data, path.join(root, 'threads'), ['--epochs', '1', '--threads', '2']), { timeoutMs: 120000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(backendLine(r.stdout)).toBe('backend: wasm backend, 2 threads (auto: tfjs-node is not installed; wasm with the training kernels; --backend chooses)');
  expect(r.stdout).toMatch(/epoch 1\/1: loss \d/);
}, 150_000);

it('an explicit --backend is logged without the auto note; --threads outside 1-8 is refused before any work', async () => {
  const cpu = await cli(tinyTrainArgs(data, path.join(root, 'cpu'), ['--epochs', '1', '--backend', 'cpu']));
  expect(cpu.code).toBe(0);
  expect(backendLine(cpu.stdout)).toBe('backend: cpu backend');
  for (const [value, message, extra] of [
    ['9', "--threads must be an integer from 1 to 8, but got '9'.", []],
    ['0', "--threads must be an integer >= 1, but got '0'.", []],
    ['2', "--threads sets the threads of the wasm backend, but got --backend 'cpu' (use --backend wasm, or leave --threads out).", ['--backend', 'cpu']],
  ] as const) {
    const r = await cli(tinyTrainArgs(data, path.join(root, `refused-${value}`), ['--threads', value, ...extra]));
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`s3n train: ${message}`);
    expect(fs.existsSync(path.join(root, `refused-${value}`))).toBe(false);
  }
}, 150_000);
