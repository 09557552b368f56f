/**
 * The KIVI quantizer: per-channel keys (groups of G consecutive tokens, codes packed along tokens) and
 * per-token values (groups of G consecutive channels, codes packed along channels), asymmetric, with the
 * float32 rounding points of the reference (kivi.md §1):
 *
 * ```
 * d = f32(mx − mn);  s = f32(d / qmax);  t = f32(f32(x − mn) / s);  q = round(clamp(t, 0, qmax))
 * x' = f32(f32(q·s) + mn);     s == 0 → q = 0 and x' = mn exactly
 * ```
 *
 * Layouts (flat, row-major, per leading "stream" of `[..., T, D]`), identical to the reference torch
 * helpers `quant_and_pack_kcache` / `quant_and_pack_vcache` (`kivi-u32` packing: f = 32/bits codes per
 * word, element j of a word at bits [bits·j, bits·j + bits)):
 * - keys: codes `[..., T/f, D]` (word (w, d) holds tokens w·f … w·f+f−1 of channel d), scales/mins
 *   `[..., T/G, D]`;
 * - values: codes `[..., T, D/f]`, scales/mins `[..., T, D/G]`.
 *
 * With float16 metadata the min and the scale (computed as above in float32) are rounded to half (RNE)
 * and the codes are computed with the stored values. Stochastic rounding draws one random number per
 * element in the packed visiting order (keys: word row, channel, slot; values: token, channel), the
 * same in the fast kernels and the Ref twins.
 *
 * Exposed: QuantizedKeys, QuantizedValues, quantizeKeys, quantizeValues, dequantize, quantizeKeysRef,
 * quantizeValuesRef, dequantizeRef. Internal kernels (used by the cache and the benchmark):
 * quantizeKeysKernel, quantizeValueRowKernel, dequantizeKeysKernel, dequantizeValueRowKernel.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { f16Round, f16ToF32Array, f32ToF16Array } from '../common/half.js';
import { wasmKernels } from '../common/kernels.js';
import { packBitsRef, unpackBitsRef } from '../common/packing.js';
import { rounder } from '../common/rounding.js';
import type { Float32Tensor } from '../common/tensor.js';
import {
  checkFiniteRange,
  checkFloat32Tensor,
  type KiviBits,
  type KiviQuantizedBuffers,
  type KiviQuantizeOptions,
  type KiviScaleDtype,
  magnitudeLimit,
  normalizeQuantOptions,
} from './config.js';

/** 1.5·2^52: `(v + RNE) − RNE` rounds |v| < 2^51 to an integer, ties to even. */
const RNE = 6755399441055744;

interface QuantizedBase {
  /** Packed codes, `kivi-u32` layout (see the module header). */
  readonly codes: Uint32Array;
  /** Scales: `Float32Array`, or float16 bit patterns in a `Uint16Array` when `scaleDtype` is `'float16'`. */
  readonly scales: Float32Array | Uint16Array;
  /** Group minimums, same type and layout as `scales`. */
  readonly mins: Float32Array | Uint16Array;
  /** Shape of the original tensor `[..., T, D]`. */
  readonly shape: readonly number[];
  readonly bits: KiviBits;
  readonly groupSize: number;
  readonly scaleDtype: KiviScaleDtype;
}

/**
 * Per-channel quantized keys: codes `[..., T/(32/bits), D]`, scales/mins `[..., T/G, D]`.
 *
 * @example
 * ```ts
 * const q: QuantizedKeys = quantizeKeys(k, { bits: 2, groupSize: 32 });
 * q.codes; // Uint32Array
 * ```
 */
export interface QuantizedKeys extends QuantizedBase {
  readonly kind: 'keys';
}

/**
 * Per-token quantized values: codes `[..., T, D/(32/bits)]`, scales/mins `[..., T, D/G]`.
 *
 * @example
 * ```ts
 * const q: QuantizedValues = quantizeValues(v, { bits: 2, groupSize: 32 });
 * ```
 */
export interface QuantizedValues extends QuantizedBase {
  readonly kind: 'values';
}

// ---------------------------------------------------------------------------------------------------
// Fast kernels (monomorphic, allocation-free; scratch and outputs are passed in).

