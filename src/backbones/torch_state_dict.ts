/**
 * Assigning a PyTorch state dict to a tfjs-layers model whose layers are named like the
 * PyTorch modules ({@link torchvisionResNet}, {@link torchvisionMobileNetV2}): pure (no file
 * system), so it also runs in browsers on a {@link StateDict} read by other means.
 *
 * The naming rule, in one place: the tfjs layer named `M` holds the arrays `M.<param>` of the
 * state dict (tfjs layer names may contain dots, so `M` is the PyTorch module path itself, e.g.
 * `layer1.0.downsample.0`). See {@link torchKeyOf}.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { StateDict } from '../io/state_dict';
import { describeValue, fail } from '../ops/validation';
import { STAGE_TABLE } from './torchvision_resnet';
import {
  loaderOptions,
  applyPlan,
  checkLoaderArgs,
  PlannedLayer,
  PlannedWeight,
  shapeText,
  stateDictKeys,
  throwProblems,
  valueProblems,
  weightedLayers,
  weightKind,
  WeightLoadReport,
} from './weight_assignment';

/** Options of {@link assignTorchStateDict}. */
export interface AssignTorchOptions {
  /**
   * Top-level modules of a classifier that the file may hold and the model may lack: their keys
   * are ignored (and reported in `ignored`) when the model has no layer of that module.
   * Default `['fc', 'classifier']` (torchvision's ResNet and MobileNet heads).
   */
  classifier?: string[];
  /** Name put at the start of error messages (default `'assignTorchStateDict'`). */
  caller?: string;
  /** What the state dict came from, for error messages (e.g. the file's path). Default `'the state dict'`. */
  source?: string;
}

/** How one tfjs weight kind of a layer class is stored in PyTorch. */
interface TorchParam {
  /** The PyTorch parameter name (`weight`, `bias`, `running_mean`, …). */
  param: string;
  /** The PyTorch shape of a tfjs weight shape. */
  torchShape: (s: number[]) => number[];
  /** Permutation from the PyTorch layout (after `reshape`) to the tfjs one. */
  perm?: number[];
  /** View of the PyTorch array before the permutation, from the tfjs shape. */
  reshape?: (s: number[]) => number[];
}

const same = (s: number[]) => s;
const bias: TorchParam = { param: 'bias', torchShape: same };

/** tfjs layer class → tfjs weight kind → PyTorch parameter and layout. */
const TORCH_PARAMS: Record<string, Record<string, TorchParam>> = {
  // nn.Conv2d weight [out, in, kh, kw] → tfjs kernel [kh, kw, in, out].
  Conv2D: { kernel: { param: 'weight', torchShape: ([kh, kw, i, o]) => [o, i, kh, kw], perm: [2, 3, 1, 0] }, bias },
  // Depthwise nn.Conv2d (groups = in) weight [in·m, 1, kh, kw] → tfjs [kh, kw, in, m] (output channel c·m + j).
  DepthwiseConv2D: {
    depthwise_kernel: { param: 'weight', torchShape: ([kh, kw, c, m]) => [c * m, 1, kh, kw], reshape: ([kh, kw, c, m]) => [c, m, kh, kw], perm: [2, 3, 0, 1] },
    bias,
  },
  // nn.Linear weight [out, in] → tfjs kernel [in, out].
  Dense: { kernel: { param: 'weight', torchShape: ([i, o]) => [o, i], perm: [1, 0] }, bias },
  BatchNormalization: {
    gamma: { param: 'weight', torchShape: same },
    beta: { param: 'bias', torchShape: same },
    moving_mean: { param: 'running_mean', torchShape: same },
    moving_variance: { param: 'running_var', torchShape: same },
  },
};

