/**
 * A saved-and-loaded copy of an S3N, through tfjs' own serialisation (model.json topology and
 * weight buffers in memory): what a user gets back from `model.save` then `loadLayersModel`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { S3N } from '../../src/model';

export async function saveAndLoad(s3n: S3N): Promise<S3N> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await s3n.model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return S3N.fromModel(await tfl.loadLayersModel(tf.io.fromMemory(artifacts!)));
}
