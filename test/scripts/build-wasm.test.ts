/**
 * The committed wasm modules (src/common/kernels-wasm.generated.ts, and the shared-memory build in
 * src/node/kernels-shared-wasm.generated.ts) are up to date with their AssemblyScript source: rebuild
 * with the pinned compiler and compare the text.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { buildWasmModule, TARGETS } from '../../scripts/build-wasm.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

it.each(TARGETS.map((t) => [t.file, t] as const))('%s matches a fresh build of wasm/assembly/kernels.ts', (_f, t) => {
  const committed = readFileSync(join(root, t.file), 'utf8');
  expect(buildWasmModule(t.flags, t.name, t.what) === committed).toBe(true);
});
