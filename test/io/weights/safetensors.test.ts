// readSafetensors: a file written from Python to the format's spec (make_weight_files.py
// safetensors), the same file written again from JS (byte for byte), and malformed files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensors, readWeightFile } from '../../../src/io/weights';
import { decodeValues, describeWithPythonFiles, type ExpectedTensor, expectTensor, NEEDS_TORCH, readExpected, truncatedCopy } from './weight_files';

interface ExpectedFile {
  tensors: Record<string, ExpectedTensor & { storedDtype: string; hex: string }>;
  metadata: Record<string, string>;
}

/** float16 bits of a value that is exactly a half (written independently of the reader). */
function halfBits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

/** The little-endian bytes of `values` stored as `dtype` (a safetensors dtype code). */
function encode(dtype: string, values: number[]): Uint8Array {
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  switch (dtype) {
    case 'F32': return bytes(Float32Array.from(values));
    case 'F64': return bytes(Float64Array.from(values));
    case 'F16': return bytes(Uint16Array.from(values, halfBits));
    case 'BF16': return bytes(Uint16Array.from(new Uint32Array(Float32Array.from(values).buffer), (b) => b >>> 16));
    case 'I64': return bytes(BigInt64Array.from(values, (v) => BigInt(v)));
    case 'I32': return bytes(Int32Array.from(values));
    case 'I16': return bytes(Int16Array.from(values));
    case 'I8': return bytes(Int8Array.from(values));
    case 'U8': case 'BOOL': return Uint8Array.from(values);
    default: throw new Error(`test writer: no dtype ${dtype}`);
  }
}

interface Entry { name: string; dtype: string; shape: number[]; data: Uint8Array }

/**
 * A .safetensors file as the reference writer lays it out: header length, compact JSON header
 * (metadata first) padded with spaces to 8 bytes, data in entry order. `patch` edits the header.
 */
function writeSafetensors(entries: Entry[], metadata?: Record<string, string>, patch?: (h: Record<string, unknown>) => void): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const { name, dtype, shape, data } of entries) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
  }
  patch?.(header);
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(text.length), true);
  return Buffer.concat([length, Buffer.from(text, 'utf8'), ...entries.map((e) => e.data)]);
}

describeWithPythonFiles('readSafetensors on a file written by Python', 'safetensors', NEEDS_TORCH, ({ dir }) => {
  let expected: ExpectedFile;
  const pyFile = () => path.join(dir(), 'model.safetensors');
  beforeAll(() => {
    expected = readExpected<Record<string, ExpectedFile>>(dir(), 'safetensors')['model.safetensors'];
  });

  it('holds every tensor, in data order, with exactly the values Python wrote', async () => {
    const sd = await readSafetensors(pyFile());
    expect([...sd.keys()]).toEqual(Object.keys(expected.tensors));
    for (const [name, tensor] of Object.entries(expected.tensors)) expectTensor(name, sd.get(name), tensor);
  });

  it('JS writes the same file byte for byte from the values, and reads it back the same', async () => {
    const entries = Object.entries(expected.tensors).map(([name, t]) => ({
      name, dtype: t.storedDtype, shape: t.shape, data: encode(t.storedDtype, decodeValues(t.values)),
    }));
    for (const e of entries) expect({ name: e.name, hex: Buffer.from(e.data).toString('hex') }).toEqual({ name: e.name, hex: expected.tensors[e.name].hex });
    const bytes = writeSafetensors(entries, expected.metadata);
    expect(Buffer.from(bytes).equals(fs.readFileSync(pyFile()))).toBe(true);
    const jsFile = path.join(dir(), 'js.safetensors');
    fs.writeFileSync(jsFile, bytes);
    const sd = await readSafetensors(jsFile);
    for (const [name, tensor] of Object.entries(expected.tensors)) expectTensor(name, sd.get(name), tensor);
  });

  it('readWeightFile recognises it by its header', async () => {
    const read = await readWeightFile(pyFile());
    expect(read.format).toBe('safetensors');
    expect(read.format === 'safetensors' && read.tensors.get('bn.num_batches_tracked')).toEqual({ shape: [], dtype: 'int64', data: new Float64Array([123]) });
  });

  it('a file cut inside its data or its header says so', async () => {
    const full = fs.statSync(pyFile()).size;
    const dataLength = full - 8 - Number(fs.readFileSync(pyFile()).readBigUInt64LE(0));
    const cut1 = truncatedCopy(pyFile(), full - 1, dir());
    await expect(readSafetensors(cut1)).rejects.toThrow(
      `readSafetensors: ${cut1} is truncated: tensor 'scalar' lies at data bytes [${dataLength - 4},${dataLength}], but the file holds only ${dataLength - 1} bytes of data after its header`,
    );
    const cut2 = truncatedCopy(pyFile(), 100, dir());
    await expect(readSafetensors(cut2)).rejects.toThrow(
      `readSafetensors: ${cut2} is truncated or not a .safetensors file: its first 8 bytes give a header of ${full - 8 - dataLength} bytes, but only 92 bytes follow`,
    );
    const cut3 = truncatedCopy(pyFile(), 5, dir());
    await expect(readSafetensors(cut3)).rejects.toThrow(`readSafetensors: ${cut3} is truncated: it has 5 bytes, fewer than the 8 of a .safetensors header length`);
  });
});

