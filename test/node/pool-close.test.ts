/**
 * `await pool.close()` at the top level of an ES module right after a pooled call: the worker's late
 * reply to that call once unref'd it mid-termination, the event loop ran empty and Node exited with
 * code 13 (the benchmark smoke run failed that way). Runs the fixture in child processes.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

it('a process that awaits pool.close() right after a pooled call exits with code 0', () => {
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'fixtures/close-after-call.ts')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('closed after 2 parts');
  }
}, 120_000);
