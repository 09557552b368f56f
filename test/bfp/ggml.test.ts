import { describe, expect, it } from 'vitest';
import { decodeGgml, encodeGgml, GGML_BLOCK_BYTES, type GgmlBlockType } from '../../src/bfp/ggml.js';
import { dequantizeBlocks, quantizeBlocks } from '../../src/bfp/quantize.js';
import { isLowbitError } from '../../src/common/errors.js';
import { GGML_GOLD } from './ggml-gold.js';
import { gaussian } from './helpers.js';

const TYPES: GgmlBlockType[] = ['q8_0', 'q4_0', 'q4_1', 'mxfp4'];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const f16 = (lo: number, hi: number) => {
  const h = lo | (hi << 8);
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
};

describe('ggml blocks', () => {
  const x = new Float32Array(new Uint32Array(GGML_GOLD.input).buffer);

  it('block sizes are 34 / 18 / 20 / 17 bytes per 32 elements', () => {
    expect(GGML_BLOCK_BYTES).toEqual({ q8_0: 34, q4_0: 18, q4_1: 20, mxfp4: 17 });
    for (const t of TYPES) expect(encodeGgml(gaussian(96, 1), t).length).toBe(3 * GGML_BLOCK_BYTES[t]);
  });

  for (const t of TYPES) {
    it(`${t}: encode and decode agree with numpy evaluations of the spec formulas`, () => {
      const gold = GGML_GOLD[t];
      expect(hex(encodeGgml({ dtype: 'float32', data: x, shape: [2, 32] }, t))).toBe(gold.bytes);
      const y = decodeGgml(new Uint8Array(Buffer.from(gold.bytes, 'hex')), t, [2, 32]);
      expect(y.shape).toEqual([2, 32]);
      expect(Array.from(new Uint32Array(y.data.buffer))).toEqual(Array.from(gold.decoded));
    });
  }

  it('hand-computed blocks: layouts and decode formulas', () => {
    // Q8_0: d = 127/127 = 1 (fp16 0x3c00), qs = x
    const q8 = encodeGgml(
      Float32Array.from({ length: 32 }, (_, i) => (i === 0 ? 127 : i - 16)),
      'q8_0',
    );
    expect(hex(q8.subarray(0, 4))).toBe('003c7ff1');
    expect(Array.from(decodeGgml(q8, 'q8_0', [32]).data.subarray(0, 3))).toEqual([127, -15, -14]);
    // Q4_0: max = −8 (first largest magnitude), d = −8/−8 = 1; q = trunc(x + 8.5); byte j = q[j] | q[j+16] << 4
    const v40 = Float32Array.from({ length: 32 }, (_, i) => (i === 0 ? -8 : (i % 15) - 7));
    const q40 = encodeGgml(v40, 'q4_0');
    expect(f16(q40[0]!, q40[1]!)).toBe(1);
    expect(q40[2]).toBe(0 | (((16 % 15) - 7 + 8) << 4)); // element 0 → 0, element 16 → 1 + 8 - 7 = 2
    const d40 = decodeGgml(q40, 'q4_0', [32]).data;
    for (let i = 0; i < 32; i++) expect(d40[i]).toBe(v40[i]); // integers in [−8, 7] are exact
    // Q4_1: min = −1, max = 14, d = 1, m = −1; nibble = x − min
    const v41 = Float32Array.from({ length: 32 }, (_, i) => (i % 16) - 1);
    const q41 = encodeGgml(v41, 'q4_1');
    expect([f16(q41[0]!, q41[1]!), f16(q41[2]!, q41[3]!)]).toEqual([1, -1]);
    expect(q41[4 + 5]).toBe(5 | (5 << 4));
    expect(Array.from(decodeGgml(q41, 'q4_1', [32]).data)).toEqual(Array.from(v41));
    // MXFP4: amax 6 → e = floor(log2 6) − 2 + 127 = 127, d = 2^(e − 128) = 0.5, value = kv[c]·0.5
    const v4 = Float32Array.from(
      { length: 32 },
      (_, i) => [0, 0.5, 1, 1.5, 2, 3, 4, 6][i % 8]! * (i >= 16 && i % 8 ? -1 : 1),
    );
    const q4 = encodeGgml(v4, 'mxfp4');
    expect(q4[0]).toBe(127);
    expect(q4[1 + 7]).toBe(7 | (15 << 4)); // element 7 = 6 → code 7; element 23 = −6 → code 15
    expect(Array.from(decodeGgml(q4, 'mxfp4', [32]).data)).toEqual(Array.from(v4));
    // ggml MXFP4 ties go to the smaller magnitude: 0.75·2d → 0.5·2d, −0.25 → +0
    const tie = new Float32Array(32);
    tie[0] = 6;
    tie[1] = 0.75;
    tie[2] = -0.25;
    const dt = decodeGgml(encodeGgml(tie, 'mxfp4'), 'mxfp4', [32]).data;
    expect([dt[1], Object.is(dt[2], 0)]).toEqual([0.5, true]);
  });

  it('round trips: bounded error, and decoded MXFP4 blocks re-encode to the same bytes', () => {
    const v = gaussian(32 * 16, 5, 3);
    for (const t of TYPES) {
      const b = encodeGgml(v, t);
      const y = decodeGgml(b, t, [16, 32]).data;
      for (let k = 0; k < 16; k++) {
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (let i = 0; i < 32; i++) {
          lo = Math.min(lo, v[32 * k + i]!);
          hi = Math.max(hi, v[32 * k + i]!);
        }
        const amax = Math.max(-lo, hi);
        const bound = t === 'q8_0' ? amax / 127 : t === 'q4_1' ? (hi - lo) / 15 : t === 'q4_0' ? amax / 8 : amax / 4;
        for (let i = 0; i < 32; i++)
          expect(Math.abs(y[32 * k + i]! - v[32 * k + i]!)).toBeLessThanOrEqual(bound * 1.01);
      }
    }
    const b4 = encodeGgml(v, 'mxfp4');
    expect(hex(encodeGgml(decodeGgml(b4, 'mxfp4', [512]).data, 'mxfp4'))).toBe(hex(b4));
  });

  it('ggml MXFP4 decodes to the same values as lowbit mxfp4 blocks of 32 (no ties in random data)', () => {
    const v = gaussian(32 * 8, 77, 2);
    const g = decodeGgml(encodeGgml(v, 'mxfp4'), 'mxfp4', [256]).data;
    const q = quantizeBlocks(v, { format: 'mxfp4', blockSize: 32 });
    expect(Array.from(g)).toEqual(Array.from(dequantizeBlocks(q).data));
    const bytes = encodeGgml(v, 'mxfp4');
    for (let k = 0; k < 8; k++) expect(bytes[17 * k]).toBe(q.scales[k]);
  });

  it('bad input throws LowbitError', () => {
    const codes: [() => unknown, string][] = [
      [() => encodeGgml(gaussian(32, 1), 'q5_0' as never), 'E_CONFIG'],
      [() => decodeGgml(new Uint8Array(34), 'q2_k' as never, [32]), 'E_CONFIG'],
      [() => encodeGgml(gaussian(33, 1), 'q8_0'), 'E_SHAPE'],
      [() => decodeGgml(new Uint8Array(33), 'q8_0', [32]), 'E_SHAPE'],
      [() => decodeGgml(new Uint8Array(34), 'q8_0', [2, 32]), 'E_SHAPE'],
      [() => encodeGgml(new Float32Array(32).fill(Number.NaN), 'q4_0'), 'E_NONFINITE'],
    ];
    for (const [fn, code] of codes) {
      try {
        fn();
        expect.unreachable(code);
      } catch (e) {
        expect(isLowbitError(e, code as never)).toBe(true);
      }
    }
  });
});
