/**
 * The streaming cache's state and its state machine (kivi.md §4): full-precision key/value residuals,
 * key flushes in whole R-token blocks aligned at multiples of R, value flushes one token at a time.
 *
 * Storage (one layer, one sequence; H = kvHeads, fk = 32/keyBits, fv = 32/valueBits):
 * - quantized keys: a list of R-token blocks, each codes `[H, R/fk, D]` + scales/mins `[H, R/Gk, D]`
 *   (per head, the same layout `quantizeKeys` returns for those R tokens);
 * - quantized values: chunks of {@link VALUE_CHUNK} tokens, codes `[chunk, H, D/fv]` + scales/mins
 *   `[chunk, H, D/Gv]` (token-major, so a flush writes one contiguous row);
 * - residual keys `[H, R + 1, D]` (linear), residual values a ring of R + 2 rows `[H, D]`.
 * Scales and mins are held as float32 numbers (already rounded to float16 when `scaleDtype` is
 * `'float16'`). Tokens are pushed one at a time, so the state depends only on the token sequence.
 *
 * Internal module. Exposed to the other kivi modules: CacheState, KeyBlock, ValueChunk, VALUE_CHUNK,
 * createState, residualCounts, pushTokens, settle, heldBytes.
 * @module
 */

import { fail } from '../common/errors.js';
import { describe } from '../common/tensor.js';
import { type KiviArrays, type NormalizedCacheConfig, PLAIN_ARRAYS } from './config.js';
import { quantizeKeysKernel, quantizeValueRowKernel } from './quantizer.js';

/** Tokens per value chunk. */
export const VALUE_CHUNK = 256;

export interface KeyBlock {
  readonly codes: Uint32Array;
  readonly scales: Float32Array;
  readonly mins: Float32Array;
}

export interface ValueChunk {
  readonly codes: Uint32Array;
  readonly scales: Float32Array;
  readonly mins: Float32Array;
}

export interface CacheState {
  readonly cfg: NormalizedCacheConfig;
  /** Where the storage arrays come from (`KiviCacheConfig.arrays`). */
  readonly arrays: KiviArrays;
  length: number;
  readonly kBlocks: KeyBlock[];
  readonly kRes: Float32Array;
  kResLen: number;
  readonly vChunks: ValueChunk[];
  vQLen: number;
  readonly vRes: Float32Array;
  vResStart: number;
  vResLen: number;
  readonly mnBuf: Float32Array;
  readonly mxBuf: Float32Array;
}

/**
 * A new array of n elements from `arrays`, checked when it is a caller's allocator: of type C, n
 * elements, all zero (E_CONFIG otherwise: an allocator that hands out the wrong size or a used array).
 */
function take<A extends Float32Array | Uint32Array>(arrays: KiviArrays, C: new (n: number) => A, n: number): A {
  const a = (C === (Float32Array as unknown) ? arrays.float32(n) : arrays.uint32(n)) as A;
  if (arrays === PLAIN_ARRAYS) return a;
  if (!(a instanceof C) || a.length !== n)
    fail(
      'E_CONFIG',
      `KiviCache: arrays handed out ${describe(a)}${ArrayBuffer.isView(a) ? ` of ${(a as A).length}` : ''} for ${C.name}(${n})`,
    );
  for (let i = 0; i < n; i++)
    if (a[i] !== 0) fail('E_CONFIG', 'KiviCache: arrays handed out an array that is not zero-filled');
  return a;
}

/** Capacity (rows) of the value residual ring. */
export function valueRingRows(cfg: NormalizedCacheConfig): number {
  return cfg.residualLength + 2;
}

export function createState(cfg: NormalizedCacheConfig, arrays: KiviArrays): CacheState {
  const { kvHeads: H, headDim: D, residualLength: R } = cfg;
  return {
    cfg,
    arrays,
    length: 0,
    kBlocks: [],
    kRes: take(arrays, Float32Array, H * (R + 1) * D),
    kResLen: 0,
    vChunks: [],
    vQLen: 0,
    vRes: take(arrays, Float32Array, valueRingRows(cfg) * H * D),
    vResStart: 0,
    vResLen: 0,
    mnBuf: new Float32Array(D),
    mxBuf: new Float32Array(D),
  };
}

/**
 * Residual sizes after T tokens: at rest (`'before-attention'`) rK = T mod R, rV = min(T, R); with
 * `'after-attention'` the last append's flush is deferred: rK = ((T − 1) mod R) + 1, rV = min(T, R + 1).
 */
export function residualCounts(
  R: number,
  T: number,
  order: NormalizedCacheConfig['flushOrder'],
): { rK: number; rV: number } {
  if (T === 0) return { rK: 0, rV: 0 };
  if (order === 'before-attention') return { rK: T % R, rV: Math.min(T, R) };
  return { rK: ((T - 1) % R) + 1, rV: Math.min(T, R + 1) };
}

