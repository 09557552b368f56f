import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../../src/common/io/file-source.js';
import { serializeNpy } from '../../../src/common/io/npy.js';
import { openNpz, parseNpz, serializeNpz } from '../../../src/common/io/npz.js';
import { memorySource } from '../../../src/common/io/source.js';
import { crc32, crc32Ref, readZipDirectory, writeZip } from '../../../src/common/io/zip.js';
import type { Tensor } from '../../../src/common/tensor.js';
import { EXPECTED, FIXTURES, fixture, hasNumpy, outcome, python, tensorHex, trackedSource } from './format-helpers.js';

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const put16 = (b: Uint8Array, o: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint16(o, v, true);
const put32 = (b: Uint8Array, o: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(o, v, true);
/** Offset of the central directory (from the end record of a plain zip without comment). */
const cdOffset = (b: Uint8Array) => u32(b, b.length - 22 + 16);

const t1: Tensor = { dtype: 'float32', data: Float32Array.from([1, -2, 3.5, Number.NaN, -0, 6]), shape: [2, 3] };
const t2: Tensor = { dtype: 'int64', data: BigInt64Array.from([-5n, 9007199254740993n]), shape: [2] };

describe('npz: numpy-written fixtures', () => {
  const files = readdirSync(`${FIXTURES}npz`).filter((f) => f.endsWith('.npz'));
  it('covers every fixture listed in expected.json', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED.npz).sort());
  });
  it.each(files)('%s: every array matches numpy (parseNpz and openNpz)', (f) => {
    const want = EXPECTED.npz[f]!;
    const bytes = fixture(`npz/${f}`);
    const m = parseNpz(bytes);
    expect([...m.keys()].sort()).toEqual(Object.keys(want).sort());
    for (const [k, t] of m) {
      expect([...t.shape], `${f}:${k}`).toEqual(want[k]!.shape);
      expect(tensorHex(t), `${f}:${k}`).toBe(want[k]!.hex);
    }
    const src = trackedSource(bytes);
    const lazy = openNpz(src);
    expect([...lazy.names].sort()).toEqual(Object.keys(want).sort());
    for (const k of lazy.names) {
      expect(lazy.info(k).shape).toEqual(want[k]!.shape);
      expect(lazy.info(k).fileDtype).toBe(want[k]!.descr);
      expect(tensorHex(lazy.read(k))).toBe(want[k]!.hex);
    }
    expect(src.maxRead).toBeLessThanOrEqual(bytes.length);
  });
  it('stored entries: open reads only headers, info locates the raw data', () => {
    const bytes = fixture('npz/stored.npz');
    const w = openNpz(memorySource(bytes)).info('w');
    expect(Buffer.from(bytes.subarray(w.byteOffset, w.byteOffset + w.byteLength)).toString('hex')).toBe(
      EXPECTED.npz['stored.npz']!.w!.hex,
    );
    // a 2 MB stored archive: opening reads the directory tail and the headers, not the data
    const big = serializeNpz({ x: { dtype: 'float32', data: new Float32Array(1 << 19), shape: [1 << 19] } });
    const src = trackedSource(big);
    const f = openNpz(src);
    expect(src.totalRead).toBeLessThan(200_000);
    expect(f.info('x').byteLength).toBe(1 << 21);
    // the big deflated fixture is opened from a prefix of its stream
    expect(openNpz(memorySource(fixture('npz/big_deflate.npz'))).info('big').shape).toEqual([128, 128]);
  });
  it('readFloat32 of a float16 and a bool entry', () => {
    const f = openNpz(fileSource(`${FIXTURES}npz/deflate.npz`));
    expect(Array.from(f.readFloat32('half').data.slice(0, 5))).toEqual([0, -0, 1, -2.5, 65504]);
    expect(Array.from(f.readFloat32('flag').data.slice(0, 4))).toEqual([1, 0, 1, 1]);
    expect(outcome(() => f.read('nope'))).toBe('E_CONFIG');
    f.close();
  });
});

