import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import {
  createRng,
  normalizeRounding,
  type Rounding,
  rounder,
  roundFloor,
  roundHalfAway,
  roundHalfEven,
  roundHalfUp,
} from '../../src/common/rounding.js';

const P52 = 2 ** 52;
const P53 = 2 ** 53;

/** Exact round-half-even by BigInt arithmetic on the double's significand and exponent. */
function rheOracle(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const f = new Float64Array([Math.abs(v)]);
  const bits = new BigUint64Array(f.buffer)[0]!;
  const be = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const m = be === 0 ? frac : frac | (1n << 52n);
  const e = (be === 0 ? 1 : be) - 1075; // |v| = m · 2^e
  let q: bigint;
  if (e >= 0) q = m << BigInt(e);
  else if (e < -60)
    q = 0n; // |v| < 2^-7: rounds to 0
  else {
    const s = BigInt(-e);
    q = m >> s;
    const r = m - (q << s);
    const half = 1n << (s - 1n);
    if (r > half || (r === half && (q & 1n) === 1n)) q += 1n;
  }
  const mag = Number(q);
  return v < 0 ? -mag : mag;
}

const same = (a: number, b: number) => Object.is(a, b);

describe('rounding modes on ties and specials', () => {
  const table: [number, number, number, number, number][] = [
    // v, half-even, half-away, half-up, floor
    [0.5, 0, 1, 1, 0],
    [-0.5, -0, -1, -0, -1],
    [1.5, 2, 2, 2, 1],
    [-1.5, -2, -2, -1, -2],
    [2.5, 2, 3, 3, 2],
    [-2.5, -2, -3, -2, -3],
    [0.49999999999999994, 0, 0, 0, 0],
    [-0.49999999999999994, -0, -0, -0, -1],
    [1.0000000000000002, 1, 1, 1, 1],
    [0, 0, 0, 0, 0],
    [P52 - 0.5, P52, P52, P52, P52 - 1],
    [-(P52 - 0.5), -P52, -P52, -(P52 - 1), -P52],
    [P52 - 1.5, P52 - 2, P52 - 1, P52 - 1, P52 - 2],
    [P52 + 1, P52 + 1, P52 + 1, P52 + 1, P52 + 1],
    [P53 + 2, P53 + 2, P53 + 2, P53 + 2, P53 + 2],
    [-(P53 + 2), -(P53 + 2), -(P53 + 2), -(P53 + 2), -(P53 + 2)],
    [2 ** 51 + 0.5, 2 ** 51, 2 ** 51 + 1, 2 ** 51 + 1, 2 ** 51],
    [Number.MAX_VALUE, Number.MAX_VALUE, Number.MAX_VALUE, Number.MAX_VALUE, Number.MAX_VALUE],
    [Number.POSITIVE_INFINITY, Infinity, Infinity, Infinity, Infinity],
    [Number.NEGATIVE_INFINITY, -Infinity, -Infinity, -Infinity, -Infinity],
  ];
  for (const [v, he, ha, hu, fl] of table) {
    it(`${v}`, () => {
      expect(roundHalfEven(v)).toBe(he);
      expect(roundHalfAway(v)).toBe(ha);
      expect(roundHalfUp(v)).toBe(hu);
      expect(roundFloor(v)).toBe(fl);
      expect(rounder('half-even')(v)).toBe(he);
      expect(rounder('half-away')(v)).toBe(ha);
      expect(rounder('half-up')(v)).toBe(hu);
      expect(rounder('floor')(v)).toBe(fl);
    });
  }
  it('−0 stays −0 and NaN stays NaN in every deterministic mode', () => {
    for (const f of [roundHalfEven, roundHalfAway, roundHalfUp, roundFloor]) {
      expect(Object.is(f(-0), -0)).toBe(true);
      expect(Object.is(f(0), 0)).toBe(true);
      expect(f(Number.NaN)).toBeNaN();
    }
    expect(Object.is(roundHalfEven(-0.25), -0)).toBe(true);
    expect(Object.is(roundHalfEven(0.25), 0)).toBe(true);
  });
});

describe('roundHalfEven against an exact BigInt oracle', () => {
  it('random doubles of every magnitude', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (v) => {
        expect(same(roundHalfEven(v), rheOracle(v))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
  it('half-integers and their neighbours up to 2^53', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), fc.constantFrom(-1, 0, 1), (k, d) => {
        let v = k + 0.5;
        if (d < 0) v = v - Math.abs(v) * 2 ** -53;
        if (d > 0) v = v + Math.abs(v) * 2 ** -53;
        expect(same(roundHalfEven(v), rheOracle(v))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
  it('other modes agree with their definitions on random doubles', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e17, max: 1e17, noNaN: true }), (v) => {
        const f = Math.floor(v);
        const c = Math.ceil(v);
        const ha = roundHalfAway(v);
        const hu = roundHalfUp(v);
        expect(ha === f || ha === c).toBe(true);
        expect(hu === f || hu === c).toBe(true);
        // distances: never farther than the other neighbour; ties resolved by the rule
        if (v - f !== c - v) {
          const nearest = v - f < c - v ? f : c;
          expect(ha).toBe(nearest);
          expect(hu).toBe(nearest);
        } else if (f !== c) {
          expect(hu).toBe(c);
          expect(ha).toBe(v > 0 ? c : f);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('stochastic rounding and the generator', () => {
  it('createRng is reproducible, in [0, 1), seed-dependent', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(xs);
    expect(xs.every((u) => u >= 0 && u < 1)).toBe(true);
    const mean = xs.reduce((s, u) => s + u, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05); // std of the mean ≈ 0.009
  });
  it('rounds to a neighbour, reproducibly by seed, unbiased on average', () => {
    const run = (r: Rounding, v: number, n: number) => {
      const f = rounder(r);
      return Array.from({ length: n }, () => f(v));
    };
    const a = run({ mode: 'stochastic', seed: 9 }, 2.25, 4000);
    expect(run({ mode: 'stochastic', seed: 9 }, 2.25, 4000)).toEqual(a);
    expect(run('stochastic', 2.25, 50)).toEqual(run({ mode: 'stochastic', seed: 0 }, 2.25, 50));
    expect(run({ mode: 'stochastic', seed: 10 }, 2.25, 4000)).not.toEqual(a);
    expect(a.every((q) => q === 2 || q === 3)).toBe(true);
    const mean = a.reduce((s, q) => s + q, 0) / a.length;
    expect(Math.abs(mean - 2.25)).toBeLessThan(0.05); // std of the mean ≈ 0.007
    expect(run({ mode: 'stochastic', seed: 1 }, -3, 20).every((q) => q === -3)).toBe(true); // integers are fixed
  });
  it('normalizeRounding validates', () => {
    expect(normalizeRounding(undefined)).toEqual({ mode: 'half-even', seed: 0 });
    expect(normalizeRounding({ mode: 'stochastic', seed: 5 })).toEqual({ mode: 'stochastic', seed: 5 });
    for (const bad of ['nearest', { mode: 'x' }, { mode: 'stochastic', seed: Number.NaN }] as unknown as Rounding[]) {
      try {
        normalizeRounding(bad);
        throw new Error('no throw');
      } catch (e) {
        expect(isLowbitError(e, 'E_CONFIG')).toBe(true);
      }
    }
  });
});
