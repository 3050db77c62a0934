/**
 * torchvision's ResNets (`torchvision.models.resnet18` … `resnet152`) as tfjs-layers models,
 * layer for layer, with layer names equal to torchvision's module names, so that a PyTorch state
 * dict loads by name ({@link assignTorchStateDict}, `loadTorchWeights` in `s3n-layers/node`).
 *
 * Padding: PyTorch pads symmetrically (`padding=1` adds one row on top and one at the bottom).
 * tfjs' `'same'` puts the extra row of an odd total at the bottom/right, which differs from
 * PyTorch for stride-2 layers on even inputs (and for every stride-2 layer whose total padding is
 * odd). Every stride-2 convolution and the max-pool therefore get an explicit `zeroPadding2d`
 * followed by a `'valid'` layer; stride-1 3×3 convolutions keep `'same'`, whose total padding (2)
 * is even and so split evenly, exactly like PyTorch's `padding=1`.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { checkOneOf, describeValue, fail, toSize2d } from '../ops/validation';

type Sym = tfl.SymbolicTensor;

/** The depths of torchvision's ResNets. */
export const TORCHVISION_RESNET_DEPTHS = [18, 34, 50, 101, 152] as const;

/** A depth of {@link torchvisionResNet}: 18, 34 (BasicBlock) or 50, 101, 152 (Bottleneck). */
export type TorchvisionResNetDepth = (typeof TORCHVISION_RESNET_DEPTHS)[number];

/** Options of {@link torchvisionResNet}. */
export interface TorchvisionResNetOptions {
  /** Input `[height, width]` (or one side for a square input), fixed integers >= 1. Required. */
  inputSize: number | [number, number];
  /** Seed of the weight initialisers (each conv gets seed + its index). Default: unseeded. */
  seed?: number;
  /**
   * Moving-average momentum of the batch-norm layers, Keras convention
   * (`moving = momentum·moving + (1 − momentum)·batch`). Default 0.9, which is PyTorch's default
   * `momentum=0.1` (PyTorch's convention is the weight of the new batch), the value the weights
   * of torchvision were trained with and the authors of S3N fine-tuned with.
   */
  batchNormMomentum?: number;
  /** Name of the model. Default `torchvision_resnet<depth>`. */
  name?: string;
  /**
   * `'random'` (default): convolutions He normal with fan-out, as torchvision. `'zeros'`: all
   * convolution weights 0, for a model whose weights are loaded right after (skips drawing the
   * random numbers: 25 M for ResNet-50).
   */
  initializer?: 'random' | 'zeros';
}

/** Blocks per stage (layer1 … layer4) and the block type of each depth (torchvision's table). @internal */
export const STAGE_TABLE: Record<TorchvisionResNetDepth, { blocks: [number, number, number, number]; bottleneck: boolean }> = {
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
  101: { blocks: [3, 4, 23, 3], bottleneck: true },
  152: { blocks: [3, 8, 36, 3], bottleneck: true },
};

/** PyTorch's `nn.BatchNorm2d` epsilon. */
const TORCH_BN_EPSILON = 1e-5;

/**
 * Builds torchvision-named conv / batch-norm / ReLU layers. The layers that hold weights are
 * named exactly like torchvision's modules (`layer1.0.conv1`); the others get a suffix that no
 * torchvision module has (`layer1.0.conv2_pad`, `layer1.0.relu1`, `layer1.0.add`).
 */
export class TorchLayerBuilder {
  private k = 0;
  constructor(
    private readonly seed: number | undefined,
    private readonly momentum: number,
    private readonly zeros = false,
  ) {}

