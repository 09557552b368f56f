import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { parseGguf } from '../../src/common/io/gguf.js';
import { modelPath } from '../../src/eval/llama.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-export-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ckpt = modelPath('stories260K/stories260K.bin');
const tok = modelPath('stories260K/tok512.bin');

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}

describe('lowbit export-gguf', () => {
  it('writes a Q8_0 GGUF model and reports the stored types', async () => {
    const out = join(dir, 'q8.gguf');
    const r = await run('export-gguf', ckpt, '-t', tok, '-o', out, '--type', 'q8_0', '--name', 'stories260K');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/llama, 5 layers, dim 64, vocab 512, \d+ bytes/);
    expect(r.out).toContain('Q8_0: 31 tensors');
    expect(r.out).toContain('F16: 5 tensors');
    expect(r.out).toContain('F32: 11 tensors');
    const g = parseGguf(readFileSync(out));
    expect(g.metadata['general.name']).toBe('stories260K');
    expect(g.metadata['general.file_type']).toBe(7);
    expect(g.info('blk.0.attn_q.weight').fileDtype).toBe('Q8_0');
  });

  it('usage errors exit 2, unreadable files exit 1, --help exits 0', async () => {
    expect((await run('export-gguf', ckpt, '-o', join(dir, 'x.gguf'))).code).toBe(2);
    expect((await run('export-gguf', ckpt, '-t', tok)).code).toBe(2);
    expect((await run('export-gguf', ckpt, '-t', tok, '-o', join(dir, 'x.gguf'), '--type', 'q4_1')).code).toBe(2);
    const missing = await run('export-gguf', join(dir, 'nope.bin'), '-t', tok, '-o', join(dir, 'x.gguf'));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('E_IO');
    const badCkpt = await run('export-gguf', tok, '-t', tok, '-o', join(dir, 'x.gguf'));
    expect(badCkpt.code).toBe(1);
    expect(badCkpt.err).toContain('E_FORMAT');
    const help = await run('export-gguf', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: lowbit export-gguf');
  });
});
