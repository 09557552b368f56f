/**
 * KernelPool.attend (the fused KIVI decode attention split by query rows, whole KV heads per part):
 * byte-identical to `KiviCache.attend` for a cache held in the pool memory (`arrays: pool`, read in place
 * by every thread) — GQA and MHA, 2/4-bit, m > 1 causal and not, both flush orders, a residual window in
 * any state, 2 and 4 threads, q / out plain or in the pool memory; a cache in ordinary arrays runs on the
 * calling thread; `cache.release()` gives its storage back to the pool.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { type KiviBits, KiviCache, type KiviCacheConfig } from '../../src/kivi/index.js';
import { KernelPool } from '../../src/node/index.js';
import { firstDiff } from '../helpers/bits.js';
import { randomData } from '../helpers/data.js';
import { splittingPools } from '../helpers/pools.js';

const pools = splittingPools();

const t32 = (data: Float32Array, shape: number[]): Float32Tensor => ({ dtype: 'float32', data, shape });

/** The same tokens appended to a cache on `arrays` and to an ordinary one (in the same chunks). */
function caches(cfg: KiviCacheConfig, T: number, seed: number, arrays: KernelPool): [KiviCache, KiviCache] {
  const { kvHeads: H, headDim: D } = cfg;
  const a = new KiviCache({ ...cfg, arrays });
  const b = new KiviCache(cfg);
  const k = randomData(H * T * D, seed);
  const v = randomData(H * T * D, seed + 1);
  for (let t0 = 0; t0 < T; ) {
    const n = Math.min(T - t0, 1 + ((t0 * 7 + seed) % 37));
    const part = (x: Float32Array) => {
      const o = new Float32Array(H * n * D);
      for (let h = 0; h < H; h++) o.set(x.subarray((h * T + t0) * D, (h * T + t0 + n) * D), h * n * D);
      return t32(o, [H, n, D]);
    };
    for (const c of [a, b]) c.append(part(k), part(v));
    t0 += n;
  }
  return [a, b];
}

describe('KernelPool.attend', () => {
  it('byte-identical to cache.attend for a cache in the pool memory (GQA / MHA, m ≥ 1, flush orders, 2 and 4 threads)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(2, 4) as fc.Arbitrary<KiviBits>,
        fc.constantFrom(1, 2, 4),
        fc.constantFrom(1, 2, 4),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 1 << 20 }),
        async (bits, H, g, T, m, causal, four, seed) => {
          const pool = four ? pools.four : pools.two;
          const cfg: KiviCacheConfig = {
            kvHeads: H,
            headDim: 32,
            bits,
            groupSize: 16,
            residualLength: 32,
            flushOrder: seed % 2 === 0 ? 'before-attention' : 'after-attention',
          };
          const [mine, ref] = caches(cfg, T, seed, pool);
          try {
            const mm = causal ? Math.min(m, T) : m;
            const q = t32(randomData(H * g * mm * 32, seed + 7), [H * g, mm, 32]);
            const want = ref.attend(q, { causal });
            const got = await pool.attend(mine, q, { causal });
            expect(pool.lastParts).toBe(Math.min(pool.threads, H)); // whole KV heads per part
            expect(firstDiff(got.data, want.data)).toBe(-1);
            expect(got.shape).toEqual(want.shape);
          } finally {
            mine.release();
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('q and out in the pool memory (the threads claim one part each); a plain cache runs on the calling thread', async () => {
    const cfg: KiviCacheConfig = { kvHeads: 8, headDim: 64, bits: 2, groupSize: 32, residualLength: 64 };
    const [mine, ref] = caches(cfg, 700, 3, pools.two);
    const qd = pools.two.float32(32 * 64);
    qd.set(randomData(32 * 64, 4));
    const q = t32(qd, [32, 1, 64]);
    const out = pools.two.float32(32 * 64);
    const want = ref.attend(q);
    expect((await pools.two.attend(mine, q, { out })).data).toBe(out);
    expect(pools.two.lastParts).toBe(2);
    expect(pools.two.lastShares[0]! + pools.two.lastShares[1]!).toBe(2);
    expect(firstDiff(out, want.data)).toBe(-1);
    const plainOut = await pools.two.attend(ref, q);
    expect(pools.two.lastParts).toBe(0);
    expect(firstDiff(plainOut.data, want.data)).toBe(-1);
    // one thread on the pool memory (its kernels read the cache in place)
    const p1 = await KernelPool.create({ threads: 1 });
    try {
      const [one] = caches(cfg, 700, 3, p1);
      expect(firstDiff((await p1.attend(one, q)).data, want.data)).toBe(-1);
      one.release();
    } finally {
      await p1.close();
    }
    mine.release();
    pools.two.release(qd);
    pools.two.release(out);
  });

  it("release gives the cache's storage back to the pool; errors are the cache's", async () => {
    const p = await KernelPool.create({ threads: 2, minElements: 0 });
    try {
      const before = p.bytesInUse;
      const [mine] = caches({ kvHeads: 2, headDim: 32, bits: 4, groupSize: 32, residualLength: 32 }, 500, 9, p);
      expect(p.bytesInUse).toBeGreaterThan(before + mine.byteLength / 2);
      await expect(p.attend(mine, t32(randomData(32, 1), [1, 1, 32]))).rejects.toMatchObject({ code: 'E_SHAPE' });
      mine.release();
      expect(p.bytesInUse).toBe(before);
      await expect(p.attend(mine, t32(randomData(64, 1), [2, 1, 32]))).rejects.toMatchObject({ code: 'E_CONFIG' });
    } finally {
      await p.close();
    }
  });
});
