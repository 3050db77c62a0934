/**
 * The whole network against the authors' `S3N.forward` (golden README, section f): a tiny
 * backbone (conv 3×3/2 → ReLU → conv 3×3/2 → ReLU, width 8) with every parameter loaded from
 * `s3n_forward__p{0,2}.json`, one forward pass in training mode, `multi_smooth_loss` and one
 * backward pass. Checked: the four logits, the loss, the gradient of every parameter, the
 * buffers' batch-norm running statistics after the step, and the weights after one SGD step of
 * `S3N.trainStep` (which pins the parameter groups' learning-rate multipliers and the weight
 * decay). This pins the wiring, the head, the loss and every gradient path, not only the radii.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../../src/wasm-training';
import { S3N, s3nLoss, leanVariableGrads } from '../../src';
import { entry, GoldenCase, goldenNHWC, goldenTensor, loadGolden } from '../helpers/golden';
import { CloseOptions, expectClose } from '../helpers/numeric';
import { onBackend, TEST_BACKENDS } from '../helpers/backends';

type Sym = tfl.SymbolicTensor;

/** The golden backbone: PyTorch pads the stride-2 convs by 1 on every side (tfjs 'same' would not). */
function tinyBackbone(): tfl.LayersModel {
  const input = tfl.input({ shape: [32, 32, 3] });
  let x: Sym = input;
  for (const name of ['features_0', 'features_2']) {
    x = tfl.layers.zeroPadding2d({ padding: 1 }).apply(x) as Sym;
    x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, activation: 'relu', name }).apply(x) as Sym;
  }
  return tfl.model({ inputs: input, outputs: x, name: 'tiny_backbone' });
}

/** tfjs weight name → [torch parameter name, PyTorch → tfjs layout change]. */
const conv = (t: tf.Tensor) => tf.transpose(t, [2, 3, 1, 0]); // [out, in, kh, kw] → [kh, kw, in, out]
const linear = (t: tf.Tensor) => tf.transpose(t); // [out, in] → [in, out]
const same = (t: tf.Tensor) => t;
const PARAMS: Record<string, [string, (t: tf.Tensor) => tf.Tensor]> = {
  'features_0/kernel': ['features.0.weight', conv],
  'features_0/bias': ['features.0.bias', same],
  'features_2/kernel': ['features.2.weight', conv],
  'features_2/bias': ['features.2.bias', same],
  'class_response_map/kernel': ['raw_classifier.weight', linear],
  'class_response_map/bias': ['raw_classifier.bias', same],
  'sparse_attention/radius': ['radius.scale', same],
  'sparse_attention/radius_inv': ['radius_inv.scale', same],
  'saliency_sampler/filter': ['filter.weight', (t) => tf.reshape(t, [61, 61])],
  's3n_head/discriminative_buffer_kernel': ['sampler_buffer.0.weight', conv],
  's3n_head/discriminative_buffer_gamma': ['sampler_buffer.1.weight', same],
  's3n_head/discriminative_buffer_beta': ['sampler_buffer.1.bias', same],
  's3n_head/discriminative_buffer_moving_mean': ['sampler_buffer.1.running_mean', same],
  's3n_head/discriminative_buffer_moving_variance': ['sampler_buffer.1.running_var', same],
  's3n_head/complementary_buffer_kernel': ['sampler_buffer1.0.weight', conv],
  's3n_head/complementary_buffer_gamma': ['sampler_buffer1.1.weight', same],
  's3n_head/complementary_buffer_beta': ['sampler_buffer1.1.bias', same],
  's3n_head/complementary_buffer_moving_mean': ['sampler_buffer1.1.running_mean', same],
  's3n_head/complementary_buffer_moving_variance': ['sampler_buffer1.1.running_var', same],
  's3n_head/discriminative_classifier_kernel': ['sampler_classifier.weight', linear],
  's3n_head/discriminative_classifier_bias': ['sampler_classifier.bias', same],
  's3n_head/complementary_classifier_kernel': ['sampler_classifier1.weight', linear],
  's3n_head/complementary_classifier_bias': ['sampler_classifier1.bias', same],
  's3n_head/fused_classifier_kernel': ['con_classifier.weight', linear],
  's3n_head/fused_classifier_bias': ['con_classifier.bias', same],
};

