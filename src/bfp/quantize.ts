/**
 * Block quantization: MX / BFP blocks along any axis, every rounding policy, exact shared exponent.
 *
 * Algorithm (OCP MX v1.0 §6.3, d-Matrix BFP; bfp.md §1, §3, §4):
 * 1. Blocks are `blockSize` consecutive elements along `axis`; the last block of a fiber may be
 *    shorter (ragged; it behaves as if zero-padded).
 * 2. A block holding NaN or ±Inf gets the scale byte 0xFF and all codes 0; it decodes to NaN
 *    (`nonFinite: 'throw'` throws `E_NONFINITE` instead).
 * 3. `amax = max |x|` (−0 counts as 0). amax = 0 → scale byte 0x00 and all codes +0.
 * 4. `se = clamp(floor(log2 amax) − emax, −127, 127)`, with floor(log2) read **exactly from the float32
 *    bits** (never a float `log2`); byte = se + 127 (E8M0).
 * 5. Each element `v = x / 2^se` is cast to the element format with the rounding policy applied to
 *    the magnitude (so every policy is sign-symmetric; `'floor'` truncates the magnitude toward zero,
 *    as microxcaling does), subnormals kept, overflow (and the rounding carry) saturated to ±max
 *    normal. Zero magnitudes get the +0 code (no −0 codes are produced); MXINT8 never emits 0x80.
 * 6. `'stochastic'` rounding draws one uniform number per element, in row-major element order of
 *    `x` (elements of zero or NaN blocks included), from the seeded generator of `createRng(seed)`:
 *    the magnitude `m` becomes `floor(m + u)`.
 *
 * Storage ({@link BlockTensor}): `scales` holds one E8M0 byte per block in row-major order of
 * `scaleShape` (= `shape` with `shape[axis]` replaced by the number of blocks per fiber); `codes` holds
 * the element codes of all elements in row-major order of `x`, packed as in `pack.ts` (FP4 two per
 * byte, low nibble first; FP6 dense little-endian bitstream).
 *
 * The shared-exponent rule of step 4 is `scaleRule` (default `'floor'`; see {@link ScaleRule}).
 *
 * Kernels: blocks along the last axis of 4- or 8-bit FP/BFP formats with `'half-even'`, the `'floor'`
 * rule and `'nan-block'` run the WebAssembly SIMD kernels (`mxEncode` / `mxDecode` in
 * `wasm/assembly/kernels.ts`) when the kernel backend is wasm; they are bit-identical to the JS kernels
 * below and to the `…Ref` twins (test/common/kernels.test.ts).
 *
 * Exposed: BlockTensor, QuantizeBlocksOptions, ScaleRule, quantizeBlocks, quantizeBlocksRef,
 * dequantizeBlocks, dequantizeBlocksRef, blockCodes.
 * Internal: normalizeInput, blockGeometry, canonicalFormat (and the private kernels computeScales,
 * encodeContiguous, encodeElements, sharedExponent).
 * @module
 */
import { check, fail } from '../common/errors.js';
import { wasmKernels } from '../common/kernels.js';
import { createRng, normalizeRounding, type Rounding, type RoundingMode } from '../common/rounding.js';
import { type Float32Tensor, shapeSize, type Tensor } from '../common/tensor.js';
import {
  type BlockFormat,
  checkBlockSize,
  elementTable,
  type FormatTraits,
  floorLog2F32Bits,
  formatTraits,
  POW2,
  POW2_OFFSET,
  pow2,
} from './formats.js';
import { packCodes, packCodesRef, packedBytes, unpackCodes, unpackCodesRef } from './pack.js';

/**
 * A block-quantized tensor. Plain data: safe to serialize field by field.
 *
 * @example
 * ```ts
 * const b: BlockTensor = quantizeBlocks(float32(new Float32Array(64), [2, 32]), { format: 'mxfp4' });
 * b.scaleShape; // [2, 1]
 * b.codes.length; // 32 (two FP4 codes per byte)
 * ```
 */
export interface BlockTensor {
  /** The element format (a name, or a normalized `{ kind: 'bfp', mantissaBits }`). */
  readonly format: BlockFormat;
  /** Shape of the original tensor. */
  readonly shape: readonly number[];
  /** Axis along which blocks run (non-negative). */
  readonly axis: number;
  /** Elements per block along `axis` (the last block of a fiber may be shorter). */
  readonly blockSize: number;
  /** `shape` with `shape[axis]` replaced by `ceil(shape[axis] / blockSize)`. */
  readonly scaleShape: readonly number[];
  /** One E8M0 byte per block (2^(byte − 127); 0xFF = NaN block), row-major over `scaleShape`. */
  readonly scales: Uint8Array;
  /** Element codes of every element in row-major order, packed (see `pack.ts`). */
  readonly codes: Uint8Array;
  /** Storage bits of codes plus scales. */
  readonly storageBits: number;
  /** The shared-exponent rule the scales were chosen with (decoding does not depend on it). */
  readonly scaleRule: ScaleRule;
}

