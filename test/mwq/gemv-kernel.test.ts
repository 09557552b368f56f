/**
 * Bit-plane GEMV kernel: the wasm SIMD kernel (`gemvPrep`/`gemvRows`) equals its JS twin
 * (`gemvLutPrep`/`gemvLutRows`) bit for bit — every scheme and variant, every bit width 2..8 and every
 * level served, aligned and ragged geometries (in and groupSize not multiples of 8), row counts 1..odd,
 * several row chunks and column tiles, zero groups, ±0, NaN/±Inf in x, gemm with B vectors — and both
 * agree with the dense reference gemvRef to float32 rounding.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setKernelBackend, WasmKernels, wasmSimdSupported } from '../../src/common/kernels.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import {
  type BitPlanes,
  gemm,
  gemv,
  gemvRef,
  type NestedOptions,
  NestedWeights,
  quantizeNested,
} from '../../src/mwq/index.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function vec(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() - 0.5) * scale;
  return out;
}

type Variant = BitPlanes['variant'];
const SLICING: [BitPlanes['scheme'], Variant][] = [
  ['matquant', 'round-clamp'],
  ['matquant', 'round-noclamp'],
  ['truncate', 'trunc-mid'],
  ['truncate', 'trunc'],
];

/**
 * A store with random planes and metadata (every bit pattern occurs), some all-zero groups (α = z = 0),
 * zero and negative zero points; residual stores get random base/level scales.
 */
function randomStore(
  scheme: BitPlanes['scheme'],
  variant: Variant,
  bits: number,
  baseBits: number,
  rows: number,
  cols: number,
  G: number,
  seed: number,
): NestedWeights {
  const r = rng(seed);
  const n = rows * cols;
  const W = Math.ceil(n / 32);
  const planes: Uint32Array[] = [];
  for (let p = 0; p < bits; p++) {
    const pl = new Uint32Array(W);
    for (let w = 0; w < W; w++) pl[w] = Math.floor(r() * 2 ** 32) >>> 0;
    if ((n & 31) !== 0) pl[W - 1] = pl[W - 1]! & ((1 << (n & 31)) - 1);
    planes.push(pl);
  }
  const nG = n / G;
  const scales = new Float32Array(nG);
  const zeros = new Float32Array(nG);
  for (let g = 0; g < nG; g++) {
    if (g % 7 === 3) continue; // all-zero group
    scales[g] = r() * 0.01;
    zeros[g] = scheme === 'residual' ? (r() - 0.5) * 4 : Math.floor(r() * 2 ** bits) - (g % 5 === 0 ? 2 ** bits : 0);
  }
  const levelScales: Float32Array[] = [];
  if (scheme === 'residual') for (let l = 0; l < bits - baseBits; l++) levelScales.push(vec(nG, seed + 17 * l, 0.004));
  return NestedWeights.fromBitPlanes({
    scheme,
    variant,
    base: 'minmax',
    shape: [rows, cols],
    bits,
    baseBits,
    groupSize: G,
    planes,
    scales,
    zeros,
    levelScales,
  });
}

function on<T>(backend: 'js' | 'wasm', f: () => T): T {
  setKernelBackend(backend);
  try {
    return f();
  } finally {
    setKernelBackend('auto');
  }
}

/** Bit-for-bit equality of float32 arrays (any NaN equals any NaN: wasm may canonicalise payloads). */
function expectSameBits(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length, what).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)) continue;
    if (ua[i] !== ub[i])
      expect(`${what} [${i}]: ${a[i]} (0x${ua[i]!.toString(16)})`).toBe(`${b[i]} (0x${ub[i]!.toString(16)})`);
  }
}

/** |y − yRef| ≤ 2^-20·Σ|ŵ||x| + 2^-23·|yRef| (summation order and float32 rounding of ŵ only). */
function expectClose(nw: NestedWeights, r: number, x: Float32Array, y: Float32Array, what: string): void {
  const [rows, cols] = nw.shape;
  const w = nw.dequantize(r).data;
  const yRef = gemvRef(nw, x, r);
  for (let o = 0; o < rows; o++) {
    let mag = 0;
    for (let i = 0; i < cols; i++) mag += Math.abs(w[o * cols + i]! * x[i]!);
    const d = Math.abs(y[o]! - yRef[o]!);
    if (!(d <= 2 ** -20 * mag + 2 ** -23 * Math.abs(yRef[o]!) + 1e-30))
      expect(`${what} row ${o}: ${y[o]} vs ${yRef[o]}`).toBe('within tolerance');
  }
}

