import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BlockFormat, FORMAT_TRAITS, formatTraits } from '../../src/bfp/formats.js';
import {
  blockCodes,
  dequantizeBlocks,
  dequantizeBlocksRef,
  type QuantizeBlocksOptions,
  quantizeBlocks,
  quantizeBlocksRef,
} from '../../src/bfp/quantize.js';
import { isLowbitError } from '../../src/common/errors.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { bitsOf, f32FromHex, gaussian, loadMxFixture, sameValue, spiky } from './helpers.js';

const ALL: BlockFormat[] = [
  'mxfp8_e4m3',
  'mxfp8_e5m2',
  'mxfp6_e3m2',
  'mxfp6_e2m3',
  'mxfp4',
  'mxint8',
  'bfp12',
  'bfp14',
  'bfp16',
  'bfp24',
  { kind: 'bfp', mantissaBits: 2 },
  { kind: 'bfp', mantissaBits: 5 },
];
const DETERMINISTIC = ['half-even', 'half-away', 'floor'] as const;
const t32 = (data: Float32Array, shape: number[]): Float32Tensor => ({ dtype: 'float32', data, shape });

function expectLowbit(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isLowbitError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  expect.unreachable('expected a LowbitError');
}

describe('MX reference vectors (microxcaling), bit for bit', () => {
  const fx = loadMxFixture();
  const MAP: Record<string, BlockFormat[]> = {
    fp8_e4m3: ['mxfp8_e4m3'],
    fp8_e5m2: ['mxfp8_e5m2'],
    fp6_e3m2: ['mxfp6_e3m2'],
    fp6_e2m3: ['mxfp6_e2m3'],
    fp4_e2m1: ['mxfp4'],
    int8: ['mxint8', 'bfp16', { kind: 'bfp', mantissaBits: 8 }],
    int4: ['bfp12', { kind: 'bfp', mantissaBits: 4 }],
  };
  for (const [key, blocks] of Object.entries(fx.cases)) {
    const [fmt, mode] = key.split('/') as [string, string];
    for (const format of MAP[fmt]!) {
      it(`${key} as ${JSON.stringify(format)}: values and scales of all ${blocks.length} blocks`, () => {
        const rounding = mode === 'even' ? 'half-even' : 'half-away';
        // all 12 blocks in one tensor [12, 32], blocks along the last axis
        const x = new Float32Array(12 * 32);
        fx.inputs.forEach((h, i) => {
          x.set(f32FromHex(h), 32 * i);
        });
        for (const q of [quantizeBlocks, quantizeBlocksRef]) {
          const b = q(t32(x, [12, 32]), { format, rounding });
          expect(b.scaleShape).toEqual([12, 1]);
          const y = dequantizeBlocks(b).data;
          let mism = 0;
          for (let i = 0; i < 12; i++) {
            const want = f32FromHex(blocks[i]!);
            for (let j = 0; j < 32; j++) if (!sameValue(y[32 * i + j]!, want[j]!)) mism++;
            const s = fx.scales[fmt]![i];
            expect(b.scales[i]).toBe(s === null ? 0xff : s! + 127);
          }
          expect(mism).toBe(0);
          // lowbit never emits a −0 code, so no −0 comes out (the library agrees for −0 inputs)
          for (let i = 0; i < y.length; i++) expect(Object.is(y[i], -0)).toBe(false);
        }
      });
    }
  }
});

describe('fast kernel equals the Ref twin bit for bit', () => {
  const shapes: [number[], number][] = [
    [[5, 37, 3], -1],
    [[5, 37, 3], 1],
    [[5, 37, 3], 0],
    [[64], 0],
  ];
  for (const format of ALL) {
    it(`${JSON.stringify(format)}: every rounding, axis, block size (incl. 9, ragged)`, () => {
      let k = 0;
      for (const [shape, axis] of shapes) {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = spiky(n, 11 + k++);
        // specials: float32 subnormals, huge, a NaN block and an Inf
        x[3] = 1e-40;
        x[4] = -3e-42;
        x[5] = 3.3e38;
        x[n - 1] = Number.NaN;
        x[n - 7] = Number.NEGATIVE_INFINITY;
        for (const blockSize of [1, 4, 9, 32]) {
          for (const rounding of [...DETERMINISTIC, { mode: 'stochastic', seed: 5 }] as const) {
            const scaleRule = (['floor', 'ceil', 'even', 'rceil'] as const)[(blockSize + k) % 4]!;
            const opts: QuantizeBlocksOptions = { format, blockSize, axis, rounding, scaleRule };
            const a = quantizeBlocks(t32(x, shape), opts);
            const b = quantizeBlocksRef(t32(x, shape), opts);
            expect(a.scaleShape).toEqual(b.scaleShape);
            expect(Buffer.from(a.scales).equals(Buffer.from(b.scales))).toBe(true);
            expect(Buffer.from(a.codes).equals(Buffer.from(b.codes))).toBe(true);
            const ya = bitsOf(dequantizeBlocks(a).data);
            const yb = bitsOf(dequantizeBlocksRef(a).data);
            expect(Buffer.from(ya.buffer).equals(Buffer.from(yb.buffer))).toBe(true);
          }
        }
      }
    });
  }
});

