/**
 * Parity with the public KIVI reference (test/fixtures/kivi/kivi-reference-seed0.json, produced by
 * jy-yuan/KIVI `quant/new_pack.py` in float32 on CPU): codes as uint32 words, scales, mins and
 * dequantized values bit for bit; the streaming run with `flushOrder: 'after-attention'`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Float32Tensor } from '../../src/common/tensor.js';
import {
  dequantize,
  dequantizeRef,
  KiviCache,
  quantizeKeys,
  quantizeKeysRef,
  quantizeValues,
  quantizeValuesRef,
} from '../../src/kivi/index.js';

interface Case {
  bits: 2 | 4;
  group: number;
  k_code_int32: number[];
  k_scale: number[];
  k_min: number[];
  k_dequant: number[];
  v_code_int32: number[];
  v_scale: number[];
  v_min: number[];
  v_dequant: number[];
}
interface Fixture {
  shape: number[];
  input: number[];
  cases: Case[];
  stream: {
    G: number;
    R: number;
    bits: 2;
    T_prefill: number;
    steps: number;
    prefill_k: number[];
    prefill_v: number[];
    q: number[][];
    k_new: number[][];
    v_new: number[][];
    out: number[][];
    shapes: { prefill: number[]; step: number[]; out: number[] };
  };
}

const here = dirname(fileURLToPath(import.meta.url));
const fx = JSON.parse(readFileSync(join(here, '../fixtures/kivi/kivi-reference-seed0.json'), 'utf8')) as Fixture;

const t32 = (data: number[], shape: number[]): Float32Tensor => ({
  dtype: 'float32',
  data: Float32Array.from(data),
  shape,
});
const words = (a: number[]) => Uint32Array.from(a, (x) => x >>> 0);
const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const f32bits = (a: number[]) => bitsOf(Float32Array.from(a));
const asF32 = (a: Float32Array | Uint16Array) => {
  if (!(a instanceof Float32Array)) throw new Error('expected float32 metadata');
  return a;
};

describe('KIVI reference vectors (jy-yuan/KIVI quant/new_pack.py, float32)', () => {
  const x = t32(fx.input, fx.shape);

  it('fixture shape is [1, 2, 64, 32] with four (bits, group) cases', () => {
    expect(fx.shape).toEqual([1, 2, 64, 32]);
    expect(fx.cases.map((c) => [c.bits, c.group])).toEqual([
      [2, 16],
      [2, 32],
      [4, 16],
      [4, 32],
    ]);
  });

  for (const c of fx.cases) {
    const opts = { bits: c.bits, groupSize: c.group } as const;
    it(`keys ${c.bits}-bit G${c.group}: codes, scales, mins, dequant bit-exact (fast and Ref)`, () => {
      for (const q of [quantizeKeys(x, opts), quantizeKeysRef(x, opts)]) {
        expect(q.codes).toEqual(words(c.k_code_int32));
        expect(bitsOf(asF32(q.scales))).toEqual(f32bits(c.k_scale));
        expect(bitsOf(asF32(q.mins))).toEqual(f32bits(c.k_min));
        expect(bitsOf(dequantize(q).data)).toEqual(f32bits(c.k_dequant));
        expect(bitsOf(dequantizeRef(q).data)).toEqual(f32bits(c.k_dequant));
      }
    });
    it(`values ${c.bits}-bit G${c.group}: codes, scales, mins, dequant bit-exact (fast and Ref)`, () => {
      for (const q of [quantizeValues(x, opts), quantizeValuesRef(x, opts)]) {
        expect(q.codes).toEqual(words(c.v_code_int32));
        expect(bitsOf(asF32(q.scales))).toEqual(f32bits(c.v_scale));
        expect(bitsOf(asF32(q.mins))).toEqual(f32bits(c.v_min));
        expect(bitsOf(dequantize(q).data)).toEqual(f32bits(c.v_dequant));
        expect(bitsOf(dequantizeRef(q).data)).toEqual(f32bits(c.v_dequant));
      }
    });
  }

  it("stream (G 8, R 16, 2-bit, prefill 37, 20 steps) is reproduced with flushOrder 'after-attention'", () => {
    const s = fx.stream;
    const [, H, P, D] = s.shapes.prefill as [number, number, number, number];
    const cache = new KiviCache({
      kvHeads: H,
      headDim: D,
      bits: s.bits,
      groupSize: s.G,
      residualLength: s.R,
      flushOrder: 'after-attention',
      allowGroupStraddle: true, // G = 8 < 32/bits = 16, as the reference torch helpers allow
    });
    cache.append(t32(s.prefill_k, [H, P, D]), t32(s.prefill_v, [H, P, D]));
    let worst = 0;
    for (let i = 0; i < s.steps; i++) {
      cache.append(t32(s.k_new[i]!, [H, 1, D]), t32(s.v_new[i]!, [H, 1, D]));
      const q = t32(s.q[i]!, [H, 1, D]);
      const out = cache.attend(q);
      const ref = cache.attendRef(q);
      const want = s.out[i]!;
      for (let j = 0; j < want.length; j++) {
        worst = Math.max(worst, Math.abs(out.data[j]! - want[j]!));
        expect(Math.abs(out.data[j]! - want[j]!)).toBeLessThanOrEqual(2e-6 + 2e-6 * Math.abs(want[j]!));
        expect(Math.abs(ref.data[j]! - want[j]!)).toBeLessThanOrEqual(2e-6 + 2e-6 * Math.abs(want[j]!));
      }
    }
    expect(cache.length).toBe(P + s.steps);
    expect(worst).toBeLessThan(1e-5);
  });

  it("the default 'before-attention' order differs from the fixture exactly on flush steps", () => {
    const s = fx.stream;
    const [, H, P, D] = s.shapes.prefill as [number, number, number, number];
    const cache = new KiviCache({
      kvHeads: H,
      headDim: D,
      bits: 2,
      groupSize: s.G,
      residualLength: s.R,
      allowGroupStraddle: true,
    });
    cache.append(t32(s.prefill_k, [H, P, D]), t32(s.prefill_v, [H, P, D]));
    const differs: number[] = [];
    for (let i = 0; i < s.steps; i++) {
      cache.append(t32(s.k_new[i]!, [H, 1, D]), t32(s.v_new[i]!, [H, 1, D]));
      const out = cache.attend(t32(s.q[i]!, [H, 1, D]));
      const want = s.out[i]!;
      let d = 0;
      for (let j = 0; j < want.length; j++) d = Math.max(d, Math.abs(out.data[j]! - want[j]!));
      if (d > 1e-5) differs.push(P + i + 1);
    }
    // Every step flushes one value (T > R); before-attention also quantizes that value before attending,
    // so every step differs; key flushes happen at T = 48 (and would at 64).
    expect(differs.length).toBeGreaterThan(0);
    expect(differs).toContain(48);
  });
});
