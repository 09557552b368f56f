/**
 * Affine (uniform) quantization with granularity as data.
 *
 * **Granularity.** `axis` is the reduction axis: a group is a run of `groupSize` consecutive elements
 * along `axis`, with every other index fixed.
 * - no `axis`: the tensor is flattened; one group over everything (per-tensor), or, with `groupSize`,
 *   consecutive groups of the flattened data;
 * - `axis: a` without `groupSize`: one group per full line along `a` (per-channel / per-token);
 * - `axis: a, groupSize: G`: lines along `a` are cut into groups of G; the last group of a line is
 *   **ragged** (shorter) when G does not divide `shape[a]`.
 * Any rank and any axis (negative axes count from the end).
 *
 * **Group layout.** `scales` (and `zeros`) have shape `scaleShape` = `shape` with `shape[axis]`
 * replaced by the number of groups `ng = ceil(shape[axis] / groupSize)`, row-major; element
 * `(…, l, …)` (index `l` on `axis`) uses parameter `(…, floor(l / groupSize), …)`. With no axis,
 * `scaleShape = [ng]`. `codes` has the shape of the input, row-major.
 *
 * **Schemes** (b = bits; every arithmetic step is rounded to float32, as marked by `Math.fround` in
 * {@link quantizeAffineRef}; `round` is the chosen rounding policy, applied after the clamp):
 * - asymmetric, `zeroPoint: 'float'` (**default**, KIVI convention, kivi.md §1): qmax = 2^b − 1,
 *   `s = f32(f32(max − min) / qmax)`, `q = round(clamp(f32(f32(x − min) / s), 0, qmax))`,
 *   `x̂ = f32(f32(q·s) + min)`; `zeros` holds the float `min`. In range, |x − x̂| ≤ s/2 (+ float32 rounding).
 * - asymmetric, `zeroPoint: 'int'` (torch / mwq.md convention): the range is first widened to
 *   include 0 (`min' = min(min, 0)`, `max' = max(max, 0)`, so 0 is exact), `s = f32(f32(max' − min') / qmax)`,
 *   `z = clamp(roundHalfEven(f32(−min' / s)), 0, qmax)` (always half-even, whatever `rounding` is),
 *   `q = round(clamp(f32(f32(x / s) + z), 0, qmax))`, `x̂ = f32(s·(q − z))`; `zeros` holds z (integers
 *   stored as float32). Because z is rounded, elements at the ends of the range can be off by up to s,
 *   and quantize∘dequantize∘quantize = quantize can fail when an exact tie sits at a range end
 *   (e.g. [−2.5, 4.5] at 3 bits: z = rne(2.5) = 2 and 4.5 → rne(6.5) = 6, so the range shrinks).
 * - symmetric: qmax = 2^(b−1) − 1, `s = f32(absmax / qmax)`, `q = round(clamp(f32(x / s), −qmax, qmax))`,
 *   `x̂ = f32(q·s)`. The code −2^(b−1) is **not** used (the grid is symmetric). Needs b ≥ 2. `zeros` is
 *   empty.
 *
 * **Zero scale.** When a group's scale is 0 (a constant group in the float mode; an all-zero group
 * otherwise; or a range so tiny that the scale underflows), every code of the group is 0 and code 0
 * decodes to `min` (float mode, so constant groups are reconstructed exactly) or to 0.
 *
 * **Stochastic rounding** draws one number per element (zero-scale groups included) from
 * `createRng(seed)` in row-major element order, so results are reproducible by seed and identical
 * between the fast path and the Ref.
 *
 * **Non-finite policy.** NaN or ±Inf anywhere in the input throws `E_NONFINITE` (naming the first flat
 * index); so does a group whose range `max − min` overflows float32.
 *
 * bits 1..16 (symmetric 2..16). Codes are `Uint8Array` / `Int8Array` up to 8 bits, `Uint16Array` /
 * `Int16Array` above.
 *
 * Exposed: quantizeAffine, quantizeAffineRef, dequantizeAffine, dequantizeAffineRef, AffineOptions,
 * AffineQuantized, AffineCodes, ZeroPointMode.
 * @module
 */
import { check, fail } from './errors.js';
import { wasmKernels } from './kernels.js';
import { normalizeRounding, type Rounding, type RoundingMode, rounder, roundHalfEven } from './rounding.js';
import { type Float32Tensor, shapeSize, tensor } from './tensor.js';

