import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AffineOptions,
  type AffineQuantized,
  dequantizeAffine,
  dequantizeAffineRef,
  quantizeAffine,
  quantizeAffineRef,
} from '../../src/common/affine.js';
import { isLowbitError, type LowbitErrorCode } from '../../src/common/errors.js';
import { createRng, type Rounding } from '../../src/common/rounding.js';
import { type Float32Tensor, float32, shapeSize } from '../../src/common/tensor.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/affine/affine-numpy.json');

function throwsCode(fn: () => unknown, code: LowbitErrorCode): void {
  try {
    fn();
  } catch (e) {
    if (!isLowbitError(e, code)) throw new Error(`expected ${code}, got ${String(e)}`);
    return;
  }
  throw new Error(`expected ${code}, nothing thrown`);
}

const plus0 = (v: number) => v + 0;
const u32 = (a: Float32Array) => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

/** Bit-exact equality of two results (codes, scale and zero bits, metadata). */
function expectSame(a: AffineQuantized, b: AffineQuantized): void {
  expect(a.codes.constructor).toBe(b.codes.constructor);
  expect([...a.codes]).toEqual([...b.codes]);
  expect(u32(a.scales)).toEqual(u32(b.scales));
  expect(u32(a.zeros)).toEqual(u32(b.zeros));
  expect({ ...a, codes: 0, scales: 0, zeros: 0 }).toEqual({ ...b, codes: 0, scales: 0, zeros: 0 });
}

/** A deterministic random float32 tensor with some repeated values, constant groups and zeros. */
function randomTensor(shape: number[], seed: number, scale = 1): Float32Tensor {
  const n = shapeSize(shape);
  const rnd = createRng(seed);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rnd();
    d[i] = u < 0.05 ? 0 : u < 0.08 ? -0 : u < 0.12 ? 1.5 * scale : (rnd() * 2 - 1) * scale * (u < 0.14 ? 40 : 1);
  }
  return float32(d, shape);
}

const MODES: Rounding[] = ['half-even', 'half-away', 'half-up', 'floor', { mode: 'stochastic', seed: 3 }];

// ---------------------------------------------------------------------------------------------------

