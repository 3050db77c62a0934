/**
 * Helpers of the CLI robustness tests: the `s3n` command run from source in a child process,
 * and the settings of a tiny training run (16×16 inputs, a one-stage small ResNet: about 2 s
 * for 3 epochs on the cpu backend).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { TrainOptions } from '../../src/cli/train';

export const REPO = path.resolve(__dirname, '../..');
export const MAIN = path.join(REPO, 'src/cli/main.ts');

/** How a child process ended, and what it wrote. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link cli}. */
export interface CliOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Run as this user id (and group id), e.g. 65534 (nobody) to test permissions as root. */
  uid?: number;
  /** SIGKILL the child as soon as its stderr matches. */
  killOnStderr?: RegExp;
  /** SIGKILL after this many milliseconds (default 60000). */
  timeoutMs?: number;
}

/** Runs `s3n ARGS` (`node --import tsx src/cli/main.ts ARGS`, one process, so SIGKILL kills the run). */
export function cli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: REPO,
      env: { ...process.env, FORCE_COLOR: '0', ...(options.uid === undefined ? {} : { HOME: '/tmp' }), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (options.killOnStderr && options.killOnStderr.test(stderr) && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `s3n train` arguments of the tiny run on `data` (2 classes, 2 batches of 2 per epoch). */
export function tinyTrainArgs(data: string, out: string, extra: string[] = []): string[] {
  return [
    'train', '--dataset', 'folder', '--data', data, '--backbone', 'small', '--widths', '4', '--input-size', '16',
    '--epochs', '3', '--batch-size', '2', '--lr', '0.01', '--switch-epoch', '0', '--grid-size', '7', '--padding-size', '4',
    '--fwhm', '2', '--seed', '3', '--out', out, ...extra,
  ];
}

/** The same tiny run as options of the in-process `train()`; `log` and `warn` collect into `lines`. */
export function tinyTrainOptions(data: string, out: string, lines: string[] = []): TrainOptions {
  return {
    dataset: 'folder',
    data,
    backbone: 'small',
    widths: [4],
    inputSize: 16,
    epochs: 3,
    batchSize: 2,
    lr: 0.01,
    lrStep: 40,
    switchEpoch: 0,
    seed: 3,
    gridSize: 7,
    paddingSize: 4,
    fwhm: 2,
    out,
    resume: false,
    tty: false,
    log: (l: string) => lines.push(l),
    warn: (l: string) => lines.push(l),
  };
}
