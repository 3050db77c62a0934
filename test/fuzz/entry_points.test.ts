/**
 * Fuzz test of the public entry points (issue 11, must-show), with fast-check: random shapes
 * (empty ones included), dtypes, values (NaN, ±Infinity, huge, zero) and option objects of the
 * wrong types. Each call must either return tensors, finite where the input was finite and of
 * moderate size, or throw an `Error` whose message starts with the function's name and names
 * one of its arguments; it must never crash the process, hang, or leak a tensor (checked with
 * `tf.memory().numTensors` around every call, on success and on refusal).
 *
 * Seeded (`FUZZ_SEED`, default below) so that a failure is reproducible; the counter-example
 * is printed by fast-check.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fc from 'fast-check';
import { ops, S3N, smallResNet, s3nLoss, ClassResponseMap, PeakFinder, SparseAttention, SaliencySampler, S3NHead } from '../../src';

const SEED = Number(process.env.FUZZ_SEED ?? 11032026);
const RUNS = 60;

// ---------------------------------------------------------------- arbitraries

/** A value: mostly moderate finite floats, sometimes NaN, ±Infinity, huge or zero. */
const special = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e30, -1e30, 0, 3.4e38);
const moderate = fc.float({ min: -5, max: 5, noNaN: true, noDefaultInfinity: true });

interface TensorSpec {
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  /** Fill: moderate random values (seeded), or one special value at some positions. */
  special?: number;
  specialEvery: number;
  seed: number;
}

/** A tensor spec around an expected shape: usually that shape (dims 1–6), sometimes another rank, a 0 dim, or another dtype. */
function tensorSpec(rank: number, fixed: Record<number, number> = {}): fc.Arbitrary<TensorSpec> {
  const dims = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: rank, maxLength: rank }).map((d) => d.map((v, i) => fixed[i] ?? v));
  const shape = fc.oneof(
    { weight: 8, arbitrary: dims },
    { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 5 }) },
    { weight: 1, arbitrary: dims.map((d) => d.map((v, i) => (i === 0 ? 0 : v))) },
  );
  return fc.record({
    shape,
    dtype: fc.oneof({ weight: 8, arbitrary: fc.constant('float32' as const) }, { weight: 1, arbitrary: fc.constantFrom('int32' as const, 'bool' as const) }),
    special: fc.option(special, { freq: 3 }).map((v) => v ?? undefined),
    specialEvery: fc.integer({ min: 1, max: 7 }),
    seed: fc.integer({ min: 0, max: 1e6 }),
  });
}

function makeTensor(spec: TensorSpec, scale = 1): tf.Tensor {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  let s = spec.seed + 1;
  for (let i = 0; i < size; i++) {
    s = (s * 16807) % 2147483647;
    values[i] = spec.special !== undefined && i % spec.specialEvery === 0 ? spec.special : ((s / 2147483647) * 2 - 1) * scale;
  }
  if (spec.dtype === 'float32') return tf.tensor(values, spec.shape, 'float32');
  return tf.tensor(Array.from(values, (v) => (Number.isFinite(v) ? Math.round(v) : 0)), spec.shape, spec.dtype);
}

/** Whether a spec's values are finite and of moderate size (no special value). */
const tame = (spec: TensorSpec) => spec.special === undefined || spec.special === 0;

/** A weird value for an option: wrong types, non-finite and out-of-range numbers, or nothing. */
const weird = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.string({ maxLength: 4 }),
  fc.integer({ min: -3, max: 40 }),
  moderate,
  special,
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.integer({ min: -1, max: 8 }), { maxLength: 3 }),
);
/** Usually a valid-looking value, sometimes a weird one (or absent). */
const maybe = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: weird });

// ---------------------------------------------------------------- the check

