/**
 * Reading PyTorch state dicts (`.pth` / `.pt` files written by `torch.save`) without Python and
 * without running any of the file's pickle: see {@link readTorchStateDict}.
 */
import { unzipSync, type Unzipped } from 'fflate';
import type { RawTensor, StateDict } from '../state_dict';
import { ELEMENT_BYTES } from './element_types';
import { readStridedTensor } from './strided';
import { describePy, plainPickleHooks, type PickleProblems, type StorageRef, TensorRef, torchPickleHooks } from './torch_pickle';
import { PickleError, type UnpicklerHooks, unpickle } from './unpickler';
import { callerName, checkFilePath, fileError, readWholeFile, type ReadWeightsOptions, startBytes } from './weight_file';

/** PyTorch's magic number, the first pickle of a legacy (non-zip) `torch.save` file. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** The legacy format's protocol version, its second pickle. */
const LEGACY_PROTOCOL = 1001;
/** Keys under which training checkpoints keep the model's state dict. */
const CHECKPOINT_KEYS = ['state_dict', 'model'] as const;
/** The zip entries read: `<archive>/data.pkl`, `<archive>/byteorder`, `<archive>/data/<key>`. */
const ZIP_RECORDS_READ = /^[^/]+\/(data\.pkl|byteorder|data\/[^/]+)$/;
/** The key prefix `torch.nn.DataParallel` adds. */
const DATA_PARALLEL_PREFIX = 'module.';

/**
 * Reads a PyTorch state dict (`torch.save(model.state_dict(), 'x.pth')`), in either format
 * `torch.save` writes: the zip archive of PyTorch 1.6 and later (`<archive>/data.pkl` and one
 * `<archive>/data/<key>` record per storage) or the older non-zip format
 * (`_use_new_zipfile_serialization=False`, used by many published weights: a sequence of
 * pickles followed by the storages).
 *
 * The pickle is never run. It may only name what `torch.load(weights_only=True)` allows for a
 * state dict: `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
 * `_rebuild_parameter`, `_rebuild_parameter_with_state` and the storage classes
 * (`torch.FloatStorage`, `DoubleStorage`, `HalfStorage`, `BFloat16Storage`, `LongStorage`,
 * `IntStorage`, `ShortStorage`, `CharStorage`, `ByteStorage`, `BoolStorage`). A file naming any
 * other Python global (`os.system`, `builtins.eval`, `torch.storage._load_from_bytes`, a model
 * class of a whole pickled model, …) is refused before anything is built.
 *
 * Tensors come out contiguous and row-major whatever their strides and storage offsets in the
 * file (views sharing one storage are each copied out). float16 and bfloat16 are widened to
 * float32, int64 is given as the float64 of its value (exact up to 2^53); see {@link RawTensor}.
 *
 * Training checkpoints are accepted too: when the file holds a dict whose `'state_dict'` (or
 * else `'model'`) entry is a dict, that entry is read and the rest (optimizer state, epoch, …)
 * is ignored. When every key starts with `module.` (the prefix `torch.nn.DataParallel` adds),
 * the prefix is removed.
 *
 * Node only (reads the file with `node:fs`).
 *
 * @param file Path of the `.pth` / `.pt` file.
 * @param options `caller`: the function name errors start with (default `'readTorchStateDict'`).
 * @returns Weight names to arrays, in the file's order.
 * @throws (rejects) when the file cannot be read, is empty, truncated or damaged, is not a
 *   PyTorch file (a TorchScript archive included), names a forbidden Python global, lacks a
 *   storage record, has a storage too short for a tensor, or holds something other than a
 *   dict of tensors; each message names the file and the problem.
 *
 * @example
 * ```ts
 * const weights = await readTorchStateDict('resnet50-0676ba61.pth');
 * weights.get('conv1.weight'); // { shape: [64, 3, 7, 7], dtype: 'float32', data: Float32Array(9408) }
 * ```
 */
export async function readTorchStateDict(file: string, options?: ReadWeightsOptions): Promise<StateDict> {
  const fn = callerName('readTorchStateDict', options);
  checkFilePath(fn, file);
  return parseTorchFile(fn, file, await readWholeFile(fn, file));
}

/** {@link readTorchStateDict} on bytes already read. @internal */
export function parseTorchFile(fn: string, file: string, bytes: Uint8Array): StateDict {
  if (bytes.length === 0) throw fileError(fn, file, 'is empty (0 bytes), not a PyTorch file');
  if (isZip(bytes)) return parseZip(fn, file, bytes);
  if (isPickle(bytes)) return parseLegacy(fn, file, bytes);
  throw fileError(
    fn, file,
    `is not a PyTorch file: it is neither a zip archive (torch.save since PyTorch 1.6) nor a pickle (older torch.save); it starts with bytes ${startBytes(bytes)}`,
  );
}

