import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import { shapeSize } from '../../src/common/tensor.js';
import {
  constantGroupsArb,
  f32FromBits,
  float32TensorArb,
  float32ValueArb,
  groupSizeArb,
  mapToSize,
  outlierChannelsArb,
  quantCaseArb,
  quantConfigArb,
  shapeArb,
  tensorArb,
  withNonFinite,
} from '../../src/testing/index.js';

const SEED = { seed: 1234 };

describe('shapes and values', () => {
  it('shapeArb respects rank, dims and maxSize', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 2, maxRank: 4, maxDim: 30, maxSize: 200 }), (s) => {
        expect(s.length).toBeGreaterThanOrEqual(2);
        expect(s.length).toBeLessThanOrEqual(4);
        expect(shapeSize(s)).toBeLessThanOrEqual(200);
        for (const d of s) expect(d).toBeGreaterThanOrEqual(1);
      }),
      { ...SEED, numRuns: 200 },
    );
    expect(mapToSize([30, 30, 30], 100)).toEqual([4, 5, 5]); // shrinks the largest dimension, first one on ties
    expect(() => shapeArb({ minRank: 3, maxRank: 2 })).toThrow(LowbitError);
  });

  it('float32ValueArb gives exact float32 values and, with specials, ±0, subnormals and huge values', () => {
    const plain = fc.sample(float32ValueArb({ scale: 2 }), { seed: 1, numRuns: 500 });
    for (const v of plain) {
      expect(Math.fround(v)).toBe(v);
      expect(Math.abs(v)).toBeLessThanOrEqual(2);
    }
    const sp = fc.sample(float32ValueArb({ specials: true }), { seed: 2, numRuns: 2000 });
    for (const v of sp) expect(Math.fround(v)).toBe(v);
    expect(sp.some((v) => Object.is(v, -0))).toBe(true);
    expect(sp.some((v) => Object.is(v, 0))).toBe(true);
    expect(sp.some((v) => v !== 0 && Math.abs(v) < 2 ** -126)).toBe(true);
    expect(sp.some((v) => Math.abs(v) >= 1e30 && Number.isFinite(v))).toBe(true);
    expect(sp.every((v) => Number.isFinite(v))).toBe(true);
    const nf = fc.sample(float32ValueArb({ nonFinite: true }), { seed: 3, numRuns: 500 });
    expect(nf.some((v) => Number.isNaN(v))).toBe(true);
    expect(nf.some((v) => v === Number.POSITIVE_INFINITY)).toBe(true);
    expect(f32FromBits(1)).toBe(2 ** -149);
    expect(f32FromBits(0x80000000)).toBe(-0);
  });

  it('float32TensorArb / tensorArb produce valid tensors of the requested dtypes', () => {
    fc.assert(
      fc.property(float32TensorArb({ shape: [3, 5], specials: true }), (x) => {
        expect(x.shape).toEqual([3, 5]);
        expect(x.data).toBeInstanceOf(Float32Array);
        expect(x.data.length).toBe(15);
      }),
      { ...SEED, numRuns: 50 },
    );
    const dts = ['float16', 'bfloat16', 'int8', 'uint8', 'int32', 'int64', 'bool', 'float64'] as const;
    const seen = new Set<string>();
    fc.assert(
      fc.property(tensorArb(dts, { maxSize: 64 }), (t) => {
        seen.add(t.dtype);
        expect(t.data.length).toBe(shapeSize(t.shape));
        if (t.dtype === 'float16') for (const h of t.data as Uint16Array) expect(h & 0x7c00).not.toBe(0x7c00);
        if (t.dtype === 'bool') for (const b of t.data as Uint8Array) expect(b <= 1).toBe(true);
      }),
      { ...SEED, numRuns: 150 },
    );
    expect(seen.size).toBe(dts.length);
    expect(() => tensorArb('complex' as 'float32')).toThrow(LowbitError);
  });
});

