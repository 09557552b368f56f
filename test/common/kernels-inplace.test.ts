/**
 * The wasm wrappers on adopted memory (arrays that live in the module's memory, as the Node pool's do):
 * the public functions run on such arrays (through `withWasmKernels`) give results byte-identical to the
 * same functions on plain arrays, and write not one byte outside their outputs' exact extents (every
 * array sits at a random 4-aligned offset between sentinel bytes; the last one ends at the memory's end
 * or 64 bytes before it: in place needs those 64 bytes, the kernels' vector loads read past an input).
 * Every pooled wrapper, random geometry with ragged groups/blocks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dequantizeBlocks, quantizeBlocks } from '../../src/bfp/index.js';
import { dequantizeAffine, quantizeAffine } from '../../src/common/affine.js';
import { WasmKernels, wasmKernels, withWasmKernels } from '../../src/common/kernels.js';
import { KERNELS_WASM_BASE64 } from '../../src/common/kernels-wasm.generated.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { dequantize, type KiviBits, quantizeKeys, quantizeValues } from '../../src/kivi/index.js';
import { fwht } from '../../src/mambaquant/index.js';
import { firstDiff } from '../helpers/bits.js';

type Arr = Float32Array | Uint32Array | Uint8Array;
type Ctors = { Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: object } };
const W = (globalThis as unknown as { WebAssembly: Ctors }).WebAssembly;
const SENT = 0xa5;
const SLOT: [number, number] = [1 << 20, 9 << 20];
const ARENA = 9 << 20;
const ARENA_BYTES = 4 << 20;
let mod: object | undefined;

/** A kernel instance with scratch in SLOT; its memory from ARENA on (32 MB) filled with sentinels. */
function fresh(): { k: WasmKernels; buf: ArrayBuffer } {
  mod ??= new W.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  const inst = new W.Instance(mod, {});
  const ex = inst.exports as unknown as ConstructorParameters<typeof WasmKernels>[0];
  ex.memory.grow((ARENA + ARENA_BYTES - ex.memory.buffer.byteLength) / 65536);
  const k = new WasmKernels(ex, SLOT);
  const buf = ex.memory.buffer;
  new Uint8Array(buf, ARENA).fill(SENT);
  k.adopt(buf);
  return { k, buf };
}

/**
 * Copies of `src` in the memory: each after a gap of 1–10 words of sentinels, the whole run placed so
 * that the last array ends exactly at the end of the memory.
 */
function place(buf: ArrayBuffer, src: Arr[], gaps: number[], endGap = 0): Arr[] {
  const words = (a: Arr): number => Math.ceil(a.byteLength / 4) * 4;
  const last = src[src.length - 1];
  let total = endGap - (last === undefined ? 0 : words(last) - last.byteLength);
  src.forEach((a, i) => {
    total += ((gaps[i % gaps.length] ?? 0) + 1) * 4 + words(a);
  });
  let at = buf.byteLength - total;
  at -= at & 3;
  return src.map((a, i) => {
    at += ((gaps[i % gaps.length] ?? 0) + 1) * 4;
    const C = a.constructor as new (b: ArrayBuffer, o: number, n: number) => Arr;
    const v = new C(buf, at, a.length);
    v.set(a as never);
    at += words(a);
    return v;
  });
}

/** First byte from 4 KB below the arrays on that lies outside them and lost its sentinel, or −1. */
function stray(buf: ArrayBuffer, arrs: Arr[]): number {
  const u = new Uint8Array(buf);
  const lo = Math.max(ARENA, Math.min(...arrs.map((a) => a.byteOffset)) - 4096);
  const inside = new Uint8Array(u.length - lo);
  for (const a of arrs) inside.fill(1, a.byteOffset - lo, a.byteOffset + a.byteLength - lo);
  for (let i = lo; i < u.length; i++) if (inside[i - lo] === 0 && u[i] !== SENT) return i;
  return -1;
}

function rnd(n: number, seed: number): Float32Array {
  const d = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = (s / 4294967296) * 6 - 3;
  }
  return d;
}

