/**
 * NumPy `.npy` files, format versions 1.0, 2.0 and 3.0.
 *
 * Layout: magic `\x93NUMPY`, major, minor, header length (u16 in v1, u32 in v2/v3), then a Python dict
 * literal `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and a final
 * newline (latin-1 in v1/v2, UTF-8 in v3), then the raw data.
 *
 * Reading:
 * - the header literal is parsed by a small tokenizer (strings, `True`/`False`, tuples of non-negative
 *   integers, trailing commas, spaces; the Python 2 `3L` suffix is accepted) — never evaluated. The keys
 *   must be exactly `descr`, `fortran_order` and `shape`; the header length is capped at 10 000 bytes
 *   (NumPy's own default `max_header_size`); more → `E_LIMIT`;
 * - dtypes `f2 f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1` (lowbit `float16` (bits), `float32`, `float64`, `int8`,
 *   `uint8`, `int16`, `uint16`, `int32`, `uint32`, `int64`, `uint64`, `bool`); big-endian (`>`) data is
 *   byte-swapped on read; object (`O`, pickles) and void/structured (`V…`, e.g. ml_dtypes bfloat16)
 *   descriptors are rejected with `E_DTYPE`;
 * - `fortran_order: True` (column-major data) is **transposed on read**: the returned tensor is
 *   row-major with the same shape and the same element at every index as the NumPy array;
 * - the data must be exactly Π(shape)·itemsize bytes, the rest of the file (checked arithmetic).
 *
 * Writing ({@link serializeNpy}): little-endian, C order, version 1.0 when the header fits in 65 535
 * bytes, else 2.0 — byte-identical to `np.save` of the same array. `bfloat16` has no NumPy dtype
 * (`E_DTYPE`).
 *
 * Exposed: parseNpy, serializeNpy, openNpy, readNpyHeader, NpyHeader, NPY_MAX_HEADER_LEN, decodeNpyData,
 * tensorToFloat32, npyDescrOf.
 * @module
 */
import { check, fail, LowbitError } from '../errors.js';
import { bf16ToF32Array, f16ToF32Array } from '../half.js';
import {
  DTYPE_ARRAY,
  type DType,
  type Float32Tensor,
  shapeSize,
  type Tensor,
  type TypedArrayConstructorOf,
  type TypedArrayOf,
} from '../tensor.js';
import { type ByteSource, memorySource, type TensorFile, type TensorInfo } from './source.js';

/**
 * NumPy's default cap on the header length (`max_header_size`), which lowbit enforces on read.
 *
 * @example
 * ```ts
 * NPY_MAX_HEADER_LEN; // 10000
 * ```
 */
export const NPY_MAX_HEADER_LEN = 10_000;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * The parsed header of a `.npy` file. `dataOffset` is relative to the start of the `.npy` bytes.
 *
 * @example
 * ```ts
 * const h: NpyHeader = readNpyHeader(memorySource(bytes));
 * h.descr; // '<f4'
 * h.dataOffset; // 128
 * ```
 */
export interface NpyHeader {
  readonly version: '1.0' | '2.0' | '3.0';
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly littleEndian: boolean;
  readonly itemsize: number;
  readonly dataOffset: number;
  readonly dataLength: number;
}

const KIND: Readonly<Record<string, DType>> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i1: 'int8',
  u1: 'uint8',
  i2: 'int16',
  u2: 'uint16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  u8: 'uint64',
  b1: 'bool',
};

const DESCR: Readonly<Partial<Record<DType, string>>> = {
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  uint16: '<u2',
  int32: '<i4',
  uint32: '<u4',
  int64: '<i8',
  uint64: '<u8',
  bool: '|b1',
};

const CTOR: Readonly<Record<DType, TypedArrayConstructorOf<TypedArrayOf[DType]>>> = DTYPE_ARRAY;

/**
 * The `.npy` descriptor of a lowbit dtype (little-endian); `E_DTYPE` for `bfloat16`.
 *
 * @example
 * ```ts
 * npyDescrOf('float16'); // '<f2'
 * npyDescrOf('bool'); // '|b1'
 * ```
 */
