import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  applyChannelOrder,
  type ChannelOrder,
  calibrateChannelOrder,
  channelOrderFromPermutation,
  channelOrderFromWeights,
  permuteProjections,
  type RopeLayout,
  restoreChannelOrder,
  ropeFrequencies,
} from '../../src/bfp/ksort.js';
import { dequantizeBlocks, quantizeBlocks } from '../../src/bfp/quantize.js';
import { isLowbitError } from '../../src/common/errors.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { gaussian, rng } from './helpers.js';

const t32 = (data: Float32Array, shape: number[]): Float32Tensor => ({ dtype: 'float32', data, shape });

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isLowbitError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  expect.unreachable(`expected ${code}`);
}

/** Keys [H, T, D] with a few outlier channels per head. */
function outlierKeys(H: number, T: number, D: number, seed: number): Float32Tensor {
  const k = gaussian(H * T * D, seed);
  const r = rng(seed + 1);
  for (let h = 0; h < H; h++)
    for (let c = 0; c < 3; c++) {
      const j = Math.floor(r() * D);
      const m = 8 + 20 * r();
      for (let t = 0; t < T; t++) k[(h * T + t) * D + j] = k[(h * T + t) * D + j]! * m;
    }
  return t32(k, [H, T, D]);
}

/** y = W·x for all tokens, float64: W [rows, d], X [T, d] → [T, rows]. */
function project(W: Float32Array, rows: number, X: Float64Array, T: number, d: number): Float64Array {
  const out = new Float64Array(T * rows);
  for (let t = 0; t < T; t++)
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += W[r * d + c]! * X[t * d + c]!;
      out[t * rows + r] = s;
    }
  return out;
}

/** RoPE in place on [T, heads·D]; freqs(h, i) is the frequency of pair slot i of head h. */
function rope(
  y: Float64Array,
  T: number,
  heads: number,
  D: number,
  layout: RopeLayout,
  freqs: (h: number, i: number) => number,
) {
  if (layout === 'none') return;
  for (let t = 0; t < T; t++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < D / 2; i++) {
        const [a, b] = layout === 'interleaved' ? [2 * i, 2 * i + 1] : [i, i + D / 2];
        const th = t * freqs(h, i);
        const base = t * heads * D + h * D;
        const u = y[base + a]!;
        const v = y[base + b]!;
        y[base + a] = u * Math.cos(th) - v * Math.sin(th);
        y[base + b] = u * Math.sin(th) + v * Math.cos(th);
      }
}

/** Per query head scores [Hq, T, T] (float64). */
function scores(
  wq: Float32Array,
  wk: Float32Array,
  X: Float64Array,
  T: number,
  d: number,
  Hq: number,
  H: number,
  D: number,
  layout: RopeLayout,
  freqs: (h: number, i: number) => number,
): Float64Array {
  const q = project(wq, Hq * D, X, T, d);
  const k = project(wk, H * D, X, T, d);
  const g = Hq / H;
  rope(q, T, Hq, D, layout, (h, i) => freqs(Math.floor(h / g), i));
  rope(k, T, H, D, layout, freqs);
  const s = new Float64Array(Hq * T * T);
  for (let h = 0; h < Hq; h++)
    for (let a = 0; a < T; a++)
      for (let b = 0; b < T; b++) {
        let acc = 0;
        for (let j = 0; j < D; j++) acc += q[a * Hq * D + h * D + j]! * k[b * H * D + Math.floor(h / g) * D + j]!;
        s[(h * T + a) * T + b] = acc;
      }
  return s;
}

function maxRelDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return m / scale;
}