describe('readSafetensors on malformed files (written from JS)', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-safetensors-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const a: Entry = { name: 'a', dtype: 'F32', shape: [2], data: encode('F32', [1, 2]) };
  const b: Entry = { name: 'b', dtype: 'I32', shape: [1], data: encode('I32', [-7]) };
  const write = (name: string, bytes: Uint8Array | string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  it('reads a well-formed file without metadata', async () => {
    const sd = await readSafetensors(write('ok.safetensors', writeSafetensors([a, b])));
    expect([...sd]).toEqual([
      ['a', { shape: [2], dtype: 'float32', data: new Float32Array([1, 2]) }],
      ['b', { shape: [1], dtype: 'int32', data: new Int32Array([-7]) }],
    ]);
  });

  it.each<[string, Uint8Array | string, string]>([
    ['empty', '', 'is empty (0 bytes), not a .safetensors file'],
    ['json', '{"a": [1, 2, 3]}',
      `is truncated or not a .safetensors file: its first 8 bytes give a header of ${Buffer.from('{"a": [1').readBigUInt64LE(0)} bytes, but only 8 bytes follow`],
    ['bad-json', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a"')]), "is not a .safetensors file: its header is not valid JSON ("], // then JSON.parse's own words
    ['array-header', Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('[]')]), 'is not a .safetensors file: its header is not a JSON object'],
    ['dtype', writeSafetensors([{ ...a, dtype: 'U16', shape: [4] }]), "has tensor 'a' of dtype \"U16\", which this reader does not read (it reads F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL)"],
    ['shape', writeSafetensors([{ ...a, shape: [2.5] as number[] }]), "has tensor 'a' whose shape [2.5] is not a list of integers >= 0"],
    ['offsets', writeSafetensors([a], undefined, (h) => { (h.a as { data_offsets: number[] }).data_offsets = [8, 0]; }),
      "has tensor 'a' whose data_offsets [8,0] are not [begin, end] with 0 <= begin <= end"],
    ['size', writeSafetensors([{ ...a, shape: [3] }]), "has tensor 'a' of shape [3] and dtype F32, which needs 12 bytes, but its data_offsets [0,8] span 8"],
    ['outside', writeSafetensors([a], undefined, (h) => { (h.a as { data_offsets: number[] }).data_offsets = [4, 12]; }),
      "is truncated: tensor 'a' lies at data bytes [4,12], but the file holds only 8 bytes of data after its header"],
    ['overlap', writeSafetensors([a, { ...b, dtype: 'F32' }], undefined, (h) => { (h.b as { data_offsets: number[] }).data_offsets = [4, 8]; }),
      "has tensors 'a' and 'b' whose data overlap"],
  ])('%s: a clear error naming the file', async (name, bytes, problem) => {
    const file = write(`${name}.safetensors`, bytes);
    await expect(readSafetensors(file)).rejects.toThrow(`readSafetensors: ${file} ${problem}`);
  });
});
