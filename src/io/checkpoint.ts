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
import { fileSystem, fsyncDir, MODEL_JSON, weightBytes, writeFileAtomic } from './fs_io';
import { savePoint } from './save_points';
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

/** Replaces folder `target` by folder `source` (same file system) with renames only, then syncs the parent folder. */
async function replaceDir(source: string, target: string): Promise<void> {
  let old: string | undefined;
  if (fs.existsSync(target)) {
    old = tmpSibling(target, 'old');
    await fs.promises.rename(target, old);
    savePoint(`${path.basename(target)} moved aside`);
  }
  await fs.promises.rename(source, target);
  savePoint(`${path.basename(target)} renamed into place`);
  await fsyncDir(path.dirname(target));
  if (old) await fs.promises.rm(old, { recursive: true, force: true });
}

/**
 * Writes a checkpoint folder atomically and durably: everything goes to a temporary folder
 * beside `dir` (each file fsynced), the temporary folder is fsynced and renamed to `dir`, and
 * the parent folder is fsynced, so once the promise resolves the checkpoint survives a power
 * cut, and a process killed at any point leaves either the old folder or the new one (plus a
 * hidden temporary folder, removed by the next resume). An existing folder at `dir` is
 * replaced, and deleted. The folder holds the model (`model.json`, `weights.bin`, see
 * {@link fileSystem}), `state.json` and, with an optimiser, `optimizer.json` /
 * `optimizer.bin`. Parent folders are created.
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
  savePoint(`${path.basename(target)} temporary folder created`);
  try {
    await model.save(fileSystem(tmp));
    if (optimizer) {
      const velocities = optimizer.getState();
      const vars = optimizer.variables;
      const named: tf.NamedTensorMap = {};
      vars.forEach((v, i) => {
        if (velocities[v.name]) named[String(i)] = velocities[v.name];
      });
      const { data, specs } = await tf.io.encodeWeights(named);
      tf.dispose(Object.values(velocities));
      const optimizerInfo = { variables: vars.map((v) => ({ name: v.name, shape: v.shape })) };
      await writeFileAtomic(path.join(tmp, 'optimizer.bin'), new Uint8Array(data));
      await writeFileAtomic(path.join(tmp, 'optimizer.json'), JSON.stringify({ ...optimizerInfo, learningRate: optimizer.learningRate, weights: specs }));
    }
    const file: StateFile = { format: 's3n-checkpoint', version: 1, savedAt: new Date().toISOString(), ...state };
    await writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(file, null, 1));
    await fsyncDir(tmp);
    await replaceDir(tmp, target);
  } catch (e) {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return target;
}

function readJson(file: string): { value?: unknown; problem?: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { problem: `'${file}' cannot be read (${(e as Error).message})` };
  }
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { problem: `'${file}' is not JSON (${(e as Error).message})` };
  }
}

function sizeProblem(files: string[], expected: number | undefined, listedIn: string): string | undefined {
  if (expected === undefined) return undefined;
  let total = 0;
  for (const f of files) {
    if (!fs.existsSync(f)) return `'${f}' is missing`;
    total += fs.statSync(f).size;
  }
  if (total === expected) return undefined;
  const names = files.map((f) => `'${f}'`).join(', ');
  return `${names} ${files.length === 1 ? 'holds' : 'hold'} ${total} bytes where its ${listedIn} lists ${expected} (a truncated or partly written file)`;
}

/**
 * What keeps `dir` from being a complete checkpoint, or undefined when it is one. Cheap (no
 * weight is read): every file of {@link CHECKPOINT_FILES} must exist, `model.json` and
 * `state.json` must be JSON (the state of format `'s3n-checkpoint'`), the weight files must
 * hold exactly the bytes `model.json` lists, and `optimizer.bin` the bytes `optimizer.json`
 * lists (when the checkpoint has an optimiser). Never throws.
 *
 * @param dir A checkpoint folder (relative paths are resolved against the current directory).
 * @returns a phrase naming the file, e.g. `'/runs/cub/checkpoints/epoch-0003/weights.bin' is
 *   missing`, or `'…/weights.bin' holds 100 bytes where its model.json lists 2048 (a truncated
 *   or partly written file)`; undefined for a complete checkpoint.
 *
 * @example
 * ```ts
 * const problem = checkpointProblem('runs/cub/checkpoints/epoch-0003');
 * if (problem) console.warn(`not resuming from it: ${problem}`);
 * ```
 */
