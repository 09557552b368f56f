/**
 * `KiviCache`: the streaming KIVI cache of one layer and one sequence — full-precision residual window,
 * per-channel key blocks of R tokens, per-token values, fused attention on packed codes, exact byte
 * accounting and a versioned binary format.
 *
 * Exposed: KiviCache, KiviAttendOptions, KiviCacheCounts. Internal: none.
 * @module
 */
import { check, fail } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import { type AttendOptions, type AttendScratch, attendDenseRef, attendKernel, createScratch } from './attention.js';
import {
  cacheArrays,
  checkFiniteRange,
  checkFloat32Tensor,
  type KiviCacheConfig,
  type NormalizedCacheConfig,
  normalizeCacheConfig,
} from './config.js';
import { dequantizeKeysKernel, dequantizeValueRowKernel } from './quantizer.js';
import { decodeState, encodeState } from './serialize.js';
import { type CacheState, createState, heldBytes, pushTokens, VALUE_CHUNK, valueRingRows } from './state.js';

/**
 * Options of {@link KiviCache.attend}.
 *
 * @example
 * ```ts
 * const out = new Float32Array(32 * 128);
 * cache.attend(q, { out });
 * ```
 */
export interface KiviAttendOptions extends AttendOptions {
  /** Output buffer of `heads·m·headDim` floats (overwritten). */
  readonly out?: Float32Array;
}

/**
 * How the cache's tokens are currently split between quantized storage and the residual window.
 *
 * @example
 * ```ts
 * const { residualKeys } = cache.counts; // length mod R with the default flush order
 * ```
 */
export interface KiviCacheCounts {
  readonly quantizedKeys: number;
  readonly residualKeys: number;
  readonly quantizedValues: number;
  readonly residualValues: number;
}

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
 * - `arrays` (config): where the storage is allocated (e.g. a Node `KernelPool`, whose `attend` then
 *   splits the attention across threads); `release()` gives it back.
 * Bad input throws a `LowbitError` and leaves the cache unchanged.
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
export class KiviCache {
  #st: CacheState;
  #scratch: AttendScratch;
  #released = false;

  constructor(config: KiviCacheConfig) {
    const cfg = normalizeCacheConfig(config);
    this.#st = createState(cfg, cacheArrays(config, 'KiviCache'));
    this.#scratch = createScratch(cfg.headDim, cfg.valueGroupSize);
  }

  /** The validated configuration (frozen, all defaults filled in). */
  get config(): NormalizedCacheConfig {
    return this.#st.cfg;
  }

  /**
   * Give the cache's storage back to its allocator (`arrays.release` of the config, when it has one,
   * e.g. a `KernelPool`); afterwards `append`, `attend`, `attendRef`, `keys`, `values` and `serialize`
   * throw `E_CONFIG`. Idempotent.
   *
   * @example
   * ```ts
   * const cache = new KiviCache({ kvHeads: 8, headDim: 128, arrays: pool }); // pool: a KernelPool
   * // … append, pool.attend(cache, q) …
   * cache.release();
   * ```
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const st = this.#st;
    const give = st.arrays.release?.bind(st.arrays);
    if (give !== undefined)
      for (const a of [st.kRes, st.vRes, ...[...st.kBlocks, ...st.vChunks].flatMap((b) => [b.codes, b.scales, b.mins])])
        give(a);
  }

  /** State of a cache still in use (E_CONFIG after {@link KiviCache.release}). */
  #live(who: string): CacheState {
    check(!this.#released, 'E_CONFIG', `${who}: the cache was released`);
    return this.#st;
  }

  /** Number of tokens held. */
  get length(): number {
    return this.#st.length;
  }

