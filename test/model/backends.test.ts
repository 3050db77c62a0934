/**
 * The S3N training step on the wasm backend (with `s3n-layers/wasm-training`) matches the cpu
 * backend, and a training step never synchronises with the host (no dataSync/arraySync/data).
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/wasm-training';
import { ops, S3N, smallResNet } from '../../src';

const { FUSED_KERNELS_FLAG } = ops;
import { compare, uniform } from '../helpers/numeric';

function stepResult(): { loss: number; logits: number[]; weights: Float32Array[] } {
  const s3n = S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 9 }), { classes: 3, seed: 9 });
  const images = uniform([2, 32, 32, 3], 0, 1, 3) as tf.Tensor4D;
  const labels = tf.tensor1d([1, 2], 'int32');
  const opt = s3n.createOptimizer({ learningRate: 0.01 });
  const loss = s3n.trainStep(images, labels, opt);
  const out = {
    loss: loss.dataSync()[0],
    logits: Array.from(s3n.predict(images).dataSync()),
    weights: s3n.model.getWeights().map((w) => w.dataSync() as Float32Array),
  };
  opt.dispose();
  s3n.dispose();
  return out;
}

describe('S3N training step across backends', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('wasm with the training kernels matches cpu (loss, logits and every weight after one step)', async () => {
    await tf.setBackend('cpu');
    const cpu = stepResult();
    await tf.setBackend('wasm');
    const wasm = stepResult();
    expect(Math.abs(wasm.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(1e-4);
    const scale = Math.max(...cpu.logits.map(Math.abs));
    expect(compare(wasm.logits, cpu.logits, { atol: 1e-4 * scale }).ok).toBe(true);
    expect(wasm.weights.length).toBe(cpu.weights.length);
    cpu.weights.forEach((w, i) => {
      const s = Math.max(...Array.from(w).map(Math.abs));
      const r = compare(wasm.weights[i], w, { atol: 1e-4 * s + 1e-7 });
      if (!r.ok) throw new Error(`weight ${i}: ${r.actual} vs ${r.expected}`);
    });
  });

  /**
   * Spies on the backend's `read`/`readSync` and on every Tensor read, allowing only the reads a
   * kernel makes of its own inputs (cpu kernels read their inputs through `readSync`): a depth
   * counter wraps each kernel registered for the backend. Returns the host reads made outside
   * kernels, and a function that removes the spies.
   */
  function spyOnHostReads(backendName: string): { calls: string[]; restore: () => void } {
    const calls: string[] = [];
    let depth = 0;
    const kernels = tf.getKernelsForBackend(backendName) as unknown as { kernelFunc: (...a: unknown[]) => unknown }[];
    const originals = kernels.map((k) => k.kernelFunc);
    kernels.forEach((k, i) => {
      k.kernelFunc = (...a: unknown[]) => {
        depth++;
        try {
          return originals[i](...a);
        } finally {
          depth--;
        }
      };
    });
    const b = tf.backend() as unknown as Record<string, (...a: unknown[]) => unknown>;
    const tensorProto = tf.Tensor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const spy = (obj: Record<string, (...a: unknown[]) => unknown>, m: string, label: string) => {
      const original = obj[m];
      return jest.spyOn(obj, m as never).mockImplementation(function (this: unknown, ...a: unknown[]) {
        if (depth === 0) calls.push(label);
        return original.apply(this, a);
      } as never);
    };
    const spies = [
      ...['read', 'readSync'].map((m) => spy(b, m, `backend.${m}`)),
      ...['dataSync', 'arraySync', 'data', 'array', 'bufferSync', 'buffer'].map((m) => spy(tensorProto, m, m)),
    ];
    return {
      calls,
      restore: () => {
        spies.forEach((s) => s.mockRestore());
        kernels.forEach((k, i) => (k.kernelFunc = originals[i]));
      },
    };
  }

  it.each([
    ['cpu', 'fused'],
    ['wasm', 'fused'],
    ['cpu', 'composite'],
    ['wasm', 'composite'],
  ] as const)(
    'a training step on %s (%s gridSample; composite is what webgl, webgpu and tfjs-node run) makes no host read outside kernels',
    async (backend, path) => {
      await tf.setBackend(backend);
      tf.env().set(FUSED_KERNELS_FLAG, path === 'fused');
      const s3n = S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 1 }), { classes: 3, seed: 1 });
      const images = uniform([2, 32, 32, 3], 0, 1, 4) as tf.Tensor4D;
      const labels = tf.tensor1d([0, 1], 'int32');
      const opt = s3n.createOptimizer();
      s3n.trainStep(images, labels, opt).dispose(); // builds the optimizer state
      const reads = spyOnHostReads(backend);
      let loss: tf.Scalar | undefined;
      try {
        for (const mode of ['all', 'random', 'extreme'] as const) {
          s3n.setModes({ training: mode });
          loss?.dispose();
          // The two guards that read one small tensor each (label range, non-finite step) are
          // off: what remains is the step itself, which must never read back to the host.
          loss = s3n.trainStep(images, labels, opt, { validateLabels: false, skipNonFinite: false });
        }
      } finally {
        reads.restore();
        tf.env().set(FUSED_KERNELS_FLAG, true);
      }
      // Kernels may read their own backend's memory (cpu and wasm kernels do); what must not
      // happen is a read back to the host outside them, which would stall a GPU pipeline.
      expect(reads.calls).toEqual([]);
      expect(Number.isFinite(loss!.dataSync()[0])).toBe(true);
      opt.dispose();
      s3n.dispose();
    },
  );

  it('the host-read spy catches a read outside a kernel (backend.readSync and Tensor.data), not one inside', async () => {
    await tf.setBackend('cpu');
    const x = tf.tensor1d([1, 2, 3]);
    const reads = spyOnHostReads('cpu');
    try {
      tf.tile(x, [2]).dispose(); // the cpu Tile kernel reads its input with readSync
      expect(reads.calls).toEqual([]);
      tf.backend().readSync(x.dataId);
      await x.data();
    } finally {
      reads.restore();
    }
    // The cpu backend's read() calls its own readSync.
    expect(reads.calls).toEqual(['backend.readSync', 'data', 'backend.read', 'backend.readSync']);
  });
});
