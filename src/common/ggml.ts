/**
 * ggml block codecs, byte for byte as llama.cpp lays them out (`ggml-common.h`) and rounds them
 * (`quantize_row_*_ref` in `ggml-quants.c`), plus the ggml type-traits table used for GGUF sizing.
 *
 * | type (id) | elements / block | bytes / block | layout | quantize (f32 arithmetic) |
 * |---|---|---|---|---|
 * | Q8_0 (8) | 32 | 34 | `f16 d; i8 qs[32]` | d = amax/127, id = d ? 1/d : 0, q = roundf(x·id) (ties away from 0) |
 * | Q4_0 (2) | 32 | 18 | `f16 d; u8 qs[16]` | max = signed value of largest magnitude (first wins), d = max/−8, q = min(15, trunc(x·id + 8.5)) |
 * | Q4_1 (3) | 32 | 20 | `f16 d; f16 m; u8 qs[16]` | d = (max − min)/15, m = min, q = min(15, trunc((x − min)·id + 0.5)) |
 * | MXFP4 (39) | 32 | 17 | `u8 e; u8 qs[16]` | e = floor(log2f(amax)) − 2 + 127 (0 when amax = 0), code = argmin \|kv[c]·2^(e−128) − x\| |
 *
 * Nibbles are in ggml order: byte j holds element j in its low nibble and element j + 16 in its high
 * nibble. Q4_0/Q4_1 quantize with the f32 reciprocal of the **unrounded** d and store d rounded to fp16
 * (round half to even); decoding uses the stored fp16 d. Every f32 rounding point of the C code is a
 * `Math.fround` here.
 *
 * Policies (where the C code has undefined behaviour):
 * - Non-finite inputs (NaN, ±Inf) are rejected with `E_NONFINITE` by every encoder.
 * - MXFP4: an exponent below 0 (amax < 2^-125) is clamped to 0; decoding rejects e = 0xFF (`E_FORMAT`);
 *   log2f is taken as correctly rounded (matters only for amax a hair below a power of two).
 * - When a block's scale is so tiny that its f32 reciprocal overflows, C converts ±Inf/NaN to int8;
 *   lowbit follows x86-64 (`cvttss2si` → 0x80000000 → low byte 0).
 * - A finite block whose scale overflows fp16 (Q8_0 amax > 65504·127, …) stores d = ±Inf exactly as
 *   llama.cpp does; decoding then yields ±Inf/NaN.
 *
 * Exposed: GGML_TYPES, GgmlTypeName, GgmlTypeTraits, GgmlCodecType, ggmlType, ggmlByteSize, encodeGgml,
 * decodeGgml, encodeGgmlRef, decodeGgmlRef, KVALUES_MXFP4, e8m0ToFp32Half.
 * @module
 */
import { check, fail } from './errors.js';
import {
  bf16ToF32Array,
  f16BitsToF32,
  f16ToF32Array,
  f32ToBf16Array,
  f32ToBf16Bits,
  f32ToF16Array,
  f32ToF16Bits,
} from './half.js';
import { roundHalfAway } from './rounding.js';

/**
 * Names of the ggml tensor types lowbit knows (GGUF `ggml_type`).
 *
 * @example
 * ```ts
 * const n: GgmlTypeName = 'Q4_K'; // listed for sizing; not decodable
 * ```
 */
export type GgmlTypeName =
  | 'F32'
  | 'F16'
  | 'Q4_0'
  | 'Q4_1'
  | 'Q5_0'
  | 'Q5_1'
  | 'Q8_0'
  | 'Q8_1'
  | 'Q2_K'
  | 'Q3_K'
  | 'Q4_K'
  | 'Q5_K'
  | 'Q6_K'
  | 'Q8_K'
  | 'IQ2_XXS'
  | 'IQ2_XS'
  | 'IQ3_XXS'
  | 'IQ1_S'
  | 'IQ4_NL'
  | 'IQ3_S'
  | 'IQ2_S'
  | 'IQ4_XS'
  | 'I8'
  | 'I16'
  | 'I32'
  | 'I64'
  | 'F64'
  | 'IQ1_M'
  | 'BF16'
  | 'TQ1_0'
  | 'TQ2_0'
  | 'MXFP4';