export function checkpointProblem(dir: string): string | undefined {
  const abs = path.resolve(dir);
  try {
    if (!fs.existsSync(abs)) return `'${abs}' does not exist`;
    if (!fs.statSync(abs).isDirectory()) return `'${abs}' is not a folder`;
    const missing = CHECKPOINT_FILES.map((f) => path.join(abs, f)).filter((f) => !fs.existsSync(f));
    if (missing.length > 0) return `${missing.map((f) => `'${f}'`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing`;
    const model = readJson(path.join(abs, MODEL_JSON));
    if (model.problem) return model.problem;
    const manifest = (model.value as tf.io.ModelJSON | null)?.weightsManifest;
    if (!Array.isArray(manifest)) return `'${path.join(abs, MODEL_JSON)}' has no weightsManifest`;
    const weights = sizeProblem(
      manifest.flatMap((g) => g.paths.map((p) => path.resolve(abs, p))),
      weightBytes(manifest.flatMap((g) => g.weights)),
      MODEL_JSON,
    );
    if (weights) return weights;
    const stateFile = path.join(abs, 'state.json');
    const state = readJson(stateFile);
    if (state.problem) return state.problem;
    const format = (state.value as { format?: unknown } | null)?.format;
    if (format !== 's3n-checkpoint') return `'${stateFile}' is not an S3N checkpoint state (format ${JSON.stringify(format)})`;
    const optJson = path.join(abs, 'optimizer.json');
    const optBin = path.join(abs, 'optimizer.bin');
    if (fs.existsSync(optJson) || fs.existsSync(optBin)) {
      if (!fs.existsSync(optJson)) return `'${optJson}' is missing`;
      const opt = readJson(optJson);
      if (opt.problem) return opt.problem;
      const specs = (opt.value as { weights?: tf.io.WeightsManifestEntry[] } | null)?.weights;
      if (!Array.isArray(specs)) return `'${optJson}' has no weights list`;
      const bin = sizeProblem([optBin], weightBytes(specs), 'optimizer.json');
      if (bin) return bin;
    }
    return undefined;
  } catch (e) {
    return `'${abs}' cannot be read (${(e as Error).message})`;
  }
}

/**
 * Whether `dir` holds a checkpoint, i.e. every file of {@link CHECKPOINT_FILES}. Does not read
 * or validate them; never throws.
 */
export function isCheckpoint(dir: string): boolean {
  return CHECKPOINT_FILES.every((f) => fs.existsSync(path.join(dir, f)));
}

const EPOCH_NAME = /^epoch-(\d+)$/;
const epochOf = (name: string): number => Number(name.slice('epoch-'.length));

/** The `epoch-NNNN` folders of a `checkpoints` folder, by increasing epoch. */
function epochFolders(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => EPOCH_NAME.test(n)).sort((a, b) => epochOf(a) - epochOf(b));
}

/** The complete checkpoint of the highest epoch in a `checkpoints` folder (absolute), if any. */
function newestComplete(dir: string): string | undefined {
  return epochFolders(dir)
    .reverse()
    .map((n) => path.join(dir, n))
    .find((d) => checkpointProblem(d) === undefined);
}

