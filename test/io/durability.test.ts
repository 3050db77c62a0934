/**
 * Issue 11, case 8 (durability): `writeFileAtomic` fsyncs the file before the rename and the
 * folder after it; a checkpoint is written in a temporary folder whose files and itself are
 * fsynced before it is renamed into place, then the parent folder is fsynced, then `latest` is
 * replaced the same way. Checked on the sequence of file-system calls.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { smallResNet } from '../../src/backbones/resnet';
import { CheckpointRun, writeFileAtomic } from '../../src/io';
import { S3N } from '../../src/model';
import { tempDir } from '../data/layouts';

let root: string;
beforeAll(() => {
  root = tempDir('durable');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Records open / sync / rename calls (paths relative to `root`, random temp suffixes removed). */
function recordCalls(): { calls: string[]; restore: () => void } {
  const calls: string[] = [];
  const rel = (p: unknown) => path.relative(root, String(p)).replace(/\.(tmp|old|pruned)-\d+-[0-9a-f]{8}/g, '.$1') || '.';
  const open = fs.promises.open;
  const rename = fs.promises.rename;
  const o = jest.spyOn(fs.promises, 'open').mockImplementation(async (...args: Parameters<typeof fs.promises.open>) => {
    const fh = await open(...args);
    const sync = fh.sync.bind(fh);
    fh.sync = async () => {
      calls.push(`sync ${rel(args[0])}`);
      return sync();
    };
    calls.push(`open ${rel(args[0])}`);
    return fh;
  });
  const r = jest.spyOn(fs.promises, 'rename').mockImplementation(async (a, b) => {
    calls.push(`rename ${rel(a)} ${rel(b)}`);
    return rename(a, b);
  });
  return {
    calls,
    restore: () => {
      o.mockRestore();
      r.mockRestore();
    },
  };
}

it('writeFileAtomic: fsync the file, rename, fsync the folder', async () => {
  const { calls, restore } = recordCalls();
  await writeFileAtomic(path.join(root, 'metrics.json'), '[]');
  restore();
  expect(calls).toEqual(['open .metrics.json.tmp', 'sync .metrics.json.tmp', 'rename .metrics.json.tmp metrics.json', 'open .', 'sync .']);
  expect(fs.readFileSync(path.join(root, 'metrics.json'), 'utf8')).toBe('[]');
});

it('CheckpointRun.save: every file and the folder fsynced before the rename, the parent after it, then latest', async () => {
  const s3n = S3N.create(smallResNet({ inputSize: 16, widths: [4], seed: 1 }), { classes: 2, seed: 1, gridSize: 7, paddingSize: 4, fwhm: 2 });
  const optimizer = s3n.createOptimizer();
  optimizer.setState(Object.fromEntries(optimizer.variables.map((v) => [v.name, v.clone()])));
  const run = new CheckpointRun(path.join(root, 'run'));
  const { calls, restore } = recordCalls();
  await run.save(s3n.model, { epoch: 1, dataSeed: 0, drawCount: 0, classNames: ['a', 'b'], config: {}, metrics: [] }, optimizer);
  restore();
  optimizer.dispose();
  s3n.dispose();
  const tmp = 'run/checkpoints/.epoch-0001.tmp';
  const at = (call: string) => {
    const i = calls.indexOf(call);
    if (i < 0) throw new Error(`no call '${call}' in:\n${calls.join('\n')}`);
    return i;
  };
  const renamed = at(`rename ${tmp} run/checkpoints/epoch-0001`);
  for (const f of ['weights.bin', 'model.json', 'optimizer.bin', 'optimizer.json', 'state.json']) {
    expect(at(`sync ${tmp}/.${f}.tmp`)).toBeLessThan(at(`rename ${tmp}/.${f}.tmp ${tmp}/${f}`));
    expect(at(`rename ${tmp}/.${f}.tmp ${tmp}/${f}`)).toBeLessThan(renamed);
  }
  expect(calls.lastIndexOf(`sync ${tmp}`)).toBeLessThan(renamed);
  const parentSynced = calls.indexOf('sync run/checkpoints', renamed);
  const latestRenamed = at('rename run/checkpoints/.latest.tmp run/checkpoints/latest');
  expect(parentSynced).toBeGreaterThan(renamed);
  expect(parentSynced).toBeLessThan(latestRenamed);
  expect(calls.indexOf('sync run/checkpoints', latestRenamed)).toBeGreaterThan(latestRenamed);
  expect(fs.readdirSync(path.join(root, 'run', 'checkpoints')).sort()).toEqual(['epoch-0001', 'latest']);
});