/**
 * Options of {@link quantizeBlocks}.
 *
 * @example
 * ```ts
 * const opts: QuantizeBlocksOptions = { format: 'bfp12', blockSize: 16, axis: 0, rounding: { mode: 'stochastic', seed: 1 } };
 * ```
 */
export interface QuantizeBlocksOptions {
  /** Element format. */
  readonly format: BlockFormat;
  /** Elements per block (default 32). */
  readonly blockSize?: number;
  /** Block axis (default last; negative counts from the end). */
  readonly axis?: number;
  /** `'half-even'` (default), `'half-away'`, `'floor'` (magnitude toward zero) or `'stochastic'` (seeded). */
  readonly rounding?: Rounding;
  /** Blocks holding NaN/±Inf: `'nan-block'` (default; scale 0xFF) or `'throw'` (`E_NONFINITE`). */
  readonly nonFinite?: 'nan-block' | 'throw';
  /** Shared-exponent rule (bfp.md §4), default `'floor'` (the OCP spec). See {@link ScaleRule}. */
  readonly scaleRule?: ScaleRule;
  /** Optional output buffers (exact lengths: one byte per block; the packed code bytes), overwritten. */
  readonly out?: { readonly scales: Uint8Array; readonly codes: Uint8Array };
}

/**
 * How the shared exponent follows from the block maximum `amax` (all computed exactly, then clamped
 * to [−127, 127]):
 * - `'floor'` (default; OCP MX §6.3): `floor(log2 amax) − emax`; the top of the block may saturate;
 * - `'ceil'`: `ceil(log2 amax) − emax`;
 * - `'even'` (torchao EVEN): round amax to the element's mantissa width (`mbits` fraction bits, ties to
 *   even), then floor;
 * - `'rceil'` (NVIDIA `cvt.rp.ue8m0`, torchao RCEIL): the smallest `s` with `amax ≤ maxNormal · 2^s`,
 *   so nothing saturates.
 *
 * @example
 * ```ts
 * quantizeBlocks(x, { format: 'mxfp4', scaleRule: 'rceil' }).scaleRule; // 'rceil'
 * ```
 */
export type ScaleRule = 'floor' | 'ceil' | 'even' | 'rceil';

const SCALE_RULES: Record<string, number> = { floor: 0, ceil: 1, even: 2, rceil: 3 };

interface Geometry {
  outer: number;
  len: number;
  inner: number;
  nb: number;
  axis: number;
  scaleShape: number[];
}

const MODES: Record<string, number> = { 'half-even': 0, 'half-away': 1, floor: 2, stochastic: 3 };

/** Normalize the input to a contiguous Float32Array plus shape. Internal. */
export function normalizeInput(x: unknown, who: string): { data: Float32Array; shape: readonly number[] } {
  if (x instanceof Float32Array) return { data: x, shape: [x.length] };
  if (typeof x === 'object' && x !== null && 'data' in x && 'shape' in x) {
    const t = x as Tensor;
    if (!(t.data instanceof Float32Array) || (t.dtype !== undefined && t.dtype !== 'float32'))
      fail('E_DTYPE', `${who}: expected a float32 tensor, got dtype ${String(t.dtype)}`);
    if (!Array.isArray(t.shape)) fail('E_SHAPE', `${who}: tensor shape must be an array`);
    const n = shapeSize(t.shape);
    check(
      n === t.data.length,
      'E_SHAPE',
      () => `${who}: shape [${t.shape.join(', ')}] holds ${n} elements, data has ${t.data.length}`,
    );
    return { data: t.data, shape: t.shape };
  }
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++)
      if (typeof x[i] !== 'number') fail('E_DTYPE', `${who}: element ${i} is ${typeof x[i]}, expected a number`);
    return { data: Float32Array.from(x as number[]), shape: [x.length] };
  }
  return fail(
    'E_DTYPE',
    `${who}: expected a Float32Tensor, Float32Array or number[], got ${x === null ? 'null' : typeof x}`,
  );
}

/** Canonical storage of a format (names stay names). Internal. */
export function canonicalFormat(format: BlockFormat): BlockFormat {
  formatTraits(format);
  return typeof format === 'string' ? format : Object.freeze({ kind: 'bfp', mantissaBits: format.mantissaBits });
}

/** Outer/len/inner decomposition of a shape around the block axis. Internal. */
export function blockGeometry(
  shape: readonly number[],
  axisOpt: number | undefined,
  blockSize: number,
  who: string,
): Geometry {
  const rank = shape.length;
  if (rank === 0) fail('E_SHAPE', `${who}: expected a tensor of rank >= 1, got a scalar`);
  const a = axisOpt ?? rank - 1;
  if (!Number.isInteger(a) || a < -rank || a >= rank)
    fail(
      'E_CONFIG',
      `${who}: axis must be an integer in [${-rank}, ${rank - 1}] for shape [${shape.join(', ')}], got ${a}`,
    );
  const axis = a < 0 ? a + rank : a;
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  let inner = 1;
  for (let i = axis + 1; i < rank; i++) inner *= shape[i]!;
  const len = shape[axis]!;
  const nb = Math.ceil(len / blockSize);
  const scaleShape = shape.slice();
  scaleShape[axis] = nb;
  return { outer, len, inner, nb, axis, scaleShape };
}

