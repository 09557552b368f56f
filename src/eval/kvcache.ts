/**
 * KV caches for {@link LlamaModel}: KIVI (the real streaming cache, attention on packed codes), a
 * per-token affine baseline (the grouping KIVI argues against for keys), and BFP / OCP MX block caches
 * (blocks along the channels of each token, optional K-sort). Each reports the exact bytes it holds.
 *
 * Exposed: kiviKvCache, perTokenKvCache, blockKvCache, KvCacheSpec, kvCacheFromSpec, describeKvCache.
 * @module
 */

import type { ChannelOrder } from '../bfp/index.js';
import { type BlockFormat, bitsPerElement, dequantizeBlocks, quantizeBlocks } from '../bfp/index.js';
import { dequantizeAffine, quantizeAffine } from '../common/affine.js';
import { check, fail } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import { type KiviBits, KiviCache } from '../kivi/index.js';
import { attendDense, float32KvCache, type KvCacheFactory, type KvCacheLayer, type LlamaConfig } from './llama.js';

/**
 * KIVI cache settings for the harness.
 *
 * @example
 * ```ts
 * const s: KiviKvSpec = { method: 'kivi', keyBits: 2, valueBits: 2, groupSize: 32, valueGroupSize: 8, residualLength: 128 };
 * ```
 */
export interface KiviKvSpec {
  readonly method: 'kivi';
  readonly keyBits: KiviBits;
  readonly valueBits: KiviBits;
  /** Group size G of keys (tokens per group, per channel). */
  readonly groupSize: number;
  /**
   * Group size of values (channels per group, per token; default `groupSize`). Must divide headDim: a
   * value group never crosses a head. stories260K (headDim 8) needs 8 here with the paper's G = 32.
   */
  readonly valueGroupSize?: number;
  /** Residual length R (a multiple of G). */
  readonly residualLength: number;
}

/**
 * Per-token affine quantization of keys and values (groups of `groupSize` channels of one token).
 *
 * @example
 * ```ts
 * const s: PerTokenKvSpec = { method: 'per-token', keyBits: 2, valueBits: 2, groupSize: 8 };
 * ```
 */
export interface PerTokenKvSpec {
  readonly method: 'per-token';
  readonly keyBits: number;
  readonly valueBits: number;
  readonly groupSize: number;
}

/**
 * BFP / MX block quantization of each token's K (and V) along channels.
 *
 * @example
 * ```ts
 * const s: BlockKvSpec = { method: 'block', format: 'mxfp4', blockSize: 8, values: false };
 * ```
 */
export interface BlockKvSpec {
  readonly method: 'block';
  readonly format: BlockFormat;
  readonly blockSize: number;
  /** Quantize values too (default true). */
  readonly values?: boolean;
  /**
   * Storage-level K-sort (`scope: 'layer'`): per-layer channel orders over all KV channels; K is stored
   * permuted and restored before attention. (Head-scope K-sort is fused into wq/wk instead.)
   */
  readonly keyOrders?: readonly ChannelOrder[];
}

/**
 * Any KV cache configuration of the harness; `float32` is llama2.c's.
 *
 * @example
 * ```ts
 * const s: KvCacheSpec = { method: 'float32' };
 * ```
 */
export type KvCacheSpec = { readonly method: 'float32' } | KiviKvSpec | PerTokenKvSpec | BlockKvSpec;

/**
 * A KIVI cache per layer (lowbit/kivi `KiviCache`): keys per-channel in groups of G tokens, values
 * per-token in groups of G_v channels, the last tokens in a full-precision residual.
 *
 * When one `KiviCache` accepts the configuration (key groups of G tokens and value groups of G_v
 * channels both filling whole packed words, G_v | headDim, R a multiple of G), that cache is used as is
 * and attention runs on its packed codes (stories260K: KIVI-4 with G 32, G_v 8). Otherwise (2-bit values
 * in an 8-wide head: 16 codes per word, only 8 channels), the harness stores the same tensors in two `KiviCache`s
 * that see the KV heads as one `kvHeads·headDim`-wide head — one with key group G (its keys are used),
 * one with value group G_v (its values are used; `allowGroupStraddle` lets a 32-bit word hold two heads'
 * codes) — and attends densely over their dequantized `keys()` / `values()`. The quantized numbers are
 * exactly KIVI's (per-channel keys do not depend on the head split; value groups of G_v | headDim never
 * cross a head); `byteLength` counts the key half of the first and the value half of the second.
 *
 * @example
 * ```ts
 * const model = loadStories260K({ kvCache: kiviKvCache({ method: 'kivi', keyBits: 2, valueBits: 2, groupSize: 32, valueGroupSize: 8, residualLength: 128 }) });
 * ```
 */
