/**
 * Saving and loading tfjs models on the Node file system without tfjs-node: a `tf.io.IOHandler`
 * that writes the standard layers format (`model.json` + `weights.bin`, as tfjs-node's
 * `file://` handler and tfjs-converter do) and reads it back, sharded weights included.
 */
import * as tf from '@tensorflow/tfjs-core';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { savePoint } from './save_points';

/**
 * `'model.json'`: the model file that {@link fileSystem} reads and writes in a folder (a
 * checkpoint's, too, see {@link CHECKPOINT_FILES}).
 */
export const MODEL_JSON = 'model.json';
/**
 * `'weights.bin'`: the weights file that {@link fileSystem} writes next to `model.json` (one
 * shard holding every weight). A model saved to another `….json` path gets
 * `<name>.weights.bin` instead.
 */
export const WEIGHTS_BIN = 'weights.bin';

/**
 * Writes a file atomically and durably: the data goes to a temporary file in the same folder
 * (`.<name>.tmp-<pid>-<random>`), which is fsynced, then renamed over `file`, and the folder is
 * fsynced after the rename (on Linux and macOS; Windows cannot open a folder to sync it). Readers
 * see either the old content or the new one, never a partial file, and once the promise
 * resolves the new content survives a power cut. A temporary file left by a killed process is
 * removed by the next checkpoint save or resume in that folder.
 *
 * @param file Path of the file to create or replace; its folder must exist.
 * @param data Text (written as UTF-8) or bytes.
 * @throws (rejects) with the file system's error, e.g. when the folder does not exist or is not
 *   writable (the temporary file is then removed).
 *
 * @example
 * ```ts
 * await writeFileAtomic('runs/cub/metrics.json', JSON.stringify(metrics));
 * ```
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await fs.promises.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    savePoint(`${path.basename(file)} written`);
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  savePoint(`${path.basename(file)} renamed`);
  await fsyncDir(dir);
}

/**
 * Fsyncs a folder, so that the names created, renamed or removed in it survive a power cut.
 * Does nothing where folders cannot be opened for syncing (Windows; some file systems refuse
 * with `EINVAL`, `EISDIR`, `EPERM` or `ENOTSUP`).
 *
 * @internal
 */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, 'r');
    await fh.sync();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP', 'EBADF'].includes(code ?? '')) throw e;
  } finally {
    await fh?.close();
  }
}

/** Bytes per element of the weight dtypes tfjs writes (strings have no fixed size). */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/**
 * Total bytes of the weights a manifest lists (quantised weights at their stored dtype), or
 * undefined when it lists a string weight (whose size is only known by reading it).
 *
 * @internal
 */
export function weightBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const s of specs) {
    const dtype = s.quantization?.dtype ?? s.dtype;
    const bytes = DTYPE_BYTES[dtype];
    if (bytes === undefined) return undefined;
    total += s.shape.reduce((a, b) => a * b, 1) * bytes;
  }
  return total;
}

