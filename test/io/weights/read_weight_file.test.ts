// readWeightFile's format sniffing and the readers' argument checks (no Python needed: the files
// of the formats themselves are covered by torch/safetensors/keras_h5.test.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readKerasH5, readSafetensors, readTorchStateDict, readWeightFile } from '../../../src/io/weights';

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);

describe('readWeightFile', () => {
  let dir: string;
  const write = (name: string, bytes: Uint8Array | string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-weight-file-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a JSON file, a PNG, a short text file: not a weights file, with its first bytes', async () => {
    const json = write('weights.json', '{"conv1.weight": [1, 2]}');
    await expect(readWeightFile(json)).rejects.toThrow(
      `readWeightFile: ${json} is not a weights file this reader knows (PyTorch .pth/.pt, .safetensors, Keras .h5): it starts with bytes 7b 22 63 6f 6e 76 31 2e …`,
    );
    const png = write('weights.png', PNG);
    await expect(readWeightFile(png)).rejects.toThrow(
      `readWeightFile: ${png} is not a weights file this reader knows (PyTorch .pth/.pt, .safetensors, Keras .h5): it starts with bytes 89 50 4e 47 0d 0a 1a 0a …`,
    );
    const short = write('short.pth', 'PK');
    await expect(readWeightFile(short)).rejects.toThrow(`readWeightFile: ${short} is not a weights file this reader knows (PyTorch .pth/.pt, .safetensors, Keras .h5): it starts with bytes 50 4b`);
  });

  it('an empty file, a missing file, a folder', async () => {
    const empty = write('empty.pth', '');
    await expect(readWeightFile(empty)).rejects.toThrow(`readWeightFile: ${empty} is empty (0 bytes), not a weights file`);
    const missing = path.join(dir, 'missing.pth');
    await expect(readWeightFile(missing)).rejects.toThrow(`readWeightFile: ${missing} cannot be read: ENOENT: no such file or directory, open '${missing}'`);
    await expect(readWeightFile(dir)).rejects.toThrow(`readWeightFile: ${dir} cannot be read: EISDIR: illegal operation on a directory, read`);
  });

  it('passes its name to the reader it picks, and accepts a caller name', async () => {
    const zip = write('bad.pth', Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3]));
    await expect(readWeightFile(zip)).rejects.toThrow(`readWeightFile: ${zip} is a truncated or damaged zip archive (invalid zip data)`);
    await expect(readWeightFile(zip, { caller: 'loadTorchWeights' })).rejects.toThrow(`loadTorchWeights: ${zip} is a truncated or damaged zip archive (invalid zip data)`);
  });

  it('the readers themselves, on the wrong type of file', async () => {
    const json = write('x.json', '{"a": 1}');
    await expect(readTorchStateDict(json)).rejects.toThrow(
      `readTorchStateDict: ${json} is not a PyTorch file: it is neither a zip archive (torch.save since PyTorch 1.6) nor a pickle (older torch.save); it starts with bytes 7b 22 61 22 3a 20 31 7d`,
    );
    const png = write('x.png', PNG);
    await expect(readTorchStateDict(png)).rejects.toThrow(
      `readTorchStateDict: ${png} is not a PyTorch file: it is neither a zip archive (torch.save since PyTorch 1.6) nor a pickle (older torch.save); it starts with bytes 89 50 4e 47 0d 0a 1a 0a …`,
    );
    const empty = write('x.pth', '');
    await expect(readTorchStateDict(empty)).rejects.toThrow(`readTorchStateDict: ${empty} is empty (0 bytes), not a PyTorch file`);
    const zip = write('x.zip', Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]));
    await expect(readTorchStateDict(zip)).rejects.toThrow(
      `readTorchStateDict: ${zip} is a zip archive but not a PyTorch file: it has no <folder>/data.pkl entry (its entries: none)`,
    );
  });

  it.each([
    ['readWeightFile', readWeightFile],
    ['readTorchStateDict', readTorchStateDict],
    ['readSafetensors', readSafetensors],
    ['readKerasH5', readKerasH5],
  ] as const)('%s checks its arguments', async (name, reader) => {
    await expect(reader('' as string)).rejects.toThrow(`${name}: file must be a path to a weights file (a non-empty string), but got ''.`);
    await expect(reader(42 as unknown as string)).rejects.toThrow(`${name}: file must be a path to a weights file (a non-empty string), but got 42.`);
    await expect(reader('x.pth', 'fast' as never)).rejects.toThrow(`${name}: options must be an object like { caller?: string } or undefined, but got 'fast'.`);
    await expect(reader('x.pth', { caller: '' })).rejects.toThrow(`${name}: options.caller must be a non-empty string, but got ''.`);
  });
});
