/**
 * GGUF (v2 and v3, little-endian) reader and writer, from `formats.md` §4.
 *
 * ```
 * "GGUF" | u32 version | u64 tensor_count | u64 kv_count | kv[] | tensor_info[] | pad to ALIGNMENT | data
 * kv          = gguf_string key | u32 value_type | value
 * tensor_info = gguf_string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset
 * gguf_string = u64 byte length + UTF-8 bytes
 * ```
 * `ne` lists dimensions fastest-varying first; lowbit reports the row-major shape (`ne` reversed).
 * ALIGNMENT is `general.alignment` (u32, a power of two) or 32. Tensor offsets are relative to the
 * data section and must be multiples of ALIGNMENT.
 *
 * The reader parses the header through a {@link ByteSource} in bounded chunks and reads each tensor
 * on demand, so files larger than 2 GiB work and are never read whole. Hardening: caps on string
 * length, array length, KV count, tensor count, name length, n_dims (≤ 8) and array nesting depth;
 * every count is also checked against the bytes left in the file *before* anything is allocated;
 * duplicate keys and tensor names, unknown types, misaligned or out-of-file or overlapping tensor
 * data are rejected with `E_FORMAT` (caps with `E_LIMIT`).
 *
 * Exposed: openGguf, parseGguf, serializeGguf, GGUF_LIMITS, GgufLimits, GgufFile, GgufTensorInfo,
 * GgufValueType, GgufScalar, GgufArray, GgufTypedValue, GgufPlainValue, GgufValueInput,
 * GgufWriteTensor, GgufWriteOptions, ggufPlain.
 * @module
 */
import { check, fail } from '../errors.js';
import { decodeGgml, encodeGgml, type GgmlCodecType, type GgmlTypeTraits, ggmlType } from '../ggml.js';
import { bf16ToF32Array, f16ToF32Array } from '../half.js';
import { type Float32Tensor, shapeSize, type Tensor } from '../tensor.js';
import { type ByteSource, memorySource, type TensorFile, type TensorInfo } from './source.js';

/**
 * GGUF metadata value types (ids 0–12 in this order: u8 i8 u16 i16 u32 i32 f32 bool string array u64
 * i64 f64).
 *
 * @example
 * ```ts
 * const t: GgufValueType = 'u32';
 * ```
 */
export type GgufValueType =
  | 'u8'
  | 'i8'
  | 'u16'
  | 'i16'
  | 'u32'
  | 'i32'
  | 'f32'
  | 'bool'
  | 'string'
  | 'array'
  | 'u64'
  | 'i64'
  | 'f64';

const TYPE_BY_ID: readonly GgufValueType[] = [
  'u8',
  'i8',
  'u16',
  'i16',
  'u32',
  'i32',
  'f32',
  'bool',
  'string',
  'array',
  'u64',
  'i64',
  'f64',
];
const ID_BY_TYPE = new Map<GgufValueType, number>(TYPE_BY_ID.map((t, i) => [t, i]));
/** Smallest encoded size of one value of each type (used to bound counts by the bytes left). */
const MIN_SIZE: Readonly<Record<GgufValueType, number>> = {
  u8: 1,
  i8: 1,
  bool: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  u64: 8,
  i64: 8,
  f64: 8,
  string: 8,
  array: 12,
};

/**
 * A scalar metadata value: numbers for ≤ 32-bit ints and floats, `bigint` for u64/i64.
 *
 * @example
 * ```ts
 * const v: GgufScalar = 2n ** 40n; // a u64 as read
 * ```
 */
export type GgufScalar = number | bigint | boolean | string;

/**
 * A typed GGUF array. `value` holds scalars of `itemType`, or nested {@link GgufArray}s when
 * `itemType` is `'array'` (each inner array carries its own item type).
 *
 * @example
 * ```ts
 * const a: GgufArray = { type: 'array', itemType: 'string', value: ['<unk>', '<s>'] };
 * ```
 */
export interface GgufArray {
  readonly type: 'array';
  readonly itemType: GgufValueType;
  readonly value: readonly (GgufScalar | GgufArray)[];
}

/**
 * A metadata value with its GGUF type, so `u32` vs `i32` vs `f32` survives a round trip.
 *
 * @example
 * ```ts
 * const v: GgufTypedValue = { type: 'u32', value: 32 };
 * ```
 */
