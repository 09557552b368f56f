import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import { float32 } from '../../src/common/tensor.js';
import { fwht, fwhtRef, fwhtRows, hadamardFactorization, hadamardMatrix } from '../../src/mambaquant/hadamard.js';
import { HAD_ORDERS, hadTable } from '../../src/mambaquant/hadamard-tables.js';
import { hadamardRowsF64 } from '../../src/mambaquant/rotation.js';
import { matmul, randn, sylvester, transpose } from './helpers.js';

/** Every supported n ≤ limit, with QuaRot's factor. */
function supported(limit: number): number[] {
  const out = new Set<number>();
  for (const m of [1, ...HAD_ORDERS])
    for (let v = m; v <= limit; v *= 2) if (hadamardFactorization(v)?.m === m) out.add(v);
  return [...out].sort((a, b) => a - b);
}

describe('hadamardFactorization', () => {
  it('follows QuaRot’s get_hadK order', () => {
    expect(hadamardFactorization(2560)).toEqual({ n: 2560, m: 40, k: 6 });
    expect(hadamardFactorization(1536)).toEqual({ n: 1536, m: 12, k: 7 });
    expect(hadamardFactorization(20)).toEqual({ n: 20, m: 20, k: 0 });
    expect(hadamardFactorization(172)).toEqual({ n: 172, m: 172, k: 0 });
    expect(hadamardFactorization(4096)).toEqual({ n: 4096, m: 1, k: 12 });
    expect(hadamardFactorization(1)).toEqual({ n: 1, m: 1, k: 0 });
    // QuaRot issues #44 / #74: the first dividing m leaves a non-power of two
    expect(hadamardFactorization(13696)).toBeUndefined();
    expect(hadamardFactorization(10944)).toBeUndefined();
    expect(hadamardFactorization(100)).toBeUndefined();
    expect(hadamardFactorization(0)).toBeUndefined();
    expect(hadamardFactorization(1.5)).toBeUndefined();
  });
});

