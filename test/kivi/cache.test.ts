/**
 * KiviCache: state machine closed forms (kivi.md §4), chunking invariance, key flushes in whole aligned
 * R blocks, residual exactness, fused attention = dense attention on the dequantized cache (GQA, MQA,
 * causal m > 1), byteLength, bad input leaving the cache unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLowbitError, type LowbitErrorCode } from '../../src/common/errors.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import {
  attendDenseRef,
  dequantize,
  type KiviBits,
  KiviCache,
  type KiviCacheConfig,
  kiviCacheBytes,
  quantizeKeys,
  quantizeValues,
} from '../../src/kivi/index.js';

const t32 = (data: Float32Array, shape: number[]): Float32Tensor => ({ dtype: 'float32', data, shape });
const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function expectCode(fn: () => unknown, code: LowbitErrorCode): void {
  try {
    fn();
  } catch (e) {
    expect(isLowbitError(e, code), `expected ${code}, got ${String(e)}`).toBe(true);
    return;
  }
  throw new Error(`expected ${code}, nothing thrown`);
}

/** Deterministic pseudo-random `[H, T, D]` data. */
function randomKV(H: number, T: number, D: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(H * T * D);
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 4 + (i % D === 3 ? 6 : 0); // channel 3 is an outlier channel
  }
  return out;
}

/** Tokens [t0, t1) of `[H, T, D]` data as `[H, t1 − t0, D]`. */
function slice(x: Float32Array, H: number, T: number, D: number, t0: number, t1: number): Float32Array {
  const n = t1 - t0;
  const out = new Float32Array(H * n * D);
  for (let h = 0; h < H; h++) out.set(x.subarray((h * T + t0) * D, (h * T + t1) * D), h * n * D);
  return out;
}

function appendRange(
  c: KiviCache,
  k: Float32Array,
  v: Float32Array,
  H: number,
  T: number,
  D: number,
  t0: number,
  t1: number,
) {
  if (t1 === t0) return;
  c.append(t32(slice(k, H, T, D, t0, t1), [H, t1 - t0, D]), t32(slice(v, H, T, D, t0, t1), [H, t1 - t0, D]));
}

const small: KiviCacheConfig = { kvHeads: 2, headDim: 32, bits: 4, groupSize: 8, residualLength: 16 };

