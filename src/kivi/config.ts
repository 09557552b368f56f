/**
 * KIVI configuration: option types, validation (once, with clear `E_CONFIG` / `E_SHAPE` messages) and
 * the input checks shared by the quantizers and the cache.
 *
 * Exposed (through index.ts): KiviBits, KiviScaleDtype, KiviFlushOrder, KiviQuantizeOptions, KiviQuantizedBuffers,
 * KiviCacheConfig. Internal: normalizeQuantOptions, normalizeCacheConfig, NormalizedQuantOptions,
 * NormalizedCacheConfig, checkFloat32Tensor, checkFiniteRange, magnitudeLimit.
 * @module
 */
import { check, fail } from '../common/errors.js';
import type { Rounding } from '../common/rounding.js';
import { normalizeRounding } from '../common/rounding.js';
import type { Tensor } from '../common/tensor.js';

/**
 * Supported bit widths: 2 and 4 (the paper's), 8 (the reference torch helpers allow it).
 *
 * @example
 * ```ts
 * const bits: KiviBits = 2;
 * ```
 */
export type KiviBits = 2 | 4 | 8;

/**
 * Storage type of scales and mins. `'float32'` (default) or `'float16'` (as in the reference model
 * code, which runs in fp16): the min and the scale are rounded to the storage type (RNE) first and codes
 * are computed with the stored values, so encode and decode use identical numbers.
 *
 * @example
 * ```ts
 * const q = quantizeKeys(k, { bits: 2, groupSize: 32, scaleDtype: 'float16' }); // q.scales: Uint16Array
 * ```
 */
export type KiviScaleDtype = 'float32' | 'float16';

/**
 * When a streaming cache moves tokens from the full-precision residual into the quantized store
 * relative to attention: `'before-attention'` (paper Algorithm 1, default) or `'after-attention'`
 * (the reference code's order; the flush then happens at the start of the next `append`).
 *
 * @example
 * ```ts
 * const cache = new KiviCache({ kvHeads: 2, headDim: 32, bits: 2, groupSize: 8, residualLength: 16, flushOrder: 'after-attention' });
 * ```
 */
export type KiviFlushOrder = 'before-attention' | 'after-attention';

/**
 * Options of `quantizeKeys` / `quantizeValues`.
 *
 * @example
 * ```ts
 * const opts: KiviQuantizeOptions = { bits: 4, groupSize: 32, rounding: 'half-even' };
 * ```
 */
export interface KiviQuantizeOptions {
  /** Bit width: 2, 4 or 8. */
  readonly bits: KiviBits;
  /** Group size G: tokens per group for keys (a multiple of 32/bits), channels per group for values. */
  readonly groupSize: number;
  /** Rounding policy (default `'half-even'`, the reference's `torch.round`). */
  readonly rounding?: Rounding;
  /** Storage type of scales and mins (default `'float32'`). */
  readonly scaleDtype?: KiviScaleDtype;
  /** See {@link KiviCacheConfig.allowGroupStraddle} (default false). */
  readonly allowGroupStraddle?: boolean;
  /**
   * Optional output buffers of `quantizeKeys` / `quantizeValues` (the Ref twins ignore them), fully
   * overwritten and returned in the result: `codes` (a `Uint32Array` of the packed length), `scales`
   * and `mins` (`Float32Array`, or `Uint16Array` with `scaleDtype: 'float16'`, one per group). Reusing
   * buffers avoids allocating (and first touching) fresh memory on every call. They must not overlap the
   * input; after an error their contents are unspecified.
   */
  readonly out?: KiviQuantizedBuffers;
}

/**
 * Caller-owned output buffers of the KIVI quantizers (see {@link KiviQuantizeOptions.out}).
 *
 * @example
 * ```ts
 * const out: KiviQuantizedBuffers = { codes: new Uint32Array(n / 16), scales: new Float32Array(n / 32), mins: new Float32Array(n / 32) };
 * quantizeValues(v, { bits: 2, groupSize: 32, out });
 * ```
 */
export interface KiviQuantizedBuffers {
  readonly codes: Uint32Array;
  readonly scales: Float32Array | Uint16Array;
  readonly mins: Float32Array | Uint16Array;
}

/**
 * Configuration of a {@link KiviCache} (one layer, one sequence).
 *
 * @example
 * ```ts
 * const cfg: KiviCacheConfig = { kvHeads: 8, headDim: 128, keyBits: 2, valueBits: 4, groupSize: 32, residualLength: 128 };
 * ```
 */