/**
 * Traits of one ggml type: its GGUF id, elements per block, bytes per block, whether it is a quantized
 * block format, whether lowbit can encode/decode it (`codec`) and the lowbit dtype a GGUF reader
 * returns for it (`null` when lowbit cannot decode it).
 *
 * @example
 * ```ts
 * GGML_TYPES.Q4_0; // { id: 2, name: 'Q4_0', blockSize: 32, typeSize: 18, quantized: true, codec: true, ... }
 * ```
 */
export interface GgmlTypeTraits {
  readonly id: number;
  readonly name: GgmlTypeName;
  readonly blockSize: number;
  readonly typeSize: number;
  /** Bits per weight, `8·typeSize/blockSize`. */
  readonly bitsPerWeight: number;
  readonly quantized: boolean;
  /** `encodeGgml`/`decodeGgml` support this type. */
  readonly codec: boolean;
  /** What a reader returns: `'float32'` for decoded blocks, raw bits for F16/BF16, ints for I*. */
  readonly readDtype: 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | null;
}

function t(
  id: number,
  name: GgmlTypeName,
  blockSize: number,
  typeSize: number,
  codec: boolean,
  readDtype: GgmlTypeTraits['readDtype'],
): GgmlTypeTraits {
  return Object.freeze({
    id,
    name,
    blockSize,
    typeSize,
    bitsPerWeight: (8 * typeSize) / blockSize,
    quantized: blockSize > 1,
    codec,
    readDtype,
  });
}

/**
 * The ggml type-traits table (ids and block sizes from `ggml.c` `type_traits[]`; removed ids 4, 5,
 * 31–33, 36–38 are absent). Keyed by name; see {@link ggmlType} for lookup by id.
 *
 * @example
 * ```ts
 * GGML_TYPES.Q8_0.typeSize; // 34
 * GGML_TYPES.MXFP4.id; // 39
 * ```
 */
export const GGML_TYPES: Readonly<Record<GgmlTypeName, GgmlTypeTraits>> = Object.freeze({
  F32: t(0, 'F32', 1, 4, true, 'float32'),
  F16: t(1, 'F16', 1, 2, true, 'float16'),
  Q4_0: t(2, 'Q4_0', 32, 18, true, 'float32'),
  Q4_1: t(3, 'Q4_1', 32, 20, true, 'float32'),
  Q5_0: t(6, 'Q5_0', 32, 22, false, null),
  Q5_1: t(7, 'Q5_1', 32, 24, false, null),
  Q8_0: t(8, 'Q8_0', 32, 34, true, 'float32'),
  Q8_1: t(9, 'Q8_1', 32, 36, false, null),
  Q2_K: t(10, 'Q2_K', 256, 84, false, null),
  Q3_K: t(11, 'Q3_K', 256, 110, false, null),
  Q4_K: t(12, 'Q4_K', 256, 144, false, null),
  Q5_K: t(13, 'Q5_K', 256, 176, false, null),
  Q6_K: t(14, 'Q6_K', 256, 210, false, null),
  Q8_K: t(15, 'Q8_K', 256, 292, false, null),
  IQ2_XXS: t(16, 'IQ2_XXS', 256, 66, false, null),
  IQ2_XS: t(17, 'IQ2_XS', 256, 74, false, null),
  IQ3_XXS: t(18, 'IQ3_XXS', 256, 98, false, null),
  IQ1_S: t(19, 'IQ1_S', 256, 50, false, null),
  IQ4_NL: t(20, 'IQ4_NL', 32, 18, false, null),
  IQ3_S: t(21, 'IQ3_S', 256, 110, false, null),
  IQ2_S: t(22, 'IQ2_S', 256, 82, false, null),
  IQ4_XS: t(23, 'IQ4_XS', 256, 136, false, null),
  I8: t(24, 'I8', 1, 1, false, 'int8'),
  I16: t(25, 'I16', 1, 2, false, 'int16'),
  I32: t(26, 'I32', 1, 4, false, 'int32'),
  I64: t(27, 'I64', 1, 8, false, 'int64'),
  F64: t(28, 'F64', 1, 8, false, 'float64'),
  IQ1_M: t(29, 'IQ1_M', 256, 56, false, null),
  BF16: t(30, 'BF16', 1, 2, true, 'bfloat16'),
  TQ1_0: t(34, 'TQ1_0', 256, 54, false, null),
  TQ2_0: t(35, 'TQ2_0', 256, 66, false, null),
  MXFP4: t(39, 'MXFP4', 32, 17, true, 'float32'),
});

