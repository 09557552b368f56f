/**
 * Tensor-level quality of every quantizer on one tensor: bits per element, compression ratio, nmse,
 * SQNR, max abs error and, for K caches (`[heads, tokens, headDim]`), the attention-score error. Used by
 * `lowbit eval <file>` and the demo.
 *
 * Layout convention: the last axis is channels, the second-to-last tokens (a 1-D tensor is one token).
 * Methods (`--method`), each at every requested bit width (`--bits`) with group/block size G (`--group`):
 * - `kivi-keys`: asymmetric min/max per channel in groups of G tokens (KIVI's key grouping; the
 *   float-min convention of lowbit/common `quantizeAffine`, which is KIVI's), `kivi-values`: per token in
 *   groups of G channels; `per-token` / `per-channel`: one group per whole token / channel. Bits/elem:
 *   b + 64/G (float32 scale and min per group).
 * - block formats (`bfp12`, `mxfp4`, …; the format fixes the bits) with blocks of G channels (for a
 *   rank-3 K/V cache: along all heads·headDim channels of a token, as a block KV cache stores them), and
 *   the same with `-ksort` (`bfp12-ksort`): channels reordered by ascending absmax over the tensor's own
 *   tokens (a storage-level, layer-scope K-sort, self-calibrated) before blocking. Bits/elem: lowbit/bfp
 *   `bitsPerElement`.
 * - `mwq-matquant`, `mwq-truncate`, `mwq-residual`: the tensor as a weight `[rows, channels]`, an 8-bit
 *   nested quantizer (lowbit/mwq) served at level b (groups of G along channels; residual without
 *   calibration data). Bits/elem: b + 64/G.
 * - `hadamard`, `klt-hadamard`: per-token symmetric absmax fake quantization after the rotation
 *   (lowbit/mambaquant), error measured after the inverse rotation. Bits/elem: b + 32/channels.
 *
 * Attention-score error (rank-3 tensors only, each treated as a K cache): queries are the float keys themselves, per head
 * S = K·Kᵀ/√D vs K·K̂ᵀ/√D; reported as ‖S − Ŝ‖² / ‖S‖² (an nmse of the scores).
 *
 * Exposed: TENSOR_METHODS, TensorEvalRow, evalTensor, methodBits.
 * @module
 */
import {
  type BlockFormat,
  bitsPerElement,
  calibrateChannelOrder,
  dequantizeBlocks,
  quantizeBlocks,
} from '../bfp/index.js';
import { dequantizeAffine, quantizeAffine } from '../common/affine.js';
import { fail } from '../common/errors.js';
import { errorReport } from '../common/metrics.js';
import type { Float32Tensor } from '../common/tensor.js';
import { fakeQuantRows, hadamardRotation, hasHadamard, kltRotation } from '../mambaquant/index.js';
import { quantizeNested } from '../mwq/index.js';

/**
 * Every method name `evalTensor` knows.
 *
 * @example
 * ```ts
 * TENSOR_METHODS.includes('kivi-keys'); // true
 * ```
 */
export const TENSOR_METHODS: readonly string[] = [
  'kivi-keys',
  'kivi-values',
  'per-token',
  'per-channel',
  'bfp12',
  'bfp12-ksort',
  'bfp14',
  'bfp16',
  'mxfp4',
  'mxfp4-ksort',
  'mxfp6_e2m3',
  'mxfp8_e4m3',
  'mxint8',
  'mwq-matquant',
  'mwq-truncate',
  'mwq-residual',
  'hadamard',
  'klt-hadamard',
];

const BLOCK = new Set([
  'bfp12',
  'bfp14',
  'bfp16',
  'bfp24',
  'mxfp4',
  'mxfp6_e2m3',
  'mxfp6_e3m2',
  'mxfp8_e4m3',
  'mxfp8_e5m2',
  'mxint8',
]);

/**
 * One (tensor, method, bits) result.
 *
 * @example
 * ```ts
 * const row: TensorEvalRow = evalTensor('k', keys, ['mxfp4'], [4], 8, 32)[0];
 * ```
 */
export interface TensorEvalRow {
  readonly tensor: string;
  readonly method: string;
  /** Code bits (the format's element bits for block formats). */
  readonly bits: number;
  readonly groupSize: number;
  readonly bitsPerElement: number;
  /** Source element bits ÷ bits per element. */
  readonly compression: number;
  readonly nmse: number;
  readonly sqnrDb: number;
  readonly maxAbsError: number;
  /** Attention-score nmse for `[heads, tokens, headDim]` tensors, else null. */
  readonly scoreNmse: number | null;
  /** Why a method was skipped, if it was (then the numbers are NaN). */
  readonly skipped?: string;
}

