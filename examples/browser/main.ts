/**
 * The S3N web page: loads a checkpoint exported by `s3n export` (model.json, weights,
 * classes.txt), predicts a picked, dropped or sample image (top-5 classes, the five pictures
 * of what the model looks at, the time it took) and fine-tunes the model on dropped images.
 *
 * URL parameters: `backend` (webgpu, webgl, wasm or cpu; default the fastest available),
 * `model` (folder of model.json and classes.txt; default `model/`).
 *
 * The page exposes `window.s3nPage` (its state) for tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { S3N } from '../../dist/index.mjs';
import { PANELS } from '../../src/cli/panels';
import { chooseBackend, initBackend, PAGE_BACKENDS, probeBackends, type BackendProbe } from './backends';
import { drawLossCurve, drawPanels, PANEL_SIDE } from './draw';
import { cropPixels, decodeFile, decodeUrl, denormalize, normalize, type PageImage } from './image';
import { labelOf } from './labels';

/** One class and its probability. */
interface Scored {
  name: string;
  probability: number;
}

/** What the page did last, for a person (the DOM) and for tests (`window.s3nPage`). */
interface PageState {
  phase: 'starting' | 'ready' | 'error';
  error?: string;
  backend?: string;
  backendReason?: string;
  probes?: BackendProbe[];
  model?: { classes: string[]; inputSize: number; parameters: number; warmupMs: number };
  prediction?: { image: string; top: Scored[]; ms: number };
  predictions: number;
  fineTune: { running: boolean; examples: number; skipped: string[]; losses: number[]; steps: number; done: number };
}

const params = new URLSearchParams(location.search);
const MODEL_DIR = (params.get('model') ?? 'model/').replace(/\/?$/, '/');
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const state: PageState = { phase: 'starting', predictions: 0, fineTune: { running: false, examples: 0, skipped: [], losses: [], steps: 0, done: 0 } };
let s3n: S3N | undefined;
let classNames: string[] = [];
let current: PageImage | undefined;
let examples: { image: PageImage; label: number }[] = [];

function setStatus(text: string, isError = false): void {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

function fail(e: unknown): void {
  const message = (e as Error)?.message ?? String(e);
  state.phase = state.phase === 'starting' ? 'error' : state.phase;
  state.error = message;
  setStatus(message, true);
  console.error(e);
}

// ---- tabs -------------------------------------------------------------------------------

for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>('nav.tabs button'))) {
  button.addEventListener('click', () => {
    for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('nav.tabs button'))) b.classList.toggle('active', b === button);
    for (const section of Array.from(document.querySelectorAll<HTMLElement>('section.tab'))) section.hidden = section.id !== `tab-${button.dataset.tab}`;
  });
}

// ---- prediction -------------------------------------------------------------------------

function buildPanels(): HTMLCanvasElement[] {
  const box = $('panels');
  box.replaceChildren();
  return PANELS.map((p) => {
    const fig = document.createElement('figure');
    fig.className = 'panel';
    fig.dataset.panel = p.key;
    const title = document.createElement('h3');
    title.textContent = p.title;
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = PANEL_SIDE;
    const text = document.createElement('figcaption');
    text.textContent = p.explanation;
    fig.append(title, canvas, text);
    box.append(fig);
    return canvas;
  });
}
const panelCanvases = buildPanels();