function flushKeyBlock(st: CacheState): void {
  const { kvHeads: H, headDim: D, residualLength: R, keyBits: bits, keyGroupSize: G, scaleDtype } = st.cfg;
  const f = 32 / bits;
  const codes = take(st.arrays, Uint32Array, (H * R * D) / f);
  const scales = take(st.arrays, Float32Array, (H * R * D) / G);
  const mins = take(st.arrays, Float32Array, scales.length);
  const stride = (R + 1) * D;
  for (let h = 0; h < H; h++) {
    quantizeKeysKernel(
      st.kRes,
      h * stride,
      R,
      D,
      bits,
      G,
      scaleDtype === 'float16',
      null,
      codes,
      (h * R * D) / f,
      scales,
      mins,
      (h * R * D) / G,
      st.mnBuf,
      st.mxBuf,
    );
  }
  const rest = st.kResLen - R;
  for (let h = 0; h < H; h++) st.kRes.copyWithin(h * stride, h * stride + R * D, h * stride + (R + rest) * D);
  st.kResLen = rest;
  st.kBlocks.push({ codes, scales, mins });
}

function flushOldestValue(st: CacheState): void {
  const { kvHeads: H, headDim: D, valueBits: bits, valueGroupSize: G, scaleDtype } = st.cfg;
  const f = 32 / bits;
  const t = st.vQLen;
  const ci = (t / VALUE_CHUNK) | 0;
  if (ci === st.vChunks.length) {
    const n = VALUE_CHUNK * H * D;
    st.vChunks.push({
      codes: take(st.arrays, Uint32Array, n / f),
      scales: take(st.arrays, Float32Array, n / G),
      mins: take(st.arrays, Float32Array, n / G),
    });
  }
  const chunk = st.vChunks[ci]!;
  const tt = t - ci * VALUE_CHUNK;
  const row = st.vResStart * H * D;
  for (let h = 0; h < H; h++) {
    const r = tt * H + h;
    quantizeValueRowKernel(
      st.vRes,
      row + h * D,
      D,
      bits,
      G,
      scaleDtype === 'float16',
      null,
      chunk.codes,
      (r * D) / f,
      chunk.scales,
      chunk.mins,
      (r * D) / G,
    );
  }
  st.vResStart = (st.vResStart + 1) % valueRingRows(st.cfg);
  st.vResLen--;
  st.vQLen++;
}

/** Flush to the at-rest state (keys while |Kr| ≥ R, values while |Vr| > R). */
export function settle(st: CacheState): void {
  const R = st.cfg.residualLength;
  while (st.kResLen >= R) flushKeyBlock(st);
  while (st.vResLen > R) flushOldestValue(st);
}

/**
 * Push tokens `k[h, i, :]`, `v[h, i, :]` for i in [0, n) (inputs `[H, n, D]`, already validated),
 * flushing after each token according to the flush order.
 */
export function pushTokens(st: CacheState, k: Float32Array, v: Float32Array, n: number): void {
  const { kvHeads: H, headDim: D, residualLength: R, flushOrder } = st.cfg;
  if (flushOrder === 'after-attention') settle(st);
  const keyLimit = flushOrder === 'before-attention' ? R - 1 : R;
  const valueLimit = flushOrder === 'before-attention' ? R : R + 1;
  const kStride = (R + 1) * D;
  const ring = valueRingRows(st.cfg);
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < H; h++) {
      const src = (h * n + i) * D;
      st.kRes.set(k.subarray(src, src + D), h * kStride + st.kResLen * D);
      st.vRes.set(v.subarray(src, src + D), (((st.vResStart + st.vResLen) % ring) * H + h) * D);
    }
    st.kResLen++;
    st.vResLen++;
    st.length++;
    while (st.kResLen > keyLimit) flushKeyBlock(st);
    while (st.vResLen > valueLimit) flushOldestValue(st);
  }
}

/**
 * Bytes of the cache content at its storage precision: code words (4 B), scales and mins (4 B, or 2 B
 * with float16 metadata, as `serialize()` writes them) and the float32 residual.
 */
export function heldBytes(st: CacheState): number {
  const { kvHeads: H, headDim: D, residualLength: R, keyBits, valueBits, keyGroupSize, valueGroupSize } = st.cfg;
  const m = st.cfg.scaleDtype === 'float16' ? 2 : 4;
  const keyBlock = H * (((R * D) / (32 / keyBits)) * 4 + ((2 * R * D) / keyGroupSize) * m);
  const valueTok = H * ((D / (32 / valueBits)) * 4 + ((2 * D) / valueGroupSize) * m);
  return st.kBlocks.length * keyBlock + st.vQLen * valueTok + (st.kResLen + st.vResLen) * H * D * 4;
}
