/**
 * Per-branch batch-norm statistics (`branchStatistics: 'per-branch'`, issue 15): each branch's
 * moving statistics are updated by its own batches only and used by it at inference; the
 * trainable weights and their gradients are those of the shared network; the statistics are
 * saved, loaded and checkpointed with the model; `'shared'` is the authors' network unchanged.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { leanVariableGrads, S3N, s3nLoss, smallResNet } from '../../src';
import type { S3NOptions } from '../../src';
import { BranchStatistics, movingStatistics } from '../../src/layers/branch_statistics';
import { loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint';
import { expectClose, expectNoLeak, uniform } from '../helpers/numeric';
import { saveAndLoad } from '../helpers/round_trip';

const SIZE = 32;
const BRANCHES = ['raw', 'discriminative', 'complementary'] as const;
type Branch = (typeof BRANCHES)[number];
const SAMPLED = ['discriminative', 'complementary'] as const;

const backboneOf = (seed: number) => smallResNet({ inputSize: SIZE, widths: [4, 8], seed, batchNormMomentum: 0.9 });

function make(branchStatistics: S3NOptions['branchStatistics'], seed = 3): S3N {
  const options: S3NOptions = { classes: 3, seed, ...(branchStatistics === undefined ? {} : { branchStatistics }) };
  return S3N.create(backboneOf(seed), options);
}

/** The BatchNormalization layers of a backbone, in {@link movingStatistics} order. */
function batchNorms(model: tfl.LayersModel): tfl.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
}

const values = (vs: tfl.LayerVariable[]): number[][] => vs.map((v) => Array.from(v.read().dataSync()));
const stats = (s3n: S3N, b: Branch) => values(s3n.branchMovingStatistics(b));

/** A copy of a backbone's current weights and statistics (its own variables). */
function copyOf(backbone: tfl.LayersModel, seed: number): tfl.LayersModel {
  const ref = backboneOf(seed);
  ref.setWeights(backbone.getWeights());
  return ref;
}

/** Runs `fn` with `values` written into the backbone's moving statistics, restoring them after. */
function withStatistics<T>(backbone: tfl.LayersModel, vals: number[][], fn: () => T): T {
  const vars = movingStatistics(backbone);
  const saved = vars.map((v) => tf.clone(v.read()));
  try {
    vars.forEach((v, i) => v.write(tf.tensor(vals[i], v.shape as number[])));
    return fn();
  } finally {
    vars.forEach((v, i) => v.write(saved[i]));
    tf.dispose(saved);
  }
}

/** Distinct statistics for each branch: means around `offset`, variances in [0.5, 2). */
function distinctStatistics(s3n: S3N, seed: number): void {
  BRANCHES.forEach((b, k) => {
    s3n.branchMovingStatistics(b).forEach((v, i) => {
      const shape = v.shape as number[];
      v.write(i % 2 === 0 ? uniform(shape, -0.5 + k, 0.5 + k, seed + 10 * k + i) : uniform(shape, 0.5, 2, seed + 10 * k + i));
    });
  });
}

/** Records the input of each BranchStatistics call (by branch) while `fn` runs. */
function recordBranchInputs<T>(fn: () => T): { result: T; inputs: Record<string, tf.Tensor4D> } {
  const inputs: Record<string, tf.Tensor4D> = {};
  const original = BranchStatistics.prototype.call;
  const spy = jest.spyOn(BranchStatistics.prototype, 'call').mockImplementation(function (this: BranchStatistics, x, kwargs) {
    const t = (Array.isArray(x) ? x[0] : x) as tf.Tensor4D;
    if (inputs[this.branch] !== undefined) throw new Error(`branch ${this.branch} called twice`);
    inputs[this.branch] = tf.keep(tf.clone(t));
    return original.call(this, x, kwargs);
  });
  try {
    return { result: fn(), inputs };
  } finally {
    spy.mockRestore();
  }
}

/** Expected moving statistics after one training-mode pass of `ref` over `x` from `old`: μ·old + (1 − μ)·batch. */
function expectedAfterPass(ref: tfl.LayersModel, x: tf.Tensor4D, old: number[][]): number[][] {
  return tf.tidy(() => {
    const bns = batchNorms(ref);
    const probe = tfl.model({ inputs: ref.inputs, outputs: bns.map((l) => l.input as tfl.SymbolicTensor) });
    const outs = probe.apply(x, { training: true }) as tf.Tensor[];
    const inputs = Array.isArray(outs) ? outs : [outs];
    return bns.flatMap((bn, j) => {
      const m = bn.getConfig().momentum as number;
      const { mean, variance } = tf.moments(inputs[j], [0, 1, 2]);
      const update = (o: number[], batch: tf.Tensor) => {
        const prev = tf.tensor1d(o);
        return Array.from(tf.sub(prev, tf.mul(tf.sub(prev, batch), 1 - m)).dataSync());
      };
      return [update(old[2 * j], mean), update(old[2 * j + 1], variance)];
    });
  });
}

