/**
 * quantizeKeys / quantizeValues / dequantize: numpy goldens (float32 and float16 metadata, constant
 * groups, an outlier), hand-derived golden words, fast = Ref bit-exactly, and the spec's invariants
 * (kivi.md §10: bound, code range/endpoints, constant groups, axis locality, affine equivariance,
 * packing, bits monotonicity, determinism).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLowbitError, type LowbitErrorCode } from '../../src/common/errors.js';
import { f16ToF32Array } from '../../src/common/half.js';
import { unpackBits } from '../../src/common/packing.js';
import type { Rounding } from '../../src/common/rounding.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import {
  dequantize,
  dequantizeRef,
  type KiviBits,
  type QuantizedKeys,
  type QuantizedValues,
  quantizeKeys,
  quantizeKeysRef,
  quantizeValues,
  quantizeValuesRef,
} from '../../src/kivi/index.js';

const here = dirname(fileURLToPath(import.meta.url));

const t32 = (data: ArrayLike<number>, shape: number[]): Float32Tensor => ({
  dtype: 'float32',
  data: Float32Array.from(data),
  shape,
});
const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const meta = (a: Float32Array | Uint16Array) => (a instanceof Uint16Array ? f16ToF32Array(a) : a);

function expectCode(fn: () => unknown, code: LowbitErrorCode): void {
  try {
    fn();
  } catch (e) {
    expect(isLowbitError(e, code), `expected ${code}, got ${String(e)}`).toBe(true);
    return;
  }
  throw new Error(`expected ${code}, nothing thrown`);
}

describe('numpy goldens (test/fixtures/kivi/kivi-numpy-golden.json)', () => {
  interface G {
    bits: KiviBits;
    group: number;
    scaleDtype: 'float32' | 'float16';
    k_words: number[];
    k_scale: number[];
    k_min: number[];
    k_dequant: number[];
    v_words: number[];
    v_scale: number[];
    v_min: number[];
    v_dequant: number[];
  }
  const fx = JSON.parse(readFileSync(join(here, '../fixtures/kivi/kivi-numpy-golden.json'), 'utf8')) as {
    shape: number[];
    input: number[];
    cases: G[];
  };
  const x = t32(fx.input, fx.shape);
  for (const c of fx.cases) {
    const opts = { bits: c.bits, groupSize: c.group, scaleDtype: c.scaleDtype } as const;
    it(`${c.bits}-bit G${c.group} ${c.scaleDtype} metadata: keys and values bit-exact`, () => {
      const qs: [QuantizedKeys | QuantizedValues, string][] = [
        [quantizeKeys(x, opts), 'k'],
        [quantizeKeysRef(x, opts), 'k'],
        [quantizeValues(x, opts), 'v'],
        [quantizeValuesRef(x, opts), 'v'],
      ];
      for (const [q, p] of qs) {
        const g = c as unknown as Record<string, number[]>;
        expect(q.scales).toBeInstanceOf(c.scaleDtype === 'float16' ? Uint16Array : Float32Array);
        expect(Array.from(q.codes)).toEqual(g[`${p}_words`]);
        expect(bitsOf(meta(q.scales))).toEqual(bitsOf(Float32Array.from(g[`${p}_scale`]!)));
        expect(bitsOf(meta(q.mins))).toEqual(bitsOf(Float32Array.from(g[`${p}_min`]!)));
        expect(bitsOf(dequantize(q).data)).toEqual(bitsOf(Float32Array.from(g[`${p}_dequant`]!)));
        expect(bitsOf(dequantizeRef(q).data)).toEqual(bitsOf(Float32Array.from(g[`${p}_dequant`]!)));
      }
    });
  }
});

describe('golden words (kivi.md §3, hand-derived)', () => {
  // Values 0..qmax with min 0 and max qmax give s = 1 and code = value.
  it('2-bit codes [1,2,3,0, 3×12] → 0xFFFFFF39 (−199 as int32), along channels and along tokens', () => {
    const codes = [1, 2, 3, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3];
    const v = quantizeValues(t32(codes, [1, 16]), { bits: 2, groupSize: 16 });
    expect(Array.from(v.codes)).toEqual([0xffffff39]);
    expect(v.codes[0]! | 0).toBe(-199);
    const k = quantizeKeys(t32(codes, [16, 1]), { bits: 2, groupSize: 16 });
    expect(Array.from(k.codes)).toEqual([0xffffff39]);
  });
  it('4-bit codes [0..15] → 0x76543210, 0xFEDCBA98', () => {
    const codes = Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(quantizeValues(t32(codes, [1, 16]), { bits: 4, groupSize: 16 }).codes)).toEqual([
      0x76543210, 0xfedcba98,
    ]);
    expect(Array.from(quantizeKeys(t32(codes, [16, 1]), { bits: 4, groupSize: 16 }).codes)).toEqual([
      0x76543210, 0xfedcba98,
    ]);
  });
  it('rounds half to even: x = [0, 0.5, 1.5, 2.5, 3] with s = 1 → codes [0, 0, 2, 2, 3]', () => {
    // one key channel, 16 tokens: min 0, max 3 → s = 1; t = x exactly
    const x = [0, 0.5, 1.5, 2.5, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const q = quantizeKeys(t32(x, [16, 1]), { bits: 2, groupSize: 16 });
    expect(Array.from(unpackBits(q.codes, 2, 16)).slice(0, 5)).toEqual([0, 0, 2, 2, 3]);
    const qa = quantizeKeys(t32(x, [16, 1]), { bits: 2, groupSize: 16, rounding: 'half-away' });
    expect(Array.from(unpackBits(qa.codes, 2, 16)).slice(0, 5)).toEqual([0, 1, 2, 3, 3]);
  });
  it('constant group: scale 0, codes 0, exact reconstruction (no NaN)', () => {
    const x = new Array(32).fill(-3.140625);
    for (const q of [
      quantizeKeys(t32(x, [32, 1]), { bits: 2, groupSize: 32 }),
      quantizeValues(t32(x, [1, 32]), { bits: 2, groupSize: 32 }),
    ]) {
      expect(Array.from(q.codes)).toEqual([0, 0]);
      expect(meta(q.scales)[0]).toBe(0);
      expect(Array.from(dequantize(q).data)).toEqual(x);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Random data generators: shapes that satisfy the constraints, mixed edge values.

const f32 = Math.fround;
const edgeValue = fc.oneof(
  { weight: 8, arbitrary: fc.float({ min: f32(-4), max: f32(4), noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 1e-40, -1e-40, f32(1e-30), f32(3e4), f32(-1e6)) },
  { weight: 1, arbitrary: fc.float({ min: f32(-1e30), max: f32(1e30), noNaN: true }) },
);

interface Case {
  bits: KiviBits;
  G: number;
  S: number;
  T: number;
  D: number;
  data: number[];
  rounding: Rounding;
  f16: boolean;
}

const caseArb = (axis: 'keys' | 'values', allowF16 = true) =>
  fc
    .record({
      bits: fc.constantFrom<KiviBits>(2, 4, 8),
      gMul: fc.integer({ min: 1, max: 2 }),
      S: fc.integer({ min: 1, max: 2 }),
      n: fc.integer({ min: 1, max: 2 }),
      other: fc.integer({ min: 1, max: 5 }),
      rounding: fc.constantFrom<Rounding>('half-even', 'half-away', 'half-up', 'floor', {
        mode: 'stochastic',
        seed: 3,
      }),
      f16: allowF16 ? fc.boolean() : fc.constant(false),
      seed: fc.integer(),
    })
    .chain((r) => {
      const G = (32 / r.bits) * r.gMul;
      const T = axis === 'keys' ? G * r.n : r.other;
      const D = axis === 'keys' ? r.other : G * r.n;
      const n = r.S * T * D;
      return fc
        .array(edgeValue, { minLength: n, maxLength: n })
        .map((data): Case => ({ bits: r.bits, G, S: r.S, T, D, data, rounding: r.rounding, f16: r.f16 }));
    });

const lim16 = (data: number[]) => data.map((v) => Math.max(-60000, Math.min(60000, v)));

describe('fast kernels = Ref twins, bit-exact', () => {
  it('keys: random shapes, bits, rounding policies, f32/f16 metadata, edge values', () => {
    fc.assert(
      fc.property(caseArb('keys'), (c) => {
        const x = t32(c.f16 ? lim16(c.data) : c.data, [c.S, c.T, c.D]);
        const o = {
          bits: c.bits,
          groupSize: c.G,
          rounding: c.rounding,
          scaleDtype: c.f16 ? 'float16' : 'float32',
        } as const;
        const a = quantizeKeys(x, o);
        const b = quantizeKeysRef(x, o);
        expect(a.codes).toEqual(b.codes);
        expect(a.scales).toEqual(b.scales);
        expect(a.mins).toEqual(b.mins);
        expect(bitsOf(dequantize(a).data)).toEqual(bitsOf(dequantizeRef(b).data));
      }),
      { numRuns: 120 },
    );
  });
  it('values: random shapes, bits, rounding policies, f32/f16 metadata, edge values', () => {
    fc.assert(
      fc.property(caseArb('values'), (c) => {
        const x = t32(c.f16 ? lim16(c.data) : c.data, [c.S, c.T, c.D]);
        const o = {
          bits: c.bits,
          groupSize: c.G,
          rounding: c.rounding,
          scaleDtype: c.f16 ? 'float16' : 'float32',
        } as const;
        const a = quantizeValues(x, o);
        const b = quantizeValuesRef(x, o);
        expect(a.codes).toEqual(b.codes);
        expect(a.scales).toEqual(b.scales);
        expect(a.mins).toEqual(b.mins);
        expect(bitsOf(dequantize(a).data)).toEqual(bitsOf(dequantizeRef(b).data));
      }),
      { numRuns: 120 },
    );
  });
  it('groups smaller than a word (allowGroupStraddle) agree too', () => {
    const data = Array.from({ length: 2 * 32 * 32 }, (_, i) => Math.sin(i * 0.37) * 3);
    const x = t32(data, [2, 32, 32]);
    for (const bits of [2, 4] as const) {
      const o = { bits, groupSize: 4, allowGroupStraddle: true };
      expect(quantizeKeys(x, o).codes).toEqual(quantizeKeysRef(x, o).codes);
      expect(quantizeValues(x, o).codes).toEqual(quantizeValuesRef(x, o).codes);
      expect(dequantize(quantizeKeys(x, o)).data).toEqual(dequantizeRef(quantizeKeysRef(x, o)).data);
      expect(dequantize(quantizeValues(x, o)).data).toEqual(dequantizeRef(quantizeValuesRef(x, o)).data);
    }
  });
});

/** Per-element (scale, min) of quantized keys/values in the input's layout. */
function elementMeta(q: QuantizedKeys | QuantizedValues): { s: Float32Array; m: Float32Array } {
  const shape = q.shape;
  const T = shape[shape.length - 2]!;
  const D = shape[shape.length - 1]!;
  const n = q.codes.length * (32 / q.bits);
  const sc = meta(q.scales);
  const mn = meta(q.mins);
  const s = new Float32Array(n);
  const m = new Float32Array(n);
  const G = q.groupSize;
  for (let i = 0; i < n; i++) {
    const st = Math.floor(i / (T * D));
    const t = Math.floor(i / D) % T;
    const d = i % D;
    const mi =
      q.kind === 'keys' ? (st * (T / G) + Math.floor(t / G)) * D + d : (st * T + t) * (D / G) + Math.floor(d / G);
    s[i] = sc[mi]!;
    m[i] = mn[mi]!;
  }
  return { s, m };
}

