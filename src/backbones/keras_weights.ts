/**
 * Assigning Keras weights (layer name → weights in Keras' order, as `readKerasH5` returns them)
 * to a tfjs-layers model with Keras' layer names, such as {@link resnet50}: pure (no file
 * system).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { KerasLayerWeights } from '../io/weights/keras_h5';
import { describeValue, fail } from '../ops/validation';
import {
  loaderOptions,
  applyPlan,
  checkLoaderArgs,
  PlannedLayer,
  PlannedWeight,
  shapeText,
  throwProblems,
  valueProblems,
  weightedLayers,
  weightKind,
  WeightLoadReport,
} from './weight_assignment';

/** Options of {@link assignKerasWeights}. */
export interface AssignKerasOptions {
  /**
   * Layers of a classifier that the file may hold and the model may lack (ignored, and reported,
   * when the model has no layer of that name). Default `['predictions', 'fc1000']` (Keras'
   * ImageNet heads).
   */
  classifier?: string[];
  /** Name put at the start of error messages (default `'assignKerasWeights'`). */
  caller?: string;
  /** What the weights came from, for error messages (e.g. the file's path). Default `'the weights'`. */
  source?: string;
}

/** `conv1_conv/kernel:0` → `kernel`; `moving_variance:0` → `moving_variance`. */
function kerasKind(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1).replace(/:\d+$/, '');
}

/**
 * Loads Keras weights into a model with the same layer names, layer by layer, each layer's
 * weights in Keras' order (`weight_names`: kernel, bias; gamma, beta, moving_mean,
 * moving_variance), which is tfjs-layers' order too. Keras' layouts are tfjs' (a Conv2D kernel
 * is `[kh, kw, in, out]`), so nothing is transposed. Layers of the file without weights are
 * skipped; a classifier (`predictions`) the model lacks is ignored and reported.
 *
 * Everything is checked before anything is assigned: a layer of the model the file lacks, a
 * layer of the file the model lacks, a different number of weights, a weight name of another
 * kind (a file's `beta` where the model has `gamma`), a shape mismatch, a non-float or
 * non-finite array each is a problem, and any problem throws one Error that lists them (the
 * first ten, then a count). A refused file leaves the model untouched; no tensor is left behind.
 *
 * @param model A `tf.LayersModel` with Keras' layer names (e.g. {@link resnet50}; nested models are searched).
 * @param layers Layer name → its weights, e.g. from `readKerasH5` (`s3n-layers/node`).
 * @param options `classifier` layers that may be ignored, `caller` and `source` for messages.
 * @returns which weights were loaded and which were ignored, and why, each named
 *   `layer/weight` (Keras' weight name, e.g. `conv1_conv/kernel:0`, when it starts with its layer's).
 *
 * @example
 * ```ts
 * const backbone = resnet50({ inputSize: 224 });
 * assignKerasWeights(backbone, await readKerasH5('resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'));
 * ```
 */
export function assignKerasWeights(model: tfl.LayersModel, layers: KerasLayerWeights, options: AssignKerasOptions = {}): WeightLoadReport {
  const { fn, classifier, source } = loaderOptions('assignKerasWeights', options, { classifier: ['predictions', 'fc1000'], source: 'the weights', what: 'layer' });
  checkLoaderArgs(fn, model, layers);
  for (const [name, ws] of layers) {
    if (typeof name !== 'string' || !Array.isArray(ws)) fail(fn, 'layers', 'a Map from layer names to arrays of weights', `the entry ${describeValue(name)}`);
  }

  const modelLayers = weightedLayers(model);
  const problems: string[] = [];
  const missing: string[] = [];
  const plan: PlannedLayer[] = [];
  for (const layer of modelLayers) {
    const fileWeights = layers.get(layer.name);
    const kinds = layer.weights.map(weightKind);
    if (fileWeights === undefined || fileWeights.length === 0) {
      missing.push(`missing layer '${layer.name}' (${layer.getClassName()}): the model expects ${layer.weights.map((w, i) => `${kinds[i]} ${shapeText(w.shape as number[])}`).join(', ')}`);
      continue;
    }
    if (fileWeights.length !== layer.weights.length) {
      problems.push(
        `layer '${layer.name}': the model has ${layer.weights.length} weights (${kinds.join(', ')}), the file ${fileWeights.length} (${fileWeights.map((w) => w.name).join(', ')})`,
      );
      continue;
    }
    const weights: PlannedWeight[] = [];
    layer.weights.forEach((w, i) => {
      const fw = fileWeights[i];
      const key = fw.name.startsWith(`${layer.name}/`) ? fw.name : `${layer.name}/${fw.name}`;
      const bad = valueProblems(key, fw);
      if (bad.length > 0) return problems.push(...bad);
      if (kerasKind(fw.name) !== kinds[i]) return problems.push(`layer '${layer.name}': weight ${i} of the model is '${kinds[i]}', of the file '${fw.name}'`);
      const expected = w.shape as number[];
      if (shapeText(fw.shape) !== shapeText(expected)) {
        return problems.push(`shape mismatch '${key}': the model's layer '${layer.name}' expects ${shapeText(expected)}, the file has ${shapeText(fw.shape)}`);
      }
      weights.push({ key, value: fw });
    });
    plan.push({ layer, weights });
  }
  const names = new Set(modelLayers.map((l) => l.name));
  const ignored: WeightLoadReport['ignored'] = [];
  const unexpected: string[] = [];
  for (const [name, ws] of layers) {
    if (names.has(name) || ws.length === 0) continue;
    if (classifier.includes(name)) {
      for (const w of ws) ignored.push({ key: w.name.startsWith(`${name}/`) ? w.name : `${name}/${w.name}`, reason: `the model has no classifier '${name}' (a backbone without the file's head)` });
    } else {
      unexpected.push(`unexpected layer '${name}' (${ws.map((w) => `${w.name} ${shapeText(w.shape)}`).join(', ')}): the model has no layer of that name`);
    }
  }
  const all = [...problems, ...unexpected, ...missing];
  if (all.length > 0) throwProblems(fn, source, model.name, all);
  applyPlan(plan);
  return { loaded: plan.flatMap((p) => p.weights.map((w) => w.key)), ignored };
}
