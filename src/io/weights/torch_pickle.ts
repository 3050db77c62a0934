/**
 * What a PyTorch state-dict pickle may contain, and nothing more: the Python globals
 * `torch.load(weights_only=True)` allows for a state dict, the storage persistent ids of
 * `torch.save`, and the tensors they rebuild (as references into storages, read later).
 *
 * @internal
 */
import type { StoredDtype } from './element_types';
import type { UnpicklerHooks } from './unpickler';

/** Storage classes → the element type of their bytes. */
const STORAGE_TYPES: Readonly<Record<string, StoredDtype>> = {
  'torch.FloatStorage': 'float32',
  'torch.DoubleStorage': 'float64',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
  'torch.LongStorage': 'int64',
  'torch.IntStorage': 'int32',
  'torch.ShortStorage': 'int16',
  'torch.CharStorage': 'int8',
  'torch.ByteStorage': 'uint8',
  'torch.BoolStorage': 'bool',
};

const ORDERED_DICT = 'collections.OrderedDict';
const REBUILD_TENSOR = 'torch._utils._rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';
const REBUILD_PARAMETER_WITH_STATE = 'torch._utils._rebuild_parameter_with_state';

/** Every global a state-dict pickle may name. */
export const ALLOWED_GLOBALS: readonly string[] = [
  ORDERED_DICT, REBUILD_TENSOR, REBUILD_PARAMETER, REBUILD_PARAMETER_WITH_STATE, ...Object.keys(STORAGE_TYPES),
];
const ALLOWED = new Set(ALLOWED_GLOBALS);

/** An allowed Python global, as the unpickler pushes it (never called: {@link torchPickleHooks} interprets it). */
export class PyGlobal {
  /** @param qualifiedName `module.name`, e.g. `torch.FloatStorage`. */
  constructor(readonly qualifiedName: string) {}
}

/** A storage a persistent id names: `key` is its record (`data/<key>`, or a legacy storage key). */
export class StorageRef {
  constructor(
    /** The storage's key in the file. */
    readonly key: string,
    /** Element type of its bytes. */
    readonly dtype: StoredDtype,
    /** Element count the pickle declares. */
    readonly numel: number,
  ) {}
}

/** A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage. */
export class TensorRef {
  constructor(
    /** The storage holding its elements. */
    readonly storage: StorageRef,
    /** Index of its first element in the storage, in elements. */
    readonly offset: number,
    /** Its shape. */
    readonly shape: number[],
    /** Its strides, in elements. */
    readonly strides: number[],
  ) {}
}

/** How the caller reports a problem: `refuse` for a forbidden global, `malformed` for the rest. */
export interface PickleProblems {
  /** Throws the "not a plain state dict" error for the global `qualifiedName` (`why`: what it would do). */
  refuse(qualifiedName: string, why: string): never;
  /** Throws "not a valid PyTorch file: …" with `problem`. */
  malformed(problem: string): never;
}