function validate(x: unknown, opts: QuantizeBlocksOptions, who: string) {
  if (typeof opts !== 'object' || opts === null) fail('E_CONFIG', `${who}: options { format } are required`);
  const t = formatTraits(opts.format);
  const blockSize = opts.blockSize ?? t.defaultBlockSize;
  checkBlockSize(blockSize, who);
  const { mode, seed } = normalizeRounding(opts.rounding);
  const m = MODES[mode];
  if (m === undefined)
    fail(
      'E_CONFIG',
      `${who}: rounding '${mode}' is not defined for block formats; use 'half-even', 'half-away', 'floor' or 'stochastic'`,
    );
  const nonFinite = opts.nonFinite ?? 'nan-block';
  if (nonFinite !== 'nan-block' && nonFinite !== 'throw')
    fail('E_CONFIG', `${who}: nonFinite must be 'nan-block' or 'throw', got ${JSON.stringify(nonFinite)}`);
  const scaleRule = opts.scaleRule ?? 'floor';
  const ruleId = SCALE_RULES[scaleRule];
  if (ruleId === undefined || !Object.hasOwn(SCALE_RULES, scaleRule))
    fail('E_CONFIG', `${who}: scaleRule must be 'floor', 'ceil', 'even' or 'rceil', got ${JSON.stringify(scaleRule)}`);
  const { data, shape } = normalizeInput(x, who);
  const g = blockGeometry(shape, opts.axis, blockSize, who);
  return { t, blockSize, mode: mode as RoundingMode, modeId: m, seed, nonFinite, data, shape, g, scaleRule, ruleId };
}

function result(
  opts: QuantizeBlocksOptions,
  t: FormatTraits,
  shape: readonly number[],
  g: Geometry,
  blockSize: number,
  scales: Uint8Array,
  codes: Uint8Array,
  n: number,
  scaleRule: ScaleRule,
): BlockTensor {
  return {
    format: canonicalFormat(opts.format),
    shape: Object.freeze([...shape]),
    axis: g.axis,
    blockSize,
    scaleShape: Object.freeze(g.scaleShape),
    scales,
    codes,
    storageBits: n * t.elementBits + 8 * scales.length,
    scaleRule,
  };
}

/**
 * Quantize a float32 tensor to blocks of a MX or BFP format (see the module header for the exact
 * algorithm). Never mutates `x`.
 *
 * @example
 * ```ts
 * const b = quantizeBlocks(float32([0.1, -2, 3.3, 7.9], [4]), { format: 'mxfp4', blockSize: 4 });
 * b.scales[0]; // 127: floor(log2 7.9) − 2 = 0
 * Array.from(dequantizeBlocks(b).data); // [0, -2, 3, 6]
 * ```
 */
export function quantizeBlocks(x: Float32Tensor | Float32Array, opts: QuantizeBlocksOptions): BlockTensor {
  const { t, blockSize, modeId, seed, nonFinite, data, shape, g, scaleRule, ruleId } = validate(
    x,
    opts,
    'quantizeBlocks',
  );
  const n = data.length;
  const bits = new Uint32Array(data.buffer, data.byteOffset, n);
  const ns = g.outer * g.nb * g.inner;
  const nc = packedBytes(n, t.elementBits);
  const out = opts.out;
  if (out !== undefined) {
    if (!(out.scales instanceof Uint8Array) || !(out.codes instanceof Uint8Array))
      fail('E_DTYPE', 'quantizeBlocks: out.scales and out.codes must be Uint8Arrays');
    check(
      out.scales.length === ns && out.codes.length === nc,
      'E_SHAPE',
      () =>
        `quantizeBlocks: out needs ${ns} scale and ${nc} code bytes, got ${out.scales.length} and ${out.codes.length}`,
    );
  }
  const scales = out?.scales ?? new Uint8Array(ns);
  const w = t.elementBits;
  if (modeId === 0 && ruleId === 0 && nonFinite === 'nan-block' && wasmCovers(t, g) && n > 0 && (w === 4 || w === 8)) {
    const codes = out?.codes ?? new Uint8Array(nc);
    const wk = wasmKernels();
    const kind = t.kind === 'fp' ? 0 : 1;
    if (
      wk?.mxEncode(data, g.outer, g.len, blockSize, kind, t.mbits, t.bias, t.emax, t.maxCode, w, scales, codes) === true
    )
      return result(opts, t, shape, g, blockSize, scales, codes, n, scaleRule);
  }
  computeScales(bits, g, blockSize, t, ruleId, scales);
  if (nonFinite === 'throw') {
    for (let i = 0; i < scales.length; i++)
      if (scales[i] === 0xff) fail('E_NONFINITE', `quantizeBlocks: block ${i} holds NaN or ±Inf (nonFinite: 'throw')`);
  }
  const unpacked = new Uint16Array(n);
  const rand = modeId === 3 ? createRng(seed) : null;
  if (g.inner === 1 && modeId === 0 && t.kind === 'fp')
    encodeContiguousFpRne(data, bits, scales, g.outer, g.len, g.nb, blockSize, t, unpacked);
  else if (g.inner === 1 && rand === null)
    encodeContiguous(data, bits, scales, g.outer, g.len, g.nb, blockSize, t, modeId, unpacked);
  else encodeElements(data, bits, scales, g, blockSize, t, modeId, rand, unpacked);
  const codes = packCodes(unpacked, w, n, out?.codes);
  return result(opts, t, shape, g, blockSize, scales, codes, n, scaleRule);
}

