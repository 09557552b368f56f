/**
 * KernelPool memory: arrays allocated in the pool's shared WebAssembly memory (`float32` / `uint32` /
 * `uint8`) are zero-filled, reused after `release`, survive the memory growing, and are read and
 * written in place by the kernels of every thread. Every pooled function on such arrays (inputs,
 * outputs given as `out`, views at offsets) is byte-identical to the single-threaded function on plain
 * arrays, with two threads and with one. Also: the wrapper really skips the copies for adopted memory,
 * and the MX kernels' register scratch lives in the instance's own slot, not in the module's static data
 * (which every thread of the pool shares: two threads storing there at once made pooled MX encodes on
 * pool memory no faster than one thread).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeBlocks, quantizeBlocks } from '../../src/bfp/index.js';
import { dequantizeAffine, quantizeAffine } from '../../src/common/affine.js';
import { isLowbitError } from '../../src/common/errors.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { dequantize, type KiviBits, quantizeKeys, quantizeValues } from '../../src/kivi/index.js';
import { fwht } from '../../src/mambaquant/index.js';
import { KernelPool } from '../../src/node/index.js';
import { firstDiff } from '../helpers/bits.js';
import { randomData } from '../helpers/data.js';
import { freshKernels } from '../helpers/wasm.js';

/** A copy of `d` in the pool memory, at element offset `off` of a larger allocation. */
function resident(pool: KernelPool, d: Float32Array, off = 0): Float32Array {
  const a = pool.float32(d.length + off).subarray(off);
  a.set(d);
  return a;
}

function code(e: unknown): string | undefined {
  return isLowbitError(e) ? e.code : undefined;
}

let pool2: KernelPool;
let pool1: KernelPool;
beforeAll(async () => {
  pool2 = await KernelPool.create({ threads: 2, minElements: 0, minElementsPlain: 0 });
  pool1 = await KernelPool.create({ threads: 1 });
});
afterAll(async () => {
  await pool2.close();
  await pool1.close();
});