function batch(seed: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  return { images: uniform([2, SIZE, SIZE, 3], 0, 1, seed) as tf.Tensor4D, labels: tf.tensor1d([2, 0], 'int32') };
}

describe('per-branch batch-norm statistics', () => {
  it('starts every branch from the backbone statistics; a step updates each with its own batch only (μ·old + (1 − μ)·batch)', () => {
    const s3n = make('per-branch');
    expect(s3n.branchStatistics).toBe('per-branch');
    const initial = stats(s3n, 'raw');
    for (const b of SAMPLED) expect(stats(s3n, b)).toEqual(initial);
    for (const b of SAMPLED) expect(s3n.branchMovingStatistics(b)[0]).not.toBe(s3n.branchMovingStatistics('raw')[0]);
    distinctStatistics(s3n, 5);
    const old = Object.fromEntries(BRANCHES.map((b) => [b, stats(s3n, b)])) as Record<Branch, number[][]>;
    const ref = copyOf(s3n.backbone, 3); // the weights of the forward pass (the step then updates them)
    const { images, labels } = batch(6);
    const opt = s3n.createOptimizer({ learningRate: 0.05 });
    const { inputs } = recordBranchInputs(() => s3n.trainStep(images, labels, opt).dispose());
    expect(Object.keys(inputs).sort()).toEqual(['complementary', 'discriminative']);
    const branchInput: Record<Branch, tf.Tensor4D> = { raw: images, discriminative: inputs.discriminative, complementary: inputs.complementary };
    const after = Object.fromEntries(BRANCHES.map((b) => [b, stats(s3n, b)])) as Record<Branch, number[][]>;
    for (const b of BRANCHES) {
      const expected = expectedAfterPass(ref, branchInput[b], old[b]);
      expect(after[b].length).toBe(expected.length);
      after[b].forEach((v, i) => expectClose(v, expected[i], { atol: 1e-6, rtol: 1e-5 }));
      // One update, from this branch's old values: not those of another branch, not twice.
      expect(after[b]).not.toEqual(old[b]);
    }
    // The three batches differ (the resampled images are not the image), so do the statistics.
    expect(after.discriminative).not.toEqual(after.raw);
    expect(after.complementary).not.toEqual(after.raw);
    expect(after.complementary).not.toEqual(after.discriminative);
    const fresh = expectedAfterPass(ref, inputs.discriminative, old.raw);
    expect(after.discriminative[0]).not.toEqual(fresh[0]);
    tf.dispose([images, labels, inputs.discriminative, inputs.complementary]);
    opt.dispose();
    ref.dispose();
    s3n.dispose();
  });

  it("has the trainable weights, gradients, loss and outputs of 'shared' for the same step, bit for bit", () => {
    const shared = make('shared');
    const perBranch = make('per-branch');
    const { images, labels } = batch(7);
    const trainable = (s: S3N) => s.model.trainableWeights.map((w) => w.read() as tf.Variable);
    expect(trainable(perBranch).map((v) => v.shape)).toEqual(trainable(shared).map((v) => v.shape));
    const grads = (s: S3N) => {
      const vars = trainable(s);
      const { value, grads: g } = leanVariableGrads(() => s3nLoss(s.model.apply(images, { training: true }) as tf.Tensor2D[], labels), vars);
      const out = { loss: value.dataSync()[0], grads: vars.map((v) => Array.from(g[v.name].dataSync())) };
      tf.dispose([value, ...Object.values(g)]);
      return out;
    };
    const a = grads(shared);
    const b = grads(perBranch);
    expect(b.loss).toBe(a.loss);
    expect(b.grads.length).toBe(a.grads.length);
    b.grads.forEach((g, i) => expect(g).toEqual(a.grads[i])); // bit for bit: the same ops in the same order
    // A step from there (the moving statistics now differ: they do not enter a training pass).
    const step = (s: S3N) => {
      const opt = s.createOptimizer({ learningRate: 0.05 });
      const { loss, outputs } = s.trainStepWithOutputs(images, labels, opt);
      const out = { loss: loss.dataSync()[0], outputs: Object.values(outputs).map((o) => Array.from(o.dataSync())), weights: trainable(s).map((v) => Array.from(v.dataSync())) };
      tf.dispose([loss, ...Object.values(outputs)]);
      opt.dispose();
      return out;
    };
    const sa = step(shared);
    const sb = step(perBranch);
    expect(sb.loss).toBe(sa.loss);
    expect(sb.outputs).toEqual(sa.outputs);
    sb.weights.forEach((w, i) => expect(w).toEqual(sa.weights[i]));
    expect(stats(perBranch, 'raw')).not.toEqual(stats(shared, 'raw'));
    tf.dispose([images, labels]);
    shared.dispose();
    perBranch.dispose();
  });

  it("at inference branch k normalises with branch k's statistics (against the backbone run with them by hand)", () => {
    const s3n = make('per-branch');
    distinctStatistics(s3n, 21);
    const { images, labels } = batch(8);
    labels.dispose();
    const own = Object.fromEntries(BRANCHES.map((b) => [b, stats(s3n, b)])) as Record<Branch, number[][]>;
    const out = s3n.apply(images, { training: false });
    const ex = s3n.explain(images); // the image branch: the backbone's own statistics, the raw branch's
    const run = (x: tf.Tensor4D, b: Branch) => withStatistics(s3n.backbone, own[b], () => s3n.backbone.apply(x, { training: false }) as tf.Tensor4D);
    const f = [run(images, 'raw'), run(ex.zoomImage, 'discriminative'), run(ex.inverseImage, 'complementary')];
    const logits = s3n.head.apply(f, { training: false }) as tf.Tensor3D;
    const [fused, disc, comp] = tf.unstack(logits, 1);
    const raw = tf.mean(s3n.classResponseMap.apply(f[0]) as tf.Tensor4D, [1, 2]);
    expectClose(out.fused, fused, { atol: 1e-5, rtol: 1e-5 });
    expectClose(out.raw, raw, { atol: 1e-5, rtol: 1e-5 });
    expectClose(out.discriminative, disc, { atol: 1e-5, rtol: 1e-5 });
    expectClose(out.complementary, comp, { atol: 1e-5, rtol: 1e-5 });
    expectClose(s3n.predict(images), fused, { atol: 1e-5, rtol: 1e-5 });
    // The check can fail: the zoomed image with the image branch's statistics gives other logits.
    const mixed = tf.unstack(s3n.head.apply([f[0], run(ex.zoomImage, 'raw'), f[2]], { training: false }) as tf.Tensor3D, 1)[1];
    expect(tf.max(tf.abs(tf.sub(mixed, out.discriminative))).dataSync()[0]).toBeGreaterThan(1e-3);
    // Inference changed no statistics.
    for (const b of BRANCHES) expect(stats(s3n, b)).toEqual(own[b]);
    s3n.dispose();
  });

  it('save → load keeps the three sets of statistics and the option, with bit-identical outputs', async () => {
    const s3n = make('per-branch');
    const { images, labels } = batch(9);
    const opt = s3n.createOptimizer({ learningRate: 0.05 });
    for (let i = 0; i < 2; i++) s3n.trainStep(images, labels, opt).dispose();
    const loaded = await saveAndLoad(s3n);
    expect(loaded.branchStatistics).toBe('per-branch');
    for (const b of BRANCHES) expect(stats(loaded, b)).toEqual(stats(s3n, b));
    expect(stats(loaded, 'discriminative')).not.toEqual(stats(loaded, 'raw'));
    const [a, c] = [s3n.apply(images), loaded.apply(images)];
    for (const k of ['fused', 'raw', 'discriminative', 'complementary'] as const) expect(Array.from(c[k].dataSync())).toEqual(Array.from(a[k].dataSync()));
    // A step of the loaded copy updates its branches' statistics as the original's (a training
    // pass reads the weights before the update, the same in both).
    const opt2 = loaded.createOptimizer({ learningRate: 0.05 });
    const beforeStep = stats(loaded, 'complementary');
    loaded.trainStep(images, labels, opt2).dispose();
    s3n.trainStep(images, labels, opt).dispose();
    expect(stats(loaded, 'complementary')).not.toEqual(beforeStep);
    for (const b of BRANCHES) expect(stats(loaded, b)).toEqual(stats(s3n, b));
    // 'shared' round-trips as 'shared'.
    const shared = await saveAndLoad(make('shared'));
    expect(shared.branchStatistics).toBe('shared');
    tf.dispose([images, labels, ...Object.values(a), ...Object.values(c)]);
    opt.dispose();
    opt2.dispose();
    shared.dispose();
    loaded.dispose();
    s3n.dispose();
  });

  it('a checkpoint (saveCheckpoint → loadCheckpoint → S3N.fromModel) keeps them', async () => {
    const s3n = make('per-branch');
    const { images, labels } = batch(10);
    const opt = s3n.createOptimizer({ learningRate: 0.05 });
    s3n.trainStep(images, labels, opt).dispose();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-branch-bn-'));
    try {
      await saveCheckpoint(path.join(dir, 'ck'), s3n.model, { epoch: 1, dataSeed: 0, drawCount: 0, classNames: ['a', 'b', 'c'], config: {}, metrics: [] }, opt);
      const ck = await loadCheckpoint(path.join(dir, 'ck'));
      const loaded = S3N.fromModel(ck.model);
      expect(loaded.branchStatistics).toBe('per-branch');
      for (const b of BRANCHES) expect(stats(loaded, b)).toEqual(stats(s3n, b));
      loaded.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    tf.dispose([images, labels]);
    opt.dispose();
    s3n.dispose();
  });

  it("with 'shared' (the default) the model is the authors' and a step updates the backbone statistics three times, in call order", () => {
    const byDefault = make(undefined);
    const s3n = make('shared');
    expect(byDefault.branchStatistics).toBe('shared');
    expect(s3n.model.layers.map((l) => l.getClassName())).toEqual(byDefault.model.layers.map((l) => l.getClassName()));
    expect(s3n.model.layers.some((l) => l instanceof BranchStatistics)).toBe(false);
    for (const b of SAMPLED) expect(s3n.branchMovingStatistics(b)).toEqual(s3n.branchMovingStatistics('raw'));
    const ref = copyOf(s3n.backbone, 3);
    const { images, labels } = batch(11);
    const calls: tf.Tensor4D[] = [];
    const original = s3n.backbone.apply.bind(s3n.backbone);
    const spy = jest.spyOn(s3n.backbone, 'apply').mockImplementation((x, kwargs) => {
      calls.push(tf.keep(tf.clone((Array.isArray(x) ? x[0] : x) as tf.Tensor4D)));
      return original(x, kwargs);
    });
    const opt = s3n.createOptimizer({ learningRate: 0.05 });
    s3n.trainStep(images, labels, opt).dispose();
    spy.mockRestore();
    expect(calls.length).toBe(3);
    expect(Array.from(calls[0].dataSync())).toEqual(Array.from(images.dataSync()));
    // The three passes, in order, on a copy: the same statistics, bit for bit.
    for (const x of calls) tf.tidy(() => void ref.apply(x, { training: true }));
    expect(stats(s3n, 'raw')).toEqual(values(movingStatistics(ref)));
    tf.dispose([images, labels, ...calls]);
    opt.dispose();
    ref.dispose();
    byDefault.dispose();
    s3n.dispose();
  });

  it('gradient checkpointing on or off: bit-identical weights and per-branch statistics', () => {
    const run = (checkpointing: boolean) => {
      const s3n = make('per-branch').setGradCheckpointing(checkpointing);
      expect(s3n.isGradCheckpointed).toBe(checkpointing);
      const { images, labels } = batch(12);
      const opt = s3n.createOptimizer({ learningRate: 0.05 });
      for (let i = 0; i < 2; i++) s3n.trainStep(images, labels, opt).dispose();
      const out = { weights: s3n.model.getWeights().map((w) => Array.from(w.dataSync())), branches: BRANCHES.map((b) => stats(s3n, b)) };
      tf.dispose([images, labels]);
      opt.dispose();
      s3n.dispose();
      return out;
    };
    const plain = run(false);
    const checkpointed = run(true);
    expect(checkpointed.branches).toEqual(plain.branches);
    expect(checkpointed.weights.length).toBe(plain.weights.length);
    checkpointed.weights.forEach((w, i) => expect(w).toEqual(plain.weights[i]));
  });

  it('a skipped (non-finite) step leaves every branch statistics as they were', () => {
    const s3n = make('per-branch');
    const { images, labels } = batch(13);
    const opt = s3n.createOptimizer({ learningRate: 0.05 });
    s3n.trainStep(images, labels, opt).dispose();
    const before = BRANCHES.map((b) => stats(s3n, b));
    const bad = tf.fill([2, SIZE, SIZE, 3], NaN) as tf.Tensor4D;
    const r = s3n.trainStepWithOutputs(bad, labels, opt);
    expect(r.skipped).toBe(true);
    tf.dispose([r.loss, ...Object.values(r.outputs)]);
    expect(BRANCHES.map((b) => stats(s3n, b))).toEqual(before);
    // Without the guard the NaN batch reaches the statistics of every branch.
    s3n.trainStep(bad, labels, opt, { skipNonFinite: false }).dispose();
    for (const b of BRANCHES) expect(stats(s3n, b).flat().some(Number.isNaN)).toBe(true);
    tf.dispose([images, labels, bad]);
    opt.dispose();
    s3n.dispose();
  });

  it('leaks no tensor: create, step (with checkpointing), predict, explain, save/load, dispose', async () => {
    const { images, labels } = batch(14);
    await expectNoLeak(async () => {
      const s3n = make('per-branch');
      const opt = s3n.createOptimizer({ learningRate: 0.05 });
      s3n.trainStep(images, labels, opt).dispose();
      s3n.setGradCheckpointing(true);
      s3n.trainStep(images, labels, opt).dispose();
      s3n.predict(images).dispose();
      tf.dispose(Object.values(s3n.explain(images)));
      tf.dispose(Object.values(s3n.apply(images, { training: true })));
      const loaded = await saveAndLoad(s3n);
      loaded.predict(images).dispose();
      opt.dispose();
      loaded.dispose();
      s3n.dispose();
    });
    tf.dispose([images, labels]);
  });

  it('refuses bad values with clear errors', async () => {
    const backbone = backboneOf(1);
    const before = tf.memory().numTensors;
    expect(() => S3N.create(backbone, { classes: 3, branchStatistics: 'separate' as never })).toThrow(
      new Error("S3N.create: branchStatistics must be one of 'shared', 'per-branch', but got 'separate'."),
    );
    expect(() => S3N.create(backbone, { classes: 3, branchStatistics: null as never })).toThrow(
      new Error("S3N.create: branchStatistics must be one of 'shared', 'per-branch', but got null."),
    );
    expect(tf.memory().numTensors).toBe(before); // nothing built
    const input = tfl.input({ shape: [SIZE, SIZE, 3] });
    const noBatchNorm = tfl.model({ inputs: input, outputs: tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor });
    expect(() => S3N.create(noBatchNorm, { classes: 3, branchStatistics: 'per-branch' })).toThrow(
      new Error(
        "S3N.create: branchStatistics must be 'shared' for a backbone without BatchNormalization layers (it has no moving statistics to keep per branch), but got 'per-branch'.",
      ),
    );
    noBatchNorm.dispose();
    const s3n = S3N.create(backbone, { classes: 3, branchStatistics: 'per-branch' });
    expect(() => s3n.branchMovingStatistics('zoom' as never)).toThrow(
      new Error("S3N.branchMovingStatistics: branch must be one of 'raw', 'discriminative', 'complementary', but got 'zoom'."),
    );
    // A loaded model used without S3N.fromModel does not silently share the statistics.
    let artifacts: tf.io.ModelArtifacts | undefined;
    await s3n.model.save(tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const plain = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const x = uniform([1, SIZE, SIZE, 3], 0, 1, 2);
    // (Which sampled branch runs first is up to tfjs' topological sort.)
    expect(() => plain.predict(x)).toThrow(
      /^BranchStatistics: layer must be linked to its backbone \(wrap the loaded model with S3N\.fromModel\), but got the unlinked layer '(discriminative|complementary)_branch_statistics'\.$/,
    );
    const wrapped = S3N.fromModel(plain);
    expect(wrapped.branchStatistics).toBe('per-branch');
    wrapped.predict(x as tf.Tensor4D).dispose();
    // A branch layer whose backbone lacks its statistics.
    const other = new BranchStatistics({ branch: 'discriminative', statistics: [{ name: 'nope/moving_mean', shape: [4] }], featureShape: [null, 8, 8, 8] });
    expect(() => other.link(s3n.backbone)).toThrow(
      new Error(`BranchStatistics.link: backbone must be the backbone whose 1 batch-norm moving statistics this layer copies, but got one with 'nope/moving_mean' missing.`),
    );
    x.dispose();
    wrapped.dispose();
    s3n.dispose();
  });
});
