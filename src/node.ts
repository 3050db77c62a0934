/**
 * `s3n-layers/node`: the Node-only parts of the package — dataset readers and the batch
 * pipeline (sharp), and file-system IO and checkpoints for tfjs models (no tfjs-node needed).
 * Kept apart from the main entry so that browser bundles never pull in `node:fs` or sharp.
 *
 * @example
 * ```ts
 * import { readCub, ImagePipeline, fileSystem, CheckpointRun } from 's3n-layers/node';
 * const cub = readCub('/data/CUB_200_2011');
 * const train = new ImagePipeline(cub.train, { mode: 'train', batchSize: 16, inputSize: 448, seed: 0 });
 * ```
 *
 * @packageDocumentation
 */
export * from './data';
export * from './io';
