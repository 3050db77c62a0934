/**
 * The input gradient of a convolution ("transposed convolution") as ordinary stride-1
 * convolutions that run on XNNPACK, shared by Conv2DBackpropInput and
 * DepthwiseConv2dNativeBackpropInput.
 *
 * For one spatial axis, with input size `inSize`, filter size `k`, stride `s`, dilation `d`
 * and leading padding `pad`, the gradient is
 *
 *     dx[i] = sum_t dy[(i + pad - t*d) / s] * w[t]      (only where the division is exact)
 *
 * Stride 1: this is a dilated cross-correlation of `dy` with the spatially flipped filter,
 * padded by `(k-1)*d - pad` in front.
 *
 * Stride s > 1 (dilation 1) is split into `s` output phases ("polyphase"): output rows with
 * `(i + pad) mod s = p` only see the taps `t = p, p+s, p+2s, ...`, so each phase is a stride-1
 * correlation of the *undilated* `dy` with a sub-filter of the flipped filter, and the phases
 * are interleaved afterwards. No multiply-by-inserted-zero is ever done, unlike the textbook
 * "dilate dy with zeros, then convolve" formulation (which does s*s times the work).
 *
 * Stride > 1 together with dilation > 1 (never produced by tfjs' own gradients) is handled
 * by inserting the zeros into the filter instead, which reduces it to dilation 1.
 *
 * @internal
 */
import { Pads, Scope, Shape4, TensorInfo } from './kernel_utils';

/** How one output phase of one spatial axis is computed. */
interface AxisPhase {
  /** Number of filter taps this phase sees (0: the phase only receives zeros). */
  taps: number;
  /** Index of its first tap in the flipped filter (taps are `filterStride` apart). */
  filterBegin: number;
  /** Explicit convolution padding (>= 0). */
  padBefore: number;
  padAfter: number;
  /** Leading / trailing rows of dy to drop (where the padding would have been negative). */
  cropBefore: number;
  cropAfter: number;
}

interface AxisPlan {
  phases: AxisPhase[];
  /** Rows each phase produces (the interleaved result has `count * phases.length` rows). */
  count: number;
  /** First interleaved row that belongs to dx. */
  offset: number;
  /** Dilation of the stride-1 phase convolutions. */
  dilation: number;
  /** Distance between consecutive taps of one phase in the flipped filter. */
  filterStride: number;
}

/** Plans one spatial axis. Requires `stride === 1 || dilation === 1`. */
export function planAxis(inSize: number, outSize: number, k: number, stride: number, dilation: number, pad: number): AxisPlan {
  const s = stride;
  const q0 = s === 1 ? pad : Math.floor(pad / s);
  const count = s === 1 ? inSize : Math.floor((inSize - 1 + pad) / s) - q0 + 1;
  const d = s === 1 ? dilation : 1;
  const phases: AxisPhase[] = [];
  for (let p = 0; p < s; p++) {
    const taps = s === 1 ? k : p < k ? Math.ceil((k - p) / s) : 0;
    const filterBegin = s === 1 ? 0 : k - 1 - p - s * (taps - 1);
    let padBefore = (taps - 1) * d - q0;
    let padAfter = q0 + count - 1 - (outSize - 1);
    let cropBefore = 0;
    let cropAfter = 0;
    if (padBefore < 0) {
      cropBefore = -padBefore;
      padBefore = 0;
    }
    if (padAfter < 0) {
      cropAfter = -padAfter;
      padAfter = 0;
    }
    phases.push({ taps, filterBegin, padBefore, padAfter, cropBefore, cropAfter });
  }
  return { phases, count, offset: s === 1 ? 0 : pad - q0 * s, dilation: d, filterStride: s };
}

export interface TransposedConvArgs {
  /** The output gradient, NHWC `[batch, outHeight, outWidth, channels]`. */
  dy: TensorInfo;
  /** The shape of dx, NHWC. */
  inShape: Shape4;
  /**
   * The spatially flipped filter in the layout of the phase convolutions:
   * `[fh, fw, dyChannels, outChannels]` (regular) or `[fh, fw, dyChannels, 1]` (depthwise).
   */
  flipped: TensorInfo;
  strides: [number, number];
  dilations: [number, number];
  padTop: number;
  padLeft: number;
  /** Run the phases as depthwise convolutions (each dy channel on its own). */
  depthwise: boolean;
  /** Depthwise with channel multiplier > 1: sum groups of this many channels of each phase. */
  reduceGroups?: number;
}

