// Every test runs on the pure-JS cpu backend unless it selects another one itself.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core alone registers no gradients; tfjs-layers (which the package's entry imports)
// registers all of them. Tests import ops from src/ directly, so load it here as the package does.
import '@tensorflow/tfjs-layers';

// Silences tfjs' "install tfjs-node" console hint. (IS_TEST would do it too, but it also turns
// on tfjs' kernel leak check, which misreports tensors saved by custom gradients.)
tf.env().set('PROD', true);

// Selected now, not only in beforeAll: describe bodies run before any hook, and a test file
// that imports the wasm backend would otherwise make it the default.
void tf.setBackend('cpu');

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});