describe('spec behaviour', () => {
  it('shared exponent read exactly: fp4 7.9999995 → 6.0 (a float32 log2 would give 8.0)', () => {
    const x = new Float32Array([Math.fround(7.9999995), 1]);
    expect(x[0]).toBeLessThan(8);
    const b = quantizeBlocks(x, { format: 'mxfp4', blockSize: 2 });
    expect(b.scales[0]).toBe(127); // floor(log2 7.9999995) − 2 = 0
    expect(Array.from(dequantizeBlocks(b).data)).toEqual([6, 1]);
    // the largest float32 below each power of two keeps the lower exponent
    for (let k = -140; k <= 127; k += 3) {
      const v = new Float32Array([2 ** k]);
      const below = new Float32Array(new Uint32Array([new Uint32Array(v.buffer)[0]! - 1]).buffer)[0]!;
      const q = quantizeBlocks(new Float32Array([below]), { format: 'bfp16', blockSize: 1 });
      expect(q.scales[0]).toBe(Math.max(-127, k - 1) + 127);
    }
  });

  it('saturates the rounding carry: E4M3 464 → 448 in both modes, never NaN', () => {
    for (const rounding of ['half-even', 'half-away'] as const) {
      const b = quantizeBlocks(new Float32Array([464, 460, -470]), { format: 'mxfp8_e4m3', blockSize: 3, rounding });
      expect(b.scales[0]).toBe(127);
      expect(Array.from(dequantizeBlocks(b).data)).toEqual([448, 448, -448]);
    }
  });

  it('saturates a block max just below a power of two in E5M2 (torchao #436)', () => {
    const b = quantizeBlocks(new Float32Array([Math.fround(127.9999)]), { format: 'mxfp8_e5m2', blockSize: 1 });
    expect(b.scales[0]).toBe(6 - 15 + 127);
    expect(dequantizeBlocks(b).data[0]).toBe(57344 * 2 ** -9); // 112
  });

  it('BFP12 block 1 ties to even (dmx test): 1.125 → 1.0, 1.375 → 1.5; half-away: 1.25, 1.5', () => {
    const x = new Float32Array([1.125, 1.375, -1.125]);
    expect(Array.from(dequantizeBlocks(quantizeBlocks(x, { format: 'bfp12', blockSize: 1 })).data)).toEqual([
      1, 1.5, -1,
    ]);
    expect(
      Array.from(dequantizeBlocks(quantizeBlocks(x, { format: 'bfp12', blockSize: 1, rounding: 'half-away' })).data),
    ).toEqual([1.25, 1.5, -1.25]);
    expect(
      Array.from(dequantizeBlocks(quantizeBlocks(x, { format: 'bfp12', blockSize: 1, rounding: 'floor' })).data),
    ).toEqual([1, 1.25, -1]);
  });

  it('keeps subnormal elements (E2M1 0.5, E4M3 2^-9) and rounds ties below them', () => {
    const b = quantizeBlocks(new Float32Array([6, 0.5, 0.25, 0.75, -0.5]), { format: 'mxfp4', blockSize: 5 });
    expect(Array.from(dequantizeBlocks(b).data)).toEqual([6, 0.5, 0, 1, -0.5]);
    const a = quantizeBlocks(new Float32Array([6, 0.25, 0.75]), {
      format: 'mxfp4',
      blockSize: 3,
      rounding: 'half-away',
    });
    expect(Array.from(dequantizeBlocks(a).data)).toEqual([6, 0.5, 1]);
    const e = quantizeBlocks(new Float32Array([448, 2 ** -9, 3 * 2 ** -10]), { format: 'mxfp8_e4m3', blockSize: 3 });
    expect(Array.from(blockCodes(e))).toEqual([0x7e, 1, 2]);
  });

  it('zero and −0 blocks: scale byte 0, +0 codes, decode to +0', () => {
    const x = new Float32Array([0, -0, 0, -0]);
    for (const format of ALL) {
      const b = quantizeBlocks(x, { format, blockSize: 2 });
      expect(Array.from(b.scales)).toEqual([0, 0]);
      expect(Array.from(blockCodes(b))).toEqual([0, 0, 0, 0]);
      for (const v of dequantizeBlocks(b).data) expect(Object.is(v, 0)).toBe(true);
    }
  });

  it('a block holding NaN or ±Inf gets scale 0xFF and decodes to NaN; other blocks are unaffected', () => {
    const x = new Float32Array([1, Number.POSITIVE_INFINITY, 2, 3, Number.NaN, 0, 4, 5]);
    for (const format of ALL) {
      const b = quantizeBlocks(x, { format, blockSize: 2 });
      expect(Array.from(b.scales.map((s) => (s === 0xff ? 1 : 0)))).toEqual([1, 0, 1, 0]);
      const y = dequantizeBlocks(b).data;
      expect([y[0], y[1], y[4], y[5]].every(Number.isNaN)).toBe(true);
      expect(Number.isNaN(y[2]!) || Number.isNaN(y[6]!)).toBe(false);
      expectLowbit(() => quantizeBlocks(x, { format, blockSize: 2, nonFinite: 'throw' }), 'E_NONFINITE');
    }
  });

  it('float32 subnormal inputs: scale clamps at 2^-127 and elements keep their bits', () => {
    const x = new Float32Array([2 ** -149, -(2 ** -140), 2 ** -130]);
    const b = quantizeBlocks(x, { format: 'bfp16', blockSize: 3 });
    expect(b.scales[0]).toBe(0); // E = −130 clamps to −127
    // LSB = 2^(−127 − 6) = 2^−133: 2^−149 and 2^−140 round to 0, 2^−130 = 8 LSB
    expect(Array.from(dequantizeBlocks(b).data)).toEqual([0, 0, 2 ** -130]);
  });

  it('ragged last block behaves like zero padding', () => {
    const x = gaussian(37, 3);
    const padded = new Float32Array(64);
    padded.set(x);
    for (const format of ALL) {
      const a = quantizeBlocks(x, { format, blockSize: 32 });
      const b = quantizeBlocks(padded, { format, blockSize: 32 });
      expect(a.scaleShape).toEqual([2]);
      expect(Array.from(a.scales)).toEqual(Array.from(b.scales));
      expect(Array.from(dequantizeBlocks(a).data)).toEqual(Array.from(dequantizeBlocks(b).data).slice(0, 37));
    }
  });

  it('blocks along axis 0 equal blocks along the last axis of the transpose', () => {
    const [R, C] = [19, 6];
    const x = spiky(R * C, 9);
    const xt = new Float32Array(R * C);
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) xt[c * R + r] = x[r * C + c]!;
    for (const format of ['mxfp4', 'bfp12', 'mxfp8_e5m2'] as const) {
      const a = quantizeBlocks(t32(x, [R, C]), { format, blockSize: 8, axis: 0 });
      const b = quantizeBlocks(t32(xt, [C, R]), { format, blockSize: 8 });
      expect(a.scaleShape).toEqual([3, C]);
      const ya = dequantizeBlocks(a).data;
      const yb = dequantizeBlocks(b).data;
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) expect(ya[r * C + c]).toBe(yb[c * R + r]);
    }
  });

  it('storage bits include the scales; FP4 packs two per byte, FP6 densely', () => {
    const x = gaussian(64, 1);
    const b4 = quantizeBlocks(x, { format: 'mxfp4' });
    expect(b4.codes.length).toBe(32);
    expect(b4.storageBits).toBe(64 * 4 + 2 * 8);
    const c4 = blockCodes(b4);
    expect(b4.codes[0]).toBe(c4[0]! | (c4[1]! << 4));
    const b6 = quantizeBlocks(x, { format: 'mxfp6_e2m3' });
    expect(b6.codes.length).toBe(48);
    const c6 = blockCodes(b6);
    expect(b6.codes[0]).toBe(c6[0]! | ((c6[1]! & 3) << 6));
    expect(b6.codes[1]).toBe((c6[1]! >> 2) | ((c6[2]! & 15) << 4));
    expect(b6.codes[2]).toBe((c6[2]! >> 4) | (c6[3]! << 2));
  });

  it('writes into caller buffers when given out', () => {
    const x = spiky(100, 6);
    const out = { scales: new Uint8Array(4), codes: new Uint8Array(50) };
    const b = quantizeBlocks(x, { format: 'mxfp4', out });
    expect(b.scales).toBe(out.scales);
    expect(b.codes).toBe(out.codes);
    expect(Array.from(b.codes)).toEqual(Array.from(quantizeBlocks(x, { format: 'mxfp4' }).codes));
    expectLowbit(
      () => quantizeBlocks(x, { format: 'mxfp4', out: { scales: new Uint8Array(3), codes: out.codes } }),
      'E_SHAPE',
    );
  });

  it('does not mutate its input', () => {
    const x = spiky(100, 4);
    const copy = x.slice();
    quantizeBlocks(x, { format: 'mxfp4', rounding: 'stochastic' });
    quantizeBlocksRef(x, { format: 'mxfp4' });
    expect(Array.from(x)).toEqual(Array.from(copy));
  });
});

