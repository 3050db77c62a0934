/**
 * Issue 11, case 7 (checkpoint files): a corrupt or incomplete checkpoint gives a message that
 * names the file: a truncated `weights.bin` (not a raw tfjs shape error), a bad `state.json`
 * (not a bare JSON parse error), a missing `weights.bin` (not "neither").
 */
import * as tfl from '@tensorflow/tfjs-layers';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { smallResNet } from '../../src/backbones/resnet';
import { checkpointProblem, CheckpointRun, fileSystem, loadCheckpoint, saveCheckpoint } from '../../src/io';
import { S3N } from '../../src/model';
import { tempDir } from '../data/layouts';
import { cli } from '../cli/cli_helpers';

let root: string;
let good: string;
const state = { epoch: 1, dataSeed: 0, drawCount: 0, classNames: ['a', 'b'], config: {}, metrics: [] };

beforeAll(async () => {
  root = tempDir('ckfiles');
  const s3n = S3N.create(smallResNet({ inputSize: 16, widths: [4], seed: 1 }), { classes: 2, seed: 1, gridSize: 7, paddingSize: 4, fwhm: 2 });
  const optimizer = s3n.createOptimizer();
  const run = new CheckpointRun(path.join(root, 'run'));
  // Momentum buffers exist only after a step: set them to zeros directly.
  optimizer.setState(Object.fromEntries(optimizer.variables.map((v) => [v.name, v.clone()])));
  good = await run.save(s3n.model, state, optimizer);
  await run.save(s3n.model, { ...state, epoch: 2 }, optimizer);
  optimizer.dispose();
  s3n.dispose();
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function copy(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(good, dir, { recursive: true });
  return dir;
}

describe('loadCheckpoint names the broken file', () => {
  it('a complete checkpoint has no problem', () => {
    expect(checkpointProblem(good)).toBeUndefined();
  });

  it('truncated weights.bin', async () => {
    const dir = copy('truncated');
    const bin = path.join(dir, 'weights.bin');
    const size = fs.statSync(bin).size;
    fs.truncateSync(bin, 100);
    await expect(loadCheckpoint(dir)).rejects.toThrow(
      `loadCheckpoint: dir must be a complete checkpoint folder, but '${bin}' holds 100 bytes where its model.json lists ${size} (a truncated or partly written file).`,
    );
  });

  it('state.json that is not JSON', async () => {
    const dir = copy('bad-state');
    fs.writeFileSync(path.join(dir, 'state.json'), '{oops');
    let parseError = '';
    try {
      JSON.parse('{oops');
    } catch (e) {
      parseError = (e as Error).message;
    }
    await expect(loadCheckpoint(dir)).rejects.toThrow(`loadCheckpoint: dir must be a complete checkpoint folder, but '${path.join(dir, 'state.json')}' is not JSON (${parseError}).`);
  });

  it('missing weights.bin', async () => {
    const dir = copy('no-weights');
    fs.rmSync(path.join(dir, 'weights.bin'));
    await expect(loadCheckpoint(dir)).rejects.toThrow(`loadCheckpoint: dir must be a complete checkpoint folder, but '${path.join(dir, 'weights.bin')}' is missing.`);
  });

  it('truncated optimizer.bin', async () => {
    const dir = copy('bad-optimizer');
    const bin = path.join(dir, 'optimizer.bin');
    const size = fs.statSync(bin).size;
    fs.truncateSync(bin, 10);
    await expect(loadCheckpoint(dir)).rejects.toThrow(
      `loadCheckpoint: dir must be a complete checkpoint folder, but '${bin}' holds 10 bytes where its optimizer.json lists ${size} (a truncated or partly written file).`,
    );
  });

  it('a run whose latest names a broken checkpoint: names the file and the newest complete one', async () => {
    const run = path.join(root, 'broken-run');
    fs.cpSync(path.join(root, 'run'), run, { recursive: true });
    const broken = path.join(run, 'checkpoints', 'epoch-0002', 'weights.bin');
    fs.rmSync(broken);
    await expect(loadCheckpoint(run)).rejects.toThrow(
      `loadCheckpoint: the checkpoint that '${path.join(run, 'checkpoints', 'latest')}' names must be complete, but '${broken}' is missing. ` +
        `The newest complete checkpoint of the run is '${path.join(run, 'checkpoints', 'epoch-0001')}': pass it instead.`,
    );
  });

  it('fileSystem.load of a plain model folder with a truncated weights.bin', async () => {
    const dir = copy('plain');
    fs.rmSync(path.join(dir, 'state.json'));
    const bin = path.join(dir, 'weights.bin');
    const size = fs.statSync(bin).size;
    fs.truncateSync(bin, 100);
    await expect(tfl.loadLayersModel(fileSystem(dir))).rejects.toThrow(
      `fileSystem.load: the weight files listed in ${path.join(dir, 'model.json')} must hold the ${size} bytes it lists, but '${bin}' holds 100 bytes (a truncated or partly written file).`,
    );
  });

  it('the CLI passes the message on', async () => {
    const dir = path.join(root, 'truncated');
    const r = await cli(['eval', '--checkpoint', dir, '--dataset', 'folder', '--data', root]);
    expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^s3n eval: loadCheckpoint: dir must be a complete checkpoint folder, but '.*weights\\.bin' holds 100 bytes where its model\\.json lists \\d+ \\(a truncated or partly written file\\)\\.$`));
    expect(r.code).toBe(1);
  }, 30000);
});