describe('structured tensors', () => {
  it('withNonFinite injects at least one NaN/Inf into a copy', () => {
    const base = float32TensorArb({ shape: [4, 4] });
    fc.assert(
      fc.property(fc.tuple(base, fc.nat()), ([x]) => {
        const before = x.data.slice();
        const y = fc.sample(withNonFinite(fc.constant(x)), { seed: 5, numRuns: 1 })[0]!;
        expect(y.data.some((v) => !Number.isFinite(v))).toBe(true);
        expect(x.data).toEqual(before);
      }),
      { ...SEED, numRuns: 30 },
    );
  });

  it('outlierChannelsArb scales exactly the named channels', () => {
    fc.assert(
      fc.property(outlierChannelsArb({ shape: [6, 10], axis: 1, maxChannels: 3 }), ({ x, channels, factor, axis }) => {
        expect(axis).toBe(1);
        expect(channels.length).toBeGreaterThanOrEqual(1);
        expect(factor).toBeGreaterThanOrEqual(10);
        // the same draw without scaling is not available, so check the magnitude pattern instead
        let outMax = 0;
        let inMax = 0;
        for (let i = 0; i < x.data.length; i++) {
          const c = i % 10;
          const v = Math.abs(x.data[i]!);
          if (channels.includes(c)) outMax = Math.max(outMax, v);
          else inMax = Math.max(inMax, v);
        }
        expect(inMax).toBeLessThanOrEqual(4);
        if (outMax > 0) expect(outMax).toBeLessThanOrEqual(4 * factor);
      }),
      { ...SEED, numRuns: 50 },
    );
    // across runs, outlier magnitudes really exceed the base range
    const cases = fc.sample(outlierChannelsArb({ shape: [8, 8] }), { seed: 9, numRuns: 20 });
    expect(cases.some(({ x }) => x.data.some((v) => Math.abs(v) > 4))).toBe(true);
  });

  it('constantGroupsArb makes at least one group constant, with ragged groups along any axis', () => {
    fc.assert(
      fc.property(constantGroupsArb({ shape: [3, 10, 2], axis: 1, groupSize: 4 }), (x) => {
        // groups along axis 1: l in [0,4), [4,8), [8,10) for each (i, j)
        let constant = 0;
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 2; j++)
            for (const [a, b] of [
              [0, 4],
              [4, 8],
              [8, 10],
            ] as const) {
              const v0 = x.data[(i * 10 + a) * 2 + j]!;
              let same = true;
              for (let l = a; l < b; l++) same &&= Object.is(x.data[(i * 10 + l) * 2 + j], v0);
              if (same) constant++;
            }
        expect(constant).toBeGreaterThanOrEqual(1);
      }),
      { ...SEED, numRuns: 60 },
    );
  });
});

describe('quantizer configurations', () => {
  it('groupSizeArb covers divisors, non-divisors and sizes beyond the line', () => {
    const g = fc.sample(groupSizeArb(12), { seed: 4, numRuns: 300 });
    expect(g.some((v) => 12 % v === 0)).toBe(true);
    expect(g.some((v) => v < 12 && 12 % v !== 0)).toBe(true);
    expect(g.some((v) => v > 12)).toBe(true);
    expect(g.every((v) => Number.isInteger(v) && v >= 1)).toBe(true);
  });

  it('quantConfigArb draws every rounding mode, both schemes, axes in range, never 1-bit symmetric', () => {
    const cs = fc.sample(quantConfigArb({ rank: 3 }), { seed: 6, numRuns: 400 });
    const modes = new Set(cs.map((c) => (typeof c.rounding === 'string' ? c.rounding : c.rounding.mode)));
    expect(modes.size).toBe(5);
    expect(cs.some((c) => c.symmetric)).toBe(true);
    expect(cs.some((c) => !c.symmetric)).toBe(true);
    expect(cs.some((c) => c.groupSize === 33)).toBe(true);
    for (const c of cs) {
      if (c.axis !== undefined) expect(c.axis >= -3 && c.axis < 3).toBe(true);
      if (c.symmetric) expect(c.bits).toBeGreaterThanOrEqual(2);
      expect(c.bits >= 1 && c.bits <= 8).toBe(true);
    }
  });

  it('quantCaseArb: configs fit their tensors, with ragged groups among them', () => {
    const cases = fc.sample(quantCaseArb({ maxSize: 64 }), { seed: 7, numRuns: 300 });
    let ragged = 0;
    for (const { x, config } of cases) {
      const rank = x.shape.length;
      if (config.axis !== undefined) expect(config.axis >= -rank && config.axis < rank).toBe(true);
      const len = config.axis === undefined ? x.data.length : x.shape[(config.axis + rank) % rank]!;
      if (config.groupSize !== undefined && len % config.groupSize !== 0) ragged++;
    }
    expect(ragged).toBeGreaterThan(10);
  });
});
