/** Items and splits returned by the dataset readers. */

/** One image of a dataset. */
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

/** A dataset: train and test splits and the class names. */
export interface DatasetSplits {
  /** Short name, e.g. `'cub'`. */
  name: string;
  /** The root folder that was read (absolute). */
  root: string;
  classNames: string[];
  train: ImageItem[];
  test: ImageItem[];
}
