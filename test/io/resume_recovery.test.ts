/**
 * Issue 11, case 1: a broken `checkpoints/latest` or an incomplete latest checkpoint never
 * destroys a run. `train --resume` resumes from the newest complete checkpoint and says which
 * and why, or refuses naming the broken file; it never deletes or overwrites a checkpoint it
 * did not write itself. Asserted on the exact messages and on the files left on disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { train } from '../../src/cli/train';
import { makeFolder, tempDir } from '../data/layouts';
import { tinyTrainOptions } from '../cli/cli_helpers';

let root: string;
let data: string;
/** A run of 2 epochs: checkpoints/epoch-0001, epoch-0002, latest → epoch-0002, metrics.json [1, 2]. */
let base: string;
/** The same run trained 3 epochs without interruption. */
let reference: string;

const ck = (run: string, ...p: string[]) => path.join(run, 'checkpoints', ...p);
const listing = (run: string) => fs.readdirSync(ck(run)).sort();
const latest = (run: string) => fs.readFileSync(ck(run, 'latest'), 'utf8').trim();
const metricsEpochs = (run: string) => (JSON.parse(fs.readFileSync(path.join(run, 'metrics.json'), 'utf8')) as { epoch: number }[]).map((m) => m.epoch);
const same = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));

/** A copy of the 2-epoch run, to break. */
function copyOfBase(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}

/** Every file under `dir` with its bytes, to show that nothing was changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out[f] = fs.readFileSync(p).toString('base64');
  }
  return out;
}

async function resume(out: string, lines: string[]) {
  const { s3n } = await train({ ...tinyTrainOptions(data, out, lines), resume: true });
  s3n.dispose();
}

beforeAll(async () => {
  root = tempDir('resume');
  data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 2, test: 1, size: 20 });
  base = path.join(root, 'base');
  reference = path.join(root, 'reference');
  const a = await train({ ...tinyTrainOptions(data, base), epochs: 2 });
  a.s3n.dispose();
  const b = await train(tinyTrainOptions(data, reference));
  b.s3n.dispose();
  expect(listing(base)).toEqual(['epoch-0001', 'epoch-0002', 'latest']);
  expect(latest(base)).toBe('epoch-0002');
}, 60000);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('train --resume on a run whose latest checkpoint is broken', () => {
  it('latest names a missing epoch: resumes from the newest complete checkpoint, says so, and ends like an uninterrupted run', async () => {
    const out = copyOfBase('missing-epoch');
    fs.writeFileSync(ck(out, 'latest'), 'epoch-0003\n');
    const lines: string[] = [];
    await resume(out, lines);
    expect(lines).toContain(
      `checkpoints/latest names epoch-0003, but '${ck(out, 'epoch-0003')}' does not exist: resuming from epoch-0002, the newest complete checkpoint.`,
    );
    expect(lines).toContain(`resuming ${out} after epoch 2 (checkpoints/epoch-0002)`);
    expect(lines.some((l) => l.startsWith('epoch 1/3 started') || l.startsWith('epoch 2/3 started'))).toBe(false);
    // epoch-0001 and epoch-0002 were written by the first session: kept.
    expect(listing(out)).toEqual(['epoch-0001', 'epoch-0002', 'epoch-0003', 'latest']);
    expect(latest(out)).toBe('epoch-0003');
    expect(metricsEpochs(out)).toEqual([1, 2, 3]);
    expect(same(ck(out, 'epoch-0001', 'weights.bin'), ck(base, 'epoch-0001', 'weights.bin'))).toBe(true);
    expect(same(ck(out, 'epoch-0003', 'weights.bin'), ck(reference, 'epoch-0003', 'weights.bin'))).toBe(true);
  });

  it('the latest checkpoint lacks weights.bin: resumes from the one before and keeps the incomplete folder aside', async () => {
    const out = copyOfBase('no-weights');
    fs.rmSync(ck(out, 'epoch-0002', 'weights.bin'));
    const before = snapshot(ck(out, 'epoch-0002'));
    const lines: string[] = [];
    await resume(out, lines);
    expect(lines).toContain(
      `checkpoints/latest names epoch-0002, but '${ck(out, 'epoch-0002', 'weights.bin')}' is missing: resuming from epoch-0001, the newest complete checkpoint. ` +
        `The incomplete folder is kept as checkpoints/epoch-0002.incomplete.`,
    );
    expect(lines).toContain(`resuming ${out} after epoch 1 (checkpoints/epoch-0001)`);
    expect(listing(out)).toEqual(['epoch-0001', 'epoch-0002', 'epoch-0002.incomplete', 'epoch-0003', 'latest']);
    expect(snapshot(ck(out, 'epoch-0002.incomplete'))).toEqual(before);
    expect(latest(out)).toBe('epoch-0003');
    expect(metricsEpochs(out)).toEqual([1, 2, 3]);
    for (const e of ['epoch-0002', 'epoch-0003']) expect(same(ck(out, e, 'weights.bin'), ck(reference, e, 'weights.bin'))).toBe(true);
  });

  it('the latest weights.bin is truncated: names the file and its sizes, resumes from the one before', async () => {
    const out = copyOfBase('truncated');
    const bin = ck(out, 'epoch-0002', 'weights.bin');
    const full = fs.statSync(bin).size;
    fs.truncateSync(bin, 100);
    const lines: string[] = [];
    await resume(out, lines);
    expect(lines).toContain(
      `checkpoints/latest names epoch-0002, but '${bin}' holds 100 bytes where its model.json lists ${full} (a truncated or partly written file): ` +
        `resuming from epoch-0001, the newest complete checkpoint. The incomplete folder is kept as checkpoints/epoch-0002.incomplete.`,
    );
    expect(listing(out)).toEqual(['epoch-0001', 'epoch-0002', 'epoch-0002.incomplete', 'epoch-0003', 'latest']);
    expect(fs.statSync(ck(out, 'epoch-0002.incomplete', 'weights.bin')).size).toBe(100);
    expect(metricsEpochs(out)).toEqual([1, 2, 3]);
  });

  it('no checkpoint is complete: refuses, naming every broken file, and changes nothing', async () => {
    const out = copyOfBase('all-broken');
    fs.rmSync(ck(out, 'epoch-0001', 'weights.bin'));
    fs.writeFileSync(ck(out, 'epoch-0002', 'state.json'), '{"format": "s3n-checkpoint", "epoch": ');
    const before = snapshot(out);
    await expect(resume(out, [])).rejects.toThrow(
      `--resume found no complete checkpoint in '${ck(out)}': '${ck(out, 'epoch-0001', 'weights.bin')}' is missing; ` +
        `'${ck(out, 'epoch-0002', 'state.json')}' is not JSON (Unexpected end of JSON input). Nothing was changed: restore the files, or start a new run with another --out.`,
    );
    expect(snapshot(out)).toEqual(before);
  });

  it('without --resume, a run with a broken latest is refused as a run, not overwritten', async () => {
    const out = copyOfBase('fresh-over-broken');
    fs.writeFileSync(ck(out, 'latest'), 'epoch-0007\n');
    const before = snapshot(out);
    const lines: string[] = [];
    await expect(train(tinyTrainOptions(data, out, lines))).rejects.toThrow(
      `--out '${out}' already holds a run (checkpoints/epoch-0002); pass --resume to continue it, or choose another --out.`,
    );
    expect(snapshot(out)).toEqual(before);
    expect(lines).toEqual([]);
  });
});
