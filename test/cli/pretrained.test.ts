/**
 * Issue 10, the CLI side: `s3n train --backbone torchvision-resnet18 --weights FILE` with
 * torchvision ResNets written at test time by PyTorch (make_pretrained.py: random weights, zip and
 * legacy `.pth`, `.safetensors`, a ResNet-34, a file in PyTorch's oldest tar format) and
 * `--backbone resnet50 --weights FILE.h5` with a Keras-layout file written by h5py, on 64-pixel
 * images (one training step an epoch, the wasm backend: a few seconds a run). Checked: the log line
 * naming what was loaded and ignored, the weights really in the checkpoint, the errors (exit code
 * and message) of a backbone that takes no weights, a missing file, a folder, a file of another
 * depth or format; `--resume` not reading the file again; eval and predict from the checkpoint.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { resnet50 } from '../../src/backbones/resnet';
import { torchvisionResNet } from '../../src/backbones/torchvision_resnet';
import { buildPretrainedBackbone } from '../../src/cli/pretrained';
import { loadCheckpoint } from '../../src/io';
import { readSafetensors } from '../../src/io/weights/safetensors';
import { S3N } from '../../src/model';
import { describeWithPython, NEEDS_H5PY, NEEDS_TORCHVISION } from '../helpers/python';
import { DEBIAN_PYTHON } from '../helpers/requirements';
import { makeFolder } from '../data/layouts';
import { cli, CliRun } from './cli_helpers';

const SCRIPT = path.join(__dirname, 'make_pretrained.py');

function python(args: string[]): void {
  const r = spawnSync(DEBIAN_PYTHON, [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${DEBIAN_PYTHON} make_pretrained.py ${args.join(' ')} failed (exit ${r.status}): ${r.error?.message ?? r.stderr}`);
}

/** `s3n train` of one step an epoch on the 64-pixel folder `data` (2 classes, 1 training and 1 test image each). */
function trainArgs(data: string, out: string, backbone: string, extra: string[]): string[] {
  return [
    'train', '--backend', 'wasm', '--dataset', 'folder', '--data', data, '--backbone', backbone, '--input-size', '64',
    '--epochs', '1', '--batch-size', '2', '--lr', '0.01', '--switch-epoch', '0', '--grid-size', '7', '--padding-size', '4',
    '--fwhm', '2', '--seed', '3', '--out', out, ...extra,
  ];
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '');
/** The lines from the first that starts with `start` on (the CLI may log other lines, e.g. the backend, before). */
function from(text: string, start: string): string[] {
  const all = lines(text);
  const at = all.findIndex((l) => l.startsWith(start));
  if (at < 0) throw new Error(`no line starting with ${JSON.stringify(start)} in:\n${text}`);
  return all.slice(at);
}
const show = (r: CliRun) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

/** Expects a successful run (its output in the failure message otherwise). */
function expectSuccess(r: CliRun): void {
  if (r.code !== 0) throw new Error(`the run failed: ${show(r)}`);
}

/** What torchvision's resnet18 state dict holds, from keys.json. */
interface Keys {
  keys: string[];
  shapes: Record<string, number[]>;
}

/** The log line for a torchvision ResNet-18 file: counts derived from the state dict's keys. */
function torchLogLine(keys: Keys, file: string, format: string): string {
  const counters = keys.keys.filter((k) => k.endsWith('.num_batches_tracked')).length;
  const fc = keys.keys.filter((k) => k.startsWith('fc.'));
  expect(fc).toEqual(['fc.weight', 'fc.bias']);
  const loaded = keys.keys.length - fc.length - counters;
  return `weights: loaded ${loaded} tensors from ${file} (${format}) into torchvision-resnet18; ignored fc.weight, fc.bias (no classifier in the backbone) and ${counters} num_batches_tracked`;
}

