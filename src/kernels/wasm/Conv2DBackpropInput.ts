/**
 * Conv2DBackpropInput for the wasm backend, on XNNPACK.
 *
 * This REPLACES the kernel tfjs-backend-wasm 4.22 ships: that one is a scalar C++ loop that
 * runs 3-13x slower than this one on every ResNet-50 layer shape (bench/wasm_training.ts),
 * and ~10x slower than the forward convolution of the same layer. Here the input gradient is
 *
 * - 1x1 filters: one matrix product `dy @ W^T` (XNNPACK fully-connected, packing whichever
 *   operand is smaller), spread out with zeros afterwards when the stride is > 1;
 * - larger filters, stride 1 on large images: the stride-1 convolution of `dy` with the
 *   spatially flipped, in/out-swapped filter on XNNPACK's Conv2D (transposed_conv.ts; it is
 *   phase-split for strides > 1, so no multiply-by-zero is done);
 * - larger filters otherwise (strided layers, few pixels per output channel):
 *   `cols = W @ dy^T` as one XNNPACK product with the filter as the unpacked operand, then
 *   col2im in JS. This avoids packing a new XNNPACK filter on every call, which dominates on
 *   the small late stages of a ResNet (see `useCol2im`).
 *
 * Attribute semantics follow tfjs-core exactly: strides, pad ('same' | 'valid' | number |
 * explicit), dataFormat ('NHWC' | 'NCHW'), dimRoundingMode and inputShape; the dilation is
 * always 1 for this kernel (tfjs has no dilated Conv2DBackpropInput).
 *
 * The replaced kernel stays available as `original` on the registered config (benchmarks).
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, ReplacementKernelConfig, Shape4, TensorInfo, assertFloat32, assertShape, replacementConfig, withScope } from './kernel_utils';
import { col2im } from './im2col';
import { matMulTransposedWeights } from './pointwise';
import { flipFilter, planAxis, transposedConv } from './transposed_conv';

type Args = { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: BackendWasm; attrs: tf.Conv2DBackpropInputAttrs };

const NAME = 'Conv2DBackpropInput';

/**
 * How filters larger than 1x1 are handled: 'auto' picks per layer (see `useCol2im`); the
 * others force one formulation (tests and benchmarks). @internal
 */
export const inputPath: { value: 'auto' | 'conv' | 'col2im' } = { value: 'auto' };

/**
 * The convolution formulation packs a new XNNPACK filter on every call (~10 ns per filter
 * element) and, for strides > 1, interleaves stride^2 phase outputs; the col2im formulation
 * writes `fh*fw*inC` values per pixel in JS. Measured on ResNet/MobileNet shapes (bench):
 * col2im wins for strided layers and when there are few pixels per output channel
 * (ResNet-50's 14x14 and 7x7 stages), the convolution on large stride-1 images.
 */
export function useCol2im(info: tf.backend_util.Conv2DInfo): boolean {
  if (inputPath.value !== 'auto') return inputPath.value === 'col2im';
  if (info.strideHeight > 1 || info.strideWidth > 1) return true;
  return info.batchSize * info.outHeight * info.outWidth < 4 * info.outChannels;
}

/** The composite kernel. */
export function conv2DBackpropInputImpl(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  assertFloat32(NAME, 'dy', dy);
  assertFloat32(NAME, 'filter', filter);
  const $dataFormat = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as Shape4, strides, 1, pad, dimRoundingMode, false, $dataFormat,
  );
  const channelsLast = info.dataFormat === 'channelsLast';
  const { batchSize: n, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  assertShape(NAME, 'dy', dy, channelsLast ? [n, outHeight, outWidth, outChannels] : [n, outChannels, outHeight, outWidth]);
  const inShape: Shape4 = [n, inHeight, inWidth, inChannels];

  return withScope(backend, (s) => {
    const dyN = channelsLast ? dy : s.transpose(dy, [0, 2, 3, 1]);
    let dx: TensorInfo;
    if (info.filterHeight === 1 && info.filterWidth === 1) {
      dx = pointwise(s, dyN, filter, inShape, info);
    } else if (useCol2im(info)) {
      dx = viaCol2im(s, dyN, filter, inShape, info);
    } else {
      dx = transposedConv(s, {
        dy: dyN,
        inShape,
        flipped: flipFilter(s, filter, true),
        strides: [info.strideHeight, info.strideWidth],
        dilations: [1, 1],
        padTop: info.padInfo.top,
        padLeft: info.padInfo.left,
        depthwise: false,
      });
    }
    if (!channelsLast) dx = s.transpose(dx, [0, 3, 1, 2]);
    return s.keep(dx);
  });
}

