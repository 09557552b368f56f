/**
 * Property-based fuzzing of the npy / npz / safetensors readers: truncations, byte mutations of headers
 * and directories, and structurally mutated headers. Only LowbitError (E_FORMAT / E_LIMIT / E_DTYPE) may
 * come out; no read may be longer than the source; a decoded tensor is never larger than the file
 * (deflated npz entries: never larger than deflate's 1032:1 bound).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../../src/common/errors.js';
import { openNpy, parseNpy } from '../../../src/common/io/npy.js';
import { openNpz, parseNpz, serializeNpz } from '../../../src/common/io/npz.js';
import { openSafetensors, parseSafetensors, serializeSafetensors } from '../../../src/common/io/safetensors.js';
import type { TensorFile } from '../../../src/common/io/source.js';
import { fixture, trackedSource } from './format-helpers.js';

const ALLOWED = new Set(['E_FORMAT', 'E_LIMIT', 'E_DTYPE']);

/** Open, list, info and read every tensor; assert the invariants. Returns 'ok' or the error code. */
function exercise(
  bytes: Uint8Array,
  open: (s: ReturnType<typeof trackedSource>) => TensorFile,
  parse: (b: Uint8Array) => unknown,
  ratio = 1,
): string {
  const src = trackedSource(bytes);
  let code = 'ok';
  try {
    const f = open(src);
    for (const name of f.names) {
      f.info(name);
      const t = f.read(name);
      expect(t.data.byteLength).toBeLessThanOrEqual(bytes.length * ratio + 64);
      f.readFloat32(name);
    }
  } catch (e) {
    if (!(e instanceof LowbitError)) throw e;
    expect(ALLOWED.has(e.code), `${e.code}: ${e.message}`).toBe(true);
    code = e.code;
  }
  expect(src.maxRead).toBeLessThanOrEqual(bytes.length);
  // the in-memory parser agrees on success / failure class
  try {
    parse(bytes);
  } catch (e) {
    if (!(e instanceof LowbitError)) throw e;
    expect(ALLOWED.has(e.code), `${e.code}: ${e.message}`).toBe(true);
  }
  return code;
}

/** Arbitrary mutation of a byte array: set k bytes (biased to the first `hot` bytes), then maybe truncate. */
function mutated(base: Uint8Array, hot: number) {
  const len = base.length;
  return fc
    .record({
      edits: fc.array(
        fc.tuple(
          fc.oneof(
            fc.integer({ min: 0, max: Math.max(0, Math.min(hot, len) - 1) }),
            fc.integer({ min: 0, max: len - 1 }),
          ),
          fc.oneof(
            fc.integer({ min: 0, max: 255 }),
            fc.constantFrom(0, 0xff, 0x20, 0x22, 0x27, 0x2c, 0x30, 0x39, 0x7b, 0x7d),
          ),
        ),
        { minLength: 1, maxLength: 6 },
      ),
      cut: fc.option(fc.integer({ min: 0, max: len }), { freq: 3 }),
    })
    .map(({ edits, cut }) => {
      const b = base.slice();
      for (const [i, v] of edits) b[i] = v;
      return cut === null ? b : b.slice(0, cut);
    });
}

const NPY_FILES = [
  'npy/f4.npy',
  'npy/be_i8.npy',
  'npy/fortran_f4.npy',
  'npy/v2_f4.npy',
  'npy/v3_f4.npy',
  'npy/scalar_f8.npy',
  'npy/b1.npy',
  'npy/f2.npy',
];

describe('fuzz: npy', () => {
  it.each(NPY_FILES)('%s: mutated headers and truncations', (f) => {
    const base = fixture(f);
    expect(exercise(base, openNpy, parseNpy)).toBe('ok');
    fc.assert(
      fc.property(mutated(base, 128), (b) => void exercise(b, openNpy, parseNpy)),
      { numRuns: 150 },
    );
  });
  it('header literals built from header-ish tokens', () => {
    const tok = fc.constantFrom(
      "'descr'",
      "'fortran_order'",
      "'shape'",
      "'<f4'",
      "'|b1'",
      "'>i8'",
      "'|O'",
      'True',
      'False',
      '(',
      ')',
      ',',
      ':',
      ' ',
      '{',
      '}',
      '0',
      '7',
      '99999999999999999999',
      '2L',
      "'",
      '"',
    );
    fc.assert(
      fc.property(fc.array(tok, { maxLength: 30 }), fc.integer({ min: 0, max: 64 }), (parts, dataLen) => {
        const h = `${parts.join('')}\n`;
        const b = new Uint8Array(10 + h.length + dataLen);
        b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 0xff, h.length >> 8]);
        for (let i = 0; i < h.length; i++) b[10 + i] = h.charCodeAt(i);
        exercise(b, openNpy, parseNpy);
      }),
      { numRuns: 300 },
    );
  });
});

