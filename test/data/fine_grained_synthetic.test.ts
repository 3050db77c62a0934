/**
 * Issue 15: the synthetic fine-grained benchmark in CUB-200-2011's layout — deterministic,
 * read by the cub reader with the right classes, splits, boxes and part locations, the detail a
 * few percent of the image, sizes as asked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readCub } from '../../src/data/cub';
import {
  CUB_PART_NAMES,
  drawFineGrainedImage,
  fineGrainedAnnotations,
  FINE_GRAINED_CLASSES,
  FineGrainedOptions,
  writeFineGrainedDataset,
} from '../../src/data/fine_grained_synthetic';
import { tempDir } from './layouts';

const OPTS: FineGrainedOptions = { classes: 3, trainPerClass: 2, testPerClass: 3, size: 64, seed: 5 };
let root: string;
let a: string;

/** Every file under `dir`, relative, sorted. */
function files(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

const lines = (file: string) => fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => l.split(' '));

beforeAll(async () => {
  root = tempDir('finegrained');
  a = path.join(root, 'a');
  await writeFineGrainedDataset(a, OPTS);
}, 30000);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

it('is deterministic: the same options give the same bytes, another seed other images', async () => {
  const b = path.join(root, 'b');
  const c = path.join(root, 'c');
  await writeFineGrainedDataset(b, OPTS);
  await writeFineGrainedDataset(c, { ...OPTS, seed: 6 });
  expect(files(b)).toEqual(files(a));
  expect(files(a)).toHaveLength(7 + 15);
  for (const f of files(a)) expect(fs.readFileSync(path.join(b, f)).equals(fs.readFileSync(path.join(a, f)))).toBe(true);
  const jpgs = files(a).filter((f) => f.endsWith('.jpg'));
  expect(jpgs.filter((f) => fs.readFileSync(path.join(c, f)).equals(fs.readFileSync(path.join(a, f))))).toEqual([]);
}, 30000);

it('readCub reads it: classes, splits and labels as generated', () => {
  const ds = readCub(a);
  expect(ds.classNames).toEqual(['001.Striped_Crown', '002.Ringed_Crown', '003.Checkered_Crown']);
  expect(ds.classNames).toEqual(FINE_GRAINED_CLASSES.slice(0, 3));
  expect(ds.train.map((it) => it.label)).toEqual([0, 0, 1, 1, 2, 2]);
  expect(ds.test.map((it) => it.label)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
  for (const it of [...ds.train, ...ds.test]) {
    expect(fs.existsSync(it.path)).toBe(true);
    expect(path.basename(path.dirname(it.path))).toBe(ds.classNames[it.label]);
  }
  const ann = fineGrainedAnnotations(OPTS);
  expect(ann.filter((x) => x.train).map((x) => path.join(a, 'images', x.file))).toEqual(ds.train.map((it) => it.path));
  expect(ann.filter((x) => !x.train).map((x) => path.join(a, 'images', x.file))).toEqual(ds.test.map((it) => it.path));
});

it('bounding_boxes.txt and parts/part_locs.txt hold the annotations (crown = the detail)', () => {
  const ann = fineGrainedAnnotations(OPTS);
  const S = OPTS.size as number;
  const boxes = lines(path.join(a, 'bounding_boxes.txt'));
  expect(boxes.map((l) => l[0])).toEqual(ann.map((x) => String(x.id)));
  boxes.forEach(([, x, y, w, h], i) => {
    const b = ann[i].box;
    expect([x, y, w, h].map(Number)).toEqual([b.x, b.y, b.width, b.height].map((v) => Number(v.toFixed(1))));
    expect(b.x).toBeGreaterThanOrEqual(0);
    expect(b.y).toBeGreaterThanOrEqual(0);
    expect(b.x + b.width).toBeLessThanOrEqual(S);
    expect(b.y + b.height).toBeLessThanOrEqual(S);
    // The detail is on the bird.
    const d = ann[i].detail;
    expect(d.x).toBeGreaterThan(b.x);
    expect(d.x).toBeLessThan(b.x + b.width);
    expect(d.y).toBeGreaterThan(b.y);
    expect(d.y).toBeLessThan(b.y + b.height);
  });
  expect(lines(path.join(a, 'parts', 'parts.txt')).map((l) => l.slice(1).join(' '))).toEqual(CUB_PART_NAMES);
  const locs = lines(path.join(a, 'parts', 'part_locs.txt'));
  expect(locs).toHaveLength(15 * ann.length);
  for (const x of ann) {
    const mine = locs.filter((l) => l[0] === String(x.id));
    expect(mine.map((l) => l[1])).toEqual(CUB_PART_NAMES.map((_, p) => String(p + 1)));
    expect(mine[4]).toEqual([String(x.id), '5', x.detail.x.toFixed(1), x.detail.y.toFixed(1), '1']);
    expect(mine.filter((l) => l[4] === '1').map((l) => l[1])).toEqual(x.beak.visible ? ['2', '5'] : ['5']);
  }
});

it('images have the size asked for; the default is 224 pixels', async () => {
  for (const it of readCub(a).train) {
    const m = await sharp(it.path).metadata();
    expect([m.width, m.height, m.format, m.channels]).toEqual([64, 64, 'jpeg', 3]);
  }
  const d = drawFineGrainedImage(1, { classes: 2, trainPerClass: 1, testPerClass: 1 });
  expect(d.pixels.length).toBe(224 * 224 * 3);
});

it('the detail covers a few percent of the image, inside the centre crop of evaluation', () => {
  const opts: FineGrainedOptions = { classes: 8, trainPerClass: 1, testPerClass: 1, size: 128, seed: 3 };
  const S = 128;
  for (let id = 1; id <= 16; id += 2) {
    const { detailPixels, annotation: x } = drawFineGrainedImage(id, opts);
    expect(x).toEqual(fineGrainedAnnotations(opts)[id - 1]);
    const area = detailPixels / (S * S);
    expect(area).toBeGreaterThan(0.012);
    expect(area).toBeLessThan(0.033);
    expect(Math.abs(area - (Math.PI * x.detail.radius ** 2) / (S * S))).toBeLessThan(0.003);
    // eval: resize to 600/448 of the input, centre crop: the central 448/600 of the image.
    const lo = (S * (1 - 448 / 600)) / 2;
    for (const v of [x.detail.x, x.detail.y]) {
      expect(v - x.detail.radius).toBeGreaterThan(lo);
      expect(v + x.detail.radius).toBeLessThan(S - lo);
    }
  }
});

it('refuses options out of range', () => {
  expect(() => fineGrainedAnnotations({ classes: 9 })).toThrow('fineGrainedAnnotations: classes must be an integer in [2, 8], but got 9.');
  expect(() => fineGrainedAnnotations({ size: 16 })).toThrow('fineGrainedAnnotations: size must be an integer >= 32, but got 16.');
  expect(() => fineGrainedAnnotations({ detailArea: [0.05, 0.01] })).toThrow('fineGrainedAnnotations: detailArea must be [lo, hi] with 0 < lo <= hi <= 0.1, but got [0.05, 0.01].');
  expect(() => drawFineGrainedImage(7, { classes: 2, trainPerClass: 1, testPerClass: 2 })).toThrow('drawFineGrainedImage: id must be an integer in [1, 6], but got 7.');
});