export function npyDescrOf(dtype: DType): string {
  const d = DESCR[dtype];
  if (d === undefined)
    fail(
      'E_DTYPE',
      `npy: dtype '${dtype}' has no NumPy equivalent (convert bfloat16 to float32 or keep the bits as uint16)`,
    );
  return d;
}

// ---------------------------------------------------------------------------------------------------
// Header literal tokenizer

type PyValue = string | boolean | number[];

class LiteralParser {
  private i = 0;
  constructor(private readonly s: string) {}

  private err(what: string): never {
    fail('E_FORMAT', `npy header: ${what} at character ${this.i} of ${JSON.stringify(this.s.slice(0, 200))}`);
  }
  private ws(): void {
    while (this.i < this.s.length && (this.s[this.i] === ' ' || this.s[this.i] === '\t')) this.i++;
  }
  private peek(): string | undefined {
    return this.s[this.i];
  }

  parseDict(): Map<string, PyValue> {
    const out = new Map<string, PyValue>();
    this.ws();
    if (this.peek() !== '{') this.err("expected '{'");
    this.i++;
    for (;;) {
      this.ws();
      if (this.peek() === '}') break;
      const key = this.string();
      this.ws();
      if (this.peek() !== ':') this.err("expected ':'");
      this.i++;
      this.ws();
      const v = this.value();
      if (out.has(key)) this.err(`duplicate key ${JSON.stringify(key)}`);
      out.set(key, v);
      this.ws();
      const c = this.peek();
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') break;
      this.err("expected ',' or '}'");
    }
    this.i++;
    // Only padding may follow: spaces and the final newline.
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (c !== ' ' && c !== '\n' && c !== '\t' && c !== '\r' && c !== '\0') this.err('unexpected text after the dict');
      this.i++;
    }
    return out;
  }

  private string(): string {
    const q = this.peek();
    if (q !== "'" && q !== '"') this.err('expected a quoted string');
    const start = ++this.i;
    while (this.i < this.s.length && this.s[this.i] !== q) {
      if (this.s[this.i] === '\\' || this.s[this.i] === '\n')
        this.err('escapes and newlines are not supported in strings');
      this.i++;
    }
    if (this.i >= this.s.length) this.err('unterminated string');
    return this.s.slice(start, this.i++);
  }

  private value(): PyValue {
    const c = this.peek();
    if (c === "'" || c === '"') return this.string();
    if (this.s.startsWith('True', this.i)) {
      this.i += 4;
      return true;
    }
    if (this.s.startsWith('False', this.i)) {
      this.i += 5;
      return false;
    }
    if (c === '(') return this.tuple();
    return this.err('expected a string, True, False or a tuple');
  }

  private tuple(): number[] {
    this.i++; // (
    const out: number[] = [];
    this.ws();
    if (this.peek() === ')') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.int());
      if (out.length > 64) fail('E_LIMIT', 'npy header: shape has more than 64 dimensions');
      this.ws();
      const c = this.peek();
      if (c === ',') {
        this.i++;
        this.ws();
        if (this.peek() === ')') {
          this.i++;
          return out;
        }
        continue;
      }
      if (c === ')') {
        // Python needs a trailing comma for a 1-tuple; `(3)` is the int 3, not a shape.
        if (out.length === 1) this.err("a 1-element shape needs a trailing comma, '(n,)'");
        this.i++;
        return out;
      }
      this.err("expected ',' or ')' in a tuple");
    }
  }

  private int(): number {
    const start = this.i;
    while (this.i < this.s.length && this.s.charCodeAt(this.i) >= 48 && this.s.charCodeAt(this.i) <= 57) this.i++;
    if (this.i === start) this.err('expected a non-negative integer');
    const digits = this.s.slice(start, this.i);
    if (this.peek() === 'L' || this.peek() === 'l') this.i++; // Python 2 long suffix
    if (digits.length > 16) fail('E_LIMIT', `npy header: dimension ${digits} is too large`);
    const v = Number(digits);
    if (!Number.isSafeInteger(v)) fail('E_LIMIT', `npy header: dimension ${digits} is not a safe integer`);
    return v;
  }
}

