/**
 * Issue 11, cases 2 and 3: `--resume` where there is no run stops at once, and an `--out`
 * that cannot be written is refused before any training (not after the first epoch).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { train } from '../../src/cli/train';
import { makeFolder, tempDir } from '../data/layouts';
import { cli, tinyTrainArgs, tinyTrainOptions } from './cli_helpers';

let root: string;
let data: string;
beforeAll(async () => {
  root = tempDir('out');
  // Readable by the unprivileged user of the read-only test (mkdtemp makes 0700 folders).
  fs.chmodSync(root, 0o755);
  data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 2, test: 1, size: 20 });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('train --resume where there is no run', () => {
  it('says that no run was found and creates nothing (a typo in --out)', async () => {
    const out = path.join(root, 'typo', 'run');
    const lines: string[] = [];
    await expect(train({ ...tinyTrainOptions(data, out, lines), resume: true })).rejects.toThrow(
      `--out '${out}' holds no run to resume (it has no checkpoints/ folder): check --out, or leave out --resume to start a new run.`,
    );
    expect(fs.existsSync(path.join(root, 'typo'))).toBe(false);
    expect(lines).toEqual([]);
  });

  it('an existing folder that is not a run is refused the same way', async () => {
    const out = path.join(root, 'not-a-run');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    await expect(train({ ...tinyTrainOptions(data, out), resume: true })).rejects.toThrow(
      `--out '${out}' holds no run to resume (it has no checkpoints/ folder): check --out, or leave out --resume to start a new run.`,
    );
    expect(fs.readdirSync(out)).toEqual(['notes.txt']);
  });
});

describe('an --out that cannot be written is refused before training starts', () => {
  it('--out is a file', async () => {
    const out = path.join(root, 'a-file');
    fs.writeFileSync(out, 'not a folder');
    const lines: string[] = [];
    await expect(train({ ...tinyTrainOptions(data, out, lines) })).rejects.toThrow(`--out must be a folder that can be written, but '${out}' is a file.`);
    expect(lines).toEqual([]);
    expect(fs.readFileSync(out, 'utf8')).toBe('not a folder');
  });

  it('--out is inside a file', async () => {
    const file = path.join(root, 'another-file');
    fs.writeFileSync(file, '');
    const out = path.join(file, 'run');
    const lines: string[] = [];
    await expect(train({ ...tinyTrainOptions(data, out, lines) })).rejects.toThrow(
      `--out must be a folder that can be written, but creating '${path.join(out, 'checkpoints')}' failed: ENOTDIR: not a directory, mkdir '${path.join(out, 'checkpoints')}'.`,
    );
    expect(lines).toEqual([]);
  });

  it('--out is a read-only folder (the CLI, run as an unprivileged user when the tests run as root)', async () => {
    const out = path.join(root, 'read-only');
    fs.mkdirSync(out);
    fs.chmodSync(out, 0o555);
    const asRoot = process.getuid?.() === 0;
    const r = await cli(tinyTrainArgs(data, out), asRoot ? { uid: 65534 } : {});
    expect(r.stderr.split('\n')[0]).toBe(
      `s3n train: --out must be a folder that can be written, but creating '${path.join(out, 'checkpoints')}' failed: EACCES: permission denied, mkdir '${path.join(out, 'checkpoints')}'.`,
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(fs.readdirSync(out)).toEqual([]);
  });
});
