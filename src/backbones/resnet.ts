/**
 * Backbones for S3N: a Keras-compatible ResNet-50, a small ResNet for tests and demos, and
 * `cutBackbone` to turn any `tf.LayersModel` into a feature extractor.
 *
 * A backbone maps images `[batch, height, width, 3]` to features `[batch, h, w, depth]`.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { checkInteger, describeValue, fail, formatShape, toSize2d } from '../ops/validation';

type Sym = tfl.SymbolicTensor;

/** Options of {@link resnet50} (and, extended, {@link smallResNet}). */
export interface ResNetOptions {
  /** Input `[height, width]` (or one side for a square input), fixed integers >= 1. Default 224. */
  inputSize?: number | [number, number];
  /** Input channels. Default 3. */
  channels?: number;
  /** Seed of the weight initialisers (each conv gets seed + its index). */
  seed?: number;
  /**
   * Moving-average momentum of the batch-norm layers, Keras convention
   * (`moving = momentum·moving + (1 − momentum)·batch`). Default 0.99 (Keras'). The authors
   * trained with PyTorch's 0.1, which is 0.9 here; use that for short trainings, where 0.99
   * leaves the inference statistics far from the batch ones.
   */
  batchNormMomentum?: number;
}

/** Builds the layer names and wiring of Keras' ResNet (v1, stride on the first 1×1 conv). */
class ResNetBuilder {
  private k = 0;
  constructor(
    private readonly seed: number | undefined,
    private readonly epsilon: number,
    private readonly momentum: number,
  ) {}

  private init() {
    return tfl.initializers.heNormal({ seed: this.seed === undefined ? undefined : this.seed + this.k++ });
  }

  conv(x: Sym, filters: number, kernel: number, strides: number, name: string, padding: 'same' | 'valid' = 'valid'): Sym {
    return tfl.layers.conv2d({ filters, kernelSize: kernel, strides, padding, name, kernelInitializer: this.init() }).apply(x) as Sym;
  }

  bn(x: Sym, name: string): Sym {
    return tfl.layers.batchNormalization({ axis: 3, epsilon: this.epsilon, momentum: this.momentum, name }).apply(x) as Sym;
  }

  relu(x: Sym, name: string): Sym {
    return tfl.layers.activation({ activation: 'relu', name }).apply(x) as Sym;
  }

  /** Keras `block1`: 1×1 (stride) → 3×3 → 1×1 (4·filters), projection shortcut when asked. */
  bottleneck(x: Sym, filters: number, stride: number, shortcut: boolean, name: string): Sym {
    const skip = shortcut ? this.bn(this.conv(x, 4 * filters, 1, stride, `${name}_0_conv`), `${name}_0_bn`) : x;
    let y = this.relu(this.bn(this.conv(x, filters, 1, stride, `${name}_1_conv`), `${name}_1_bn`), `${name}_1_relu`);
    y = this.relu(this.bn(this.conv(y, filters, 3, 1, `${name}_2_conv`, 'same'), `${name}_2_bn`), `${name}_2_relu`);
    y = this.bn(this.conv(y, 4 * filters, 1, 1, `${name}_3_conv`), `${name}_3_bn`);
    const sum = tfl.layers.add({ name: `${name}_add` }).apply([skip, y]) as Sym;
    return this.relu(sum, `${name}_out`);
  }

  /** Keras `block` of ResNet-18/34 style: 3×3 (stride) → 3×3, projection shortcut when asked. */
  basic(x: Sym, filters: number, stride: number, shortcut: boolean, name: string): Sym {
    const skip = shortcut ? this.bn(this.conv(x, filters, 1, stride, `${name}_0_conv`), `${name}_0_bn`) : x;
    let y = this.relu(this.bn(this.conv(x, filters, 3, stride, `${name}_1_conv`, 'same'), `${name}_1_bn`), `${name}_1_relu`);
    y = this.bn(this.conv(y, filters, 3, 1, `${name}_2_conv`, 'same'), `${name}_2_bn`);
    const sum = tfl.layers.add({ name: `${name}_add` }).apply([skip, y]) as Sym;
    return this.relu(sum, `${name}_out`);
  }
}

function bnMomentum(fn: string, options: ResNetOptions): number {
  const m = options.batchNormMomentum ?? 0.99;
  if (typeof m !== 'number' || !(m >= 0 && m < 1)) fail(fn, 'batchNormMomentum', 'a number in [0, 1)', describeValue(m));
  return m;
}

function inputOf(fn: string, options: ResNetOptions): Sym {
  const [h, w] = toSize2d(fn, 'inputSize', options.inputSize ?? 224);
  const channels = options.channels ?? 3;
  checkInteger(fn, 'channels', channels, 1);
  return tfl.input({ shape: [h, w, channels], name: 'input_1' });
}