/** Whether the bytes start like a zip archive (`PK\x03\x04`, or `PK\x05\x06` when it is empty). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b &&
    ((bytes[2] === 0x03 && bytes[3] === 0x04) || (bytes[2] === 0x05 && bytes[3] === 0x06));
}

/** Whether the bytes start like a binary pickle (`\x80` and a protocol 2 to 5). */
export function isPickle(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
}

/** The error reporters for one file. */
function problemsOf(fn: string, file: string): PickleProblems {
  return {
    refuse: (global, why) => {
      throw fileError(
        fn, file,
        `is not a plain state dict: it names the Python global '${global}', ${why} (refused without running anything, as torch.load(weights_only=True) would)`,
      );
    },
    malformed: (problem) => { throw fileError(fn, file, `is not a valid PyTorch state dict: ${problem}`); },
  };
}

/** Unpickles, turning a PickleError into an Error that names the file and the pickle. */
function readPickle(fn: string, file: string, label: string, bytes: Uint8Array, start: number, hooks: UnpicklerHooks) {
  try {
    return unpickle(bytes, start, hooks);
  } catch (e) {
    if (!(e instanceof PickleError)) throw e;
    throw fileError(fn, file, e.truncated ? `is truncated: its ${label} ${e.message}` : `is damaged: its ${label} ${e.message}`);
  }
}

function parseZip(fn: string, file: string, bytes: Uint8Array): StateDict {
  let entries: Unzipped;
  const names: string[] = [];
  try {
    // Only the records read are extracted (the names of all are kept, to recognise TorchScript).
    entries = unzipSync(bytes, {
      filter: ({ name }) => {
        names.push(name);
        return ZIP_RECORDS_READ.test(name);
      },
    });
  } catch (e) {
    throw fileError(fn, file, `is a truncated or damaged zip archive (${(e as Error).message})`);
  }
  const pkl = names.find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl === undefined) {
    const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? ', …' : '');
    throw fileError(fn, file, `is a zip archive but not a PyTorch file: it has no <folder>/data.pkl entry (its entries: ${shown || 'none'})`);
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  if (names.some((n) => n === `${prefix}constants.pkl` || n.startsWith(`${prefix}code/`))) {
    throw fileError(fn, file, 'is a TorchScript archive (torch.jit.save), not a state dict: save model.state_dict() with torch.save and read that');
  }
  const littleEndian = byteOrder(fn, file, entries[`${prefix}byteorder`]);

  const storages = new Map<string, StorageRef>();
  const problems = problemsOf(fn, file);
  const { value } = readPickle(fn, file, `pickle '${pkl}'`, entries[pkl], 0, torchPickleHooks(problems, storages, false));
  const tensors = stateDictOf(value, problems);

  const out: StateDict = new Map();
  for (const [name, tensor] of tensors) {
    const record = `${prefix}data/${tensor.storage.key}`;
    const data = entries[record];
    if (data === undefined) throw fileError(fn, file, `has no storage record '${record}' for tensor '${name}' (the archive is incomplete)`);
    out.set(name, materialize(fn, file, name, tensor, data, littleEndian, `record '${record}'`));
  }
  return out;
}

/** The `byteorder` record of a zip file (absent before PyTorch 2.1: little-endian). */
function byteOrder(fn: string, file: string, record: Uint8Array | undefined): boolean {
  if (record === undefined) return true;
  const order = new TextDecoder().decode(record).trim();
  if (order !== 'little' && order !== 'big') {
    throw fileError(fn, file, `is not a valid PyTorch state dict: its byteorder record says ${JSON.stringify(order)}, not 'little' or 'big'`);
  }
  return order === 'little';
}