describe('hadamardMatrix', () => {
  it('equals had_m ⊗ H_{2^k} / √n with had_m (checked against QuaRot by digest) on the outer index', () => {
    for (const n of [8, 24, 40, 80, 96, 56, 144, 344]) {
      const { m, k } = hadamardFactorization(n)!;
      const p = 2 ** k;
      const had = m === 1 ? new Int8Array([1]) : hadTable(m);
      const M = hadamardMatrix(n);
      let bad = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          const want = (had[Math.floor(i / p) * m + Math.floor(j / p)]! * sylvester(i % p, j % p)) / Math.sqrt(n);
          if (M[i * n + j] !== want) bad++;
        }
      expect(bad, `n = ${n}`).toBe(0);
      const MT = hadamardMatrix(n, { transpose: true });
      let badT = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (MT[i * n + j] !== M[j * n + i]) badT++;
      expect(badT).toBe(0);
    }
  });

  it('is orthogonal to 1e-12 (full Gram) for every supported n ≤ 256', () => {
    for (const n of supported(256)) {
      const M = hadamardMatrix(n);
      const g = matmul(M, transpose(M, n, n), n, n, n);
      let err = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) err = Math.max(err, Math.abs(g[i * n + j]! - (i === j ? 1 : 0)));
      expect(err, `n = ${n}`).toBeLessThan(1e-12);
    }
  });

  it('is orthogonal to 1e-12 (6 full Gram rows) for one n in (256, 1024] of every factor m', () => {
    const sizes = [1, ...HAD_ORDERS].map((m) =>
      supported(1024)
        .filter((n) => n > 256 && hadamardFactorization(n)!.m === m)
        .pop(),
    );
    for (const n of sizes) {
      if (n === undefined) continue; // m = 20: 20·2^k > 20 is factored as 40·2^(k−1)
      const M = hadamardMatrix(n);
      const p = 2 ** hadamardFactorization(n)!.k;
      let err = 0;
      for (const i of [0, p % n, n - 1, Math.floor(n / 2), Math.floor(n / 3), 7919 % n]) {
        const ri = M.subarray(i * n, (i + 1) * n);
        for (let j = 0; j < n; j++) {
          const rj = M.subarray(j * n, (j + 1) * n);
          let s = 0;
          for (let c = 0; c < n; c++) s += ri[c]! * rj[c]!;
          err = Math.max(err, Math.abs(s - (i === j ? 1 : 0)));
        }
      }
      expect(err, `n = ${n}`).toBeLessThan(1e-12);
    }
  });

  it('every supported n ≤ 4096: the float64 transform of e_i is column i of M and Mᵀ·(M·e_i) = e_i to 1e-12', () => {
    const sizes = supported(4096);
    expect(sizes.length).toBe(80);
    for (const n of sizes) {
      const { m, k } = hadamardFactorization(n)!;
      const p = 2 ** k;
      const had = m === 1 ? new Int8Array([1]) : hadTable(m);
      for (const i of [0, n - 1, Math.floor(n / 3)]) {
        const col = new Float64Array(n);
        col[i] = 1;
        hadamardRowsF64(col, 1, n); // M·e_i
        let err = 0;
        for (let r = 0; r < n; r++) {
          const want = (had[Math.floor(r / p) * m + Math.floor(i / p)]! * sylvester(r % p, i % p)) / Math.sqrt(n);
          err = Math.max(err, Math.abs(col[r]! - want));
        }
        expect(err, `n = ${n}`).toBe(0);
        const back = fwht(float32(Float32Array.from(col), [n]), { transpose: true }).data; // Mᵀ·(M·e_i) in float32
        let backErr = 0;
        for (let r = 0; r < n; r++) backErr = Math.max(backErr, Math.abs(back[r]! - (r === i ? 1 : 0)));
        expect(backErr).toBeLessThan(1e-6);
        // float64: (MᵀM)[i][i'] = Σ_r M[r][i]·M[r][i'] over the exact columns
        const col2 = new Float64Array(n);
        const i2 = (i + p + 1) % n;
        col2[i2] = 1;
        hadamardRowsF64(col2, 1, n);
        let dot = 0;
        let nrm = 0;
        for (let r = 0; r < n; r++) {
          dot += col[r]! * col2[r]!;
          nrm += col[r]! * col[r]!;
        }
        expect(Math.abs(dot - (i2 === i ? 1 : 0))).toBeLessThan(1e-12);
        expect(Math.abs(nrm - 1)).toBeLessThan(1e-12);
      }
    }
  });

  it('throws E_SHAPE naming nearby supported sizes', () => {
    try {
      hadamardMatrix(100);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(LowbitError);
      expect((e as LowbitError).code).toBe('E_SHAPE');
      expect((e as LowbitError).message).toContain('96 = 12·2^3');
      expect((e as LowbitError).message).toContain('104 = 52·2^1');
    }
    expect(() => hadamardMatrix(0)).toThrow(LowbitError);
    expect(() => hadamardMatrix(13696)).toThrow(/13696/);
    expect(() => hadamardMatrix(2 ** 15)).toThrow(/E?cap|16384/);
  });
});

