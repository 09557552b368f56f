/**
 * Decoders of the 8-, 6- and 4-bit float element types that `.safetensors` files carry (`F8_E4M3`,
 * `F8_E5M2`, `F8_E4M3FNUZ`, `F8_E5M2FNUZ`, `F8_E8M0`, `F6_E2M3`, `F6_E3M2`, `F4`), to float32. Files keep
 * these as raw bits (`uint8`); these functions give their values. Every code of every format is exactly
 * representable in float32, so decoding is exact (no rounding).
 *
 * | format | sign / exp / mantissa | bias | Inf | NaN | max finite |
 * |---|---|---|---|---|---|
 * | `f8_e4m3` (OCP E4M3FN) | 1/4/3 | 7 | none | S.1111.111 | 448 |
 * | `f8_e5m2` (OCP / IEEE-style) | 1/5/2 | 15 | S.11111.00 | S.11111.{01,10,11} | 57344 |
 * | `f8_e4m3fnuz` | 1/4/3 | 8 | none | 0x80 only (no −0) | 240 |
 * | `f8_e5m2fnuz` | 1/5/2 | 16 | none | 0x80 only (no −0) | 57344 |
 * | `e8m0` (OCP MX scale) | 0/8/0 | 127 | none | 0xFF | 2^127 |
 * | `f6_e2m3` (OCP MX) | 1/2/3 | 1 | none | none | 7.5 |
 * | `f6_e3m2` (OCP MX) | 1/3/2 | 3 | none | none | 28 |
 * | `f4_e2m1` (OCP MX) | 1/2/1 | 1 | none | none | 6 |
 *
 * Exponent field 0 is subnormal (value = ±m/2^M · 2^(1−bias)); `e8m0` code c is 2^(c−127) (code 0 is
 * the float32 subnormal 2^−127).
 *
 * Sub-byte packing (`f6_*`, `f4_e2m1`, what safetensors' `F6_*`/`F4` tensors hold): element j occupies
 * bits [b·j, b·j + b) of the little-endian bit stream of the bytes, i.e. lowest bits first (for 4-bit:
 * element 2i is the low nibble of byte i, as in PyTorch's `float4_e2m1fn_x2`). The safetensors format
 * fixes only the bit count, not this order (inferred from PyTorch / ml_dtypes conventions).
 *
 * Exposed: MiniFloatFormat, MINI_FLOAT_BITS, miniFloatToF32, miniFloatTable, decodeMiniFloats,
 * decodeMiniFloatsRef.
 * @module
 */
import { check, fail } from '../errors.js';

/**
 * The narrow float formats lowbit decodes (see the module table).
 *
 * @example
 * ```ts
 * const f: MiniFloatFormat = 'f8_e5m2';
 * ```
 */
export type MiniFloatFormat =
  | 'f8_e4m3'
  | 'f8_e5m2'
  | 'f8_e4m3fnuz'
  | 'f8_e5m2fnuz'
  | 'e8m0'
  | 'f6_e2m3'
  | 'f6_e3m2'
  | 'f4_e2m1';

/**
 * Bits per element of each {@link MiniFloatFormat}.
 *
 * @example
 * ```ts
 * MINI_FLOAT_BITS.f6_e2m3; // 6
 * ```
 */
export const MINI_FLOAT_BITS: Readonly<Record<MiniFloatFormat, number>> = Object.freeze({
  f8_e4m3: 8,
  f8_e5m2: 8,
  f8_e4m3fnuz: 8,
  f8_e5m2fnuz: 8,
  e8m0: 8,
  f6_e2m3: 6,
  f6_e3m2: 6,
  f4_e2m1: 4,
});

interface Layout {
  e: number;
  m: number;
  bias: number;
  special: 'ieee' | 'fn' | 'fnuz' | 'finite';
}