/**
 * Zero-point convention of asymmetric quantization (see the module notes): `'float'` stores the group
 * minimum (KIVI, default), `'int'` an integer zero point (torch / MatQuant).
 *
 * @example
 * ```ts
 * const zp: ZeroPointMode = 'int';
 * quantizeAffine(x, { bits: 8, axis: -1, groupSize: 64, zeroPoint: zp });
 * ```
 */
export type ZeroPointMode = 'float' | 'int';

/**
 * Options of {@link quantizeAffine}.
 *
 * @example
 * ```ts
 * const opts: AffineOptions = { bits: 4, axis: -1, groupSize: 128 };
 * ```
 */
export interface AffineOptions {
  /** Bit width, 1..16 (symmetric: 2..16). */
  readonly bits: number;
  /** Signed symmetric grid around 0 (default false: asymmetric min–max). */
  readonly symmetric?: boolean;
  /** Reduction axis (groups run along it); omitted = the flattened tensor. */
  readonly axis?: number;
  /** Elements per group along `axis` (default: the whole axis / whole tensor). */
  readonly groupSize?: number;
  /** Rounding policy of the codes (default `'half-even'`). */
  readonly rounding?: Rounding;
  /** Asymmetric zero-point convention (default `'float'`). Not allowed with `symmetric`. */
  readonly zeroPoint?: ZeroPointMode;
  /**
   * Optional output buffers of {@link quantizeAffine} (the Ref ignores them), fully overwritten and
   * returned in the result: `codes` of the code type and length of the input, `scales` and `zeros`
   * (`Float32Array`, one per group; `zeros` empty when symmetric). Reusing buffers avoids allocating
   * (and first touching) fresh memory on every call. They must not overlap the input.
   */
  readonly out?: { readonly codes: AffineCodes; readonly scales: Float32Array; readonly zeros: Float32Array };
}

/**
 * Code storage: unsigned for asymmetric, signed for symmetric; 8-bit arrays up to 8 bits, 16-bit above.
 *
 * @example
 * ```ts
 * const codes: AffineCodes = quantizeAffine(x, { bits: 4, symmetric: true }).codes; // an Int8Array
 * ```
 */
export type AffineCodes = Uint8Array | Int8Array | Uint16Array | Int16Array;

/**
 * A quantized tensor (plain data; see the module notes for the layout).
 *
 * @example
 * ```ts
 * const q: AffineQuantized = quantizeAffine(float32([1, 2, 3, 4], [2, 2]), { bits: 8, axis: 1 });
 * q.scaleShape; // [2, 1]
 * ```
 */
export interface AffineQuantized {
  readonly bits: number;
  readonly symmetric: boolean;
  /** `'float'` (zeros = mins), `'int'` (zeros = integer zero points) or `'none'` (symmetric). */
  readonly zeroPoint: ZeroPointMode | 'none';
  /** Normalised (non-negative) reduction axis, or `null` for the flattened tensor. */
  readonly axis: number | null;
  /** Effective group size along the axis (the full length when none was given). */
  readonly groupSize: number;
  readonly shape: readonly number[];
  readonly scaleShape: readonly number[];
  readonly codes: AffineCodes;
  readonly scales: Float32Array;
  /** Mins (`'float'`), zero points (`'int'`), or empty (symmetric). */
  readonly zeros: Float32Array;
  readonly rounding: { readonly mode: RoundingMode; readonly seed: number };
}

const fround = Math.fround;
/** 1.5·2^52: `(t + M) − M` rounds |t| < 2^51 half to even. */
const M = 6755399441055744;

interface Geometry {
  n: number;
  axis: number | null;
  outer: number;
  len: number;
  inner: number;
  gs: number;
  ng: number;
  scaleShape: number[];
}

function geometry(
  who: string,
  shape: readonly number[],
  axisIn: number | null | undefined,
  gsIn: number | undefined,
): Geometry {
  const n = shapeSize(shape);
  const rank = shape.length;
  let axis: number | null = null;
  let outer = 1;
  let len = n;
  let inner = 1;
  if (axisIn !== undefined && axisIn !== null) {
    if (!Number.isInteger(axisIn) || axisIn < -rank || axisIn >= rank)
      fail('E_CONFIG', `${who}: axis ${axisIn} is out of range for shape [${shape.join(', ')}] (rank ${rank})`);
    axis = axisIn < 0 ? axisIn + rank : axisIn;
    for (let d = 0; d < axis; d++) outer *= shape[d]!;
    len = shape[axis]!;
    for (let d = axis + 1; d < rank; d++) inner *= shape[d]!;
  }
  if (gsIn !== undefined && !(Number.isSafeInteger(gsIn) && gsIn >= 1))
    fail('E_CONFIG', `${who}: groupSize must be a positive integer, got ${gsIn}`);
  const gs = gsIn ?? Math.max(len, 1);
  const ng = len === 0 ? 0 : Math.ceil(len / gs);
  const scaleShape = axis === null ? [ng] : shape.map((d, i) => (i === axis ? ng : d));
  return { n, axis, outer, len, inner, gs, ng, scaleShape };
}