describe('fuzz: npz', () => {
  const generated = serializeNpz(
    {
      a: { dtype: 'float32', data: Float32Array.from([1, 2, 3]), shape: [3] },
      b: { dtype: 'uint8', data: Uint8Array.from([4, 5]), shape: [2] },
    },
    { compress: true },
  );
  const files: [string, Uint8Array][] = [
    ['stored.npz', fixture('npz/stored.npz')],
    ['deflate.npz', fixture('npz/deflate.npz')],
    ['zip64.npz', fixture('npz/zip64.npz')],
    ['descriptor.npz', fixture('npz/descriptor.npz')],
    ['generated deflate', generated],
  ];
  it.each(files)('%s: mutated headers, directory and data; truncations', (_name, base) => {
    expect(exercise(base, openNpz, parseNpz, 1032)).toBe('ok');
    const cd = base.length - 22 - 46 * 6 - 60; // bias edits towards the directory tail too
    fc.assert(
      fc.property(
        mutated(base, 160),
        fc.integer({ min: Math.max(0, cd), max: base.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (b, i, v) => {
          if (i < b.length) b[i] = v;
          exercise(b, openNpz, parseNpz, 1032);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('fuzz: safetensors', () => {
  const generated = serializeSafetensors(
    {
      w: { dtype: 'float32', data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] },
      h: { dtype: 'float16', data: Uint16Array.from([0x3c00]), shape: [1] },
      q: { fileDtype: 'F4', shape: [4], bytes: Uint8Array.from([0x21, 0x73]) },
      s: { fileDtype: 'F8_E8M0', shape: [2], bytes: Uint8Array.from([127, 128]) },
    },
    { method: 'fuzz' },
  );
  const files: [string, Uint8Array][] = [
    ['all_dtypes', fixture('st/all_dtypes.safetensors')],
    ['misaligned', fixture('st/misaligned.safetensors')],
    ['generated', generated],
  ];
  it.each(files)('%s: mutated headers and truncations', (_name, base) => {
    expect(exercise(base, openSafetensors, parseSafetensors)).toBe('ok');
    fc.assert(
      fc.property(mutated(base, 400), (b) => void exercise(b, openSafetensors, parseSafetensors)),
      { numRuns: 200 },
    );
  });
  it('structurally mutated headers: huge N, bad dims, overlapping offsets, duplicate keys', () => {
    const dim = fc.oneof(
      fc.integer({ min: 0, max: 6 }),
      fc.constantFrom(-1, 0.5, Number.NaN, 2 ** 53, 2 ** 31, 1e300, '3', null),
    );
    const off = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(-4, 2.5, 2 ** 60, '8', null));
    const entry = fc.record({
      dtype: fc.oneof(
        fc.constantFrom('F32', 'F16', 'U8', 'F4', 'F6_E2M3', 'C64', 'BOOL', 'I64', 'F8_E4M3'),
        fc.string({ maxLength: 4 }),
      ),
      shape: fc.oneof(fc.array(dim, { maxLength: 4 }), fc.constant('x')),
      data_offsets: fc.oneof(fc.tuple(off, off), fc.array(off, { maxLength: 3 })),
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', '__metadata__', '__proto__'), entry), { maxLength: 4 }),
        fc.integer({ min: 0, max: 48 }),
        fc.option(fc.constantFrom(0xffffffffffffffffn, 100_000_001n, 2n ** 53n, 0n, 7n), { freq: 5 }),
        (entries, dataLen, forcedN) => {
          // duplicate keys survive because the text is assembled by hand
          const text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
          const h = new TextEncoder().encode(text);
          const b = new Uint8Array(8 + h.length + dataLen);
          new DataView(b.buffer).setBigUint64(0, forcedN ?? BigInt(h.length), true);
          b.set(h, 8);
          exercise(b, openSafetensors, parseSafetensors);
        },
      ),
      { numRuns: 400 },
    );
  });
});
