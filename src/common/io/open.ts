/**
 * One entry point for tensor files (Node): detect the container by its magic bytes (falling back to
 * the file extension), open it lazily through {@link fileSource} and return a {@link TensorFile} that
 * reads one tensor at a time with positional reads — files larger than 2 GiB work and are never read
 * whole. Plus whole-file conveniences `readTensorFile` and `writeTensorFile`.
 *
 * Magic bytes: `.npy` `\x93NUMPY`; `.npz` `PK\x03\x04` / `PK\x05\x06` (zip); `.gguf` `GGUF`;
 * `.safetensors` u64 header length N ≤ size − 8 followed by `{`.
 *
 * Exposed: detectTensorFormat, openTensorSource, openTensorFile, readTensorFile, writeTensorFile,
 * WriteTensorFileOptions.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { check, fail, LowbitError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { fileSource } from './file-source.js';
import { type GgufValueInput, type GgufWriteTensor, openGguf, serializeGguf } from './gguf.js';
import { openNpy, serializeNpy } from './npy.js';
import { openNpz, serializeNpz } from './npz.js';
import { openSafetensors, serializeSafetensors } from './safetensors.js';
import type { ByteSource, TensorFile, TensorFileFormat } from './source.js';

const EXT: Readonly<Record<string, TensorFileFormat>> = {
  npy: 'npy',
  npz: 'npz',
  safetensors: 'safetensors',
  gguf: 'gguf',
};

function extOf(path: string): TensorFileFormat | undefined {
  const m = /\.([A-Za-z0-9]+)$/.exec(path);
  return m === null ? undefined : EXT[m[1]!.toLowerCase()];
}

/**
 * The container format of a file from its first bytes (at least 9 are needed for safetensors) and its
 * size; `undefined` when no magic matches.
 *
 * @example
 * ```ts
 * detectTensorFormat(new TextEncoder().encode('GGUF\x03\0\0\0'), 1000); // 'gguf'
 * ```
 */
export function detectTensorFormat(head: Uint8Array, size: number): TensorFileFormat | undefined {
  const b = head;
  if (
    b.length >= 6 &&
    b[0] === 0x93 &&
    b[1] === 0x4e &&
    b[2] === 0x55 &&
    b[3] === 0x4d &&
    b[4] === 0x50 &&
    b[5] === 0x59
  )
    return 'npy';
  if (b.length >= 4 && b[0] === 0x47 && b[1] === 0x47 && b[2] === 0x55 && b[3] === 0x46) return 'gguf';
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6)))
    return 'npz';
  if (b.length >= 9 && b[8] === 0x7b) {
    const n = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(Math.max(0, size - 8))) return 'safetensors';
  }
  return undefined;
}

/**
 * Open a {@link ByteSource} as a tensor file: the format is `opts.format`, else detected from the
 * magic bytes, else taken from `opts.name`'s extension. Throws `E_FORMAT` when none applies. Closing
 * the returned file closes the source.
 *
 * @example
 * ```ts
 * const f = openTensorSource(memorySource(bytes), { name: 'w.safetensors' });
 * ```
 */
export function openTensorSource(
  src: ByteSource,
  opts: { readonly format?: TensorFileFormat; readonly name?: string } = {},
): TensorFile {
  const what = opts.name ?? 'tensor file';
  let format = opts.format;
  if (format === undefined) {
    const head = src.read(0, Math.min(16, src.size));
    format = detectTensorFormat(head, src.size) ?? (opts.name === undefined ? undefined : extOf(opts.name));
  }
  switch (format) {
    case 'npy':
      return openNpy(src);
    case 'npz':
      return openNpz(src);
    case 'safetensors':
      return openSafetensors(src);
    case 'gguf':
      return openGguf(src);
    default:
      return fail(
        'E_FORMAT',
        `${what}: unknown tensor file format (no .npy/.npz/.safetensors/.gguf magic bytes or extension)`,
      );
  }
}

/**
 * Open a `.npy`, `.npz`, `.safetensors` or `.gguf` file lazily (see {@link openTensorSource}). Throws
 * `E_IO` when the file cannot be opened. Call `close()` when done.
 *
 * @example
 * ```ts
 * const f = openTensorFile('model.gguf');
 * try {
 *   for (const name of f.names) console.log(name, f.info(name).shape);
 * } finally {
 *   f.close();
 * }
 * ```
 */
