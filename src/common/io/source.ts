/**
 * Byte sources: random-access reads of a file or a buffer, so format parsers can read headers and one
 * tensor at a time without ever holding the whole file. In-memory only; the file-backed source is in
 * `file-source.ts` (Node).
 *
 * Exposed: ByteSource, memorySource, TensorInfo, TensorFile, TensorFileFormat.
 * @module
 */
import { check } from '../errors.js';
import type { Float32Tensor, Tensor } from '../tensor.js';

/**
 * A random-access byte source. `read` returns exactly `length` bytes starting at `offset` (a fresh
 * array, or `out` when given) and throws `E_FORMAT` when the range is outside `[0, size)`.
 *
 * @example
 * ```ts
 * const src = memorySource(bytes);
 * const magic = src.read(0, 4);
 * ```
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Read `length` bytes at `offset`. */
  read(offset: number, length: number, out?: Uint8Array): Uint8Array;
  /** Release the underlying handle (no-op for memory). */
  close?(): void;
}

/**
 * A {@link ByteSource} over bytes already in memory. `read` returns views (no copy) unless `out` is given.
 *
 * @example
 * ```ts
 * const src = memorySource(new Uint8Array([1, 2, 3]));
 * src.read(1, 2); // Uint8Array [2, 3]
 * ```
 */
export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read(offset: number, length: number, out?: Uint8Array): Uint8Array {
      checkRange(offset, length, bytes.length);
      const view = bytes.subarray(offset, offset + length);
      if (out === undefined) return view;
      out.set(view);
      return out;
    },
  };
}

/**
 * Throw `E_FORMAT` unless `[offset, offset + length)` lies inside `[0, size)` (used by every parser before it reads).
 *
 * @example
 * ```ts
 * checkRange(0, 4, src.size);
 * ```
 */
export function checkRange(offset: number, length: number, size: number): void {
  check(
    Number.isSafeInteger(offset) &&
      Number.isSafeInteger(length) &&
      offset >= 0 &&
      length >= 0 &&
      offset + length <= size,
    'E_FORMAT',
    () => `read of ${length} bytes at offset ${offset} is outside the ${size}-byte source (truncated or corrupt file?)`,
  );
}

/**
 * Where one tensor lives in a file: its name, the file's dtype tag (e.g. `'F16'`, `'<f4'`, `'Q4_0'`),
 * the lowbit dtype it decodes to, its row-major shape and the byte range of its data.
 *
 * @example
 * ```ts
 * const info: TensorInfo = { name: 'w', fileDtype: 'F32', dtype: 'float32', shape: [2, 3], byteOffset: 64, byteLength: 24 };
 * ```
 */
export interface TensorInfo {
  readonly name: string;
  readonly fileDtype: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** The container formats lowbit reads. */
export type TensorFileFormat = 'npy' | 'npz' | 'safetensors' | 'gguf';

/**
 * A lazily read tensor file: the header is parsed and validated on open; `read` fetches one tensor's
 * bytes (positional reads through a {@link ByteSource}) and decodes them. `read` returns the natural
 * lowbit dtype (fp16/bf16 as `Uint16Array` bits, F8 as `uint8` bits, ggml quantized blocks decoded to
 * float32); `readFloat32` converts any of them to float32.
 *
 * @example
 * ```ts
 * const f = openTensorFile('model.safetensors');
 * for (const name of f.names) console.log(name, f.info(name).shape);
 * const w = f.readFloat32('layers.0.wq');
 * f.close();
 * ```
 */
export interface TensorFile {
  readonly format: TensorFileFormat;
  readonly names: readonly string[];
  /** Format metadata (safetensors `__metadata__`, GGUF key/values, npy header fields). */
  readonly metadata: Readonly<Record<string, unknown>>;
  info(name: string): TensorInfo;
  read(name: string): Tensor;
  readFloat32(name: string): Float32Tensor;
  close(): void;
}
