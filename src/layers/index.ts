/**
 * The S3N layers (`tf.layers.Layer` subclasses, registered for serialisation on import).
 *
 * @module layers
 */
export { ClassResponseMap } from './class_response_map';
export type { ClassResponseMapArgs } from './class_response_map';
export { PeakFinder } from './peak_finder';
export type { PeakFinderArgs } from './peak_finder';
export { SparseAttention } from './sparse_attention';
export type { SparseAttentionArgs } from './sparse_attention';
export { SaliencySampler } from './saliency_sampler';
export type { SaliencySamplerArgs } from './saliency_sampler';
export { S3NHead, S3N_HEAD_OUTPUTS } from './s3n_head';
export type { S3NHeadArgs } from './s3n_head';
export { Select } from './select';
export type { SelectArgs } from './select';