export interface KiviCacheConfig {
  /** Number of KV heads H_kv. */
  readonly kvHeads: number;
  /** Head dimension D. */
  readonly headDim: number;
  /** Sets both `keyBits` and `valueBits` (default 2). */
  readonly bits?: KiviBits;
  /** Key bit width (default `bits`, else 2). */
  readonly keyBits?: KiviBits;
  /** Value bit width (default `bits`, else 2). */
  readonly valueBits?: KiviBits;
  /** Group size G (default 32): token groups for keys, channel groups for values. */
  readonly groupSize?: number;
  /** Key group size (tokens; default `groupSize`). */
  readonly keyGroupSize?: number;
  /** Value group size (channels; default `groupSize`), e.g. 8 for a model with headDim 8. */
  readonly valueGroupSize?: number;
  /** Residual length R (default 128): a multiple of the key group size. */
  readonly residualLength?: number;
  /** Flush order (default `'before-attention'`). */
  readonly flushOrder?: KiviFlushOrder;
  /** Storage type of scales and mins (default `'float32'`). */
  readonly scaleDtype?: KiviScaleDtype;
  /**
   * Allow a packed word to hold codes of more than one group, i.e. G not a multiple of 32/bits (default
   * false: `G % (32/bits) != 0` is an `E_CONFIG` error, the constraint of the reference Triton/CUDA
   * kernels). The reference torch helpers quantize first and pack afterwards, so they accept it (the
   * reference streaming vectors use G = 8 at 2 bits); with this flag lowbit does the same and only
   * requires whole words: R % (32/keyBits) == 0 and D % (32/valueBits) == 0 (quantizers: T % (32/bits)
   * for keys, D % (32/bits) for values).
   */
  readonly allowGroupStraddle?: boolean;
  /**
   * Where the cache allocates its storage (code words, scales, mins, residual windows); default: new
   * ordinary typed arrays. A Node `KernelPool` (`lowbit/node`) fits: with `arrays: pool` the cache lives in
   * the pool's shared memory and `pool.attend(cache, q)` splits its attention across threads; so does
   * `kernelMemory(bytes)` (`lowbit/common`, any engine): the wasm kernels then read the cache in place.
   */
  readonly arrays?: KiviArrays;
}

/**
 * An allocator of a {@link KiviCacheConfig}: zero-filled arrays of `n` elements, and optionally a way to
 * give them back ({@link KiviCache.release}). The cache allocates its residual windows at construction and
 * a key block / value chunk when a flush needs one; an allocator that throws there (e.g. `E_LIMIT` of a
 * full pool memory) or hands out a wrong array (`E_CONFIG`) leaves that `append` half done: release the
 * cache and start again.
 *
 * @example
 * ```ts
 * const arrays: KiviArrays = { float32: (n) => new Float32Array(n), uint32: (n) => new Uint32Array(n) };
 * const cache = new KiviCache({ kvHeads: 8, headDim: 128, arrays });
 * ```
 */
export interface KiviArrays {
  float32(n: number): Float32Array;
  uint32(n: number): Uint32Array;
  /** Take back an array this allocator handed out (called by {@link KiviCache.release}). */
  release?(a: Float32Array | Uint32Array): void;
}

/**
 * The checked allocator of a cache config (E_CONFIG for anything but an object with `float32` and
 * `uint32` functions). Internal.
 */
export function cacheArrays(cfg: KiviCacheConfig, who: string): KiviArrays {
  const a = cfg.arrays;
  if (a === undefined) return PLAIN_ARRAYS;
  if (a === null || typeof a !== 'object' || typeof a.float32 !== 'function' || typeof a.uint32 !== 'function')
    fail('E_CONFIG', `${who}: arrays must be an object with float32(n) and uint32(n) functions`);
  if (a.release !== undefined && typeof a.release !== 'function')
    fail('E_CONFIG', `${who}: arrays.release must be a function`);
  return a;
}

/** The default allocator: new ordinary typed arrays. Internal. */
export const PLAIN_ARRAYS: KiviArrays = {
  float32: (n) => new Float32Array(n),
  uint32: (n) => new Uint32Array(n),
};

/** Validated quantizer options. Internal. */
export interface NormalizedQuantOptions {
  readonly bits: KiviBits;
  readonly groupSize: number;
  readonly rounding: Rounding;
  readonly halfEven: boolean;
  readonly scaleDtype: KiviScaleDtype;
  readonly allowGroupStraddle: boolean;
}

