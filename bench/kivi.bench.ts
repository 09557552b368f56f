/**
 * KIVI benchmarks: quantize+pack and dequantize throughput (GB/s of float32 input and ÷ memcpy) for
 * 2 and 4 bits on keys/values `[32, 4096, 128]` (QUICK: `[4, 512, 128]`), public API (allocating),
 * allocation-free kernel into preallocated buffers, and the reference twin; fused `attend` on packed
 * codes (wasm SIMD and its JS twin) vs dense float32 attention in JS over an uncompressed cache vs the
 * dense reference twin (dequantize + float64), T ∈ {512, 4096} (QUICK: {512}), D = 128, 32 query heads
 * / 8 KV heads, one query token, with the ratio dense ÷ fused and the cost of the per-call copy of the
 * packed cache into the module's memory. Attention GB/s counts the float32 K+V bytes an uncompressed
 * cache would read.
 *
 * Run: `npx tsx bench/run.ts kivi` (`LOWBIT_BENCH_QUICK=1` for the smoke sizes).
 */
import { setKernelBackend, wasmSimdSupported } from '../src/common/kernels.js';
import type { Float32Tensor } from '../src/common/tensor.js';
import {
  dequantize,
  dequantizeRef,
  type KiviBits,
  KiviCache,
  quantizeKeys,
  quantizeKeysRef,
  quantizeValues,
  quantizeValuesRef,
} from '../src/kivi/index.js';
import {
  dequantizeKeysKernel,
  dequantizeValueRowKernel,
  quantizeKeysKernel,
  quantizeValueRowKernel,
} from '../src/kivi/quantizer.js';
import { QUICK, runGroup } from './harness.js';