function checkInvariance(
  wq: Float32Tensor,
  wk: Float32Tensor,
  X: Float64Array,
  T: number,
  Hq: number,
  H: number,
  D: number,
  order: ChannelOrder,
): { before: Float64Array; after: Float64Array; freqs: Float64Array | undefined } {
  const d = wq.shape[1]!;
  const base = ropeFrequencies(D);
  const p = permuteProjections({ wq, wk, numHeads: Hq, numKvHeads: H, headDim: D, order });
  const before = scores(wq.data, wk.data, X, T, d, Hq, H, D, order.rope, (_h, i) => base[i]!);
  const f = p.freqs;
  const after = scores(p.wq.data, p.wk.data, X, T, d, Hq, H, D, order.rope, (h, i) => f![h * (D / 2) + i]!);
  return { before, after, freqs: f };
}

describe('calibrateChannelOrder', () => {
  const H = 3;
  const T = 20;
  const D = 16;
  const k = outlierKeys(H, T, D, 42);

  it('head scope: per-head bijection sorted ascending by the channel L2 norm', () => {
    const o = calibrateChannelOrder(k, { blockSize: 4 });
    expect(o.scope).toBe('head');
    expect(o.pairPerm).toBeNull();
    for (let h = 0; h < H; h++) {
      const slots = Array.from(o.perm.subarray(h * D, (h + 1) * D));
      expect([...slots].sort((a, b) => a - b)).toEqual(Array.from({ length: D }, (_, j) => h * D + j));
      const norm = (c: number) => {
        let s = 0;
        for (let t = 0; t < T; t++) s += k.data[(h * T + t) * D + (c % D)]! ** 2;
        return Math.sqrt(s);
      };
      for (let j = 1; j < D; j++) expect(norm(slots[j]!)).toBeGreaterThanOrEqual(norm(slots[j - 1]!));
    }
    for (let p = 0; p < H * D; p++) expect(o.inverse[o.perm[p]!]).toBe(p);
  });

  it('RoPE pairs move together (interleaved and half), and pairPerm names their frequencies', () => {
    for (const ropeL of ['interleaved', 'half'] as const) {
      const o = calibrateChannelOrder(k, { blockSize: 4, rope: ropeL });
      for (let h = 0; h < H; h++)
        for (let i = 0; i < D / 2; i++) {
          const [a, b] = ropeL === 'interleaved' ? [2 * i, 2 * i + 1] : [i, i + D / 2];
          const src = o.pairPerm![h * (D / 2) + i]!;
          const [sa, sb] = ropeL === 'interleaved' ? [2 * src, 2 * src + 1] : [src, src + D / 2];
          expect(o.perm[h * D + a]).toBe(h * D + sa);
          expect(o.perm[h * D + b]).toBe(h * D + sb);
        }
      const shared = calibrateChannelOrder(k, { blockSize: 4, rope: ropeL, ropeTable: 'shared' });
      for (let h = 1; h < H; h++)
        expect(Array.from(shared.pairPerm!.subarray(h * 8, h * 8 + 8))).toEqual(
          Array.from(shared.pairPerm!.subarray(0, 8)),
        );
    }
  });

  it('layer scope may cross heads; apply then restore is the identity for every scope', () => {
    const layer = calibrateChannelOrder(k, { blockSize: 8, scope: 'layer' });
    let crosses = 0;
    for (let p = 0; p < H * D; p++) if (Math.floor(layer.perm[p]! / D) !== Math.floor(p / D)) crosses++;
    expect(crosses).toBeGreaterThan(0);
    for (const o of [
      layer,
      calibrateChannelOrder(k, { blockSize: 4 }),
      calibrateChannelOrder(k, { blockSize: 4, rope: 'half', scope: 'layer', statistic: 'absmax' }),
      calibrateChannelOrder(k, { blockSize: 4, rope: 'interleaved', statistic: 'mean-abs' }),
    ]) {
      const p = applyChannelOrder(k, o);
      expect(Array.from(restoreChannelOrder(p, o).data)).toEqual(Array.from(k.data));
      expect(p.data[(0 * T + 5) * D + 3]).toBe(k.data[Math.floor(o.perm[3]! / D) * T * D + 5 * D + (o.perm[3]! % D)]);
    }
  });

  it('block size = head dim: quantized K after un-permuting is bit-identical to no sort', () => {
    const o = calibrateChannelOrder(k, { blockSize: D, rope: 'interleaved' });
    for (const format of ['bfp12', 'mxfp4'] as const) {
      const plain = dequantizeBlocks(quantizeBlocks(k, { format, blockSize: D })).data;
      const sorted = restoreChannelOrder(
        dequantizeBlocks(quantizeBlocks(applyChannelOrder(k, o), { format, blockSize: D })),
        o,
      ).data;
      expect(Buffer.from(sorted.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
    }
  });

  it('block size < head dim: sorting lowers the BFP12 error when outliers fill a block', () => {
    // 4 outlier channels (×20) scattered over 4 blocks; sorted, they share one block of 4
    const k = t32(gaussian(H * T * D, 5), [H, T, D]);
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) for (const j of [1, 6, 10, 15]) k.data[(h * T + t) * D + j]! *= 20;
    const o = calibrateChannelOrder(k, { blockSize: 4 });
    const err = (y: Float32Array) => y.reduce((s, v, i) => s + (v - k.data[i]!) ** 2, 0);
    const plain = dequantizeBlocks(quantizeBlocks(k, { format: 'bfp12', blockSize: 4 })).data;
    const sorted = restoreChannelOrder(
      dequantizeBlocks(quantizeBlocks(applyChannelOrder(k, o), { format: 'bfp12', blockSize: 4 })),
      o,
    ).data;
    expect(err(sorted)).toBeLessThan(err(plain));
  });
});

describe('permuteProjections keeps Q·Kᵀ', () => {
  const d = 24;
  const T = 6;
  for (const [Hq, H] of [
    [4, 4],
    [6, 2],
  ] as const) {
    for (const ropeL of ['none', 'interleaved', 'half'] as const) {
      it(`${Hq} query heads / ${H} KV heads, rope ${ropeL}`, () => {
        const D = 8;
        const wq = t32(gaussian(Hq * D * d, 1), [Hq * D, d]);
        const wk = t32(gaussian(H * D * d, 2), [H * D, d]);
        const X = Float64Array.from(gaussian(T * d, 3));
        const keys = outlierKeys(H, 12, D, 9);
        const order = calibrateChannelOrder(keys, { blockSize: 2, rope: ropeL });
        const wqCopy = wq.data.slice();
        const { before, after, freqs } = checkInvariance(wq, wk, X, T, Hq, H, D, order);
        expect(maxRelDiff(before, after)).toBeLessThan(3e-13);
        expect(freqs === undefined).toBe(ropeL === 'none');
        expect(Array.from(wq.data)).toEqual(Array.from(wqCopy)); // inputs untouched
        // biases follow the rows
        const bq = t32(gaussian(Hq * D, 4), [Hq * D]);
        const bk = t32(gaussian(H * D, 5), [H * D]);
        const p = permuteProjections({ wq, wk, bq, bk, numHeads: Hq, numKvHeads: H, headDim: D, order });
        for (let r = 0; r < H * D; r++) expect(p.bk!.data[r]).toBe(bk.data[order.perm[r]!]);
        for (let r = 0; r < H * D; r++) expect(p.wk.data[r * d]).toBe(wk.data[order.perm[r]! * d]);
        const g = Hq / H;
        for (let q = 0; q < Hq; q++)
          for (let j = 0; j < D; j++) {
            const h = Math.floor(q / g);
            expect(p.bq!.data[q * D + j]).toBe(bq.data[q * D + order.perm[h * D + j]! - h * D]);
          }
      });
    }
  }

  it('a channel permutation that splits RoPE pairs does change the scores (the test can fail)', () => {
    const D = 8;
    const wq = t32(gaussian(2 * D * 16, 1), [2 * D, 16]);
    const wk = t32(gaussian(2 * D * 16, 2), [2 * D, 16]);
    const X = Float64Array.from(gaussian(5 * 16, 3));
    const perm = [1, 2, 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const bad = channelOrderFromPermutation(perm, { kvHeads: 2, headDim: D, blockSize: 4 });
    const base = ropeFrequencies(D);
    const p = permuteProjections({ wq, wk, numHeads: 2, numKvHeads: 2, headDim: D, order: bad });
    const s0 = scores(wq.data, wk.data, X, 5, 16, 2, 2, D, 'interleaved', (_h, i) => base[i]!);
    const s1 = scores(p.wq.data, p.wk.data, X, 5, 16, 2, 2, D, 'interleaved', (_h, i) => base[i]!);
    expect(maxRelDiff(s0, s1)).toBeGreaterThan(1e-3);
  });

  it('on the stories260K weights (5 layers, GQA 8/4, interleaved RoPE): data-free and calibrated orders', () => {
    const path = fileURLToPath(new URL('../../models/stories260K/stories260K.bin', import.meta.url));
    const buf = readFileSync(path);
    const hdr = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
    const [dim, hidden, L, Hq, H, vocab] = Array.from(hdr) as [number, number, number, number, number, number];
    expect([dim, hidden, L, Hq, H, vocab]).toEqual([64, 172, 5, 8, 4, 512]);
    const f = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
    const D = dim / Hq;
    const kv = H * D;
    let off = 0;
    const emb = f.subarray(off, (off += vocab * dim));
    off += L * dim; // rms_att
    const wqAll = f.subarray(off, (off += L * dim * dim));
    const wkAll = f.subarray(off, off + L * kv * dim);
    // real inputs: 10 token embeddings
    const T = 10;
    const X = new Float64Array(T * dim);
    for (let t = 0; t < T; t++) for (let c = 0; c < dim; c++) X[t * dim + c] = emb[(37 * t + 5) * dim + c]!;
    for (let l = 0; l < L; l++) {
      const wq = t32(wqAll.slice(l * dim * dim, (l + 1) * dim * dim), [dim, dim]);
      const wk = t32(wkAll.slice(l * kv * dim, (l + 1) * kv * dim), [kv, dim]);
      const byWeights = channelOrderFromWeights(wk, { numKvHeads: H, headDim: D, blockSize: 4, rope: 'interleaved' });
      const kProj = project(wk.data, kv, X, T, dim);
      const keys = new Float32Array(H * T * D);
      for (let h = 0; h < H; h++)
        for (let t = 0; t < T; t++) for (let j = 0; j < D; j++) keys[(h * T + t) * D + j] = kProj[t * kv + h * D + j]!;
      const calibrated = calibrateChannelOrder(t32(keys, [H, T, D]), { blockSize: 4, rope: 'interleaved' });
      for (const order of [byWeights, calibrated]) {
        const { before, after } = checkInvariance(wq, wk, X, T, Hq, H, D, order);
        expect(maxRelDiff(before, after)).toBeLessThan(3e-13);
      }
    }
  });
});

describe('bad input', () => {
  const D = 4;
  const wq = t32(gaussian(8 * D * 6, 1), [8 * D, 6]);
  const wk = t32(gaussian(4 * D * 6, 2), [4 * D, 6]);
  const order = calibrateChannelOrder(outlierKeys(4, 5, D, 3), { blockSize: 2 });
  const base = { wq, wk, numHeads: 8, numKvHeads: 4, headDim: D, order };
  it('shape mismatches between weights and heads → E_SHAPE', () => {
    expectCode(() => permuteProjections({ ...base, wq: t32(gaussian(7 * D * 6, 1), [7 * D, 6]) }), 'E_SHAPE');
    expectCode(() => permuteProjections({ ...base, wk: t32(gaussian(4 * D * 5, 1), [4 * D, 5]) }), 'E_SHAPE');
    expectCode(() => permuteProjections({ ...base, numHeads: 6 }), 'E_SHAPE');
    expectCode(
      () =>
        permuteProjections({
          ...base,
          numHeads: 4,
          numKvHeads: 2,
          wq: t32(gaussian(4 * D * 6, 1), [4 * D, 6]),
          wk: t32(gaussian(2 * D * 6, 1), [2 * D, 6]),
        }),
      'E_SHAPE',
    );
    expectCode(() => permuteProjections({ ...base, bk: t32(new Float32Array(3), [3]) }), 'E_SHAPE');
    expectCode(() => calibrateChannelOrder(t32(new Float32Array(8), [2, 4]), { blockSize: 2 }), 'E_SHAPE');
    expectCode(() => applyChannelOrder(t32(new Float32Array(30), [3, 5, 2]), order), 'E_SHAPE');
  });
  it('orders that are not permutations, or not allowed → E_CONFIG', () => {
    const o = { kvHeads: 1, headDim: 4, blockSize: 2 };
    expectCode(() => channelOrderFromPermutation([0, 1, 1, 3], o), 'E_CONFIG');
    expectCode(() => channelOrderFromPermutation([0, 1, 2], o), 'E_CONFIG');
    expectCode(() => channelOrderFromPermutation([0, 1, 2, 4], o), 'E_CONFIG');
    expectCode(() => channelOrderFromPermutation([0, 1, 2, 3.5], o), 'E_CONFIG');
    expectCode(() => channelOrderFromPermutation([1, 2, 0, 3], { ...o, rope: 'interleaved' }), 'E_CONFIG');
    expectCode(() => channelOrderFromPermutation([4, 1, 2, 3, 0, 5, 6, 7], { ...o, kvHeads: 2 }), 'E_CONFIG');
    expect(channelOrderFromPermutation([4, 1, 2, 3, 0, 5, 6, 7], { ...o, kvHeads: 2, scope: 'layer' }).scope).toBe(
      'layer',
    );
    expect(Array.from(channelOrderFromPermutation([2, 3, 0, 1], { ...o, rope: 'interleaved' }).pairPerm!)).toEqual([
      1, 0,
    ]);
    const broken = { ...order, perm: order.perm.slice().fill(0) };
    expectCode(() => permuteProjections({ ...base, order: broken }), 'E_CONFIG');
    const layer = calibrateChannelOrder(outlierKeys(4, 5, D, 3), { blockSize: 2, scope: 'layer' });
    expectCode(() => permuteProjections({ ...base, order: layer }), 'E_CONFIG');
    expectCode(() => calibrateChannelOrder(outlierKeys(1, 3, 4, 1), { blockSize: 0 }), 'E_CONFIG');
    expectCode(
      () => calibrateChannelOrder(outlierKeys(1, 3, 4, 1), { blockSize: 2, rope: 'neox' as never }),
      'E_CONFIG',
    );
    expectCode(
      () => calibrateChannelOrder(outlierKeys(1, 3, 4, 1), { blockSize: 2, scope: 'model' as never }),
      'E_CONFIG',
    );
    expectCode(() => calibrateChannelOrder(outlierKeys(1, 3, 4, 1), undefined as never), 'E_CONFIG');
    expectCode(
      () => calibrateChannelOrder(t32(new Float32Array(6), [1, 2, 3]), { blockSize: 2, rope: 'half' }),
      'E_SHAPE',
    );
    const nan = outlierKeys(1, 3, 4, 1);
    nan.data[2] = Number.NaN;
    expectCode(() => calibrateChannelOrder(nan, { blockSize: 2 }), 'E_NONFINITE');
    expectCode(
      () =>
        calibrateChannelOrder({ dtype: 'int8', data: new Int8Array(12), shape: [1, 3, 4] } as never, { blockSize: 2 }),
      'E_DTYPE',
    );
  });
});
