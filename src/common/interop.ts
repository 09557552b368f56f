/**
 * Interop with the tensor objects of other JS libraries: ndarray (`{ data, shape, stride, offset }`),
 * onnxruntime / transformers.js (`{ type, data, dims }`), tfjs (`{ dataSync(), shape, dtype }`), lowbit's
 * own {@link Tensor} and plain `{ data, shape }`. Inputs are normalised once, at the API edge, into a
 * contiguous row-major lowbit tensor; kernels never see the foreign objects.
 *
 * Zero-copy rule: when the input is already contiguous and row-major, the result shares the caller's
 * memory (`result.data === input.data` whenever the typed array itself fits; a `subarray` or a
 * same-buffer reinterpretation otherwise). Writing into the result therefore writes into the source.
 * Nothing here ever writes into an input. Non-contiguous ndarray views are copied with `ndarray-ops`.
 *
 * Exposed: asTensor, asFloat32, toNdarray, toOrtLike, TensorLike, NdarrayLike, OrtTensorLike,
 * TfTensorLike, PlainTensorLike, NdarrayView, OrtLikeTensor, OrtType. Internal: stridedCopyRef (the plain
 * twin of the ndarray-ops copy, used by tests), bigintToF32.
 *
 * Note: `ndarray` and `ndarray-ops` generate code with `new Function`; pages with a strict
 * Content-Security-Policy (no `unsafe-eval`) cannot load them.
 * @module
 */
import ndarray from 'ndarray';
import ops from 'ndarray-ops';
import { check, fail } from './errors.js';
import { bf16ToF32Array, f16ToF32Array } from './half.js';
import {
  type AnyTypedArray,
  DTYPE_ARRAY,
  type DType,
  describe,
  type Float32Tensor,
  rowMajorStrides,
  shapeSize,
  type Tensor,
  type TypedArrayConstructorOf,
  type TypedArrayOf,
  tensor,
} from './tensor.js';

/**
 * An ndarray-style strided view (the `ndarray` package's model). Strides and offset in elements.
 *
 * @example
 * ```ts
 * const v: NdarrayLike = { data: new Float32Array(6), shape: [3, 2], stride: [1, 3], offset: 0 }; // a transposed [2, 3]
 * ```
 */
export interface NdarrayLike {
  readonly data: ArrayLike<number> | ArrayLike<bigint>;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly offset: number;
}

/**
 * An onnxruntime-common / transformers.js style tensor.
 *
 * @example
 * ```ts
 * const o: OrtTensorLike = { type: 'float16', data: new Uint16Array([0x3c00]), dims: [1] };
 * ```
 */