interface Config {
  bits: number;
  symmetric: boolean;
  zeroPoint: ZeroPointMode | 'none';
  /** 0 = float zero, 1 = int zero, 2 = symmetric. */
  kind: 0 | 1 | 2;
  qmax: number;
  lo: number;
  rounding: { mode: RoundingMode; seed: number };
  geo: Geometry;
}

function resolve(who: string, x: Float32Tensor, opts: AffineOptions): Config {
  check(
    x !== null && typeof x === 'object' && x.data instanceof Float32Array && x.dtype === 'float32',
    'E_DTYPE',
    () => `${who}: expected a float32 tensor { dtype: 'float32', data: Float32Array, shape }`,
  );
  check(opts !== null && typeof opts === 'object', 'E_CONFIG', `${who}: options { bits, ... } are required`);
  const { bits } = opts;
  const symmetric = opts.symmetric ?? false;
  check(
    typeof symmetric === 'boolean',
    'E_CONFIG',
    () => `${who}: symmetric must be a boolean, got ${String(symmetric)}`,
  );
  const minBits = symmetric ? 2 : 1;
  check(
    Number.isInteger(bits) && bits >= minBits && bits <= 16,
    'E_CONFIG',
    () =>
      `${who}: bits must be an integer in ${minBits}..16${symmetric ? ' for symmetric quantization' : ''}, got ${bits}`,
  );
  if (symmetric && opts.zeroPoint !== undefined)
    fail('E_CONFIG', `${who}: zeroPoint applies to asymmetric quantization only (symmetric has no zero point)`);
  const zp = opts.zeroPoint ?? 'float';
  if (zp !== 'float' && zp !== 'int')
    fail('E_CONFIG', `${who}: zeroPoint must be 'float' or 'int', got ${JSON.stringify(zp)}`);
  const geo = geometry(who, x.shape, opts.axis, opts.groupSize);
  check(
    x.data.length === geo.n,
    'E_SHAPE',
    () => `${who}: shape [${x.shape.join(', ')}] holds ${geo.n} elements, data has ${x.data.length}`,
  );
  const rounding = normalizeRounding(opts.rounding);
  if (symmetric) {
    const qmax = 2 ** (bits - 1) - 1;
    return { bits, symmetric, zeroPoint: 'none', kind: 2, qmax, lo: -qmax, rounding, geo };
  }
  return { bits, symmetric, zeroPoint: zp, kind: zp === 'float' ? 0 : 1, qmax: 2 ** bits - 1, lo: 0, rounding, geo };
}

function allocCodes(bits: number, symmetric: boolean, n: number): AffineCodes {
  if (bits <= 8) return symmetric ? new Int8Array(n) : new Uint8Array(n);
  return symmetric ? new Int16Array(n) : new Uint16Array(n);
}

function nonFinite(who: string, e: number, v: number): never {
  return fail('E_NONFINITE', `${who}: element ${e} is ${v}; affine quantization needs finite inputs`);
}

function rangeOverflow(who: string, p: number, lo: number, hi: number): never {
  return fail(
    'E_NONFINITE',
    `${who}: group ${p} has range [${lo}, ${hi}] whose width overflows float32; expected max − min ≤ 3.4e38`,
  );
}

/**
 * Group parameters from the group's min/max (asymmetric) or min/max (symmetric: absmax = max(|min|, |max|)).
 * Writes `scales[p]` and, for asymmetric, `zeros[p]`. Shared by both paths (a few operations per group).
 */
