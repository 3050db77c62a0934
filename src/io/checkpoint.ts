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

/** Everything besides tensors that a run needs to resume exactly. */
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

/** Files of a checkpoint folder. */
export const CHECKPOINT_FILES: readonly string[] = [MODEL_JSON, 'weights.bin', 'state.json'];

/** A loaded checkpoint. */
export interface LoadedCheckpoint {
  /** The folder it was read from. */
  dir: string;
  model: tfl.LayersModel;
  state: CheckpointState;
  /**
   * Restores the momentum buffers into an optimiser built the same way (same variables in the
   * same order). Does nothing for a checkpoint saved without an optimiser.
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
 * Writes a checkpoint folder atomically (temporary folder + rename; an existing checkpoint at
 * `dir` is replaced).
 *
 * @param optimizer Its momentum buffers are saved in the order of `optimizer.variables`.
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

/** Whether `dir` holds a checkpoint. */
export function isCheckpoint(dir: string): boolean {
  return CHECKPOINT_FILES.every((f) => fs.existsSync(path.join(dir, f)));
}

/**
 * Finds a checkpoint: `dir` itself, or the latest one of a run folder (`dir/checkpoints/latest`,
 * see {@link CheckpointRun}). Throws naming what was expected.
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

/** Reads only the state of a checkpoint (or of the latest one of a run folder), without the model. */
export async function readCheckpointState(dir: string): Promise<CheckpointState & { dir: string }> {
  const found = resolveCheckpoint(dir);
  const file = JSON.parse(await fs.promises.readFile(path.join(found, 'state.json'), 'utf8')) as StateFile;
  if (file.format !== 's3n-checkpoint') {
    throw new Error(`loadCheckpoint: state.json must have format 's3n-checkpoint', but got ${JSON.stringify(file.format)} in '${found}'.`);
  }
  const { format: _f, version: _v, savedAt: _s, ...state } = file;
  return { ...state, dir: found };
}

/** Loads a checkpoint written by {@link saveCheckpoint} (or the latest of a run folder). */
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
 * A run's checkpoints: `root/checkpoints/epoch-NNNN/` and a `root/checkpoints/latest` pointer
 * (replaced atomically after each save). Older checkpoints beyond `keep` are deleted.
 */
export class CheckpointRun {
  readonly dir: string;
  constructor(root: string, readonly keep = 2) {
    this.dir = path.join(path.resolve(root), 'checkpoints');
  }

  /** Saves the checkpoint of a completed epoch count and points `latest` at it. */
  async save(model: tfl.LayersModel, state: CheckpointState, optimizer?: GroupedSGD): Promise<string> {
    const name = `epoch-${String(state.epoch).padStart(4, '0')}`;
    const target = await saveCheckpoint(path.join(this.dir, name), model, state, optimizer);
    await writeFileAtomic(path.join(this.dir, 'latest'), `${name}\n`);
    const old = fs
      .readdirSync(this.dir)
      .filter((n) => /^epoch-\d+$/.test(n))
      .sort()
      .slice(0, -this.keep);
    for (const n of old) await fs.promises.rm(path.join(this.dir, n), { recursive: true, force: true });
    return target;
  }

  /** The latest checkpoint folder, or undefined when the run has none. */
  latest(): string | undefined {
    try {
      return resolveCheckpoint(this.dir);
    } catch {
      return undefined;
    }
  }
}
