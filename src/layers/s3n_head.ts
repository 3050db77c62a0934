/**
 * `S3NHead`: the classification head of S3N (paper sec. 3.4, eq. 6; the authors'
 * `sampler_buffer`, `sampler_buffer1`, the three branch classifiers and `con_classifier`).
 *
 * The discriminative and complementary features each pass a "buffer" (3×3 conv, stride 2,
 * padding 1, no bias → batch norm → ReLU) and are average-pooled; each has its own linear
 * classifier, and a fused classifier reads the concatenation of the pooled original,
 * discriminative and complementary features.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkBoolean, checkInteger, checkPositive, fail } from '../ops/validation';
import { checkShapeRank, isTraining, Kwargs, LayerArgs, registerLayer, Shape, shapeList, tensorList } from './common';
import { derivedSeed, S3N_DEFAULTS as D, S3N_SEED_OFFSETS } from '../defaults';

/** Constructor arguments of {@link S3NHead} (plus `LayerArgs`). */
export interface S3NHeadArgs extends LayerArgs {
  /** Number of classes (>= 2). */
  classes: number;
  /** Use the conv-BN-ReLU buffers on the two sampled branches, as the authors do. Default true. */
  useBuffers?: boolean;
  /** Moving-average momentum of the buffers' batch norm, Keras convention (PyTorch's 0.1 is 0.9 here). Default 0.9. */
  momentum?: number;
  /** Batch-norm epsilon. Default 1e-5 (PyTorch's). */
  epsilon?: number;
  /** Seed of the weight initialisers. */
  seed?: number;
}

interface Buffer {
  kernel: tfl.LayerVariable;
  gamma: tfl.LayerVariable;
  beta: tfl.LayerVariable;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

interface Linear {
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable;
}

/** The order of the logits {@link S3NHead} stacks along axis 1. */
export const S3N_HEAD_OUTPUTS = ['fused', 'discriminative', 'complementary'] as const;

/**
 * Inputs `[original, discriminative, complementary]` features, each
 * `[batch, height, width, depth]`. Output: the `[fused, discriminative, complementary]` logits
 * stacked along axis 1, `[batch, 3, classes]` ({@link S3N_HEAD_OUTPUTS}; split them with
 * {@link Select}, as `S3N.create` does). One output, so that tfjs-layers runs the head once per
 * forward pass and its batch-norm statistics move once per step. The raw logits of the
 * original branch come from {@link ClassResponseMap}.
 *
 * Per branch (§3.4): the discriminative and complementary features pass their buffer
 * (3×3 conv stride 2 → batch norm → ReLU, when `useBuffers`), every branch is average-pooled to
 * `[batch, depth]`; `discriminative = dense(pooledDisc)`, `complementary = dense(pooledComp)`
 * and `fused = dense(concat(pooledOriginal, pooledDisc, pooledComp))` (`3·depth` inputs). The
 * batch norm uses batch statistics and updates its moving averages when called with
 * `training: true`, and the moving averages otherwise.
 *
 * Weights: `{discriminative,complementary}_buffer_{kernel,gamma,beta}` (kernel
 * `[3, 3, depth, depth]`, He normal) plus the non-trainable `..._buffer_moving_{mean,variance}`,
 * `{discriminative,complementary,fused}_classifier_{kernel,bias}` (Glorot uniform, zeros).
 *
 * @example
 * ```ts
 * const head = new S3NHead({ classes: 200 });
 * const logits = head.apply([fRaw, fZoom, fInv], { training: true }) as tf.Tensor3D; // [batch, 3, classes]
 * const [fused, disc, comp] = tf.unstack(logits, 1);
 * ```
 */
export class S3NHead extends tfl.layers.Layer {
  /** Name under which the class is registered for serialisation: `'S3NHead'`. */
  static className = 'S3NHead';
  /** Number of classes: the width of each output. */
  readonly classes: number;
  /** Whether the two sampled branches pass a conv-BN-ReLU buffer before pooling. */
  readonly useBuffers: boolean;
  /** Moving-average momentum of the buffers' batch norm (Keras convention). */
  readonly momentum: number;
  /** Batch-norm epsilon of the buffers. */
  readonly epsilon: number;
  /** Base seed of the initialisers (each weight gets its own offset), if one was given. */
  readonly seed?: number;
  private buffers: Buffer[] = [];
  private classifiers: Linear[] = [];
  private fused!: Linear;

  constructor(args: S3NHeadArgs) {
    super(args);
    const fn = 'S3NHead';
    if (args == null || typeof args !== 'object') fail(fn, 'args', 'an object with at least {classes}', String(args));
    checkInteger(fn, 'classes', args.classes, 2);
    this.classes = args.classes;
    this.useBuffers = args.useBuffers ?? D.useBuffers;
    checkBoolean(fn, 'useBuffers', this.useBuffers);
    this.momentum = args.momentum ?? D.batchNormMomentum;
    if (!(this.momentum >= 0 && this.momentum < 1)) fail(fn, 'momentum', 'a number in [0, 1)', String(args.momentum));
    this.epsilon = args.epsilon ?? D.batchNormEpsilon;
    checkPositive(fn, 'epsilon', this.epsilon);
    this.seed = args.seed;
  }

