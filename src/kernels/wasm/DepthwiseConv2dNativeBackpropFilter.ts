/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend (which has none), on XNNPACK.
 *
 *     dW[a, b, c, m] = sum_{n, y, x} xPadded[n, y*sh + a*dh, x*sw + b*dw, c] * dy[n, y, x, c*M + m]
 *
 * is a depthwise convolution with the roles swapped: the input is `x` with the batch folded
 * into the channels (`[1, H, W, batch*C]`), the depthwise filter is `dy` as
 * `[outH, outW, batch*C, M]`, the stride is the forward dilation and the dilation is the
 * forward stride. Its output `[1, fh', fw', batch*C*M]` is cropped to fh x fw and summed
 * over the batch.
 *
 * Dilations are honoured (the true gradient). NOTE: the cpu backend of tfjs 4.22 ignores
 * `dilations` in this kernel (its taps are not spread out), so for dilation > 1 its result is
 * not the gradient and this kernel does not match it; for dilation 1 they agree.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, Shape4, TensorInfo, assertFloat32, assertShape, pair, withScope } from './kernel_utils';

type Args = {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: tf.DepthwiseConv2dNativeBackpropFilterAttrs;
};

const NAME = 'DepthwiseConv2dNativeBackpropFilter';

export function depthwiseConv2dNativeBackpropFilter(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs;
  assertFloat32(NAME, 'x', x);
  assertFloat32(NAME, 'dy', dy);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4, filterShape, strides, dilations ?? [1, 1], pad, dimRoundingMode, true,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const [dh, dw] = pair(dilations as number | [number, number]);
  const mult = outChannels / c;
  assertShape(NAME, 'dy', dy, [n, oh, ow, outChannels]);
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;

  return withScope(backend, (s) => {
    const xB = n === 1 ? x : s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]);
    const dyB = n === 1
      ? s.reshape(dy, [oh, ow, c, mult])
      : s.reshape(s.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * c, mult]);
    const pb = Math.max(0, (fh - 1) * dh + (oh - 1) * sh + 1 - h - pt);
    const pr = Math.max(0, (fw - 1) * dw + (ow - 1) * sw + 1 - w - pl);
    const out = s.depthwiseConv2d(xB, dyB, [dh, dw], [sh, sw], [pt, pb, pl, pr]); // [1, >=fh, >=fw, n*c*mult]
    const cropped = s.slice(out, [0, 0, 0, 0], [1, fh, fw, n * c * mult]);
    if (n === 1) return s.keep(s.reshape(cropped, [fh, fw, c, mult]));
    const summed = s.sum(s.reshape(cropped, [fh, fw, n, c * mult]), [2]);
    return s.keep(s.reshape(summed, [fh, fw, c, mult]));
  });
}
