/**
 * Miniature copies of the official dataset layouts, written by the tests in a temp folder:
 * a few tiny images each (sharp), plus a missing and a corrupt image where asked.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { mat, writeMat } from './mat5_writer';

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `s3n-${tag}-`));
}

/** A `w×h` JPEG (or PNG) of one colour, with a distinct colour in the bottom `band` rows. */
export async function writeImage(file: string, color: [number, number, number], options: { width?: number; height?: number; band?: number; bandColor?: [number, number, number]; png?: boolean; channels?: 1 | 3 } = {}): Promise<void> {
  const { width = 24, height = 20, band = 0, bandColor = [0, 0, 0], png = false, channels = 3 } = options;
  const px = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = y >= height - band ? bandColor : color;
      for (let k = 0; k < channels; k++) px[(y * width + x) * channels + k] = c[k];
    }
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(px, { raw: { width, height, channels } });
  await (png ? img.png() : img.jpeg({ quality: 95 })).toFile(file);
}

/** Writes bytes that are not a decodable image (a JPEG header cut after a few bytes, then junk). */
export function writeCorruptJpeg(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0 definitely not a jpeg body')]));
}

export const COLORS: [number, number, number][] = [
  [200, 30, 30],
  [30, 200, 30],
  [30, 30, 200],
];

/** CUB-200-2011 with 3 classes, 4 images (ids 1–4; 1 and 3 train). Options: id 2 missing, id 4 corrupt. */
export async function makeCub(root: string, options: { missing?: boolean; corrupt?: boolean } = {}): Promise<string> {
  const dir = path.join(root, 'CUB_200_2011');
  const imgs = [
    [1, '001.Black_footed_Albatross/Black_Footed_Albatross_0001.jpg', 1, 1],
    [2, '001.Black_footed_Albatross/Black_Footed_Albatross_0002.jpg', 1, 0],
    [3, '002.Laysan_Albatross/Laysan_Albatross_0001.jpg', 2, 1],
    [4, '003.Sooty_Albatross/Sooty_Albatross_0001.jpg', 3, 0],
  ] as const;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'classes.txt'), '1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n');
  fs.writeFileSync(path.join(dir, 'images.txt'), imgs.map(([id, p]) => `${id} ${p}`).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'image_class_labels.txt'), imgs.map(([id, , c]) => `${id} ${c}`).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'train_test_split.txt'), imgs.map(([id, , , t]) => `${id} ${t}`).join('\n') + '\n');
  for (const [id, p, c] of imgs) {
    const file = path.join(dir, 'images', p);
    if (id === 2 && options.missing) fs.mkdirSync(path.dirname(file), { recursive: true });
    else if (id === 4 && options.corrupt) writeCorruptJpeg(file);
    else await writeImage(file, COLORS[c - 1]);
  }
  return dir;
}

/** FGVC-Aircraft with 2 variants (names with spaces and a slash), 2 families, 3 trainval + 2 test images with a banner. */
export async function makeAircraft(root: string): Promise<string> {
  const dir = path.join(root, 'fgvc-aircraft-2013b', 'data');
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'variants.txt'), '707-320\nF/A-18\n');
  fs.writeFileSync(path.join(dir, 'families.txt'), 'Boeing 707\nF/A-18\n');
  fs.writeFileSync(path.join(dir, 'manufacturers.txt'), 'Boeing\nMcDonnell Douglas\n');
  const rows = [
    ['0034309', '707-320', 'Boeing 707', 'Boeing', 'trainval'],
    ['0034958', 'F/A-18', 'F/A-18', 'McDonnell Douglas', 'trainval'],
    ['0037511', '707-320', 'Boeing 707', 'Boeing', 'trainval'],
    ['0041135', 'F/A-18', 'F/A-18', 'McDonnell Douglas', 'test'],
    ['0043014', '707-320', 'Boeing 707', 'Boeing', 'test'],
  ];
  for (const [level, col] of [['variant', 1], ['family', 2], ['manufacturer', 3]] as const) {
    for (const split of ['trainval', 'test']) {
      const lines = rows.filter((r) => r[4] === split).map((r) => `${r[0]} ${r[col]}`);
      fs.writeFileSync(path.join(dir, `images_${level}_${split}.txt`), lines.join('\n') + '\n');
    }
  }
  for (const [i, r] of rows.entries()) {
    await writeImage(path.join(dir, 'images', `${r[0]}.jpg`), COLORS[i % 2], { width: 32, height: 44, band: 20, bandColor: [250, 250, 250] });
  }
  return path.dirname(dir);
}

/** Stanford Cars with 3 classes, 3 train + 2 test images; .mat files from the test writer. */
export async function makeCars(root: string, options: { compress?: boolean; littleEndian?: boolean; testAnnosInRoot?: boolean } = {}): Promise<string> {
  const dir = path.join(root, 'stanford_cars');
  fs.mkdirSync(path.join(dir, 'devkit'), { recursive: true });
  const annos = (rows: [string, number][]) => ({
    annotations: {
      kind: 'struct' as const,
      fields: ['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname'],
      elements: rows.map(([fname, cls], i) => ({
        bbox_x1: mat.num(1 + i, 'uint8'),
        bbox_y1: mat.num(2, 'uint8'),
        bbox_x2: mat.num(300 + i, 'uint16'),
        bbox_y2: mat.num(200, 'uint16'),
        class: mat.num(cls, 'uint8'),
        fname: mat.str(fname),
      })),
    },
  });
  const o = { compress: options.compress ?? true, littleEndian: options.littleEndian ?? true };
  fs.writeFileSync(path.join(dir, 'devkit', 'cars_meta.mat'), writeMat({ class_names: mat.cellOfStrings(['AM General Hummer SUV 2000', 'Acura RL Sedan 2012', 'Audi R8 Coupe 2012']) }, o));
  const train: [string, number][] = [['00001.jpg', 1], ['00002.jpg', 3], ['00003.jpg', 2]];
  const test: [string, number][] = [['00001.jpg', 2], ['00002.jpg', 1]];
  fs.writeFileSync(path.join(dir, 'devkit', 'cars_train_annos.mat'), writeMat(annos(train), o));
  fs.writeFileSync(path.join(dir, options.testAnnosInRoot === false ? 'devkit' : '.', 'cars_test_annos_withlabels.mat'), writeMat(annos(test), o));
  for (const [f, c] of train) await writeImage(path.join(dir, 'cars_train', f), COLORS[c - 1]);
  for (const [f, c] of test) await writeImage(path.join(dir, 'cars_test', f), COLORS[c - 1]);
  return dir;
}

/** An image folder with `classes` classes, `train` and `test` images per class (solid colours + noise-free). */
export async function makeFolder(root: string, options: { classes?: number; train?: number; test?: number; size?: number } = {}): Promise<string> {
  const { classes = 2, train = 2, test = 1, size = 24 } = options;
  const names = ['alpha', 'beta', 'gamma'].slice(0, classes);
  for (const [split, n] of [['train', train], ['test', test]] as const) {
    for (const [c, name] of names.entries()) {
      for (let i = 0; i < n; i++) {
        const shade = COLORS[c].map((v) => Math.min(255, v + 10 * i)) as [number, number, number];
        await writeImage(path.join(root, split, name, `${i}.${i % 2 ? 'png' : 'jpg'}`), shade, { width: size, height: size + 4, png: i % 2 === 1 });
      }
    }
  }
  return root;
}
