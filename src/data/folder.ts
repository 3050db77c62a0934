/**
 * A plain image folder: `root/train/<class>/*` and `root/test/<class>/*`. Classes are the
 * sub-folder names of `train/`, sorted; `test/` may lack some of them but has no others.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exists, IMAGE_EXTENSIONS, requireLayout } from './files';
import type { DatasetSplits, ImageItem } from './types';

function listImages(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort();
}

function listDirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/**
 * Reads an image folder dataset: `root/train/<class>/<image>` and `root/test/<class>/<image>`.
 * Image paths and labels only; nothing is decoded.
 *
 * Classes are the sub-folders of `train/` (hidden ones, starting with `.`, are ignored),
 * sorted by name; labels are 0-based indices into that list. `test/` may lack some classes
 * (that class then has no test image) but must have no other. Images are the files of each
 * class folder with an image extension (`.jpg`, `.jpeg`, `.png`, `.webp`, `.gif`, `.tif`,
 * `.tiff`, `.avif`, any case) that are not hidden (macOS leaves `._name.jpg` files), sorted by name; sub-folders of a class folder are not read, and
 * symbolic links (to folders or files) are not followed. Items are listed class by class.
 *
 * @param root The folder holding `train/` and `test/` (relative paths are resolved against the
 *   current directory).
 * @returns splits named `'folder'`, whose `root` is `root` made absolute.
 * @throws when `root` is not a folder or lacks `train/` or `test/`, when `train/` has no class
 *   sub-folder, or when `test/` has a class sub-folder that `train/` has not.
 *
 * @example
 * ```ts
 * const ds = readImageFolder('/data/birds'); // /data/birds/train/robin/1.jpg, …
 * ```
 */
export function readImageFolder(root: string): DatasetSplits {
  const fn = 'readImageFolder';
  const dir = path.resolve(root);
  requireLayout(fn, dir, 'an image', ['train/', 'test/']);
  const classNames = listDirs(path.join(dir, 'train'));
  if (classNames.length === 0) {
    throw new Error(`${fn}: root must contain one folder per class in train/ (train/<class>/<image>), but got '${path.join(dir, 'train')}' with no sub-folder.`);
  }
  const extra = listDirs(path.join(dir, 'test')).filter((c) => !classNames.includes(c));
  if (extra.length > 0) {
    throw new Error(`${fn}: test/ must only have classes of train/ (${classNames.join(', ')}), but got ${extra.map((c) => `'${c}'`).join(', ')}.`);
  }
  const read = (split: string): ImageItem[] =>
    classNames.flatMap((name, label) => {
      const d = path.join(dir, split, name);
      return exists(d, 'dir') ? listImages(d).map((f) => ({ path: path.join(d, f), label })) : [];
    });
  return { name: 'folder', root: dir, classNames, train: read('train'), test: read('test') };
}