const BY_ID = new Map<number, GgmlTypeTraits>(Object.values(GGML_TYPES).map((v) => [v.id, v]));

/**
 * Look a ggml type up by GGUF id or by name (case-insensitive). Throws `E_DTYPE` for an unknown one.
 *
 * @example
 * ```ts
 * ggmlType(2).name; // 'Q4_0'
 * ggmlType('q8_0').typeSize; // 34
 * ```
 */
export function ggmlType(type: number | string): GgmlTypeTraits {
  if (typeof type === 'number') {
    const tr = BY_ID.get(type);
    if (tr === undefined) fail('E_DTYPE', `unknown or removed ggml type id ${type}`);
    return tr;
  }
  const tr = typeof type === 'string' ? (GGML_TYPES as Record<string, GgmlTypeTraits>)[type.toUpperCase()] : undefined;
  if (tr === undefined) fail('E_DTYPE', `unknown ggml type ${JSON.stringify(type)}`);
  return tr;
}

/**
 * Bytes that `n` elements of a ggml type occupy. Throws `E_SHAPE` unless `n` is a non-negative
 * multiple of the block size.
 *
 * @example
 * ```ts
 * ggmlByteSize('Q4_0', 64); // 36
 * ```
 */
export function ggmlByteSize(type: number | string | GgmlTypeTraits, n: number): number {
  const tr = typeof type === 'object' ? type : ggmlType(type);
  check(
    Number.isSafeInteger(n) && n >= 0 && n % tr.blockSize === 0,
    'E_SHAPE',
    () => `${tr.name}: ${n} elements is not a multiple of the block size ${tr.blockSize}`,
  );
  return (n / tr.blockSize) * tr.typeSize;
}

/**
 * The types {@link encodeGgml} / {@link decodeGgml} handle (either case).
 *
 * @example
 * ```ts
 * const t: GgmlCodecType = 'mxfp4';
 * ```
 */
export type GgmlCodecType =
  | 'f32'
  | 'f16'
  | 'bf16'
  | 'q8_0'
  | 'q4_0'
  | 'q4_1'
  | 'mxfp4'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'Q8_0'
  | 'Q4_0'
  | 'Q4_1'
  | 'MXFP4';

type Codec = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'MXFP4';

function codecOf(type: string, who: string): Codec {
  const u = typeof type === 'string' ? type.toUpperCase() : '';
  if (u === 'F32' || u === 'F16' || u === 'BF16' || u === 'Q8_0' || u === 'Q4_0' || u === 'Q4_1' || u === 'MXFP4')
    return u;
  return fail(
    'E_DTYPE',
    `${who}: unsupported ggml type ${JSON.stringify(type)}; expected one of f32, f16, bf16, q8_0, q4_0, q4_1, mxfp4`,
  );
}

/**
 * `kvalues_mxfp4`: the E2M1 code points doubled (index = 4-bit code), as in `ggml-common.h`.
 *
 * @example
 * ```ts
 * KVALUES_MXFP4[7]; // 12 (E2M1 value 6.0, doubled)
 * ```
 */
export const KVALUES_MXFP4: readonly number[] = Object.freeze([
  0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12,
]);
const KV = new Int8Array(KVALUES_MXFP4);

const SCRATCH_F = new Float32Array(1);
const SCRATCH_U = new Uint32Array(SCRATCH_F.buffer);

/**
 * ggml's `GGML_E8M0_TO_FP32_HALF`: 2^(e−128) as a float32 (2^-128 for e = 0, 2^-127 for e = 1).
 *
 * @example
 * ```ts
 * e8m0ToFp32Half(128); // 1
 * e8m0ToFp32Half(0); // 2^-128
 * ```
 */
export function e8m0ToFp32Half(e: number): number {
  SCRATCH_U[0] = e < 2 ? (0x00200000 << e) >>> 0 : ((e - 1) << 23) >>> 0;
  return SCRATCH_F[0]!;
}

function checkEncodeInput(x: Float32Array, codec: Codec, who: string): void {
  check(x instanceof Float32Array, 'E_DTYPE', () => `${who}: expected a Float32Array`);
  const bs = GGML_TYPES[codec].blockSize;
  check(
    x.length % bs === 0,
    'E_SHAPE',
    () => `${who}(${codec}): length ${x.length} is not a multiple of the block size ${bs}`,
  );
  if (codec === 'F32' || codec === 'F16' || codec === 'BF16') return;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v - v !== 0)
      fail('E_NONFINITE', `${who}(${codec}): element ${i} is ${v}; ggml block encoders need finite inputs`);
  }
}

