import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import { type Float32Tensor, float32, tensor } from '../../src/common/tensor.js';
import { covariance } from '../../src/mambaquant/eigen.js';
import { hadamardMatrix } from '../../src/mambaquant/hadamard.js';
import {
  applyDense,
  applyDenseRef,
  denseRotation,
  hadamardRotation,
  kltRotation,
  randomHadamardRotation,
} from '../../src/mambaquant/rotation.js';
import { matmul, maxDiff, orthError, randn, transpose } from './helpers.js';

/** Correlated calibration rows with outlier channels: latent mix + noise (spec §8 style). */
function calibration(N: number, n: number, seed: number): Float32Tensor {
  const g = randn(seed);
  const L = 6;
  const mix = new Float64Array(L * n).map(() => g());
  const x = new Float32Array(N * n);
  for (let t = 0; t < N; t++) {
    const z = Array.from({ length: L }, () => g());
    for (let j = 0; j < n; j++) {
      let v = 0.5 * g();
      for (let l = 0; l < L; l++) v += z[l]! * mix[l * n + j]!;
      if (j === 3) v = 20 + 3 * v;
      if (j === n - 2) v *= 15;
      x[t * n + j] = v;
    }
  }
  return float32(x, [N, n]);
}

/** Float32 matmul in JS with the lowbit/tfjs signature (for the injected-backend path). */
function jsMatmul(a: Float32Tensor, b: Float32Tensor, opts?: { transposeB?: boolean }): Float32Tensor {
  const [m, k] = a.shape as [number, number];
  const nOut = opts?.transposeB ? b.shape[0]! : b.shape[1]!;
  const out = new Float32Array(m * nOut);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < nOut; j++) {
      let s = 0;
      for (let t = 0; t < k; t++)
        s += a.data[i * k + t]! * (opts?.transposeB ? b.data[j * k + t]! : b.data[t * nOut + j]!);
      out[i * nOut + j] = s;
    }
  return tensor('float32', out, [m, nOut]);
}

function applyF64(x: ArrayLike<number>, rows: number, r: Float64Array, n: number): Float64Array {
  return matmul(x, r, rows, n, n);
}

describe('Hadamard rotations', () => {
  it('hadamardRotation: R = Mᵀ, orthogonal, apply = x·R, applyInverse undoes it', () => {
    for (const n of [16, 24, 40, 172]) {
      const R = hadamardRotation(n);
      const r = R.matrix();
      expect(r).toEqual(transpose(hadamardMatrix(n), n, n));
      expect(orthError(r, n)).toBeLessThan(1e-12);
      const x = float32(
        new Float32Array(3 * n).map((_, i) => Math.sin(i * 1.3) * 5),
        [3, n],
      );
      const xc = Float32Array.from(x.data);
      const y = R.apply(x);
      expect(x.data).toEqual(xc); // not mutated
      expect(maxDiff(y.data, applyF64(x.data, 3, r, n))).toBeLessThan(1e-5);
      expect(maxDiff(R.applyInverse(y).data, x.data)).toBeLessThan(1e-5);
    }
  });

  it('randomHadamardRotation: D·Mᵀ, orthogonal to 1e-12, reproducible from its seed', () => {
    for (const n of [64, 12, 28 * 4]) {
      const R = randomHadamardRotation(n, { seed: 42 });
      const r = R.matrix();
      expect(orthError(r, n)).toBeLessThan(1e-12);
      const M = hadamardMatrix(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(r[i * n + j]).toBe(R.signs[i]! * M[j * n + i]!);
      expect(randomHadamardRotation(n, { seed: 42 }).matrix()).toEqual(r);
      expect(randomHadamardRotation(n, { seed: 43 }).matrix()).not.toEqual(r);
      const x = float32(
        new Float32Array(2 * n).map((_, i) => Math.cos(i)),
        [2, n],
      );
      const y = R.apply(x);
      expect(maxDiff(y.data, applyF64(x.data, 2, r, n))).toBeLessThan(1e-5);
      expect(maxDiff(R.applyInverse(y).data, x.data)).toBeLessThan(1e-5);
      const neg = Array.from(R.signs).filter((s) => s < 0).length;
      expect(neg).toBeGreaterThan(n / 5);
      expect(neg).toBeLessThan((4 * n) / 5);
    }
  });

  it('preserves norms (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(8, 12, 20, 48, 52, 160), fc.integer({ min: 0, max: 1000 }), (n, seed) => {
        const g = randn(seed);
        const x = float32(
          new Float32Array(n).map(() => g()),
          [1, n],
        );
        const y = randomHadamardRotation(n, { seed }).apply(x);
        const nx = x.data.reduce((s, v) => s + v * v, 0);
        const ny = y.data.reduce((s, v) => s + v * v, 0);
        expect(Math.abs(nx - ny)).toBeLessThan(1e-5 * nx);
      }),
      { numRuns: 30 },
    );
  });
});

