/**
 * Helpers shared by the bit-exactness tests (wasm kernels vs JS twins, the pool vs one thread).
 */
import { getKernelBackend, type KernelBackend, setKernelBackend } from '../../src/common/kernels.js';

/** The bytes of a typed array (a view, no copy). */
export function bytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Byte-exact comparison: −1 when equal, else the index of the first differing byte. */
export function firstDiff(a: ArrayBufferView, b: ArrayBufferView): number {
  const x = bytes(a);
  const y = bytes(b);
  if (x.length !== y.length) return Math.min(x.length, y.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Run `fn` with the kernel backend forced to `b`, then restore the previous backend. */
export function withBackend<T>(b: KernelBackend, fn: () => T): T {
  const prev = getKernelBackend();
  setKernelBackend(b);
  try {
    return fn();
  } finally {
    setKernelBackend(prev);
  }
}