/**
 * Quantize `nTok` tokens (a multiple of G) of one stream `x[xOff + t·D + d]` per channel over token
 * groups; writes `nTok/f` rows of D words at `codes[cOff…]` and `nTok/G` rows of D scales/mins at
 * `mOff`. `mnBuf`/`mxBuf` are scratch of length ≥ D. `round` is `null` for half-even (inlined).
 * Internal.
 */
export function quantizeKeysKernel(
  x: Float32Array,
  xOff: number,
  nTok: number,
  D: number,
  bits: number,
  G: number,
  f16: boolean,
  round: ((v: number) => number) | null,
  codes: Uint32Array,
  cOff: number,
  scales: Float32Array,
  mins: Float32Array,
  mOff: number,
  mnBuf: Float32Array,
  mxBuf: Float32Array,
): void {
  const f = (32 / bits) | 0;
  const qmax = (1 << bits) - 1;
  const nGroups = (nTok / G) | 0;
  // 1. scales and mins of every (token group, channel)
  for (let g = 0; g < nGroups; g++) {
    const base = xOff + g * G * D;
    for (let d = 0; d < D; d++) {
      const v = x[base + d]!;
      mnBuf[d] = v;
      mxBuf[d] = v;
    }
    for (let t = 1; t < G; t++) {
      const row = base + t * D;
      for (let d = 0; d < D; d++) {
        const v = x[row + d]!;
        if (v < mnBuf[d]!) mnBuf[d] = v;
        if (v > mxBuf[d]!) mxBuf[d] = v;
      }
    }
    const mrow = mOff + g * D;
    for (let d = 0; d < D; d++) {
      let m = mnBuf[d]!;
      let s = Math.fround(Math.fround(mxBuf[d]! - m) / qmax);
      if (f16) {
        m = f16Round(m);
        s = f16Round(s);
      }
      scales[mrow + d] = s;
      mins[mrow + d] = m;
    }
  }
  // 2. codes, one row of D words (f tokens) at a time
  const rows = (nTok / f) | 0;
  if (G % f === 0) {
    // a word row lies in one token group: per channel, pack f tokens (stride D) into one word
    for (let w = 0; w < rows; w++) {
      const crow = cOff + w * D;
      const t0 = w * f;
      const mrow = mOff + ((t0 / G) | 0) * D;
      const xb = xOff + t0 * D;
      for (let d = 0; d < D; d++) {
        const s = scales[mrow + d]!;
        const m = mins[mrow + d]!;
        let word = 0;
        if (s !== 0) {
          for (let j = 0, xi = xb + d; j < f; j++, xi += D) {
            let v = Math.fround(Math.fround(x[xi]! - m) / s);
            if (v < 0) v = 0;
            else if (v > qmax) v = qmax;
            word |= (round === null ? v + RNE - RNE : round(v)) << (bits * j);
          }
        }
        codes[crow + d] = word;
      }
    }
    return;
  }
  // general layout (allowGroupStraddle): each token of a word looks up its own group (same visiting
  // order as above: word row, channel, slot)
  for (let w = 0; w < rows; w++) {
    const crow = cOff + w * D;
    for (let d = 0; d < D; d++) {
      let word = 0;
      for (let j = 0; j < f; j++) {
        const t = w * f + j;
        const mi = mOff + ((t / G) | 0) * D + d;
        const s = scales[mi]!;
        if (s !== 0) {
          let v = Math.fround(Math.fround(x[xOff + t * D + d]! - mins[mi]!) / s);
          if (v < 0) v = 0;
          else if (v > qmax) v = qmax;
          word |= (round === null ? v + RNE - RNE : round(v)) << (bits * j);
        }
      }
      codes[crow + d] = word;
    }
  }
}

/**
 * Quantize one token's D channels `x[xOff…xOff+D)` per channel group; writes D/f words at `cOff` and
 * D/G scales/mins at `mOff`. Internal.
 */
