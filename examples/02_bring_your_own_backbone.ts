/**
 * Bring your own backbone: cut any tfjs-layers model at a named layer with `cutBackbone`, put
 * S3N on top, save the whole network and load it back. Run it with
 * `npx tsx examples/02_bring_your_own_backbone.ts`, or open the notebook built from this file
 * (examples/02_bring_your_own_backbone.ipynb).
 */
// %% [markdown]
// # Bring your own backbone
//
// S3N is a head that works on the feature maps of any convolutional network. This notebook
// takes an ordinary tfjs-layers image classifier (in practice a pretrained one, e.g. a
// converted Keras model loaded with `tf.loadLayersModel`), cuts it at a named layer with
// `cutBackbone`, builds S3N on top, trains it for a few steps, then saves the whole network
// and loads it back: the reloaded network gives identical outputs.
//
// It runs on the WebAssembly backend: `s3n-layers/wasm-training` registers the gradient
// kernels that `@tensorflow/tfjs-backend-wasm` lacks, and training steps there are much faster
// than on the pure-JS `cpu` backend. It imports the package built from this repository
// (`../dist`); in your project write `from 's3n-layers'` and `'s3n-layers/wasm-training'`.

// %%
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { cutBackbone, S3N, S3N_OUTPUTS } from '../src';
import '../src/wasm-training'; // the wasm backend, with the kernels it needs for training
import { showMarkdown } from './lib/show';

