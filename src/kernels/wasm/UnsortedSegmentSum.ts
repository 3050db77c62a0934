/**
 * UnsortedSegmentSum for the wasm backend (which has none), as one ScatterNd: the wasm
 * ScatterNd sums updates that share an index (checked by the tests), which is exactly a
 * segment sum. Ids outside `[0, numSegments)` contribute nothing (as on the cpu backend):
 * they are redirected to an extra row that is sliced off.
 *
 * `x: [...segmentIds.shape, ...rest]`, `segmentIds: int32`, result
 * `[numSegments, ...rest]` of x's dtype.
 *
 * Used by the gradient of gather (tf.gather, tf.layers.embedding).
 *
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, TensorInfo, withScope } from './kernel_utils';

type Args = { inputs: { x: TensorInfo; segmentIds: TensorInfo }; backend: BackendWasm; attrs: tf.UnsortedSegmentSumAttrs };

export function unsortedSegmentSum(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const { numSegments } = attrs;
  const idsRank = segmentIds.shape.length;
  if (idsRank > x.shape.length || segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(
      `UnsortedSegmentSum (s3n-layers/wasm-training): segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}].`,
    );
  }
  const rest = x.shape.slice(idsRank);
  const count = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(rest);

  return withScope(backend, (s) => {
    // Segment ids are few (one per row): remap the invalid ones on the host.
    const ids = backend.typedArrayFromHeap(segmentIds);
    const idx = new Int32Array(count);
    let invalid = false;
    for (let i = 0; i < count; i++) {
      const v = ids[i];
      if (v >= 0 && v < numSegments && Number.isInteger(v)) idx[i] = v;
      else {
        idx[i] = numSegments;
        invalid = true;
      }
    }
    const rows = numSegments + (invalid ? 1 : 0);
    const indices = s.track(backend.makeOutput([count, 1], 'int32', undefined, idx));
    const updates = s.reshape(x, [count, inner]);
    const scattered = s.run('ScatterNd', { indices, updates }, { shape: [rows, inner] });
    const kept = invalid ? s.slice(scattered, [0, 0], [numSegments, inner]) : scattered;
    return s.keep(s.reshape(kept, [numSegments, ...rest]));
  });
}
