/**
 * Reading Keras `.h5` weight files (Keras 2's HDF5 layout, as `model.save_weights('x.h5')` and
 * `model.save('x.h5')` write it) with the `h5wasm` package: see {@link readKerasH5}.
 */
import type { RawTensor } from '../state_dict';
import { callerName, checkFilePath, fileError, readFileStart, type ReadWeightsOptions, startBytes } from './weight_file';

type H5wasm = typeof import('h5wasm/node');
type H5Group = InstanceType<H5wasm['Group']>;

/** One weight of a Keras layer: its name (e.g. `conv2d/kernel:0`) and its array. */
export interface KerasWeight extends RawTensor {
  /** The weight's name as listed in the layer's `weight_names` attribute. */
  name: string;
}

/** Layer names to their weights (in `weight_names` order), layers in `layer_names` order. */
export type KerasLayerWeights = Map<string, KerasWeight[]>;

/** The 8 bytes every HDF5 file starts with. */
export const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] as const;

/** Whether the bytes start with the HDF5 signature. */
export function isHdf5(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && HDF5_SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * Reads the weights of a Keras `.h5` file: a weights file (`model.save_weights('x.h5')`: the
 * layers at the root) or a full model (`model.save('x.h5')`: the same under `model_weights`;
 * the rest of the file, model config and optimizer state, is ignored).
 *
 * The layout read is Keras 2's: the attribute `layer_names` lists the layers, each layer's
 * group has the attribute `weight_names`, and each weight is the dataset `<layer>/<weight name>`.
 * Attributes too large for an HDF5 object header are split by Keras into `layer_names0`,
 * `layer_names1`, … (and `weight_names0`, …); those are joined. A layer without weights has an
 * empty list. Keras 3's `.weights.h5` layout (`layers/<name>/vars/0`) is not read.
 *
 * Arrays keep Keras' own layouts (a Conv2D kernel is `[kh, kw, in, out]`). float32, float64,
 * int64 (as the float64 of its value), int32, int16, int8 and uint8 datasets are read.
 *
 * Node only: it loads `h5wasm` (ESM) with a dynamic `import()` and reads the file through it.
 * While it runs, h5wasm's throwing error handler is on (HDF5's errors become exceptions instead
 * of console output); it is switched back off afterwards.
 *
 * @param file Path of the `.h5` file.
 * @param options `caller`: the function name errors start with (default `'readKerasH5'`).
 * @returns Layer name → its weights, each with its name, shape, dtype and row-major values.
 * @throws (rejects) when the file cannot be read, is empty, not HDF5, truncated, not in Keras'
 *   layout, lacks a listed layer group or weight dataset, or has a dataset of an unsupported
 *   type; each message names the file and the problem.
 *
 * @example
 * ```ts
 * const layers = await readKerasH5('resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5');
 * layers.get('conv1_conv'); // [{ name: 'conv1_conv/kernel:0', shape: [7, 7, 3, 64], … }, { name: 'conv1_conv/bias:0', … }]
 * ```
 */
export async function readKerasH5(file: string, options?: ReadWeightsOptions): Promise<KerasLayerWeights> {
  const fn = callerName('readKerasH5', options);
  checkFilePath(fn, file);
  const head = await readFileStart(fn, file, 8);
  if (head.length === 0) throw fileError(fn, file, 'is empty (0 bytes), not an HDF5 file');
  if (!isHdf5(head)) throw fileError(fn, file, `is not an HDF5 file: it starts with bytes ${startBytes(head)}, not the HDF5 signature 89 48 44 46 0d 0a 1a 0a`);

  let h5: H5wasm;
  try {
    h5 = await import('h5wasm/node');
  } catch (e) {
    throw new Error(`${fn}: cannot load the h5wasm package, which reads .h5 files (${(e as Error).message})`);
  }
  const module = await h5.ready;
  module.activate_throwing_error_handler();
  let h5file: InstanceType<H5wasm['File']> | undefined;
  try {
    try {
      h5file = new h5.File(file, 'r');
    } catch (e) {
      throw fileError(fn, file, `cannot be opened as an HDF5 file: ${hdf5Reason(e)}`);
    }
    return readLayers(fn, file, h5, h5file);
  } finally {
    h5file?.close();
    module.deactivate_throwing_error_handler();
  }
}

