/**
 * KernelPool: pooled KIVI quantize / dequantize, affine quantize / dequantize, MX/BFP block encode /
 * decode and the FWHT are byte-identical to the single-threaded public functions (random shapes, uneven
 * splits, several streams / lines or one, lines split by groups, shared and plain buffers at offsets),
 * fall back below the threshold and for configurations without a wasm kernel, throw the single-threaded
 * errors, leave inputs untouched, and close.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeBlocks, quantizeBlocks } from '../../src/bfp/index.js';
import { dequantizeAffine, quantizeAffine } from '../../src/common/affine.js';
import { isLowbitError } from '../../src/common/errors.js';
import { WasmKernels } from '../../src/common/kernels.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { dequantize, type KiviBits, quantizeKeys, quantizeValues } from '../../src/kivi/index.js';
import { fwht } from '../../src/mambaquant/index.js';
import { KernelPool } from '../../src/node/index.js';
import { JOB_WORDS, readJob, type WireArg, writeJob } from '../../src/node/pool.js';
import { firstDiff } from '../helpers/bits.js';
import { randomData } from '../helpers/data.js';

function randomTensor(shape: number[], seed: number): Float32Tensor {
  return {
    dtype: 'float32',
    data: randomData(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  };
}

/** A `SharedArrayBuffer`-backed array of `a`'s type and length: zero-filled, or a copy of `a`. */
function sharedLike<A extends Float32Array | Uint32Array | Uint8Array>(a: A, copy = false): A {
  const b = new (a.constructor as new (s: SharedArrayBuffer) => A)(new SharedArrayBuffer(a.byteLength));
  if (copy) b.set(a as never);
  return b;
}

let pool: KernelPool;
beforeAll(async () => {
  pool = await KernelPool.create({ threads: 2, minElements: 0, minElementsPlain: 0 });
});
afterAll(async () => {
  await pool.close();
});

