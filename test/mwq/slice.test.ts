import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import {
  packPlanes,
  type SliceVariant,
  sliceCode,
  sliceParent,
  slicePlanes,
  sliceValue,
  unpackPlanes,
} from '../../src/mwq/index.js';

const CODES = (c: number) => Array.from({ length: 2 ** c }, (_, q) => q);
const ALL: SliceVariant[] = ['trunc', 'trunc-mid', 'round-clamp', 'round-noclamp'];

describe('exhaustive slicing invariants (mwq.md §7), every code for c = 4..8', () => {
  for (let c = 4; c <= 8; c++) {
    it(`c=${c}: idempotent, monotone, 2^r levels with max (2^r−1)·2^k (trunc and round-clamp)`, () => {
      for (let r = 1; r <= c; r++) {
        const k = c - r;
        for (const v of ['trunc', 'round-clamp'] as const) {
          const s = CODES(c).map((q) => sliceParent(q, c, r, v));
          for (let q = 0; q < s.length; q++) {
            expect(sliceParent(s[q]!, c, r, v)).toBe(s[q]); // idempotence
            if (q > 0) expect(s[q]!).toBeGreaterThanOrEqual(s[q - 1]!); // monotone
          }
          const levels = new Set(s);
          expect(levels.size).toBe(2 ** r);
          expect(Math.max(...levels)).toBe((2 ** r - 1) * 2 ** k);
        }
      }
    });
    it(`c=${c}: composition S(S(q, r1), r2) = S(q, r2) holds for trunc for every r2 < r1`, () => {
      for (let r1 = 2; r1 <= c; r1++)
        for (let r2 = 1; r2 < r1; r2++)
          for (const q of CODES(c))
            expect(sliceParent(sliceParent(q, c, r1, 'trunc'), c, r2, 'trunc')).toBe(sliceParent(q, c, r2, 'trunc'));
    });
    it(`c=${c}: trunc-mid values are the bucket centres; r = c is the identity for every variant`, () => {
      for (let r = 1; r < c; r++) {
        const k = c - r;
        for (const q of CODES(c)) {
          const lo = (q >> k) << k;
          expect(sliceValue(q, c, r, 'trunc-mid')).toBe(lo + (2 ** k - 1) / 2);
        }
      }
      for (const v of ALL) for (const q of CODES(c)) expect(sliceValue(q, c, c, v)).toBe(q);
    });
    it(`c=${c}: range — round-noclamp equals 2^r exactly when the top r bits are all 1 and bit r+1 is 1`, () => {
      for (let r = 1; r < c; r++) {
        const k = c - r;
        for (const q of CODES(c)) {
          const nc = sliceCode(q, c, r, 'round-noclamp');
          const top = q >> k;
          const next = (q >> (k - 1)) & 1;
          expect(nc === 2 ** r).toBe(top === 2 ** r - 1 && next === 1);
          expect(sliceCode(q, c, r, 'round-clamp')).toBeLessThanOrEqual(2 ** r - 1);
          expect(sliceCode(q, c, r, 'round-clamp')).toBe(Math.min(nc, 2 ** r - 1));
        }
      }
    });
    it(`c=${c}: prefix property — trunc reads r planes, rounding r + 1 (and needs the (r+1)-th)`, () => {
      const codes = new Uint8Array(CODES(c));
      const planes = packPlanes(codes, c);
      for (let r = 1; r < c; r++) {
        expect(slicePlanes(c, r, 'trunc')).toBe(r);
        expect(slicePlanes(c, r, 'round-clamp')).toBe(r + 1);
        const topR = unpackPlanes(planes, c, codes.length, r);
        const topR1 = unpackPlanes(planes, c, codes.length, r + 1);
        let roundNeedsMore = false;
        for (const q of CODES(c)) {
          for (const v of ['trunc', 'trunc-mid'] as const)
            expect(sliceValue(topR[q]!, c, r, v)).toBe(sliceValue(q, c, r, v));
          for (const v of ['round-clamp', 'round-noclamp'] as const)
            expect(sliceValue(topR1[q]!, c, r, v)).toBe(sliceValue(q, c, r, v));
          if (sliceValue(topR[q]!, c, r, 'round-clamp') !== sliceValue(q, c, r, 'round-clamp')) roundNeedsMore = true;
        }
        expect(roundNeedsMore).toBe(true);
      }
      expect(slicePlanes(c, c, 'round-clamp')).toBe(c);
    });
  }

  it('round-clamp composition violations (double rounding), c = 8: 24 codes for 4→2, 60 for 5→4, 32 for 2→1, 48 for 3→2, 63 for 7→6', () => {
    const count = (r1: number, r2: number) =>
      CODES(8).filter(
        (q) =>
          sliceParent(sliceParent(q, 8, r1, 'round-clamp'), 8, r2, 'round-clamp') !==
          sliceParent(q, 8, r2, 'round-clamp'),
      ).length;
    expect(count(4, 2)).toBe(24);
    expect(count(5, 4)).toBe(60);
    expect(count(2, 1)).toBe(32);
    expect(count(3, 2)).toBe(48);
    expect(count(7, 6)).toBe(63);
  });

  it('the spec counterexample q = 24 (00011000b): r = 4 → 32, then r = 2 → 64; direct r = 2 → 0', () => {
    expect(sliceParent(24, 8, 4, 'round-clamp')).toBe(32);
    expect(sliceParent(32, 8, 2, 'round-clamp')).toBe(64);
    expect(sliceParent(24, 8, 2, 'round-clamp')).toBe(0);
  });

  it('bias over uniform int8 codes: trunc −(2^k−1)/2, trunc-mid 0, round-clamp −7.5 at r = 2 and 0 at r = 4', () => {
    const mean = (r: number, v: SliceVariant) => CODES(8).reduce((a, q) => a + sliceValue(q, 8, r, v) - q, 0) / 256;
    expect(mean(2, 'trunc')).toBe(-31.5);
    expect(mean(4, 'trunc')).toBe(-7.5);
    for (const r of [2, 3, 4, 5, 6, 7]) {
      expect(mean(r, 'trunc')).toBe(-(2 ** (8 - r) - 1) / 2);
      expect(mean(r, 'trunc-mid')).toBe(0);
    }
    expect(mean(2, 'round-clamp')).toBe(-7.5);
    expect(mean(4, 'round-clamp')).toBe(0);
  });
});

