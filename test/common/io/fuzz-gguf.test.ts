import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../../src/common/errors.js';
import { type GgufArray, type GgufFile, openGguf, serializeGguf } from '../../../src/common/io/gguf.js';
import { type ByteSource, memorySource } from '../../../src/common/io/source.js';

const tiny = new Uint8Array(readFileSync(new URL('../../fixtures/gguf/tiny-v3.gguf', import.meta.url)));
const written = serializeGguf({
  metadata: { 'general.alignment': { type: 'u32', value: 64 }, a: [[1, 2], [3]], s: ['x', 'yy'], f: 0.5, b: true },
  tensors: [
    { name: 'q', data: Float32Array.from({ length: 64 }, (_, i) => i - 31), shape: [2, 32], type: 'Q4_0' },
    { name: 'r', data: Float32Array.from({ length: 32 }, (_, i) => i / 3), type: 'MXFP4' },
  ],
});
const BASES = [tiny, written];
const HUGE = [0xffffffffffffffffn, 1n << 63n, 1n << 40n, 1n << 32n, 0xffffffffn, 1n << 31n, 65536n, 1000n, 0n, 1n, 7n];

/** Bytes a header can make the reader allocate: array items + string bytes + tensor data. */
function arrayItems(v: GgufArray): number {
  let n = v.value.length;
  for (const x of v.value) if (typeof x === 'object') n += arrayItems(x);
  return n;
}

/** Parse and read everything; only LowbitError may escape; header-driven sizes stay within the file. */
function exercise(bytes: Uint8Array): void {
  let largest = 0;
  const base = memorySource(bytes);
  const src: ByteSource = {
    size: base.size,
    read(offset, length, out) {
      largest = Math.max(largest, length);
      return base.read(offset, length, out);
    },
  };
  let f: GgufFile;
  try {
    f = openGguf(src);
  } catch (e) {
    if (!(e instanceof LowbitError)) throw e;
    return;
  }
  expect(largest).toBeLessThanOrEqual(bytes.length);
  let items = 0;
  for (const v of Object.values(f.typedMetadata)) if (v.type === 'array') items += arrayItems(v);
  expect(items).toBeLessThanOrEqual(bytes.length);
  let total = 0;
  for (const t of f.tensors) {
    total += t.byteLength;
    expect(t.byteOffset + t.byteLength).toBeLessThanOrEqual(bytes.length);
  }
  expect(total).toBeLessThanOrEqual(bytes.length);
  for (const name of f.names) {
    try {
      const t = f.read(name);
      expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    } catch (e) {
      if (!(e instanceof LowbitError)) throw e;
    }
  }
}

const byteEdits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });

describe('GGUF fuzzing: only LowbitError escapes, nothing sized beyond the file', () => {
  it('random byte edits in the header region', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BASES), byteEdits, (base, edits) => {
        const b = base.slice();
        const headerEnd = Math.min(b.length, 1024);
        for (const [pos, v] of edits) b[pos % headerEnd] = v;
        exercise(b);
      }),
      { numRuns: 1500 },
    );
  });

  it('huge or boundary u64/u32 values written at random header offsets', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BASES), fc.nat(), fc.constantFrom(...HUGE), fc.boolean(), (base, pos, v, as32) => {
        const b = base.slice();
        const dv = new DataView(b.buffer);
        const p = pos % Math.max(1, Math.min(b.length, 1024) - 8);
        if (as32) dv.setUint32(p, Number(v & 0xffffffffn), true);
        else dv.setBigUint64(p, v, true);
        exercise(b);
      }),
      { numRuns: 1500 },
    );
  });

  it('truncation at every length of both bases', () => {
    for (const base of BASES) for (let n = 0; n <= base.length; n++) exercise(base.subarray(0, n));
  });

  it('random garbage after a valid magic and version', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.constantFrom(2, 3), (tail, version) => {
        const b = new Uint8Array(8 + tail.length);
        b.set([0x47, 0x47, 0x55, 0x46, version, 0, 0, 0]);
        b.set(tail, 8);
        exercise(b);
      }),
      { numRuns: 1000 },
    );
  });
});
