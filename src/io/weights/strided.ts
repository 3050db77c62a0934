/**
 * Turning a strided view of a storage (what a PyTorch tensor is: storage offset, sizes and
 * strides in elements) into a contiguous row-major array.
 *
 * @internal
 */
import type { RawTensor } from '../state_dict';
import { decodeElements, decodedDtype, ELEMENT_BYTES } from './element_types';
import type { TensorRef } from './torch_pickle';

/**
 * The row-major values of `tensor`, read from `storageBytes` (its storage's whole record).
 * Only the storage range the view spans is decoded.
 *
 * @param tooShort Called (and must throw) when the view reaches past the storage: with the
 *   number of elements it needs and the number the record holds.
 */
export function readStridedTensor(
  tensor: TensorRef, storageBytes: Uint8Array, littleEndian: boolean,
  tooShort: (needed: number, available: number) => never,
): RawTensor {
  const { storage, offset, shape, strides } = tensor;
  const elementBytes = ELEMENT_BYTES[storage.dtype];
  const available = Math.floor(storageBytes.length / elementBytes);
  const numel = shape.reduce((a, b) => a * b, 1);
  // Elements from the first to the last one the view touches.
  const span = numel === 0 ? 0 : 1 + shape.reduce((sum, size, d) => sum + (size - 1) * strides[d], 0);
  if (numel > 0 && offset + span > available) tooShort(offset + span, available);
  const window = decodeElements(
    storageBytes.subarray(offset * elementBytes, (offset + span) * elementBytes), storage.dtype, littleEndian,
  );
  const dtype = decodedDtype(storage.dtype);
  if (span === numel && isRowMajor(shape, strides)) return { shape: [...shape], dtype, data: window };

  const data = new (window.constructor as new (n: number) => RawTensor['data'])(numel);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let source = 0;
  for (let i = 0; i < numel; i++) {
    data[i] = window[source];
    // Odometer over the indices, last dimension fastest.
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      source += strides[d];
      if (index[d] < shape[d]) break;
      source -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return { shape: [...shape], dtype, data };
}

/** Whether `strides` are the row-major ones of `shape` (dimensions of size 1 may have any stride). */
function isRowMajor(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}