  private checkShapes(inputShape: Shape | Shape[]): number {
    const shapes = shapeList('S3NHead', inputShape, 3, 'original, discriminative, complementary features');
    const names = ['original', 'discriminative', 'complementary'];
    shapes.forEach((s, i) => checkShapeRank('S3NHead', `${names[i]} features`, s, 4, '[batch, height, width, depth]'));
    const depth = shapes[0][3];
    if (depth == null) fail('S3NHead', 'original features', 'a known depth (last dimension)', 'null');
    shapes.forEach((s, i) => {
      if (s[3] !== depth) fail('S3NHead', `${names[i]} features`, `of depth ${depth} like the original features`, `depth ${s[3]}`);
    });
    return depth;
  }


  override build(inputShape: Shape | Shape[]): void {
    const d = this.checkShapes(inputShape);
    const linear = (name: string, fanIn: number, k: number): Linear => ({
      kernel: this.addWeight(`${name}_kernel`, [fanIn, this.classes], 'float32', tfl.initializers.glorotUniform({ seed: derivedSeed(this.seed, k) })),
      bias: this.addWeight(`${name}_bias`, [this.classes], 'float32', tfl.initializers.zeros()),
    });
    const branches = ['discriminative', 'complementary'];
    if (this.useBuffers) {
      this.buffers = branches.map((b, i) => ({
        kernel: this.addWeight(`${b}_buffer_kernel`, [3, 3, d, d], 'float32', tfl.initializers.heNormal({ seed: derivedSeed(this.seed, S3N_SEED_OFFSETS.headBuffers[i]) })),
        gamma: this.addWeight(`${b}_buffer_gamma`, [d], 'float32', tfl.initializers.ones()),
        beta: this.addWeight(`${b}_buffer_beta`, [d], 'float32', tfl.initializers.zeros()),
        movingMean: this.addWeight(`${b}_buffer_moving_mean`, [d], 'float32', tfl.initializers.zeros(), undefined, false),
        movingVariance: this.addWeight(`${b}_buffer_moving_variance`, [d], 'float32', tfl.initializers.ones(), undefined, false),
      }));
    }
    this.classifiers = branches.map((b, i) => linear(`${b}_classifier`, d, S3N_SEED_OFFSETS.headClassifiers[i]));
    this.fused = linear('fused_classifier', 3 * d, S3N_SEED_OFFSETS.fusedClassifier);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    this.checkShapes(inputShape);
    const batch = (inputShape as Shape[])[0][0];
    return [batch, 3, this.classes];
  }

  /**
   * The kernels and biases of the three classifiers (built layer): with the class response map,
   * the authors' ×10 learning-rate group.
   */
  get classifierWeights(): tfl.LayerVariable[] {
    if (!this.built) return [];
    return [...this.classifiers, this.fused].flatMap((l) => [l.kernel, l.bias]);
  }

  /** 3×3 conv (stride 2, padding 1 as in PyTorch) → batch norm → ReLU. Updates the moving statistics when training. */
  private buffer(x: tf.Tensor4D, b: Buffer, training: boolean): tf.Tensor4D {
    const conv = tf.conv2d(x, b.kernel.read() as tf.Tensor4D, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    if (training) {
      ({ mean, variance } = tf.moments(conv, [0, 1, 2]));
      const n = conv.size / conv.shape[3];
      const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance; // PyTorch's running_var
      const m = this.momentum;
      b.movingMean.write(tf.tidy(() => tf.add(tf.mul(b.movingMean.read(), m), tf.mul(mean, 1 - m))));
      b.movingVariance.write(tf.tidy(() => tf.add(tf.mul(b.movingVariance.read(), m), tf.mul(unbiased, 1 - m))));
    } else {
      mean = b.movingMean.read();
      variance = b.movingVariance.read();
    }
    return tf.relu(tf.batchNorm(conv, mean, variance, b.beta.read(), b.gamma.read(), this.epsilon)) as tf.Tensor4D;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const [raw, disc, comp] = tensorList('S3NHead', inputs, 3, 'original, discriminative, complementary features') as tf.Tensor4D[];
      if (disc.shape[0] !== raw.shape[0] || comp.shape[0] !== raw.shape[0]) {
        fail('S3NHead', 'inputs', `three feature maps with the same batch size`, `batches ${raw.shape[0]}, ${disc.shape[0]}, ${comp.shape[0]}`);
      }
      const training = isTraining(kwargs);
      const pooled = [raw, disc, comp].map((f, i) => tf.mean(i > 0 && this.useBuffers ? this.buffer(f, this.buffers[i - 1], training) : f, [1, 2]));
      const dense = (x: tf.Tensor, l: Linear) => tf.add(tf.matMul(x, l.kernel.read()), l.bias.read());
      return tf.stack([dense(tf.concat(pooled, 1), this.fused), dense(pooled[1], this.classifiers[0]), dense(pooled[2], this.classifiers[1])], 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      classes: this.classes,
      useBuffers: this.useBuffers,
      momentum: this.momentum,
      epsilon: this.epsilon,
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
    };
  }
}
registerLayer(S3NHead);
