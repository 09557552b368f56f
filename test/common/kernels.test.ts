/**
 * Kernel backends: the wasm SIMD kernels are bit-identical to the JS kernels and to the `…Ref` twins
 * (KIVI keys/values quantize + dequantize, common affine float-zero-point quantize + dequantize) on
 * random inputs with ties, ±0, constant groups, subnormal/underflowing scales, ragged channel tails
 * (D not a multiple of 4), ragged affine groups, and sizes that span several 256 KB chunks; errors are
 * the same on both paths; the backend switch and feature detection behave as documented. MX/BFP block
 * encode/decode (mxfp4, mxfp8 e4m3/e5m2, bfp12, bfp16): random and edge inputs (ties between every pair
 * of neighbouring element values, every element code, ±0, float32 subnormals, values near the float32
 * max, NaN/±Inf blocks, ragged last blocks, odd block sizes, rows across chunks), and decoding of every
 * code byte under every scale byte.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type BlockFormat, elementTable, formatTraits } from '../../src/bfp/formats.js';
import { dequantizeBlocks, dequantizeBlocksRef, quantizeBlocks, quantizeBlocksRef } from '../../src/bfp/quantize.js';
import { dequantizeAffine, dequantizeAffineRef, quantizeAffine, quantizeAffineRef } from '../../src/common/affine.js';
import { isLowbitError } from '../../src/common/errors.js';
import {
  activeKernelBackend,
  getKernelBackend,
  type KernelBackend,
  loadKernels,
  setKernelBackend,
  WasmKernels,
  wasmKernels,
  wasmSimdSupported,
} from '../../src/common/kernels.js';
import { KERNELS_WASM_BASE64 } from '../../src/common/kernels-wasm.generated.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import {
  dequantize,
  dequantizeRef,
  type KiviBits,
  type QuantizedKeys,
  type QuantizedValues,
  quantizeKeys,
  quantizeKeysRef,
  quantizeValues,
  quantizeValuesRef,
} from '../../src/kivi/index.js';
import { fwht, fwhtRef } from '../../src/mambaquant/hadamard.js';
import { firstDiff, withBackend } from '../helpers/bits.js';
import { codedBlocks, expectDecodeTwins } from '../helpers/blocks.js';

afterEach(() => setKernelBackend('auto'));

/** Deterministic inputs with the hard cases mixed in (seeded LCG; values are exact float32). */
function sample(n: number, seed: number, kind: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const scale = [1, 1e-38, 3e37, 1e-3, 100][kind % 5]!;
  for (let i = 0; i < n; i++) {
    const u = next();
    if (u < 0.05) x[i] = 0;
    else if (u < 0.1) x[i] = -0;
    else if (u < 0.15)
      x[i] = 0.5 * scale; // repeated values: ties at group edges
    else if (u < 0.2) x[i] = -1.25 * scale;
    else x[i] = (next() * 2 - 1) * scale;
  }
  // some constant runs (constant groups -> scale 0)
  if (kind % 3 === 0) x.fill(0.75, 0, Math.min(n, 64));
  if (kind % 4 === 1) x.fill(-0, 0, Math.min(n, 64));
  return x;
}

const t = (data: Float32Array, shape: readonly number[]): Float32Tensor => ({ dtype: 'float32', data, shape });

const runWasm = wasmSimdSupported() ? it : it.skip;

/**
 * `quant` on the wasm backend equals it on the JS backend and the Ref's result `r`, byte for byte in each
 * of `fields`; returns the wasm result.
 */
function wasmJsRef<Q>(quant: () => Q, r: Q, fields: readonly (keyof Q)[]): Q {
  const w = withBackend('wasm', quant);
  const j = withBackend('js', quant);
  for (const q of [j, r])
    for (const f of fields) expect(firstDiff(w[f] as ArrayBufferView, q[f] as ArrayBufferView), String(f)).toBe(-1);
  return w;
}

/** What `fn` throws on the wasm and on the JS backend ('code: message', or 'none'), in that order. */
function errorsOnBoth(fn: () => unknown): [string, string] {
  const one = (b: 'wasm' | 'js'): string => {
    try {
      withBackend(b, fn);
      return 'none';
    } catch (e) {
      return isLowbitError(e) ? `${e.code}: ${e.message}` : String(e);
    }
  };
  return [one('wasm'), one('js')];
}

/**
 * `groups` groups of G ones with signed zeros in scan order: group 1 sees −0 then +0 (lanes 1 and 4),
 * group 2 +0 then −0, group 3 is −1 with −0 then +0 (a zero max); the rest stay ones.
 */