describe('scale rules (bfp.md §4)', () => {
  // hand-derived: unbiased shared exponent for MXFP4 (emax 2, max normal 6, 1 mantissa bit)
  const cases: [number, Record<string, number>][] = [
    [6.5, { floor: 0, ceil: 1, even: 0, rceil: 1 }], // 1.625·4 rounds to 1.5·4 (no carry); 6.5/6 > 1
    [7, { floor: 0, ceil: 1, even: 1, rceil: 1 }], // 1.75·4 ties to 2.0·4 (even): carry
    [6, { floor: 0, ceil: 1, even: 0, rceil: 0 }], // exactly max normal: rceil keeps 2^0
    [4, { floor: 0, ceil: 0, even: 0, rceil: 0 }], // power of two: ceil = floor
    [3, { floor: -1, ceil: 0, even: -1, rceil: -1 }], // 3/6 = 0.5 = 2^-1
    [Math.fround(7.9999995), { floor: 0, ceil: 1, even: 1, rceil: 1 }],
  ];
  for (const [amax, want] of cases) {
    it(`mxfp4 amax ${amax}`, () => {
      for (const [rule, se] of Object.entries(want)) {
        for (const q of [quantizeBlocks, quantizeBlocksRef]) {
          const b = q(new Float32Array([amax, -1]), { format: 'mxfp4', blockSize: 2, scaleRule: rule as never });
          expect([rule, b.scales[0]! - 127]).toEqual([rule, se]);
          expect(b.scaleRule).toBe(rule);
        }
      }
    });
  }
  it('rceil never saturates; E4M3 464 gets 2^1 (232 = 14.5 ulps: 448 ties to even, 480 away)', () => {
    const b = quantizeBlocks(new Float32Array([464, 1]), { format: 'mxfp8_e4m3', blockSize: 2, scaleRule: 'rceil' });
    expect(b.scales[0]).toBe(128);
    expect(Array.from(dequantizeBlocks(b).data)).toEqual([448, 1]);
    const a = quantizeBlocks(new Float32Array([464, 1]), {
      format: 'mxfp8_e4m3',
      blockSize: 2,
      scaleRule: 'rceil',
      rounding: 'half-away',
    });
    expect(Array.from(dequantizeBlocks(a).data)).toEqual([480, 1]);
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: Math.fround(1e-6), max: Math.fround(1e6), noNaN: true }), {
          minLength: 1,
          maxLength: 16,
        }),
        (vals) => {
          for (const format of ['mxfp4', 'mxfp8_e5m2', 'bfp12'] as const) {
            const t = formatTraits(format);
            const b = quantizeBlocks(Float32Array.from(vals), { format, blockSize: 16, scaleRule: 'rceil' });
            const amax = Math.max(...vals.map(Math.fround));
            const X = 2 ** (b.scales[0]! - 127);
            expect(amax).toBeLessThanOrEqual(t.maxNormal * X);
            expect(amax).toBeGreaterThan((t.maxNormal * X) / 2);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
  it('rejects an unknown rule', () => {
    expectLowbit(
      () => quantizeBlocks(new Float32Array(2), { format: 'mxfp4', scaleRule: 'round' as never }),
      'E_CONFIG',
    );
  });
});

describe('stochastic rounding', () => {
  it('is seeded and reproducible, and picks one of the two neighbours', () => {
    const x = gaussian(256, 8);
    const q = (seed: number) =>
      quantizeBlocks(x, { format: 'bfp12', blockSize: 16, rounding: { mode: 'stochastic', seed } });
    expect(Array.from(q(1).codes)).toEqual(Array.from(q(1).codes));
    expect(Array.from(q(1).codes)).not.toEqual(Array.from(q(2).codes));
    expect(Array.from(quantizeBlocks(x, { format: 'bfp12', blockSize: 16, rounding: 'stochastic' }).codes)).toEqual(
      Array.from(q(0).codes),
    );
    const lo = dequantizeBlocks(quantizeBlocks(x, { format: 'bfp12', blockSize: 16, rounding: 'floor' })).data;
    const y = dequantizeBlocks(q(3)).data;
    const b = q(3);
    for (let i = 0; i < x.length; i++) {
      const lsb = 2 ** (b.scales[Math.floor(i / 16)]! - 127 - 2);
      const d = Math.abs(y[i]!) - Math.abs(lo[i]!);
      expect(d === 0 || d === lsb || Math.abs(y[i]!) === 1.75 * 2 ** (b.scales[Math.floor(i / 16)]! - 127)).toBe(true);
    }
  });

  it('is unbiased: the mean of many roundings approaches the input', () => {
    const n = 4096;
    const x = new Float32Array(n + 1).fill(0.3);
    x[n] = 1.5; // fixes the scale: E = 0, LSB = 0.25 → 0.3 = 1.2 LSB
    const y = dequantizeBlocks(
      quantizeBlocks(x, { format: 'bfp12', blockSize: n + 1, rounding: { mode: 'stochastic', seed: 9 } }),
    ).data;
    let s = 0;
    for (let i = 0; i < n; i++) {
      expect(y[i] === 0.25 || y[i] === 0.5).toBe(true);
      s += y[i]!;
    }
    expect(Math.abs(s / n - 0.3)).toBeLessThan(0.01);
  });
});

describe('properties', () => {
  const finiteF32 = (lo: number, hi: number) =>
    fc
      .tuple(fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true }), fc.boolean())
      .map(([v, neg]) => (neg ? -v : v));
  const blockArb = fc.array(fc.oneof(finiteF32(2 ** -20, 2 ** 20), fc.constant(0)), { minLength: 1, maxLength: 24 });
  const fmtArb = fc.constantFrom(...ALL);
  const modeArb = fc.constantFrom(...DETERMINISTIC);

  it('power-of-two equivariance: scale byte shifts by k, codes unchanged', () => {
    fc.assert(
      fc.property(blockArb, fmtArb, modeArb, fc.integer({ min: -30, max: 30 }), (vals, format, rounding, k) => {
        const x = Float32Array.from(vals);
        const y = x.map((v) => v * 2 ** k);
        const a = quantizeBlocks(x, { format, blockSize: 8, rounding });
        const b = quantizeBlocks(y, { format, blockSize: 8, rounding });
        expect(Array.from(b.codes)).toEqual(Array.from(a.codes));
        for (let i = 0; i < a.scales.length; i++) {
          if (a.scales[i] === 0) expect(b.scales[i]).toBe(0);
          else expect(b.scales[i]).toBe(a.scales[i]! + k);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('sign symmetry, idempotence and monotonicity', () => {
    fc.assert(
      fc.property(blockArb, fmtArb, modeArb, (vals, format, rounding) => {
        const x = Float32Array.from(vals);
        const o = { format, blockSize: 8, rounding };
        const q = dequantizeBlocks(quantizeBlocks(x, o)).data;
        const qn = dequantizeBlocks(
          quantizeBlocks(
            x.map((v) => -v),
            o,
          ),
        ).data;
        for (let i = 0; i < x.length; i++) expect(qn[i]).toBe(q[i] === 0 ? 0 : -q[i]!);
        const qq = dequantizeBlocks(quantizeBlocks(q, o)).data;
        expect(Array.from(qq)).toEqual(Array.from(q));
        for (let i = 0; i < x.length; i++)
          for (let j = 0; j < x.length; j++)
            if (Math.floor(i / 8) === Math.floor(j / 8) && x[i]! <= x[j]!) expect(q[i]!).toBeLessThanOrEqual(q[j]!);
      }),
      { numRuns: 150 },
    );
  });

  it('error bounds relative to the block maximum (BFP: 2^(2−p)·amax; MX FP: half an element ulp)', () => {
    fc.assert(
      fc.property(blockArb, fmtArb, (vals, format) => {
        const x = Float32Array.from(vals);
        const t = formatTraits(format);
        for (const rounding of DETERMINISTIC) {
          const b = quantizeBlocks(x, { format, blockSize: 8, rounding });
          const y = dequantizeBlocks(b).data;
          for (let i = 0; i < x.length; i++) {
            const X = 2 ** (b.scales[Math.floor(i / 8)]! - 127);
            const v = Math.abs(x[i]!) / X;
            const err = Math.abs(x[i]! - y[i]!);
            const e = t.kind === 'fp' && v > 0 ? Math.max(Math.floor(Math.log2(v)), 1 - t.bias) : 0;
            const ulp = 2 ** (e - t.mbits) * X;
            if (v > t.maxNormal) {
              expect(Math.abs(y[i]!)).toBe(t.maxNormal * X);
              // scaled amax < 2^(emax+1), so the clipped part is below 2^(emax+1) − maxNormal
              expect(err).toBeLessThan((2 ** (t.emax + 1) - t.maxNormal) * X);
            } else expect(err).toBeLessThanOrEqual(rounding === 'floor' ? ulp : ulp / 2);
            if (t.kind !== 'fp') {
              let amax = 0;
              for (let j = 8 * Math.floor(i / 8); j < Math.min(x.length, 8 * Math.floor(i / 8) + 8); j++)
                amax = Math.max(amax, Math.abs(x[j]!));
              expect(err).toBeLessThanOrEqual(2 ** (2 - t.elementBits) * amax);
            }
          }
        }
      }),
      { numRuns: 120 },
    );
  });
});

describe('bad input', () => {
  const x = gaussian(8, 1);
  it('throws LowbitError with the right code', () => {
    expectLowbit(() => quantizeBlocks(x, { format: 'fp4' as never }), 'E_CONFIG');
    expectLowbit(() => quantizeBlocks(x, { format: 'mxfp4', blockSize: 0 }), 'E_CONFIG');
    expectLowbit(() => quantizeBlocks(x, { format: 'mxfp4', blockSize: 2.5 }), 'E_CONFIG');
    expectLowbit(() => quantizeBlocks(x, { format: 'mxfp4', axis: 1 }), 'E_CONFIG');
    expectLowbit(() => quantizeBlocks(x, { format: 'mxfp4', rounding: 'half-up' }), 'E_CONFIG');
    expectLowbit(() => quantizeBlocks(x, { format: 'mxfp4', rounding: 'nearest' as never }), 'E_CONFIG');
    expectLowbit(() => quantizeBlocks(x, { format: 'mxfp4', nonFinite: 'zero' as never }), 'E_CONFIG');
    expectLowbit(() => quantizeBlocks(x, undefined as never), 'E_CONFIG');
    expectLowbit(() => quantizeBlocks(['1', 2] as never, { format: 'mxfp4' }), 'E_DTYPE');
    expectLowbit(() => quantizeBlocks(new Int8Array(4) as never, { format: 'mxfp4' }), 'E_DTYPE');
    expectLowbit(
      () => quantizeBlocks({ dtype: 'int8', data: new Int8Array(4), shape: [4] } as never, { format: 'mxfp4' }),
      'E_DTYPE',
    );
    expectLowbit(() => quantizeBlocks(t32(x, [3, 3]), { format: 'mxfp4' }), 'E_SHAPE');
    expectLowbit(() => quantizeBlocks(t32(new Float32Array(1), []), { format: 'mxfp4' }), 'E_SHAPE');
    const b = quantizeBlocks(x, { format: 'mxfp4', blockSize: 4 });
    expectLowbit(() => dequantizeBlocks({ ...b, codes: b.codes.subarray(1) }), 'E_SHAPE');
    expectLowbit(() => dequantizeBlocks({ ...b, scales: new Uint8Array(3) }), 'E_SHAPE');
    expectLowbit(() => dequantizeBlocks({ ...b, format: 'nope' as never }), 'E_CONFIG');
    expectLowbit(() => dequantizeBlocks(b, new Float32Array(3)), 'E_SHAPE');
  });
  it('accepts a plain number array', () => {
    const b = quantizeBlocks([1, 2, 3] as never, { format: 'bfp16', blockSize: 4 });
    expect(Array.from(dequantizeBlocks(b).data)).toEqual([1, 2, 3]);
    expect(FORMAT_TRAITS.bfp16.elementBits).toBe(8);
  });
});
