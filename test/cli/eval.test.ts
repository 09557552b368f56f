import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { progressBar } from '../../src/cli/eval-model.js';
import { main } from '../../src/cli/main.js';
import { writeTensorFile } from '../../src/common/io/open.js';
import { float32 } from '../../src/common/tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-cli-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}

// a small K-cache-shaped tensor [heads 2, tokens 16, headDim 8] with an outlier channel, and a 2-D tensor
const K = new Float32Array(2 * 16 * 8).map((_, i) => Math.sin(i * 0.37) * (i % 8 === 7 ? 12 : 1));
const W = new Float32Array(4 * 4).map((_, i) => (i % 4) - 1.5); // rows [-1.5, -0.5, 0.5, 1.5]
const file = join(dir, 't.safetensors');
writeTensorFile(
  file,
  new Map([
    ['k', float32(K, [2, 16, 8])],
    ['w', float32(W, [4, 4])],
  ]),
);

const ref = JSON.parse(readFileSync(new URL('../fixtures/stories260k-runc-reference.json', import.meta.url), 'utf8'));

describe('lowbit eval', () => {
  it('prints one row per tensor x method x bits', async () => {
    const r = await run('eval', file, '--method', 'per-token,kivi-keys,bfp12', '--bits', '2,4', '--group', '8');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.trimEnd().split('\n');
    expect(lines[1]!.split(/\s{2,}/)).toEqual([
      'tensor',
      'method',
      'bits',
      'bits/elem',
      'ratio',
      'nmse',
      'SQNR dB',
      'max abs err',
      'score nmse',
    ]);
    // 2 tensors x (per-token 2 + kivi-keys 2 + bfp12 1) rows
    expect(lines).toHaveLength(3 + 2 * 5);
  });

  it('--json: schema, hand-checkable numbers, null for infinite SQNR', async () => {
    const r = await run('eval', file, '--method', 'per-token,mxfp4', '--bits', '2', '--group', '4', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.schema).toBe('lowbit.eval/1');
    expect(j.format).toBe('safetensors');
    const w2 = j.rows.find((x: { tensor: string; method: string }) => x.tensor === 'w' && x.method === 'per-token');
    // each row [-1.5, -0.5, 0.5, 1.5] is exactly on the 2-bit grid (min -1.5, scale 1): zero error
    expect(w2.nmse).toBe(0);
    expect(w2.sqnrDb).toBeNull();
    expect(w2.bitsPerElement).toBe(2 + 64 / 4); // float32 scale + min per 4-wide token
    expect(w2.compression).toBeCloseTo(32 / 18, 12);
    expect(w2.scoreNmse).toBeNull();
    const k = j.rows.find((x: { tensor: string; method: string }) => x.tensor === 'k' && x.method === 'mxfp4');
    expect(k.bitsPerElement).toBe(4 + 8 / 4);
    expect(k.scoreNmse).toBeGreaterThan(0);
    expect(j.channelAbsmax[0].absmax).toHaveLength(8);
  });

  it('K-sort lowers the block error on a key tensor with an outlier channel', async () => {
    const r = await run('eval', file, '--method', 'bfp12,bfp12-ksort', '--group', '4', '--json');
    const j = JSON.parse(r.out);
    const get = (m: string) =>
      j.rows.find((x: { tensor: string; method: string }) => x.tensor === 'k' && x.method === m);
    expect(get('bfp12-ksort').nmse).toBeLessThan(get('bfp12').nmse);
  });

  it('--html writes a self-contained SVG report', async () => {
    const out = join(dir, 'r.html');
    const r = await run('eval', file, '--method', 'kivi-keys,bfp12-ksort', '--group', '8', '--html', out);
    expect(r.code).toBe(0);
    const h = readFileSync(out, 'utf8');
    expect(h).toMatch(/^<!DOCTYPE html>/);
    expect(h).toContain('<svg');
    expect(h).toContain('after K-sort');
    expect(h).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect(h).not.toContain('<script');
  });

  it('a GGUF file: ratio vs the stored bits per element, non-finite tensors skipped with a reason', async () => {
    const gguf = fileURLToPath(new URL('../fixtures/gguf/tiny-v3.gguf', import.meta.url));
    const r = await run('eval', gguf, '--method', 'per-token', '--bits', '4', '--group', '2', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const row = (t: string) => j.rows.find((x: { tensor: string }) => x.tensor === t);
    // Q4_0 stores 18 bytes per 32 elements = 4.5 bits per element in the file
    expect(row('blk.0.q4_0').compression).toBeCloseTo(4.5 / row('blk.0.q4_0').bitsPerElement, 12);
    expect(row('w.f32').compression).toBeCloseTo(32 / row('w.f32').bitsPerElement, 12);
    expect(row('b.bf16').skipped).toMatch(/non-finite/);
    expect(row('b.bf16').nmse).toBeNull();
    const t = await run('eval', gguf, '--method', 'per-token', '--bits', '4');
    expect(t.out).toMatch(
      /\* skipped:\n {2}b\.bf16 per-token: the tensor has 1 non-finite value\(s\); errors are undefined\n/,
    );
  });

  it('bad input: one line, non-zero exit, no stack trace', async () => {
    const bad = join(dir, 'bad.npy');
    writeFileSync(bad, 'not a numpy file at all');
    for (const argv of [
      ['eval', join(dir, 'missing.npy')],
      ['eval', bad],
    ]) {
      const r = await run(...argv);
      expect(r.code).toBe(1);
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
    for (const argv of [
      ['eval', file, '--method', 'nope'],
      ['eval', file, '--bits', 'x'],
      ['eval', file, '--group', '0'],
      ['eval'],
      ['eval', file, '--frobnicate'],
    ]) {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.err.split('\n')[0]).toMatch(/^lowbit eval: /);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});

describe('lowbit eval-model', () => {
  it('stories260K --json with a tiny evaluation set', async () => {
    const r = await run(
      'eval-model',
      '--kv',
      'kivi4,pertoken2',
      '--sequences',
      '1',
      '--length',
      '24',
      '--calib-sequences',
      '1',
      '--calib-length',
      '24',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out);
    expect(j.schema).toBe('lowbit.eval-model/1');
    expect(j.rows.map((x: { spec: string }) => x.spec)).toEqual(['float32', 'kivi4', 'pertoken2']);
    expect(j.rows[0]).toMatchObject({ kind: 'baseline', kl: 0, top1: 1, tokens: 23, kvBytesPerToken: 1280 });
    // KIVI-4 with R 128 keeps all 24 tokens in the float32 residual: equal to float32
    expect(j.rows[1].kl).toBe(0);
    expect(j.rows[2].kl).toBeGreaterThan(0);
    expect(j.rows[2].kvBytesPerToken).toBe(400);
  });

  it('mamba-tiny table with a weight config', async () => {
    const r = await run(
      'eval-model',
      '--model',
      'mamba-tiny',
      '--weights',
      'w8a8-none',
      '--sequences',
      '1',
      '--length',
      '32',
      '--calib-sequences',
      '1',
      '--calib-length',
      '64',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mamba-tiny: 1 windows x 32 tokens/);
    expect(r.out).toMatch(/\nW8A8 none\s+\d/);
  });

  it('bad options', async () => {
    for (const [argv, code] of [
      [['eval-model', '--model', 'gpt5'], 2],
      [['eval-model', '--kv', 'kivi3', '--sequences', '1', '--length', '8'], 1],
      [['eval-model', '--model', 'mamba-tiny', '--kv', 'kivi2'], 1],
      [['eval-model', '--sequences', '-1'], 2],
      [['eval-model', '--length', '9999', '--sequences', '1'], 1],
    ] as const) {
      const r = await run(...argv);
      expect(r.code).toBe(code);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});

describe('lowbit generate', () => {
  it('prints exactly what run.c prints: -i Zoo -n 60 -t 0', async () => {
    const r = await run('generate', '--model', 'stories260K', '--prompt', 'Zoo', '--steps', '60', '--temperature', '0');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${ref.greedy_zoo.text}\n`);
  });

  it('-t 1 -p 0.95 -s 42 -n 200', async () => {
    const r = await run('generate', '--temperature', '1', '--topp', '0.95', '--seed', '42', '--steps', '200');
    expect(r.out).toBe(`${ref.sampled_t1_p095.text}\n`);
  });

  it('runs on a quantized KV cache; bad input is one line', async () => {
    const r = await run('generate', '--steps', '30', '--temperature', '0', '--kv', 'kivi4-r32');
    expect(r.code).toBe(0);
    expect(r.out.startsWith('Once upon a time')).toBe(true);
    for (const argv of [
      ['generate', '--steps', 'x'],
      ['generate', '--model', join(dir, 'none.bin')],
      ['generate', '--model', join(dir, 'none.bin'), '--tokenizer', join(dir, 'none.tok')],
      ['generate', '--kv', 'bogus'],
      ['generate', '--temperature', '-1'],
    ]) {
      const q = await run(...argv);
      expect(q.code).toBeGreaterThan(0);
      expect(q.err).not.toMatch(/\n\s+at /);
      expect(q.err.split('\n')[0]).toMatch(/^lowbit generate: /);
    }
  });
});

describe('progress bar', () => {
  it('draws on a terminal only, and never when disabled (--json)', () => {
    let tty = '';
    const onTty = progressBar(
      { stdout: { write: () => true }, stderr: { isTTY: true, write: (s: string) => (tty += s) } } as never,
      true,
    );
    onTty(1, 4, 'kivi2');
    onTty(4, 4, 'done');
    expect(tty).toContain('\r');
    expect(tty).toContain('1/4 kivi2');
    expect(tty.endsWith('\n')).toBe(true);
    let piped = '';
    progressBar({ stdout: { write: () => true }, stderr: { write: (s: string) => (piped += s) } }, true)(1, 4, 'x');
    let json = '';
    progressBar(
      { stdout: { write: () => true }, stderr: { isTTY: true, write: (s: string) => (json += s) } } as never,
      false,
    )(1, 4, 'x');
    expect(piped).toBe('');
    expect(json).toBe('');
  });
});