/** Joins weight data (one buffer or several) into one buffer. */
function joinWeights(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

function locate(fn: string, target: string): { dir: string; json: string } {
  if (typeof target !== 'string' || target === '') throw new Error(`${fn}: path must be a folder or a path to model.json, but got ${JSON.stringify(target)}.`);
  const abs = path.resolve(target.startsWith('file://') ? target.slice('file://'.length) : target);
  return abs.endsWith('.json') ? { dir: path.dirname(abs), json: abs } : { dir: abs, json: path.join(abs, MODEL_JSON) };
}

/**
 * A `tf.io.IOHandler` for a folder (or a `….json` path) in the standard tfjs layers format, the
 * one tfjs-node's `file://` handler and tfjs-converter use: pass it to `model.save` and
 * `tf.loadLayersModel` (or `tfl.loadLayersModel`). No tfjs-node needed.
 *
 * - Saving creates the folder (and its parents) and writes `model.json` and `weights.bin` (each
 *   with {@link writeFileAtomic}, replacing existing files), the weights in one shard. Training
 *   config, signature and user-defined metadata are kept. Resolves to the usual
 *   `tf.io.SaveResult`.
 * - Loading reads `model.json` and every weight file its manifest lists (paths relative to the
 *   folder), so sharded models written by other tools load too.
 *
 * Loading an S3N model needs its layers registered: import `s3n-layers` first.
 *
 * @param target A folder (`model.json` inside it), or the path of a `.json` model file (its
 *   weights then go to `<name>.weights.bin` beside it). A `file://` prefix is accepted;
 *   relative paths are resolved against the current directory when this is called.
 * @returns the handler (nothing is read or written until `save` or `load` is called).
 * @throws when `target` is not a non-empty string. `save` rejects a model whose topology is
 *   binary (not a layers model); `load` rejects when `model.json` is missing, is not JSON, has
 *   no `modelTopology`, lists a weight file that does not exist, or when the weight files hold
 *   fewer or more bytes than the manifest lists (a truncated file); each message names the file.
 *
 * @example
 * ```ts
 * await s3n.model.save(fileSystem('runs/cub/model'));
 * const model = await tf.loadLayersModel(fileSystem('runs/cub/model'));
 * ```
 */
export function fileSystem(target: string): tf.io.IOHandler {
  const { dir, json } = locate('fileSystem', target);
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error(`fileSystem.save: the model topology must be JSON (a layers model), but got a binary topology.`);
      }
      await fs.promises.mkdir(dir, { recursive: true });
      const weightsFile = json.endsWith(`${path.sep}${MODEL_JSON}`) ? WEIGHTS_BIN : `${path.basename(json, '.json')}.weights.bin`;
      const modelJSON: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [`./${weightsFile}`], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig != null) modelJSON.trainingConfig = artifacts.trainingConfig;
      if (artifacts.signature != null) modelJSON.signature = artifacts.signature;
      if (artifacts.userDefinedMetadata != null) modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
      if (artifacts.modelInitializer != null) modelJSON.modelInitializer = artifacts.modelInitializer;
      if (artifacts.initializerSignature != null) modelJSON.initializerSignature = artifacts.initializerSignature;
      await writeFileAtomic(path.join(dir, weightsFile), joinWeights(artifacts.weightData));
      await writeFileAtomic(json, JSON.stringify(modelJSON));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      let text: string;
      try {
        text = await fs.promises.readFile(json, 'utf8');
      } catch {
        throw new Error(`fileSystem.load: path must lead to a tfjs model (${json} with its weight files), but got no file '${json}'.`);
      }
      let modelJSON: tf.io.ModelJSON;
      try {
        modelJSON = JSON.parse(text) as tf.io.ModelJSON;
      } catch (e) {
        throw new Error(`fileSystem.load: ${json} must be JSON, but got a parse error: ${(e as Error).message}.`);
      }
      if (modelJSON == null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null) {
        throw new Error(`fileSystem.load: ${json} must be a tfjs model.json with a modelTopology, but got keys {${Object.keys(modelJSON ?? {}).join(', ')}}.`);
      }
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: Uint8Array[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const file = path.resolve(dir, p);
            try {
              buffers.push(await fs.promises.readFile(file));
            } catch {
              throw new Error(`fileSystem.load: the weight files listed in ${json} must exist, but got no file '${file}'.`);
            }
          }
        }
        const total = buffers.reduce((n, b) => n + b.length, 0);
        const expected = weightBytes(specs);
        if (expected !== undefined && expected !== total) {
          const files = manifest.flatMap((g) => g.paths.map((p) => `'${path.resolve(dir, p)}'`)).join(', ');
          throw new Error(
            `fileSystem.load: the weight files listed in ${json} must hold the ${expected} bytes it lists, but ${files} ${manifest.flatMap((g) => g.paths).length === 1 ? 'holds' : 'hold'} ${total} bytes (a truncated or partly written file).`,
          );
        }
        const all = new Uint8Array(total);
        let o = 0;
        for (const b of buffers) {
          all.set(b, o);
          o += b.length;
        }
        return [specs, all.buffer];
      });
    },
  };
}
