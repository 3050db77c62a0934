/**
 * Seeded pseudo-random numbers for the data pipeline: shuffling and augmentation depend only on
 * `(seed, epoch, position)`, so a resumed run sees exactly the same batches.
 */

/** A generator of uniform numbers in `[0, 1)`. */
export type Rng = () => number;

/** mulberry32: small, fast, good enough for shuffles and crops. */
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

/** Mixes integers into one 32-bit seed (murmur3-style finaliser after each part). */
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

/** The permutation of `0..n-1` used for one epoch (Fisher–Yates from `mixSeed(seed, epoch)`). */
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