export type GgufTypedValue =
  | { readonly type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; readonly value: number }
  | { readonly type: 'u64' | 'i64'; readonly value: bigint | number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | GgufArray;

/**
 * A metadata value without type tags (what `TensorFile.metadata` holds).
 *
 * @example
 * ```ts
 * const tokens = f.metadata['tokenizer.ggml.tokens'] as string[];
 * ```
 */
export type GgufPlainValue = GgufScalar | readonly GgufPlainValue[];

/**
 * What the writer accepts per key: a typed value, or a bare value whose type is inferred — string →
 * `string`, boolean → `bool`, bigint → `i64`, integer number → `u32` (≥ 0) / `i32` (< 0) / `i64`
 * (outside 32 bits), other number → `f32` (llama.cpp's float type), array → array of the inferred
 * item type (all items must infer the same type).
 *
 * @example
 * ```ts
 * const md: Record<string, GgufValueInput> = { 'llama.block_count': 2, eps: { type: 'f32', value: 1e-5 } };
 * ```
 */
export type GgufValueInput = GgufTypedValue | GgufScalar | readonly GgufValueInput[];

/**
 * Caps applied while reading a GGUF header (all also bounded by the bytes left in the file).
 *
 * @example
 * ```ts
 * openGguf(src, { ...GGUF_LIMITS, maxArrayLength: 1_000_000 });
 * ```
 */
export interface GgufLimits {
  readonly maxStringBytes: number;
  readonly maxKeyBytes: number;
  readonly maxNameBytes: number;
  readonly maxArrayLength: number;
  readonly maxKvCount: number;
  readonly maxTensorCount: number;
  readonly maxDims: number;
  readonly maxDepth: number;
}

/**
 * Default {@link GgufLimits}: strings ≤ 64 MiB, keys ≤ 65 535 B, tensor names ≤ 64 B, arrays ≤ 2^26
 * items, ≤ 2^20 KV pairs, ≤ 2^20 tensors, n_dims ≤ 8, arrays nested ≤ 8 deep.
 *
 * @example
 * ```ts
 * GGUF_LIMITS.maxDims; // 8
 * ```
 */
export const GGUF_LIMITS: GgufLimits = Object.freeze({
  maxStringBytes: 1 << 26,
  maxKeyBytes: 65535,
  maxNameBytes: 64,
  maxArrayLength: 1 << 26,
  maxKvCount: 1 << 20,
  maxTensorCount: 1 << 20,
  maxDims: 8,
  maxDepth: 8,
});

/**
 * One GGUF tensor: the common {@link TensorInfo} (row-major `shape`, absolute `byteOffset`) plus its
 * ggml type traits, the raw `ne` (fastest-varying first) and the offset relative to the data section.
 *
 * @example
 * ```ts
 * const ti = f.info('blk.0.attn_q.weight') as GgufTensorInfo; // ti.ggml.name === 'Q4_0'
 * ```
 */
export interface GgufTensorInfo extends TensorInfo {
  readonly ggml: GgmlTypeTraits;
  readonly ne: readonly number[];
  readonly relativeOffset: number;
}

/**
 * An open GGUF file: a {@link TensorFile} plus the header details. `metadata` holds plain values,
 * `typedMetadata` the same values with their GGUF types; `readRaw(name)` returns a tensor's bytes.
 *
 * @example
 * ```ts
 * const f = parseGguf(bytes);
 * f.version; // 3
 * f.typedMetadata['general.alignment']; // { type: 'u32', value: 32 } when present
 * ```
 */
export interface GgufFile extends TensorFile {
  readonly format: 'gguf';
  readonly version: number;
  readonly alignment: number;
  /** Absolute byte offset of the data section. */
  readonly dataOffset: number;
  readonly typedMetadata: Readonly<Record<string, GgufTypedValue>>;
  readonly tensors: readonly GgufTensorInfo[];
  info(name: string): GgufTensorInfo;
  readRaw(name: string): Uint8Array;
}

const WINDOW = 1 << 16;
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextDecoder('utf-8');
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Sequential little-endian reader over a ByteSource with a bounded buffer window. */
class HeaderReader {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private dv = new DataView(this.buf.buffer);
  private start = 0;
  constructor(
    private readonly src: ByteSource,
    private readonly what: string,
  ) {}
  get remaining(): number {
    return this.src.size - this.pos;
  }
  private need(n: number, field: string): number {
    if (n > this.remaining)
      fail(
        'E_FORMAT',
        `${this.what}: truncated: ${field} needs ${n} bytes at offset ${this.pos}, file has ${this.src.size}`,
      );
    const rel = this.pos - this.start;
    if (rel + n <= this.buf.length) return rel;
    const len = Math.min(Math.max(n, WINDOW), this.remaining);
    this.buf = this.src.read(this.pos, len, new Uint8Array(len));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.start = this.pos;
    return 0;
  }
  u8(f: string): number {
    const r = this.need(1, f);
    this.pos += 1;
    return this.dv.getUint8(r);
  }
  u32(f: string): number {
    const r = this.need(4, f);
    this.pos += 4;
    return this.dv.getUint32(r, true);
  }
  u64(f: string): bigint {
    const r = this.need(8, f);
    this.pos += 8;
    return this.dv.getBigUint64(r, true);
  }
  scalar(t: GgufValueType, f: string): GgufScalar {
    const size = MIN_SIZE[t];
    const r = this.need(size, f);
    this.pos += size;
    const dv = this.dv;
    switch (t) {
      case 'u8':
        return dv.getUint8(r);
      case 'i8':
        return dv.getInt8(r);
      case 'u16':
        return dv.getUint16(r, true);
      case 'i16':
        return dv.getInt16(r, true);
      case 'u32':
        return dv.getUint32(r, true);
      case 'i32':
        return dv.getInt32(r, true);
      case 'f32':
        return dv.getFloat32(r, true);
      case 'bool': {
        const b = dv.getUint8(r);
        if (b > 1) fail('E_FORMAT', `${this.what}: ${f}: bool byte is ${b}, expected 0 or 1`);
        return b === 1;
      }
      case 'u64':
        return dv.getBigUint64(r, true);
      case 'i64':
        return dv.getBigInt64(r, true);
      case 'f64':
        return dv.getFloat64(r, true);
      default:
        return fail('E_FORMAT', `${this.what}: ${f}: ${t} is not a scalar type`);
    }
  }
  bytes(n: number, f: string): Uint8Array {
    if (n <= WINDOW) {
      const r = this.need(n, f);
      this.pos += n;
      return this.buf.subarray(r, r + n);
    }
    if (n > this.remaining) this.need(n, f);
    const out = this.src.read(this.pos, n, new Uint8Array(n));
    this.pos += n;
    return out;
  }
  /** A u64 count/length as a safe number, checked against `cap` and against the bytes left. */
  count(f: string, cap: number, minItemBytes: number): number {
    const v = this.u64(f);
    if (v > BigInt(cap)) fail('E_LIMIT', `${this.what}: ${f} is ${v}, above the cap of ${cap}`);
    const n = Number(v);
    if (n * minItemBytes > this.remaining)
      fail(
        'E_FORMAT',
        `${this.what}: ${f} is ${n} (≥ ${n * minItemBytes} bytes) but only ${this.remaining} bytes are left in the file`,
      );
    return n;
  }
  string(f: string, cap: number, strict: boolean): string {
    const n = this.count(`${f} length`, cap, 1);
    const b = this.bytes(n, f);
    if (!strict) return utf8.decode(b);
    try {
      return utf8Strict.decode(b);
    } catch (e) {
      return fail('E_FORMAT', `${this.what}: ${f} is not valid UTF-8`, e);
    }
  }
}

function readValue(r: HeaderReader, t: GgufValueType, lim: GgufLimits, depth: number, f: string): GgufTypedValue {
  if (t === 'string') return { type: 'string', value: r.string(f, lim.maxStringBytes, false) };
  if (t === 'array') {
    if (depth >= lim.maxDepth) fail('E_LIMIT', `GGUF: ${f}: arrays nested deeper than ${lim.maxDepth}`);
    const itemId = r.u32(`${f} item type`);
    const itemType = TYPE_BY_ID[itemId];
    if (itemType === undefined) fail('E_FORMAT', `GGUF: ${f}: unknown array item type ${itemId}`);
    const n = r.count(`${f} array length`, lim.maxArrayLength, MIN_SIZE[itemType]);
    const value = new Array<GgufScalar | GgufArray>(n);
    for (let i = 0; i < n; i++) {
      if (itemType === 'array') value[i] = readValue(r, 'array', lim, depth + 1, `${f}[${i}]`) as GgufArray;
      else if (itemType === 'string') value[i] = r.string(`${f}[${i}]`, lim.maxStringBytes, false);
      else value[i] = r.scalar(itemType, `${f}[${i}]`);
    }
    return { type: 'array', itemType, value };
  }
  return { type: t, value: r.scalar(t, f) } as GgufTypedValue;
}

/**
 * A metadata value without its type tags: scalars as they are, arrays as (nested) JS arrays.
 *
 * @example
 * ```ts
 * ggufPlain({ type: 'array', itemType: 'u32', value: [1, 2] }); // [1, 2]
 * ```
 */
export function ggufPlain(v: GgufTypedValue): GgufPlainValue {
  if (v.type !== 'array') return v.value;
  return v.value.map((x) => (typeof x === 'object' ? ggufPlain(x) : x));
}

function toSafe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('E_LIMIT', `GGUF: ${what} is ${v}, above 2^53 − 1`);
  return Number(v);
}

