/**
 * `npx tsx bench/pretrained_step.ts [--quick]` (issue 10): what a pretrained backbone costs.
 *
 * - Loading a real-size torchvision ResNet-50 state dict (random weights written here by Debian's
 *   PyTorch, /usr/bin/python3: torch.save's zip `.pth` and `.safetensors`, about 100 MB each, in a
 *   temporary folder; nothing is downloaded): `readWeightFile` alone (read and parse) and
 *   `loadTorchWeights` into `torchvisionResNet(50, { inputSize: 448 })` on the wasm backend
 *   (read, parse, check, transpose, assign). Median of 3.
 * - One S3N training step on that backbone on wasm (`s3n-layers/wasm-training`), 448×448,
 *   batch 1, 200 classes, gradient checkpointing (without it the step does not fit the wasm
 *   heap): the first step (it also makes the optimiser's momentum buffers) and the second; the
 *   wasm heap afterwards (it never shrinks: its peak) and the peak of live tensor bytes of a
 *   third step (tf.profile).
 *
 * `--quick`: one repeat of each load, the step at 224×224 and no profiled step.
 * The measurements run in a fresh Node process (the wasm heap never shrinks, so earlier
 * sections of `npm run bench` would fragment it). Prints a table, writes
 * bench/results/pretrained_step.json. Without torch the section says so and is skipped.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { torchvisionResNet } from '../src/backbones/torchvision_resnet';
import { loadTorchWeights } from '../src/io/pretrained_weights';
import { readWeightFile } from '../src/io/weights';
import { S3N } from '../src/model';
import { argOf, printTable, Row, runInChild, useBackend, writeResults } from './common';
import { pythonPath, wasmHeapMiB } from './vs_pytorch';

const REPO = path.resolve(__dirname, '..');
const CLASSES = 200;
const MiB = 2 ** 20;

/** Writes DIR/resnet50.pth (torch.save, zip) and DIR/resnet50.safetensors of a random-init torchvision ResNet-50. */
const WRITER = `
import os, sys, time
import torch, torchvision
sys.path.insert(0, sys.argv[2])
from torch_parity import save_safetensors  # the repo's writer (the safetensors package is not in Debian)
torch.manual_seed(0)
sd = torchvision.models.resnet50().state_dict()
t0 = time.perf_counter(); torch.save(sd, os.path.join(sys.argv[1], 'resnet50.pth')); t1 = time.perf_counter()
save_safetensors(sd, os.path.join(sys.argv[1], 'resnet50.safetensors')); t2 = time.perf_counter()
print(len(sd), torch.__version__, torchvision.__version__, round((t1 - t0) * 1000), round((t2 - t1) * 1000))
`;

