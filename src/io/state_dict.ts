/**
 * A framework-neutral state dict: what the weight-file readers (PyTorch `.pth`, `.safetensors`,
 * Keras `.h5`) return and what the name-mapping loaders consume. Arrays are host memory in the
 * file's own layout (PyTorch: conv `[out, in, kh, kw]`, linear `[out, in]`), row-major.
 */

/** Element types a weight file may hold. Readers convert half and bfloat16 to float32. */
export type RawDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** One named array of a weight file. */
export interface RawTensor {
  /** Shape in the file's own layout (`[]` for a scalar). */
  shape: number[];
  /** Element type after decoding (float16/bfloat16 are widened to float32). */
  dtype: RawDtype;
  /**
   * Row-major values. int64 entries are given as a Float64Array of their numeric values (exact up
   * to 2^53; `num_batches_tracked` is the only int64 a state dict of a vision model holds).
   */
  data: Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
}

/** Weight names (e.g. `layer1.0.conv1.weight`) to arrays, in the file's order. */
export type StateDict = Map<string, RawTensor>;
