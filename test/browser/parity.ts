/**
 * Browser against Node: the relative differences between a {@link ScenarioResult} from a
 * browser backend and the same scenario on the cpu backend in Node.
 */
import type { ScenarioResult } from './scenario';

/** Largest |a − b| over max|b| of two equally long lists. */
export function relativeError(a: number[], b: number[]): number {
  if (a.length !== b.length || a.length === 0) throw new Error(`relativeError: the lists must have the same non-zero length, but got ${a.length} and ${b.length}`);
  const scale = Math.max(...b.map(Math.abs), 1e-6);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]) / scale));
}

/** The measured differences: logits (relative to their largest), losses, radius moves. */
export function parity(web: ScenarioResult, cpu: ScenarioResult): Record<string, number> {
  const move = (k: 'radius' | 'radiusInv', init: number) => Math.abs(web[k] - init - (cpu[k] - init)) / Math.abs(cpu[k] - init);
  return {
    logitsBefore: relativeError(web.logitsBefore, cpu.logitsBefore),
    logitsAfter: relativeError(web.logitsAfter, cpu.logitsAfter),
    logitsAfterCheckpointed: relativeError(web.logitsAfterCheckpointed, cpu.logitsAfterCheckpointed),
    loss: Math.abs(web.loss - cpu.loss) / Math.abs(cpu.loss),
    checkpointedLoss: Math.abs(web.checkpointedLoss - cpu.checkpointedLoss) / Math.abs(cpu.checkpointedLoss),
    radiusMove: move('radius', 0.09),
    radiusInvMove: move('radiusInv', 0.3),
  };
}