describe('KernelPool memory: allocation', () => {
  it('hands out zero-filled arrays of each type that it owns, and counts them', () => {
    const before = pool1.bytesInUse;
    const f = pool1.float32(10);
    const u = pool1.uint32(3);
    const b = pool1.uint8(5);
    expect([f, u, b].map((a) => a.constructor)).toEqual([Float32Array, Uint32Array, Uint8Array]);
    expect([f.length, u.length, b.length]).toEqual([10, 3, 5]);
    expect(f.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (const a of [f, u, b]) {
      expect(a.every((v) => v === 0)).toBe(true);
      expect(a.byteOffset % 64).toBe(0);
      expect(pool1.owns(a)).toBe(true);
      expect(pool1.owns(a.subarray(1))).toBe(true);
    }
    expect(pool1.owns(new Float32Array(4))).toBe(false);
    expect(pool2.owns(f)).toBe(false); // another pool's memory
    expect(pool1.bytesInUse - before).toBe(64 * 3);
    for (const a of [f, u, b]) pool1.release(a);
    expect(pool1.bytesInUse).toBe(before);
  });

  it('reuses released blocks (zero-filled again) and merges free neighbours', () => {
    const a = pool1.float32(1000);
    const b = pool1.float32(1000);
    const c = pool1.float32(1000);
    a.fill(7);
    b.fill(8);
    c.fill(9);
    pool1.release(a);
    pool1.release(c);
    pool1.release(b); // a, b, c merge into one block
    const big = pool1.float32(3000);
    expect(big.byteOffset).toBe(a.byteOffset);
    expect(big.every((v) => v === 0)).toBe(true);
    pool1.release(big);
  });

  it('grows the memory on demand; arrays allocated before keep their contents and stay in place', async () => {
    const small = pool1.float32(4096);
    small.set(randomData(4096, 3));
    const keep = small.slice();
    const big = pool1.float32(40 << 20); // 160 MB: beyond the initial memory
    expect(big.every((v, i) => i % 65536 !== 0 || v === 0)).toBe(true);
    // the memory's last 64 bytes stay free (the kernels read up to 64 bytes past an input in place)
    expect(big.byteOffset + big.byteLength + 64).toBeLessThanOrEqual(big.buffer.byteLength);
    expect(pool1.owns(small)).toBe(true);
    expect(firstDiff(small, keep)).toBe(-1);
    // the old view still works as an input read in place
    const x: Float32Tensor = { dtype: 'float32', data: small, shape: [32, 128] };
    const a = quantizeValues({ ...x, data: keep }, { bits: 4, groupSize: 32 });
    const b = await pool1.quantizeValues(x, { bits: 4, groupSize: 32 });
    expect(firstDiff(b.codes, a.codes)).toBe(-1);
    pool1.release(big);
    pool1.release(small);
  });

  it('refuses foreign arrays, double release, views, bad sizes and more than 2 GB (E_CONFIG / E_LIMIT)', () => {
    const a = pool1.float32(8);
    const errs: (string | undefined)[] = [];
    for (const f of [
      () => pool1.release(new Float32Array(8)),
      () => pool1.release(a.subarray(1)),
      () => pool1.float32(-1),
      () => pool1.float32(1.5),
      () => pool1.uint8(Number.NaN),
    ])
      try {
        f();
        errs.push('no error');
      } catch (e) {
        errs.push(code(e));
      }
    pool1.release(a);
    try {
      pool1.release(a);
      errs.push('no error');
    } catch (e) {
      errs.push(code(e));
    }
    const used = pool1.bytesInUse;
    try {
      pool1.float32(2 ** 29); // 2 GB: with the scratch slots, more than the pool memory can hold
      errs.push('no error');
    } catch (e) {
      errs.push(code(e));
    }
    expect(errs).toEqual(['E_CONFIG', 'E_CONFIG', 'E_CONFIG', 'E_CONFIG', 'E_CONFIG', 'E_CONFIG', 'E_LIMIT']);
    expect(pool1.bytesInUse).toBe(used);
    expect(pool1.float32(0).length).toBe(0);
  });
});

describe('KernelPool memory: kernels in place, byte-identical to one thread on plain arrays', () => {
  it("plain arrays: the workers' shares go through mirrors in the pool memory (a fresh pool grows it)", async () => {
    const p = await KernelPool.create({ threads: 2, minElements: 0, minElementsPlain: 0 });
    try {
      const plain = randomData(64 * 4096, 21);
      const x: Float32Tensor = { dtype: 'float32', data: plain, shape: [64, 4096] };
      const a = quantizeValues(x, { bits: 4, groupSize: 32 });
      const b = await p.quantizeValues(x, { bits: 4, groupSize: 32 });
      expect(p.lastParts).toBe(2);
      expect(firstDiff(b.codes, a.codes)).toBe(-1);
      expect(firstDiff(b.scales, a.scales)).toBe(-1);
      const y = new Float32Array(plain.length);
      await p.dequantize(a, y);
      expect(firstDiff(y, dequantize(a).data)).toBe(-1);
      expect(p.bytesInUse).toBeGreaterThanOrEqual(plain.byteLength / 2); // the mirrors stay for reuse
    } finally {
      await p.close();
    }
  });

  it('KIVI quantizeValues / quantizeKeys / dequantize (inputs, outputs and views in pool memory)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<KiviBits>(2, 4, 8),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 9 }),
        fc.constantFrom(32, 64, 96),
        fc.integer({ min: 0, max: 5 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1 << 30 }),
        async (bits, H, groups, D, off, two, seed) => {
          const pool = two ? pool2 : pool1;
          const G = 32;
          const shape = [H, groups * G, D];
          const plain = randomData(H * groups * G * D, seed);
          const x: Float32Tensor = { dtype: 'float32', data: resident(pool, plain, off), shape };
          const o = { bits, groupSize: G };
          for (const [f, pf] of [
            [quantizeValues, (t: Float32Tensor, op: typeof o) => pool.quantizeValues(t, op)],
            [quantizeKeys, (t: Float32Tensor, op: typeof o) => pool.quantizeKeys(t, op)],
          ] as const) {
            const a = f({ dtype: 'float32', data: plain, shape }, o);
            // outputs in pool memory (given as out), then function-allocated (plain) outputs
            const out = {
              codes: pool.uint32(a.codes.length),
              scales: pool.float32(a.scales.length),
              mins: pool.float32(a.mins.length),
            };
            const b = await pf(x, { ...o, out } as typeof o);
            expect(b.codes).toBe(out.codes);
            const c = await pf(x, o);
            for (const q of [b, c]) {
              expect(firstDiff(q.codes, a.codes)).toBe(-1);
              expect(firstDiff(q.scales, a.scales)).toBe(-1);
              expect(firstDiff(q.mins, a.mins)).toBe(-1);
            }
            const y = pool.float32(plain.length);
            expect((await pool.dequantize(b, y)).data).toBe(y);
            expect(firstDiff(y, dequantize(a).data)).toBe(-1);
            for (const r of [out.codes, out.scales, out.mins, y]) pool.release(r);
          }
          expect(firstDiff(x.data, plain)).toBe(-1);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('a job too large for the shared job buffer goes to the worker as a message (KIVI keys of 600 streams)', async () => {
    const shape = [600, 32, 128]; // one part per stream: 600 parts of 34 words each > JOB_WORDS
    const plain = randomData(600 * 32 * 128, 5);
    const o = { bits: 2 as KiviBits, groupSize: 32 };
    const a = quantizeKeys({ dtype: 'float32', data: plain, shape }, o);
    const x: Float32Tensor = { dtype: 'float32', data: resident(pool2, plain), shape };
    const out = {
      codes: pool2.uint32(a.codes.length),
      scales: pool2.float32(a.scales.length),
      mins: pool2.float32(a.mins.length),
    };
    for (let rep = 0; rep < 2; rep++) {
      out.codes.fill(0);
      await pool2.quantizeKeys(x, { ...o, out });
      expect(pool2.lastParts).toBe(600);
      expect(pool2.lastShares.reduce((p, q) => p + q, 0)).toBe(600);
      expect(firstDiff(out.codes, a.codes)).toBe(-1);
      expect(firstDiff(out.scales, a.scales)).toBe(-1);
      expect(firstDiff(out.mins, a.mins)).toBe(-1);
      // the next (small) job goes through the job buffer again
      const v = randomData(8 * 64 * 128, 6 + rep);
      const xv: Float32Tensor = { dtype: 'float32', data: resident(pool2, v), shape: [8, 64, 128] };
      const qv = await pool2.quantizeValues(xv, o);
      expect(firstDiff(qv.codes, quantizeValues({ ...xv, data: v }, o).codes)).toBe(-1);
      pool2.release(xv.data);
    }
    for (const r of [out.codes, out.scales, out.mins, x.data]) pool2.release(r);
  });

  it('quantizeAffine / dequantizeAffine and fwht (in place)', async () => {
    for (const pool of [pool2, pool1]) {
      const plain = randomData(37 * 300, 11);
      const x: Float32Tensor = { dtype: 'float32', data: resident(pool, plain, 3), shape: [37, 300] };
      const o = { bits: 4, axis: -1, groupSize: 128 };
      const a = quantizeAffine({ ...x, data: plain }, o);
      const out = {
        codes: pool.uint8(a.codes.length),
        scales: pool.float32(a.scales.length),
        zeros: pool.float32(a.zeros.length),
      };
      const b = await pool.quantizeAffine(x, { ...o, out });
      expect(firstDiff(b.codes, a.codes)).toBe(-1);
      expect(firstDiff(b.scales, a.scales)).toBe(-1);
      expect(firstDiff(b.zeros, a.zeros)).toBe(-1);
      expect(firstDiff((await pool.dequantizeAffine(b)).data, dequantizeAffine(a).data)).toBe(-1);
      const y = pool.float32(plain.length);
      expect((await pool.dequantizeAffine(b, y)).data).toBe(y);
      expect(firstDiff(y, dequantizeAffine(a).data)).toBe(-1);
      const h = randomData(9 * 1024, 5);
      const hx: Float32Tensor = { dtype: 'float32', data: resident(pool, h), shape: [9, 1024] };
      const ref: Float32Tensor = { dtype: 'float32', data: h.slice(), shape: [9, 1024] };
      fwht(ref);
      expect((await pool.fwht(hx)).data).toBe(hx.data);
      expect(firstDiff(hx.data, ref.data)).toBe(-1);
    }
  });

  it('quantizeBlocks / dequantizeBlocks, every wasm format, large enough that both threads run MX blocks at once', async () => {
    const formats = ['mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2', 'bfp12', 'bfp16'] as const;
    let together = 0; // calls in which both threads ran parts
    for (const pool of [pool2, pool1])
      for (const format of formats) {
        const plain = randomData(64 * 16384, format.length);
        plain[777] = Number.NaN; // a NaN block
        for (let i = 1024; i < 1024 + 64; i++) plain[i]! *= 2 ** -135; // blocks the kernels pre-scale
        const x: Float32Tensor = { dtype: 'float32', data: resident(pool, plain, 1), shape: [64, 16384] };
        const o = { format, blockSize: 32 };
        const a = quantizeBlocks({ ...x, data: plain }, o);
        const out = { scales: pool.uint8(a.scales.length), codes: pool.uint8(a.codes.length) };
        // every array in the pool memory: the threads claim 16 parts. Repeated: the same bytes each time
        // (the input read in place stays as it was), and until both threads took parts (a worker woken
        // late — or on the calling thread's core — may find none left, or leave none)
        for (let i = 0; i < (pool === pool2 ? 10 : 2); i++) {
          const b = await pool.quantizeBlocks(x, { ...o, out });
          expect(firstDiff(x.data, plain)).toBe(-1);
          expect(firstDiff(b.scales, a.scales)).toBe(-1);
          expect(firstDiff(b.codes, a.codes)).toBe(-1);
          if (pool === pool2) {
            expect(pool.lastParts).toBe(16);
            expect(pool.lastShares[0]! + pool.lastShares[1]!).toBe(16);
            if (pool.lastShares.every((n) => n > 0)) together++;
          } else expect(pool.lastShares).toEqual([]);
        }
        const y = pool.float32(plain.length);
        await pool.dequantizeBlocks({ ...a, ...out }, y);
        expect(firstDiff(y, dequantizeBlocks(a).data)).toBe(-1);
        // the decoder's 16-value table is a plain array: copied into the pool memory, so parts are claimed
        if (pool === pool2) expect(pool.lastParts).toBe(16);
      }
    expect(together).toBeGreaterThan(0);
  });
});

describe('KernelPool with more threads than cores (4 threads: 3 workers claim parts too)', () => {
  it('every pooled function is byte-identical to one thread; the parts add up; plain arrays split statically', async () => {
    const p4 = await KernelPool.create({ threads: 4, minElements: 0, minElementsPlain: 0 });
    try {
      const plain = randomData(16 * 512 * 64, 41);
      const shape = [16, 512, 64];
      const x: Float32Tensor = { dtype: 'float32', data: resident(p4, plain), shape };
      const px: Float32Tensor = { dtype: 'float32', data: plain, shape };
      const sum = (): number => p4.lastShares.reduce((a, b) => a + b, 0);
      for (const bits of [2, 4] as KiviBits[]) {
        const o = { bits, groupSize: 32 };
        for (const quant of [quantizeKeys, quantizeValues]) {
          const ref = quant(px, o);
          const out = {
            codes: p4.uint32(ref.codes.length),
            scales: p4.float32(ref.scales.length),
            mins: p4.float32(ref.mins.length),
          };
          const q = await (quant === quantizeKeys
            ? p4.quantizeKeys(x, { ...o, out })
            : p4.quantizeValues(x, { ...o, out }));
          expect(p4.lastParts).toBeGreaterThanOrEqual(32); // 8 per thread (or one per stream of keys)
          expect(p4.lastShares.length).toBe(4);
          expect(sum()).toBe(p4.lastParts);
          expect(firstDiff(q.codes, ref.codes)).toBe(-1);
          expect(firstDiff(q.scales, ref.scales)).toBe(-1);
          expect(firstDiff(q.mins, ref.mins)).toBe(-1);
          const y = p4.float32(plain.length);
          await p4.dequantize(q, y);
          expect(sum()).toBe(p4.lastParts);
          expect(firstDiff(y, dequantize(ref).data)).toBe(-1);
          // plain arrays: one contiguous share per thread
          const qp = await (quant === quantizeKeys ? p4.quantizeKeys(px, o) : p4.quantizeValues(px, o));
          expect(p4.lastShares).toEqual([1, 1, 1, 1].map(() => p4.lastParts / 4));
          expect(firstDiff(qp.codes, ref.codes)).toBe(-1);
        }
      }
      const b = quantizeBlocks(px, { format: 'mxfp4', blockSize: 32 });
      const bo = { scales: p4.uint8(b.scales.length), codes: p4.uint8(b.codes.length) };
      await p4.quantizeBlocks(x, { format: 'mxfp4', blockSize: 32, out: bo });
      expect(sum()).toBe(32);
      expect(firstDiff(bo.scales, b.scales)).toBe(-1);
      expect(firstDiff(bo.codes, b.codes)).toBe(-1);
      const f = { ...x, data: resident(p4, plain), shape: [128, 512] };
      await p4.fwht(f);
      expect(firstDiff(f.data, fwht({ ...px, data: plain.slice(), shape: [128, 512] }).data)).toBe(-1);
      expect(firstDiff(x.data, plain)).toBe(-1);
    } finally {
      await p4.close();
    }
  });
});

describe('WasmKernels on adopted memory', () => {
  const instance = () => freshKernels(64, [1 << 20, 2 << 20]); // 4 MB more, a 1 MB scratch slot

  it('MX kernels keep their register scratch in the slot: the static data stays as it was', () => {
    const [ex, k, slot] = instance();
    const buf = ex.memory.buffer;
    const stat = new Uint8Array(buf, 0, ex.heapBase()).slice();
    const pin = new Uint8Array(buf, slot[0], 256);
    const x = randomData(4096, 4);
    const scales = new Uint8Array(128);
    const codes = new Uint8Array(2048);
    // mxfp4: FP elements, 1 mantissa bit, bias 1, emax 2, max code 7, 4-bit codes
    expect(k.mxEncode(x, 32, 128, 32, 0, 1, 1, 2, 7, 4, scales, codes)).toBe(true);
    expect(firstDiff(new Uint8Array(buf, 0, ex.heapBase()), stat)).toBe(-1);
    expect(pin.some((v) => v !== 0)).toBe(true);
    const ref = quantizeBlocks(x, { format: 'mxfp4', blockSize: 32 });
    expect(firstDiff(codes, ref.codes)).toBe(-1);
  });

  it('reads inputs and writes outputs in place: the scratch region stays untouched', () => {
    const [ex, k, slot] = instance();
    const buf = ex.memory.buffer;
    new Uint8Array(buf, slot[0], slot[1] - slot[0]).fill(0xa5);
    const D = 64;
    const T = 256;
    const plain = randomData(T * D, 9);
    const x = new Float32Array(buf, 3 << 20, T * D);
    x.set(plain);
    const codes = new Uint32Array(buf, (3 << 20) + T * D * 4, (T * D) / 16);
    const scales = new Float32Array(buf, (3 << 20) + T * D * 5, (T * D) / 32);
    const mins = new Float32Array(buf, (3 << 20) + T * D * 6, (T * D) / 32);
    k.adopt(buf);
    expect(k.kiviValuesQuant(x, 0, T, D, 2, 32, 3e38, codes, 0, scales, mins, 0)).toBe(true);
    const ref = quantizeValues({ dtype: 'float32', data: plain, shape: [T, D] }, { bits: 2, groupSize: 32 });
    expect(firstDiff(codes, ref.codes)).toBe(-1);
    expect(firstDiff(scales, ref.scales)).toBe(-1);
    // only the kernel's small per-group scratch (after the 256-byte register slots and the skipped
    // input/output regions) was written: the first 64 KB of the slot (the input's region) is intact
    const head = new Uint8Array(buf, slot[0] + 256, 65536);
    expect(head.every((v) => v === 0xa5)).toBe(true);
  });
});
