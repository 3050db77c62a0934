/**
 * Stanford Cars (Krause et al. 2013) with its devkit:
 *
 * ```
 * stanford_cars/
 *   devkit/cars_meta.mat            class_names: 1×196 cell of strings
 *   devkit/cars_train_annos.mat     annotations: 1×8144 struct (bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, fname)
 *   cars_test_annos_withlabels.mat  annotations: 1×8041 struct, same fields (also accepted in devkit/)
 *   cars_train/<fname>, cars_test/<fname>
 * ```
 * The `.mat` files may also sit directly in the root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exists } from './files';
import { matScalar, matStrings, readMat, MatValue } from './mat5';
import type { DatasetSplits, ImageItem } from './types';

const META = 'cars_meta.mat';
const TRAIN_ANNOS = 'cars_train_annos.mat';
const TEST_ANNOS = 'cars_test_annos_withlabels.mat';

/**
 * Files and folders {@link readStanfordCars} expects, as named in its error messages. Each
 * `.mat` file may be in the root or in `devkit/` (`devkit/` is tried first).
 */
export const CARS_FILES: readonly string[] = [`devkit/${META}`, `devkit/${TRAIN_ANNOS}`, TEST_ANNOS, 'cars_train/', 'cars_test/'];

function find(root: string, name: string): string | undefined {
  return [path.join(root, 'devkit', name), path.join(root, name)].find((p) => exists(p, 'file'));
}

function annotations(fn: string, file: string, imageDir: string, classes: number): ImageItem[] {
  const vars = readMat(fs.readFileSync(file), file);
  const a: MatValue | undefined = vars.annotations;
  if (a?.type !== 'struct') throw new Error(`${fn}: ${file} must hold a struct array 'annotations', but got ${a === undefined ? 'no such variable' : `a ${a.type} array`}.`);
  for (const f of ['class', 'fname']) {
    if (!a.fields.includes(f)) throw new Error(`${fn}: 'annotations' of ${file} must have a field '${f}', but got fields ${a.fields.join(', ')}.`);
  }
  return a.elements.map((e, i) => {
    const cls = matScalar(e.class, `annotations(${i + 1}).class of ${file}`);
    if (!Number.isInteger(cls) || cls < 1 || cls > classes) {
      throw new Error(`${fn}: annotations(${i + 1}).class of ${file} must be an integer in [1, ${classes}], but got ${cls}.`);
    }
    const item: ImageItem = { path: path.join(imageDir, matStrings(e.fname, `annotations(${i + 1}).fname of ${file}`).join('')), label: cls - 1 };
    if (['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2'].every((f) => a.fields.includes(f))) {
      item.bbox = [matScalar(e.bbox_x1), matScalar(e.bbox_y1), matScalar(e.bbox_x2), matScalar(e.bbox_y2)];
    }
    return item;
  });
}

/**
 * Reads Stanford Cars: 196 classes, the official 8,144 train / 8,041 test split. Image paths
 * and labels only; nothing is decoded. The `.mat` files are read with {@link readMat}.
 *
 * Class names are `class_names` of `cars_meta.mat`; labels are its 1-based `class` fields
 * minus one. Images are listed in the order of the annotation structs, as
 * `cars_train/<fname>` and `cars_test/<fname>`. When the annotations have the four
 * `bbox_x1`, `bbox_y1`, `bbox_x2`, `bbox_y2` fields, the box is kept in `item.bbox` (pixels,
 * 1-based, inclusive) but not applied (S3N uses image-level labels only).
 *
 * @param root The Stanford Cars folder (relative paths are resolved against the current
 *   directory); see {@link CARS_FILES} for what it must contain.
 * @returns splits named `'cars'`, whose `root` is `root` made absolute.
 * @throws when one of {@link CARS_FILES} is missing (the message lists the missing ones), when
 *   a `.mat` file is not a Level 5 MAT-file or lacks `class_names` / `annotations` (a struct
 *   array with `class` and `fname` fields), or when a `class` is not an integer in
 *   `[1, classNames.length]`.
 *
 * @example
 * ```ts
 * const cars = readStanfordCars('/data/stanford_cars');
 * cars.classNames[0]; // 'AM General Hummer SUV 2000'
 * ```
 */
export function readStanfordCars(root: string): DatasetSplits {
  const fn = 'readStanfordCars';
  const dir = path.resolve(root);
  const meta = find(dir, META);
  const train = find(dir, TRAIN_ANNOS);
  const test = find(dir, TEST_ANNOS);
  const missing = [
    ...(meta ? [] : [`${META} (in devkit/ or the root)`]),
    ...(train ? [] : [`${TRAIN_ANNOS} (in devkit/ or the root)`]),
    ...(test ? [] : [`${TEST_ANNOS} (in the root or devkit/)`]),
    ...['cars_train/', 'cars_test/'].filter((d) => !exists(path.join(dir, d), 'dir')),
  ];
  if (missing.length > 0) {
    throw new Error(
      `${fn}: root must be a Stanford Cars folder containing ${CARS_FILES.join(', ')}, but got '${dir}', where ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing.`,
    );
  }
  const classNames = matStrings(readMat(fs.readFileSync(meta as string), meta).class_names, `class_names of ${meta}`);
  return {
    name: 'cars',
    root: dir,
    classNames,
    train: annotations(fn, train as string, path.join(dir, 'cars_train'), classNames.length),
    test: annotations(fn, test as string, path.join(dir, 'cars_test'), classNames.length),
  };
}