function setParams(
  who: string,
  c: Config,
  p: number,
  lo: number,
  hi: number,
  scales: Float32Array,
  zeros: Float32Array,
): void {
  const qmax = c.qmax;
  if (c.kind === 2) {
    const am = Math.max(-lo, hi);
    scales[p] = fround(am / qmax);
    return;
  }
  if (c.kind === 0) {
    const d = fround(hi - lo);
    if (d === Number.POSITIVE_INFINITY) rangeOverflow(who, p, lo, hi);
    scales[p] = fround(d / qmax);
    zeros[p] = lo;
    return;
  }
  const mn = Math.min(lo, 0);
  const mx = Math.max(hi, 0);
  const d = fround(mx - mn);
  if (d === Number.POSITIVE_INFINITY) rangeOverflow(who, p, lo, hi);
  const s = fround(d / qmax);
  scales[p] = s;
  if (s === 0) {
    zeros[p] = 0;
    return;
  }
  let z = roundHalfEven(fround(-mn / s));
  if (!(z > 0))
    z = 0; // also turns −0 into +0
  else if (z > qmax) z = qmax;
  zeros[p] = z;
}

/**
 * Quantize a float32 tensor with an affine (uniform) grid: per-tensor, per-axis or per-group along any
 * axis (see the module notes for the exact arithmetic and layout). Fast path: contiguous per-group
 * loops (whole rows at a time when the axis is not the last), a hoisted reciprocal per group and
 * inline half-even rounding; bit-identical to {@link quantizeAffineRef}, which divides. With `opts.out` the
 * results are written into the caller's buffers (no allocation). Throws `E_CONFIG` (bad option), `E_DTYPE`,
 * `E_SHAPE`, `E_NONFINITE`. The input is never modified.
 *
 * @example
 * ```ts
 * import { float32, quantizeAffine, dequantizeAffine } from 'lowbit/common';
 * const x = float32([0, 1, 2, 3, -4, 0, 4, 8], [2, 4]);
 * const q = quantizeAffine(x, { bits: 2, axis: 1 }); // per row, KIVI-style float min
 * q.codes; // Uint8Array [0, 1, 2, 3, 0, 1, 2, 3]
 * dequantizeAffine(q).data; // Float32Array [0, 1, 2, 3, -4, 0, 4, 8]
 * const g = quantizeAffine(x, { bits: 4, symmetric: true, axis: 0, groupSize: 1 });
 * quantizeAffine(x, { bits: 2, axis: 1, out: { codes: q.codes, scales: q.scales, zeros: q.zeros } }); // reuse
 * ```
 */
export function quantizeAffine(x: Float32Tensor, opts: AffineOptions): AffineQuantized {
  const who = 'quantizeAffine';
  const c = resolve(who, x, opts);
  const { n, outer, len, inner, gs, ng } = c.geo;
  const data = x.data;
  const P = outer * ng * inner;
  const dst = opts.out;
  if (dst !== undefined) {
    check(dst !== null && typeof dst === 'object', 'E_CONFIG', `${who}: out must be { codes, scales, zeros }`);
    const Want = c.bits <= 8 ? (c.symmetric ? Int8Array : Uint8Array) : c.symmetric ? Int16Array : Uint16Array;
    check(
      dst.codes instanceof Want && dst.scales instanceof Float32Array && dst.zeros instanceof Float32Array,
      'E_DTYPE',
      () => `${who}: out.codes must be a ${Want.name} and out.scales/out.zeros Float32Arrays`,
    );
    const nz = c.kind === 2 ? 0 : P;
    check(
      dst.codes.length === n && dst.scales.length === P && dst.zeros.length === nz,
      'E_SHAPE',
      () =>
        `${who}: out needs ${n} codes, ${P} scales and ${nz} zeros, got ${dst.codes.length}/${dst.scales.length}/${dst.zeros.length}`,
    );
  }
  const scales = dst?.scales ?? new Float32Array(P);
  const zeros = dst?.zeros ?? new Float32Array(c.kind === 2 ? 0 : P);
  const codes = dst?.codes ?? allocCodes(c.bits, c.symmetric, n);
  // Kernels store through an unsigned view (Int8/Int16 codes are written as their two's complement
  // bits), so each store site sees at most two array types.
  const out = c.bits <= 8 ? new Uint8Array(codes.buffer) : new Uint16Array(codes.buffer);
  const rne = c.rounding.mode === 'half-even';
  // wasm SIMD kernel (bit-identical): float zero point, byte codes, half-even, contiguous groups. On a
  // precondition failure (non-finite input, range overflow) the JS loop below throws the proper error.
  const wk = c.kind === 0 && c.bits <= 8 && rne && inner === 1 && n > 0 ? wasmKernels() : null;
  if (wk?.affineFloatQuant(data, outer, len, gs, c.qmax, codes as Uint8Array, scales, zeros))
    return result(c, x.shape, codes, scales, zeros);
  const round = rounder(c.rounding);
  const kind = c.kind;
  const qmax = c.qmax;
  const inv = new Float64Array(inner);
  const add = new Float64Array(inner);
  const mn = new Float32Array(inner);
  const mx = new Float32Array(inner);
  for (let o = 0; o < outer; o++) {
    for (let g = 0; g < ng; g++) {
      const l0 = g * gs;
      const rows = Math.min(len, l0 + gs) - l0;
      const base = (o * len + l0) * inner;
      const pb = (o * ng + g) * inner;
      if (inner === 1) {
        const end = base + rows;
        let lo = data[base]!;
        if (lo - lo !== 0) nonFinite(who, base, lo);
        let hi = lo;
        for (let e = base + 1; e < end; e++) {
          const v = data[e]!;
          if (v - v !== 0) nonFinite(who, e, v);
          if (v < lo) lo = v;
          else if (v > hi) hi = v;
        }
        setParams(who, c, pb, lo, hi, scales, zeros);
        const sc = scales[pb]!;
        const iv = sc === 0 ? 0 : 1 / sc;
        if (kind === 0) runFloat(data, out, base, end, iv, zeros[pb]!, qmax, rne, round);
        else if (kind === 1) runInt(data, out, base, end, iv, zeros[pb]!, qmax, rne, round);
        else runSym(data, out, base, end, iv, qmax, rne, round);
      } else {
        scanRows(who, data, base, rows, inner, mn, mx);
        for (let i = 0; i < inner; i++) {
          setParams(who, c, pb + i, mn[i]!, mx[i]!, scales, zeros);
          const sc = scales[pb + i]!;
          inv[i] = sc === 0 ? 0 : 1 / sc;
          add[i] = c.kind === 2 ? 0 : zeros[pb + i]!;
        }
        quantRows(data, out, base, rows, inner, kind, inv, add, qmax, rne, round);
      }
    }
  }
  return result(c, x.shape, codes, scales, zeros);
}

