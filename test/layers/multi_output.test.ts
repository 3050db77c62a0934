/**
 * tfjs-layers calls a layer once per output a model uses. The multi-output S3N layers must
 * still run once per forward pass: one random split for both saliency maps, one batch-norm
 * update of the head per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { S3NHead, SparseAttention } from '../../src';
import { uniform } from '../helpers/numeric';

describe('multi-output layers inside a model run once per forward pass', () => {
  it("SparseAttention: in the 'random' mode both maps come from one draw", async () => {
    const args = { gridSize: 15, trainingMode: 'random', seed: 7 } as const;
    const inModel = new SparseAttention(args);
    const crmsIn = tfl.input({ shape: [15, 15, 6] });
    const model = tfl.model({ inputs: crmsIn, outputs: inModel.apply(crmsIn) as tfl.SymbolicTensor[] });
    const crms = uniform([2, 15, 15, 6], 0, 1, 3) as tf.Tensor4D;
    const [zoom, inverse] = model.apply(crms, { training: true }) as tf.Tensor[];
    expect(inModel.drawCount).toBe(1);

    const direct = new SparseAttention(args);
    const expected = direct.attend(crms, { training: true });
    expect(Array.from(await zoom.data())).toEqual(Array.from(await expected.zoom.data()));
    expect(Array.from(await inverse.data())).toEqual(Array.from(await expected.inverse.data()));
    tf.dispose([zoom, inverse, crms, expected.zoom, expected.inverse, expected.peaks, expected.decision]);
    model.dispose();
  });

  it('S3NHead: one forward in training mode updates the moving statistics once', async () => {
    const features = [1, 2, 3].map((seed) => uniform([2, 4, 4, 8], 0, 1, seed));
    const inModel = new S3NHead({ classes: 3, seed: 5 });
    const inputs = [0, 1, 2].map(() => tfl.input({ shape: [4, 4, 8] }));
    const model = tfl.model({ inputs, outputs: inModel.apply(inputs) as tfl.SymbolicTensor[] });
    const outputs = model.apply(features, { training: true }) as tf.Tensor[];

    const direct = new S3NHead({ classes: 3, seed: 5 });
    const expected = direct.apply(features, { training: true }) as tf.Tensor[];
    const stats = (head: S3NHead) => head.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));
    expect(stats(inModel)).toEqual(stats(direct));
    // And it did update them (a repeated call would have moved them further).
    expect(stats(inModel)[0].some((v) => v !== 0)).toBe(true);
    for (let i = 0; i < 3; i++) expect(Array.from(await outputs[i].data())).toEqual(Array.from(await expected[i].data()));
    tf.dispose([...features, ...outputs, ...expected]);
    model.dispose();
    direct.dispose();
  });

  it('computes again for new inputs, a new gradient tape or new weights; not for a plain repeat', () => {
    const attention = new SparseAttention({ gridSize: 15, trainingMode: 'random', seed: 1 });
    const crmsIn = tfl.input({ shape: [15, 15, 6] });
    const model = tfl.model({ inputs: crmsIn, outputs: attention.apply(crmsIn) as tfl.SymbolicTensor[] });
    const crms = uniform([1, 15, 15, 6], 0, 1, 3);
    const forward = (x: tf.Tensor) => tf.dispose(model.apply(x, { training: true }) as tf.Tensor[]);
    forward(crms);
    expect(attention.drawCount).toBe(1);
    forward(crms); // the same input tensor, nothing changed: the same outputs
    expect(attention.drawCount).toBe(1);
    const copy = tf.clone(crms);
    forward(copy); // a new input tensor
    expect(attention.drawCount).toBe(2);
    const { value, grads } = tf.variableGrads(() => {
      const [zoom, inverse] = model.apply(copy, { training: true }) as tf.Tensor[];
      return tf.add(tf.sum(zoom), tf.sum(inverse)) as tf.Scalar;
    }, attention.trainableWeights.map((w) => w.read() as tf.Variable));
    expect(attention.drawCount).toBe(3); // a new tape: computed again, and differentiable
    expect(Object.keys(grads)).toHaveLength(2);
    tf.dispose([value, ...Object.values(grads)]);
    attention.trainableWeights[0].write(tf.tensor1d([0.12]));
    forward(copy); // new weights
    expect(attention.drawCount).toBe(4);
    tf.dispose([crms, copy]);
    model.dispose();
  });
});