/** What the child measures. */
interface Measured {
  size: number;
  repeats: number;
  tensorsLoaded: number;
  ignored: string[];
  files: Record<'pth' | 'safetensors', { bytes: number; readMs: number[]; loadMs: number[] }>;
  heapAfterLoadsMiB: number;
  stepMs: number[];
  loss: number[];
  heapAfterStepsMiB: number;
  /** tf.profile's peak of live tensor bytes in a step (null in quick mode). */
  stepPeakBytes: number | null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The child: loads and steps on wasm, in this process. */
async function measure(dir: string, quick: boolean): Promise<Measured> {
  await import('../src/wasm-training');
  await useBackend('wasm');
  const size = quick ? 224 : 448;
  const repeats = quick ? 1 : 3;
  const backbone = torchvisionResNet(50, { inputSize: size, initializer: 'zeros' });
  const files = {} as Measured['files'];
  let tensorsLoaded = 0;
  let ignored: string[] = [];
  for (const ext of ['pth', 'safetensors'] as const) {
    const file = path.join(dir, `resnet50.${ext}`);
    const entry = { bytes: fs.statSync(file).size, readMs: [] as number[], loadMs: [] as number[] };
    for (let r = 0; r < repeats; r++) {
      let t0 = performance.now();
      const content = await readWeightFile(file);
      entry.readMs.push(performance.now() - t0);
      if (content.format === 'keras-h5') throw new Error(`${file}: not a state dict`);
      t0 = performance.now();
      const report = await loadTorchWeights(backbone, file);
      // setWeights writes the variables; reading one value waits for the backend.
      await backbone.getLayer('conv1').getWeights()[0].data();
      entry.loadMs.push(performance.now() - t0);
      tensorsLoaded = report.loaded.length;
      ignored = report.ignored.map((i) => i.key);
      console.log(`  ${ext} ${r + 1}/${repeats}: readWeightFile ${entry.readMs[r].toFixed(0)} ms, loadTorchWeights ${entry.loadMs[r].toFixed(0)} ms`);
    }
    files[ext] = entry;
  }
  const heapAfterLoadsMiB = wasmHeapMiB();

  const s3n = S3N.create(backbone, { classes: CLASSES, seed: 1 }).setGradCheckpointing();
  const opt = s3n.createOptimizer();
  const images = tf.randomUniform([1, size, size, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const labels = tf.tensor1d([3], 'int32');
  const stepMs: number[] = [];
  const loss: number[] = [];
  for (let k = 0; k < 2; k++) {
    const t0 = performance.now();
    const l = s3n.trainStep(images, labels, opt);
    loss.push((await l.data())[0]);
    stepMs.push(performance.now() - t0);
    l.dispose();
    console.log(`  S3N step ${k + 1}: ${stepMs[k].toFixed(0)} ms, loss ${loss[k].toFixed(4)}, wasm heap ${wasmHeapMiB().toFixed(0)} MiB`);
  }
  let stepPeakBytes: number | null = null;
  if (!quick) {
    const info = await tf.profile(() => s3n.trainStep(images, labels, opt));
    (info.result as tf.Tensor).dispose();
    stepPeakBytes = info.peakBytes;
  }
  const heapAfterStepsMiB = wasmHeapMiB();
  tf.dispose([images, labels]);
  opt.dispose();
  s3n.dispose();
  return { size, repeats, tensorsLoaded, ignored, files, heapAfterLoadsMiB, stepMs, loss, heapAfterStepsMiB, stepPeakBytes };
}

/** The table rows of a measurement. */
function rowsOf(m: Measured): Row[] {
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const of = (xs: number[]) => (xs.length > 1 ? `median of ${xs.length}: ${xs.map((x) => x.toFixed(0)).join(', ')} ms` : '1 run');
  const pth = m.files.pth;
  const st = m.files.safetensors;
  const model = `torchvisionResNet(50, ${m.size}²)`;
  const rows: Row[] = [
    { section: 'weights', name: `readWeightFile resnet50.pth (torch.save zip, ${mb(pth.bytes)})`, backend: 'node', ms: median(pth.readMs), note: of(pth.readMs) },
    { section: 'weights', name: `readWeightFile resnet50.safetensors (${mb(st.bytes)})`, backend: 'node', ms: median(st.readMs), ratio: median(st.readMs) / median(pth.readMs), baseline: '.pth', note: of(st.readMs) },
    { section: 'weights', name: `loadTorchWeights .pth into ${model}`, backend: 'wasm', ms: median(pth.loadMs), note: `${m.tensorsLoaded} tensors; ${of(pth.loadMs)}` },
    { section: 'weights', name: `loadTorchWeights .safetensors into ${model}`, backend: 'wasm', ms: median(st.loadMs), ratio: median(st.loadMs) / median(pth.loadMs), baseline: '.pth', note: of(st.loadMs) },
    { section: 'fine-tune', name: `S3N training step, ResNet-50 ${m.size}², batch 1, grad checkpointing: first step`, backend: 'wasm', ms: m.stepMs[0], note: 'makes the momentum buffers' },
    { section: 'fine-tune', name: `S3N training step, ResNet-50 ${m.size}², batch 1, grad checkpointing: second step`, backend: 'wasm', ms: m.stepMs[1], note: `loss ${m.loss.map((l) => l.toFixed(3)).join(', ')}` },
    { section: 'memory', name: 'wasm heap after the loads', backend: 'wasm', ms: NaN, note: `${m.heapAfterLoadsMiB.toFixed(0)} MiB` },
    { section: 'memory', name: 'wasm heap after the steps (it never shrinks: the peak)', backend: 'wasm', ms: NaN, note: `${m.heapAfterStepsMiB.toFixed(0)} MiB of 4096` },
  ];
  if (m.stepPeakBytes !== null) {
    rows.push({ section: 'memory', name: 'peak live tensor bytes of a step (tf.profile, weights included)', backend: 'wasm', ms: NaN, note: `${(m.stepPeakBytes / MiB).toFixed(0)} MiB` });
  }
  return rows;
}

/** The `weights` section: writes the files, measures in a child process, prints, writes bench/results/pretrained_step.json. */
export async function benchPretrained(quick: boolean): Promise<Row[]> {
  const py = pythonPath();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-bench-weights-'));
  try {
    console.log(`weights: writing a random-init torchvision ResNet-50 state dict (.pth and .safetensors) with ${py} into ${dir}`);
    const w = spawnSync(py, ['-c', WRITER, dir, path.join(REPO, 'test', 'backbones')], { encoding: 'utf8' });
    if (w.status !== 0) {
      console.log(`weights: skipped: ${py} could not write the ResNet-50 files (${(w.stderr || w.error?.message || '').trim().split('\n').pop()})`);
      return [];
    }
    const [keys, torchVersion, torchvisionVersion, saveMs, safetensorsMs] = w.stdout.trim().split(' ');
    const started = Date.now();
    const m = runInChild<Measured>(__filename, ['--child', dir, ...(quick ? ['--quick'] : [])]);
    const rows = rowsOf(m);
    console.log(`\npretrained weights (${keys} state-dict entries; torch ${torchVersion}, torchvision ${torchvisionVersion}; tfjs wasm, 1 thread)`);
    printTable(rows);
    writeResults('pretrained_step.json', {
      torch: torchVersion,
      torchvision: torchvisionVersion,
      pythonWriteMs: { torchSave: Number(saveMs), safetensors: Number(safetensorsMs) },
      quick,
      minutes: (Date.now() - started) / 60000,
      measured: m,
      rows,
    });
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const child = argOf('--child');
  const out = argOf('--out');
  const quick = process.argv.includes('--quick');
  tf.env().set('PROD', true);
  (async () => {
    if (child !== undefined && out !== undefined) fs.writeFileSync(out, JSON.stringify(await measure(child, quick)));
    else await benchPretrained(quick);
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