function checkDecodeInput(bytes: Uint8Array, codec: Codec, n: number, who: string): number {
  check(bytes instanceof Uint8Array, 'E_DTYPE', () => `${who}: expected a Uint8Array`);
  const need = ggmlByteSize(codec, n);
  check(
    bytes.length === need,
    'E_SHAPE',
    () => `${who}(${codec}): ${n} elements need ${need} bytes, got ${bytes.length}`,
  );
  return need;
}

// ---------------------------------------------------------------------------------------------------
// Reference twins: one block at a time, as the C code reads.
// ---------------------------------------------------------------------------------------------------

/**
 * C's `(int8_t)f` as x86-64 compiles it (`cvttss2si` to 32 bits, keep the low byte): truncate toward
 * zero; NaN, ±Inf and values outside the int32 range give the "integer indefinite" 0x80000000, whose
 * low byte is 0. Reached only when a block's scale is so small that its f32 reciprocal overflows.
 */
function cToInt8(v: number): number {
  if (!(Math.abs(v) < 2147483648)) return 0;
  return (Math.trunc(v) << 24) >> 24;
}

function putF16(dv: DataView, off: number, v: number): void {
  dv.setUint16(off, f32ToF16Bits(v), true);
}

function refQ8_0(x: Float32Array, dv: DataView, nb: number): void {
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i * 32 + j]!));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * 34;
    putF16(dv, o, d);
    for (let j = 0; j < 32; j++) {
      const x0 = Math.fround(x[i * 32 + j]! * id);
      dv.setInt8(o + 2 + j, cToInt8(roundHalfAway(x0)));
    }
  }
}

function refQ4_0(x: Float32Array, dv: DataView, nb: number): void {
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[i * 32 + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * 18;
    putF16(dv, o, d);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround(x[i * 32 + j]! * id);
      const x1 = Math.fround(x[i * 32 + 16 + j]! * id);
      const xi0 = Math.min(15, cToInt8(Math.fround(x0 + 8.5)));
      const xi1 = Math.min(15, cToInt8(Math.fround(x1 + 8.5)));
      dv.setUint8(o + 2 + j, (xi0 & 15) | ((xi1 & 15) << 4));
    }
  }
}

function refQ4_1(x: Float32Array, dv: DataView, nb: number): void {
  for (let i = 0; i < nb; i++) {
    let min = 3.4028234663852886e38;
    let max = -3.4028234663852886e38;
    for (let j = 0; j < 32; j++) {
      const v = x[i * 32 + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = Math.fround(Math.fround(max - min) / 15);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * 20;
    putF16(dv, o, d);
    putF16(dv, o + 2, min);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround(Math.fround(x[i * 32 + j]! - min) * id);
      const x1 = Math.fround(Math.fround(x[i * 32 + 16 + j]! - min) * id);
      const xi0 = Math.min(15, cToInt8(Math.fround(x0 + 0.5)));
      const xi1 = Math.min(15, cToInt8(Math.fround(x1 + 0.5)));
      dv.setUint8(o + 4 + j, (xi0 & 15) | ((xi1 & 15) << 4));
    }
  }
}

/**
 * floorf(log2f(amax)) − 2 + 127, clamped at 0, taking log2f as correctly rounded to f32. (glibc's
 * log2f is within one ulp, so for amax within ~2^-18 relative below a power of two another libm may
 * pick the other exponent; lowbit fixes the correctly rounded choice.)
 */
function mxfp4ExponentRef(amax: number): number {
  if (!(amax > 0)) return 0;
  const e = Math.floor(Math.fround(Math.log2(amax))) - 2 + 127;
  return Math.max(e, 0);
}

function bestIndexMxfp4Ref(x: number, d: number): number {
  let best = 0;
  let bestErr = Math.abs(Math.fround(Math.fround(KV[0]! * d) - x));
  for (let c = 1; c < 16; c++) {
    const err = Math.abs(Math.fround(Math.fround(KV[c]! * d) - x));
    if (err < bestErr) {
      best = c;
      bestErr = err;
    }
  }
  return best;
}

function refMxfp4(x: Float32Array, dv: DataView, nb: number): void {
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[i * 32 + j]!);
      if (amax < a) amax = a;
    }
    const e = mxfp4ExponentRef(amax);
    const d = e8m0ToFp32Half(e);
    const o = i * 17;
    dv.setUint8(o, e);
    for (let j = 0; j < 16; j++) {
      const c0 = bestIndexMxfp4Ref(x[i * 32 + j]!, d);
      const c1 = bestIndexMxfp4Ref(x[i * 32 + 16 + j]!, d);
      dv.setUint8(o + 1 + j, c0 | (c1 << 4));
    }
  }
}

