/**
 * Runs every `bench/*.bench.ts` (or those named on the command line) in one process.
 * `npm run bench` (full sizes) or `LOWBIT_BENCH_QUICK=1 npm run bench` (smoke).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();
for (const f of files) {
  console.log(`\n=== ${f}`);
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { main?: () => unknown };
  if (typeof mod.main !== 'function') throw new Error(`${f} must export main()`);
  await mod.main();
}