function randomData(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 4;
  }
  return out;
}

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
  const [S, T, D] = QUICK ? [4, 512, 128] : [32, 4096, 128];
  const G = 32;
  const n = S * T * D;
  const x = randomData(n, 1);
  const xt: Float32Tensor = { dtype: 'float32', data: x, shape: [S, T, D] };
  // The Ref twins (plain arrays, one group at a time) are timed beside the kernel on 1/8 of the streams.
  const refS = Math.max(1, S / 8);
  const nr = refS * T * D;
  const xr: Float32Tensor = { dtype: 'float32', data: x.subarray(0, nr), shape: [refS, T, D] };
  const refRuns = QUICK ? 3 : 5;
  console.log(`\nKIVI quantize/dequantize on [${S}, ${T}, ${D}] float32, G = ${G}; Ref twins on [${refS}, ${T}, ${D}]`);

  for (const bits of [2, 4] as KiviBits[]) {
    const f = 32 / bits;
    const codes = new Uint32Array(n / f);
    const scales = new Float32Array(n / G);
    const mins = new Float32Array(n / G);
    const mnBuf = new Float32Array(D);
    const mxBuf = new Float32Array(D);
    const out = new Float32Array(n);
    const opts = { bits, groupSize: G };
    const keyKernel = (streams: number) => () => {
      for (let s = 0; s < streams; s++)
        quantizeKeysKernel(
          x,
          s * T * D,
          T,
          D,
          bits,
          G,
          false,
          null,
          codes,
          (s * T * D) / f,
          scales,
          mins,
          (s * T * D) / G,
          mnBuf,
          mxBuf,
        );
    };
    const valueKernel = (streams: number) => () => {
      for (let r = 0; r < streams * T; r++)
        quantizeValueRowKernel(x, r * D, D, bits, G, false, null, codes, (r * D) / f, scales, mins, (r * D) / G);
    };
    const qk = quantizeKeys(xt, opts);
    const qv = quantizeValues(xt, opts);
    const kDeq = (streams: number) => () => {
      for (let s = 0; s < streams; s++)
        dequantizeKeysKernel(
          qk.codes,
          (s * T * D) / f,
          qk.scales as Float32Array,
          qk.mins as Float32Array,
          (s * T * D) / G,
          T,
          D,
          bits,
          G,
          out,
          s * T * D,
        );
    };
    const vDeq = (streams: number) => () => {
      for (let r = 0; r < streams * T; r++)
        dequantizeValueRowKernel(
          qv.codes,
          (r * D) / f,
          qv.scales as Float32Array,
          qv.mins as Float32Array,
          (r * D) / G,
          D,
          bits,
          G,
          out,
          r * D,
        );
    };
    runGroup({
      title: `keys ${bits}-bit G${G} (per-channel, packed along tokens), [${S}, ${T}, ${D}]`,
      bytes: n * 4,
      elements: n,
      cases: [
        { name: 'quantizeKeys (public, allocates)', fn: () => quantizeKeys(xt, opts) },
        { name: 'quantize kernel into preallocated buffers', fn: keyKernel(S) },
        { name: 'dequantize (public, into out)', fn: () => dequantize(qk, out) },
        { name: 'dequantize kernel', fn: kDeq(S) },
      ],
    });
    const qkr = quantizeKeys(xr, opts);
    runGroup({
      title: `keys ${bits}-bit G${G}: kernels vs Ref twins, [${refS}, ${T}, ${D}]`,
      bytes: nr * 4,
      elements: nr,
      runs: refRuns,
      cases: [
        { name: 'quantize kernel', fn: keyKernel(refS) },
        { name: 'quantizeKeysRef', fn: () => quantizeKeysRef(xr, opts) },
        { name: 'dequantize kernel', fn: kDeq(refS) },
        { name: 'dequantizeRef', fn: () => dequantizeRef(qkr) },
      ],
    });
    runGroup({
      title: `values ${bits}-bit G${G} (per-token, packed along channels), [${S}, ${T}, ${D}]`,
      bytes: n * 4,
      elements: n,
      cases: [
        { name: 'quantizeValues (public, allocates)', fn: () => quantizeValues(xt, opts) },
        { name: 'quantize kernel into preallocated buffers', fn: valueKernel(S) },
        { name: 'dequantize (public, into out)', fn: () => dequantize(qv, out) },
        { name: 'dequantize kernel', fn: vDeq(S) },
      ],
    });
    const qvr = quantizeValues(xr, opts);
    runGroup({
      title: `values ${bits}-bit G${G}: kernels vs Ref twins, [${refS}, ${T}, ${D}]`,
      bytes: nr * 4,
      elements: nr,
      runs: refRuns,
      cases: [
        { name: 'quantize kernel', fn: valueKernel(refS) },
        { name: 'quantizeValuesRef', fn: () => quantizeValuesRef(xr, opts) },
        { name: 'dequantize kernel', fn: vDeq(refS) },
        { name: 'dequantizeRef', fn: () => dequantizeRef(qvr) },
      ],
    });
  }

  // ---- attention
  const heads = 32;
  const H = 8;
  const wasm = wasmSimdSupported();
  for (const TT of QUICK ? [512] : [512, 4096]) {
    for (const bits of [2, 4] as KiviBits[]) {
      const k = randomData(H * TT * D, 2);
      const v = randomData(H * TT * D, 3);
      const cache = new KiviCache({ kvHeads: H, headDim: D, bits, groupSize: 32, residualLength: 128 });
      cache.append({ dtype: 'float32', data: k, shape: [H, TT, D] }, { dtype: 'float32', data: v, shape: [H, TT, D] });
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
      const rows = runGroup({
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
        ],
      });
      const ms = (name: string) => rows.find((r) => r.name.startsWith(name))?.medianS ?? Number.NaN;
      const dense = ms('dense float32');
      const parts = [`dense f32 JS ÷ fused JS = ${(dense / ms('KiviCache.attend, JS')).toFixed(2)}×`];
      if (wasm) parts.unshift(`dense f32 JS ÷ fused wasm = ${(dense / ms('KiviCache.attend, wasm')).toFixed(2)}×`);
      console.log(`\n${parts.join('; ')}`);
    }
  }
}
