/**
 * Fused attention on packed codes: the WebAssembly SIMD twin (wasm/assembly/attn.ts) equals the JS
 * kernel bit for bit — key/value bits 2/4/8, several key and value group sizes, head dims down to 4
 * (incl. ones that leave a ragged vector of value words), T ragged against G and R, GQA ratios 1–8,
 * causal rows with partial windows and non-causal ones, an empty quantized part, zero-range groups,
 * float16 metadata, subnormal products, ring wrap of the residual values, tiling of the query rows —
 * and both stay within 1e-5 (relative to the largest output) of the dense float64 reference on the
 * dequantized cache.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { setKernelBackend, wasmKernels, wasmSimdSupported } from '../../src/common/kernels.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { attendArgs, attendKernel, createScratch, expNeg, softmaxRow } from '../../src/kivi/attention.js';
import { normalizeCacheConfig, PLAIN_ARRAYS } from '../../src/kivi/config.js';
import { attendDenseRef, type KiviBits, KiviCache, type KiviCacheConfig } from '../../src/kivi/index.js';
import { createState, pushTokens } from '../../src/kivi/state.js';
import { firstDiff } from '../helpers/bits.js';

afterEach(() => setKernelBackend('auto'));

const t32 = (data: Float32Array, shape: number[]): Float32Tensor => ({ dtype: 'float32', data, shape });
const u32 = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Deterministic data `[H, T, D]`; `kind` mixes in the hard cases. */
function data(H: number, T: number, D: number, seed: number, kind = 0): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(H * T * D);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    let v = (s / 2 ** 32 - 0.5) * 4 + (i % D === 3 ? 6 : 0);
    const d = i % D;
    const t = ((i / D) | 0) % T;
    if (kind === 1 && d % 3 === 0) v = 0.5 + (d % 7) * 0.25; // constant channels: zero-range key groups
    if (kind === 2 && t % 4 === 1) v = -2.25; // constant tokens: zero-range value groups
    if (kind === 3) v *= 1e-21; // products of q·scale·code underflow into float32 subnormals
    if (kind === 4) v = Math.trunc(v * 2) / 2; // many exact ties and repeated values
    out[i] = v;
  }
  return out;
}

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return den === 0 ? num : num / den;
}

interface Case {
  cfg: KiviCacheConfig;
  heads: number;
  T: number;
  m: number;
  causal: boolean;
  kind: number;
  seed: number;
  /** Tokens appended before the rest arrive one by one (ring wrap, flushes between attends). */
  prefill: number;
}

/** Fill a cache as the case says; returns it and the query. */
function build(c: Case): { cache: KiviCache; q: Float32Tensor } {
  const { kvHeads: H, headDim: D } = c.cfg;
  const cache = new KiviCache(c.cfg);
  const k = data(H, c.T, D, c.seed, c.kind);
  const v = data(H, c.T, D, c.seed + 1, c.kind);
  const slice = (x: Float32Array, t0: number, t1: number) => {
    const out = new Float32Array(H * (t1 - t0) * D);
    for (let h = 0; h < H; h++) out.set(x.subarray((h * c.T + t0) * D, (h * c.T + t1) * D), h * (t1 - t0) * D);
    return t32(out, [H, t1 - t0, D]);
  };
  const p = Math.min(c.prefill, c.T);
  if (p > 0) cache.append(slice(k, 0, p), slice(v, 0, p));
  for (let t = p; t < c.T; t++) cache.append(slice(k, t, t + 1), slice(v, t, t + 1));
  const q = t32(data(c.heads, c.m, D, c.seed + 2, c.kind === 3 ? 0 : c.kind), [c.heads, c.m, D]);
  return { cache, q };
}

/** JS and wasm outputs of the public `attend`, and the dense reference. */
function run(c: Case): { js: Float32Array; wasm: Float32Array; ref: Float32Array } {
  const { cache, q } = build(c);
  const before = cache.serialize();
  const qCopy = q.data.slice();
  setKernelBackend('js');
  const js = cache.attend(q, { causal: c.causal }).data;
  setKernelBackend('wasm');
  const wasm = cache.attend(q, { causal: c.causal }).data;
  setKernelBackend('auto');
  expect(cache.serialize()).toEqual(before);
  expect(q.data).toEqual(qCopy);
  const ref = attendDenseRef(q, cache.keys(), cache.values(), { causal: c.causal }).data;
  return { js, wasm, ref };
}

