/**
 * The committed wasm module (src/common/kernels-wasm.generated.ts) is up to date with its
 * AssemblyScript source: rebuild with the pinned compiler and compare the text.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { buildWasmModule } from '../../scripts/build-wasm.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

it('kernels-wasm.generated.ts matches a fresh build of wasm/assembly/kernels.ts', () => {
  const committed = readFileSync(join(root, 'src/common/kernels-wasm.generated.ts'), 'utf8');
  expect(buildWasmModule() === committed).toBe(true);
});