function parseHeaderDict(text: string, version: string, dataOffset: number, available: number): NpyHeader {
  const d = new LiteralParser(text).parseDict();
  const keys = [...d.keys()].sort();
  if (keys.length !== 3 || keys[0] !== 'descr' || keys[1] !== 'fortran_order' || keys[2] !== 'shape')
    fail('E_FORMAT', `npy header: keys must be exactly descr, fortran_order, shape; got ${keys.join(', ')}`);
  const descr = d.get('descr');
  const fortran = d.get('fortran_order');
  const shape = d.get('shape');
  if (typeof descr !== 'string') fail('E_FORMAT', 'npy header: descr must be a string');
  if (typeof fortran !== 'boolean') fail('E_FORMAT', 'npy header: fortran_order must be True or False');
  if (!Array.isArray(shape)) fail('E_FORMAT', 'npy header: shape must be a tuple of integers');
  if (descr.length !== 3)
    fail(
      'E_DTYPE',
      `npy: unsupported dtype descriptor ${JSON.stringify(descr)} (object, void/structured and string dtypes are not read)`,
    );
  const order = descr[0]!;
  const kind = descr.slice(1);
  const dtype = KIND[kind];
  if (dtype === undefined || !Object.hasOwn(KIND, kind))
    fail(
      'E_DTYPE',
      `npy: unsupported dtype descriptor ${JSON.stringify(descr)}, expected one of f2 f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1`,
    );
  const itemsize = Number(kind[1]);
  if (order !== '<' && order !== '>' && order !== '|')
    fail('E_DTYPE', `npy: unsupported byte order ${JSON.stringify(order)} in ${descr}`);
  if (order === '|' && itemsize !== 1)
    fail('E_DTYPE', `npy: byte order '|' is only valid for 1-byte dtypes, got ${descr}`);
  let n: number;
  try {
    n = shapeSize(shape);
  } catch (e) {
    if (e instanceof LowbitError) fail('E_LIMIT', `npy header: ${e.message}`);
    throw e;
  }
  const dataLength = n * itemsize;
  if (!Number.isSafeInteger(dataLength)) fail('E_LIMIT', `npy: data size of shape (${shape.join(', ')}) overflows`);
  if (dataLength !== available)
    fail(
      'E_FORMAT',
      `npy: shape (${shape.join(', ')}) of ${descr} needs ${dataLength} data bytes, the file has ${available} after the header (${dataLength > available ? 'truncated' : 'trailing bytes'})`,
    );
  return {
    version: version as NpyHeader['version'],
    descr,
    fortranOrder: fortran,
    shape: Object.freeze([...shape]),
    dtype,
    littleEndian: order !== '>',
    itemsize,
    dataOffset,
    dataLength,
  };
}

/**
 * Read and validate the header of a `.npy` file from a byte source (reads at most the header bytes).
 * Throws `E_FORMAT` for a corrupt header, `E_LIMIT` above the caps, `E_DTYPE` for unsupported dtypes.
 *
 * @example
 * ```ts
 * const h = readNpyHeader(memorySource(bytes));
 * h.shape; // [3, 4]
 * ```
 */
export function readNpyHeader(src: ByteSource): NpyHeader {
  const size = src.size;
  if (size < 10) fail('E_FORMAT', `npy: ${size}-byte file is too short for the 10-byte preamble`);
  const pre = src.read(0, Math.min(12, size));
  for (let i = 0; i < 6; i++)
    if (pre[i] !== MAGIC[i]) fail('E_FORMAT', 'npy: missing magic \\x93NUMPY (not a .npy file)');
  const major = pre[6]!;
  const minor = pre[7]!;
  if (minor !== 0 || major < 1 || major > 3) fail('E_FORMAT', `npy: unsupported format version ${major}.${minor}`);
  let headerLen: number;
  let prefix: number;
  if (major === 1) {
    headerLen = pre[8]! | (pre[9]! << 8);
    prefix = 10;
  } else {
    if (size < 12) fail('E_FORMAT', `npy: ${size}-byte file is too short for the v${major} preamble`);
    headerLen = (pre[8]! | (pre[9]! << 8) | (pre[10]! << 16) | (pre[11]! << 24)) >>> 0;
    prefix = 12;
  }
  if (headerLen > NPY_MAX_HEADER_LEN)
    fail('E_LIMIT', `npy: header length ${headerLen} exceeds the cap of ${NPY_MAX_HEADER_LEN} bytes`);
  if (prefix + headerLen > size)
    fail('E_FORMAT', `npy: header of ${headerLen} bytes runs past the end of the ${size}-byte file`);
  const raw = src.read(prefix, headerLen);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch (e) {
      return fail('E_FORMAT', 'npy: v3 header is not valid UTF-8', e);
    }
  } else {
    text = new TextDecoder('latin1').decode(raw);
  }
  const dataOffset = prefix + headerLen;
  return parseHeaderDict(text, `${major}.0`, dataOffset, size - dataOffset);
}

