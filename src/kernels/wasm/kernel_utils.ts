/**
 * Plumbing shared by the wasm training kernels: calling the wasm backend's own kernels
 * directly (no engine, no tape, no tensor bookkeeping) and disposing the intermediates.
 *
 * Every kernel here is a composition of kernels the wasm backend already has (Conv2D,
 * DepthwiseConv2dNative, BatchMatMul, Transpose, PadV2, Slice, AddN, ScatterNd, ...), plus a
 * few plain copies on the wasm heap (im2col.ts, Tile.ts, flipFilter). They are looked
 * up in the kernel registry at call time and called with the same `backend` the engine gave
 * us, exactly as tfjs' own composite kernels call their siblings. Intermediate `TensorInfo`s
 * are released with `backend.disposeData`, which honours the reference counts that Reshape
 * keeps, so a reshaped view of an input is safe to "dispose".
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type { BackendWasm };
export type TensorInfo = tf.TensorInfo;
export type Shape4 = [number, number, number, number];

/** A kernel config that also remembers the kernel it replaced. */
export type ReplacementKernelConfig = tf.KernelConfig & { original?: tf.KernelFunc };

/**
 * Kernel config for `kernelName` on wasm that replaces `previous` (the wasm backend's own
 * kernel, when there is one). `impl` receives the replaced kernel function, e.g. to hand it
 * the dtypes or shapes it serves better; it is also kept as `original`, and the setup/dispose
 * hooks are carried over so that the engine still binds it to the wasm module.
 */
export function replacementConfig<A>(
  kernelName: string,
  previous: tf.KernelConfig | undefined,
  impl: (args: A, original?: tf.KernelFunc) => TensorInfo,
): ReplacementKernelConfig {
  const original = previous?.kernelFunc;
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ((args: A) => impl(args, original)) as unknown as tf.KernelFunc,
    setupFunc: previous?.setupFunc,
    disposeFunc: previous?.disposeFunc,
    original,
  };
}

/** Marker on every kernelFunc this package registers (shared across duplicate module copies). */
export const S3N_KERNEL_MARK = Symbol.for('s3n-layers.wasm-training.kernel');

/** The wasm backend's kernel registered under `name` (a native one or one of ours). */
function wasmKernel(name: string): tf.KernelConfig {
  const k = tf.getKernel(name, 'wasm');
  if (k == null) throw new Error(`s3n-layers/wasm-training: the wasm backend has no '${name}' kernel.`);
  return k;
}

/**
 * Runs kernel `name` of the wasm backend synchronously and returns its (single) output.
 * The caller owns the result and must release it with `backend.disposeData`.
 */
export function runKernel(
  backend: BackendWasm,
  name: string,
  inputs: Record<string, TensorInfo> | TensorInfo[],
  attrs: Record<string, unknown> = {},
): TensorInfo {
  // Concat and AddN take their inputs as an array, like in tfjs' own composite kernels.
  const out = wasmKernel(name).kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs: attrs as tf.NamedAttrMap });
  if (Array.isArray(out)) throw new Error(`s3n-layers/wasm-training: kernel '${name}' returned several outputs.`);
  return out as TensorInfo;
}

/**
 * A bag of intermediates. `run` calls a wasm kernel and remembers its output; `dispose`
 * releases everything except the tensors handed out with `keep`.
 */
export class Scope {
  private readonly live: TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Calls wasm kernel `name`; the output is released by `dispose()` unless kept. */
  run(name: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: Record<string, unknown> = {}): TensorInfo {
    const out = runKernel(this.backend, name, inputs, attrs);
    this.live.push(out);
    return out;
  }

  /** Tracks a tensor made outside `run` (e.g. with `backend.makeOutput`). */
  track(t: TensorInfo): TensorInfo {
    this.live.push(t);
    return t;
  }

