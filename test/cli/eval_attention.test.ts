/**
 * `s3n eval --attention MODE` (issue 15: the fine-grained benchmark found 'all' evaluation
 * better than the authors' 'extreme'): the flag sets the inference attention mode of the
 * loaded checkpoint, the result is what `evaluate` gives in process with that mode, the printed
 * line names it, and a bad value is refused before any work.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { smallResNet } from '../../src/backbones/resnet';
import { evaluate } from '../../src/cli/evaluate';
import { readCub } from '../../src/data/cub';
import { writeFineGrainedDataset } from '../../src/data/fine_grained_synthetic';
import { ImagePipeline } from '../../src/data/pipeline';
import { saveCheckpoint } from '../../src/io';
import { S3N } from '../../src/model';
import { tempDir } from '../data/layouts';
import { cli } from './cli_helpers';

const CLASSES = 6;
let root: string;
let data: string;
let checkpoint: string;
let s3n: S3N;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = tempDir('evalattention');
  data = path.join(root, 'data');
  await writeFineGrainedDataset(data, { classes: CLASSES, trainPerClass: 1, testPerClass: 3, size: 40, seed: 3 });
  s3n = S3N.create(smallResNet({ inputSize: 16, widths: [4], seed: 5 }), { classes: CLASSES, seed: 5, gridSize: 7, paddingSize: 4, fwhm: 2 });
  for (const w of s3n.model.weights) {
    if (/classifier_kernel$|class_response_map\/kernel$/.test(w.originalName)) w.write(tf.randomNormal(w.shape as number[], 0, 3, 'float32', 11));
  }
  checkpoint = path.join(root, 'ck');
  await saveCheckpoint(checkpoint, s3n.model, { epoch: 1, dataSeed: 0, drawCount: 0, classNames: readCub(data).classNames, config: {}, metrics: [] });
}, 30000);
afterAll(() => {
  s3n.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

const pipeline = () => new ImagePipeline(readCub(data).test, { mode: 'eval', batchSize: 5, inputSize: 16, classes: CLASSES });
const base = () => ['eval', '--checkpoint', checkpoint, '--dataset', 'cub', '--data', data, '--batch-size', '4'];
const confusion = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')).outputs;

describe('s3n eval --attention', () => {
  it("evaluates the checkpoint in the mode given, as evaluate() does in process; without it, in the checkpoint's", async () => {
    expect(s3n.attention.inferenceMode).toBe('extreme');
    const inProcess = async (mode: 'extreme' | 'all') => {
      s3n.setModes({ inference: mode });
      return (await evaluate(s3n, pipeline(), 0)).outputs;
    };
    const extreme = await inProcess('extreme');
    const all = await inProcess('all');
    // The fixture tells the two modes apart (else this test could not fail).
    expect(all.discriminative.confusion).not.toEqual(extreme.discriminative.confusion);
    const [dAll, dDefault] = [path.join(root, 'r-all'), path.join(root, 'r-default')];
    const [withFlag, without] = await Promise.all([cli([...base(), '--attention', 'all', '--report', dAll]), cli([...base(), '--report', dDefault])]);
    for (const r of [withFlag, without]) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expect(withFlag.stdout).toMatch(/^cub test \(18 images, checkpoint .*ck, 'all' attention\): top-1 /);
    expect(without.stdout).toMatch(/^cub test \(18 images, checkpoint .*ck\): top-1 /);
    for (const name of ['fused', 'discriminative', 'complementary'] as const) {
      expect(confusion(dAll)[name].confusion).toEqual(all[name].confusion);
      expect(confusion(dDefault)[name].confusion).toEqual(extreme[name].confusion);
    }
  }, 90000);

  it('refuses a bad --attention before evaluating', async () => {
    const r = await cli([...base(), '--attention', 'best']);
    expect(r.stderr.split('\n')[0]).toBe("s3n eval: --attention must be one of extreme, all, random, but got 'best'.");
    expect([r.code, r.stdout]).toEqual([2, '']);
  }, 60000);
});
