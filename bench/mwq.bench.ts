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

function timeMs(fn: () => unknown): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function med(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >>> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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
  const dres = await runGroup({
    title: `dense float32 GEMV [${rows}, ${cols}] (JS, 4 B per weight)`,
    bytes: 4 * n,
    elements: n,
    runs: heavyRuns,
    cases: [{ name: 'dense f32 GEMV (JS)', fn: () => denseGemv(wDense, x, rows, cols, y) }],
  });
  const dense = { ms: dres[1]!.medianS * 1e3, copyMs: dres[0]!.medianS * 1e3 };
  const summary: string[] = [];
  // plane bytes of up to 8 planes, for the same-process memcpy of the bytes each level reads
  const W = Math.ceil(n / 32);
  const src = new Uint8Array(8 * 4 * W);
  const dst = new Uint8Array(8 * 4 * W);
  for (let i = 0; i < src.length; i += 4096) src[i] = i & 255;
  const rounds = QUICK ? 2 : 7;
  const perRound = QUICK ? 2 : 5;
  for (const [name, nw] of stores) {
    // levels interleaved round by round (1 warm-up + `perRound` timed calls per backend per level), so that
    // load from other processes spreads over all levels instead of bending the line
    const t = new Map<number, { wasm: number[]; js: number[]; copy: number[] }>();
    for (const r of nw.levels) t.set(r, { wasm: [], js: [], copy: [] });
    for (let k = 0; k < rounds; k++) {
      for (const r of nw.levels) {
        const s = t.get(r)!;
        const bytes = nw.planesRead(r) * 4 * W;
        for (const [be, into] of [
          ['wasm', s.wasm],
          ['js', s.js],
        ] as const) {
          setKernelBackend(be);
          gemv(nw, x, r, y);
          for (let i = 0; i < perRound; i++) into.push(timeMs(() => gemv(nw, x, r, y)));
        }
        setKernelBackend('auto');
        const sv = src.subarray(0, bytes);
        const dv = dst.subarray(0, bytes);
        dv.set(sv);
        for (let i = 0; i < perRound; i++) s.copy.push(timeMs(() => dv.set(sv)));
      }
    }
    const pts = nw.levels.map((r) => {
      const s = t.get(r)!;
      const P = nw.planesRead(r);
      // table passes: one per plane read, plus the MatQuant clamp's AND pass below the top level
      const passes = P + (nw.variant === 'round-clamp' && r < nw.bits ? 1 : 0);
      return {
        r,
        P,
        passes,
        bytes: P * 4 * W,
        wasm: med(s.wasm),
        wasmMin: Math.min(...s.wasm),
        jsMin: Math.min(...s.js),
        js: med(s.js),
        copy: med(s.copy),
      };
    });
    summary.push(
      `\n## gemv ${name} [${rows}, ${cols}], group 128, x float32: time vs planes read — medians of ${rounds * perRound} calls per cell (${rounds} interleaved rounds); dense f32 GEMV (JS) ${dense.ms.toFixed(2)} ms, memcpy of its ${((4 * n) / 1e6).toFixed(1)} MB ${dense.copyMs.toFixed(2)} ms`,
    );
    summary.push(
      '| level r | planes read | table passes | plane MB | wasm ms | wasm min ms | wasm GB/s of plane bytes | wasm ms / pass | JS twin ms | JS ms / pass | wasm speed-up over JS | memcpy of the plane bytes ms | wasm ÷ memcpy time | dense f32 JS ÷ wasm time |',
    );
    summary.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const q of pts)
      summary.push(
        `| ${q.r} | ${q.P} | ${q.passes} | ${(q.bytes / 1e6).toFixed(2)} | ${q.wasm.toFixed(2)} | ${q.wasmMin.toFixed(2)} | ${(q.bytes / q.wasm / 1e6).toFixed(2)} | ${(q.wasm / q.passes).toFixed(2)} | ${q.js.toFixed(2)} | ${(q.js / q.passes).toFixed(2)} | ${(q.js / q.wasm).toFixed(1)}× | ${q.copy.toFixed(3)} | ${(q.wasm / q.copy).toFixed(1)} | ${(dense.ms / q.wasm).toFixed(2)} |`,
      );
    const label = { wasm: 'wasm medians', wasmMin: 'wasm minima', js: 'JS twin medians', jsMin: 'JS twin minima' };
    for (const k of ['wasm', 'wasmMin', 'js', 'jsMin'] as const) {
      const f = lsqFit(
        pts.map((q) => q.passes),
        pts.map((q) => q[k]),
      );
      summary.push(
        `\n${label[k]}: least squares ms = ${f.a.toFixed(3)} + ${f.b.toFixed(3)}·passes (R² ${f.r2.toFixed(4)}); largest deviation ${f.maxDev.toFixed(3)} ms (${(100 * f.maxRel).toFixed(1)}% of that point)`,
      );
    }
  }
  console.log(summary.join('\n'));
  if (process.env.LOWBIT_BENCH_MWQ === 'gemv') return;
  const nw0 = stores[0]![1];
  await runGroup({
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
    await runGroup({
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
  await runGroup({
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
  await runGroup({
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
