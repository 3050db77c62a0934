/**
 * Quick start: build S3N on a small backbone, run images through it, and look at what it
 * samples. Run it with `npx tsx examples/01_quick_start.ts` (pictures go to
 * examples/output/01_quick_start/), or open examples/01_quick_start.ipynb, which is built from
 * this file by scripts/build-notebooks.mjs (`// %%` marks its cells).
 */
// %% [markdown]
// # S3N quick start
//
// **S3N** (Selective Sparse Sampling, Ding et al., ICCV 2019) looks at an image three times:
//
// 1. a backbone turns the image into features and a 1×1 classifier turns them into one
//    *class response map* per class; their spatial means are the ordinary ("raw") logits.
//    The local maxima of the maps are the **class peaks** (paper §3.1);
// 2. each peak puts a Gaussian on one of two **sparse attention** maps (§3.2): strong peaks
//    on the *discriminative* map, weak ones on the *complementary* map;
// 3. each attention map drives the **saliency sampler** of Recasens et al. (2018), which
//    resamples the image so that attended regions get more pixels, keeping the rest as
//    context (§3.3);
// 4. the same backbone reads both resampled images and a head **fuses** the three feature
//    vectors into the prediction (§3.4).
//
// This notebook builds S3N on `smallResNet`, runs two images through it and shows each of
// these steps. It takes a few seconds on a CPU.
//
// The notebook imports the package built from this repository (`../dist`, made by
// `npm run build`); in your own project write `from 's3n-layers'` instead.

// %%
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { S3N, ops, smallResNet } from '../src';
import { column, heatTile, imageTile, row, toPng } from './lib/pictures';
import { showMarkdown, showPng } from './lib/show';

