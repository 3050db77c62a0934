// Browser bundle for the WebGL and WebGPU tests: the library's ESM build (dist/index.mjs), bundled with
// esbuild like an application would, plus tfjs and its WebGL and WebGPU backends.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-webgl';
// Registers itself only where navigator.gpu exists (the WebGPU test's Chromium).
import '@tensorflow/tfjs-backend-webgpu';
import '@tensorflow/tfjs-backend-cpu';
import { S3N, smallResNet } from '../../dist/index.mjs';
import { runScenario } from './scenario';

(window as unknown as { runS3N: (backend: string) => Promise<unknown> }).runS3N = async (backend: string) => {
  await tf.setBackend(backend);
  await tf.ready();
  // The bundle's copy of the library has the same API as src/ (same source, built).
  return runScenario(tf, S3N as never, smallResNet as never);
};