export interface OrtTensorLike {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

/**
 * A tfjs style tensor (`tf.Tensor`); only `dataSync`, `shape` and `dtype` are used.
 *
 * @example
 * ```ts
 * const t: TfTensorLike = tf.tensor2d([1, 2, 3, 4], [2, 2]);
 * ```
 */
export interface TfTensorLike {
  dataSync(): unknown;
  readonly shape: readonly number[];
  readonly dtype: string;
}

/**
 * Plain data and shape. A typed array is used as is; a plain `number[]` is copied to float32.
 *
 * @example
 * ```ts
 * const p: PlainTensorLike = { data: [1, 2, 3], shape: [3] }; // copied to float32 by asTensor
 * ```
 */
export interface PlainTensorLike {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
}

/**
 * Everything {@link asTensor} accepts.
 *
 * @example
 * ```ts
 * function norm(x: TensorLike): number { return asFloat32(x).data.reduce((a, v) => a + v * v, 0); }
 * ```
 */
export type TensorLike = Tensor | NdarrayLike | OrtTensorLike | TfTensorLike | PlainTensorLike;

/**
 * ORT / transformers.js element type names that map onto lowbit dtypes.
 *
 * @example
 * ```ts
 * const t: OrtType = 'float16';
 * ```
 */
export type OrtType = DType;

/**
 * What {@link toOrtLike} returns: pass it to `new ort.Tensor(t.type, t.data, t.dims)`.
 *
 * @example
 * ```ts
 * const o: OrtLikeTensor<'int8'> = toOrtLike(tensor('int8', new Int8Array([1, -1]), [2]));
 * ```
 */
export interface OrtLikeTensor<D extends DType = DType> {
  readonly type: OrtType;
  readonly data: TypedArrayOf[D];
  readonly dims: readonly number[];
}

/**
 * What {@link toNdarray} returns: an `ndarray` instance (typed structurally; the package is a dependency).
 *
 * @example
 * ```ts
 * const nd: NdarrayView<Float32Array> = toNdarray(float32([1, 2, 3, 4], [2, 2]));
 * nd.get(1, 0); // 3
 * ```
 */
export interface NdarrayView<A extends AnyTypedArray = AnyTypedArray> {
  readonly data: A;
  readonly shape: number[];
  readonly stride: number[];
  readonly offset: number;
  readonly size: number;
  readonly dimension: number;
  get(...index: number[]): number | bigint;
  set(...indexAndValue: number[]): number | bigint;
  index(...index: number[]): number;
  transpose(...axes: number[]): NdarrayView<A>;
  pick(...index: (number | null)[]): NdarrayView<A>;
  lo(...index: number[]): NdarrayView<A>;
  hi(...index: number[]): NdarrayView<A>;
  step(...steps: number[]): NdarrayView<A>;
}

const ORT_TYPES: ReadonlySet<string> = new Set<OrtType>([
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
]);

/** The storage constructor of each dtype. */
const STORAGE: Readonly<Record<DType, TypedArrayConstructorOf<AnyTypedArray>>> = DTYPE_ARRAY;

type AnyView = ArrayBufferView & { readonly length: number };

function float16ArrayCtor(): (abstract new (...a: never[]) => unknown) | undefined {
  return (globalThis as { Float16Array?: abstract new (...a: never[]) => unknown }).Float16Array;
}

function isNativeFloat16(a: unknown): a is AnyView {
  const F16 = float16ArrayCtor();
  return F16 !== undefined && a instanceof F16;
}

/** Reinterpret the memory of a typed array as another element type of the same width (no copy). */
function reinterpret<A extends AnyTypedArray>(
  a: AnyView,
  Ctor: new (buf: ArrayBufferLike, byteOffset: number, length: number) => A,
): A {
  return new Ctor(a.buffer, a.byteOffset, a.length);
}

/** The lowbit dtype of a typed array, or undefined (Uint16Array → uint16, Float16Array → float16). */
function dtypeOfArray(a: unknown): DType | undefined {
  if (isNativeFloat16(a)) return 'float16';
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return 'uint8';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Uint16Array) return 'uint16';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint32Array) return 'uint32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof BigUint64Array) return 'uint64';
  return undefined;
}

/**
 * Turn a typed array into the storage array of `dtype` without copying: itself when it already is one,
 * else a same-buffer view (Float16Array → Uint16Array bits, Uint8ClampedArray → Uint8Array).
 * Throws `E_DTYPE` when the element type does not fit `dtype`.
 */
function storageOf(who: string, dtype: DType, a: unknown): AnyTypedArray {
  const Ctor = STORAGE[dtype];
  if (dtype === 'float16' && isNativeFloat16(a)) return reinterpret(a, Uint16Array);
  if (a instanceof Ctor && !(a instanceof Uint8ClampedArray)) return a as AnyTypedArray;
  if ((dtype === 'uint8' || dtype === 'bool') && a instanceof Uint8ClampedArray) return reinterpret(a, Uint8Array);
  const hint =
    dtype === 'float16' || dtype === 'bfloat16'
      ? 'a Uint16Array of bit patterns (or a native Float16Array for float16)'
      : `a ${Ctor.name}`;
  return fail('E_DTYPE', `${who}: dtype '${dtype}' needs ${hint}, got ${describe(a)}`);
}

function checkShapeArray(who: string, shape: unknown, field: string): readonly number[] {
  if (!Array.isArray(shape))
    fail('E_SHAPE', `${who}: expected '${field}' to be an array of integers, got ${describe(shape)}`);
  shapeSize(shape as number[]);
  return shape as number[];
}

function finish<D extends DType>(who: string, dtype: D, data: AnyTypedArray, shape: readonly number[]): Tensor<D> {
  const n = shapeSize(shape);
  check(
    data.length === n,
    'E_SHAPE',
    () => `${who}: shape [${shape.join(', ')}] holds ${n} elements, but data has ${data.length}`,
  );
  return tensor(dtype, data as TypedArrayOf[D], shape);
}

/** A plain number array → Float32Array (copy), checking every entry is a number. */
function numbersToF32(who: string, a: ArrayLike<unknown>): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number') fail('E_DTYPE', `${who}: data[${i}] is ${describe(v)}, expected a number`);
    out[i] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// ndarray views

/**
 * Plain strided copy: `out[row-major i] = data[offset + Σ idx_k·stride_k]`. The reference twin of the
 * `ndarray-ops` copy used by {@link asTensor}. Internal (exported for tests).
 *
 * @example
 * ```ts
 * stridedCopyRef(new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2], [1, 3], 0, new Float32Array(6)); // [1, 4, 2, 5, 3, 6]
 * ```
 */
