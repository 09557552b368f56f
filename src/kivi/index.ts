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
 * Every export is documented, with an example, at its declaration.
 *
 * @example
 * ```ts
 * import { quantizeKeys, quantizeValues, dequantize, KiviCache } from 'lowbit/kivi';
 * const qk = quantizeKeys(k, { bits: 2, groupSize: 32 }); // k: [..., T, D], per-channel
 * const qv = quantizeValues(v, { bits: 2, groupSize: 32 }); // v: [..., T, D], per-token
 * const kHat = dequantize(qk);
 * const cache = new KiviCache({ kvHeads: 8, headDim: 128, bits: 2, groupSize: 32, residualLength: 128 });
 * ```
 * @module
 */

export {
  type CompressedPastKeyValues,
  compressPastKeyValues,
  extendPastKeyValues,
  type KiviPastOptions,
  type PastTensorLike,
  restorePastKeyValues,
} from './adapter.js';
export { type AttendOptions, attendDenseRef } from './attention.js';
export { type KiviAttendOptions, KiviCache, type KiviCacheCounts } from './cache.js';
export type {
  KiviArrays,
  KiviBits,
  KiviCacheConfig,
  KiviFlushOrder,
  KiviQuantizedBuffers,
  KiviQuantizeOptions,
  KiviScaleDtype,
} from './config.js';
export {
  type KiviBytesPerToken,
  type KiviCacheBytes,
  type KiviMemoryConfig,
  kiviBytesPerToken,
  kiviCacheBytes,
  kiviCompressionRatio,
} from './memory.js';
export {
  dequantize,
  dequantizeRef,
  type QuantizedKeys,
  type QuantizedValues,
  quantizeKeys,
  quantizeKeysRef,
  quantizeValues,
  quantizeValuesRef,
} from './quantizer.js';
