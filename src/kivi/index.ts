/**
 * `lowbit/kivi`: KIVI KV-cache quantization (Liu et al., ICML 2024; reference code jy-yuan/KIVI) —
 * per-channel keys, per-token values, asymmetric 2/4/8-bit codes packed 32/bits per `Uint32Array`
 * word, a streaming cache with a full-precision residual window, and attention computed directly on
 * the packed codes.
 *
 * Non-finite policy: NaN/±Inf inputs are rejected with `E_NONFINITE` (upstream behaviour is undefined);
 * magnitudes that would overflow the scale/min type (|x| ≥ 2^127 with float32 metadata, |x| > 65504
 * with float16) are rejected with `E_LIMIT`. A rejected call changes nothing.
 *
 * Modules: config (options, validation), quantizer (kernels + reference twins), state (the streaming
 * state machine), attention (fused attention on packed codes + dense reference), cache (`KiviCache`),
 * serialize (binary format), memory (byte accounting), adapter (transformers.js `past_key_values`).
 * @module
 */

/**
 * Types of the transformers.js adapter: structural tensors `{ type, data, dims }`, per-layer cache
 * options, and the compressed form `{ layers, batch, length, caches[layer][row], types, passthrough }`.
 *
 * @example
 * ```ts
 * const t: PastTensorLike = { type: 'float32', data: new Float32Array(2 * 4 * 8), dims: [1, 2, 4, 8] };
 * ```
 */
export type { CompressedPastKeyValues, KiviPastOptions, PastTensorLike } from './adapter.js';
/**
 * Compress a transformers.js `past_key_values` record (`past_key_values.{i}.key|value`, BNSH
 * `[batch, kvHeads, T, headDim]`, float32 or float16) into one KiviCache per layer and batch row.
 *
 * @example
 * ```ts
 * const c = compressPastKeyValues(out.past_key_values, { bits: 2, groupSize: 32, residualLength: 128 });
 * ```
 */
/**
 * Append the tokens a later `generate()` call added (positions ≥ the cache length) without
 * re-quantizing old ones.
 *
 * @example
 * ```ts
 * c = extendPastKeyValues(c, out2.past_key_values);
 * ```
 */
/**
 * Restore the record shape (dequantized, original dtype) for the next `generate()` call; optional
 * tensor factory, e.g. transformers.js `(type, data, dims) => new Tensor(type, data, dims)`.
 *
 * @example
 * ```ts
 * const past_key_values = restorePastKeyValues(c);
 * // await model.generate({ ...inputs, past_key_values });
 * ```
 */
export { compressPastKeyValues, extendPastKeyValues, restorePastKeyValues } from './adapter.js';
/**
 * Options of attention: `{ scale?: number (default 1/√D), causal?: boolean (default true) }`.
 *
 * @example
 * ```ts
 * const opts: AttendOptions = { causal: false };
 * ```
 */
export type { AttendOptions } from './attention.js';
/**
 * Dense float64 reference attention: `softmax(q·Kᵀ·scale)·V`, `q` `[heads, m, D]`, keys/values
 * `[kvHeads, T, D]`, GQA head mapping `floor(h / (heads / kvHeads))`, causal by absolute position.
 *
 * @example
 * ```ts
 * const ref = attendDenseRef(q, cache.keys(), cache.values());
 * ```
 */
export { attendDenseRef } from './attention.js';
/**
 * Options of {@link KiviCache.attend}: {@link AttendOptions} plus an optional `out` buffer.
 *
 * @example
 * ```ts
 * const out = new Float32Array(32 * 128);
 * cache.attend(q, { out });
 * ```
 */
