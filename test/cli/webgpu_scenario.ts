/**
 * Run by test/cli/webgpu.test.ts in a child process (jest cannot load the ESM-only `webgpu`
 * package): selects `--backend webgpu` the way the CLI does, runs the browser tests' scenario
 * (inference, a training step, a checkpointed step) and prints its result as JSON.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '../../src/cli/backend';
import { S3N, smallResNet } from '../../src';
import { runScenario } from '../browser/scenario';

(async () => {
  const description = await setupBackend('webgpu');
  const result = await runScenario(tf, S3N, smallResNet);
  process.stdout.write(`${JSON.stringify({ description, result })}\n`);
})().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = 1;
});
