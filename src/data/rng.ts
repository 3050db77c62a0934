/**
 * Seeded pseudo-random numbers for the data pipeline: shuffling and augmentation depend only on
 * `(seed, epoch, position)`, so a resumed run sees exactly the same batches.
 */

/**
 * A generator of uniform numbers in `[0, 1)`, called with no argument (`Math.random` is one;
 * {@link mulberry32} makes seeded ones).
 */
export type Rng = () => number;

/**
 * mulberry32: a small, fast 32-bit generator, good enough for shuffles and crops (not for
 * cryptography).
 *
 * @param seed Any number; only its low 32 bits are used (`seed >>> 0`).
 * @returns a generator of uniform numbers in `[0, 1)` (multiples of 2^-32); two generators
 *   with the same seed give the same sequence.
 */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mixes integers into one 32-bit seed (murmur3-style finaliser after each part), e.g.
 * `mixSeed(seed, epoch, position)` for the augmentation draws of one image of
 * {@link ImagePipeline}.
 *
 * @param parts Integers; each enters as its low 32 bits (`p >>> 0`). Order matters.
 * @returns an unsigned 32-bit integer, a seed for {@link mulberry32}.
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    h = (h + 0x27d4eb2f) >>> 0;
  }
  return h >>> 0;
}

/**
 * The permutation of `0..n-1` used for one epoch by {@link ImagePipeline}: a Fisher–Yates
 * shuffle drawn from `mulberry32(mixSeed(seed, epoch, 0x5eed))`, so it depends only on
 * `(n, seed, epoch)`.
 *
 * @param n Number of items (0 gives `[]`).
 * @param seed Seed of the run.
 * @param epoch 0-based epoch.
 * @returns a new array holding each of `0..n-1` once.
 *
 * @example
 * ```ts
 * epochPermutation(5, 0, 0); // [4, 2, 3, 0, 1]
 * ```
 */
export function epochPermutation(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const r = mulberry32(mixSeed(seed, epoch, 0x5eed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
