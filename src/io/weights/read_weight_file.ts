/**
 * Reading a weight file of any supported format, chosen by its first bytes: see
 * {@link readWeightFile}.
 */
import * as fs from 'node:fs';
import type { StateDict } from '../state_dict';
import { isHdf5, type KerasLayerWeights, readKerasH5 } from './keras_h5';
import { looksLikeSafetensors, readSafetensors } from './safetensors';
import { isPickle, isZip, readTorchStateDict } from './torch';
import { callerName, checkFilePath, fileError, readFileStart, type ReadWeightsOptions, startBytes } from './weight_file';

/** A weight file's content, by format. */
export type WeightFile =
  | {
    /** A PyTorch `.pth`/`.pt` state dict. */
    format: 'torch';
    /** Its tensors. */
    tensors: StateDict;
  }
  | {
    /** A `.safetensors` file. */
    format: 'safetensors';
    /** Its tensors. */
    tensors: StateDict;
  }
  | {
    /** A Keras `.h5` file. */
    format: 'keras-h5';
    /** Its layers' weights. */
    layers: KerasLayerWeights;
  };

/** The formats {@link readWeightFile} recognises. */
export type WeightFormat = WeightFile['format'];

/** A POSIX tar archive: `ustar` at offset 257 of its first header. */
function isTar(head: Uint8Array): boolean {
  return head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar';
}

/**
 * Reads a weight file, picking the reader by the file's first bytes (not its name):
 * a zip archive (`PK\x03\x04`) or a binary pickle (`\x80\x02`…, PyTorch's older format) →
 * {@link readTorchStateDict}; an 8-byte header length followed by `{` → {@link readSafetensors};
 * the HDF5 signature (`\x89HDF\r\n\x1a\n`) → {@link readKerasH5}. A tar archive (PyTorch's first
 * format) is refused with the command that re-saves it in today's.
 *
 * Node only (reads the file with `node:fs`).
 *
 * @param file Path of the weight file.
 * @param options `caller`: the function name errors start with (default `'readWeightFile'`).
 * @returns The format and the content, as the chosen reader gives it.
 * @throws (rejects) when the file cannot be read, is empty, or starts like none of these
 *   formats (the message shows its first bytes), and with the chosen reader's errors.
 *
 * @example
 * ```ts
 * const weights = await readWeightFile('resnet50.pth');
 * if (weights.format !== 'keras-h5') console.log([...weights.tensors.keys()]);
 * ```
 */
export async function readWeightFile(file: string, options?: ReadWeightsOptions): Promise<WeightFile> {
  const fn = callerName('readWeightFile', options);
  checkFilePath(fn, file);
  // 264 bytes: a tar archive says so at offset 257.
  const head = await readFileStart(fn, file, 264);
  const caller = { caller: fn };
  if (isZip(head) || isPickle(head)) return { format: 'torch', tensors: await readTorchStateDict(file, caller) };
  if (isHdf5(head)) return { format: 'keras-h5', layers: await readKerasH5(file, caller) };
  if (head.length === 0) throw fileError(fn, file, 'is empty (0 bytes), not a weights file');
  const size = (await fs.promises.stat(file)).size;
  if (looksLikeSafetensors(head, size)) return { format: 'safetensors', tensors: await readSafetensors(file, caller) };
  if (isTar(head)) {
    throw fileError(
      fn, file,
      "is a tar archive: PyTorch's first serialization format (members sys_info, pickle, tensors, storages), which this reader does not read. " +
        `Re-save it once with PyTorch in today's format: python3 -c "import torch; torch.save(torch.load('${file}'), 'resaved.pth')", and load resaved.pth`,
    );
  }
  throw fileError(
    fn, file,
    `is not a weights file this reader knows (PyTorch .pth/.pt, .safetensors, Keras .h5): it starts with bytes ${startBytes(head)}`,
  );
}