/**
 * Reference twin of {@link encodeGgml}: plain per-block loops mirroring `quantize_row_*_ref`, one
 * `Math.fround` per C float operation, `DataView` stores. Bit-identical to the fast path.
 *
 * @example
 * ```ts
 * encodeGgmlRef(new Float32Array(32).fill(1), 'q8_0'); // 34 bytes
 * ```
 */
export function encodeGgmlRef(x: Float32Array, type: GgmlCodecType): Uint8Array {
  const codec = codecOf(type, 'encodeGgmlRef');
  checkEncodeInput(x, codec, 'encodeGgmlRef');
  const n = x.length;
  const out = new Uint8Array(ggmlByteSize(codec, n));
  const dv = new DataView(out.buffer);
  const nb = n / 32;
  switch (codec) {
    case 'F32':
      for (let i = 0; i < n; i++) dv.setFloat32(4 * i, x[i]!, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) dv.setUint16(2 * i, f32ToF16Bits(x[i]!), true);
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) dv.setUint16(2 * i, f32ToBf16Bits(x[i]!), true);
      break;
    case 'Q8_0':
      refQ8_0(x, dv, nb);
      break;
    case 'Q4_0':
      refQ4_0(x, dv, nb);
      break;
    case 'Q4_1':
      refQ4_1(x, dv, nb);
      break;
    case 'MXFP4':
      refMxfp4(x, dv, nb);
      break;
  }
  return out;
}

/**
 * Reference twin of {@link decodeGgml} (`dequantize_row_*`), with `DataView` loads.
 *
 * @example
 * ```ts
 * decodeGgmlRef(encodeGgmlRef(x, 'q4_0'), 'q4_0', x.length);
 * ```
 */
export function decodeGgmlRef(bytes: Uint8Array, type: GgmlCodecType, n: number): Float32Array {
  const codec = codecOf(type, 'decodeGgmlRef');
  checkDecodeInput(bytes, codec, n, 'decodeGgmlRef');
  const y = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nb = n / 32;
  switch (codec) {
    case 'F32':
      for (let i = 0; i < n; i++) y[i] = dv.getFloat32(4 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) y[i] = f16BitsToF32(dv.getUint16(2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) {
        SCRATCH_U[0] = dv.getUint16(2 * i, true) << 16;
        y[i] = SCRATCH_F[0]!;
      }
      break;
    case 'Q8_0':
      for (let i = 0; i < nb; i++) {
        const d = f16BitsToF32(dv.getUint16(i * 34, true));
        for (let j = 0; j < 32; j++) y[i * 32 + j] = Math.fround(dv.getInt8(i * 34 + 2 + j) * d);
      }
      break;
    case 'Q4_0':
      for (let i = 0; i < nb; i++) {
        const d = f16BitsToF32(dv.getUint16(i * 18, true));
        for (let j = 0; j < 16; j++) {
          const b = dv.getUint8(i * 18 + 2 + j);
          y[i * 32 + j] = Math.fround(((b & 15) - 8) * d);
          y[i * 32 + 16 + j] = Math.fround(((b >> 4) - 8) * d);
        }
      }
      break;
    case 'Q4_1':
      for (let i = 0; i < nb; i++) {
        const d = f16BitsToF32(dv.getUint16(i * 20, true));
        const m = f16BitsToF32(dv.getUint16(i * 20 + 2, true));
        for (let j = 0; j < 16; j++) {
          const b = dv.getUint8(i * 20 + 4 + j);
          y[i * 32 + j] = Math.fround(Math.fround((b & 15) * d) + m);
          y[i * 32 + 16 + j] = Math.fround(Math.fround((b >> 4) * d) + m);
        }
      }
      break;
    case 'MXFP4':
      for (let i = 0; i < nb; i++) {
        const e = dv.getUint8(i * 17);
        if (e === 0xff) fail('E_FORMAT', `decodeGgmlRef(MXFP4): block ${i} has the reserved scale byte 0xFF (NaN)`);
        const d = e8m0ToFp32Half(e);
        for (let j = 0; j < 16; j++) {
          const b = dv.getUint8(i * 17 + 1 + j);
          y[i * 32 + j] = Math.fround(KV[b & 15]! * d);
          y[i * 32 + 16 + j] = Math.fround(KV[b >> 4]! * d);
        }
      }
      break;
  }
  return y;
}

// ---------------------------------------------------------------------------------------------------
// Fast paths: same arithmetic, hoisted conversions, typed-array stores, no per-element calls.
// ---------------------------------------------------------------------------------------------------

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swap16(b: Uint8Array): void {
  for (let i = 0; i + 1 < b.length; i += 2) {
    const a = b[i]!;
    b[i] = b[i + 1]!;
    b[i + 1] = a;
  }
}

function swap32(b: Uint8Array): void {
  for (let i = 0; i + 3 < b.length; i += 4) {
    const a0 = b[i]!;
    const a1 = b[i + 1]!;
    b[i] = b[i + 3]!;
    b[i + 1] = b[i + 2]!;
    b[i + 2] = a1;
    b[i + 3] = a0;
  }
}

function fastQ8_0(x: Float32Array, out: Uint8Array, nb: number): void {
  for (let i = 0, xi = 0, o = 0; i < nb; i++, xi += 32, o += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[xi + j]!);
      if (a > amax) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f32ToF16Bits(d);
    out[o] = h & 255;
    out[o + 1] = h >>> 8;
    for (let j = 0; j < 32; j++) {
      const v = Math.fround(x[xi + j]! * id);
      // roundf: ties away from zero; v + 0.5 is exact in double for |v| <= 2^24.
      const q = v >= 0 ? (v + 0.5) | 0 : -((0.5 - v) | 0);
      out[o + 2 + j] = q & 255;
    }
  }
}

