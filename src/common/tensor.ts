/**
 * Tensors: `{ dtype, data, shape }`, contiguous and row-major. `float32` is the compute dtype;
 * `float16` and `bfloat16` are stored as `Uint16Array` bit patterns.
 *
 * Exposed: DType, TypedArrayOf, Tensor, Float32Tensor, tensor, float32, zeros, shapeSize, rowMajorStrides,
 * assertShape, dtypeOf, ELEMENT_BYTES.
 * @module
 */
import { check, fail } from './errors.js';

/** Element types lowbit knows. `float16`/`bfloat16` hold raw bits in a `Uint16Array`. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

/** The typed array that stores each {@link DType}. */
export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

/** Any typed array lowbit stores. */
export type AnyTypedArray = TypedArrayOf[DType];

/**
 * A contiguous row-major tensor. `data.length === shapeSize(shape)`.
 *
 * @example
 * ```ts
 * const t: Tensor<'float32'> = { dtype: 'float32', data: new Float32Array(6), shape: [2, 3] };
 * ```
 */
export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly data: TypedArrayOf[D];
  readonly shape: readonly number[];
}

/** A float32 tensor, the compute type of every kernel. */
export type Float32Tensor = Tensor<'float32'>;

/** Bytes per element of each dtype (`bool` is one byte). */
export const ELEMENT_BYTES: Readonly<Record<DType, number>> = Object.freeze({
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  bool: 1,
});

/** A typed-array constructor (allocate by length, or view a buffer). */
export interface TypedArrayConstructorOf<T> {
  new (length: number): T;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
}

/**
 * The typed-array constructor that stores each {@link DType} (the one table every module uses).
 *
 * @example
 * ```ts
 * const a = new DTYPE_ARRAY.float16(4); // Uint16Array(4): fp16 bits
 * ```
 */
export const DTYPE_ARRAY: { readonly [D in DType]: TypedArrayConstructorOf<TypedArrayOf[D]> } = Object.freeze({
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
});

const CTOR: Readonly<Record<DType, TypedArrayConstructorOf<AnyTypedArray>>> = DTYPE_ARRAY;

/**
 * Number of elements of a shape (1 for the scalar shape `[]`). Throws `E_SHAPE` for a dimension that is
 * not a non-negative safe integer and `E_LIMIT` when the product is not a safe integer.
 *
 * @example
 * ```ts
 * shapeSize([2, 3, 4]); // 24
 * shapeSize([]); // 1
 * ```
 */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (!Number.isSafeInteger(d) || d < 0)
      fail('E_SHAPE', `shape [${shape.join(', ')}]: dimension ${i} is ${d}, expected a non-negative integer`);
    n *= d;
    if (!Number.isSafeInteger(n)) fail('E_LIMIT', `shape [${shape.join(', ')}]: element count overflows 2^53`);
  }
  return n;
}

/**
 * Row-major strides (in elements) of a shape.
 *
 * @example
 * ```ts
 * rowMajorStrides([2, 3, 4]); // [12, 4, 1]
 * ```
 */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * Allocate a zero-filled tensor.
 *
 * @example
 * ```ts
 * const t = zeros('float32', [2, 3]);
 * ```
 */
export function zeros<D extends DType>(dtype: D, shape: readonly number[]): Tensor<D> {
  const n = shapeSize(shape);
  const Ctor = CTOR[dtype];
  if (Ctor === undefined) fail('E_DTYPE', `zeros: unknown dtype ${JSON.stringify(dtype)}`);
  return { dtype, data: new Ctor(n) as TypedArrayOf[D], shape: Object.freeze([...shape]) };
}

/**
 * Wrap a typed array as a tensor after checking that its type and length match (no copy).
 *
 * @example
 * ```ts
 * const t = tensor('float32', new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * ```
 */
export function tensor<D extends DType>(dtype: D, data: TypedArrayOf[D], shape: readonly number[]): Tensor<D> {
  const Ctor = CTOR[dtype];
  if (Ctor === undefined) fail('E_DTYPE', `tensor: unknown dtype ${JSON.stringify(dtype)}`);
  check(data instanceof Ctor, 'E_DTYPE', () => `tensor: dtype '${dtype}' needs a ${Ctor.name}, got ${describe(data)}`);
  const n = shapeSize(shape);
  check(
    data.length === n,
    'E_SHAPE',
    () => `tensor: shape [${shape.join(', ')}] holds ${n} elements, data has ${data.length}`,
  );
  return { dtype, data, shape: Object.freeze([...shape]) };
}

/**
 * A float32 tensor from a `Float32Array` or a plain number array (copied).
 *
 * @example
 * ```ts
 * const x = float32([1, 2, 3, 4], [2, 2]);
 * ```
 */
export function float32(data: Float32Array | readonly number[], shape?: readonly number[]): Float32Tensor {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  return tensor('float32', arr, shape ?? [arr.length]);
}

/**
 * The lowbit dtype of a typed array (`Uint16Array` maps to `'uint16'`, `Uint8Array` to `'uint8'`).
 * Throws `E_DTYPE` for anything else.
 *
 * @example
 * ```ts
 * dtypeOf(new Float32Array(1)); // 'float32'
 * ```
 */
export function dtypeOf(a: unknown): DType {
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
  const F16 = (globalThis as { Float16Array?: new () => unknown }).Float16Array;
  if (F16 !== undefined && a instanceof F16) return 'float16';
  return fail('E_DTYPE', `expected a typed array, got ${describe(a)}`);
}

/**
 * Check that a tensor is float32 with the given rank (and optional fixed dimensions, `-1` = any).
 * Throws `E_DTYPE` / `E_SHAPE` naming the caller.
 *
 * @example
 * ```ts
 * assertShape(k, 'quantizeKeys', { dtype: 'float32', minRank: 2 });
 * ```
 */
export function assertShape(
  t: Tensor,
  who: string,
  opts: { dtype?: DType; rank?: number; minRank?: number; dims?: readonly number[] },
): void {
  if (opts.dtype !== undefined && t.dtype !== opts.dtype) {
    fail('E_DTYPE', `${who}: expected a ${opts.dtype} tensor, got ${t.dtype}`);
  }
  const r = t.shape.length;
  if (opts.rank !== undefined && r !== opts.rank) {
    fail('E_SHAPE', `${who}: expected rank ${opts.rank}, got shape [${t.shape.join(', ')}]`);
  }
  if (opts.minRank !== undefined && r < opts.minRank) {
    fail('E_SHAPE', `${who}: expected rank >= ${opts.minRank}, got shape [${t.shape.join(', ')}]`);
  }
  if (opts.dims !== undefined) {
    const want = opts.dims;
    const ok = want.length === r && want.every((d, i) => d < 0 || d === t.shape[i]);
    if (!ok)
      fail(
        'E_SHAPE',
        `${who}: expected shape [${want.map((d) => (d < 0 ? '*' : d)).join(', ')}], got [${t.shape.join(', ')}]`,
      );
  }
}

/** Short description of a value for error messages. Internal. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
