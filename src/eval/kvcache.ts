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

/** KIVI cache settings for the harness. */
export interface KiviKvSpec {
  readonly method: 'kivi';
  readonly keyBits: KiviBits;
  readonly valueBits: KiviBits;
  /** Group size G (tokens for keys, channels for values). */
  readonly groupSize: number;
  /** Residual length R (a multiple of G). */
  readonly residualLength: number;
}

/** Per-token affine quantization of keys and values (groups of `groupSize` channels of one token). */
export interface PerTokenKvSpec {
  readonly method: 'per-token';
  readonly keyBits: number;
  readonly valueBits: number;
  readonly groupSize: number;
}

/** BFP / MX block quantization of each token's K (and V) along channels. */
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

/** Any KV cache configuration of the harness; `float32` is llama2.c's. */
export type KvCacheSpec = { readonly method: 'float32' } | KiviKvSpec | PerTokenKvSpec | BlockKvSpec;

/**
 * A KIVI cache per layer (lowbit/kivi `KiviCache`): keys per-channel in groups of G tokens, values
 * per-token in groups of G channels, the last tokens in a full-precision residual, attention computed on
 * the packed codes.
 *
 * @example
 * ```ts
 * const model = loadStories260K({ kvCache: kiviKvCache({ method: 'kivi', keyBits: 2, valueBits: 2, groupSize: 32, residualLength: 32 }) });
 * ```
 */
export function kiviKvCache(spec: KiviKvSpec): KvCacheFactory {
  return (_layer, cfg) => {
    const headDim = cfg.dim / cfg.nHeads;
    const cache = new KiviCache({
      kvHeads: cfg.nKvHeads,
      headDim,
      keyBits: spec.keyBits,
      valueBits: spec.valueBits,
      groupSize: spec.groupSize,
      residualLength: spec.residualLength,
    });
    const kvDim = cfg.nKvHeads * headDim;
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
      return `KIVI K${spec.keyBits}V${spec.valueBits} (G ${spec.groupSize}, R ${spec.residualLength})`;
    case 'per-token':
      return `per-token K${spec.keyBits}V${spec.valueBits} (G ${spec.groupSize})`;
    case 'block':
      return `${String(typeof spec.format === 'string' ? spec.format : `bfp${spec.format.mantissaBits + 8}`)} block ${spec.blockSize}${spec.keyOrders ? ' + K-sort(layer)' : ''}`;
  }
}