export type { KiviAttendOptions, KiviCacheCounts } from './cache.js';
/**
 * The streaming KIVI cache of one layer and one sequence.
 * - `append(k, v)`: `[kvHeads, n, headDim]` for any n ≥ 1 (prefill and decode are the same call);
 *   tokens enter a full-precision window and are flushed in whole R-token key blocks (aligned at
 *   multiples of R) and single value tokens, so the state depends only on the token sequence.
 * - `attend(q, { scale?, causal?, out? })`: `q` `[heads, m, headDim]`, heads a multiple of kvHeads;
 *   computed on the packed codes (no dequantized copy); `attendRef` is its dense twin.
 * - `length`, `counts`, `keys()`, `values()` (dequantized `[kvHeads, T, headDim]`), `byteLength`
 *   (exact content bytes: codes + scales + mins + float32 residual), `serialize()` /
 *   `KiviCache.deserialize(bytes)` (versioned, CRC-checked, bit-exact round trip).
 *
 * @example
 * ```ts
 * import { KiviCache } from 'lowbit/kivi';
 * const cache = new KiviCache({ kvHeads: 8, headDim: 128, bits: 2, groupSize: 32, residualLength: 128 });
 * const kv = (n: number) => ({ dtype: 'float32', data: new Float32Array(8 * n * 128).map(Math.random), shape: [8, n, 128] }) as const;
 * cache.append(kv(300), kv(300)); // prefill
 * cache.append(kv(1), kv(1)); // one decode step
 * const q = { dtype: 'float32', data: new Float32Array(32 * 128).map(Math.random), shape: [32, 1, 128] } as const;
 * const out = cache.attend(q); // [32, 1, 128]
 * const copy = KiviCache.deserialize(cache.serialize());
 * ```
 */
export { KiviCache } from './cache.js';
/**
 * Supported bit widths (2, 4, 8).
 *
 * @example
 * ```ts
 * const bits: KiviBits = 2;
 * ```
 */
/**
 * Scale/min storage type: `'float32'` (default) or `'float16'` (min and scale rounded to half first,
 * codes computed with the stored values).
 *
 * @example
 * ```ts
 * const q = quantizeKeys(k, { bits: 2, groupSize: 32, scaleDtype: 'float16' }); // q.scales: Uint16Array
 * ```
 */
/**
 * Flush order of the streaming cache: `'before-attention'` (paper Algorithm 1, default) or
 * `'after-attention'` (reference code order).
 *
 * @example
 * ```ts
 * const cache = new KiviCache({ kvHeads: 2, headDim: 32, bits: 2, groupSize: 8, residualLength: 16, flushOrder: 'after-attention' });
 * ```
 */
/**
 * Options of {@link quantizeKeys} / {@link quantizeValues}: `{ bits, groupSize, rounding?, scaleDtype? }`.
 *
 * @example
 * ```ts
 * const opts: KiviQuantizeOptions = { bits: 4, groupSize: 32, rounding: 'half-even' };
 * ```
 */
/**
 * Configuration of a {@link KiviCache}: `{ kvHeads, headDim, bits?, keyBits?, valueBits?, groupSize?
 * (32), residualLength? (128), flushOrder?, scaleDtype? }`. Constraints (E_CONFIG): R % G == 0,
 * G % (32/keyBits) == 0, G % (32/valueBits) == 0, headDim % G == 0.
 *
 * @example
 * ```ts
 * const cfg: KiviCacheConfig = { kvHeads: 8, headDim: 128, keyBits: 2, valueBits: 4, groupSize: 32, residualLength: 128 };
 * ```
 */
export type { KiviBits, KiviCacheConfig, KiviFlushOrder, KiviQuantizeOptions, KiviScaleDtype } from './config.js';
/**
 * Inputs of the memory formulas: `{ headDim, bits? | keyBits?/valueBits?, groupSize? (32),
 * residualLength? (128), kvHeads?, layers?, batch?, scaleDtype? ('float16'), residualDtype? ('float16') }`.
 *
 * @example
 * ```ts
 * const cfg: KiviMemoryConfig = { headDim: 128, bits: 2, groupSize: 32, kvHeads: 32, layers: 32 };
 * ```
 */
export type { KiviBytesPerToken, KiviCacheBytes, KiviMemoryConfig } from './memory.js';
/**
 * Asymptotic bytes per token (kivi.md §7): `D·b/8 + 2·m·D/G` for keys and values, the fp16 baseline and
 * effective bits per element, times `kvHeads·layers·batch`.
 *
 * @example
 * ```ts
 * kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 32 }).keys; // 48 (vs 256 B fp16)
 * ```
 */
/**
 * Bytes of a cache after T tokens with the residual windows rK = T mod R, rV = min(T, R).
 *
 * @example
 * ```ts
 * kiviCacheBytes({ headDim: 128, bits: 2, groupSize: 32, residualLength: 128 }, 1000).total; // 144256
 * ```
 */