function expectTwins(c: Case): void {
  const { js, wasm, ref } = run(c);
  expect(u32(wasm)).toEqual(u32(js));
  if (c.kind !== 3) expect(relErr(js, ref)).toBeLessThanOrEqual(1e-5);
}

const bitsArb = fc.constantFrom<KiviBits>(2, 4, 8);

describe.runIf(wasmSimdSupported())('fused attention: wasm SIMD twin = JS kernel, bit for bit', () => {
  it('random configurations (bits, groups, head dims, T vs G and R, GQA, causal, flush order, metadata)', () => {
    fc.assert(
      fc.property(
        fc.record({
          keyBits: bitsArb,
          valueBits: bitsArb,
          gk: fc.constantFrom(1, 2, 3),
          gv: fc.constantFrom(1, 2),
          dMul: fc.constantFrom(1, 2, 3),
          rMul: fc.constantFrom(1, 2, 3),
          kvHeads: fc.constantFrom(1, 2, 3),
          groupHeads: fc.constantFrom(1, 2, 3, 4, 5, 8),
          tFrac: fc.integer({ min: 1, max: 400 }),
          m: fc.integer({ min: 1, max: 5 }),
          causal: fc.boolean(),
          flushOrder: fc.constantFrom('before-attention' as const, 'after-attention' as const),
          scaleDtype: fc.constantFrom('float32' as const, 'float16' as const),
          kind: fc.constantFrom(0, 0, 1, 2, 3, 4),
          prefill: fc.integer({ min: 0, max: 200 }),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        (r) => {
          const fk = 32 / r.keyBits;
          const fv = 32 / r.valueBits;
          const G = fk * r.gk;
          const GV = fv * r.gv;
          const D = GV * r.dMul;
          const R = G * r.rMul;
          const T = 1 + (r.tFrac % (3 * R + 40));
          expectTwins({
            cfg: {
              kvHeads: r.kvHeads,
              headDim: D,
              keyBits: r.keyBits,
              valueBits: r.valueBits,
              keyGroupSize: G,
              valueGroupSize: GV,
              residualLength: R,
              flushOrder: r.flushOrder,
              scaleDtype: r.kind === 3 ? 'float32' : r.scaleDtype,
            },
            heads: r.kvHeads * r.groupHeads,
            T,
            m: Math.min(r.m, T),
            causal: r.causal,
            kind: r.kind,
            seed: r.seed,
            prefill: Math.max(r.prefill, T - 30),
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('head dims 4…48 incl. ragged vectors of value words, every bit pair', () => {
    for (const valueBits of [2, 4, 8] as KiviBits[])
      for (const keyBits of [2, 4, 8] as KiviBits[]) {
        const fv = 32 / valueBits;
        for (const D of [fv, 2 * fv, 3 * fv, 5 * fv].filter((d) => d <= 48 || d === fv)) {
          expectTwins({
            cfg: {
              kvHeads: 2,
              headDim: D,
              keyBits,
              valueBits,
              keyGroupSize: 32 / keyBits,
              valueGroupSize: fv,
              residualLength: 2 * (32 / keyBits),
            },
            heads: 4,
            T: 37,
            m: 2,
            causal: true,
            kind: 0,
            seed: D * 7 + keyBits,
            prefill: 30,
          });
        }
      }
  });

  it('GQA ratios 1, 2, 4, 8 (MQA: one KV head), m = 1 decode and m = T over the whole cache', () => {
    for (const g of [1, 2, 4, 8])
      for (const [H, T, m] of [
        [2, 200, 1],
        [1, 70, 70],
        [1, 45, 3],
      ] as const)
        expectTwins({
          cfg: { kvHeads: H, headDim: 32, bits: 2, groupSize: 32, residualLength: 32 },
          heads: H * g,
          T,
          m,
          causal: true,
          kind: 0,
          seed: g * 100 + T,
          prefill: T - 5,
        });
  });

  it('empty quantized part (T < R, T = R − 1), first flush (T = R), zero-range groups', () => {
    for (const T of [1, 2, 31, 32, 33])
      for (const flushOrder of ['before-attention', 'after-attention'] as const)
        for (const kind of [0, 1, 2])
          expectTwins({
            cfg: { kvHeads: 1, headDim: 16, keyBits: 4, valueBits: 2, groupSize: 16, residualLength: 32, flushOrder },
            heads: 3,
            T,
            m: Math.min(T, 2),
            causal: kind !== 2,
            kind,
            seed: T,
            prefill: T,
          });
    // a cache of constant keys and values: every group has zero range, all logits are equal
    const c = new KiviCache({ kvHeads: 1, headDim: 8, bits: 8, groupSize: 4, residualLength: 8 });
    const x = new Float32Array(40 * 8).fill(0.75);
    c.append(t32(x, [1, 40, 8]), t32(x, [1, 40, 8]));
    const q = t32(data(2, 1, 8, 5), [2, 1, 8]);
    setKernelBackend('js');
    const js = c.attend(q).data;
    setKernelBackend('wasm');
    expect(u32(c.attend(q).data)).toEqual(u32(js));
    for (const o of js) expect(o).toBe(0.75);
  });

  it('the wasm path runs (returns true) and tiles of query rows give the same bits as one tile', () => {
    const wk = wasmKernels();
    expect(wk).not.toBeNull();
    for (const [keyBits, valueBits, H, g, m, T] of [
      [2, 2, 2, 4, 3, 300],
      [4, 8, 3, 2, 5, 150],
      [8, 4, 1, 3, 7, 90],
    ] as const) {
      const cfg = normalizeCacheConfig({
        kvHeads: H,
        headDim: 32,
        keyBits,
        valueBits,
        groupSize: 32,
        residualLength: 64,
      });
      const hq = H * g;
      const st = createState(cfg, PLAIN_ARRAYS);
      pushTokens(st, data(H, T, 32, T), data(H, T, 32, T + 1), T);
      const q = data(hq, m, 32, 9);
      const want = new Float32Array(hq * m * 32);
      setKernelBackend('js');
      attendKernel(st, q, hq, m, 0.2, true, want, createScratch(32, 32));
      for (const tileFloats of [1, T + 3, 5 * (T + 3), 1 << 20]) {
        const out = new Float32Array(want.length);
        expect(wk!.kiviAttend({ ...attendArgs(st, q, hq, m, 0.2, true, out), tileFloats })).toBe(true);
        expect(u32(out)).toEqual(u32(want));
      }
    }
  });

  it('odd scales: 0, negative, and one that overflows float32 (NaN/Inf logits) give the same bits', () => {
    const c = build({
      cfg: { kvHeads: 2, headDim: 16, keyBits: 2, valueBits: 4, groupSize: 16, residualLength: 16 },
      heads: 4,
      T: 45,
      m: 3,
      causal: true,
      kind: 0,
      seed: 11,
      prefill: 40,
    });
    for (const scale of [0, -0.75, 3.5e38, 1e39]) {
      setKernelBackend('js');
      const js = c.cache.attend(c.q, { scale }).data;
      setKernelBackend('wasm');
      const wasm = c.cache.attend(c.q, { scale }).data;
      expect(u32(wasm)).toEqual(u32(js));
    }
  });

  it('groups that straddle words (allowGroupStraddle) run the JS kernel on either backend', () => {
    const { js, wasm, ref } = run({
      cfg: { kvHeads: 2, headDim: 32, bits: 2, groupSize: 8, residualLength: 32, allowGroupStraddle: true },
      heads: 4,
      T: 90,
      m: 2,
      causal: true,
      kind: 0,
      seed: 3,
      prefill: 80,
    });
    expect(u32(wasm)).toEqual(u32(js));
    expect(relErr(js, ref)).toBeLessThanOrEqual(1e-5);
  });
});

describe('softmaxRow / expNeg', () => {
  const f = new Float32Array(1);
  const fi = new Int32Array(f.buffer);
  const bitsOf = (v: number) => {
    f[0] = v;
    return fi[0]!;
  };
  /** The float32 −(float with magnitude bits b). */
  const negOf = (b: number) => {
    fi[0] = b | 0x80000000;
    return f[0]!;
  };

  it('expNeg is within 1 ulp of float32(exp(x)) on [−87, 0], 1 at ±0, 0 below −87 and for NaN', () => {
    let worst = 0;
    let n = 0;
    for (let b = bitsOf(87); b >= 0; b -= 997) {
      const x = negOf(b);
      worst = Math.max(worst, Math.abs(bitsOf(expNeg(x)) - bitsOf(Math.exp(x))));
      n++;
    }
    expect(n).toBeGreaterThan(1e6);
    expect(worst).toBeLessThanOrEqual(1);
    expect(expNeg(0)).toBe(1);
    expect(expNeg(-0)).toBe(1);
    expect(expNeg(-87)).toBeGreaterThan(0);
    expect(expNeg(Math.fround(-87.00001))).toBe(0);
    expect(expNeg(Number.NEGATIVE_INFINITY)).toBe(0);
    expect(expNeg(Number.NaN)).toBe(0);
  });

  it('softmaxRow: p = expNeg(f32(x − max)) in place, float64 sum in token order; the max maps to 1', () => {
    const x = new Float32Array([0.5, -3, 2, 2, -100, 7]);
    const sum = softmaxRow(x, 1, 4);
    const want = [expNeg(-5), 1, 1, expNeg(-102)];
    expect([...x.subarray(1, 5)]).toEqual(want);
    expect(want[3]).toBe(0);
    expect(sum).toBe(want[0]! + want[1]! + want[2]! + want[3]!);
    expect(x[0]).toBe(0.5);
    expect(x[5]).toBe(7);
  });

  it.runIf(wasmSimdSupported())('the wasm softmax equals softmaxRow bit for bit over a sweep of float32 inputs', () => {
    const wk = wasmKernels()!;
    // every 4099th float32 in [−90, 0] (−90 … −87 tests the cut-off), ±0, ties of the rounding of x·log2 e
    const xs: number[] = [0, -0, -87, Math.fround(-87.00001), -90];
    for (let b = bitsOf(90); b >= 0; b -= 4099) xs.push(negOf(b));
    for (let k = 1; k < 126; k++) {
      const x = Math.fround((k + 0.5) / -Math.LOG2E);
      xs.push(x, Math.fround(x * (1 + 2 ** -23)), Math.fround(x * (1 - 2 ** -23)));
    }
    expect(xs.length).toBeGreaterThan(2.5e5);
    for (let o = 0; o < xs.length; o += 100_003) {
      const a = new Float32Array(xs.slice(o, o + 100_003));
      const b = a.slice();
      const sa = softmaxRow(a, 0, a.length);
      const sb = wk.kiviSoftmaxRow(b);
      expect(firstDiff(b, a)).toBe(-1);
      expect(sb).toBe(sa);
    }
    // NaN/±Inf logits in the vector part and in the scalar tail: the max skips NaN as `v > max` does
    for (const row of [
      [1, Number.NaN, 2, 0.5, -1, Number.NaN, 3],
      [0.25, 1, 2, 3, Number.NaN],
      [Number.NaN, 1, 2, 3, 4, 5],
      [-1, Number.POSITIVE_INFINITY, 0, 1, Number.NEGATIVE_INFINITY, 2],
    ]) {
      const a = new Float32Array(row);
      const b = a.slice();
      const sa = softmaxRow(a, 0, a.length);
      expect(Object.is(wk.kiviSoftmaxRow(b), sa)).toBe(true);
      expect(firstDiff(b, a)).toBe(-1);
    }
    // a row whose max is not 0 and whose length is not a multiple of 4
    const r = data(1, 1, 4099, 7).subarray(0, 4099);
    const r2 = r.slice();
    expect(wk.kiviSoftmaxRow(r2)).toBe(softmaxRow(r, 0, r.length));
    expect(u32(r2)).toEqual(u32(r));
  });
});
