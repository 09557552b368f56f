import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { calibrationError, quantizeNested } from '../../src/mwq/index.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('residual ±1 planes (D²MoE MWQ)', () => {
  it('mid-rise base + power-of-two plane scales equals the uniform mid-rise b_K-bit quantizer (mwq.md §1, invariant 9)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 0, max: 3 }), fc.integer(), (b1, extra, seed) => {
        const bK = Math.min(8, b1 + extra);
        const rnd = lcg(seed);
        const rows = 3;
        const G = 32;
        const cols = 64;
        const data = new Float32Array(rows * cols);
        const want = new Float64Array(rows * cols);
        for (let g = 0; g < (rows * cols) / G; g++) {
          const mn = Math.fround(-0.05 - rnd() * 0.1);
          const mx = Math.fround(0.02 + rnd() * 0.1);
          const dK = (mx - mn) / 2 ** bK;
          for (let i = 0; i < G; i++) {
            let v: number;
            if (i === 0) v = mn;
            else if (i === 1) v = mx;
            else v = Math.fround(mn + (Math.floor(rnd() * 2 ** bK) + 0.05 + 0.9 * rnd()) * dK);
            data[g * G + i] = v;
          }
          for (let i = 0; i < G; i++) {
            const v = data[g * G + i]!;
            const j = Math.min(2 ** bK - 1, Math.max(0, Math.floor((v - mn) / dK)));
            want[g * G + i] = mn + (j + 0.5) * dK;
          }
        }
        const w: Float32Tensor = { dtype: 'float32', data, shape: [rows, cols] };
        const nw = quantizeNested(w, {
          scheme: 'residual',
          bits: bK,
          baseBits: b1,
          base: 'midrise',
          planeScales: 'pow2',
          groupSize: G,
        });
        const got = nw.dequantize(bK).data;
        for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-7);
      }),
      { numRuns: 40 },
    );
  });

  it('nesting: Ŵ_k − Ŵ_{k−1} = s_k·Q_k with Q_k = 2β − 1 read from plane k (up to float32 rounding)', () => {
    const rnd = lcg(9);
    const data = Float32Array.from({ length: 8 * 128 }, () => (rnd() - 0.5) * 0.2);
    for (const base of ['minmax', 'midrise'] as const) {
      const nw = quantizeNested(
        { dtype: 'float32', data, shape: [8, 128] },
        { scheme: 'residual', bits: 6, baseBits: 2, base, groupSize: 64 },
      );
      const bp = nw.toBitPlanes();
      for (let k = 3; k <= 6; k++) {
        const a = nw.dequantize(k - 1).data;
        const b = nw.dequantize(k).data;
        const s = bp.levelScales[k - 3]!;
        const plane = bp.planes[k - 1]!;
        for (let i = 0; i < a.length; i++) {
          const Q = ((plane[i >>> 5]! >>> (i & 31)) & 1) === 1 ? 1 : -1;
          const tol = 2 ** -22 * Math.max(Math.abs(a[i]!), Math.abs(b[i]!));
          expect(Math.abs(b[i]! - a[i]! - s[Math.floor(i / 64)]! * Q)).toBeLessThanOrEqual(tol);
        }
      }
    }
  });

  it('data-free fitted scales (mean|R|) are never worse than pow2 on ‖W − Ŵ‖², at every level', () => {
    const rnd = lcg(4);
    const data = Float32Array.from({ length: 16 * 128 }, () => Math.tan((rnd() - 0.5) * 2.8) * 0.02);
    const w: Float32Tensor = { dtype: 'float32', data, shape: [16, 128] };
    for (const base of ['minmax', 'midrise'] as const) {
      const fit = quantizeNested(w, { scheme: 'residual', base, bits: 8, baseBits: 2 });
      const p2 = quantizeNested(w, { scheme: 'residual', base, bits: 8, baseBits: 2, planeScales: 'pow2' });
      expect(fit.fitReport!.groups).toBe(16);
      for (const r of fit.levels)
        expect(calibrationError(w, fit, r)).toBeLessThanOrEqual(calibrationError(w, p2, r) * (1 + 1e-12));
    }
  });

  it('calibrated scales are never worse than pow2 on the calibration objective Σ_g ‖(w_J − ŵ_J)X_Jᵀ‖², and beat data-free scales there', () => {
    const rnd = lcg(17);
    const rows = 12;
    const cols = 64;
    const T = 48;
    const data = Float32Array.from({ length: rows * cols }, () => (rnd() - 0.5) * 0.1);
    // activations with a few outlier channels and correlated columns
    const xd = new Float32Array(T * cols);
    for (let t = 0; t < T; t++) {
      const common = rnd() - 0.5;
      for (let c = 0; c < cols; c++) xd[t * cols + c] = (rnd() - 0.5 + common) * (c % 13 === 0 ? 8 : 1);
    }
    const X: Float32Tensor = { dtype: 'float32', data: xd, shape: [T, cols] };
    const w: Float32Tensor = { dtype: 'float32', data, shape: [rows, cols] };
    for (const base of ['minmax', 'midrise'] as const) {
      const fit = quantizeNested(w, { scheme: 'residual', base, bits: 6, baseBits: 2, groupSize: 32, calibration: X });
      const p2 = quantizeNested(w, {
        scheme: 'residual',
        base,
        bits: 6,
        baseBits: 2,
        groupSize: 32,
        calibration: X,
        planeScales: 'pow2',
      });
      const df = quantizeNested(w, { scheme: 'residual', base, bits: 6, baseBits: 2, groupSize: 32 });
      let better = 0;
      for (const r of fit.levels) {
        const e = calibrationError(w, fit, r, X);
        expect(e).toBeLessThanOrEqual(calibrationError(w, p2, r, X) * (1 + 1e-12));
        if (e < calibrationError(w, df, r, X)) better++;
      }
      expect(better).toBeGreaterThanOrEqual(3);
    }
    expect(data.every(Number.isFinite)).toBe(true);
  });
});
