/**
 * Dataset readers (CUB-200-2011, FGVC-Aircraft, Stanford Cars, image folders), the authors'
 * augmentation and a seeded, prefetching batch pipeline. Node only (uses `node:fs` and sharp).
 */
import { readAircraft, AircraftOptions } from './aircraft';
import { readStanfordCars } from './cars';
import { readCub } from './cub';
import { readImageFolder } from './folder';
import type { DatasetSplits } from './types';

export type { ImageItem, DatasetSplits } from './types';
export { readCub, CUB_FILES } from './cub';
export { readAircraft, AIRCRAFT_BANNER_HEIGHT } from './aircraft';
export type { AircraftOptions, AircraftAnnotation } from './aircraft';
export { readStanfordCars, CARS_FILES } from './cars';
export { readImageFolder } from './folder';
export { readMat, matStrings, matScalar } from './mat5';
export type { MatValue, MatNumeric, MatChar, MatCell, MatStruct } from './mat5';
export { loadImage, loadImageWithSource, randomResizedCropBox, evalResizeSize, denormalize, IMAGENET_MEAN, IMAGENET_STD } from './augment';
export type { AugmentMode, Box, LoadImageOptions, LoadImageWithSourceOptions } from './augment';
export { ImagePipeline } from './pipeline';
export type { Batch, PipelineOptions } from './pipeline';
export { mulberry32, mixSeed, epochPermutation } from './rng';
export type { Rng } from './rng';

/**
 * The dataset kinds of {@link readDataset}: `['cub', 'aircraft', 'cars', 'folder']`, read by
 * {@link readCub}, {@link readAircraft}, {@link readStanfordCars} and {@link readImageFolder}.
 */
export const DATASET_KINDS = ['cub', 'aircraft', 'cars', 'folder'] as const;
/** One of {@link DATASET_KINDS}: `'cub' | 'aircraft' | 'cars' | 'folder'`. */
export type DatasetKind = (typeof DATASET_KINDS)[number];

/**
 * Reads a dataset of any supported kind from its official layout, by calling the reader of
 * `kind`: `'cub'` → {@link readCub}, `'aircraft'` → {@link readAircraft} (with
 * `options.aircraft`), `'cars'` → {@link readStanfordCars}, `'folder'` → {@link readImageFolder}.
 * Nothing is decoded: the result lists image paths and labels, to feed an {@link ImagePipeline}.
 *
 * @param kind Which reader to use, one of {@link DATASET_KINDS}.
 * @param root The dataset folder, as the reader of `kind` expects it (relative paths are
 *   resolved against the current directory).
 * @param options `aircraft`: options of {@link readAircraft} (ignored by the other kinds).
 *   Default `{}`.
 * @returns the train and test splits and the class names.
 * @throws when `kind` is not one of {@link DATASET_KINDS}, or whatever the reader of `kind`
 *   throws (a missing file or folder of the layout, a malformed annotation file).
 *
 * @example
 * ```ts
 * const ds = readDataset('aircraft', '/data/fgvc-aircraft-2013b', { aircraft: { annotation: 'family' } });
 * ds.classNames.length; // 70
 * ds.train.length;      // 6,667 (trainval)
 * ```
 */
export function readDataset(kind: DatasetKind, root: string, options: { aircraft?: AircraftOptions } = {}): DatasetSplits {
  switch (kind) {
    case 'cub':
      return readCub(root);
    case 'aircraft':
      return readAircraft(root, options.aircraft);
    case 'cars':
      return readStanfordCars(root);
    case 'folder':
      return readImageFolder(root);
    default:
      throw new Error(`readDataset: kind must be one of ${DATASET_KINDS.map((k) => `'${k}'`).join(', ')}, but got ${JSON.stringify(kind)}.`);
  }
}
