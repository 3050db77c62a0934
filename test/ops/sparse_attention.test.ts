/**
 * sparseAttentionMaps in the `'random'` mode (the authors' p=1): a peak of score s goes to the
 * discriminative map iff s > u for its draw u, so with probability s, and otherwise to the
 * complementary map.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gaussianKernel, sparseAttentionMaps } from '../../src/ops';
import { expectClose } from '../helpers/numeric';

const SIZE = 9;
/** A decision map with two peaks: s = 1 at (2, 2) and s = 0.6 at (6, 5); 0 elsewhere. */
function twoPeaks(batch: number): { decision: tf.Tensor3D; peaks: tf.Tensor3D } {
  const d = new Float32Array(batch * SIZE * SIZE);
  const p = new Float32Array(batch * SIZE * SIZE);
  for (let b = 0; b < batch; b++) {
    d[b * 81 + 2 * SIZE + 2] = 1;
    d[b * 81 + 6 * SIZE + 5] = 0.6;
    p[b * 81 + 2 * SIZE + 2] = 1;
    p[b * 81 + 6 * SIZE + 5] = 1;
  }
  return { decision: tf.tensor3d(d, [batch, SIZE, SIZE]), peaks: tf.tensor3d(p, [batch, SIZE, SIZE]) };
}

/** The draws: u at the strong peak and `u2` at the weak one. */
function draws(u2: number): tf.Tensor3D {
  const u = new Float32Array(81).fill(0.5);
  u[6 * SIZE + 5] = u2;
  return tf.tensor3d(u, [1, SIZE, SIZE]);
}

/** `weight · K(θ, x, y)` on the SIZE grid (the authors' kernel_generate). */
const term = (weight: number, theta: number, x: number, y: number) =>
  tf.mul(gaussianKernel(theta, SIZE, [x, y]), weight) as tf.Tensor2D;

describe("sparseAttentionMaps 'random' mode", () => {
  const radius = 0.2;
  const radiusInv = 0.3;
  const base = 0.09;
  const { decision, peaks } = twoPeaks(1);
  const zoomStrong = term(1, radius, 2, 2);
  const zoomWeak = term(0.6, radius * Math.sqrt(0.6), 5, 6);
  const invWeak = term(1 / 0.6, radiusInv * Math.sqrt(0.6), 5, 6);
  const invStrong = term(1, radiusInv, 2, 2);

  it.each([
    ['u < s: both peaks go to the discriminative map', 0.59, [zoomStrong, zoomWeak], []],
    ['u > s: the weak peak goes to the complementary map', 0.61, [zoomStrong], [invWeak]],
    ['u = s: a tie goes to the complementary map (zoom iff s > u)', 0.6, [zoomStrong], [invWeak]],
  ] as const)('%s', (_, u2, zoomTerms, invTerms) => {
    const out = sparseAttentionMaps(decision, { mode: 'random', radius, radiusInv, baseRatio: base, peaks, randomValues: draws(u2) });
    const sum = (ts: readonly tf.Tensor2D[]) => ts.reduce((acc: tf.Tensor, t) => tf.add(acc, t), tf.fill([SIZE, SIZE], base));
    expectClose(tf.squeeze(out.zoom, [0]), sum(zoomTerms), { atol: 1e-6 });
    expectClose(tf.squeeze(out.inverse, [0]), sum(invTerms), { atol: 1e-6 });
  });

  it('the strong peak (s = 1) always goes to the discriminative map; the complementary map never holds it', () => {
    const out = sparseAttentionMaps(decision, { mode: 'random', radius, radiusInv, baseRatio: base, peaks, randomValues: draws(0.99) });
    expectClose(tf.squeeze(out.inverse, [0]), tf.add(invWeak, base), { atol: 1e-6 });
    const at22 = (t: tf.Tensor) => (t.arraySync() as number[][])[2][2];
    expect(at22(tf.squeeze(out.inverse, [0]))).toBeLessThan(at22(tf.add(invStrong, base)));
  });

  it('with seeded draws, a peak of score 0.6 goes to the discriminative map in 60 % of 2,000 samples (±3σ)', () => {
    const n = 2000;
    const many = twoPeaks(n);
    const out = sparseAttentionMaps(many.decision, { mode: 'random', radius, radiusInv, baseRatio: base, peaks: many.peaks, seed: 7 });
    // Per sample the weak peak is in exactly one map: its own term is ≥ 0.6 on its cell.
    const zoomAt = tf.slice(out.zoom, [0, 6, 5], [n, 1, 1]).dataSync();
    const invAt = tf.slice(out.inverse, [0, 6, 5], [n, 1, 1]).dataSync();
    let toZoom = 0;
    for (let i = 0; i < n; i++) {
      const inZoom = zoomAt[i] > base + 0.5;
      const inInv = invAt[i] > base + 1.5; // 1/0.6 plus the strong peak's far tail
      expect(inZoom !== inInv).toBe(true);
      if (inZoom) toZoom++;
    }
    const sigma = Math.sqrt((0.6 * 0.4) / n);
    expect(Math.abs(toZoom / n - 0.6)).toBeLessThan(3 * sigma);
  });
});