  /** torchvision's conv init: `kaiming_normal_(mode='fan_out', nonlinearity='relu')` (tfjs draws it truncated). */
  private init() {
    if (this.zeros) return tfl.initializers.zeros();
    return tfl.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'normal', seed: this.seed === undefined ? undefined : this.seed + this.k++ });
  }

  /**
   * `nn.Conv2d(in, filters, kernel, stride, padding=pad, bias=False, groups=1 or depthwise)` as
   * tfjs layers: a stride-1 convolution whose padding is `(kernel − 1) / 2` is `'same'` (even
   * total, split evenly); any other padded one is `zeroPadding2d(pad)` + `'valid'`.
   */
  conv(x: Sym, filters: number, kernel: number, stride: number, pad: number, name: string, depthwise = false): Sym {
    let input = x;
    let padding: 'same' | 'valid' = 'valid';
    if (pad > 0 && stride === 1 && 2 * pad === kernel - 1) padding = 'same';
    else if (pad > 0) input = tfl.layers.zeroPadding2d({ padding: pad, name: `${name}_pad` }).apply(x) as Sym;
    const common = { kernelSize: kernel, strides: stride, padding, useBias: false, name };
    const layer = depthwise
      ? tfl.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: this.init() })
      : tfl.layers.conv2d({ ...common, filters, kernelInitializer: this.init() });
    return layer.apply(input) as Sym;
  }

  /** `nn.BatchNorm2d` (eps 1e-5; weight 1, bias 0, as torchvision initialises it). */
  bn(x: Sym, name: string): Sym {
    return tfl.layers.batchNormalization({ axis: 3, epsilon: TORCH_BN_EPSILON, momentum: this.momentum, name }).apply(x) as Sym;
  }

  /** `nn.ReLU` (or `nn.ReLU6`). */
  relu(x: Sym, name: string, six = false): Sym {
    return tfl.layers.activation({ activation: six ? 'relu6' : 'relu', name }).apply(x) as Sym;
  }

  /** Elementwise sum (the residual connection). */
  add(a: Sym, b: Sym, name: string): Sym {
    return tfl.layers.add({ name }).apply([a, b]) as Sym;
  }

  /** torchvision `BasicBlock`: 3×3 (stride) → 3×3, `downsample` = 1×1 conv (stride) + BN. */
  basic(x: Sym, planes: number, stride: number, downsample: boolean, name: string): Sym {
    let y = this.relu(this.bn(this.conv(x, planes, 3, stride, 1, `${name}.conv1`), `${name}.bn1`), `${name}.relu1`);
    y = this.bn(this.conv(y, planes, 3, 1, 1, `${name}.conv2`), `${name}.bn2`);
    // Built after the main path: the layers (and the weights) come in torchvision's module order.
    const skip = downsample ? this.bn(this.conv(x, planes, 1, stride, 0, `${name}.downsample.0`), `${name}.downsample.1`) : x;
    return this.relu(this.add(y, skip, `${name}.add`), `${name}.relu`);
  }

  /**
   * torchvision `Bottleneck` (ResNet v1.5: the stride is on the 3×3 `conv2`): 1×1 → 3×3 (stride)
   * → 1×1 (4·planes), `downsample` = 1×1 conv (stride) + BN.
   */
  bottleneck(x: Sym, planes: number, stride: number, downsample: boolean, name: string): Sym {
    let y = this.relu(this.bn(this.conv(x, planes, 1, 1, 0, `${name}.conv1`), `${name}.bn1`), `${name}.relu1`);
    y = this.relu(this.bn(this.conv(y, planes, 3, stride, 1, `${name}.conv2`), `${name}.bn2`), `${name}.relu2`);
    y = this.bn(this.conv(y, 4 * planes, 1, 1, 0, `${name}.conv3`), `${name}.bn3`);
    const skip = downsample ? this.bn(this.conv(x, 4 * planes, 1, stride, 0, `${name}.downsample.0`), `${name}.downsample.1`) : x;
    return this.relu(this.add(y, skip, `${name}.add`), `${name}.relu`);
  }
}

/** Checks `batchNormMomentum` (default 0.9, PyTorch's 0.1). @internal */
export function torchBatchNormMomentum(fn: string, value: unknown): number {
  const m = value ?? 0.9;
  if (typeof m !== 'number' || !(m >= 0 && m < 1)) fail(fn, 'options.batchNormMomentum', 'a number in [0, 1)', describeValue(m));
  return m;
}

/** Checks the options object and the model name of a torchvision builder. @internal */
export function checkTorchOptions(fn: string, options: unknown, defaultName: string): { size: [number, number]; name: string; seed?: number; zeros: boolean } {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    fail(fn, 'options', 'an object like { inputSize: 224 }', describeValue(options));
  }
  const o = options as { inputSize?: unknown; seed?: unknown; name?: unknown; initializer?: unknown };
  if (o.inputSize === undefined) fail(fn, 'options.inputSize', 'a positive integer or a [height, width] pair of positive integers', 'undefined');
  const size = toSize2d(fn, 'options.inputSize', o.inputSize);
  if (o.seed !== undefined && (typeof o.seed !== 'number' || !Number.isInteger(o.seed))) fail(fn, 'options.seed', 'an integer or undefined', describeValue(o.seed));
  const name = o.name ?? defaultName;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][-A-Za-z0-9._/]*$/.test(name)) {
    fail(fn, 'options.name', 'a name of letters, digits, -, ., _ and / that starts with a letter or digit', describeValue(name));
  }
  const init = o.initializer ?? 'random';
  checkOneOf(fn, 'options.initializer', init, ['random', 'zeros'] as const);
  return { size, name, seed: o.seed as number | undefined, zeros: init === 'zeros' };
}