describe('npz: writer', () => {
  it.each([false, true])('round trip (compress=%s) is bit-exact, preserves order and input', (compress) => {
    const before = [tensorHex(t1), tensorHex(t2)];
    const bytes = serializeNpz({ w: t1, 'layers.0/idx': t2 }, { compress });
    const m = parseNpz(bytes);
    expect([...m.keys()]).toEqual(['w', 'layers.0/idx']);
    expect(tensorHex(m.get('w')!)).toBe(before[0]);
    expect(tensorHex(m.get('layers.0/idx')!)).toBe(before[1]);
    expect([tensorHex(t1), tensorHex(t2)]).toEqual(before);
    const e = readZipDirectory(memorySource(bytes));
    expect(e.map((x) => x.method)).toEqual(compress ? [8, 8] : [0, 0]);
  });
  it('round trips random tensors of every numpy dtype through a Map', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (raw, compress) => {
        const n8 = raw.length >> 3;
        const buf = raw.slice(0, n8 * 8).buffer;
        const m = new Map<string, Tensor>([
          ['a', { dtype: 'float64', data: new Float64Array(buf.slice(0)), shape: [n8] }],
          ['b', { dtype: 'uint16', data: new Uint16Array(buf.slice(0)), shape: [n8 * 4] }],
          ['c', { dtype: 'int8', data: new Int8Array(raw), shape: [raw.length] }],
        ]);
        const back = parseNpz(serializeNpz(m, { compress }));
        for (const [k, t] of m) expect(tensorHex(back.get(k)!)).toBe(tensorHex(t));
      }),
      { numRuns: 40 },
    );
  });
  it.skipIf(!hasNumpy())('numpy loads what serializeNpz writes (stored and deflate)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-npz-'));
    writeFileSync(join(dir, 's.npz'), serializeNpz({ w: t1, i: t2 }));
    writeFileSync(join(dir, 'd.npz'), serializeNpz({ w: t1, i: t2 }, { compress: true }));
    const out = python(
      'import numpy as np,sys\nfor p in sys.argv[1:]:\n  z=np.load(p)\n  print(sorted(z.keys()), z["w"].tobytes().hex(), z["i"].tolist())',
      [join(dir, 's.npz'), join(dir, 'd.npz')],
    );
    const want = `['i', 'w'] ${tensorHex(t1)} [-5, 9007199254740993]`;
    expect(out.trim().split('\n')).toEqual([want, want]);
  });
  it('crc32 matches the table reference and the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32Ref(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => crc32(b) === crc32Ref(b)),
      { numRuns: 50 },
    );
  });
  it('rejects duplicate and empty names', () => {
    expect(
      outcome(() =>
        writeZip([
          { name: 'a', data: new Uint8Array(1) },
          { name: 'a', data: new Uint8Array(1) },
        ]),
      ),
    ).toBe('E_CONFIG');
    expect(outcome(() => writeZip([{ name: '', data: new Uint8Array(1) }]))).toBe('E_CONFIG');
  });
});

