/**
 * The one place this package reads tfjs-core's gradient-tape internals (`Engine.state`,
 * `startTape`, `endTape`, tape nodes). They have been stable since tfjs 1.x; every caller
 * has a fallback for an engine that lacks them.
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** One entry of tfjs-core's gradient tape (internal structure of the engine). */
export interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The parts of tfjs-core's `Engine` used here. */
export interface TapeEngine {
  state: { activeTape: TapeNode[] | null; gradientDepth: number; kernelDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  registeredVariables: Record<string, tf.Variable>;
}

/** The engine with its tape, or null when this tfjs-core lacks the parts used here. */
export function tapeEngine(): TapeEngine | null {
  const engine = tf.engine() as unknown as Partial<TapeEngine>;
  const ok =
    typeof engine.startTape === 'function' &&
    typeof engine.endTape === 'function' &&
    typeof engine.scopedRun === 'function' &&
    engine.state != null &&
    typeof engine.state.gradientDepth === 'number';
  return ok ? (engine as TapeEngine) : null;
}

/** Whether a gradient tape is recording ops called now (not from inside a kernel). */
export function isTapeRecording(): boolean {
  const engine = tapeEngine();
  return engine != null && engine.state.gradientDepth > 0 && engine.state.kernelDepth === 0;
}

/** The tape being recorded or walked, if any (an identity for caches); null otherwise. */
export function activeTape(): unknown {
  return tapeEngine()?.state.activeTape ?? null;
}
