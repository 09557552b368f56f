import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import {
  gemm,
  gemmRef,
  gemv,
  gemvRef,
  type NestedOptions,
  NestedWeights,
  quantizeNested,
} from '../../src/mwq/index.js';

function vec(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

const SCHEMES: NestedOptions[] = [
  { scheme: 'matquant', bits: 8 },
  { scheme: 'matquant', variant: 'round-noclamp', bits: 5 },
  { scheme: 'truncate', bits: 8 },
  { scheme: 'truncate', variant: 'trunc', bits: 6 },
  { scheme: 'residual', bits: 8, baseBits: 2 },
  { scheme: 'residual', bits: 5, baseBits: 3, base: 'midrise', planeScales: 'pow2' },
];

/** |y − yRef| ≤ 2^-20·Σ|ŵ||x| + ulp(yRef): the two differ only in summation order and float32 rounding of ŵ. */
function expectClose(
  nw: NestedWeights,
  r: number,
  x: Float32Array,
  y: ArrayLike<number>,
  yRef: ArrayLike<number>,
): void {
  const [rows, cols] = nw.shape;
  const w = nw.dequantize(r).data;
  for (let o = 0; o < rows; o++) {
    let mag = 0;
    for (let i = 0; i < cols; i++) mag += Math.abs(w[o * cols + i]! * x[i]!);
    expect(Math.abs(y[o]! - yRef[o]!)).toBeLessThanOrEqual(2 ** -20 * mag + 2 ** -23 * Math.abs(yRef[o]!) + 1e-30);
  }
}

describe('bit-serial gemv / gemm', () => {
  it('gemv ≈ dequantize(r)·x (gemvRef) for every scheme and level, aligned and masked (ragged groups) paths', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(8, 16, 12, 9, 32),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(...SCHEMES),
        fc.integer(),
        (rows, G, m, o, seed) => {
          const cols = G * m;
          const w: Float32Tensor = { dtype: 'float32', data: vec(rows * cols, seed, 0.2), shape: [rows, cols] };
          const nw = quantizeNested(w, { ...o, groupSize: G });
          const x = vec(cols, seed ^ 0x9e37, 2);
          const xc = x.slice();
          for (const r of nw.levels) expectClose(nw, r, x, gemv(nw, x, r), gemvRef(nw, x, r));
          expect(x).toEqual(xc);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gemm rows equal gemv bit for bit, and ≈ gemmRef; out is honoured', () => {
    const rows = 24;
    const cols = 128;
    for (const o of SCHEMES) {
      const nw = quantizeNested(
        { dtype: 'float32', data: vec(rows * cols, 3, 0.1), shape: [rows, cols] },
        { ...o, groupSize: 32 },
      );
      const B = 5;
      const X: Float32Tensor = { dtype: 'float32', data: vec(B * cols, 8), shape: [B, cols] };
      for (const r of nw.levels) {
        const out = new Float32Array(B * rows);
        const Y = gemm(nw, X, r, out);
        expect(Y.data).toBe(out);
        expect(Y.shape).toEqual([B, rows]);
        const R = gemmRef(nw, X, r);
        for (let b = 0; b < B; b++) {
          const xb = X.data.subarray(b * cols, (b + 1) * cols);
          expect(Y.data.subarray(b * rows, (b + 1) * rows)).toEqual(gemv(nw, xb, r));
          expectClose(nw, r, xb, Y.data.subarray(b * rows, (b + 1) * rows), R.data.subarray(b * rows, (b + 1) * rows));
        }
      }
    }
  });

  it('reads only level r: scrambling the planes and scales above level r does not change gemv(r) or dequantize(r)', () => {
    for (const o of SCHEMES) {
      const nw = quantizeNested(
        { dtype: 'float32', data: vec(8 * 64, 4, 0.1), shape: [8, 64] },
        { ...o, groupSize: 16 },
      );
      const x = vec(64, 5);
      for (const r of nw.levels) {
        const bp = nw.toBitPlanes();
        const P = nw.planesRead(r);
        const scr = NestedWeights.fromBitPlanes({
          ...bp,
          planes: bp.planes.map((p, i) => (i < P ? p : p.map((v) => ~v >>> 0))),
          levelScales: bp.levelScales.map((s, i) => (i < r - bp.baseBits ? s : s.map((v) => v * 7 + 1))),
        });
        expect(gemv(scr, x, r)).toEqual(gemv(nw, x, r));
        expect(scr.dequantize(r).data).toEqual(nw.dequantize(r).data);
      }
    }
  });

  it('accepts a float32 tensor for x; errors for shape mismatch, level not served, wrong types', () => {
    const nw = quantizeNested(
      { dtype: 'float32', data: vec(4 * 32, 1), shape: [4, 32] },
      { scheme: 'truncate', bits: 4, groupSize: 16 },
    );
    const x = vec(32, 2);
    expect(gemv(nw, { dtype: 'float32', data: x, shape: [32] }, 3)).toEqual(gemv(nw, x, 3));
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return e instanceof LowbitError ? e.code : 'other';
      }
    };
    expect(code(() => gemv(nw, vec(31, 1), 3))).toBe('E_SHAPE');
    expect(code(() => gemv(nw, x, 5))).toBe('E_CONFIG');
    expect(code(() => gemv(nw, x, 3, new Float32Array(3)))).toBe('E_SHAPE');
    expect(code(() => gemv(nw, [1, 2] as never, 3))).toBe('E_DTYPE');
    expect(code(() => gemm(nw, { dtype: 'float32', data: vec(64, 1), shape: [2, 32] }, 1))).toBe('E_CONFIG');
    expect(code(() => gemm(nw, { dtype: 'float32', data: vec(62, 1), shape: [2, 31] }, 2))).toBe('E_SHAPE');
  });
});
