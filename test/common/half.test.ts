import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import {
  bf16BitsToF32,
  bf16Round,
  bf16ToF32Array,
  bf16ToF32ArrayRef,
  f16BitsToF32,
  f16Round,
  f16ToF32Array,
  f16ToF32ArrayRef,
  f32ToBf16Array,
  f32ToBf16ArrayRef,
  f32ToBf16Bits,
  f32ToF16Array,
  f32ToF16ArrayRef,
  f32ToF16Bits,
} from '../../src/common/half.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/half');

/** Read a gzip fixture as an ArrayBuffer (copied so typed views are aligned). */
function fixture(name: string): ArrayBuffer {
  const b = gunzipSync(readFileSync(join(FIX, name)));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** Pairs (uint32 inputs, uint16 outputs) stored back to back. */
function pairs32(name: string): { inp: Uint32Array; out: Uint16Array } {
  const buf = fixture(name);
  const n = buf.byteLength / 6;
  return { inp: new Uint32Array(buf, 0, n), out: new Uint16Array(buf, 4 * n, n) };
}

const bitsF32 = (u: Uint32Array) => new Float32Array(u.buffer, u.byteOffset, u.length);
const u32Of = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);
const hex = (v: number) => `0x${v.toString(16)}`;

function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const ALL_HALF = new Uint16Array(65536).map((_, i) => i);

describe('fp16 → f32: all 65 536 codes against numpy', () => {
  const want = new Uint32Array(fixture('f16_to_f32.u32.gz'));
  it('fixture is complete', () => expect(want.length).toBe(65536));
  it('f16ToF32Array (table) is bit-exact, NaN payloads included', () => {
    expect(firstMismatch(u32Of(f16ToF32Array(ALL_HALF)), want)).toBe(-1);
  });
  it('f16ToF32ArrayRef is bit-exact', () => {
    expect(firstMismatch(u32Of(f16ToF32ArrayRef(ALL_HALF)), want)).toBe(-1);
  });
  it('scalar f16BitsToF32 agrees in value (NaN as NaN)', () => {
    const w = bitsF32(want);
    for (let h = 0; h < 65536; h++) {
      const v = f16BitsToF32(h);
      if (Number.isNaN(w[h]!)) expect(v).toBeNaN();
      else if (v !== w[h]! || Object.is(v, -0) !== Object.is(w[h]!, -0))
        throw new Error(`code ${hex(h)}: ${v} vs ${w[h]}`);
    }
  });
  it('every finite/inf code round-trips through f32ToF16Bits, f32ToF16Array and the Ref', () => {
    const vals = f16ToF32Array(ALL_HALF);
    const back = f32ToF16Array(vals);
    const backRef = f32ToF16ArrayRef(vals);
    for (let h = 0; h < 65536; h++) {
      const nanCode = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const want = nanCode ? (h & 0x8000) | 0x7e00 : h;
      if (back[h] !== want || backRef[h] !== want || f32ToF16Bits(vals[h]!) !== want)
        throw new Error(`code ${hex(h)}: ${hex(back[h]!)} ${hex(backRef[h]!)} ${hex(f32ToF16Bits(vals[h]!))}`);
    }
  });
  it('out is honoured and too-short out throws E_SHAPE', () => {
    const out = new Float32Array(3);
    expect(f16ToF32Array(new Uint16Array([0x3c00, 0xc000, 0x3800]), out)).toBe(out);
    expect([...out]).toEqual([1, -2, 0.5]);
    try {
      f16ToF32Array(new Uint16Array(4), out);
      throw new Error('no throw');
    } catch (e) {
      expect(isLowbitError(e, 'E_SHAPE')).toBe(true);
    }
  });
});

