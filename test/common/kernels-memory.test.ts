/**
 * `kernelMemory`: tensors in the wasm kernels' own memory, read and written in place by the public
 * functions on the calling thread. Results byte-identical to ordinary arrays (KIVI 2/4/8 keys and values,
 * MX/BFP, affine, FWHT, a KIVI cache's attention), no copy of an input into the kernels (the typed-array
 * copies counted), arrays never detached (the memory never grows after the reservation), the budget and
 * the misuse errors, the JS backend on the same arrays.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { dequantizeBlocks, quantizeBlocks } from '../../src/bfp/index.js';
import { dequantizeAffine, quantizeAffine } from '../../src/common/affine.js';
import { LowbitError } from '../../src/common/errors.js';
import { KernelMemory, kernelMemory, setKernelBackend } from '../../src/common/index.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { dequantize, type KiviBits, KiviCache, quantizeKeys, quantizeValues } from '../../src/kivi/index.js';
import { fwht } from '../../src/mambaquant/index.js';
import { firstDiff } from '../helpers/bits.js';
import { randomData } from '../helpers/data.js';

const MB = 1 << 20;
// one reservation per module instance (this file's): 64 MB, grown to 96 MB by the first test
const mem = kernelMemory(64 * MB);

const t32 = (data: Float32Array, shape: number[]): Float32Tensor => ({ dtype: 'float32', data, shape });

/** `a` copied into the kernel memory. */
function inMem(a: Float32Array): Float32Array {
  const m = mem.float32(a.length);
  m.set(a);
  return m;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof LowbitError ? e.code : `not a LowbitError: ${String(e)}`;
  }
  return 'no error';
}

/** Bytes copied by typed-array `set` calls of 4 KB or more while `fn` runs (the wrappers' copies in and out). */
function bigCopies(fn: () => void): number {
  const proto = Object.getPrototypeOf(Uint8Array.prototype) as { set: (...a: unknown[]) => void };
  const spy = vi.spyOn(proto, 'set');
  try {
    fn();
    let n = 0;
    for (const [src] of spy.mock.calls) {
      const b = ArrayBuffer.isView(src) ? src.byteLength : 0;
      if (b >= 4096) n += b;
    }
    return n;
  } finally {
    spy.mockRestore();
  }
}

/**
 * `run(out)` with outputs in the kernel memory shaped like `ref`'s arrays `keys`: no input copied and the
 * same bytes as `ref`; then `decode` into an `out` there: no copy either, the same values as decoding `ref`.
 */
function sameInPlace<Q>(
  ref: Q,
  keys: (keyof Q)[],
  run: (out: never) => Q,
  decode: (q: Q, out?: Float32Array) => Float32Tensor,
  n: number,
): void {
  type Arr = Float32Array | Uint32Array | Uint8Array;
  const out: Partial<Record<keyof Q, Arr>> = {};
  for (const k of keys) {
    const r = ref[k] as Arr;
    out[k] =
      r instanceof Float32Array
        ? mem.float32(r.length)
        : r instanceof Uint32Array
          ? mem.uint32(r.length)
          : mem.uint8(r.length);
  }
  let q = ref;
  expect(bigCopies(() => (q = run(out as never)))).toBe(0);
  for (const k of keys) expect(firstDiff(q[k] as Arr, ref[k] as Arr)).toBe(-1);
  const dm = mem.float32(n);
  expect(bigCopies(() => decode(q, dm))).toBe(0);
  expect(firstDiff(dm, decode(ref).data)).toBe(-1);
  for (const k of keys) mem.release(out[k]!);
  mem.release(dm);
}

afterEach(() => setKernelBackend('auto'));