/**
 * fp16 K+V bytes ÷ KIVI bytes after T tokens.
 *
 * @example
 * ```ts
 * kiviCompressionRatio({ headDim: 128, bits: 2, groupSize: 32, residualLength: 128 }, 4096); // 4.995…
 * ```
 */
export { kiviBytesPerToken, kiviCacheBytes, kiviCompressionRatio } from './memory.js';
/**
 * Quantized keys: `codes` `[..., T/(32/bits), D]` (word (w, d) holds tokens w·f … w·f+f−1 of channel d,
 * element j at bits [bits·j, bits·j+bits)), `scales`/`mins` `[..., T/G, D]`, plus `shape`, `bits`,
 * `groupSize`, `scaleDtype`. Same memory order as the reference `quant_and_pack_kcache`.
 *
 * @example
 * ```ts
 * const q: QuantizedKeys = quantizeKeys(k, { bits: 2, groupSize: 32 });
 * q.codes; // Uint32Array
 * ```
 */
/**
 * Quantized values: `codes` `[..., T, D/(32/bits)]`, `scales`/`mins` `[..., T, D/G]`. Same memory order
 * as the reference `quant_and_pack_vcache`.
 *
 * @example
 * ```ts
 * const q: QuantizedValues = quantizeValues(v, { bits: 2, groupSize: 32 });
 * ```
 */
export type { QuantizedKeys, QuantizedValues } from './quantizer.js';
/**
 * Per-channel key quantization of `k` `[..., T, D]` over groups of `groupSize` consecutive tokens
 * (T % G == 0, G % (32/bits) == 0), codes packed along tokens; RNE, float32 rounding points as the
 * reference, `scale == 0` → code 0 and exact reconstruction of the constant.
 *
 * @example
 * ```ts
 * import { quantizeKeys, dequantize } from 'lowbit/kivi';
 * const k = { dtype: 'float32', data: new Float32Array(2 * 64 * 32).map(Math.random), shape: [2, 64, 32] } as const;
 * const q = quantizeKeys(k, { bits: 2, groupSize: 32 });
 * const kHat = dequantize(q); // [2, 64, 32], |k − k̂| ≤ scale/2
 * ```
 */
/**
 * Per-token value quantization of `v` `[..., T, D]` over groups of `groupSize` consecutive channels
 * (D % G == 0, G % (32/bits) == 0), codes packed along channels.
 *
 * @example
 * ```ts
 * import { quantizeValues, dequantize } from 'lowbit/kivi';
 * const v = { dtype: 'float32', data: new Float32Array(64 * 32).fill(0.5), shape: [64, 32] } as const;
 * const q = quantizeValues(v, { bits: 4, groupSize: 32 });
 * dequantize(q).data[0]; // 0.5 (constant groups are exact)
 * ```
 */
/**
 * Dequantize {@link QuantizedKeys} or {@link QuantizedValues} to a float32 tensor of the original shape:
 * `x' = f32(f32(code·scale) + min)`. Optional `out` buffer.
 *
 * @example
 * ```ts
 * const x = dequantize(quantizeKeys(k, { bits: 4, groupSize: 32 }));
 * ```
 */
/**
 * Reference twin of {@link quantizeKeys}: one group at a time with unpacked codes and the generic
 * `packBitsRef`; bit-identical to the fast path.
 *
 * @example
 * ```ts
 * const a = quantizeKeys(k, { bits: 2, groupSize: 32 });
 * const b = quantizeKeysRef(k, { bits: 2, groupSize: 32 }); // same codes, scales, mins
 * ```
 */
/**
 * Reference twin of {@link quantizeValues}.
 *
 * @example
 * ```ts
 * const b = quantizeValuesRef(v, { bits: 2, groupSize: 32 });
 * ```
 */
/**
 * Reference twin of {@link dequantize} (generic `unpackBitsRef`).
 *
 * @example
 * ```ts
 * const x = dequantizeRef(quantizeValues(v, { bits: 2, groupSize: 32 }));
 * ```
 */
export {
  dequantize,
  dequantizeRef,
  quantizeKeys,
  quantizeKeysRef,
  quantizeValues,
  quantizeValuesRef,
} from './quantizer.js';
