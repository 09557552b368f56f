/**
 * mwq benchmarks:
 * - bit-plane GEMV linearity: gemv of a [4096, 4096] weight (group 128) at every level of a truncate,
 *   a matquant and a residual 2→8 store, wasm SIMD kernel and its JS twin, GB/s of the plane bytes read
 *   (the harness's memcpy row copies the same plane bytes), ms per plane, beside a dense float32 GEMV of
 *   the same matrix (JS) and a memcpy of its 67 MB; a least-squares fit ms = a + b·planes with its
 *   largest deviation;
 * - the reference twin (dequantize(r)·x), a batched gemm (B = 8), quantizeNested throughput.
 * `LOWBIT_BENCH_QUICK=1` shrinks the weight to [512, 512]; `LOWBIT_BENCH_MWQ=gemv` runs the GEMV part only.
 */

import { setKernelBackend } from '../src/common/kernels.js';
import type { Float32Tensor } from '../src/common/tensor.js';
import { gemm, gemv, gemvRef, type NestedWeights, quantizeNested, quantizeNestedRef } from '../src/mwq/index.js';
import { QUICK, runGroup } from './harness.js';

function gaussian(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + 1) / 2 ** 32;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * s) / 2 ** 32) * scale;
  }
  return out;
}

function denseGemv(w: Float32Array, x: Float32Array, rows: number, cols: number, y: Float32Array): Float32Array {
  for (let o = 0; o < rows; o++) {
    let s = 0;
    const b = o * cols;
    for (let i = 0; i < cols; i++) s += w[b + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

/** Least-squares line y = a + b·x, R² and the largest absolute / relative deviation from it. */
function lsqFit(xs: number[], ys: number[]): { a: number; b: number; r2: number; maxDev: number; maxRel: number } {
  const m = xs.length;
  const mx = xs.reduce((s, v) => s + v, 0) / m;
  const my = ys.reduce((s, v) => s + v, 0) / m;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < m; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  const a = my - b * mx;
  let maxDev = 0;
  let maxRel = 0;
  for (let i = 0; i < m; i++) {
    const d = Math.abs(ys[i]! - (a + b * xs[i]!));
    if (d > maxDev) {
      maxDev = d;
      maxRel = d / ys[i]!;
    }
  }
  return { a, b, r2: syy > 0 ? (sxy * sxy) / (sxx * syy) : 1, maxDev, maxRel };
}

export async function main(): Promise<void> {
  const rows = QUICK ? 512 : 4096;
  const cols = QUICK ? 512 : 4096;
  const n = rows * cols;
  const w: Float32Tensor = { dtype: 'float32', data: gaussian(n, 1, 0.02), shape: [rows, cols] };
  const x = gaussian(cols, 2, 1);
  const y = new Float32Array(rows);
  const heavyRuns = QUICK ? 3 : 7;

  const stores: [string, NestedWeights][] = [
    ['truncate', quantizeNested(w, { scheme: 'truncate' })],
    ['matquant', quantizeNested(w, { scheme: 'matquant' })],
    ['residual 2→8 pow2', quantizeNested(w, { scheme: 'residual', bits: 8, baseBits: 2, planeScales: 'pow2' })],
  ];
  const wDense = stores[0]![1].dequantize(8).data;
  const dres = runGroup({
    title: `dense float32 GEMV [${rows}, ${cols}] (JS, 4 B per weight)`,
    bytes: 4 * n,
    elements: n,
    runs: heavyRuns,
    cases: [{ name: 'dense f32 GEMV (JS)', fn: () => denseGemv(wDense, x, rows, cols, y) }],
  });
  const dense = { ms: dres[1]!.medianS * 1e3, copyMs: dres[0]!.medianS * 1e3 };
  const summary: string[] = [];
  for (const [name, nw] of stores) {
    const pts: { P: number; r: number; wasm: number; js: number; copy: number; bytes: number }[] = [];
    for (const r of nw.levels) {
      const P = nw.planesRead(r);
      const bytes = P * Math.ceil(n / 32) * 4;
      const res = runGroup({
        title: `gemv ${name} [${rows}, ${cols}] level ${r}: ${P} planes = ${(bytes / 1e6).toFixed(2)} MB of plane bytes`,
        bytes,
        elements: n,
        runs: QUICK ? 3 : 15,
        cases: [
          {
            name: `gemv wasm r=${r}`,
            fn: () => {
              setKernelBackend('wasm');
              return gemv(nw, x, r, y);
            },
          },
          {
            name: `gemv JS twin r=${r}`,
            fn: () => {
              setKernelBackend('js');
              return gemv(nw, x, r, y);
            },
          },
        ],
      });
      setKernelBackend('auto');
      pts.push({ P, r, copy: res[0]!.medianS * 1e3, wasm: res[1]!.medianS * 1e3, js: res[2]!.medianS * 1e3, bytes });
    }
    summary.push(
      `\n## gemv ${name} [${rows}, ${cols}], group 128: time vs planes read (medians; dense f32 GEMV JS ${dense.ms.toFixed(2)} ms, memcpy of its ${((4 * n) / 1e6).toFixed(1)} MB ${dense.copyMs.toFixed(2)} ms)`,
    );
    summary.push(
      '| level r | planes | plane MB | wasm ms | wasm GB/s | wasm ms/plane | JS ms | JS ms/plane | wasm ÷ JS | memcpy of plane bytes ms | wasm ÷ memcpy | dense f32 JS ÷ wasm |',
    );
    summary.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const q of pts)
      summary.push(
        `| ${q.r} | ${q.P} | ${(q.bytes / 1e6).toFixed(2)} | ${q.wasm.toFixed(2)} | ${(q.bytes / q.wasm / 1e6).toFixed(2)} | ${(q.wasm / q.P).toFixed(3)} | ${q.js.toFixed(2)} | ${(q.js / q.P).toFixed(2)} | ${(q.js / q.wasm).toFixed(1)}× faster | ${q.copy.toFixed(3)} | ${(q.wasm / q.copy).toFixed(1)} | ${(dense.ms / q.wasm).toFixed(1)} |`,
      );
    for (const k of ['wasm', 'js'] as const) {
      const f = lsqFit(
        pts.map((q) => q.P),
        pts.map((q) => q[k]),
      );
      summary.push(
        `\n${k === 'wasm' ? 'wasm' : 'JS twin'} least squares ms = ${f.a.toFixed(3)} + ${f.b.toFixed(3)}·planes (R² ${f.r2.toFixed(4)}); largest deviation ${f.maxDev.toFixed(3)} ms (${(100 * f.maxRel).toFixed(1)}% of that point)`,
      );
    }
  }
  console.log(summary.join('\n'));
  if (process.env.LOWBIT_BENCH_MWQ === 'gemv') return;
  const nw0 = stores[0]![1];
  runGroup({
    title: `gemvRef (dequantize(r) + dense) [${rows}, ${cols}]`,
    bytes: 4 * n,
    elements: n,
    runs: 3,
    cases: [2, 8].map((r) => ({ name: `gemvRef truncate r=${r}`, fn: () => gemvRef(nw0, x, r) })),
  });
  const B = 8;
  const X: Float32Tensor = { dtype: 'float32', data: gaussian(B * cols, 3, 1), shape: [B, cols] };
  const nw = stores[0]![1];
  for (const r of [2, 4]) {
    runGroup({
      title: `gemm truncate [${rows}, ${cols}] × ${B} vectors, level ${r}`,
      bytes: nw.bytesRead(r) + 4 * B * cols,
      elements: n * B,
      runs: heavyRuns,
      cases: [
        { name: `gemm B=${B} r=${r}`, fn: () => gemm(nw, X, r) },
        {
          name: `${B}× gemv r=${r}`,
          fn: () => {
            for (let b = 0; b < B; b++) gemv(nw, X.data.subarray(b * cols, (b + 1) * cols), r, y);
          },
        },
      ],
    });
  }
  runGroup({
    title: `quantizeNested [${rows}, ${cols}] f32 → bit planes, group 128`,
    bytes: 4 * n,
    elements: n,
    runs: heavyRuns,
    cases: [
      { name: 'quantizeNested truncate 8-bit', fn: () => quantizeNested(w, { scheme: 'truncate' }) },
      { name: 'quantizeNested matquant 8-bit', fn: () => quantizeNested(w, { scheme: 'matquant' }) },
    ],
  });
  // the reference twin and the residual fit are much slower: measured on a [256, in] slice
  const small: Float32Tensor = { dtype: 'float32', data: w.data.subarray(0, 256 * cols), shape: [256, cols] };
  runGroup({
    title: `quantizeNested [256, ${cols}] (slice): fast vs reference twin, residual fits`,
    bytes: 4 * 256 * cols,
    elements: 256 * cols,
    runs: heavyRuns,
    cases: [
      { name: 'quantizeNested truncate 8-bit', fn: () => quantizeNested(small, { scheme: 'truncate' }) },
      { name: 'quantizeNestedRef truncate 8-bit', fn: () => quantizeNestedRef(small, { scheme: 'truncate' }) },
      {
        name: 'quantizeNested residual 2→4 pow2',
        fn: () => quantizeNested(small, { scheme: 'residual', bits: 4, planeScales: 'pow2' }),
      },
      {
        name: 'quantizeNested residual 2→4 fit (data-free)',
        fn: () => quantizeNested(small, { scheme: 'residual', bits: 4 }),
      },
    ],
  });
}