/**
 * Golden tolerances (README section f): logits, loss and layer gradients atol 1e-4; radii rtol
 * 5e-2 (p0) / 2e-3 (p2); the filter gradient is informational, checked as a relative L2 error.
 * Its bound is 5e-2 at p0 (measured 9.8e-3 on cpu and wasm) and 1e-1 at p2, where the
 * reference's own float32 and float64 runs differ by 2.7e-2 (its gradient comes mostly from grid
 * points on the clamp boundary): measured 2.9e-2 on cpu, 6.9e-2 on wasm.
 * Running means atol 1e-5 (measured ≤ 7.6e-6). Running variances (values ~2) rtol 1e-4: the
 * variance of a buffer's 48 conv outputs is the quantity most sensitive to the resampled
 * images, which the reference itself reproduces only to 1.2e-4 between float32 and float64;
 * measured ≤ 1.1e-4 absolute (5e-5 relative). Leaving out Bessel's correction moves it by ~2 %.
 */
const TOL: Record<'all' | 'extreme', { radius: CloseOptions; filterRelL2: number }> = {
  all: { radius: { rtol: 5e-2 }, filterRelL2: 5e-2 },
  extreme: { radius: { rtol: 2e-3 }, filterRelL2: 1e-1 },
};
const LAYER = { atol: 1e-4 };
const RUNNING = { mean: { atol: 1e-5 }, variance: { rtol: 1e-4 } };

/** ‖a − b‖ / ‖b‖. */
function relL2(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.div(tf.norm(tf.sub(a, b)), tf.norm(b)).dataSync()[0]);
}

/** A golden entry (torch layout) converted to the tfjs layout of `weight`. */
function goldenFor(gold: GoldenCase, weight: string, prefix: 'param:' | 'grad:' | 'after:'): tf.Tensor {
  const [torchName, toTfjs] = PARAMS[weight];
  return tf.tidy(() => toTfjs(goldenTensor(gold, prefix + torchName)));
}

/** S3N on the tiny backbone with every parameter (and BN running statistic) from the golden file. */
function goldenS3N(gold: GoldenCase, mode: 'all' | 'extreme'): S3N {
  const s3n = S3N.create(tinyBackbone(), {
    classes: gold.params.classes as number,
    radius: 0.5, // overwritten below: the loaded values are what counts
    radiusInv: 0.5,
    baseRatio: gold.params.base_ratio as number,
    trainableFilter: true,
    seed: 1,
  });
  const names = s3n.model.weights.map((w) => w.originalName).sort();
  expect(names).toEqual(Object.keys(PARAMS).sort());
  for (const w of s3n.model.weights) {
    const value = goldenFor(gold, w.originalName, 'param:');
    w.write(value);
    value.dispose();
  }
  s3n.setModes({ training: mode });
  return s3n;
}

