/**
 * im2col / col2im on the wasm heap, in plain JS (no kernel does this on wasm).
 *
 * Both work on channel-major tensors `[C, N, H, W]` so that the inner loops run along image
 * rows, and on "column" matrices `cols[(a*fw + b)*C + c, (n*outH + y)*outW + x]` (row-major,
 * one row per filter tap and channel, one column per output pixel), which is the layout the
 * XNNPACK fully-connected operator behind BatchMatMul wants as its left operand.
 *
 * @internal
 */

export interface ColGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  fh: number;
  fw: number;
  outH: number;
  outW: number;
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number;
}

/** First and last output column whose input column `x*sw + b - padLeft` is inside the image. */
function colRange(g: ColGeometry, b: number): [number, number] {
  const lo = Math.max(0, Math.ceil((g.padLeft - b) / g.sw));
  const hi = Math.min(g.outW - 1, Math.floor((g.w - 1 + g.padLeft - b) / g.sw));
  return [lo, hi];
}

/** `cols[(a*fw+b)*C + c, (n*outH+y)*outW + x] = img[c, n, y*sh + a - padTop, x*sw + b - padLeft]` (0 outside). */
export function im2col(img: Float32Array, cols: Float32Array, g: ColGeometry): void {
  const { n, c, h, w, fh, fw, outH, outW, sh, sw, padTop } = g;
  const m = n * outH * outW;
  for (let a = 0; a < fh; a++) {
    for (let b = 0; b < fw; b++) {
      const [lo, hi] = colRange(g, b);
      const shift = b - g.padLeft;
      for (let ch = 0; ch < c; ch++) {
        const row = ((a * fw + b) * c + ch) * m;
        for (let bn = 0; bn < n; bn++) {
          for (let y = 0; y < outH; y++) {
            const o = row + (bn * outH + y) * outW;
            const iy = y * sh + a - padTop;
            if (iy < 0 || iy >= h || lo > hi) {
              cols.fill(0, o, o + outW);
              continue;
            }
            const base = ((ch * n + bn) * h + iy) * w + shift;
            if (lo > 0) cols.fill(0, o, o + lo);
            if (sw === 1 && hi - lo >= 32) {
              cols.set(img.subarray(base + lo, base + hi + 1), o + lo);
            } else {
              for (let x = lo; x <= hi; x++) cols[o + x] = img[base + x * sw];
            }
            if (hi < outW - 1) cols.fill(0, o + hi + 1, o + outW);
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: `img[c, n, i, j] = sum of the cols entries im2col would read it into`. */
export function col2im(cols: Float32Array, img: Float32Array, g: ColGeometry): void {
  const { n, c, h, w, fh, fw, outH, outW, sh, sw, padTop } = g;
  const m = n * outH * outW;
  img.fill(0);
  for (let a = 0; a < fh; a++) {
    for (let b = 0; b < fw; b++) {
      const [lo, hi] = colRange(g, b);
      if (lo > hi) continue;
      const shift = b - g.padLeft;
      for (let ch = 0; ch < c; ch++) {
        const row = ((a * fw + b) * c + ch) * m;
        for (let bn = 0; bn < n; bn++) {
          for (let y = 0; y < outH; y++) {
            const iy = y * sh + a - padTop;
            if (iy < 0 || iy >= h) continue;
            const o = row + (bn * outH + y) * outW;
            const base = ((ch * n + bn) * h + iy) * w + shift;
            for (let x = lo; x <= hi; x++) img[base + x * sw] += cols[o + x];
          }
        }
      }
    }
  }
}
