/**
 * SGD with momentum, weight decay and parameter groups (PyTorch's `torch.optim.SGD` with
 * param groups, which the authors train with). tfjs optimizers have one learning rate for all
 * variables and no weight decay, so S3N needs its own.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sgdMomentumStep } from './sgd_update';
import { checkPositive, fail } from '../ops/validation';
import { S3N_DEFAULTS as D } from '../defaults';

/** A set of variables that share a learning-rate multiplier (PyTorch's param group). */
export interface ParamGroup {
  /** A label, e.g. `'classifier'`. */
  name: string;
  /** Learning rate = base learning rate × this. */
  lrMultiplier: number;
  /** The variables of the group; a variable belongs to at most one group. */
  variables: tf.Variable[];
}

/** Hyper-parameters of {@link GroupedSGD}; the defaults are the authors'. */
export interface GroupedSGDOptions {
  /** Base learning rate. Default 0.001 (the authors'). */
  learningRate?: number;
  /** Momentum factor (PyTorch's, no dampening, no Nesterov). Default 0.9. */
  momentum?: number;
  /** L2 weight decay added to every gradient (PyTorch semantics). Default 1e-4. */
  weightDecay?: number;
}

/**
 * `v ← momentum·v + (g + weightDecay·w)`, `w ← w − lr·multiplier·v`, per variable. No host
 * synchronisation.
 *
 * Not a `tf.Optimizer`: call {@link GroupedSGD.applyGradients} with the gradients of
 * `tf.variableGrads` (as {@link S3N.trainStep} does). The momentum buffers are created at the
 * first step of each variable.
 *
 * @example
 * ```ts
 * const optimizer = new GroupedSGD(s3n.parameterGroups(), { learningRate: 0.01 });
 * const { value, grads } = tf.variableGrads(() => s3nLoss(s3n.model.apply(x, { training: true }) as tf.Tensor[], y), optimizer.variables);
 * optimizer.applyGradients(grads);
 * tf.dispose([value, grads]);
 * ```
 */
export class GroupedSGD {
  /** Base learning rate; assign it to schedule the learning rate (e.g. with {@link stepDecay}). */
  learningRate: number;
  /** Momentum factor. */
  readonly momentum: number;
  /** L2 weight decay added to every gradient. */
  readonly weightDecay: number;
  /** The parameter groups, as given. */
  readonly groups: ParamGroup[];
  private readonly velocity = new Map<string, tf.Variable>();
  private readonly groupOf = new Map<string, ParamGroup>();

  constructor(groups: ParamGroup[], options: GroupedSGDOptions = {}) {
    const fn = 'GroupedSGD';
    this.learningRate = options.learningRate ?? D.learningRate;
    this.momentum = options.momentum ?? D.momentum;
    this.weightDecay = options.weightDecay ?? D.weightDecay;
    checkPositive(fn, 'learningRate', this.learningRate, true);
    checkPositive(fn, 'momentum', this.momentum, true);
    checkPositive(fn, 'weightDecay', this.weightDecay, true);
    this.groups = groups;
    for (const g of groups) {
      checkPositive(fn, `lrMultiplier of group '${g.name}'`, g.lrMultiplier, true);
      for (const v of g.variables) {
        if (this.groupOf.has(v.name)) fail(fn, 'groups', 'disjoint groups', `variable '${v.name}' in two groups`);
        this.groupOf.set(v.name, g);
      }
    }
  }

  /** Every variable the optimiser updates. */
  get variables(): tf.Variable[] {
    return this.groups.flatMap((g) => g.variables);
  }

  /** Applies one step from gradients keyed by variable name (as `tf.variableGrads` returns them). */
  applyGradients(grads: tf.NamedTensorMap): void {
    for (const g of this.groups) {
      const lr = this.learningRate * g.lrMultiplier;
      for (const w of g.variables) {
        const grad = grads[w.name];
        if (grad == null) continue;
        let v = this.velocity.get(w.name);
        if (!v) {
          v = tf.tidy(() => tf.variable(tf.zerosLike(w), false));
          this.velocity.set(w.name, v);
        }
        const [nextWeight, nextVelocity] = sgdMomentumStep(w, v, grad, { learningRate: lr, momentum: this.momentum, weightDecay: this.weightDecay });
        v.assign(nextVelocity);
        w.assign(nextWeight);
        tf.dispose([nextWeight, nextVelocity]);
      }
    }
  }

  /** Momentum buffers keyed by variable name (for checkpoints). */
  getState(): tf.NamedTensorMap {
    const out: tf.NamedTensorMap = {};
    this.velocity.forEach((v, k) => (out[k] = v.clone()));
    return out;
  }

  /** Restores momentum buffers from {@link getState}. */
  setState(state: tf.NamedTensorMap): void {
    for (const [k, t] of Object.entries(state)) {
      if (!this.groupOf.has(k)) fail('GroupedSGD.setState', 'state', 'buffers of variables this optimiser updates', `unknown variable '${k}'`);
      const old = this.velocity.get(k);
      if (old) old.assign(t);
      else this.velocity.set(k, tf.variable(t, false)); // tf.variable copies its initial value
    }
  }

  /** Frees the momentum buffers (the variables being trained are left alone). */
  dispose(): void {
    this.velocity.forEach((v) => v.dispose());
    this.velocity.clear();
  }
}