const F1 = new Float32Array(1);
const U1 = new Uint32Array(F1.buffer);

/**
 * The unclamped exponent `s + emax` of a non-floor scale rule, from the bits of a finite non-zero amax.
 * Integer arithmetic on the float32 bits; exact.
 */
function sharedExponent(m: number, rule: number, t: FormatTraits): number {
  const E = floorLog2F32Bits(m);
  const be = m >>> 23;
  // significand with its leading bit at position b
  const sig = be !== 0 ? (m & 0x7fffff) | 0x800000 : m;
  const b = be !== 0 ? 23 : 31 - Math.clz32(m);
  const isPow2 = (sig & (sig - 1)) === 0;
  if (rule === 1) return isPow2 ? E : E + 1; // ceil(log2 amax)
  if (rule === 2) {
    // round amax to mbits fraction bits (ties to even); a carry out of the binade bumps E
    const drop = b - t.mbits;
    if (drop <= 0) return E;
    const q = sig >>> drop;
    const rem = sig - q * 2 ** drop;
    const half = 2 ** (drop - 1);
    const up = rem > half || (rem === half && (q & 1) === 1);
    return up && q + 1 === 2 ** (t.mbits + 1) ? E + 1 : E;
  }
  // rceil: smallest s with amax <= maxNormal · 2^s; s = E − emax or E − emax + 1
  U1[0] = m;
  return F1[0]! <= t.maxNormal * pow2(E - t.emax) ? E : E + 1;
}

/** Pass 1: one E8M0 byte per block, from the integer max of the magnitude bits. */
function computeScales(
  bits: Uint32Array,
  g: Geometry,
  n: number,
  t: FormatTraits,
  rule: number,
  scales: Uint8Array,
): void {
  const { outer, len, inner, nb } = g;
  const amax = new Uint32Array(inner);
  const fl = floorLog2F32Bits;
  const emax = t.emax;
  for (let o = 0; o < outer; o++) {
    for (let b = 0; b < nb; b++) {
      amax.fill(0);
      const l0 = b * n;
      const l1 = Math.min(len, l0 + n);
      if (inner === 1) {
        let m = 0;
        const base = o * len;
        for (let l = l0; l < l1; l++) {
          const ab = bits[base + l]! & 0x7fffffff;
          if (ab > m) m = ab;
        }
        amax[0] = m;
      } else {
        for (let l = l0; l < l1; l++) {
          const base = (o * len + l) * inner;
          for (let i = 0; i < inner; i++) {
            const ab = bits[base + i]! & 0x7fffffff;
            if (ab > amax[i]!) amax[i] = ab;
          }
        }
      }
      const sbase = (o * nb + b) * inner;
      for (let i = 0; i < inner; i++) {
        const m = amax[i]!;
        let byte: number;
        if (m >= 0x7f800000) byte = 0xff;
        else if (m === 0) byte = 0;
        else {
          let se = (rule === 0 ? fl(m) : sharedExponent(m, rule, t)) - emax;
          if (se < -127) se = -127;
          else if (se > 127) se = 127;
          byte = se + 127;
        }
        scales[sbase + i] = byte;
      }
    }
  }
}

/**
 * Whether the wasm block kernels cover this layout: blocks along the last axis, FP or BFP elements of 4
 * bits (an even axis length, so every chunk starts on a byte) or 8 bits.
 */
function wasmCovers(t: FormatTraits, g: Geometry): boolean {
  if (g.inner !== 1 || (t.kind !== 'fp' && t.kind !== 'bfp')) return false;
  return t.elementBits === 8 || (t.elementBits === 4 && g.len % 2 === 0);
}

const SPECIALS: Record<FormatTraits['specials'], number> = { none: 0, nan: 1, ieee: 2 };

