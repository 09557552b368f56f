/**
 * KIVI memory accounting (kivi.md §7). Per layer and KV head, with m bytes per scale/min value:
 * ```
 * quantized bytes per token (K or V) = D·b/8 + 2·m·D/G
 * bytes(K) = (T − rK)·(D·bK/8 + 2mD/G) + rK·r·D,   rK = T mod R
 * bytes(V) = (T − rV)·(D·bV/8 + 2mD/G) + rV·r·D,   rV = min(T, R)
 * fp16 baseline = 2·T·2D
 * ```
 * with r bytes per residual element. Defaults follow the spec's figures: float16 scales/mins and a
 * float16 residual (pass `scaleDtype: 'float32', residualDtype: 'float32'` to get a `KiviCache`'s
 * `byteLength`). Totals are multiplied by `kvHeads · layers · batch`.
 *
 * Exposed: KiviMemoryConfig, KiviBytesPerToken, KiviCacheBytes, kiviBytesPerToken, kiviCacheBytes,
 * kiviCompressionRatio.
 * @module
 */
import { fail } from '../common/errors.js';
import { type KiviBits, type KiviScaleDtype, normalizeCacheConfig } from './config.js';

/**
 * Configuration of the memory formulas.
 *
 * @example
 * ```ts
 * const cfg: KiviMemoryConfig = { headDim: 128, bits: 2, groupSize: 32, kvHeads: 32, layers: 32 };
 * ```
 */
export interface KiviMemoryConfig {
  /** Head dimension D. */
  readonly headDim: number;
  readonly bits?: KiviBits;
  readonly keyBits?: KiviBits;
  readonly valueBits?: KiviBits;
  /** Group size G (default 32). */
  readonly groupSize?: number;
  /** Key group size (default `groupSize`). */
  readonly keyGroupSize?: number;
  /** Value group size (default `groupSize`). */
  readonly valueGroupSize?: number;
  /** Residual length R (default 128). */
  readonly residualLength?: number;
  /** KV heads per layer (default 1). */
  readonly kvHeads?: number;
  /** Layers (default 1). */
  readonly layers?: number;
  /** Sequences (default 1). */
  readonly batch?: number;
  /** Scale/min storage (default `'float16'`, as in the paper's figures). */
  readonly scaleDtype?: KiviScaleDtype;
  /** Residual storage (default `'float16'`; a `KiviCache` holds `'float32'`). */
  readonly residualDtype?: KiviScaleDtype;
}

/**
 * Asymptotic bytes per token (residual window excluded).
 *
 * @example
 * ```ts
 * const b: KiviBytesPerToken = kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 32 });
 * ```
 */
export interface KiviBytesPerToken {
  readonly keys: number;
  readonly values: number;
  readonly total: number;
  /** The fp16 K+V baseline per token. */
  readonly fp16: number;
  /** Effective bits per element `b + 16·m/G` of keys and of values (float32 metadata: m = 4). */
  readonly keyBitsPerElement: number;
  readonly valueBitsPerElement: number;
}

/**
 * Bytes of a cache holding T tokens (residual windows included).
 *
 * @example
 * ```ts
 * const b: KiviCacheBytes = kiviCacheBytes({ headDim: 128, bits: 2 }, 4096);
 * ```
 */
export interface KiviCacheBytes {
  readonly keys: number;
  readonly values: number;
  readonly total: number;
  readonly fp16: number;
  /** Full-precision tokens per head: rK = T mod R, rV = min(T, R). */
  readonly residualKeys: number;
  readonly residualValues: number;
}

interface Resolved {
  D: number;
  kb: number;
  vb: number;
  GK: number;
  GV: number;
  R: number;
  mult: number;
  m: number;
  r: number;
}

function positive(v: number | undefined, name: string, who: string): number {
  if (v === undefined) return 1;
  if (!Number.isSafeInteger(v) || v < 1) fail('E_CONFIG', `${who}: ${name} must be a positive integer, got ${v}`);
  return v;
}

