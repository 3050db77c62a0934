/**
 * s3n-layers: Selective Sparse Sampling (Ding et al., ICCV 2019) for TensorFlow.js.
 *
 * - `ops`: the differentiable operations (grid sampling, peaks, saliency grids, …), NHWC.
 * - layers: `ClassResponseMap`, `PeakFinder`, `SparseAttention`, `SaliencySampler`, `S3NHead`.
 * - `S3N`: the whole network on any backbone, with the authors' loss, schedule and optimiser.
 * - backbones: `resnet50` (Keras layer names), `smallResNet`, `cutBackbone`.
 *
 * @packageDocumentation
 * @module s3n-layers
 */
export * as ops from './ops';
export * from './layers';
export * from './model';
export { resnet50, smallResNet, cutBackbone } from './backbones/resnet';
export type { ResNetOptions, SmallResNetOptions } from './backbones/resnet';
