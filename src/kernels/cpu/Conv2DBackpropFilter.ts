/**
 * Conv2DBackpropFilter for the pure-JS 'cpu' backend: the filter gradient of every
 * convolution. tfjs-backend-cpu 4.x computes it with one `TensorBuffer.get` call per
 * multiply-add (about 5·10⁶ multiply-adds a second), which on small backbones is most of a
 * training step. This version walks the flat NHWC arrays directly: the same sums, in another
 * order (float32 results agree to rounding), deterministic.
 *
 * NHWC float32 only; anything else (NCHW, other dtypes) goes to the kernel that was replaced.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** What the kernel uses of tfjs-backend-cpu's `MathBackendCPU`. */
interface CpuBackend {
  data: { get(id: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

interface Attrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** dW[wR, wC, d1, d2] = Σ x[b, yR·sH − top + wR, yC·sW − left + wC, d1] · dy[b, yR, yC, d2]. */
export function conv2DBackpropFilter(args: KernelArgs, original?: tf.KernelFunc): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  if (attrs.dataFormat === 'NCHW' || x.dtype !== 'float32' || dy.dtype !== 'float32') {
    if (original == null) {
      throw new Error(`Conv2DBackpropFilter (s3n-layers/cpu-training): only NHWC float32 is supported, but got ${attrs.dataFormat} ${x.dtype}/${dy.dtype}.`);
    }
    return original(args) as tf.TensorInfo;
  }
  const backend = args.backend as unknown as CpuBackend;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1, // dilations: like tfjs' kernel (tfjs has no gradient for dilated conv2d)
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const xv = backend.data.get(x.dataId).values as Float32Array;
  const dyv = backend.data.get(dy.dataId).values as Float32Array;
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const dW = new Float32Array(filterHeight * filterWidth * inChannels * outChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let yR = 0; yR < outHeight; yR++) {
      for (let yC = 0; yC < outWidth; yC++) {
        const dyOff = ((b * outHeight + yR) * outWidth + yC) * outChannels;
        for (let wR = 0; wR < filterHeight; wR++) {
          const xR = yR * strideHeight - top + wR;
          if (xR < 0 || xR >= inHeight) continue;
          for (let wC = 0; wC < filterWidth; wC++) {
            const xC = yC * strideWidth - left + wC;
            if (xC < 0 || xC >= inWidth) continue;
            const xOff = ((b * inHeight + xR) * inWidth + xC) * inChannels;
            const wOff = (wR * filterWidth + wC) * inChannels * outChannels;
            for (let d1 = 0; d1 < inChannels; d1++) {
              const xval = xv[xOff + d1];
              if (xval === 0) continue;
              const o = wOff + d1 * outChannels;
              for (let d2 = 0; d2 < outChannels; d2++) dW[o + d2] += xval * dyv[dyOff + d2];
            }
          }
        }
      }
    }
  }
  return backend.makeTensorInfo(attrs.filterShape, 'float32', dW);
}

/** Kernel config replacing `previous` (kept for the cases above, and as `original`). */
export function makeConv2DBackpropFilterConfig(previous?: tf.KernelConfig): tf.KernelConfig & { original?: tf.KernelFunc } {
  const original = previous?.kernelFunc;
  const kernelFunc = ((args: KernelArgs) => conv2DBackpropFilter(args, original)) as tf.KernelFunc;
  return { kernelName: tf.Conv2DBackpropFilter, backendName: 'cpu', kernelFunc, original };
}