describe('worked examples (mwq.md §3), s = 0.01, z = 128', () => {
  const w = (q: number, r: number, v: SliceVariant) => 0.01 * (sliceValue(q, 8, r, v) - 128);
  const rows: [number, number, number, number, number][] = [
    // q8, r, trunc, trunc-mid, round-clamp
    [183, 4, 0.48, 0.555, 0.48],
    [183, 2, 0.0, 0.315, 0.64],
    [190, 4, 0.48, 0.555, 0.64],
    [250, 4, 1.12, 1.195, 1.12],
    [250, 2, 0.64, 0.955, 0.64],
    [53, 4, -0.8, -0.725, -0.8],
    [53, 2, -1.28, -0.965, -0.64],
    [32, 2, -1.28, -0.965, -0.64],
  ];
  for (const [q, r, t, tm, rc] of rows) {
    it(`q8 = ${q}, r = ${r}`, () => {
      expect(w(q, r, 'trunc')).toBeCloseTo(t, 12);
      expect(w(q, r, 'trunc-mid')).toBeCloseTo(tm, 12);
      expect(w(q, r, 'round-clamp')).toBeCloseTo(rc, 12);
    });
  }
  it('paper examples (round-clamp, r = 2): 53 → 1; 240 → 4 → 3; 234 → 3 → 192; buckets {0, 64, 128, 192}; tie 32 rounds up', () => {
    expect(sliceCode(53, 8, 2, 'round-clamp')).toBe(1);
    expect(sliceCode(240, 8, 2, 'round-noclamp')).toBe(4);
    expect(sliceCode(240, 8, 2, 'round-clamp')).toBe(3);
    expect(sliceParent(234, 8, 2, 'round-clamp')).toBe(192);
    expect([...new Set(CODES(8).map((q) => sliceParent(q, 8, 2, 'round-clamp')))].sort((a, b) => a - b)).toEqual([
      0, 64, 128, 192,
    ]);
    expect(sliceCode(32, 8, 2, 'round-clamp')).toBe(1);
  });
  it('bad scalar arguments → E_CONFIG', () => {
    for (const f of [
      () => sliceCode(256, 8, 2, 'trunc'),
      () => sliceCode(1.5, 8, 2, 'trunc'),
      () => sliceCode(3, 8, 9, 'trunc'),
      () => sliceCode(3, 8, 2, 'x' as SliceVariant),
      () => slicePlanes(9, 2, 'trunc'),
    ]) {
      expect(f).toThrow(LowbitError);
    }
  });
});