export function stridedCopyRef<A extends AnyTypedArray>(
  data: A,
  shape: readonly number[],
  stride: readonly number[],
  offset: number,
  out: A,
): A {
  const r = shape.length;
  const n = shapeSize(shape);
  if (n === 0) return out;
  const idx = new Array<number>(r).fill(0);
  let src = offset;
  const o = out as unknown as { [i: number]: number | bigint };
  const d = data as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < n; i++) {
    o[i] = d[src]!;
    // increment the multi-index (last axis fastest)
    for (let k = r - 1; k >= 0; k--) {
      idx[k]!++;
      src += stride[k]!;
      if (idx[k]! < shape[k]!) break;
      src -= stride[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

function isRowMajorContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  const want = rowMajorStrides(shape);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i]! > 1 && stride[i]! !== want[i]!) return false;
  }
  return true;
}

function fromNdarray(x: NdarrayLike): Tensor {
  const who = 'asTensor(ndarray)';
  const shape = checkShapeArray(who, x.shape, 'shape');
  const stride = x.stride as unknown;
  if (!Array.isArray(stride) || stride.length !== shape.length || !stride.every((s) => Number.isSafeInteger(s))) {
    fail(
      'E_SHAPE',
      `${who}: 'stride' must be ${shape.length} integers (one per axis of [${shape.join(', ')}]), got ${JSON.stringify(stride)}`,
    );
  }
  const offset = x.offset;
  check(
    Number.isSafeInteger(offset) && offset >= 0,
    'E_SHAPE',
    () => `${who}: 'offset' must be a non-negative integer, got ${offset}`,
  );
  const n = shapeSize(shape);
  let raw: unknown = x.data;
  let dtype = dtypeOfArray(raw);
  if (dtype === undefined) {
    if (!Array.isArray(raw)) fail('E_DTYPE', `${who}: data must be a typed array or a number[], got ${describe(raw)}`);
    raw = numbersToF32(who, raw);
    dtype = 'float32';
  }
  const storage = storageOf(who, dtype, raw);
  // Bounds: the smallest and largest element index the view can touch must lie inside the data.
  if (n > 0) {
    let lo = offset;
    let hi = offset;
    for (let i = 0; i < shape.length; i++) {
      const span = (shape[i]! - 1) * (stride as number[])[i]!;
      if (span < 0) lo += span;
      else hi += span;
    }
    check(
      lo >= 0 && hi < storage.length,
      'E_SHAPE',
      () =>
        `${who}: view shape [${shape.join(', ')}], stride [${(stride as number[]).join(', ')}], offset ${offset} reaches elements ${lo}..${hi}, but data has ${storage.length}`,
    );
  }
  const strideArr = stride as number[];
  if (isRowMajorContiguous(shape, strideArr)) {
    const view = offset === 0 && storage.length === n ? storage : storage.subarray(offset, offset + n);
    return finish(who, dtype, view as AnyTypedArray, shape);
  }
  const Ctor = storage.constructor as new (n: number) => AnyTypedArray;
  const out = new Ctor(n);
  if (n > 0) {
    const dst = ndarray(out as never, [...shape]);
    const src = ndarray(storage as never, [...shape], [...strideArr], offset);
    ops.assign(dst, src);
  }
  return finish(who, dtype, out, shape);
}

// ---------------------------------------------------------------------------------------------------
// ORT / transformers.js and tfjs

function fromOrt(x: OrtTensorLike): Tensor {
  const who = 'asTensor(ort)';
  const type = x.type;
  if (typeof type !== 'string' || !ORT_TYPES.has(type)) {
    const extra =
      type === 'int4' || type === 'uint4'
        ? ' (4-bit ORT tensors are packed two per byte; unpack them with unpackBits first)'
        : type === 'string'
          ? ' (string tensors hold no numbers)'
          : '';
    fail(
      'E_DTYPE',
      `${who}: unsupported element type ${JSON.stringify(type)}${extra}; expected one of ${[...ORT_TYPES].join(', ')}`,
    );
  }
  const dims = checkShapeArray(who, x.dims, 'dims');
  const dtype = type as OrtType;
  let data: unknown;
  try {
    data = x.data; // onnxruntime throws here for tensors that live on a GPU
  } catch (e) {
    fail(
      'E_DTYPE',
      `${who}: the tensor's data is not readable on the CPU (${(e as Error).message}); download it first, e.g. with \`await tensor.getData()\``,
      e,
    );
  }
  return finish(who, dtype, storageOf(who, dtype, data), dims);
}

