import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import { packPlanes, packPlanesRef, planeWords, unpackPlanes, unpackPlanesRef } from '../../src/mwq/index.js';

describe('bit planes (MSB first, element i = bit i&31 of word i>>>5)', () => {
  it('hand example', () => {
    // codes 2 (10b), 1 (01b), 3 (11b): plane 0 (MSB) = elements {0, 2} = 0b101, plane 1 = {1, 2} = 0b110
    expect(Array.from(packPlanes(new Uint8Array([2, 1, 3]), 2))).toEqual([0b101, 0b110]);
    const codes = new Uint8Array(33);
    codes[31] = 1;
    codes[32] = 1;
    expect(Array.from(packPlanes(codes, 1))).toEqual([0x80000000, 1]);
    expect(planeWords(33)).toBe(2);
  });
  it('fast ≡ ref, round trip, prefix reads give (q >>> k) << k, padding bits are zero', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 200 }), fc.integer(), (bits, n, seed) => {
        const codes = new Uint8Array(n);
        let s = seed >>> 0;
        for (let i = 0; i < n; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          codes[i] = s >>> (32 - bits);
        }
        const p = packPlanes(codes, bits);
        expect(p).toEqual(packPlanesRef(codes, bits));
        expect(unpackPlanes(p, bits, n)).toEqual(codes);
        expect(unpackPlanesRef(p, bits, n)).toEqual(codes);
        const W = planeWords(n);
        if (n % 32 !== 0) for (let b = 0; b < bits; b++) expect(p[b * W + W - 1]! >>> (n % 32)).toBe(0);
        for (let r = 0; r <= bits; r++) {
          const k = bits - r;
          const want = Uint8Array.from(codes, (q) => ((q >>> k) << k) & 0xff);
          expect(unpackPlanes(p, bits, n, r)).toEqual(want);
          expect(unpackPlanesRef(p, bits, n, r)).toEqual(want);
        }
      }),
      { numRuns: 150 },
    );
  });
  it('rejects out-of-range codes and bad widths without writing', () => {
    const out = new Uint32Array(2).fill(7);
    expect(() => packPlanes(new Uint8Array([4]), 2, out)).toThrow(LowbitError);
    expect(Array.from(out)).toEqual([7, 7]);
    expect(() => packPlanes(new Uint8Array([1]), 9)).toThrow(LowbitError);
    expect(() => unpackPlanes(new Uint32Array(1), 2, 40)).toThrow(LowbitError);
  });
});