describe('kernelMemory', () => {
  it('one reservation: the same memory for no more bytes; more only while none of its arrays is in use (E_CONFIG)', () => {
    expect(mem.inPlace).toBe(true);
    expect(mem.bytes).toBeGreaterThanOrEqual(64 * MB);
    expect(kernelMemory(MB)).toBe(mem);
    expect(kernelMemory(mem.bytes)).toBe(mem);
    for (const b of [0, -1, 1.5, Number.NaN]) expect(code(() => kernelMemory(b))).toBe('E_CONFIG');
    const a = mem.float32(10);
    const before = mem.bytes;
    expect(code(() => kernelMemory(before + 1))).toBe('E_CONFIG'); // a is in use: growing would detach it
    expect(mem.bytes).toBe(before);
    expect(a.byteLength).toBe(40);
    mem.release(a);
    expect(kernelMemory(96 * MB)).toBe(mem); // nothing in use: the memory grows, the same object
    expect(mem.bytes).toBeGreaterThanOrEqual(96 * MB);
    const b = mem.float32(10);
    expect(mem.owns(b) && !mem.owns(a)).toBe(true); // a's buffer (released) is the old one
    mem.release(b);
    expect(code(() => kernelMemory(2 ** 31))).toBe('E_LIMIT');
    expect(mem.bytes).toBeGreaterThanOrEqual(96 * MB);
  });

  it('hands out zero-filled views of one buffer; release, misuse and the budget (E_LIMIT, nothing taken)', () => {
    const used = mem.used;
    const a = mem.float32(1000);
    const b = mem.uint32(3);
    const c = mem.uint8(65);
    for (const x of [a, b, c]) {
      expect(x.every((v) => v === 0)).toBe(true);
      expect(mem.owns(x)).toBe(true);
      expect(x.byteOffset % 64).toBe(0);
    }
    expect(a.buffer).toBe(b.buffer);
    expect(mem.owns(new Float32Array(8))).toBe(false);
    expect(mem.used).toBe(used + 4032 + 64 + 128);
    a.fill(7);
    mem.release(a);
    expect(code(() => mem.release(a))).toBe('E_CONFIG');
    expect(code(() => mem.release(new Float32Array(4)))).toBe('E_CONFIG');
    expect(code(() => mem.release(c.subarray(1)))).toBe('E_CONFIG');
    const a2 = mem.float32(1000); // the freed block again, zeroed
    expect(a2.byteOffset).toBe(a.byteOffset);
    expect(a2.every((v) => v === 0)).toBe(true);
    for (const x of [a2, b, c]) mem.release(x);
    expect(mem.used).toBe(used);
    expect(mem.float32(0).length).toBe(0);
    for (const n of [-1, 0.5, 2 ** 30]) expect(code(() => mem.float32(n))).toBe('E_CONFIG');
    expect(code(() => mem.uint8(mem.bytes - mem.used + 64))).toBe('E_LIMIT');
    expect(mem.used).toBe(used);
    const all = mem.uint8(mem.bytes - mem.used); // exactly what is left fits
    expect(code(() => mem.uint8(1))).toBe('E_LIMIT');
    mem.release(all);
    expect(mem.used).toBe(used);
  });

  it('KIVI keys / values (2/4/8 bits), MX / BFP, affine and FWHT on kernel-memory arrays: same bytes as plain arrays, inputs read in place', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(2, 4, 8) as fc.Arbitrary<KiviBits>,
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(32, 64, 96, 128),
        fc.integer({ min: 0, max: 1 << 20 }),
        (bits, B, tg, D, seed) => {
          const G = 32;
          const T = tg * G;
          const n = B * T * D;
          const data = randomData(n, seed);
          const used = mem.used;
          const x = t32(data, [B, T, D]);
          const xm = t32(inMem(data), [B, T, D]);
          for (const f of [quantizeKeys, quantizeValues]) {
            const o = { bits, groupSize: G };
            sameInPlace(f(x, o), ['codes', 'scales', 'mins'], (out) => f(xm, { ...o, out }), dequantize, n);
          }
          for (const format of ['mxfp4', 'mxfp8_e4m3', 'bfp12'] as const) {
            const o = { format, blockSize: 32 };
            const run = (out: { scales: Uint8Array; codes: Uint8Array }) => quantizeBlocks(xm, { ...o, out });
            sameInPlace(quantizeBlocks(x, o), ['scales', 'codes'], run, dequantizeBlocks, n);
          }
          const ao = { bits: 4, axis: -1, groupSize: D };
          const runA = (out: { codes: Uint8Array; scales: Float32Array; zeros: Float32Array }) =>
            quantizeAffine(xm, { ...ao, out });
          sameInPlace(quantizeAffine(x, ao), ['codes', 'scales', 'zeros'], runA, dequantizeAffine, n);
          const fx = t32(data.slice(), [n / 32, 32]);
          const fm = t32(inMem(data), [n / 32, 32]);
          fwht(fx);
          expect(bigCopies(() => fwht(fm))).toBe(0);
          expect(firstDiff(fm.data, fx.data)).toBe(-1);
          mem.release(fm.data);
          mem.release(xm.data);
          expect(mem.used).toBe(used);
          expect(xm.data.byteLength).toBe(n * 4); // never detached
        },
      ),
      { numRuns: 12 },
    );
  });

  it('the memory never grows after the reservation: a call needing more than the 32 MB of scratch runs its JS twin', () => {
    const keep = mem.float32(1000);
    keep.fill(3);
    const n = 1 << 24; // one FWHT row of 64 MB: more scratch than the kernels keep
    const a = randomData(n, 3);
    const b = a.slice();
    fwht(t32(a, [1, n]));
    setKernelBackend('js');
    fwht(t32(b, [1, n]));
    expect(firstDiff(a, b)).toBe(-1);
    expect(keep.byteLength).toBe(4000);
    expect(keep.every((v) => v === 3)).toBe(true);
    mem.release(keep);
  });

  it('plain arrays are still copied in (the check above can fail)', () => {
    const data = randomData(64 * 128, 5);
    expect(bigCopies(() => quantizeValues(t32(data, [1, 64, 128]), { bits: 2, groupSize: 32 }))).toBeGreaterThanOrEqual(
      data.byteLength,
    );
  });

  it('a KiviCache on kernel memory (arrays: kernelMemory(…)) attends byte-identically to an ordinary one, and gives its storage back', () => {
    const used = mem.used;
    for (const bits of [2, 4] as const) {
      const cfg = { kvHeads: 2, headDim: 64, bits, groupSize: 32, residualLength: 32 };
      const a = new KiviCache({ ...cfg, arrays: mem });
      const b = new KiviCache(cfg);
      const T = 300;
      const k = randomData(2 * T * 64, bits);
      const v = randomData(2 * T * 64, bits + 1);
      for (const c of [a, b]) c.append(t32(k, [2, T, 64]), t32(v, [2, T, 64]));
      const q = t32(randomData(4 * 64, 9), [4, 1, 64]);
      const out = mem.float32(4 * 64);
      expect(bigCopies(() => a.attend(q, { out }))).toBe(0); // the packed cache read in place
      expect(bigCopies(() => b.attend(q))).toBeGreaterThan(0); // (an ordinary cache is copied in)
      expect(firstDiff(out, b.attend(q).data)).toBe(-1);
      mem.release(out);
      a.release();
    }
    expect(mem.used).toBe(used);
  });

  it('without WebAssembly SIMD (the form kernelMemory returns there): ordinary arrays under the same budget', () => {
    const m = new KernelMemory({ arena: null, buffer: null, bytes: 1000 });
    expect(m.inPlace).toBe(false);
    const a = m.float32(100);
    const b = m.uint8(500);
    expect(a.buffer).not.toBe(b.buffer);
    expect(m.owns(a) && m.owns(b) && !m.owns(new Float32Array(1))).toBe(true);
    expect(m.used).toBe(448 + 512);
    expect(code(() => m.uint32(1))).toBe('E_LIMIT');
    expect(m.used).toBe(960);
    m.release(a);
    expect(code(() => m.release(a))).toBe('E_CONFIG');
    expect(m.uint32(10).length).toBe(10);
    expect(m.used).toBe(512 + 64);
  });

  it('the JS backend reads and writes the same arrays (same bytes)', () => {
    const data = randomData(4 * 32 * 64, 11);
    const xm = t32(inMem(data), [4, 32, 64]);
    const wasm = quantizeValues(xm, { bits: 4, groupSize: 32 });
    setKernelBackend('js');
    const out = {
      codes: mem.uint32(wasm.codes.length),
      scales: mem.float32(wasm.scales.length),
      mins: mem.float32(wasm.mins.length),
    };
    const js = quantizeValues(xm, { bits: 4, groupSize: 32, out });
    expect(firstDiff(js.codes, wasm.codes)).toBe(-1);
    expect(firstDiff(js.scales, wasm.scales)).toBe(-1);
    for (const a of [out.codes, out.scales, out.mins, xm.data]) mem.release(a);
  });
});