function fastQ4_0(x: Float32Array, out: Uint8Array, nb: number): void {
  for (let i = 0, xi = 0, o = 0; i < nb; i++, xi += 32, o += 18) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[xi + j]!;
      const a = v < 0 ? -v : v;
      if (amax < a) {
        amax = a;
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f32ToF16Bits(d);
    out[o] = h & 255;
    out[o + 1] = h >>> 8;
    for (let j = 0; j < 16; j++) {
      let q0 = Math.fround(Math.fround(x[xi + j]! * id) + 8.5) | 0;
      let q1 = Math.fround(Math.fround(x[xi + 16 + j]! * id) + 8.5) | 0;
      if (q0 > 15) q0 = 15;
      if (q1 > 15) q1 = 15;
      out[o + 2 + j] = q0 | (q1 << 4);
    }
  }
}

function fastQ4_1(x: Float32Array, out: Uint8Array, nb: number): void {
  for (let i = 0, xi = 0, o = 0; i < nb; i++, xi += 32, o += 20) {
    let min = x[xi]!;
    let max = min;
    for (let j = 1; j < 32; j++) {
      const v = x[xi + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = Math.fround(Math.fround(max - min) / 15);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const hd = f32ToF16Bits(d);
    const hm = f32ToF16Bits(min);
    out[o] = hd & 255;
    out[o + 1] = hd >>> 8;
    out[o + 2] = hm & 255;
    out[o + 3] = hm >>> 8;
    for (let j = 0; j < 16; j++) {
      let q0 = Math.fround(Math.fround(Math.fround(x[xi + j]! - min) * id) + 0.5) | 0;
      let q1 = Math.fround(Math.fround(Math.fround(x[xi + 16 + j]! - min) * id) + 0.5) | 0;
      if (q0 > 15) q0 = 15;
      if (q1 > 15) q1 = 15;
      out[o + 4 + j] = q0 | (q1 << 4);
    }
  }
}

/**
 * MXFP4 exponent from the float bits: floor(log2 amax) is the unbiased exponent, except when the
 * correctly rounded f32 log2 reaches the next integer (mantissa close to all ones), checked exactly.
 */
function mxfp4ExponentFast(amax: number): number {
  if (!(amax > 0)) return 0;
  SCRATCH_F[0] = amax;
  const u = SCRATCH_U[0]!;
  const be = u >>> 23;
  let fl: number;
  if (be === 0) {
    fl = Math.floor(Math.fround(Math.log2(amax))); // subnormal: rare, use the definition
  } else {
    fl = be - 127;
    // log2(1 + m) within half an f32 ulp of 1 can round up to the next integer; only mantissas with
    // their top 8 bits set can get that close (for |fl| < 2^15), so check those by the definition.
    if ((u & 0x7f8000) === 0x7f8000) fl = Math.floor(Math.fround(Math.log2(amax)));
  }
  const e = fl - 2 + 127;
  return Math.max(e, 0);
}

function fastMxfp4(x: Float32Array, out: Uint8Array, nb: number): void {
  for (let i = 0, xi = 0, o = 0; i < nb; i++, xi += 32, o += 17) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[xi + j]!;
      const a = v < 0 ? -v : v;
      if (amax < a) amax = a;
    }
    const e = mxfp4ExponentFast(amax);
    out[o] = e;
    // |x| / d as an exact power-of-two scaling in double; thresholds are the midpoints of the grid
    // {0,1,2,3,4,6,8,12}, ties going to the smaller magnitude (the C loop keeps the first minimum).
    const inv = 2 ** (128 - e);
    // e = 253 (amax within an f32 rounding of 2^128): ±8·d and ±12·d overflow f32 in the C loop, so
    // their error is +Inf and they are never chosen.
    const cmax = e >= 253 ? 5 : 7;
    for (let j = 0; j < 16; j++) {
      out[o + 1 + j] = mxfp4Code(x[xi + j]!, inv, cmax) | (mxfp4Code(x[xi + 16 + j]!, inv, cmax) << 4);
    }
  }
}

