/**
 * A faster `Conv2DBackpropFilter` for the pure-JS 'cpu' backend. tfjs-backend-cpu 4.x computes
 * this gradient (the filter gradient of every convolution) with one `TensorBuffer.get` call per
 * multiply-add, about 5·10⁶ multiply-adds a second: on small backbones it is most of a
 * training step. This version walks the flat NHWC arrays directly (same result up to float
 * summation order; deterministic).
 *
 * Installed by the CLI on the cpu backend only.
 */
import * as tf from '@tensorflow/tfjs-core';

interface BackendLike {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

interface Attrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

let original: tf.KernelConfig | undefined;

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: unknown }): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as Attrs;
  if (attrs.dataFormat === 'NCHW' || x.dtype !== 'float32' || dy.dtype !== 'float32') {
    return (original as tf.KernelConfig).kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  const backend = args.backend as BackendLike;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
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

/** Replaces the cpu backend's Conv2DBackpropFilter by the faster one (idempotent). */
export function installFastCpuKernels(): void {
  const current = tf.getKernel(tf.Conv2DBackpropFilter, 'cpu');
  if (current === undefined || current.kernelFunc === (conv2DBackpropFilter as unknown as tf.KernelFunc)) return;
  original = current;
  tf.unregisterKernel(tf.Conv2DBackpropFilter, 'cpu');
  tf.registerKernel({ kernelName: tf.Conv2DBackpropFilter, backendName: 'cpu', kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc });
}

/** Puts tfjs' own kernel back. */
export function uninstallFastCpuKernels(): void {
  if (original === undefined) return;
  tf.unregisterKernel(tf.Conv2DBackpropFilter, 'cpu');
  tf.registerKernel(original);
  original = undefined;
}