function tensorsIn(x: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  if (x instanceof tf.Tensor) out.push(x);
  else if (Array.isArray(x)) x.forEach((v) => tensorsIn(v, out));
  else if (x !== null && typeof x === 'object') Object.values(x).forEach((v) => tensorsIn(v, out));
  return out;
}

/**
 * Calls `call()`; passes when it returns (tensors finite if `finite`) or throws an Error named
 * after `fn` naming one of `args`, with no tensor leaked either way (`kept()`: tensors the call
 * may legitimately keep, e.g. the weights a layer builds on its first call).
 */
function check(fn: string | RegExp, args: string[], call: () => unknown, finite: boolean, kept: () => number = () => 0): void {
  const before = tf.memory().numTensors;
  let result: unknown;
  try {
    result = call();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    const message = (e as Error).message;
    if (typeof fn === 'string') expect(message.startsWith(`${fn}:`) ? fn : message).toBe(fn);
    else expect(message).toMatch(fn);
    expect(args.some((a) => message.includes(a)) ? 'names an argument' : message).toBe('names an argument');
    expect(tf.memory().numTensors).toBe(before + kept());
    return;
  }
  const tensors = tensorsIn(result);
  if (finite) {
    for (const t of tensors) {
      if (t.dtype === 'float32' && t.size > 0) expect(tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0])).toBe(1);
    }
  }
  tf.dispose(tensors);
  expect(tf.memory().numTensors).toBe(before + kept());
}

/** Runs a property with the shared seed, the tensors made from specs disposed after each run. */
function property<T>(arb: fc.Arbitrary<T>, body: (value: T, made: (t: tf.Tensor) => tf.Tensor) => void, numRuns = RUNS): void {
  fc.assert(
    fc.property(arb, (value) => {
      const owned: tf.Tensor[] = [];
      try {
        body(value, (t) => {
          owned.push(t);
          return t;
        });
      } finally {
        tf.dispose(owned);
      }
    }),
    { seed: SEED, numRuns },
  );
}

// ---------------------------------------------------------------- ops

