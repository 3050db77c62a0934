/**
 * A minimal, restricted unpickler: Python's pickle format (protocols 2 to 5, the binary opcodes
 * `torch.save` and `pickle.dump` emit for dicts, lists, tuples, strings, numbers and bytes).
 *
 * Pickle is a program, not data: `GLOBAL` names any Python callable and `REDUCE` calls it. This
 * machine never runs anything itself. Names, calls, object states and persistent ids go to
 * {@link UnpicklerHooks} supplied by the caller, which decides what each may mean (and refuses
 * everything else); all other opcodes only build plain values:
 *
 * | Python | JavaScript |
 * |---|---|
 * | `None`, `bool`, `str`, `float` | `null`, `boolean`, `string`, `number` |
 * | `int` | `number` (a `bigint` beyond ±2^53) |
 * | `bytes` | `Uint8Array` |
 * | `list` | `Array` |
 * | `tuple` | frozen `Array` |
 * | `dict` | `Map` (insertion order kept) |
 *
 * Opcodes outside that set (`INST`, `OBJ`, `NEWOBJ`, `EXT*`, the text opcodes of protocol 0,
 * sets, out-of-band buffers) are refused as unsupported. (The npm `pickleparser` was considered and not used:
 * its `BUILD` assigns any state onto any object, `REDUCE` calls whatever callable
 * is on the stack, and its truncation errors are raw.)
 *
 * @internal
 */

/** What the caller decides: the meaning of names, calls, object states and persistent ids. */
export interface UnpicklerHooks {
  /** `GLOBAL module name` / `STACK_GLOBAL`: the value standing for that name; throws to refuse it. */
  global(module: string, name: string): unknown;
  /** `REDUCE`: `callable(...args)`, where `callable` is any value on the stack; throws to refuse. */
  reduce(callable: unknown, args: readonly unknown[]): unknown;
  /** `BUILD`: applies `state` to `obj` (the value stays on the stack); throws to refuse. */
  build(obj: unknown, state: unknown): void;
  /** `BINPERSID`: the object a persistent id stands for; throws to refuse. */
  persistentLoad(pid: unknown): unknown;
}

/** A pickle the unpickler cannot read. `truncated`: the bytes end before the pickle's `STOP`. */
export class PickleError extends Error {
  /** Whether the pickle ends before its STOP opcode (a cut file) rather than being malformed. */
  readonly truncated: boolean;

  /** @param message The problem, phrased to follow "the pickle …". */
  constructor(message: string, truncated: boolean) {
    super(message);
    this.name = 'PickleError';
    this.truncated = truncated;
  }
}

