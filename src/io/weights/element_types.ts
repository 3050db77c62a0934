/**
 * The element types weight files store, and decoding their raw bytes into the typed arrays of a
 * {@link RawTensor} (float16 and bfloat16 widened to float32, int64 to the float64 of its value,
 * bool to 0/1 bytes).
 *
 * @internal
 */
import type { RawDtype, RawTensor } from '../state_dict';

/** Element types as stored in a file: the decoded ones plus the two 16-bit floats. */
export type StoredDtype = RawDtype | 'float16' | 'bfloat16';

/** Bytes per element of each stored type. */
export const ELEMENT_BYTES: Readonly<Record<StoredDtype, number>> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/** The decoded type of a stored type. */
export function decodedDtype(dtype: StoredDtype): RawDtype {
  return dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let halfTable: Float32Array | undefined;

/** float16 bit pattern → its value (exact: every half is a float32). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

function halfValues(): Float32Array {
  if (halfTable === undefined) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  return halfTable;
}

/**
 * Decodes `bytes` (a whole number of elements of `dtype`, in the given byte order) into a new
 * typed array of {@link decodedDtype}. The input is not modified.
 */
export function decodeElements(bytes: Uint8Array, dtype: StoredDtype, littleEndian: boolean): RawTensor['data'] {
  const size = ELEMENT_BYTES[dtype];
  // A copy: aligned for the typed-array views, and byte-swapped when the file's order is not the host's.
  const own = bytes.slice();
  if (size > 1 && littleEndian !== HOST_LITTLE_ENDIAN) {
    for (let i = 0; i < own.length; i += size) own.subarray(i, i + size).reverse();
  }
  const buffer = own.buffer;
  switch (dtype) {
    case 'float32': return new Float32Array(buffer);
    case 'float64': return new Float64Array(buffer);
    case 'int32': return new Int32Array(buffer);
    case 'int16': return new Int16Array(buffer);
    case 'int8': return new Int8Array(buffer);
    case 'uint8': return own;
    case 'bool': return own.map((v) => (v === 0 ? 0 : 1));
    case 'int64': return Float64Array.from(new BigInt64Array(buffer), (v) => Number(v));
    case 'float16': {
      const table = halfValues();
      return Float32Array.from(new Uint16Array(buffer), (h) => table[h]);
    }
    case 'bfloat16': {
      // bfloat16 is the upper half of a float32.
      const bits = new Uint32Array(own.length / 2);
      new Uint16Array(buffer).forEach((h, i) => { bits[i] = h << 16; });
      return new Float32Array(bits.buffer);
    }
  }
}