/** Pass 2: element codes in row-major order. */
function encodeElements(
  data: Float32Array,
  bits: Uint32Array,
  scales: Uint8Array,
  g: Geometry,
  n: number,
  t: FormatTraits,
  mode: number,
  rand: (() => number) | null,
  out: Uint16Array,
): void {
  const { outer, len, inner, nb } = g;
  const fp = t.kind === 'fp';
  const twos = t.kind === 'int';
  const mbits = t.mbits;
  const bias = t.bias;
  const emin = 1 - bias;
  const one = 1 << mbits;
  const maxCode = t.maxCode;
  const signBit = 1 << (t.elementBits - 1);
  const full = 1 << t.elementBits;
  const M = 6755399441055744;
  const P2 = POW2;
  const OFF = POW2_OFFSET;
  for (let o = 0; o < outer; o++) {
    for (let l = 0; l < len; l++) {
      const base = (o * len + l) * inner;
      const sbase = (o * nb + ((l / n) | 0)) * inner;
      for (let i = 0; i < inner; i++) {
        const idx = base + i;
        const u = rand === null ? 0 : rand();
        const byte = scales[sbase + i]!;
        const ub = bits[idx]!;
        const ab = ub & 0x7fffffff;
        if (byte === 0xff || ab === 0) {
          out[idx] = 0;
          continue;
        }
        const se = byte - 127;
        const av = Math.abs(data[idx]!);
        let e = 0;
        let m: number;
        if (fp) {
          const be = ab >>> 23;
          e = (be !== 0 ? be - 127 : -118 - Math.clz32(ab)) - se;
          if (e < emin) e = emin;
          m = av * P2[OFF + mbits - e - se]!;
        } else {
          m = av * P2[OFF + mbits - se]!;
        }
        let r: number;
        if (mode === 0) r = m + M - M;
        else if (mode === 1) {
          r = Math.floor(m);
          if (m - r >= 0.5) r += 1;
        } else if (mode === 2) r = Math.floor(m);
        else r = Math.floor(m + u);
        let code = fp ? ((e + bias) << mbits) + r - one : r;
        if (code > maxCode) code = maxCode;
        if (code !== 0 && ub >>> 31 === 1) code = twos ? full - code : code | signBit;
        out[idx] = code;
      }
    }
  }
}

/** Pass 2, contiguous, FP element formats, round half to even (the default): no per-element mode branches. */
function encodeContiguousFpRne(
  data: Float32Array,
  bits: Uint32Array,
  scales: Uint8Array,
  outer: number,
  len: number,
  nb: number,
  n: number,
  t: FormatTraits,
  out: Uint16Array,
): void {
  const mbits = t.mbits;
  const bias = t.bias;
  const emin = 1 - bias;
  const maxCode = t.maxCode;
  const signBit = 1 << (t.elementBits - 1);
  const M = 6755399441055744;
  const P2 = POW2;
  for (let o = 0; o < outer; o++) {
    const row = o * len;
    for (let b = 0; b < nb; b++) {
      const i0 = row + b * n;
      const i1 = row + Math.min(len, (b + 1) * n);
      const byte = scales[o * nb + b]!;
      if (byte === 0xff) {
        out.fill(0, i0, i1);
        continue;
      }
      const se = byte - 127;
      const off = POW2_OFFSET + mbits - se;
      // code = ((e + bias) << mbits) + r − 2^mbits with e = max(E_x − se, emin), rewritten in E_x
      const codeBase = ((bias - se) << mbits) - (1 << mbits);
      const eminX = emin + se; // E_x below this uses the subnormal element exponent
      for (let i = i0; i < i1; i++) {
        const ub = bits[i]!;
        const ab = ub & 0x7fffffff;
        const be = ab >>> 23;
        let ex = be !== 0 ? be - 127 : ab === 0 ? eminX : -118 - Math.clz32(ab);
        if (ex < eminX) ex = eminX;
        const m = Math.abs(data[i]!) * P2[off + se - ex]!;
        let code = (ex << mbits) + codeBase + ((m + M - M) | 0);
        if (code > maxCode) code = maxCode;
        if (code !== 0 && ub >>> 31 === 1) code |= signBit;
        out[i] = code;
      }
    }
  }
}

