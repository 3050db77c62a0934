/**
 * s3n-layers: Selective Sparse Sampling (Ding et al., ICCV 2019) for TensorFlow.js.
 *
 * - `ops`: the differentiable operations (grid sampling, peaks, saliency grids, …), NHWC.
 * - layers: `ClassResponseMap`, `PeakFinder`, `SparseAttention`, `SaliencySampler`, `S3NHead`.
 * - `S3N`: the whole network on any backbone, with the authors' loss, schedule and optimiser.
 * - backbones: `resnet50` (Keras layer names), `smallResNet`, `cutBackbone`; torchvision's
 *   ResNets with PyTorch layer names (`torchvisionResNet`) and the state-dict loaders
 *   (`assignTorchStateDict`, `assignKerasWeights`; file readers in `s3n-layers/node`).
 * - defaults: `S3N_DEFAULTS` (the authors' hyper-parameters, which every option falls back to)
 *   and the seed-derivation rule (`S3N_SEED_OFFSETS`, `derivedSeed`).
 *
 * @packageDocumentation
 * @module s3n-layers
 */
export * as ops from './ops';
export { S3N_DEFAULTS, S3N_PRESETS, S3N_SEED_OFFSETS, derivedSeed } from './defaults';
export type { S3NPreset } from './defaults';
export * from './layers';
export * from './model';
export { resnet50, smallResNet, cutBackbone } from './backbones/resnet';
export type { ResNetOptions, SmallResNetOptions } from './backbones/resnet';
export { torchvisionResNet, TORCHVISION_RESNET_DEPTHS } from './backbones/torchvision_resnet';
export type { TorchvisionResNetDepth, TorchvisionResNetOptions } from './backbones/torchvision_resnet';
export { assignTorchStateDict, torchKeyOf } from './backbones/torch_state_dict';
export type { AssignTorchOptions } from './backbones/torch_state_dict';
export { assignKerasWeights } from './backbones/keras_weights';
export type { AssignKerasOptions } from './backbones/keras_weights';
export type { WeightLoadReport } from './backbones/weight_assignment';
export { withCaffePreprocessing, CAFFE_MEAN_BGR } from './backbones/caffe_input';
export type { RawTensor, RawDtype, StateDict } from './io/state_dict';
export type { KerasLayerWeights, KerasWeight } from './io/weights/keras_h5';
