/**
 * `s3n export`: a checkpoint as a web model folder (model.json, weights.bin, classes.txt),
 * copied byte for byte, that loads with tf.loadLayersModel and predicts what the checkpoint
 * does; refusals name what was expected.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { S3N, smallResNet } from '../../src';
import { CheckpointRun, fileSystem, saveCheckpoint } from '../../src/io';
import { exportForWeb } from '../../src/cli/export';
import { main } from '../../src/cli/commands';
import { tempDir } from '../data/layouts';

const CLASSES = ['alpha', 'beta', 'gamma'];
let root: string;
let s3n: S3N;
let ck: string;

const state = (classNames = CLASSES) => ({ epoch: 1, dataSeed: 0, drawCount: 0, classNames, config: {}, metrics: [] });

/** Runs the CLI in process; returns the exit code and what it printed. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

beforeAll(async () => {
  root = tempDir('export');
  s3n = S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 5 }), { classes: 3, seed: 5 });
  ck = await saveCheckpoint(path.join(root, 'ck'), s3n.model, state());
});
afterAll(() => {
  s3n.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('s3n export', () => {
  it('copies model.json and weights.bin byte for byte, writes classes.txt, and the export predicts like the checkpoint', async () => {
    const out = path.join(root, 'web');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const r = await exportForWeb(ck, out);
    expect(r).toEqual({ checkpoint: ck, dir: out, files: ['model.json', 'weights.bin', 'classes.txt'], classNames: CLASSES, weightBytes: fs.statSync(path.join(ck, 'weights.bin')).size });
    expect(fs.readdirSync(out).sort()).toEqual(['classes.txt', 'model.json', 'notes.txt', 'weights.bin']);
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine'); // nothing else touched
    for (const f of ['model.json', 'weights.bin']) expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(ck, f)))).toBe(true);
    expect(fs.readFileSync(path.join(out, 'classes.txt'), 'utf8')).toBe('alpha\nbeta\ngamma\n');

    const before = tf.memory().numTensors;
    const copy = S3N.fromModel(await tfl.loadLayersModel(fileSystem(out)));
    const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const [a, b] = [s3n.predict(x), copy.predict(x)];
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    copy.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes a run folder (its latest checkpoint) and is the CLI command `s3n export`', async () => {
    const run = new CheckpointRun(path.join(root, 'run'));
    await run.save(s3n.model, { ...state(), epoch: 1 });
    const latest = await run.save(s3n.model, { ...state(), epoch: 2 });
    const out = path.join(root, 'web-run');
    const r = await cli(['export', '--checkpoint', path.join(root, 'run'), '--out', out]);
    expect(r).toEqual({ code: 0, out: `exported ${latest} to ${out}: model.json, weights.bin, classes.txt (${(fs.statSync(path.join(latest, 'weights.bin')).size / 1e6).toFixed(2)} MB of weights, 3 classes)\n`, err: '' });
    const missing = await cli(['export', '--out', out]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^s3n export: --checkpoint is required\.\n\nUsage: s3n export --checkpoint DIR --out DIR/);
  });

  it('refuses what it cannot export, naming what was expected, and writes nothing', async () => {
    const refuse = async (checkpoint: string, out: string) => {
      const r = await cli(['export', '--checkpoint', checkpoint, '--out', out]);
      expect(r.code).toBe(1);
      expect(fs.existsSync(path.join(root, 'never'))).toBe(false);
      return r.err;
    };
    const never = path.join(root, 'never');
    expect(await refuse(path.join(root, 'nothing-here'), never)).toMatch(/^s3n export: --checkpoint: readCheckpointState: dir must be a checkpoint folder \(with model\.json, weights\.bin, state\.json\) or a run folder/);
    expect(await refuse(ck, ck)).toBe(`s3n export: --out must be a folder other than the checkpoint, but got the checkpoint folder '${ck}'.\n`);
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'x');
    expect(await refuse(ck, file)).toBe(`s3n export: --out must be a folder, but got the existing file '${file}'.\n`);

    // A tfjs model that is not S3N.
    const plain = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [4] })] });
    const notS3N = await saveCheckpoint(path.join(root, 'plain'), plain, state());
    plain.dispose();
    expect(await refuse(notS3N, never)).toBe(
      `s3n export: --checkpoint: ${path.join(notS3N, 'model.json')} must be an S3N tfjs layers model (format 'layers-model' with the layers S3NClassResponseMap, S3NSparseAttention, S3NSaliencySampler, S3NHead), but got format "layers-model" without S3NClassResponseMap, S3NSparseAttention, S3NSaliencySampler, S3NHead.\n`,
    );
    // Class names that do not fit the model, or classes.txt.
    const two = await saveCheckpoint(path.join(root, 'two'), s3n.model, state(['alpha', 'beta']));
    expect(await refuse(two, never)).toBe("s3n export: --checkpoint: state.json must name the model's 3 classes, but got 2 names.\n");
    const newline = await saveCheckpoint(path.join(root, 'newline'), s3n.model, state(['alpha', 'be\nta', 'gamma']));
    expect(await refuse(newline, never)).toBe('s3n export: --checkpoint: the class names in state.json must be at least 2 non-empty one-line names, but got "be\\nta" at index 1.\n');
    // A weight file missing.
    const broken = await saveCheckpoint(path.join(root, 'broken'), s3n.model, state());
    const json = JSON.parse(fs.readFileSync(path.join(broken, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['./other.bin'];
    fs.writeFileSync(path.join(broken, 'model.json'), JSON.stringify(json));
    expect(await refuse(broken, never)).toBe(`s3n export: --checkpoint: readCheckpointState: dir must be a complete checkpoint folder, but '${path.join(broken, 'other.bin')}' is missing.\n`);
    json.weightsManifest[0].paths = ['../ck/weights.bin'];
    fs.writeFileSync(path.join(broken, 'model.json'), JSON.stringify(json));
    expect(await refuse(broken, never)).toBe(`s3n export: --checkpoint: the weight files of ${path.join(broken, 'model.json')} must lie beside it, but got '../ck/weights.bin'.\n`);
  });
});