/**
 * Open a GGUF file through a {@link ByteSource}: parse and validate the header (see the module notes
 * for the checks), then read tensors one at a time on demand. F32/F16/BF16/I8/I16/I32/I64/F64 come
 * back in their own dtype (F16/BF16 as `Uint16Array` bits), Q8_0/Q4_0/Q4_1/MXFP4 decoded to float32;
 * other ggml types are listed but `read` throws `E_DTYPE`. Assumes little-endian files (big-endian
 * GGUF cannot be detected reliably; a byte-swapped version number is reported as such).
 *
 * @example
 * ```ts
 * const f = openGguf(fileSource('model.gguf'));
 * const w = f.readFloat32('blk.0.attn_q.weight');
 * f.close();
 * ```
 */
export function openGguf(src: ByteSource, limits: Partial<GgufLimits> = {}): GgufFile {
  const lim: GgufLimits = { ...GGUF_LIMITS, ...limits };
  const r = new HeaderReader(src, 'GGUF');
  if (src.size < 24) fail('E_FORMAT', `GGUF: file of ${src.size} bytes is too short for a header (24 bytes)`);
  const magic = r.bytes(4, 'magic');
  if (magic[0] !== 0x47 || magic[1] !== 0x47 || magic[2] !== 0x55 || magic[3] !== 0x46)
    fail('E_FORMAT', 'GGUF: bad magic, expected "GGUF"');
  const version = r.u32('version');
  if (version === 1) fail('E_FORMAT', 'GGUF: version 1 (32-bit lengths) is not supported; expected 2 or 3');
  if (version !== 2 && version !== 3) {
    const swapped =
      ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (swapped === 2 || swapped === 3)
      fail('E_FORMAT', 'GGUF: this looks like a big-endian file; only little-endian is supported');
    fail('E_FORMAT', `GGUF: unsupported version ${version}; expected 2 or 3`);
  }
  const nTensors = r.count('tensor_count', lim.maxTensorCount, 24);
  const nKv = r.count('metadata_kv_count', lim.maxKvCount, 13);

  const typedMetadata: Record<string, GgufTypedValue> = Object.create(null);
  const metadata: Record<string, GgufPlainValue> = Object.create(null);
  for (let i = 0; i < nKv; i++) {
    const key = r.string(`key of KV ${i}`, lim.maxKeyBytes, true);
    if (key in typedMetadata) fail('E_FORMAT', `GGUF: duplicate metadata key ${JSON.stringify(key)}`);
    const tid = r.u32(`type of ${key}`);
    const t = TYPE_BY_ID[tid];
    if (t === undefined) fail('E_FORMAT', `GGUF: metadata ${JSON.stringify(key)} has unknown value type ${tid}`);
    const v = readValue(r, t, lim, 0, key);
    typedMetadata[key] = v;
    metadata[key] = ggufPlain(v);
  }

  let alignment = 32;
  const al = typedMetadata['general.alignment'];
  if (al !== undefined) {
    if (al.type !== 'u32') fail('E_FORMAT', `GGUF: general.alignment has type ${al.type}, expected u32`);
    const a = al.value;
    if (a === 0 || (a & (a - 1)) !== 0) fail('E_FORMAT', `GGUF: general.alignment is ${a}, expected a power of two`);
    alignment = a;
  }

  const tensors: GgufTensorInfo[] = [];
  const byName = new Map<string, GgufTensorInfo>();
  const seen = new Set<string>();
  const pending: { name: string; ne: number[]; ggml: GgmlTypeTraits; rel: number; n: number; bytes: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = r.string(`name of tensor ${i}`, lim.maxNameBytes, true);
    if (seen.has(name)) fail('E_FORMAT', `GGUF: duplicate tensor name ${JSON.stringify(name)}`);
    seen.add(name);
    const nDims = r.u32(`n_dims of ${name}`);
    if (nDims > lim.maxDims) fail('E_LIMIT', `GGUF: tensor ${name} has ${nDims} dims, above the cap of ${lim.maxDims}`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(toSafe(r.u64(`ne[${d}] of ${name}`), `ne[${d}] of ${name}`));
    const tid = r.u32(`type of ${name}`);
    let ggml: GgmlTypeTraits;
    try {
      ggml = ggmlType(tid);
    } catch {
      return fail('E_FORMAT', `GGUF: tensor ${name} has unknown ggml type id ${tid}`);
    }
    const rel = toSafe(r.u64(`offset of ${name}`), `offset of ${name}`);
    const n = shapeSize(ne);
    const row = ne.length > 0 ? ne[0]! : 1;
    if (row % ggml.blockSize !== 0)
      fail(
        'E_FORMAT',
        `GGUF: tensor ${name}: row length ne[0] = ${row} is not a multiple of ${ggml.name}'s block size ${ggml.blockSize}`,
      );
    const bytes = (n / ggml.blockSize) * ggml.typeSize;
    if (!Number.isSafeInteger(bytes)) fail('E_LIMIT', `GGUF: tensor ${name}: byte size overflows 2^53`);
    if (rel % alignment !== 0)
      fail('E_FORMAT', `GGUF: tensor ${name}: offset ${rel} is not a multiple of the alignment ${alignment}`);
    pending.push({ name, ne, ggml, rel, n, bytes });
  }
  const dataOffset = r.pos + ((alignment - (r.pos % alignment)) % alignment);
  if (dataOffset > src.size && nTensors > 0)
    fail('E_FORMAT', `GGUF: data section would start at ${dataOffset}, past the end of the ${src.size}-byte file`);
  for (const p of pending) {
    const abs = dataOffset + p.rel;
    if (abs + p.bytes > src.size)
      fail(
        'E_FORMAT',
        `GGUF: tensor ${p.name}: ${p.bytes} bytes at offset ${abs} extend past the end of the ${src.size}-byte file`,
      );
    const info: GgufTensorInfo = Object.freeze({
      name: p.name,
      fileDtype: p.ggml.name,
      dtype: p.ggml.readDtype ?? 'unsupported',
      shape: Object.freeze([...p.ne].reverse()),
      byteOffset: abs,
      byteLength: p.bytes,
      ggml: p.ggml,
      ne: Object.freeze(p.ne),
      relativeOffset: p.rel,
    });
    tensors.push(info);
    byName.set(p.name, info);
  }
  const sorted = [...tensors].sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.byteOffset < a.byteOffset + a.byteLength) fail('E_FORMAT', `GGUF: tensors ${a.name} and ${b.name} overlap`);
  }

  let open = true;
  const info = (name: string): GgufTensorInfo => {
    const ti = byName.get(name);
    if (ti === undefined) fail('E_CONFIG', `GGUF: no tensor named ${JSON.stringify(name)}`);
    return ti;
  };
  const readRaw = (name: string): Uint8Array => {
    const ti = info(name);
    if (!open) fail('E_IO', 'GGUF: read after close');
    return src.read(ti.byteOffset, ti.byteLength, new Uint8Array(ti.byteLength));
  };
  const read = (name: string): Tensor => {
    const ti = info(name);
    const n = shapeSize(ti.shape);
    if (ti.ggml.readDtype === null)
      fail('E_DTYPE', `GGUF: tensor ${name} has type ${ti.ggml.name}, which lowbit cannot decode`);
    const raw = readRaw(name);
    const shape = ti.shape;
    switch (ti.ggml.name) {
      case 'F32':
        return { dtype: 'float32', data: new Float32Array(swapIfBE(raw, 4).buffer, 0, n), shape };
      case 'F16':
        return { dtype: 'float16', data: new Uint16Array(swapIfBE(raw, 2).buffer, 0, n), shape };
      case 'BF16':
        return { dtype: 'bfloat16', data: new Uint16Array(swapIfBE(raw, 2).buffer, 0, n), shape };
      case 'I8':
        return { dtype: 'int8', data: new Int8Array(raw.buffer, 0, n), shape };
      case 'I16':
        return { dtype: 'int16', data: new Int16Array(swapIfBE(raw, 2).buffer, 0, n), shape };
      case 'I32':
        return { dtype: 'int32', data: new Int32Array(swapIfBE(raw, 4).buffer, 0, n), shape };
      case 'I64':
        return { dtype: 'int64', data: new BigInt64Array(swapIfBE(raw, 8).buffer, 0, n), shape };
      case 'F64':
        return { dtype: 'float64', data: new Float64Array(swapIfBE(raw, 8).buffer, 0, n), shape };
      default:
        return { dtype: 'float32', data: decodeGgml(raw, ti.ggml.name as GgmlCodecType, n), shape };
    }
  };
  const readFloat32 = (name: string): Float32Tensor => {
    const t = read(name);
    return { dtype: 'float32', data: toFloat32(t), shape: t.shape };
  };
  return Object.freeze({
    format: 'gguf' as const,
    version,
    alignment,
    dataOffset,
    names: Object.freeze(tensors.map((t) => t.name)),
    tensors: Object.freeze(tensors),
    metadata: Object.freeze(metadata),
    typedMetadata: Object.freeze(typedMetadata),
    info,
    read,
    readRaw,
    readFloat32,
    close(): void {
      open = false;
      src.close?.();
    },
  });
}

