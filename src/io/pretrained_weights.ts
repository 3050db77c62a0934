/**
 * Loading pretrained weight files into tfjs backbones (Node): PyTorch `.pth`/`.pt` and
 * `.safetensors` state dicts into PyTorch-named models ({@link loadTorchWeights}), Keras `.h5`
 * weights into Keras-named ones ({@link loadKerasWeights}). The file readers are in
 * `./weights`; the name mapping and checks, which need no file system, are
 * {@link assignTorchStateDict} and {@link assignKerasWeights}.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { assignKerasWeights } from '../backbones/keras_weights';
import { assignTorchStateDict } from '../backbones/torch_state_dict';
import type { WeightLoadReport } from '../backbones/weight_assignment';
import { describeValue, fail } from '../ops/validation';
import { readKerasH5, readWeightFile } from './weights';

/** What {@link loadTorchWeights} and {@link loadKerasWeights} did. */
export interface WeightFileReport extends WeightLoadReport {
  /** The file, as given. */
  file: string;
  /** Its format, found from its first bytes. */
  format: 'torch' | 'safetensors' | 'keras-h5';
}

function checkModel(fn: string, model: unknown): asserts model is tfl.LayersModel {
  if (!(model instanceof tfl.LayersModel)) fail(fn, 'model', 'a tf.LayersModel', describeValue(model));
}

/**
 * Reads a PyTorch state dict — a `.pth`/`.pt` file (`torch.save`'s zip format, or the legacy
 * pickle format; only the tensor-rebuild functions a state dict needs are ever unpickled) or a
 * `.safetensors` file (timm, Hugging Face) — and loads it into a model whose layers are named
 * like the PyTorch modules, such as `torchvisionResNet` of `s3n-layers` (see {@link assignTorchStateDict}:
 * convolution and linear weights transposed, batch-norm running statistics loaded,
 * `num_batches_tracked` and a classifier `fc.*` the model lacks ignored and reported).
 *
 * All or nothing: a file that cannot be read, is of another format, or does not fit the model
 * (missing or unknown keys, shape mismatches, a checkpoint of another depth) is an Error naming
 * the file and the problems, and the model keeps its weights. No tensor leaks either way.
 *
 * @param model The tfjs model (e.g. `torchvisionResNet(50, { inputSize: 448 })`).
 * @param file Path of the `.pth`, `.pt` or `.safetensors` file (the format is found from its
 *   first bytes, not its name).
 * @returns The file, its format, the keys loaded and the keys ignored with the reason.
 *
 * @example
 * ```ts
 * const backbone = torchvisionResNet(50, { inputSize: 448 });
 * const report = await loadTorchWeights(backbone, 'resnet50-0676ba61.pth');
 * console.log(`${report.loaded.length} tensors loaded, ignored ${report.ignored.map((i) => i.key).join(', ')}`);
 * ```
 */
export async function loadTorchWeights(model: tfl.LayersModel, file: string): Promise<WeightFileReport> {
  const fn = 'loadTorchWeights';
  checkModel(fn, model);
  const content = await readWeightFile(file, { caller: fn });
  if (content.format === 'keras-h5') {
    throw new Error(`${fn}: ${file} is a Keras .h5 file, not a PyTorch state dict: load it with loadKerasWeights into a Keras-named model (resnet50()).`);
  }
  const report = assignTorchStateDict(model, content.tensors, { caller: fn, source: file });
  return { file, format: content.format, ...report };
}

/**
 * Reads a Keras `.h5` weights file (`model.save_weights('x.h5')` or `model.save('x.h5')` of
 * Keras 2, `layer_names` / `weight_names` layout, split attributes included; e.g.
 * `resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`) and loads it by layer name and weight
 * order into a model with Keras' layer names, such as `resnet50` of `s3n-layers` (see
 * {@link assignKerasWeights}; Keras kernels are already `[kh, kw, in, out]`). Keras' ResNet-50
 * expects "caffe" preprocessing: BGR, mean `[103.939, 116.779, 123.68]` subtracted from 0–255
 * values, no scaling.
 *
 * All or nothing: a file that cannot be read, is not HDF5, or does not fit the model is an
 * Error naming the file and the problems, and the model keeps its weights. No tensor leaks.
 *
 * @param model The tfjs model (e.g. `resnet50({ inputSize: 448 })`).
 * @param file Path of the `.h5` file.
 * @returns The file, its format, the weights loaded (`layer/weight name`) and those ignored.
 *
 * @example
 * ```ts
 * const backbone = resnet50({ inputSize: 448 });
 * await loadKerasWeights(backbone, 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5');
 * ```
 */
export async function loadKerasWeights(model: tfl.LayersModel, file: string): Promise<WeightFileReport> {
  const fn = 'loadKerasWeights';
  checkModel(fn, model);
  const layers = await readKerasH5(file, { caller: fn });
  const report = assignKerasWeights(model, layers, { caller: fn, source: file });
  return { file, format: 'keras-h5', ...report };
}
