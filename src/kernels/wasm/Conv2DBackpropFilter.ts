/**
 * Conv2DBackpropFilter for the wasm backend (which has none), on XNNPACK.
 *
 *     dW[a, b, i, o] = sum_{n, y, x} xPadded[n, y*sh + a, x*sw + b, i] * dy[n, y, x, o]
 *
 * - 1x1 filters: the (strided) input pixels times dy, one matrix product.
 * - larger filters (default, 'im2col'): the input patches as a column matrix
 *   `[fh*fw*inC, pixels]` (built in JS on the wasm heap) times dy `[pixels, outC]`, one
 *   XNNPACK matrix product.
 * - larger filters, 'conv' (kept, selectable through `filterPath`): the sum above as a
 *   convolution with the roles swapped: input `x` transposed to `[inC, H, W, batch]`
 *   (channels become the batch, the batch the contracted channel axis), filter `dy`
 *   transposed to `[outH, outW, batch, outC]`, stride 1 and *dilation* `(sh, sw)`, the
 *   forward padding in front; its output `[inC, fh', fw', outC]` cropped and transposed is
 *   dW. No copies, but XNNPACK runs it with one input channel per tap (batch 1), which
 *   measured 1.3-2.5x slower than im2col on every ResNet-50 layer shape.
 *
 * Attribute semantics follow tfjs-core exactly: strides, pad ('same' | 'valid' | number |
 * explicit), dataFormat ('NHWC' | 'NCHW'), dimRoundingMode and filterShape.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, Scope, Shape4, TensorInfo, assertFloat32, assertShape, withScope } from './kernel_utils';
import { im2col } from './im2col';
import { matMulTransposedLeft } from './pointwise';

/** Which formulation larger filters use ('im2col' unless a test or benchmark says otherwise). @internal */
export const filterPath: { value: 'im2col' | 'conv' } = { value: 'im2col' };

type Args = { inputs: { x: TensorInfo; dy: TensorInfo }; backend: BackendWasm; attrs: tf.Conv2DBackpropFilterAttrs };

const NAME = 'Conv2DBackpropFilter';

export function conv2DBackpropFilter(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  assertFloat32(NAME, 'x', x);
  assertFloat32(NAME, 'dy', dy);
  const $dataFormat = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode, false, $dataFormat,
  );
  const channelsLast = info.dataFormat === 'channelsLast';
  const { batchSize: n, outHeight, outWidth, outChannels } = info;
  assertShape(NAME, 'dy', dy, channelsLast ? [n, outHeight, outWidth, outChannels] : [n, outChannels, outHeight, outWidth]);

  return withScope(backend, (s) => {
    const xN = channelsLast ? x : s.transpose(x, [0, 2, 3, 1]);
    const dyN = channelsLast ? dy : s.transpose(dy, [0, 2, 3, 1]);
    let dW: TensorInfo;
    if (info.filterHeight === 1 && info.filterWidth === 1) dW = pointwise(s, xN, dyN, info);
    else if (filterPath.value === 'conv') dW = viaConv(s, xN, dyN, info);
    else dW = viaIm2col(s, xN, dyN, info);
    return s.keep(dW);
  });
}

/**
 * `x[n, y*sh - padTop, x*sw - padLeft, :]` for every output pixel (zeros outside x), as
 * `[n, outH, outW, inC]`. The stride is taken with a reshape and a block Slice, which on
 * wasm is ~50x faster than a strided StridedSlice.
 */
export function samplePixels(
  s: Scope, x: TensorInfo, outH: number, outW: number, sh: number, sw: number, padTop: number, padLeft: number,
): TensorInfo {
  const [n, h, w, c] = x.shape;
  // Rows padTop-aligned: from -padTop, outH*sh of them (so they reshape into [outH, sh]).
  const fit = (size: number, out: number, st: number, p: number): [number, number, number] => {
    const needed = out * st; // rows [-p, -p + needed)
    const before = Math.max(0, p);
    const crop = Math.max(0, -p);
    const after = needed - p - size; // > 0: pad, < 0: crop
    return [before, crop, after];
  };
  const [padT, cropT, restH] = fit(h, outH, sh, padTop);
  const [padL, cropL, restW] = fit(w, outW, sw, padLeft);
  let xs = s.slice(x, [0, cropT, cropL, 0], [n, h - cropT - Math.max(0, -restH), w - cropL - Math.max(0, -restW), c]);
  xs = s.pad(xs, [[0, 0], [padT, Math.max(0, restH)], [padL, Math.max(0, restW)], [0, 0]]);
  if (sh === 1 && sw === 1) return xs;
  const blocks = s.reshape(xs, [n * outH, sh, outW, sw * c]);
  return s.reshape(s.slice(blocks, [0, 0, 0, 0], [n * outH, 1, outW, c]), [n, outH, outW, c]);
}

function pointwise(s: Scope, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, outHeight: oh, outWidth: ow, inChannels: ic, outChannels: oc } = info;
  const xs = samplePixels(s, x, oh, ow, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left);
  const m = n * oh * ow;
  const dW = matMulTransposedLeft(s, s.reshape(xs, [m, ic]), s.reshape(dy, [m, oc]));
  return s.reshape(dW, [1, 1, ic, oc]);
}

function viaConv(s: Scope, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ic, outHeight: oh, outWidth: ow, outChannels: oc } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const xT = s.transpose(x, [3, 1, 2, 0]); // [ic, h, w, n]
  const dyT = n === 1 ? s.reshape(dy, [oh, ow, 1, oc]) : s.transpose(dy, [1, 2, 0, 3]); // [oh, ow, n, oc]
  // Enough trailing padding for every tap the forward pass used (zeros beyond the input).
  const pb = Math.max(0, fh + (oh - 1) * sh - h - pt);
  const pr = Math.max(0, fw + (ow - 1) * sw - w - pl);
  const out = s.conv2d(xT, dyT, [1, 1], [sh, sw], [pt, pb, pl, pr]); // [ic, >=fh, >=fw, oc]
  const cropped = s.slice(out, [0, 0, 0, 0], [ic, fh, fw, oc]);
  return s.transpose(cropped, [1, 2, 0, 3]);
}

/**
 * `dW = cols @ dy`: the input patches as columns (built in JS on the wasm heap from the
 * channel-major input) times the output gradient, one XNNPACK matrix product
 * `[fh*fw*inC, pixels] x [pixels, outC]`.
 */
function viaIm2col(s: Scope, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: outH, outWidth: outW, outChannels: oc } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const xT = s.transpose(x, [3, 0, 1, 2]); // [c, n, h, w]
  const k = fh * fw * c;
  const m = n * outH * outW;
  const cols = s.track(s.backend.makeOutput([1, k, m], 'float32'));
  im2col(
    s.backend.typedArrayFromHeap(xT) as Float32Array,
    s.backend.typedArrayFromHeap(cols) as Float32Array,
    { n, c, h, w, fh, fw, outH, outW, sh, sw, padTop: info.padInfo.top, padLeft: info.padInfo.left },
  );
  const dW = s.matMul(cols, s.reshape(dy, [1, m, oc]));
  return s.reshape(dW, [fh, fw, c, oc]);
}