function swapIfBE(b: Uint8Array, w: number): Uint8Array {
  if (LE) return b;
  for (let i = 0; i + w <= b.length; i += w) b.subarray(i, i + w).reverse();
  return b;
}

function toFloat32(t: Tensor): Float32Array {
  switch (t.dtype) {
    case 'float32':
      return t.data as Float32Array;
    case 'float16':
      return f16ToF32Array(t.data as Uint16Array);
    case 'bfloat16':
      return bf16ToF32Array(t.data as Uint16Array);
    case 'int64':
    case 'uint64': {
      const src = t.data as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
      return out;
    }
    default:
      return Float32Array.from(t.data as ArrayLike<number>);
  }
}

/**
 * Parse a whole GGUF file held in memory (same checks as {@link openGguf}; `read` copies out of
 * `bytes`, which is never modified).
 *
 * @example
 * ```ts
 * const f = parseGguf(readFileSync('tiny.gguf'));
 * f.readFloat32('w.f32').shape; // [2, 3]
 * ```
 */
export function parseGguf(bytes: Uint8Array, limits: Partial<GgufLimits> = {}): GgufFile {
  check(bytes instanceof Uint8Array, 'E_DTYPE', 'parseGguf: expected a Uint8Array');
  return openGguf(memorySource(bytes), limits);
}