export function kiviKvCache(spec: KiviKvSpec): KvCacheFactory {
  return (_layer, cfg) => {
    const headDim = cfg.dim / cfg.nHeads;
    const kvDim = cfg.nKvHeads * headDim;
    const G = spec.groupSize;
    const Gv = spec.valueGroupSize ?? G;
    check(
      Number.isInteger(Gv) && Gv >= 1 && headDim % Gv === 0,
      'E_CONFIG',
      () => `kiviKvCache: valueGroupSize ${Gv} must divide headDim ${headDim} (a value group stays in one head)`,
    );
    if (nativeKiviOk(spec, headDim)) return nativeKivi(spec, cfg, headDim, kvDim);
    return splitKivi(spec, cfg, headDim, kvDim, G, Gv);
  };
}

/** One `KiviCache` (separate key/value group sizes) accepts the spec: whole words, R a multiple of G. */
function nativeKiviOk(spec: KiviKvSpec, headDim: number): boolean {
  const G = spec.groupSize;
  const Gv = spec.valueGroupSize ?? G;
  return (
    spec.residualLength % G === 0 &&
    headDim % Gv === 0 &&
    G % (32 / spec.keyBits) === 0 &&
    Gv % (32 / spec.valueBits) === 0
  );
}

function nativeKivi(spec: KiviKvSpec, cfg: LlamaConfig, headDim: number, kvDim: number): KvCacheLayer {
  const cache = new KiviCache({
    kvHeads: cfg.nKvHeads,
    headDim,
    keyBits: spec.keyBits,
    valueBits: spec.valueBits,
    keyGroupSize: spec.groupSize,
    valueGroupSize: spec.valueGroupSize ?? spec.groupSize,
    residualLength: spec.residualLength,
  });
  const kShape = [cfg.nKvHeads, 1, headDim];
  const qShape = [cfg.nHeads, 1, headDim];
  return {
    append(k: Float32Array, v: Float32Array): void {
      check(k.length === kvDim, 'E_SHAPE', 'kiviKvCache: bad key length');
      cache.append({ dtype: 'float32', data: k, shape: kShape }, { dtype: 'float32', data: v, shape: kShape });
    },
    attend(q: Float32Array, out: Float32Array): void {
      out.set(cache.attend({ dtype: 'float32', data: q, shape: qShape }).data);
    },
    get byteLength() {
      return cache.byteLength;
    },
  };
}

/**
 * Bytes of KIVI keys (or values) after T tokens for `width` channels: quantized tokens hold packed codes
 * plus a float32 scale and min per group; residual tokens are float32. Keys flush in whole R-token
 * blocks (T mod R stay in the residual), values one token at a time (the last min(T, R) stay).
 *
 * @example
 * ```ts
 * kiviSideBytes('keys', 256, 32, 2, 32, 128); // 2 key blocks of 128 tokens
 * ```
 */
export function kiviSideBytes(
  side: 'keys' | 'values',
  T: number,
  width: number,
  bits: number,
  groupSize: number,
  residualLength: number,
): number {
  const res = side === 'keys' ? T % residualLength : Math.min(T, residualLength);
  const quantTokens = T - res;
  const groups = side === 'keys' ? (quantTokens / groupSize) * width : quantTokens * (width / groupSize);
  return (quantTokens * width * bits) / 8 + groups * 8 + res * width * 4;
}

