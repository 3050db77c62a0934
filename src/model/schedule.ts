/**
 * The authors' training schedule: the three-stage attention modes (their `three_stage` hook)
 * and the step learning-rate decay (their `update_lr`).
 */
import type { AttentionMode } from '../ops/sparse_attention';
import { checkInteger } from '../ops/validation';

/** The attention modes for one epoch, as {@link stageModes} returns them. */
export interface StageModes {
  /** Mode of the training forward passes. */
  training: AttentionMode;
  /** Mode of evaluation. */
  inference: AttentionMode;
}

/**
 * Attention modes for a (0-based) epoch: training uses `'all'` while `epoch <= switchEpoch`
 * and `'random'` after; evaluation uses `'random'` then `'extreme'`. The authors switch after
 * epoch 20.
 *
 * @param epoch 0-based epoch.
 * @param switchEpoch Last epoch of the first stage. Default 20.
 *
 * @example
 * ```ts
 * stageModes(0);  // { training: 'all', inference: 'random' }
 * stageModes(21); // { training: 'random', inference: 'extreme' }
 * ```
 */
export function stageModes(epoch: number, switchEpoch = 20): StageModes {
  checkInteger('stageModes', 'epoch', epoch, 0);
  checkInteger('stageModes', 'switchEpoch', switchEpoch, 0);
  return epoch <= switchEpoch ? { training: 'all', inference: 'random' } : { training: 'random', inference: 'extreme' };
}

/**
 * Learning-rate factor for a (0-based) epoch: ×`gamma` every `step` epochs (authors: 0.1 every 40).
 *
 * @example
 * ```ts
 * stepDecay(39); // 1
 * stepDecay(40); // 0.1
 * optimizer.learningRate = 0.001 * stepDecay(epoch);
 * ```
 */
export function stepDecay(epoch: number, step = 40, gamma = 0.1): number {
  checkInteger('stepDecay', 'epoch', epoch, 0);
  checkInteger('stepDecay', 'step', step, 1);
  return Math.pow(gamma, Math.floor(epoch / step));
}
