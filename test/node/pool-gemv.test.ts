/**
 * KernelPool bit-plane GEMV (mwq `gemv` / `gemm` split by output rows in runs of 32): byte-identical to
 * the single-threaded functions for every scheme, variant and level, ragged shapes (rows and `in` not
 * multiples of 32, groups of 8 … 128), batches of vectors, plain weights (the workers' rows copied into
 * the pool memory) and weights held in the pool memory (`pool.nestedWeights`, read in place), with 2
 * and 4 threads; `nestedWeights` serves the same bytes and `release` gives its memory back. The wrapper
 * reads the scales of weights in its module's memory in place and copies their planes by chunk.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { fail, isLowbitError } from '../../src/common/errors.js';
import { WasmKernels } from '../../src/common/kernels.js';
import { gemm, gemv, type NestedOptions, NestedWeights, quantizeNested } from '../../src/mwq/index.js';
import { KernelPool } from '../../src/node/index.js';
import { firstDiff } from '../helpers/bits.js';
import { randomData } from '../helpers/data.js';
import { splittingPools } from '../helpers/pools.js';
import { freshKernels } from '../helpers/wasm.js';

const OPTS: NestedOptions[] = [
  { scheme: 'truncate', bits: 8 },
  { scheme: 'truncate', bits: 5, variant: 'trunc' },
  { scheme: 'matquant', bits: 8 },
  { scheme: 'matquant', bits: 6, variant: 'round-noclamp' },
  { scheme: 'residual', bits: 8, baseBits: 2 },
  { scheme: 'residual', bits: 6, baseBits: 3, planeScales: 'pow2' },
];

function store(rows: number, cols: number, G: number, opt: NestedOptions, seed: number): NestedWeights {
  const w = { dtype: 'float32' as const, data: randomData(rows * cols, seed), shape: [rows, cols] };
  return quantizeNested(w, { ...opt, groupSize: G });
}

const pools = splittingPools();

describe('KernelPool.gemv / gemm', () => {
  it('byte-identical to one thread: every scheme and level, ragged shapes, plain and pool-memory weights', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...OPTS),
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom(8, 24, 32, 128),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1 << 30 }),
        async (opt, rows, G, groups, B, four, seed) => {
          const pool = four ? pools.four : pools.two;
          const cols = G * groups;
          const nw = store(rows, cols, G, opt, seed);
          const resident = pool.nestedWeights(nw);
          try {
            const xs = randomData(B * cols, seed + 1);
            const X = { dtype: 'float32' as const, data: xs, shape: [B, cols] };
            for (const r of nw.levels) {
              const ref = gemm(nw, X, r).data;
              for (const weights of [nw, resident]) {
                const y = await pool.gemm(weights, X, r);
                // runs of 32 rows, one share per thread (x is a plain array)
                const runs = Math.ceil(rows / 32);
                expect(pool.lastParts).toBe(Math.ceil(runs / Math.ceil(runs / pool.threads)));
                expect(firstDiff(y.data, ref)).toBe(-1);
                const v = await pool.gemv(weights, xs.subarray(0, cols), r);
                expect(firstDiff(v, ref.subarray(0, rows))).toBe(-1);
              }
            }
          } finally {
            pool.release(resident);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('large weights split by rows into the given outputs (plain, pool memory); x and out in the pool memory too', async () => {
    const rows = 1000;
    const cols = 1024;
    const nw = store(rows, cols, 128, { scheme: 'matquant', bits: 8 }, 7);
    const resident = pools.two.nestedWeights(nw);
    const x = randomData(cols, 8);
    const xm = pools.two.float32(cols);
    xm.set(x);
    for (const r of [2, 5, 8]) {
      const ref = gemv(nw, x, r);
      const plainOut = new Float32Array(rows);
      expect(await pools.two.gemv(nw, x, r, plainOut)).toBe(plainOut);
      expect(pools.two.lastParts).toBe(2);
      expect(pools.two.lastShares).toEqual([1, 1]);
      expect(firstDiff(plainOut, ref)).toBe(-1);
      // every array in the pool memory: the threads claim the parts (one per thread: each part builds the
      // input's tables)
      const memOut = pools.two.float32(rows);
      expect(await pools.two.gemv(resident, xm, r, memOut)).toBe(memOut);
      expect(pools.two.lastParts).toBe(2);
      expect(pools.two.lastShares[0]! + pools.two.lastShares[1]!).toBe(2);
      expect(firstDiff(memOut, ref)).toBe(-1);
      pools.two.release(memOut);
    }
    expect(firstDiff(xm, x)).toBe(-1); // inputs untouched
    pools.two.release(xm);
    pools.two.release(resident);
  });

  it("a 28 672-column GEMV (a 70B-class FFN down projection) runs the wasm kernel in a thread's scratch slot", async () => {
    // its input tables take 2 KB per 8 columns (7.3 MB): an 8 MB slot sent it to the JS twin
    const rows = 64;
    const cols = 28672;
    const nw = store(rows, cols, 128, { scheme: 'truncate', bits: 8 }, 21);
    const resident = pools.two.nestedWeights(nw);
    const x = randomData(cols, 22);
    const spy = vi.spyOn(WasmKernels.prototype, 'gemvBitPlanes');
    try {
      const y = await pools.two.gemv(resident, x, 8);
      expect(spy).toHaveBeenCalled();
      for (const r of spy.mock.results) expect(r.value).toBe(true); // (false: no room, the JS twin ran)
      expect(firstDiff(y, gemv(nw, x, 8))).toBe(-1);
    } finally {
      spy.mockRestore();
      pools.two.release(resident);
    }
  });

  it('below minElements and on one thread: the calls run on the calling thread, same bytes', async () => {
    const nw = store(64, 256, 64, { scheme: 'truncate', bits: 8 }, 3);
    const x = randomData(256, 4);
    const p = await KernelPool.create({ threads: 2, minElements: 1 << 20 });
    const p1 = await KernelPool.create({ threads: 1 });
    try {
      for (const pool of [p, p1]) {
        const resident = pool.nestedWeights(nw);
        for (const weights of [nw, resident]) {
          const y = await pool.gemv(weights, x, 4);
          expect(pool.lastParts).toBe(0);
          expect(firstDiff(y, gemv(nw, x, 4))).toBe(-1);
        }
        pool.release(resident);
      }
    } finally {
      await p.close();
      await p1.close();
    }
  });

  it('throws the single-threaded errors (level not served, wrong length)', async () => {
    const nw = store(64, 256, 64, { scheme: 'residual', bits: 6, baseBits: 3 }, 5);
    const codeOf = async (f: () => Promise<unknown>): Promise<string> => {
      try {
        await f();
        return 'none';
      } catch (e) {
        return isLowbitError(e) ? e.code : String(e);
      }
    };
    expect(await codeOf(() => pools.two.gemv(nw, randomData(256, 1), 2))).toBe('E_CONFIG');
    expect(await codeOf(() => pools.two.gemv(nw, randomData(255, 1), 4))).toBe('E_SHAPE');
    expect(
      await codeOf(() => pools.two.gemm(nw, { dtype: 'float32', data: randomData(512, 1), shape: [2, 255] }, 4)),
    ).toBe('E_SHAPE');
  });
});

describe('KernelPool.nestedWeights', () => {
  it('serves the same levels and bytes from the pool memory; release gives the memory back', async () => {
    const p = await KernelPool.create({ threads: 2 });
    try {
      const nw = store(100, 384, 128, { scheme: 'residual', bits: 8, baseBits: 2 }, 11);
      const before = p.bytesInUse;
      const resident = p.nestedWeights(nw);
      expect(resident).toBeInstanceOf(NestedWeights);
      expect(resident.levels).toEqual(nw.levels);
      expect(p.owns(resident.data.planes)).toBe(true);
      expect(p.owns(resident.data.levelScales)).toBe(true);
      expect(p.bytesInUse).toBeGreaterThanOrEqual(before + nw.data.planes.byteLength);
      expect(firstDiff(resident.serialize(), nw.serialize())).toBe(-1);
      for (const r of nw.levels) expect(firstDiff(resident.dequantize(r).data, nw.dequantize(r).data)).toBe(-1);
      p.release(resident);
      expect(p.bytesInUse).toBe(before);
      const code = (f: () => unknown): string | undefined => {
        try {
          f();
        } catch (e) {
          return isLowbitError(e) ? e.code : String(e);
        }
        return undefined;
      };
      expect(code(() => p.release(resident))).toBe('E_CONFIG'); // released already
      expect(code(() => p.release(nw))).toBe('E_CONFIG'); // not the pool's
      expect(code(() => p.nestedWeights({} as NestedWeights))).toBe('E_CONFIG');
      // the pool memory runs out part-way (the zeros do not fit: E_LIMIT): the arrays already allocated for
      // the store are given back
      const full = p.bytesInUse;
      const float32 = p.float32.bind(p);
      let n = 0;
      p.float32 = (len: number): Float32Array => {
        if (++n === 2) fail('E_LIMIT', 'test: the pool memory is full');
        return float32(len);
      };
      expect(code(() => p.nestedWeights(nw))).toBe('E_LIMIT');
      expect(n).toBe(2);
      expect(p.bytesInUse).toBe(full);
    } finally {
      await p.close();
    }
  });
});

describe('WasmKernels.gemvBitPlanes on adopted memory', () => {
  it('reads the scales in place and writes the output in place; copies the planes by chunk (one run per plane)', () => {
    const [ex, k, slot] = freshKernels(128, [1 << 20, 3 << 20]); // 8 MB more, a 2 MB scratch slot
    const nw = store(256, 512, 128, { scheme: 'residual', bits: 6, baseBits: 2 }, 21);
    const d = nw.data;
    const r = 6;
    const x = randomData(512, 22);
    const ref = gemv(nw, x, r);
    // run once copying (plain arrays), once in place, each on a scratch filled with a sentinel
    const untouched = (adopted: boolean): [number, Float32Array] => {
      const buf = ex.memory.buffer;
      new Uint8Array(buf, slot[0], slot[1] - slot[0]).fill(0xa5);
      let at = 4 << 20;
      const place = <A extends Float32Array | Uint32Array>(a: A): A => {
        if (!adopted) return a.slice() as A;
        const b = new (a.constructor as new (b: ArrayBufferLike, o: number, n: number) => A)(buf, at, a.length);
        b.set(a as never);
        at += (a.byteLength + 63) & ~63;
        return b;
      };
      if (adopted) k.adopt(buf);
      const [planes, sc, z, ls] = [place(d.planes), place(d.scales), place(d.zeros), place(d.levelScales)];
      const out = place(new Float32Array(256));
      // the level constants gemv itself would pass (taken from a recorded call)
      const rec = recorded(nw, x, r);
      const a = rec.slice();
      a[0] = planes;
      a[11] = sc;
      a[12] = z;
      a[13] = ls;
      a[16] = out;
      expect((k.gemvBitPlanes as (...v: unknown[]) => boolean)(...a)).toBe(true);
      let n = 0;
      for (const v of new Uint8Array(buf, slot[0], slot[1] - slot[0])) if (v === 0xa5) n++;
      return [n, out];
    };
    const [copied, outCopied] = untouched(false);
    const [inPlace, outInPlace] = untouched(true);
    expect(firstDiff(outCopied, ref)).toBe(-1);
    expect(firstDiff(outInPlace, ref)).toBe(-1);
    // in place, the group scales and zeros (256 rows · 4 groups, float32) were never copied in; the planes
    // were (6 planes of 256 rows · 512 bits: read in place at their plane stride they would share cache sets)
    expect(inPlace - copied).toBeGreaterThanOrEqual(256 * 4 * 4 * 2);
    expect(inPlace - copied).toBeLessThan((6 * 256 * 512) / 8);
  });
});

/** The arguments `gemv(nw, x, r)` passes to the wasm wrapper (recorded through a stand-in instance). */
function recorded(nw: NestedWeights, x: Float32Array, r: number): unknown[] {
  let got: unknown[] = [];
  const orig = WasmKernels.prototype.gemvBitPlanes;
  WasmKernels.prototype.gemvBitPlanes = function (...a: unknown[]): boolean {
    got = a;
    return (orig as (...v: unknown[]) => boolean).apply(this, a);
  };
  try {
    gemv(nw, x, r);
  } finally {
    WasmKernels.prototype.gemvBitPlanes = orig;
  }
  expect(got.length).toBe(19);
  return got;
}
