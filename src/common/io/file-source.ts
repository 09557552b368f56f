/**
 * File-backed {@link ByteSource} (Node only): positional reads in chunks of at most 1 GiB, so files
 * larger than 2 GiB work and the file is never read whole.
 *
 * Exposed: fileSource.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { LowbitError } from '../errors.js';
import { type ByteSource, checkRange } from './source.js';

const CHUNK = 1 << 30;

/**
 * Open a file as a {@link ByteSource}. Throws `E_IO` when it cannot be opened. Call `close()` when done.
 *
 * @example
 * ```ts
 * const src = fileSource('model.safetensors');
 * try { const header = src.read(0, 8); } finally { src.close?.(); }
 * ```
 */
export function fileSource(path: string): ByteSource & { close(): void } {
  let fd: number;
  let size: number;
  try {
    fd = openSync(path, 'r');
    size = fstatSync(fd).size;
  } catch (e) {
    throw new LowbitError('E_IO', `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  let open = true;
  return {
    size,
    read(offset: number, length: number, out?: Uint8Array): Uint8Array {
      checkRange(offset, length, size);
      if (!open) throw new LowbitError('E_IO', `${path}: read after close`);
      const dst = out ?? new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = Math.min(CHUNK, length - done);
        let got: number;
        try {
          got = readSync(fd, dst, done, n, offset + done);
        } catch (e) {
          throw new LowbitError('E_IO', `${path}: read failed at ${offset + done}: ${(e as Error).message}`, {
            cause: e,
          });
        }
        if (got <= 0) throw new LowbitError('E_IO', `${path}: unexpected end of file at ${offset + done}`);
        done += got;
      }
      return dst;
    },
    close(): void {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
