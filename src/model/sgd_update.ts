/**
 * One step of SGD with momentum and weight decay for one weight, PyTorch semantics (no
 * dampening, no Nesterov):
 *
 *   d  = g + λ·w
 *   v' = μ·v + d
 *   w' = w − lr·v'
 *
 * Composed from tfjs ops this is six passes over the weight, three of them broadcasting a
 * scalar, which the cpu backend does by computing a multi-dimensional index per element: 4 s
 * for one of the two 37.7 M-parameter kernels of S3N's head (bench/ops.ts). On cpu a fused
 * kernel, `S3NSGDMomentum` (`src/kernels/fused/sgd_momentum.ts`), does it in one pass (0.11×
 * the time), rounding every intermediate to float32 like the composed ops, so both give the
 * same bits. wasm's own SIMD ops are
 * faster than the same JS loop there (156 ms vs 369 ms), so wasm, like webgl and tensorflow,
 * runs the composed ops, at most two weight-sized temporaries at a time. The
 * `S3N_FUSED_KERNELS` flag (see {@link ops.FUSED_KERNELS_FLAG}) forces the composed ops.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNELS_FLAG } from '../kernels/fused/flag';
import { hasFusedSgdMomentum, runFusedSgdMomentum, SGDStep } from '../kernels/fused/sgd_momentum';

export type { SGDStep };

/** The same step composed from tfjs ops, for backends without the kernel. */
function composedStep(w: tf.Tensor, v: tf.Tensor, g: tf.Tensor, step: SGDStep): [tf.Tensor, tf.Tensor] {
  // One small tidy per expression: at most two weight-sized temporaries at a time.
  const decayed = step.weightDecay > 0 ? tf.tidy(() => tf.add(g, tf.mul(w, step.weightDecay))) : g;
  const nextVelocity = tf.tidy(() => tf.add(tf.mul(v, step.momentum), decayed));
  if (decayed !== g) decayed.dispose();
  const nextWeight = step.learningRate === 0 ? tf.clone(w) : tf.tidy(() => tf.sub(w, tf.mul(nextVelocity, step.learningRate)));
  return [nextWeight, nextVelocity];
}

/**
 * `[w', v']` after one step from weight `w`, momentum buffer `v` and gradient `g` (same
 * shape, float32). The caller owns both results.
 */
export function sgdMomentumStep(w: tf.Tensor, v: tf.Tensor, g: tf.Tensor, step: SGDStep): [tf.Tensor, tf.Tensor] {
  const fused = tf.env().getBool(FUSED_KERNELS_FLAG) && w.dtype === 'float32' && hasFusedSgdMomentum(tf.getBackend());
  if (!fused) return composedStep(w, v, g, step);
  return runFusedSgdMomentum(w, v, g, step);
}
