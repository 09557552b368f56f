/**
 * IEEE binary16 (fp16) and bfloat16 (bf16) conversions, stored as `Uint16Array` bit patterns
 * (Node 20 has no `Float16Array`). Every float → half conversion rounds to nearest, ties to even (RNE).
 *
 * - NaN → a quiet NaN: fp16 `0x7E00` | sign (payload dropped); bf16 keeps the top payload bits and sets
 *   the quiet bit (`(u >>> 16) | 0x0040`).
 * - ±Inf ↔ ±Inf; finite values too large for the format round to ±Inf exactly where RNE says so
 *   (fp16: |x| ≥ 65520; bf16: |x| ≥ 2^128 − 2^119).
 * - Subnormals are produced and decoded (fp16 down to 2^-24, bf16 down to 2^-133); −0 stays −0.
 * - half → float32 is exact (every half value is a float32); NaN payloads are kept in the bulk
 *   conversions (they write bits).
 *
 * The `f32To…Bits` scalars and the bulk encoders take float32 values: a JS number is first rounded to
 * float32 (as storing it into a `Float32Array` would). {@link f16Round} and {@link bf16Round} instead
 * round any double directly to the nearest half value (no double rounding), like `Math.f16round`.
 *
 * Fast paths: integer bit tricks for encoding, a lazily built 65 536-entry table for fp16 decoding.
 * Each bulk kernel has a `…Ref` twin written with plain arithmetic (scale by a power of two, round half
 * to even, rebuild the bits), compared bit-exactly in the tests.
 *
 * Exposed: f32ToF16Bits, f16BitsToF32, f32ToBf16Bits, bf16BitsToF32, f32ToF16Array, f16ToF32Array,
 * f32ToBf16Array, bf16ToF32Array, f32ToF16ArrayRef, f16ToF32ArrayRef, f32ToBf16ArrayRef, bf16ToF32ArrayRef,
 * f16Round, bf16Round.
 * @module
 */
import { check } from './errors.js';

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const F64 = new Float64Array(1);
const U32_OF_F64 = new Uint32Array(F64.buffer);
/** Index of the high word of a float64 in {@link U32_OF_F64} (1 on little-endian hosts). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
/** 2^52: `(v + BIG) − BIG` rounds 0 ≤ v < 2^52 to an integer, ties to even. */
const BIG = 4503599627370496;
/** 2^128 − 2^119: halfway between the largest bf16 and 2^128; ties to even round it to Inf. */
/** 2^-24, the smallest fp16 subnormal. */
const TWO_M24 = 2 ** -24;
const BF16_INF_EDGE = 2 ** 128 - 2 ** 119;

/** Float32 bits of a number (after rounding it to float32). */
function f32Bits(x: number): number {
  F32[0] = x;
  return U32[0]!;
}

/** Float32 value of a bit pattern. */
function f32FromBits(u: number): number {
  U32[0] = u;
  return F32[0]!;
}

/** Unbiased binary exponent of a finite non-zero double (subnormals report −1023). */
function exponentOf(x: number): number {
  F64[0] = x;
  return ((U32_OF_F64[HI]! >>> 20) & 0x7ff) - 1023;
}

/** fp16 bits of float32 bits `u` (formats.md §5). */
function encodeF16(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= 0x47800000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (a < 0x38800000) {
    // |x| < 2^-14: the result is |x|·2^24 rounded to an integer (exact scaling; a carry gives 0x400).
    return sign | (f32FromBits(a) * 16777216 + BIG - BIG);
  }
  return sign | (((a + 0xc8000fff + ((a >>> 13) & 1)) >>> 0) >>> 13);
}

/** bf16 bits of float32 bits `u` (formats.md §5). */
function encodeBf16(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x0040;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 0) >>> 16;
}

/**
 * Convert a float32 value to IEEE fp16 bits (RNE). A JS number is first rounded to float32.
 *
 * @example
 * ```ts
 * f32ToF16Bits(1); // 0x3c00
 * f32ToF16Bits(65520); // 0x7c00 (Inf: ties to even above 65504)
 * f32ToF16Bits(NaN); // 0x7e00
 * ```
 */
export function f32ToF16Bits(x: number): number {
  return encodeF16(f32Bits(x));
}

/**
 * Decode fp16 bits to a number (exact). Any NaN code gives `NaN`.
 *
 * @example
 * ```ts
 * f16BitsToF32(0x3c00); // 1
 * f16BitsToF32(0x0001); // 5.960464477539063e-8 (2^-24)
 * ```
 */
export function f16BitsToF32(h: number): number {
  const e = (h >>> 10) & 31;
  const m = h & 0x3ff;
  const sgn = h & 0x8000 ? -1 : 1;
  if (e === 0) return sgn * m * TWO_M24;
  if (e === 31) return m === 0 ? sgn * Number.POSITIVE_INFINITY : Number.NaN;
  return sgn * (1024 + m) * 2 ** (e - 25);
}