/**
 * Decode raw `.npy` data bytes (exactly `header.dataLength` of them) into a row-major tensor: copies (so
 * misaligned input is fine), byte-swaps big-endian data and transposes Fortran-order data.
 *
 * @example
 * ```ts
 * const h = readNpyHeader(src);
 * const t = decodeNpyData(src.read(h.dataOffset, h.dataLength), h);
 * ```
 */
export function decodeNpyData(raw: Uint8Array, h: NpyHeader): Tensor {
  check(raw.length === h.dataLength, 'E_FORMAT', () => `npy: expected ${h.dataLength} data bytes, got ${raw.length}`);
  const n = h.dataLength / h.itemsize;
  const Ctor = CTOR[h.dtype];
  const arr = new Ctor(n);
  const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  const s = h.itemsize;
  if (h.littleEndian || s === 1) {
    bytes.set(raw);
  } else {
    for (let i = 0; i < h.dataLength; i += s) for (let k = 0; k < s; k++) bytes[i + k] = raw[i + s - 1 - k]!;
  }
  const data = h.fortranOrder && h.shape.length > 1 ? fortranToC(arr, h.shape) : arr;
  return { dtype: h.dtype, data, shape: h.shape } as Tensor;
}

/** Column-major → row-major copy of the same logical array. */
function fortranToC<A extends TypedArrayOf[DType]>(src: A, shape: readonly number[]): A {
  const n = src.length;
  const out = new (src.constructor as new (n: number) => A)(n);
  const r = shape.length;
  const fStride = new Array<number>(r);
  let acc = 1;
  for (let j = 0; j < r; j++) {
    fStride[j] = acc;
    acc *= shape[j]!;
  }
  const idx = new Array<number>(r).fill(0);
  let f = 0;
  const a = src as unknown as ArrayLike<number> & { [i: number]: number };
  const o = out as unknown as { [i: number]: number };
  for (let i = 0; i < n; i++) {
    o[i] = a[f]!;
    // odometer over the row-major index (last axis fastest)
    for (let j = r - 1; j >= 0; j--) {
      idx[j]!++;
      f += fStride[j]!;
      if (idx[j]! < shape[j]!) break;
      f -= idx[j]! * fStride[j]!;
      idx[j] = 0;
    }
  }
  return out;
}

/**
 * Parse an in-memory `.npy` file into a row-major tensor (see the module notes for dtypes, byte order
 * and Fortran order). Throws `E_FORMAT`, `E_LIMIT` or `E_DTYPE`; never evaluates the header.
 *
 * @example
 * ```ts
 * const t = parseNpy(readFileSync('x.npy'));
 * t.dtype; // 'float32'
 * t.shape; // [3, 4]
 * ```
 */
export function parseNpy(bytes: Uint8Array): Tensor {
  check(bytes instanceof Uint8Array, 'E_FORMAT', 'parseNpy: expected a Uint8Array');
  const h = readNpyHeader(memorySource(bytes));
  return decodeNpyData(bytes.subarray(h.dataOffset, h.dataOffset + h.dataLength), h);
}