describeWithPython(
  's3n train --backbone torchvision-resnet18 --weights FILE (files written by PyTorch)',
  (dir) => {
    let data: string;
    let keys: Record<'resnet18' | 'resnet34', Keys>;
    const file = (name: string) => path.join(dir(), name);
    beforeAll(async () => {
      python(['torch', dir(), '1']);
      keys = JSON.parse(fs.readFileSync(file('keys.json'), 'utf8'));
      data = await makeFolder(file('data'), { classes: 2, train: 1, test: 1, size: 64 });
    }, 120000);

    it('refuses a ResNet-34 file (exit 1, naming the unexpected keys and their shapes), then loads a torch.save .pth into the same --out: the log line names the file, the tensors and the ignored fc.* keys', async () => {
      const out = file('run-pth');
      const wrong = await cli(trainArgs(data, out, 'torchvision-resnet18', ['--weights', file('resnet34.pth')]));
      expect(wrong.code).toBe(1);
      const extra = keys.resnet34.keys.filter((k) => !keys.resnet18.keys.includes(k));
      const unexpected = extra.filter((k) => !k.endsWith('.num_batches_tracked'));
      expect(unexpected).toHaveLength(80);
      const err = from(wrong.stderr, 's3n train: ');
      expect(err[0]).toBe(
        `s3n train: loadTorchWeights: ${file('resnet34.pth')} does not fit the model 'torchvision_resnet18' (the file holds a ResNet-34 (BasicBlocks [3,4,6,3]), ` +
          `the model is a ResNet-18 (BasicBlocks [2,2,2,2]): a checkpoint of another depth?). Nothing was loaded. ${unexpected.length} problems:`,
      );
      expect(unexpected[0]).toBe('layer1.2.conv1.weight');
      expect(err[1]).toBe(`  - unexpected 'layer1.2.conv1.weight' [${keys.resnet34.shapes['layer1.2.conv1.weight'].join(',')}]: the model has no layer 'layer1.2.conv1'`);
      expect(err[2]).toBe("  - unexpected 'layer1.2.bn1.weight' [64]: the model has no layer 'layer1.2.bn1'");
      expect(err[11]).toBe(`  … and ${unexpected.length - 10} more`);
      expect(err).toHaveLength(12);
      expect(lines(wrong.stdout).filter((l) => /^(weights|training|epoch)/.test(l))).toEqual([]);
      expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual([]);

      const r = await cli(trainArgs(data, out, 'torchvision-resnet18', ['--weights', file('resnet18.pth')]));
      expectSuccess(r);
      const log = from(r.stdout, 'weights:');
      expect(log[0]).toBe(torchLogLine(keys.resnet18, file('resnet18.pth'), 'PyTorch state dict'));
      expect(log.filter((l) => l.startsWith('weights:'))).toHaveLength(1);
      expect(log.find((l) => l.startsWith('training S3N'))).toMatch(
        /^training S3N \(torchvision-resnet18 backbone, [\d,]+ parameters\) on folder: 2 classes, 2 training \/ 2 test images, input 64×64, 1 epoch of 1 batches$/,
      );
      expect(lines(r.stderr).filter((l) => /warning|error/i.test(l))).toEqual([]);
    });

    it('loads a .safetensors file: the same line, and the checkpoint holds the file\'s weights (--lr 1e-9: one step changes no kernel visibly)', async () => {
      const out = file('run-safetensors');
      const args = trainArgs(data, out, 'torchvision-resnet18', ['--weights', file('resnet18.safetensors')]);
      args[args.indexOf('--lr') + 1] = '1e-9';
      const r = await cli(args);
      expectSuccess(r);
      expect(lines(r.stdout).filter((l) => l.startsWith('weights:'))).toEqual([torchLogLine(keys.resnet18, file('resnet18.safetensors'), 'safetensors')]);

      const sd = await readSafetensors(file('resnet18.safetensors'));
      const ck = await loadCheckpoint(out);
      const s3n = S3N.fromModel(ck.model);
      try {
        expect(ck.state.config.weights).toBe(file('resnet18.safetensors'));
        const convs = s3n.backbone.layers.filter((l) => l.getClassName() === 'Conv2D');
        expect(convs.length).toBe(keys.resnet18.keys.filter((k) => k.endsWith('.weight') && keys.resnet18.shapes[k].length === 4).length);
        let worst = 0;
        let scale = 0;
        for (const layer of convs) {
          const t = sd.get(`${layer.name}.weight`)!;
          const [o, i, h, w] = t.shape;
          const kernel = layer.getWeights()[0];
          expect(kernel.shape).toEqual([h, w, i, o]);
          const got = kernel.dataSync();
          // tfjs [h, w, in, out] against PyTorch [out, in, h, w].
          for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
            const want = t.data[((a * i + b) * h + y) * w + x];
            const d = got[((y * w + x) * i + b) * o + a] - want;
            if (d > worst || -d > worst) worst = d < 0 ? -d : d;
            if (want > scale || -want > scale) scale = want < 0 ? -want : want;
          }
        }
        expect(scale).toBeGreaterThan(0.05);
        expect(worst).toBeLessThan(1e-6);
      } finally {
        s3n.dispose();
      }
    });

    it('reads the legacy (non-zip) torch.save format: buildPretrainedBackbone, what s3n train runs, logs the same line', async () => {
      const logged: string[] = [];
      const backbone = await buildPretrainedBackbone({ backbone: 'torchvision-resnet18', weights: file('resnet18.legacy.pth'), inputSize: 64, seed: 3 }, (l) => logged.push(l));
      try {
        expect(logged).toEqual([torchLogLine(keys.resnet18, file('resnet18.legacy.pth'), 'PyTorch state dict')]);
        expect(backbone?.name).toBe('torchvision_resnet18');
      } finally {
        backbone?.dispose();
      }
    });

    it('refuses --weights with a backbone that takes none, a missing file and a folder: usage errors (exit 2), exact messages, nothing written', async () => {
      const takes = 'torchvision-resnet18, torchvision-resnet34, torchvision-resnet50, torchvision-resnet101, torchvision-resnet152 (PyTorch .pth/.pt/.safetensors) or resnet50 (Keras .h5)';
      const missing = file('nothere.pth');
      const cases: [string, string, string][] = [
        ['small', file('resnet18.pth'), `--weights needs --backbone ${takes}, but got --backbone 'small'.`],
        ['torchvision-resnet18', missing, `--weights must be a readable weights file, but '${missing}' cannot be read: ENOENT: no such file or directory, access '${missing}'`],
        ['torchvision-resnet18', file('data'), `--weights must be a readable weights file, but '${file('data')}' is not a file.`],
      ];
      for (const [k, [backbone, weights, message]] of cases.entries()) {
        const out = file(`refused-${k}`);
        const r = await cli(trainArgs(data, out, backbone, ['--weights', weights]));
        expect({ code: r.code, first: r.stderr.split('\n')[0], usage: r.stderr.includes('\n\nUsage: s3n train'), stdout: r.stdout }).toEqual({
          code: 2, first: `s3n train: ${message}`, usage: true, stdout: '',
        });
        expect(fs.existsSync(out)).toBe(false);
      }
    });

    it("refuses a file in PyTorch's oldest format (a tar archive): exit 1, with the command that re-saves it", async () => {
      const r = await cli(trainArgs(data, file('run-tar'), 'torchvision-resnet18', ['--weights', file('tar_format.pth')]));
      expect(r.code).toBe(1);
      expect(from(r.stderr, 's3n train: ')).toEqual([
        `s3n train: loadTorchWeights: ${file('tar_format.pth')} is a tar archive: PyTorch's first serialization format (members sys_info, pickle, tensors, storages), which this reader does not read. ` +
          `Re-save it once with PyTorch in today's format: python3 -c "import torch; torch.save(torch.load('${file('tar_format.pth')}'), 'resaved.pth')", and load resaved.pth`,
      ]);
    });

    it('--resume does not read the weights file again (deleted, then replaced by junk), refuses another --weights, and the checkpoint rebuilds torchvision\'s architecture for eval and predict', async () => {
      const out = file('run-resume');
      const weights = file('copy.pth');
      fs.copyFileSync(file('resnet18.pth'), weights);
      const args = trainArgs(data, out, 'torchvision-resnet18', ['--weights', weights]);
      expectSuccess(await cli(args));
      fs.rmSync(weights);

      const continues = `weights: the backbone continues from the checkpoint (${weights}, loaded when the run started, is not read again)`;
      const epochs = (n: number) => args.map((a, i) => (args[i - 1] === '--epochs' ? String(n) : a));
      const resumed = await cli([...epochs(2), '--resume']);
      expectSuccess(resumed);
      const log = from(resumed.stdout, 'resuming ');
      expect(log.slice(0, 2)).toEqual([`resuming ${out} after epoch 1 (checkpoints/epoch-0001)`, continues]);
      expect(log.filter((l) => l.startsWith('weights:'))).toEqual([continues]);
      expect(log.filter((l) => /^epoch 2\/2: loss /.test(l))).toHaveLength(1);

      // Without --weights (taken from the checkpoint), the file now junk.
      fs.writeFileSync(weights, 'not a weights file');
      const again = await cli([...epochs(3).filter((a, i, all) => a !== '--weights' && all[i - 1] !== '--weights'), '--resume']);
      expectSuccess(again);
      expect(from(again.stdout, 'resuming ').slice(0, 2)).toEqual([`resuming ${out} after epoch 2 (checkpoints/epoch-0002)`, continues]);

      const other = await cli([...epochs(4).map((a) => (a === weights ? file('resnet18.pth') : a)), '--resume']);
      expect(other.code).toBe(2);
      expect(from(other.stderr, 's3n train: ')[0]).toBe(
        `s3n train: --resume continues the run in '${out}' with its own settings: weights must be ${JSON.stringify(weights)}, but got ${JSON.stringify(file('resnet18.pth'))}.`,
      );

      const ev = await cli(['eval', '--backend', 'wasm', '--checkpoint', out, '--dataset', 'folder', '--data', data]);
      expectSuccess(ev);
      expect(from(ev.stdout, 'folder test ')).toEqual([
        expect.stringMatching(
          new RegExp(`^folder test \\(2 images, checkpoint ${out}/checkpoints/epoch-0003\\): top-1 fused \\d+\\.\\d%, raw \\d+\\.\\d%, discriminative \\d+\\.\\d%, complementary \\d+\\.\\d%; top-2 fused 100\\.0%, raw 100\\.0%, discriminative 100\\.0%, complementary 100\\.0% \\(\\d+\\.\\d s\\)$`),
        ),
      ]);
      const image = path.join(data, 'test', 'alpha', '0.jpg');
      const pr = await cli(['predict', '--backend', 'wasm', '--checkpoint', out, image, '--top-k', '2']);
      expectSuccess(pr);
      const predicted = from(pr.stdout, image);
      expect(predicted[0]).toBe(image);
      expect(predicted.slice(1).map((l) => l.replace(/ {2}\d+\.\d%$/, ''))).toEqual([expect.stringMatching(/^ {2}1\. (alpha|beta)$/), expect.stringMatching(/^ {2}2\. (alpha|beta)$/)]);
      expect(new Set(predicted.slice(1).map((l) => l.split(' ')[3]))).toEqual(new Set(['alpha', 'beta']));
      expect(predicted).toHaveLength(3);

      // The checkpoint's backbone is torchvision's ResNet-18: the same layers, names and shapes as a fresh one.
      const ck = await loadCheckpoint(out);
      const s3n = S3N.fromModel(ck.model);
      const fresh = torchvisionResNet(18, { inputSize: 64, initializer: 'zeros' });
      try {
        const layout = (m: tfl.LayersModel) => m.layers.map((l) => [l.name, l.getClassName(), l.weights.map((w) => w.shape)]);
        expect(ck.state.epoch).toBe(3);
        expect(s3n.backbone.name).toBe('torchvision_resnet18');
        expect(layout(s3n.backbone)).toEqual(layout(fresh));
        expect(s3n.backbone.layers.map((l) => l.name)).toEqual(expect.arrayContaining(['conv1', 'bn1', 'layer1.0.conv1', 'layer2.0.downsample.0', 'layer4.1.bn2']));
      } finally {
        fresh.dispose();
        s3n.dispose();
      }
    });
  },
  NEEDS_TORCHVISION,
  { prefix: 's3n-pretrained-' },
);