async function predict(image: PageImage): Promise<void> {
  if (!s3n) return;
  current = image;
  const [size] = s3n.inputShape;
  const x = tf.tensor4d(normalize(cropPixels(image.bitmap, size)), [1, size, size, 3]);
  // A checkpoint trained with --source-size samples from the same crop at its source size.
  const sourceSide = s3n.sourceSize?.[0];
  const source = sourceSide === undefined ? undefined : tf.tensor4d(normalize(cropPixels(image.bitmap, sourceSide)), [1, sourceSide, sourceSide, 3]);
  try {
    const t0 = performance.now();
    const probs = tf.tidy(() => tf.softmax(s3n!.predict(x, { source })));
    const p = await probs.data();
    const ms = performance.now() - t0;
    probs.dispose();
    const top = Array.from(p, (probability, i) => ({ name: classNames[i] ?? `class ${i}`, probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, 5);
    const e = s3n.explain(x, { source });
    const up = (m: tf.Tensor3D) => tf.tidy(() => tf.image.resizeBilinear(tf.expandDims(m, 3) as tf.Tensor4D, [size, size], true));
    const [zUp, iUp] = [up(e.zoomSaliency), up(e.inverseSaliency)];
    const [input, decision, peaks, zoomSaliency, inverseSaliency, zoomImage, inverseImage] = await Promise.all(
      [x, e.decision, e.peaks, zUp, iUp, e.zoomImage, e.inverseImage].map((t) => t.data()),
    );
    tf.dispose([...Object.values(e), zUp, iUp]);
    drawPanels(panelCanvases, {
      size,
      grid: e.decision.shape[1],
      input: denormalize(input),
      decision,
      peaks,
      zoomSaliency,
      inverseSaliency,
      zoomImage: denormalize(zoomImage),
      inverseImage: denormalize(inverseImage),
    });
    state.prediction = { image: image.name, top, ms };
    state.predictions++;
    const list = $('top5');
    list.replaceChildren(
      ...top.map((t) => {
        const li = document.createElement('li');
        const bar = document.createElement('span');
        bar.className = 'bar';
        bar.style.width = `${(100 * t.probability).toFixed(1)}%`;
        const label = document.createElement('span');
        label.className = 'label';
        label.textContent = `${t.name} — ${(100 * t.probability).toFixed(1)} %`;
        li.append(bar, label);
        return li;
      }),
    );
    $('predicted').textContent = `Predicted: ${top[0].name} (${(100 * top[0].probability).toFixed(1)} %) for ${image.name}`;
    $('timing').textContent = `Prediction took ${ms.toFixed(0)} ms on ${state.backend} (the pictures are extra).`;
    $('result').hidden = false;
  } finally {
    tf.dispose([x, ...(source ? [source] : [])]);
  }
}

function predictFile(file: File | undefined): void {
  if (!file) return;
  decodeFile(file).then(predict).catch(fail);
}

$('file').addEventListener('change', (ev) => {
  const input = ev.target as HTMLInputElement;
  predictFile(input.files?.[0]);
  input.value = ''; // so that choosing the same file again predicts again
});
setUpDrop($('drop'), (files) => predictFile(files[0]));

async function showSamples(): Promise<void> {
  const res = await fetch('samples/samples.json').catch(() => undefined);
  if (!res?.ok) return;
  const list = (await res.json()) as { file: string; label: string }[];
  const box = $('samples');
  box.append('Samples: ');
  for (const s of list) {
    const b = document.createElement('button');
    b.textContent = s.label;
    b.title = s.file;
    b.addEventListener('click', () => decodeUrl(`samples/${s.file}`).then(predict).catch(fail));
    box.append(b);
  }
}

// ---- drag and drop (files and folders) --------------------------------------------------

interface PathFile {
  file: File;
  path: string;
}

async function readEntry(entry: FileSystemEntry, prefix: string, out: PathFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, path: `${prefix}${entry.name}` });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await readEntry(child, `${prefix}${entry.name}/`, out);
    }
  }
}

function setUpDrop(zone: HTMLElement, onFiles: (files: File[], paths: PathFile[]) => void): void {
  zone.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('over');
    const items = Array.from(ev.dataTransfer?.items ?? []);
    const entries = items.map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => e != null);
    if (entries.length === 0) {
      const files = Array.from(ev.dataTransfer?.files ?? []);
      onFiles(files, files.map((file) => ({ file, path: file.name })));
      return;
    }
    const out: PathFile[] = [];
    Promise.all(entries.map((e) => readEntry(e, '', out)))
      .then(() => onFiles(out.map((p) => p.file), out))
      .catch(fail);
  });
}

