/**
 * What every weight-file reader shares: checking the `file` argument, reading the bytes, and
 * errors of the form `readSafetensors: /path/x.safetensors is truncated: …` that name the
 * function, the file and the problem.
 *
 * @internal
 */
import * as fs from 'node:fs';
import { describeValue, fail } from '../../ops/validation';

/** Options every weight-file reader takes. */
export interface ReadWeightsOptions {
  /**
   * Name put at the start of error messages (default: the reader's own name, e.g.
   * `'readTorchStateDict'`). A loader that calls a reader passes its own name, so that users see
   * the function they called.
   */
  caller?: string;
}

/** `fn: <file> <problem>` as an Error. */
export function fileError(fn: string, file: string, problem: string): Error {
  return new Error(`${fn}: ${file} ${problem}`);
}

/** The caller's name from the options (validated), or `fallback`. */
export function callerName(fallback: string, options: unknown): string {
  if (options === undefined) return fallback;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    fail(fallback, 'options', 'an object like { caller?: string } or undefined', describeValue(options));
  }
  const caller = (options as ReadWeightsOptions).caller;
  if (caller === undefined) return fallback;
  if (typeof caller !== 'string' || caller === '') fail(fallback, 'options.caller', 'a non-empty string', describeValue(caller));
  return caller;
}

/** Checks that `file` is a non-empty path string. */
export function checkFilePath(fn: string, file: unknown): asserts file is string {
  if (typeof file !== 'string' || file === '') fail(fn, 'file', 'a path to a weights file (a non-empty string)', describeValue(file));
}

/** Reads the whole file; a missing or unreadable file is an Error naming the function and the file. */
export async function readWholeFile(fn: string, file: string): Promise<Uint8Array> {
  try {
    const buffer = await fs.promises.readFile(file);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (e) {
    throw fileError(fn, file, `cannot be read: ${(e as Error).message}`);
  }
}

/** Reads at most the first `n` bytes of the file (fewer if it is shorter). */
export async function readFileStart(fn: string, file: string, n: number): Promise<Uint8Array> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(file, 'r');
    const head = new Uint8Array(n);
    const { bytesRead } = await handle.read(head, 0, n, 0);
    return head.subarray(0, bytesRead);
  } catch (e) {
    throw fileError(fn, file, `cannot be read: ${(e as Error).message}`);
  } finally {
    await handle?.close();
  }
}

/** `89 50 4e 47 0d 0a 1a 0a …`: the first bytes in hex, for "it starts with bytes …" messages. */
export function startBytes(bytes: Uint8Array, n = 8): string {
  const hex = Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return bytes.length > n ? `${hex} …` : hex;
}