function signedZeroGroups(groups: number, G: number): Float32Array {
  const d = new Float32Array(groups * G).fill(1);
  d[G + 1] = -0;
  d[G + 4] = 0;
  d[2 * G + 1] = 0;
  d[2 * G + 4] = -0;
  d.fill(-1, 3 * G, 4 * G);
  d[3 * G + 2] = -0;
  d[3 * G + 7] = 0;
  return d;
}
describe('backend switch', () => {
  it('detects WebAssembly SIMD on this Node and resolves auto to wasm', () => {
    // Node 20 has WebAssembly SIMD; the module must validate here
    expect(wasmSimdSupported()).toBe(true);
    expect(getKernelBackend()).toBe('auto');
    expect(activeKernelBackend()).toBe('wasm');
    setKernelBackend('js');
    expect(activeKernelBackend()).toBe('js');
    expect(wasmKernels()).toBeNull();
    setKernelBackend('wasm');
    expect(activeKernelBackend()).toBe('wasm');
    expect(wasmKernels()).not.toBeNull();
  });

  runWasm('kernels report false (callers fall back to JS) when a chunk would not fit in 2 GB', () => {
    const wk = withBackend('wasm', () => wasmKernels())!;
    const f = new Float32Array(4);
    const u = new Uint32Array(4);
    expect(wk.kiviValuesQuant(f, 0, 1, 2 ** 29, 2, 16, 2 ** 127, u, 0, f, f, 0)).toBe(false);
    expect(wk.kiviValuesDequant(u, 0, f, f, 0, 1, 2 ** 29, 2, 16, f, 0)).toBe(false);
    expect(wk.kiviKeysQuant(f, 0, 16, 2 ** 26, 2, 16, 2 ** 127, u, 0, f, f, 0)).toBe(false);
    expect(wk.fwhtPow2(f, 0, 1, 2 ** 29, true, 1)).toBe(false);
    // memory still usable afterwards
    const x = t(sample(64, 1, 0), [2, 32]);
    expect(
      firstDiff(
        quantizeValues(x, { bits: 2, groupSize: 16 }).codes,
        quantizeValuesRef(x, { bits: 2, groupSize: 16 }).codes,
      ),
    ).toBe(-1);
  });

  it('rejects an unknown backend with E_CONFIG', () => {
    let err: unknown;
    try {
      setKernelBackend('gpu' as KernelBackend);
    } catch (e) {
      err = e;
    }
    expect(isLowbitError(err) && err.code === 'E_CONFIG').toBe(true);
    expect(getKernelBackend()).toBe('auto');
  });

  it('embeds the wasm module (magic number, version 1) and loadKernels resolves', async () => {
    const bin = atob(KERNELS_WASM_BASE64);
    expect([...bin.slice(0, 8)].map((c) => c.charCodeAt(0))).toEqual([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    await expect(loadKernels()).resolves.toBe(true);
  });
});

describe('KIVI: wasm = JS = Ref, bit for bit', () => {
  runWasm('keys: random shapes incl. D % 4 != 0, ties, ±0, constant and subnormal groups', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<KiviBits>(2, 4, 8),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: 0, max: 59 }),
        (bits, S, k, D, gm, seed, kind) => {
          const f = 32 / bits;
          const G = f * gm;
          const T = G * k;
          const x = t(sample(S * T * D, seed, kind), [S, T, D]);
          const copy = x.data.slice();
          const o = { bits, groupSize: G };
          const r = quantizeKeysRef(x, o);
          const w = wasmJsRef(() => quantizeKeys(x, o), r, ['codes', 'scales', 'mins']);
          expect(firstDiff(x.data, copy)).toBe(-1);
          const dw = withBackend('wasm', () => dequantize(w)).data;
          expect(firstDiff(dw, withBackend('js', () => dequantize(w)).data)).toBe(-1);
          expect(firstDiff(dw, dequantizeRef(w).data)).toBe(-1);
          // the kernel itself (not a silent fallback) produced these bytes
          const c = new Uint32Array(w.codes.length);
          const sc = new Float32Array(w.scales.length);
          const mn = new Float32Array(w.mins.length);
          const wk = withBackend('wasm', () => wasmKernels())!;
          for (let s = 0; s < S; s++)
            expect(
              wk.kiviKeysQuant(x.data, s * T * D, T, D, bits, G, 2 ** 127, c, (s * T * D) / f, sc, mn, (s * T * D) / G),
            ).toBe(true);
          expect(firstDiff(c, r.codes)).toBe(-1);
          expect(firstDiff(sc, r.scales)).toBe(-1);
          expect(firstDiff(mn, r.mins)).toBe(-1);
        },
      ),
      { numRuns: 150 },
    );
  });

  runWasm('values: random shapes, several groups per row, ties, ±0, constant and subnormal groups', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<KiviBits>(2, 4, 8),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 3 }),
        // G = 32 at every width (the tiled paths; 8 bits: also the 16-byte dequantize step at G = 16, 32)
        fc.constantFrom(1, 2, 3, 4, 8),
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: 0, max: 59 }),
        (bits, S, T, ng, gm, seed, kind) => {
          const G = (32 / bits) * gm;
          const D = G * ng;
          const x = t(sample(S * T * D, seed, kind), [S, T, D]);
          const o = { bits, groupSize: G };
          const r = quantizeValuesRef(x, o);
          const w = wasmJsRef(() => quantizeValues(x, o), r, ['codes', 'scales', 'mins']);
          const dw = withBackend('wasm', () => dequantize(w)).data;
          expect(firstDiff(dw, withBackend('js', () => dequantize(w)).data)).toBe(-1);
          expect(firstDiff(dw, dequantizeRef(w).data)).toBe(-1);
          const c = new Uint32Array(w.codes.length);
          const sc = new Float32Array(w.scales.length);
          const mn = new Float32Array(w.mins.length);
          const wk = withBackend('wasm', () => wasmKernels())!;
          expect(wk.kiviValuesQuant(x.data, 0, S * T, D, bits, G, 2 ** 127, c, 0, sc, mn, 0)).toBe(true);
          expect(firstDiff(c, r.codes)).toBe(-1);
          expect(firstDiff(sc, r.scales)).toBe(-1);
          expect(firstDiff(mn, r.mins)).toBe(-1);
          const out = new Float32Array(S * T * D);
          wk.kiviValuesDequant(r.codes, 0, sc, mn, 0, S * T, D, bits, G, out, 0);
          expect(firstDiff(out, dequantizeRef(r).data)).toBe(-1);
        },
      ),
      { numRuns: 150 },
    );
  });

  runWasm('min/max keep the first of −0/+0 like the sequential scan (zero across SIMD lanes)', () => {
    // values group of 16: lane 1 sees −0 first (index 1), lane 0 sees +0 later (index 4)
    const d = new Float32Array(16).fill(1);
    d[1] = -0;
    d[4] = 0;
    const x = t(d, [1, 16]);
    const o = { bits: 2 as const, groupSize: 16 };
    const w = withBackend('wasm', () => quantizeValues(x, o));
    expect(Object.is(w.mins[0], -0)).toBe(true);
    expect(firstDiff(w.mins, quantizeValuesRef(x, o).mins)).toBe(-1);
    d[1] = 0;
    d[4] = -0;
    const w2 = withBackend('wasm', () => quantizeValues(x, o));
    expect(Object.is(w2.mins[0], 0)).toBe(true);
    // the 4-groups-at-a-time path: the same patterns in groups 1 and 2 of 4, a zero max in group 3
    const d4 = signedZeroGroups(4, 16);
    const x4 = t(d4, [1, 64]);
    const w4 = withBackend('wasm', () => quantizeValues(x4, o));
    const r4 = quantizeValuesRef(x4, o);
    expect([Object.is(w4.mins[1], -0), Object.is(w4.mins[2], 0)]).toEqual([true, true]);
    expect(firstDiff(w4.mins, r4.mins)).toBe(-1);
    expect(firstDiff(w4.scales, r4.scales)).toBe(-1);
    expect(firstDiff(w4.codes, r4.codes)).toBe(-1);
  });

  runWasm('large tensors spanning several chunks (keys and values, bits 2, 4 and 8; values G 64 and 32)', () => {
    /** wasm = JS for one quantizer call: codes, metadata and the dequantized tensor. */
    const sameOnBoth = (quant: () => QuantizedKeys | QuantizedValues): void => {
      const w = withBackend('wasm', quant);
      const j = withBackend('js', quant);
      expect(firstDiff(w.codes, j.codes)).toBe(-1);
      expect(firstDiff(w.scales, j.scales)).toBe(-1);
      expect(firstDiff(w.mins, j.mins)).toBe(-1);
      expect(
        firstDiff(withBackend('wasm', () => dequantize(w)).data, withBackend('js', () => dequantize(w)).data),
      ).toBe(-1);
    };
    for (const bits of [2, 4, 8] as const) {
      const kx = t(sample(1 * 1024 * 80, 7 + bits, 0), [1, 1024, 80]);
      sameOnBoth(() => quantizeKeys(kx, { bits, groupSize: 32 }));
      const vx = t(sample(2 * 300 * 128, 11 + bits, 3), [2, 300, 128]);
      // G 64: the two-pass values path; G 32: the tiled one
      for (const groupSize of [64, 32]) sameOnBoth(() => quantizeValues(vx, { bits, groupSize }));
    }
  });

  runWasm('dequantizers across 1 M-element output chunks (KIVI keys / values 2 and 4-bit, affine)', () => {
    // WasmKernels.deqChunk: up to 2^20 output elements per call: ragged last chunks on every path
    for (const bits of [2, 4] as const) {
      const o = { bits, groupSize: 32 };
      const kx = t(sample(8224 * 130, 3 + bits, 0), [1, 8224, 130]);
      const vx = t(sample(2 * 4200 * 128, 5 + bits, 2), [2, 4200, 128]);
      for (const q of [quantizeKeys(kx, o), quantizeValues(vx, o)]) {
        const w = withBackend('wasm', () => dequantize(q)).data;
        expect(w.length).toBeGreaterThan(1 << 20);
        expect(firstDiff(w, withBackend('js', () => dequantize(q)).data)).toBe(-1);
      }
    }
    const a = quantizeAffine(t(sample(1100 * 1000, 9, 0), [1100, 1000]), { bits: 4, axis: 1, groupSize: 64 });
    expect(
      firstDiff(withBackend('wasm', () => dequantizeAffine(a)).data, withBackend('js', () => dequantizeAffine(a)).data),
    ).toBe(-1);
  });

  runWasm('the same errors on both paths (NaN, ±Inf, |x| ≥ 2^127)', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 127, -(2 ** 127)]) {
      for (const pos of [0, 5, 63, 64 + 17, 255]) {
        const d = sample(2 * 32 * 4, pos, 1);
        d[pos] = bad;
        const per = [
          () => quantizeKeys(t(d, [2, 32, 4]), { bits: 2, groupSize: 16 }),
          () => quantizeKeys(t(d.subarray(0, 160), [1, 32, 5]), { bits: 2, groupSize: 16 }),
          () => quantizeValues(t(d, [8, 32]), { bits: 2, groupSize: 16 }),
        ].map(errorsOnBoth);
        const codes = [per.map((e) => e[0]), per.map((e) => e[1])];
        expect(codes[0]).toEqual(codes[1]);
        expect(codes[0]![0]).toMatch(/^E_(NONFINITE|LIMIT)/);
        expect(codes[0]![2]).toMatch(/^E_(NONFINITE|LIMIT)/);
      }
    }
  });

  runWasm('values, G = 32 (tiles of 4 groups): zero signs, scale edges, ragged tiles, chunk boundaries, errors', () => {
    const o2 = { bits: 2 as const, groupSize: 32 };
    const o4 = { bits: 4 as const, groupSize: 32 };
    const same = (x: Float32Tensor): void => {
      for (const o of [o2, o4]) {
        const r = quantizeValuesRef(x, o);
        wasmJsRef(() => quantizeValues(x, o), r, ['codes', 'scales', 'mins']);
        // the kernel itself produced them (no silent fallback)
        const n = x.data.length;
        const c = new Uint32Array((n * o.bits) / 32);
        const sc = new Float32Array(n / 32);
        const mn = new Float32Array(n / 32);
        const D = x.shape[x.shape.length - 1]!;
        const wk = withBackend('wasm', () => wasmKernels())!;
        expect(wk.kiviValuesQuant(x.data, 0, n / D, D, o.bits, 32, 2 ** 127, c, 0, sc, mn, 0)).toBe(true);
        expect(firstDiff(c, r.codes)).toBe(-1);
        expect(firstDiff(sc, r.scales)).toBe(-1);
        expect(firstDiff(mn, r.mins)).toBe(-1);
      }
    };
    // one tile + a ragged tile of 3 groups: ±0 first in different lanes of groups 1..3 (zero fix-up),
    // scale edges (subnormal, 2^-126, >= 2^126 -> exact path), constant groups
    const d = signedZeroGroups(7, 32);
    const edges = [
      [0, 3 * 2 ** -149, 2 ** -149],
      [0, 3 * 2 ** -126, 2 ** -126],
      [-(2 ** 126.9), 2 ** 126.9, 2 ** 125],
    ];
    edges.forEach((e, k) => {
      for (let i = 0; i < 32; i++) d[(4 + k) * 32 + i] = e[(i * 5) % 3]!;
    });
    same(t(d, [1, 7 * 32]));
    same(t(d, [7, 32]));
    same(t(d.subarray(0, 128), [2, 64]));
    // random data over several chunks: 682 rows of 96 per chunk = 2046 groups (a ragged tile at each
    // chunk's end), and a constant-run / subnormal mix
    for (const kind of [0, 1, 3]) same(t(sample(700 * 96, 40 + kind, kind), [700, 96]));
    same(t(sample(5 * 4 * 32, 9, 2), [5, 4 * 32]));
    // non-finite or out-of-range elements in the first tile, a later tile (parameters run one tile
    // ahead) and the ragged tail: the same error on both paths
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 127]) {
      for (const pos of [0, 33, 127, 128 + 64 + 5, 6 * 32 + 31]) {
        const x = sample(7 * 32, pos, 0);
        x[pos] = bad;
        const got = errorsOnBoth(() => quantizeValues(t(x, [7, 32]), o4));
        expect(got[0]).toEqual(got[1]);
        expect(got[0]).toMatch(/^E_(NONFINITE|LIMIT)/);
      }
    }
  });

  runWasm('configurations the wasm path does not cover still agree (float16 metadata, stochastic)', () => {
    const x = t(sample(2 * 64 * 8, 3, 0), [2, 64, 8]);
    for (const o of [
      { bits: 4 as const, groupSize: 32, scaleDtype: 'float16' as const },
      { bits: 2 as const, groupSize: 32, rounding: { mode: 'stochastic' as const, seed: 5 } },
    ]) {
      const a = withBackend('wasm', () => quantizeKeys(x, o));
      const b = withBackend('js', () => quantizeKeys(x, o));
      expect(firstDiff(a.codes, b.codes)).toBe(-1);
      expect(firstDiff(withBackend('wasm', () => dequantize(a)).data, dequantizeRef(a).data)).toBe(-1);
    }
  });
});