async function main(): Promise<void> { // @script-only
  // %%
  await tf.setBackend('wasm');
  console.log(`tfjs ${tf.version_core}, backend ${tf.getBackend()}`);

  // %% [markdown]
  // ## 1. Any tfjs-layers model
  //
  // A small VGG-style classifier for 48×48 RGB images, built with the functional API (a
  // `tf.sequential` model works the same way). Its layers have names, as every Keras or tfjs
  // model's layers do: `model.layers.map((l) => l.name)` lists them.

  // %%
  const input = tfl.input({ shape: [48, 48, 3], name: 'image' });
  let x = input as tfl.SymbolicTensor;
  for (const [i, filters] of [16, 32, 64].entries()) {
    const block = `block${i + 1}`;
    x = tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', name: `${block}_conv`, kernelInitializer: tfl.initializers.heNormal({ seed: i }) }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ name: `${block}_bn` }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.activation({ activation: 'relu', name: `${block}_relu` }).apply(x) as tfl.SymbolicTensor;
    if (i < 2) x = tfl.layers.maxPooling2d({ poolSize: 2, name: `${block}_pool` }).apply(x) as tfl.SymbolicTensor;
  }
  x = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tfl.SymbolicTensor;
  const predictions = tfl.layers.dense({ units: 100, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  const classifier = tfl.model({ inputs: input, outputs: predictions, name: 'my_classifier' });
  for (const layer of classifier.layers) console.log(layer.name.padEnd(12), JSON.stringify(layer.outputShape));

  // %% [markdown]
  // ## 2. Cut it at a named layer
  //
  // `cutBackbone(model, layerName)` returns a new model from the model's input to that layer's
  // output, **sharing** the layers and their weights (nothing is copied). The layer must output
  // a feature map `[batch, h, w, depth]`: here `block3_relu`, 12×12×64.

  // %%
  const backbone = cutBackbone(classifier, 'block3_relu');
  console.log('backbone:', backbone.name, JSON.stringify(backbone.inputs[0].shape), '→', JSON.stringify(backbone.outputs[0].shape));
  console.log('shares its layers with the classifier:', backbone.getLayer('block1_conv') === classifier.getLayer('block1_conv'));
  try {
    cutBackbone(classifier, 'avg_pool'); // [batch, 64]: not a feature map
  } catch (e) {
    console.log('cutting at avg_pool fails:', (e as Error).message);
  }

  // %% [markdown]
  // ## 3. S3N on top
  //
  // `S3N.create` wires the class response map, the sparse attention, the saliency sampler
  // (whose resampled images have the backbone's input size, 48×48) and the fusion head around
  // the backbone, which is called three times with shared weights.

  // %%
  const s3n = S3N.create(backbone, { classes: 5, seed: 3 });
  console.log('S3N outputs:', S3N_OUTPUTS.map((name, i) => `${name} ${JSON.stringify(s3n.model.outputs[i].shape)}`).join(', '));
  console.log('S3N weights:', s3n.model.weights.filter((w) => !w.name.startsWith('block')).map((w) => `${w.name} [${w.shape}]`).join(', '));

  // %% [markdown]
  // A few training steps on random data, so that every weight (and the batch-norm statistics)
  // moves away from its initial value; then the second stage of the authors' schedule, whose
  // inference mode uses the strongest and the weakest peak (deterministic).

  // %%
  const images = tf.randomUniform([8, 48, 48, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const labels = tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2], 'int32');
  const optimizer = s3n.createOptimizer({ learningRate: 0.01 });
  for (let step = 0; step < 3; step++) {
    const loss = s3n.trainStep(images, labels, optimizer);
    console.log(`step ${step}: loss ${(await loss.data())[0].toFixed(4)}`);
    loss.dispose();
  }
  s3n.setEpoch(21); // stage 2: training 'random', inference 'extreme'

  // %% [markdown]
  // ## 4. Save and reload
  //
  // `s3n.model` is a plain `tf.LayersModel`, so every tfjs save target works:
  // `'indexeddb://…'` or `'downloads://…'` in a browser, `'file://…'` with `@tensorflow/tfjs-node`,
  // or any `tf.io.IOHandler`. Here `tf.io.withSaveHandler` keeps the artifacts (topology JSON,
  // weight specs and weight bytes) in memory and `tf.io.fromMemory` loads them back.
  // Importing `s3n-layers` registers the S3N layer classes, which is all
  // `tf.loadLayersModel` needs; `S3N.fromModel` wraps the loaded model again.

  // %%
  let artifacts: tf.io.ModelArtifacts | undefined;
  await s3n.model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts) throw new Error('nothing was saved');
  const weightBytes = [artifacts.weightData ?? []].flat().reduce((n, b) => n + b.byteLength, 0);
  console.log(`topology ${JSON.stringify(artifacts.modelTopology).length} characters, ${artifacts.weightSpecs?.length} weight tensors, ${weightBytes} bytes`);
  const layerClasses = (artifacts.modelTopology as { config: { layers: { class_name: string }[] } }).config.layers.map((l) => l.class_name);
  console.log('layer classes in the topology:', layerClasses.join(', '));

  const reloaded = S3N.fromModel(await tfl.loadLayersModel(tf.io.fromMemory(artifacts)));
  console.log('reloaded attention modes:', reloaded.attention.trainingMode, '/', reloaded.attention.inferenceMode);

  // %% [markdown]
  // ## 5. Same outputs
  //
  // Both networks get the same new images; all four outputs (inference mode) and the
  // resampled images of `explain` must match exactly.

  // %%
  const test = tf.randomUniform([4, 48, 48, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
  const before = s3n.apply(test);
  const after = reloaded.apply(test);
  const rows: string[] = [];
  for (const name of ['fused', 'raw', 'discriminative', 'complementary'] as const) {
    const diff = tf.max(tf.abs(tf.sub(before[name], after[name]))).dataSync()[0];
    rows.push(`| ${name} | [${before[name].shape}] | ${diff} |`);
    if (diff !== 0) throw new Error(`output ${name} differs after reloading (max |diff| ${diff})`);
  }
  const e1 = s3n.explain(test);
  const e2 = reloaded.explain(test);
  const imageDiff = tf.max(tf.abs(tf.sub(e1.zoomImage, e2.zoomImage))).dataSync()[0];
  rows.push(`| explain().zoomImage | [${e1.zoomImage.shape}] | ${imageDiff} |`);
  if (imageDiff !== 0) throw new Error('the resampled images differ after reloading');
  console.log('radii:', await s3n.radii(), await reloaded.radii());
  showMarkdown(['| output | shape | max \\|saved − reloaded\\| |', '|---|---|---|', ...rows].join('\n'));

  // %%
  tf.dispose([images, labels, test, ...Object.values(before), ...Object.values(after), ...Object.values(e1), ...Object.values(e2)]);
  optimizer.dispose();
  reloaded.dispose();
  s3n.dispose(); // frees the backbone's weights too, and so the classifier's: they are shared
} // @script-only

main().catch((e) => { // @script-only
  console.error(e); // @script-only
  process.exit(1); // @script-only
}); // @script-only
