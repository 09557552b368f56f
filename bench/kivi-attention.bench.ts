/**
 * KIVI decode attention: fused `KiviCache.attend` on packed codes (wasm SIMD and its JS twin) vs dense
 * float32 attention in JS over the uncompressed cache vs the dense reference twin `attendRef`
 * (dequantize + float64), T ∈ {512, 4096} (QUICK: {512}), D = 128, 32 query heads / 8 KV heads, one
 * query token, KIVI-2 and KIVI-4 (G 32, R 128); prints the ratio dense ÷ fused and the cost of the
 * per-call copy of the packed cache into the module's memory. GB/s counts the float32 K+V bytes an
 * uncompressed cache would read. With wasm SIMD, also the worker pool (`lowbit/node`): the same cache held
 * in a pool's memory (`arrays: pool`), attended by a one-thread pool and by a pool of all cores
 * (`pool.attend`, the threads split the query rows by KV heads).
 *
 * Run: `npx tsx bench/run.ts kivi-attention` (`LOWBIT_BENCH_QUICK=1` for the smoke sizes).
 */
import { setKernelBackend, wasmSimdSupported } from '../src/common/kernels.js';
import type { Float32Tensor } from '../src/common/tensor.js';
import { type KiviBits, KiviCache } from '../src/kivi/index.js';
import { KernelPool } from '../src/node/index.js';
import { QUICK, randomData, runGroup } from './harness.js';

/** Dense float32 attention for one query token per head over float32 K/V `[H, T, D]`. */
function denseAttendF32(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  heads: number,
  H: number,
  T: number,
  D: number,
  logits: Float64Array,
  acc: Float64Array,
  out: Float32Array,
): void {
  const g = heads / H;
  const scale = 1 / Math.sqrt(D);
  for (let h = 0; h < heads; h++) {
    const kv = (h / g) | 0;
    const qo = h * D;
    let mx = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < T; t++) {
      const ko = (kv * T + t) * D;
      let s = 0;
      for (let d = 0; d < D; d++) s += q[qo + d]! * k[ko + d]!;
      s *= scale;
      logits[t] = s;
      if (s > mx) mx = s;
    }
    let sum = 0;
    for (let t = 0; t < T; t++) {
      const e = Math.exp(logits[t]! - mx);
      logits[t] = e;
      sum += e;
    }
    acc.fill(0);
    for (let t = 0; t < T; t++) {
      const p = logits[t]!;
      const vo = (kv * T + t) * D;
      for (let d = 0; d < D; d++) acc[d] = acc[d]! + p * v[vo + d]!;
    }
    for (let d = 0; d < D; d++) out[qo + d] = acc[d]! / sum;
  }
}

export async function main(): Promise<void> {
  const D = 128;
  const heads = 32;
  const H = 8;
  const wasm = wasmSimdSupported();
  const pool1 = await KernelPool.create({ threads: 1 });
  const pool = await KernelPool.create({ minElements: 0 }); // (every size split: the table shows where it pays)
  for (const TT of QUICK ? [512] : [512, 4096]) {
    for (const bits of [2, 4] as KiviBits[]) {
      const k = randomData(H * TT * D, 2);
      const v = randomData(H * TT * D, 3);
      const make = (arrays?: KernelPool) => {
        const c = new KiviCache({
          kvHeads: H,
          headDim: D,
          bits,
          groupSize: 32,
          residualLength: 128,
          ...(arrays ? { arrays } : {}),
        });
        c.append({ dtype: 'float32', data: k, shape: [H, TT, D] }, { dtype: 'float32', data: v, shape: [H, TT, D] });
        return c;
      };
      const cache = make();
      const [cache1, cacheP] = wasm ? [make(pool1), make(pool)] : [null, null];
      const q: Float32Tensor = { dtype: 'float32', data: randomData(heads * D, 4), shape: [heads, 1, D] };
      const out = new Float32Array(heads * D);
      const logits = new Float64Array(TT);
      const acc = new Float64Array(D);
      const outDense = new Float32Array(heads * D);
      // what the wasm path copies per call: the packed cache, in key-block / value-chunk pieces, into a
      // reused tile of the module's memory (emulated here with the same piece sizes)
      const packed = new Uint8Array(cache.byteLength);
      const piece = H * 128 * D * (bits / 8) + 2 * H * (128 / 32) * D * 4;
      const tile = new Uint8Array(2 * piece);
      const copyPacked = () => {
        for (let o = 0; o < packed.length; o += piece) tile.set(packed.subarray(o, Math.min(o + piece, packed.length)));
      };
      const withBackend = (b: 'js' | 'wasm') => () => {
        setKernelBackend(b);
        try {
          return cache.attend(q, { out });
        } finally {
          setKernelBackend('auto');
        }
      };
      const rows = await runGroup({
        title: `attend, T = ${TT}, D = ${D}, ${heads} heads / ${H} kv heads, 1 query, KIVI-${bits} G32 R128 (cache ${cache.byteLength} B vs f32 ${2 * H * TT * D * 4} B)`,
        bytes: 2 * H * TT * D * 4,
        elements: 2 * H * TT * D,
        runs: QUICK ? 3 : 15,
        cases: [
          ...(wasm ? [{ name: 'KiviCache.attend, wasm SIMD (fused, packed codes)', fn: withBackend('wasm') }] : []),
          { name: 'KiviCache.attend, JS twin (fused, packed codes)', fn: withBackend('js') },
          {
            name: 'dense float32 attention in JS (uncompressed K/V)',
            fn: () => denseAttendF32(q.data, k, v, heads, H, TT, D, logits, acc, outDense),
          },
          { name: 'attendRef (dequantize + dense f64)', fn: () => cache.attendRef(q) },
          { name: 'copy of the packed cache into a reused tile (wasm path overhead)', fn: copyPacked },
          ...(cache1 !== null && cacheP !== null
            ? [
                { name: 'pool memory, one-thread KernelPool.attend', fn: () => pool1.attend(cache1, q, { out }) },
                {
                  name: `pool memory, KernelPool.attend (${pool.threads} threads)`,
                  fn: () => pool.attend(cacheP, q, { out }),
                },
              ]
            : []),
        ],
      });
      cache1?.release();
      cacheP?.release();
      const ms = (name: string) => rows.find((r) => r.name.startsWith(name))?.medianS ?? Number.NaN;
      const dense = ms('dense float32');
      const parts = [`dense f32 JS ÷ fused JS = ${(dense / ms('KiviCache.attend, JS')).toFixed(2)}×`];
      if (wasm) {
        parts.unshift(`dense f32 JS ÷ fused wasm = ${(dense / ms('KiviCache.attend, wasm')).toFixed(2)}×`);
        parts.push(`fused wasm × JS twin = ${(ms('KiviCache.attend, JS') / ms('KiviCache.attend, wasm')).toFixed(2)}×`);
        parts.push(
          `pool ${pool.threads} threads × one-thread pool = ${(ms('pool memory, one-thread') / ms('pool memory, KernelPool.attend (')).toFixed(2)}×`,
        );
      }
      console.log(`\n${parts.join('; ')}`);
    }
  }
  await pool.close();
  await pool1.close();
}