const LAYOUT: Readonly<Record<Exclude<MiniFloatFormat, 'e8m0'>, Layout>> = {
  f8_e4m3: { e: 4, m: 3, bias: 7, special: 'fn' },
  f8_e5m2: { e: 5, m: 2, bias: 15, special: 'ieee' },
  f8_e4m3fnuz: { e: 4, m: 3, bias: 8, special: 'fnuz' },
  f8_e5m2fnuz: { e: 5, m: 2, bias: 16, special: 'fnuz' },
  f6_e2m3: { e: 2, m: 3, bias: 1, special: 'finite' },
  f6_e3m2: { e: 3, m: 2, bias: 3, special: 'finite' },
  f4_e2m1: { e: 2, m: 1, bias: 1, special: 'finite' },
};

function checkFormat(format: MiniFloatFormat, who: string): void {
  if (!Object.hasOwn(MINI_FLOAT_BITS, format))
    fail(
      'E_DTYPE',
      `${who}: unknown mini-float format ${JSON.stringify(format)}, expected one of ${Object.keys(MINI_FLOAT_BITS).join(', ')}`,
    );
}

/**
 * The value of one code of a narrow float format (the reference definition; `NaN` for NaN codes).
 * Throws `E_CONFIG` for a code outside `[0, 2^bits)`.
 *
 * @example
 * ```ts
 * miniFloatToF32(0x7e, 'f8_e4m3'); // 448
 * miniFloatToF32(0x7f, 'e8m0'); // 1
 * miniFloatToF32(0b0111, 'f4_e2m1'); // 6
 * ```
 */
export function miniFloatToF32(code: number, format: MiniFloatFormat): number {
  checkFormat(format, 'miniFloatToF32');
  const bits = MINI_FLOAT_BITS[format];
  check(
    Number.isInteger(code) && code >= 0 && code < 1 << bits,
    'E_CONFIG',
    () => `miniFloatToF32: code ${code} is not a ${bits}-bit code of ${format}`,
  );
  if (format === 'e8m0') return code === 0xff ? Number.NaN : 2 ** (code - 127);
  const L = LAYOUT[format];
  const sign = code >>> (L.e + L.m);
  const ef = (code >>> L.m) & ((1 << L.e) - 1);
  const mf = code & ((1 << L.m) - 1);
  const emax = (1 << L.e) - 1;
  const mmax = (1 << L.m) - 1;
  if (L.special === 'fnuz' && sign === 1 && ef === 0 && mf === 0) return Number.NaN;
  if (L.special === 'ieee' && ef === emax) return mf === 0 ? (sign ? -Infinity : Infinity) : Number.NaN;
  if (L.special === 'fn' && ef === emax && mf === mmax) return Number.NaN;
  const mag = ef === 0 ? (mf / (1 << L.m)) * 2 ** (1 - L.bias) : (1 + mf / (1 << L.m)) * 2 ** (ef - L.bias);
  return sign ? -mag : mag;
}

const TABLES = new Map<MiniFloatFormat, Float32Array>();

/**
 * The lookup table of a format: entry c is the float32 value of code c (length 2^bits). A fresh copy.
 *
 * @example
 * ```ts
 * miniFloatTable('f4_e2m1'); // Float32Array [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, ...]
 * ```
 */
export function miniFloatTable(format: MiniFloatFormat): Float32Array {
  return table(format, 'miniFloatTable').slice();
}

function table(format: MiniFloatFormat, who: string): Float32Array {
  checkFormat(format, who);
  let t = TABLES.get(format);
  if (t === undefined) {
    const n = 1 << MINI_FLOAT_BITS[format];
    t = new Float32Array(n);
    for (let c = 0; c < n; c++) t[c] = miniFloatToF32(c, format);
    TABLES.set(format, t);
  }
  return t;
}

function checkPacked(bytes: Uint8Array, format: MiniFloatFormat, count: number, who: string): number {
  checkFormat(format, who);
  check(bytes instanceof Uint8Array, 'E_DTYPE', `${who}: expected a Uint8Array of packed codes`);
  check(
    Number.isSafeInteger(count) && count >= 0,
    'E_CONFIG',
    () => `${who}: count must be a non-negative integer, got ${count}`,
  );
  const bits = MINI_FLOAT_BITS[format];
  const need = Math.ceil((count * bits) / 8);
  check(
    bytes.length >= need,
    'E_SHAPE',
    () => `${who}: ${count} ${format} codes need ${need} bytes, got ${bytes.length}`,
  );
  return bits;
}