describe('quantizeAffine: hand-derived examples and layout', () => {
  it('per-row 2-bit (module example)', () => {
    const x = float32([0, 1, 2, 3, -4, 0, 4, 8], [2, 4]);
    const q = quantizeAffine(x, { bits: 2, axis: 1 });
    expect([...q.codes]).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect([...q.scales]).toEqual([1, 4]);
    expect([...q.zeros]).toEqual([0, -4]);
    expect(q.scaleShape).toEqual([2, 1]);
    expect(q.codes).toBeInstanceOf(Uint8Array);
    expect([...dequantizeAffine(q).data]).toEqual([0, 1, 2, 3, -4, 0, 4, 8]);
  });
  it('ties are rounded by the policy (0.5 steps)', () => {
    // group [0, 3]: s = 1 at 2 bits; 0.5, 1.5, 2.5 are exact ties
    const x = float32([0, 0.5, 1.5, 2.5, 3]);
    const want: Record<string, number[]> = {
      'half-even': [0, 0, 2, 2, 3],
      'half-away': [0, 1, 2, 3, 3],
      'half-up': [0, 1, 2, 3, 3],
      floor: [0, 0, 1, 2, 3],
    };
    for (const [mode, codes] of Object.entries(want)) {
      expect([...quantizeAffine(x, { bits: 2, rounding: mode as Rounding }).codes]).toEqual(codes);
      expect([...quantizeAffineRef(x, { bits: 2, rounding: mode as Rounding }).codes]).toEqual(codes);
    }
    // symmetric negative ties: x / s = -0.5, -1.5 with s = 1 (absmax 3 at 3 bits)
    const y = float32([-0.5, -1.5, 3]);
    expect([...quantizeAffine(y, { bits: 3, symmetric: true }).codes]).toEqual([0, -2, 3]);
    expect([...quantizeAffine(y, { bits: 3, symmetric: true, rounding: 'half-away' }).codes]).toEqual([-1, -2, 3]);
    expect([...quantizeAffine(y, { bits: 3, symmetric: true, rounding: 'half-up' }).codes]).toEqual([0, -1, 3]);
  });
  it('scale shapes for every granularity, ragged groups', () => {
    const x = randomTensor([2, 5, 3], 1);
    expect(quantizeAffine(x, { bits: 4 }).scaleShape).toEqual([1]);
    expect(quantizeAffine(x, { bits: 4, groupSize: 7 }).scaleShape).toEqual([5]); // 30 / 7 → 5 groups
    expect(quantizeAffine(x, { bits: 4, axis: 1 }).scaleShape).toEqual([2, 1, 3]);
    const q = quantizeAffine(x, { bits: 4, axis: -2, groupSize: 2 });
    expect(q.axis).toBe(1);
    expect(q.groupSize).toBe(2);
    expect(q.scaleShape).toEqual([2, 3, 3]);
    expect(q.scales.length).toBe(18);
    // parameter (o, g, i) = min over x[o, 2g .. 2g+1, i]; the last group (g = 2) holds x[o, 4, i] only
    for (let o = 0; o < 2; o++)
      for (let g = 0; g < 3; g++)
        for (let i = 0; i < 3; i++) {
          const vals: number[] = [];
          for (let l = 2 * g; l < Math.min(5, 2 * g + 2); l++) vals.push(x.data[(o * 5 + l) * 3 + i]!);
          expect(q.zeros[(o * 3 + g) * 3 + i]).toBe(Math.min(...vals));
        }
  });
  it('rank-0 and empty tensors', () => {
    const s = quantizeAffine(float32([2.5], []), { bits: 4 });
    expect([...s.codes]).toEqual([0]);
    expect(dequantizeAffine(s).data[0]).toBe(2.5);
    expect(dequantizeAffine(s).shape).toEqual([]);
    const e = quantizeAffine(float32(new Float32Array(0), [3, 0]), { bits: 4, axis: 1, groupSize: 2 });
    expect(e.scales.length).toBe(0);
    expect(dequantizeAffine(e).data.length).toBe(0);
    const e2 = quantizeAffine(float32(new Float32Array(0), [0]), { bits: 4 });
    expect(dequantizeAffine(e2).data.length).toBe(0);
  });
  it('code dtypes', () => {
    const x = randomTensor([8], 2);
    expect(quantizeAffine(x, { bits: 8 }).codes).toBeInstanceOf(Uint8Array);
    expect(quantizeAffine(x, { bits: 8, symmetric: true }).codes).toBeInstanceOf(Int8Array);
    expect(quantizeAffine(x, { bits: 9 }).codes).toBeInstanceOf(Uint16Array);
    expect(quantizeAffine(x, { bits: 16, symmetric: true }).codes).toBeInstanceOf(Int16Array);
    expect(quantizeAffine(x, { bits: 8, symmetric: true }).zeros.length).toBe(0);
  });
  it('symmetric never uses −2^(b−1)', () => {
    const x = float32([-1, -0.999, 1]);
    const q = quantizeAffine(x, { bits: 4, symmetric: true, rounding: 'floor' });
    expect(Math.min(...q.codes)).toBe(-7);
  });
});