describe('npz / zip hardening', () => {
  const base = () => serializeNpz({ a: t1, b: t2 });
  it('rejects encrypted entries (flag bit 0)', () => {
    const b = base();
    put16(b, cdOffset(b) + 8, 1);
    expect(outcome(() => parseNpz(b))).toBe('E_FORMAT');
  });
  it('rejects unknown compression methods', () => {
    const b = base();
    put16(b, cdOffset(b) + 10, 12); // bzip2
    expect(() => parseNpz(b)).toThrow(/method 12/);
  });
  it('rejects duplicate names', () => {
    const b = serializeNpz({ a: t1, b: t1 });
    // rename the second entry 'b.npy' → 'a.npy' in both headers
    const cd = cdOffset(b);
    const second = cd + 46 + u16(b, cd + 28);
    b[second + 46] = 0x61;
    b[u32(b, second + 42) + 30] = 0x61;
    expect(() => parseNpz(b)).toThrow(/duplicate/);
  });
  it('rejects overlapping entries and entries overlapping the directory', () => {
    // Entry a's stored data is itself the local header + data of entry b; the directory lists both.
    const inner = serializeNpz({ b: t1 });
    const innerLocal = inner.subarray(0, cdOffset(inner));
    const innerCen = inner.subarray(cdOffset(inner), inner.length - 22);
    const outer = writeZip([{ name: 'a.npy', data: innerLocal }]);
    const cd = cdOffset(outer);
    const cen = outer.subarray(cd, outer.length - 22);
    const z = new Uint8Array(cd + cen.length + innerCen.length + 22);
    z.set(outer.subarray(0, cd));
    z.set(cen, cd);
    z.set(innerCen, cd + cen.length);
    put32(z, cd + cen.length + 42, 30 + 5); // b's local header sits inside a's data
    const eocd = z.length - 22;
    put32(z, eocd, 0x06054b50);
    put16(z, eocd + 8, 2);
    put16(z, eocd + 10, 2);
    put32(z, eocd + 12, cen.length + innerCen.length);
    put32(z, eocd + 16, cd);
    expect(() => readZipDirectory(memorySource(z))).toThrow(/overlap/);
    const c = base();
    put32(c, cdOffset(c) + 20, u32(c, cdOffset(c) + 20) + 200); // sizes reaching into the directory
    put32(c, cdOffset(c) + 24, u32(c, cdOffset(c) + 24) + 200);
    const e = cdOffset(c) + 46 + 5;
    put32(c, e + 20, u32(c, e + 20) + 200);
    put32(c, e + 24, u32(c, e + 24) + 200);
    expect(() => parseNpz(c)).toThrow(/overlap/);
  });
  it('verifies CRC-32', () => {
    const b = base();
    const dataStart = 30 + u16(b, 26);
    b[dataStart + 199] = b[dataStart + 199]! ^ 1; // flip a data bit of entry a
    expect(() => parseNpz(b)).toThrow(/CRC-32/);
  });
  it('rejects a local name that differs from the central one', () => {
    const b = base();
    b[30] = 0x7a;
    expect(outcome(() => parseNpz(b))).toBe('E_FORMAT');
  });
  it('rejects a deflate stream longer than its declared size, and impossible ratios', () => {
    const b = serializeNpz({ a: t1 }, { compress: true });
    const cd = cdOffset(b);
    put32(b, cd + 24, u32(b, cd + 24) - 1);
    expect(outcome(() => parseNpz(b))).toBe('E_FORMAT');
    const c = serializeNpz({ a: t1 }, { compress: true });
    put32(c, cdOffset(c) + 24, 0xfffffff0);
    expect(() => parseNpz(c)).toThrow(/ratio/);
  });
  it('accepts an archive comment and trailing-comment search; rejects a missing end record', () => {
    const b = base();
    const withComment = new Uint8Array(b.length + 5);
    withComment.set(b);
    withComment.set([104, 101, 108, 108, 111], b.length);
    put16(withComment, b.length - 22 + 20, 5);
    expect([...parseNpz(withComment).keys()]).toEqual(['a', 'b']);
    expect(outcome(() => parseNpz(b.subarray(0, b.length - 1)))).toBe('E_FORMAT');
    expect(outcome(() => parseNpz(new Uint8Array(10)))).toBe('E_FORMAT');
  });
  it('rejects entries that are not .npy files', () => {
    const z = writeZip([{ name: 'readme.txt', data: new Uint8Array(3) }]);
    expect(() => parseNpz(z)).toThrow(/not a \.npy/);
  });
  it('trusts central sizes under flag bit 3 (data descriptors, python zipfile streaming)', () => {
    const e = readZipDirectory(memorySource(fixture('npz/descriptor.npz')));
    expect(e.every((x) => (x.flags & 8) !== 0)).toBe(true);
  });
  it('bounds inflation by the declared size (a small bomb is refused)', () => {
    const data = serializeNpy({ dtype: 'uint8', data: new Uint8Array(1 << 20), shape: [1 << 20] });
    const comp = deflateRawSync(data);
    const z = writeZip([{ name: 'x.npy', data }], { compress: true });
    expect(u32(z, 18)).toBe(comp.length);
    put32(z, cdOffset(z) + 24, 4096); // claim 4 KB
    expect(outcome(() => parseNpz(z))).toBe('E_FORMAT');
  });
});