describe('affine (float zero point): wasm = JS = Ref, bit for bit', () => {
  runWasm('random shapes, ragged groups, bits 1..8, last axis and flattened', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 70 }),
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: 0, max: 59 }),
        (bits, rows, len0, gs, flat, seed, kind) => {
          const x = t(sample(rows * len0, seed, kind), [rows, len0]);
          const o = flat
            ? { bits, ...(gs === undefined ? {} : { groupSize: gs }) }
            : { bits, axis: -1, ...(gs === undefined ? {} : { groupSize: gs }) };
          const r = quantizeAffineRef(x, o);
          const w = wasmJsRef(() => quantizeAffine(x, o), r, ['codes', 'scales', 'zeros']);
          const dw = withBackend('wasm', () => dequantizeAffine(w)).data;
          expect(firstDiff(dw, withBackend('js', () => dequantizeAffine(w)).data)).toBe(-1);
          expect(firstDiff(dw, dequantizeAffineRef(w).data)).toBe(-1);
          const lines = flat ? 1 : rows;
          const len = flat ? rows * len0 : len0;
          const g = gs ?? len;
          const c = new Uint8Array(rows * len0);
          const sc = new Float32Array(r.scales.length);
          const z = new Float32Array(r.zeros.length);
          const wk = withBackend('wasm', () => wasmKernels())!;
          expect(wk.affineFloatQuant(x.data, lines, len, g, 2 ** bits - 1, c, sc, z)).toBe(true);
          expect(firstDiff(c, r.codes)).toBe(-1);
          expect(firstDiff(sc, r.scales)).toBe(-1);
          expect(firstDiff(z, r.zeros)).toBe(-1);
        },
      ),
      { numRuns: 200 },
    );
  });

  runWasm('long lines and many short lines across chunk boundaries', () => {
    const cases: [number[], { bits: number; axis?: number; groupSize?: number }][] = [
      [[70001], { bits: 4, groupSize: 1000 }],
      [[1, 140000], { bits: 8, axis: -1, groupSize: 100000 }],
      [[1000, 100], { bits: 2, axis: 1, groupSize: 64 }],
      [[3, 70000], { bits: 3, axis: 1 }],
    ];
    for (const [shape, o] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = t(sample(n, n, 0), shape);
      const w = withBackend('wasm', () => quantizeAffine(x, o));
      const j = withBackend('js', () => quantizeAffine(x, o));
      expect(firstDiff(w.codes, j.codes)).toBe(-1);
      expect(firstDiff(w.scales, j.scales)).toBe(-1);
      expect(firstDiff(w.zeros, j.zeros)).toBe(-1);
      expect(
        firstDiff(
          withBackend('wasm', () => dequantizeAffine(w)).data,
          withBackend('js', () => dequantizeAffine(w)).data,
        ),
      ).toBe(-1);
    }
  });

  runWasm('the same errors on both paths (NaN, Inf, range overflow)', () => {
    for (const [i, v] of [
      [3, Number.NaN],
      [40, Number.POSITIVE_INFINITY],
      [0, Number.NEGATIVE_INFINITY],
    ] as const) {
      const d = sample(64, 9, 2);
      d[i] = v;
      const msg = errorsOnBoth(() => quantizeAffine(t(d, [2, 32]), { bits: 4, axis: 1 }));
      expect(msg[0]).toEqual(msg[1]);
      expect(msg[0]).toMatch(/^E_NONFINITE/);
    }
    const d = new Float32Array([3e38, -3e38, 1, 2]);
    const m = errorsOnBoth(() => quantizeAffine(t(d, [4]), { bits: 4 }));
    expect(m[0]).toEqual(m[1]);
    expect(m[0]).toMatch(/^E_NONFINITE/);
    // the same in a later strip of the kernel (strips of 2048 elements: lines 60 … of 100 here), where the
    // strips before it were already written
    for (const [i, v] of [
      [6001, Number.NaN],
      [9999, Number.POSITIVE_INFINITY],
      [7000, 3e38],
    ] as const) {
      const e = sample(100 * 100, 4, 0);
      e[i] = v;
      if (v === 3e38) e[i + 1] = -3e38; // (same group: its range overflows float32)
      const msg = errorsOnBoth(() => quantizeAffine(t(e, [100, 100]), { bits: 4, axis: 1, groupSize: 50 }));
      expect(msg[0]).toEqual(msg[1]);
      expect(msg[0]).toMatch(/^E_NONFINITE/);
    }
  });
});