function mxfp4Code(v: number, inv: number, cmax: number): number {
  const neg = v < 0;
  const a = (neg ? -v : v) * inv;
  let c: number;
  if (a <= 2) c = a <= 0.5 ? 0 : a <= 1.5 ? 1 : 2;
  else if (a <= 3.5) c = a <= 2.5 ? 2 : 3;
  else if (a <= 7) c = a <= 5 ? 4 : 5;
  else c = a <= 10 ? 6 : 7;
  if (c > cmax) c = cmax;
  return neg && c !== 0 ? c + 8 : c;
}

/**
 * Encode float32 values into ggml blocks (llama.cpp's `quantize_row_*_ref`, byte for byte). `x.length`
 * must be a multiple of 32 for block types (`E_SHAPE`); block types reject NaN/±Inf (`E_NONFINITE`).
 * F32/F16/BF16 write little-endian values (F16/BF16 rounded to nearest even). The input is not modified.
 *
 * @example
 * ```ts
 * const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
 * const q = encodeGgml(x, 'q4_0'); // 2 blocks × 18 bytes
 * const y = decodeGgml(q, 'q4_0', 64);
 * ```
 */
export function encodeGgml(x: Float32Array, type: GgmlCodecType): Uint8Array {
  const codec = codecOf(type, 'encodeGgml');
  checkEncodeInput(x, codec, 'encodeGgml');
  const n = x.length;
  const nb = n / 32;
  switch (codec) {
    case 'F32': {
      const out = new Uint8Array(4 * n);
      out.set(new Uint8Array(x.buffer, x.byteOffset, 4 * n));
      if (!LITTLE_ENDIAN) swap32(out);
      return out;
    }
    case 'F16': {
      const out = new Uint8Array(2 * n);
      f32ToF16Array(x, new Uint16Array(out.buffer));
      if (!LITTLE_ENDIAN) swap16(out);
      return out;
    }
    case 'BF16': {
      const out = new Uint8Array(2 * n);
      f32ToBf16Array(x, new Uint16Array(out.buffer));
      if (!LITTLE_ENDIAN) swap16(out);
      return out;
    }
    case 'Q8_0': {
      const out = new Uint8Array(nb * 34);
      fastQ8_0(x, out, nb);
      return out;
    }
    case 'Q4_0': {
      const out = new Uint8Array(nb * 18);
      fastQ4_0(x, out, nb);
      return out;
    }
    case 'Q4_1': {
      const out = new Uint8Array(nb * 20);
      fastQ4_1(x, out, nb);
      return out;
    }
    case 'MXFP4': {
      const out = new Uint8Array(nb * 17);
      fastMxfp4(x, out, nb);
      return out;
    }
  }
}

