/**
 * CUB-200-2011 (Wah et al. 2011) in its official layout:
 *
 * ```
 * CUB_200_2011/
 *   images.txt               <image_id> <class_folder>/<file>.jpg
 *   image_class_labels.txt   <image_id> <class_id>        (1-based)
 *   train_test_split.txt     <image_id> <is_training_image>
 *   classes.txt              <class_id> <class_name>
 *   images/<class_folder>/<file>.jpg
 * ```
 */
import * as path from 'node:path';
import { exists, readPairs, requireLayout } from './files';
import type { DatasetSplits, ImageItem } from './types';

/** Files and folders {@link readCub} expects under its root. */
export const CUB_FILES: readonly string[] = ['images.txt', 'image_class_labels.txt', 'train_test_split.txt', 'classes.txt', 'images/'];

/**
 * Reads CUB-200-2011: the official train (5,994) / test (5,794) split of 200 classes. Image
 * paths and labels only; nothing is decoded.
 *
 * Labels are 0-based indices into `classNames`, in the order of `classes.txt`; class names are
 * as written there (e.g. `'001.Black_footed_Albatross'`). Images are listed in the order of
 * `images.txt`, each under `images/`. Bounding boxes and part annotations are not read.
 *
 * @param root The `CUB_200_2011` folder, or a folder that contains it (relative paths are
 *   resolved against the current directory).
 * @returns splits named `'cub'`, whose `root` is the `CUB_200_2011` folder.
 * @throws when `root` is not a folder or lacks one of {@link CUB_FILES} (the message lists
 *   the missing ones), when a line of an annotation file is not `id value`, when an image of
 *   `images.txt` has no class in `image_class_labels.txt` or a class not in `classes.txt`, or
 *   when its `train_test_split.txt` entry is missing or not `0` / `1`.
 *
 * @example
 * ```ts
 * const cub = readCub('/data/CUB_200_2011');
 * cub.classNames[0]; // '001.Black_footed_Albatross'
 * ```
 */
export function readCub(root: string): DatasetSplits {
  const fn = 'readCub';
  let dir = path.resolve(root);
  if (!exists(path.join(dir, 'images.txt'), 'file') && exists(path.join(dir, 'CUB_200_2011', 'images.txt'), 'file')) {
    dir = path.join(dir, 'CUB_200_2011');
  }
  requireLayout(fn, dir, 'a CUB-200-2011', CUB_FILES);
  const classes = readPairs(fn, path.join(dir, 'classes.txt'));
  const classIndex = new Map<string, number>();
  const classNames = classes.map(([id, name], i) => {
    classIndex.set(id, i);
    return name;
  });
  const labels = new Map(readPairs(fn, path.join(dir, 'image_class_labels.txt')));
  const split = new Map(readPairs(fn, path.join(dir, 'train_test_split.txt')));
  const train: ImageItem[] = [];
  const test: ImageItem[] = [];
  for (const [id, rel] of readPairs(fn, path.join(dir, 'images.txt'))) {
    const classId = labels.get(id);
    const label = classId === undefined ? undefined : classIndex.get(classId);
    if (label === undefined) {
      throw new Error(`${fn}: every image of images.txt must have a class in image_class_labels.txt listed in classes.txt, but got image ${id} with class ${classId ?? '(none)'}.`);
    }
    const isTrain = split.get(id);
    if (isTrain !== '0' && isTrain !== '1') {
      throw new Error(`${fn}: every image of images.txt must be 0 or 1 in train_test_split.txt, but got image ${id} with ${isTrain ?? '(none)'}.`);
    }
    (isTrain === '1' ? train : test).push({ path: path.join(dir, 'images', rel), label });
  }
  return { name: 'cub', root: dir, classNames, train, test };
}