describe('quantization codes: near-half quotients, NaN payloads, scale edges (multiply path + exact fallback)', () => {
  const f32 = new Float32Array(1);
  const i32 = new Int32Array(f32.buffer);
  /** The float32 `d` steps away from x (d > 0 up), across zero. */
  const stepF = (x: number, d: number): number => {
    f32[0] = x;
    const b = i32[0]!;
    const key = (b < 0 ? -(b & 0x7fffffff) : b) + d;
    i32[0] = key < 0 ? 0x80000000 | -key : key;
    return f32[0]!;
  };
  const rne = (v: number): number => v + 6755399441055744 - 6755399441055744;
  const fr = Math.fround;

  /**
   * One group [mn, mx, …] whose other elements x have the exact quotient t = f32(f32(x − mn) / s) at,
   * or one float32 step beside, a half-integer k + 0.5 (the division decides the code; a plain
   * multiply by f32(1/s) would round some of them the other way). Returns the group (shuffled) and
   * how many elements a plain multiply would code differently.
   */
  function nearHalfGroup(G: number, qmax: number, next: () => number): { g: Float32Array; naive: number } {
    const mn = fr(next() * 4 - 2);
    const s0 = fr(next() * 0.37 + 0.003);
    const mx = fr(mn + qmax * s0);
    const s = fr(fr(mx - mn) / qmax);
    const r = fr(1 / s);
    const g = new Float32Array(G);
    g[0] = mn;
    g[1] = mx;
    let naive = 0;
    for (let i = 2; i < G; i++) {
      const h = Math.floor(next() * qmax) + 0.5;
      const x0 = fr(mn + h * s);
      let pick = x0;
      let best = -1;
      for (let d = -48; d <= 48; d++) {
        const x = stepF(x0, d);
        if (x < mn || x > mx) continue;
        const tq = fr(fr(x - mn) / s);
        const near = tq === h || stepF(tq, 1) === h || stepF(tq, -1) === h;
        if (!near) continue;
        const differs = rne(Math.min(fr(fr(x - mn) * r), qmax)) !== rne(tq) ? 2 : tq === h ? 1 : 0;
        if (differs > best) {
          best = differs;
          pick = x;
        }
      }
      if (best === 2) naive++;
      g[i] = pick;
    }
    for (let i = G - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      const v = g[i]!;
      g[i] = g[j]!;
      g[j] = v;
    }
    return { g, naive };
  }

  const lcg = (seed: number): (() => number) => {
    let s = seed >>> 0 || 1;
    return () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 4294967296;
    };
  };

  runWasm('KIVI values and keys: codes at/next to k + 0.5 equal the dividing Ref (bits 2, 4, 8)', () => {
    for (const bits of [2, 4, 8] as KiviBits[]) {
      const qmax = 2 ** bits - 1;
      const G = 32;
      let naive = 0;
      for (let seed = 1; seed <= 6; seed++) {
        const next = lcg(seed * 97 + bits);
        // values: rows of D = 3 groups (ragged word tails: 3·32/f words per row)
        const D = 3 * G;
        const rows = 5;
        const v = new Float32Array(rows * D);
        for (let p = 0; p < rows * 3; p++) {
          const r = nearHalfGroup(G, qmax, next);
          v.set(r.g, p * G);
          naive += r.naive;
        }
        const ov = { bits, groupSize: G };
        const xv = t(v, [rows, D]);
        const wv = withBackend('wasm', () => quantizeValues(xv, ov));
        const rv = quantizeValuesRef(xv, ov);
        expect(firstDiff(wv.codes, rv.codes)).toBe(-1);
        expect(firstDiff(wv.scales, rv.scales)).toBe(-1);
        expect(firstDiff(withBackend('wasm', () => dequantize(wv)).data, dequantizeRef(rv).data)).toBe(-1);
        // keys: the same kind of groups along tokens, D = 7 channels (a scalar channel tail)
        const Dk = 7;
        const T = 2 * G;
        const k = new Float32Array(T * Dk);
        for (let grp = 0; grp < 2; grp++)
          for (let d = 0; d < Dk; d++) {
            const r = nearHalfGroup(G, qmax, next);
            naive += r.naive;
            for (let j = 0; j < G; j++) k[(grp * G + j) * Dk + d] = r.g[j]!;
          }
        const xk = t(k, [T, Dk]);
        const wk = withBackend('wasm', () => quantizeKeys(xk, ov));
        const rk = quantizeKeysRef(xk, ov);
        expect(firstDiff(wk.codes, rk.codes)).toBe(-1);
        expect(firstDiff(wk.scales, rk.scales)).toBe(-1);
        expect(firstDiff(withBackend('wasm', () => dequantize(wk)).data, dequantizeRef(rk).data)).toBe(-1);
      }
      // the inputs do reach the cases a plain multiply gets wrong (so this test can fail)
      expect(naive).toBeGreaterThan(20);
    }
  });

  runWasm('affine: codes at/next to k + 0.5 equal the dividing Ref (bits 1..8, ragged groups)', () => {
    for (let bits = 1; bits <= 8; bits++) {
      const qmax = 2 ** bits - 1;
      const next = lcg(1000 + bits);
      let naive = 0;
      const gs = 40; // 2 blocks of 16 + a scalar tail of 8
      const lines = 6;
      const x = new Float32Array(lines * gs);
      for (let l = 0; l < lines; l++) {
        const r = nearHalfGroup(gs, qmax, next);
        x.set(r.g, l * gs);
        naive += r.naive;
      }
      const o = { bits, axis: -1, groupSize: gs };
      const xt = t(x, [lines, gs]);
      const w = withBackend('wasm', () => quantizeAffine(xt, o));
      const r = quantizeAffineRef(xt, o);
      expect(firstDiff(w.codes, r.codes)).toBe(-1);
      expect(firstDiff(w.scales, r.scales)).toBe(-1);
      if (bits >= 2) expect(naive).toBeGreaterThan(5); // (every width from 2 bits runs a multiply path)
    }
  });

  runWasm('NaN with any payload, in any lane, also in constant groups and word tails, throws as in JS', () => {
    const nans = [0x7fc00000, 0x7f800001, 0x7fc00001, 0xffc00000, 0xffffffff, 0x7fbfffff];
    for (const bitsNaN of nans) {
      const nanF = new Float32Array(new Uint32Array([bitsNaN]).buffer)[0]!;
      for (const pos of [0, 1, 2, 3, 17, 47, 64 + 13, 95]) {
        for (const constant of [false, true]) {
          const d = constant ? new Float32Array(96).fill(0.5) : sample(96, pos + bitsNaN, 0);
          d[pos] = nanF;
          const run = (b: KernelBackend, which: string): string => {
            try {
              withBackend(b, () =>
                which === 'v2'
                  ? quantizeValues(t(d, [2, 48]), { bits: 2, groupSize: 16 })
                  : which === 'v8'
                    ? quantizeValues(t(d, [2, 48]), { bits: 8, groupSize: 16 })
                    : which === 'k4'
                      ? quantizeKeys(t(d, [16, 6]), { bits: 4, groupSize: 8 })
                      : quantizeAffine(t(d, [3, 32]), { bits: which === 'a3' ? 3 : 7, axis: -1 }),
              );
              return 'none';
            } catch (e) {
              return isLowbitError(e) ? e.code : String(e);
            }
          };
          for (const which of ['v2', 'v8', 'k4', 'a3', 'a7']) {
            expect(run('wasm', which)).toBe('E_NONFINITE');
            expect(run('js', which)).toBe('E_NONFINITE');
          }
        }
      }
    }
  });

  runWasm('scale edges: subnormal, smallest normal, ≥ 2^126, zero ranges, ±0 (quantize and dequantize)', () => {
    const groups: number[][] = [
      [0, 3 * 2 ** -149, 2 ** -149, 2 * 2 ** -149], // s subnormal: exact path for every lane
      [1e-40, -1e-40, 0, -0],
      [0, 3 * 2 ** -126, 2 ** -126, 1.5 * 2 ** -126], // s = 2^-126 exactly (multiply path)
      [0, 3 * 2 ** -126 * 0.999, 2 ** -127, 2 ** -126], // s just below 2^-126
      [-(2 ** 126.9), 2 ** 126.9, 0, 2 ** 125], // s ≥ 2^126 (2-bit): exact path
      [-1.7e38, 1.7e38, 1e38, -0.5e38],
      [0.75, 0.75, 0.75, 0.75], // zero range
      [-0, 0, -0, 0],
      [0, -0, 0, -0],
    ];
    for (const bits of [2, 4, 8] as KiviBits[]) {
      for (const grp of groups) {
        // values: groups of 16 made of the 4-value pattern repeated (with its order varied)
        const row: number[] = [];
        for (let i = 0; i < 16; i++) row.push(grp[(i * 3) % 4]!);
        const d = new Float32Array([...row, ...row.slice().reverse(), ...row]);
        const ov = { bits, groupSize: 16 };
        const xv = t(d, [3, 16]);
        const wv = withBackend('wasm', () => quantizeValues(xv, ov));
        const rv = quantizeValuesRef(xv, ov);
        expect(firstDiff(wv.codes, rv.codes)).toBe(-1);
        expect(firstDiff(wv.scales, rv.scales)).toBe(-1);
        expect(firstDiff(wv.mins, rv.mins)).toBe(-1);
        expect(firstDiff(withBackend('wasm', () => dequantize(wv)).data, dequantizeRef(rv).data)).toBe(-1);
        const xk = t(d, [16, 3]);
        const wk = withBackend('wasm', () => quantizeKeys(xk, ov));
        const rk = quantizeKeysRef(xk, ov);
        expect(firstDiff(wk.codes, rk.codes)).toBe(-1);
        expect(firstDiff(wk.mins, rk.mins)).toBe(-1);
        expect(firstDiff(withBackend('wasm', () => dequantize(wk)).data, dequantizeRef(rk).data)).toBe(-1);
        const xa = t(d, [48]);
        const oa = { bits, groupSize: 16 };
        const wa = withBackend('wasm', () => quantizeAffine(xa, oa));
        const ra = quantizeAffineRef(xa, oa);
        expect(firstDiff(wa.codes, ra.codes)).toBe(-1);
        expect(firstDiff(wa.zeros, ra.zeros)).toBe(-1);
        expect(firstDiff(withBackend('wasm', () => dequantizeAffine(wa)).data, dequantizeAffineRef(ra).data)).toBe(-1);
      }
    }
  });

  runWasm('dequantize with scales the fast path cannot pre-scale exactly (|s| < 2^-120) or non-finite', () => {
    const same = (a: Float32Array, b: Float32Array): boolean =>
      a.every((v, i) => Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i]!)));
    const specials = [1e-40, -1e-40, 2 ** -121, -(2 ** -120), 2 ** -119, 0, -0, 3e38, Number.POSITIVE_INFINITY];
    for (const bits of [2, 4, 8] as KiviBits[]) {
      const f = 32 / bits;
      const G = 2 * f;
      const D = 3 * G; // 6 words per row: 4-word steps and word tails
      const rows = 4;
      const nG = (rows * D) / G;
      const next = lcg(bits * 7);
      const codes = new Uint32Array((rows * D) / f).map(() => Math.floor(next() * 2 ** 32));
      const scales = new Float32Array(nG).map((_, i) => specials[i % specials.length]!);
      // tiny scales with zero mins, so that the products are not absorbed by the add
      const mins = new Float32Array(nG).map((_, i) =>
        Math.abs(scales[i]!) < 1e-30 ? (i % 2 ? 0 : -0) : next() * 4 - 2,
      );
      const qv = {
        kind: 'values' as const,
        codes,
        scales,
        mins,
        shape: [rows, D],
        bits,
        groupSize: G,
        scaleDtype: 'float32' as const,
      };
      const a = withBackend('wasm', () => dequantize(qv)).data;
      expect(same(a, withBackend('js', () => dequantize(qv)).data)).toBe(true);
      expect(same(a, dequantizeRef(qv).data)).toBe(true);
      const qk = {
        ...qv,
        kind: 'keys' as const,
        shape: [2 * G, 5],
        codes: codes.subarray(0, 2 * 2 * 5),
        scales: scales.subarray(0, 10),
        mins: mins.subarray(0, 10),
      };
      const b = withBackend('wasm', () => dequantize(qk)).data;
      expect(same(b, dequantizeRef(qk).data)).toBe(true);
    }
  });

  it('KIVI and affine on bfloat16 / float16-grid data (many quotients exactly at k + 0.5: the vector exact paths) equal the Ref', () => {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    /** x rounded to 8 (bfloat16) or 11 (float16) significant bits, half-even. */
    const grid = (x: number, bits: number): number => {
      f[0] = x;
      const drop = 24 - bits;
      const b = u[0]!;
      const lo = b & ((1 << drop) - 1);
      const half = 1 << (drop - 1);
      const up = lo > half || (lo === half && ((b >>> drop) & 1) === 1);
      u[0] = (((b >>> drop) + (up ? 1 : 0)) << drop) >>> 0;
      return f[0]!;
    };
    fc.assert(
      fc.property(
        fc.constantFrom<KiviBits>(2, 4, 8),
        fc.constantFrom(8, 11),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 1 << 30 }),
        (bits, sig, groups, seed) => {
          let st = seed;
          const rnd = (): number => {
            st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
            return st / 4294967296;
          };
          const D = 64;
          const T = 32 * groups;
          const d = new Float32Array(T * D);
          for (let i = 0; i < d.length; i++) d[i] = grid((rnd() * 2 - 1) * 3 * (1 + (i % 7)), sig);
          const x: Float32Tensor = { dtype: 'float32', data: d, shape: [T, D] };
          const o = { bits, groupSize: 32 };
          for (const [q, ref] of [
            [quantizeValues, quantizeValuesRef],
            [quantizeKeys, quantizeKeysRef],
          ] as const) {
            const a = withBackend('wasm', () => q(x, o));
            const r = ref(x, o);
            expect(firstDiff(a.codes, r.codes)).toBe(-1);
            expect(firstDiff(a.scales, r.scales)).toBe(-1);
          }
          // the affine quantizer's exact path too (groups of 64 / 40 along the last axis: a ragged group)
          for (const gs of [64, 40]) {
            const ao = { bits: bits === 8 ? 3 : bits, axis: -1, groupSize: gs };
            const a = withBackend('wasm', () => quantizeAffine(x, ao));
            const r = quantizeAffineRef(x, ao);
            expect(firstDiff(a.codes, r.codes)).toBe(-1);
            expect(firstDiff(a.zeros, r.zeros)).toBe(-1);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('FWHT (n = 2^k): wasm = JS = Ref, bit for bit', () => {
  runWasm('random rows, n = 4 … 8192, normalized or not, transpose', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 13 }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: 0, max: 59 }),
        (k, rows, normalize, transpose, seed, kind) => {
          const n = 2 ** k;
          const x = t(sample(rows * n, seed, kind), [rows, n]);
          const o = { normalize, transpose };
          const w = withBackend('wasm', () => fwht(t(x.data.slice(), x.shape), o)).data;
          const j = withBackend('js', () => fwht(t(x.data.slice(), x.shape), o)).data;
          expect(firstDiff(w, j)).toBe(-1);
          expect(firstDiff(w, fwhtRef(x, o).data)).toBe(-1);
          // the kernel itself
          const d = x.data.slice();
          withBackend('wasm', () => wasmKernels())!.fwhtPow2(
            d,
            0,
            rows,
            n,
            normalize,
            normalize ? 1 / Math.sqrt(n) : 1,
          );
          expect(firstDiff(d, j)).toBe(-1);
        },
      ),
      { numRuns: 60 },
    );
  });

  runWasm('many rows across chunks (n = 4096 and 128)', () => {
    for (const n of [4096, 128]) {
      const rows = 70000 / n + 3;
      const x = sample(Math.floor(rows) * n, n, 0);
      const shape = [Math.floor(rows), n];
      const w = withBackend('wasm', () => fwht(t(x.slice(), shape))).data;
      const j = withBackend('js', () => fwht(t(x.slice(), shape))).data;
      expect(firstDiff(w, j)).toBe(-1);
    }
  });
});