/** The most specific line of an HDF5 error stack (e.g. "truncated file: eof = 9000, …"). */
function hdf5Reason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const lines = [...message.matchAll(/#\d+: .* in [\w.]+\(\): (.*)/g)].map((m) => m[1].trim());
  return lines.length > 0 ? lines[lines.length - 1] : message.split('\n')[0];
}

function readLayers(fn: string, file: string, h5: H5wasm, h5file: H5Group): KerasLayerWeights {
  const candidates: [string, H5Group | null][] = [['/', h5file], ['/model_weights', asGroup(h5, h5file.get('model_weights'))]];
  const found = candidates.find(([, g]) => g !== null && hasListAttribute(g, 'layer_names'));
  if (found === undefined) {
    throw fileError(
      fn, file,
      "is not a Keras weights file: it has no 'layer_names' attribute at / or /model_weights (Keras 3's .weights.h5 layout is not read here)",
    );
  }
  const [rootPath, root] = found as [string, H5Group];
  const layers: KerasLayerWeights = new Map();
  for (const layer of stringList(fn, file, root, 'layer_names', rootPath)) {
    const group = asGroup(h5, root.get(layer));
    if (group === null) throw fileError(fn, file, `has no group '${layer}' in ${rootPath}, though its layer_names lists that layer`);
    const weights = stringList(fn, file, group, 'weight_names', `layer '${layer}'`).map((name) => {
      const dataset = group.get(name);
      if (!(dataset instanceof h5.Dataset)) {
        throw fileError(fn, file, `has no dataset '${name}' in the group of layer '${layer}', though its weight_names lists that weight`);
      }
      return { name, ...readDataset(fn, file, dataset, `${layer}/${name}`) };
    });
    layers.set(layer, weights);
  }
  return layers;
}

function asGroup(h5: H5wasm, entity: unknown): H5Group | null {
  return entity instanceof h5.Group ? entity : null;
}

function hasListAttribute(group: H5Group, name: string): boolean {
  const attrs = group.attrs;
  return name in attrs || `${name}0` in attrs;
}

/** A list-of-strings attribute, joined from `name0`, `name1`, … when Keras split it. */
function stringList(fn: string, file: string, group: H5Group, name: string, where: string): string[] {
  const attrs = group.attrs;
  const parts: string[] = [];
  if (name in attrs) parts.push(name);
  else for (let i = 0; `${name}${i}` in attrs; i++) parts.push(`${name}${i}`);
  if (parts.length === 0) throw fileError(fn, file, `has no '${name}' attribute on ${where}: it is not a Keras weights file`);
  return parts.flatMap((part) => {
    const value = attrs[part].value;
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
    // Keras writes an empty float array for a layer without weights.
    if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<number>).length === 0) return [];
    throw fileError(fn, file, `has a '${part}' attribute on ${where} that is not a list of strings`);
  });
}

function readDataset(fn: string, file: string, dataset: InstanceType<H5wasm['Dataset']>, path: string): RawTensor {
  const { type, size, signed, littleEndian } = dataset.metadata;
  const shape = dataset.shape ?? [];
  const kind = type === 1 ? `float${8 * size}` : type === 0 ? `${signed ? '' : 'u'}int${8 * size}` : `HDF5 type class ${type}`;
  const dtype = ({ float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', int16: 'int16', int8: 'int8', uint8: 'uint8' } as const)[kind];
  if (dtype === undefined || (size > 1 && !littleEndian)) {
    throw fileError(
      fn, file,
      `has the dataset '${path}' of type ${littleEndian || size === 1 ? '' : 'big-endian '}${kind}, which this reader does not read (it reads float32, float64, int64, int32, int16, int8, uint8)`,
    );
  }
  const raw = dataset.value;
  // A scalar dataset's value is a plain number (or bigint), not an array.
  const values = (ArrayBuffer.isView(raw) ? raw : [raw]) as ArrayLike<number | bigint>;
  const toNumber = (v: number | bigint) => Number(v);
  switch (dtype) {
    case 'float32': return { shape, dtype, data: Float32Array.from(values, toNumber) };
    case 'float64': case 'int64': return { shape, dtype, data: Float64Array.from(values, toNumber) };
    case 'int32': return { shape, dtype, data: Int32Array.from(values, toNumber) };
    case 'int16': return { shape, dtype, data: Int16Array.from(values, toNumber) };
    case 'int8': return { shape, dtype, data: Int8Array.from(values, toNumber) };
    case 'uint8': return { shape, dtype, data: Uint8Array.from(values, toNumber) };
  }
}