describe('kltRotation', () => {
  it('variance alignment: every channel of X·K·H has variance tr(C)/n (rel 1e-10), KᵀCK diagonal', () => {
    for (const [n, seed] of [
      [32, 1],
      [48, 2],
      [64, 3],
    ] as const) {
      const X = calibration(4 * n, n, seed);
      const C = covariance(X).data;
      let tr = 0;
      for (let i = 0; i < n; i++) tr += C[i * n + i]!;
      for (const opts of [{}, { seed: 5 }]) {
        const R = kltRotation(X, opts);
        const r = R.matrix();
        expect(orthError(r, n)).toBeLessThan(1e-12);
        const cr = matmul(matmul(transpose(r, n, n), C, n, n, n), r, n, n, n); // Rᵀ C R = covariance of X·R
        for (let l = 0; l < n; l++) expect(Math.abs(cr[l * n + l]! / (tr / n) - 1)).toBeLessThan(1e-10);
      }
      const K = kltRotation(X, { hadamard: false });
      const k = K.matrix();
      const d = matmul(matmul(transpose(k, n, n), C, n, n, n), k, n, n, n);
      let cn = 0;
      for (const v of C) cn = Math.max(cn, Math.abs(v));
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) if (i !== j) expect(Math.abs(d[i * n + j]!) / cn).toBeLessThan(1e-12);
      for (let i = 1; i < n; i++)
        expect(d[i * n + i]!).toBeLessThanOrEqual(d[(i - 1) * n + i - 1]! * (1 + 1e-12) + 1e-12);
      expect(Array.from(R_eigen(X))).toEqual(Array.from(K.eigenvalues));
    }
  });

  it('plain Hadamard does not equalise variances on the same data (the identity is not trivial)', () => {
    const n = 32;
    const X = calibration(128, n, 7);
    const C = covariance(X).data;
    const r = hadamardRotation(n).matrix();
    const cr = matmul(matmul(transpose(r, n, n), C, n, n, n), r, n, n, n);
    const v = Array.from({ length: n }, (_, l) => cr[l * n + l]!);
    expect(Math.max(...v) / Math.min(...v)).toBeGreaterThan(1.5);
  });

  it('is deterministic; apply = x·R; JS and injected (tfjs-style) matmul agree', () => {
    const n = 40;
    const X = calibration(100, n, 11);
    const R1 = kltRotation(X);
    const R2 = kltRotation(X);
    expect(R1.matrix()).toEqual(R2.matrix());
    const x = calibration(7, n, 12);
    const y = R1.apply(x);
    expect(maxDiff(y.data, applyF64(x.data, 7, R1.matrix(), n))).toBeLessThan(1e-4);
    const Rt = kltRotation(X, { backend: 'tfjs', matmul: jsMatmul });
    const yt = Rt.apply(x);
    let scale = 0;
    for (const v of y.data) scale = Math.max(scale, Math.abs(v));
    expect(maxDiff(yt.data, y.data)).toBeLessThan(1e-5 * scale);
    expect(maxDiff(Rt.applyInverse(yt).data, x.data)).toBeLessThan(1e-4 * scale);
    expect(maxDiff(R1.applyInverse(y).data, x.data)).toBeLessThan(1e-4 * scale);
  });

  it('rank-deficient calibration: warn (default), fall back to Hadamard, or throw', () => {
    const n = 32;
    const X = calibration(20, n, 3);
    const w = kltRotation(X);
    expect(w.warnings.length).toBe(1);
    expect(w.warnings[0]).toMatch(/rank <= 19 < n = 32/);
    expect(orthError(w.matrix(), n)).toBeLessThan(1e-12);
    const h = kltRotation(X, { onRankDeficient: 'hadamard' });
    expect(h.kind).toBe('hadamard');
    expect(h.warnings[0]).toMatch(/fell back/);
    expect(h.matrix()).toEqual(hadamardRotation(n).matrix());
    expect(() => kltRotation(X, { onRankDeficient: 'error' })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    expect(kltRotation(calibration(40, n, 3)).warnings).toEqual([]);
  });

  it('bad input', () => {
    const X = calibration(50, 32, 1);
    expect(() => kltRotation(float32(new Float32Array(10), [10]))).toThrow(LowbitError);
    expect(() => kltRotation(calibration(50, 30, 1))).toThrow(/nearby supported sizes/);
    expect(kltRotation(calibration(50, 30, 1), { hadamard: false }).n).toBe(30);
    const bad = Float32Array.from(X.data);
    bad[17] = Number.POSITIVE_INFINITY;
    expect(() => kltRotation(float32(bad, [50, 32]))).toThrow(expect.objectContaining({ code: 'E_NONFINITE' }));
    expect(() => kltRotation(X, { backend: 'tfjs' })).toThrow(/matmul/);
    expect(() => kltRotation(X, { backend: 'gpu' as never })).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    expect(() => kltRotation(X, { onRankDeficient: 'x' as never })).toThrow(
      expect.objectContaining({ code: 'E_CONFIG' }),
    );
    expect(() => kltRotation(X).apply(float32(new Float32Array(31), [1, 31]))).toThrow(
      expect.objectContaining({ code: 'E_SHAPE' }),
    );
  });
});