  /** Removes `t` from the bag: the caller takes ownership (typically the kernel's result). */
  keep(t: TensorInfo): TensorInfo {
    const i = this.live.lastIndexOf(t);
    if (i < 0) throw new Error('s3n-layers/wasm-training: keep() of a tensor this scope does not own.');
    this.live.splice(i, 1);
    return t;
  }

  /** Releases every tracked intermediate (reference counted: views made by Reshape stay valid). */
  dispose(): void {
    for (const t of this.live) this.backend.disposeData(t.dataId);
    this.live.length = 0;
  }

  // ---- thin wrappers over the wasm kernels used here -------------------------------------

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Zero padding; `paddings[i] = [before, after]`, both >= 0. */
  pad(x: TensorInfo, paddings: Array<[number, number]>): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return this.reshape(x, x.shape);
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  /** `x[begin : begin + size : strides]` (every stride >= 1). */
  stridedSlice(x: TensorInfo, begin: number[], size: number[], strides?: number[]): TensorInfo {
    const st = strides ?? begin.map(() => 1);
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i]) && st.every((s) => s === 1)) {
      return this.reshape(x, x.shape);
    }
    const end = begin.map((b, i) => b + (size[i] - 1) * st[i] + 1);
    return this.run('StridedSlice', { x }, {
      begin, end, strides: st, beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
    });
  }

  /** Plain contiguous-block slice. */
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return this.reshape(x, x.shape);
    return this.run('Slice', { x }, { begin, size });
  }

  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run('Sum', { x }, { axis, keepDims: false });
  }

  zeros(shape: number[], dtype: tf.DataType = 'float32'): TensorInfo {
    return this.run('Fill', {}, { shape, value: 0, dtype });
  }

  /** `[1, m, k] x [1, k, n]`: the only layout the wasm backend runs through XNNPACK. */
  matMul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /** Stride-`strides`, dilation-`dilations` NHWC convolution on XNNPACK with explicit padding. */
  conv2d(x: TensorInfo, filter: TensorInfo, strides: [number, number], dilations: [number, number], pads: Pads): TensorInfo {
    return this.run('Conv2D', { x, filter }, {
      strides, dilations, pad: explicitPad(pads), dataFormat: 'NHWC', dimRoundingMode: undefined,
    });
  }

  /** Depthwise NHWC convolution on XNNPACK with explicit padding. */
  depthwiseConv2d(x: TensorInfo, filter: TensorInfo, strides: [number, number], dilations: [number, number], pads: Pads): TensorInfo {
    return this.run('DepthwiseConv2dNative', { x, filter }, {
      strides, dilations, pad: explicitPad(pads), dataFormat: 'NHWC', dimRoundingMode: undefined,
    });
  }
}

/** Spatial paddings `[top, bottom, left, right]`. */
export type Pads = [number, number, number, number];

function explicitPad([t, b, l, r]: Pads): tf.backend_util.ExplicitPadding {
  return [[0, 0], [t, b], [l, r], [0, 0]];
}

/** Runs `body` with a fresh scope; intermediates are released even when `body` throws. */
export function withScope<T>(backend: BackendWasm, body: (s: Scope) => T): T {
  const s = new Scope(backend);
  try {
    return body(s);
  } finally {
    s.dispose();
  }
}

/** `[a, a]` for a number, the pair itself otherwise. */
export function pair(v: number | [number, number] | number[] | undefined, dflt = 1): [number, number] {
  if (v == null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0], v.length > 1 ? v[1] : v[0]];
}

/** The kernels here are float32 only, like the backprop kernels of the cpu backend. */
export function assertFloat32(kernel: string, name: string, t: TensorInfo): void {
  if (t.dtype !== 'float32') {
    throw new Error(`${kernel} (s3n-layers/wasm-training): ${name} must be float32, but got ${t.dtype}.`);
  }
}

/** Throws unless `t` has exactly `shape`. */
export function assertShape(kernel: string, name: string, t: TensorInfo, shape: number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(
      `${kernel} (s3n-layers/wasm-training): ${name} must have shape [${shape.join(',')}], but got [${t.shape.join(',')}].`,
    );
  }
}
