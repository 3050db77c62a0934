/**
 * Ops benchmarks (issue: ops foundation): gridSample forward+backward on [16,448,448,3], and the
 * full selective-sampling path at batch 16, 200 classes, 31×31 maps, 448×448 images.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gridSample, saliencyFilter, selectiveSparseSampling } from '../src/ops';
import { FUSED_KERNELS_FLAG } from '../src/kernels/fused/flag';
import { sgdMomentumStep } from '../src/model/sgd_update';
import { Row, time, useBackend } from './common';

export async function benchOps(backends: string[], batch = 16, size = 448): Promise<Row[]> {
  const rows: Row[] = [];
  for (const backend of backends) {
    await useBackend(backend);
    const image = tf.randomUniform([batch, size, size, 3]) as tf.Tensor4D;
    // A smooth random warp, mostly inside [-1, 1].
    const grid = tf.tidy(() => {
      const lin = tf.linspace(-1, 1, size);
      const gx = tf.tile(tf.reshape(lin, [1, 1, size, 1]), [batch, size, 1, 1]);
      const gy = tf.tile(tf.reshape(lin, [1, size, 1, 1]), [batch, 1, size, 1]);
      return tf.add(tf.concat([gx, gy], 3), tf.randomUniform([batch, size, size, 2], -0.05, 0.05)) as tf.Tensor4D;
    });
    const opts = { mode: 'bilinear', paddingMode: 'zeros', alignCorners: true } as const;
    const fwd = await time(() => gridSample(image, grid, opts));
    // Backward with an explicit upstream gradient: a tf.sum loss would add the cpu backend's
    // slow broadcast of its gradient (~1.5 s at this size), which is not the op's cost.
    const dy = tf.randomUniform([batch, size, size, 3], -1, 1);
    const gradFn = tf.grads((x: tf.Tensor, g: tf.Tensor) => gridSample(x as tf.Tensor4D, g as tf.Tensor4D, opts));
    const fb = await time(() => gradFn([image, grid], dy));
    rows.push({ section: 'ops', name: `gridSample forward [${batch},${size},${size},3]`, backend, ms: fwd, note: 'PyTorch 2-core reference ≈ 160 ms' });
    rows.push({ section: 'ops', name: `gridSample forward+backward [${batch},${size},${size},3]`, backend, ms: fb });

    const crms = tf.randomNormal([batch, 31, 31, 200]) as tf.Tensor4D;
    const radius = tf.scalar(0.09);
    const radiusInv = tf.scalar(0.3);
    for (const learned of [false, true]) {
      const filter = learned ? saliencyFilter(61, 13) : undefined;
      const label = learned ? 'learnable 61×61 filter' : 'fixed separable filter';
      const run = (r: tf.Tensor, ri: tf.Tensor) => selectiveSparseSampling(image, crms, { mode: 'all', radius: r, radiusInv: ri, filter });
      const f = await time(() => {
        const o = run(radius, radiusInv);
        return [o.zoomImage, o.inverseImage];
      });
      const g = tf.grads((r: tf.Tensor, ri: tf.Tensor) => {
        const o = run(r, ri);
        return tf.add(tf.sum(o.zoomImage), tf.sum(o.inverseImage));
      });
      const fbS = await time(() => g([radius, radiusInv]));
      rows.push({ section: 'ops', name: `selective sampling forward, batch ${batch}, ${label}`, backend, ms: f, note: 'PyTorch reference ≈ 1050 ms' });
      rows.push({ section: 'ops', name: `selective sampling forward+backward, batch ${batch}, ${label}`, backend, ms: fbS });
      filter?.dispose();
    }
    tf.dispose([image, grid, dy, crms, radius, radiusInv]);
    rows.push(...(await benchSgdUpdate(backend)));
  }
  return rows;
}

/** One SGD-with-momentum update of an S3N head buffer kernel [3,3,2048,2048]: fused vs composed. */
export async function benchSgdUpdate(backend: string): Promise<Row[]> {
  const [w, v, g] = [1, 2, 3].map((seed) => tf.randomUniform([3, 3, 2048, 2048], -1, 1, 'float32', seed));
  const step = { learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4 };
  const run = async (fused: boolean) => {
    tf.env().set(FUSED_KERNELS_FLAG, fused);
    try {
      return await time(() => sgdMomentumStep(w, v, g, step), 5);
    } finally {
      tf.env().set(FUSED_KERNELS_FLAG, true);
    }
  };
  const composed = await run(false);
  const fused = await run(true);
  tf.dispose([w, v, g]);
  const name = 'SGD momentum update of a [3,3,2048,2048] kernel';
  return [
    { section: 'ops', name: `${name}, composed tfjs ops`, backend, ms: composed },
    { section: 'ops', name: `${name}, sgdMomentumStep (fused kernel on cpu, the same ops elsewhere)`, backend, ms: fused, ratio: fused / composed, baseline: 'composed tfjs ops' },
  ];
}
