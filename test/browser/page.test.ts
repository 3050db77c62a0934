/**
 * The web page (examples/browser/) in headless Chromium: built from the package's ESM build
 * with esbuild (no Node-only module in the bundle), serving the demo checkpoint exported by
 * `s3n export`: on WebGPU (SwiftShader) it predicts a sample (top class and probabilities as
 * the CLI's `s3n predict`) and draws all five panels; in a browser with neither WebGPU nor
 * WebGL it picks wasm by itself, predicts the same and fine-tunes two steps (fine-tuning on
 * WebGPU is covered by webgpu.test.ts: a software adapter takes ~30 s a step). Screenshots go
 * to test/browser/output/ (kept by CI).
 *
 * Needs Debian's `chromium` (skipped with a printed reason without it, a failure under
 * S3N_STRICT=1) and the build, which it makes first when `dist/` is missing or stale
 * (test/helpers/dist.ts; dist/cli.js trains and exports the demo checkpoint, ~20 s; set
 * S3N_PAGE_DEMO_DIR to keep and reuse that run between runs).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Server } from 'node:http';
import { chromium, Browser, Page } from 'playwright-core';
import { serveStatic } from '../../examples/browser/build';
import { prepareDemoSite, DemoSite } from '../../examples/browser/demo_site';
import { ensureFreshBuild } from '../helpers/dist';
import { CHROMIUM, hasChromium } from '../helpers/requirements';

/** `describe`, or `describe.skip` without Chromium (then jest runs none of the hooks below either). */
const describeInChromium = hasChromium() ? describe : describe.skip;
const OUTPUT = path.join(__dirname, 'output');
const REPO = path.resolve(__dirname, '../..');
const BASE_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** A software WebGPU adapter (SwiftShader's Vulkan) and SwiftShader WebGL. */
const GPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'];
/** Neither WebGPU nor WebGL. */
const NO_GPU_ARGS = ['--disable-gpu', '--disable-webgl'];

interface PageState {
  phase: string;
  error?: string;
  backend?: string;
  backendReason?: string;
  probes?: { name: string; available: boolean; software: boolean; detail: string }[];
  prediction?: { image: string; top: { name: string; probability: number }[]; ms: number };
  predictions: number;
  fineTune: { running: boolean; examples: number; skipped: string[]; losses: number[]; steps: number; done: number };
}

let dir: string;
let site: DemoSite;
let server: Server;
let url: string;
/** `s3n predict` (cpu) of the first sample: class names and probabilities, best first. */
let reference: { name: string; probability: number }[];

async function launch(args: string[]): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...BASE_ARGS, ...args] });
}