function resolveIn(fn: string, dir: string): string {
  const abs = path.resolve(dir);
  if (CHECKPOINT_FILES.some((f) => fs.existsSync(path.join(abs, f)))) {
    const problem = checkpointProblem(abs);
    if (problem) throw new Error(`${fn}: dir must be a complete checkpoint folder, but ${problem}.`);
    return abs;
  }
  for (const runDir of [abs, path.join(abs, 'checkpoints')]) {
    const latest = path.join(runDir, 'latest');
    if (!fs.existsSync(latest)) continue;
    const name = fs.readFileSync(latest, 'utf8').trim();
    const found = path.join(runDir, name);
    const problem = EPOCH_NAME.test(name) ? checkpointProblem(found) : `it holds '${name}', not the name of an epoch-NNNN folder`;
    if (problem === undefined) return found;
    const newest = newestComplete(runDir);
    throw new Error(
      `${fn}: the checkpoint that '${latest}' names must be complete, but ${problem}. ` +
        (newest ? `The newest complete checkpoint of the run is '${newest}': pass it instead.` : 'The run has no complete checkpoint.'),
    );
  }
  for (const runDir of [abs, path.join(abs, 'checkpoints')]) {
    if (epochFolders(runDir).length === 0) continue;
    const newest = newestComplete(runDir);
    throw new Error(
      `${fn}: dir must be a checkpoint folder or a run folder with checkpoints/latest, but '${runDir}' has epoch folders and no latest file. ` +
        (newest ? `Its newest complete checkpoint is '${newest}': pass it instead.` : 'None of them is complete.'),
    );
  }
  throw new Error(
    `${fn}: dir must be a checkpoint folder (with ${CHECKPOINT_FILES.join(', ')}) or a run folder with checkpoints/latest, but got '${abs}', which has neither.`,
  );
}

/**
 * Finds a checkpoint: `dir` itself when it holds checkpoint files, else the folder named in
 * `dir/latest` or `dir/checkpoints/latest` (so a run folder of {@link CheckpointRun}, or its
 * `checkpoints/` folder, leads to its latest checkpoint). The checkpoint must be complete
 * ({@link checkpointProblem}).
 *
 * @param dir A checkpoint folder or a run folder (relative paths are resolved against the
 *   current directory).
 * @returns the absolute path of the checkpoint folder.
 * @throws when the checkpoint is incomplete (the message names the missing, truncated or
 *   unreadable file, and the run's newest complete checkpoint when `latest` names a broken
 *   one), or when `dir` is neither a checkpoint folder nor a run folder.
 */
export function resolveCheckpoint(dir: string): string {
  return resolveIn('resolveCheckpoint', dir);
}

async function readState(fn: string, dir: string): Promise<CheckpointState & { dir: string }> {
  const found = resolveIn(fn, dir);
  const file = path.join(found, 'state.json');
  const parsed = readJson(file);
  if (parsed.problem) throw new Error(`${fn}: state.json must be JSON, but ${parsed.problem}.`);
  const state = parsed.value as StateFile;
  if (state?.format !== 's3n-checkpoint') {
    throw new Error(`${fn}: state.json must have format 's3n-checkpoint', but got ${JSON.stringify(state?.format)} in '${file}'.`);
  }
  const { format: _f, version: _v, savedAt: _s, ...rest } = state;
  return { ...rest, dir: found };
}

