import * as fs from 'node:fs';
import * as path from 'node:path';
import { readAircraft, readCub, readDataset, readImageFolder, readStanfordCars } from '../../src/data';
import { makeAircraft, makeCars, makeCub, makeFolder, tempDir } from './layouts';

let root: string;
beforeAll(() => {
  root = tempDir('datasets');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('readCub', () => {
  it('reads the official layout: split, 0-based labels, class names, image paths', async () => {
    const dir = await makeCub(path.join(root, 'cub'));
    for (const r of [dir, path.dirname(dir)]) {
      const ds = readCub(r);
      expect(ds.name).toBe('cub');
      expect(ds.classNames).toEqual(['001.Black_footed_Albatross', '002.Laysan_Albatross', '003.Sooty_Albatross']);
      expect(ds.train.map((i) => [path.relative(dir, i.path), i.label])).toEqual([
        ['images/001.Black_footed_Albatross/Black_Footed_Albatross_0001.jpg', 0],
        ['images/002.Laysan_Albatross/Laysan_Albatross_0001.jpg', 1],
      ]);
      expect(ds.test.map((i) => i.label)).toEqual([0, 2]);
      expect(ds.train.every((i) => fs.existsSync(i.path))).toBe(true);
    }
  });

  it('names every expected file when the root is wrong', () => {
    expect(() => readCub(path.join(root, 'nowhere'))).toThrow(/readCub: root must be a CUB-200-2011 folder containing images\.txt, image_class_labels\.txt, train_test_split\.txt, classes\.txt, images\/, but got '.*nowhere', which is not a folder\./);
    const partial = path.join(root, 'cub-partial');
    fs.mkdirSync(partial);
    fs.writeFileSync(path.join(partial, 'images.txt'), '1 a/b.jpg\n');
    expect(() => readCub(partial)).toThrow(/where image_class_labels\.txt, train_test_split\.txt, classes\.txt, images\/ are missing/);
  });

  it('reports an inconsistent annotation with the image id', async () => {
    const dir = await makeCub(path.join(root, 'cub-bad'));
    fs.writeFileSync(path.join(dir, 'image_class_labels.txt'), '1 1\n2 1\n3 9\n4 3\n');
    expect(() => readCub(dir)).toThrow(/image 3 with class 9/);
  });
});

describe('readAircraft', () => {
  it('reads variants (names with spaces and slashes) and crops the banner by default', async () => {
    const dir = await makeAircraft(path.join(root, 'air'));
    const ds = readAircraft(dir);
    expect(ds.classNames).toEqual(['707-320', 'F/A-18']);
    expect(ds.train.map((i) => [path.basename(i.path), i.label, i.trimBottom])).toEqual([
      ['0034309.jpg', 0, 20],
      ['0034958.jpg', 1, 20],
      ['0037511.jpg', 0, 20],
    ]);
    expect(ds.test.map((i) => i.label)).toEqual([1, 0]);
    expect(readAircraft(path.join(dir, 'data'), { cropBanner: false }).train[0].trimBottom).toBeUndefined();
  });

  it('reads the family and manufacturer levels', async () => {
    const dir = path.join(root, 'air', 'fgvc-aircraft-2013b');
    const fam = readAircraft(dir, { annotation: 'family' });
    expect(fam.classNames).toEqual(['Boeing 707', 'F/A-18']);
    const man = readDataset('aircraft', dir, { aircraft: { annotation: 'manufacturer' } });
    expect(man.classNames).toEqual(['Boeing', 'McDonnell Douglas']);
    expect(man.test.map((i) => i.label)).toEqual([1, 0]);
  });

  it('names the expected files when the root is wrong, and checks its options', () => {
    expect(() => readAircraft(root)).toThrow(/readAircraft: root must be an FGVC-Aircraft data folder containing images_variant_trainval\.txt, images_variant_test\.txt, variants\.txt, images\/, but got/);
    expect(() => readAircraft(root, { annotation: 'model' as never })).toThrow(/annotation must be one of 'variant', 'family', 'manufacturer', but got "model"/);
    expect(() => readAircraft(path.join(root, 'air', 'fgvc-aircraft-2013b'), { trainSplit: 'train' })).toThrow(/images_variant_train\.txt is missing/);
  });
});

describe('readStanfordCars', () => {
  it('reads the devkit .mat files (compressed, little-endian) with class names and boxes', async () => {
    const dir = await makeCars(path.join(root, 'cars'));
    const ds = readStanfordCars(dir);
    expect(ds.classNames).toEqual(['AM General Hummer SUV 2000', 'Acura RL Sedan 2012', 'Audi R8 Coupe 2012']);
    expect(ds.train.map((i) => [path.relative(dir, i.path), i.label])).toEqual([
      ['cars_train/00001.jpg', 0],
      ['cars_train/00002.jpg', 2],
      ['cars_train/00003.jpg', 1],
    ]);
    expect(ds.train[1].bbox).toEqual([2, 2, 301, 200]);
    expect(ds.test.map((i) => [path.relative(dir, i.path), i.label])).toEqual([
      ['cars_test/00001.jpg', 1],
      ['cars_test/00002.jpg', 0],
    ]);
  });

  it('reads uncompressed big-endian files with the test annotations in devkit/', async () => {
    const dir = await makeCars(path.join(root, 'cars-be'), { compress: false, littleEndian: false, testAnnosInRoot: false });
    const ds = readStanfordCars(dir);
    expect(ds.classNames[2]).toBe('Audi R8 Coupe 2012');
    expect(ds.test.map((i) => i.label)).toEqual([1, 0]);
  });

  it('names the expected files when the root is wrong', () => {
    expect(() => readStanfordCars(root)).toThrow(
      /readStanfordCars: root must be a Stanford Cars folder containing devkit\/cars_meta\.mat, devkit\/cars_train_annos\.mat, cars_test_annos_withlabels\.mat, cars_train\/, cars_test\/, but got '.*', where cars_meta\.mat \(in devkit\/ or the root\), .* are missing\./,
    );
  });

  it('reports a corrupt .mat file with its path', async () => {
    const dir = await makeCars(path.join(root, 'cars-corrupt'));
    fs.writeFileSync(path.join(dir, 'devkit', 'cars_meta.mat'), Buffer.alloc(200, 7));
    expect(() => readStanfordCars(dir)).toThrow(/readMat: .*cars_meta\.mat must be a Level 5 MAT-file/);
  });
});

describe('readImageFolder', () => {
  it('reads train/<class>/* and test/<class>/* with sorted classes', async () => {
    const dir = await makeFolder(path.join(root, 'folder'), { classes: 3, train: 2, test: 1 });
    fs.writeFileSync(path.join(dir, 'train', 'beta', 'notes.txt'), 'not an image');
    fs.writeFileSync(path.join(dir, 'train', 'beta', '._0.jpg'), 'macOS resource fork');
    const ds = readImageFolder(dir);
    expect(ds.classNames).toEqual(['alpha', 'beta', 'gamma']);
    expect(ds.train.map((i) => [path.relative(dir, i.path), i.label])).toEqual([
      ['train/alpha/0.jpg', 0],
      ['train/alpha/1.png', 0],
      ['train/beta/0.jpg', 1],
      ['train/beta/1.png', 1],
      ['train/gamma/0.jpg', 2],
      ['train/gamma/1.png', 2],
    ]);
    expect(ds.test.map((i) => i.label)).toEqual([0, 1, 2]);
  });

  it('names the expected folders when the root is wrong, and rejects unknown test classes', () => {
    expect(() => readImageFolder(path.join(root, 'cub'))).toThrow(/readImageFolder: root must be an image folder containing train\/, test\/, but got '.*cub', where train\/, test\/ are missing\./);
    const dir = path.join(root, 'folder-extra');
    fs.mkdirSync(path.join(dir, 'train', 'a'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'test', 'b'), { recursive: true });
    expect(() => readImageFolder(dir)).toThrow(/test\/ must only have classes of train\/ \(a\), but got 'b'/);
  });
});

it('readDataset rejects an unknown kind', () => {
  expect(() => readDataset('imagenet' as never, root)).toThrow(/readDataset: kind must be one of 'cub', 'aircraft', 'cars', 'folder', but got "imagenet"/);
});