describe('state machine closed forms', () => {
  it('upstream chunking check: P ∈ {1,5,16,17,40,64,74}, T = 75, G = 8, R = 16 → rK = 11, rV = 16', () => {
    const [H, T, D] = [2, 75, 32];
    const k = randomKV(H, T, D, 1);
    const v = randomKV(H, T, D, 2);
    let ref: Uint8Array | undefined;
    for (const P of [1, 5, 16, 17, 40, 64, 74]) {
      const c = new KiviCache(small);
      appendRange(c, k, v, H, T, D, 0, P);
      for (let t = P; t < T; t++) appendRange(c, k, v, H, T, D, t, t + 1);
      expect(c.counts).toEqual({ quantizedKeys: 64, residualKeys: 11, quantizedValues: 59, residualValues: 16 });
      const bytes = c.serialize();
      if (ref === undefined) ref = bytes;
      else expect(bytes).toEqual(ref);
    }
  });

  it('counts follow rK = T mod R, rV = min(T, R) (before) and ((T−1) mod R)+1, min(T, R+1) (after)', () => {
    const [H, D, R] = [1, 32, 16];
    const k = randomKV(H, 70, D, 3);
    for (const flushOrder of ['before-attention', 'after-attention'] as const) {
      const c = new KiviCache({ ...small, kvHeads: H, flushOrder });
      for (let T = 1; T <= 70; T++) {
        appendRange(c, k, k, H, 70, D, T - 1, T);
        const rK = flushOrder === 'before-attention' ? T % R : ((T - 1) % R) + 1;
        const rV = flushOrder === 'before-attention' ? Math.min(T, R) : Math.min(T, R + 1);
        expect(c.counts).toEqual({
          quantizedKeys: T - rK,
          residualKeys: rK,
          quantizedValues: T - rV,
          residualValues: rV,
        });
        expect(c.length).toBe(T);
      }
    }
  });

  it('chunking invariance: any split of the same tokens gives byte-identical state (both flush orders)', () => {
    const [H, T, D] = [2, 60, 32];
    const k = randomKV(H, T, D, 4);
    const v = randomKV(H, T, D, 5);
    const whole = {
      'before-attention': new KiviCache({ ...small, flushOrder: 'before-attention' }),
      'after-attention': new KiviCache({ ...small, flushOrder: 'after-attention' }),
    };
    for (const c of Object.values(whole)) appendRange(c, k, v, H, T, D, 0, T);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: T - 1 }), { maxLength: 8 }),
        fc.constantFrom('before-attention', 'after-attention' as const),
        (cuts, flushOrder) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const c = new KiviCache({ ...small, flushOrder });
          let t0 = 0;
          for (const p of [...points, T]) {
            appendRange(c, k, v, H, T, D, t0, p);
            t0 = p;
          }
          expect(c.serialize()).toEqual(whole[flushOrder].serialize());
        },
      ),
      { numRuns: 40 },
    );
  });

  it('key flushes only in whole aligned R blocks; quantized part = quantizeKeys/Values of the prefix; residual exact', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.constantFrom<KiviBits>(2, 4, 8),
        fc.constantFrom<KiviBits>(2, 4, 8),
        fc.constantFrom('float32', 'float16' as const),
        (T, keyBits, valueBits, scaleDtype) => {
          const [H, D, G, R] = [2, 32, 16, 32];
          const k = randomKV(H, T, D, T * 7 + keyBits);
          const v = randomKV(H, T, D, T * 11 + valueBits);
          const c = new KiviCache({
            kvHeads: H,
            headDim: D,
            keyBits,
            valueBits,
            groupSize: G,
            residualLength: R,
            scaleDtype,
          });
          // split into a few chunks
          const cut = Math.floor(T / 3);
          appendRange(c, k, v, H, T, D, 0, cut);
          appendRange(c, k, v, H, T, D, cut, T);
          const { quantizedKeys: tq, quantizedValues: tvq } = c.counts;
          expect(tq % R).toBe(0);
          expect(tq).toBe(T - (T % R));
          const keys = c.keys().data;
          const values = c.values().data;
          const kq = dequantize(
            quantizeKeys(t32(slice(k, H, T, D, 0, tq), [H, tq, D]), { bits: keyBits, groupSize: G, scaleDtype }),
          ).data;
          const vq = dequantize(
            quantizeValues(t32(slice(v, H, T, D, 0, tvq), [H, tvq, D]), { bits: valueBits, groupSize: G, scaleDtype }),
          ).data;
          expect(bitsOf(slice(keys, H, T, D, 0, tq))).toEqual(bitsOf(kq));
          expect(bitsOf(slice(values, H, T, D, 0, tvq))).toEqual(bitsOf(vq));
          // residual exactness
          expect(bitsOf(slice(keys, H, T, D, tq, T))).toEqual(bitsOf(slice(k, H, T, D, tq, T)));
          expect(bitsOf(slice(values, H, T, D, tvq, T))).toEqual(bitsOf(slice(v, H, T, D, tvq, T)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('separate key/value group sizes (headDim 8 as in stories260K: keys G 16 at 2 bits, values G 8 at 4 bits)', () => {
    const [H, D, T] = [4, 8, 70];
    const c = new KiviCache({
      kvHeads: H,
      headDim: D,
      keyBits: 2,
      valueBits: 4,
      keyGroupSize: 16,
      valueGroupSize: 8,
      residualLength: 32,
    });
    const k = randomKV(H, T, D, 91);
    const v = randomKV(H, T, D, 92);
    appendRange(c, k, v, H, T, D, 0, 40);
    appendRange(c, k, v, H, T, D, 40, T);
    const { quantizedKeys: tq, quantizedValues: tvq } = c.counts;
    expect([tq, tvq]).toEqual([64, 38]);
    const kq = dequantize(quantizeKeys(t32(slice(k, H, T, D, 0, tq), [H, tq, D]), { bits: 2, groupSize: 16 })).data;
    const vq = dequantize(quantizeValues(t32(slice(v, H, T, D, 0, tvq), [H, tvq, D]), { bits: 4, groupSize: 8 })).data;
    expect(bitsOf(slice(c.keys().data, H, T, D, 0, tq))).toEqual(bitsOf(kq));
    expect(bitsOf(slice(c.values().data, H, T, D, 0, tvq))).toEqual(bitsOf(vq));
    const q = t32(randomKV(8, 3, D, 93), [8, 3, D]);
    const out = c.attend(q).data;
    const ref = attendDenseRef(q, c.keys(), c.values()).data;
    for (let i = 0; i < out.length; i++) expect(Math.abs(out[i]! - ref[i]!)).toBeLessThan(1e-5);
    expect(KiviCache.deserialize(c.serialize()).serialize()).toEqual(c.serialize());
    expect(c.byteLength).toBe(
      kiviCacheBytes(
        {
          headDim: D,
          kvHeads: H,
          keyBits: 2,
          valueBits: 4,
          keyGroupSize: 16,
          valueGroupSize: 8,
          residualLength: 32,
          scaleDtype: 'float32',
          residualDtype: 'float32',
        },
        T,
      ).total,
    );
    // 2-bit values need D a multiple of 16 channels: headDim 8 is rejected
    expectCode(
      () => new KiviCache({ kvHeads: H, headDim: D, bits: 2, keyGroupSize: 16, valueGroupSize: 8, residualLength: 32 }),
      'E_CONFIG',
    );
  });

  it('byteLength = kiviCacheBytes with float32 residual and the cache metadata type = serialize().length − 72', () => {
    for (const scaleDtype of ['float32', 'float16'] as const) {
      const [H, D, T] = [2, 32, 77];
      const cfg = {
        kvHeads: H,
        headDim: D,
        keyBits: 2,
        valueBits: 4,
        groupSize: 16,
        residualLength: 32,
        scaleDtype,
      } as const;
      const c = new KiviCache(cfg);
      const k = randomKV(H, T, D, 9);
      appendRange(c, k, k, H, T, D, 0, T);
      const want = kiviCacheBytes({ ...cfg, residualDtype: 'float32' }, T).total;
      expect(c.byteLength).toBe(want);
      expect(c.serialize().length - 72).toBe(want);
    }
  });
});

describe('fused attention on packed codes', () => {
  const relErr = (a: Float32Array, b: Float32Array) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num = Math.max(num, Math.abs(a[i]! - b[i]!));
      den = Math.max(den, Math.abs(b[i]!));
    }
    return num / den;
  };

  it('= dense float64 attention over the dequantized cache (≤ 1e-5 relative), GQA/MQA, causal and not', () => {
    fc.assert(
      fc.property(
        fc.record({
          kvHeads: fc.constantFrom(1, 2),
          groupHeads: fc.constantFrom(1, 2, 4),
          T: fc.integer({ min: 1, max: 90 }),
          m: fc.integer({ min: 1, max: 4 }),
          keyBits: fc.constantFrom<KiviBits>(2, 4, 8),
          valueBits: fc.constantFrom<KiviBits>(2, 4, 8),
          G: fc.constantFrom(16, 32),
          Rmul: fc.constantFrom(1, 2),
          flushOrder: fc.constantFrom('before-attention', 'after-attention' as const),
          causal: fc.boolean(),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        (r) => {
          const D = 32;
          const { kvHeads: H, T } = r;
          const heads = H * r.groupHeads;
          const m = Math.min(r.m, T);
          const c = new KiviCache({
            kvHeads: H,
            headDim: D,
            keyBits: r.keyBits,
            valueBits: r.valueBits,
            groupSize: r.G,
            residualLength: r.G * r.Rmul,
            flushOrder: r.flushOrder,
          });
          const k = randomKV(H, T, D, r.seed);
          const v = randomKV(H, T, D, r.seed + 1);
          appendRange(c, k, v, H, T, D, 0, T - m);
          appendRange(c, k, v, H, T, D, T - m, T);
          const q = t32(randomKV(heads, m, D, r.seed + 2), [heads, m, D]);
          const out = c.attend(q, { causal: r.causal });
          const ref = attendDenseRef(q, c.keys(), c.values(), { causal: r.causal });
          expect(out.shape).toEqual([heads, m, D]);
          expect(relErr(out.data, ref.data)).toBeLessThanOrEqual(1e-5);
          expect(c.attendRef(q, { causal: r.causal }).data).toEqual(ref.data);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('head mapping and causal mask checked by explicit slices: row i of h = single-query attention on kv head ⌊h/g⌋ over the first T−m+i+1 tokens', () => {
    const [H, D, T, m, g] = [2, 32, 50, 3, 3];
    const c = new KiviCache({ kvHeads: H, headDim: D, bits: 2, groupSize: 16, residualLength: 16 });
    const k = randomKV(H, T, D, 21);
    const v = randomKV(H, T, D, 22);
    appendRange(c, k, v, H, T, D, 0, T);
    const heads = H * g;
    const qd = randomKV(heads, m, D, 23);
    const out = c.attend(t32(qd, [heads, m, D])).data;
    const keys = c.keys().data;
    const values = c.values().data;
    for (let h = 0; h < heads; h++) {
      const kv = Math.floor(h / g);
      for (let i = 0; i < m; i++) {
        const lim = T - m + i + 1;
        const qk = t32(qd.slice((h * m + i) * D, (h * m + i + 1) * D), [1, 1, D]);
        const kk = t32(keys.slice(kv * T * D, (kv * T + lim) * D), [1, lim, D]);
        const vv = t32(values.slice(kv * T * D, (kv * T + lim) * D), [1, lim, D]);
        // independent single-row softmax in float64
        const logits: number[] = [];
        for (let t = 0; t < lim; t++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += qk.data[d]! * kk.data[t * D + d]!;
          logits.push(s / Math.sqrt(D));
        }
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < D; d++) {
          let s = 0;
          for (let t = 0; t < lim; t++) s += e[t]! * vv.data[t * D + d]!;
          const want = s / sum;
          expect(Math.abs(out[(h * m + i) * D + d]! - want)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want)));
        }
      }
    }
  });

  it('scale option and out buffer; flushOrder changes only flush-step outputs', () => {
    const [H, D] = [1, 32];
    const k = randomKV(H, 40, D, 31);
    const q = t32(randomKV(2, 1, D, 32), [2, 1, D]);
    const a = new KiviCache({ kvHeads: H, headDim: D, bits: 2, groupSize: 16, residualLength: 16 });
    const b = new KiviCache({
      kvHeads: H,
      headDim: D,
      bits: 2,
      groupSize: 16,
      residualLength: 16,
      flushOrder: 'after-attention',
    });
    const same: boolean[] = [];
    for (let T = 1; T <= 40; T++) {
      appendRange(a, k, k, H, 40, D, T - 1, T);
      appendRange(b, k, k, H, 40, D, T - 1, T);
      const oa = a.attend(q);
      const ob = b.attend(q);
      same.push(oa.data.every((x, i) => x === ob.data[i]));
    }
    // identical while T < R (nothing flushed either way); at T = R the paper order has already quantized
    // the first key block, the reference order has not
    expect(same.slice(0, 15).every((s) => s)).toBe(true);
    expect(same[15]).toBe(false);
    const out = new Float32Array(2 * D);
    const r = a.attend(q, { scale: 0.5, out });
    expect(r.data).toBe(out);
    const ref = attendDenseRef(q, a.keys(), a.values(), { scale: 0.5 });
    for (let i = 0; i < out.length; i++) expect(Math.abs(out[i]! - ref.data[i]!)).toBeLessThan(1e-5);
  });

  it('groups smaller than a word (allowGroupStraddle) also match the dense reference', () => {
    const [H, D, T] = [2, 32, 70];
    const c = new KiviCache({
      kvHeads: H,
      headDim: D,
      bits: 2,
      groupSize: 8,
      residualLength: 32,
      allowGroupStraddle: true,
    });
    const k = randomKV(H, T, D, 41);
    appendRange(c, k, randomKV(H, T, D, 42), H, T, D, 0, T);
    const q = t32(randomKV(4, 2, D, 43), [4, 2, D]);
    expect(relErr(c.attend(q).data, attendDenseRef(q, c.keys(), c.values()).data)).toBeLessThan(1e-5);
  });
});

describe('serialize / deserialize', () => {
  it('round-trips bit-exactly and continues identically (both flush orders, f32/f16 metadata)', () => {
    for (const flushOrder of ['before-attention', 'after-attention'] as const) {
      for (const scaleDtype of ['float32', 'float16'] as const) {
        const [H, D, T] = [2, 32, 45];
        const cfg = { ...small, flushOrder, scaleDtype };
        const k = randomKV(H, T, D, 51);
        const v = randomKV(H, T, D, 52);
        const a = new KiviCache(cfg);
        appendRange(a, k, v, H, T, D, 0, 30);
        const bytes = a.serialize();
        const b = KiviCache.deserialize(bytes);
        expect(b.serialize()).toEqual(bytes);
        expect(b.config).toEqual(a.config);
        expect(b.keys().data).toEqual(a.keys().data);
        expect(b.values().data).toEqual(a.values().data);
        appendRange(a, k, v, H, T, D, 30, T);
        appendRange(b, k, v, H, T, D, 30, T);
        expect(b.serialize()).toEqual(a.serialize());
        const q = t32(randomKV(4, 1, D, 53), [4, 1, D]);
        expect(b.attend(q).data).toEqual(a.attend(q).data);
      }
    }
  });

  it('empty cache round-trips', () => {
    const a = new KiviCache(small);
    const b = KiviCache.deserialize(a.serialize());
    expect(b.length).toBe(0);
    expect(b.serialize()).toEqual(a.serialize());
  });

  it('corruption → E_FORMAT: any single byte change, truncation, extension, wrong magic/version', () => {
    const [H, D, T] = [2, 32, 40];
    const a = new KiviCache(small);
    const k = randomKV(H, T, D, 61);
    appendRange(a, k, k, H, T, D, 0, T);
    const bytes = a.serialize();
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const b = Uint8Array.from(bytes);
        b[pos] = b[pos]! ^ x;
        expectCode(() => KiviCache.deserialize(b), 'E_FORMAT');
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), (n) => {
        expectCode(() => KiviCache.deserialize(bytes.subarray(0, n)), 'E_FORMAT');
      }),
      { numRuns: 50 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (junk) => {
        expectCode(() => KiviCache.deserialize(junk), 'E_FORMAT');
      }),
      { numRuns: 100 },
    );
    // exhaustively: every header byte (incl. the flags at 10–11) and every bit of it
    for (let pos = 0; pos < 72; pos++)
      for (let bit = 0; bit < 8; bit++) {
        const b = Uint8Array.from(bytes);
        b[pos] = b[pos]! ^ (1 << bit);
        expectCode(() => KiviCache.deserialize(b), 'E_FORMAT');
      }
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expectCode(() => KiviCache.deserialize(longer), 'E_FORMAT');
    const v2 = Uint8Array.from(bytes);
    v2[4] = 2;
    expect(() => KiviCache.deserialize(v2)).toThrow(/version 2/);
  });

  it('a header claiming a huge cache is rejected before allocating', () => {
    const a = new KiviCache(small).serialize();
    const dv = new DataView(a.buffer);
    dv.setUint32(12, 1 << 20, true); // kvHeads
    dv.setUint32(16, 1 << 20, true); // headDim
    dv.setUint32(28, 1 << 20, true); // residualLength
    expectCode(() => KiviCache.deserialize(a), 'E_FORMAT');
  });
});

describe('bad input → LowbitError, cache unchanged', () => {
  it('config constraints', () => {
    const base = { kvHeads: 2, headDim: 64, bits: 2, groupSize: 32, residualLength: 64 } as const;
    expectCode(() => new KiviCache({ ...base, residualLength: 48 }), 'E_CONFIG'); // R % G
    expectCode(() => new KiviCache({ ...base, groupSize: 8, residualLength: 64 }), 'E_CONFIG'); // G % (32/2)
    expectCode(() => new KiviCache({ ...base, headDim: 48 }), 'E_CONFIG'); // D % G
    expectCode(() => new KiviCache({ ...base, bits: 3 as KiviBits }), 'E_CONFIG');
    expectCode(() => new KiviCache({ ...base, keyBits: 1 as KiviBits }), 'E_CONFIG');
    expectCode(() => new KiviCache({ ...base, kvHeads: 0 }), 'E_CONFIG');
    expectCode(() => new KiviCache({ ...base, residualLength: 0 }), 'E_CONFIG');
    expectCode(() => new KiviCache({ ...base, flushOrder: 'never' as 'after-attention' }), 'E_CONFIG');
    expectCode(() => new KiviCache(undefined as unknown as KiviCacheConfig), 'E_CONFIG');
    // valid with the defaults (b = 2, G = 32, R = 128)
    expect(new KiviCache({ kvHeads: 1, headDim: 128 }).config).toMatchObject({
      keyBits: 2,
      valueBits: 2,
      keyGroupSize: 32,
      valueGroupSize: 32,
      residualLength: 128,
      flushOrder: 'before-attention',
      scaleDtype: 'float32',
    });
  });

  it('append/attend errors leave the state byte-identical', () => {
    const [H, D, T] = [2, 32, 20];
    const c = new KiviCache(small);
    const k = randomKV(H, T, D, 71);
    appendRange(c, k, k, H, T, D, 0, T);
    const before = c.serialize();
    const good = () => t32(randomKV(H, 1, D, 72), [H, 1, D]);
    const withBad = (val: number) => {
      const d = randomKV(H, 3, D, 73);
      d[D + 5] = val;
      return t32(d, [H, 3, D]);
    };
    expectCode(() => c.append(t32(new Float32Array(3 * D), [3, 1, D]), good()), 'E_SHAPE');
    expectCode(() => c.append(good(), t32(new Float32Array(H * 2 * D), [H, 2, D])), 'E_SHAPE');
    expectCode(() => c.append(t32(new Float32Array(H * D * 2), [H, 1, 2 * D]), good()), 'E_SHAPE');
    expectCode(() => c.append(t32(new Float32Array(0), [H, 0, D]), t32(new Float32Array(0), [H, 0, D])), 'E_SHAPE');
    expectCode(() => c.append(t32(new Float32Array(H * D), [H, D]), good()), 'E_SHAPE');
    expectCode(() => c.append(withBad(Number.NaN), withBad(0)), 'E_NONFINITE');
    expectCode(() => c.append(withBad(0), withBad(Number.POSITIVE_INFINITY)), 'E_NONFINITE');
    expectCode(() => c.append(withBad(3e38), withBad(0)), 'E_LIMIT');
    expectCode(
      () =>
        c.append(
          { dtype: 'float64', data: new Float64Array(H * D), shape: [H, 1, D] } as unknown as Float32Tensor,
          good(),
        ),
      'E_DTYPE',
    );
    const q = (heads: number, m: number, d = D) => t32(randomKV(heads, m, d, 74), [heads, m, d]);
    expectCode(() => c.attend(q(3, 1)), 'E_SHAPE'); // heads not a multiple of kvHeads
    expectCode(() => c.attend(q(2, 1, 16)), 'E_SHAPE');
    expectCode(() => c.attend(q(2, T + 1)), 'E_SHAPE'); // causal m > T
    expectCode(() => c.attend(q(2, 1), { scale: Number.NaN }), 'E_CONFIG');
    expectCode(() => c.attend(q(2, 1), { out: new Float32Array(3) }), 'E_SHAPE');
    const qn = q(2, 1);
    qn.data[0] = Number.NaN;
    expectCode(() => c.attend(qn), 'E_NONFINITE');
    expectCode(() => new KiviCache(small).attend(q(2, 1)), 'E_SHAPE'); // empty
    expect(c.serialize()).toEqual(before);
    // non-causal attention with m > T is allowed
    expect(c.attend(q(2, T + 1), { causal: false }).shape).toEqual([2, T + 1, D]);
  });

  it('append does not mutate its inputs', () => {
    const [H, D, T] = [2, 32, 40];
    const k = randomKV(H, T, D, 81);
    const copy = Float32Array.from(k);
    const c = new KiviCache(small);
    c.append(t32(k, [H, T, D]), t32(k, [H, T, D]));
    c.attend(t32(k.subarray(0, H * D), [H, 1, D]));
    expect(k).toEqual(copy);
  });
});

describe('storage allocator (KiviCacheConfig.arrays) and release', () => {
  /** An allocator that hands out ordinary arrays and records what it handed out and got back. */
  function recording() {
    const out = new Set<Float32Array | Uint32Array>();
    const back: (Float32Array | Uint32Array)[] = [];
    const arrays = {
      float32: (n: number) => {
        const a = new Float32Array(n);
        out.add(a);
        return a;
      },
      uint32: (n: number) => {
        const a = new Uint32Array(n);
        out.add(a);
        return a;
      },
      release: (a: Float32Array | Uint32Array) => {
        back.push(a);
      },
    };
    return { out, back, arrays };
  }

  it('a cache on a custom allocator holds the same bytes; release gives back every array once; then methods throw', () => {
    const [H, D, T] = [2, 32, 300]; // R = 16: 18 key blocks; values in two chunks of 256 tokens
    const k = randomKV(H, T, D, 91);
    const v = randomKV(H, T, D, 92);
    const rec = recording();
    const a = new KiviCache({ ...small, arrays: rec.arrays });
    const b = new KiviCache(small);
    for (const c of [a, b]) {
      appendRange(c, k, v, H, T, D, 0, 200);
      appendRange(c, k, v, H, T, D, 200, T);
    }
    expect(a.serialize()).toEqual(b.serialize());
    const q = t32(randomKV(4, 2, D, 93), [4, 2, D]);
    expect(bitsOf(a.attend(q).data)).toEqual(bitsOf(b.attend(q).data));
    expect(a.config).toEqual(b.config); // (the allocator is not part of the normalized config)
    // kRes, vRes, 18 key blocks and 2 value chunks of codes / scales / mins
    expect(rec.out.size).toBe(2 + 3 * (18 + 2));
    a.release();
    a.release(); // idempotent
    expect(rec.back.length).toBe(rec.out.size);
    expect(new Set(rec.back)).toEqual(rec.out);
    for (const f of [
      () => a.append(t32(k.subarray(0, H * D), [H, 1, D]), t32(v.subarray(0, H * D), [H, 1, D])),
      () => a.attend(q),
      () => a.attendRef(q),
      () => a.keys(),
      () => a.values(),
      () => a.serialize(),
    ])
      expectCode(f, 'E_CONFIG');
    b.release(); // the default allocator has nothing to give back
    expectCode(() => b.keys(), 'E_CONFIG');
  });

  it('a bad allocator → E_CONFIG', () => {
    const plain = { float32: (n: number) => new Float32Array(n), uint32: (n: number) => new Uint32Array(n) };
    for (const arrays of [{}, null, { float32: plain.float32 }, { ...plain, release: 3 }])
      expectCode(() => new KiviCache({ ...small, arrays: arrays as never }), 'E_CONFIG');
    // wrong length, wrong type, not zero-filled: refused where handed out (at construction or at a flush)
    expectCode(
      () => new KiviCache({ ...small, arrays: { ...plain, float32: (n) => new Float32Array(n + 1) } }),
      'E_CONFIG',
    );
    const dirty = new KiviCache({
      ...small,
      arrays: { ...plain, uint32: (n) => new Uint32Array(n).fill(1) },
    });
    const [H, D] = [2, 32];
    expectCode(() => appendRange(dirty, randomKV(H, 20, D, 1), randomKV(H, 20, D, 2), H, 20, D, 0, 20), 'E_CONFIG');
    const typed = new KiviCache({ ...small, arrays: { ...plain, uint32: (n) => new Float32Array(n) as never } });
    expectCode(() => appendRange(typed, randomKV(H, 20, D, 1), randomKV(H, 20, D, 2), H, 20, D, 0, 20), 'E_CONFIG');
  });
});
