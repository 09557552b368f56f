import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import { float32 } from '../../src/common/tensor.js';
import { dequantizeMatMulNBits, toMatMulNBits } from '../../src/export/matmulnbits.js';

interface Case {
  N: number;
  K: number;
  blockSize: number;
  symmetric: boolean;
  weight: number[];
  B: string;
  bShape: number[];
  scales: number[];
  zeroPoints: string | null;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/export/matmulnbits.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const f32bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('toMatMulNBits', () => {
  for (const c of fixture.cases) {
    it(`matches the numpy golden B / scales / zero_points: N=${c.N} K=${c.K} block ${c.blockSize} ${c.symmetric ? 'symmetric' : 'asymmetric'}`, () => {
      const w = new Float32Array(Uint32Array.from(c.weight).buffer);
      const before = w.slice();
      const q = toMatMulNBits(float32(w, [c.N, c.K]), { bits: 4, blockSize: c.blockSize, symmetric: c.symmetric });
      expect(q.bShape).toEqual(c.bShape);
      expect(hex(q.B)).toBe(c.B);
      expect(f32bits(q.scales)).toEqual(c.scales);
      expect(q.zeroPoints === undefined ? null : hex(q.zeroPoints)).toBe(c.zeroPoints);
      expect(w).toEqual(before);
    });
  }

  it('dequantizes to within the quantization step (half a step asymmetric), padding holds the zero point', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom(16, 32, 64, 128),
        fc.boolean(),
        fc.integer(),
        (N, K, bs, symmetric, seed) => {
          let s = seed >>> 0;
          const w = Float32Array.from({ length: N * K }, () => {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            return (s / 2 ** 32 - 0.5) * 4;
          });
          const q = toMatMulNBits(float32(w, [N, K]), { bits: 4, blockSize: bs, symmetric });
          const d = dequantizeMatMulNBits(q).data;
          for (let n = 0; n < N; n++)
            for (let k = 0; k < K; k++) {
              const sc = Math.abs(q.scales[n * q.nBlocks + Math.floor(k / bs)]!);
              // symmetric: +|m| clamps to code 15 (7 steps), one step below the largest magnitude
              const tol = symmetric ? sc * 1.0000001 : sc * 0.5000001 + 1e-7;
              expect(Math.abs(d[n * K + k]! - w[n * K + k]!)).toBeLessThanOrEqual(tol);
            }
          // padding codes are the zero point
          const pad = q.nBlocks * bs - K;
          if (pad > 0) {
            const last = q.B.subarray(q.B.length - bs / 2);
            const code = (j: number) => (last[j >> 1]! >> ((j & 1) * 4)) & 15;
            const zp = symmetric ? 8 : (q.zeroPoints![q.zeroPoints!.length - 1]! >> (((q.nBlocks - 1) & 1) * 4)) & 15;
            for (let j = bs - pad; j < bs; j++) expect(code(j)).toBe(zp);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rejects bad options and inputs with LowbitError codes', () => {
    const w = float32(new Float32Array(64), [2, 32]);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isLowbitError(e) ? e.code : 'other';
      }
      return 'none';
    };
    expect(code(() => toMatMulNBits(w, { bits: 8 as 4, blockSize: 32 }))).toBe('E_CONFIG');
    expect(code(() => toMatMulNBits(w, { bits: 4, blockSize: 24 }))).toBe('E_CONFIG');
    expect(code(() => toMatMulNBits(w, { bits: 4, blockSize: 8 }))).toBe('E_CONFIG');
    expect(code(() => toMatMulNBits(float32(new Float32Array(64), [64]), { bits: 4, blockSize: 32 }))).toBe('E_SHAPE');
    const nan = new Float32Array(64);
    nan[5] = Number.NaN;
    expect(code(() => toMatMulNBits(float32(nan, [2, 32]), { bits: 4, blockSize: 32 }))).toBe('E_NONFINITE');
    const q = toMatMulNBits(w, { bits: 4, blockSize: 32 });
    expect(code(() => dequantizeMatMulNBits({ ...q, scales: new Float32Array(1) }))).toBe('E_SHAPE');
  });
});
