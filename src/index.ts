/**
 * s3n-layers: Selective Sparse Sampling (Ding et al., ICCV 2019) for TensorFlow.js.
 *
 * @packageDocumentation
 */
export * as ops from './ops';
