import { describe, expect, it } from 'vitest';
import { dotBlocks, dotBlocksRef } from '../../src/bfp/dot.js';
import type { BlockFormat } from '../../src/bfp/formats.js';
import { dequantizeBlocks, quantizeBlocks } from '../../src/bfp/quantize.js';
import { isLowbitError } from '../../src/common/errors.js';
import { gaussian, spiky } from './helpers.js';

const FORMATS: BlockFormat[] = [
  'mxfp8_e4m3',
  'mxfp8_e5m2',
  'mxfp6_e3m2',
  'mxfp6_e2m3',
  'mxfp4',
  'mxint8',
  'bfp12',
  'bfp16',
  'bfp24',
];

/** Exact Σ a_i·b_i of float32 values as a BigInt scaled by 2^300, rounded once to a double. */
function exactDot(a: Float32Array, b: Float32Array): number {
  let s = 0n;
  for (let i = 0; i < a.length; i++) s += BigInt(a[i]! * 2 ** 150) * BigInt(b[i]! * 2 ** 150);
  const neg = s < 0n;
  const m = neg ? -s : s;
  // divide by 2^300 exactly: Number(m) rounds once, the power of two is exact here
  const v = Number(m) * 2 ** -300;
  return neg ? -v : v;
}

describe('integer-domain block dot product', () => {
  for (const fa of FORMATS) {
    it(`${JSON.stringify(fa)} × every format: one block equals the exact dot of the dequantized values`, () => {
      const x = spiky(32, 1);
      const y = gaussian(32, 2, 3);
      const a = quantizeBlocks(x, { format: fa });
      for (const fb of FORMATS) {
        const b = quantizeBlocks(y, { format: fb });
        const want = exactDot(dequantizeBlocks(a).data, dequantizeBlocks(b).data);
        const got = dotBlocks(a, b);
        const ref = dotBlocksRef(a, b);
        expect(ref).toBe(want);
        if (fa === 'mxfp8_e5m2' && fb === 'mxfp8_e5m2')
          expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.abs(want) * 2 ** -51);
        else expect(got).toBe(want);
      }
    });
  }

  it('many blocks, any axis and ragged blocks: equals the float64 dot of the dequantized values', () => {
    for (const [shape, axis, bs] of [
      [[7, 40], -1, 16],
      [[7, 40], 0, 3],
      [[3, 5, 9], 1, 2],
    ] as [number[], number, number][]) {
      const n = shape.reduce((p, d) => p * d, 1);
      const x = { dtype: 'float32' as const, data: gaussian(n, 3), shape };
      const y = { dtype: 'float32' as const, data: gaussian(n, 4), shape };
      for (const [fa, fb] of [
        ['bfp12', 'bfp12'],
        ['bfp16', 'mxfp4'],
        ['mxint8', 'mxint8'],
        ['mxfp8_e4m3', 'mxfp6_e2m3'],
      ] as [BlockFormat, BlockFormat][]) {
        const a = quantizeBlocks(x, { format: fa, blockSize: bs, axis });
        const b = quantizeBlocks(y, { format: fb, blockSize: bs, axis });
        const da = dequantizeBlocks(a).data;
        const db = dequantizeBlocks(b).data;
        let s = 0;
        for (let i = 0; i < n; i++) s += da[i]! * db[i]!;
        // every partial sum of these products is exact in float64 (narrow exponent range)
        expect(dotBlocks(a, b)).toBe(s);
        expect(dotBlocksRef(a, b)).toBe(s);
      }
    }
  });

  it('a NaN block makes the result NaN; zero blocks contribute 0', () => {
    const x = gaussian(64, 5);
    x[40] = Number.POSITIVE_INFINITY;
    const a = quantizeBlocks(x, { format: 'mxfp4' });
    const b = quantizeBlocks(gaussian(64, 6), { format: 'mxfp4' });
    expect(Number.isNaN(dotBlocks(a, b))).toBe(true);
    expect(Number.isNaN(dotBlocksRef(a, b))).toBe(true);
    const z = quantizeBlocks(new Float32Array(64), { format: 'mxfp4' });
    expect(dotBlocks(z, b)).toBe(0);
  });

  it('mismatched shapes, axes or block sizes throw E_SHAPE', () => {
    const a = quantizeBlocks(gaussian(64, 1), { format: 'bfp12', blockSize: 16 });
    for (const b of [
      quantizeBlocks(gaussian(32, 1), { format: 'bfp12', blockSize: 16 }),
      quantizeBlocks(gaussian(64, 1), { format: 'bfp12', blockSize: 8 }),
      quantizeBlocks({ dtype: 'float32', data: gaussian(64, 1), shape: [8, 8] }, { format: 'bfp12', blockSize: 16 }),
    ]) {
      try {
        dotBlocks(a, b);
        expect.unreachable();
      } catch (e) {
        expect(isLowbitError(e, 'E_SHAPE')).toBe(true);
      }
    }
  });
});