function resolve(cfg: KiviMemoryConfig, who: string): Resolved {
  if (cfg === null || typeof cfg !== 'object') fail('E_CONFIG', `${who}: a config { headDim, ... } is required`);
  const n = normalizeCacheConfig(
    {
      kvHeads: 1,
      headDim: cfg.headDim,
      ...(cfg.bits === undefined ? {} : { bits: cfg.bits }),
      ...(cfg.keyBits === undefined ? {} : { keyBits: cfg.keyBits }),
      ...(cfg.valueBits === undefined ? {} : { valueBits: cfg.valueBits }),
      ...(cfg.groupSize === undefined ? {} : { groupSize: cfg.groupSize }),
      ...(cfg.keyGroupSize === undefined ? {} : { keyGroupSize: cfg.keyGroupSize }),
      ...(cfg.valueGroupSize === undefined ? {} : { valueGroupSize: cfg.valueGroupSize }),
      ...(cfg.residualLength === undefined ? {} : { residualLength: cfg.residualLength }),
      ...(cfg.scaleDtype === undefined ? {} : { scaleDtype: cfg.scaleDtype }),
    },
    who,
  );
  const rd = cfg.residualDtype ?? 'float16';
  if (rd !== 'float16' && rd !== 'float32')
    fail('E_CONFIG', `${who}: residualDtype must be 'float16' or 'float32', got ${JSON.stringify(rd)}`);
  const mult =
    positive(cfg.kvHeads, 'kvHeads', who) * positive(cfg.layers, 'layers', who) * positive(cfg.batch, 'batch', who);
  return {
    D: n.headDim,
    kb: n.keyBits,
    vb: n.valueBits,
    GK: n.keyGroupSize,
    GV: n.valueGroupSize,
    R: n.residualLength,
    mult,
    m: (cfg.scaleDtype ?? 'float16') === 'float16' ? 2 : 4,
    r: rd === 'float16' ? 2 : 4,
  };
}

/**
 * Asymptotic bytes per token of quantized keys and values (kivi.md §7), times `kvHeads·layers·batch`.
 *
 * @example
 * ```ts
 * kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 32 }).keys; // 48 (vs 256 B fp16)
 * ```
 */
export function kiviBytesPerToken(cfg: KiviMemoryConfig): KiviBytesPerToken {
  const { D, kb, vb, GK, GV, mult, m } = resolve(cfg, 'kiviBytesPerToken');
  const keys = ((D * kb) / 8 + (2 * m * D) / GK) * mult;
  const values = ((D * vb) / 8 + (2 * m * D) / GV) * mult;
  return {
    keys,
    values,
    total: keys + values,
    fp16: 2 * 2 * D * mult,
    keyBitsPerElement: kb + (16 * m) / GK,
    valueBitsPerElement: vb + (16 * m) / GV,
  };
}

/**
 * Bytes of a cache after T tokens, residual windows included (kivi.md §7).
 *
 * @example
 * ```ts
 * kiviCacheBytes({ headDim: 128, bits: 2, groupSize: 32, residualLength: 128 }, 1000).total; // 144256
 * ```
 */
export function kiviCacheBytes(cfg: KiviMemoryConfig, T: number): KiviCacheBytes {
  const who = 'kiviCacheBytes';
  const { D, kb, vb, GK, GV, R, mult, m, r } = resolve(cfg, who);
  if (!Number.isSafeInteger(T) || T < 0) fail('E_CONFIG', `${who}: T must be a non-negative integer, got ${T}`);
  const rK = T % R;
  const rV = Math.min(T, R);
  const keys = ((T - rK) * ((D * kb) / 8 + (2 * m * D) / GK) + rK * r * D) * mult;
  const values = ((T - rV) * ((D * vb) / 8 + (2 * m * D) / GV) + rV * r * D) * mult;
  return { keys, values, total: keys + values, fp16: 2 * T * 2 * D * mult, residualKeys: rK, residualValues: rV };
}

/**
 * fp16 K+V bytes ÷ KIVI bytes after T ≥ 1 tokens (kivi.md §7 table).
 *
 * @example
 * ```ts
 * kiviCompressionRatio({ headDim: 128, bits: 2, groupSize: 32, residualLength: 128 }, 4096); // 4.995…
 * ```
 */
export function kiviCompressionRatio(cfg: KiviMemoryConfig, T: number): number {
  if (!Number.isSafeInteger(T) || T < 1)
    fail('E_CONFIG', `kiviCompressionRatio: T must be a positive integer, got ${T}`);
  const b = kiviCacheBytes(cfg, T);
  return b.fp16 / b.total;
}