// ------------------------------------------------------------------------------------------ writer

/**
 * One tensor to write. `data` is a `Float32Array` (then `shape` defaults to `[length]`) or a lowbit
 * tensor (float32, or float16/bfloat16 bits written as they are when `type` is F16/BF16). `type`
 * defaults to F32 for float32 data and F16/BF16 for half data; block types need a row length (last
 * dimension) that is a multiple of 32.
 *
 * @example
 * ```ts
 * const t: GgufWriteTensor = { name: 'w', data: new Float32Array(64), shape: [2, 32], type: 'Q4_0' };
 * ```
 */
export interface GgufWriteTensor {
  readonly name: string;
  readonly data: Float32Array | Tensor;
  readonly shape?: readonly number[];
  readonly type?: 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'MXFP4';
}

/**
 * Options of {@link serializeGguf}. `alignment` (a power of two, default 32 or
 * `general.alignment` when the metadata sets it) is written as `general.alignment` (u32) when it is
 * not 32 and the metadata does not already hold it.
 *
 * @example
 * ```ts
 * const o: GgufWriteOptions = { metadata: { 'general.architecture': 'llama' }, tensors: [] };
 * ```
 */
export interface GgufWriteOptions {
  readonly metadata?: Readonly<Record<string, GgufValueInput>>;
  readonly tensors: readonly GgufWriteTensor[];
  readonly alignment?: number;
  readonly version?: 2 | 3;
}