export function quantizeValueRowKernel(
  x: Float32Array,
  xOff: number,
  D: number,
  bits: number,
  G: number,
  f16: boolean,
  round: ((v: number) => number) | null,
  codes: Uint32Array,
  cOff: number,
  scales: Float32Array,
  mins: Float32Array,
  mOff: number,
): void {
  const f = (32 / bits) | 0;
  const qmax = (1 << bits) - 1;
  const nGroups = (D / G) | 0;
  for (let c = 0; c < nGroups; c++) {
    const base = xOff + c * G;
    let mn = x[base]!;
    let mx = mn;
    for (let i = 1; i < G; i++) {
      const v = x[base + i]!;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    let s = Math.fround(Math.fround(mx - mn) / qmax);
    if (f16) {
      mn = f16Round(mn);
      s = f16Round(s);
    }
    scales[mOff + c] = s;
    mins[mOff + c] = mn;
  }
  if (G % f === 0) {
    // words lie inside one channel group
    const wordsPerGroup = (G / f) | 0;
    for (let c = 0; c < nGroups; c++) {
      const s = scales[mOff + c]!;
      const m = mins[mOff + c]!;
      for (let wi = 0; wi < wordsPerGroup; wi++) {
        const xo = xOff + c * G + wi * f;
        let word = 0;
        if (s !== 0) {
          for (let j = 0; j < f; j++) {
            let v = Math.fround(Math.fround(x[xo + j]! - m) / s);
            if (v < 0) v = 0;
            else if (v > qmax) v = qmax;
            word |= (round === null ? v + RNE - RNE : round(v)) << (bits * j);
          }
        }
        codes[cOff + c * wordsPerGroup + wi] = word;
      }
    }
    return;
  }
  // general layout (allowGroupStraddle): each channel looks up its own group
  const nWords = (D / f) | 0;
  for (let w = 0; w < nWords; w++) {
    const xo = xOff + w * f;
    let word = 0;
    for (let j = 0; j < f; j++) {
      const c = mOff + (((w * f + j) / G) | 0);
      const s = scales[c]!;
      if (s !== 0) {
        let v = Math.fround(Math.fround(x[xo + j]! - mins[c]!) / s);
        if (v < 0) v = 0;
        else if (v > qmax) v = qmax;
        const q = round === null ? v + RNE - RNE : round(v);
        word |= q << (bits * j);
      }
    }
    codes[cOff + w] = word;
  }
}

/** Dequantize `nTok` key tokens of one stream into `out[oOff + t·D + d]`. Internal. */
export function dequantizeKeysKernel(
  codes: Uint32Array,
  cOff: number,
  scales: Float32Array,
  mins: Float32Array,
  mOff: number,
  nTok: number,
  D: number,
  bits: number,
  G: number,
  out: Float32Array,
  oOff: number,
): void {
  const f = (32 / bits) | 0;
  const mask = (1 << bits) - 1;
  const rows = (nTok / f) | 0;
  for (let w = 0; w < rows; w++) {
    const crow = cOff + w * D;
    for (let j = 0; j < f; j++) {
      const t = w * f + j;
      const mrow = mOff + ((t / G) | 0) * D;
      const orow = oOff + t * D;
      const sh = bits * j;
      for (let d = 0; d < D; d++) {
        const q = (codes[crow + d]! >>> sh) & mask;
        out[orow + d] = Math.fround(Math.fround(q * scales[mrow + d]!) + mins[mrow + d]!);
      }
    }
  }
}

/** Dequantize one value token (D channels) into `out[oOff…]`. Internal. */
export function dequantizeValueRowKernel(
  codes: Uint32Array,
  cOff: number,
  scales: Float32Array,
  mins: Float32Array,
  mOff: number,
  D: number,
  bits: number,
  G: number,
  out: Float32Array,
  oOff: number,
): void {
  const f = (32 / bits) | 0;
  const mask = (1 << bits) - 1;
  const nWords = (D / f) | 0;
  if (G % f === 0) {
    const wordsPerGroup = (G / f) | 0;
    for (let w = 0; w < nWords; w++) {
      let word = codes[cOff + w]!;
      const c = mOff + ((w / wordsPerGroup) | 0);
      const s = scales[c]!;
      const m = mins[c]!;
      const o = oOff + w * f;
      for (let j = 0; j < f; j++) {
        out[o + j] = Math.fround(Math.fround((word & mask) * s) + m);
        word >>>= bits;
      }
    }
    return;
  }
  for (let w = 0; w < nWords; w++) {
    const word = codes[cOff + w]!;
    const o = oOff + w * f;
    for (let j = 0; j < f; j++) {
      const c = mOff + (((w * f + j) / G) | 0);
      out[o + j] = Math.fround(Math.fround(((word >>> (bits * j)) & mask) * scales[c]!) + mins[c]!);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Public API.

function dims(shape: readonly number[], who: string): { S: number; T: number; D: number } {
  check(
    shape.length >= 2,
    'E_SHAPE',
    () => `${who}: expected a tensor of rank >= 2 [..., T, D], got shape [${shape.join(', ')}]`,
  );
  let S = 1;
  for (let i = 0; i < shape.length - 2; i++) S *= shape[i]!;
  return { S, T: shape[shape.length - 2]!, D: shape[shape.length - 1]! };
}

function toStored(
  a: Float32Array,
  dtype: KiviScaleDtype,
  into?: Float32Array | Uint16Array,
): Float32Array | Uint16Array {
  if (dtype === 'float16') return f32ToF16Array(a, into as Uint16Array | undefined);
  return a;
}

/**
 * Output arrays of a quantizer: the caller's `out` buffers (checked) or fresh ones. With float16
 * metadata, scales/mins are computed in float32 scratch first and stored into `out` at the end.
 */
function outputs(
  out: KiviQuantizedBuffers | undefined,
  who: string,
  nc: number,
  nm: number,
  dtype: KiviScaleDtype,
): { codes: Uint32Array; scales: Float32Array; mins: Float32Array; out: KiviQuantizedBuffers | undefined } {
  if (out === undefined)
    return { codes: new Uint32Array(nc), scales: new Float32Array(nm), mins: new Float32Array(nm), out };
  check(out !== null && typeof out === 'object', 'E_CONFIG', `${who}: out must be { codes, scales, mins }`);
  const Meta = dtype === 'float16' ? Uint16Array : Float32Array;
  check(
    out.codes instanceof Uint32Array && out.scales instanceof Meta && out.mins instanceof Meta,
    'E_DTYPE',
    () => `${who}: out.codes must be a Uint32Array and out.scales/out.mins ${Meta.name}s (scaleDtype '${dtype}')`,
  );
  check(
    out.codes.length === nc && out.scales.length === nm && out.mins.length === nm,
    'E_SHAPE',
    () =>
      `${who}: out needs ${nc} code words and ${nm} scales/mins, got ${out.codes.length}/${out.scales.length}/${out.mins.length}`,
  );
  if (dtype === 'float16') return { codes: out.codes, scales: new Float32Array(nm), mins: new Float32Array(nm), out };
  return { codes: out.codes, scales: out.scales as Float32Array, mins: out.mins as Float32Array, out };
}

function keysResult(
  codes: Uint32Array,
  scales: Float32Array,
  mins: Float32Array,
  shape: readonly number[],
  bits: KiviBits,
  G: number,
): QuantizedKeys {
  return Object.freeze({
    kind: 'keys' as const,
    codes,
    scales,
    mins,
    shape: Object.freeze([...shape]),
    bits,
    groupSize: G,
    scaleDtype: 'float32' as const,
  });
}

function valuesResult(
  codes: Uint32Array,
  scales: Float32Array,
  mins: Float32Array,
  shape: readonly number[],
  bits: KiviBits,
  G: number,
): QuantizedValues {
  return Object.freeze({
    kind: 'values' as const,
    codes,
    scales,
    mins,
    shape: Object.freeze([...shape]),
    bits,
    groupSize: G,
    scaleDtype: 'float32' as const,
  });
}

/**
 * Quantize keys per channel: `k` is `[..., T, D]`, T a multiple of G, G a multiple of 32/bits.
 * Non-finite inputs throw `E_NONFINITE` (policy: reject). `k` is not modified. With `opts.out` the
 * results are written into the caller's buffers (no allocation).
 *
 * @example
 * ```ts
 * import { quantizeKeys, dequantize } from 'lowbit/kivi';
 * const k = { dtype: 'float32', data: new Float32Array(2 * 64 * 32).map(Math.random), shape: [2, 64, 32] } as const;
 * const q = quantizeKeys(k, { bits: 2, groupSize: 32 });
 * const kHat = dequantize(q); // [2, 64, 32], |k − k̂| ≤ scale/2
 * const out = { codes: q.codes.slice(), scales: new Float32Array(q.scales.length), mins: new Float32Array(q.mins.length) };
 * quantizeKeys(k, { bits: 2, groupSize: 32, out }); // reuses the buffers
 * ```
 */
export function quantizeKeys(k: Float32Tensor, opts: KiviQuantizeOptions): QuantizedKeys {
  const who = 'quantizeKeys';
  const o = normalizeQuantOptions(opts, who, 'keys');
  const x = checkFloat32Tensor(k, who, 'k');
  const { S, T, D } = dims(k.shape, who);
  const G = o.groupSize;
  const f = 32 / o.bits;
  check(
    T % G === 0,
    'E_SHAPE',
    () => `${who}: T = ${T} (shape [${k.shape.join(', ')}]) must be a multiple of groupSize ${G}`,
  );
  check(T % f === 0, 'E_SHAPE', () => `${who}: T = ${T} must be a multiple of 32/bits = ${f} (whole words)`);
  const { codes, scales, mins, out } = outputs(opts.out, who, (S * T * D) / f, (S * T * D) / G, o.scaleDtype);
  // wasm SIMD kernel (bit-identical; it also runs the range checks and reports a failure, which the JS
  // check below then turns into the proper error)
  const wk = o.halfEven && o.scaleDtype === 'float32' && G % f === 0 ? wasmKernels() : null;
  if (wk !== null) {
    const lim = magnitudeLimit('float32');
    let ok = true;
    for (let s = 0; s < S && ok; s++)
      ok = wk.kiviKeysQuant(x, s * T * D, T, D, o.bits, G, lim, codes, (s * T * D) / f, scales, mins, (s * T * D) / G);
    if (ok) return keysResult(codes, scales, mins, k.shape, o.bits, G);
  }
  checkFiniteRange(x, 0, x.length, o.scaleDtype, who, 'k');
  const mnBuf = new Float32Array(D);
  const mxBuf = new Float32Array(D);
  const round = o.halfEven ? null : rounder(o.rounding);
  for (let s = 0; s < S; s++) {
    quantizeKeysKernel(
      x,
      s * T * D,
      T,
      D,
      o.bits,
      G,
      o.scaleDtype === 'float16',
      round,
      codes,
      (s * T * D) / f,
      scales,
      mins,
      (s * T * D) / G,
      mnBuf,
      mxBuf,
    );
  }
  return Object.freeze({
    kind: 'keys' as const,
    codes,
    scales: toStored(scales, o.scaleDtype, out?.scales),
    mins: toStored(mins, o.scaleDtype, out?.mins),
    shape: Object.freeze([...k.shape]),
    bits: o.bits,
    groupSize: G,
    scaleDtype: o.scaleDtype,
  });
}

/**
 * Quantize values per token: `v` is `[..., T, D]`, D a multiple of G, G a multiple of 32/bits.
 * Non-finite inputs throw `E_NONFINITE`. `v` is not modified. `opts.out`: see {@link quantizeKeys}.
 *
 * @example
 * ```ts
 * import { quantizeValues, dequantize } from 'lowbit/kivi';
 * const v = { dtype: 'float32', data: new Float32Array(64 * 32).fill(0.5), shape: [64, 32] } as const;
 * const q = quantizeValues(v, { bits: 4, groupSize: 32 });
 * dequantize(q).data[0]; // 0.5 (constant groups are exact)
 * ```
 */
export function quantizeValues(v: Float32Tensor, opts: KiviQuantizeOptions): QuantizedValues {
  const who = 'quantizeValues';
  const o = normalizeQuantOptions(opts, who, 'values');
  const x = checkFloat32Tensor(v, who, 'v');
  const { S, T, D } = dims(v.shape, who);
  const G = o.groupSize;
  const f = 32 / o.bits;
  check(
    D % G === 0,
    'E_SHAPE',
    () => `${who}: D = ${D} (shape [${v.shape.join(', ')}]) must be a multiple of groupSize ${G}`,
  );
  check(D % f === 0, 'E_SHAPE', () => `${who}: D = ${D} must be a multiple of 32/bits = ${f} (whole words)`);
  const rows = S * T;
  const { codes, scales, mins, out } = outputs(opts.out, who, (rows * D) / f, (rows * D) / G, o.scaleDtype);
  const wk = o.halfEven && o.scaleDtype === 'float32' && G % f === 0 ? wasmKernels() : null;
  if (wk?.kiviValuesQuant(x, 0, rows, D, o.bits, G, magnitudeLimit('float32'), codes, 0, scales, mins, 0))
    return valuesResult(codes, scales, mins, v.shape, o.bits, G);
  checkFiniteRange(x, 0, x.length, o.scaleDtype, who, 'v');
  const round = o.halfEven ? null : rounder(o.rounding);
  const f16 = o.scaleDtype === 'float16';
  for (let r = 0; r < rows; r++) {
    quantizeValueRowKernel(x, r * D, D, o.bits, G, f16, round, codes, (r * D) / f, scales, mins, (r * D) / G);
  }
  return Object.freeze({
    kind: 'values' as const,
    codes,
    scales: toStored(scales, o.scaleDtype, out?.scales),
    mins: toStored(mins, o.scaleDtype, out?.mins),
    shape: Object.freeze([...v.shape]),
    bits: o.bits,
    groupSize: G,
    scaleDtype: o.scaleDtype,
  });
}

interface CheckedQuantized {
  S: number;
  T: number;
  D: number;
  bits: KiviBits;
  G: number;
  scales: Float32Array;
  mins: Float32Array;
}

function checkQuantized(q: QuantizedKeys | QuantizedValues, who: string): CheckedQuantized {
  if (q === null || typeof q !== 'object' || (q.kind !== 'keys' && q.kind !== 'values'))
    fail('E_CONFIG', `${who}: expected a QuantizedKeys or QuantizedValues (kind 'keys' | 'values')`);
  const o = normalizeQuantOptions(
    { bits: q.bits, groupSize: q.groupSize, scaleDtype: q.scaleDtype, allowGroupStraddle: true },
    who,
    q.kind === 'keys' ? 'keys' : 'values',
  );
  if (!Array.isArray(q.shape)) fail('E_SHAPE', `${who}: shape must be an array`);
  const { S, T, D } = dims(q.shape, who);
  for (const d of q.shape)
    if (!Number.isSafeInteger(d) || d < 0) fail('E_SHAPE', `${who}: bad shape [${q.shape.join(', ')}]`);
  const G = o.groupSize;
  const f = 32 / o.bits;
  if (q.kind === 'keys')
    check(T % G === 0 && T % f === 0, 'E_SHAPE', `${who}: T = ${T} is not a multiple of groupSize ${G} and of ${f}`);
  else check(D % G === 0 && D % f === 0, 'E_SHAPE', `${who}: D = ${D} is not a multiple of groupSize ${G} and of ${f}`);
  const n = S * T * D;
  const MetaCtor = o.scaleDtype === 'float16' ? Uint16Array : Float32Array;
  check(q.codes instanceof Uint32Array, 'E_DTYPE', `${who}: codes must be a Uint32Array`);
  check(
    q.scales instanceof MetaCtor && q.mins instanceof MetaCtor,
    'E_DTYPE',
    `${who}: scales/mins must be ${MetaCtor.name} for scaleDtype '${o.scaleDtype}'`,
  );
  check(
    q.codes.length === n / f && q.scales.length === n / G && q.mins.length === n / G,
    'E_SHAPE',
    () =>
      `${who}: shape [${q.shape.join(', ')}] needs ${n / f} code words and ${n / G} scales/mins, got ${q.codes.length}/${q.scales.length}/${q.mins.length}`,
  );
  const scales = q.scales instanceof Uint16Array ? f16ToF32Array(q.scales) : q.scales;
  const mins = q.mins instanceof Uint16Array ? f16ToF32Array(q.mins) : q.mins;
  return { S, T, D, bits: o.bits, G, scales, mins };
}

/**
 * Dequantize keys or values back to a float32 tensor of the original shape: `x' = f32(f32(q·s) + mn)`.
 * `out`, if given, must hold exactly the original number of elements.
 *
 * @example
 * ```ts
 * const x = dequantize(quantizeKeys(k, { bits: 4, groupSize: 32 }));
 * ```
 */
export function dequantize(q: QuantizedKeys | QuantizedValues, out?: Float32Array): Float32Tensor {
  const who = 'dequantize';
  const { S, T, D, bits, G, scales, mins } = checkQuantized(q, who);
  const n = S * T * D;
  const dst = out ?? new Float32Array(n);
  check(dst instanceof Float32Array && dst.length === n, 'E_SHAPE', () => `${who}: out must be a Float32Array(${n})`);
  const f = 32 / bits;
  const wk = G % f === 0 && q.scaleDtype === 'float32' ? wasmKernels() : null;
  if (wk !== null) {
    let ok = true;
    if (q.kind === 'keys') {
      for (let s = 0; s < S && ok; s++)
        ok = wk.kiviKeysDequant(q.codes, (s * T * D) / f, scales, mins, (s * T * D) / G, T, D, bits, G, dst, s * T * D);
    } else ok = wk.kiviValuesDequant(q.codes, 0, scales, mins, 0, S * T, D, bits, G, dst, 0);
    // false: the kernel could not get memory for a chunk; the JS kernels below redo the whole output
    if (ok) return { dtype: 'float32', data: dst, shape: Object.freeze([...q.shape]) };
  }
  if (q.kind === 'keys') {
    for (let s = 0; s < S; s++)
      dequantizeKeysKernel(q.codes, (s * T * D) / f, scales, mins, (s * T * D) / G, T, D, bits, G, dst, s * T * D);
  } else {
    for (let r = 0; r < S * T; r++)
      dequantizeValueRowKernel(q.codes, (r * D) / f, scales, mins, (r * D) / G, D, bits, G, dst, r * D);
  }
  return { dtype: 'float32', data: dst, shape: Object.freeze([...q.shape]) };
}

// ---------------------------------------------------------------------------------------------------
// Reference twins: one group at a time, unpacked codes, generic packing (packBitsRef / unpackBitsRef).

function quantizeGroupRef(
  vals: number[],
  bits: number,
  f16: boolean,
  round: (v: number) => number,
): { codes: number[]; s: number; m: number } {
  const qmax = 2 ** bits - 1;
  let mn = vals[0]!;
  let mx = vals[0]!;
  for (const v of vals) {
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  let s = Math.fround(Math.fround(mx - mn) / qmax);
  let m = mn;
  if (f16) {
    s = f16Round(s);
    m = f16Round(m);
  }
  const codes = vals.map((v) => {
    if (s === 0) return 0;
    const t = Math.min(qmax, Math.max(0, Math.fround(Math.fround(v - m) / s)));
    return round(t);
  });
  return { codes, s, m };
}

/**
 * Reference twin of {@link quantizeKeys}: per (stream, channel, token group), then `packBitsRef`.
 *
 * @example
 * ```ts
 * const a = quantizeKeys(k, { bits: 2, groupSize: 32 });
 * const b = quantizeKeysRef(k, { bits: 2, groupSize: 32 }); // same codes, scales, mins
 * ```
 */
export function quantizeKeysRef(k: Float32Tensor, opts: KiviQuantizeOptions): QuantizedKeys {
  const who = 'quantizeKeysRef';
  const o = normalizeQuantOptions(opts, who, 'keys');
  const x = checkFloat32Tensor(k, who, 'k');
  const { S, T, D } = dims(k.shape, who);
  const G = o.groupSize;
  const f = 32 / o.bits;
  check(T % G === 0 && T % f === 0, 'E_SHAPE', `${who}: T = ${T} must be a multiple of groupSize ${G} and of ${f}`);
  checkFiniteRange(x, 0, x.length, o.scaleDtype, who, 'k');
  const codes = new Uint32Array((S * T * D) / f);
  const scales = new Float32Array((S * T * D) / G);
  const mins = new Float32Array(scales.length);
  const round = rounder(o.rounding);
  // Stochastic rounding draws its random numbers in the fast kernel's visiting order: word row (f
  // tokens), channel, slot. Scales and mins of all groups first, then the codes in that order.
  for (let s = 0; s < S; s++) {
    const chan: number[][] = Array.from({ length: D }, () => new Array<number>(T).fill(0));
    for (let g = 0; g < T / G; g++) {
      for (let d = 0; d < D; d++) {
        const vals: number[] = [];
        for (let t = g * G; t < (g + 1) * G; t++) vals.push(x[s * T * D + t * D + d]!);
        const r = quantizeGroupRef(vals, o.bits, o.scaleDtype === 'float16', (v) => v);
        scales[((s * T) / G + g) * D + d] = r.s;
        mins[((s * T) / G + g) * D + d] = r.m;
      }
    }
    for (let w = 0; w < T / f; w++) {
      for (let d = 0; d < D; d++) {
        for (let j = 0; j < f; j++) {
          const t = w * f + j;
          const mi = ((s * T) / G + Math.floor(t / G)) * D + d;
          const sc = scales[mi]!;
          const v = x[s * T * D + t * D + d]!;
          chan[d]![t] =
            sc === 0 ? 0 : round(Math.min(2 ** o.bits - 1, Math.max(0, Math.fround(Math.fround(v - mins[mi]!) / sc))));
        }
      }
    }
    for (let d = 0; d < D; d++) {
      const words = packBitsRef(chan[d]!, o.bits);
      for (let w = 0; w < words.length; w++) codes[((s * T) / f + w) * D + d] = words[w]!;
    }
  }
  return {
    kind: 'keys',
    codes,
    scales: toStored(scales, o.scaleDtype),
    mins: toStored(mins, o.scaleDtype),
    shape: [...k.shape],
    bits: o.bits,
    groupSize: G,
    scaleDtype: o.scaleDtype,
  };
}

/**
 * Reference twin of {@link quantizeValues}: per (row, channel group), then `packBitsRef` per row.
 *
 * @example
 * ```ts
 * const b = quantizeValuesRef(v, { bits: 2, groupSize: 32 });
 * ```
 */
export function quantizeValuesRef(v: Float32Tensor, opts: KiviQuantizeOptions): QuantizedValues {
  const who = 'quantizeValuesRef';
  const o = normalizeQuantOptions(opts, who, 'values');
  const x = checkFloat32Tensor(v, who, 'v');
  const { S, T, D } = dims(v.shape, who);
  const G = o.groupSize;
  const f = 32 / o.bits;
  check(D % G === 0 && D % f === 0, 'E_SHAPE', `${who}: D = ${D} must be a multiple of groupSize ${G} and of ${f}`);
  checkFiniteRange(x, 0, x.length, o.scaleDtype, who, 'v');
  const codes = new Uint32Array((S * T * D) / f);
  const scales = new Float32Array((S * T * D) / G);
  const mins = new Float32Array(scales.length);
  const round = rounder(o.rounding);
  for (let r = 0; r < S * T; r++) {
    const row: number[] = [];
    for (let c = 0; c < D / G; c++) {
      const vals = Array.from(x.subarray(r * D + c * G, r * D + (c + 1) * G));
      const q = quantizeGroupRef(vals, o.bits, o.scaleDtype === 'float16', round);
      scales[(r * D) / G + c] = q.s;
      mins[(r * D) / G + c] = q.m;
      row.push(...q.codes);
    }
    codes.set(packBitsRef(row, o.bits), (r * D) / f);
  }
  return {
    kind: 'values',
    codes,
    scales: toStored(scales, o.scaleDtype),
    mins: toStored(mins, o.scaleDtype),
    shape: [...v.shape],
    bits: o.bits,
    groupSize: G,
    scaleDtype: o.scaleDtype,
  };
}

/**
 * Reference twin of {@link dequantize}: `unpackBitsRef` per channel (keys) or row (values).
 *
 * @example
 * ```ts
 * const x = dequantizeRef(quantizeValues(v, { bits: 2, groupSize: 32 }));
 * ```
 */
export function dequantizeRef(q: QuantizedKeys | QuantizedValues): Float32Tensor {
  const { S, T, D, bits, G, scales, mins } = checkQuantized(q, 'dequantizeRef');
  const f = 32 / bits;
  const out = new Float32Array(S * T * D);
  for (let s = 0; s < S; s++) {
    if (q.kind === 'keys') {
      for (let d = 0; d < D; d++) {
        const words = new Uint32Array(T / f);
        for (let w = 0; w < T / f; w++) words[w] = q.codes[((s * T) / f + w) * D + d]!;
        const c = unpackBitsRef(words, bits, T);
        for (let t = 0; t < T; t++) {
          const mi = ((s * T) / G + Math.floor(t / G)) * D + d;
          out[(s * T + t) * D + d] = Math.fround(Math.fround(c[t]! * scales[mi]!) + mins[mi]!);
        }
      }
    } else {
      for (let t = 0; t < T; t++) {
        const r = s * T + t;
        const c = unpackBitsRef(q.codes.subarray((r * D) / f, ((r + 1) * D) / f), bits, D);
        for (let d = 0; d < D; d++) {
          const mi = (r * D) / G + Math.floor(d / G);
          out[r * D + d] = Math.fround(Math.fround(c[d]! * scales[mi]!) + mins[mi]!);
        }
      }
    }
  }
  return { dtype: 'float32', data: out, shape: [...q.shape] };
}