// ---- fine-tuning ------------------------------------------------------------------------

async function addExamples(paths: PathFile[]): Promise<void> {
  const skipped: string[] = [];
  for (const { file, path } of paths) {
    if (!/\.(jpe?g|png|gif|bmp|webp)$/i.test(file.name)) continue;
    const label = labelOf(path, classNames);
    if (label === undefined) {
      skipped.push(`${path} (no class name in its folder or file name)`);
      continue;
    }
    try {
      examples.push({ image: await decodeFile(file), label });
    } catch (e) {
      skipped.push(`${path} (${(e as Error).message})`);
    }
  }
  state.fineTune.examples = examples.length;
  state.fineTune.skipped.push(...skipped);
  const counts = classNames.map((c, k) => `${c}: ${examples.filter((x) => x.label === k).length}`);
  $('ft-list').textContent =
    `${examples.length} labelled images (${counts.join(', ')})` + (state.fineTune.skipped.length ? `; skipped ${state.fineTune.skipped.join('; ')}` : '');
  ($('ft-run') as HTMLButtonElement).disabled = examples.length === 0 || !s3n;
}

const pathsOf = (input: HTMLInputElement) => Array.from(input.files ?? [], (file) => ({ file, path: file.webkitRelativePath || file.name }));
for (const id of ['ft-files', 'ft-folder']) {
  $(id).addEventListener('change', (ev) => {
    const input = ev.target as HTMLInputElement;
    const paths = pathsOf(input);
    input.value = '';
    addExamples(paths).catch(fail);
  });
}
setUpDrop($('ft-drop'), (_files, paths) => addExamples(paths).catch(fail));
$('ft-clear').addEventListener('click', () => {
  examples = [];
  state.fineTune.examples = 0;
  state.fineTune.skipped = [];
  $('ft-list').textContent = 'No images yet.';
  ($('ft-run') as HTMLButtonElement).disabled = true;
});

function readNumber(id: string, min: number, max: number, integer: boolean): number {
  const input = $(id) as HTMLInputElement;
  const v = Number(input.value);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new Error(`${input.dataset.name ?? id} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], but got '${input.value}'`);
  }
  return v;
}

async function fineTune(): Promise<void> {
  if (!s3n || examples.length === 0 || state.fineTune.running) return;
  const steps = readNumber('ft-steps', 1, 1000, true);
  const batchSize = readNumber('ft-batch', 1, 64, true);
  const learningRate = readNumber('ft-lr', 1e-6, 1, false);
  const ft = state.fineTune;
  Object.assign(ft, { running: true, losses: [], steps, done: 0 });
  const progress = $('ft-progress') as HTMLProgressElement;
  progress.max = steps;
  progress.value = 0;
  ($('ft-run') as HTMLButtonElement).disabled = true;
  const optimizer = s3n.createOptimizer({ learningRate });
  const [size] = s3n.inputShape;
  let order: number[] = [];
  const t0 = performance.now();
  try {
    for (let step = 0; step < steps; step++) {
      const batch: number[] = [];
      while (batch.length < Math.min(batchSize, examples.length)) {
        if (order.length === 0) order = examples.map((_, i) => i).sort(() => Math.random() - 0.5);
        batch.push(order.pop() as number);
      }
      const sourceSide = s3n.sourceSize?.[0];
      const pixels = new Float32Array(batch.length * size * size * 3);
      const sourcePixels = sourceSide === undefined ? undefined : new Float32Array(batch.length * sourceSide * sourceSide * 3);
      batch.forEach((i, b) => {
        const mirror = Math.random() < 0.5;
        pixels.set(normalize(cropPixels(examples[i].image.bitmap, size, mirror)), b * size * size * 3);
        if (sourcePixels) sourcePixels.set(normalize(cropPixels(examples[i].image.bitmap, sourceSide as number, mirror)), b * (sourceSide as number) ** 2 * 3);
      });
      const x = tf.tensor4d(pixels, [batch.length, size, size, 3]);
      const source = sourcePixels && tf.tensor4d(sourcePixels, [batch.length, sourceSide as number, sourceSide as number, 3]);
      const y = tf.tensor1d(batch.map((i) => examples[i].label), 'int32');
      const loss = s3n.trainStep(x, y, optimizer, { source });
      const value = (await loss.data())[0];
      tf.dispose([x, y, loss, ...(source ? [source] : [])]);
      ft.losses.push(value);
      ft.done = step + 1;
      progress.value = step + 1;
      $('ft-status').textContent = `step ${step + 1}/${steps}: loss ${value.toFixed(4)} (${((performance.now() - t0) / (step + 1)).toFixed(0)} ms a step on ${state.backend})`;
      drawLossCurve($('ft-curve') as HTMLCanvasElement, ft.losses, steps);
      await tf.nextFrame();
    }
  } finally {
    optimizer.dispose();
    ft.running = false;
    ($('ft-run') as HTMLButtonElement).disabled = false;
  }
  if (current) await predict(current);
}

