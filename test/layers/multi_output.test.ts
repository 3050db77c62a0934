/**
 * tfjs-layers calls a layer once per output a model uses, so S3N's multi-result layers are
 * single-output (their results stacked along axis 1, split by `Select` layers): each runs once per
 * forward pass by construction — one random split for both saliency maps, one batch-norm update
 * of the head per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { S3N, S3NHead, Select, smallResNet, SparseAttention } from '../../src';
import { uniform } from '../helpers/numeric';

/** Counts the calls of a layer's `call`. */
function countCalls(layer: tfl.layers.Layer): { count: number } {
  const counter = { count: 0 };
  const original = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => {
    counter.count++;
    return original(inputs, kwargs);
  };
  return counter;
}

describe('multi-result layers inside a model run once per forward pass', () => {
  it("SparseAttention: in the 'random' mode both maps come from one draw", async () => {
    const args = { gridSize: 15, trainingMode: 'random', seed: 7 } as const;
    const inModel = new SparseAttention(args);
    const crmsIn = tfl.input({ shape: [15, 15, 6] });
    const maps = inModel.apply(crmsIn) as tfl.SymbolicTensor;
    const outputs = [0, 1].map((index) => new Select({ index }).apply(maps) as tfl.SymbolicTensor);
    const model = tfl.model({ inputs: crmsIn, outputs });
    const calls = countCalls(inModel);
    const crms = uniform([2, 15, 15, 6], 0, 1, 3) as tf.Tensor4D;
    const [zoom, inverse] = model.apply(crms, { training: true }) as tf.Tensor[];
    expect(calls.count).toBe(1);
    expect(inModel.drawCount).toBe(1);

    const direct = new SparseAttention(args);
    const expected = direct.attend(crms, { training: true });
    expect(direct.drawCount).toBe(0); // attend shows the next draw without using it up
    expect(Array.from(await zoom.data())).toEqual(Array.from(await expected.zoom.data()));
    expect(Array.from(await inverse.data())).toEqual(Array.from(await expected.inverse.data()));
    tf.dispose([zoom, inverse, crms, expected.zoom, expected.inverse, expected.peaks, expected.decision]);
    model.dispose();
  });

  it('S3NHead: one forward in training mode updates the moving statistics once', async () => {
    const features = [1, 2, 3].map((seed) => uniform([2, 4, 4, 8], 0, 1, seed));
    const inModel = new S3NHead({ classes: 3, seed: 5 });
    const inputs = [0, 1, 2].map(() => tfl.input({ shape: [4, 4, 8] }));
    const logits = inModel.apply(inputs) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs, outputs: [0, 1, 2].map((index) => new Select({ index }).apply(logits) as tfl.SymbolicTensor) });
    const calls = countCalls(inModel);
    const outputs = model.apply(features, { training: true }) as tf.Tensor[];
    expect(calls.count).toBe(1);

    const direct = new S3NHead({ classes: 3, seed: 5 });
    const expected = tf.unstack(direct.apply(features, { training: true }) as tf.Tensor, 1);
    const stats = (head: S3NHead) => head.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));
    expect(stats(inModel)).toEqual(stats(direct));
    // And it did update them (a repeated call would have moved them further).
    expect(stats(inModel)[0].some((v) => v !== 0)).toBe(true);
    for (let i = 0; i < 3; i++) expect(Array.from(await outputs[i].data())).toEqual(Array.from(await expected[i].data()));
    tf.dispose([...features, ...outputs, ...expected]);
    model.dispose();
    direct.dispose();
  });

  it('inside S3N: the head and the attention run once per training forward pass, and each call draws anew', () => {
    const s3n = S3N.create(smallResNet({ inputSize: 32, widths: [4, 8], seed: 1 }), { classes: 3, seed: 1 });
    s3n.setModes({ training: 'random' });
    const head = countCalls(s3n.head);
    const attention = countCalls(s3n.attention);
    const images = uniform([2, 32, 32, 3], 0, 1, 4) as tf.Tensor4D;
    tf.dispose(s3n.model.apply(images, { training: true }) as tf.Tensor[]);
    expect([head.count, attention.count, s3n.attention.drawCount]).toEqual([1, 1, 1]);
    tf.dispose(s3n.model.apply(images, { training: true }) as tf.Tensor[]); // the same input: a new forward pass
    expect([head.count, attention.count, s3n.attention.drawCount]).toEqual([2, 2, 2]);
    tf.dispose(Object.values(s3n.explain(images, { training: true })));
    expect(s3n.attention.drawCount).toBe(2); // explain does not use up a draw
    s3n.dispose();
  });
});
