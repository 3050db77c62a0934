/**
 * The computation the WebGL test runs in the browser and on the cpu backend in Node: build a
 * seeded S3N on the small backbone, run inference, one training step, and inference again;
 * then a second step with gradient checkpointing of the backbone, and inference.
 * It receives tfjs and the library as arguments so that each side uses its own copies.
 */
import type * as tfType from '@tensorflow/tfjs-core';
import type { S3N as S3NType, smallResNet as smallResNetType } from '../../src';

export interface ScenarioResult {
  backend: string;
  logitsBefore: number[];
  loss: number;
  logitsAfter: number[];
  /** Loss and logits of a second step, with gradient checkpointing of the backbone. */
  checkpointedLoss: number;
  logitsAfterCheckpointed: number[];
  radius: number;
  radiusInv: number;
  /** Kernels the step dispatched that the backend does not register (should be none). */
  missing: string[];
}

export async function runScenario(tf: typeof tfType, S3N: typeof S3NType, smallResNet: typeof smallResNetType): Promise<ScenarioResult> {
  const size = 32;
  const s3n = S3N.create(smallResNet({ inputSize: size, widths: [4, 8], seed: 3 }), { classes: 3, seed: 3 });
  // A smooth deterministic image batch (no RNG, so both sides see identical inputs).
  const images = tf.tidy(() => {
    const y = tf.reshape(tf.linspace(0, 1, size), [1, size, 1, 1]);
    const x = tf.reshape(tf.linspace(0, 1, size), [1, 1, size, 1]);
    const c = tf.reshape(tf.tensor1d([1, 2, 3]), [1, 1, 1, 3]);
    const b = tf.reshape(tf.tensor1d([0.5, 1.5]), [2, 1, 1, 1]);
    return tf.sin(tf.add(tf.mul(tf.add(tf.mul(y, 3), tf.mul(x, 5)), c), b)) as tfType.Tensor4D;
  });
  const labels = tf.tensor1d([0, 2], 'int32');
  const before = s3n.predict(images);
  const logitsBefore = Array.from(await before.data());
  const opt = s3n.createOptimizer({ learningRate: 0.01, multipliers: { radius: 10 } });
  const info = await tf.profile(() => s3n.trainStep(images, labels, opt));
  const lossTensor = info.result as tfType.Scalar;
  const loss = (await lossTensor.data())[0];
  const missing = [...new Set(info.kernelNames)].filter((k) => !k.endsWith('__op') && k !== 'unnamed scope' && tf.getKernel(k, tf.getBackend()) == null);
  const after = s3n.predict(images);
  const logitsAfter = Array.from(await after.data());
  const { radius, radiusInv } = await s3n.radii();
  s3n.setGradCheckpointing();
  const loss2 = s3n.trainStep(images, labels, opt);
  const checkpointedLoss = (await loss2.data())[0];
  const after2 = s3n.predict(images);
  const logitsAfterCheckpointed = Array.from(await after2.data());
  tf.dispose([images, labels, before, after, lossTensor, loss2, after2]);
  opt.dispose();
  s3n.dispose();
  return { backend: tf.getBackend(), logitsBefore, loss, logitsAfter, checkpointedLoss, logitsAfterCheckpointed, radius, radiusInv, missing };
}