function outFor(count: number, out: Float32Array | undefined, who: string): Float32Array {
  if (out === undefined) return new Float32Array(count);
  check(
    out instanceof Float32Array && out.length >= count,
    'E_SHAPE',
    () => `${who}: out must be a Float32Array of length >= ${count}`,
  );
  return out;
}

/**
 * Decode `count` packed codes (8-bit: one per byte; 6- and 4-bit: lowest bits first, see the module
 * notes) to float32 through a lookup table. `count` defaults to all codes the bytes hold.
 *
 * @example
 * ```ts
 * decodeMiniFloats(new Uint8Array([0x38, 0xb8]), 'f8_e4m3'); // Float32Array [1, -1]
 * decodeMiniFloats(new Uint8Array([0x72]), 'f4_e2m1'); // Float32Array [1, 6]
 * ```
 */
export function decodeMiniFloats(
  bytes: Uint8Array,
  format: MiniFloatFormat,
  count?: number,
  out?: Float32Array,
): Float32Array {
  const n = count ?? defaultCount(bytes, format);
  const bits = checkPacked(bytes, format, n, 'decodeMiniFloats');
  const t = table(format, 'decodeMiniFloats');
  const dst = outFor(n, out, 'decodeMiniFloats');
  if (bits === 8) {
    for (let i = 0; i < n; i++) dst[i] = t[bytes[i]!]!;
  } else if (bits === 4) {
    const pairs = n >>> 1;
    for (let i = 0; i < pairs; i++) {
      const b = bytes[i]!;
      dst[2 * i] = t[b & 15]!;
      dst[2 * i + 1] = t[b >>> 4]!;
    }
    if (n & 1) dst[n - 1] = t[bytes[pairs]! & 15]!;
  } else {
    // 6-bit: 4 codes in 3 bytes.
    const quads = n >>> 2;
    for (let q = 0; q < quads; q++) {
      const w = bytes[3 * q]! | (bytes[3 * q + 1]! << 8) | (bytes[3 * q + 2]! << 16);
      dst[4 * q] = t[w & 63]!;
      dst[4 * q + 1] = t[(w >>> 6) & 63]!;
      dst[4 * q + 2] = t[(w >>> 12) & 63]!;
      dst[4 * q + 3] = t[(w >>> 18) & 63]!;
    }
    for (let i = quads * 4; i < n; i++) dst[i] = t[extractBits(bytes, i * 6, 6)]!;
  }
  return dst;
}

/**
 * Reference twin of {@link decodeMiniFloats}: extracts each code bit by bit and evaluates
 * {@link miniFloatToF32}, no tables.
 *
 * @example
 * ```ts
 * decodeMiniFloatsRef(new Uint8Array([0x72]), 'f4_e2m1'); // Float32Array [1, 6]
 * ```
 */
export function decodeMiniFloatsRef(
  bytes: Uint8Array,
  format: MiniFloatFormat,
  count?: number,
  out?: Float32Array,
): Float32Array {
  const n = count ?? defaultCount(bytes, format);
  const bits = checkPacked(bytes, format, n, 'decodeMiniFloatsRef');
  const dst = outFor(n, out, 'decodeMiniFloatsRef');
  for (let i = 0; i < n; i++) dst[i] = miniFloatToF32(extractBits(bytes, i * bits, bits), format);
  return dst;
}

function defaultCount(bytes: Uint8Array, format: MiniFloatFormat): number {
  checkFormat(format, 'decodeMiniFloats');
  return Math.floor((bytes.length * 8) / MINI_FLOAT_BITS[format]);
}

function extractBits(bytes: Uint8Array, bitOffset: number, bits: number): number {
  let v = 0;
  for (let k = 0; k < bits; k++) {
    const p = bitOffset + k;
    v |= ((bytes[p >>> 3]! >>> (p & 7)) & 1) << k;
  }
  return v;
}