/**
 * Reads only the state of a checkpoint (or of the latest one of a run folder, see
 * {@link resolveCheckpoint}), without the model: e.g. to check a run's settings before
 * loading it.
 *
 * @param dir A checkpoint folder or a run folder.
 * @returns the saved {@link CheckpointState} and the checkpoint folder it was read from.
 * @throws (rejects) as {@link resolveCheckpoint} does (no checkpoint, or an incomplete one: the
 *   message names the file), or when `state.json` is not an S3N checkpoint state.
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
  return readState('readCheckpointState', dir);
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
 * @throws (rejects) as {@link readCheckpointState} does, or when the model cannot be loaded (a
 *   layer class that is not registered); every message about a file names it.
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
  const fn = 'loadCheckpoint';
  const { dir: found, ...state } = await readState(fn, dir);
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(fileSystem(found));
  } catch (e) {
    const message = (e as Error).message;
    throw new Error(message.startsWith('fileSystem.load:') ? message : `${fn}: the model in '${path.join(found, MODEL_JSON)}' must load, but got: ${message}`);
  }
  return {
    dir: found,
    model,
    state,
    async restoreOptimizer(optimizer: GroupedSGD): Promise<void> {
      const jsonPath = path.join(found, 'optimizer.json');
      if (!fs.existsSync(jsonPath)) return;
      const parsed = readJson(jsonPath);
      if (parsed.problem) throw new Error(`${fn}: optimizer.json must be JSON, but ${parsed.problem}.`);
      const info = parsed.value as {
        variables: { name: string; shape: number[] }[];
        weights: tf.io.WeightsManifestEntry[];
      };
      const vars = optimizer.variables;
      if (info.variables.length !== vars.length) {
        throw new Error(`${fn}: the optimizer must update ${info.variables.length} variables like the saved one, but got ${vars.length}.`);
      }
      const binPath = path.join(found, 'optimizer.bin');
      const size = sizeProblem([binPath], weightBytes(info.weights), 'optimizer.json');
      if (size) throw new Error(`${fn}: optimizer.bin must hold the momentum buffers that optimizer.json lists, but ${size}.`);
      const bin = await fs.promises.readFile(binPath);
      const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
      const decoded = tf.io.decodeWeights(buffer, info.weights);
      const restored: tf.NamedTensorMap = {};
      for (const [key, t] of Object.entries(decoded)) {
        const v = vars[Number(key)];
        if (v === undefined || v.shape.join(',') !== t.shape.join(',')) {
          tf.dispose(Object.values(decoded));
          throw new Error(
            `${fn}: the optimizer's variable ${key} must have shape [${t.shape.join(',')}] like the saved '${info.variables[Number(key)]?.name}', but got ${v === undefined ? 'no variable' : `'${v.name}' of shape [${v.shape.join(',')}]`}.`,
          );
        }
        restored[v.name] = t;
      }
      optimizer.setState(restored);
      tf.dispose(Object.values(decoded));
    },
  };
}

/** Where {@link CheckpointRun.resumePlan} would resume a run from, and why. */
export interface ResumePlan {
  /**
   * Whether the run folder has a `checkpoints/` folder at all (a run was started there). When
   * false, there is nothing to resume (a wrong folder).
   */
  started: boolean;
  /** The complete checkpoint of the highest epoch (absolute), or undefined when there is none. */
  checkpoint?: string;
  /**
   * One sentence for each thing that differs from a plain resume from `latest`: a `latest` that
   * names a missing or incomplete folder, a newer complete checkpoint than `latest`, incomplete
   * folders that {@link CheckpointRun.prepareResume} moves aside.
   */
  notes: string[];
  /**
   * What is wrong with each incomplete `epoch-NNNN` folder and with `latest` (see
   * {@link checkpointProblem}); when `checkpoint` is undefined and this is not empty, the run
   * cannot be resumed without repair.
   */
  problems: string[];
  /** Incomplete `epoch-NNNN` folders above `checkpoint`, and the names they are moved to. */
  moves: {
    /** The folder moved aside. */
    from: string;
    /** Where it goes. */
    to: string;
  }[];
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/**
 * Removes the temporary files and folders that a killed process left in `dir` (those of
 * {@link writeFileAtomic} and {@link saveCheckpoint}, named `.<name>.tmp|old|pruned-<pid>-<hex>`,
 * whose process is gone). A folder moved aside while being replaced (`old`) whose replacement
 * never arrived is renamed back.
 */
async function recoverTemporaries(dir: string): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^\.(.+)\.(tmp|old|pruned)-(\d+)-[0-9a-f]{8}$/.exec(n);
    if (!m || pidAlive(Number(m[3]))) continue;
    const p = path.join(dir, n);
    const base = path.join(dir, m[1]);
    if (m[2] === 'old' && !fs.existsSync(base)) await fs.promises.rename(p, base);
    else await fs.promises.rm(p, { recursive: true, force: true });
  }
  await fsyncDir(dir);
}

/** A free name `base.suffix`, `base.suffix-2`, … in `dir`. */
function freeName(dir: string, base: string, suffix: string, taken: Set<string>): string {
  for (let i = 1; ; i++) {
    const name = i === 1 ? `${base}.${suffix}` : `${base}.${suffix}-${i}`;
    if (!taken.has(name) && !fs.existsSync(path.join(dir, name))) {
      taken.add(name);
      return name;
    }
  }
}