describe('MX/BFP blocks: wasm = JS = Ref, bit for bit', () => {
  const FORMATS: BlockFormat[] = ['mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2', 'bfp12', 'bfp16'];

  /** Quantize + dequantize on both backends (and the Ref twins when small); all bytes must agree. */
  function agree(x: Float32Array, shape: number[], format: BlockFormat, blockSize: number, ref: boolean): void {
    const opts = { format, blockSize };
    const w = withBackend('wasm', () => quantizeBlocks(t(x, shape), opts));
    const j = withBackend('js', () => quantizeBlocks(t(x, shape), opts));
    const ctx = `${JSON.stringify(format)} [${shape.join(', ')}] bs ${blockSize}`;
    expect(firstDiff(w.scales, j.scales), ctx).toBe(-1);
    expect(firstDiff(w.codes, j.codes), ctx).toBe(-1);
    const yw = withBackend('wasm', () => dequantizeBlocks(w)).data;
    const yj = withBackend('js', () => dequantizeBlocks(w)).data;
    expect(firstDiff(yw, yj), ctx).toBe(-1);
    if (ref) {
      const r = quantizeBlocksRef(t(x, shape), opts);
      expect(firstDiff(w.scales, r.scales), ctx).toBe(-1);
      expect(firstDiff(w.codes, r.codes), ctx).toBe(-1);
      expect(firstDiff(yw, dequantizeBlocksRef(w).data), ctx).toBe(-1);
    }
  }

  /** Blocks of 32 holding ±(every finite element value and every midpoint between neighbours) · 2^k. */
  function everyCode(format: BlockFormat, k: number): Float32Array {
    const tr = formatTraits(format);
    const tab = elementTable(format);
    const vals = [...new Set(Array.from(tab).filter((v) => Number.isFinite(v) && v >= 0 && v <= tr.maxNormal))].sort(
      (a, b) => a - b,
    );
    const body: number[] = [];
    for (let i = 0; i < vals.length; i++) {
      body.push(vals[i]!, -vals[i]!);
      if (i + 1 < vals.length) body.push((vals[i]! + vals[i + 1]!) / 2, -(vals[i]! + vals[i + 1]!) / 2);
    }
    // beyond the top: saturates
    body.push(tr.maxNormal * 1.75, -tr.maxNormal * 1.999);
    const per = 31;
    const nBlocks = Math.ceil(body.length / per);
    const x = new Float32Array(nBlocks * 32);
    for (let b = 0; b < nBlocks; b++) {
      x[b * 32] = tr.maxNormal * 2 ** k; // fixes the shared exponent at k
      for (let i = 0; i < per; i++) x[b * 32 + 1 + i] = (body[b * per + i] ?? 0) * 2 ** k;
    }
    return x;
  }

  runWasm('the wasm kernels run for the covered configurations (not a silent fallback)', () => {
    const enc = vi.spyOn(WasmKernels.prototype, 'mxEncode');
    const dec = vi.spyOn(WasmKernels.prototype, 'mxDecode');
    try {
      for (const format of FORMATS)
        withBackend('wasm', () => dequantizeBlocks(quantizeBlocks(t(sample(64, 1, 0), [2, 32]), { format })));
      expect(enc).toHaveBeenCalledTimes(FORMATS.length);
      expect(dec).toHaveBeenCalledTimes(FORMATS.length);
      for (const r of enc.mock.results) expect(r.value).toBe(true);
      for (const r of dec.mock.results) expect(r.value).toBe(true);
    } finally {
      enc.mockRestore();
      dec.mockRestore();
    }
  });

  runWasm('every element code and every tie between neighbouring codes, at many shared exponents', () => {
    for (const format of FORMATS)
      for (const k of [0, -3, 7, -126, -130, -140, 100, 120]) {
        const x = everyCode(format, k);
        agree(x, [x.length / 32, 32], format, 32, true);
        // the same values in odd-sized blocks (the scale differs per block)
        agree(x, [x.length / 32, 32], format, 9, true);
      }
  });

  runWasm('random inputs with ±0, ties, subnormals, huge values, NaN/±Inf blocks, ragged last blocks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: FORMATS.length - 1 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 90 }),
        fc.constantFrom(1, 2, 7, 16, 32, 33, 64),
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: 0, max: 59 }),
        (fi, rows, half, blockSize, seed, kind) => {
          const len = 2 * half; // even: 4-bit rows start on a byte (odd lengths fall back to JS)
          const x = sample(rows * len, seed, kind);
          const r = seed % 7;
          if (r === 0) x[seed % x.length] = Number.NaN;
          if (r === 1) x[seed % x.length] = -Number.POSITIVE_INFINITY;
          if (r === 2) x[seed % x.length] = 3.4e38;
          if (r === 3) x[seed % x.length] = -1e-45;
          if (r === 4) x[seed % x.length] = 1.17e-38;
          agree(x, [rows, len], FORMATS[fi]!, blockSize, true);
        },
      ),
      { numRuns: 150 },
    );
  });

  runWasm('odd row lengths and other formats match too (JS fallback inside the same call)', () => {
    for (const format of [...FORMATS, 'mxint8', 'mxfp6_e3m2'] as BlockFormat[]) {
      agree(sample(5 * 37, 3, 1), [5, 37], format, 32, true);
      agree(sample(64 * 3, 4, 2), [64, 3], format, 8, true);
    }
  });

  runWasm('rows across chunks, and rows longer than a chunk (odd block size)', () => {
    for (const format of FORMATS) {
      agree(sample(40 * 4100, 5, 0), [40, 4100], format, 32, false);
      agree(sample(2 * 131078, 6, 3), [2, 131078], format, 7, false);
      agree(sample(131072 + 34, 7, 4), [131072 + 34], format, 32, false);
    }
  });

  runWasm('decode: every code byte under every scale byte (NaN/Inf codes, −0 codes, 0xFF blocks)', () => {
    for (const format of FORMATS) {
      const w = formatTraits(format).elementBits;
      const nCodes = 2 ** w;
      // len = nCodes + 2: ragged last blocks; bs = 7, odd: 4-bit blocks start on either nibble
      const b = codedBlocks(
        format,
        256,
        nCodes + 2,
        7,
        (r, i) => (i + r) % nCodes,
        (j) => j % 256,
      );
      expectDecodeTwins(b, String(format));
    }
  });
});
