export { S3N, S3N_OUTPUTS } from './s3n';
export type { S3NOptions, S3NOutputs, S3NExplanation, S3NOptimizerOptions } from './s3n';
export { s3nLoss, smoothCrossEntropy } from './loss';
export type { S3NLossOptions } from './loss';
export { GroupedSGD } from './optimizer';
export type { GroupedSGDOptions, ParamGroup } from './optimizer';
export { stageModes, stepDecay } from './schedule';
export type { StageModes } from './schedule';