describeWithPython(
  's3n train --backbone resnet50 --weights FILE.h5 (Keras layout, written by h5py)',
  (dir) => {
    let data: string;
    let loaded = 0;
    const file = (name: string) => path.join(dir(), name);
    beforeAll(async () => {
      // The layers of resnet50() as Keras names them, for make_pretrained.py keras.
      const model = resnet50({ inputSize: 64 });
      const spec = model.layers
        .filter((l) => l.weights.length > 0)
        .map((l) => ({ name: l.name, weights: l.weights.map((w) => ({ name: `${l.name}/${w.originalName.slice(w.originalName.lastIndexOf('/') + 1)}:0`, shape: w.shape })) }));
      model.dispose();
      loaded = spec.reduce((n, l) => n + l.weights.length, 0);
      fs.writeFileSync(file('spec.json'), JSON.stringify(spec));
      fs.writeFileSync(file('stem.json'), JSON.stringify(spec.slice(0, 1)));
      python(['keras', file('spec.json'), file('resnet50_notop.h5'), '1']);
      python(['keras', file('stem.json'), file('stem.h5'), '1']);
      data = await makeFolder(file('data'), { classes: 2, train: 1, test: 1, size: 64 });
    }, 120000);

    it("loads the .h5 into Keras' ResNet-50 and says that the backbone now converts its input to caffe preprocessing; eval from the checkpoint", async () => {
      const r = await cli(trainArgs(data, file('run'), 'resnet50', ['--weights', file('resnet50_notop.h5')]), { timeoutMs: 150000 });
      expectSuccess(r);
      const log = from(r.stdout, 'weights:');
      expect(loaded).toBe(318);
      expect(log.filter((l) => l.startsWith('weights:'))).toEqual([
        `weights: loaded ${loaded} tensors from ${file('resnet50_notop.h5')} (Keras .h5) into resnet50`,
        "weights: Keras' ResNet-50 expects caffe preprocessing: the backbone converts its input (RGB, ImageNet mean/std) to BGR minus the caffe mean",
      ]);
      expect(log.find((l) => l.startsWith('training S3N'))).toMatch(/^training S3N \(resnet50 backbone, [\d,]+ parameters\) on folder: /);
      expect(log.filter((l) => /^epoch 1\/1: loss \d/.test(l))).toHaveLength(1);

      // The checkpoint holds the preprocessing layer too: eval needs nothing else.
      const ev = await cli(['eval', '--backend', 'wasm', '--checkpoint', file('run'), '--dataset', 'folder', '--data', data]);
      expectSuccess(ev);
      expect(from(ev.stdout, 'folder test ')[0]).toMatch(/^folder test \(2 images, checkpoint .*epoch-0001\): top-1 fused \d+\.\d%/);
    }, 180000);

    it('refuses an .h5 that lacks most layers, a PyTorch file for resnet50 and an .h5 for a torchvision backbone: exit 1, exact messages', async () => {
      const stem = await cli(trainArgs(data, file('run-stem'), 'resnet50', ['--weights', file('stem.h5')]));
      expect(stem.code).toBe(1);
      const err = from(stem.stderr, 's3n train: ');
      expect(err[0]).toBe(`s3n train: loadKerasWeights: ${file('stem.h5')} does not fit the model 'resnet50'. Nothing was loaded. 105 problems:`);
      expect(err[1]).toBe("  - missing layer 'conv1_bn' (BatchNormalization): the model expects gamma [64], beta [64], moving_mean [64], moving_variance [64]");

      const pth = file('not-keras.pth');
      fs.writeFileSync(pth, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 8, 8, 1, 2, 3, 4]));
      const torchFile = await cli(trainArgs(data, file('run-pth'), 'resnet50', ['--weights', pth]));
      expect({ code: torchFile.code, stderr: from(torchFile.stderr, 's3n train: ') }).toEqual({
        code: 1,
        stderr: [`s3n train: loadKerasWeights: ${pth} is not an HDF5 file: it starts with bytes 50 4b 03 04 00 00 08 08, not the HDF5 signature 89 48 44 46 0d 0a 1a 0a`],
      });

      const h5 = await cli(trainArgs(data, file('run-h5'), 'torchvision-resnet18', ['--weights', file('stem.h5')]));
      expect({ code: h5.code, stderr: from(h5.stderr, 's3n train: ') }).toEqual({
        code: 1,
        stderr: [`s3n train: loadTorchWeights: ${file('stem.h5')} is a Keras .h5 file, not a PyTorch state dict: load it with loadKerasWeights into a Keras-named model (resnet50()).`],
      });
    });
  },
  NEEDS_H5PY,
  { prefix: 's3n-pretrained-keras-' },
);
