/**
 * Gradient of the composite (any-backend) `gridSample` path with respect to the input and the
 * grid, built only from ops every backend implements: `scatterND` (which sums duplicate
 * indices) for the input gradient, and elementwise ops on the gathered tap values for the grid
 * gradient. It never differentiates through `gather`, so it does not need `UnsortedSegmentSum`
 * (missing on wasm) or a `GatherNd` gradient.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

import type { GridSampleConfig } from '../kernels/fused/grid_sample';

/**
 * What the composite forward pass saves for the gradient. `points` = batch*outHeight*outWidth.
 *
 * * `taps`: int32 `[points]` flat row index (into the zero-padded input reshaped to
 *   `[batch*(height+3)*(width+3), channels]`) of the north-west tap (bilinear) or of the
 *   nearest pixel (nearest).
 * * `fx`, `fy`: float32 `[points]` fractional offsets of the point from its north-west tap,
 *   0 for points outside the image (bilinear only).
 * * `values`: the four gathered taps NW, NE, SW, SE, each `[points, channels]` (bilinear only).
 * * `slopeX`, `slopeY`: d pixel coordinate / d grid coordinate, `[points]` or a constant.
 */
export interface CompositeSaved {
  taps: tf.Tensor1D;
  fx?: tf.Tensor1D;
  fy?: tf.Tensor1D;
  values?: [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  slopeX: tf.Tensor1D | number;
  slopeY: tf.Tensor1D | number;
}

/** Rows and columns of zeros added before (2) and after (1) the image in the composite path. */
export const PAD_BEFORE = 2;
export const PAD_AFTER = 1;

/**
 * Input and grid gradients of the composite path.
 *
 * @param dy `[batch, outHeight, outWidth, channels]`
 * @param inputShape `[batch, height, width, channels]`
 * @param gridShape `[batch, outHeight, outWidth, 2]`
 * @returns `[dInput, dGrid]` with the shapes of input and grid.
 */
export function compositeGridSampleGrad(
  dy: tf.Tensor4D,
  saved: CompositeSaved,
  config: GridSampleConfig,
  inputShape: [number, number, number, number],
  gridShape: [number, number, number, number],
): [tf.Tensor4D, tf.Tensor4D] {
  const [batch, height, width, channels] = inputShape;
  const paddedWidth = width + PAD_BEFORE + PAD_AFTER;
  const paddedRows = batch * (height + PAD_BEFORE + PAD_AFTER) * paddedWidth;
  const points = gridShape[0] * gridShape[1] * gridShape[2];
  const dyFlat = tf.reshape(dy, [points, channels]);
  const unpad = (dPadded: tf.Tensor): tf.Tensor4D =>
    tf.slice(
      tf.reshape(dPadded, [batch, height + PAD_BEFORE + PAD_AFTER, paddedWidth, channels]),
      [0, PAD_BEFORE, PAD_BEFORE, 0],
      inputShape,
    ) as tf.Tensor4D;

  if (config.mode === 'nearest') {
    const dPadded = tf.scatterND(tf.reshape(saved.taps, [points, 1]), dyFlat, [paddedRows, channels]);
    return [unpad(dPadded), tf.zeros(gridShape)];
  }

  const { taps, fx, fy, values } = saved as Required<CompositeSaved>;
  const [vNW, vNE, vSW, vSE] = values;
  const gx = tf.sub(1, fx);
  const gy = tf.sub(1, fy);
  const column = (w: tf.Tensor1D) => tf.reshape(w, [points, 1]);
  const weights = [tf.mul(gx, gy), tf.mul(fx, gy), tf.mul(gx, fy), tf.mul(fx, fy)];

  // Input: every tap receives weight * dy; out-of-image taps land in the padding, cut away.
  const indices = tf.reshape(
    tf.concat([
      taps,
      tf.add(taps, tf.scalar(1, 'int32')),
      tf.add(taps, tf.scalar(paddedWidth, 'int32')),
      tf.add(taps, tf.scalar(paddedWidth + 1, 'int32')),
    ]),
    [4 * points, 1],
  );
  const updates = tf.concat(weights.map((w) => tf.mul(dyFlat, column(w as tf.Tensor1D))));
  const dInput = unpad(tf.scatterND(indices, updates, [paddedRows, channels]));

  // Grid: d out / d fx and d out / d fy from the tap values (zero padding reads 0).
  const tapDot = (v: tf.Tensor2D) => tf.sum(tf.mul(v, dyFlat), -1);
  const gNW = tapDot(vNW);
  const gNE = tapDot(vNE);
  const gSW = tapDot(vSW);
  const gSE = tapDot(vSE);
  const dx = tf.add(tf.mul(gy, tf.sub(gNE, gNW)), tf.mul(fy, tf.sub(gSE, gSW)));
  const dyCoord = tf.add(tf.mul(gx, tf.sub(gSW, gNW)), tf.mul(fx, tf.sub(gSE, gNE)));
  const dGrid = tf.stack([tf.mul(dx, saved.slopeX), tf.mul(dyCoord, saved.slopeY)], -1);
  return [dInput, tf.reshape(dGrid, gridShape)];
}
