/** Readers of pretrained-weight files (Node only): PyTorch `.pth`/`.pt`, `.safetensors`, Keras `.h5`. */
export { readTorchStateDict } from './torch';
export { readSafetensors } from './safetensors';
export { readKerasH5 } from './keras_h5';
export type { KerasWeight, KerasLayerWeights } from './keras_h5';
export { readWeightFile } from './read_weight_file';
export type { WeightFile, WeightFormat } from './read_weight_file';
export type { ReadWeightsOptions } from './weight_file';
export type { StateDict, RawTensor, RawDtype } from '../state_dict';
