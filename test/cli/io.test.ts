import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { smallResNet } from '../../src/backbones/resnet';
import { CheckpointRun, fileSystem, loadCheckpoint, resolveCheckpoint, saveCheckpoint } from '../../src/io';
import { S3N } from '../../src/model';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-io-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const tiny = (seed = 1) => S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed }), { classes: 3, seed, gridSize: 15, paddingSize: 8, fwhm: 4 });
const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

describe('fileSystem IOHandler', () => {
  it('round-trips an S3N model bit for bit (weights, outputs, model.json)', async () => {
    const s3n = tiny();
    // Move the weights away from their initial values so that nothing is re-initialised silently.
    s3n.model.weights.forEach((w, i) => w.write(tf.tidy(() => tf.add(w.read(), tf.mul(tf.randomNormal(w.shape as number[], 0, 0.01, 'float32', i), 1)))));
    const dir = path.join(root, 'model');
    const result = await s3n.model.save(fileSystem(dir));
    expect(result.modelArtifactsInfo.weightDataBytes).toBeGreaterThan(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);

    const loaded = S3N.fromModel(await tfl.loadLayersModel(fileSystem(path.join(dir, 'model.json'))));
    const a = s3n.model.getWeights();
    const b = loaded.model.getWeights();
    expect(b.map((t) => t.shape)).toEqual(a.map((t) => t.shape));
    a.forEach((t, i) => expect(bits(b[i])).toEqual(bits(t)));
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    expect(bits(loaded.predict(x))).toEqual(bits(s3n.predict(x)));

    await loaded.model.save(fileSystem(path.join(root, 'model2')));
    expect(fs.readFileSync(path.join(root, 'model2', 'weights.bin')).equals(fs.readFileSync(path.join(dir, 'weights.bin')))).toBe(true);
    s3n.dispose();
    loaded.dispose();
  });

  it('loads sharded weights listed in the manifest', async () => {
    const m = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [4], kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) })] });
    const dir = path.join(root, 'sharded');
    await m.save(fileSystem(dir));
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const all = fs.readFileSync(path.join(dir, 'weights.bin'));
    fs.writeFileSync(path.join(dir, 'group1-shard1of2.bin'), all.subarray(0, 20));
    fs.writeFileSync(path.join(dir, 'group1-shard2of2.bin'), all.subarray(20));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    fs.rmSync(path.join(dir, 'weights.bin'));
    const back = await tfl.loadLayersModel(fileSystem(dir));
    expect(bits(back.getWeights()[0])).toEqual(bits(m.getWeights()[0]));
  });

  it('names what is missing', async () => {
    await expect(tfl.loadLayersModel(fileSystem(path.join(root, 'none')))).rejects.toThrow(/fileSystem\.load: path must lead to a tfjs model .* but got no file '.*none\/model\.json'/);
    const dir = path.join(root, 'noweights');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights: [] }] }));
    await expect(fileSystem(dir).load!()).rejects.toThrow(/the weight files listed in .*model\.json must exist, but got no file '.*w\.bin'/);
  });
});

describe('checkpoints', () => {
  it('saves and restores model, optimizer state, draw counter and metrics; trains on identically', async () => {
    const s3n = tiny(2);
    s3n.setModes({ training: 'random' });
    const opt = s3n.createOptimizer({ learningRate: 0.01 });
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const y = tf.tensor1d([0, 2], 'int32');
    tf.dispose(s3n.trainStep(x, y, opt));
    const state = { epoch: 1, dataSeed: 4, drawCount: s3n.attention.drawCount, classNames: ['a', 'b', 'c'], config: { inputSize: 32 }, metrics: [{ epoch: 1, loss: 1.5 }] };
    expect(state.drawCount).toBeGreaterThan(0);
    const dir = await saveCheckpoint(path.join(root, 'ck'), s3n.model, state, opt);
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'state.json', 'weights.bin']);
    expect(fs.readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);

    const ck = await loadCheckpoint(dir);
    expect(ck.state).toEqual(state);
    const back = S3N.fromModel(ck.model);
    back.attention.drawCount = ck.state.drawCount;
    const opt2 = back.createOptimizer({ learningRate: 0.01 });
    await ck.restoreOptimizer(opt2);
    // One more step on each: same weights, bit for bit.
    tf.dispose(s3n.trainStep(x, y, opt));
    tf.dispose(back.trainStep(x, y, opt2));
    const a = s3n.model.getWeights();
    const b = back.model.getWeights();
    a.forEach((t, i) => expect(bits(b[i])).toEqual(bits(t)));
    // Overwriting is atomic too.
    await saveCheckpoint(dir, back.model, { ...state, epoch: 2 }, opt2);
    expect((await loadCheckpoint(dir)).state.epoch).toBe(2);
    tf.dispose([x, y]);
    opt.dispose();
    opt2.dispose();
    s3n.dispose();
    back.dispose();
  });

  it('CheckpointRun keeps the last checkpoints and a latest pointer', async () => {
    const s3n = tiny(3);
    const run = new CheckpointRun(path.join(root, 'run'), 2);
    expect(run.latest()).toBeUndefined();
    for (let e = 1; e <= 3; e++) await run.save(s3n.model, { epoch: e, dataSeed: 0, drawCount: 0, classNames: ['a', 'b', 'c'], config: {}, metrics: [] });
    expect(fs.readdirSync(run.dir).sort()).toEqual(['epoch-0002', 'epoch-0003', 'latest']);
    expect(resolveCheckpoint(path.join(root, 'run'))).toBe(path.join(run.dir, 'epoch-0003'));
    expect(run.latest()).toBe(path.join(run.dir, 'epoch-0003'));
    expect(() => resolveCheckpoint(root)).toThrow(/resolveCheckpoint: dir must be a checkpoint folder \(with model\.json, weights\.bin, state\.json\) or a run folder with checkpoints\/latest, but got/);
    // Epochs past 9999 sort by number, not by name; an older epoch saved last is kept.
    await run.save(s3n.model, { epoch: 10000, dataSeed: 0, drawCount: 0, classNames: ['a', 'b', 'c'], config: {}, metrics: [] });
    expect(fs.readdirSync(run.dir).sort()).toEqual(['epoch-0003', 'epoch-10000', 'latest']);
    await run.save(s3n.model, { epoch: 1, dataSeed: 0, drawCount: 0, classNames: ['a', 'b', 'c'], config: {}, metrics: [] });
    expect(run.latest()).toBe(path.join(run.dir, 'epoch-0001'));
    expect(fs.readdirSync(run.dir).sort()).toEqual(['epoch-0001', 'epoch-10000', 'latest']);
    expect(() => new CheckpointRun(root, 0)).toThrow('CheckpointRun: keep must be an integer >= 1, but got 0.');
    s3n.dispose();
  });
});