/**
 * Run `fn` on copies of `arrays` placed in a fresh instance's memory (its kernels active); returns the
 * placed arrays after the call and the first stray byte written outside them.
 */
function inPlace(arrays: Arr[], gaps: number[], fn: (a: Arr[]) => unknown): { a: Arr[]; stray: number } {
  const { k, buf } = fresh();
  // the last array ends at the memory's end (then it is copied: in place needs 64 bytes after it) or 64 bytes before
  const a = place(buf, arrays, gaps, (gaps[0] ?? 0) % 2 === 0 ? 0 : 64);
  withWasmKernels(k, () => fn(a));
  return { a, stray: stray(buf, a) };
}

const gapsArb = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 5, maxLength: 5 });
const f32 = (a: Arr | undefined): Float32Array => a as Float32Array;

describe.skipIf(wasmKernels() === null)('wasm wrappers in place (adopted memory)', () => {
  it('KIVI quantizeValues / quantizeKeys (into out) and dequantize (into out)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<KiviBits>(2, 4, 8),
        fc.boolean(),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(32, 64, 96),
        gapsArb,
        fc.integer(),
        (bits, keys, units, D, gaps, seed) => {
          const G = 32;
          const nTok = keys ? units * G : units;
          const shape = [nTok, D];
          const x = rnd(nTok * D, seed);
          const o = { bits, groupSize: G };
          const quant = keys ? quantizeKeys : quantizeValues;
          const ref = quant({ dtype: 'float32', data: x, shape }, o);
          const outs = [ref.codes, ref.scales as Float32Array, ref.mins as Float32Array].map((a) => a.slice().fill(0));
          const q = inPlace([x, ...outs], gaps, ([xi, codes, scales, mins]) =>
            quant(
              { dtype: 'float32', data: f32(xi), shape },
              { ...o, out: { codes: codes as Uint32Array, scales: f32(scales), mins: f32(mins) } },
            ),
          );
          expect(q.stray).toBe(-1);
          expect(firstDiff(q.a[1]!, ref.codes)).toBe(-1);
          expect(firstDiff(q.a[2]!, ref.scales)).toBe(-1);
          expect(firstDiff(q.a[3]!, ref.mins)).toBe(-1);
          expect(firstDiff(q.a[0]!, x)).toBe(-1);
          const y = dequantize(ref).data;
          const d = inPlace(
            [ref.codes, ref.scales as Float32Array, ref.mins as Float32Array, new Float32Array(y.length)],
            gaps,
            ([c, s, m, out]) =>
              dequantize({ ...ref, codes: c as Uint32Array, scales: f32(s), mins: f32(m) } as typeof ref, f32(out)),
          );
          expect(d.stray).toBe(-1);
          expect(firstDiff(d.a[3]!, y)).toBe(-1);
          for (const [i, a] of [ref.codes, ref.scales, ref.mins].entries()) expect(firstDiff(d.a[i]!, a)).toBe(-1);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('quantizeAffine / dequantizeAffine (ragged groups on the last axis, or the flattened tensor)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom(2, 3, 4, 8),
        fc.constantFrom(7, 32, 128),
        fc.boolean(),
        gapsArb,
        fc.integer(),
        (lines, len, bits, gs, flat, gaps, seed) => {
          const x = rnd(lines * len, seed);
          const t: Float32Tensor = { dtype: 'float32', data: x, shape: [lines, len] };
          const o = flat ? { bits, groupSize: gs } : { bits, axis: -1, groupSize: gs };
          const ref = quantizeAffine(t, o);
          const outs = [ref.codes, ref.scales, ref.zeros].map((a) => (a as Arr).slice().fill(0));
          const q = inPlace([x, ...outs], gaps, ([xi, codes, scales, zeros]) =>
            quantizeAffine(
              { ...t, data: f32(xi) },
              { ...o, out: { codes: codes as Uint8Array, scales: f32(scales), zeros: f32(zeros) } },
            ),
          );
          expect(q.stray).toBe(-1);
          expect(firstDiff(q.a[1]!, ref.codes)).toBe(-1);
          expect(firstDiff(q.a[2]!, ref.scales)).toBe(-1);
          expect(firstDiff(q.a[3]!, ref.zeros)).toBe(-1);
          expect(firstDiff(q.a[0]!, x)).toBe(-1); // the input as it was
          const y = dequantizeAffine(ref).data;
          const d = inPlace(
            [
              ref.codes as Uint8Array,
              ref.scales as Float32Array,
              ref.zeros as Float32Array,
              new Float32Array(y.length),
            ],
            gaps,
            ([c, s, z, out]) =>
              dequantizeAffine(
                { ...ref, codes: c as Uint8Array, scales: f32(s), zeros: f32(z) } as typeof ref,
                f32(out),
              ),
          );
          expect(d.stray).toBe(-1);
          expect(firstDiff(d.a[3]!, y)).toBe(-1);
          for (const [i, a] of [ref.codes, ref.scales, ref.zeros].entries()) expect(firstDiff(d.a[i]!, a)).toBe(-1);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('fwht (power-of-two rows, in place)', () => {
    for (const [rows, n] of [
      [3, 4],
      [5, 64],
      [2, 4096],
      [40, 2048],
    ] as const) {
      const x = rnd(rows * n, rows + n);
      const ref: Float32Tensor = { dtype: 'float32', data: x.slice(), shape: [rows, n] };
      fwht(ref);
      const r = inPlace([x], [3], ([d]) => fwht({ dtype: 'float32', data: f32(d), shape: [rows, n] }));
      expect(r.stray).toBe(-1);
      expect(firstDiff(r.a[0]!, ref.data)).toBe(-1);
    }
  });

  it('quantizeBlocks / dequantizeBlocks (every wasm format, ragged blocks, odd block sizes)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2', 'bfp12', 'bfp16'),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom(8, 16, 32, 7, 40),
        gapsArb,
        fc.integer(),
        fc.boolean(),
        (format, rows, half0, bs, gaps, seed, whole) => {
          // whole: rows of whole blocks (the kernels' fast path when the block size is a multiple of 16)
          const half = whole && bs % 2 === 0 ? (bs / 2) * Math.ceil(half0 / bs) : half0;
          const x = rnd(rows * half * 2, seed);
          if (seed % 7 === 0) x[Math.abs(seed) % x.length] = Number.NaN;
          // blocks whose shared exponent needs the kernels' 2^±64 pre-scale: float32-subnormal and huge magnitudes
          if (seed % 3 === 0) for (let i = 0; i < Math.min(x.length, 48); i++) x[i]! *= 2 ** -135;
          if (seed % 5 === 0) for (let i = x.length - 1; i >= Math.max(0, x.length - 48); i--) x[i]! *= 2 ** 120;
          const t: Float32Tensor = { dtype: 'float32', data: x, shape: [rows, half * 2] };
          const o = { format, blockSize: bs };
          const ref = quantizeBlocks(t, o);
          const q = inPlace([x, ref.scales.slice().fill(0), ref.codes.slice().fill(0)], gaps, ([xi, scales, codes]) =>
            quantizeBlocks(
              { ...t, data: f32(xi) },
              { ...o, out: { scales: scales as Uint8Array, codes: codes as Uint8Array } },
            ),
          );
          expect(q.stray).toBe(-1);
          expect(firstDiff(q.a[1]!, ref.scales)).toBe(-1);
          expect(firstDiff(q.a[2]!, ref.codes)).toBe(-1);
          expect(firstDiff(q.a[0]!, x)).toBe(-1); // the input as it was (NaN blocks, pre-scaled blocks)
          const y = dequantizeBlocks(ref).data;
          const d = inPlace([ref.scales, ref.codes, new Float32Array(y.length)], gaps, ([s, c, out]) =>
            dequantizeBlocks({ ...ref, scales: s as Uint8Array, codes: c as Uint8Array }, f32(out)),
          );
          expect(d.stray).toBe(-1);
          expect(firstDiff(d.a[2]!, y)).toBe(-1);
          expect(firstDiff(d.a[0]!, ref.scales)).toBe(-1);
          expect(firstDiff(d.a[1]!, ref.codes)).toBe(-1);
        },
      ),
      { numRuns: 80 },
    );
  });
});
