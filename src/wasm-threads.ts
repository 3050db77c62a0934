/**
 * `s3n-layers/wasm-threads`: the tfjs wasm backend on several threads in Node.js.
 *
 * tfjs-backend-wasm ships a threaded build (XNNPACK on a pool of pthreads) but never selects it
 * in Node. {@link enableWasmThreads}, called before the wasm backend initialises, makes it do
 * so without touching node_modules: pthreads run as `worker_threads` Workers sharing the wasm
 * memory, a self-check compares a conv2d with a plain JS one (falling back to the stock build
 * with a warning on a mismatch), and the workers never keep the process alive. Results are
 * bit-identical to the stock single-threaded backend. Node only; tfjs-backend-wasm 4.22.
 *
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import 's3n-layers/wasm-training';
 * import { enableWasmThreads } from 's3n-layers/wasm-threads';
 *
 * enableWasmThreads({ threads: 2 });
 * await tf.setBackend('wasm');
 * ```
 *
 * @packageDocumentation
 * @module s3n-layers/wasm-threads
 */
export { enableWasmThreads, MAX_WASM_THREADS } from './kernels/wasm/threads';
export type { WasmThreadsOptions, WasmThreadsResult } from './kernels/wasm/threads';
