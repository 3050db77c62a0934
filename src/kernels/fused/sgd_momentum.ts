/**
 * Fused JavaScript kernel `S3NSGDMomentum`: one step of SGD with momentum and weight decay
 * for one weight in one pass, rounding every intermediate to float32 like the composed tfjs
 * ops (`src/model/sgd_update.ts`, which picks the path), so both give the same bits.
 * Registered for the `cpu` backend only: wasm's own SIMD ops are faster than the same JS loop.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { jsKernel, runFloat32 } from './js_kernel';

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

/** Registers the kernel (once) and reports whether `backendName` has it. */
export const hasFusedSgdMomentum = /* @__PURE__ */ jsKernel(SGD_MOMENTUM_KERNEL, sgdMomentumKernel as unknown as tf.KernelFunc, SGD_KERNEL_BACKENDS);

/** Runs the kernel on the active backend: `[w', v']`, owned by the caller. */
export function runFusedSgdMomentum(w: tf.Tensor, v: tf.Tensor, g: tf.Tensor, step: SGDStep): [tf.Tensor, tf.Tensor] {
  const attrs = { ...step } as unknown as tf.NamedAttrMap;
  const [nextWeight, nextVelocity] = tf.engine().runKernel(SGD_MOMENTUM_KERNEL, { weight: w, velocity: v, gradient: g }, attrs) as tf.Tensor[];
  return [nextWeight, nextVelocity];
}
