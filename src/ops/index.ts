/**
 * The differentiable S3N operations, functional and NHWC. Import them as
 * `import { ops } from 's3n-layers'`.
 *
 * @module ops
 */
export { gridSample, FUSED_KERNELS_FLAG } from './grid_sample';
export type { GridSampleOptions, GridSampleMode, GridSamplePaddingMode, GridSampleImplementation } from './grid_sample';
export { findPeaks } from './find_peaks';
export type { FindPeaksOptions, PeakFilter } from './find_peaks';
export { peakAggregation } from './peak_aggregation';
export { gaussianKernel } from './gaussian_kernel';
export { saliencyFilter, saliencyGrid } from './saliency_grid';
export type { SaliencyGridOptions } from './saliency_grid';
export { stopGradient } from './stop_gradient';
export { resizeArea } from './resize_area';
export { decisionMap } from './decision_map';
export type { DecisionMapOptions, DecisionMapResult } from './decision_map';
export { sparseAttentionMaps, ATTENTION_MODES } from './sparse_attention';
export type { AttentionMode, SparseAttentionOptions, SparseAttentionResult } from './sparse_attention';
export { selectiveSparseSampling, selectiveAttention, saliencyResample, S3N_SAMPLING } from './selective_sampling';
export type {
  SelectiveSamplingOptions,
  SelectiveSamplingResult,
  SelectiveAttentionOptions,
  SelectiveAttentionResult,
  SaliencyResampleOptions,
} from './selective_sampling';
export type { ScalarLike } from './validation';
