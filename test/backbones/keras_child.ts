// Run by keras_weights.test.ts in a child Node process (`node --import tsx keras_child.ts DIR`):
// h5wasm, which reads .h5 files, is an ES module that Jest's CommonJS runtime cannot import.
// Builds resnet50() and a small Keras-named model, writes their layer specs, has keras_h5.py
// write Keras-layout files from them, loads each with loadKerasWeights and prints one JSON object
// with what happened.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resnet50, smallResNet } from '../../src/backbones/resnet';
import { torchvisionResNet } from '../../src/backbones/torchvision_resnet';
import { loadKerasWeights, loadTorchWeights } from '../../src/io/pretrained_weights';

tf.env().set('PROD', true);

/** Weight k's value i, as keras_h5.py writes it. */
const expected = (k: number, i: number) => Math.fround((((7 * i + 13 * k) % 101) / 50) - 1);

/** The layers with weights and their weights in Keras' naming (`<layer>/<kind>:0`), in order. */
function specOf(model: tfl.LayersModel) {
  return model.layers
    .filter((l) => l.weights.length > 0)
    .map((l) => ({ name: l.name, weights: l.weights.map((w) => ({ name: `${l.name}/${w.originalName.slice(w.originalName.lastIndexOf('/') + 1)}:0`, shape: w.shape })) }));
}

/** Writes the model's spec and has keras_h5.py write the files from it into `dir`. */
function writeFiles(model: tfl.LayersModel, dir: string, files: string[]): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(specOf(model)));
  const py = spawnSync('/usr/bin/python3', [path.join(__dirname, 'keras_h5.py'), path.join(dir, 'spec.json'), dir, ...files], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`keras_h5.py failed: ${py.stderr}`);
}

/** Loads `file` into `model` (after setting every weight to 0.5): the report or the error, leaks, changes, wrong values. */
async function attempt(model: tfl.LayersModel, file: string): Promise<Record<string, unknown>> {
  tf.tidy(() => model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, 0.5))));
  // In the spec's order (model.getWeights() lists trainable weights first).
  const weights = () => model.layers.flatMap((l) => l.getWeights());
  const before = weights().map((w) => Float32Array.from(w.dataSync()));
  const tensors = tf.memory().numTensors;
  const r: Record<string, unknown> = {};
  try {
    const report = await loadKerasWeights(model, file);
    r.loaded = report.loaded.length;
    r.firstLoaded = report.loaded.slice(0, 3);
    r.ignored = report.ignored;
    r.format = report.format;
    // Every weight equal to what keras_h5.py wrote, bit for bit.
    let wrong = 0;
    weights().forEach((w, k) => {
      const d = w.dataSync();
      for (let i = 0; i < d.length; i++) if (d[i] !== expected(k, i)) wrong++;
    });
    r.wrongValues = wrong;
  } catch (e) {
    r.error = (e as Error).message;
    let changed = 0;
    weights().forEach((w, k) => {
      const d = w.dataSync();
      for (let i = 0; i < d.length; i++) if (d[i] !== before[k][i]) changed++;
    });
    r.changedValues = changed;
  }
  r.leaked = tf.memory().numTensors - tensors;
  return r;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  await tf.setBackend('cpu');
  const out: Record<string, unknown> = {};
  // Keras' ResNet-50 (a 100 MB file: only the main case).
  const r50 = resnet50({ inputSize: 32, seed: 1 });
  writeFiles(r50, path.join(dir, 'resnet50'), ['weights.h5']);
  out.resnet50 = { layers: specOf(r50).length, weights: r50.weights.length, 'weights.h5': await attempt(r50, path.join(dir, 'resnet50', 'weights.h5')) };
  r50.dispose();
  // The other cases on a small Keras-named model.
  const small = smallResNet({ inputSize: 16, widths: [4, 8], seed: 1 });
  const sdir = path.join(dir, 'small');
  writeFiles(small, sdir, ['split.h5', 'bad_shape.h5', 'missing.h5']);
  fs.writeFileSync(path.join(sdir, 'not_h5.h5'), 'PK\x03\x04 a zip, not HDF5');
  const cases: Record<string, unknown> = { weights: small.weights.length };
  for (const name of ['split.h5', 'bad_shape.h5', 'missing.h5', 'not_h5.h5']) cases[name] = await attempt(small, path.join(sdir, name));
  out.small = cases;
  small.dispose();
  const r18 = torchvisionResNet(18, { inputSize: 32, initializer: 'zeros' });
  try {
    await loadTorchWeights(r18, path.join(dir, 'resnet50', 'weights.h5'));
  } catch (e) {
    out.torchLoaderOnH5 = (e as Error).message;
  }
  r18.dispose();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String((e as Error)?.stack ?? e));
  process.exit(1);
});
