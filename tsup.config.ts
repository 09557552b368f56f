import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'common/index': 'src/common/index.ts',
    'common/io/index': 'src/common/io/index.ts',
    'kivi/index': 'src/kivi/index.ts',
    'bfp/index': 'src/bfp/index.ts',
    'mambaquant/index': 'src/mambaquant/index.ts',
    'mwq/index': 'src/mwq/index.ts',
    'tfjs/index': 'src/tfjs/index.ts',
    'testing/index': 'src/testing/index.ts',
    'export/index': 'src/export/index.ts',
    'eval/index': 'src/eval/index.ts',
    'cli/main': 'src/cli/main.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  target: 'node20',
  platform: 'node',
  splitting: true,
  clean: true,
  sourcemap: true,
  shims: true,
  external: [
    'node-llama-cpp',
    'onnxruntime-node',
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-backend-wasm',
    'fast-check',
  ],
});