/** Pass 2, contiguous fast path (blocks along the last axis, deterministic rounding): per-block constants hoisted. */
function encodeContiguous(
  data: Float32Array,
  bits: Uint32Array,
  scales: Uint8Array,
  outer: number,
  len: number,
  nb: number,
  n: number,
  t: FormatTraits,
  mode: number,
  out: Uint16Array,
): void {
  const fp = t.kind === 'fp';
  const twos = t.kind === 'int';
  const mbits = t.mbits;
  const bias = t.bias;
  const emin = 1 - bias;
  const one = 1 << mbits;
  const maxCode = t.maxCode;
  const signBit = 1 << (t.elementBits - 1);
  const full = 1 << t.elementBits;
  const M = 6755399441055744;
  const P2 = POW2; // local alias: module bindings may be getters under some loaders
  for (let o = 0; o < outer; o++) {
    const row = o * len;
    for (let b = 0; b < nb; b++) {
      const i0 = row + b * n;
      const i1 = row + Math.min(len, (b + 1) * n);
      const byte = scales[o * nb + b]!;
      if (byte === 0xff || byte === 0) {
        // NaN block, or an all-zero block (a nonzero block with byte 0 is handled below)
        let zero = true;
        if (byte === 0) for (let i = i0; i < i1; i++) if ((bits[i]! & 0x7fffffff) !== 0) zero = false;
        if (zero) {
          out.fill(0, i0, i1);
          continue;
        }
      }
      const se = byte - 127;
      const off = POW2_OFFSET + mbits - se;
      const mult = P2[off]!;
      for (let i = i0; i < i1; i++) {
        const ub = bits[i]!;
        const ab = ub & 0x7fffffff;
        if (ab === 0) {
          out[i] = 0;
          continue;
        }
        const av = Math.abs(data[i]!);
        let m: number;
        let e = 0;
        if (fp) {
          const be = ab >>> 23;
          e = (be !== 0 ? be - 127 : -118 - Math.clz32(ab)) - se;
          if (e < emin) e = emin;
          m = av * P2[off - e]!;
        } else m = av * mult;
        let r: number;
        if (mode === 0) r = m + M - M;
        else if (mode === 1) {
          r = Math.floor(m);
          if (m - r >= 0.5) r += 1;
        } else r = Math.floor(m);
        let code = fp ? ((e + bias) << mbits) + r - one : r;
        if (code > maxCode) code = maxCode;
        if (code !== 0 && ub >>> 31 === 1) code = twos ? full - code : code | signBit;
        out[i] = code;
      }
    }
  }
}

/**
 * Exact floor(log2 v) of a positive finite double without trusting `Math.log2`: start from its
 * estimate and correct with exact powers of two.
 */
function floorLog2Exact(v: number): number {
  let e = Math.floor(Math.log2(v));
  while (pow2(e) > v) e--;
  while (pow2(e + 1) <= v) e++;
  return e;
}

/** The unclamped shared exponent of each rule, in plain double arithmetic with exact powers of two. */
function scaleExponentRef(amax: number, rule: ScaleRule, t: FormatTraits): number {
  const E = floorLog2Exact(amax);
  switch (rule) {
    case 'floor':
      return E - t.emax;
    case 'ceil':
      return (pow2(E) === amax ? E : E + 1) - t.emax;
    case 'even': {
      const ulp = pow2(E - t.mbits);
      return floorLog2Exact(roundRef(amax / ulp, 'half-even', 0) * ulp) - t.emax;
    }
    default: {
      let s = E - t.emax - 2;
      while (t.maxNormal * pow2(s) < amax) s++;
      return s;
    }
  }
}

function roundRef(m: number, mode: RoundingMode, u: number): number {
  switch (mode) {
    case 'half-even': {
      const f = Math.floor(m);
      const d = m - f;
      if (d > 0.5) return f + 1;
      if (d < 0.5) return f;
      return f % 2 === 0 ? f : f + 1;
    }
    case 'half-away': {
      const f = Math.trunc(m);
      return m - f >= 0.5 ? f + 1 : f;
    }
    case 'floor':
      return Math.trunc(m);
    default:
      return Math.floor(m + u);
  }
}

const codeMaps = new Map<string, Map<number, number>>();

/** Value → non-negative magnitude code (the first code with that value). */
function codeOfValue(t: FormatTraits): Map<number, number> {
  let map = codeMaps.get(t.name);
  if (map === undefined) {
    map = new Map();
    const tab = elementTable(t.kind === 'bfp' ? { kind: 'bfp', mantissaBits: t.elementBits } : (t.name as BlockFormat));
    for (let c = 0; c < tab.length; c++) {
      const v = tab[c]!;
      if (Number.isFinite(v) && !map.has(v) && !Object.is(v, -0)) map.set(v, c);
    }
    codeMaps.set(t.name, map);
  }
  return map;
}

/**
 * Reference twin of {@link quantizeBlocks}: a plain loop per block and per element, following the spec
 * formulas literally (amax in doubles, exponent by exact powers of two, cast by ulp arithmetic, code
 * found by looking the value up in the decode table, bit-by-bit packing). Bit-identical output.
 *
 * @example
 * ```ts
 * const a = quantizeBlocksRef(x, { format: 'mxfp4' });
 * ```
 */
