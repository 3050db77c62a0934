/**
 * Reading `.safetensors` files (Hugging Face's format: an 8-byte little-endian header length, a
 * JSON header, then the tensors' bytes): see {@link readSafetensors}.
 */
import type { StateDict } from '../state_dict';
import { decodedDtype, decodeElements, ELEMENT_BYTES, type StoredDtype } from './element_types';
import { callerName, checkFilePath, fileError, readWholeFile, type ReadWeightsOptions } from './weight_file';

/** The format's dtype codes this reader decodes. */
const DTYPES: Readonly<Record<string, StoredDtype>> = {
  F32: 'float32', F64: 'float64', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

/** Headers larger than this are refused (the reference implementation's limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/**
 * Reads a `.safetensors` file. Element types F32, F64, F16, BF16, I64, I32, I16, I8, U8 and BOOL
 * are read (F16 and BF16 widened to float32, I64 as the float64 of its value, as in
 * {@link RawTensor}); the `__metadata__` entry is skipped. Every tensor's byte range is checked
 * against its shape, its element type and the file's size.
 *
 * Node only (reads the file with `node:fs`).
 *
 * @param file Path of the `.safetensors` file.
 * @param options `caller`: the function name errors start with (default `'readSafetensors'`).
 * @returns Tensor names to arrays, in the order of their data in the file.
 * @throws (rejects) when the file cannot be read, is empty or truncated, its header is not the
 *   format's JSON, a tensor has an unsupported dtype, a bad shape, or a byte range that does not
 *   match its shape or lies outside the file; each message names the file and the problem.
 *
 * @example
 * ```ts
 * const weights = await readSafetensors('model.safetensors');
 * ```
 */
export async function readSafetensors(file: string, options?: ReadWeightsOptions): Promise<StateDict> {
  const fn = callerName('readSafetensors', options);
  checkFilePath(fn, file);
  return parseSafetensors(fn, file, await readWholeFile(fn, file));
}

/** Whether the bytes start like a safetensors file: a plausible header length, then `{`. */
export function looksLikeSafetensors(bytes: Uint8Array, fileSize: number): boolean {
  if (bytes.length < 9) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(fileSize - 8) && bytes[8] === 0x7b;
}

/** {@link readSafetensors} on bytes already read. @internal */
export function parseSafetensors(fn: string, file: string, bytes: Uint8Array): StateDict {
  const bad = (problem: string): never => { throw fileError(fn, file, problem); };
  if (bytes.length === 0) bad('is empty (0 bytes), not a .safetensors file');
  if (bytes.length < 8) bad(`is truncated: it has ${bytes.length} bytes, fewer than the 8 of a .safetensors header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    bad(`is truncated or not a .safetensors file: its first 8 bytes give a header of ${headerLength} bytes, but only ${bytes.length - 8} bytes follow`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) bad(`is not a .safetensors file this reader takes: its header has ${headerLength} bytes (at most ${MAX_HEADER_BYTES})`);
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    return bad(`is not a .safetensors file: its header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad('is not a .safetensors file: its header is not a JSON object');
  const dataLength = bytes.length - dataStart;

  const entries: { name: string; dtype: StoredDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const where = `tensor '${name}'`;
    const { dtype, shape, data_offsets: offsets } = (info ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in DTYPES)) {
      bad(`has ${where} of dtype ${JSON.stringify(dtype)}, which this reader does not read (it reads ${Object.keys(DTYPES).join(', ')})`);
    }
    const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (!Array.isArray(shape) || !shape.every(isIndex)) bad(`has ${where} whose shape ${JSON.stringify(shape)} is not a list of integers >= 0`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1]) {
      bad(`has ${where} whose data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    const stored = DTYPES[dtype as string];
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * ELEMENT_BYTES[stored];
    if (end - begin !== expected) {
      bad(`has ${where} of shape [${(shape as number[]).join(',')}] and dtype ${dtype}, which needs ${expected} bytes, but its data_offsets [${begin},${end}] span ${end - begin}`);
    }
    if (end > dataLength) {
      bad(`is truncated: ${where} lies at data bytes [${begin},${end}], but the file holds only ${dataLength} bytes of data after its header`);
    }
    entries.push({ name, dtype: stored, shape: shape as number[], begin, end });
  }

  entries.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].begin < entries[i - 1].end) bad(`has tensors '${entries[i - 1].name}' and '${entries[i].name}' whose data overlap`);
  }
  const out: StateDict = new Map();
  for (const { name, dtype, shape, begin, end } of entries) {
    const data = decodeElements(bytes.subarray(dataStart + begin, dataStart + end), dtype, true);
    out.set(name, { shape, dtype: decodedDtype(dtype), data });
  }
  return out;
}