/*
 * Why the fast path may multiply by a double reciprocal where the definition divides in float32:
 * for float32 x and s, the double product x·(1/s) is within 2^-52 (relative) of x/s, while a quotient
 * of two 24-bit significands that is not exactly halfway between two float32 values is at least
 * 2^-49 (relative) away from every halfway point; an exact halfway quotient needs s to be a power of
 * two, where 1/s and the product are exact. So fround(x·(1/s)) = fround(x/s) for every quotient in
 * the normal range; a subnormal quotient (|t| < 2^-126) rounds to code 0 either way. The tests compare
 * the codes with the dividing Ref bit for bit. With s = 0 the reciprocal is 0, which gives t = 0 and
 * code 0, exactly as the Ref's explicit zero-scale rule.
 */

/** Min/max per column over `rows` rows of `inner` contiguous elements. */
function scanRows(
  who: string,
  data: Float32Array,
  base: number,
  rows: number,
  inner: number,
  mn: Float32Array,
  mx: Float32Array,
): void {
  for (let i = 0; i < inner; i++) {
    const v = data[base + i]!;
    if (v - v !== 0) nonFinite(who, base + i, v);
    mn[i] = v;
    mx[i] = v;
  }
  for (let r = 1; r < rows; r++) {
    const rb = base + r * inner;
    for (let i = 0; i < inner; i++) {
      const v = data[rb + i]!;
      if (v - v !== 0) nonFinite(who, rb + i, v);
      if (v < mn[i]!) mn[i] = v;
      else if (v > mx[i]!) mx[i] = v;
    }
  }
}

type Out = Uint8Array | Uint16Array;
type Round = (v: number) => number;

// One specialised loop per scheme × {inline half-even, policy function}: the scheme and rounding
// tests stay out of the element loops.

/** Float zero point, one contiguous group: t = f32(f32(x − min)·(1/s)). */
function runFloat(
  d: Float32Array,
  out: Out,
  i0: number,
  i1: number,
  inv: number,
  a: number,
  qmax: number,
  rne: boolean,
  round: Round,
): void {
  if (rne) {
    for (let e = i0; e < i1; e++) {
      let t = fround(fround(d[e]! - a) * inv);
      if (t < 0) t = 0;
      else if (t > qmax) t = qmax;
      out[e] = t + M - M;
    }
  } else {
    for (let e = i0; e < i1; e++) {
      let t = fround(fround(d[e]! - a) * inv);
      if (t < 0) t = 0;
      else if (t > qmax) t = qmax;
      out[e] = round(t);
    }
  }
}