export function openTensorFile(path: string, opts: { readonly format?: TensorFileFormat } = {}): TensorFile {
  const src = fileSource(path);
  try {
    return openTensorSource(src, { ...opts, name: path });
  } catch (e) {
    src.close();
    // name the file once: messages from openTensorSource may already start with it
    if (e instanceof LowbitError && !e.message.startsWith(`${path}:`))
      throw new LowbitError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Read every tensor of a file into a `Map` (natural dtypes, as `TensorFile.read` returns them).
 *
 * @example
 * ```ts
 * const tensors = readTensorFile('weights.npz');
 * tensors.get('w')?.shape;
 * ```
 */
export function readTensorFile(path: string, opts: { readonly format?: TensorFileFormat } = {}): Map<string, Tensor> {
  const f = openTensorFile(path, opts);
  try {
    const out = new Map<string, Tensor>();
    for (const name of f.names) out.set(name, f.read(name));
    return out;
  } finally {
    f.close();
  }
}

/**
 * Options of {@link writeTensorFile}. `format` defaults to the path's extension. `metadata`:
 * safetensors `__metadata__` (string values) or GGUF key/values (typed or inferred, see
 * `GgufValueInput`); `.npy`/`.npz` have none. `ggufType` picks the GGUF tensor type of float32 data
 * (default F32; block types need rows that are a multiple of 32); `compress` deflates `.npz` entries.
 *
 * @example
 * ```ts
 * const o: WriteTensorFileOptions = { format: 'gguf', ggufType: 'Q8_0' };
 * ```
 */
export interface WriteTensorFileOptions {
  readonly format?: TensorFileFormat;
  readonly metadata?: Readonly<Record<string, GgufValueInput>>;
  readonly ggufType?: GgufWriteTensor['type'];
  readonly compress?: boolean;
}

/**
 * Write tensors to a `.npy` (exactly one tensor), `.npz`, `.safetensors` or `.gguf` file. Float32
 * arrays are written as 1-D float32 tensors.
 *
 * @example
 * ```ts
 * writeTensorFile('out.safetensors', { w: float32([1, 2, 3, 4], [2, 2]) }, { metadata: { method: 'demo' } });
 * writeTensorFile('out.gguf', new Map([['w', float32(new Float32Array(64), [2, 32])]]), { ggufType: 'Q4_0' });
 * ```
 */
export function writeTensorFile(
  path: string,
  tensors: ReadonlyMap<string, Tensor | Float32Array> | Readonly<Record<string, Tensor | Float32Array>>,
  opts: WriteTensorFileOptions = {},
): void {
  const format = opts.format ?? extOf(path);
  if (format === undefined)
    fail('E_CONFIG', `writeTensorFile: cannot tell the format of ${path}; pass { format } or use a known extension`);
  const entries: [string, Tensor][] = (
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, Tensor | Float32Array>)
  ).map(([k, v]) => [k, v instanceof Float32Array ? { dtype: 'float32', data: v, shape: [v.length] } : v]);
  let bytes: Uint8Array;
  switch (format) {
    case 'npy':
      check(entries.length === 1, 'E_CONFIG', () => `writeTensorFile: .npy holds one tensor, got ${entries.length}`);
      check(opts.metadata === undefined, 'E_CONFIG', 'writeTensorFile: .npy has no metadata');
      bytes = serializeNpy(entries[0]![1]);
      break;
    case 'npz':
      check(opts.metadata === undefined, 'E_CONFIG', 'writeTensorFile: .npz has no metadata');
      bytes = serializeNpz(new Map(entries), opts.compress === undefined ? {} : { compress: opts.compress });
      break;
    case 'safetensors': {
      const md = opts.metadata;
      if (md !== undefined)
        for (const [k, v] of Object.entries(md))
          check(
            typeof v === 'string',
            'E_CONFIG',
            () => `writeTensorFile: safetensors metadata values must be strings (${k})`,
          );
      bytes = serializeSafetensors(new Map(entries), md as Readonly<Record<string, string>> | undefined);
      break;
    }
    case 'gguf':
      bytes = serializeGguf({
        ...(opts.metadata === undefined ? {} : { metadata: opts.metadata }),
        tensors: entries.map(([name, t]) => ({
          name,
          data: t,
          ...(opts.ggufType === undefined || t.dtype !== 'float32' ? {} : { type: opts.ggufType }),
        })),
      });
      break;
    default:
      fail('E_CONFIG', `writeTensorFile: unknown format ${String(format)}`);
  }
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    fail('E_IO', `writeTensorFile: cannot write ${path}: ${(e as Error).message}`, e);
  }
}
