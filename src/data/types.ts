/** Items and splits returned by the dataset readers. */

/**
 * One image of a dataset, as the readers return it and {@link ImagePipeline} and
 * {@link loadImage} consume it. Only the path is stored; the image is decoded on use.
 */
export interface ImageItem {
  /** Absolute path of the image file. */
  path: string;
  /** Class index in `[0, classNames.length)`. */
  label: number;
  /**
   * Rows to cut away at the bottom before any augmentation (FGVC-Aircraft's 20-pixel
   * copyright banner). 0 or absent: none.
   */
  trimBottom?: number;
  /** Bounding box `[x1, y1, x2, y2]` in pixels (1-based, inclusive) when the dataset has one. Not applied. */
  bbox?: [number, number, number, number];
}

/**
 * A dataset, as returned by every reader ({@link readDataset}, {@link readCub},
 * {@link readAircraft}, {@link readStanfordCars}, {@link readImageFolder}): the train and test
 * splits and the class names.
 */
export interface DatasetSplits {
  /** Short name of the reader: `'cub'`, `'aircraft'`, `'cars'` or `'folder'`. */
  name: string;
  /**
   * The folder that was read (absolute). The readers that accept a parent folder
   * ({@link readCub}, {@link readAircraft}) give the folder they found in it.
   */
  root: string;
  /** Class names, index = label: `classNames[item.label]` is the class of `item`. */
  classNames: string[];
  /**
   * Training images, in the dataset's order (that of its annotation files; for an image folder,
   * by class then file name), not shuffled.
   */
  train: ImageItem[];
  /** Test images, in the same kind of order as {@link DatasetSplits.train}. */
  test: ImageItem[];
}