/** Validated cache configuration (frozen). Internal. */
export interface NormalizedCacheConfig {
  readonly kvHeads: number;
  readonly headDim: number;
  readonly keyBits: KiviBits;
  readonly valueBits: KiviBits;
  readonly keyGroupSize: number;
  readonly valueGroupSize: number;
  readonly residualLength: number;
  readonly flushOrder: KiviFlushOrder;
  readonly scaleDtype: KiviScaleDtype;
  readonly allowGroupStraddle: boolean;
}

/** Largest accepted dimension of a cache (heads, head dim, group, residual). */
export const MAX_DIM = 1 << 20;

function checkBits(bits: unknown, who: string, name: string): KiviBits {
  if (bits !== 2 && bits !== 4 && bits !== 8)
    fail('E_CONFIG', `${who}: ${name} must be 2, 4 or 8, got ${JSON.stringify(bits)}`);
  return bits;
}

function checkPositiveInt(v: unknown, who: string, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_DIM)
    fail('E_CONFIG', `${who}: ${name} must be an integer in 1..${MAX_DIM}, got ${JSON.stringify(v)}`);
  return v;
}

function checkBool(v: unknown, who: string, name: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') fail('E_CONFIG', `${who}: ${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function checkScaleDtype(v: unknown, who: string): KiviScaleDtype {
  if (v === undefined) return 'float32';
  if (v !== 'float32' && v !== 'float16')
    fail('E_CONFIG', `${who}: scaleDtype must be 'float32' or 'float16', got ${JSON.stringify(v)}`);
  return v;
}

/** Validate quantizer options. `axis` says which constraint applies to G. Internal. */
export function normalizeQuantOptions(
  opts: KiviQuantizeOptions | undefined,
  who: string,
  axis: 'keys' | 'values',
): NormalizedQuantOptions {
  if (opts === null || typeof opts !== 'object') fail('E_CONFIG', `${who}: options { bits, groupSize } are required`);
  const bits = checkBits(opts.bits, who, 'bits');
  const groupSize = checkPositiveInt(opts.groupSize, who, 'groupSize');
  const f = 32 / bits;
  const allowGroupStraddle = checkBool(opts.allowGroupStraddle, who, 'allowGroupStraddle');
  if (groupSize % f !== 0 && !allowGroupStraddle)
    fail(
      'E_CONFIG',
      `${who}: groupSize ${groupSize} must be a multiple of 32/bits = ${f} so that a packed word never straddles two ${axis === 'keys' ? 'token' : 'channel'} groups (or set allowGroupStraddle)`,
    );
  const { mode, seed } = normalizeRounding(opts.rounding);
  return Object.freeze({
    bits,
    groupSize,
    rounding: mode === 'stochastic' ? { mode, seed } : mode,
    halfEven: mode === 'half-even',
    scaleDtype: checkScaleDtype(opts.scaleDtype, who),
    allowGroupStraddle,
  });
}

