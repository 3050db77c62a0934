/**
 * `npm run bench [-- --only ops,model,wasm] [--quick]`: runs the benchmarks, prints a table and
 * writes bench/results/latest.json. Every ratio compares two figures measured in this run on
 * this machine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { printTable, Row } from './common';
import { benchOps } from './ops';
import { benchModel, benchModelForward } from './model';
import { smallResNet, resnet50 } from '../src';
import { installFastCpuKernels } from '../src/cli/cpu_kernels';

async function main() {
  const { values } = parseArgs({ options: { only: { type: 'string' }, quick: { type: 'boolean', default: false } } });
  const only = new Set((values.only ?? 'ops,model').split(','));
  const quick = values.quick === true;
  const rows: Row[] = [];
  const log = (r: Row[]) => {
    rows.push(...r);
    printTable(r);
  };
  if (only.has('ops')) log(await benchOps(['cpu', 'wasm'], quick ? 2 : 16, quick ? 224 : 448));
  if (only.has('model')) {
    // The CLI's faster cpu Conv2DBackpropFilter (tfjs-backend-cpu's runs ~5·10⁶ MAC/s); both the
    // baseline and S3N use it, so the ratio compares like with like.
    installFastCpuKernels();
    log(await benchModel({ label: 'small ResNet', backend: 'cpu', batch: 2, size: 224, makeBackbone: () => smallResNet({ inputSize: 224, seed: 1 }) }));
    log(await benchModel({ label: 'small ResNet, fixed filter', backend: 'cpu', batch: 2, size: 224, trainableFilter: false, makeBackbone: () => smallResNet({ inputSize: 224, seed: 1 }) }));
  }
  if (only.has('resnet50')) {
    // Needs the wasm training kernels (s3n-layers/wasm-training).
    await import('../src/wasm-training');
    // Forward only: an S3N training step on ResNet-50 aborts on wasm, out of heap (see README).
    log(await benchModelForward({ label: 'ResNet-50', backend: 'wasm', batch: 1, size: 224, makeBackbone: () => resnet50({ inputSize: 224, seed: 1 }), repeats: 2 }));
  }
  if (only.has('wasm')) {
    const { benchWasmTraining } = await import('./wasm_training');
    console.log(JSON.stringify(await benchWasmTraining(), null, 2));
  }
  console.log('\nAll results');
  printTable(rows);
  const out = path.join(__dirname, 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'latest.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
