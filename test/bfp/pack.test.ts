import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packCodes, packCodesRef, packedBytes, unpackCodes, unpackCodesRef } from '../../src/bfp/pack.js';

describe('code packing (dense little-endian bitstream)', () => {
  it('hand-computed layouts: FP4 low nibble first, FP6 dense, 8 and 16 bits', () => {
    expect(Array.from(packCodes(new Uint16Array([1, 2, 3]), 4))).toEqual([0x21, 0x03]);
    // 6-bit codes 0x3F, 0x00, 0x15, 0x2A → bits 0-5, 6-11, 12-17, 18-23
    expect(Array.from(packCodes(new Uint16Array([0x3f, 0x00, 0x15, 0x2a]), 6))).toEqual([0x3f, 0x50, 0xa9]);
    expect(Array.from(packCodes(new Uint16Array([0xab, 0x01]), 8))).toEqual([0xab, 0x01]);
    expect(Array.from(packCodes(new Uint16Array([0x1234]), 16))).toEqual([0x34, 0x12]);
    // 3-bit codes 5, 6, 7 → 101 110 111 (LSB first) = 0b1_11110101, 0b1
    expect(Array.from(packCodes(new Uint16Array([5, 6, 7]), 3))).toEqual([0xf5, 0x01]);
    expect(packedBytes(33, 4)).toBe(17);
    expect(packedBytes(5, 6)).toBe(4);
  });

  it('fast equals Ref and unpack inverts pack for every width 1..16', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(fc.nat(), { maxLength: 70 }), (w, raw) => {
        const codes = Uint16Array.from(raw, (v) => v % 2 ** w);
        const p = packCodes(codes, w);
        expect(Array.from(p)).toEqual(Array.from(packCodesRef(Array.from(codes), w)));
        expect(Array.from(unpackCodes(p, w, codes.length))).toEqual(Array.from(codes));
        expect(Array.from(unpackCodesRef(p, w, codes.length))).toEqual(Array.from(codes));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects bad widths and short buffers', () => {
    expect(() => packCodes(new Uint16Array(2), 0)).toThrow(/width/);
    expect(() => packCodes(new Uint16Array(2), 17)).toThrow(/width/);
    expect(() => unpackCodes(new Uint8Array(1), 6, 2)).toThrow(/bytes/);
    expect(() => packCodes(new Uint16Array(4), 8, 4, new Uint8Array(3))).toThrow(/out/);
  });
});