/** Integer zero point, one contiguous group: t = f32(f32(x·(1/s)) + z). */
function runInt(
  d: Float32Array,
  out: Out,
  i0: number,
  i1: number,
  inv: number,
  z: number,
  qmax: number,
  rne: boolean,
  round: Round,
): void {
  if (rne) {
    for (let e = i0; e < i1; e++) {
      let t = fround(fround(d[e]! * inv) + z);
      if (t < 0) t = 0;
      else if (t > qmax) t = qmax;
      out[e] = t + M - M;
    }
  } else {
    for (let e = i0; e < i1; e++) {
      let t = fround(fround(d[e]! * inv) + z);
      if (t < 0) t = 0;
      else if (t > qmax) t = qmax;
      out[e] = round(t);
    }
  }
}

/** Symmetric, one contiguous group: t = f32(x·(1/s)) clamped to ±qmax (negative codes stored as two's complement). */
function runSym(
  d: Float32Array,
  out: Out,
  i0: number,
  i1: number,
  inv: number,
  qmax: number,
  rne: boolean,
  round: Round,
): void {
  const qlo = -qmax;
  if (rne) {
    for (let e = i0; e < i1; e++) {
      let t = fround(d[e]! * inv);
      if (t < qlo) t = qlo;
      else if (t > qmax) t = qmax;
      out[e] = t + M - M;
    }
  } else {
    for (let e = i0; e < i1; e++) {
      let t = fround(d[e]! * inv);
      if (t < qlo) t = qlo;
      else if (t > qmax) t = qmax;
      out[e] = round(t);
    }
  }
}

/** Rows of `inner` contiguous elements, column i using (inv[i], add[i]) (axis not last). */
function quantRows(
  d: Float32Array,
  out: Out,
  base: number,
  rows: number,
  inner: number,
  kind: number,
  inv: Float64Array,
  add: Float64Array,
  qmax: number,
  rne: boolean,
  round: Round,
): void {
  const qlo = kind === 2 ? -qmax : 0;
  for (let r = 0; r < rows; r++) {
    const rb = base + r * inner;
    if (kind === 0 && rne) {
      for (let i = 0; i < inner; i++) {
        let t = fround(fround(d[rb + i]! - add[i]!) * inv[i]!);
        if (t < 0) t = 0;
        else if (t > qmax) t = qmax;
        out[rb + i] = t + M - M;
      }
      continue;
    }
    for (let i = 0; i < inner; i++) {
      const v = d[rb + i]!;
      const iv = inv[i]!;
      const a = add[i]!;
      let t = kind === 0 ? fround(fround(v - a) * iv) : kind === 1 ? fround(fround(v * iv) + a) : fround(v * iv);
      if (t < qlo) t = qlo;
      else if (t > qmax) t = qmax;
      out[rb + i] = rne ? t + M - M : round(t);
    }
  }
}

function result(
  c: Config,
  shape: readonly number[],
  codes: AffineCodes,
  scales: Float32Array,
  zeros: Float32Array,
): AffineQuantized {
  return {
    bits: c.bits,
    symmetric: c.symmetric,
    zeroPoint: c.zeroPoint,
    axis: c.geo.axis,
    groupSize: c.geo.gs,
    shape: Object.freeze([...shape]),
    scaleShape: Object.freeze(c.geo.scaleShape),
    codes,
    scales,
    zeros,
    rounding: Object.freeze({ ...c.rounding }),
  };
}

/** Parameter index of flat element e (plain arithmetic; Ref only). */
function paramIndexRef(e: number, g: Geometry): number {
  const i = e % g.inner;
  const l = Math.floor(e / g.inner) % g.len;
  const o = Math.floor(e / (g.inner * g.len));
  return (o * g.ng + Math.floor(l / g.gs)) * g.inner + i;
}

/**
 * Reference twin of {@link quantizeAffine}: one element at a time in row-major order, the parameter
 * index recomputed per element, every float32 rounding point marked with `Math.fround`, rounding
 * through {@link rounder}. Bit-identical to the fast path (tests check this).
 *
 * @example
 * ```ts
 * const q = quantizeAffineRef(float32([1, 2, 3, 4]), { bits: 3 });
 * ```
 */