describe('ops', () => {
  it('gridSample', () => {
    property(
      fc.record({
        input: tensorSpec(4),
        grid: tensorSpec(4, { 3: 2 }),
        options: maybe(fc.record({ mode: maybe(fc.constantFrom('bilinear', 'nearest')), paddingMode: maybe(fc.constantFrom('zeros', 'border', 'reflection')), alignCorners: maybe(fc.boolean()) }, { requiredKeys: [] })),
      }),
      ({ input, grid, options }, made) => {
        const x = made(makeTensor(input));
        const g = made(makeTensor(grid, 1.2));
        // Same batch most of the time.
        check('gridSample', ['input', 'grid', 'options', 'mode', 'paddingMode', 'alignCorners'], () => ops.gridSample(x as tf.Tensor4D, g as tf.Tensor4D, options as never), tame(input) && tame(grid));
      },
    );
  });

  it('findPeaks', () => {
    property(
      fc.record({ maps: tensorSpec(4), options: maybe(fc.record({ windowSize: maybe(fc.constantFrom(1, 3, 5)), filter: maybe(fc.constantFrom('mean', 'none')) }, { requiredKeys: [] })) }),
      ({ maps, options }, made) => {
        const m = made(makeTensor(maps));
        check('findPeaks', ['maps', 'windowSize', 'filter', 'options'], () => ops.findPeaks(m as tf.Tensor4D, options as never), true);
      },
    );
  });

  it('findPeaks with a window much larger than the map: the same mask as a window spanning it, quickly', () => {
    // Found by this fuzzer: the cost grew with windowSize² (a window of 1001 on a 6×6 map ran
    // for minutes and took 20 GB); a window larger than the map only adds -inf neighbours.
    const maps = tf.randomNormal([2, 4, 5, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const t0 = Date.now();
    for (const filter of ['none', 'mean'] as const) {
      const spanning = ops.findPeaks(maps, { windowSize: 9, filter });
      const huge = ops.findPeaks(maps, { windowSize: 100001, filter });
      expect(Array.from(huge.dataSync())).toEqual(Array.from(spanning.dataSync()));
      tf.dispose([spanning, huge]);
    }
    expect(Date.now() - t0).toBeLessThan(5000);
    maps.dispose();
  }, 10000);

  it('gaussianKernel', () => {
    property(
      fc.record({
        theta: fc.oneof(maybe(fc.float({ min: Math.fround(0.01), max: 2, noNaN: true })), tensorSpec(1)),
        size: maybe(fc.integer({ min: 1, max: 9 })),
        offset: fc.oneof(fc.constant(undefined), maybe(fc.tuple(moderate, moderate)), tensorSpec(2, { 1: 2 })),
      }),
      ({ theta, size, offset }, made) => {
        const isSpec = (v: unknown): v is TensorSpec => v !== null && typeof v === 'object' && 'specialEvery' in (v as object);
        const th = isSpec(theta) ? made(makeTensor(theta, 0.5)) : theta;
        const off = isSpec(offset) ? made(makeTensor(offset, 4)) : offset;
        const finite = (!isSpec(theta) || tame(theta)) && (!isSpec(offset) || tame(offset));
        check('gaussianKernel', ['theta', 'size', 'offset'], () => ops.gaussianKernel(th as never, size as never, off as never), finite);
      },
    );
  });

  it('saliencyGrid', () => {
    property(
      fc.record({
        saliency: tensorSpec(3),
        options: maybe(fc.record({ outputSize: maybe(fc.integer({ min: 1, max: 8 })), paddingSize: maybe(fc.integer({ min: 0, max: 3 })), fwhm: maybe(fc.float({ min: Math.fround(0.5), max: 4, noNaN: true })) }, { requiredKeys: [] })),
      }),
      ({ saliency, options }, made) => {
        const s = made(makeTensor(saliency));
        // Saliency maps are non-negative; the finite check only holds for those.
        const nonNegative = tame(saliency) && s.dtype === 'float32' && s.size > 0 && tf.tidy(() => tf.min(s).dataSync()[0]) >= 0;
        check('saliencyGrid', ['saliency', 'options', 'outputSize', 'paddingSize', 'fwhm', 'filter'], () => ops.saliencyGrid(s as tf.Tensor3D, options as never), nonNegative);
      },
    );
  });

  it('saliencyGrid of non-negative maps, zeros included: a finite grid in [-1, 1]', () => {
    property(
      fc.record({ batch: fc.integer({ min: 1, max: 2 }), size: fc.integer({ min: 2, max: 6 }), zeros: fc.boolean(), seed: fc.integer({ min: 0, max: 1e6 }), huge: fc.boolean() }),
      ({ batch, size, zeros, seed, huge }, made) => {
        const s = made(zeros ? tf.zeros([batch, size, size]) : tf.mul(tf.abs(tf.randomNormal([batch, size, size], 0, 1, 'float32', seed)), huge ? 1e30 : 1));
        const before = tf.memory().numTensors;
        const grid = ops.saliencyGrid(s as tf.Tensor3D, { outputSize: 5, paddingSize: 2, fwhm: 2 });
        const [lo, hi, ok] = tf.tidy(() => [tf.min(grid), tf.max(grid), tf.all(tf.isFinite(grid))].map((t) => t.dataSync()[0]));
        grid.dispose();
        expect([ok, lo >= -1 - 1e-6, hi <= 1 + 1e-6]).toEqual([1, true, true]);
        expect(tf.memory().numTensors).toBe(before);
      },
      30,
    );
  });

  it('decisionMap', () => {
    property(
      fc.record({
        crms: tensorSpec(4),
        options: maybe(fc.record({ topK: maybe(fc.integer({ min: 1, max: 6 })), entropyThreshold: maybe(fc.float({ min: 0, max: 3, noNaN: true })) }, { requiredKeys: [] })),
      }),
      ({ crms, options }, made) => {
        const m = made(makeTensor(crms));
        // The decision map is defined for any input: NaN or constant maps give zeros, marked invalid.
        check('decisionMap', ['classResponseMaps', 'classScores', 'topK', 'entropyThreshold', 'options'], () => ops.decisionMap(m as tf.Tensor4D, options as never), true);
      },
    );
  });

  it('sparseAttentionMaps', () => {
    property(
      fc.record({
        decision: tensorSpec(3),
        options: maybe(
          fc.record(
            { mode: maybe(fc.constantFrom('all', 'random', 'extreme')), radius: maybe(fc.float({ min: Math.fround(0.01), max: 1, noNaN: true })), radiusInv: maybe(fc.float({ min: Math.fround(0.01), max: 1, noNaN: true })), seed: maybe(fc.integer({ min: 0, max: 100 })) },
            { requiredKeys: [] },
          ),
        ),
      }),
      ({ decision, options }, made) => {
        // Decision maps are normalised to [0, 1]: the finite check holds for those.
        const d = made(decision.dtype === 'float32' && tame(decision) ? tf.abs(makeTensor(decision)) : makeTensor(decision));
        check('sparseAttentionMaps', ['decision', 'mode', 'radius', 'radiusInv', 'baseRatio', 'peaks', 'randomValues', 'seed', 'options'], () => ops.sparseAttentionMaps(d as tf.Tensor3D, options as never), tame(decision));
      },
    );
  });
});

// ---------------------------------------------------------------- layers

describe('layers: construction options and apply', () => {
  // tfjs-layers' own shape checks name the layer ("Input 0 is incompatible with layer …").
  const layerError = (cls: string) => new RegExp(`^(${cls}|Input \\d+ is incompatible with layer|.*layer)`, 'i');

  it('ClassResponseMap', () => {
    property(fc.record({ classes: maybe(fc.integer({ min: 2, max: 5 })), features: tensorSpec(4) }), ({ classes, features }, made) => {
      let layer: ClassResponseMap | undefined;
      check('ClassResponseMap', ['classes'], () => {
        layer = new ClassResponseMap({ classes: classes as number });
      }, true);
      if (!layer) return;
      const f = made(makeTensor(features));
      check(layerError('ClassResponseMap'), ['features', 'input', 'classResponseMap', 'class_response_map', 'dtype', 'shape', 'rank'], () => layer!.apply(f), tame(features), () => layer!.weights.length);
      if (layer.built) layer.dispose();
    }, 30);
  });

  it('PeakFinder', () => {
    property(fc.record({ windowSize: maybe(fc.constantFrom(1, 3, 5)), filter: maybe(fc.constantFrom('mean', 'none')), maps: tensorSpec(4) }), ({ windowSize, filter, maps }, made) => {
      let layer: PeakFinder | undefined;
      check('PeakFinder', ['windowSize', 'filter'], () => {
        layer = new PeakFinder({ windowSize: windowSize as number, filter: filter as never });
      }, true);
      if (!layer) return;
      const m = made(makeTensor(maps));
      check(/^(findPeaks|PeakFinder)/, ['maps', 'windowSize', 'filter'], () => layer!.apply(m), true);
    }, 30);
  });

  it('SparseAttention, SaliencySampler and S3NHead options', () => {
    property(
      fc.record({ gridSize: maybe(fc.integer({ min: 3, max: 9 })), radius: maybe(fc.float({ min: Math.fround(0.01), max: 1, noNaN: true })), outputSize: maybe(fc.integer({ min: 1, max: 16 })), paddingSize: maybe(fc.integer({ min: 0, max: 4 })), fwhm: maybe(fc.float({ min: Math.fround(0.5), max: 4, noNaN: true })), classes: maybe(fc.integer({ min: 2, max: 4 })), useBuffers: maybe(fc.boolean()) }),
      (o) => {
        // Layers build their weights on their first call: construction makes no tensor.
        check('SparseAttention', ['gridSize', 'radius'], () => void new SparseAttention({ gridSize: o.gridSize as number, radius: o.radius as number }), true);
        check('SaliencySampler', ['outputSize', 'paddingSize', 'fwhm'], () => void new SaliencySampler({ outputSize: o.outputSize as number, paddingSize: o.paddingSize as number, fwhm: o.fwhm as number }), true);
        check('S3NHead', ['classes', 'useBuffers'], () => void new S3NHead({ classes: o.classes as number, useBuffers: o.useBuffers as boolean }), true);
      },
      40,
    );
  });
});

// ---------------------------------------------------------------- the network

describe('S3N', () => {
  let backbone: ReturnType<typeof smallResNet>;
  let s3n: S3N;
  let optimizer: ReturnType<S3N['createOptimizer']>;
  beforeAll(() => {
    backbone = smallResNet({ inputSize: 16, widths: [4], seed: 1 });
    s3n = S3N.create(backbone, { classes: 3, seed: 1, gridSize: 7, paddingSize: 4, fwhm: 2 });
    optimizer = s3n.createOptimizer({ learningRate: 0.01 });
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1], 'int32');
    tf.dispose([s3n.trainStep(x, y, optimizer), x, y]); // makes the momentum buffers
  });
  afterAll(() => {
    optimizer.dispose();
    s3n.dispose();
  });

  it('S3N.create options', () => {
    property(
      fc.record({ classes: maybe(fc.integer({ min: 2, max: 4 })), gridSize: maybe(fc.integer({ min: 3, max: 9 })), paddingSize: maybe(fc.integer({ min: 1, max: 4 })), fwhm: maybe(fc.float({ min: Math.fround(0.5), max: 4, noNaN: true })), topK: maybe(fc.integer({ min: 1, max: 4 })), entropyThreshold: maybe(fc.float({ min: 0, max: 2, noNaN: true })), seed: maybe(fc.integer({ min: 0, max: 9 })) }),
      (options) => {
        const made: S3N[] = [];
        // The backbone is shared and kept: the new network's own weights are what a success keeps.
        const own = () => made.reduce((n, net) => n + net.model.weights.length - backbone.weights.length, 0);
        const names = ['options', 'classes', 'gridSize', 'paddingSize', 'fwhm', 'topK', 'entropyThreshold', 'seed', 'radius', 'outputSize', 'backbone'];
        check(/^(S3N\.create|SparseAttention|SaliencySampler|S3NHead|ClassResponseMap):/, names, () => {
          const net = S3N.create(backbone, options as never);
          made.push(net);
          return undefined;
        }, true, own);
        for (const net of made) {
          for (const l of net.model.layers) {
            if (l === backbone) continue;
            const counted = l as unknown as { _refCount: number | null };
            while (counted._refCount !== null && counted._refCount > 0) l.dispose();
          }
        }
      },
      15,
    );
  });

  it('S3N.create refuses what is not a backbone or not an options object', () => {
    for (const [bb, opts] of [[null, { classes: 3 }], [backbone, null], [backbone, 3], [{}, { classes: 3 }]] as const) {
      check('S3N.create', ['backbone', 'options', 'classes'], () => S3N.create(bb as never, opts as never), true);
    }
  });

  it('s3nLoss', () => {
    property(
      fc.record({
        batch: fc.integer({ min: 0, max: 3 }),
        classes: fc.integer({ min: 1, max: 4 }),
        count: fc.constantFrom(4, 4, 4, 3),
        logits: tensorSpec(2),
        labels: fc.record({ dtype: fc.constantFrom('int32', 'int32', 'float32'), values: fc.array(fc.integer({ min: -2, max: 5 }), { minLength: 0, maxLength: 4 }) }),
        options: maybe(fc.record({ smoothRatio: maybe(fc.float({ min: Math.fround(0.5), max: 1, noNaN: true })), weights: maybe(fc.constant([1, 1, 1, 1])), validateLabels: maybe(fc.boolean()) }, { requiredKeys: [] })),
      }),
      ({ batch, classes, count, logits, labels, options }, made) => {
        const spec = { ...logits, shape: [batch, classes] };
        const outputs = Array.from({ length: count }, (_, i) => made(makeTensor({ ...spec, seed: spec.seed + i })));
        const y = made(tf.tensor1d(labels.values, labels.dtype as 'int32'));
        const inRange = labels.values.every((v) => v >= 0 && v < classes);
        check('s3nLoss', ['outputs', 'labels', 'smoothRatio', 'weights', 'validateLabels', 'options'], () => s3nLoss(outputs, y, options as never), tame(logits) && inRange);
      },
    );
  });

  it('S3N.trainStep: refused, or trained with a finite loss, or skipped with nothing changed', () => {
    property(
      fc.record({
        images: tensorSpec(4, { 1: 16, 2: 16, 3: 3 }),
        labels: fc.record({ dtype: fc.constantFrom('int32', 'int32', 'int32', 'float32'), values: fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 0, maxLength: 3 }) }),
        options: maybe(fc.record({ smoothRatio: maybe(fc.float({ min: Math.fround(0.5), max: 1, noNaN: true })), validateLabels: maybe(fc.boolean()), skipNonFinite: maybe(fc.constant(true)) }, { requiredKeys: [] })),
      }),
      ({ images, labels, options }, made) => {
        const spec = { ...images, shape: images.shape.map((d, i) => (i === 0 ? Math.min(d, 3) : d)) };
        const x = made(makeTensor(spec));
        const y = made(tf.tensor1d(labels.values, labels.dtype as 'int32'));
        const weights = s3n.model.weights.map((w) => w.read().dataSync().slice());
        // Each run starts from the same network: an option like skipNonFinite: false may let a
        // NaN step through (as documented), which must not spoil the next runs.
        const savedWeights = s3n.model.weights.map((w) => tf.clone(w.read()));
        const savedMomentum = optimizer.getState();
        const skippedBefore = s3n.skippedSteps;
        let step: ReturnType<S3N['trainStepWithOutputs']> | undefined;
        check('S3N.trainStep', ['images', 'labels', 'optimizer', 'smoothRatio', 'weights', 'validateLabels', 'skipNonFinite', 'options'], () => {
          step = s3n.trainStepWithOutputs(x as tf.Tensor4D, y as tf.Tensor1D, optimizer, options as never);
          const finite = Number.isFinite(step.loss.dataSync()[0]);
          expect(finite).toBe(!step.skipped);
          if (step.skipped) {
            expect(s3n.skippedSteps).toBe(skippedBefore + 1);
            s3n.model.weights.forEach((w, i) => expect(w.read().dataSync()).toEqual(weights[i]));
          }
          // Moderate finite images and valid labels train.
          if (tame(spec) && labels.values.every((v) => v >= 0 && v < 3)) expect(step.skipped).toBe(false);
          return step;
        }, false);
        s3n.model.weights.forEach((w, i) => w.write(savedWeights[i]));
        optimizer.setState(savedMomentum);
        tf.dispose([...savedWeights, ...Object.values(savedMomentum)]);
      },
      20,
    );
  });

  it('S3N.predict', () => {
    property(fc.record({ images: tensorSpec(4, { 1: 16, 2: 16, 3: 3 }) }), ({ images }, made) => {
      const spec = { ...images, shape: images.shape.map((d, i) => (i === 0 ? Math.min(d, 3) : d)) };
      const x = made(makeTensor(spec));
      check('S3N.predict', ['images'], () => s3n.predict(x as tf.Tensor4D), tame(spec));
    }, 20);
  });
});
