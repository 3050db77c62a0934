/**
 * 1x1 convolutions as plain matrix products. The wasm backend runs BatchMatMul on XNNPACK
 * only without transposes and with a batch of 1, packing the right operand ("weights") on
 * every call; the helpers pick the operand order that packs the smaller tensor.
 *
 * @internal
 */
import { Scope, TensorInfo } from './kernel_utils';

/** Rough cost (in element visits) of packing a right-hand operand, relative to a copy. */
const PACK_COST = 8;

/**
 * `y[m, i] = sum_o a[m, o] * w[i, o]` for `a: [m, o]` (rows of an activation) and
 * `w: [i, o]`, i.e. `a @ w^T`, returned as `[m, i]`.
 */
export function matMulTransposedWeights(s: Scope, a: TensorInfo, w: TensorInfo): TensorInfo {
  const [m, o] = a.shape;
  const [i] = w.shape;
  // Either pack w^T (i*o) or pack a^T (m*o) and transpose the m*i result back.
  const packWeights = i * o * (1 + PACK_COST);
  const packActivation = m * o * (1 + PACK_COST) + m * i;
  if (packWeights <= packActivation) {
    const wT = s.transpose(w, [1, 0]);
    return s.reshape(s.matMul(s.reshape(a, [1, m, o]), s.reshape(wT, [1, o, i])), [m, i]);
  }
  const aT = s.transpose(a, [1, 0]);
  const yT = s.matMul(s.reshape(w, [1, i, o]), s.reshape(aT, [1, o, m]));
  return s.transpose(s.reshape(yT, [i, m]), [1, 0]);
}

/** `y[i, o] = sum_m a[m, i] * b[m, o]`, i.e. `a^T @ b`, for `a: [m, i]`, `b: [m, o]`. */
export function matMulTransposedLeft(s: Scope, a: TensorInfo, b: TensorInfo): TensorInfo {
  const [m, i] = a.shape;
  const [, o] = b.shape;
  // Transpose a and pack b, or pack a, transpose b and transpose the small i*o result.
  const packB = m * i + m * o * PACK_COST;
  const packA = m * i * PACK_COST + m * o + i * o;
  if (packB <= packA) {
    const aT = s.transpose(a, [1, 0]);
    return s.reshape(s.matMul(s.reshape(aT, [1, i, m]), s.reshape(b, [1, m, o])), [i, o]);
  }
  const bT = s.transpose(b, [1, 0]);
  const yT = s.matMul(s.reshape(bT, [1, o, m]), s.reshape(a, [1, m, i]));
  return s.transpose(s.reshape(yT, [o, i]), [1, 0]);
}
