// The restricted unpickler on pickles of CPython's pickle.dumps (bytes below) and hand-made ones.
import { PickleError, type UnpicklerHooks, unpickle } from '../../../src/io/weights/unpickler';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** Hooks that record what the pickle asks for, as plain values. */
const recording: UnpicklerHooks = {
  global: (module, name) => ({ global: `${module}.${name}` }),
  reduce: (callable, args) => ({ call: callable, args }),
  build: (obj, state) => { (obj as Record<string, unknown>).state = state; },
  persistentLoad: (pid) => ({ persistent: pid }),
};

// pickle.dumps({'a': [1, -2, 300, 70000, 3.5, None, True, False, 'xé', b'ab', (1, 2), (), (1,),
//               (1, 2, 3), 2**70, -2**70, -1]}, protocol=P)
const LIST = [1, -2, 300, 70000, 3.5, null, true, false, 'xé'];
const TAIL = [[1, 2], [], [1], [1, 2, 3], 2n ** 70n, -(2n ** 70n), -1];
const PROTOCOL_2 = hex(`80027d710058010000006171015d7102284b014afeffffff4d2c014a7011010047400c0000000000004e8889580300000078c3a97103
  635f636f646563730a656e636f64650a710458020000006162710558060000006c6174696e3171068671075271084b014b02867109294b0185710a4b014b024b0387710b
  8a090000000000000000408a090000000000000000c04affffffff65732e`);
const PROTOCOL_4 = hex(`80049560000000000000007d948c0161945d94284b014afeffffff4d2c014a7011010047400c0000000000004e88898c0378c3a994
  43026162944b014b028694294b0185944b014b024b0387948a090000000000000000408a090000000000000000c04affffffff65732e`);