/**
 * Convert a float32 value to bfloat16 bits (RNE; NaN stays a quiet NaN). A JS number is first rounded
 * to float32.
 *
 * @example
 * ```ts
 * f32ToBf16Bits(1); // 0x3f80
 * f32ToBf16Bits(1 + 2 ** -8); // 0x3f80 (tie → even)
 * ```
 */
export function f32ToBf16Bits(x: number): number {
  return encodeBf16(f32Bits(x));
}

/**
 * Decode bfloat16 bits to a number (exact: the bits are the top half of a float32).
 *
 * @example
 * ```ts
 * bf16BitsToF32(0x3f80); // 1
 * ```
 */
export function bf16BitsToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/**
 * Round any number to the nearest fp16 value (RNE, directly from the double: no double rounding),
 * returned as a JS number. ±Inf and −0 are kept, NaN gives NaN, |x| ≥ 65520 gives ±Inf.
 *
 * @example
 * ```ts
 * f16Round(0.1); // 0.0999755859375
 * f16Round(1 + 2 ** -11); // 1 (tie → even)
 * ```
 */
export function f16Round(x: number): number {
  if (Number.isNaN(x) || x === 0) return x; // NaN, ±0
  const ax = Math.abs(x);
  if (ax >= 65520) return x > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  const e = exponentOf(ax);
  const ulp = e < -14 ? TWO_M24 : 2 ** (e - 10);
  const r = (ax / ulp + BIG - BIG) * ulp; // both scalings are exact
  return x < 0 ? -r : r;
}

/**
 * Round any number to the nearest bfloat16 value (RNE, directly from the double), returned as a JS
 * number. NaN gives NaN; |x| ≥ 2^128 − 2^119 gives ±Inf.
 *
 * @example
 * ```ts
 * bf16Round(Math.PI); // 3.140625
 * ```
 */
export function bf16Round(x: number): number {
  if (Number.isNaN(x) || x === 0) return x;
  const ax = Math.abs(x);
  if (ax >= BF16_INF_EDGE) return x > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  const e = exponentOf(ax);
  const ulp = e < -126 ? 2 ** -133 : 2 ** (e - 7);
  const r = (ax / ulp + BIG - BIG) * ulp;
  return x < 0 ? -r : r;
}

function checkOut(who: string, n: number, out: { length: number } | undefined): void {
  if (out !== undefined) check(out.length >= n, 'E_SHAPE', () => `${who}: out has ${out.length} elements, ${n} needed`);
}

/**
 * Convert a `Float32Array` to fp16 bits (RNE). Writes into `out` (at least `src.length` long) when
 * given, else allocates. `src` is never modified.
 *
 * @example
 * ```ts
 * f32ToF16Array(new Float32Array([1, -2, 0.5])); // Uint16Array [0x3c00, 0xc000, 0x3800]
 * ```
 */
export function f32ToF16Array(src: Float32Array, out?: Uint16Array): Uint16Array {
  const n = src.length;
  checkOut('f32ToF16Array', n, out);
  const dst = out ?? new Uint16Array(n);
  const u = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const b = u[i]!;
    const sign = (b >>> 16) & 0x8000;
    const a = b & 0x7fffffff;
    if (a >= 0x38800000) {
      if (a < 0x47800000) dst[i] = sign | (((a + 0xc8000fff + ((a >>> 13) & 1)) >>> 0) >>> 13);
      else dst[i] = sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
    } else {
      dst[i] = sign | (Math.abs(src[i]!) * 16777216 + BIG - BIG);
    }
  }
  return dst;
}

let F16_TABLE: Uint32Array | undefined;

/** The 65 536-entry fp16 → float32 bits table, built on first use (256 KB). */
function f16Table(): Uint32Array {
  if (F16_TABLE !== undefined) return F16_TABLE;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 31;
    const m = h & 0x3ff;
    if (e === 31) t[h] = (sign | 0x7f800000 | (m << 13)) >>> 0;
    else if (e !== 0) t[h] = (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
    else if (m === 0) t[h] = sign >>> 0;
    else {
      // subnormal: normalise m·2^-24
      let ee = 113;
      let mm = m;
      while ((mm & 0x400) === 0) {
        mm <<= 1;
        ee--;
      }
      t[h] = (sign | (ee << 23) | ((mm & 0x3ff) << 13)) >>> 0;
    }
  }
  F16_TABLE = t;
  return t;
}

/**
 * Convert fp16 bits to a `Float32Array` (exact; NaN payloads kept). Uses a 65 536-entry table built on
 * first use.
 *
 * @example
 * ```ts
 * f16ToF32Array(new Uint16Array([0x3c00, 0xc000])); // Float32Array [1, -2]
 * ```
 */
export function f16ToF32Array(src: Uint16Array, out?: Float32Array): Float32Array {
  const n = src.length;
  checkOut('f16ToF32Array', n, out);
  const dst = out ?? new Float32Array(n);
  const d = new Uint32Array(dst.buffer, dst.byteOffset, n);
  const t = f16Table();
  for (let i = 0; i < n; i++) d[i] = t[src[i]!]!;
  return dst;
}

