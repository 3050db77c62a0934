/**
 * `s3n export`: a checkpoint as a web model folder that a browser loads with
 * `tf.loadLayersModel('…/model.json')` (the page in examples/browser/ does):
 *
 * ```
 * model.json     the S3N model, standard tfjs layers format (weight paths relative to it)
 * weights.bin    its weights (every file the manifest lists, copied byte for byte)
 * classes.txt    the class names, one a line, line n = label n
 * ```
 *
 * The model is copied, not re-saved: no backend is needed and the weights stay bit-identical.
 * Only these files are written in the output folder (each atomically); other files there are
 * left alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCheckpointState } from '../io/checkpoint';
import { MODEL_JSON, writeFileAtomic } from '../io/fs_io';
import { ClassResponseMap, S3NHead, SaliencySampler, SparseAttention } from '../layers';
import { UsageError } from './backend';

/** Name of the class-name file {@link exportForWeb} writes: `'classes.txt'`. */
export const CLASSES_TXT = 'classes.txt';

/** What {@link exportForWeb} wrote. */
export interface WebExport {
  /** The checkpoint folder that was exported (absolute). */
  checkpoint: string;
  /** The output folder (absolute). */
  dir: string;
  /** Files written in `dir`, relative to it: `model.json`, the weight files, `classes.txt`. */
  files: string[];
  /** Class names, index = label. */
  classNames: string[];
  /** Total bytes of the weight files. */
  weightBytes: number;
}

interface LayerJSON {
  class_name?: string;
  config?: { layers?: LayerJSON[] };
}

/** Class names of every layer of a layers-model topology, nested models included. */
function layerClasses(topology: LayerJSON): string[] {
  const out: string[] = [];
  const visit = (layers: LayerJSON[] | undefined) => {
    for (const l of layers ?? []) {
      if (typeof l.class_name === 'string') out.push(l.class_name);
      visit(l.config?.layers);
    }
  };
  visit(topology.config?.layers);
  return out;
}

/**
 * Exports a checkpoint (or the latest of a run folder) for the web: copies `model.json` and
 * its weight files to `outDir` and writes `classes.txt` from the checkpoint's class names.
 *
 * @param checkpoint A checkpoint folder or a run folder (its latest checkpoint).
 * @param outDir Output folder; created when missing. Must not be the checkpoint itself.
 * @returns what was written, see {@link WebExport}.
 * @throws (rejects) a {@link UsageError} (exit code 1) when no checkpoint is found, when its
 *   `model.json` is not an S3N layers model, when a weight file is missing or lies outside the
 *   checkpoint folder, when a class name is empty or holds a line break, when the class count
 *   differs from the model's, or when `outDir` is the checkpoint folder or an existing file.
 */
export async function exportForWeb(checkpoint: string, outDir: string): Promise<WebExport> {
  let state: Awaited<ReturnType<typeof readCheckpointState>>;
  try {
    state = await readCheckpointState(checkpoint);
  } catch (e) {
    throw new UsageError(`--checkpoint: ${(e as Error).message}`, 1);
  }
  const src = state.dir;
  const out = path.resolve(outDir);
  if (out === src) throw new UsageError(`--out must be a folder other than the checkpoint, but got the checkpoint folder '${src}'.`, 1);
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UsageError(`--out must be a folder, but got the existing file '${out}'.`, 1);

  const jsonPath = path.join(src, MODEL_JSON);
  const text = await fs.promises.readFile(jsonPath, 'utf8');
  let model: { modelTopology?: LayerJSON; format?: string; weightsManifest?: { paths: string[] }[] };
  try {
    model = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--checkpoint: ${jsonPath} must be JSON, but got a parse error: ${(e as Error).message}.`, 1);
  }
  const classes = model.modelTopology ? layerClasses(model.modelTopology) : [];
  const needed = [ClassResponseMap.className, SparseAttention.className, SaliencySampler.className, S3NHead.className];
  const missing = needed.filter((c) => !classes.includes(c));
  if (model.format !== 'layers-model' || missing.length > 0) {
    throw new UsageError(
      `--checkpoint: ${jsonPath} must be an S3N tfjs layers model (format 'layers-model' with the layers ${needed.join(', ')}), but got format ${JSON.stringify(model.format)}` +
        (missing.length > 0 ? ` without ${missing.join(', ')}.` : '.'),
      1,
    );
  }
  const weightFiles = (model.weightsManifest ?? []).flatMap((g) => g.paths);
  for (const p of weightFiles) {
    const abs = path.resolve(src, p);
    if (path.dirname(abs) !== src) throw new UsageError(`--checkpoint: the weight files of ${jsonPath} must lie beside it, but got '${p}'.`, 1);
    if (!fs.existsSync(abs)) throw new UsageError(`--checkpoint: the weight files listed in ${jsonPath} must exist, but got no file '${abs}'.`, 1);
  }

  const names = state.classNames;
  const bad = names.findIndex((n) => typeof n !== 'string' || n.trim() === '' || /[\r\n]/.test(n));
  if (names.length < 2 || bad >= 0) {
    throw new UsageError(
      `--checkpoint: the class names in state.json must be at least 2 non-empty one-line names, but got ${names.length < 2 ? `${names.length} names` : `${JSON.stringify(names[bad])} at index ${bad}`}.`,
      1,
    );
  }
  const crm = (model.modelTopology?.config?.layers ?? []).find((l) => l.class_name === ClassResponseMap.className) as { config?: { classes?: number } } | undefined;
  const modelClasses = crm?.config?.classes;
  if (typeof modelClasses === 'number' && modelClasses !== names.length) {
    throw new UsageError(`--checkpoint: state.json must name the model's ${modelClasses} classes, but got ${names.length} names.`, 1);
  }

  await fs.promises.mkdir(out, { recursive: true });
  let weightBytes = 0;
  const files: string[] = [];
  // Weights first, model.json after them, so a reader never sees a model without its weights.
  for (const p of weightFiles) {
    const name = path.basename(p);
    const data = await fs.promises.readFile(path.join(src, name));
    weightBytes += data.length;
    await writeFileAtomic(path.join(out, name), data);
    files.push(name);
  }
  await writeFileAtomic(path.join(out, MODEL_JSON), text);
  files.unshift(MODEL_JSON);
  await writeFileAtomic(path.join(out, CLASSES_TXT), `${names.join('\n')}\n`);
  files.push(CLASSES_TXT);
  return { checkpoint: src, dir: out, files, classNames: names, weightBytes };
}