function R_eigen(X: Float32Tensor): Float64Array {
  return kltRotation(X).eigenvalues;
}

describe('denseRotation', () => {
  it('wraps an orthogonal matrix; JS apply is bit-exact with its Ref twin', () => {
    const n = 24;
    const r = kltRotation(calibration(60, n, 4)).matrix();
    const R = denseRotation(r);
    const x = calibration(5, n, 9);
    expect(R.apply(x).data).toEqual(applyDenseRef(x.data, 5, n, r));
    expect(applyDense(x.data, 5, n, r)).toEqual(applyDenseRef(x.data, 5, n, r));
    expect(R.applyInverse(x).data).toEqual(applyDenseRef(x.data, 5, n, transpose(r, n, n)));
    expect(denseRotation(new Float64Array([0, 1, -1, 0])).apply(float32([1, 2], [1, 2])).data).toEqual(
      new Float32Array([-2, 1]),
    );
    const f32 = denseRotation(float32(Float32Array.from(r), [n, n]));
    expect(f32.n).toBe(n);
  });

  it('rejects non-square, non-orthogonal and non-finite matrices', () => {
    expect(() => denseRotation(new Float64Array(6))).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    expect(() => denseRotation(float32(new Float32Array(6), [2, 3]))).toThrow(
      expect.objectContaining({ code: 'E_SHAPE' }),
    );
    expect(() => denseRotation(new Float64Array([1, 0, 0, 2]))).toThrow(/not orthogonal/);
    expect(() => denseRotation(new Float64Array([1, 0, 0, Number.NaN]))).toThrow(
      expect.objectContaining({ code: 'E_NONFINITE' }),
    );
    expect(() => denseRotation(new Float64Array([1, 0, 0, 1]), { tolerance: -1 })).toThrow(
      expect.objectContaining({ code: 'E_CONFIG' }),
    );
    expect(() => denseRotation(new Float64Array([1, 0, 0, 1])).apply(float32([1, 2, 3], [1, 3]))).toThrow(LowbitError);
  });
});