$('ft-run').addEventListener('click', () => fineTune().catch(fail));
$('ft-save').addEventListener('click', () => {
  s3n?.model.save('downloads://s3n-finetuned').catch(fail);
});

// ---- start-up ---------------------------------------------------------------------------

async function loadModel(): Promise<void> {
  const res = await fetch(`${MODEL_DIR}classes.txt`);
  if (!res.ok) throw new Error(`cannot load ${MODEL_DIR}classes.txt (HTTP ${res.status}): export a checkpoint with s3n export --checkpoint DIR --out ${MODEL_DIR}`);
  classNames = (await res.text()).split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const model = await tfl.loadLayersModel(`${MODEL_DIR}model.json`);
  s3n = S3N.fromModel(model);
  if (s3n.classes !== classNames.length) throw new Error(`classes.txt must list the model's ${s3n.classes} classes, but has ${classNames.length} lines`);
  const [size] = s3n.inputShape;
  const t0 = performance.now();
  const warm = tf.tidy(() => s3n!.predict(tf.zeros([1, size, size, 3])));
  await warm.data();
  warm.dispose();
  const warmupMs = performance.now() - t0;
  state.model = { classes: classNames, inputSize: size, parameters: model.countParams(), warmupMs };
  $('model-info').textContent =
    `Model: ${classNames.length} classes (${classNames.join(', ')}), input ${size}×${size}, ${model.countParams().toLocaleString('en')} parameters; ` +
    `first run (${state.backend} set-up) ${warmupMs.toFixed(0)} ms.`;
}

async function start(): Promise<void> {
  const probes = await probeBackends();
  state.probes = probes;
  const chosen = chooseBackend(probes, params.get('backend'));
  const select = $('backend-select') as HTMLSelectElement;
  for (const name of PAGE_BACKENDS) {
    const p = probes.find((q) => q.name === name) as BackendProbe;
    const option = new Option(`${name}${p.available ? (p.software ? ' (software)' : '') : ' (not available)'}`, name, false, name === chosen.name);
    option.disabled = !p.available;
    option.title = p.detail;
    select.append(option);
  }
  select.addEventListener('change', () => {
    params.set('backend', select.value);
    location.search = params.toString();
  });
  setStatus(`Starting the ${chosen.name} backend…`);
  await initBackend(chosen.name, new URL('wasm/', location.href).href);
  state.backend = tf.getBackend();
  state.backendReason = chosen.reason;
  const probe = probes.find((p) => p.name === chosen.name) as BackendProbe;
  $('backend-info').textContent = `running on ${state.backend} — ${probe.detail} (${chosen.reason})`;
  setStatus(`Loading the model from ${MODEL_DIR}…`);
  await loadModel();
  state.phase = 'ready';
  setStatus('Ready: pick or drop an image, or try a sample.');
  await showSamples();
}

const ready = start().catch(fail);

(window as unknown as { s3nPage: unknown }).s3nPage = {
  ready,
  state,
  numTensors: () => tf.memory().numTensors,
};