describe('quantizeAffine: validation and non-finite policy', () => {
  const x = randomTensor([4, 6], 3);
  it('bad options throw E_CONFIG', () => {
    for (const opts of [
      { bits: 0 },
      { bits: 17 },
      { bits: 2.5 },
      { bits: 1, symmetric: true },
      { bits: 4, symmetric: true, zeroPoint: 'int' },
      { bits: 4, zeroPoint: 'weird' },
      { bits: 4, axis: 2 },
      { bits: 4, axis: -3 },
      { bits: 4, axis: 0.5 },
      { bits: 4, axis: 1, groupSize: 0 },
      { bits: 4, groupSize: 1.5 },
      { bits: 4, rounding: 'nearest' },
    ] as unknown as AffineOptions[]) {
      throwsCode(() => quantizeAffine(x, opts), 'E_CONFIG');
      throwsCode(() => quantizeAffineRef(x, opts), 'E_CONFIG');
    }
  });
  it('wrong dtype / length', () => {
    throwsCode(
      () => quantizeAffine({ dtype: 'float32', data: new Float64Array(2), shape: [2] } as never, { bits: 4 }),
      'E_DTYPE',
    );
    throwsCode(
      () => quantizeAffine({ dtype: 'float32', data: new Float32Array(3), shape: [2] }, { bits: 4 }),
      'E_SHAPE',
    );
  });
  it('NaN / ±Inf anywhere throw E_NONFINITE (fast and Ref, every layout), input untouched', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const pos of [0, 7, 23]) {
        const d = x.data.slice();
        d[pos] = bad;
        const copy = d.slice();
        for (const opts of [{ bits: 4 }, { bits: 4, axis: 0, groupSize: 3 }, { bits: 4, axis: 1, symmetric: true }]) {
          throwsCode(() => quantizeAffine(float32(d, [4, 6]), opts), 'E_NONFINITE');
          throwsCode(() => quantizeAffineRef(float32(d, [4, 6]), opts), 'E_NONFINITE');
        }
        expect(u32(d)).toEqual(u32(copy));
      }
    }
  });
  it('a range that overflows float32 throws E_NONFINITE', () => {
    const big = float32([-3e38, 3e38]);
    throwsCode(() => quantizeAffine(big, { bits: 4 }), 'E_NONFINITE');
    throwsCode(() => quantizeAffineRef(big, { bits: 4, zeroPoint: 'int' }), 'E_NONFINITE');
    expect(quantizeAffine(big, { bits: 4, symmetric: true }).scales[0]).toBe(Math.fround(3e38 / 7));
  });
  it('dequantize rejects inconsistent objects', () => {
    const q = quantizeAffine(x, { bits: 4, axis: 1, groupSize: 4 });
    throwsCode(() => dequantizeAffine({ ...q, scales: new Float32Array(3) }), 'E_SHAPE');
    throwsCode(() => dequantizeAffine({ ...q, zeros: new Float32Array(0) }), 'E_SHAPE');
    throwsCode(() => dequantizeAffine({ ...q, codes: new Int8Array(24) }), 'E_DTYPE');
    throwsCode(() => dequantizeAffine({ ...q, codes: new Uint8Array(23) }), 'E_SHAPE');
    throwsCode(() => dequantizeAffine({ ...q, bits: 0 }), 'E_CONFIG');
    throwsCode(() => dequantizeAffine({ ...q, zeroPoint: 'none' }), 'E_CONFIG');
    throwsCode(() => dequantizeAffineRef({ ...q, axis: 5 }), 'E_CONFIG');
  });
});

