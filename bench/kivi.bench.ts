/**
 * KIVI benchmarks: quantize+pack and dequantize throughput (GB/s of float32 input and ÷ memcpy) for
 * 2 and 4 bits on keys/values `[32, 4096, 128]` (QUICK: `[4, 512, 128]`), public API (allocating),
 * allocation-free kernel into preallocated buffers, and the reference twin. Attention: kivi-attention.bench.ts.
 *
 * Run: `npx tsx bench/run.ts kivi` (`LOWBIT_BENCH_QUICK=1` for the smoke sizes).
 */
import type { Float32Tensor } from '../src/common/tensor.js';
import {
  dequantize,
  dequantizeRef,
  type KiviBits,
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
import { QUICK, randomData, runGroup } from './harness.js';

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
    await runGroup({
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
    await runGroup({
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
    await runGroup({
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
    await runGroup({
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
}
