/**
 * `.safetensors` files: `u64 N | N bytes of UTF-8 JSON header | data`, with every dtype of the format.
 *
 * | file dtype | lowbit `read` | `readFloat32` |
 * |---|---|---|
 * | `F32` `F64` `I8` `U8` `I16` `U16` `I32` `U32` `I64` `U64` `BOOL` | `float32` … `uint64`, `bool` | value (64-bit ints via float64) |
 * | `F16`, `BF16` | `float16` / `bfloat16` (`Uint16Array` bits) | decoded |
 * | `F8_E4M3` `F8_E5M2` `F8_E4M3FNUZ` `F8_E5M2FNUZ` `F8_E8M0` | `uint8` bits, same shape | decoded (`float8.ts`) |
 * | `F4`, `F6_E2M3`, `F6_E3M2` | `uint8` packed bytes, shape `[byteLength]` | decoded, the file's shape |
 * | `C64` | `float32`, shape `[...shape, 2]` (real, imaginary) | the same |
 *
 * Reading follows the Rust reference's checks plus JS-specific ones: N read as a u64 (BigInt) and capped
 * at 100 000 000 (`E_LIMIT`); `8 + N ≤ file size`; the header is valid UTF-8 and a JSON object;
 * **duplicate keys** at any depth are detected by scanning the text (`JSON.parse` keeps the last one);
 * every entry has a known dtype, a shape of non-negative safe integers and two safe-integer offsets;
 * `__metadata__` maps strings to strings; sorted by offsets the entries start at 0 and are contiguous
 * (no gaps, no overlaps); elements·bits is computed with checked arithmetic, must be a whole number of
 * bytes and equal `end − begin`; the data section ends exactly at the end of the file. Tensor data is
 * always copied into a fresh typed array, so misaligned offsets are fine. Only `LowbitError`
 * (`E_FORMAT`, `E_LIMIT`, `E_DTYPE`) is thrown; nothing is allocated beyond the file's size.
 *
 * Writing matches the Rust writer: tensors ordered by descending dtype (the format's enum order, which
 * is by alignment) then by name, contiguous; `__metadata__` first; the header padded with spaces to a
 * multiple of 8 bytes.
 *
 * Exposed: SafetensorsDtype, SAFETENSORS_DTYPE_BITS, RawSafetensor, SafetensorsContents, parseSafetensors,
 * serializeSafetensors, openSafetensors, readSafetensorsHeader, SafetensorsHeader, safetensorToFloat32,
 * SAFETENSORS_MAX_HEADER_LEN.
 * @module
 */
import { check, fail, LowbitError } from '../errors.js';
import {
  DTYPE_ARRAY,
  type DType,
  type Float32Tensor,
  shapeSize,
  type Tensor,
  type TypedArrayConstructorOf,
  type TypedArrayOf,
} from '../tensor.js';
import { decodeMiniFloats, type MiniFloatFormat } from './float8.js';
import { tensorToFloat32 } from './npy.js';
import { type ByteSource, memorySource, type TensorFile, type TensorInfo } from './source.js';

/**
 * The Rust reference's cap on the header length N (bytes); larger → `E_LIMIT`.
 *
 * @example
 * ```ts
 * SAFETENSORS_MAX_HEADER_LEN; // 100000000
 * ```
 */
export const SAFETENSORS_MAX_HEADER_LEN = 100_000_000;

/**
 * The dtypes of the safetensors format (the Rust `Dtype` enum, in its order).
 *
 * @example
 * ```ts
 * const d: SafetensorsDtype = 'F8_E4M3';
 * ```
 */
export type SafetensorsDtype =
  | 'BOOL'
  | 'F4'
  | 'F6_E2M3'
  | 'F6_E3M2'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'F8_E8M0'
  | 'F8_E4M3FNUZ'
  | 'F8_E5M2FNUZ'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'C64'
  | 'F64'
  | 'I64'
  | 'U64';

/**
 * Bits per element of each safetensors dtype, in the format's enum order (the writer's sort key).
 *
 * @example
 * ```ts
 * SAFETENSORS_DTYPE_BITS.F6_E2M3; // 6
 * ```
 */
export const SAFETENSORS_DTYPE_BITS: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
});

const ORDER: readonly SafetensorsDtype[] = Object.keys(SAFETENSORS_DTYPE_BITS) as SafetensorsDtype[];