export function quantizeAffineRef(x: Float32Tensor, opts: AffineOptions): AffineQuantized {
  const who = 'quantizeAffineRef';
  const c = resolve(who, x, opts);
  const g = c.geo;
  const P = g.outer * g.ng * g.inner;
  const lo = new Array<number>(P).fill(Number.POSITIVE_INFINITY);
  const hi = new Array<number>(P).fill(Number.NEGATIVE_INFINITY);
  const data = x.data;
  for (let e = 0; e < g.n; e++) {
    const v = data[e]!;
    if (!Number.isFinite(v)) nonFinite(who, e, v);
    const p = paramIndexRef(e, g);
    if (v < lo[p]!) lo[p] = v;
    if (v > hi[p]!) hi[p] = v;
  }
  const scales = new Float32Array(P);
  const zeros = new Float32Array(c.kind === 2 ? 0 : P);
  for (let p = 0; p < P; p++) {
    const mn = lo[p]!;
    const mx = hi[p]!;
    if (c.kind === 2) {
      scales[p] = Math.fround(Math.max(Math.abs(mn), Math.abs(mx)) / c.qmax);
    } else if (c.kind === 0) {
      const d = Math.fround(mx - mn);
      if (!Number.isFinite(d)) rangeOverflow(who, p, mn, mx);
      scales[p] = Math.fround(d / c.qmax);
      zeros[p] = mn;
    } else {
      const mn0 = Math.min(mn, 0);
      const mx0 = Math.max(mx, 0);
      const d = Math.fround(mx0 - mn0);
      if (!Number.isFinite(d)) rangeOverflow(who, p, mn, mx);
      const s = Math.fround(d / c.qmax);
      scales[p] = s;
      zeros[p] = s === 0 ? 0 : Math.min(c.qmax, Math.max(0, roundHalfEven(Math.fround(-mn0 / s))));
    }
  }
  const codes = allocCodes(c.bits, c.symmetric, g.n);
  const round = rounder(c.rounding);
  for (let e = 0; e < g.n; e++) {
    const p = paramIndexRef(e, g);
    const s = scales[p]!;
    const v = data[e]!;
    let t: number;
    if (s === 0) t = 0;
    else if (c.kind === 0) t = Math.fround(Math.fround(v - zeros[p]!) / s);
    else if (c.kind === 1) t = Math.fround(Math.fround(v / s) + zeros[p]!);
    else t = Math.fround(v / s);
    t = Math.min(c.qmax, Math.max(c.lo, t));
    codes[e] = round(t);
  }
  return result(c, x.shape, codes, scales, zeros);
}

function checkQuantized(who: string, q: AffineQuantized): { c: Config; geo: Geometry } {
  check(q !== null && typeof q === 'object', 'E_CONFIG', `${who}: expected the object returned by quantizeAffine`);
  const symmetric = q.symmetric === true;
  const bits = q.bits;
  const minBits = symmetric ? 2 : 1;
  check(
    Number.isInteger(bits) && bits >= minBits && bits <= 16,
    'E_CONFIG',
    () => `${who}: bits must be an integer in ${minBits}..16, got ${bits}`,
  );
  const zp = q.zeroPoint;
  check(
    symmetric ? zp === 'none' : zp === 'float' || zp === 'int',
    'E_CONFIG',
    () => `${who}: zeroPoint ${JSON.stringify(zp)} does not fit symmetric = ${symmetric}`,
  );
  check(Array.isArray(q.shape), 'E_SHAPE', `${who}: shape must be an array`);
  const geo = geometry(who, q.shape, q.axis, q.groupSize);
  const want8 = symmetric ? Int8Array : Uint8Array;
  const want16 = symmetric ? Int16Array : Uint16Array;
  const Want = bits <= 8 ? want8 : want16;
  check(q.codes instanceof Want, 'E_DTYPE', () => `${who}: ${bits}-bit codes must be a ${Want.name}`);
  check(
    q.codes.length === geo.n,
    'E_SHAPE',
    () => `${who}: shape [${q.shape.join(', ')}] needs ${geo.n} codes, got ${q.codes.length}`,
  );
  const P = geo.outer * geo.ng * geo.inner;
  check(
    q.scales instanceof Float32Array && q.scales.length === P,
    'E_SHAPE',
    () => `${who}: expected ${P} float32 scales, got ${q.scales?.length}`,
  );
  const nz = symmetric ? 0 : P;
  check(
    q.zeros instanceof Float32Array && q.zeros.length === nz,
    'E_SHAPE',
    () => `${who}: expected ${nz} float32 zeros, got ${q.zeros?.length}`,
  );
  const qmax = symmetric ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const kind: 0 | 1 | 2 = symmetric ? 2 : zp === 'float' ? 0 : 1;
  const c: Config = {
    bits,
    symmetric,
    zeroPoint: zp,
    kind,
    qmax,
    lo: symmetric ? -qmax : 0,
    rounding: { mode: 'half-even', seed: 0 },
    geo,
  };
  return { c, geo };
}

