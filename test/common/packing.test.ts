import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import {
  codesPerWord,
  packBits,
  packBitsRef,
  packedWords,
  unpackBits,
  unpackBitsRef,
} from '../../src/common/packing.js';
import { createRng } from '../../src/common/rounding.js';

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    if (!isLowbitError(e, code as never)) throw new Error(`expected ${code}, got ${String(e)}`);
    return;
  }
  throw new Error(`expected ${code}, nothing thrown`);
}

describe('packing layout', () => {
  it('codes per word and word counts', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(codesPerWord)).toEqual([32, 16, 10, 8, 6, 5, 4, 4]);
    expect(packedWords(100, 3)).toBe(10);
    expect(packedWords(101, 3)).toBe(11);
    expect(packedWords(0, 5)).toBe(0);
  });
  it('hand-computed words (KIVI goldens; 3/5/6/7 bits with padding; ragged tails)', () => {
    const cases: [number[], number, number[]][] = [
      [[1, 2, 3, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 2, [0xffffff39]],
      [[0, 1, 2, 3, 4, 5, 6, 7], 4, [0x76543210]],
      // 3 bits: ten codes at bits 0..29, bits 30..31 zero; the 11th code starts word 1
      [[1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 5], 3, [0x111f58d1, 0x5]],
      // 5 bits: six codes at bits 0..29
      [[31, 0, 1, 2, 3, 4, 17], 5, [0x0831041f, 0x11]],
      // 6 bits: five codes at bits 0..29
      [[63, 1, 2, 3, 4, 42, 1], 6, [0x040c207f, 0x6a]],
      // 7 bits: four codes at bits 0..27, bits 28..31 zero
      [[127, 1, 64, 3, 85], 7, [0x007000ff, 0x55]],
      [[255, 0, 128, 1], 8, [0x018000ff]],
      [Array.from({ length: 33 }, (_, i) => i & 1), 1, [0xaaaaaaaa, 0]],
    ];
    for (const [codes, bits, words] of cases) {
      expect([...packBits(codes, bits)]).toEqual(words);
      expect([...packBitsRef(codes, bits)]).toEqual(words);
      expect([...unpackBits(new Uint32Array(words), bits, codes.length)]).toEqual(codes);
      expect([...unpackBitsRef(new Uint32Array(words), bits, codes.length)]).toEqual(codes);
    }
  });
});

describe('packing round trips, fast ≡ Ref', () => {
  it('every bits 1..8 and every length 0..70 (max codes, random codes)', () => {
    const rnd = createRng(1);
    for (let bits = 1; bits <= 8; bits++) {
      const max = 2 ** bits - 1;
      for (let n = 0; n <= 70; n++) {
        for (const kind of ['max', 'rand']) {
          const codes = new Uint8Array(n).map(() => (kind === 'max' ? max : Math.floor(rnd() * (max + 1))));
          const words = packBits(codes, bits);
          expect(words.length).toBe(packedWords(n, bits));
          expect([...words]).toEqual([...packBitsRef(codes, bits)]);
          expect([...unpackBits(words, bits, n)]).toEqual([...codes]);
          expect([...unpackBitsRef(words, bits, n)]).toEqual([...codes]);
          // padding bits above the last slot are zero
          const k = codesPerWord(bits);
          if (k * bits < 32) for (const w of words) expect(w >>> (k * bits)).toBe(0);
        }
      }
    }
  });
  it('random codes and widths (fast-check)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 8 })
          .chain((bits) =>
            fc.tuple(fc.constant(bits), fc.array(fc.integer({ min: 0, max: 2 ** bits - 1 }), { maxLength: 200 })),
          ),
        ([bits, codes]) => {
          const w = packBits(codes, bits);
          expect([...w]).toEqual([...packBitsRef(codes, bits)]);
          expect([...unpackBits(w, bits, codes.length)]).toEqual(codes);
        },
      ),
      { numRuns: 300 },
    );
  });
  it('out buffers: reused, extra words left alone', () => {
    const out = new Uint32Array(4).fill(0xdeadbeef);
    expect(packBits([1, 2, 3], 4, out)).toBe(out);
    expect([...out]).toEqual([0x321, 0xdeadbeef, 0xdeadbeef, 0xdeadbeef]);
    const dst = new Uint8Array(5).fill(9);
    expect(unpackBits(new Uint32Array([0x321]), 4, 3, dst)).toBe(dst);
    expect([...dst]).toEqual([1, 2, 3, 9, 9]);
  });
});

describe('packing errors', () => {
  it('bad widths throw E_CONFIG', () => {
    for (const bits of [0, 9, 2.5, -1]) {
      throwsCode(() => packBits([0], bits), 'E_CONFIG');
      throwsCode(() => unpackBits(new Uint32Array(1), bits, 1), 'E_CONFIG');
      throwsCode(() => packBitsRef([0], bits), 'E_CONFIG');
    }
  });
  it('out-of-range codes throw E_CONFIG and leave out untouched', () => {
    for (let bits = 1; bits <= 8; bits++) {
      for (const bad of [2 ** bits, -1, 0.5, Number.NaN, 1e10]) {
        const codes = [0, 1, 0, bad, 0];
        const out = new Uint32Array(3).fill(0x12345678);
        throwsCode(() => packBits(codes, bits, out), 'E_CONFIG');
        expect([...out]).toEqual([0x12345678, 0x12345678, 0x12345678]);
        throwsCode(() => packBitsRef(codes, bits), 'E_CONFIG');
      }
    }
  });
  it('short buffers throw E_SHAPE, bad n throws E_CONFIG', () => {
    throwsCode(() => packBits(new Uint8Array(33), 1, new Uint32Array(1)), 'E_SHAPE');
    throwsCode(() => unpackBits(new Uint32Array(1), 1, 33), 'E_SHAPE');
    throwsCode(() => unpackBits(new Uint32Array(2), 1, 33, new Uint8Array(10)), 'E_SHAPE');
    throwsCode(() => unpackBitsRef(new Uint32Array(1), 1, 33), 'E_SHAPE');
    throwsCode(() => unpackBits(new Uint32Array(2), 1, -1), 'E_CONFIG');
    throwsCode(() => unpackBits(new Uint32Array(2), 1, 1.5), 'E_CONFIG');
  });
  it('inputs are not mutated', () => {
    const codes = new Uint8Array([3, 1, 2]);
    const w = packBits(codes, 2);
    const wCopy = [...w];
    unpackBits(w, 2, 3);
    expect([...codes]).toEqual([3, 1, 2]);
    expect([...w]).toEqual(wCopy);
  });
});
