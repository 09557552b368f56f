import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import { cosineSimilarity, errorReport, maxAbsError, mse, nmse, sqnrDb } from '../../src/common/metrics.js';

const finite = fc.double({ min: -1e6, max: 1e6, noNaN: true });

describe('metrics: hand-derived values', () => {
  it('small vectors', () => {
    expect(mse([1, 2, 3], [1, 2, 5])).toBe(4 / 3);
    expect(nmse([1, -1], [1, 0])).toBe(0.5);
    expect(sqnrDb([1, -1], [1, 0])).toBeCloseTo(3.0102999566398116, 14);
    expect(maxAbsError([1, 2, 3], [1.5, 2, 2])).toBe(1);
    expect(cosineSimilarity([1, 0], [0, 1])).toBe(0);
    expect(cosineSimilarity([3, 4], [-3, -4])).toBe(-1);
    expect(cosineSimilarity([1, 2], [2, 4])).toBeCloseTo(1, 15);
    expect(errorReport([3, 4], [3, 4])).toEqual({ mse: 0, nmse: 0, sqnrDb: Infinity, maxAbsError: 0, cosine: 1, n: 2 });
  });
  it('accumulates in float64 (Float32Array inputs, values float32 cannot sum exactly)', () => {
    const n = 1 << 20;
    const ref = new Float32Array(n).fill(1);
    const app = new Float32Array(n).fill(1 + 2 ** -20);
    // Σ err² = n·2^-40 exactly in float64.
    expect(mse(ref, app)).toBe(2 ** -40);
    expect(nmse(ref, app)).toBe(2 ** -40);
    expect(sqnrDb(ref, app)).toBeCloseTo(400 * Math.log10(2), 9);
  });
  it('zero-energy reference, zero vectors, empty inputs', () => {
    expect(nmse([0, 0], [0, 0])).toBe(0);
    expect(nmse([0, 0], [0, 1])).toBe(Infinity);
    expect(sqnrDb([0, 0], [0, 1])).toBe(-Infinity);
    expect(sqnrDb([0, 0], [0, 0])).toBe(Infinity);
    expect(sqnrDb([1, 2], [1, 2])).toBe(Infinity);
    expect(cosineSimilarity([0, 0], [0, 0])).toBe(1);
    expect(cosineSimilarity([0, 0], [1, 0])).toBe(0);
    expect(cosineSimilarity([1, 0], [0, 0])).toBe(0);
    expect(errorReport([], [])).toEqual({ mse: 0, nmse: 0, sqnrDb: Infinity, maxAbsError: 0, cosine: 1, n: 0 });
  });
  it('non-finite inputs give NaN everywhere (n still reported)', () => {
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      const r = errorReport([1, bad, 3], [1, 2, 3]);
      expect(r.n).toBe(3);
      for (const k of ['mse', 'nmse', 'sqnrDb', 'maxAbsError', 'cosine'] as const) expect(r[k]).toBeNaN();
      expect(mse([1, 2], [bad, 2])).toBeNaN();
      expect(nmse([1, 2], [bad, 2])).toBeNaN();
      expect(sqnrDb([bad, 2], [bad, 2])).toBeNaN();
      expect(maxAbsError([1, 2], [1, bad])).toBeNaN();
      expect(cosineSimilarity([1, bad], [1, 2])).toBeNaN();
    }
  });
  it('length mismatch throws E_SHAPE from every function', () => {
    for (const f of [mse, nmse, sqnrDb, maxAbsError, cosineSimilarity, errorReport]) {
      try {
        f([1, 2], [1]);
        throw new Error('no throw');
      } catch (e) {
        expect(isLowbitError(e, 'E_SHAPE')).toBe(true);
      }
    }
  });
});

describe('metrics: properties against a direct float64 oracle', () => {
  it('errorReport equals the individual functions and a naive oracle', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 50 })
          .chain((n) =>
            fc.tuple(
              fc.array(finite, { minLength: n, maxLength: n }),
              fc.array(finite, { minLength: n, maxLength: n }),
            ),
          ),
        ([r, a]) => {
          const rep = errorReport(r, a);
          expect(rep.mse).toBe(mse(r, a));
          expect(rep.nmse).toBe(nmse(r, a));
          expect(rep.sqnrDb).toBe(sqnrDb(r, a));
          expect(rep.maxAbsError).toBe(maxAbsError(r, a));
          expect(rep.cosine).toBe(cosineSimilarity(r, a));
          const diffs = r.map((v, i) => v - a[i]!);
          const e2 = diffs.reduce((s, d) => s + d * d, 0);
          const r2 = r.reduce((s, v) => s + v * v, 0);
          expect(Math.abs(rep.mse - e2 / r.length)).toBeLessThanOrEqual(1e-12 * Math.max(1, e2 / r.length));
          expect(rep.maxAbsError).toBe(Math.max(...diffs.map(Math.abs)));
          if (r2 > 0 && e2 > 0) {
            // e2/r2 may overflow to Infinity for subnormal-energy references: compare nmse only where the
            // naive quotient is finite, and SQNR in the log domain (finite even then)
            const q = e2 / r2;
            if (Number.isFinite(q)) expect(Math.abs(rep.nmse - q)).toBeLessThanOrEqual(1e-12 * Math.max(1, q));
            const want = 10 * Math.log10(r2) - 10 * Math.log10(e2);
            expect(Math.abs(rep.sqnrDb - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
          }
          expect(rep.cosine).toBeLessThanOrEqual(1 + 1e-12);
          expect(rep.cosine).toBeGreaterThanOrEqual(-1 - 1e-12);
        },
      ),
      { numRuns: 200 },
    );
  });
  it('cosine stays in [−1, 1] for subnormal-energy inputs (fast-check found 1 + 6e-12 and −1 − 3.4e-10)', () => {
    const cases: [number[], number[]][] = [
      [[6.286911138816803e-162], [-2.161264103903717e-117]],
      [[-6.799341950942123e-161], [-4.051003752184129e-161]],
      [
        [3e-160, -1e-161],
        [3e-160, -1e-161],
      ],
    ];
    for (const [r, a] of cases) {
      const c = cosineSimilarity(r, a);
      expect(c).toBeLessThanOrEqual(1);
      expect(c).toBeGreaterThanOrEqual(-1);
      expect(errorReport(r, a).cosine).toBe(c);
    }
    expect(cosineSimilarity([3e-160, -1e-161], [3e-160, -1e-161])).toBe(1);
  });
  it('inputs are not mutated', () => {
    const r = new Float32Array([1, 2, 3]);
    const a = [1, 2, 4];
    errorReport(r, a);
    expect([...r]).toEqual([1, 2, 3]);
    expect(a).toEqual([1, 2, 4]);
  });
});
