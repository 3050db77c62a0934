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
 * kernel, `S3NSGDMomentum`, does it in one pass (0.11× the time), rounding every intermediate
 * to float32 like the composed ops, so both give the same bits. wasm's own SIMD ops are
 * faster than the same JS loop there (156 ms vs 369 ms), so wasm, like webgl and tensorflow,
 * runs the composed ops, at most two weight-sized temporaries at a time. The
 * `S3N_FUSED_KERNELS` flag (see {@link ops.FUSED_KERNELS_FLAG}) forces the composed ops.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { ensureJsKernel, FUSED_KERNELS_FLAG, runFloat32 } from '../ops/js_kernel';

/** Kernel name: inputs `{weight, velocity, gradient}`, outputs `[newWeight, newVelocity]`. */
export const SGD_MOMENTUM_KERNEL = 'S3NSGDMomentum';
/** The backends the kernel is registered for (faster there than the composed ops). */
const SGD_KERNEL_BACKENDS = ['cpu'];

/** Hyper-parameters of one step. */
export interface SGDStep {
  learningRate: number;
  momentum: number;
  weightDecay: number;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function sgdMomentumKernel(args: KernelArgs): tf.TensorInfo[] {
  const { weight, velocity, gradient } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as SGDStep;
  // The scalars as float32, as tfjs would store them.
  const lr = Math.fround(attrs.learningRate);
  const mu = Math.fround(attrs.momentum);
  const wd = Math.fround(attrs.weightDecay);
  const f = Math.fround;
  return runFloat32(
    args.backend as tf.KernelBackend,
    [weight, velocity, gradient],
    [weight.shape, weight.shape],
    ([w, v, g], [wOut, vOut]) => {
      for (let i = 0; i < w.length; i++) {
        const d = wd === 0 ? g[i] : f(g[i] + f(wd * w[i]));
        const vn = f(f(mu * v[i]) + d);
        vOut[i] = vn;
        wOut[i] = lr === 0 ? w[i] : w[i] - f(lr * vn);
      }
    },
    false,
  );
}

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
  const fused =
    tf.env().getBool(FUSED_KERNELS_FLAG) &&
    w.dtype === 'float32' &&
    ensureJsKernel(SGD_MOMENTUM_KERNEL, sgdMomentumKernel as unknown as tf.KernelFunc, tf.getBackend(), SGD_KERNEL_BACKENDS);
  if (!fused) return composedStep(w, v, g, step);
  const attrs = { ...step } as unknown as tf.NamedAttrMap;
  const [nextWeight, nextVelocity] = tf.engine().runKernel(SGD_MOMENTUM_KERNEL, { weight: w, velocity: v, gradient: g }, attrs) as tf.Tensor[];
  return [nextWeight, nextVelocity];
}
