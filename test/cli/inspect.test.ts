import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectFile, tensorStats } from '../../src/cli/inspect.js';
import { alignTable, formatNumber } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { f32ToF16Array } from '../../src/common/half.js';
import { serializeGguf } from '../../src/common/io/gguf.js';
import { writeTensorFile } from '../../src/common/io/open.js';
import { float32 } from '../../src/common/tensor.js';

const fixture = fileURLToPath(new URL('../fixtures/gguf/tiny-v3.gguf', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lowbit-cli-'));
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

describe('lowbit inspect', () => {
  it('prints an aligned table for the numpy-written GGUF fixture', async () => {
    const r = await run('inspect', fixture);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe(`${fixture}: gguf, 8 tensors`);
    expect(lines[1]!.split(/\s+/)).toEqual(['name', 'dtype', 'shape', 'bytes', 'min', 'max', 'absmax', 'nonfinite']);
    expect(lines).toHaveLength(3 + 8);
    // every row has the same width as the header line up to its last column
    const f16 = lines.find((l) => l.startsWith('h.f16'))!;
    expect(f16.split(/\s{2,}/)).toEqual(['h.f16', 'F16', '[2, 2, 2]', '16', '-2', '65504', '65504', '0']);
    const bf = lines.find((l) => l.startsWith('b.bf16'))!;
    // bf16 fixture values: 1, -2, +Inf, 2^-133 (denormal), 3.140625
    expect(bf.split(/\s{2,}/)).toEqual(['b.bf16', 'BF16', '[5]', '10', '-2', '3.14063', '3.14063', '1']);
    const i32 = lines.find((l) => l.startsWith('i.i32'))!;
    expect(i32.split(/\s{2,}/)).toEqual(['i.i32', 'I32', '[3]', '12', '-7', '2147483647', '2147483647', '0']);
    expect(lines[1]!.length).toBe(lines[2]!.length);
  });

  it('--json gives machine-readable rows that match the fixture', async () => {
    const r = await run('inspect', '--json', fixture);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.format).toBe('gguf');
    expect(rep.tensors.map((t: { name: string }) => t.name)).toEqual([
      'w.f32',
      'h.f16',
      'b.bf16',
      'blk.0.q8_0',
      'blk.0.q4_0',
      'blk.0.q4_1',
      'blk.0.mxfp4',
      'i.i32',
    ]);
    const bf = rep.tensors[2];
    expect(bf).toEqual({
      name: 'b.bf16',
      dtype: 'BF16',
      shape: [5],
      bytes: 10,
      count: 5,
      min: -2,
      max: 3.140625,
      absmax: 3.140625,
      nonFinite: 1,
    });
    expect(rep.tensors[7]).toMatchObject({ min: -7, max: 2147483647, absmax: 2147483647, nonFinite: 0 });
  });

  it('works on safetensors / npz / npy and reports NaN/Inf counts and all-non-finite tensors', async () => {
    const t = float32([1, Number.NaN, -3, Number.POSITIVE_INFINITY, 0.5, -0], [2, 3]);
    const allBad = float32([Number.NaN, Number.NEGATIVE_INFINITY], [2]);
    for (const ext of ['safetensors', 'npz']) {
      const p = join(dir, `t.${ext}`);
      writeTensorFile(p, { t, allBad });
      const rep = inspectFile(p);
      expect(rep.format).toBe(ext);
      const row = rep.tensors.find((x) => x.name === 't')!;
      expect([row.min, row.max, row.absmax, row.nonFinite, row.count]).toEqual([-3, 1, 3, 2, 6]);
      const bad = rep.tensors.find((x) => x.name === 'allBad')!;
      expect([bad.min, bad.max, bad.absmax, bad.nonFinite]).toEqual([null, null, null, 2]);
    }
    const p = join(dir, 'h.npy');
    writeTensorFile(p, { h: { dtype: 'float16', data: f32ToF16Array(Float32Array.from([0.5, -65504])), shape: [2] } });
    const r = await run('inspect', p, '--json');
    expect(JSON.parse(r.out).tensors[0]).toMatchObject({ dtype: '<f2', min: -65504, max: 0.5, absmax: 65504 });
  });

  it('lists undecodable GGUF types with empty statistics', async () => {
    const b = serializeGguf({ tensors: [{ name: 'k', data: new Float32Array(256) }] });
    new DataView(b.buffer).setUint32(45, 12, true); // type → Q4_K
    const p = join(dir, 'k.gguf');
    writeFileSync(p, b);
    const r = await run('inspect', p);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/k\s+Q4_K\s+\[256\]\s+144\s+-\s+-\s+-\s+-/);
    expect(r.out).toMatch(/cannot decode/);
  });

  it('bad arguments: usage and exit code 2', async () => {
    for (const argv of [[], ['inspect'], ['inspect', 'a', 'b'], ['inspect', '--bogus', fixture], ['nope']]) {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/Usage: lowbit/);
    }
    const h = await run('--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/inspect/);
    const ih = await run('inspect', '--help');
    expect(ih.code).toBe(0);
    expect(ih.out).toMatch(/--json/);
  });

  it('LowbitError: one clean line and exit code 1', async () => {
    const junk = join(dir, 'junk.gguf');
    writeFileSync(junk, new Uint8Array(64));
    const r = await run('inspect', junk);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`lowbit inspect: E_FORMAT: ${junk}: GGUF: bad magic, expected "GGUF"\n`);
    const m = await run('inspect', join(dir, 'missing.npy'));
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/^lowbit inspect: E_IO: cannot open .*missing\.npy/);
    expect(m.err.split('\n')).toHaveLength(2);
  });
});

describe('helpers', () => {
  it('tensorStats over every dtype family', () => {
    expect(tensorStats({ dtype: 'int64', data: BigInt64Array.from([-5n, 7n]), shape: [2] })).toEqual({
      min: -5,
      max: 7,
      absmax: 7,
      nonFinite: 0,
    });
    expect(tensorStats({ dtype: 'uint8', data: Uint8Array.from([3, 9]), shape: [2] }).max).toBe(9);
    expect(tensorStats({ dtype: 'float32', data: new Float32Array(0), shape: [0] }).min).toBeNull();
  });
  it('formatNumber and alignTable', () => {
    expect(formatNumber(null)).toBe('-');
    expect(formatNumber(3)).toBe('3');
    expect(formatNumber(0.5)).toBe('0.5');
    expect(formatNumber(1 / 3)).toBe('0.333333');
    expect(formatNumber(1e-7)).toBe('1e-7');
    expect(formatNumber(-2.5e20)).toBe('-2.5e+20');
    expect(
      alignTable(
        ['a', 'n'],
        [
          ['xyz', '1'],
          ['b', '100'],
        ],
        [false, true],
      ),
    ).toBe('a      n\n---  ---\nxyz    1\nb    100\n');
  });
});
