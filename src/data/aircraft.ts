/**
 * FGVC-Aircraft (Maji et al. 2013) in its official layout:
 *
 * ```
 * fgvc-aircraft-2013b/data/
 *   images_variant_trainval.txt   <image_id> <variant>    (also _train, _val, _test)
 *   images_family_*.txt, images_manufacturer_*.txt
 *   variants.txt, families.txt, manufacturers.txt   class lists
 *   images/<image_id>.jpg
 * ```
 * Every image has a 20-pixel copyright banner at the bottom, which is cut away by default.
 */
import * as path from 'node:path';
import { exists, readLines, readPairs, requireLayout } from './files';
import type { DatasetSplits, ImageItem } from './types';

/** Which label of FGVC-Aircraft to classify. */
export type AircraftAnnotation = 'variant' | 'family' | 'manufacturer';

/** Options of {@link readAircraft}; every field is optional. */
export interface AircraftOptions {
  /** Label level: 100 variants (default, as the paper), 70 families or 30 manufacturers. */
  annotation?: AircraftAnnotation;
  /** Training split: `'trainval'` (default, 6,667 images, as the paper) or `'train'`. The test split is `'test'`. */
  trainSplit?: 'trainval' | 'train';
  /** Cut the 20-pixel copyright banner at the bottom of every image. Default true. */
  cropBanner?: boolean;
}

const CLASS_LISTS: Record<AircraftAnnotation, string> = { variant: 'variants.txt', family: 'families.txt', manufacturer: 'manufacturers.txt' };

/** Height of the copyright banner at the bottom of each FGVC-Aircraft image, in pixels. */
export const AIRCRAFT_BANNER_HEIGHT = 20;

/**
 * Reads FGVC-Aircraft: by default the paper's setting, 100 variants, `trainval` (6,667 images)
 * for training and `test` (3,333 images) for testing. Image paths and labels only; nothing is
 * decoded.
 *
 * Class names are the lines of `variants.txt`, `families.txt` or `manufacturers.txt` (per
 * `annotation`), labels are 0-based indices into them. Images are listed in the order of the
 * split files, as `images/<image_id>.jpg`. With `cropBanner` (default), every item has
 * `trimBottom` = {@link AIRCRAFT_BANNER_HEIGHT}, so that {@link loadImage} cuts the banner
 * before any augmentation.
 *
 * @param root The `data` folder, or the folder containing it (`fgvc-aircraft-2013b`); relative
 *   paths are resolved against the current directory.
 * @param options Label level, training split and banner crop, see {@link AircraftOptions}.
 *   Default `{}`: variants, `trainval`, banner cut.
 * @returns splits named `'aircraft'`, whose `root` is the `data` folder.
 * @throws when `annotation` or `trainSplit` is not one of the allowed values, when `root` is
 *   not a folder or lacks `images/`, the class list or one of the two split files (the message
 *   lists the missing ones), when a line of a split file is not `id label`, or when a label is
 *   not in the class list.
 *
 * @example
 * ```ts
 * const aircraft = readAircraft('/data/fgvc-aircraft-2013b', { annotation: 'family' });
 * ```
 */
export function readAircraft(root: string, options: AircraftOptions = {}): DatasetSplits {
  const fn = 'readAircraft';
  const annotation = options.annotation ?? 'variant';
  if (!(annotation in CLASS_LISTS)) {
    throw new Error(`${fn}: annotation must be one of 'variant', 'family', 'manufacturer', but got ${JSON.stringify(annotation)}.`);
  }
  const trainSplit = options.trainSplit ?? 'trainval';
  if (trainSplit !== 'trainval' && trainSplit !== 'train') {
    throw new Error(`${fn}: trainSplit must be one of 'trainval', 'train', but got ${JSON.stringify(trainSplit)}.`);
  }
  const cropBanner = options.cropBanner ?? true;
  let dir = path.resolve(root);
  if (!exists(path.join(dir, 'images'), 'dir') && exists(path.join(dir, 'data', 'images'), 'dir')) dir = path.join(dir, 'data');
  const trainFile = `images_${annotation}_${trainSplit}.txt`;
  const testFile = `images_${annotation}_test.txt`;
  requireLayout(fn, dir, 'an FGVC-Aircraft data', [trainFile, testFile, CLASS_LISTS[annotation], 'images/']);
  const classNames = readLines(path.join(dir, CLASS_LISTS[annotation]));
  const classIndex = new Map(classNames.map((n, i) => [n, i]));
  const read = (file: string): ImageItem[] =>
    readPairs(fn, path.join(dir, file)).map(([id, name]) => {
      const label = classIndex.get(name);
      if (label === undefined) {
        throw new Error(`${fn}: every label of ${file} must be listed in ${CLASS_LISTS[annotation]}, but got '${name}' for image ${id}.`);
      }
      const item: ImageItem = { path: path.join(dir, 'images', `${id}.jpg`), label };
      if (cropBanner) item.trimBottom = AIRCRAFT_BANNER_HEIGHT;
      return item;
    });
  return { name: 'aircraft', root: dir, classNames, train: read(trainFile), test: read(testFile) };
}