function pyShape(shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/**
 * Serialize a tensor as a `.npy` file (little-endian, C order; v1.0, or v2.0 for a header above 65 535
 * bytes). The bytes equal what `np.save` writes for the same array. Throws `E_DTYPE` for `bfloat16`.
 *
 * @example
 * ```ts
 * writeFileSync('x.npy', serializeNpy(float32([1, 2, 3, 4, 5, 6], [2, 3])));
 * ```
 */
export function serializeNpy(t: Tensor): Uint8Array {
  const descr = npyDescrOf(t.dtype);
  const n = shapeSize(t.shape);
  check(
    t.data !== undefined && t.data.length === n,
    'E_SHAPE',
    () => `serializeNpy: shape [${t.shape.join(', ')}] holds ${n} elements, data has ${t.data?.length}`,
  );
  const Ctor = CTOR[t.dtype];
  check(t.data instanceof Ctor, 'E_DTYPE', () => `serializeNpy: dtype '${t.dtype}' needs a ${Ctor.name}`);
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${pyShape(t.shape)}, }`;
  // NumPy reserves room for the first axis to grow (GROWTH_AXIS_MAX_DIGITS = 21).
  if (t.shape.length > 0) dict += ' '.repeat(Math.max(0, 21 - String(t.shape[0]).length));
  const hlen = dict.length + 1;
  let prefix = 10;
  let padlen = 64 - ((prefix + hlen) % 64);
  let major = 1;
  if (hlen + padlen > 0xffff) {
    major = 2;
    prefix = 12;
    padlen = 64 - ((prefix + hlen) % 64);
  }
  const headerLen = hlen + padlen;
  const src = t.data;
  const dataBytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const out = new Uint8Array(prefix + headerLen + dataBytes.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  out.fill(0x20, prefix + dict.length, prefix + headerLen - 1);
  out[prefix + headerLen - 1] = 0x0a;
  out.set(dataBytes, prefix + headerLen);
  return out;
}

/**
 * Convert any lowbit tensor to float32: float16/bfloat16 bits are decoded, float64 and integers are
 * rounded to the nearest float32 (64-bit integers via float64), bool gives 0/1. A float32 input is copied
 * unless `fresh` says the caller owns it (then it is returned as is).
 *
 * @example
 * ```ts
 * tensorToFloat32({ dtype: 'int8', data: Int8Array.from([-3, 4]), shape: [2] }).data; // Float32Array [-3, 4]
 * ```
 */
export function tensorToFloat32(t: Tensor, fresh = false): Float32Tensor {
  const shape = t.shape;
  switch (t.dtype) {
    case 'float32':
      return { dtype: 'float32', data: fresh ? (t.data as Float32Array) : (t.data as Float32Array).slice(), shape };
    case 'float16':
      return { dtype: 'float32', data: f16ToF32Array(t.data as Uint16Array), shape };
    case 'bfloat16':
      return { dtype: 'float32', data: bf16ToF32Array(t.data as Uint16Array), shape };
    case 'int64':
    case 'uint64': {
      const src = t.data as BigInt64Array | BigUint64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
      return { dtype: 'float32', data: out, shape };
    }
    case 'bool': {
      const src = t.data as Uint8Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i]! === 0 ? 0 : 1;
      return { dtype: 'float32', data: out, shape };
    }
    default:
      return { dtype: 'float32', data: Float32Array.from(t.data as ArrayLike<number>), shape };
  }
}

/**
 * Open a `.npy` file lazily: the header is validated on open, the data read on `read`. The file holds one
 * tensor, named `'array'`. Metadata: `{ version, descr, fortran_order, shape }`.
 *
 * @example
 * ```ts
 * const f = openNpy(fileSource('x.npy'));
 * const x = f.readFloat32('array');
 * f.close();
 * ```
 */
export function openNpy(src: ByteSource): TensorFile {
  const h = readNpyHeader(src);
  const info: TensorInfo = Object.freeze({
    name: 'array',
    fileDtype: h.descr,
    dtype: h.dtype,
    shape: h.shape,
    byteOffset: h.dataOffset,
    byteLength: h.dataLength,
  });
  const get = (name: string): TensorInfo => {
    if (name !== 'array') fail('E_CONFIG', `npy: no tensor named ${JSON.stringify(name)} (a .npy file holds 'array')`);
    return info;
  };
  const read = (name: string): Tensor => {
    get(name);
    return decodeNpyData(src.read(h.dataOffset, h.dataLength), h);
  };
  return {
    format: 'npy',
    names: Object.freeze(['array']),
    metadata: Object.freeze({
      version: h.version,
      descr: h.descr,
      fortran_order: h.fortranOrder,
      shape: h.shape,
    }),
    info: get,
    read,
    readFloat32: (name: string) => tensorToFloat32(read(name), true),
    close: () => src.close?.(),
  };
}