/** Computes dx (NHWC, shape `inShape`). The result is owned by `s` (call `s.keep`). */
export function transposedConv(s: Scope, a: TransposedConvArgs): TensorInfo {
  let { flipped, dilations } = a;
  const [sh, sw] = a.strides;
  // Stride and dilation both > 1 on an axis: put the zeros into the filter.
  const upH = sh > 1 && dilations[0] > 1 ? dilations[0] : 1;
  const upW = sw > 1 && dilations[1] > 1 ? dilations[1] : 1;
  if (upH > 1 || upW > 1) {
    flipped = dilateFilter(s, flipped, upH, upW);
    dilations = [upH > 1 ? 1 : dilations[0], upW > 1 ? 1 : dilations[1]];
  }
  const [fh, fw, fIn, fOut] = flipped.shape;
  const [n, inH, inW, inC] = a.inShape;
  const [, outH, outW, dyC] = a.dy.shape;
  const ph = planAxis(inH, outH, fh, sh, dilations[0], a.padTop);
  const pw = planAxis(inW, outW, fw, sw, dilations[1], a.padLeft);
  const convC = a.depthwise ? dyC : fOut;
  const phaseC = a.reduceGroups ? convC / a.reduceGroups : convC;
  if (phaseC !== inC) throw new Error(`transposedConv: channel mismatch (${phaseC} vs ${inC}).`);
  if (fIn !== dyC) throw new Error(`transposedConv: filter expects ${fIn} channels, dy has ${dyC}.`);

  const phaseOut = (rh: AxisPhase, rw: AxisPhase): TensorInfo | null => {
    const rowsLeft = outH - rh.cropBefore - rh.cropAfter;
    const colsLeft = outW - rw.cropBefore - rw.cropAfter;
    if (rh.taps === 0 || rw.taps === 0 || rowsLeft <= 0 || colsLeft <= 0) return null;
    const sub = s.stridedSlice(
      flipped,
      [rh.filterBegin, rw.filterBegin, 0, 0],
      [rh.taps, rw.taps, fIn, fOut],
      [ph.filterStride, pw.filterStride, 1, 1],
    );
    const dyc = s.slice(a.dy, [0, rh.cropBefore, rw.cropBefore, 0], [n, rowsLeft, colsLeft, dyC]);
    const pads: Pads = [rh.padBefore, rh.padAfter, rw.padBefore, rw.padAfter];
    let y = a.depthwise
      ? s.depthwiseConv2d(dyc, sub, [1, 1], [ph.dilation, pw.dilation], pads)
      : s.conv2d(dyc, sub, [1, 1], [ph.dilation, pw.dilation], pads);
    if (a.reduceGroups && a.reduceGroups > 1) {
      y = s.sum(s.reshape(y, [n, ph.count, pw.count, phaseC, a.reduceGroups]), [4]);
    }
    return y;
  };

  let full: TensorInfo;
  if (sh === 1 && sw === 1) {
    full = phaseOut(ph.phases[0], pw.phases[0]) ?? s.zeros([n, ph.count, pw.count, phaseC]);
  } else {
    // Interleave: phase (i, j) goes to rows i, i+sh, ... and columns j, j+sw, ... Each phase
    // is spread out with zero padding (one PadV2 of a 6-d view) and the phases are summed;
    // this is much faster on wasm than DepthToSpace, a rank-5 Transpose or inner-axis Concat.
    const parts: TensorInfo[] = [];
    ph.phases.forEach((rh, i) => {
      pw.phases.forEach((rw, j) => {
        const y = phaseOut(rh, rw);
        if (y == null) return;
        const y6 = s.reshape(y, [n, ph.count, 1, pw.count, 1, phaseC]);
        const spread = s.pad(y6, [[0, 0], [0, 0], [i, sh - 1 - i], [0, 0], [j, sw - 1 - j], [0, 0]]);
        parts.push(s.reshape(spread, [n, ph.count * sh, pw.count * sw, phaseC]));
      });
    });
    if (parts.length === 0) full = s.zeros([n, ph.count * sh, pw.count * sw, phaseC]);
    else if (parts.length === 1) full = parts[0];
    else full = s.run('AddN', parts);
  }
  return s.slice(full, [0, ph.offset, pw.offset, 0], [n, inH, inW, inC]);
}

/** Inserts `dh - 1` / `dw - 1` zeros between the taps of a `[fh, fw, a, b]` filter. */
export function dilateFilter(s: Scope, f: TensorInfo, dh: number, dw: number): TensorInfo {
  const [fh, fw, a, b] = f.shape;
  const f5 = s.reshape(f, [fh, 1, fw, 1, a * b]);
  const spread = s.pad(f5, [[0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0]]);
  const big = s.reshape(spread, [fh * dh, fw * dw, a, b]);
  return s.slice(big, [0, 0, 0, 0], [(fh - 1) * dh + 1, (fw - 1) * dw + 1, a, b]);
}

/**
 * `out[i, j, u, v] = f[fh-1-i, fw-1-j, v, u]` (swapAB) or `f[fh-1-i, fw-1-j, u, v]`:
 * the spatial flip (and optionally the in/out channel swap) a transposed convolution needs.
 * The channel swap runs as one wasm Transpose; the flip is a reversed copy of whole taps
 * straight on the wasm heap (the Reverse kernel is ~50x slower for this).
 */
export function flipFilter(s: Scope, f: TensorInfo, swapAB: boolean): TensorInfo {
  const [fh, fw, a, b] = f.shape;
  const src = swapAB ? s.transpose(s.reshape(f, [fh * fw, a, b]), [0, 2, 1]) : f;
  const shape = swapAB ? [fh, fw, b, a] : [fh, fw, a, b];
  const out = s.track(s.backend.makeOutput(shape, 'float32'));
  // Views are taken after the allocation: a heap growth detaches older views.
  const from = s.backend.typedArrayFromHeap(src) as Float32Array;
  const to = s.backend.typedArrayFromHeap(out) as Float32Array;
  const taps = fh * fw;
  const tap = a * b;
  for (let t = 0; t < taps; t++) {
    const from0 = (taps - 1 - t) * tap;
    to.set(from.subarray(from0, from0 + tap), t * tap);
  }
  return out;
}
