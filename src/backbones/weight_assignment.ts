/**
 * What the state-dict loaders ({@link assignTorchStateDict}, {@link assignKerasWeights}) share:
 * the report they return, one Error listing every problem found, and the all-or-nothing
 * assignment of checked arrays to a model's layers.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { RawTensor, StateDict } from '../io/state_dict';
import { describeValue, fail } from '../ops/validation';

/** What a loader did with each array of a state dict. */
export interface WeightLoadReport {
  /** Keys of the arrays that were assigned to the model, in the model's layer order. */
  loaded: string[];
  /** Keys of the file that were left out on purpose, each with the reason (e.g. `num_batches_tracked`, the classifier `fc.*`). */
  ignored: {
    /** The key in the file. */
    key: string;
    /** Why it was not loaded. */
    reason: string;
  }[];
}

/** Problems shown in full in a loader's error message; the rest are counted. */
export const SHOWN_PROBLEMS = 10;

/** `[64,3,7,7]` */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Throws one Error listing the problems (the first {@link SHOWN_PROBLEMS}, then a count):
 * `fn: <source> does not fit the model '<name>'<hint>: 3 problems:\n  - …`.
 */
export function throwProblems(fn: string, source: string, modelName: string, problems: string[], hint = ''): never {
  const shown = problems.slice(0, SHOWN_PROBLEMS).map((p) => `  - ${p}`);
  if (problems.length > SHOWN_PROBLEMS) shown.push(`  … and ${problems.length - SHOWN_PROBLEMS} more`);
  const n = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  throw new Error(`${fn}: ${source} does not fit the model '${modelName}'${hint}. Nothing was loaded. ${n}:\n${shown.join('\n')}`);
}

/** The layers of a model that hold weights, nested models flattened, in order. */
export function weightedLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  const visit = (layers: tfl.layers.Layer[]) => {
    for (const l of layers) {
      if (l instanceof tfl.LayersModel) visit(l.layers);
      else if (l.weights.length > 0) out.push(l);
    }
  };
  visit(model.layers);
  return out;
}

/** The last part of a weight's name: `kernel`, `bias`, `gamma`, `moving_mean`, … */
export function weightKind(w: tfl.LayerVariable): string {
  const name = w.originalName;
  return name.slice(name.lastIndexOf('/') + 1);
}

/** The options both loaders take: the classifier names that may be ignored, and message names. */
export interface LoaderOptions {
  /** Names of classifier layers or modules that may be ignored when the model lacks them. */
  classifier?: string[];
  /** Function name that error messages start with. */
  caller?: string;
  /** How messages name the weights' source (e.g. the file). */
  source?: string;
}

/**
 * Validates a loader's options and fills in the defaults: the function name for messages, the
 * classifier names, and the source's name.
 */
export function loaderOptions(
  fn: string,
  options: LoaderOptions,
  defaults: { classifier: string[]; source: string; what: string },
): { fn: string; classifier: string[]; source: string } {
  if (options === null || typeof options !== 'object') fail(fn, 'options', 'an object like { classifier?, caller?, source? }', describeValue(options));
  if (options.caller !== undefined) {
    if (typeof options.caller !== 'string' || options.caller === '') fail(fn, 'options.caller', 'a non-empty string', describeValue(options.caller));
    fn = options.caller;
  }
  const classifier = options.classifier ?? defaults.classifier;
  if (!Array.isArray(classifier) || !classifier.every((c) => typeof c === 'string' && c !== '')) {
    fail(fn, 'options.classifier', `an array of ${defaults.what} names`, describeValue(classifier));
  }
  return { fn, classifier, source: options.source ?? defaults.source };
}

/** Checks the model and state-dict arguments of a loader. */
export function checkLoaderArgs(fn: string, model: unknown, stateDict: unknown): asserts model is tfl.LayersModel {
  if (!(model instanceof tfl.LayersModel)) fail(fn, 'model', 'a tf.LayersModel', describeValue(model));
  if (!(stateDict instanceof Map)) fail(fn, 'stateDict', 'a StateDict (a Map from weight names to {shape, dtype, data})', describeValue(stateDict));
}