/** A short description of an unpickled value, for error messages. */
export function describePy(value: unknown): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return `the number ${value}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (value instanceof Map) return `a dict of ${value.size} ${value.size === 1 ? 'entry' : 'entries'}`;
  if (Array.isArray(value)) return `a ${Object.isFrozen(value) ? 'tuple' : 'list'} of ${value.length} items`;
  if (value instanceof PyGlobal) return `the global ${value.qualifiedName}`;
  if (value instanceof TensorRef) return `a tensor of shape [${value.shape.join(',')}]`;
  if (value instanceof StorageRef) return `a ${value.dtype} storage`;
  return 'an object';
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isIndexTuple(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isIndex);
}

/**
 * The unpickler hooks for a state-dict pickle. `storages` collects every storage the persistent
 * ids name (by key); `legacy`: persistent ids of the non-zip format, which carry a sixth item.
 */
export function torchPickleHooks(problems: PickleProblems, storages: Map<string, StorageRef>, legacy: boolean): UnpicklerHooks {
  const { refuse, malformed } = problems;
  return {
    global(module, name) {
      const qualified = `${module}.${name}`;
      if (ALLOWED.has(qualified)) return new PyGlobal(qualified);
      if (qualified === 'torch.storage._load_from_bytes') {
        refuse(qualified, 'which would run torch.load on bytes embedded in the pickle');
      }
      const hint = /^(torch\.nn\.|torchvision\.|__main__\.)/.test(qualified)
        ? ' — this looks like a whole pickled model: save model.state_dict() instead' : '';
      return refuse(qualified, `which a weights file never needs${hint}`);
    },

    reduce(callable, args) {
      if (!(callable instanceof PyGlobal)) return malformed(`it calls ${describePy(callable)}, which is not callable`);
      switch (callable.qualifiedName) {
        case ORDERED_DICT:
          if (args.length !== 0) malformed(`OrderedDict is called with ${args.length} arguments (torch.save passes none)`);
          return new Map();
        case REBUILD_TENSOR: {
          const [storage, offset, size, stride] = args;
          if (args.length !== 6 && args.length !== 7) malformed(`_rebuild_tensor_v2 is called with ${args.length} arguments, not 6 or 7`);
          if (!(storage instanceof StorageRef)) malformed(`_rebuild_tensor_v2's storage is ${describePy(storage)}, not a storage`);
          if (!isIndex(offset)) malformed(`_rebuild_tensor_v2's storage offset is ${describePy(offset)}`);
          if (!isIndexTuple(size) || !isIndexTuple(stride) || size.length !== stride.length) {
            malformed(`_rebuild_tensor_v2's size ${describePy(size)} and stride ${describePy(stride)} are not two tuples of the same length of integers >= 0`);
          }
          return new TensorRef(storage as StorageRef, offset as number, [...(size as number[])], [...(stride as number[])]);
        }
        case REBUILD_PARAMETER:
        case REBUILD_PARAMETER_WITH_STATE:
          if (!(args[0] instanceof TensorRef)) malformed(`${callable.qualifiedName} is given ${describePy(args[0])}, not a tensor`);
          return args[0];
        default:
          return malformed(`it calls ${callable.qualifiedName}, which a state dict never does`);
      }
    },

    build(obj, state) {
      // torch.save of an OrderedDict state dict sets its `_metadata` attribute: not needed here.
      if (!(obj instanceof Map) || !(state instanceof Map || state === null)) {
        malformed(`it sets the state of ${describePy(obj)} to ${describePy(state)}`);
      }
    },

    persistentLoad(pid) {
      if (!Array.isArray(pid) || pid[0] !== 'storage') return malformed(`it has the persistent id ${describePy(pid)}, not a ('storage', …) tuple`);
      const [, type, key, location, numel, view] = pid;
      if (pid.length !== (legacy ? 6 : 5)) malformed(`its storage persistent id has ${pid.length} items, not ${legacy ? 6 : 5}`);
      if (!(type instanceof PyGlobal) || !(type.qualifiedName in STORAGE_TYPES)) malformed(`its storage type is ${describePy(type)}`);
      if (typeof key !== 'string' || typeof location !== 'string' || !isIndex(numel)) {
        malformed(`its storage persistent id (key ${describePy(key)}, location ${describePy(location)}, size ${describePy(numel)}) is not (str, str, int)`);
      }
      if (legacy && view !== null) {
        malformed('it has a storage view (a format of PyTorch before 1.0, not read here): load it in PyTorch and re-save it with torch.save');
      }
      const dtype = STORAGE_TYPES[(type as PyGlobal).qualifiedName];
      const known = storages.get(key as string);
      if (known !== undefined) {
        if (known.dtype !== dtype) malformed(`storage '${key}' is used both as ${known.dtype} and as ${dtype}`);
        return known;
      }
      const ref = new StorageRef(key as string, dtype, numel as number);
      storages.set(ref.key, ref);
      return ref;
    },
  };
}

/** Hooks for the small pickles of the legacy format (magic number, version, system info): no globals at all. */
export function plainPickleHooks(problems: PickleProblems): UnpicklerHooks {
  const refuseAll = (module: string, name: string): never => problems.refuse(`${module}.${name}`, 'which a weights file never needs');
  return {
    global: refuseAll,
    reduce: () => problems.malformed('its header pickle calls a function'),
    build: () => problems.malformed('its header pickle sets an object state'),
    persistentLoad: () => problems.malformed('its header pickle has a persistent id'),
  };
}
