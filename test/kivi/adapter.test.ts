/** transformers.js-style past_key_values adapter, with plain structural tensors. */
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import { f16ToF32Array, f32ToF16Array } from '../../src/common/half.js';
import {
  compressPastKeyValues,
  dequantize,
  extendPastKeyValues,
  type PastTensorLike,
  quantizeKeys,
  quantizeValues,
  restorePastKeyValues,
} from '../../src/kivi/index.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 6;
  }
  return out;
}

/** A record like transformers.js' DynamicCache: BNSH [B, H, T, D] per layer. */
function record(L: number, B: number, H: number, T: number, D: number, seed: number) {
  const r: Record<string, PastTensorLike | unknown> = {};
  for (let i = 0; i < L; i++) {
    r[`past_key_values.${i}.key`] = { type: 'float32', data: rand(B * H * T * D, seed + 2 * i), dims: [B, H, T, D] };
    r[`past_key_values.${i}.value`] = {
      type: 'float32',
      data: rand(B * H * T * D, seed + 2 * i + 1),
      dims: [B, H, T, D],
    };
  }
  return r;
}

const get = (r: Record<string, unknown>, k: string) => r[k] as { type: string; data: Float32Array; dims: number[] };

/** Tokens [t0, t1) of batch row b of BNSH data as [H, t1 − t0, D]. */
function rowTokens(data: Float32Array, dims: number[], b: number, t0: number, t1: number): Float32Array {
  const [, H, T, D] = dims as [number, number, number, number];
  const out = new Float32Array(H * (t1 - t0) * D);
  for (let h = 0; h < H; h++)
    out.set(data.subarray(((b * H + h) * T + t0) * D, ((b * H + h) * T + t1) * D), h * (t1 - t0) * D);
  return out;
}

