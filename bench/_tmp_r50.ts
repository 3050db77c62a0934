import * as tf from '@tensorflow/tfjs-core';
import './common';
import { useBackend } from './common';
import { S3N, resnet50 } from '../src';
import '../src/wasm-training';
async function main() {
  await useBackend(process.argv[2] ?? 'wasm');
  const size = Number(process.argv[3] ?? 224);
  const s3n = S3N.create(resnet50({ inputSize: size, seed: 1 }), { classes: 200, seed: 1 });
  if (process.env.CKPT) s3n.setGradCheckpointing();
  const opt = s3n.createOptimizer();
  const images = tf.randomUniform([1, size, size, 3]) as tf.Tensor4D;
  const labels = tf.tensor1d([3], 'int32');
  console.log('params', s3n.model.countParams(), 'bytes', tf.memory().numBytes/2**20);
  for (let i = 0; i < Number(process.env.STEPS ?? 3); i++) {
    const t0 = performance.now();
    const loss = s3n.trainStep(images, labels, opt);
    console.log('loss', (await (loss as tf.Tensor).data())[0], 'ms', performance.now() - t0, 'MiB', tf.memory().numBytes/2**20, 'heap MiB', ((tf.backend() as any).wasm?.HEAPU8?.length ?? 0)/2**20);
    tf.dispose(loss as tf.Tensor);
  }
}
main().catch((e) => { console.error('ERR', String(e).slice(0,60), tf.memory(), 'heap', (tf.backend() as any).wasm.HEAPU8.length/2**20); process.exit(1); });
