/**
 * Training checkpoints on the Node file system. A checkpoint is a folder:
 *
 * ```
 * model.json, weights.bin   the S3N model in the standard tfjs layers format
 * optimizer.json, .bin      GroupedSGD momentum buffers, in the optimiser's variable order
 * state.json                epoch, seeds, random-draw counter, class names, config, metrics
 * ```
 * It is written in a temporary folder and renamed into place, so a killed run never leaves a
 * half-written checkpoint. {@link CheckpointRun} keeps a run's checkpoints under
 * `checkpoints/epoch-NNNN/` with a `checkpoints/latest` pointer.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GroupedSGD } from '../model/optimizer';
import { fileSystem, MODEL_JSON, writeFileAtomic } from './fs_io';
import { fail } from '../ops/validation';

/**
 * Everything besides tensors that a run needs to resume exactly, saved as `state.json` by
 * {@link saveCheckpoint} (with a format tag, a version and the save time, which reading drops).
 * All fields must be JSON-serialisable.
 */
export interface CheckpointState {
  /** Number of completed epochs (the next epoch to run, 0-based). */
  epoch: number;
  /** Seed of the data pipeline (shuffles and augmentation). */
  dataSeed: number;
  /** `s3n.attention.drawCount`: how many seeded `'random'` attention draws were made. */
  drawCount: number;
  /** Class names, index = label. */
  classNames: string[];
  /** Free-form settings of the run (dataset, input size, schedule, …). */
  config: Record<string, unknown>;
  /** One record per completed epoch (loss, accuracies, …). */
  metrics: Record<string, unknown>[];
}

interface StateFile extends CheckpointState {
  format: 's3n-checkpoint';
  version: 1;
  savedAt: string;
}

/**
 * Files every checkpoint folder has: `['model.json', 'weights.bin', 'state.json']`
 * ({@link isCheckpoint} checks them). `optimizer.json` and `optimizer.bin` are there too when
 * the checkpoint was saved with an optimiser.
 */
export const CHECKPOINT_FILES: readonly string[] = [MODEL_JSON, 'weights.bin', 'state.json'];

/** A checkpoint read by {@link loadCheckpoint}. */
export interface LoadedCheckpoint {
  /** The checkpoint folder it was read from (absolute; for a run folder, the latest checkpoint). */
  dir: string;
  /**
   * The saved model, freshly loaded with its weights (for S3N, wrap it with `S3N.fromModel`).
   * The caller owns it.
   */
  model: tfl.LayersModel;
  /** The run state saved with it, as given to {@link saveCheckpoint}. */
  state: CheckpointState;
  /**
   * Restores the momentum buffers into an optimiser built the same way (same variables in the
   * same order, matched by position, not by name). Does nothing for a checkpoint saved without
   * an optimiser. The learning rate is not restored (set it from the schedule).
   *
   * @throws (rejects) when the optimiser has a different number of variables than the saved
   *   one, or a variable whose shape differs from its saved buffer.
   */
  restoreOptimizer(optimizer: GroupedSGD): Promise<void>;
}