const TO_DTYPE: Readonly<Record<SafetensorsDtype, DType>> = {
  BOOL: 'bool',
  F4: 'uint8',
  F6_E2M3: 'uint8',
  F6_E3M2: 'uint8',
  U8: 'uint8',
  I8: 'int8',
  F8_E5M2: 'uint8',
  F8_E4M3: 'uint8',
  F8_E8M0: 'uint8',
  F8_E4M3FNUZ: 'uint8',
  F8_E5M2FNUZ: 'uint8',
  I16: 'int16',
  U16: 'uint16',
  F16: 'float16',
  BF16: 'bfloat16',
  I32: 'int32',
  U32: 'uint32',
  F32: 'float32',
  C64: 'float32',
  F64: 'float64',
  I64: 'int64',
  U64: 'uint64',
};

const FROM_DTYPE: Readonly<Record<DType, SafetensorsDtype>> = {
  bool: 'BOOL',
  uint8: 'U8',
  int8: 'I8',
  int16: 'I16',
  uint16: 'U16',
  float16: 'F16',
  bfloat16: 'BF16',
  int32: 'I32',
  uint32: 'U32',
  float32: 'F32',
  float64: 'F64',
  int64: 'I64',
  uint64: 'U64',
};

const MINI: Readonly<Partial<Record<SafetensorsDtype, MiniFloatFormat>>> = {
  F4: 'f4_e2m1',
  F6_E2M3: 'f6_e2m3',
  F6_E3M2: 'f6_e3m2',
  F8_E5M2: 'f8_e5m2',
  F8_E4M3: 'f8_e4m3',
  F8_E8M0: 'e8m0',
  F8_E4M3FNUZ: 'f8_e4m3fnuz',
  F8_E5M2FNUZ: 'f8_e5m2fnuz',
};

const CTOR: Readonly<Record<DType, TypedArrayConstructorOf<TypedArrayOf[DType]>>> = DTYPE_ARRAY;

function isStDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BITS, s);
}

/**
 * A tensor given to {@link serializeSafetensors} as raw file bytes with an explicit file dtype (for F8,
 * F6, F4, E8M0 and C64 data, or any dtype kept as bytes). `bytes.length` must be exactly
 * Π(shape)·bits/8.
 *
 * @example
 * ```ts
 * const scales: RawSafetensor = { fileDtype: 'F8_E8M0', shape: [4], bytes: new Uint8Array([127, 128, 126, 127]) };
 * ```
 */
export interface RawSafetensor {
  readonly fileDtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/**
 * What {@link parseSafetensors} returns. `info` gives each tensor's file dtype, shape and byte range.
 *
 * @example
 * ```ts
 * const { tensors, info, metadata }: SafetensorsContents = parseSafetensors(bytes);
 * info.get('w')!.fileDtype; // 'BF16'
 * ```
 */
export interface SafetensorsContents {
  readonly tensors: Map<string, Tensor>;
  readonly info: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------------
// Header

/** Throw `E_FORMAT` on a duplicate key in any object of a JSON text that `JSON.parse` accepted. */
function checkDuplicateKeys(text: string): void {
  type Frame = { keys: Set<string> | null; expectKey: boolean };
  const stack: Frame[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      const top = stack[stack.length - 1];
      if (top !== undefined && top.keys !== null && top.expectKey) {
        const key = JSON.parse(text.slice(start, i)) as string; // normalises escapes: "a" == "\u0061"
        if (top.keys.has(key)) fail('E_FORMAT', `safetensors: duplicate key ${JSON.stringify(key)} in the header`);
        top.keys.add(key);
        top.expectKey = false;
      }
      continue;
    }
    if (c === 0x7b /* { */) stack.push({ keys: new Set(), expectKey: true });
    else if (c === 0x5b /* [ */) stack.push({ keys: null, expectKey: false });
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top !== undefined && top.keys !== null) top.expectKey = true;
    }
    i++;
  }
}