describe('f32 → fp16 against numpy astype(np.float16)', () => {
  const check = (name: string) => {
    const { inp, out } = pairs32(name);
    const x = bitsF32(inp);
    expect(firstMismatch(f32ToF16Array(x), out)).toBe(-1);
    expect(firstMismatch(f32ToF16ArrayRef(x), out)).toBe(-1);
    for (let i = 0; i < x.length; i += 7) if (f32ToF16Bits(x[i]!) !== out[i]) throw new Error(`scalar at ${i}`);
    // negated inputs give the sign-flipped code
    const neg = x.map((v) => -v);
    const negOut = f32ToF16Array(neg);
    for (let i = 0; i < x.length; i++) if (negOut[i] !== (out[i]! ^ 0x8000)) throw new Error(`neg at ${i}`);
    return x.length;
  };
  it('every positive midpoint and its float32 neighbours (incl. 65520 → Inf)', () => {
    expect(check('f32_to_f16_mid.gz')).toBe(3 * 0x7c00);
  });
  it('60 000 random float32 patterns over all exponents', () => {
    expect(check('f32_to_f16_rand.gz')).toBe(60000);
  });
  it('hand-checked specials', () => {
    const cases: [number, number][] = [
      [0, 0],
      [-0, 0x8000],
      [1, 0x3c00],
      [65504, 0x7bff],
      [65519.99609375, 0x7bff],
      [65520, 0x7c00],
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie to even (0)
      [3 * 2 ** -25, 0x0002], // tie to even (2)
      [2 ** -14 - 2 ** -25, 0x0400], // carries into the smallest normal
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [1e-10, 0],
      [-1e-10, 0x8000],
      [1e10, 0x7c00],
    ];
    for (const [x, h] of cases) {
      expect(hex(f32ToF16Bits(x))).toBe(hex(h));
      expect(hex(f32ToF16Array(new Float32Array([x]))[0]!)).toBe(hex(h));
      expect(hex(f32ToF16ArrayRef(new Float32Array([x]))[0]!)).toBe(hex(h));
    }
  });
  it('NaN → quiet 0x7E00 with the sign kept, payload dropped', () => {
    const src = bitsF32(new Uint32Array([0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0xff812345]));
    const want = [0x7e00, 0xfe00, 0x7e00, 0x7e00, 0xfe00];
    expect([...f32ToF16Array(src)]).toEqual(want);
    expect([...f32ToF16ArrayRef(src)]).toEqual(want);
    expect(f32ToF16Bits(Number.NaN)).toBe(0x7e00);
  });
  it('input is not mutated, out reused', () => {
    const src = new Float32Array([1.5, -3, 7e-6]);
    const copy = src.slice();
    const out = new Uint16Array(5).fill(0xffff);
    f32ToF16Array(src, out);
    expect([...src]).toEqual([...copy]);
    expect(out[3]).toBe(0xffff);
  });
});