describe('unpickle', () => {
  it('protocol 2: dicts, lists, tuples, ints (bigint beyond 2^53), floats, None, bools, strings; globals and calls go to the hooks', () => {
    const { value, end } = unpickle(PROTOCOL_2, 0, recording);
    expect(end).toBe(PROTOCOL_2.length);
    // Python 2 compatible protocol 2 pickles bytes as a call of _codecs.encode.
    const bytes = { call: { global: '_codecs.encode' }, args: ['ab', 'latin1'] };
    expect(value).toEqual(new Map([['a', [...LIST, bytes, ...TAIL]]]));
    const tuples = ((value as Map<string, unknown[]>).get('a') as unknown[]).slice(10, 14);
    expect(tuples.map((t) => Object.isFrozen(t))).toEqual([true, true, true, true]);
  });

  it('protocol 4: FRAME, MEMOIZE, SHORT_BINUNICODE, SHORT_BINBYTES', () => {
    const { value, end } = unpickle(PROTOCOL_4, 0, recording);
    expect(end).toBe(PROTOCOL_4.length);
    expect(value).toEqual(new Map([['a', [...LIST, new Uint8Array([0x61, 0x62]), ...TAIL]]]));
  });

  it('the memo gives back the same object: pickle.dumps([l, l]) with l = [1]', () => {
    const { value } = unpickle(hex('80025d7100285d71014b01616801652e'), 0, recording);
    const [a, b] = value as unknown[][];
    expect(a).toEqual([1]);
    expect(a).toBe(b);
  });

  it('reads one pickle of several and says where it ends; GLOBAL, REDUCE, BUILD, BINPERSID reach the hooks', () => {
    // 'c' GLOBAL os\nsystem\n, ')' EMPTY_TUPLE, 'R' REDUCE, '}' EMPTY_DICT, 'b' BUILD, '.' STOP, then junk
    const bytes = Uint8Array.from([0x80, 0x02, ...Buffer.from('cos\nsystem\n)R}b'), 0x2e, 0xff, 0xff]);
    const { value, end } = unpickle(bytes, 0, recording);
    expect(value).toEqual({ call: { global: 'os.system' }, args: [], state: new Map() });
    expect(end).toBe(bytes.length - 2);
    const pid = unpickle(Uint8Array.from([0x80, 0x02, 0x58, 1, 0, 0, 0, 0x30, 0x51, 0x2e]), 0, recording);
    expect(pid.value).toEqual({ persistent: '0' });
  });

  it('a refusing hook stops it at the GLOBAL, before any call', () => {
    const calls: string[] = [];
    const refusing: UnpicklerHooks = {
      ...recording,
      global: (module, name) => { throw new Error(`refused ${module}.${name}`); },
      reduce: () => { calls.push('reduce'); return null; },
    };
    expect(() => unpickle(Uint8Array.from([0x80, 0x02, ...Buffer.from('cposix\nsystem\n)R.')]), 0, refusing)).toThrow('refused posix.system');
    expect(calls).toEqual([]);
  });

  it.each<[string, number[], string, boolean]>([
    ['a protocol-0 opcode', [0x80, 0x02, ...Buffer.from('I1\n.')], 'is malformed at byte 2: it has the opcode 0x49 (INT), which this reader does not support', false],
    ['NEWOBJ', [0x80, 0x02, 0x81, 0x2e], 'is malformed at byte 2: it has the opcode 0x81 (NEWOBJ), which this reader does not support', false],
    ['INST (a global without GLOBAL)', [0x80, 0x02, 0x28, ...Buffer.from('ios\nsystem\n.')], 'is malformed at byte 3: it has the opcode 0x69 (INST), which this reader does not support', false],
    ['an unknown opcode', [0x80, 0x02, 0xff], 'is malformed at byte 2: it has the opcode 0xff, which this reader does not support', false],
    ['protocol 6', [0x80, 0x06, 0x4e, 0x2e], 'is malformed at byte 0: pickle protocol 6 (this reader supports 2 to 5)', false],
    ['an empty stack', [0x80, 0x02, 0x2e], 'is malformed at byte 2: an opcode needs a value but the stack is empty', false],
    ['a memo entry never stored', [0x80, 0x02, 0x68, 0x05, 0x2e], 'is malformed at byte 2: it refers to memo entry 5, which was never stored', false],
    ['APPEND on a tuple', [0x80, 0x02, 0x29, 0x4b, 0x01, 0x61, 0x2e], 'is malformed at byte 5: APPEND(S) on something that is not a list', false],
    ['SETITEM on a list', [0x80, 0x02, 0x5d, 0x4b, 0x01, 0x4b, 0x02, 0x73, 0x2e], 'is malformed at byte 7: SETITEM(S) on something that is not a dict', false],
    ['TUPLE without MARK', [0x80, 0x02, 0x74, 0x2e], 'is malformed at byte 2: an opcode needs a MARK but there is none', false],
    ['invalid UTF-8', [0x80, 0x02, 0x8c, 0x01, 0xff, 0x2e], 'is malformed at byte 2: a string is not valid UTF-8', false],
    ['a 2000-byte LONG4', [0x80, 0x02, 0x8b, 0xd0, 0x07, 0x00, 0x00, ...new Array(2000).fill(1), 0x2e], 'is malformed at byte 2: an integer of 2000 bytes (at most 1024)', false],
    ['a cut string', [0x80, 0x02, 0x58, 0x05, 0x00, 0x00, 0x00, 0x61, 0x62], 'ends at byte 9, inside the opcode at byte 2 (before its STOP)', true],
    ['a cut GLOBAL line', [0x80, 0x02, ...Buffer.from('cposix\nsys')], 'ends at byte 12, inside the opcode at byte 2 (before its STOP)', true],
    ['no STOP', [0x80, 0x02, 0x4e], 'ends at byte 3, before its STOP opcode', true],
    ['nothing', [], 'ends at byte 0, before its STOP opcode', true],
  ])('%s is a PickleError', (_, bytes, message, truncated) => {
    let error: unknown;
    try {
      unpickle(Uint8Array.from(bytes), 0, recording);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PickleError);
    expect({ message: (error as PickleError).message, truncated: (error as PickleError).truncated }).toEqual({ message, truncated });
  });
});
