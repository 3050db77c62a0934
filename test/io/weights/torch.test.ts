// readTorchStateDict on files written by the real torch.save (make_weight_files.py torch).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTorchStateDict, readWeightFile } from '../../../src/io/weights';
import {
  describeWithPythonFiles, type ExpectedTensor, expectTensor, NEEDS_TORCH, readExpected, truncatedCopy,
} from './weight_files';

interface Expected {
  [file: string]: {
    tensors: Record<string, ExpectedTensor> | null;
    weightsOnly: boolean | null;
    ran?: boolean;
    layout?: {
      pickleEnds: number[];
      dataStringOpcode: number;
      records: { key: string; dtype: string; count: number; start: number }[];
    };
  };
}

const REFUSED = '(refused without running anything, as torch.load(weights_only=True) would)';

describeWithPythonFiles('readTorchStateDict on torch.save files', 'torch', NEEDS_TORCH, ({ dir, marker }) => {
  let expected: Expected;
  const file = (name: string) => path.join(dir(), name);
  beforeAll(() => {
    expected = readExpected<Expected>(dir(), 'torch');
  });

  describe.each([
    ['state.zip.pth', 'zip format (PyTorch >= 1.6)'],
    ['state.legacy.pth', 'legacy format (_use_new_zipfile_serialization=False)'],
    ['state.p4.zip.pth', 'zip format, pickle protocol 4'],
    ['state.p4.legacy.pth', 'legacy format, pickle protocol 4'],
  ])('%s (%s)', (name) => {
    it('holds every tensor of the state dict, in order, with exactly the values PyTorch saved', async () => {
      const sd = await readTorchStateDict(file(name));
      const want = expected[name].tensors as Record<string, ExpectedTensor>;
      expect([...sd.keys()]).toEqual(Object.keys(want));
      for (const [key, tensor] of Object.entries(want)) expectTensor(key, sd.get(key), tensor);
    });
  });

  it('covers the cases that matter: views with offsets and strides, 16-bit floats, int64, scalars, empty', async () => {
    const sd = await readTorchStateDict(file('state.zip.pth'));
    expect(sd.get('shared.strided')).toEqual({ shape: [3, 3], dtype: 'float32', data: new Float32Array([-0.5, 0.5, 1.5, 2, 3, 4, 4.5, 5.5, 6.5]) });
    expect(sd.get('expanded')?.data).toEqual(new Float32Array([1.5, -2, 4, 1.5, -2, 4, 1.5, -2, 4, 1.5, -2, 4]));
    expect(sd.get('1.num_batches_tracked')).toEqual({ shape: [], dtype: 'int64', data: new Float64Array([7]) });
    expect(sd.get('i64')?.data).toEqual(new Float64Array([0, -1, 2 ** 40, -(2 ** 53), 2 ** 53, 7]));
    expect(sd.get('f16')?.data.slice(0, 6)).toEqual(new Float32Array([0, -0, 1.5, -2.25, 65504, 2 ** -24]));
    expect(sd.get('flags')).toEqual({ shape: [3], dtype: 'bool', data: new Uint8Array([1, 0, 1]) });
    expect(sd.get('scalar')).toEqual({ shape: [], dtype: 'float32', data: new Float32Array([3.25]) });
    expect(sd.get('empty')).toEqual({ shape: [0, 3], dtype: 'float32', data: new Float32Array(0) });
  });

  it('the plain state dicts are also accepted by torch.load(weights_only=True): the same whitelist', () => {
    expect([expected['state.zip.pth'].weightsOnly, expected['state.legacy.pth'].weightsOnly]).toEqual([true, true]);
  });

  it.each([
    ['checkpoint.zip.pth', "a checkpoint with 'state_dict' of a DataParallel model (keys 'module.…'), optimizer state, epoch"],
    ['checkpoint.legacy.pth', "a legacy checkpoint with the weights under 'model'"],
  ])('%s: %s gives the model weights, prefix removed', async (name) => {
    const sd = await readTorchStateDict(file(name));
    const want = expected[name].tensors as Record<string, ExpectedTensor>;
    expect([...sd.keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '3.weight', '3.bias']);
    expect([...sd.keys()]).toEqual(Object.keys(want));
    for (const [key, tensor] of Object.entries(want)) expectTensor(key, sd.get(key), tensor);
  });

  it('a big-endian file (byteorder record) gives the same values', async () => {
    const sd = await readTorchStateDict(file('bigendian.zip.pth'));
    expect(sd.get('b')).toEqual({ shape: [2, 3], dtype: 'float32', data: new Float32Array([0, 1, 2, 3, 4, 5]) });
    for (const [key, tensor] of Object.entries(expected['bigendian.zip.pth'].tensors as object)) expectTensor(key, sd.get(key), tensor);
  });

  it('a file holding a tensor, or a dict with a non-tensor entry, is not a state dict', async () => {
    await expect(readTorchStateDict(file('tensor.zip.pth'))).rejects.toThrow(
      `readTorchStateDict: ${file('tensor.zip.pth')} is not a valid PyTorch state dict: it holds a tensor of shape [2], not a dict of tensors`,
    );
    await expect(readTorchStateDict(file('not_tensors.zip.pth'))).rejects.toThrow(
      `readTorchStateDict: ${file('not_tensors.zip.pth')} is not a valid PyTorch state dict: its entry 'n' is the number 3, not a tensor (a checkpoint's weights are looked for under 'state_dict' or 'model')`,
    );
  });

  it('readWeightFile recognises both formats by their first bytes', async () => {
    for (const name of ['state.zip.pth', 'state.legacy.pth']) {
      const read = await readWeightFile(file(name));
      expect(read.format).toBe('torch');
      expect(read.format === 'torch' && [...read.tensors.keys()]).toEqual(Object.keys(expected[name].tensors as object));
    }
  });

  describe('malicious and non-state-dict pickles are refused without running anything', () => {
    it.each([
      ['evil_system.zip.pth', 'posix.system', 'which a weights file never needs'],
      ['evil_system.legacy.pth', 'posix.system', 'which a weights file never needs'],
      ['evil_eval.zip.pth', '__builtin__.eval', 'which a weights file never needs'],
      ['evil_eval.p4.zip.pth', 'builtins.eval', 'which a weights file never needs'],
      ['evil_load_from_bytes.zip.pth', 'torch.storage._load_from_bytes', 'which would run torch.load on bytes embedded in the pickle'],
      ['whole_model.zip.pth', 'torch.nn.modules.container.Sequential',
        'which a weights file never needs — this looks like a whole pickled model: save model.state_dict() instead'],
    ])('%s names %s', async (name, global, why) => {
      await expect(readTorchStateDict(file(name))).rejects.toThrow(
        `readTorchStateDict: ${file(name)} is not a plain state dict: it names the Python global '${global}', ${why} ${REFUSED}`,
      );
      await expect(readWeightFile(file(name))).rejects.toThrow(`readWeightFile: ${file(name)} is not a plain state dict: it names the Python global '${global}'`);
      expect(expected[name].weightsOnly).toBe(false); // torch.load(weights_only=True) refuses it too
      expect(fs.existsSync(marker)).toBe(false);
    });

    it('the marker the malicious pickles would create does not exist (nothing ran)', () => {
      expect(marker).toMatch(/pwned-/);
      expect(fs.existsSync(marker)).toBe(false);
    });

    it('control: such a file loaded with torch.load(weights_only=False) does run its command', () => {
      expect(expected.control).toEqual({ tensors: null, weightsOnly: false, ran: true });
    });

    it('a TorchScript archive and a plain pickle are named as such', async () => {
      await expect(readTorchStateDict(file('scripted.pt'))).rejects.toThrow(
        `readTorchStateDict: ${file('scripted.pt')} is a TorchScript archive (torch.jit.save), not a state dict: save model.state_dict() with torch.save and read that`,
      );
      await expect(readTorchStateDict(file('plain.pkl'))).rejects.toThrow(
        `readTorchStateDict: ${file('plain.pkl')} is a pickle but not a PyTorch file: its first pickle is a dict of 1 entry, not PyTorch's magic number`,
      );
    });
  });

  describe('damaged files', () => {
    it('a missing storage record names the record and the tensor', async () => {
      await expect(readTorchStateDict(file('missing_storage.zip.pth'))).rejects.toThrow(
        `readTorchStateDict: ${file('missing_storage.zip.pth')} has no storage record 'missing_storage.zip/data/1' for tensor 'b' (the archive is incomplete)`,
      );
    });

    it('a storage record shorter than its storage', async () => {
      await expect(readTorchStateDict(file('short_storage.zip.pth'))).rejects.toThrow(
        `readTorchStateDict: ${file('short_storage.zip.pth')} is damaged: record 'short_storage.zip/data/1' has 12 bytes, but its storage holds 6 float32 elements (24 bytes)`,
      );
    });

    it('a zip file cut anywhere is a truncated zip archive', async () => {
      const full = fs.statSync(file('state.zip.pth')).size;
      for (const length of [4, 100, full >> 1, full - 22, full - 1]) {
        const cut = truncatedCopy(file('state.zip.pth'), length, dir());
        await expect(readTorchStateDict(cut)).rejects.toThrow(`readTorchStateDict: ${cut} is a truncated or damaged zip archive (invalid zip data)`);
      }
    });

    it('a legacy file cut inside each part says where it ends', async () => {
      const layout = expected['state.legacy.pth'].layout as NonNullable<Expected[string]['layout']>;
      const [, , sysInfoEnd, dataEnd, keysEnd] = layout.pickleEnds;
      const first = layout.records[0];
      const last = layout.records[layout.records.length - 1];
      const full = fs.statSync(file('state.legacy.pth')).size;
      const cases: [number, string][] = [
        [1, 'is not a PyTorch file: it is neither a zip archive (torch.save since PyTorch 1.6) nor a pickle (older torch.save); it starts with bytes 80'],
        [3, 'is truncated: its first pickle ends at byte 3, inside the opcode at byte 2 (before its STOP)'],
        [sysInfoEnd, 'is truncated: its data pickle ends at byte ' + sysInfoEnd + ', before its STOP opcode'],
        [layout.dataStringOpcode + 3, `is truncated: its data pickle ends at byte ${layout.dataStringOpcode + 3}, inside the opcode at byte ${layout.dataStringOpcode} (before its STOP)`],
        [dataEnd, `is truncated: its storage-key pickle ends at byte ${dataEnd}, before its STOP opcode`],
        [keysEnd + 4, `is truncated: it ends at byte ${keysEnd + 4}, before the record of storage '${first.key}'`],
        [full - 1, `is truncated: the record of storage '${last.key}' (${last.count} ${last.dtype} elements) ends at byte ${full}, but the file has ${full - 1} bytes`],
      ];
      expect(keysEnd).toBe(first.start);
      for (const [length, problem] of cases) {
        const cut = truncatedCopy(file('state.legacy.pth'), length, dir());
        await expect(readTorchStateDict(cut)).rejects.toThrow(`readTorchStateDict: ${cut} ${problem}`);
      }
    });
  });
});