/**
 * Whether a method takes `--bits` (block formats fix their own width).
 *
 * @example
 * ```ts
 * methodBits('mxfp4'); // 4 (fixed)
 * ```
 */
export function methodBits(method: string): number | null {
  const base = method.replace(/-ksort$/, '');
  if (!BLOCK.has(base)) return null;
  const t = {
    bfp12: 4,
    bfp14: 6,
    bfp16: 8,
    bfp24: 16,
    mxfp4: 4,
    mxfp6_e2m3: 6,
    mxfp6_e3m2: 6,
    mxfp8_e4m3: 8,
    mxfp8_e5m2: 8,
    mxint8: 8,
  } as Record<string, number>;
  return t[base]!;
}

function scores(k: Float32Array, kh: Float32Array, H: number, T: number, D: number): number {
  let num = 0;
  let den = 0;
  const inv = 1 / Math.sqrt(D);
  for (let h = 0; h < H; h++)
    for (let i = 0; i < T; i++) {
      const qi = (h * T + i) * D;
      for (let j = 0; j < T; j++) {
        const kj = (h * T + j) * D;
        let s = 0;
        let sh = 0;
        for (let d = 0; d < D; d++) {
          s += k[qi + d]! * k[kj + d]!;
          sh += k[qi + d]! * kh[kj + d]!;
        }
        num += ((s - sh) * inv) ** 2;
        den += (s * inv) ** 2;
      }
    }
  return den === 0 ? 0 : num / den;
}

/**
 * Quantize `x` with `method` at `bits` (group/block `groupSize`) and measure the error. `sourceBits` is
 * the element width of the tensor in its file (for the compression ratio).
 *
 * @example
 * ```ts
 * const rows = evalTensor('k', keys, ['kivi-keys', 'mxfp4'], [2, 4], 32, 32);
 * ```
 */
export function evalTensor(
  name: string,
  x: Float32Tensor,
  methods: readonly string[],
  bitsList: readonly number[],
  groupSize: number,
  sourceBits: number,
): TensorEvalRow[] {
  const shape = x.shape.length === 0 ? [1] : x.shape;
  const C = shape[shape.length - 1]!;
  const rowsN = C === 0 ? 0 : x.data.length / C;
  const rank3 = shape.length === 3;
  const out: TensorEvalRow[] = [];
  let nonFinite = 0;
  for (let i = 0; i < x.data.length; i++) if (!Number.isFinite(x.data[i]!)) nonFinite++;
  for (const method of methods) {
    if (!TENSOR_METHODS.includes(method) && !BLOCK.has(method.replace(/-ksort$/, '')))
      fail('E_CONFIG', `unknown method ${JSON.stringify(method)}; known: ${TENSOR_METHODS.join(', ')}`);
    const fixed = methodBits(method);
    for (const bits of fixed === null ? bitsList : [fixed]) {
      const G = Math.max(1, groupSize);
      let deq: Float32Array | undefined;
      let bpe = Number.NaN;
      let skipped: string | undefined;
      try {
        if (nonFinite > 0) throw new Error(`the tensor has ${nonFinite} non-finite value(s); errors are undefined`);
        if (x.data.length === 0) throw new Error('empty tensor');
        const r = quantizeOne(method, x, shape, C, rowsN, bits, G);
        if (typeof r === 'string') skipped = r;
        else [deq, bpe] = r;
      } catch (e) {
        skipped = (e as Error).message;
      }
      if (deq === undefined) {
        out.push({
          tensor: name,
          method,
          bits,
          groupSize: G,
          bitsPerElement: Number.NaN,
          compression: Number.NaN,
          nmse: Number.NaN,
          sqnrDb: Number.NaN,
          maxAbsError: Number.NaN,
          scoreNmse: null,
          skipped: skipped ?? 'skipped',
        });
        continue;
      }
      const e = errorReport(x.data, deq);
      out.push({
        tensor: name,
        method,
        bits,
        groupSize: G,
        bitsPerElement: bpe,
        compression: sourceBits / bpe,
        nmse: e.nmse,
        sqnrDb: e.sqnrDb,
        maxAbsError: e.maxAbsError,
        scoreNmse: rank3 ? scores(x.data, deq, shape[0]!, shape[1]!, C) : null,
      });
    }
  }
  return out;
}

