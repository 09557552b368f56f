/** Shared helpers of the npy / npz / safetensors / float8 tests (fixtures, byte views, python check). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LowbitError } from '../../../src/common/errors.js';
import type { ByteSource } from '../../../src/common/io/source.js';
import { memorySource } from '../../../src/common/io/source.js';
import type { Tensor } from '../../../src/common/tensor.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/formats/', import.meta.url));
export const MAMBA = fileURLToPath(new URL('../../../models/mamba-tiny/model.safetensors', import.meta.url));

export interface ExpectedArray {
  descr?: string;
  dtype?: string;
  shape: number[];
  hex: string;
  f32hex?: string[];
}
export const EXPECTED = JSON.parse(readFileSync(`${FIXTURES}expected.json`, 'utf8')) as {
  npy: Record<string, ExpectedArray>;
  npz: Record<string, Record<string, ExpectedArray>>;
  st: Record<string, { metadata: Record<string, string> | null; tensors: Record<string, ExpectedArray> }>;
  mamba: {
    size: number;
    header_len: number;
    metadata: Record<string, string>;
    tensors: Record<string, { dtype: string; shape: number[]; sha256: string; first: string[]; sum: number }>;
  };
};

export function fixture(rel: string): Uint8Array {
  const b = readFileSync(`${FIXTURES}${rel}`);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Hex of a tensor's bytes (little-endian host). */
export function tensorHex(t: Tensor): string {
  const d = t.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('hex');
}

export function f32Hex(a: Float32Array): string[] {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  return Array.from(u, (v) => v.toString(16).padStart(8, '0'));
}

/** Run `fn`; return the LowbitError code it throws, `'ok'` when it returns, or rethrow anything else. */
export function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof LowbitError) return e.code;
    throw e;
  }
}

/**
 * A memory byte source that records the largest single read and the total bytes read, and refuses
 * (with a plain Error, which the fuzz tests treat as a failure) any read longer than the source.
 */
export function trackedSource(bytes: Uint8Array): ByteSource & { maxRead: number; totalRead: number } {
  const inner = memorySource(bytes);
  const s = {
    size: bytes.length,
    maxRead: 0,
    totalRead: 0,
    read(offset: number, length: number, out?: Uint8Array): Uint8Array {
      if (length > bytes.length) throw new Error(`read of ${length} bytes from a ${bytes.length}-byte source`);
      s.maxRead = Math.max(s.maxRead, length);
      s.totalRead += length;
      return inner.read(offset, length, out);
    },
  };
  return s;
}

let numpyOk: boolean | undefined;
/** Whether `python3` with numpy is available (for the "numpy reads our output" checks). */
export function hasNumpy(): boolean {
  if (numpyOk === undefined) {
    try {
      execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore', timeout: 20_000 });
      numpyOk = true;
    } catch {
      numpyOk = false;
    }
  }
  return numpyOk;
}

/** Run a python3 snippet with numpy; returns stdout. */
export function python(code: string, args: string[] = []): string {
  return execFileSync('python3', ['-c', code, ...args], { encoding: 'utf8', timeout: 60_000 });
}