describe('sparseAttentionMaps exceptions', () => {
  const d = () => tf.zeros([1, 4, 4]) as tf.Tensor3D;
  it.each([
    [() => sparseAttentionMaps(tf.zeros([4, 4]) as never), 'sparseAttentionMaps: decision must be a tensor of rank 3 [batch, size, size], but got rank 2 (shape [4,4]).'],
    [() => sparseAttentionMaps(tf.zeros([1, 4, 4], 'int32') as never), 'sparseAttentionMaps: decision must be a float32 tensor, but got dtype int32.'],
    [() => sparseAttentionMaps(tf.zeros([1, 0, 0]) as never), 'sparseAttentionMaps: decision must be a non-empty tensor, but got shape [1,0,0].'],
    [() => sparseAttentionMaps(tf.zeros([1, 3, 4]) as never), 'sparseAttentionMaps: decision must be a square map [batch, size, size], but got shape [1,3,4].'],
    [() => sparseAttentionMaps(d(), null as never), 'sparseAttentionMaps: options must be an object, but got null.'],
    [() => sparseAttentionMaps(d(), 3 as never), 'sparseAttentionMaps: options must be an object, but got 3.'],
    [() => sparseAttentionMaps(d(), { mode: 'x' as never }), "sparseAttentionMaps: mode must be one of 'all', 'random', 'extreme', but got 'x'."],
    [() => sparseAttentionMaps(d(), { peaks: tf.zeros([4, 4]) as never }), 'sparseAttentionMaps: peaks must be a tensor of rank 3 [batch, size, size], but got rank 2 (shape [4,4]).'],
    [() => sparseAttentionMaps(d(), { peaks: tf.zeros([1, 3, 3]) as tf.Tensor3D }), 'sparseAttentionMaps: peaks must be of shape [1,4,4] like decision, but got shape [1,3,3].'],
    [() => sparseAttentionMaps(d(), { mode: 'random', randomValues: tf.zeros([4, 4]) as never }), 'sparseAttentionMaps: randomValues must be a tensor of rank 3 [batch, size, size], but got rank 2 (shape [4,4]).'],
    [() => sparseAttentionMaps(d(), { mode: 'random', randomValues: tf.zeros([2, 4, 4]) as tf.Tensor3D }), 'sparseAttentionMaps: randomValues must be of shape [1,4,4] like decision, but got shape [2,4,4].'],
    [() => sparseAttentionMaps(d(), { radius: -1 }), 'sparseAttentionMaps: radius must be a finite number > 0, but got -1.'],
    [() => sparseAttentionMaps(d(), { radius: 0 }), 'sparseAttentionMaps: radius must be a finite number > 0, but got 0.'],
    [() => sparseAttentionMaps(d(), { radiusInv: NaN }), 'sparseAttentionMaps: radiusInv must be a finite number > 0, but got NaN.'],
    [() => sparseAttentionMaps(d(), { baseRatio: -0.5 }), 'sparseAttentionMaps: baseRatio must be a finite number >= 0, but got -0.5.'],
  ])('%#: refuses with an exact message, leaking nothing', (call, message) => {
    const before = tf.memory().numTensors;
    // In a tidy, which disposes the arguments made inside it even when the call throws.
    expect(() => tf.tidy(() => void call())).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('accepts a zero baseRatio (maps without a floor)', () => {
    const out = sparseAttentionMaps(d(), { baseRatio: 0 });
    expect(out.zoom.shape).toEqual([1, 4, 4]);
  });
});