async function openPage(browser: Browser, query: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${url}${query}`);
  await page.waitForFunction(() => (window as unknown as { s3nPage?: unknown }).s3nPage !== undefined);
  await page.evaluate('window.s3nPage.ready');
  return { page, errors };
}

const pageState = (page: Page) => page.evaluate('window.s3nPage.state') as Promise<PageState>;

/** Standard deviation of every panel canvas's pixels (0 = blank). */
function panelSpread(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const out: Record<string, number> = {};
    for (const fig of Array.from(document.querySelectorAll<HTMLElement>('figure.panel'))) {
      const canvas = fig.querySelector('canvas') as HTMLCanvasElement;
      const d = (canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
      let s = 0;
      let s2 = 0;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) {
        const v = d[i] + d[i + 1] + d[i + 2];
        s += v;
        s2 += v * v;
        n++;
      }
      out[`${fig.dataset.panel}|${fig.querySelector('h3')?.textContent}`] = Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2));
    }
    return out;
  });
}

async function predictSample(page: Page): Promise<PageState> {
  const before = (await pageState(page)).predictions;
  await page.setInputFiles('#file', site.samples[0].source);
  await page.waitForFunction(
    (n) => {
      const st = (window as unknown as { s3nPage: { state: PageState } }).s3nPage.state;
      return st.predictions > n || st.error !== undefined;
    },
    before,
    { timeout: 60000 },
  );
  const state = await pageState(page);
  expect(state.error).toBeUndefined();
  return state;
}

/** Fine-tunes two steps on four images named after their classes (plus one that names none). */
async function fineTuneTwoSteps(page: Page, backend: string): Promise<void> {
  const predictions = (await pageState(page)).predictions;
  await page.click('nav.tabs button[data-tab="finetune"]');
  const files = site.samples.map((s, i) => {
    const f = path.join(dir, `${s.label}_${i}.jpg`);
    fs.copyFileSync(s.source, f);
    return f;
  });
  const stray = path.join(dir, 'unlabelled.jpg');
  fs.copyFileSync(site.samples[0].source, stray);
  await page.setInputFiles('#ft-files', [...files, stray]);
  await page.waitForFunction(() => (window as unknown as { s3nPage: { state: PageState } }).s3nPage.state.fineTune.examples > 0);
  let state = await pageState(page);
  expect(state.fineTune.examples).toBe(files.length);
  expect(state.fineTune.skipped).toEqual(['unlabelled.jpg (no class name in its folder or file name)']);
  await page.fill('#ft-steps', '2');
  await page.fill('#ft-batch', '4');
  await page.click('#ft-run');
  await page.waitForFunction(() => {
    const ft = (window as unknown as { s3nPage: { state: PageState } }).s3nPage.state.fineTune;
    return ft.done === 2 && !ft.running;
  }, undefined, { timeout: 90000 });
  expect((await pageState(page)).error).toBeUndefined();
  // The page predicts the current image again after fine-tuning.
  await page.waitForFunction((n) => (window as unknown as { s3nPage: { state: PageState } }).s3nPage.state.predictions > n, predictions);
  state = await pageState(page);
  expect(state.fineTune.losses).toHaveLength(2);
  expect(state.fineTune.losses.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
  expect(await page.getAttribute('#ft-progress', 'max')).toBe('2');
  expect(await page.evaluate(() => (document.getElementById('ft-progress') as HTMLProgressElement).value)).toBe(2);
  expect(await page.textContent('#ft-status')).toMatch(new RegExp(`^step 2/2: loss \\d+\\.\\d{4} \\(\\d+ ms a step on ${backend}\\)$`));
  // The loss curve was drawn.
  const curve = await page.evaluate(() => {
    const c = document.getElementById('ft-curve') as HTMLCanvasElement;
    const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data;
    let blue = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 80) blue++;
    return blue;
  });
  expect(curve).toBeGreaterThan(50);
}

function expectLikeCli(state: PageState): void {
  const top = state.prediction?.top ?? [];
  expect(top.map((t) => t.name)[0]).toBe(reference[0].name);
  expect(top.length).toBe(Math.min(5, site.classNames.length));
  // The same pixels as sharp's eval crop (64² → 48² needs no resampling); probabilities as printed (0.1 %).
  for (const r of reference) {
    const p = top.find((t) => t.name === r.name)?.probability ?? NaN;
    expect(Math.abs(100 * p - 100 * r.probability)).toBeLessThan(0.6);
  }
}

beforeAll(() => ensureFreshBuild(), 300_000);

beforeAll(async () => {
  fs.mkdirSync(OUTPUT, { recursive: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3n-page-'));
  // S3N_PAGE_DEMO_DIR: reuse (or make once) the demo run there instead of training a fresh one.
  // Three epochs (~20 s) are enough: the page is compared with the CLI, not with the labels.
  site = await prepareDemoSite(path.join(dir, 'site'), { demoDir: process.env.S3N_PAGE_DEMO_DIR ?? path.join(dir, 'demo'), epochs: 3 });
  ({ server, url } = await serveStatic(site.dir));
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(REPO, 'dist', 'cli.js'), 'predict', '--checkpoint', site.checkpoint, site.samples[0].source], { cwd: REPO });
  reference = [...stdout.matchAll(/^\s+\d+\. (\S+)\s+([\d.]+)%$/gm)].map((m) => ({ name: m[1], probability: Number(m[2]) / 100 }));
  expect(reference.length).toBe(site.classNames.length);
}, 150000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describeInChromium('the S3N web page', () => {
  it('is bundled from dist/index.mjs without Node-only modules, and reports its size', () => {
    const inputs = Object.keys(site.metafile.inputs);
    expect(inputs).toContain('dist/index.mjs');
    // Node built-ins only as esbuild's empty '(disabled):fs' stubs (tfjs' browser fields), no sharp.
    expect(inputs.filter((f) => f.startsWith('node:') || builtinModules.includes(f) || /(^|\/)node_modules\/(sharp|@img|webgpu)\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => f.startsWith('(disabled):') && !/^\(disabled\):(fs|path|os|util|crypto|worker_threads|perf_hooks|(.*\/)?node_modules\/node-fetch\/browser\.js)$/.test(f))).toEqual([]);
    expect(site.nodeInputs).toEqual([]);
    expect(site.bundleBytes).toBeGreaterThan(100e3);
    expect(site.bundleBytes).toBeLessThan(4e6);
    fs.writeFileSync(path.join(OUTPUT, 'bundle-size.json'), JSON.stringify({ pageJsBytes: site.bundleBytes, wasmBytes: site.wasmBytes, inputs: inputs.length }, null, 1));
    expect(fs.readdirSync(site.dir).sort()).toEqual(['index.html', 'meta.json', 'model', 'page.js', 'samples', 'style.css', 'wasm']);
    expect(fs.readdirSync(path.join(site.dir, 'model')).sort()).toEqual(['classes.txt', 'model.json', 'weights.bin']);
  });

  it('on WebGPU: predicts like the CLI and draws every panel, leaking no tensor', async () => {
    const browser = await launch(GPU_ARGS);
    try {
      const { page, errors } = await openPage(browser, '?backend=webgpu');
      let state = await pageState(page);
      expect([state.phase, state.error, state.backend]).toEqual(['ready', undefined, 'webgpu']);
      expect(await page.textContent('#backend-info')).toMatch(/^running on webgpu — google swiftshader/);
      state = await predictSample(page);
      expectLikeCli(state);
      expect(await page.textContent('#predicted')).toBe(`Predicted: ${reference[0].name} (${(100 * (state.prediction?.top[0].probability ?? 0)).toFixed(1)} %) for ${path.basename(site.samples[0].source)}`);
      expect(await page.textContent('#timing')).toMatch(/^Prediction took \d+ ms on webgpu/);
      const spread = await panelSpread(page);
      expect(Object.keys(spread)).toEqual([
        'peaks|Input with peaks',
        'discriminative|Discriminative attention',
        'zoomed|Zoomed image',
        'complementary|Complementary attention',
        'complementaryImage|Complementary image',
      ]);
      for (const [k, v] of Object.entries(spread)) expect([k, v > 5]).toEqual([k, true]);
      // A second prediction leaves no tensor behind.
      const tensors = await page.evaluate('window.s3nPage.numTensors()');
      await predictSample(page);
      expect(await page.evaluate('window.s3nPage.numTensors()')).toBe(tensors);
      await page.screenshot({ path: path.join(OUTPUT, 'page-predict-webgpu.png'), fullPage: true });

      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 180000);

  it('without WebGPU and WebGL: chooses wasm by itself, predicts like the CLI, fine-tunes two steps', async () => {
    const browser = await launch(NO_GPU_ARGS);
    try {
      const { page, errors } = await openPage(browser, '');
      let state = await pageState(page);
      expect([state.phase, state.error, state.backend]).toEqual(['ready', undefined, 'wasm']);
      const probes = Object.fromEntries((state.probes ?? []).map((p) => [p.name, [p.available, p.detail]]));
      expect(probes).toEqual({
        webgpu: [false, 'navigator.gpu.requestAdapter() returned null'],
        webgl: [false, 'no WebGL context'],
        wasm: [true, 'WebAssembly (XNNPACK)'],
        cpu: [true, 'plain JavaScript'],
      });
      expect(state.backendReason).toBe('fastest available');
      state = await predictSample(page);
      expectLikeCli(state);
      for (const [k, v] of Object.entries(await panelSpread(page))) expect([k, v > 5]).toEqual([k, true]);
      await page.screenshot({ path: path.join(OUTPUT, 'page-predict-wasm.png'), fullPage: true });
      await fineTuneTwoSteps(page, 'wasm');
      await page.screenshot({ path: path.join(OUTPUT, 'page-finetune-wasm.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120000);
});