function fromTf(x: TfTensorLike): Tensor {
  const who = 'asTensor(tfjs)';
  const dt = x.dtype;
  if (dt !== 'float32' && dt !== 'int32' && dt !== 'bool') {
    fail('E_DTYPE', `${who}: unsupported tfjs dtype ${JSON.stringify(dt)}; expected float32, int32 or bool`);
  }
  const shape = checkShapeArray(who, x.shape, 'shape');
  const data = x.dataSync();
  return finish(who, dt, storageOf(who, dt, data), shape);
}

function fromLowbit(x: Tensor): Tensor {
  const who = 'asTensor(tensor)';
  const dtype = x.dtype;
  if (!(dtype in STORAGE)) fail('E_DTYPE', `${who}: unknown dtype ${JSON.stringify(dtype)}`);
  const shape = checkShapeArray(who, x.shape, 'shape');
  return finish(who, dtype, storageOf(who, dtype, x.data), shape);
}

function fromPlain(x: PlainTensorLike): Tensor {
  const who = 'asTensor(plain)';
  const shape = checkShapeArray(who, x.shape, 'shape');
  const raw: unknown = x.data;
  const dtype = dtypeOfArray(raw);
  if (dtype !== undefined) return finish(who, dtype, storageOf(who, dtype, raw), shape);
  if (Array.isArray(raw)) return finish(who, 'float32', numbersToF32(who, raw), shape);
  return fail('E_DTYPE', `${who}: data must be a typed array or a number[], got ${describe(raw)}`);
}

/**
 * Normalise any supported tensor object into a contiguous row-major lowbit {@link Tensor}.
 *
 * Accepted, checked in this order:
 * 1. tfjs `{ dataSync(), shape, dtype }` (float32, int32, bool; `dataSync()` is called once);
 * 2. ORT / transformers.js `{ type, data, dims }` (float32, float64, float16 as `Uint16Array` bits or a
 *    native `Float16Array`, bfloat16 as `Uint16Array`, int8…uint64, bool as `Uint8Array`; the data type
 *    must match `type`);
 * 3. ndarray `{ data, shape, stride, offset }` (non-contiguous views are copied; `Float16Array` data
 *    becomes float16, `Uint8ClampedArray` becomes uint8);
 * 4. a lowbit `{ dtype, data, shape }`;
 * 5. plain `{ data, shape }`: a typed array gives its own dtype (`Uint16Array` → uint16); a plain
 *    `number[]` is copied into a new `Float32Array` (float32).
 *
 * No copy is made when the input is contiguous: the result's `data` is the input's typed array, a
 * `subarray` of it (ndarray with an offset), or a same-buffer reinterpretation (`Float16Array` →
 * `Uint16Array`). The shape is copied and frozen. Throws `E_SHAPE` when the shape, strides or offset do
 * not fit the data, `E_DTYPE` for an unsupported element type.
 *
 * @example
 * ```ts
 * import ndarray from 'ndarray';
 * import { asTensor } from 'lowbit/common';
 * const buf = new Float32Array([1, 2, 3, 4, 5, 6]);
 * asTensor({ type: 'float32', data: buf, dims: [2, 3] }).data === buf; // true (zero-copy)
 * const t = asTensor(ndarray(buf, [2, 3]).transpose(1, 0)); // copied: data [1, 4, 2, 5, 3, 6], shape [3, 2]
 * ```
 */
export function asTensor(x: TensorLike): Tensor {
  if (x === null || typeof x !== 'object')
    fail('E_DTYPE', `asTensor: expected a tensor-like object, got ${describe(x)}`);
  const o = x as unknown as Record<string, unknown>;
  if (typeof o.dataSync === 'function') return fromTf(x as TfTensorLike);
  if ('dims' in o && 'type' in o) return fromOrt(x as OrtTensorLike);
  if ('stride' in o) return fromNdarray(x as NdarrayLike);
  if (!('data' in o) || !('shape' in o)) {
    fail(
      'E_DTYPE',
      'asTensor: unrecognised object; expected { data, shape, stride, offset } (ndarray), { type, data, dims } (ORT), { dataSync(), shape, dtype } (tfjs) or { data, shape } (plain / lowbit)',
    );
  }
  if (typeof o.dtype === 'string') return fromLowbit(x as Tensor);
  return fromPlain(x as PlainTensorLike);
}

