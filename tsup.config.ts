import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'wasm-training': 'src/wasm-training.ts', 'cpu-training': 'src/cpu-training.ts', node: 'src/node.ts', 'wasm-threads': 'src/wasm-threads.ts', cli: 'src/cli/main.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2020',
  // tfjs must stay external: a second bundled copy of tfjs-core breaks kernel and
  // layer registration.
  external: [/^@tensorflow\//],
});