export function quantizeBlocksRef(x: Float32Tensor | Float32Array, opts: QuantizeBlocksOptions): BlockTensor {
  const { t, blockSize, mode, seed, nonFinite, data, shape, g, scaleRule } = validate(x, opts, 'quantizeBlocksRef');
  const { outer, len, inner, nb } = g;
  const scales = new Uint8Array(outer * nb * inner);
  for (let o = 0; o < outer; o++)
    for (let b = 0; b < nb; b++)
      for (let i = 0; i < inner; i++) {
        let amax = 0;
        let finite = true;
        for (let l = b * blockSize; l < Math.min(len, (b + 1) * blockSize); l++) {
          const v = data[(o * len + l) * inner + i]!;
          if (!Number.isFinite(v)) finite = false;
          else amax = Math.max(amax, Math.abs(v));
        }
        let byte: number;
        if (!finite) {
          if (nonFinite === 'throw') fail('E_NONFINITE', 'quantizeBlocksRef: a block holds NaN or ±Inf');
          byte = 255;
        } else if (amax === 0) byte = 0;
        else byte = Math.min(127, Math.max(-127, scaleExponentRef(amax, scaleRule, t))) + 127;
        scales[(o * nb + b) * inner + i] = byte;
      }
  const rand = mode === 'stochastic' ? createRng(seed) : () => 0;
  const map = codeOfValue(t);
  const codes: number[] = [];
  for (let o = 0; o < outer; o++)
    for (let l = 0; l < len; l++)
      for (let i = 0; i < inner; i++) {
        const v = data[(o * len + l) * inner + i]!;
        const u = rand();
        const byte = scales[(o * nb + Math.floor(l / blockSize)) * inner + i]!;
        if (byte === 255 || v === 0) {
          codes.push(0);
          continue;
        }
        const a = Math.abs(v) / pow2(byte - 127);
        const e = t.kind === 'fp' ? Math.max(floorLog2Exact(a), 1 - t.bias) : 0;
        const ulp = pow2(e - t.mbits);
        const q = Math.min(roundRef(a / ulp, mode, u) * ulp, t.maxNormal);
        const mag = map.get(q);
        if (mag === undefined) throw new Error(`quantizeBlocksRef: internal: ${q} is not a ${t.name} value`);
        let code = mag;
        if (v < 0 && mag !== 0) code = t.kind === 'int' ? 2 ** t.elementBits - mag : mag + 2 ** (t.elementBits - 1);
        codes.push(code);
      }
  return result(opts, t, shape, g, blockSize, scales, packCodesRef(codes, t.elementBits), data.length, scaleRule);
}

function checkBlockTensor(b: BlockTensor, who: string): { t: FormatTraits; n: number; g: Geometry } {
  if (typeof b !== 'object' || b === null) fail('E_CONFIG', `${who}: expected a BlockTensor`);
  const t = formatTraits(b.format);
  checkBlockSize(b.blockSize, who);
  if (!(b.scales instanceof Uint8Array) || !(b.codes instanceof Uint8Array))
    fail('E_DTYPE', `${who}: scales and codes must be Uint8Arrays`);
  const n = shapeSize(b.shape);
  const g = blockGeometry(b.shape, b.axis, b.blockSize, who);
  const ns = g.outer * g.nb * g.inner;
  check(b.scales.length === ns, 'E_SHAPE', () => `${who}: expected ${ns} scale bytes, got ${b.scales.length}`);
  const nc = packedBytes(n, t.elementBits);
  check(b.codes.length === nc, 'E_SHAPE', () => `${who}: expected ${nc} code bytes, got ${b.codes.length}`);
  return { t, n, g };
}

/**
 * The unpacked element codes of a BlockTensor, one per element in row-major order.
 *
 * @example
 * ```ts
 * blockCodes(quantizeBlocks(float32([6, -6]), { format: 'mxfp4' })); // Uint16Array [7, 15]
 * ```
 */
export function blockCodes(b: BlockTensor): Uint16Array {
  const { t, n } = checkBlockTensor(b, 'blockCodes');
  return unpackCodes(b.codes, t.elementBits, n);
}

/**
 * Decode a BlockTensor to float32 (`P · 2^(byte − 127)`, NaN for blocks with the 0xFF scale). Every
 * produced value is exactly representable, so the result is exact.
 *
 * @example
 * ```ts
 * const y = dequantizeBlocks(quantizeBlocks(x, { format: 'bfp12', blockSize: 16 }));
 * ```
 */