/**
 * Reconstruct the float32 tensor from {@link quantizeAffine}'s result (`x̂ = f32(f32(q·s) + min)`,
 * `f32(s·(q − z))` or `f32(q·s)`). Throws `E_CONFIG` / `E_SHAPE` / `E_DTYPE` for an inconsistent
 * object. Codes are used as stored (not range-checked). `out`, if given, must be a `Float32Array` of
 * exactly the element count; it is overwritten and returned as the tensor's data (reusing it avoids
 * allocating and first touching fresh memory, which costs more than the decoding itself for large
 * tensors).
 *
 * @example
 * ```ts
 * const xhat = dequantizeAffine(quantizeAffine(x, { bits: 8, axis: -1, groupSize: 64 }));
 * dequantizeAffine(q, xhat.data); // again, into the same buffer
 * ```
 */
export function dequantizeAffine(q: AffineQuantized, out?: Float32Array): Float32Tensor {
  const { c, geo } = checkQuantized('dequantizeAffine', q);
  const { n, outer, len, inner, gs, ng } = geo;
  if (out !== undefined)
    check(
      out instanceof Float32Array && out.length === n,
      'E_SHAPE',
      () => `dequantizeAffine: out must be a Float32Array(${n})`,
    );
  const dst = out ?? new Float32Array(n);
  const codes = q.codes;
  const scales = q.scales;
  const zeros = q.zeros;
  const kind = c.kind;
  if (kind === 0 && codes instanceof Uint8Array && inner === 1 && n > 0) {
    const wk = wasmKernels();
    if (wk?.affineFloatDequant(codes, outer, len, gs, scales, zeros, dst)) return tensor('float32', dst, q.shape);
  }
  for (let o = 0; o < outer; o++) {
    for (let g = 0; g < ng; g++) {
      const l0 = g * gs;
      const rows = Math.min(len, l0 + gs) - l0;
      const base = (o * len + l0) * inner;
      const pb = (o * ng + g) * inner;
      if (inner === 1) {
        const s = scales[pb]!;
        const end = base + rows;
        if (kind === 0) {
          const a = zeros[pb]!;
          for (let e = base; e < end; e++) dst[e] = fround(codes[e]! * s) + a;
        } else if (kind === 1) {
          const z = zeros[pb]!;
          for (let e = base; e < end; e++) dst[e] = s * (codes[e]! - z);
        } else {
          for (let e = base; e < end; e++) dst[e] = codes[e]! * s;
        }
        continue;
      }
      for (let r = 0; r < rows; r++) {
        const rb = base + r * inner;
        for (let i = 0; i < inner; i++) {
          const s = scales[pb + i]!;
          const k = codes[rb + i]!;
          if (kind === 0) dst[rb + i] = fround(k * s) + zeros[pb + i]!;
          else if (kind === 1) dst[rb + i] = s * (k - zeros[pb + i]!);
          else dst[rb + i] = k * s;
        }
      }
    }
  }
  return tensor('float32', dst, q.shape);
}

/**
 * Reference twin of {@link dequantizeAffine}: per element, parameter index recomputed, explicit
 * `Math.fround` at every float32 point.
 *
 * @example
 * ```ts
 * const xhat = dequantizeAffineRef(quantizeAffineRef(x, { bits: 4 }));
 * ```
 */
export function dequantizeAffineRef(q: AffineQuantized): Float32Tensor {
  const { c, geo } = checkQuantized('dequantizeAffineRef', q);
  const out = new Float32Array(geo.n);
  for (let e = 0; e < geo.n; e++) {
    const p = paramIndexRef(e, geo);
    const s = q.scales[p]!;
    const k = q.codes[e]!;
    if (c.kind === 0) out[e] = Math.fround(Math.fround(k * s) + q.zeros[p]!);
    else if (c.kind === 1) out[e] = Math.fround(s * Math.fround(k - q.zeros[p]!));
    else out[e] = Math.fround(k * s);
  }
  return tensor('float32', out, q.shape);
}
