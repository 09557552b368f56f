import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import { float32 } from '../../src/common/tensor.js';
import { covariance, symmetricEigen, symmetricEigenJacobi } from '../../src/mambaquant/eigen.js';
import { fixture, matmul, maxDiff, orthError, randn, transpose } from './helpers.js';

const np = fixture<{
  x: number[];
  shape: [number, number];
  cov: number[];
  uncentred: number[];
  values: number[];
  vectors: number[];
}>('numpy-eigen.json');

/** A random orthogonal Q (product of n Householder reflections) — independent of the code under test. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const g = randn(seed);
  let q: Float64Array = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let r = 0; r < Math.min(n, 12); r++) {
    const v = new Float64Array(n).map(() => g());
    let nv = 0;
    for (const t of v) nv += t * t;
    const h = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] = (i === j ? 1 : 0) - (2 * v[i]! * v[j]!) / nv;
    q = matmul(q, h, n, n, n);
  }
  return q;
}

/** A = Q·diag(λ)·Qᵀ with known eigenvalues. */
function withSpectrum(lambda: number[], seed: number): Float64Array {
  const n = lambda.length;
  const q = randomOrthogonal(n, seed);
  const ql = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) ql[i * n + j] = q[i * n + j]! * lambda[j]!;
  const a = matmul(ql, transpose(q, n, n), n, n, n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[j * n + i] = a[i * n + j]!; // exact symmetry
  return a;
}

function residual(a: Float64Array, e: { values: Float64Array; vectors: Float64Array }, n: number): number {
  const av = matmul(a, e.vectors, n, n, n);
  let r = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) r = Math.max(r, Math.abs(av[i * n + j]! - e.vectors[i * n + j]! * e.values[j]!));
  return r;
}

describe('covariance', () => {
  it('matches numpy np.cov (centred) and XᵀX/N (uncentred)', () => {
    const x = float32(np.x, np.shape);
    const c = covariance(x);
    expect(c.shape).toEqual([6, 6]);
    expect(maxDiff(c.data, np.cov)).toBeLessThan(1e-12 * 30);
    expect(maxDiff(covariance(x, { center: false }).data, np.uncentred)).toBeLessThan(1e-12 * 30);
  });

  it('hand example and bad input', () => {
    expect(Array.from(covariance(float32([1, 2, 3, 4, 5, 7], [3, 2])).data)).toEqual([4, 5, 5, 6.333333333333333]);
    expect(() => covariance(float32([1, 2], [1, 2]))).toThrow(/at least 2 rows/);
    expect(() => covariance(float32([1, Number.NaN, 3, 4], [2, 2]))).toThrow(
      expect.objectContaining({ code: 'E_NONFINITE' }),
    );
    expect(() => covariance(float32([1, 2], [2]))).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
  });
});