function isTyped(v: unknown): v is GgufTypedValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'type' in v && 'value' in v;
}

function inferScalar(v: GgufScalar, key: string): GgufValueType {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'i64';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) {
      if (v >= 0 && v <= 0xffffffff) return 'u32';
      if (v < 0 && v >= -0x80000000) return 'i32';
      return 'i64';
    }
    return 'f32';
  }
  return fail('E_CONFIG', `serializeGguf: metadata ${key}: cannot infer a GGUF type for ${typeof v}`);
}

function normalize(v: GgufValueInput, key: string): GgufTypedValue {
  if (isTyped(v)) return v;
  if (Array.isArray(v)) {
    const items = (v as readonly GgufValueInput[]).map((x, i) => normalize(x, `${key}[${i}]`));
    const first = items[0];
    const itemType: GgufValueType = first === undefined ? 'i32' : first.type;
    for (const [i, it] of items.entries())
      if (it.type !== itemType)
        fail('E_CONFIG', `serializeGguf: metadata ${key}[${i}] has type ${it.type}, expected ${itemType} like item 0`);
    return {
      type: 'array',
      itemType,
      value: items.map((it) => (it.type === 'array' ? it : it.value)),
    };
  }
  const t = inferScalar(v as GgufScalar, key);
  return { type: t, value: v } as GgufTypedValue;
}

const enc = new TextEncoder();

