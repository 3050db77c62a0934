// Run by keras_h5.test.ts in a child Node process (`node --import tsx`): h5wasm is an ES module,
// which Jest's CommonJS runtime cannot import. Reads each file given on the command line with
// readKerasH5 and with readWeightFile, and prints one JSON object:
// file → { readKerasH5: {layers} | {error}, readWeightFile: {format, layers} | {error} }.
import { readKerasH5, readWeightFile } from '../../../src/io/weights';
import type { KerasLayerWeights } from '../../../src/io/weights';
import { encodeValues } from './weight_files';

function layersJson(layers: KerasLayerWeights) {
  return Object.fromEntries([...layers].map(([layer, weights]) => [
    layer, weights.map((w) => ({ name: w.name, dtype: w.dtype, shape: w.shape, values: encodeValues(w.data) })),
  ]));
}

async function attempt(read: () => Promise<object>): Promise<object> {
  try {
    return await read();
  } catch (e) {
    return { error: (e as Error).message };
  }
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = {};
  for (const file of process.argv.slice(2)) {
    out[file] = {
      readKerasH5: await attempt(async () => ({ layers: layersJson(await readKerasH5(file)) })),
      readWeightFile: await attempt(async () => {
        const read = await readWeightFile(file);
        return { format: read.format, layers: read.format === 'keras-h5' ? layersJson(read.layers) : null };
      }),
    };
  }
  process.stdout.write(JSON.stringify(out));
}

void main();
