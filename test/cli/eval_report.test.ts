/**
 * Issue 15: `s3n eval` reports top-1 and top-5 of the four outputs, per-class accuracy and a
 * confusion matrix (`--report DIR`: report.json and confusion.png), `--tta flip` averages
 * the softmax probabilities of an image and its horizontal flip, and `--attention MODE`
 * evaluates in another inference attention mode than the checkpoint's. On the synthetic
 * fine-grained benchmark (CUB layout, read with --dataset cub) and a tiny random S3N.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { smallResNet } from '../../src/backbones/resnet';
import { confusionLayout } from '../../src/cli/eval_report';
import { evaluate, outputScores } from '../../src/cli/evaluate';
import { readCub } from '../../src/data/cub';
import { writeFineGrainedDataset } from '../../src/data/fine_grained_synthetic';
import { ImagePipeline } from '../../src/data/pipeline';
import { saveCheckpoint } from '../../src/io';
import { S3N, S3N_OUTPUTS } from '../../src/model';
import { tempDir } from '../data/layouts';
import { cli } from './cli_helpers';

const CLASSES = 6;
let root: string;
let data: string;
let checkpoint: string;
let s3n: S3N;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = tempDir('evalreport');
  data = path.join(root, 'data');
  await writeFineGrainedDataset(data, { classes: CLASSES, trainPerClass: 1, testPerClass: 3, size: 40, seed: 2 });
  s3n = S3N.create(smallResNet({ inputSize: 16, widths: [4], seed: 4 }), { classes: CLASSES, seed: 4, gridSize: 7, paddingSize: 4, fwhm: 2 });
  // Larger random classifier weights, so that the outputs differ between images.
  for (const w of s3n.model.weights) {
    if (/classifier_kernel$|class_response_map\/kernel$/.test(w.originalName)) w.write(tf.randomNormal(w.shape as number[], 0, 3, 'float32', 9));
  }
  checkpoint = path.join(root, 'ck');
  await saveCheckpoint(checkpoint, s3n.model, { epoch: 1, dataSeed: 0, drawCount: 0, classNames: readCub(data).classNames, config: {}, metrics: [] });
}, 30000);
afterAll(() => {
  s3n.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

const testPipeline = () => new ImagePipeline(readCub(data).test, { mode: 'eval', batchSize: 5, inputSize: 16, classes: CLASSES });

describe('outputScores and evaluate', () => {
  it('--tta flip scores are exactly the mean of the softmax of the image and of its flip', async () => {
    const x = tf.randomUniform([3, 16, 16, 3], -2, 2, 'float32', 1) as tf.Tensor4D;
    const scores = outputScores(s3n, x, 'flip');
    const plain = s3n.model.apply(x, { training: false }) as tf.Tensor2D[];
    const flipped = s3n.model.apply(tf.reverse(x, 2), { training: false }) as tf.Tensor2D[];
    for (let o = 0; o < 4; o++) {
      const expected = tf.div(tf.add(tf.softmax(plain[o]), tf.softmax(flipped[o])), 2);
      expect(Array.from(await scores[o].data())).toEqual(Array.from(await expected.data()));
      // The mean itself, element by element.
      const [p, f, s] = await Promise.all([tf.softmax(plain[o]).data(), tf.softmax(flipped[o]).data(), scores[o].data()]);
      s.forEach((v, i) => expect(v).toBeCloseTo((p[i] + f[i]) / 2, 6));
      expected.dispose();
    }
    // Flipping changes this model's outputs, so the average is not the plain softmax.
    expect(Array.from(await tf.softmax(plain[0]).data())).not.toEqual(Array.from(await scores[0].data()));
    expect(outputScores(s3n, x, 'none').map((t) => t.shape)).toEqual([[3, CLASSES], [3, CLASSES], [3, CLASSES], [3, CLASSES]]);
    tf.dispose([x, ...scores, ...plain, ...flipped]);
  });

  it('top-1, top-5 and the confusion matrix agree with the ranking of the scores', async () => {
    for (const tta of ['none', 'flip'] as const) {
      const r = await evaluate(s3n, testPipeline(), 0, { tta });
      expect([r.images, r.k, r.tta]).toEqual([CLASSES * 3, 5, tta]);
      // The same numbers from the scores directly.
      const expected = S3N_OUTPUTS.map(() => ({ top1: 0, top5: 0, confusion: Array.from({ length: CLASSES }, () => new Array(CLASSES).fill(0)) }));
      for await (const b of testPipeline().epoch(0)) {
        const labels = await b.labels.data();
        const scores = outputScores(s3n, b.images, tta);
        for (let o = 0; o < 4; o++) {
          const rows = (await scores[o].array()) as number[][];
          rows.forEach((row, i) => {
            const order = row.map((v, c) => [v, c]).sort((p, q) => q[0] - p[0] || p[1] - q[1]).map(([, c]) => c);
            expected[o].confusion[labels[i]][order[0]]++;
            if (order[0] === labels[i]) expected[o].top1++;
            if (order.slice(0, 5).includes(labels[i])) expected[o].top5++;
          });
        }
        tf.dispose([b.images, b.labels, ...scores]);
      }
      S3N_OUTPUTS.forEach((name, o) => {
        expect(r.outputs[name].confusion).toEqual(expected[o].confusion);
        expect(r.accuracies[name]).toBeCloseTo(expected[o].top1 / r.images, 12);
        expect(r.top5[name]).toBeCloseTo(expected[o].top5 / r.images, 12);
      });
    }
  }, 30000);
});

describe('s3n eval --report DIR --tta flip', () => {
  it('writes report.json with consistent numbers and a confusion.png of the documented size', async () => {
    const dir = path.join(root, 'report', 'nested');
    const r = await cli(['eval', '--checkpoint', checkpoint, '--dataset', 'cub', '--data', data, '--report', dir, '--tta', 'flip', '--batch-size', '4']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const pct = '\\d+\\.\\d%';
    const four = `fused ${pct}, raw ${pct}, discriminative ${pct}, complementary ${pct}`;
    expect(r.stdout).toMatch(new RegExp(`^cub test \\(18 images, checkpoint .*ck, flip TTA\\): top-1 ${four}; top-5 ${four} \\(\\d+\\.\\d s\\)\\nreport: .*report\\.json, .*confusion\\.png\\n$`));
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));
    expect(report).toMatchObject({ dataset: 'cub', split: 'test', attention: 'extreme', images: 18, tta: 'flip', k: 5, classImages: [3, 3, 3, 3, 3, 3] });
    expect(report.scores).toBe('mean of the softmax probabilities of the image and of its horizontal flip');
    expect(report.classes).toEqual(readCub(data).classNames);
    expect(Object.keys(report.outputs)).toEqual(['fused', 'raw', 'discriminative', 'complementary']);
    for (const name of S3N_OUTPUTS) {
      const o = report.outputs[name];
      const rowSums = o.confusion.map((row: number[]) => row.reduce((a, b) => a + b, 0));
      const diagonal = o.confusion.map((row: number[], c: number) => row[c]);
      expect(rowSums).toEqual(report.classImages);
      expect(rowSums.reduce((a: number, b: number) => a + b, 0)).toBe(18);
      expect(o.perClass).toEqual(diagonal.map((d: number, c: number) => d / rowSums[c]));
      expect(o.top1).toBeCloseTo(diagonal.reduce((a: number, b: number) => a + b, 0) / 18, 12);
      expect(o.top5).toBeGreaterThanOrEqual(o.top1);
      expect(o.top5).toBeLessThanOrEqual(1);
    }
    expect(r.stdout).toContain(`top-1 fused ${(100 * report.outputs.fused.top1).toFixed(1)}%`);
    expect(r.stdout).toContain(`top-5 fused ${(100 * report.outputs.fused.top5).toFixed(1)}%`);
    // The same as evaluate() in process (the CLI ran on the same backend and weights).
    const direct = await evaluate(s3n, testPipeline(), 0, { tta: 'flip' });
    expect(report.outputs.fused.confusion).toEqual(direct.outputs.fused.confusion);
    const layout = confusionLayout(CLASSES);
    expect(report.confusionImage).toEqual({ file: 'confusion.png', output: 'fused', width: layout.width, height: layout.height, cell: 28 });
    const png = await sharp(path.join(dir, 'confusion.png')).metadata();
    expect([png.format, png.width, png.height]).toEqual(['png', layout.width, layout.height]);
  }, 60000);

  it('confusion.png cells shrink with many classes (200: 4 pixels, labels every 5th row)', () => {
    expect(confusionLayout(6).cell).toBe(28);
    const many = confusionLayout(200);
    expect([many.cell, many.rowStep, many.colStep]).toEqual([4, 5, 10]);
    expect(many.width).toBe(many.left + 200 * 4 + 12);
    expect(many.height).toBe(many.top + 200 * 4 + 8 + 18);
  });

  it('refuses a bad --tta or --report before evaluating', async () => {
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'x');
    const base = ['eval', '--checkpoint', checkpoint, '--dataset', 'cub', '--data', data];
    const [tta, report, nested] = await Promise.all([cli([...base, '--tta', 'rotate']), cli([...base, '--report', file]), cli([...base, '--report', path.join(file, 'sub')])]);
    expect(tta.stderr.split('\n')[0]).toBe("s3n eval: --tta must be one of none, flip, but got 'rotate'.");
    expect(report.stderr.split('\n')[0]).toBe(`s3n eval: --report must be a folder, but '${file}' is a file.`);
    expect(nested.stderr.split('\n')[0]).toMatch(new RegExp(`^s3n eval: --report must be a folder that can be written, but creating '${path.join(file, 'sub').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}' failed: ENOTDIR`));
    for (const x of [tta, report, nested]) {
      expect(x.code).toBe(2);
      expect(x.stdout).toBe('');
    }
  }, 60000);
});

describe('s3n eval --attention', () => {
  const base = () => ['eval', '--checkpoint', checkpoint, '--dataset', 'cub', '--data', data, '--batch-size', '4'];
  const reportOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));

  it("evaluates the checkpoint in the mode given, as evaluate() does in process; without it, in the checkpoint's", async () => {
    expect(s3n.attention.inferenceMode).toBe('extreme');
    const inProcess = async (mode: 'extreme' | 'all') => {
      s3n.setModes({ inference: mode });
      return (await evaluate(s3n, testPipeline(), 0)).outputs;
    };
    const all = await inProcess('all');
    const extreme = await inProcess('extreme');
    const [dAll, dDefault] = [path.join(root, 'attention-all'), path.join(root, 'attention-default')];
    const [withFlag, without] = await Promise.all([cli([...base(), '--attention', 'all', '--report', dAll]), cli([...base(), '--report', dDefault])]);
    for (const r of [withFlag, without]) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expect(withFlag.stdout).toMatch(/^cub test \(18 images, checkpoint .*ck, 'all' attention\): top-1 /);
    expect(without.stdout).toMatch(/^cub test \(18 images, checkpoint .*ck\): top-1 /);
    // The report names the mode the outputs were computed in, and they are that mode's.
    expect([reportOf(dAll).attention, reportOf(dDefault).attention]).toEqual(['all', 'extreme']);
    for (const name of S3N_OUTPUTS) {
      expect(reportOf(dAll).outputs[name].confusion).toEqual(all[name].confusion);
      expect(reportOf(dDefault).outputs[name].confusion).toEqual(extreme[name].confusion);
    }
  }, 90000);

  it('refuses a bad --attention before evaluating', async () => {
    const r = await cli([...base(), '--attention', 'best']);
    expect(r.stderr.split('\n')[0]).toBe("s3n eval: --attention must be one of extreme, all, random, but got 'best'.");
    expect([r.code, r.stdout]).toEqual([2, '']);
  }, 60000);
});