/** {@link expectClose}, with the failing quantity named in the message. */
function expectGolden(actual: tf.Tensor, expected: tf.Tensor, opts: CloseOptions, what: string): number {
  try {
    return expectClose(actual, expected, opts);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
}

describe.each(TEST_BACKENDS)('whole-network parity with the authors\' S3N.forward on the %s backend', (backend) => {
  onBackend(backend);

  describe.each([
    ['s3n_forward__p0', 'all'],
    ['s3n_forward__p2', 'extreme'],
  ] as const)('%s (%s mode)', (file, mode) => {
    const gold = loadGolden(file);
    const outputs = ['fused', 'raw', 'discriminative', 'complementary'] as const;

    it('logits, loss, every gradient and the buffers\' running statistics', () => {
      const errors: Record<string, number> = {};
      const s3n = goldenS3N(gold, mode);
      const image = goldenNHWC(gold, 'image');
      const labels = goldenTensor(gold, 'labels') as tf.Tensor1D;
      const variables = s3n.model.trainableWeights.map((w) => w.read() as tf.Variable);
      let logits: tf.Tensor[] = [];
      // The gradient path S3N.trainStep takes.
      const { value, grads } = leanVariableGrads(() => {
        const outs = s3n.model.apply(image, { training: true }) as tf.Tensor2D[];
        logits = outs.map((o) => tf.keep(o));
        return s3nLoss(outs, labels);
      }, variables);
      outputs.forEach((name, i) => {
        errors[name] = expectGolden(logits[i], goldenTensor(gold, name), { atol: 1e-4 }, name);
      });
      errors.loss = expectGolden(tf.reshape(value, [1]), goldenTensor(gold, 'loss'), { atol: 1e-4 }, 'loss');
      for (const w of s3n.model.trainableWeights) {
        const g = grads[(w.read() as tf.Variable).name];
        if (g == null) throw new Error(`no gradient for ${w.originalName}`);
        const ref = goldenFor(gold, w.originalName, 'grad:');
        if (w.originalName === 'saliency_sampler/filter') {
          const rel = relL2(g, ref);
          expect(rel).toBeLessThan(TOL[mode].filterRelL2);
          errors[`${w.originalName} (rel-L2)`] = rel;
        } else {
          const radius = w.originalName.startsWith('sparse_attention/');
          errors[w.originalName] = expectGolden(g, ref, radius ? TOL[mode].radius : LAYER, `grad ${w.originalName}`);
        }
      }
      for (const w of s3n.model.weights.filter((x) => /moving_(mean|variance)$/.test(x.originalName))) {
        const tol = w.originalName.endsWith('mean') ? RUNNING.mean : RUNNING.variance;
        errors[`after ${w.originalName}`] = expectGolden(w.read(), goldenFor(gold, w.originalName, 'after:'), tol, `after ${w.originalName}`);
      }
      // S3N_GOLDEN_REPORT=1 prints the table of maximum errors.
      if (process.env.S3N_GOLDEN_REPORT) console.log(`${backend} ${file}\n${Object.entries(errors).map(([k, e]) => `  ${k}: ${e.toExponential(2)}`).join('\n')}`);
      tf.dispose([value, image, labels, ...logits, ...Object.values(grads)]);
      s3n.dispose();
    });

    it('S3N.trainStep applies the authors\' SGD step: w - lr·multiplier·(grad + weightDecay·w)', () => {
      const s3n = goldenS3N(gold, mode);
      const image = goldenNHWC(gold, 'image');
      const labels = goldenTensor(gold, 'labels') as tf.Tensor1D;
      const lr = 0.01;
      const weightDecay = 1e-4;
      const optimizer = s3n.createOptimizer({ learningRate: lr, weightDecay });
      const multiplier = new Map<string, number>();
      optimizer.groups.forEach((g) => g.variables.forEach((v) => multiplier.set(v.name, g.lrMultiplier)));
      // The authors' groups: classifiers ×10, radii and filter ×1e-4, the rest ×1.
      const expectedMultiplier = (name: string) =>
        /^(class_response_map|s3n_head\/\w+_classifier)/.test(name) ? 10 : /^(sparse_attention|saliency_sampler)\//.test(name) ? 1e-4 : 1;
      tf.dispose(s3n.trainStep(image, labels, optimizer));
      for (const w of s3n.model.trainableWeights) {
        const m = multiplier.get((w.read() as tf.Variable).name);
        expect([w.originalName, m]).toEqual([w.originalName, expectedMultiplier(w.originalName)]);
        const expected = tf.tidy(() => {
          const w0 = goldenFor(gold, w.originalName, 'param:');
          const g = goldenFor(gold, w.originalName, 'grad:');
          return tf.sub(w0, tf.mul(lr * m!, tf.add(g, tf.mul(weightDecay, w0))));
        });
        // The gradient tolerances, scaled by the step lr·m.
        const delta = tf.tidy(() => tf.sub(w.read(), goldenFor(gold, w.originalName, 'param:')));
        const expectedDelta = tf.tidy(() => tf.sub(expected, goldenFor(gold, w.originalName, 'param:')));
        if (w.originalName === 'saliency_sampler/filter') expect(relL2(delta, expectedDelta)).toBeLessThan(TOL[mode].filterRelL2);
        else {
          const radius = w.originalName.startsWith('sparse_attention/');
          expectGolden(delta, expectedDelta, radius ? TOL[mode].radius : { atol: lr * m! * 1.1e-4 }, `step of ${w.originalName}`);
        }
        tf.dispose([expected, delta, expectedDelta]);
      }
      optimizer.dispose();
      tf.dispose([image, labels]);
      s3n.dispose();
    });
  });
});

describe('golden whole-network file', () => {
  it('holds every parameter the tfjs model has, and nothing else', () => {
    const gold = loadGolden('s3n_forward__p0');
    const torchParams = Object.keys(gold.inputs).filter((k) => k.startsWith('param:')).map((k) => k.slice(6)).sort();
    expect(torchParams).toEqual(Object.values(PARAMS).map(([t]) => t).sort());
    expect(entry(gold, 'labels').dtype).toBe('int32');
  });
});