describe('fwht', () => {
  const sizes = [1, 2, 4, 8, 32, 12, 24, 20, 40, 80, 28, 56, 36, 52, 60, 108, 140, 156, 172, 344, 96, 1536, 2560];

  it('equals the dense product x·Mᵀ (and x·M with transpose) within float32 rounding', () => {
    const g = randn(3);
    for (const n of sizes.filter((v) => v <= 344)) {
      const rows = 3;
      const x = new Float32Array(rows * n).map(() => g());
      const M = hadamardMatrix(n);
      for (const tr of [false, true]) {
        const want = matmul(x, tr ? M : transpose(M, n, n), rows, n, n);
        const got = fwht(float32(Float32Array.from(x), [rows, n]), { transpose: tr }).data;
        let scale = 0;
        for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
        for (let i = 0; i < want.length; i++)
          expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(
            4e-7 * (Math.log2(n) + 2) * Math.sqrt(n) * Math.max(scale, 1),
          );
      }
    }
  });

  it('is bit-exact with fwhtRef on random data, all options', () => {
    const sizeArb = fc.constantFrom(...sizes);
    fc.assert(
      fc.property(
        sizeArb,
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 1e6 }),
        (n, rows, normalize, transposeOpt, seed) => {
          const g = randn(seed);
          const x = new Float32Array(rows * n).map(() => g() * 10 ** Math.floor(g() * 3));
          const t = float32(Float32Array.from(x), [rows, n]);
          const ref = fwhtRef(t, { normalize, transpose: transposeOpt });
          expect(t.data).toEqual(x); // the Ref does not touch its input
          const got = fwht(t, { normalize, transpose: transposeOpt });
          expect(got).toBe(t); // in place
          for (let i = 0; i < x.length; i++) if (!Object.is(got.data[i], ref.data[i])) return false;
          return true;
        },
      ),
      { numRuns: 80 },
    );
  });

  it('bit-exact with fwhtRef on special values (±0, huge, tiny, NaN/Inf propagate identically)', () => {
    for (const n of [4, 8, 12, 24]) {
      const vals = [0, -0, 1, -1, 3.4e38, -3.4e38, 1e-45, Number.NaN, Number.POSITIVE_INFINITY, 0.5];
      const x = new Float32Array(n).map((_, i) => vals[i % vals.length]!);
      const ref = fwhtRef(float32(x, [1, n]));
      const got = fwht(float32(Float32Array.from(x), [1, n]));
      for (let i = 0; i < n; i++) expect(Object.is(got.data[i], ref.data[i])).toBe(true);
    }
  });

  it('Kronecker layout: T(e_i) is column i of M (row i of Mᵀ)', () => {
    for (const n of [24, 80, 112]) {
      const M = hadamardMatrix(n);
      for (const i of [0, 1, 7, n - 1]) {
        const e = new Float32Array(n);
        e[i] = 1;
        const y = fwht(float32(e, [1, n])).data;
        for (let r = 0; r < n; r++) expect(y[r]).toBe(Math.fround(M[r * n + i]!));
      }
    }
  });

  it('normalized: preserves the norm; transpose undoes it; Sylvester is an involution', () => {
    fc.assert(
      fc.property(fc.constantFrom(...sizes), fc.integer({ min: 0, max: 1e6 }), (n, seed) => {
        const g = randn(seed);
        const x = new Float32Array(n).map(() => g());
        const y = fwht(float32(Float32Array.from(x), [n]));
        let nx = 0;
        let ny = 0;
        for (let i = 0; i < n; i++) {
          nx += x[i]! * x[i]!;
          ny += y.data[i]! * y.data[i]!;
        }
        expect(Math.abs(nx - ny)).toBeLessThan(1e-5 * nx + 1e-12);
        const back = fwht(float32(Float32Array.from(y.data), [n]), { transpose: true }).data;
        for (let i = 0; i < n; i++) expect(Math.abs(back[i]! - x[i]!)).toBeLessThan(1e-5 * Math.sqrt(nx));
        if (hadamardFactorization(n)!.m === 1) {
          const again = fwht(float32(Float32Array.from(y.data), [n])).data;
          for (let i = 0; i < n; i++) expect(Math.abs(again[i]! - x[i]!)).toBeLessThan(1e-5 * Math.sqrt(nx));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('fwhtRows transforms a sub-range only; float64 twin agrees with the matrix', () => {
    const n = 24;
    const buf = new Float32Array(4 * n).map((_, i) => Math.sin(i));
    const copy = Float32Array.from(buf);
    fwhtRows(buf, 2, n, n);
    expect(buf.subarray(0, n)).toEqual(copy.subarray(0, n));
    expect(buf.subarray(3 * n)).toEqual(copy.subarray(3 * n));
    expect(buf.subarray(n, 3 * n)).toEqual(fwhtRef(float32(copy.slice(n, 3 * n), [2, n])).data);
    const f = Float64Array.from(copy.subarray(0, n));
    hadamardRowsF64(f, 1, n);
    const want = matmul(hadamardMatrix(n), copy.subarray(0, n), n, n, 1);
    for (let i = 0; i < n; i++) expect(Math.abs(f[i]! - want[i]!)).toBeLessThan(1e-14);
  });

  it('rejects bad input', () => {
    expect(() => fwht(float32(new Float32Array(10), [10]))).toThrow(/nearby supported sizes/);
    expect(() => fwht({ dtype: 'float64', data: new Float64Array(4), shape: [4] } as never)).toThrow(LowbitError);
    expect(() => fwht(float32(new Float32Array(1), []))).toThrow(LowbitError);
  });
});