  /**
   * Exact bytes of the cache content at its storage precision: code words, scales and mins (4 B each,
   * 2 B with `scaleDtype: 'float16'`) and the float32 residual keys and values. Equals
   * `serialize().length − 72` (the header).
   */
  get byteLength(): number {
    return heldBytes(this.#st);
  }

  /** Current split of tokens between quantized storage and the residual window. */
  get counts(): KiviCacheCounts {
    const st = this.#st;
    return {
      quantizedKeys: st.kBlocks.length * st.cfg.residualLength,
      residualKeys: st.kResLen,
      quantizedValues: st.vQLen,
      residualValues: st.vResLen,
    };
  }

  /**
   * Append `n ≥ 1` tokens: `k` and `v` are float32 `[kvHeads, n, headDim]` (keys after RoPE). Tokens
   * enter the residual window one by one and are flushed in whole R-token key blocks and single value
   * tokens, so the state depends only on the token sequence. Bad input throws and leaves the cache
   * unchanged; inputs are not modified.
   */
  append(k: Float32Tensor, v: Float32Tensor): void {
    const who = 'KiviCache.append';
    const { kvHeads: H, headDim: D, scaleDtype } = this.#live(who).cfg;
    const kd = checkFloat32Tensor(k, who, 'k');
    const vd = checkFloat32Tensor(v, who, 'v');
    const okShape = (s: readonly number[]) => s.length === 3 && s[0] === H && s[2] === D && s[1]! >= 1;
    check(okShape(k.shape), 'E_SHAPE', () => `${who}: k must be [${H}, n >= 1, ${D}], got [${k.shape.join(', ')}]`);
    check(okShape(v.shape), 'E_SHAPE', () => `${who}: v must be [${H}, n >= 1, ${D}], got [${v.shape.join(', ')}]`);
    check(k.shape[1] === v.shape[1], 'E_SHAPE', () => `${who}: k has ${k.shape[1]} tokens but v has ${v.shape[1]}`);
    checkFiniteRange(kd, 0, kd.length, scaleDtype, who, 'k');
    checkFiniteRange(vd, 0, vd.length, scaleDtype, who, 'v');
    pushTokens(this.#st, kd, vd, k.shape[1]!);
  }

  /**
   * `softmax(q·Kᵀ·scale)·V` over the whole cache, computed on the packed codes. `q` is float32
   * `[heads, m, headDim]` with `heads` a multiple of `kvHeads` (query head h reads KV head
   * `floor(h / (heads / kvHeads))`); row i of m sits at absolute position `length − m + i` and, with
   * `causal` (default true), sees only tokens up to it. Returns `[heads, m, headDim]`. (KIVI's prefill
   * attends over the exact prompt K/V instead: use {@link attendDenseRef} on the prompt tensors.)
   */
  attend(q: Float32Tensor, opts: KiviAttendOptions = {}): Float32Tensor {
    const who = 'KiviCache.attend';
    const { heads, m, scale, causal } = this.#checkQuery(q, opts, who);
    const n = heads * m * this.#st.cfg.headDim;
    const out = opts.out ?? new Float32Array(n);
    check(out instanceof Float32Array && out.length === n, 'E_SHAPE', `${who}: out must be a Float32Array(${n})`);
    attendKernel(this.#st, q.data, heads, m, scale, causal, out, this.#scratch);
    return { dtype: 'float32', data: out, shape: [heads, m, this.#st.cfg.headDim] };
  }

  /**
   * Reference twin of {@link attend}: dequantize the cache (`keys()`, `values()`) and run dense float64
   * attention ({@link attendDenseRef}).
   */
  attendRef(q: Float32Tensor, opts: AttendOptions = {}): Float32Tensor {
    const { scale, causal } = this.#checkQuery(q, opts, 'KiviCache.attendRef');
    return attendDenseRef(q, this.keys(), this.values(), { scale, causal });
  }

  #checkQuery(
    q: Float32Tensor,
    opts: AttendOptions,
    who: string,
  ): { heads: number; m: number; scale: number; causal: boolean } {
    const { kvHeads: H, headDim: D } = this.#live(who).cfg;
    const qd = checkFloat32Tensor(q, who, 'q');
    check(
      q.shape.length === 3 && q.shape[2] === D && q.shape[0]! >= 1 && q.shape[1]! >= 1,
      'E_SHAPE',
      () => `${who}: q must be [heads, m >= 1, ${D}], got [${q.shape.join(', ')}]`,
    );
    const heads = q.shape[0]!;
    const m = q.shape[1]!;
    check(heads % H === 0, 'E_SHAPE', () => `${who}: heads ${heads} must be a multiple of kvHeads ${H}`);
    const T = this.#st.length;
    check(T > 0, 'E_SHAPE', `${who}: the cache is empty; append keys and values first`);
    if (opts === null || typeof opts !== 'object') fail('E_CONFIG', `${who}: options must be an object`);
    const causal = opts.causal ?? true;
    check(typeof causal === 'boolean', 'E_CONFIG', `${who}: causal must be a boolean`);
    check(
      !causal || m <= T,
      'E_SHAPE',
      () => `${who}: causal attention with m = ${m} query rows needs at least m tokens, the cache holds ${T}`,
    );
    const scale = opts.scale ?? 1 / Math.sqrt(D);
    check(
      typeof scale === 'number' && Number.isFinite(scale),
      'E_CONFIG',
      `${who}: scale must be a finite number, got ${String(scale)}`,
    );
    checkFiniteRange(qd, 0, qd.length, 'float32', who, 'q');
    return { heads, m, scale, causal };
  }

  /** Dequantized keys `[kvHeads, length, headDim]` (residual keys bit-identical to the inputs). */
  keys(): Float32Tensor {
    const st = this.#live('KiviCache.keys');
    const { kvHeads: H, headDim: D, residualLength: R, keyBits: bits, keyGroupSize: G } = st.cfg;
    const T = st.length;
    const out = new Float32Array(H * T * D);
    const f = 32 / bits;
    for (let b = 0; b < st.kBlocks.length; b++) {
      const blk = st.kBlocks[b]!;
      for (let h = 0; h < H; h++)
        dequantizeKeysKernel(
          blk.codes,
          (h * R * D) / f,
          blk.scales,
          blk.mins,
          (h * R * D) / G,
          R,
          D,
          bits,
          G,
          out,
          (h * T + b * R) * D,
        );
    }
    const tq = st.kBlocks.length * R;
    for (let h = 0; h < H; h++) {
      const src = h * (R + 1) * D;
      out.set(st.kRes.subarray(src, src + st.kResLen * D), (h * T + tq) * D);
    }
    return { dtype: 'float32', data: out, shape: [H, T, D] };
  }

  /** Dequantized values `[kvHeads, length, headDim]` (residual values bit-identical to the inputs). */
  values(): Float32Tensor {
    const st = this.#live('KiviCache.values');
    const { kvHeads: H, headDim: D, valueBits: bits, valueGroupSize: G } = st.cfg;
    const T = st.length;
    const out = new Float32Array(H * T * D);
    const f = 32 / bits;
    for (let t = 0; t < st.vQLen; t++) {
      const ci = (t / VALUE_CHUNK) | 0;
      const ch = st.vChunks[ci]!;
      for (let h = 0; h < H; h++) {
        const r = (t - ci * VALUE_CHUNK) * H + h;
        dequantizeValueRowKernel(
          ch.codes,
          (r * D) / f,
          ch.scales,
          ch.mins,
          (r * D) / G,
          D,
          bits,
          G,
          out,
          (h * T + t) * D,
        );
      }
    }
    const ring = valueRingRows(st.cfg);
    for (let r = 0; r < st.vResLen; r++) {
      const row = ((st.vResStart + r) % ring) * H * D;
      for (let h = 0; h < H; h++) out.set(st.vRes.subarray(row + h * D, row + (h + 1) * D), (h * T + st.vQLen + r) * D);
    }
    return { dtype: 'float32', data: out, shape: [H, T, D] };
  }

  /** Serialize to the versioned binary format (magic `KIVC`, version 1, CRC-32 of the payload). */
  serialize(): Uint8Array {
    return encodeState(this.#live('KiviCache.serialize'));
  }

  /**
   * Restore a cache from {@link serialize}'s bytes, bit-exactly. Throws `E_FORMAT` for a wrong magic or
   * version, inconsistent header, wrong length, checksum mismatch or non-finite stored numbers.
   */
  static deserialize(bytes: Uint8Array): KiviCache {
    const st = decodeState(bytes);
    const c = new KiviCache(st.cfg);
    c.#st = st;
    return c;
  }
}