/** Validate a cache configuration (defaults b = 2, G = 32, R = 128). Internal. */
export function normalizeCacheConfig(cfg: KiviCacheConfig | undefined, who = 'KiviCache'): NormalizedCacheConfig {
  if (cfg === null || typeof cfg !== 'object')
    fail('E_CONFIG', `${who}: a config { kvHeads, headDim, ... } is required`);
  const kvHeads = checkPositiveInt(cfg.kvHeads, who, 'kvHeads');
  const headDim = checkPositiveInt(cfg.headDim, who, 'headDim');
  const both = cfg.bits === undefined ? 2 : checkBits(cfg.bits, who, 'bits');
  const keyBits = cfg.keyBits === undefined ? both : checkBits(cfg.keyBits, who, 'keyBits');
  const valueBits = cfg.valueBits === undefined ? both : checkBits(cfg.valueBits, who, 'valueBits');
  const groupSize = cfg.groupSize === undefined ? 32 : checkPositiveInt(cfg.groupSize, who, 'groupSize');
  const kG = cfg.keyGroupSize === undefined ? groupSize : checkPositiveInt(cfg.keyGroupSize, who, 'keyGroupSize');
  const vG = cfg.valueGroupSize === undefined ? groupSize : checkPositiveInt(cfg.valueGroupSize, who, 'valueGroupSize');
  const residualLength =
    cfg.residualLength === undefined ? 128 : checkPositiveInt(cfg.residualLength, who, 'residualLength');
  const flushOrder = cfg.flushOrder === undefined ? 'before-attention' : cfg.flushOrder;
  if (flushOrder !== 'before-attention' && flushOrder !== 'after-attention')
    fail(
      'E_CONFIG',
      `${who}: flushOrder must be 'before-attention' or 'after-attention', got ${JSON.stringify(flushOrder)}`,
    );
  const scaleDtype = checkScaleDtype(cfg.scaleDtype, who);
  const allowGroupStraddle = checkBool(cfg.allowGroupStraddle, who, 'allowGroupStraddle');
  const fk = 32 / keyBits;
  const fv = 32 / valueBits;
  check(
    residualLength % kG === 0,
    'E_CONFIG',
    () => `${who}: residualLength ${residualLength} must be a multiple of the key group size ${kG} (R % G == 0)`,
  );
  if (allowGroupStraddle)
    check(
      residualLength % fk === 0,
      'E_CONFIG',
      () => `${who}: residualLength ${residualLength} must be a multiple of 32/keyBits = ${fk} (whole key words)`,
    );
  else
    check(
      kG % fk === 0,
      'E_CONFIG',
      () =>
        `${who}: key group size ${kG} must be a multiple of 32/keyBits = ${fk} (a key word holds ${fk} tokens of one group; or set allowGroupStraddle)`,
    );
  check(
    headDim % vG === 0,
    'E_CONFIG',
    () =>
      `${who}: headDim ${headDim} must be a multiple of the value group size ${vG} (values are grouped along channels)`,
  );
  if (allowGroupStraddle)
    check(
      headDim % fv === 0,
      'E_CONFIG',
      () => `${who}: headDim ${headDim} must be a multiple of 32/valueBits = ${fv} (whole value words)`,
    );
  else
    check(
      vG % fv === 0,
      'E_CONFIG',
      () =>
        `${who}: value group size ${vG} must be a multiple of 32/valueBits = ${fv} (a value word holds ${fv} channels of one group; or set allowGroupStraddle)`,
    );
  return Object.freeze({
    kvHeads,
    headDim,
    keyBits,
    valueBits,
    keyGroupSize: kG,
    valueGroupSize: vG,
    residualLength,
    flushOrder,
    scaleDtype,
    allowGroupStraddle,
  });
}

/** Check that `t` is a contiguous float32 tensor (Float32Array data of the right length). Internal. */
export function checkFloat32Tensor(t: Tensor | undefined, who: string, name: string): Float32Array {
  if (t === null || typeof t !== 'object') fail('E_SHAPE', `${who}: ${name} must be a float32 tensor`);
  if (t.dtype !== 'float32' || !(t.data instanceof Float32Array))
    fail('E_DTYPE', `${who}: ${name} must be a float32 tensor (Float32Array data), got dtype ${String(t.dtype)}`);
  if (!Array.isArray(t.shape)) fail('E_SHAPE', `${who}: ${name}.shape must be an array`);
  let n = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0)
      fail('E_SHAPE', `${who}: ${name} has shape [${t.shape.join(', ')}], dimensions must be non-negative integers`);
    n *= d;
  }
  check(
    t.data.length === n,
    'E_SHAPE',
    () => `${who}: ${name} has shape [${t.shape.join(', ')}] (${n} elements) but ${t.data.length} data elements`,
  );
  return t.data;
}

/**
 * Magnitude limit of inputs: with float32 metadata |x| < 2^127 keeps `max − min` finite; with float16
 * metadata |x| ≤ 65504 keeps the stored min finite. Internal.
 */
export function magnitudeLimit(scaleDtype: KiviScaleDtype): number {
  return scaleDtype === 'float16' ? 65504 : 2 ** 127;
}

/**
 * Non-finite policy: reject. Throws `E_NONFINITE` for NaN/±Inf and `E_LIMIT` for a magnitude whose
 * (max − min) or stored min would overflow the metadata type. Internal.
 */
export function checkFiniteRange(
  x: Float32Array,
  off: number,
  n: number,
  scaleDtype: KiviScaleDtype,
  who: string,
  name: string,
): void {
  const lim = magnitudeLimit(scaleDtype);
  const strict = scaleDtype === 'float32';
  for (let i = off, e = off + n; i < e; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v))
      fail('E_NONFINITE', `${who}: ${name} element ${i - off} is ${v}; KIVI rejects non-finite inputs`);
    const a = v < 0 ? -v : v;
    if (strict ? a >= lim : a > lim)
      fail(
        'E_LIMIT',
        `${who}: ${name} element ${i - off} is ${v}; |x| must be ${strict ? '< 2^127' : '<= 65504'} with ${scaleDtype} scales (the scale/min would overflow)`,
      );
  }
}
