/**
 * S3N in a browser: the ESM build, bundled with esbuild, runs inference and one training step
 * on the WebGL backend in headless Chromium (SwiftShader), and must match the cpu backend in
 * Node. Needs Debian's `chromium` (.ci/run installs it; skipped with a
 * printed reason without it, a failure under S3N_STRICT=1); builds `dist/` first when it is
 * missing or stale (test/helpers/dist.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { build } from 'esbuild';
import { chromium, Browser } from 'playwright-core';
import { S3N, smallResNet } from '../../src';
import { runScenario, ScenarioResult } from './scenario';
import { ensureFreshBuild } from '../helpers/dist';
import { CHROMIUM, hasChromium } from '../helpers/requirements';
import { compare } from '../helpers/numeric';

(hasChromium() ? describe : describe.skip)('S3N on WebGL in headless Chromium', () => {
  let browser: Browser;
  let dir: string;

  // entry.ts bundles dist/index.mjs.
  beforeAll(() => ensureFreshBuild(), 300_000);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-browser-'));
    await build({
      entryPoints: [path.join(__dirname, 'entry.ts')],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      outfile: path.join(dir, 'bundle.js'),
      logLevel: 'error',
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--enable-unsafe-swiftshader', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('inference and training steps (the second with gradient checkpointing) match the cpu backend', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ path: path.join(dir, 'bundle.js') });
    const web = (await page.evaluate('window.runS3N("webgl")')) as ScenarioResult;
    expect(errors).toEqual([]);
    expect(web.backend).toBe('webgl');
    expect(web.missing).toEqual([]);

    await tf.setBackend('cpu');
    const cpu = await runScenario(tf, S3N, smallResNet);
    const rel = (a: number[], b: number[]) => {
      const scale = Math.max(...b.map(Math.abs), 1e-6);
      return compare(a.map((v) => v / scale), b.map((v) => v / scale), { atol: 2e-3 });
    };
    for (const key of ['logitsBefore', 'logitsAfter', 'logitsAfterCheckpointed'] as const) {
      const r = rel(web[key], cpu[key]);
      if (!r.ok) throw new Error(`${key}: webgl ${web[key]} vs cpu ${cpu[key]}`);
    }
    expect(Math.abs(web.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(2e-3);
    expect(Math.abs(web.checkpointedLoss - cpu.checkpointedLoss) / Math.abs(cpu.checkpointedLoss)).toBeLessThan(2e-3);
    // The step moved both radii (their gradients flow through the sampler) by the same amount
    // on both backends, within 2% of the move.
    for (const [k, init] of [['radius', 0.09], ['radiusInv', 0.3]] as const) {
      const dCpu = cpu[k] - init;
      const dWeb = web[k] - init;
      expect(Math.abs(dCpu)).toBeGreaterThan(1e-4);
      expect(Math.abs(dWeb - dCpu)).toBeLessThan(0.02 * Math.abs(dCpu));
    }
    await page.close();
  });
});
