/**
 * Building S3N for the CLI: the backbone from its name or a saved tfjs model, and loading a
 * trained S3N from a checkpoint.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { cutBackbone, resnet50, smallResNet } from '../backbones/resnet';
import { fileSystem } from '../io/fs_io';
import { loadCheckpoint, LoadedCheckpoint } from '../io/checkpoint';
import { BranchStatisticsMode, S3N } from '../model/s3n';
import { formatShape } from '../ops/validation';
import { UsageError } from './backend';
import { buildPretrainedBackbone } from './pretrained';
import { setBatchNormMomentum as setLayerMomentum } from '../tfjs_internals';

/** How the network was built; saved in checkpoints. */
export interface ModelConfig {
  /**
   * `'resnet50'`, `'small'`, `'torchvision-resnet18'` (also 34, 50, 101, 152), or a path to a
   * tfjs LayersModel (`model.json` or its folder).
   */
  backbone: string;
  /** Pretrained weights: a PyTorch `.pth`/`.pt`/`.safetensors` file (torchvision-resnet*) or a Keras `.h5` file (resnet50). */
  weights?: string;
  /** Layer to cut a loaded backbone at. */
  cutLayer?: string;
  /** Stage widths of the `'small'` backbone. */
  widths?: number[];
  inputSize: number;
  classes: number;
  seed: number;
  /** S3N options (defaults: the authors'). */
  gridSize?: number;
  paddingSize?: number;
  fwhm?: number;
  /**
   * Momentum of the backbone's batch-normalisation moving averages, Keras convention
   * (`moving = momentum·moving + (1 − momentum)·batch`). The authors trained in PyTorch, whose
   * default 0.1 is Keras' 0.9; tfjs layers default to 0.99. Unset: keep the backbone's.
   */
  bnMomentum?: number;
  /**
   * Side of the source image the samplers read (`--source-size`, beyond the paper: a zoom then
   * shows real pixels; see {@link S3NOptions.sourceSize}). Unset: the input itself.
   */
  sourceSize?: number;
  /**
   * The branches' batch-norm moving statistics: `'shared'` (unset, the authors') or
   * `'per-branch'` (`--branch-statistics`, beyond the paper; see {@link S3NOptions.branchStatistics}).
   */
  branchStatistics?: BranchStatisticsMode;
}

/**
 * Sets the moving-average momentum of every BatchNormalization layer of a model (nested
 * models included). tfjs-layers has no setter; the value is read at each call and saved in
 * the layer config, so it persists through save/load.
 *
 * Only for a backbone the user supplies (`--backbone PATH`): the built-in ones get the
 * momentum from their builder (`batchNormMomentum`), but a loaded model comes with the layers
 * it was saved with, and writing the layer's (private) `momentum` field is the only way to
 * change it short of rebuilding the model from an edited config.
 */
export function setBatchNormMomentum(model: tfl.LayersModel, momentum: number): number {
  let n = 0;
  const visit = (layers: tfl.layers.Layer[]) => {
    for (const l of layers) {
      if (l.getClassName() === 'BatchNormalization') {
        setLayerMomentum(l, momentum);
        n++;
      } else if (l instanceof tfl.LayersModel) visit(l.layers);
    }
  };
  visit(model.layers);
  return n;
}

/**
 * Builds the backbone `[batch, inputSize, inputSize, 3] → [batch, h, w, depth]`, with the
 * batch-norm momentum `cfg.bnMomentum` when set.
 */
export async function buildBackbone(cfg: ModelConfig, log?: (line: string) => void): Promise<tfl.LayersModel> {
  const batchNormMomentum = cfg.bnMomentum;
  const pretrained = await buildPretrainedBackbone(cfg, log);
  if (pretrained) return pretrained;
  if (cfg.backbone === 'resnet50') return resnet50({ inputSize: cfg.inputSize, seed: cfg.seed, batchNormMomentum });
  if (cfg.backbone === 'small') return smallResNet({ inputSize: cfg.inputSize, widths: cfg.widths, seed: cfg.seed, batchNormMomentum });
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(fileSystem(cfg.backbone));
  } catch (e) {
    throw new UsageError(`--backbone must be resnet50, small or the path of a tfjs LayersModel (model.json), but loading '${cfg.backbone}' failed: ${(e as Error).message}`);
  }
  // The cut and the fixed-input wrapper below share these layers.
  if (batchNormMomentum !== undefined) setBatchNormMomentum(model, batchNormMomentum);
  let cut = model;
  if (cfg.cutLayer) cut = cutBackbone(model, cfg.cutLayer);
  else if (model.outputs.length !== 1 || model.outputs[0].shape.length !== 4) {
    const names = model.layers.map((l) => l.name);
    throw new UsageError(
      `--cut-layer is needed: the model at '${cfg.backbone}' must end in a [batch, h, w, depth] feature map, but its output has shape ${formatShape(model.outputs[0].shape)}. ` +
        `Pass --cut-layer NAME with one of its layers (…, ${names.slice(-8).join(', ')}).`,
    );
  }
  const shape = cut.inputs[0].shape;
  if (shape[1] === cfg.inputSize && shape[2] === cfg.inputSize) return cut;
  if (shape[1] != null || shape[2] != null) {
    throw new UsageError(`--input-size must match the backbone's input ${shape[1]}×${shape[2]}, but got ${cfg.inputSize}.`);
  }
  // A size-agnostic backbone: give it a fixed input.
  const input = tfl.input({ shape: [cfg.inputSize, cfg.inputSize, shape[3] ?? 3], name: 'backbone_input' });
  return tfl.model({ inputs: input, outputs: cut.apply(input) as tfl.SymbolicTensor, name: `${cut.name}_${cfg.inputSize}` });
}

/** Builds a fresh S3N from a {@link ModelConfig} (`log` gets the line saying which weights were loaded). */
export async function buildS3N(cfg: ModelConfig, log?: (line: string) => void): Promise<S3N> {
  const backbone = await buildBackbone(cfg, log);
  return S3N.create(backbone, { classes: cfg.classes, seed: cfg.seed, gridSize: cfg.gridSize, paddingSize: cfg.paddingSize, fwhm: cfg.fwhm, sourceSize: cfg.sourceSize, branchStatistics: cfg.branchStatistics });
}

/** Loads a trained S3N from a checkpoint (or a run folder), with its class names and state. */
export async function loadS3N(dir: string): Promise<{ s3n: S3N; checkpoint: LoadedCheckpoint }> {
  let checkpoint: LoadedCheckpoint;
  try {
    checkpoint = await loadCheckpoint(dir);
  } catch (e) {
    throw new UsageError((e as Error).message, 1);
  }
  const s3n = S3N.fromModel(checkpoint.model);
  s3n.attention.drawCount = checkpoint.state.drawCount;
  return { s3n, checkpoint };
}