describe('quantizeAffine: numpy cross-check (test/fixtures/affine)', () => {
  interface Case {
    name: string;
    shape: number[];
    options: AffineOptions;
    x: number[];
    codes: number[];
    scaleShape: number[];
    scales: number[];
    zeros: number[];
    dequant: number[];
  }
  const cases = (JSON.parse(readFileSync(FIX, 'utf8')) as { cases: Case[] }).cases;
  it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(10));
  for (const c of cases) {
    it(c.name, () => {
      const x = float32(c.x, c.shape);
      for (const [quant, deq] of [
        [quantizeAffine, dequantizeAffine],
        [quantizeAffineRef, dequantizeAffineRef],
      ] as const) {
        const q = quant(x, c.options);
        expect([...q.codes]).toEqual(c.codes);
        expect(q.scaleShape).toEqual(c.scaleShape);
        expect([...q.scales]).toEqual(c.scales);
        // numpy keeps −0 where lowbit has +0 (integer codes carry no sign of zero): compare values
        expect([...q.zeros].map(plus0)).toEqual(c.zeros.map(plus0));
        expect([...deq(q).data].map(plus0)).toEqual(c.dequant.map(plus0));
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------

const shapeArb = fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 });
const configArb = fc.record({
  bits: fc.integer({ min: 1, max: 16 }),
  scheme: fc.constantFrom('float', 'int', 'sym'),
  axisPick: fc.integer({ min: -1, max: 3 }),
  group: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
  rounding: fc.constantFrom(...MODES),
});

function optsFor(
  shape: number[],
  cfg: { bits: number; scheme: string; axisPick: number; group: number | undefined; rounding: Rounding },
): AffineOptions {
  const bits = cfg.scheme === 'sym' && cfg.bits === 1 ? 2 : cfg.bits;
  const o: { -readonly [K in keyof AffineOptions]: AffineOptions[K] } = { bits, rounding: cfg.rounding };
  if (cfg.scheme === 'sym') o.symmetric = true;
  if (cfg.scheme === 'int') o.zeroPoint = 'int';
  if (cfg.axisPick >= 0) o.axis = cfg.axisPick % shape.length;
  if (cfg.group !== undefined) o.groupSize = cfg.group;
  return o;
}

describe('quantizeAffine fast path ≡ quantizeAffineRef (bit-exact)', () => {
  it('random shapes, axes, group sizes (incl. non-divisors), bits 1..16, every scheme and rounding', () => {
    let seed = 100;
    fc.assert(
      fc.property(shapeArb, configArb, (shape, cfg) => {
        const x = randomTensor(shape, seed++, 2 ** ((seed % 7) - 3));
        const opts = optsFor(shape, cfg);
        const before = u32(x.data);
        const a = quantizeAffine(x, opts);
        const b = quantizeAffineRef(x, opts);
        expectSame(a, b);
        expect(u32(dequantizeAffine(a).data)).toEqual(u32(dequantizeAffineRef(b).data));
        expect(u32(x.data)).toEqual(before);
      }),
      { numRuns: 400 },
    );
  });
  it('many small groups with unrelated scales (the fast path multiplies by 1/s, the Ref divides)', () => {
    const rnd = createRng(4242);
    const n = 96 * 1024;
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = (rnd() - 0.3) * 2 ** Math.floor(rnd() * 40 - 20);
    const x = float32(d, [96, 1024]);
    for (const bits of [2, 3, 4, 8, 16]) {
      for (const o of [{}, { zeroPoint: 'int' }, { symmetric: true }] as Partial<AffineOptions>[]) {
        const opts = { ...o, bits, axis: 1, groupSize: 3 };
        const a = quantizeAffine(x, opts).codes;
        const b = quantizeAffineRef(x, opts).codes;
        let bad = 0;
        for (let i = 0; i < n; i++) if (a[i] !== b[i]) bad++;
        expect(bad).toBe(0);
      }
    }
  });
  it('KIVI-like and weight-like shapes', () => {
    const k = randomTensor([2, 48, 16], 9);
    for (const opts of [
      { bits: 2, axis: 1, groupSize: 32 },
      { bits: 4, axis: 2, groupSize: 16 },
      { bits: 8, symmetric: true, axis: -1 },
      { bits: 3, zeroPoint: 'int', axis: 0 },
      { bits: 4, axis: 1, groupSize: 5, rounding: { mode: 'stochastic', seed: 11 } },
    ] as AffineOptions[]) {
      expectSame(quantizeAffine(k, opts), quantizeAffineRef(k, opts));
    }
  });
});

// ---------------------------------------------------------------------------------------------------

/** Per-element parameter index (independent plain decomposition for the property checks). */
function paramOf(q: AffineQuantized, e: number): number {
  if (q.axis === null) return Math.floor(e / q.groupSize);
  let inner = 1;
  for (let d = q.axis + 1; d < q.shape.length; d++) inner *= q.shape[d]!;
  const len = q.shape[q.axis]!;
  const ng = q.scaleShape[q.axis]!;
  const i = e % inner;
  const l = Math.floor(e / inner) % len;
  const o = Math.floor(e / (inner * len));
  return (o * ng + Math.floor(l / q.groupSize)) * inner + i;
}

describe('quantizeAffine properties', () => {
  const deterministic = fc.constantFrom<Rounding>('half-even', 'half-away', 'half-up');
  it('codes in range and |x − x̂| ≤ s/2 (float zero, symmetric) or ≤ s (int zero) + float32 slack', () => {
    let seed = 500;
    fc.assert(
      fc.property(shapeArb, configArb, (shape, cfg) => {
        const x = randomTensor(shape, seed++);
        const c = { ...cfg, rounding: cfg.rounding === 'floor' ? 'half-even' : cfg.rounding };
        const opts = optsFor(shape, c);
        const q = quantizeAffine(x, opts);
        const xh = dequantizeAffine(q).data;
        const sym = opts.symmetric === true;
        const qmax = sym ? 2 ** (opts.bits - 1) - 1 : 2 ** opts.bits - 1;
        const stochastic = typeof c.rounding === 'object';
        for (let e = 0; e < x.data.length; e++) {
          const k = q.codes[e]!;
          expect(Number.isInteger(k) && k >= (sym ? -qmax : 0) && k <= qmax).toBe(true);
          const s = q.scales[paramOf(q, e)]!;
          const bound = ((stochastic ? 1 : 0.5) + (opts.zeroPoint === 'int' ? 0.5 : 0)) * s;
          const slack = 2 ** -20 * (Math.abs(x.data[e]!) + qmax * s) + 1e-30;
          expect(Math.abs(x.data[e]! - xh[e]!)).toBeLessThanOrEqual(bound + slack);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('quantize ∘ dequantize ∘ quantize = quantize (float zero point and symmetric, deterministic rounding)', () => {
    let seed = 900;
    fc.assert(
      fc.property(shapeArb, configArb, deterministic, (shape, cfg, rounding) => {
        const x = randomTensor(shape, seed++);
        const opts = optsFor(shape, { ...cfg, scheme: cfg.scheme === 'int' ? 'float' : cfg.scheme, rounding });
        const q1 = quantizeAffine(x, opts);
        const q2 = quantizeAffine(dequantizeAffine(q1), opts);
        expect([...q2.codes]).toEqual([...q1.codes]);
        for (let p = 0; p < q1.scales.length; p++) {
          expect(Math.abs(q2.scales[p]! - q1.scales[p]!)).toBeLessThanOrEqual(q1.scales[p]! * 2 ** -21);
        }
        expect([...q2.zeros].map(plus0)).toEqual([...q1.zeros].map(plus0));
      }),
      { numRuns: 300 },
    );
  });
  it('integer zero point: re-quantizing the reconstruction keeps the codes (random data)', () => {
    let seed = 1300;
    let same = 0;
    let total = 0;
    fc.assert(
      fc.property(shapeArb, configArb, (shape, cfg) => {
        const x = randomTensor(shape, seed++);
        const opts = optsFor(shape, { ...cfg, scheme: 'int', rounding: 'half-even' });
        const q1 = quantizeAffine(x, opts);
        const q2 = quantizeAffine(dequantizeAffine(q1), opts);
        total++;
        if ([...q2.codes].every((k, i) => k === q1.codes[i])) same++;
      }),
      { numRuns: 200 },
    );
    // Exact ties at the range end can shrink the range once (documented); it must be rare.
    expect(same / total).toBeGreaterThan(0.9);
  });
  it('integer zero point: the documented tie case that breaks idempotence', () => {
    const q1 = quantizeAffine(float32([-2.5, 4.5, 0]), { bits: 3, zeroPoint: 'int' });
    expect([...q1.codes, q1.scales[0], q1.zeros[0]]).toEqual([0, 6, 2, 1, 2]); // z = rne(2.5) = 2, 6.5 → 6
    const q2 = quantizeAffine(dequantizeAffine(q1), { bits: 3, zeroPoint: 'int' });
    expect([...q2.codes]).toEqual([0, 7, 2]);
  });
  it('constant groups are reconstructed exactly (float zero point), all-zero groups in every scheme', () => {
    fc.assert(
      fc.property(
        fc.float({ min: Math.fround(-1e30), max: Math.fround(1e30), noNaN: true }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom(...MODES),
        (c, bits, n, rounding) => {
          const x = float32(new Float32Array(n).fill(c), [n]);
          const q = quantizeAffine(x, { bits, rounding });
          expect([...q.codes].every((k) => k === 0)).toBe(true);
          expect([...dequantizeAffine(q).data].every((v) => v === c)).toBe(true);
          const z = float32(new Float32Array(n), [n]);
          for (const o of [
            { bits: Math.max(2, bits), symmetric: true },
            { bits, zeroPoint: 'int' },
          ] as AffineOptions[]) {
            const qz = quantizeAffine(z, { ...o, rounding });
            expect([...dequantizeAffine(qz).data].every((v) => v === 0)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
  it('equivariance under power-of-two scaling: same codes, scales and zeros × 2^k', () => {
    let seed = 1700;
    fc.assert(
      fc.property(shapeArb, configArb, fc.integer({ min: -20, max: 20 }), (shape, cfg, k) => {
        const x = randomTensor(shape, seed++); // |x| ≤ 40: far from overflow and subnormals
        const f = 2 ** k;
        const y = float32(
          x.data.map((v) => v * f),
          shape,
        );
        const opts = optsFor(shape, cfg);
        const qx = quantizeAffine(x, opts);
        const qy = quantizeAffine(y, opts);
        expect([...qy.codes]).toEqual([...qx.codes]);
        expect([...qy.scales]).toEqual([...qx.scales].map((s) => s * f));
        expect([...qy.zeros]).toEqual([...qx.zeros].map((z) => (opts.zeroPoint === 'int' ? z : z * f)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('stochastic rounding', () => {
  it('reproducible by seed, different seeds differ', () => {
    const x = randomTensor([64, 32], 77);
    const a = quantizeAffine(x, { bits: 2, axis: 1, rounding: { mode: 'stochastic', seed: 5 } });
    const b = quantizeAffine(x, { bits: 2, axis: 1, rounding: { mode: 'stochastic', seed: 5 } });
    const c = quantizeAffine(x, { bits: 2, axis: 1, rounding: { mode: 'stochastic', seed: 6 } });
    expect([...a.codes]).toEqual([...b.codes]);
    expect([...a.codes]).not.toEqual([...c.codes]);
    expect(a.rounding).toEqual({ mode: 'stochastic', seed: 5 });
  });
  it('unbiased: the mean of x̂ over many seeds approaches x (wide deterministic bound)', () => {
    // 2-bit grid on [0, 3] (s = 1): x = 1.3 rounds to 1 w.p. 0.7 and to 2 w.p. 0.3.
    const x = float32([0, 1.3, 0.25, 2.9, 3]);
    const runs = 4000;
    const sum = new Float64Array(5);
    for (let seed = 0; seed < runs; seed++) {
      const d = dequantizeAffine(quantizeAffine(x, { bits: 2, rounding: { mode: 'stochastic', seed } })).data;
      for (let i = 0; i < 5; i++) sum[i] = sum[i]! + d[i]!;
    }
    // std of one draw ≤ 0.5, so the std of the mean ≤ 0.5/√4000 ≈ 0.008; allow 6σ
    for (let i = 0; i < 5; i++) expect(Math.abs(sum[i]! / runs - x.data[i]!)).toBeLessThan(0.05);
    expect(sum[0]).toBe(0); // min and max map to themselves exactly
    expect(sum[4]).toBe(3 * runs);
  });
});

describe('out buffers', () => {
  it('quantizeAffine writes into opts.out and dequantizeAffine into out, identical to fresh results', () => {
    const x = float32(
      Array.from({ length: 6 * 50 }, (_, i) => Math.cos(i * 0.61) * 5),
      [6, 50],
    );
    for (const o of [
      { bits: 4, axis: -1, groupSize: 16 },
      { bits: 3, symmetric: true, axis: 0 },
      { bits: 12, zeroPoint: 'int' as const },
      { bits: 2, axis: 1, groupSize: 7 },
    ]) {
      const q = quantizeAffine(x, o);
      const C = q.codes.constructor as new (n: number) => typeof q.codes;
      const out = {
        codes: new C(q.codes.length).fill(9),
        scales: new Float32Array(q.scales.length).fill(9),
        zeros: new Float32Array(q.zeros.length).fill(9),
      };
      const r = quantizeAffine(x, { ...o, out });
      expect(r.codes).toBe(out.codes);
      expect([...r.codes]).toEqual([...q.codes]);
      expect([...r.scales]).toEqual([...q.scales]);
      expect([...r.zeros]).toEqual([...q.zeros]);
      const d = new Float32Array(x.data.length).fill(Number.NaN);
      const xh = dequantizeAffine(q, d);
      expect(xh.data).toBe(d);
      expect([...d]).toEqual([...dequantizeAffineRef(q).data]);
    }
  });

  it('wrong types → E_DTYPE, wrong lengths → E_SHAPE', () => {
    const x = float32(new Float32Array(40).fill(1), [4, 10]);
    const o = { bits: 4, axis: -1 };
    const ok = { codes: new Uint8Array(40), scales: new Float32Array(4), zeros: new Float32Array(4) };
    expect(quantizeAffine(x, { ...o, out: ok }).codes).toBe(ok.codes);
    throwsCode(() => quantizeAffine(x, { ...o, out: { ...ok, codes: new Int8Array(40) } }), 'E_DTYPE');
    throwsCode(() => quantizeAffine(x, { ...o, out: { ...ok, zeros: new Float32Array(3) } }), 'E_SHAPE');
    throwsCode(() => dequantizeAffine(quantizeAffine(x, o), new Float32Array(39)), 'E_SHAPE');
  });
});