/**
 * Round a bigint to the nearest float32 (ties to even) with a single rounding. Internal.
 *
 * @example
 * ```ts
 * bigintToF32((1n << 60n) + (1n << 36n) + 1n); // 2^60 + 2^37 (Math.fround(Number(v)) gives 2^60)
 * ```
 */
export function bigintToF32(v: bigint): number {
  const neg = v < 0n;
  const a = neg ? -v : v;
  let r: number;
  if (a < 9007199254740992n) {
    r = Math.fround(Number(a)); // exact in a double, one rounding to float32
  } else {
    const bits = a.toString(2).length;
    const shift = BigInt(bits - 24);
    let mant = a >> shift;
    const rem = a - (mant << shift);
    const half = 1n << (shift - 1n);
    if (rem > half || (rem === half && (mant & 1n) === 1n)) mant += 1n;
    r = Number(mant) * 2 ** Number(shift); // mant <= 2^24: exact
  }
  return neg ? -r : r;
}

/**
 * Any {@link TensorLike} as a float32 tensor. Zero-copy when the input already holds float32 (same rules
 * as {@link asTensor}); otherwise a new `Float32Array`:
 * float16 / bfloat16 bits are decoded exactly (NaN, ±Inf, subnormals kept); float64, int32, uint32, int64
 * and uint64 are rounded to the nearest float32 (ties to even; values beyond float32 range become ±Inf
 * for float64); int8/uint8/int16/uint16/bool are exact.
 *
 * @example
 * ```ts
 * import { asFloat32 } from 'lowbit/common';
 * const h = asFloat32({ type: 'float16', data: new Uint16Array([0x3c00, 0xc000]), dims: [2] });
 * h.data; // Float32Array [1, -2]
 * ```
 */
export function asFloat32(x: TensorLike): Float32Tensor {
  const t = asTensor(x);
  const shape = t.shape;
  switch (t.dtype) {
    case 'float32':
      return t as Float32Tensor;
    case 'float16':
      return tensor('float32', f16ToF32Array(t.data as Uint16Array), shape);
    case 'bfloat16':
      return tensor('float32', bf16ToF32Array(t.data as Uint16Array), shape);
    case 'int64':
    case 'uint64': {
      const src = t.data as BigInt64Array | BigUint64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = bigintToF32(src[i]!);
      return tensor('float32', out, shape);
    }
    default: {
      // Float32Array assignment rounds to nearest, ties to even (one rounding from the exact value).
      const src = t.data as Exclude<AnyTypedArray, BigInt64Array | BigUint64Array>;
      const out = new Float32Array(src.length);
      out.set(src);
      return tensor('float32', out, shape);
    }
  }
}

/**
 * A lowbit tensor as an `ndarray` (package `ndarray`), sharing its memory. float16/bfloat16 tensors give
 * an ndarray of `Uint16Array` bits (use {@link asFloat32} first for values).
 *
 * @example
 * ```ts
 * import { float32, toNdarray } from 'lowbit/common';
 * const nd = toNdarray(float32([1, 2, 3, 4, 5, 6], [2, 3]));
 * nd.get(1, 2); // 6
 * nd.transpose(1, 0).get(2, 1); // 6
 * ```
 */
export function toNdarray<D extends DType>(t: Tensor<D>): NdarrayView<TypedArrayOf[D]> {
  const c = fromLowbit(t);
  return ndarray(c.data as never, [...c.shape]) as unknown as NdarrayView<TypedArrayOf[D]>;
}

/**
 * A lowbit tensor as an ORT / transformers.js style `{ type, data, dims }`, sharing its memory (no
 * import of onnxruntime: pass the fields to `new ort.Tensor(type, data, dims)`). float16 data is the
 * `Uint16Array` of bits, which ORT accepts. ORT has no bfloat16: those tensors throw `E_DTYPE` (convert
 * with {@link asFloat32} first).
 *
 * @example
 * ```ts
 * import { float32, toOrtLike } from 'lowbit/common';
 * const o = toOrtLike(float32([1, 2, 3, 4], [2, 2]));
 * // o = { type: 'float32', data: Float32Array [1, 2, 3, 4], dims: [2, 2] }
 * ```
 */
export function toOrtLike<D extends DType>(t: Tensor<D>): OrtLikeTensor<D> {
  const c = fromLowbit(t);
  if (c.dtype === 'bfloat16') {
    fail('E_DTYPE', 'toOrtLike: onnxruntime tensors have no bfloat16 type; convert with asFloat32(t) first');
  }
  return { type: c.dtype as OrtType, data: c.data as TypedArrayOf[D], dims: [...c.shape] };
}
