/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend (which has none), on XNNPACK.
 *
 * The input gradient of a depthwise convolution is a depthwise transposed convolution: dy
 * (with `C*M` channels) is correlated channel by channel with the spatially flipped filter
 * seen as `[fh, fw, C*M, 1]` (phase-split when the stride is > 1, see transposed_conv.ts),
 * and each group of M channels (the channel multiplier) is summed into its input channel.
 *
 * Dilations are honoured (the true gradient). NOTE: the cpu backend of tfjs 4.22 ignores
 * `dilations` in this kernel, so for dilation > 1 its result is not the gradient and this
 * kernel does not match it; for dilation 1 they agree.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, Shape4, TensorInfo, assertFloat32, assertShape, pair, withScope } from './kernel_utils';
import { flipFilter, transposedConv } from './transposed_conv';

type Args = {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: tf.DepthwiseConv2dNativeBackpropInputAttrs;
};

const NAME = 'DepthwiseConv2dNativeBackpropInput';

export function depthwiseConv2dNativeBackpropInput(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs;
  assertFloat32(NAME, 'dy', dy);
  assertFloat32(NAME, 'filter', filter);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape as Shape4, filter.shape as Shape4, strides, dilations ?? [1, 1], pad, dimRoundingMode, true,
  );
  const { batchSize: n, inHeight, inWidth, inChannels: c, outHeight, outWidth, outChannels } = info;
  const mult = outChannels / c;
  assertShape(NAME, 'dy', dy, [n, outHeight, outWidth, outChannels]);
  const [fh, fw] = filter.shape;

  return withScope(backend, (s) => {
    const asDepthwise = s.reshape(filter, [fh, fw, c * mult, 1]);
    const dx = transposedConv(s, {
      dy,
      inShape: [n, inHeight, inWidth, c],
      flipped: flipFilter(s, asDepthwise, false),
      strides: [info.strideHeight, info.strideWidth],
      dilations: pair(dilations as number | [number, number]),
      padTop: info.padInfo.top,
      padLeft: info.padInfo.left,
      depthwise: true,
      reduceGroups: mult,
    });
    return s.keep(dx);
  });
}
