/**
 * Pretrained backbones for `s3n train`: `--backbone torchvision-resnet18|34|50|101|152` with
 * `--weights FILE.pth|.pt|.safetensors` (PyTorch state dicts, e.g. torchvision's
 * `resnet50-0676ba61.pth`), and `--backbone resnet50 --weights FILE.h5` (Keras).
 */
import * as fs from 'node:fs';
import * as tfl from '@tensorflow/tfjs-layers';
import { withCaffePreprocessing } from '../backbones/caffe_input';
import { resnet50 } from '../backbones/resnet';
import { torchvisionResNet, TorchvisionResNetDepth } from '../backbones/torchvision_resnet';
import { loadKerasWeights, loadTorchWeights, WeightFileReport } from '../io/pretrained_weights';
import { UsageError } from './backend';

/** `--backbone` names of torchvision's ResNets and their depths. */
export const TORCHVISION_BACKBONES: Readonly<Record<string, TorchvisionResNetDepth>> = {
  'torchvision-resnet18': 18,
  'torchvision-resnet34': 34,
  'torchvision-resnet50': 50,
  'torchvision-resnet101': 101,
  'torchvision-resnet152': 152,
};

const WEIGHTS_BACKBONES = `${Object.keys(TORCHVISION_BACKBONES).join(', ')} (PyTorch .pth/.pt/.safetensors) or resnet50 (Keras .h5)`;

/**
 * Checks `--weights` before any work: it needs a backbone that takes weight files, and must be a
 * readable file (unless `readable` is false: `--resume` continues from the checkpoint's weights
 * and does not read the file).
 */
export function checkWeightsOption(backbone: string, weights: string | undefined, { readable = true }: { readable?: boolean } = {}): void {
  if (weights === undefined) return;
  if (!(backbone in TORCHVISION_BACKBONES) && backbone !== 'resnet50') {
    throw new UsageError(`--weights needs --backbone ${WEIGHTS_BACKBONES}, but got --backbone '${backbone}'.`);
  }
  if (!readable) return;
  let isFile = false;
  try {
    fs.accessSync(weights, fs.constants.R_OK);
    isFile = fs.statSync(weights).isFile();
  } catch (e) {
    throw new UsageError(`--weights must be a readable weights file, but '${weights}' cannot be read: ${(e as Error).message}`);
  }
  if (!isFile) throw new UsageError(`--weights must be a readable weights file, but '${weights}' is not a file.`);
}

/** The log line of a load: file, format, tensors loaded, what was ignored. */
export function weightsLogLine(report: WeightFileReport, backbone: string): string {
  const format = { torch: 'PyTorch state dict', safetensors: 'safetensors', 'keras-h5': 'Keras .h5' }[report.format];
  const counters = report.ignored.filter((i) => i.key.endsWith('.num_batches_tracked')).length;
  const others = report.ignored.filter((i) => !i.key.endsWith('.num_batches_tracked'));
  const ignored = [
    ...(others.length > 0 ? [`${others.map((i) => i.key).join(', ')} (no classifier in the backbone)`] : []),
    ...(counters > 0 ? [`${counters} num_batches_tracked`] : []),
  ];
  return `weights: loaded ${report.loaded.length} tensors from ${report.file} (${format}) into ${backbone}${ignored.length > 0 ? `; ignored ${ignored.join(' and ')}` : ''}`;
}

/** Options of {@link buildPretrainedBackbone} (a subset of the CLI's model config). */
export interface PretrainedConfig {
  backbone: string;
  weights?: string;
  inputSize: number;
  seed: number;
  bnMomentum?: number;
}

/**
 * The backbone of a `torchvision-resnet*` name (with its `weights` loaded when given), or
 * Keras' `resnet50` with `weights` loaded and Keras' caffe preprocessing put in front (the
 * pipeline gives ImageNet-normalised RGB; see {@link withCaffePreprocessing}). `undefined` for
 * other backbones (built by the caller). A file that does not fit is a UsageError (exit 1)
 * naming the file and the problems.
 */
export async function buildPretrainedBackbone(cfg: PretrainedConfig, log: (line: string) => void = () => undefined): Promise<tfl.LayersModel | undefined> {
  checkWeightsOption(cfg.backbone, cfg.weights);
  const depth = TORCHVISION_BACKBONES[cfg.backbone];
  const load = async (model: tfl.LayersModel, loader: typeof loadTorchWeights, file: string) => {
    try {
      log(weightsLogLine(await loader(model, file), cfg.backbone));
    } catch (e) {
      model.dispose();
      throw new UsageError((e as Error).message, 1);
    }
  };
  if (depth !== undefined) {
    const initializer = cfg.weights === undefined ? 'random' : 'zeros';
    const model = torchvisionResNet(depth, { inputSize: cfg.inputSize, seed: cfg.seed, batchNormMomentum: cfg.bnMomentum, initializer });
    if (cfg.weights !== undefined) await load(model, loadTorchWeights, cfg.weights);
    return model;
  }
  if (cfg.backbone === 'resnet50' && cfg.weights !== undefined) {
    const keras = resnet50({ inputSize: cfg.inputSize, seed: cfg.seed, batchNormMomentum: cfg.bnMomentum });
    await load(keras, loadKerasWeights, cfg.weights);
    log("weights: Keras' ResNet-50 expects caffe preprocessing: the backbone converts its input (RGB, ImageNet mean/std) to BGR minus the caffe mean");
    return withCaffePreprocessing(keras);
  }
  return undefined;
}