function splitKivi(
  spec: KiviKvSpec,
  cfg: LlamaConfig,
  headDim: number,
  kvDim: number,
  G: number,
  Gv: number,
): KvCacheLayer {
  const R = spec.residualLength;
  // both caches see one kvDim-wide head; only the key half of `kc` and the value half of `vc` are used
  const kc = new KiviCache({
    kvHeads: 1,
    headDim: kvDim,
    keyBits: spec.keyBits,
    valueBits: 8,
    groupSize: G,
    residualLength: R,
    allowGroupStraddle: true,
  });
  const vc = new KiviCache({
    kvHeads: 1,
    headDim: kvDim,
    keyBits: 8,
    valueBits: spec.valueBits,
    groupSize: Gv,
    residualLength: R,
    allowGroupStraddle: true,
  });
  const shape = [1, 1, kvDim];
  const zero = new Float32Array(kvDim);
  const att = new Float32Array(cfg.seqLen);
  const invSqrt = 1 / Math.sqrt(headDim);
  let len = 0;
  return {
    append(k: Float32Array, v: Float32Array): void {
      check(k.length === kvDim && v.length === kvDim, 'E_SHAPE', 'kiviKvCache: bad key/value length');
      kc.append({ dtype: 'float32', data: k, shape }, { dtype: 'float32', data: zero, shape });
      vc.append({ dtype: 'float32', data: zero, shape }, { dtype: 'float32', data: v, shape });
      len++;
    },
    attend(q: Float32Array, out: Float32Array): void {
      // [1, T, kvDim] is the same memory layout as the harness's [T, kvDim] rows
      const keys = kc.keys().data;
      const values = vc.values().data;
      attendDense(q, out, keys, values, len, cfg.nHeads, cfg.nHeads / cfg.nKvHeads, headDim, kvDim, invSqrt, att);
    },
    get byteLength() {
      return (
        kiviSideBytes('keys', len, kvDim, spec.keyBits, G, R) +
        kiviSideBytes('values', len, kvDim, spec.valueBits, Gv, R)
      );
    },
  };
}

/** A cache that quantizes each token row on arrival and keeps the dequantized float32 rows for attention. */
function rowQuantCache(
  cfg: LlamaConfig,
  quantK: (row: Float32Array) => Float32Array,
  quantV: (row: Float32Array) => Float32Array,
  bytesPerToken: number,
): KvCacheLayer {
  const headDim = cfg.dim / cfg.nHeads;
  const kvDim = cfg.nKvHeads * headDim;
  const keys = new Float32Array(cfg.seqLen * kvDim);
  const values = new Float32Array(cfg.seqLen * kvDim);
  const att = new Float32Array(cfg.seqLen);
  const invSqrt = 1 / Math.sqrt(headDim);
  let len = 0;
  return {
    append(k: Float32Array, v: Float32Array): void {
      check(len < cfg.seqLen, 'E_LIMIT', `kv cache: sequence longer than seqLen ${cfg.seqLen}`);
      keys.set(quantK(k), len * kvDim);
      values.set(quantV(v), len * kvDim);
      len++;
    },
    attend(q: Float32Array, out: Float32Array): void {
      attendDense(q, out, keys, values, len, cfg.nHeads, cfg.nHeads / cfg.nKvHeads, headDim, kvDim, invSqrt, att);
    },
    get byteLength() {
      return len * bytesPerToken;
    },
  };
}

function affineRow(bits: number, groupSize: number): (row: Float32Array) => Float32Array {
  if (bits >= 32) return (row) => row;
  return (row) => {
    const t: Float32Tensor = { dtype: 'float32', data: row, shape: [row.length] };
    return dequantizeAffine(quantizeAffine(t, { bits, axis: 0, groupSize })).data;
  };
}

/**
 * Per-token affine KV cache: each token's keys (and values) quantized asymmetrically in groups of
 * `groupSize` consecutive channels (KIVI's value grouping applied to keys too — the baseline KIVI
 * argues against for keys). Bytes: codes plus a float32 scale and min per group. `keyBits`/`valueBits`
 * of 32 keep that side in float32.
 *
 * @example
 * ```ts
 * const f = perTokenKvCache({ method: 'per-token', keyBits: 2, valueBits: 2, groupSize: 8 });
 * ```
 */