function quantizeOne(
  method: string,
  x: Float32Tensor,
  shape: readonly number[],
  C: number,
  rowsN: number,
  bits: number,
  G: number,
): [Float32Array, number] | string {
  const t: Float32Tensor = { dtype: 'float32', data: x.data, shape: shape.length === 1 ? [1, C] : [...shape] };
  const tokAxis = t.shape.length - 2;
  const chAxis = t.shape.length - 1;
  const affine = (axis: number, groupSize?: number): Float32Array => {
    if (bits < 1 || bits > 16) fail('E_CONFIG', `bits must be 1..16 for ${method}, got ${bits}`);
    return dequantizeAffine(quantizeAffine(t, { bits, axis, ...(groupSize !== undefined ? { groupSize } : {}) })).data;
  };
  switch (method) {
    case 'kivi-keys':
      return [affine(tokAxis, G), bits + 64 / Math.min(G, t.shape[tokAxis]!)];
    case 'kivi-values':
      return [affine(chAxis, G), bits + 64 / Math.min(G, C)];
    case 'per-token':
      return [affine(chAxis), bits + 64 / C];
    case 'per-channel':
      return [affine(tokAxis), bits + 64 / t.shape[tokAxis]!];
    case 'mwq-matquant':
    case 'mwq-truncate':
    case 'mwq-residual': {
      if (bits < 2 || bits > 8) return `MWQ levels are 2..8, got ${bits}`;
      const g = C % G === 0 ? G : C;
      const w: Float32Tensor = { dtype: 'float32', data: x.data, shape: [rowsN, C] };
      const n = quantizeNested(w, { scheme: method.slice(4) as 'matquant', bits: 8, groupSize: g });
      return [n.dequantize(bits).data, bits + 64 / g];
    }
    case 'hadamard':
    case 'klt-hadamard': {
      if (bits < 2 || bits > 16) return `bits must be 2..16 for ${method}`;
      if (!hasHadamard(C)) return `no Hadamard of size ${C}`;
      const m: Float32Tensor = { dtype: 'float32', data: x.data, shape: [rowsN, C] };
      const R = method === 'hadamard' ? hadamardRotation(C) : kltRotation(m, { center: false });
      const y = R.apply(m);
      fakeQuantRows(y.data, rowsN, C, bits);
      return [R.applyInverse(y).data, bits + 32 / C];
    }
  }
  const ksort = method.endsWith('-ksort');
  const fmt = method.replace(/-ksort$/, '') as BlockFormat;
  const bpe = bitsPerElement(fmt, G);
  // rank 3 [heads, tokens, headDim] (a K/V cache): blocks run along all heads·headDim channels of a token,
  // as a block KV cache stores them, so K-sort may move channels across heads (layer scope)
  const kv = shape.length === 3;
  const H = kv ? shape[0]! : 1;
  const T = kv ? shape[1]! : rowsN;
  const W = kv ? H * C : C;
  let rowsData = x.data;
  if (kv) {
    rowsData = new Float32Array(x.data.length);
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++)
        for (let j = 0; j < C; j++) rowsData[t * W + h * C + j] = x.data[(h * T + t) * C + j]!;
  }
  const q = (d: Float32Array) =>
    dequantizeBlocks(quantizeBlocks({ dtype: 'float32', data: d, shape: [T, W] }, { format: fmt, blockSize: G })).data;
  let back: Float32Array;
  if (!ksort) back = q(rowsData);
  else {
    const order = calibrateChannelOrder(
      { dtype: 'float32', data: rowsData, shape: [1, T, W] },
      { blockSize: G, scope: 'layer', statistic: 'absmax' },
    );
    const perm = new Float32Array(rowsData.length);
    for (let r = 0; r < T; r++) for (let p = 0; p < W; p++) perm[r * W + p] = rowsData[r * W + order.perm[p]!]!;
    const d = q(perm);
    back = new Float32Array(rowsData.length);
    for (let r = 0; r < T; r++) for (let p = 0; p < W; p++) back[r * W + order.perm[p]!] = d[r * W + p]!;
  }
  if (!kv) return [back, bpe];
  const out = new Float32Array(x.data.length);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++) for (let j = 0; j < C; j++) out[(h * T + t) * C + j] = back[t * W + h * C + j]!;
  return [out, bpe];
}