/**
 * Convert a `Float32Array` to bfloat16 bits (RNE; NaN → quiet NaN keeping the top payload bits).
 *
 * @example
 * ```ts
 * f32ToBf16Array(new Float32Array([1, Math.PI])); // Uint16Array [0x3f80, 0x4049]
 * ```
 */
export function f32ToBf16Array(src: Float32Array, out?: Uint16Array): Uint16Array {
  const n = src.length;
  checkOut('f32ToBf16Array', n, out);
  const dst = out ?? new Uint16Array(n);
  const u = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const b = u[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) dst[i] = (b >>> 16) | 0x0040;
    else dst[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 0) >>> 16;
  }
  return dst;
}

/**
 * Convert bfloat16 bits to a `Float32Array` (exact: `u32 = u16 << 16`).
 *
 * @example
 * ```ts
 * bf16ToF32Array(new Uint16Array([0x3f80])); // Float32Array [1]
 * ```
 */
export function bf16ToF32Array(src: Uint16Array, out?: Float32Array): Float32Array {
  const n = src.length;
  checkOut('bf16ToF32Array', n, out);
  const dst = out ?? new Float32Array(n);
  const d = new Uint32Array(dst.buffer, dst.byteOffset, n);
  for (let i = 0; i < n; i++) d[i] = src[i]! << 16;
  return dst;
}

// ---------------------------------------------------------------------------------------------------
// Reference twins: plain arithmetic on values, bits assembled by multiplication/addition.

/**
 * Reference twin of {@link f32ToF16Array}: each value is rounded by power-of-two scaling and
 * round-half-even in double arithmetic, then its fp16 bits are assembled from sign, exponent and
 * significand.
 *
 * @example
 * ```ts
 * f32ToF16ArrayRef(new Float32Array([1])); // Uint16Array [0x3c00]
 * ```
 */
export function f32ToF16ArrayRef(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = src[i]!;
    const neg = x < 0 || Object.is(x, -0);
    const signBits = neg ? 0x8000 : 0;
    if (Number.isNaN(x)) {
      out[i] = (f32Bits(x) & 0x80000000 ? 0x8000 : 0) + 0x7e00;
      continue;
    }
    const r = Math.abs(f16Round(x));
    if (r === Number.POSITIVE_INFINITY) out[i] = signBits + 0x7c00;
    else if (r < 2 ** -14) out[i] = signBits + r * 2 ** 24;
    else {
      const e = Math.floor(Math.log2(r));
      // guard log2 inaccuracy near powers of two
      const ee = 2 ** e > r ? e - 1 : 2 ** (e + 1) <= r ? e + 1 : e;
      out[i] = signBits + (ee + 15) * 1024 + (r / 2 ** ee - 1) * 1024;
    }
  }
  return out;
}

/**
 * Reference twin of {@link f16ToF32Array}: decodes each code arithmetically (`±m·2^-24`, `±(1024 + m)·2^(e−25)`);
 * NaN codes are written as bits `sign | 0x7F800000 | m << 13`.
 *
 * @example
 * ```ts
 * f16ToF32ArrayRef(new Uint16Array([0x3c00])); // Float32Array [1]
 * ```
 */
export function f16ToF32ArrayRef(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const e = Math.floor(h / 1024) % 32;
    const m = h % 1024;
    const neg = h >= 0x8000;
    if (e === 31 && m !== 0) bits[i] = (neg ? 0x80000000 : 0) + 0x7f800000 + m * 8192;
    else {
      const v = e === 31 ? Number.POSITIVE_INFINITY : e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
      out[i] = neg ? -v : v;
    }
  }
  return out;
}

/**
 * Reference twin of {@link f32ToBf16Array}: rounds each value with {@link bf16Round} (power-of-two
 * scaling + round-half-even) and writes the top 16 bits of the exact float32 result.
 *
 * @example
 * ```ts
 * f32ToBf16ArrayRef(new Float32Array([1])); // Uint16Array [0x3f80]
 * ```
 */
export function f32ToBf16ArrayRef(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = src[i]!;
    const u = f32Bits(x);
    if (Number.isNaN(x)) out[i] = Math.floor(u / 65536) | 0x40;
    else out[i] = Math.floor(f32Bits(bf16Round(x)) / 65536);
  }
  return out;
}

/**
 * Reference twin of {@link bf16ToF32Array}: decodes each code arithmetically; NaN codes are written as
 * bits `h · 2^16`.
 *
 * @example
 * ```ts
 * bf16ToF32ArrayRef(new Uint16Array([0x3f80])); // Float32Array [1]
 * ```
 */
export function bf16ToF32ArrayRef(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const e = Math.floor(h / 128) % 256;
    const m = h % 128;
    const neg = h >= 0x8000;
    if (e === 255 && m !== 0) bits[i] = h * 65536;
    else {
      const v = e === 255 ? Number.POSITIVE_INFINITY : e === 0 ? m * 2 ** -133 : (128 + m) * 2 ** (e - 134);
      out[i] = neg ? -v : v;
    }
  }
  return out;
}