/**
 * torchvision's ResNet-18/34/50/101/152 without `avgpool` and `fc`: images
 * `[batch, H, W, 3]` (RGB, ImageNet mean/std normalised, as torchvision's weights expect) →
 * layer4 features `[batch, ceil(H/32), ceil(W/32), C]`, C = 512 for depth 18 and 34, 2048 for
 * 50, 101 and 152 (`[batch, H/32, W/32, C]` when 32 divides H and W).
 *
 * The architecture is torchvision's exactly: a 7×7/2 stem convolution (padding 3, no bias), BN,
 * ReLU, a 3×3/2 max-pool (padding 1), four stages of `BasicBlock`s (18, 34) or v1.5
 * `Bottleneck`s (stride on the 3×3 convolution), downsample = 1×1 convolution (stride) + BN,
 * batch-norm epsilon 1e-5, convolutions without bias. Layers with weights are named like
 * torchvision's modules (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`, …), so a
 * torchvision state dict (`resnet50-0676ba61.pth`, timm's `.safetensors`) loads by name with
 * `loadTorchWeights` (`s3n-layers/node`) or {@link assignTorchStateDict}. Built with random
 * weights (convolutions: He normal with fan-out, as torchvision; BN: weight 1, bias 0).
 *
 * @param depth 18, 34, 50, 101 or 152.
 * @param options `inputSize` (required), `seed`, `batchNormMomentum` (default 0.9 = PyTorch's
 *   0.1), `name`, `initializer` (`'zeros'` to skip the random draws before loading weights).
 * @returns a `tf.LayersModel` `[batch, H, W, 3] → [batch, ceil(H/32), ceil(W/32), C]`.
 *
 * @example
 * ```ts
 * const backbone = torchvisionResNet(50, { inputSize: 448 }); // [B,448,448,3] → [B,14,14,2048]
 * await loadTorchWeights(backbone, 'resnet50-0676ba61.pth');  // s3n-layers/node
 * const s3n = S3N.create(backbone, { classes: 200 });
 * ```
 */
export function torchvisionResNet(depth: TorchvisionResNetDepth, options: TorchvisionResNetOptions): tfl.LayersModel {
  const fn = 'torchvisionResNet';
  if (!(TORCHVISION_RESNET_DEPTHS as readonly unknown[]).includes(depth)) fail(fn, 'depth', `one of ${TORCHVISION_RESNET_DEPTHS.join(', ')}`, describeValue(depth));
  const { size, name, seed, zeros } = checkTorchOptions(fn, options, `torchvision_resnet${depth}`);
  const b = new TorchLayerBuilder(seed, torchBatchNormMomentum(fn, options.batchNormMomentum), zeros);
  const input = tfl.input({ shape: [size[0], size[1], 3], name: 'input' });
  let x = b.relu(b.bn(b.conv(input, 64, 7, 2, 3, 'conv1'), 'bn1'), 'relu');
  // PyTorch pads the max-pool with -inf; zero padding gives the same maximum here because its
  // input comes out of a ReLU (every value >= 0, so a padded 0 never exceeds the window's max).
  x = tfl.layers.zeroPadding2d({ padding: 1, name: 'maxpool_pad' }).apply(x) as Sym;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid', name: 'maxpool' }).apply(x) as Sym;
  const { blocks, bottleneck } = STAGE_TABLE[depth];
  const expansion = bottleneck ? 4 : 1;
  let channels = 64;
  blocks.forEach((n, s) => {
    const planes = 64 * 2 ** s;
    for (let i = 0; i < n; i++) {
      const stride = i === 0 && s > 0 ? 2 : 1;
      const downsample = i === 0 && (stride !== 1 || channels !== planes * expansion);
      const blockName = `layer${s + 1}.${i}`;
      x = bottleneck ? b.bottleneck(x, planes, stride, downsample, blockName) : b.basic(x, planes, stride, downsample, blockName);
      channels = planes * expansion;
    }
  });
  return tfl.model({ inputs: input, outputs: x, name });
}
