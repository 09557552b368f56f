/**
 * mwq benchmarks: bit-serial gemv at levels r ∈ {2, 4, 8} of a [4096, 4096] weight (truncate and
 * matquant stores, group 128) beside a dense float32 GEMV of the same weight and the reference twin
 * (dequantize(r)·x); a batched gemm (B = 8); quantizeNested throughput vs a memory copy.
 * GB/s are of the bytes the kernel touches: for gemv the level's planes + metadata (bytesRead(r)) + x.
 * `LOWBIT_BENCH_QUICK=1` shrinks the weight to [512, 512].
 */

import type { Float32Tensor } from '../src/common/tensor.js';
import { gemm, gemv, gemvRef, type NestedWeights, quantizeNested, quantizeNestedRef } from '../src/mwq/index.js';
import { type BenchCase, QUICK, runGroup } from './harness.js';

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

export async function main(): Promise<void> {
  const rows = QUICK ? 512 : 4096;
  const cols = QUICK ? 512 : 4096;
  const n = rows * cols;
  const w: Float32Tensor = { dtype: 'float32', data: gaussian(n, 1, 0.02), shape: [rows, cols] };
  const x = gaussian(cols, 2, 1);
  const y = new Float32Array(rows);
  const heavyRuns = QUICK ? 3 : 7;

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

  const stores: [string, NestedWeights][] = [
    ['truncate', quantizeNested(w, { scheme: 'truncate' })],
    ['matquant', quantizeNested(w, { scheme: 'matquant' })],
  ];
  const wDense = stores[0]![1].dequantize(8).data;
  console.log(`\ndense float32 weight: ${((4 * n) / 1e6).toFixed(1)} MB`);
  for (const r of [2, 4, 8]) {
    for (const [name, nw] of stores) {
      const touched = nw.bytesRead(r) + 4 * cols;
      const cases: BenchCase[] = [
        { name: `gemv ${name} r=${r} (${nw.planesRead(r)} planes)`, fn: () => gemv(nw, x, r, y) },
      ];
      if (name === 'truncate') {
        cases.push({ name: 'dense f32 GEMV (same shape, 4 B/weight)', fn: () => denseGemv(wDense, x, rows, cols, y) });
        cases.push({ name: `gemvRef r=${r} (dequantize + dense)`, fn: () => gemvRef(nw, x, r) });
      }
      runGroup({
        title: `gemv ${name} [${rows}, ${cols}] level ${r}: ${(touched / 1e6).toFixed(2)} MB touched (planes + α,z + x) vs ${((4 * n) / 1e6).toFixed(1)} MB dense`,
        bytes: touched,
        elements: n,
        runs: heavyRuns,
        cases,
      });
    }
  }
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
}
