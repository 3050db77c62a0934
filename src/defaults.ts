/**
 * S3N's defaults: the authors' values (Yao-DD/S3N `sss_net.py`, `train.py`, `config.py`), in one
 * place. The ops, the layers, `S3N.create`, `S3N.createOptimizer`, the loss and the CLI (values
 * and help text) all read them from here.
 *
 * @module
 */

/**
 * The authors' hyper-parameters.
 *
 * @example
 * ```ts
 * S3N_DEFAULTS.gridSize;               // 31
 * S3N_DEFAULTS.multipliers.classifier; // 10
 * ```
 */
export const S3N_DEFAULTS = Object.freeze({
  /** Side of the square saliency maps the class response maps are resized to (`grid_size`). */
  gridSize: 31,
  /** Initial discriminative radius, a fraction of `gridSize` (`radius`). */
  radius: 0.09,
  /** Initial complementary radius (`radius_inv`). */
  radiusInv: 0.3,
  /** Constant floor of both saliency maps (`base_ratio`). */
  baseRatio: 0.09,
  /** Gate: how many top classes take part. */
  topK: 5,
  /** Gate: entropy threshold δ. */
  entropyThreshold: 0.2,
  /** Attention mode in training during the first stage (p = 0). */
  trainingMode: 'all' as const,
  /** Attention mode in evaluation after the first stage (p = 2). */
  inferenceMode: 'extreme' as const,
  /** Epoch (0-based) at which the three-stage schedule switches modes. */
  switchEpoch: 20,
  /** Replicate padding of the saliency maps in the sampler (`padding_size`). */
  paddingSize: 30,
  /** Full width at half maximum of the sampler's Gaussian filter (`makeGaussian(61, fwhm=13)`). */
  fwhm: 13,
  /** Whether the sampler's filter is learnt (the authors' `filter` conv). */
  trainableFilter: true,
  /** The conv-BN-ReLU buffers on the sampled branches (`sampler_buffer*`). */
  useBuffers: true,
  /** Batch-norm moving-average momentum, Keras convention (PyTorch's 0.1). */
  batchNormMomentum: 0.9,
  /** Batch-norm epsilon (PyTorch's). */
  batchNormEpsilon: 1e-5,
  /** Target probability of the true class in the smoothed losses (`smooth_ratio`). */
  smoothRatio: 0.85,
  /** Network input side in pixels (`image_size` of demo/cub_s3n.yml). */
  inputSize: 448,
  /** Training epochs (`max_epoch`). */
  epochs: 60,
  /** Training batch size (`batch_size`). */
  batchSize: 16,
  /** Step of the ×0.1 learning-rate decay, in epochs (`update_lr` `epoch_step`). */
  lrStep: 40,
  /** SGD base learning rate. */
  learningRate: 0.001,
  /** SGD momentum. */
  momentum: 0.9,
  /** SGD weight decay (L2 added to the gradient). */
  weightDecay: 1e-4,
  /** Learning-rate multipliers of the parameter groups. */
  multipliers: Object.freeze({
    /** Backbone, head buffers and everything else. */
    base: 1,
    /** Class response map and the three classifiers of the head. */
    classifier: 10,
    /** Both radii of the sparse attention. */
    radius: 1e-4,
    /** The sampler's filter. */
    filter: 1e-4,
  }),
});

/**
 * Named configurations of {@link S3N.create}'s model options (every option but `classes` and
 * `seed`). `authors`: the paper's network exactly as the authors' code builds it (Yao-DD/S3N
 * `sss_net.py`): 31×31 maps, radii 0.09 / 0.3, base ratio 0.09, top-5 gate at δ = 0.2, a
 * learnt 61×61 filter of width 13, the head's two 3×3 buffers, one set of batch-norm
 * statistics for the three branches, and the image as its own source. It is what every
 * option falls back to today: the library's defaults were chosen by the fine-grained ablation
 * benchmark (README, "Fine-grained ablations"), where no variant beat it by more than its
 * standard error under both protocols. Pass `preset: 'authors'` to keep this configuration
 * if a later version changes a default on new evidence; options given beside it win.
 *
 * @example
 * ```ts
 * const s3n = S3N.create(backbone, { classes: 200, preset: 'authors' });
 * S3N_PRESETS.authors.useBuffers; // true
 * ```
 */
export const S3N_PRESETS = Object.freeze({
  /** The paper's network as the authors' code builds it. */
  authors: Object.freeze({
    /** Side of the attention maps (`grid_size` 31). */
    gridSize: S3N_DEFAULTS.gridSize,
    /** Initial discriminative radius (0.09). */
    radius: S3N_DEFAULTS.radius,
    /** Initial complementary radius (0.3). */
    radiusInv: S3N_DEFAULTS.radiusInv,
    /** Floor of both saliency maps (0.09). */
    baseRatio: S3N_DEFAULTS.baseRatio,
    /** Classes of the entropy gate (5). */
    topK: S3N_DEFAULTS.topK,
    /** Entropy threshold δ of the gate (0.2). */
    entropyThreshold: S3N_DEFAULTS.entropyThreshold,
    /** Replicate padding of the sampler (30, so a 61×61 filter). */
    paddingSize: S3N_DEFAULTS.paddingSize,
    /** Width of the sampler's initial Gaussian filter (13). */
    fwhm: S3N_DEFAULTS.fwhm,
    /** The filter is learnt (true). */
    trainableFilter: S3N_DEFAULTS.trainableFilter,
    /** The head's two 3×3 conv-BN-ReLU buffers (true). */
    useBuffers: S3N_DEFAULTS.useBuffers,
    /** One set of batch-norm statistics for the three branches. */
    branchStatistics: 'shared' as const,
    /** The image is its own source (no higher-resolution source). */
    sourceSize: undefined,
  }),
});

/** The names of {@link S3N_PRESETS}. */
export type S3NPreset = keyof typeof S3N_PRESETS;

/**
 * The seed-derivation rule: with a base seed `s`, the initialiser of each weight gets
 * `s + S3N_SEED_OFFSETS[role]`. `S3N.create({seed: s})` passes `s` to the class response map
 * and the sparse attention and `s + head` to the head; the head adds its own offsets. So no two
 * weights share an initialiser seed, and a seeded model is the same on every run.
 */
export const S3N_SEED_OFFSETS = Object.freeze({
  /** The head's base seed, relative to the model's. */
  head: 100,
  /** The head's discriminative and complementary buffer kernels. */
  headBuffers: Object.freeze([10, 11] as const),
  /** The head's discriminative and complementary classifier kernels. */
  headClassifiers: Object.freeze([20, 21] as const),
  /** The head's fused classifier kernel. */
  fusedClassifier: 30,
});

/**
 * `seed + offset`, or undefined for an unseeded initialiser.
 *
 * @param seed The base seed (undefined: unseeded).
 * @param offset One of {@link S3N_SEED_OFFSETS}.
 *
 * @example
 * ```ts
 * derivedSeed(7, S3N_SEED_OFFSETS.head); // 107
 * derivedSeed(undefined, 100);           // undefined
 * ```
 */
export function derivedSeed(seed: number | undefined, offset: number): number | undefined {
  return seed === undefined ? undefined : seed + offset;
}