describe('compressPastKeyValues / restorePastKeyValues', () => {
  const [L, B, H, T, D] = [2, 2, 2, 45, 32];
  const opts = { bits: 2, groupSize: 16, residualLength: 16 } as const;

  it('one cache per layer and batch row; restore gives the same record shape, dequantized', () => {
    const rec = record(L, B, H, T, D, 1);
    rec.past_conv = { marker: 1 };
    const c = compressPastKeyValues(rec, opts);
    expect([c.layers, c.batch, c.length]).toEqual([L, B, T]);
    expect(c.caches.length).toBe(L);
    expect(c.caches.every((row) => row.length === B && row.every((x) => x.length === T))).toBe(true);
    const out = restorePastKeyValues(c);
    expect(Object.keys(out).sort()).toEqual(Object.keys(rec).sort());
    expect(out.past_conv).toBe(rec.past_conv);
    const tq = T - (T % 16); // quantized keys
    const tvq = T - 16; // quantized values
    for (let i = 0; i < L; i++) {
      const k = get(rec, `past_key_values.${i}.key`);
      const v = get(rec, `past_key_values.${i}.value`);
      const ko = get(out, `past_key_values.${i}.key`);
      const vo = get(out, `past_key_values.${i}.value`);
      expect(ko.type).toBe('float32');
      expect(ko.dims).toEqual([B, H, T, D]);
      for (let b = 0; b < B; b++) {
        // quantized prefix = quantizeKeys/Values of that prefix; residual exact
        const kq = dequantize(
          quantizeKeys({ dtype: 'float32', data: rowTokens(k.data, k.dims, b, 0, tq), shape: [H, tq, D] }, opts),
        ).data;
        const vq = dequantize(
          quantizeValues({ dtype: 'float32', data: rowTokens(v.data, v.dims, b, 0, tvq), shape: [H, tvq, D] }, opts),
        ).data;
        expect(rowTokens(ko.data, ko.dims, b, 0, tq)).toEqual(kq);
        expect(rowTokens(vo.data, vo.dims, b, 0, tvq)).toEqual(vq);
        expect(rowTokens(ko.data, ko.dims, b, tq, T)).toEqual(rowTokens(k.data, k.dims, b, tq, T));
        expect(rowTokens(vo.data, vo.dims, b, tvq, T)).toEqual(rowTokens(v.data, v.dims, b, tvq, T));
      }
    }
  });

  it('float16 tensors (Uint16Array data) round-trip as float16; factory builds the tensor objects', () => {
    const data = f32ToF16Array(rand(1 * H * 20 * D, 5));
    const rec = {
      'past_key_values.0.key': { type: 'float16', data, dims: [1, H, 20, D] },
      'past_key_values.0.value': { type: 'float16', data, dims: [1, H, 20, D] },
    };
    const c = compressPastKeyValues(rec, opts);
    class MyTensor {
      constructor(
        readonly type: string,
        readonly data: Float32Array | Uint16Array,
        readonly dims: number[],
      ) {}
    }
    const out = restorePastKeyValues(c, (type, d, dims) => new MyTensor(type, d, dims));
    const k = out['past_key_values.0.key'] as MyTensor;
    expect(k).toBeInstanceOf(MyTensor);
    expect(k.type).toBe('float16');
    expect(k.data).toBeInstanceOf(Uint16Array);
    // residual (last 20 mod 16 = 4 keys) is exact
    const back = f16ToF32Array(k.data as Uint16Array);
    const orig = f16ToF32Array(data);
    for (let h = 0; h < H; h++)
      for (let t = 16; t < 20; t++)
        for (let d = 0; d < D; d++) expect(back[(h * 20 + t) * D + d]).toBe(orig[(h * 20 + t) * D + d]);
  });

  it('extendPastKeyValues appends only the new tokens (= compressing the longer record in one go)', () => {
    const full = record(L, B, H, T, D, 7);
    const T0 = 30;
    const prefix: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(full)) {
      const x = t as { data: Float32Array; dims: number[] };
      const data = new Float32Array(B * H * T0 * D);
      for (let b = 0; b < B; b++) data.set(rowTokens(x.data, x.dims, b, 0, T0), b * H * T0 * D);
      prefix[name] = { type: 'float32', data, dims: [B, H, T0, D] };
    }
    const c = compressPastKeyValues(prefix, opts);
    // what generate() would return: the restored (dequantized) prefix followed by new tokens
    const restored = restorePastKeyValues(c);
    const next: Record<string, unknown> = {};
    for (const name of Object.keys(full)) {
      const x = get(full, name);
      const r = get(restored, name);
      const data = Float32Array.from(x.data);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          data.set(r.data.subarray((b * H + h) * T0 * D, ((b * H + h) * T0 + T0) * D), (b * H + h) * T * D);
      next[name] = { type: 'float32', data, dims: [B, H, T, D] };
    }
    const c2 = extendPastKeyValues(c, next);
    expect(c2.length).toBe(T);
    const once = compressPastKeyValues(full, opts);
    for (let i = 0; i < L; i++)
      for (let b = 0; b < B; b++) expect(c2.caches[i]![b]!.serialize()).toEqual(once.caches[i]![b]!.serialize());
  });

  it('bad records → LowbitError; a failed extend changes no cache', () => {
    const rec = record(2, 1, H, 20, D, 9);
    const bad = (r: Record<string, unknown>, code: string) => {
      let err: unknown;
      try {
        compressPastKeyValues(r, opts);
      } catch (e) {
        err = e;
      }
      expect(isLowbitError(err) && err.code).toBe(code);
    };
    bad({}, 'E_SHAPE');
    bad({ 'past_key_values.0.key': rec['past_key_values.0.key'] }, 'E_SHAPE');
    bad(
      { ...rec, 'past_key_values.1.value': { type: 'float32', data: new Float32Array(4), dims: [1, 1, 2, 2] } },
      'E_SHAPE',
    );
    bad(
      { ...rec, 'past_key_values.1.value': { type: 'int8', data: new Int8Array(H * 20 * D), dims: [1, H, 20, D] } },
      'E_DTYPE',
    );
    bad(
      {
        ...rec,
        'past_key_values.1.value': { type: 'float32', data: new Array(H * 20 * D).fill(0), dims: [1, H, 20, D] },
      },
      'E_DTYPE',
    );
    bad(
      {
        ...rec,
        'past_key_values.3.key': rec['past_key_values.0.key'],
        'past_key_values.3.value': rec['past_key_values.0.value'],
      },
      'E_SHAPE',
    );
    const c = compressPastKeyValues(rec, opts);
    const before = c.caches.map((row) => row.map((x) => x.serialize()));
    const longer = record(2, 1, H, 25, D, 9);
    get(longer, 'past_key_values.1.value').data[(1 * 25 + 22) * D + 3] = Number.NaN;
    let err: unknown;
    try {
      extendPastKeyValues(c, longer);
    } catch (e) {
      err = e;
    }
    expect(isLowbitError(err, 'E_NONFINITE')).toBe(true);
    expect(c.caches.map((row) => row.map((x) => x.serialize()))).toEqual(before);
  });
});
