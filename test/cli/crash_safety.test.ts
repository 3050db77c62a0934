/**
 * Crash safety (issue 11, must-show): `s3n train` killed with SIGKILL at random points of its
 * checkpoint saves, ten times, always leaves a run that `--resume` continues to the same final
 * weights, bit for bit, as an uninterrupted run.
 *
 * The kill points are the save points of `src/io/save_points.ts` (every file written and
 * renamed, the checkpoint folder created and renamed into place, `latest`, pruning,
 * `metrics.json`): the child, run with `S3N_SAVE_POINTS=pause:<k>`, stops at its k-th point and
 * says so on stderr, and the test kills it there with SIGKILL. k is drawn with a seeded
 * generator. A killed run is resumed by the next process, which may be killed again; when a
 * process finishes, its run is compared with the uninterrupted one and a new run starts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mulberry32 } from '../../src/data/rng';
import { checkpointProblem } from '../../src/io';
import { makeFolder, tempDir } from '../data/layouts';
import { cli, tinyTrainArgs } from './cli_helpers';

let root: string;
let data: string;
beforeAll(async () => {
  root = tempDir('crash');
  data = await makeFolder(path.join(root, 'data'), { classes: 2, train: 2, test: 1, size: 20 });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const ck = (run: string, ...p: string[]) => path.join(run, 'checkpoints', ...p);
const metrics = (run: string) =>
  (JSON.parse(fs.readFileSync(path.join(run, 'metrics.json'), 'utf8')) as Record<string, unknown>[]).map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);

it('ten SIGKILLs during checkpoint saves: --resume always ends at the weights of an uninterrupted run', async () => {
  const reference = path.join(root, 'reference');
  const ref = await cli(tinyTrainArgs(data, reference), { env: { S3N_SAVE_POINTS: 'trace' } });
  expect(ref.code).toBe(0);
  const points = ref.stderr.split('\n').filter((l) => l.startsWith('s3n-save-point '));
  // 3 epochs, each: the checkpoint folder, its 5 files (written, renamed), the folder renamed
  // into place, latest, metrics.json; the third also prunes epoch-0001; then classes.txt.
  expect(points.length).toBe(3 * 16 + 1 + 2);
  expect(points.filter((l) => / epoch-000\d renamed into place$/.test(l))).toHaveLength(3);

  const rng = mulberry32(20261203);
  const kills: string[] = [];
  let runs = 0;
  while (kills.length < 10) {
    const out = path.join(root, `run-${++runs}`);
    let resume = false;
    let finished = false;
    while (!finished) {
      // A point among those left to the end of the run (fewer once epochs are done).
      const done = fs.existsSync(ck(out)) ? fs.readdirSync(ck(out)).filter((n) => /^epoch-\d+$/.test(n)).length : 0;
      const k = 1 + Math.floor(rng() * Math.max(1, points.length - 16 * Math.min(done, 2)));
      const r = await cli(tinyTrainArgs(data, out, resume ? ['--resume'] : []), { env: { S3N_SAVE_POINTS: `pause:${k}` }, killOnStderr: /s3n-save-point \d+ .* paused\n/ });
      if (r.signal === 'SIGKILL') {
        const at = /s3n-save-point \d+ (.*) paused/.exec(r.stderr);
        expect(at).not.toBeNull();
        kills.push(`run ${runs}, process ${resume ? 'resumed' : 'first'}: killed at point ${k} (${at![1]})`);
        // Whatever was on disk: every checkpoint folder is complete (temporaries are hidden).
        for (const n of fs.existsSync(ck(out)) ? fs.readdirSync(ck(out)).filter((x) => !x.startsWith('.') && x !== 'latest') : []) {
          expect([n, checkpointProblem(ck(out, n))]).toEqual([n, undefined]);
        }
        resume = true;
        continue;
      }
      expect([r.code, r.stderr]).toEqual([0, '']);
      finished = true;
    }
    // Same final weights and momentum, bit for bit; same metrics; latest and metrics.json up to date.
    for (const f of ['weights.bin', 'optimizer.bin', 'model.json']) {
      expect([f, fs.readFileSync(ck(out, 'epoch-0003', f)).equals(fs.readFileSync(ck(reference, 'epoch-0003', f)))]).toEqual([f, true]);
    }
    expect(fs.readFileSync(ck(out, 'latest'), 'utf8')).toBe('epoch-0003\n');
    expect(metrics(out)).toEqual(metrics(reference));
    expect(fs.readFileSync(path.join(out, 'classes.txt'), 'utf8')).toBe('alpha\nbeta\n');
    expect(fs.readdirSync(ck(out)).filter((n) => n.startsWith('.'))).toEqual([]);
  }
  console.log(`${kills.length} kills in ${runs} runs:\n${kills.join('\n')}`);
  expect(kills).toHaveLength(10);
}, 180000);