export function perTokenKvCache(spec: PerTokenKvSpec): KvCacheFactory {
  return (_layer, cfg) => {
    const kvDim = (cfg.nKvHeads * cfg.dim) / cfg.nHeads;
    const side = (bits: number): number =>
      bits >= 32 ? kvDim * 4 : Math.ceil((kvDim * bits) / 8) + Math.ceil(kvDim / spec.groupSize) * 8;
    return rowQuantCache(
      cfg,
      affineRow(spec.keyBits, spec.groupSize),
      affineRow(spec.valueBits, spec.groupSize),
      side(spec.keyBits) + side(spec.valueBits),
    );
  };
}

/**
 * BFP / OCP MX block KV cache: each token's K (and V) row of `kvHeads·headDim` channels quantized in
 * blocks of `blockSize` consecutive channels with a shared E8M0 exponent. With `keyOrders`, K channels
 * are stored permuted (storage-level K-sort, `scope: 'layer'`) and gathered back before attention.
 * Bytes: `bitsPerElement(format, blockSize)` per element.
 *
 * @example
 * ```ts
 * const f = blockKvCache({ method: 'block', format: 'mxfp4', blockSize: 8 });
 * ```
 */
export function blockKvCache(spec: BlockKvSpec): KvCacheFactory {
  const bpe = bitsPerElement(spec.format, spec.blockSize);
  return (layer, cfg) => {
    const kvDim = (cfg.nKvHeads * cfg.dim) / cfg.nHeads;
    const q = (row: Float32Array): Float32Array =>
      dequantizeBlocks(quantizeBlocks(row, { format: spec.format, blockSize: spec.blockSize })).data;
    const order = spec.keyOrders?.[layer];
    let quantK = q;
    if (order !== undefined) {
      check(
        order.scope === 'layer' && order.perm.length === kvDim,
        'E_CONFIG',
        'blockKvCache: keyOrders must be layer-scope orders over all KV channels',
      );
      const tmp = new Float32Array(kvDim);
      const back = new Float32Array(kvDim);
      quantK = (row) => {
        for (let i = 0; i < kvDim; i++) tmp[i] = row[order.perm[i]!]!;
        const d = q(tmp);
        for (let i = 0; i < kvDim; i++) back[order.perm[i]!] = d[i]!;
        return back;
      };
    }
    const values = spec.values ?? true;
    const bytes = (kvDim * bpe) / 8 + (values ? (kvDim * bpe) / 8 : kvDim * 4);
    return rowQuantCache(cfg, quantK, values ? q : (row) => row, bytes);
  };
}

/**
 * The cache factory of a spec.
 *
 * @example
 * ```ts
 * const model = loadStories260K({ kvCache: kvCacheFromSpec({ method: 'block', format: 'bfp12', blockSize: 8 }) });
 * ```
 */
export function kvCacheFromSpec(spec: KvCacheSpec): KvCacheFactory {
  switch (spec.method) {
    case 'float32':
      return float32KvCache;
    case 'kivi':
      return kiviKvCache(spec);
    case 'per-token':
      return perTokenKvCache(spec);
    case 'block':
      return blockKvCache(spec);
    default:
      return fail('E_CONFIG', `unknown KV cache method ${JSON.stringify((spec as { method: unknown }).method)}`);
  }
}

/**
 * A short human label of a spec, e.g. `KIVI-2 (G 32, R 32)`.
 *
 * @example
 * ```ts
 * describeKvCache({ method: 'float32' }); // 'float32'
 * ```
 */
export function describeKvCache(spec: KvCacheSpec): string {
  switch (spec.method) {
    case 'float32':
      return 'float32';
    case 'kivi':
      return `KIVI K${spec.keyBits}V${spec.valueBits} (G ${spec.groupSize}${spec.valueGroupSize !== undefined && spec.valueGroupSize !== spec.groupSize ? `, G_v ${spec.valueGroupSize}` : ''}, R ${spec.residualLength})`;
    case 'per-token':
      return `per-token K${spec.keyBits}V${spec.valueBits} (G ${spec.groupSize})`;
    case 'block':
      return `${String(typeof spec.format === 'string' ? spec.format : `bfp${spec.format.mantissaBits + 8}`)} block ${spec.blockSize}${spec.keyOrders ? ' + K-sort(layer)' : ''}`;
  }
}