describe('KernelPool', () => {
  it('ships a self-contained kernel wrapper to the workers (class source evaluates alone)', () => {
    const shim = 'const __name = (t) => t; const __publicField = () => undefined;';
    const Cls = new Function(`${shim} return (${WasmKernels.toString()});`)() as typeof WasmKernels;
    expect(Cls.CHUNK).toBe(WasmKernels.CHUNK);
    expect(typeof Cls.prototype.kiviKeysQuant).toBe('function');
  });

  it('job buffer: what writeJob writes, readJob reads back exactly; other buffers or too much: refused', () => {
    const names = ['kiviValuesQuant', 'mxEncode', 'fwhtPow2'];
    const methods = new Map(names.map((m, i) => [m, i]));
    const arg = fc.oneof(
      fc.double(),
      fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
      fc.boolean(),
      fc.tuple(fc.constant(null), fc.nat(2 ** 31), fc.nat(2 ** 29), fc.constantFrom<0 | 1 | 2>(0, 1, 2)),
    );
    const job = new Float64Array(JOB_WORDS);
    fc.assert(
      fc.property(
        fc.integer({ min: -1, max: 255 }),
        fc.array(fc.tuple(fc.constantFrom(...names), fc.array(arg, { maxLength: 14 })), { maxLength: 40 }),
        (c, parts) => {
          job.fill(Number.NaN);
          expect(writeJob(job, c, parts as [string, WireArg[]][], methods)).toBe(true);
          expect(job[0]).toBe(1);
          expect(readJob(job, names)).toEqual([c, parts]); // Object.is on numbers: −0 and NaN kept
        },
      ),
    );
    const sab: WireArg = [new SharedArrayBuffer(8), 0, 2, 0];
    job[0] = 0;
    expect(writeJob(job, 0, [['mxEncode', [1, sab]]], methods)).toBe(false);
    const part: [string, WireArg[]] = ['kiviValuesQuant', [[null, 0, 4, 0], 1, 2, true]];
    // 12 words a part (2 + 4 for the array + 2 per number or boolean)
    expect(
      writeJob(
        job,
        0,
        Array.from({ length: JOB_WORDS / 24 }, () => part),
        methods,
      ),
    ).toBe(true);
    job[0] = 0;
    expect(
      writeJob(
        job,
        0,
        Array.from({ length: JOB_WORDS / 12 }, () => part),
        methods,
      ),
    ).toBe(false);
    expect(job[0]).toBe(0); // not marked written
  });

  it('starts the requested workers', () => {
    expect(pool.threads).toBe(2); // the calling thread and one worker
    expect(pool.minElements).toBe(0);
    expect(pool.minElementsPlain).toBe(0);
  });

  it('quantizeValues / quantizeKeys / dequantize are byte-identical to one thread', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<KiviBits>(2, 4, 8),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 11 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.boolean(),
        async (bits, S, tg, dg, dk, seed, g32) => {
          const G = g32 ? 32 : 32 / bits; // 32: the tiled values paths (and 8-bit dequantize in 16-byte steps)
          const o = { bits, groupSize: G };
          const v = randomTensor([S, tg * 3, G * dg], seed);
          const qv1 = quantizeValues(v, o);
          const qvP = await pool.quantizeValues(v, o);
          expect(firstDiff(qvP.codes, qv1.codes)).toBe(-1);
          expect(firstDiff(qvP.scales, qv1.scales)).toBe(-1);
          expect(firstDiff(qvP.mins, qv1.mins)).toBe(-1);
          expect(firstDiff((await pool.dequantize(qv1)).data, dequantize(qv1).data)).toBe(-1);
          const k = randomTensor([S, G * tg, dk], seed + 1);
          const qk1 = quantizeKeys(k, o);
          const qkP = await pool.quantizeKeys(k, o);
          expect(firstDiff(qkP.codes, qk1.codes)).toBe(-1);
          expect(firstDiff(qkP.scales, qk1.scales)).toBe(-1);
          expect(firstDiff(qkP.mins, qk1.mins)).toBe(-1);
          // shared inputs (read in place by the worker, nothing copied in)
          const share = (t: Float32Tensor): Float32Tensor => {
            const d = new Float32Array(new SharedArrayBuffer(t.data.byteLength + 16), 16, t.data.length);
            d.set(t.data);
            return { ...t, data: d };
          };
          const qvS = await pool.quantizeValues(share(v), o);
          expect(firstDiff(qvS.codes, qv1.codes)).toBe(-1);
          expect(firstDiff(qvS.mins, qv1.mins)).toBe(-1);
          const qkS = await pool.quantizeKeys(share(k), o);
          expect(firstDiff(qkS.codes, qk1.codes)).toBe(-1);
          expect(firstDiff(qkS.scales, qk1.scales)).toBe(-1);
          expect(firstDiff((await pool.dequantize(qkP)).data, dequantize(qk1).data)).toBe(-1);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('large single-stream tensors split by token groups', async () => {
    const k = randomTensor([1, 2048, 96], 5);
    const o = { bits: 2 as const, groupSize: 32 };
    const a = await pool.quantizeKeys(k, o);
    const b = quantizeKeys(k, o);
    expect(pool.lastParts).toBe(2); // really pooled
    expect(firstDiff(a.codes, b.codes)).toBe(-1);
    expect(firstDiff(a.mins, b.mins)).toBe(-1);
    expect(firstDiff((await pool.dequantize(a)).data, dequantize(b).data)).toBe(-1);
  });

  it('shared inputs at an offset, dequantize into out (plain and shared), concurrent calls', async () => {
    const o = { bits: 4 as const, groupSize: 32 };
    const src = randomTensor([2, 64, 64], 21);
    const sab = new SharedArrayBuffer(src.data.byteLength + 64);
    const view = new Float32Array(sab, 64, src.data.length);
    view.set(src.data);
    const shared = { dtype: 'float32' as const, data: view, shape: [2, 64, 64] };
    const [a, b] = await Promise.all([pool.quantizeValues(shared, o), pool.quantizeKeys(shared, o)]);
    expect(firstDiff(a.codes, quantizeValues(src, o).codes)).toBe(-1);
    expect(firstDiff(b.codes, quantizeKeys(src, o).codes)).toBe(-1);
    expect(firstDiff(view, src.data)).toBe(-1); // input untouched
    const ref = dequantize(b).data;
    const plain = new Float32Array(ref.length);
    expect((await pool.dequantize(b, plain)).data).toBe(plain);
    expect(firstDiff(plain, ref)).toBe(-1);
    const sharedOut = new Float32Array(new SharedArrayBuffer(ref.byteLength + 16), 16, ref.length);
    expect((await pool.dequantize(b, sharedOut)).data).toBe(sharedOut);
    expect(firstDiff(sharedOut, ref)).toBe(-1);
  });

  it('falls back to one thread for float16 metadata and below the threshold', async () => {
    const v = randomTensor([4, 64], 9);
    const o = { bits: 4 as const, groupSize: 32, scaleDtype: 'float16' as const };
    const a = await pool.quantizeValues(v, o);
    expect(pool.lastParts).toBe(0);
    expect(firstDiff(a.codes, quantizeValues(v, o).codes)).toBe(-1);
    const p2 = await KernelPool.create({ threads: 1 });
    const b = await p2.quantizeValues(v, { bits: 2, groupSize: 32 });
    expect(p2.lastParts).toBe(0);
    expect(firstDiff(b.codes, quantizeValues(v, { bits: 2, groupSize: 32 }).codes)).toBe(-1);
    await p2.close();
    const p3 = await KernelPool.create({ threads: 2, minElements: 100, minElementsPlain: 1 << 20 });
    const c = await p3.quantizeValues(v, { bits: 2, groupSize: 32 });
    expect(p3.lastParts).toBe(0); // plain arrays below minElementsPlain: the recorded calls ran on this thread
    expect(firstDiff(c.codes, quantizeValues(v, { bits: 2, groupSize: 32 }).codes)).toBe(-1);
    const vs = { ...v, data: sharedLike(v.data, true) };
    const d = await p3.quantizeValues(vs, { bits: 2, groupSize: 32 });
    expect(p3.lastParts).toBe(2); // float32 input shared (codes/metadata plain) and ≥ minElements: pooled
    expect(p3.lastShares).toEqual([1, 1]); // (one part per thread)
    expect(firstDiff(d.codes, c.codes)).toBe(-1);
    expect(firstDiff(d.mins, c.mins)).toBe(-1);
    const sc = sharedLike(c.codes);
    const sm = sharedLike(c.scales as Float32Array);
    const sz = sharedLike(c.mins as Float32Array);
    const e = await p3.quantizeValues(vs, { bits: 2, groupSize: 32, out: { codes: sc, scales: sm, mins: sz } });
    expect(p3.lastParts).toBe(4); // every array shared: parts the threads claim (8 per thread; 4 tokens here)
    expect(p3.lastShares.length).toBe(2);
    expect(p3.lastShares[0]! + p3.lastShares[1]!).toBe(4);
    expect(e.codes).toBe(sc);
    expect(firstDiff(sc, c.codes)).toBe(-1);
    expect(firstDiff(sz, c.mins)).toBe(-1);
    await p3.dequantize(d); // plain float32 output below minElementsPlain
    expect(p3.lastParts).toBe(0);
    await p3.dequantize(d, sharedLike(v.data));
    // plain codes / metadata inputs of ≤ 4 KB each are copied into the pool memory: every array shared
    expect(p3.lastParts).toBe(4);
    expect(p3.lastShares[0]! + p3.lastShares[1]!).toBe(4);
    const big = randomTensor([4, 8192], 10); // 2-bit codes of 8 KB: not copied, one part per thread
    const qb = quantizeValues(big, { bits: 2, groupSize: 32 });
    const yb = sharedLike(big.data);
    await p3.dequantize(qb, yb);
    expect(p3.lastParts).toBe(2);
    expect(firstDiff(yb, dequantize(qb).data)).toBe(-1);
    expect(await KernelPool.create({ minElementsPlain: -1 }).catch((e) => e.code)).toBe('E_CONFIG');
    await p3.close();
  });

  it('throws the single-threaded errors (NaN → E_NONFINITE, bad options → E_CONFIG)', async () => {
    const v = randomTensor([4, 64], 3);
    v.data[77] = Number.NaN;
    const codeOf = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
        return 'none';
      } catch (e) {
        return isLowbitError(e) ? e.code : String(e);
      }
    };
    expect(await codeOf(pool.quantizeValues(v, { bits: 2, groupSize: 32 }))).toBe('E_NONFINITE');
    expect(await codeOf(pool.quantizeKeys({ ...v, shape: [64, 4] }, { bits: 2, groupSize: 16 }))).toBe('E_NONFINITE');
    expect(await codeOf(pool.quantizeValues(v, { bits: 3 as KiviBits, groupSize: 32 }))).toBe('E_CONFIG');
    expect(await codeOf(KernelPool.create({ threads: 0 }))).toBe('E_CONFIG');
    const x = randomTensor([4, 64], 4);
    x.data[130] = Number.POSITIVE_INFINITY;
    expect(await codeOf(pool.quantizeAffine(x, { bits: 4, axis: -1, groupSize: 32 }))).toBe('E_NONFINITE');
    expect(pool.lastParts).toBe(0);
    // every array shared (parts claimed by the threads): a NaN in the first, a middle or the last part stops
    // the claiming; the call reruns on one thread and throws; the next call claims from a fresh counter
    const good = randomTensor([64, 256], 5);
    const sv = { ...good, data: sharedLike(good.data) };
    const ref = quantizeValues(good, { bits: 4, groupSize: 32 });
    const out = {
      codes: sharedLike(ref.codes),
      scales: sharedLike(ref.scales as Float32Array),
      mins: sharedLike(ref.mins as Float32Array),
    };
    const so = { bits: 4 as const, groupSize: 32, out };
    for (const at of [0, 8000, good.data.length - 1]) {
      sv.data.set(good.data);
      sv.data[at] = Number.NaN;
      expect(await codeOf(pool.quantizeValues(sv, so))).toBe('E_NONFINITE');
      expect(pool.lastParts).toBe(0);
      sv.data.set(good.data);
      const q = await pool.quantizeValues(sv, so);
      expect(pool.lastParts).toBe(16);
      expect(firstDiff(q.codes, ref.codes)).toBe(-1);
      expect(firstDiff(q.mins, ref.mins)).toBe(-1);
    }
  });

  it('decoders whose chunk regions outgrow a scratch slot still run pooled (groups of 1, 2.1 M elements)', async () => {
    // affine groups of 1: 13 bytes of codes, scales, zeros and output per element; a 1 M-element chunk would
    // need 13 MB of a worker's 8 MB slot (the kernel then reports "not run" and the call reruns on one thread)
    const x = randomTensor([2, 1 << 20], 31);
    const a = quantizeAffine(x, { bits: 8, groupSize: 1 });
    const y = await pool.dequantizeAffine(a, new Float32Array(x.data.length));
    expect(pool.lastParts).toBe(2);
    expect(firstDiff(y.data, dequantizeAffine(a).data)).toBe(-1);
  });

  it('quantizeAffine / dequantizeAffine are byte-identical to one thread (lines or groups of one line)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        async (bits, lines, len, gs, seed) => {
          const x = randomTensor([lines, len], seed);
          const before = x.data.slice();
          const o = { bits, axis: -1, groupSize: gs };
          const a = quantizeAffine(x, o);
          const b = await pool.quantizeAffine(x, o);
          expect(pool.lastParts).toBeGreaterThan(lines >= 2 || len > gs ? 1 : 0);
          expect(firstDiff(b.codes, a.codes)).toBe(-1);
          expect(firstDiff(b.scales, a.scales)).toBe(-1);
          expect(firstDiff(b.zeros, a.zeros)).toBe(-1);
          expect(firstDiff((await pool.dequantizeAffine(a)).data, dequantizeAffine(a).data)).toBe(-1);
          expect(firstDiff(x.data, before)).toBe(-1);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('quantizeBlocks / dequantizeBlocks are byte-identical to one thread (MX and BFP, ragged blocks)', async () => {
    const formats = ['mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2', 'bfp12', 'bfp16'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...formats),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom(8, 16, 32, 7),
        fc.integer({ min: 0, max: 1 << 30 }),
        async (format, rows, half, bs, seed) => {
          const x = randomTensor([rows, half * 2], seed);
          if (seed % 5 === 0) x.data[seed % x.data.length] = Number.NaN; // a NaN block
          const o = { format, blockSize: bs };
          const a = quantizeBlocks(x, o);
          const b = await pool.quantizeBlocks(x, o);
          expect(firstDiff(b.scales, a.scales)).toBe(-1);
          expect(firstDiff(b.codes, a.codes)).toBe(-1);
          expect(firstDiff((await pool.dequantizeBlocks(a)).data, dequantizeBlocks(a).data)).toBe(-1);
        },
      ),
      { numRuns: 40 },
    );
    // one long row: split by blocks; into preallocated (shared) outputs
    const x = randomTensor([1, 4096 + 64], 77);
    const a = quantizeBlocks(x, { format: 'mxfp4', blockSize: 32 });
    const sc = new Uint8Array(new SharedArrayBuffer(a.scales.length + 3), 3);
    const cd = new Uint8Array(a.codes.length);
    const b = await pool.quantizeBlocks(x, { format: 'mxfp4', blockSize: 32, out: { scales: sc, codes: cd } });
    expect(pool.lastParts).toBe(2);
    expect(b.scales).toBe(sc);
    expect(firstDiff(sc, a.scales)).toBe(-1);
    expect(firstDiff(cd, a.codes)).toBe(-1);
    const out = new Float32Array(new SharedArrayBuffer(x.data.byteLength));
    expect((await pool.dequantizeBlocks(a, out)).data).toBe(out);
    expect(firstDiff(out, dequantizeBlocks(a).data)).toBe(-1);
  });

  it('fwht (power of two, in place) is byte-identical to one thread; other n run single-threaded', async () => {
    for (const [rows, n] of [
      [7, 64],
      [1, 4096],
      [33, 256],
    ] as const) {
      const x = randomTensor([rows, n], rows * n);
      const y = { ...x, data: x.data.slice() };
      fwht(x);
      expect((await pool.fwht(y)).data).toBe(y.data);
      expect(pool.lastParts).toBe(rows >= 2 ? 2 : 1); // one row cannot be split
      expect(firstDiff(y.data, x.data)).toBe(-1);
    }
    const x = randomTensor([4, 12], 3);
    const y = { ...x, data: x.data.slice() };
    await pool.fwht(y, { normalize: false });
    expect(pool.lastParts).toBe(0);
    expect(firstDiff(y.data, fwht(x, { normalize: false }).data)).toBe(-1);
  });
});