describe('f16Round: double → fp16 directly (numpy float64 → float16)', () => {
  it('random doubles and doubles 2^-40 away from midpoints', () => {
    const buf = fixture('f64_to_f16_rand.gz');
    const n = buf.byteLength / 10;
    const x = new Float64Array(buf, 0, n);
    const want = new Uint16Array(buf, 8 * n, n);
    const wantVals = f16ToF32Array(want);
    for (let i = 0; i < n; i++) {
      const got = f16Round(x[i]!);
      if (!Object.is(got, wantVals[i]!)) throw new Error(`x=${x[i]}: got ${got}, numpy ${wantVals[i]}`);
    }
  });
  it('specials', () => {
    expect(f16Round(Number.NaN)).toBeNaN();
    expect(Object.is(f16Round(-0), -0)).toBe(true);
    expect(Object.is(f16Round(-1e-30), -0)).toBe(true);
    expect(f16Round(65520)).toBe(Number.POSITIVE_INFINITY);
    expect(f16Round(-65519.999)).toBe(-65504);
    expect(f16Round(Number.NEGATIVE_INFINITY)).toBe(Number.NEGATIVE_INFINITY);
    expect(f16Round(5e-324)).toBe(0);
  });
  it('agrees with the f32 path on float32 inputs', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(Object.is(f16Round(x), f16BitsToF32(f32ToF16Bits(x)))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// bf16: exact oracle by integer arithmetic on the float32 bits (quotient/remainder, not the add trick).

function bf16Oracle(u: number): number {
  const a = u % 0x80000000;
  if (a > 0x7f800000) return Math.floor(u / 65536) | 0x40;
  let q = Math.floor(u / 65536);
  const rem = u % 65536;
  if (rem > 0x8000 || (rem === 0x8000 && q % 2 === 1)) q += 1; // a carry into the exponent is correct RNE
  return q;
}

describe('bf16', () => {
  it('every bf16 code decodes exactly (fast = Ref = h << 16)', () => {
    const fast = u32Of(bf16ToF32Array(ALL_HALF));
    const ref = u32Of(bf16ToF32ArrayRef(ALL_HALF));
    for (let h = 0; h < 65536; h++) {
      if (fast[h] !== h * 65536 || ref[h] !== h * 65536) throw new Error(`code ${hex(h)}`);
      const v = bf16BitsToF32(h);
      const w = bitsF32(new Uint32Array([h * 65536]))[0]!;
      if (!(Object.is(v, w) || (Number.isNaN(v) && Number.isNaN(w)))) throw new Error(`scalar ${hex(h)}`);
    }
  });
  it('every code ± 0x7FFF/0x8000/0x8001 below/above matches the exact oracle (fast, Ref, scalar)', () => {
    const inp: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const base = h * 65536;
      for (const d of [0, 1, 0x7fff, 0x8000, 0x8001, 0xffff]) inp.push(base + d);
    }
    const u = new Uint32Array(inp);
    const x = bitsF32(u);
    const fast = f32ToBf16Array(x);
    const ref = f32ToBf16ArrayRef(x);
    for (let i = 0; i < u.length; i++) {
      const w = bf16Oracle(u[i]!);
      if (fast[i] !== w || ref[i] !== w)
        throw new Error(`${hex(u[i]!)}: fast ${hex(fast[i]!)} ref ${hex(ref[i]!)} want ${hex(w)}`);
    }
    for (let i = 0; i < u.length; i += 97) expect(f32ToBf16Bits(x[i]!)).toBe(bf16Oracle(u[i]!));
  });
  it('random float32 patterns match the oracle', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 300 }), (arr) => {
        const u = new Uint32Array(arr);
        const x = bitsF32(u);
        const fast = f32ToBf16Array(x);
        const ref = f32ToBf16ArrayRef(x);
        for (let i = 0; i < u.length; i++) {
          const w = bf16Oracle(u[i]!);
          expect(fast[i]).toBe(w);
          expect(ref[i]).toBe(w);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('specials', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(Math.PI)).toBe(0x4049);
    expect(f32ToBf16Bits(-0)).toBe(0x8000);
    expect(f32ToBf16Bits(3.4028234663852886e38)).toBe(0x7f80); // f32 max rounds to Inf
    expect(f32ToBf16Bits(Number.NEGATIVE_INFINITY)).toBe(0xff80);
    expect(f32ToBf16Bits(Number.NaN)).toBe(0x7fc0);
    expect(f32ToBf16Array(bitsF32(new Uint32Array([0x7f800001])))[0]).toBe(0x7fc0); // sNaN → quiet
    expect(f32ToBf16Array(bitsF32(new Uint32Array([0xff812345])))[0]).toBe(0xffc1);
  });
  it('bf16Round: double → bf16 directly, equals the f32 path on float32 inputs', () => {
    expect(bf16Round(Math.PI)).toBe(3.140625);
    expect(bf16Round(2 ** 128 - 2 ** 119)).toBe(Number.POSITIVE_INFINITY);
    expect(bf16Round(2 ** 128 - 2 ** 119 - 2 ** 90)).toBe(2 ** 128 - 2 ** 120);
    expect(bf16Round(2 ** -134)).toBe(0); // tie → even (0)
    expect(bf16Round(2 ** -134 * 1.0000001)).toBe(2 ** -133);
    expect(bf16Round(1 + 2 ** -8 + 2 ** -40)).toBe(1 + 2 ** -7); // would tie (to 1) if rounded via float32 first
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        expect(Object.is(bf16Round(x), bf16BitsToF32(f32ToBf16Bits(x)))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