export function dequantizeBlocks(b: BlockTensor, out?: Float32Array): Float32Tensor {
  const { t, n, g } = checkBlockTensor(b, 'dequantizeBlocks');
  const dst = out ?? new Float32Array(n);
  check(dst.length === n, 'E_SHAPE', () => `dequantizeBlocks: out has ${dst.length} elements, expected ${n}`);
  const table = elementTable(b.format);
  const w = t.elementBits;
  const { outer, len, inner, nb } = g;
  const bs = b.blockSize;
  const scales = b.scales;
  const P2 = POW2;
  const OFF = POW2_OFFSET;
  if (wasmCovers(t, g) && n > 0) {
    const wk = wasmKernels();
    const tab = w === 4 ? Float32Array.from(table) : new Float32Array(16);
    const kind = t.kind === 'fp' ? 0 : 1;
    if (
      wk?.mxDecode(b.codes, outer, len, bs, kind, t.mbits, t.bias, SPECIALS[t.specials], w, scales, tab, dst) === true
    )
      return { dtype: 'float32', data: dst, shape: Object.freeze([...b.shape]) };
  }
  if (inner === 1 && (w === 8 || w === 4)) {
    decodeContiguousBytes(b.codes, w, scales, outer, len, nb, bs, table, dst);
    return { dtype: 'float32', data: dst, shape: Object.freeze([...b.shape]) };
  }
  const codes = unpackCodes(b.codes, w, n); // one concrete array type for the loops below
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      const row = o * len;
      for (let k = 0; k < nb; k++) {
        const byte = scales[o * nb + k]!;
        const s = byte === 0xff ? Number.NaN : P2[OFF + byte - 127]!;
        const i1 = row + Math.min(len, (k + 1) * bs);
        for (let i = row + k * bs; i < i1; i++) dst[i] = table[codes[i]!]! * s;
      }
    }
    return { dtype: 'float32', data: dst, shape: Object.freeze([...b.shape]) };
  }
  for (let o = 0; o < outer; o++) {
    for (let l = 0; l < len; l++) {
      const base = (o * len + l) * inner;
      const sbase = (o * nb + ((l / bs) | 0)) * inner;
      for (let i = 0; i < inner; i++) {
        const byte = scales[sbase + i]!;
        const s = byte === 0xff ? Number.NaN : P2[OFF + byte - 127]!;
        dst[base + i] = table[codes[base + i]!]! * s;
      }
    }
  }
  return { dtype: 'float32', data: dst, shape: Object.freeze([...b.shape]) };
}

/** Contiguous decode straight from the packed bytes (8-bit codes, or 4-bit codes two per byte). */
function decodeContiguousBytes(
  codes: Uint8Array,
  w: number,
  scales: Uint8Array,
  outer: number,
  len: number,
  nb: number,
  bs: number,
  table: Float64Array,
  dst: Float32Array,
): void {
  const P2 = POW2;
  const OFF = POW2_OFFSET;
  for (let o = 0; o < outer; o++) {
    const row = o * len;
    for (let k = 0; k < nb; k++) {
      const byte = scales[o * nb + k]!;
      const s = byte === 0xff ? Number.NaN : P2[OFF + byte - 127]!;
      const i1 = row + Math.min(len, (k + 1) * bs);
      if (w === 8) for (let i = row + k * bs; i < i1; i++) dst[i] = table[codes[i]!]! * s;
      else for (let i = row + k * bs; i < i1; i++) dst[i] = table[(codes[i >>> 1]! >>> ((i & 1) << 2)) & 15]! * s;
    }
  }
}

/**
 * Reference twin of {@link dequantizeBlocks}: bit-by-bit unpacking and the element formula per code.
 *
 * @example
 * ```ts
 * dequantizeBlocksRef(b).data; // same bits as dequantizeBlocks(b).data
 * ```
 */
export function dequantizeBlocksRef(b: BlockTensor): Float32Tensor {
  const { t, n, g } = checkBlockTensor(b, 'dequantizeBlocksRef');
  const codes = unpackCodesRef(b.codes, t.elementBits, n);
  const out = new Float32Array(n);
  const { outer, len, inner, nb } = g;
  for (let o = 0; o < outer; o++)
    for (let l = 0; l < len; l++)
      for (let i = 0; i < inner; i++) {
        const idx = (o * len + l) * inner + i;
        const byte = b.scales[(o * nb + Math.floor(l / b.blockSize)) * inner + i]!;
        const p = decodeRef(t, codes[idx]!);
        out[idx] = Math.fround(byte === 255 ? Number.NaN : p * 2 ** (byte - 127));
      }
  return { dtype: 'float32', data: out, shape: Object.freeze([...b.shape]) };
}

function decodeRef(t: FormatTraits, code: number): number {
  const w = t.elementBits;
  const neg = code >= 2 ** (w - 1);
  if (t.kind === 'int') return (neg ? code - 2 ** w : code) / 2 ** t.mbits;
  const mag = neg ? code - 2 ** (w - 1) : code;
  const s = neg ? -1 : 1;
  if (t.kind === 'bfp') return (s * mag) / 2 ** t.mbits;
  const field = Math.floor(mag / 2 ** t.mbits);
  const mant = mag % 2 ** t.mbits;
  const maxField = 2 ** t.ebits - 1;
  if (t.specials === 'nan' && field === maxField && mant === 2 ** t.mbits - 1) return Number.NaN;
  if (t.specials === 'ieee' && field === maxField) return mant === 0 ? s * Number.POSITIVE_INFINITY : Number.NaN;
  return field === 0 ? s * mant * 2 ** (1 - t.bias - t.mbits) : s * (1 + mant / 2 ** t.mbits) * 2 ** (field - t.bias);
}