/**
 * The state-dict key of a weight of a tfjs layer named like its PyTorch module: `conv1` +
 * `kernel` → `conv1.weight`, `layer1.0.bn1` + `moving_variance` → `layer1.0.bn1.running_var`.
 * `undefined` when the layer class or weight kind has no PyTorch counterpart here.
 *
 * @param layerName The tfjs layer name (= the PyTorch module path).
 * @param className The tfjs layer class (`Conv2D`, `DepthwiseConv2D`, `Dense`, `BatchNormalization`).
 * @param weightKind The tfjs weight name without the layer (`kernel`, `bias`, `gamma`, …).
 */
export function torchKeyOf(layerName: string, className: string, weightKind: string): string | undefined {
  const p = TORCH_PARAMS[className]?.[weightKind];
  return p === undefined ? undefined : `${layerName}.${p.param}`;
}

/** `{ stages: [3,4,6,3], bottleneck: true }` of names like `layer3.5.conv3…`, or undefined. */
function resnetLayout(names: Iterable<string>): { stages: number[]; bottleneck: boolean } | undefined {
  const stages = [0, 0, 0, 0];
  let bottleneck = false;
  let any = false;
  for (const n of names) {
    const m = /^layer([1-4])\.(\d+)\.(conv3)?/.exec(n);
    if (!m) continue;
    any = true;
    const s = Number(m[1]) - 1;
    stages[s] = Math.max(stages[s], Number(m[2]) + 1);
    if (m[3]) bottleneck = true;
  }
  return any ? { stages, bottleneck } : undefined;
}

function layoutText(l: { stages: number[]; bottleneck: boolean }): string {
  const depth = Object.entries(STAGE_TABLE).find(([, v]) => v.bottleneck === l.bottleneck && v.blocks.join() === l.stages.join())?.[0];
  const what = `${l.bottleneck ? 'Bottleneck' : 'BasicBlock'}s ${shapeText(l.stages)}`;
  return depth === undefined ? `a ResNet with ${what}` : `a ResNet-${depth} (${what})`;
}

/** A readable cause when the file and the model are ResNets of different depths or block types. */
function depthHint(fileKeys: string[], modelNames: string[]): string {
  const file = resnetLayout(fileKeys);
  const model = resnetLayout(modelNames);
  if (!file || !model) return '';
  if (file.bottleneck === model.bottleneck && file.stages.join() === model.stages.join()) return '';
  return ` (the file holds ${layoutText(file)}, the model is ${layoutText(model)}: a checkpoint of another depth?)`;
}

/**
 * Loads a PyTorch state dict into a model whose layers are named like the PyTorch modules
 * (see {@link torchKeyOf}): conv weights `[out, in, kh, kw]` are transposed to tfjs'
 * `[kh, kw, in, out]`, depthwise ones `[in, 1, kh, kw]` to `[kh, kw, in, 1]`, linear weights
 * `[out, in]` to `[in, out]`; batch-norm `weight`, `bias`, `running_mean`, `running_var` become
 * gamma, beta, moving mean and moving variance. `num_batches_tracked` is ignored, and so are the
 * classifier's arrays (`fc.*`, `classifier.*`) when the model has no such layer; both are listed
 * in the report's `ignored`.
 *
 * Everything is checked before anything is assigned: a missing weight, an unknown key, a shape
 * mismatch, a non-float or non-finite array each is a problem, and any problem throws one Error
 * that lists them (the first ten, then a count), naming each key with the expected and the found
 * shape, and saying so when the file is a ResNet of another depth. A refused state dict leaves
 * the model untouched; no tensor is left behind either way.
 *
 * @param model A `tf.LayersModel` with PyTorch-named layers (nested models are searched too).
 * @param stateDict PyTorch names to arrays in PyTorch's layout, e.g. from `readTorchStateDict`
 *   or `readSafetensors` (`s3n-layers/node`).
 * @param options `classifier` modules that may be ignored, `caller` and `source` for messages.
 * @returns which keys were loaded and which were ignored, and why.
 *
 * @example
 * ```ts
 * const backbone = torchvisionResNet(50, { inputSize: 224 });
 * const report = assignTorchStateDict(backbone, stateDict);
 * // report.loaded.length === 265; report.ignored: fc.weight, fc.bias, 53 num_batches_tracked
 * ```
 */