interface Entry {
  name: string;
  fileDtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function isSafeNonNeg(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The validated header of a safetensors file.
 *
 * @example
 * ```ts
 * const h: SafetensorsHeader = readSafetensorsHeader(memorySource(bytes));
 * h.dataStart; // 8 + N
 * ```
 */
export interface SafetensorsHeader {
  /** Absolute offset of the data section (8 + N). */
  readonly dataStart: number;
  /** Tensors in file (offset) order. */
  readonly tensors: readonly TensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Read and validate a safetensors header from a byte source (reads 8 + N bytes). See the module notes for
 * every check.
 *
 * @example
 * ```ts
 * const h = readSafetensorsHeader(fileSource('model.safetensors'));
 * h.tensors.map((t) => t.name);
 * ```
 */
export function readSafetensorsHeader(src: ByteSource): SafetensorsHeader {
  const size = src.size;
  if (size < 8) fail('E_FORMAT', `safetensors: ${size}-byte file is too short for the 8-byte header length`);
  const pre = src.read(0, 8);
  let big = 0n;
  for (let k = 7; k >= 0; k--) big = (big << 8n) | BigInt(pre[k]!);
  if (big > BigInt(SAFETENSORS_MAX_HEADER_LEN))
    fail('E_LIMIT', `safetensors: header length ${big} exceeds the cap of ${SAFETENSORS_MAX_HEADER_LEN} bytes`);
  const N = Number(big);
  if (8 + N > size) fail('E_FORMAT', `safetensors: header of ${N} bytes runs past the end of the ${size}-byte file`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(src.read(8, N));
  } catch (e) {
    if (e instanceof LowbitError) throw e;
    return fail('E_FORMAT', 'safetensors: header is not valid UTF-8', e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail('E_FORMAT', `safetensors: header is not valid JSON (${(e as Error).message})`, e);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    fail('E_FORMAT', 'safetensors: header must be a JSON object');
  checkDuplicateKeys(text);
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v === null) continue;
      if (typeof v !== 'object' || Array.isArray(v)) fail('E_FORMAT', 'safetensors: __metadata__ must be an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string')
          fail('E_FORMAT', `safetensors: __metadata__[${JSON.stringify(k)}] must be a string, got ${typeof s}`);
        metadata[k] = s;
      }
      continue;
    }
    const q = JSON.stringify(name);
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      fail('E_FORMAT', `safetensors: entry ${q} must be an object`);
    const { dtype, shape, data_offsets: off } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isStDtype(dtype))
      fail(
        typeof dtype === 'string' ? 'E_DTYPE' : 'E_FORMAT',
        `safetensors: entry ${q} has unknown dtype ${JSON.stringify(dtype)}, expected one of ${ORDER.join(' ')}`,
      );
    if (!Array.isArray(shape) || !shape.every(isSafeNonNeg))
      fail('E_FORMAT', `safetensors: entry ${q} needs a shape of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(off) || off.length !== 2 || !isSafeNonNeg(off[0]) || !isSafeNonNeg(off[1]))
      fail('E_FORMAT', `safetensors: entry ${q} needs data_offsets [begin, end] of non-negative integers`);
    entries.push({ name, fileDtype: dtype, shape: shape as number[], begin: off[0] as number, end: off[1] as number });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + N;
  let pos = 0;
  const infos: TensorInfo[] = [];
  for (const e of entries) {
    const q = JSON.stringify(e.name);
    if (e.begin !== pos || e.end < e.begin)
      fail(
        'E_FORMAT',
        `safetensors: entry ${q} has data_offsets [${e.begin}, ${e.end}], expected to begin at ${pos} (entries must be contiguous from 0, without gaps or overlaps)`,
      );
    pos = e.end;
    let elements: number;
    try {
      elements = shapeSize(e.shape);
    } catch (err) {
      return fail('E_LIMIT', `safetensors: entry ${q}: ${(err as Error).message}`, err);
    }
    const bits = elements * SAFETENSORS_DTYPE_BITS[e.fileDtype];
    if (!Number.isSafeInteger(bits)) fail('E_LIMIT', `safetensors: entry ${q}: bit count overflows`);
    if (bits % 8 !== 0)
      fail('E_FORMAT', `safetensors: entry ${q}: ${elements} ${e.fileDtype} elements are not a whole number of bytes`);
    if (e.end - e.begin !== bits / 8)
      fail(
        'E_FORMAT',
        `safetensors: entry ${q}: shape [${e.shape.join(', ')}] of ${e.fileDtype} needs ${bits / 8} bytes, data_offsets span ${e.end - e.begin}`,
      );
    if (dataStart + e.end > size)
      fail('E_FORMAT', `safetensors: entry ${q} runs past the end of the file (truncated?)`);
    infos.push(
      Object.freeze({
        name: e.name,
        fileDtype: e.fileDtype,
        dtype: TO_DTYPE[e.fileDtype],
        shape: Object.freeze([...e.shape]),
        byteOffset: dataStart + e.begin,
        byteLength: e.end - e.begin,
      }),
    );
  }
  if (dataStart + pos !== size)
    fail(
      'E_FORMAT',
      `safetensors: the data section ends at byte ${dataStart + pos} but the file has ${size} bytes (${dataStart + pos < size ? 'trailing bytes' : 'truncated'})`,
    );
  return { dataStart, tensors: Object.freeze(infos), metadata: Object.freeze({ ...metadata }) };
}

/** Decode one tensor's bytes (exactly `info.byteLength` of them) into a fresh typed array. */
function decodeTensor(raw: Uint8Array, info: TensorInfo): Tensor {
  const fd = info.fileDtype as SafetensorsDtype;
  const dtype = TO_DTYPE[fd];
  const buf = new ArrayBuffer(raw.length);
  new Uint8Array(buf).set(raw);
  const data = new CTOR[dtype](buf);
  let shape = info.shape;
  const bits = SAFETENSORS_DTYPE_BITS[fd];
  if (bits < 8) shape = Object.freeze([raw.length]);
  else if (fd === 'C64') shape = Object.freeze([...info.shape, 2]);
  return { dtype, data, shape } as Tensor;
}

function toFloat32(t: Tensor, info: TensorInfo): Float32Tensor {
  const mini = MINI[info.fileDtype as SafetensorsDtype];
  if (mini !== undefined) {
    const n = shapeSize(info.shape);
    return { dtype: 'float32', data: decodeMiniFloats(t.data as Uint8Array, mini, n), shape: info.shape };
  }
  return tensorToFloat32(t, true);
}

/**
 * Open a `.safetensors` file lazily: the header is read and validated on open; `read(name)` reads and
 * copies one tensor. `metadata` is the `__metadata__` map.
 *
 * @example
 * ```ts
 * const f = openSafetensors(fileSource('models/mamba-tiny/model.safetensors'));
 * const w = f.readFloat32('backbone.embeddings.weight'); // shape [512, 96]
 * f.close();
 * ```
 */
export function openSafetensors(src: ByteSource): TensorFile {
  const h = readSafetensorsHeader(src);
  const byName = new Map<string, TensorInfo>();
  for (const t of h.tensors) byName.set(t.name, t);
  const get = (name: string): TensorInfo => {
    const i = byName.get(name);
    if (i === undefined) fail('E_CONFIG', `safetensors: no tensor named ${JSON.stringify(name)}`);
    return i;
  };
  const read = (name: string): Tensor => {
    const i = get(name);
    return decodeTensor(src.read(i.byteOffset, i.byteLength), i);
  };
  return {
    format: 'safetensors',
    names: Object.freeze(h.tensors.map((t) => t.name)),
    metadata: h.metadata,
    info: get,
    read,
    readFloat32: (name) => toFloat32(read(name), get(name)),
    close: () => src.close?.(),
  };
}

/**
 * Parse an in-memory `.safetensors` file: every tensor (copied; dtypes as in the module table), their
 * infos (file dtype, file shape, byte range) and `__metadata__`.
 *
 * @example
 * ```ts
 * const { tensors, metadata } = parseSafetensors(readFileSync('model.safetensors'));
 * ```
 */
export function parseSafetensors(bytes: Uint8Array): SafetensorsContents {
  check(bytes instanceof Uint8Array, 'E_FORMAT', 'parseSafetensors: expected a Uint8Array');
  const h = readSafetensorsHeader(memorySource(bytes));
  const tensors = new Map<string, Tensor>();
  const info = new Map<string, TensorInfo>();
  for (const t of h.tensors) {
    info.set(t.name, t);
    tensors.set(t.name, decodeTensor(bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength), t));
  }
  return { tensors, info, metadata: { ...h.metadata } };
}

/**
 * Decode a tensor of {@link parseSafetensors} (or `read`) to float32 given its info — F8/F6/F4/E8M0 bits
 * are decoded through `float8.ts`, the rest as in `TensorFile.readFloat32`.
 *
 * @example
 * ```ts
 * const c = parseSafetensors(bytes);
 * const w = safetensorToFloat32(c.tensors.get('w')!, c.info.get('w')!);
 * ```
 */
export function safetensorToFloat32(t: Tensor, info: TensorInfo): Float32Tensor {
  check(isStDtype(info.fileDtype), 'E_DTYPE', () => `safetensorToFloat32: unknown file dtype ${info.fileDtype}`);
  return toFloat32(t, info);
}

function isRaw(v: Tensor | RawSafetensor): v is RawSafetensor {
  return typeof v === 'object' && v !== null && 'fileDtype' in v && 'bytes' in v;
}

/**
 * Serialize tensors (and optional `__metadata__`) as a `.safetensors` file, laid out as the Rust writer
 * does (descending dtype order then name, header padded with spaces to a multiple of 8). Values are
 * lowbit tensors (mapped `float32`→`F32`, `float16`→`F16`, `bfloat16`→`BF16`, `bool`→`BOOL`, …) or
 * {@link RawSafetensor}s for F8/F6/F4/E8M0/C64 bytes.
 *
 * @example
 * ```ts
 * const bytes = serializeSafetensors({ w: float32([1, 2, 3, 4], [2, 2]) }, { method: 'kivi', bits: '2' });
 * ```
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, Tensor | RawSafetensor> | Readonly<Record<string, Tensor | RawSafetensor>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const list: [string, Tensor | RawSafetensor][] =
    tensors instanceof Map
      ? [...(tensors as ReadonlyMap<string, Tensor | RawSafetensor>).entries()]
      : Object.entries(tensors as Record<string, Tensor | RawSafetensor>);
  const items = list.map(([name, v]) => {
    check(typeof name === 'string', 'E_CONFIG', 'serializeSafetensors: names must be strings');
    check(name !== '__metadata__', 'E_CONFIG', "serializeSafetensors: '__metadata__' is reserved");
    let fileDtype: SafetensorsDtype;
    let bytes: Uint8Array;
    const shape = [...v.shape];
    const n = shapeSize(shape);
    if (isRaw(v)) {
      check(isStDtype(v.fileDtype), 'E_DTYPE', () => `serializeSafetensors: ${name}: unknown dtype ${v.fileDtype}`);
      check(
        v.bytes instanceof Uint8Array,
        'E_DTYPE',
        () => `serializeSafetensors: ${name}: bytes must be a Uint8Array`,
      );
      fileDtype = v.fileDtype;
      bytes = v.bytes;
    } else {
      const fd = FROM_DTYPE[v.dtype];
      check(fd !== undefined, 'E_DTYPE', () => `serializeSafetensors: ${name}: unsupported dtype ${v.dtype}`);
      const Ctor = CTOR[v.dtype];
      check(
        v.data instanceof Ctor,
        'E_DTYPE',
        () => `serializeSafetensors: ${name}: dtype ${v.dtype} needs a ${Ctor.name}`,
      );
      check(
        v.data.length === n,
        'E_SHAPE',
        () =>
          `serializeSafetensors: ${name}: shape [${shape.join(', ')}] holds ${n} elements, data has ${v.data.length}`,
      );
      fileDtype = fd;
      bytes = new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength);
    }
    const bits = n * SAFETENSORS_DTYPE_BITS[fileDtype];
    check(
      bits % 8 === 0,
      'E_SHAPE',
      () => `serializeSafetensors: ${name}: ${n} ${fileDtype} elements are not a whole number of bytes`,
    );
    check(
      bytes.length === bits / 8,
      'E_SHAPE',
      () =>
        `serializeSafetensors: ${name}: shape [${shape.join(', ')}] of ${fileDtype} needs ${bits / 8} bytes, got ${bytes.length}`,
    );
    return { name, fileDtype, shape, bytes };
  });
  const names = new Set<string>();
  for (const it of items) {
    check(!names.has(it.name), 'E_CONFIG', () => `serializeSafetensors: duplicate name ${JSON.stringify(it.name)}`);
    names.add(it.name);
  }
  const rank = (d: SafetensorsDtype) => ORDER.indexOf(d);
  items.sort((a, b) => rank(b.fileDtype) - rank(a.fileDtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, s] of Object.entries(metadata))
      check(
        typeof s === 'string',
        'E_CONFIG',
        () => `serializeSafetensors: metadata[${JSON.stringify(k)}] must be a string`,
      );
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const it of items) {
    const end = offset + it.bytes.length;
    parts.push(
      `${JSON.stringify(it.name)}:{"dtype":"${it.fileDtype}","shape":[${it.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const N = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + N + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, N % 0x100000000, true);
  dv.setUint32(4, Math.floor(N / 0x100000000), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + N);
  let p = 8 + N;
  for (const it of items) {
    out.set(it.bytes, p);
    p += it.bytes.length;
  }
  return out;
}
