/**
 * S3N on WebGPU in headless Chromium: the ESM build, bundled with esbuild (entry.ts), runs
 * inference, a training step and a step with gradient checkpointing on tfjs-backend-webgpu
 * 4.22 over a software adapter (SwiftShader's Vulkan: `--enable-unsafe-webgpu
 * --use-webgpu-adapter=swiftshader`), and must match the cpu backend in Node as WebGL does.
 * Needs Debian's `chromium` (skipped with a printed reason without
 * it, a failure under S3N_STRICT=1); builds `dist/` first when it is missing or stale
 * (test/helpers/dist.ts). The measured differences go to
 * test/browser/output/parity-webgpu.json.
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
import { parity } from './parity';

const ARGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader',
];

(hasChromium() ? describe : describe.skip)('S3N on WebGPU in headless Chromium', () => {
  let browser: Browser;
  let dir: string;

  // entry.ts bundles dist/index.mjs.
  beforeAll(() => ensureFreshBuild(), 300_000);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-webgpu-'));
    await build({ entryPoints: [path.join(__dirname, 'entry.ts')], bundle: true, format: 'iife', platform: 'browser', outfile: path.join(dir, 'bundle.js'), logLevel: 'error' });
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><html><head><link rel="icon" href="data:,"></head><body></body></html>');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('inference and training steps (the second with gradient checkpointing) match the cpu backend', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    // WebGPU needs a secure context: a file:// page is one (about:blank from setContent is not).
    await page.goto(`file://${path.join(dir, 'index.html')}`);
    await page.addScriptTag({ path: path.join(dir, 'bundle.js') });
    const adapter = await page.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info: { vendor: string; architecture: string } } | null> } }).gpu;
      const a = gpu ? await gpu.requestAdapter() : null;
      return a ? `${a.info.vendor} ${a.info.architecture}` : null;
    });
    expect(adapter).toBe('google swiftshader');
    const web = (await page.evaluate('window.runS3N("webgpu")')) as ScenarioResult;
    expect(errors).toEqual([]);
    expect(web.backend).toBe('webgpu');
    expect(web.missing).toEqual([]);

    await tf.setBackend('cpu');
    const cpu = await runScenario(tf, S3N, smallResNet);
    const d = parity(web, cpu);
    fs.mkdirSync(path.join(__dirname, 'output'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'output', 'parity-webgpu.json'), JSON.stringify({ adapter, ...d }, null, 1));
    // As for WebGL: logits and losses within 2e-3 relative, radius moves within 2 %.
    expect(Math.abs(cpu.radius - 0.09)).toBeGreaterThan(1e-4);
    expect(Math.abs(cpu.radiusInv - 0.3)).toBeGreaterThan(1e-4);
    const over = Object.entries(d).filter(([k, v]) => !(v < (k.endsWith('Move') ? 0.02 : 2e-3)));
    expect(over).toEqual([]);
    await page.close();
  }, 240000);
});