function parseLegacy(fn: string, file: string, bytes: Uint8Array): StateDict {
  const problems = problemsOf(fn, file);
  const plain = plainPickleHooks(problems);
  const magic = readPickle(fn, file, 'first pickle', bytes, 0, plain);
  if (magic.value !== LEGACY_MAGIC) {
    throw fileError(fn, file, `is a pickle but not a PyTorch file: its first pickle is ${describePy(magic.value)}, not PyTorch's magic number`);
  }
  const protocol = readPickle(fn, file, 'protocol-version pickle', bytes, magic.end, plain);
  if (protocol.value !== LEGACY_PROTOCOL) {
    throw fileError(fn, file, `is not a valid PyTorch state dict: its legacy format version is ${describePy(protocol.value)}, not ${LEGACY_PROTOCOL}`);
  }
  const sysInfo = readPickle(fn, file, 'system-info pickle', bytes, protocol.end, plain);
  const littleEndian = !(sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false);

  const storages = new Map<string, StorageRef>();
  const data = readPickle(fn, file, 'data pickle', bytes, sysInfo.end, torchPickleHooks(problems, storages, true));
  const keys = readPickle(fn, file, 'storage-key pickle', bytes, data.end, plain);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    problems.malformed(`its storage-key pickle is ${describePy(keys.value)}, not a list of strings`);
  }

  // The storage records follow, in the order of the key list: element count (int64), then the bytes.
  const records = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const storage = storages.get(key);
    if (storage === undefined) problems.malformed(`its storage list names '${key}', which no tensor uses`);
    const elementBytes = ELEMENT_BYTES[(storage as StorageRef).dtype];
    if (pos + 8 > bytes.length) {
      throw fileError(fn, file, `is truncated: it ends at byte ${bytes.length}, before the record of storage '${key}'`);
    }
    const count = view.getBigInt64(pos, littleEndian);
    const end = pos + 8 + Number(count) * elementBytes;
    if (count < 0n || end > bytes.length) {
      throw fileError(
        fn, file,
        `is truncated: the record of storage '${key}' (${count} ${(storage as StorageRef).dtype} elements) ends at byte ${end}, but the file has ${bytes.length} bytes`,
      );
    }
    records.set(key, bytes.subarray(pos + 8, end));
    pos = end;
  }

  const out: StateDict = new Map();
  for (const [name, tensor] of stateDictOf(data.value, problems)) {
    const record = records.get(tensor.storage.key);
    if (record === undefined) {
      throw fileError(fn, file, `has no storage record for storage '${tensor.storage.key}' of tensor '${name}' (the file is incomplete)`);
    }
    out.set(name, materialize(fn, file, name, tensor, record, littleEndian, `the record of storage '${tensor.storage.key}'`));
  }
  return out;
}

/** The tensor dict inside the unpickled value: unwraps checkpoints and the DataParallel prefix. */
function stateDictOf(root: unknown, problems: PickleProblems): Map<string, TensorRef> {
  let dict = root;
  for (const key of CHECKPOINT_KEYS) {
    if (dict instanceof Map && dict.get(key) instanceof Map) {
      dict = dict.get(key);
      break;
    }
  }
  if (!(dict instanceof Map)) return problems.malformed(`it holds ${describePy(dict)}, not a dict of tensors`);
  const tensors = new Map<string, TensorRef>();
  for (const [key, value] of dict) {
    if (typeof key !== 'string') problems.malformed(`it has the key ${describePy(key)}, not a string`);
    if (!(value instanceof TensorRef)) {
      problems.malformed(
        `its entry '${key}' is ${describePy(value)}, not a tensor (a checkpoint's weights are looked for under '${CHECKPOINT_KEYS.join("' or '")}')`,
      );
    }
    tensors.set(key as string, value as TensorRef);
  }
  const keys = [...tensors.keys()];
  if (keys.length > 0 && keys.every((k) => k.startsWith(DATA_PARALLEL_PREFIX))) {
    return new Map(keys.map((k) => [k.slice(DATA_PARALLEL_PREFIX.length), tensors.get(k) as TensorRef]));
  }
  return tensors;
}

/** Reads one tensor out of its storage record; a record that is too short is an error naming both. */
function materialize(
  fn: string, file: string, name: string, tensor: TensorRef, record: Uint8Array, littleEndian: boolean, recordName: string,
): RawTensor {
  const { dtype, numel } = tensor.storage;
  const elementBytes = ELEMENT_BYTES[dtype];
  if (record.length < numel * elementBytes) {
    throw fileError(
      fn, file,
      `is damaged: ${recordName} has ${record.length} bytes, but its storage holds ${numel} ${dtype} elements (${numel * elementBytes} bytes)`,
    );
  }
  return readStridedTensor(tensor, record.subarray(0, numel * elementBytes), littleEndian, (needed, available) => {
    throw fileError(
      fn, file,
      `is damaged: tensor '${name}' (shape [${tensor.shape.join(',')}], storage offset ${tensor.offset}) needs ${needed} ${dtype} elements of its storage, which holds only ${available}`,
    );
  });
}
