import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BlockFormat } from '../../src/bfp/formats.js';
import { dequantizeBlocks, quantizeBlocks } from '../../src/bfp/quantize.js';
import { deserializeBlocks, serializeBlocks } from '../../src/bfp/serialize.js';
import { isLowbitError } from '../../src/common/errors.js';
import { spiky } from './helpers.js';

const FORMATS: BlockFormat[] = [
  'mxfp8_e4m3',
  'mxfp6_e2m3',
  'mxfp4',
  'mxint8',
  'bfp12',
  'bfp24',
  { kind: 'bfp', mantissaBits: 3 },
];

describe('LBFP container', () => {
  it('round trips every field and decodes identically', () => {
    let k = 0;
    for (const format of FORMATS) {
      for (const [shape, axis, blockSize] of [
        [[70], 0, 32],
        [[3, 5, 7], 1, 2],
        [[4, 9], 0, 4],
      ] as [number[], number, number][]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const b = quantizeBlocks(
          { dtype: 'float32', data: spiky(n, k++), shape },
          { format, blockSize, axis, scaleRule: 'rceil' },
        );
        const bytes = serializeBlocks(b);
        expect(Array.from(bytes.subarray(0, 4))).toEqual([0x4c, 0x42, 0x46, 0x50]);
        const back = deserializeBlocks(bytes);
        expect(back).toEqual(b);
        expect(Array.from(dequantizeBlocks(back).data)).toEqual(Array.from(dequantizeBlocks(b).data));
      }
    }
  });

  it('hand-checked header bytes', () => {
    const b = quantizeBlocks(new Float32Array([1, 2, 3]), { format: 'mxfp4', blockSize: 2 });
    const bytes = serializeBlocks(b);
    // magic, version 1, id 4 (mxfp4), p 0, rank 1, axis 0, rule 0, reserved 0, blockSize 2, dim 3, 2 scales, 2 code bytes
    expect(Array.from(bytes)).toEqual([
      0x4c,
      0x42,
      0x46,
      0x50,
      1,
      0,
      4,
      0,
      1,
      0,
      0,
      0,
      2,
      0,
      0,
      0,
      3,
      0,
      0,
      0,
      ...b.scales,
      ...b.codes,
    ]);
    expect(bytes.length).toBe(24);
  });

  it('corrupt or truncated input throws E_FORMAT / E_LIMIT and never anything else', () => {
    const b = quantizeBlocks(
      { dtype: 'float32', data: spiky(60, 3), shape: [6, 10] },
      { format: 'mxfp6_e3m2', blockSize: 4 },
    );
    const good = serializeBlocks(b);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat({ max: good.length }),
        (flips, cut) => {
          const bytes = good.slice(0, cut === 0 ? good.length : cut);
          for (const [i, v] of flips) if (i < bytes.length) bytes[i] = v;
          try {
            const back = deserializeBlocks(bytes);
            dequantizeBlocks(back); // whatever parses must decode
          } catch (e) {
            expect(isLowbitError(e, 'E_FORMAT') || isLowbitError(e, 'E_LIMIT')).toBe(true);
          }
        },
      ),
      { numRuns: 400 },
    );
    const cases: [Uint8Array, string][] = [
      [good.slice(0, 10), 'E_FORMAT'],
      [Uint8Array.from(good, (v, i) => (i === 0 ? 0 : v)), 'E_FORMAT'],
      [Uint8Array.from(good, (v, i) => (i === 4 ? 2 : v)), 'E_FORMAT'],
      [Uint8Array.from(good, (v, i) => (i === 6 ? 77 : v)), 'E_FORMAT'],
      [Uint8Array.from(good, (v, i) => (i === 9 ? 2 : v)), 'E_FORMAT'],
      [new Uint8Array([...good, 0]), 'E_FORMAT'],
      [Uint8Array.from(good, (v, i) => (i >= 16 && i < 24 ? 0xff : v)), 'E_LIMIT'],
    ];
    for (const [bytes, code] of cases) {
      try {
        deserializeBlocks(bytes);
        expect.unreachable(code);
      } catch (e) {
        expect(isLowbitError(e, code as never)).toBe(true);
      }
    }
  });
});