/** 1x1 filter: `dx[i*s - pad] = dy[i] @ W^T`, zeros elsewhere. */
function pointwise(
  s: import('./kernel_utils').Scope, dy: TensorInfo, filter: TensorInfo, inShape: Shape4, info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const [n, inH, inW, inC] = inShape;
  const [, outH, outW, outC] = dy.shape;
  const { strideHeight: sh, strideWidth: sw } = info;
  const rh = planAxis(inH, outH, 1, sh, 1, info.padInfo.top);
  const rw = planAxis(inW, outW, 1, sw, 1, info.padInfo.left);
  const h = rh.phases[0];
  const w = rw.phases[0];
  const rows = outH - h.cropBefore - h.cropAfter;
  const cols = outW - w.cropBefore - w.cropAfter;
  let y: TensorInfo;
  if (rows <= 0 || cols <= 0) {
    y = s.zeros([n, rh.count, rw.count, inC]);
  } else {
    const dyc = s.slice(dy, [0, h.cropBefore, w.cropBefore, 0], [n, rows, cols, outC]);
    const y2 = matMulTransposedWeights(s, s.reshape(dyc, [n * rows * cols, outC]), s.reshape(filter, [inC, outC]));
    y = s.pad(s.reshape(y2, [n, rows, cols, inC]), [[0, 0], [h.padBefore, h.padAfter], [w.padBefore, w.padAfter], [0, 0]]);
  }
  if (sh > 1 || sw > 1) {
    const y6 = s.reshape(y, [n, rh.count, 1, rw.count, 1, inC]);
    const spread = s.pad(y6, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
    y = s.reshape(spread, [n, rh.count * sh, rw.count * sw, inC]);
  }
  return s.slice(y, [0, rh.offset, rw.offset, 0], inShape);
}

/**
 * Kernel config replacing `previous` (the wasm backend's own kernel, when there is one), which
 * stays available as `original`.
 */
export function makeConv2DBackpropInputConfig(previous?: tf.KernelConfig): ReplacementKernelConfig {
  return replacementConfig(tf.Conv2DBackpropInput, previous, conv2DBackpropInputImpl);
}

/**
 * `cols = W @ dy^T` (the filter as the left, unpacked operand of one XNNPACK matrix product
 * `[fh*fw*inC, outC] x [outC, pixels]`), then col2im in JS into a channel-major dx.
 */
function viaCol2im(
  s: import('./kernel_utils').Scope, dy: TensorInfo, filter: TensorInfo, inShape: Shape4, info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const [n, h, w, c] = inShape;
  const { filterHeight: fh, filterWidth: fw, outHeight: outH, outWidth: outW, outChannels: oc } = info;
  const m = n * outH * outW;
  const k = fh * fw * c;
  const dyT = s.transpose(s.reshape(dy, [m, oc]), [1, 0]);
  const cols = s.matMul(s.reshape(filter, [1, k, oc]), s.reshape(dyT, [1, oc, m]));
  const dxT = s.track(s.backend.makeOutput([c, n, h, w], 'float32'));
  col2im(
    s.backend.typedArrayFromHeap(cols) as Float32Array,
    s.backend.typedArrayFromHeap(dxT) as Float32Array,
    { n, c, h, w, fh, fw, outH, outW, sh: info.strideHeight, sw: info.strideWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left },
  );
  return s.transpose(dxT, [1, 2, 3, 0]);
}