/** Codes in the input's element order. */
function elementCodes(q: QuantizedKeys | QuantizedValues): Uint8Array {
  const shape = q.shape;
  const T = shape[shape.length - 2]!;
  const D = shape[shape.length - 1]!;
  const f = 32 / q.bits;
  const n = q.codes.length * f;
  const out = new Uint8Array(n);
  const mask = (1 << q.bits) - 1;
  for (let i = 0; i < n; i++) {
    const st = Math.floor(i / (T * D));
    const t = Math.floor(i / D) % T;
    const d = i % D;
    const w =
      q.kind === 'keys' ? (st * (T / f) + Math.floor(t / f)) * D + d : (st * T + t) * (D / f) + Math.floor(d / f);
    const j = q.kind === 'keys' ? t % f : d % f;
    out[i] = (q.codes[w]! >>> (q.bits * j)) & mask;
  }
  return out;
}

const ulp = (v: number) => {
  const a = Math.abs(v);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
};

describe('invariants (kivi.md §10)', () => {
  for (const axis of ['keys', 'values'] as const) {
    const quant = axis === 'keys' ? quantizeKeys : quantizeValues;

    it(`${axis}: bound |x − x'| ≤ s/2 + δ, codes in [0, qmax], min → 0 and max → qmax, constants exact`, () => {
      fc.assert(
        fc.property(caseArb(axis), (c) => {
          const data = c.f16 ? lim16(c.data) : c.data;
          const x = t32(data, [c.S, c.T, c.D]);
          const q = quant(x, { bits: c.bits, groupSize: c.G, scaleDtype: c.f16 ? 'float16' : 'float32' });
          const deq = dequantize(q).data;
          const { s, m } = elementMeta(q);
          const codes = elementCodes(q);
          const qmax = 2 ** c.bits - 1;
          for (let i = 0; i < deq.length; i++) {
            const xi = x.data[i]!;
            expect(codes[i]!).toBeLessThanOrEqual(qmax);
            if (s[i] === 0) {
              // constant group (or a range so small that the scale underflows to 0): code 0 and
              // reconstruction = stored min; exact for a constant group, within qmax·2^-149 otherwise
              expect(codes[i]).toBe(0);
              expect(deq[i] === m[i]).toBe(true);
              if (!c.f16) expect(Math.abs(deq[i]! - xi)).toBeLessThanOrEqual(qmax * 2 ** -149);
              continue;
            }
            // δ: f32 rounding of (x − mn), of the division and of the reconstruction; with f16 meta the
            // stored min/scale may be off the exact ones by half an f16 ulp (covered via clamping slack).
            const slack = 4 * (ulp(xi) + ulp(m[i]!) + ulp(qmax * s[i]!));
            if (!c.f16) expect(Math.abs(xi - deq[i]!)).toBeLessThanOrEqual(s[i]! / 2 + slack);
            else {
              // x clamped into the representable range [m, m + qmax·s] is within s/2
              const hi = m[i]! + qmax * s[i]!;
              const xc = Math.min(hi, Math.max(m[i]!, xi));
              expect(Math.abs(xc - deq[i]!)).toBeLessThanOrEqual(s[i]! / 2 + slack);
            }
          }
          // endpoints in f32 mode: each non-constant group's min has code 0, its max code qmax
          if (!c.f16) {
            const T = c.T;
            const D = c.D;
            const G = c.G;
            for (let st = 0; st < c.S; st++) {
              const groups = axis === 'keys' ? (T / G) * D : T * (D / G);
              for (let gi = 0; gi < groups; gi++) {
                const idx: number[] = [];
                if (axis === 'keys') {
                  const g = Math.floor(gi / D);
                  const d = gi % D;
                  for (let t = g * G; t < (g + 1) * G; t++) idx.push((st * T + t) * D + d);
                } else {
                  const t = Math.floor(gi / (D / G));
                  const g = gi % (D / G);
                  for (let d = g * G; d < (g + 1) * G; d++) idx.push((st * T + t) * D + d);
                }
                const vals = idx.map((i) => x.data[i]!);
                const lo = Math.min(...vals);
                const hi = Math.max(...vals);
                if (lo === hi || s[idx[0]!] === 0) continue;
                expect(codes[idx[vals.indexOf(lo)]!]).toBe(0);
                expect(codes[idx[vals.indexOf(hi)]!]).toBe(qmax);
              }
            }
          }
        }),
        { numRuns: 80 },
      );
    });

    it(`${axis}: determinism — identical input gives byte-identical words, scales, mins`, () => {
      fc.assert(
        fc.property(caseArb(axis, false), (c) => {
          const x = t32(c.data, [c.S, c.T, c.D]);
          const o = { bits: c.bits, groupSize: c.G, rounding: c.rounding };
          const a = quant(x, o);
          const b = quant(t32(c.data, [c.S, c.T, c.D]), o);
          expect(a.codes).toEqual(b.codes);
          expect(a.scales).toEqual(b.scales);
          expect(a.mins).toEqual(b.mins);
        }),
        { numRuns: 30 },
      );
    });

    it(`${axis}: affine equivariance for a = 2^k, exact c`, () => {
      fc.assert(
        fc.property(
          caseArb(axis, false),
          fc.integer({ min: -3, max: 3 }),
          fc.integer({ min: -64, max: 64 }),
          (c, k, cn) => {
            // data on the grid of 2^-10 with |x| < 8 so that a·x + c is exact in float32
            const data = c.data.map((v) => Math.trunc(Math.max(-8, Math.min(8, v)) * 1024) / 1024);
            const a = 2 ** k;
            const cc = cn / 16;
            const x = t32(data, [c.S, c.T, c.D]);
            const y = t32(
              data.map((v) => a * v + cc),
              [c.S, c.T, c.D],
            );
            const o = { bits: c.bits, groupSize: c.G };
            const qx = quant(x, o);
            const qy = quant(y, o);
            expect(qy.codes).toEqual(qx.codes);
            const dx = dequantize(qx).data;
            const dy = dequantize(qy).data;
            for (let i = 0; i < dx.length; i++) {
              const want = a * dx[i]! + cc;
              expect(Math.abs(dy[i]! - want)).toBeLessThanOrEqual(cc === 0 ? 0 : 2 * ulp(want) + 2 * ulp(cc));
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('axis locality: keys — changing channel j or another token group leaves (channel i, group g) unchanged', () => {
    fc.assert(
      fc.property(caseArb('keys', false), fc.nat(), fc.float({ min: -100, max: 100, noNaN: true }), (c, pick, nv) => {
        const { T, D, G, S } = c;
        const x = t32(c.data, [S, T, D]);
        const i = pick % (S * T * D);
        const y = Float32Array.from(x.data);
        y[i] = nv;
        const o = { bits: c.bits, groupSize: c.G };
        const qx = quantizeKeys(x, o);
        const qy = quantizeKeys(t32(y, [S, T, D]), o);
        const cx = elementCodes(qx);
        const cy = elementCodes(qy);
        const st = Math.floor(i / (T * D));
        const g = Math.floor((Math.floor(i / D) % T) / G);
        const ch = i % D;
        for (let e = 0; e < cx.length; e++) {
          const se = Math.floor(e / (T * D));
          const ge = Math.floor((Math.floor(e / D) % T) / G);
          const de = e % D;
          if (se === st && ge === g && de === ch) continue;
          expect(cy[e]).toBe(cx[e]);
        }
        const sx = meta(qx.scales);
        const sy = meta(qy.scales);
        for (let mi = 0; mi < sx.length; mi++) {
          if (mi === (st * (T / G) + g) * D + ch) continue;
          expect(sy[mi]).toBe(sx[mi]);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('axis locality: values — changing token t leaves every other token unchanged', () => {
    fc.assert(
      fc.property(caseArb('values', false), fc.nat(), fc.float({ min: -100, max: 100, noNaN: true }), (c, pick, nv) => {
        const { T, D, S } = c;
        const x = t32(c.data, [S, T, D]);
        const i = pick % (S * T * D);
        const y = Float32Array.from(x.data);
        y[i] = nv;
        const o = { bits: c.bits, groupSize: c.G };
        const dx = dequantize(quantizeValues(x, o)).data;
        const dy = dequantize(quantizeValues(t32(y, [S, T, D]), o)).data;
        const row = Math.floor(i / D);
        for (let e = 0; e < dx.length; e++) if (Math.floor(e / D) !== row) expect(dy[e]).toBe(dx[e]);
      }),
      { numRuns: 60 },
    );
  });

  it('bits: max error at 4 bits ≤ max error at 2 bits on the same data', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 4 * 32, maxLength: 4 * 32 }),
        (data) => {
          const x = t32(data, [32, 4]);
          const err = (bits: KiviBits) => {
            const d = dequantize(quantizeKeys(x, { bits, groupSize: 32 })).data;
            let e = 0;
            for (let i = 0; i < d.length; i++) e = Math.max(e, Math.abs(d[i]! - x.data[i]!));
            return e;
          };
          expect(err(4)).toBeLessThanOrEqual(err(2));
          expect(err(8)).toBeLessThanOrEqual(err(4));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('the inputs are never mutated', () => {
    const data = Float32Array.from({ length: 64 * 8 }, (_, i) => Math.cos(i));
    const copy = Float32Array.from(data);
    const x = { dtype: 'float32' as const, data, shape: [64, 8] };
    const q = quantizeKeys(x, { bits: 2, groupSize: 32 });
    quantizeValues(x, { bits: 4, groupSize: 8 });
    const codes = Uint32Array.from(q.codes);
    dequantize(q);
    expect(data).toEqual(copy);
    expect(q.codes).toEqual(codes);
  });
});

describe('bad input → LowbitError', () => {
  const x = t32(new Array(64 * 32).fill(1), [64, 32]);
  it('unsupported bits, bad group sizes, G % (32/bits) ≠ 0, T % G, D % G', () => {
    expectCode(() => quantizeKeys(x, { bits: 3 as KiviBits, groupSize: 32 }), 'E_CONFIG');
    expectCode(() => quantizeKeys(x, { bits: 2, groupSize: 0 }), 'E_CONFIG');
    expectCode(() => quantizeKeys(x, { bits: 2, groupSize: 8 }), 'E_CONFIG');
    expectCode(() => quantizeValues(x, { bits: 4, groupSize: 4 }), 'E_CONFIG');
    expectCode(() => quantizeKeys(t32(new Array(48 * 4).fill(0), [48, 4]), { bits: 2, groupSize: 32 }), 'E_SHAPE');
    expectCode(() => quantizeValues(t32(new Array(48).fill(0), [1, 48]), { bits: 2, groupSize: 32 }), 'E_SHAPE');
    expectCode(() => quantizeKeys(x, { bits: 2, groupSize: 32, scaleDtype: 'bfloat16' as 'float16' }), 'E_CONFIG');
    expectCode(() => quantizeKeys(x, { bits: 2, groupSize: 32, rounding: 'nearest' as 'half-even' }), 'E_CONFIG');
  });
  it('wrong rank or dtype', () => {
    expectCode(() => quantizeKeys(t32([1, 2, 3], [3]), { bits: 2, groupSize: 16 }), 'E_SHAPE');
    expectCode(
      () =>
        quantizeKeys({ dtype: 'float64', data: new Float64Array(32), shape: [32, 1] } as unknown as Float32Tensor, {
          bits: 2,
          groupSize: 16,
        }),
      'E_DTYPE',
    );
    expectCode(
      () => quantizeKeys({ dtype: 'float32', data: new Float32Array(31), shape: [32, 1] }, { bits: 2, groupSize: 16 }),
      'E_SHAPE',
    );
  });
  it('non-finite values → E_NONFINITE; magnitudes that overflow the metadata → E_LIMIT', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const d = new Array(32).fill(0);
      d[7] = bad;
      expectCode(() => quantizeKeys(t32(d, [32, 1]), { bits: 2, groupSize: 32 }), 'E_NONFINITE');
      expectCode(() => quantizeValues(t32(d, [1, 32]), { bits: 2, groupSize: 32 }), 'E_NONFINITE');
    }
    const big = new Array(32).fill(0);
    big[3] = 70000;
    expectCode(() => quantizeValues(t32(big, [1, 32]), { bits: 2, groupSize: 32, scaleDtype: 'float16' }), 'E_LIMIT');
    big[3] = 3e38;
    expectCode(() => quantizeValues(t32(big, [1, 32]), { bits: 2, groupSize: 32 }), 'E_LIMIT');
  });
  it('dequantize rejects malformed quantized objects', () => {
    const q = quantizeKeys(x, { bits: 2, groupSize: 32 });
    expectCode(() => dequantize({ ...q, codes: q.codes.subarray(1) }), 'E_SHAPE');
    expectCode(() => dequantize({ ...q, kind: 'other' } as unknown as QuantizedKeys), 'E_CONFIG');
    expectCode(() => dequantize({ ...q, scales: new Uint16Array(q.scales.length) }), 'E_DTYPE');
  });
});

describe('out buffers (opts.out)', () => {
  it('keys and values write into the caller buffers, byte-identical to fresh results (f32 and f16 metadata)', () => {
    const x = t32(
      Array.from({ length: 2 * 64 * 32 }, (_, i) => Math.sin(i * 0.37) * 3),
      [2, 64, 32],
    );
    for (const scaleDtype of ['float32', 'float16'] as const) {
      for (const bits of [2, 4, 8] as KiviBits[]) {
        const o = { bits, groupSize: 32, scaleDtype };
        for (const [q, fn] of [
          [quantizeKeys(x, o), (out: never) => quantizeKeys(x, { ...o, out })],
          [quantizeValues(x, o), (out: never) => quantizeValues(x, { ...o, out })],
        ] as const) {
          const Meta = scaleDtype === 'float16' ? Uint16Array : Float32Array;
          // stale contents must be fully overwritten
          const out = {
            codes: new Uint32Array(q.codes.length).fill(0xdeadbeef),
            scales: new Meta(q.scales.length).fill(7),
            mins: new Meta(q.mins.length).fill(7),
          };
          const r = fn(out as never);
          expect(r.codes).toBe(out.codes);
          expect(r.scales).toBe(out.scales);
          expect(r.mins).toBe(out.mins);
          expect([...out.codes]).toEqual([...q.codes]);
          expect([...out.scales]).toEqual([...q.scales]);
          expect([...out.mins]).toEqual([...q.mins]);
        }
      }
    }
  });

  it('wrong types → E_DTYPE, wrong lengths → E_SHAPE', () => {
    const x = t32(new Float32Array(64 * 32).fill(1), [64, 32]);
    const o = { bits: 2 as const, groupSize: 32 };
    // keys and values of [64, 32] at 2 bits, G = 32: 128 code words, 64 scales/mins each
    const ok = { codes: new Uint32Array(128), scales: new Float32Array(64), mins: new Float32Array(64) };
    expect(quantizeKeys(x, { ...o, out: ok }).codes).toBe(ok.codes);
    expectCode(() => quantizeKeys(x, { ...o, out: { ...ok, codes: new Uint32Array(127) } }), 'E_SHAPE');
    expectCode(() => quantizeValues(x, { ...o, out: { ...ok, mins: new Float32Array(63) } }), 'E_SHAPE');
    expect(quantizeValues(x, { ...o, out: ok }).mins).toBe(ok.mins);
    expectCode(() => quantizeKeys(x, { ...o, out: { ...ok, scales: new Uint16Array(64) } }), 'E_DTYPE');
    expectCode(() => quantizeKeys(x, { ...o, scaleDtype: 'float16', out: ok }), 'E_DTYPE');
  });
});