/** Names of opcodes that are refused, for the error message. */
const REFUSED_OPCODES: Readonly<Record<number, string>> = {
  0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x70: 'PUT', 0x67: 'GET',
  0x50: 'PERSID', 0x69: 'INST', 0x6f: 'OBJ', 0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX', 0x82: 'EXT1', 0x83: 'EXT2',
  0x84: 'EXT4', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** The longest integer (LONG4) read, in bytes. */
const MAX_LONG_BYTES = 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * Reads one pickle starting at `start`.
 *
 * @returns the pickled value and the offset just past its `STOP` opcode (where a following
 *   pickle or data begins).
 * @throws PickleError when the bytes end early or are not a pickle this reader supports; errors
 *   the hooks throw pass through unchanged.
 */
export function unpickle(bytes: Uint8Array, start: number, hooks: UnpicklerHooks): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let opStart = start;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const malformed = (problem: string): never => {
    throw new PickleError(`is malformed at byte ${opStart}: ${problem}`, false);
  };
  const take = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.length) {
      const where = opStart >= bytes.length ? 'before its STOP opcode' : `inside the opcode at byte ${opStart} (before its STOP)`;
      throw new PickleError(`ends at byte ${bytes.length}, ${where}`, true);
    }
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = (): number => bytes[take(1)];
  const u32 = (): number => view.getUint32(take(4), true);
  const u64 = (): number => Number(view.getBigUint64(take(8), true));
  const text = (n: number, decoder = utf8): string => {
    const at = take(n);
    try {
      return decoder.decode(bytes.subarray(at, at + n));
    } catch {
      return malformed('a string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) take(bytes.length - pos + 1);
    return text(end - pos + 1, latin1).slice(0, -1);
  };
  const pop = (): unknown => {
    if (stack.length === 0) malformed('an opcode needs a value but the stack is empty');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) malformed('an opcode needs a value but the stack is empty');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const previous = marks.pop();
    if (previous === undefined) return malformed('an opcode needs a MARK but there is none');
    stack = previous;
    return items;
  };
  const memoGet = (index: number): unknown => {
    if (!memo.has(index)) malformed(`it refers to memo entry ${index}, which was never stored`);
    return memo.get(index);
  };
  const list = (value: unknown): unknown[] => {
    if (!Array.isArray(value) || Object.isFrozen(value)) malformed('APPEND(S) on something that is not a list');
    return value as unknown[];
  };
  const dict = (value: unknown): Map<unknown, unknown> => {
    if (!(value instanceof Map)) malformed('SETITEM(S) on something that is not a dict');
    return value as Map<unknown, unknown>;
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const signedInt = (n: number): number | bigint => {
    const at = take(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]);
    if (n > 0 && bytes[at + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };

  for (;;) {
    opStart = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const version = u8();
        if (version < 2 || version > 5) malformed(`pickle protocol ${version} (this reader supports 2 to 5)`);
        break;
      }
      case 0x95: take(8); break; // FRAME: a length hint only
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(view.getInt32(take(4), true)); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(view.getUint16(take(2), true)); break; // BININT2
      case 0x8a: stack.push(signedInt(u8())); break; // LONG1
      case 0x8b: { // LONG4 (longer integers are refused: building them is quadratic)
        const n = u32();
        if (n > MAX_LONG_BYTES) malformed(`an integer of ${n} bytes (at most ${MAX_LONG_BYTES})`);
        stack.push(signedInt(n));
        break;
      }
      case 0x47: stack.push(view.getFloat64(take(8), false)); break; // BINFLOAT (big-endian)
      case 0x58: stack.push(text(u32())); break; // BINUNICODE
      case 0x8c: stack.push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(text(u64())); break; // BINUNICODE8
      case 0x54: stack.push(text(view.getInt32(take(4), true), latin1)); break; // BINSTRING (Python 2 str)
      case 0x55: stack.push(text(u8(), latin1)); break; // SHORT_BINSTRING
      case 0x42: { const n = u32(); stack.push(bytes.slice(take(n), pos)); break; } // BINBYTES
      case 0x43: { const n = u8(); stack.push(bytes.slice(take(n), pos)); break; } // SHORT_BINBYTES
      case 0x8e: { const n = u64(); stack.push(bytes.slice(take(n), pos)); break; } // BINBYTES8
      case 0x29: stack.push(tuple([])); break; // EMPTY_TUPLE
      case 0x74: { const items = tuple(popMark()); stack.push(items); break; } // TUPLE (popMark first: it replaces `stack`)
      case 0x85: stack.push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(tuple([a, b, c])); break; } // TUPLE3
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: { const items = popMark(); stack.push(items); break; } // LIST
      case 0x61: { const item = pop(); list(top()).push(item); break; } // APPEND
      case 0x65: { const items = popMark(); list(top()).push(...items); break; } // APPENDS
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2 !== 0) malformed('DICT with an odd number of items');
        const d = new Map<unknown, unknown>();
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: { const value = pop(); const key = pop(); dict(top()).set(key, value); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) malformed('SETITEMS with an odd number of items');
        const d = dict(top());
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
        break;
      }
      case 0x63: { const module = line(); const name = line(); stack.push(hooks.global(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') malformed('STACK_GLOBAL needs two strings');
        stack.push(hooks.global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) malformed('REDUCE needs a tuple of arguments');
        stack.push(hooks.reduce(callable, args as unknown[]));
        break;
      }
      case 0x62: { const state = pop(); hooks.build(top(), state); break; } // BUILD
      case 0x51: stack.push(hooks.persistentLoad(pop())); break; // BINPERSID
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: stack.push(memoGet(u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(u32())); break; // LONG_BINGET
      default: {
        const name = REFUSED_OPCODES[op];
        malformed(`it has the opcode 0x${op.toString(16).padStart(2, '0')}${name ? ` (${name})` : ''}, which this reader does not support`);
      }
    }
  }
}