async function main(): Promise<void> { // @script-only
  // %%
  await tf.setBackend('cpu');
  console.log(`tfjs ${tf.version_core}, backend ${tf.getBackend()}`);

  // %% [markdown]
  // ## 1. Build the network
  //
  // Any `tf.LayersModel` mapping images `[batch, H, W, 3]` to features `[batch, h, w, depth]`
  // can be the backbone. `smallResNet` is a 3-stage ResNet for small images: 64×64 → 8×8×64.
  // `S3N.create` wires the S3N layers around it; `s3n.model` is an ordinary tfjs-layers model
  // with four outputs.

  // %%
  const backbone = smallResNet({ inputSize: 64, seed: 1 });
  const s3n = S3N.create(backbone, { classes: 10, seed: 1 });
  console.log('backbone output:', backbone.outputs[0].shape);
  console.log('S3N outputs (fused, raw, discriminative, complementary):', s3n.model.outputs.map((o) => o.shape));
  console.log('layers:', s3n.model.layers.map((l) => `${l.name} (${l.getClassName()})`).join(', '));
  console.log('parameters:', s3n.model.countParams());

  // %% [markdown]
  // ## 2. Two images
  //
  // A light grid (so that resampling is easy to see) with a small "bird": a coloured disc with
  // a dark eye and a beak. All tensors are NHWC: `[batch, height, width, channels]`, values in
  // [0, 1]. (The first tensor makes tfjs print a hint about `@tensorflow/tfjs-node`; S3N runs
  // on it too, but the pure-JS `cpu` backend is enough here.)

  // %%
  function scene(cy: number, cx: number, hue: [number, number, number]): Float32Array {
    const size = 64;
    const px = new Float32Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const line = y % 8 === 0 || x % 8 === 0;
        let c: [number, number, number] = line ? [0.75, 0.75, 0.8] : [0.95, 0.95, 0.95];
        const d = Math.hypot(y - cy, x - cx);
        if (d < 6) c = hue;
        if (Math.hypot(y - (cy - 2), x - (cx + 2)) < 1.5) c = [0.05, 0.05, 0.05]; // eye
        if (y >= cy - 1 && y <= cy && x >= cx + 6 && x <= cx + 8) c = [0.95, 0.6, 0.1]; // beak
        px.set(c, (y * size + x) * 3);
      }
    }
    return px;
  }
  const images = tf.tensor4d(
    new Float32Array([...scene(20, 40, [0.2, 0.4, 0.9]), ...scene(44, 18, [0.85, 0.2, 0.2])]),
    [2, 64, 64, 3],
  );
  showPng('images.png', await toPng(row([0, 1].map((i) => imageTile(tf.squeeze(tf.slice(images, [i], [1])), 3)))));

  // %% [markdown]
  // ## 3. Predict
  //
  // `s3n.predict` returns the fused logits `[batch, classes]` (inference mode). The weights are
  // random, so these probabilities mean nothing yet.

  // %%
  const logits = s3n.predict(images);
  console.log('fused logits shape:', logits.shape);
  tf.softmax(logits).print();

  // %% [markdown]
  // ## 4. What S3N looked at: `s3n.explain(images)`
  //
  // `explain` returns every intermediate of the selective sampling, for the same images:
  //
  // * `decision` `[batch, 31, 31]`: the class response map(s) chosen by the entropy gate
  //   (top-1 class, or the mean of the top-5 when the network is unsure), min-max normalised;
  // * `peaks` `[batch, 31, 31]`: its local maxima (3×3 window, at least the map's mean), §3.1;
  // * `zoomSaliency`, `inverseSaliency` `[batch, 31, 31]`: the discriminative and
  //   complementary sparse attention maps, §3.2 (in inference the authors use the strongest
  //   peak for the first and the weakest for the second);
  // * `zoomImage`, `inverseImage` `[batch, 64, 64, 3]`: the image resampled with each map, §3.3.
  //
  // Each row below is one image: **input | decision map with its peaks (red) | discriminative
  // attention | discriminative image | complementary attention | complementary image**. With
  // random weights the peaks are wherever the untrained features happen to respond; training
  // moves them onto the object (see `03_cluttered_mnist`).

  // %%
  const explanation = s3n.explain(images);
  console.log(Object.entries(explanation).map(([k, t]) => `${k} [${t.shape}]`).join(', '));
  async function explainRows(e: typeof explanation, inputs: tf.Tensor4D): Promise<Uint8Array> {
    const pick = (t: tf.Tensor, i: number) => tf.squeeze(tf.slice(t, [i], [1]), [0]);
    const rows = [];
    for (let i = 0; i < inputs.shape[0]; i++) {
      rows.push(
        row([
          imageTile(pick(inputs, i), 3),
          heatTile(pick(e.decision, i), 192, pick(e.peaks, i)),
          heatTile(pick(e.zoomSaliency, i), 192),
          imageTile(pick(e.zoomImage, i), 3),
          heatTile(pick(e.inverseSaliency, i), 192),
          imageTile(pick(e.inverseImage, i), 3),
        ]),
      );
    }
    return toPng(column(rows));
  }
  showPng('explain_untrained.png', await explainRows(explanation, images));

  // %% [markdown]
  // ## 5. The sampler, with peaks we choose
  //
  // To see what the two resampled images mean, skip the network: give the functional op
  // `ops.selectiveSparseSampling` class response maps `[batch, 31, 31, classes]` whose only
  // strong response is a bump on each bird. The discriminative image then enlarges the bird
  // (more pixels for it, the grid lines around it spread apart); the complementary image
  // puts its Gaussians on the weak peaks instead, so it enlarges other parts of the image.

  // %%
  function bumps(centres: [number, number][]): tf.Tensor4D {
    const maps = new Float32Array(centres.length * 31 * 31 * 10);
    centres.forEach(([cy, cx], b) => {
      for (let y = 0; y < 31; y++) {
        for (let x = 0; x < 31; x++) {
          for (let c = 0; c < 10; c++) {
            // Class 3 responds on the bird; every class also has a faint ripple (weak peaks).
            const ripple = 0.05 * Math.sin(x * 0.9 + c) * Math.cos(y * 0.7);
            const bird = c === 3 ? 4 * Math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8) : 0;
            maps[((b * 31 + y) * 31 + x) * 10 + c] = bird + ripple;
          }
        }
      }
    });
    return tf.tensor4d(maps, [centres.length, 31, 31, 10]);
  }
  // Bird centres in 31×31 map coordinates (the image is 64×64: × 30/63).
  const crms = bumps([[20 * 30 / 63, 40 * 30 / 63], [44 * 30 / 63, 18 * 30 / 63]]);
  const sampled: ops.SelectiveSamplingResult = ops.selectiveSparseSampling(images, crms, { mode: 'extreme' });
  showPng('explain_chosen_peaks.png', await explainRows(sampled, images));

  // %% [markdown]
  // The sampling grids themselves are `[batch, 64, 64, 2]` tensors of (x, y) in [-1, 1]
  // (`sampled.zoomGrid`): `ops.gridSample(image, grid, { alignCorners: true })` reads the
  // image at those points, differentiably with respect to both the image and the grid.

  // %%
  const identity = ops.saliencyGrid(tf.ones([1, 31, 31]) as tf.Tensor3D, { outputSize: 64 });
  const same = ops.gridSample(tf.slice(images, [0], [1]) as tf.Tensor4D, identity, { alignCorners: true });
  console.log('uniform saliency → identity grid, max |resampled - image| =', tf.max(tf.abs(tf.sub(same, tf.slice(images, [0], [1])))).dataSync()[0]);

  // %% [markdown]
  // ## 6. One training step
  //
  // `s3n.createOptimizer()` is SGD with the authors' parameter groups (classifiers ×10, radii
  // and sampler filter ×1e-4), `s3n.trainStep` runs the forward pass in training mode, the
  // S3N loss over the four outputs, the gradients and the update. The radii of the sparse
  // attention are weights like any other.

  // %%
  const labels = tf.tensor1d([3, 7], 'int32');
  const optimizer = s3n.createOptimizer();
  console.log('parameter groups:', optimizer.groups.map((g) => `${g.name} ×${g.lrMultiplier} (${g.variables.length} tensors)`).join(', '));
  console.log('radii before:', await s3n.radii());
  const loss = s3n.trainStep(images, labels, optimizer);
  console.log('loss:', (await loss.data())[0]);
  console.log('radii after: ', await s3n.radii());
  if (!Number.isFinite((await loss.data())[0])) throw new Error('the loss is not finite');

  // %% [markdown]
  // Next: `02_bring_your_own_backbone` puts S3N on a backbone cut from another model, saves
  // and reloads it; `03_cluttered_mnist` trains it and compares it with the backbone alone.

  // %%
  tf.dispose([images, logits, crms, identity, same, labels, loss]);
  tf.dispose(Object.values(explanation));
  tf.dispose(Object.values(sampled));
  optimizer.dispose();
  s3n.dispose();
  showMarkdown('**Done.**');
} // @script-only

main().catch((e) => { // @script-only
  console.error(e); // @script-only
  process.exit(1); // @script-only
}); // @script-only
