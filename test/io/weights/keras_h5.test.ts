// readKerasH5 on Keras-layout .h5 files written with h5py (make_weight_files.py h5). h5wasm is an
// ES module that Jest's CommonJS runtime cannot load, so the files are read in a child Node
// process (read_h5_child.ts, run with tsx) and its JSON is compared here.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readKerasH5 } from '../../../src/io/weights';
import { describeWithPythonFiles, type ExpectedTensor, NEEDS_H5PY, readExpected, truncatedCopy } from './weight_files';

const ROOT = path.join(__dirname, '..', '..', '..');
const CHILD = path.join(__dirname, 'read_h5_child.ts');

type Layers = Record<string, (ExpectedTensor & { name: string })[]>;
interface Read { layers?: Layers; format?: string; error?: string }
type ChildOutput = Record<string, { readKerasH5: Read; readWeightFile: Read }>;

function readInChild(files: string[]): ChildOutput {
  const out = execFileSync(process.execPath, ['--import', 'tsx', CHILD, ...files], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out) as ChildOutput;
}

describeWithPythonFiles('readKerasH5 on Keras-layout files written by h5py', 'h5', NEEDS_H5PY, ({ dir }) => {
  let expected: Record<string, Layers>;
  let read: ChildOutput;
  const file = (name: string) => path.join(dir(), name);
  let truncated = '';
  let size = 0;

  beforeAll(() => {
    expected = readExpected<Record<string, Layers>>(dir(), 'h5');
    size = fs.statSync(file('weights.h5')).size;
    truncated = truncatedCopy(file('weights.h5'), size >> 1, dir());
    read = readInChild(['weights.h5', 'model.h5', 'split.h5', 'not_keras.h5', 'missing_dataset.h5'].map(file).concat(truncated));
  });

  it.each([
    ['weights.h5', 'model.save_weights layout: layer groups at the root'],
    ['model.h5', 'model.save layout: the same under /model_weights'],
    ['split.h5', 'layer_names and weight_names split into name0, name1, …'],
  ])('%s (%s): every layer in layer_names order, weights in weight_names order, exact values', (name) => {
    const layers = read[file(name)].readKerasH5.layers as Layers;
    expect(Object.keys(layers)).toEqual(['conv2d', 'batch_normalization', 'flatten', 'dense']);
    expect(layers.flatten).toEqual([]);
    expect(layers.dense.map((w) => [w.name, w.dtype, w.shape])).toEqual([
      ['dense/kernel:0', 'float64', [4, 2]], ['dense/bias:0', 'float32', [2]], ['dense/steps:0', 'int64', []],
    ]);
    expect(layers.dense[1].values).toEqual([0, '-0']);
    expect(layers.dense[2].values).toEqual([42]);
    expect(layers).toEqual(expected[name]);
  });

  it('readWeightFile recognises the HDF5 signature', () => {
    expect(read[file('weights.h5')].readWeightFile).toEqual({ format: 'keras-h5', layers: expected['weights.h5'] });
  });

  it('an HDF5 file without the Keras layout, a missing dataset, a truncated file: clear errors', () => {
    expect(read[file('not_keras.h5')].readKerasH5.error).toBe(
      `readKerasH5: ${file('not_keras.h5')} is not a Keras weights file: it has no 'layer_names' attribute at / or /model_weights (Keras 3's .weights.h5 layout is not read here)`,
    );
    expect(read[file('missing_dataset.h5')].readKerasH5.error).toBe(
      `readKerasH5: ${file('missing_dataset.h5')} has no dataset 'dense/bias:0' in the group of layer 'dense', though its weight_names lists that weight`,
    );
    expect(read[truncated].readKerasH5.error).toBe(
      `readKerasH5: ${truncated} cannot be opened as an HDF5 file: truncated file: eof = ${size >> 1}, sblock->base_addr = 0, stored_eof = ${size}`,
    );
    expect(read[truncated].readWeightFile.error).toBe(
      `readWeightFile: ${truncated} cannot be opened as an HDF5 file: truncated file: eof = ${size >> 1}, sblock->base_addr = 0, stored_eof = ${size}`,
    );
  });
});

describe('readKerasH5 checks the file before loading h5wasm', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-h5-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a file that is not HDF5, an empty file, a missing file', async () => {
    const json = path.join(dir, 'x.json');
    fs.writeFileSync(json, '{"a": 1}');
    await expect(readKerasH5(json)).rejects.toThrow(
      `readKerasH5: ${json} is not an HDF5 file: it starts with bytes 7b 22 61 22 3a 20 31 7d, not the HDF5 signature 89 48 44 46 0d 0a 1a 0a`,
    );
    const empty = path.join(dir, 'empty.h5');
    fs.writeFileSync(empty, '');
    await expect(readKerasH5(empty)).rejects.toThrow(`readKerasH5: ${empty} is empty (0 bytes), not an HDF5 file`);
    const missing = path.join(dir, 'missing.h5');
    await expect(readKerasH5(missing)).rejects.toThrow(`readKerasH5: ${missing} cannot be read: ENOENT: no such file or directory, open '${missing}'`);
  });
});