class Writer {
  buf = new Uint8Array(1024);
  dv = new DataView(this.buf.buffer);
  pos = 0;
  grow(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u32(v: number): void {
    this.grow(4);
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  u64(v: number | bigint): void {
    this.grow(8);
    this.dv.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  str(s: string): void {
    const b = enc.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  scalar(t: GgufValueType, v: GgufScalar, key: string): void {
    const bad = (want: string): never =>
      fail('E_CONFIG', `serializeGguf: metadata ${key}: ${t} value ${String(v)} is not ${want}`);
    const int = (lo: number, hi: number): number =>
      typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : bad(`an integer in [${lo}, ${hi}]`);
    this.grow(8);
    const dv = this.dv;
    const p = this.pos;
    switch (t) {
      case 'u8':
        dv.setUint8(p, int(0, 255));
        this.pos += 1;
        return;
      case 'i8':
        dv.setInt8(p, int(-128, 127));
        this.pos += 1;
        return;
      case 'u16':
        dv.setUint16(p, int(0, 65535), true);
        this.pos += 2;
        return;
      case 'i16':
        dv.setInt16(p, int(-32768, 32767), true);
        this.pos += 2;
        return;
      case 'u32':
        dv.setUint32(p, int(0, 0xffffffff), true);
        this.pos += 4;
        return;
      case 'i32':
        dv.setInt32(p, int(-0x80000000, 0x7fffffff), true);
        this.pos += 4;
        return;
      case 'f32':
        if (typeof v !== 'number') bad('a number');
        dv.setFloat32(p, v as number, true);
        this.pos += 4;
        return;
      case 'f64':
        if (typeof v !== 'number') bad('a number');
        dv.setFloat64(p, v as number, true);
        this.pos += 8;
        return;
      case 'bool':
        if (typeof v !== 'boolean') bad('a boolean');
        dv.setUint8(p, v ? 1 : 0);
        this.pos += 1;
        return;
      case 'u64':
      case 'i64': {
        let b: bigint;
        if (typeof v === 'bigint') b = v;
        else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
        else {
          bad('a bigint or safe integer');
          return;
        }
        if (t === 'u64' ? b < 0n || b >= 1n << 64n : b < -(1n << 63n) || b >= 1n << 63n) bad(`in the ${t} range`);
        if (t === 'u64') dv.setBigUint64(p, b, true);
        else dv.setBigInt64(p, b, true);
        this.pos += 8;
        return;
      }
      case 'string':
        if (typeof v !== 'string') bad('a string');
        this.str(v as string);
        return;
      default:
        bad('a scalar');
    }
  }
  value(v: GgufTypedValue, key: string): void {
    if (v.type !== 'array') {
      if (!ID_BY_TYPE.has(v.type)) fail('E_CONFIG', `serializeGguf: metadata ${key}: unknown type ${String(v.type)}`);
      this.scalar(v.type, v.value, key);
      return;
    }
    const it = v.itemType;
    const id = ID_BY_TYPE.get(it);
    if (id === undefined) fail('E_CONFIG', `serializeGguf: metadata ${key}: unknown item type ${String(it)}`);
    check(Array.isArray(v.value), 'E_CONFIG', () => `serializeGguf: metadata ${key}: array value must be an array`);
    this.u32(id);
    this.u64(v.value.length);
    v.value.forEach((x, i) => {
      if (it === 'array') {
        if (!isTyped(x) || x.type !== 'array')
          fail(
            'E_CONFIG',
            `serializeGguf: metadata ${key}[${i}]: expected a typed array ({ type: 'array', itemType, value })`,
          );
        this.value(x, `${key}[${i}]`);
      } else this.scalar(it, x as GgufScalar, `${key}[${i}]`);
    });
  }
  pad(a: number): void {
    const n = (a - (this.pos % a)) % a;
    this.grow(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
}

function tensorBytes(t: GgufWriteTensor): { type: GgmlTypeTraits; shape: readonly number[]; bytes: Uint8Array } {
  const who = `serializeGguf: tensor ${JSON.stringify(t.name)}`;
  const isF32 = t.data instanceof Float32Array;
  const tensorObj = isF32 ? undefined : (t.data as Tensor);
  if (!isF32 && (typeof tensorObj !== 'object' || tensorObj === null || !('dtype' in tensorObj)))
    fail('E_DTYPE', `${who}: data must be a Float32Array or a lowbit tensor`);
  const dtype = isF32 ? 'float32' : tensorObj!.dtype;
  const data = isF32 ? (t.data as Float32Array) : tensorObj!.data;
  const shape = t.shape ?? (isF32 ? [data.length] : tensorObj!.shape);
  if (shape.length > 4) fail('E_SHAPE', `${who}: rank ${shape.length} > 4 (ggml's GGML_MAX_DIMS)`);
  const n = shapeSize(shape);
  check(
    n === data.length,
    'E_SHAPE',
    () => `${who}: shape [${shape.join(', ')}] holds ${n} elements, data has ${data.length}`,
  );
  const typeName = t.type ?? (dtype === 'float16' ? 'F16' : dtype === 'bfloat16' ? 'BF16' : 'F32');
  const type = ggmlType(typeName);
  if (!type.codec) fail('E_DTYPE', `${who}: cannot write type ${typeName}`);
  const row = shape.length > 0 ? shape[shape.length - 1]! : 1;
  check(
    row % type.blockSize === 0,
    'E_SHAPE',
    () => `${who}: row length ${row} (last dimension) is not a multiple of ${type.name}'s block size ${type.blockSize}`,
  );
  if ((dtype === 'float16' && type.name === 'F16') || (dtype === 'bfloat16' && type.name === 'BF16')) {
    const bits = data as Uint16Array;
    const out = new Uint8Array(bits.length * 2);
    out.set(new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength));
    return { type, shape, bytes: swapIfBE(out, 2) };
  }
  let f: Float32Array;
  if (dtype === 'float32') f = data as Float32Array;
  else if (dtype === 'float16') f = f16ToF32Array(data as Uint16Array);
  else if (dtype === 'bfloat16') f = bf16ToF32Array(data as Uint16Array);
  else return fail('E_DTYPE', `${who}: dtype ${dtype} cannot be written as ${type.name}; convert to float32 first`);
  return { type, shape, bytes: encodeGgml(f, type.name as GgmlCodecType) };
}

/**
 * Serialize tensors and typed metadata into a GGUF file (v3 by default). Tensor data is laid out in
 * the given order, each padded with zeros to the alignment (as llama.cpp writes it); tensor names
 * must be unique and at most 63 UTF-8 bytes (llama.cpp's limit), ranks at most 4. Block types encode
 * with {@link encodeGgml} (llama.cpp's reference quantizers, byte for byte).
 *
 * @example
 * ```ts
 * const bytes = serializeGguf({
 *   metadata: { 'general.architecture': 'llama', 'llama.block_count': { type: 'u32', value: 1 } },
 *   tensors: [{ name: 'w', data: new Float32Array(64), shape: [2, 32], type: 'Q8_0' }],
 * });
 * ```
 */
export function serializeGguf(opts: GgufWriteOptions): Uint8Array {
  check(typeof opts === 'object' && opts !== null, 'E_CONFIG', 'serializeGguf: expected an options object');
  const version = opts.version ?? 3;
  check(version === 2 || version === 3, 'E_CONFIG', () => `serializeGguf: version ${version}, expected 2 or 3`);
  const meta: [string, GgufTypedValue][] = Object.entries(opts.metadata ?? {}).map(([k, v]) => [k, normalize(v, k)]);
  for (const [k] of meta) {
    const kb = enc.encode(k).length;
    check(
      kb > 0 && kb <= 65535,
      'E_CONFIG',
      () => `serializeGguf: metadata key ${JSON.stringify(k)} must be 1..65535 bytes`,
    );
  }
  const metaAlign = meta.find(([k]) => k === 'general.alignment')?.[1];
  if (metaAlign !== undefined && metaAlign.type !== 'u32')
    fail('E_CONFIG', `serializeGguf: general.alignment must be a u32, got ${metaAlign.type}`);
  const alignment = opts.alignment ?? (metaAlign?.value as number | undefined) ?? 32;
  check(
    Number.isInteger(alignment) && alignment > 0 && alignment <= 0x80000000 && (alignment & (alignment - 1)) === 0,
    'E_CONFIG',
    () => `serializeGguf: alignment ${alignment} must be a power of two`,
  );
  if (metaAlign !== undefined && metaAlign.value !== alignment)
    fail(
      'E_CONFIG',
      `serializeGguf: alignment ${alignment} disagrees with general.alignment ${String(metaAlign.value)}`,
    );
  if (metaAlign === undefined && alignment !== 32) meta.push(['general.alignment', { type: 'u32', value: alignment }]);

  const names = new Set<string>();
  const encoded = opts.tensors.map((t) => {
    check(typeof t.name === 'string', 'E_CONFIG', 'serializeGguf: tensor name must be a string');
    const nb = enc.encode(t.name).length;
    check(
      nb > 0 && nb <= 63,
      'E_CONFIG',
      () => `serializeGguf: tensor name ${JSON.stringify(t.name)} must be 1..63 bytes`,
    );
    check(!names.has(t.name), 'E_CONFIG', () => `serializeGguf: duplicate tensor name ${JSON.stringify(t.name)}`);
    names.add(t.name);
    return { name: t.name, ...tensorBytes(t) };
  });

  const w = new Writer();
  w.bytes(enc.encode('GGUF'));
  w.u32(version);
  w.u64(encoded.length);
  w.u64(meta.length);
  for (const [k, v] of meta) {
    w.str(k);
    w.u32(ID_BY_TYPE.get(v.type)!);
    w.value(v, k);
  }
  let off = 0;
  for (const t of encoded) {
    w.str(t.name);
    const ne = t.shape.length === 0 ? [1] : [...t.shape].reverse();
    w.u32(ne.length);
    for (const d of ne) w.u64(d);
    w.u32(t.type.id);
    w.u64(off);
    off += t.bytes.length + ((alignment - (t.bytes.length % alignment)) % alignment);
  }
  w.pad(alignment);
  for (const t of encoded) {
    w.bytes(t.bytes);
    w.pad(alignment);
  }
  return w.buf.slice(0, w.pos);
}