export function assignTorchStateDict(model: tfl.LayersModel, stateDict: StateDict, options: AssignTorchOptions = {}): WeightLoadReport {
  const { fn, classifier, source } = loaderOptions('assignTorchStateDict', options, { classifier: ['fc', 'classifier'], source: 'the state dict', what: 'module' });
  checkLoaderArgs(fn, model, stateDict);
  const keys = stateDictKeys(fn, stateDict);

  const layers = weightedLayers(model);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const mismatched: string[] = [];
  const missing: string[] = [];
  const used = new Set<string>();
  const plan: PlannedLayer[] = [];
  for (const layer of layers) {
    const cls = layer.getClassName();
    const weights: PlannedWeight[] = [];
    for (const w of layer.weights) {
      const kind = weightKind(w);
      const p = TORCH_PARAMS[cls]?.[kind];
      if (p === undefined) {
        mismatched.push(`the model's layer '${layer.name}' (${cls}) has a weight '${kind}' that no PyTorch parameter maps to`);
        continue;
      }
      const key = `${layer.name}.${p.param}`;
      const shape = w.shape as number[];
      const expected = p.torchShape(shape);
      const value = stateDict.get(key);
      if (value === undefined) {
        missing.push(`missing '${key}': the model's layer '${layer.name}' (${cls}) expects ${shapeText(expected)}`);
        continue;
      }
      used.add(key);
      const bad = valueProblems(key, value);
      if (bad.length > 0) {
        mismatched.push(...bad);
        continue;
      }
      if (shapeText(value.shape) !== shapeText(expected)) {
        mismatched.push(`shape mismatch '${key}': the model's layer '${layer.name}' expects ${shapeText(expected)}, the file has ${shapeText(value.shape)}`);
        continue;
      }
      weights.push({ key, value, perm: p.perm, reshape: p.reshape?.(shape) });
    }
    plan.push({ layer, weights });
  }

  const ignored: WeightLoadReport['ignored'] = [];
  const unexpected: string[] = [];
  const hasModule = (m: string) => layers.some((l) => l.name === m || l.name.startsWith(`${m}.`));
  for (const key of keys) {
    if (used.has(key)) continue;
    const dot = key.lastIndexOf('.');
    const module = dot < 0 ? '' : key.slice(0, dot);
    const param = key.slice(dot + 1);
    const top = key.split('.')[0];
    if (param === 'num_batches_tracked') {
      ignored.push({ key, reason: 'num_batches_tracked is a PyTorch training counter, not a weight' });
    } else if (classifier.includes(top) && !hasModule(top)) {
      ignored.push({ key, reason: `the model has no classifier '${top}' (a backbone without the file's head)` });
    } else {
      const layer = byName.get(module);
      const t = stateDict.get(key);
      const shape = t && Array.isArray(t.shape) ? ` ${shapeText(t.shape)}` : '';
      const why = layer ? `the model's layer '${module}' (${layer.getClassName()}) has no '${param}'` : `the model has no layer '${module || key}'`;
      unexpected.push(`unexpected '${key}'${shape}: ${why}`);
    }
  }
  const problems = [...mismatched, ...unexpected, ...missing];
  if (problems.length > 0) {
    let hint = depthHint(keys, layers.map((l) => l.name));
    if (hint === '' && keys.length > 0 && keys.every((k) => k.startsWith('module.'))) {
      hint = " (every key starts with 'module.': saved from nn.DataParallel; save model.module.state_dict() instead)";
    }
    throwProblems(fn, source, model.name, problems, hint);
  }
  applyPlan(plan);
  return { loaded: plan.flatMap((p) => p.weights.map((w) => w.key)), ignored };
}
