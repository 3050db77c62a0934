/**
 * `s3n-layers/node`: the Node-only parts of the package — dataset readers and the batch
 * pipeline (sharp), and file-system IO and checkpoints for tfjs models (no tfjs-node needed).
 * Kept apart from the main entry so that browser bundles never pull in `node:fs` or sharp.
 *
 * - Dataset readers turn an official dataset layout into {@link DatasetSplits} (lists of
 *   `{path, label}` items and the class names): {@link readCub} (CUB-200-2011),
 *   {@link readAircraft} (FGVC-Aircraft), {@link readStanfordCars} (Stanford Cars, with a
 *   MAT-file reader, {@link readMat}), {@link readImageFolder} (`train/<class>/*`,
 *   `test/<class>/*`), or any of them by name with {@link readDataset}.
 * - {@link ImagePipeline} decodes and augments the images with sharp (the authors' random
 *   resized crop and flip for training, resize and center crop for evaluation, ImageNet
 *   normalisation) and yields seeded, prefetched batches of NHWC float32 images
 *   `[batch, inputSize, inputSize, 3]` and int32 labels `[batch]`.
 * - {@link fileSystem} is a `tf.io.IOHandler` for `model.json` + `weights.bin` folders;
 *   {@link saveCheckpoint}, {@link loadCheckpoint} and {@link CheckpointRun} save and resume
 *   training runs (model, optimiser momentum and run state).
 * - {@link loadTorchWeights} loads a PyTorch `.pth`/`.pt` or `.safetensors` state dict (e.g.
 *   torchvision's `resnet50-0676ba61.pth`) into `torchvisionResNet`; {@link loadKerasWeights} a
 *   Keras `.h5` weights file into `resnet50`.
 *
 * This entry does not register the S3N layers: import the main entry (`s3n-layers`) too before
 * loading a saved S3N model with {@link loadCheckpoint} or `tf.loadLayersModel`.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import { S3N, resnet50 } from 's3n-layers';
 * import { readCub, ImagePipeline, CheckpointRun } from 's3n-layers/node';
 *
 * const cub = readCub('/data/CUB_200_2011');
 * const train = new ImagePipeline(cub.train, { mode: 'train', batchSize: 16, inputSize: 448, seed: 0 });
 * const s3n = S3N.create(resnet50({ inputSize: 448 }), { classes: cub.classNames.length });
 * const optimizer = s3n.createOptimizer();
 * const run = new CheckpointRun('runs/cub');
 * for (let epoch = 0; epoch < 2; epoch++) {
 *   s3n.setEpoch(epoch);
 *   for await (const { images, labels } of train.epoch(epoch)) {
 *     // images [16, 448, 448, 3] float32, labels [16] int32
 *     tf.dispose([s3n.trainStep(images, labels, optimizer), images, labels]);
 *   }
 *   await run.save(s3n.model, { epoch: epoch + 1, dataSeed: 0, drawCount: s3n.attention.drawCount,
 *     classNames: cub.classNames, config: {}, metrics: [] }, optimizer);
 * }
 * ```
 *
 * @packageDocumentation
 * @module s3n-layers/node
 */
export * from './data';
export * from './io';
export { loadTorchWeights, loadKerasWeights } from './io/pretrained_weights';
export type { WeightFileReport } from './io/pretrained_weights';