describe('symmetricEigen', () => {
  it('matches numpy eigh on the fixture covariance (values and sign-fixed vectors)', () => {
    const e = symmetricEigen(new Float64Array(np.cov));
    expect(maxDiff(e.values, np.values)).toBeLessThan(1e-12 * Math.abs(np.values[0]!));
    expect(maxDiff(e.vectors, np.vectors)).toBeLessThan(1e-10);
  });

  it('recovers a known spectrum; residual and orthogonality ≤ 1e-10 for n up to 200', () => {
    for (const n of [1, 2, 3, 17, 64, 200]) {
      const lambda = Array.from({ length: n }, (_, i) => 10 * Math.cos(i * 1.7) + (i % 3));
      const a = withSpectrum(lambda, n);
      const e = symmetricEigen(a);
      const want = [...lambda].sort((p, q) => q - p);
      expect(maxDiff(e.values, want), `n = ${n}`).toBeLessThan(1e-10);
      expect(residual(a, e, n)).toBeLessThan(1e-10);
      expect(orthError(e.vectors, n)).toBeLessThan(1e-10);
      for (let j = 1; j < n; j++) expect(e.values[j]!).toBeLessThanOrEqual(e.values[j - 1]!);
    }
  });

  it('agrees with the cyclic-Jacobi oracle (values, and vectors for a separated spectrum)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 48 }), fc.integer({ min: 0, max: 1e6 }), (n, seed) => {
        const lambda = Array.from({ length: n }, (_, i) => (seed % 2 === 0 ? 1 : -1) * (i + 1 + 0.01 * i * i));
        const a = withSpectrum(lambda, seed);
        const ql = symmetricEigen(a);
        const jac = symmetricEigenJacobi(a);
        expect(maxDiff(ql.values, jac.values)).toBeLessThan(1e-10);
        expect(maxDiff(ql.vectors, jac.vectors)).toBeLessThan(1e-8);
        expect(residual(a, jac, n)).toBeLessThan(1e-10);
      }),
      { numRuns: 25 },
    );
  });

  it('degenerate inputs: zero, identity, diagonal, repeated eigenvalues, rank-1', () => {
    const n = 16;
    const zero = symmetricEigen(new Float64Array(n * n));
    expect(Array.from(zero.values)).toEqual(new Array(n).fill(0));
    expect(orthError(zero.vectors, n)).toBeLessThan(1e-14);
    const id = new Float64Array(n * n);
    for (let i = 0; i < n; i++) id[i * n + i] = 1;
    expect(Array.from(symmetricEigen(id).values)).toEqual(new Array(n).fill(1));
    const diag = new Float64Array(n * n);
    for (let i = 0; i < n; i++) diag[i * n + i] = (i * 7) % n;
    const d = symmetricEigen(diag);
    expect(Array.from(d.values)).toEqual(Array.from({ length: n }, (_, i) => n - 1 - i));
    for (let c = 0; c < n; c++) {
      const i = Array.from({ length: n }, (_, k) => (k * 7) % n).indexOf(n - 1 - c); // diag index holding this value
      expect(d.vectors[i * n + c]).toBe(1);
    }
    const rep = withSpectrum([3, 3, 3, 1, 1, 0, 0, 0], 5);
    const r = symmetricEigen(rep);
    expect(maxDiff(r.values, [3, 3, 3, 1, 1, 0, 0, 0])).toBeLessThan(1e-12);
    expect(residual(rep, r, 8)).toBeLessThan(1e-12);
    expect(orthError(r.vectors, 8)).toBeLessThan(1e-12);
    const u = [1, 2, 3, 4];
    const rank1 = new Float64Array(16).map((_, k) => u[Math.floor(k / 4)]! * u[k % 4]!);
    const r1 = symmetricEigen(rank1);
    expect(Math.abs(r1.values[0]! - 30)).toBeLessThan(1e-12);
    expect(
      maxDiff(
        Array.from({ length: 4 }, (_, i) => r1.vectors[i * 4]!),
        u.map((v) => v / Math.sqrt(30)),
      ),
    ).toBeLessThan(1e-14);
  });

  it('is deterministic and sign-fixed (largest-|v| component positive)', () => {
    const a = withSpectrum([5, 4, 3, 2, 1, -1], 9);
    const e1 = symmetricEigen(a);
    const e2 = symmetricEigen(Float64Array.from(a));
    expect(e1.vectors).toEqual(e2.vectors);
    for (let c = 0; c < 6; c++) {
      let best = 0;
      for (let k = 1; k < 6; k++) if (Math.abs(e1.vectors[k * 6 + c]!) > Math.abs(e1.vectors[best * 6 + c]!)) best = k;
      expect(e1.vectors[best * 6 + c]!).toBeGreaterThan(0);
    }
    expect(Float64Array.from(a)).toEqual(a); // input untouched
  });

  it('accepts float64/float32 tensors; rejects non-symmetric, non-square and non-finite input', () => {
    expect(
      maxDiff(symmetricEigen({ dtype: 'float64', data: new Float64Array([2, 1, 1, 2]), shape: [2, 2] }).values, [3, 1]),
    ).toBeLessThan(1e-15);
    expect(symmetricEigen(float32([2, 1, 1, 2], [2, 2])).values[0]).toBeCloseTo(3, 12);
    expect(() => symmetricEigen(new Float64Array([1, 2, 3, 4]))).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    expect(() => symmetricEigen(new Float64Array(3))).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    expect(() => symmetricEigen(float32([1, 2, 3, 4, 5, 6], [2, 3]))).toThrow(LowbitError);
    expect(() => symmetricEigen(new Float64Array([1, Number.NaN, Number.NaN, 1]))).toThrow(
      expect.objectContaining({ code: 'E_NONFINITE' }),
    );
    expect(() => symmetricEigenJacobi(new Float64Array([1, 2, 3, 4]))).toThrow(LowbitError);
  });
});