/** Problems of one array as a float weight: dtype, size against the shape, non-finite values. */
export function valueProblems(key: string, t: RawTensor): string[] {
  if (t === null || typeof t !== 'object' || !Array.isArray(t.shape) || !ArrayBuffer.isView(t.data)) {
    return [`'${key}' is not a {shape, dtype, data} array (got ${describeValue(t)})`];
  }
  if (t.dtype !== 'float32' && t.dtype !== 'float64') return [`'${key}' has dtype ${t.dtype}, but a weight must be float32 (or float64)`];
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== size) return [`'${key}' has shape ${shapeText(t.shape)} (${size} values) but holds ${t.data.length} values`];
  let bad = 0;
  const data = t.data;
  // x − x is 0 for a finite x and NaN for NaN and ±Infinity (no global lookup in the loop: fast in vm contexts too).
  for (let i = 0; i < data.length; i++) if (data[i] - data[i] !== 0) bad++;
  if (bad > 0) return [`'${key}' holds ${bad} non-finite value${bad === 1 ? '' : 's'} (NaN or ±Infinity)`];
  return [];
}

/** How to make one weight of a layer from a checked array. */
export interface PlannedWeight {
  /** Key of the array in the state dict. */
  key: string;
  /** The array. */
  value: RawTensor;
  /** Permutation from the file's layout to the layer's (none: same layout); applied after `reshape`. */
  perm?: number[];
  /** Shape to view the array as before the permutation (none: its own shape). */
  reshape?: number[];
}

/** The weights of one layer, in the order of `layer.weights`. */
export interface PlannedLayer {
  layer: tfl.layers.Layer;
  weights: PlannedWeight[];
}

/**
 * Assigns every planned layer's weights (after every check has passed): arrays are copied into
 * new tensors, permuted, and given to `layer.setWeights`, inside one `tf.tidy` (nothing leaks;
 * the variables keep their own copies, so later changes to the state dict do not reach them).
 */
export function applyPlan(plan: PlannedLayer[]): void {
  tf.tidy(() => {
    for (const { layer, weights } of plan) {
      const tensors = weights.map(({ value, perm, reshape }) => {
        const shape = reshape ?? value.shape;
        if (!perm) {
          const data = value.data instanceof Float32Array ? value.data.slice() : Float32Array.from(value.data as Float64Array);
          return tf.tensor(data, shape, 'float32');
        }
        return tf.tensor(permute(value.data, shape, perm), perm.map((p) => shape[p]), 'float32');
      });
      layer.setWeights(tensors);
    }
  });
}

/**
 * Row-major `data` of `shape` (rank <= 4) with its axes permuted (output axis k = input axis
 * `perm[k]`), as a new Float32Array. On the host: ~10× faster than the cpu backend's transpose.
 */
export function permute(data: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  if (rank > 4 || perm.length !== rank) throw new Error(`permute: a permutation of rank <= 4 is needed, but got shape ${shapeText(shape)} and perm ${shapeText(perm)}.`);
  const strides = new Array<number>(rank);
  for (let k = rank - 1, s = 1; k >= 0; k--) {
    strides[k] = s;
    s *= shape[k];
  }
  // Output dims and the matching source strides, padded to rank 4 with size-1 axes in front.
  const dims = [1, 1, 1, 1];
  const st = [0, 0, 0, 0];
  perm.forEach((p, k) => {
    dims[4 - rank + k] = shape[p];
    st[4 - rank + k] = strides[p];
  });
  const out = new Float32Array(dims[0] * dims[1] * dims[2] * dims[3]);
  let idx = 0;
  for (let a = 0; a < dims[0]; a++) {
    for (let b = 0; b < dims[1]; b++) {
      for (let c = 0; c < dims[2]; c++) {
        const base = a * st[0] + b * st[1] + c * st[2];
        for (let d = 0; d < dims[3]; d++) out[idx++] = data[base + d * st[3]];
      }
    }
  }
  return out;
}

/** Checks the state-dict argument's keys are strings (a Map from a JSON-like source may not be). */
export function stateDictKeys(fn: string, stateDict: StateDict): string[] {
  const keys = [...stateDict.keys()];
  const bad = keys.find((k) => typeof k !== 'string');
  if (bad !== undefined) fail(fn, 'stateDict', 'a Map whose keys are weight names (strings)', `a key ${describeValue(bad)}`);
  return keys;
}