const F16_TABLE_SIZE = 65536;
let f16Table: Float32Array | undefined;
function f16Lut(): Float32Array {
  if (f16Table === undefined) {
    const codes = new Uint16Array(F16_TABLE_SIZE);
    for (let i = 0; i < F16_TABLE_SIZE; i++) codes[i] = i;
    f16Table = f16ToF32Array(codes);
  }
  return f16Table;
}

/**
 * Decode `n` elements of ggml data into float32 (`dequantize_row_*`). `bytes.length` must equal the
 * encoded size of `n` elements (`E_SHAPE`); an MXFP4 scale byte 0xFF is rejected (`E_FORMAT`).
 * The bytes may sit at any offset (no alignment needed) and are not modified.
 *
 * @example
 * ```ts
 * const y = decodeGgml(encodeGgml(new Float32Array(32).fill(0.5), 'q8_0'), 'q8_0', 32); // all 0.5
 * ```
 */
export function decodeGgml(bytes: Uint8Array, type: GgmlCodecType, n: number): Float32Array {
  const codec = codecOf(type, 'decodeGgml');
  const len = checkDecodeInput(bytes, codec, n, 'decodeGgml');
  const y = new Float32Array(n);
  const nb = n / 32;
  switch (codec) {
    case 'F32': {
      new Uint8Array(y.buffer).set(bytes.subarray(0, len));
      if (!LITTLE_ENDIAN) swap32(new Uint8Array(y.buffer));
      return y;
    }
    case 'F16':
    case 'BF16': {
      const bits = new Uint16Array(n);
      new Uint8Array(bits.buffer).set(bytes.subarray(0, len));
      if (!LITTLE_ENDIAN) swap16(new Uint8Array(bits.buffer));
      return codec === 'F16' ? f16ToF32Array(bits, y) : bf16ToF32Array(bits, y);
    }
    case 'Q8_0': {
      const lut = f16Lut();
      for (let i = 0, o = 0, yi = 0; i < nb; i++, o += 34, yi += 32) {
        const d = lut[bytes[o]! | (bytes[o + 1]! << 8)]!;
        for (let j = 0; j < 32; j++) y[yi + j] = ((bytes[o + 2 + j]! << 24) >> 24) * d;
      }
      return y;
    }
    case 'Q4_0': {
      const lut = f16Lut();
      for (let i = 0, o = 0, yi = 0; i < nb; i++, o += 18, yi += 32) {
        const d = lut[bytes[o]! | (bytes[o + 1]! << 8)]!;
        for (let j = 0; j < 16; j++) {
          const b = bytes[o + 2 + j]!;
          y[yi + j] = ((b & 15) - 8) * d;
          y[yi + 16 + j] = ((b >>> 4) - 8) * d;
        }
      }
      return y;
    }
    case 'Q4_1': {
      const lut = f16Lut();
      for (let i = 0, o = 0, yi = 0; i < nb; i++, o += 20, yi += 32) {
        const d = lut[bytes[o]! | (bytes[o + 1]! << 8)]!;
        const m = lut[bytes[o + 2]! | (bytes[o + 3]! << 8)]!;
        for (let j = 0; j < 16; j++) {
          const b = bytes[o + 4 + j]!;
          // nib·d is exact (4-bit × 11-bit significands); the store rounds the sum once, like C.
          y[yi + j] = (b & 15) * d + m;
          y[yi + 16 + j] = (b >>> 4) * d + m;
        }
      }
      return y;
    }
    case 'MXFP4': {
      const bad = decodeMxfp4Fast(bytes, y, nb);
      if (bad >= 0) fail('E_FORMAT', `decodeGgml(MXFP4): block ${bad} has the reserved scale byte 0xFF (NaN)`);
      return y;
    }
  }
}

/** Returns the index of the first block with scale byte 0xFF, or −1. */
function decodeMxfp4Fast(bytes: Uint8Array, y: Float32Array, nb: number): number {
  for (let i = 0, o = 0, yi = 0; i < nb; i++, o += 17, yi += 32) {
    const e = bytes[o]!;
    if (e === 0xff) return i;
    const d = 2 ** (e - 128); // = e8m0ToFp32Half(e), exact in double
    for (let j = 0; j < 16; j++) {
      const b = bytes[o + 1 + j]!;
      y[yi + j] = KV[b & 15]! * d;
      y[yi + 16 + j] = KV[b >>> 4]! * d;
    }
  }
  return -1;
}