/**
 * ResNet-50 with Keras' layer names (`conv1_conv`, `conv2_block1_1_conv`, …,
 * `conv5_block3_out`), without the classifier: weights converted from Keras'
 * `tf.keras.applications.ResNet50(include_top=False)` load by name. Output
 * `[batch, H/32, W/32, 2048]`. Expects Keras' "caffe" preprocessing when loading Keras weights.
 * It is the paper's backbone (ImageNet-pretrained ResNet-50 at 448×448 inputs); this function
 * builds it with random (He normal) weights.
 *
 * @example
 * ```ts
 * const backbone = resnet50({ inputSize: 448 });   // [B,448,448,3] → [B,14,14,2048]
 * ```
 */
export function resnet50(options: ResNetOptions = {}): tfl.LayersModel {
  const input = inputOf('resnet50', options);
  const b = new ResNetBuilder(options.seed, 1.001e-5, bnMomentum('resnet50', options));
  let x = tfl.layers.zeroPadding2d({ padding: 3, name: 'conv1_pad' }).apply(input) as Sym;
  x = b.relu(b.bn(b.conv(x, 64, 7, 2, 'conv1_conv'), 'conv1_bn'), 'conv1_relu');
  x = tfl.layers.zeroPadding2d({ padding: 1, name: 'pool1_pad' }).apply(x) as Sym;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }).apply(x) as Sym;
  const stacks: [number, number, number][] = [[64, 3, 1], [128, 4, 2], [256, 6, 2], [512, 3, 2]];
  stacks.forEach(([filters, blocks, stride], s) => {
    for (let i = 1; i <= blocks; i++) x = b.bottleneck(x, filters, i === 1 ? stride : 1, i === 1, `conv${s + 2}_block${i}`);
  });
  return tfl.model({ inputs: input, outputs: x, name: 'resnet50' });
}

/** Options of {@link smallResNet}: those of {@link ResNetOptions} plus the stage widths. */
export interface SmallResNetOptions extends ResNetOptions {
  /** Filters of each stage (one basic block a stage, stride 2 from the second). Default [16, 32, 64]. */
  widths?: number[];
}

/**
 * A small ResNet for tests, demos and small images: a 3×3 stem (stride 2) and one basic block
 * per stage. Output `[batch, H/2^stages, W/2^stages, widths[last]]`.
 *
 * @example
 * ```ts
 * const backbone = smallResNet({ inputSize: 64, widths: [8, 16], seed: 1 }); // → [B,16,16,16]
 * ```
 */
export function smallResNet(options: SmallResNetOptions = {}): tfl.LayersModel {
  const widths = options.widths ?? [16, 32, 64];
  if (!Array.isArray(widths) || widths.length === 0 || !widths.every((w) => Number.isInteger(w) && w >= 1)) {
    fail('smallResNet', 'widths', 'a non-empty array of positive integers', describeValue(widths));
  }
  const input = inputOf('smallResNet', options);
  const b = new ResNetBuilder(options.seed, 1e-3, bnMomentum('smallResNet', options));
  let x = b.relu(b.bn(b.conv(input, widths[0], 3, 2, 'stem_conv', 'same'), 'stem_bn'), 'stem_relu');
  widths.forEach((w, s) => {
    x = b.basic(x, w, s === 0 ? 1 : 2, s > 0, `stage${s + 1}_block1`);
  });
  return tfl.model({ inputs: input, outputs: x, name: 'small_resnet' });
}

/**
 * Cuts a model at a named layer: a new `tf.LayersModel` from the model's input to that layer's
 * output, sharing its weights. Use it to put S3N on top of any pretrained network.
 *
 * @example
 * ```ts
 * const mobilenet = await tf.loadLayersModel('file://mobilenet/model.json');
 * const backbone = cutBackbone(mobilenet, 'conv_pw_13_relu');
 * ```
 */
export function cutBackbone(model: tfl.LayersModel, layerName: string): tfl.LayersModel {
  if (!(model instanceof tfl.LayersModel)) fail('cutBackbone', 'model', 'a tf.LayersModel', describeValue(model));
  const names = model.layers.map((l) => l.name);
  if (!names.includes(layerName)) {
    const shown = names.length > 12 ? `${names.slice(0, 6).join(', ')}, …, ${names.slice(-6).join(', ')}` : names.join(', ');
    fail('cutBackbone', 'layerName', `the name of one of the model's layers (${shown})`, describeValue(layerName));
  }
  const output = model.getLayer(layerName).output;
  if (Array.isArray(output)) fail('cutBackbone', 'layerName', 'a layer with a single output', `'${layerName}' with ${output.length} outputs`);
  const rank = output.shape.length;
  if (rank !== 4) fail('cutBackbone', 'layerName', 'a layer whose output has rank 4 [batch, height, width, depth]', `'${layerName}' with output shape ${formatShape(output.shape)}`);
  return tfl.model({ inputs: model.inputs, outputs: output, name: `${model.name}_to_${layerName}` });
}