function tmpSibling(target: string, tag: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Replaces folder `target` by folder `source` (same file system) with renames only. */
async function replaceDir(source: string, target: string): Promise<void> {
  let old: string | undefined;
  if (fs.existsSync(target)) {
    old = tmpSibling(target, 'old');
    await fs.promises.rename(target, old);
  }
  await fs.promises.rename(source, target);
  if (old) await fs.promises.rm(old, { recursive: true, force: true });
}

/**
 * Writes a checkpoint folder atomically: everything goes to a temporary folder beside `dir`,
 * which is then renamed to `dir` (an existing folder at `dir` is replaced, and deleted). The
 * folder holds the model (`model.json`, `weights.bin`, see {@link fileSystem}), `state.json`
 * and, with an optimiser, `optimizer.json` / `optimizer.bin`. Parent folders are created.
 *
 * @param dir The checkpoint folder to write (relative paths are resolved against the current
 *   directory).
 * @param model The model to save, e.g. `s3n.model`.
 * @param state The run state, see {@link CheckpointState}; `state.epoch` must be an integer
 *   >= 0.
 * @param optimizer Optional. Its momentum buffers are saved in the order of
 *   `optimizer.variables` (with its learning rate, for reference); restore them with
 *   {@link LoadedCheckpoint.restoreOptimizer}.
 * @returns the absolute path of the checkpoint folder.
 * @throws (rejects) when `model` is not a `tf.LayersModel` or `state.epoch` is not an integer
 *   >= 0, or with the file system's error (the temporary folder is then removed).
 *
 * @example
 * ```ts
 * const state = { epoch: 1, dataSeed: 0, drawCount: s3n.attention.drawCount, classNames, config: {}, metrics: [] };
 * await saveCheckpoint('runs/cub/best', s3n.model, state, optimizer);
 * ```
 */
export async function saveCheckpoint(dir: string, model: tfl.LayersModel, state: CheckpointState, optimizer?: GroupedSGD): Promise<string> {
  const fn = 'saveCheckpoint';
  if (!(model instanceof tfl.LayersModel)) throw new Error(`${fn}: model must be a tf.LayersModel, but got ${typeof model}.`);
  if (!Number.isInteger(state?.epoch) || state.epoch < 0) throw new Error(`${fn}: state.epoch must be an integer >= 0, but got ${JSON.stringify(state?.epoch)}.`);
  const target = path.resolve(dir);
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const tmp = tmpSibling(target, 'tmp');
  await fs.promises.mkdir(tmp);
  try {
    await model.save(fileSystem(tmp));
    let optimizerInfo: { variables: { name: string; shape: number[] }[] } | undefined;
    if (optimizer) {
      const velocities = optimizer.getState();
      const vars = optimizer.variables;
      const named: tf.NamedTensorMap = {};
      vars.forEach((v, i) => {
        if (velocities[v.name]) named[String(i)] = velocities[v.name];
      });
      const { data, specs } = await tf.io.encodeWeights(named);
      tf.dispose(Object.values(velocities));
      optimizerInfo = { variables: vars.map((v) => ({ name: v.name, shape: v.shape })) };
      await writeFileAtomic(path.join(tmp, 'optimizer.bin'), new Uint8Array(data));
      await writeFileAtomic(path.join(tmp, 'optimizer.json'), JSON.stringify({ ...optimizerInfo, learningRate: optimizer.learningRate, weights: specs }));
    }
    const file: StateFile = { format: 's3n-checkpoint', version: 1, savedAt: new Date().toISOString(), ...state };
    await writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(file, null, 1));
    await replaceDir(tmp, target);
  } catch (e) {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return target;
}

/**
 * Whether `dir` holds a checkpoint, i.e. every file of {@link CHECKPOINT_FILES}. Does not read
 * or validate them; never throws.
 */
export function isCheckpoint(dir: string): boolean {
  return CHECKPOINT_FILES.every((f) => fs.existsSync(path.join(dir, f)));
}

/**
 * Finds a checkpoint: `dir` itself when it is one ({@link isCheckpoint}), else the folder named
 * in `dir/latest` or `dir/checkpoints/latest` (so a run folder of {@link CheckpointRun}, or its
 * `checkpoints/` folder, leads to its latest checkpoint).
 *
 * @param dir A checkpoint folder or a run folder (relative paths are resolved against the
 *   current directory).
 * @returns the absolute path of the checkpoint folder.
 * @throws when neither `dir` nor the folder a `latest` pointer names is a checkpoint (the
 *   message names what was expected).
 */
export function resolveCheckpoint(dir: string): string {
  const abs = path.resolve(dir);
  if (isCheckpoint(abs)) return abs;
  for (const runDir of [abs, path.join(abs, 'checkpoints')]) {
    const latest = path.join(runDir, 'latest');
    if (fs.existsSync(latest)) {
      const name = fs.readFileSync(latest, 'utf8').trim();
      const found = path.join(runDir, name);
      if (isCheckpoint(found)) return found;
    }
  }
  throw new Error(
    `resolveCheckpoint: dir must be a checkpoint folder (with ${CHECKPOINT_FILES.join(', ')}) or a run folder with checkpoints/latest, but got '${abs}', which has neither.`,
  );
}

/**
 * Reads only the state of a checkpoint (or of the latest one of a run folder, see
 * {@link resolveCheckpoint}), without the model: e.g. to check a run's settings before
 * loading it.
 *
 * @param dir A checkpoint folder or a run folder.
 * @returns the saved {@link CheckpointState} and the checkpoint folder it was read from.
 * @throws (rejects) when no checkpoint is found, or when `state.json` is not JSON or not an
 *   S3N checkpoint state (format other than `'s3n-checkpoint'`).
 *
 * @example
 * ```ts
 * const { epoch, config } = await readCheckpointState('runs/cub'); // latest checkpoint of the run
 * ```
 */
export async function readCheckpointState(dir: string): Promise<CheckpointState & {
  /** The checkpoint folder that was read (absolute). */
  dir: string;
}> {
  const found = resolveCheckpoint(dir);
  const file = JSON.parse(await fs.promises.readFile(path.join(found, 'state.json'), 'utf8')) as StateFile;
  if (file.format !== 's3n-checkpoint') {
    throw new Error(`loadCheckpoint: state.json must have format 's3n-checkpoint', but got ${JSON.stringify(file.format)} in '${found}'.`);
  }
  const { format: _f, version: _v, savedAt: _s, ...state } = file;
  return { ...state, dir: found };
}

/**
 * Loads a checkpoint written by {@link saveCheckpoint} (or the latest of a run folder, see
 * {@link resolveCheckpoint}): the model with its weights and the state. The optimiser's
 * momentum buffers are restored only when asked, with
 * {@link LoadedCheckpoint.restoreOptimizer}.
 *
 * The S3N layers must be registered to load an S3N model: import `s3n-layers` (the main entry)
 * too; this entry does not.
 *
 * @param dir A checkpoint folder or a run folder.
 * @returns the model, the state and the folder, see {@link LoadedCheckpoint}.
 * @throws (rejects) as {@link readCheckpointState} does, or when the model cannot be loaded
 *   (missing weight files, a layer class that is not registered).
 *
 * @example
 * ```ts
 * import { S3N } from 's3n-layers';
 * import { loadCheckpoint } from 's3n-layers/node';
 *
 * const ck = await loadCheckpoint('runs/cub');           // latest checkpoint of the run
 * const s3n = S3N.fromModel(ck.model);
 * s3n.attention.drawCount = ck.state.drawCount;
 * const optimizer = s3n.createOptimizer();
 * await ck.restoreOptimizer(optimizer);
 * // continue with epoch ck.state.epoch
 * ```
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const { dir: found, ...state } = await readCheckpointState(dir);
  const model = await tfl.loadLayersModel(fileSystem(found));
  return {
    dir: found,
    model,
    state,
    async restoreOptimizer(optimizer: GroupedSGD): Promise<void> {
      const jsonPath = path.join(found, 'optimizer.json');
      if (!fs.existsSync(jsonPath)) return;
      const info = JSON.parse(await fs.promises.readFile(jsonPath, 'utf8')) as {
        variables: { name: string; shape: number[] }[];
        weights: tf.io.WeightsManifestEntry[];
      };
      const vars = optimizer.variables;
      if (info.variables.length !== vars.length) {
        throw new Error(`loadCheckpoint: the optimizer must update ${info.variables.length} variables like the saved one, but got ${vars.length}.`);
      }
      const bin = await fs.promises.readFile(path.join(found, 'optimizer.bin'));
      const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
      const decoded = tf.io.decodeWeights(buffer, info.weights);
      const state: tf.NamedTensorMap = {};
      for (const [key, t] of Object.entries(decoded)) {
        const v = vars[Number(key)];
        if (v === undefined || v.shape.join(',') !== t.shape.join(',')) {
          tf.dispose(Object.values(decoded));
          throw new Error(
            `loadCheckpoint: the optimizer's variable ${key} must have shape [${t.shape.join(',')}] like the saved '${info.variables[Number(key)]?.name}', but got ${v === undefined ? 'no variable' : `'${v.name}' of shape [${v.shape.join(',')}]`}.`,
          );
        }
        state[v.name] = t;
      }
      optimizer.setState(state);
      tf.dispose(Object.values(decoded));
    },
  };
}

/**
 * A run's checkpoints: `root/checkpoints/epoch-NNNN/` (the completed epoch count, four digits)
 * and a `root/checkpoints/latest` text file naming the newest (replaced atomically after each
 * save). After each save only the one just saved and the `keep − 1` other `epoch-*` folders of the highest epochs are kept.
 *
 * @example
 * ```ts
 * const run = new CheckpointRun('runs/cub');
 * const latest = run.latest();                        // undefined for a new run
 * const start = latest ? (await readCheckpointState(latest)).epoch : 0;
 * for (let epoch = start; epoch < epochs; epoch++) {
 *   // … train one epoch …
 *   await run.save(s3n.model, { epoch: epoch + 1, dataSeed, drawCount: s3n.attention.drawCount, classNames, config, metrics }, optimizer);
 * }
 * ```
 */
export class CheckpointRun {
  /** The `checkpoints` folder of the run (absolute): `root/checkpoints`. */
  readonly dir: string;
  /**
   * Nothing is read or written until {@link CheckpointRun.save} or {@link CheckpointRun.latest}.
   *
   * @param root The run folder (relative paths are resolved against the current directory).
   * @param keep How many checkpoints to keep, an integer >= 1. Default 2.
   * @throws when `keep` is not an integer >= 1.
   */
  constructor(
    root: string,
    /** How many `epoch-*` checkpoints {@link CheckpointRun.save} keeps (the one just saved and the highest other epochs). */
    readonly keep = 2,
  ) {
    if (!Number.isInteger(keep) || keep < 1) fail('CheckpointRun', 'keep', 'an integer >= 1', String(keep));
    this.dir = path.join(path.resolve(root), 'checkpoints');
  }

  /**
   * Saves the checkpoint of a completed epoch count with {@link saveCheckpoint} as
   * `epoch-NNNN` (`NNNN` = `state.epoch`), points `latest` at it and deletes the older
   * checkpoints beyond `keep`.
   *
   * @param model The model to save, e.g. `s3n.model`.
   * @param state The run state; `state.epoch` is the number of completed epochs.
   * @param optimizer Optional; its momentum buffers are saved too.
   * @returns the absolute path of the new checkpoint folder.
   * @throws (rejects) as {@link saveCheckpoint} does.
   */
  async save(model: tfl.LayersModel, state: CheckpointState, optimizer?: GroupedSGD): Promise<string> {
    const name = `epoch-${String(state.epoch).padStart(4, '0')}`;
    const target = await saveCheckpoint(path.join(this.dir, name), model, state, optimizer);
    await writeFileAtomic(path.join(this.dir, 'latest'), `${name}\n`);
    // The one just written and the keep − 1 highest other epochs (by number: names are only
    // padded to 4 digits).
    const epochOf = (n: string) => Number(n.slice('epoch-'.length));
    const others = fs
      .readdirSync(this.dir)
      .filter((n) => /^epoch-\d+$/.test(n) && n !== name)
      .sort((a, b) => epochOf(a) - epochOf(b));
    const old = others.slice(0, Math.max(0, others.length - (this.keep - 1)));
    for (const n of old) await fs.promises.rm(path.join(this.dir, n), { recursive: true, force: true });
    return target;
  }

  /**
   * The latest checkpoint folder (absolute, the one `latest` names), or undefined when the run
   * has none. Never throws.
   */
  latest(): string | undefined {
    try {
      return resolveCheckpoint(this.dir);
    } catch {
      return undefined;
    }
  }
}