/**
 * A run's checkpoints: `root/checkpoints/epoch-NNNN/` (the completed epoch count, four digits)
 * and a `root/checkpoints/latest` text file naming the newest (replaced atomically after each
 * save). After each save, of the checkpoints this object saved, only the one just saved and
 * the `keep − 1` others of the highest epochs are kept; checkpoints written before (by another
 * process, or another `CheckpointRun`) are never deleted or overwritten: a save whose folder
 * exists moves the old folder aside (`epoch-NNNN.superseded`, or `.incomplete`).
 *
 * Resuming: {@link CheckpointRun.resumePlan} picks the complete checkpoint of the highest epoch
 * (not blindly what `latest` names: a run killed between a save and the update of `latest`
 * resumes from the newer one) and says why when that differs from `latest`;
 * {@link CheckpointRun.prepareResume} moves incomplete folders above it aside and removes the
 * temporary files of killed processes.
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
  /** Names of the checkpoints this object saved (the only ones it may prune). */
  private readonly written = new Set<string>();
  /**
   * Nothing is read or written until {@link CheckpointRun.save}, {@link CheckpointRun.latest}
   * or {@link CheckpointRun.resumePlan}.
   *
   * @param root The run folder (relative paths are resolved against the current directory).
   * @param keep How many of its own checkpoints to keep, an integer >= 1. Default 2.
   * @throws when `keep` is not an integer >= 1.
   */
  constructor(
    root: string,
    /** How many `epoch-*` checkpoints {@link CheckpointRun.save} keeps of those it saved (the one just saved and the highest other epochs). */
    readonly keep = 2,
  ) {
    if (!Number.isInteger(keep) || keep < 1) fail('CheckpointRun', 'keep', 'an integer >= 1', String(keep));
    this.dir = path.join(path.resolve(root), 'checkpoints');
  }

  /**
   * Saves the checkpoint of a completed epoch count with {@link saveCheckpoint} as
   * `epoch-NNNN` (`NNNN` = `state.epoch`), points `latest` at it (atomically, fsynced) and
   * deletes the older checkpoints this object saved beyond `keep`. A folder `epoch-NNNN` that
   * this object did not save is moved aside first (never overwritten).
   *
   * @param model The model to save, e.g. `s3n.model`.
   * @param state The run state; `state.epoch` is the number of completed epochs.
   * @param optimizer Optional; its momentum buffers are saved too.
   * @returns the absolute path of the new checkpoint folder.
   * @throws (rejects) as {@link saveCheckpoint} does.
   */
  async save(model: tfl.LayersModel, state: CheckpointState, optimizer?: GroupedSGD): Promise<string> {
    const name = `epoch-${String(state.epoch).padStart(4, '0')}`;
    const targetDir = path.join(this.dir, name);
    if (!this.written.has(name) && fs.existsSync(targetDir)) {
      const aside = freeName(this.dir, name, checkpointProblem(targetDir) === undefined ? 'superseded' : 'incomplete', new Set());
      await fs.promises.rename(targetDir, path.join(this.dir, aside));
    }
    const target = await saveCheckpoint(targetDir, model, state, optimizer);
    this.written.add(name);
    await writeFileAtomic(path.join(this.dir, 'latest'), `${name}\n`);
    // The one just written and the keep − 1 highest other epochs this object wrote (by number:
    // names are only padded to 4 digits).
    const others = [...this.written].filter((n) => n !== name).sort((a, b) => epochOf(a) - epochOf(b));
    const old = others.slice(0, Math.max(0, others.length - (this.keep - 1)));
    for (const n of old) {
      // Renamed first (atomic), so that a killed prune leaves no half-deleted checkpoint.
      const doomed = tmpSibling(path.join(this.dir, n), 'pruned');
      await fs.promises.rename(path.join(this.dir, n), doomed);
      this.written.delete(n);
      savePoint(`${n} pruned`);
      await fs.promises.rm(doomed, { recursive: true, force: true });
    }
    if (old.length > 0) await fsyncDir(this.dir);
    return target;
  }

  /**
   * The latest checkpoint folder (absolute, the one `latest` names) when it is complete, or
   * undefined when the run has none or it is incomplete (see {@link CheckpointRun.resumePlan}
   * for what to do then). Never throws.
   */
  latest(): string | undefined {
    try {
      return resolveCheckpoint(this.dir);
    } catch {
      return undefined;
    }
  }

  /**
   * Whether the run folder holds anything of a run: an `epoch-NNNN` folder or a `latest` file
   * (an empty `checkpoints/` folder, left by a run stopped before its first save, does not
   * count). Never throws.
   */
  hasCheckpoints(): boolean {
    return fs.existsSync(path.join(this.dir, 'latest')) || epochFolders(this.dir).length > 0;
  }

  /**
   * Where a resumed run would start: the complete checkpoint of the highest epoch, what is
   * wrong with the others, and the incomplete folders above it that would be moved aside (they
   * would otherwise be overwritten when the run reaches their epoch). Reads only small files;
   * changes nothing. Never throws.
   */
  resumePlan(): ResumePlan {
    const rel = (n: string) => `checkpoints/${n}`;
    const started = fs.existsSync(this.dir);
    const folders = epochFolders(this.dir);
    const problems = new Map(folders.map((n) => [n, checkpointProblem(path.join(this.dir, n))] as const));
    const complete = folders.filter((n) => problems.get(n) === undefined);
    const best = complete[complete.length - 1];
    const latestFile = path.join(this.dir, 'latest');
    const latestName = fs.existsSync(latestFile) ? fs.readFileSync(latestFile, 'utf8').trim() : undefined;
    const plan: ResumePlan = { started, notes: [], problems: [], moves: [] };
    for (const n of folders) if (problems.get(n) !== undefined) plan.problems.push(problems.get(n) as string);
    let latestProblem: string | undefined;
    if (latestName !== undefined) {
      if (!EPOCH_NAME.test(latestName)) latestProblem = `it holds '${latestName}', not the name of an epoch-NNNN folder`;
      else if (!folders.includes(latestName)) latestProblem = `'${path.join(this.dir, latestName)}' does not exist`;
      if (latestProblem && best === undefined) plan.problems.unshift(`checkpoints/latest names ${latestName}, but ${latestProblem}`);
    }
    if (best === undefined) return plan;
    plan.checkpoint = path.join(this.dir, best);
    const taken = new Set<string>();
    const moveOf = new Map<string, string>();
    for (const n of folders) {
      if (problems.get(n) === undefined || epochOf(n) <= epochOf(best)) continue;
      const to = freeName(this.dir, n, 'incomplete', taken);
      moveOf.set(n, to);
      plan.moves.push({ from: path.join(this.dir, n), to: path.join(this.dir, to) });
    }
    const from = `resuming from ${best}, the newest complete checkpoint.`;
    if (latestName === undefined) {
      plan.notes.push(`checkpoints/latest is missing: ${from}`);
    } else if (latestProblem !== undefined) {
      plan.notes.push(`checkpoints/latest names ${latestName}, but ${latestProblem}: ${from}`);
    } else if (problems.get(latestName) !== undefined) {
      const moved = moveOf.get(latestName);
      plan.notes.push(`checkpoints/latest names ${latestName}, but ${problems.get(latestName)}: ${from}${moved ? ` The incomplete folder is kept as ${rel(moved)}.` : ''}`);
    } else if (latestName !== best) {
      plan.notes.push(`checkpoints/latest names ${latestName}, but ${best} is complete and newer (the run stopped before updating latest): resuming from ${best}.`);
    }
    for (const [n, to] of moveOf) {
      if (n !== latestName) plan.notes.push(`${rel(n)} is incomplete (${problems.get(n)}): it is kept as ${rel(to)}.`);
    }
    return plan;
  }

  /**
   * Makes the run folder ready to resume from `plan.checkpoint` (a plan of
   * {@link CheckpointRun.resumePlan}): moves the incomplete folders of `plan.moves` aside
   * (renames only: nothing is deleted), removes the temporary files and folders of killed
   * processes, and points `latest` at `plan.checkpoint`.
   *
   * @throws (rejects) with the file system's error.
   */
  async prepareResume(plan: ResumePlan): Promise<void> {
    for (const m of plan.moves) await fs.promises.rename(m.from, m.to);
    await recoverTemporaries(this.dir);
    await recoverTemporaries(path.dirname(this.dir));
    if (plan.checkpoint) {
      const name = path.basename(plan.checkpoint);
      const latestFile = path.join(this.dir, 'latest');
      const current = fs.existsSync(latestFile) ? fs.readFileSync(latestFile, 'utf8').trim() : undefined;
      if (current !== name) await writeFileAtomic(latestFile, `${name}\n`);
    }
  }
}