/** [rows, cols, G]: aligned (cols, G multiples of 8) and ragged (in or G not a multiple of 8) geometries. */
const SHAPES: [number, number, number][] = [
  [1, 8, 8],
  [3, 64, 16],
  [5, 128, 128],
  [7, 256, 32],
  [2, 24, 12],
  [3, 45, 9],
  [1, 13, 13],
  [9, 40, 5],
  [4, 21, 3],
  [6, 100, 20],
  [33, 31, 31],
  [11, 520, 40],
];

const runWasm = wasmSimdSupported() ? it : it.skip;

describe('bit-plane GEMV kernel: wasm SIMD = JS twin', () => {
  afterEach(() => {
    setKernelBackend('auto');
    vi.restoreAllMocks();
  });

  runWasm('the wasm kernel runs (no silent fallback) and matches the JS twin on random planes, every level', () => {
    const spy = vi.spyOn(WasmKernels.prototype, 'gemvBitPlanes');
    let seed = 1;
    for (const [rows, cols, G] of SHAPES) {
      for (let bits = 2; bits <= 8; bits++) {
        const stores: NestedWeights[] = SLICING.map(([s, v]) => randomStore(s, v, bits, bits, rows, cols, G, seed++));
        for (let bb = 2; bb <= bits; bb++)
          stores.push(randomStore('residual', 'residual', bits, bb, rows, cols, G, seed++));
        const x = vec(cols, seed++, 4);
        x[0] = -0;
        for (const nw of stores) {
          for (const r of nw.levels) {
            const what = `${nw.variant} bits ${bits} base ${nw.data.baseBits} r ${r} [${rows}, ${cols}] G ${G}`;
            const yw = on('wasm', () => gemv(nw, x, r));
            const yj = on('js', () => gemv(nw, x, r));
            expectSameBits(yw, yj, what);
            if (bits === 8 || bits === 3) expectClose(nw, r, x, yj, what);
          }
        }
      }
    }
    expect(spy).toHaveBeenCalled();
    for (const res of spy.mock.results) expect(res.value).toBe(true);
  });

  runWasm('quantized stores of every scheme: wasm = JS bit for bit, both ≈ gemvRef', () => {
    const opts: NestedOptions[] = [
      { scheme: 'matquant', bits: 8 },
      { scheme: 'matquant', variant: 'round-noclamp', bits: 6 },
      { scheme: 'truncate', bits: 8 },
      { scheme: 'truncate', variant: 'trunc', bits: 4 },
      { scheme: 'residual', bits: 8, baseBits: 2 },
      { scheme: 'residual', bits: 5, baseBits: 3, base: 'midrise', planeScales: 'pow2' },
    ];
    for (const [rows, cols, G] of [
      [13, 256, 64],
      [5, 90, 15],
      [4, 36, 12],
    ] as const) {
      const w: Float32Tensor = { dtype: 'float32', data: vec(rows * cols, rows + cols, 0.3), shape: [rows, cols] };
      const x = vec(cols, 99, 2);
      for (const o of opts) {
        const nw = quantizeNested(w, { ...o, groupSize: G });
        for (const r of nw.levels) {
          const what = `${o.scheme}/${nw.variant} r ${r} [${rows}, ${cols}] G ${G}`;
          const yw = on('wasm', () => gemv(nw, x, r));
          expectSameBits(
            yw,
            on('js', () => gemv(nw, x, r)),
            what,
          );
          expectClose(nw, r, x, yw, what);
        }
      }
    }
  });

  runWasm('several row chunks and column tiles (aligned and ragged), gemm with B vectors', () => {
    for (const [rows, cols, G, scheme, variant, baseBits] of [
      [70, 8200, 40, 'matquant', 'round-clamp', 8],
      [67, 8205, 15, 'truncate', 'trunc-mid', 8],
      [40, 4096, 128, 'truncate', 'trunc', 8],
      [65, 8200, 8, 'residual', 'residual', 3],
    ] as const) {
      const nw = randomStore(scheme, variant, 8, baseBits, rows, cols, G, rows);
      const x = vec(cols, cols, 3);
      for (const r of [3, 5, 8]) {
        expectSameBits(
          on('wasm', () => gemv(nw, x, r)),
          on('js', () => gemv(nw, x, r)),
          `${variant} r ${r} [${rows}, ${cols}] G ${G}`,
        );
      }
      const B = 3;
      const X: Float32Tensor = { dtype: 'float32', data: vec(B * cols, 5, 2), shape: [B, cols] };
      const Yw = on('wasm', () => gemm(nw, X, 4)).data;
      expectSameBits(Yw, on('js', () => gemm(nw, X, 4)).data, `gemm ${variant}`);
      for (let b = 0; b < B; b++)
        expectSameBits(
          Yw.subarray(b * rows, (b + 1) * rows),
          on('wasm', () => gemv(nw, X.data.subarray(b * cols, (b + 1) * cols), 4)),
          `gemm row ${b} = gemv`,
        );
    }
  });

  runWasm('the summation order is part of the contract: inputs whose f64 sums round show any reordering', () => {
    // column bytes j ≡ 0 (mod 4) carry +2^60 and j ≡ 2 carry −2^60 at their first column, set in every
    // plane, so the accumulators a0/a2 of every group hold ±2^60 and absorb a1/a3 only in the defined
    // order (a0 + a1) + (a2 + a3); a different order, accumulator assignment or table layout changes y
    let seed = 5;
    for (const [rows, cols, G] of [
      [3, 256, 32],
      [2, 384, 128],
      [4, 192, 64],
    ] as const) {
      for (const [s, v] of [...SLICING, ['residual', 'residual'] as const]) {
        const bits = 8;
        const nw0 = randomStore(s, v, bits, s === 'residual' ? 3 : bits, rows, cols, G, seed++);
        const bp = nw0.toBitPlanes();
        for (const pl of bp.planes)
          for (let o = 0; o < rows; o++)
            for (let j = 0; j < cols / 8; j += 2) {
              const e = o * cols + 8 * j;
              pl[e >>> 5] = (pl[e >>> 5]! | (1 << (e & 31))) >>> 0;
            }
        const nw = NestedWeights.fromBitPlanes(bp);
        const x = vec(cols, seed++, 2);
        for (let j = 0; j < cols / 8; j += 2) x[8 * j] = (j & 2) === 0 ? 2 ** 60 : -(2 ** 60);
        for (const r of nw.levels) {
          const yw = on('wasm', () => gemv(nw, x, r));
          expectSameBits(
            yw,
            on('js', () => gemv(nw, x, r)),
            `${v} r ${r} [${rows}, ${cols}] G ${G}`,
          );
        }
      }
    }
  });

  runWasm('NaN / ±Inf in x propagate identically; all-zero weights give +0; inputs are not mutated', () => {
    for (const [rows, cols, G] of [
      [4, 64, 16],
      [3, 45, 9],
    ] as const) {
      for (const [s, v] of SLICING) {
        const nw = randomStore(s, v, 6, 6, rows, cols, G, 7);
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          const x = vec(cols, 3);
          x[cols - 2] = bad;
          const xc = x.slice();
          for (const r of nw.levels) {
            const yw = on('wasm', () => gemv(nw, x, r));
            const yj = on('js', () => gemv(nw, x, r));
            expectSameBits(yw, yj, `${v} x has ${bad}, r ${r}`);
            if (Number.isNaN(bad)) for (const y of yw) expect(Number.isNaN(y)).toBe(true);
          }
          expect(x).toEqual(xc);
        }
      }
      // all-zero weight (α = z = 0 in every group) → exactly +0 on both paths
      const z = quantizeNested(
        { dtype: 'float32', data: new Float32Array(rows * cols), shape: [rows, cols] },
        { scheme: 'matquant', bits: 4, groupSize: G },
      );
      const x = vec(cols, 4);
      for (const r of z.levels) {
        const yw = on('wasm', () => gemv(z, x, r));
        expectSameBits(
          yw,
          on('js', () => gemv(z, x, r)),
          'zero weight',
        );
        expect(Array.from(yw, (v) => Object.is(v, 0))).toEqual(new Array(rows).fill(true));
      }
    }
  });
});
