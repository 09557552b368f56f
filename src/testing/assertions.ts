/**
 * Invariant assertions usable with any quantizer, for property tests. Each throws an
 * {@link InvariantViolation} that names the invariant, the first offending element (flat index and, for
 * tensors, the multi-index), the values involved and how many elements failed. Misuse (mismatched
 * lengths, bad options) throws `LowbitError`.
 *
 * Exposed: InvariantViolation, assertWithinHalfStep, assertCodesInRange, assertIdempotent,
 * assertRoundTrip, expandGroups, codeRange, QuantizerUnderTest and the option types.
 * Internal: valuesOf, where.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { type Float32Tensor, shapeSize, tensor } from '../common/tensor.js';

/**
 * Thrown when an invariant does not hold.
 *
 * @example
 * ```ts
 * try { assertCodesInRange([0, 9], { bits: 3 }); } catch (e) { if (e instanceof InvariantViolation) e.index; } // e.index === 1
 * ```
 */
export class InvariantViolation extends Error {
  /** Which invariant failed: `'withinHalfStep'`, `'codesInRange'`, `'idempotent'`, `'roundTrip'` or `'inputUnmodified'`. */
  readonly invariant: string;
  /** Flat index of the first offending element, or −1 when not element-wise. */
  readonly index: number;
  /** Number of offending elements (1 when not element-wise). */
  readonly count: number;
  constructor(invariant: string, message: string, index = -1, count = 1) {
    super(message);
    this.name = 'InvariantViolation';
    this.invariant = invariant;
    this.index = index;
    this.count = count;
  }
}

/**
 * Anything with numeric elements: a typed array, a number[], or a tensor-like `{ data, shape? }`.
 *
 * @example
 * ```ts
 * const v: Values = { data: new Float32Array([1, 2]), shape: [2] };
 * ```
 */
export type Values = ArrayLike<number> | { readonly data: ArrayLike<number>; readonly shape?: readonly number[] };

function valuesOf(v: Values, who: string, name: string): { data: ArrayLike<number>; shape?: readonly number[] } {
  if (v !== null && typeof v === 'object' && 'data' in v && typeof (v as { data: unknown }).data === 'object') {
    const t = v as { data: ArrayLike<number>; shape?: readonly number[] };
    return t.shape === undefined ? { data: t.data } : { data: t.data, shape: t.shape };
  }
  if (v !== null && typeof v === 'object' && typeof (v as ArrayLike<number>).length === 'number')
    return { data: v as ArrayLike<number> };
  return fail('E_DTYPE', `${who}: ${name} must be an array, a typed array or { data, shape }`);
}

/** `i` as "element i" plus the multi-index when a shape is known. Internal. */
function where(i: number, shape: readonly number[] | undefined): string {
  if (shape === undefined || shape.length <= 1) return `element ${i}`;
  const idx: number[] = [];
  let r = i;
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = shape[k]!;
    idx.unshift(d === 0 ? 0 : r % d);
    r = d === 0 ? 0 : Math.floor(r / d);
  }
  return `element ${i} (index [${idx.join(', ')}] of shape [${shape.join(', ')}])`;
}

function sameLength(who: string, a: ArrayLike<unknown>, b: ArrayLike<unknown>, an: string, bn: string): void {
  check(a.length === b.length, 'E_SHAPE', () => `${who}: ${an} has ${a.length} elements but ${bn} has ${b.length}`);
}

/**
 * Broadcast per-group parameters (scales, steps, mins) to one value per element, for lowbit's affine
 * layout: `params` has shape `shape` with `shape[axis]` replaced by `ceil(shape[axis] / groupSize)`
 * (row-major); without an axis the tensor is flattened into `ceil(n / groupSize)` groups.
 *
 * @example
 * ```ts
 * import { expandGroups } from 'lowbit/testing';
 * expandGroups([0.5, 2], [2, 3], { axis: 1 }); // Float64Array [0.5, 0.5, 0.5, 2, 2, 2]
 * expandGroups([1, 9], [5], { groupSize: 3 }); // [1, 1, 1, 9, 9]
 * ```
 */
export function expandGroups(
  params: ArrayLike<number>,
  shape: readonly number[],
  opts: { readonly axis?: number; readonly groupSize?: number } = {},
): Float64Array {
  const who = 'expandGroups';
  const n = shapeSize(shape);
  const rank = shape.length;
  let outer = 1;
  let len = n;
  let inner = 1;
  if (opts.axis !== undefined) {
    const a = opts.axis;
    check(
      Number.isInteger(a) && a >= -rank && a < rank,
      'E_CONFIG',
      () => `${who}: axis ${a} out of range for rank ${rank}`,
    );
    const ax = a < 0 ? a + rank : a;
    for (let d = 0; d < ax; d++) outer *= shape[d]!;
    len = shape[ax]!;
    for (let d = ax + 1; d < rank; d++) inner *= shape[d]!;
  }
  const gs = opts.groupSize ?? Math.max(len, 1);
  check(
    Number.isSafeInteger(gs) && gs >= 1,
    'E_CONFIG',
    () => `${who}: groupSize must be a positive integer, got ${gs}`,
  );
  const ng = len === 0 ? 0 : Math.ceil(len / gs);
  check(
    params.length === outer * ng * inner,
    'E_SHAPE',
    () => `${who}: expected ${outer * ng * inner} parameters (${outer}×${ng} groups×${inner}), got ${params.length}`,
  );
  const out = new Float64Array(n);
  for (let o = 0; o < outer; o++)
    for (let l = 0; l < len; l++)
      for (let j = 0; j < inner; j++)
        out[(o * len + l) * inner + j] = params[(o * ng + Math.floor(l / gs)) * inner + j]!;
  return out;
}

/**
 * Options of {@link assertWithinHalfStep}.
 *
 * @example
 * ```ts
 * assertWithinHalfStep(x, xhat, steps, { levels: 16, include: (i) => !clipped[i] } satisfies HalfStepOptions);
 * ```
 */
export interface HalfStepOptions {
  /**
   * Number of levels of the grid, used to size the float32 slack of the check (default 256, i.e.
   * 8 bits): `slack = rtol·(|x| + |x̂| + step·levels) + atol`.
   */
  readonly levels?: number;
  /** Relative slack for float32 rounding in the quantizer (default 2⁻²¹ ≈ 4.8e-7). */
  readonly rtol?: number;
  /**
   * Absolute slack (default `levels·2⁻¹⁴⁹`: room for a scale that is subnormal or underflows to 0 when
   * a group's range is subnormal; negligible otherwise).
   */
  readonly atol?: number;
  /** Only check elements for which this returns true (e.g. skip clipped values). */
  readonly include?: (i: number) => boolean;
  /** Non-finite `x`: `'skip'` (default) or `'error'` (treat as a violation). */
  readonly nonFinite?: 'skip' | 'error';
}

/**
 * Check |x − x̂| ≤ step/2 (+ float32 slack) for every element: the defining property of round-to-nearest
 * on a uniform grid for values inside the grid's range. `step` is one number or one per element (see
 * {@link expandGroups}).
 *
 * @example
 * ```ts
 * import { dequantizeAffine, quantizeAffine } from 'lowbit/common';
 * import { assertWithinHalfStep, expandGroups } from 'lowbit/testing';
 * const q = quantizeAffine(x, { bits: 4, axis: 1, groupSize: 32 });
 * const steps = expandGroups(q.scales, x.shape, { axis: 1, groupSize: 32 });
 * assertWithinHalfStep(x, dequantizeAffine(q), steps, { levels: 16 });
 * ```
 */
export function assertWithinHalfStep(
  x: Values,
  xhat: Values,
  step: number | ArrayLike<number>,
  opts: HalfStepOptions = {},
): void {
  const who = 'assertWithinHalfStep';
  const a = valuesOf(x, who, 'x');
  const b = valuesOf(xhat, who, 'xhat');
  sameLength(who, a.data, b.data, 'x', 'xhat');
  if (typeof step !== 'number') sameLength(who, a.data, step, 'x', 'step');
  const levels = opts.levels ?? 256;
  const rtol = opts.rtol ?? 2 ** -21;
  const atol = opts.atol ?? levels * 2 ** -149;
  check(levels >= 1 && rtol >= 0 && atol >= 0, 'E_CONFIG', `${who}: levels must be >= 1, rtol and atol >= 0`);
  let first = -1;
  let count = 0;
  let detail = '';
  for (let i = 0; i < a.data.length; i++) {
    if (opts.include !== undefined && !opts.include(i)) continue;
    const xi = a.data[i]!;
    const yi = b.data[i]!;
    const s = typeof step === 'number' ? step : step[i]!;
    let bad: string | undefined;
    if (!Number.isFinite(xi)) {
      if (opts.nonFinite === 'error') bad = `x = ${xi} is not finite`;
    } else if (!Number.isFinite(yi)) {
      bad = `x = ${xi} reconstructs to ${yi}`;
    } else {
      const err = Math.abs(xi - yi);
      const bound = s / 2 + rtol * (Math.abs(xi) + Math.abs(yi) + Math.abs(s) * levels) + atol;
      if (!(err <= bound))
        bad = `x = ${xi}, x̂ = ${yi}, |x − x̂| = ${err} > step/2 = ${s / 2} (step ${s}, bound with slack ${bound})`;
    }
    if (bad !== undefined) {
      count++;
      if (first < 0) {
        first = i;
        detail = bad;
      }
    }
  }
  if (count > 0) {
    throw new InvariantViolation(
      'withinHalfStep',
      `${who}: ${where(first, a.shape)}: ${detail}; ${count} of ${a.data.length} elements are off by more than half a step`,
      first,
      count,
    );
  }
}

/**
 * The integer code range of a grid, as {@link assertCodesInRange} takes it.
 *
 * @example
 * ```ts
 * assertCodesInRange(codes, { bits: 4, kind: 'signed' } satisfies CodeRange); // [-8, 7]
 * ```
 */
export type CodeRange =
  | { readonly min: number; readonly max: number }
  | {
      readonly bits: number;
      /** `'unsigned'` [0, 2^b − 1] (default), `'signed'` [−2^(b−1), 2^(b−1) − 1], `'symmetric'` [−(2^(b−1) − 1), 2^(b−1) − 1]. */
      readonly kind?: 'unsigned' | 'signed' | 'symmetric';
    };

/**
 * The `[min, max]` of a {@link CodeRange}.
 *
 * @example
 * ```ts
 * import { codeRange } from 'lowbit/testing';
 * codeRange({ bits: 4, kind: 'symmetric' }); // [-7, 7]
 * ```
 */
export function codeRange(r: CodeRange): [number, number] {
  if ('bits' in r) {
    const b = r.bits;
    check(
      Number.isInteger(b) && b >= 1 && b <= 32,
      'E_CONFIG',
      () => `codeRange: bits must be an integer in 1..32, got ${b}`,
    );
    const kind = r.kind ?? 'unsigned';
    if (kind === 'unsigned') return [0, 2 ** b - 1];
    if (kind === 'signed') return [-(2 ** (b - 1)), 2 ** (b - 1) - 1];
    if (kind === 'symmetric') return [-(2 ** (b - 1) - 1), 2 ** (b - 1) - 1];
    return fail('E_CONFIG', `codeRange: unknown kind ${JSON.stringify(kind)}`);
  }
  check(
    Number.isFinite(r.min) && Number.isFinite(r.max) && r.min <= r.max,
    'E_CONFIG',
    () => `codeRange: bad range [${r.min}, ${r.max}]`,
  );
  return [r.min, r.max];
}

/**
 * Check that every code is an integer inside the grid's range.
 *
 * @example
 * ```ts
 * import { quantizeAffine } from 'lowbit/common';
 * import { assertCodesInRange } from 'lowbit/testing';
 * assertCodesInRange(quantizeAffine(x, { bits: 3 }).codes, { bits: 3 }); // [0, 7]
 * assertCodesInRange(quantizeAffine(x, { bits: 3, symmetric: true }).codes, { bits: 3, kind: 'symmetric' }); // [-3, 3]
 * ```
 */
export function assertCodesInRange(
  codes: Values,
  range: CodeRange,
  opts: { readonly shape?: readonly number[] } = {},
): void {
  const who = 'assertCodesInRange';
  const c = valuesOf(codes, who, 'codes');
  const [lo, hi] = codeRange(range);
  const shape = opts.shape ?? c.shape;
  let first = -1;
  let count = 0;
  let val = 0;
  for (let i = 0; i < c.data.length; i++) {
    const v = Number(c.data[i]!);
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) {
      count++;
      if (first < 0) {
        first = i;
        val = v;
      }
    }
  }
  if (count > 0) {
    throw new InvariantViolation(
      'codesInRange',
      `${who}: ${where(first, shape)}: code ${val} is ${Number.isInteger(val) ? 'outside' : 'not an integer in'} [${lo}, ${hi}]; ${count} of ${c.data.length} codes are out of range`,
      first,
      count,
    );
  }
}

/**
 * A quantizer as the assertions see it.
 *
 * @example
 * ```ts
 * const qz: QuantizerUnderTest<AffineQuantized> = {
 *   quantize: (t) => quantizeAffine(t, { bits: 4 }),
 *   dequantize: dequantizeAffine,
 *   codes: (q) => q.codes,
 * };
 * ```
 */
export interface QuantizerUnderTest<Q> {
  quantize(x: Float32Tensor): Q;
  /** Reconstruction, a float32 tensor `{ data, shape }` or an array of values. */
  dequantize(q: Q): Values;
  /** The integer codes of `q` (default: `q.codes` when present). */
  codes?(q: Q): ArrayLike<number>;
}

function codesOf<Q>(qz: QuantizerUnderTest<Q>, q: Q): ArrayLike<number> | undefined {
  if (qz.codes !== undefined) return qz.codes(q);
  const c = (q as { codes?: unknown } | null)?.codes;
  return c !== undefined && c !== null && typeof (c as ArrayLike<number>).length === 'number'
    ? (c as ArrayLike<number>)
    : undefined;
}

function bitsOf(a: ArrayLike<number>): Uint32Array {
  const f = Float32Array.from(a as ArrayLike<number>);
  return new Uint32Array(f.buffer);
}

function snapshot(x: Float32Tensor): Uint8Array {
  return new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength).slice();
}

function checkUnmodified(who: string, x: Float32Tensor, before: Uint8Array): void {
  const now = new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength);
  for (let i = 0; i < before.length; i++) {
    if (now[i] !== before[i]) {
      const el = Math.floor(i / 4);
      throw new InvariantViolation(
        'inputUnmodified',
        `${who}: the quantizer wrote into its input: ${where(el, x.shape)} changed (now ${x.data[el]})`,
        el,
      );
    }
  }
}

function asFloat32Tensor(who: string, x: Float32Tensor): Float32Tensor {
  check(
    x !== null &&
      typeof x === 'object' &&
      x.data instanceof Float32Array &&
      Array.isArray(x.shape) &&
      x.data.length === shapeSize(x.shape),
    'E_DTYPE',
    `${who}: x must be a float32 tensor { data: Float32Array, shape }`,
  );
  return x;
}

/**
 * Options of {@link assertIdempotent}.
 *
 * @example
 * ```ts
 * assertIdempotent(qz, x, { compare: 'both' } satisfies IdempotentOptions);
 * ```
 */
export interface IdempotentOptions {
  /**
   * What must be equal between q(x) and q(dq(q(x))): `'codes'` (default when codes are available),
   * `'values'` (dequantized values, bit for bit; default otherwise) or `'both'`.
   */
  readonly compare?: 'codes' | 'values' | 'both';
}

/**
 * Check q ∘ dq ∘ q = q: re-quantizing a reconstruction gives the same codes (and/or the same
 * reconstruction, bit for bit). Also checks that `quantize` leaves its input unmodified.
 *
 * @example
 * ```ts
 * import { dequantizeAffine, quantizeAffine } from 'lowbit/common';
 * import { assertIdempotent } from 'lowbit/testing';
 * assertIdempotent({ quantize: (t) => quantizeAffine(t, { bits: 4, axis: -1 }), dequantize: dequantizeAffine }, x);
 * ```
 */
export function assertIdempotent<Q>(qz: QuantizerUnderTest<Q>, x: Float32Tensor, opts: IdempotentOptions = {}): void {
  const who = 'assertIdempotent';
  asFloat32Tensor(who, x);
  const before = snapshot(x);
  const q1 = qz.quantize(x);
  checkUnmodified(who, x, before);
  const d1 = valuesOf(qz.dequantize(q1), who, 'dequantize(q)');
  const xh = tensor('float32', Float32Array.from(d1.data), x.shape);
  const q2 = qz.quantize(xh);
  const c1 = codesOf(qz, q1);
  const mode = opts.compare ?? (c1 === undefined ? 'values' : 'codes');
  if (mode !== 'values') {
    const c2 = codesOf(qz, q2);
    check(
      c1 !== undefined && c2 !== undefined,
      'E_CONFIG',
      `${who}: compare '${mode}' needs codes: pass a codes(q) function`,
    );
    sameLength(who, c1, c2, 'codes of q(x)', 'codes of q(dq(q(x)))');
    let first = -1;
    let count = 0;
    for (let i = 0; i < c1.length; i++) {
      if (Number(c1[i]) !== Number(c2[i])) {
        count++;
        if (first < 0) first = i;
      }
    }
    if (count > 0) {
      throw new InvariantViolation(
        'idempotent',
        `${who}: q(dq(q(x))) ≠ q(x) at ${where(first, x.shape)}: x = ${x.data[first]}, dq(q(x)) = ${xh.data[first]}, code ${c1[first]} became ${c2[first]}; ${count} of ${c1.length} codes changed`,
        first,
        count,
      );
    }
  }
  if (mode !== 'codes') {
    const d2 = valuesOf(qz.dequantize(q2), who, 'dequantize(q2)');
    sameLength(who, d1.data, d2.data, 'dq(q(x))', 'dq(q(dq(q(x))))');
    const b1 = bitsOf(d1.data);
    const b2 = bitsOf(d2.data);
    let first = -1;
    let count = 0;
    for (let i = 0; i < b1.length; i++) {
      if (b1[i] !== b2[i] && !(Number.isNaN(d1.data[i]!) && Number.isNaN(d2.data[i]!))) {
        count++;
        if (first < 0) first = i;
      }
    }
    if (count > 0) {
      throw new InvariantViolation(
        'idempotent',
        `${who}: dq(q(dq(q(x)))) ≠ dq(q(x)) at ${where(first, x.shape)}: x = ${x.data[first]}, first reconstruction ${d1.data[first]}, second ${d2.data[first]}; ${count} of ${b1.length} values changed`,
        first,
        count,
      );
    }
  }
}

/**
 * Error budget of {@link assertRoundTrip}. Every given bound must hold.
 *
 * @example
 * ```ts
 * assertRoundTrip(qz, x, { minSqnrDb: 20, maxAbsError: 0.1, deterministic: true } satisfies RoundTripBudget);
 * ```
 */
export interface RoundTripBudget {
  /** Reconstruction must equal the input bit for bit (NaN = NaN; +0 ≠ −0). */
  readonly exact?: boolean;
  /** Largest |x − x̂| allowed, one number or one per element. */
  readonly maxAbsError?: number | ArrayLike<number>;
  /** Largest NMSE = Σ(x − x̂)² / Σx² allowed. */
  readonly maxNmse?: number;
  /** Smallest SQNR in dB allowed. */
  readonly minSqnrDb?: number;
  /** Smallest cosine similarity allowed. */
  readonly minCosine?: number;
  /** Also quantize twice and require identical codes / reconstructions (seeded stochastic rounding passes). */
  readonly deterministic?: boolean;
}

/**
 * Quantize and dequantize `x` and check the round trip: same length, finite inputs reconstruct to finite
 * values, the input is not modified, and every bound of the budget holds (non-finite elements of `x` are
 * left out of the error metrics).
 *
 * @example
 * ```ts
 * import { dequantizeAffine, quantizeAffine } from 'lowbit/common';
 * import { assertRoundTrip } from 'lowbit/testing';
 * const qz = { quantize: (t) => quantizeAffine(t, { bits: 8, axis: -1 }), dequantize: dequantizeAffine };
 * assertRoundTrip(qz, x, { minSqnrDb: 40, deterministic: true });
 * ```
 */
export function assertRoundTrip<Q>(qz: QuantizerUnderTest<Q>, x: Float32Tensor, budget: RoundTripBudget = {}): void {
  const who = 'assertRoundTrip';
  asFloat32Tensor(who, x);
  const before = snapshot(x);
  const q = qz.quantize(x);
  checkUnmodified(who, x, before);
  const y = valuesOf(qz.dequantize(q), who, 'dequantize(q)');
  const n = x.data.length;
  if (y.data.length !== n) {
    throw new InvariantViolation(
      'roundTrip',
      `${who}: x has ${n} elements but the reconstruction has ${y.data.length}`,
    );
  }
  if (y.shape !== undefined && (y.shape.length !== x.shape.length || y.shape.some((d, i) => d !== x.shape[i]))) {
    throw new InvariantViolation(
      'roundTrip',
      `${who}: shape [${x.shape.join(', ')}] came back as [${y.shape.join(', ')}]`,
    );
  }
  let err2 = 0;
  let ref2 = 0;
  let app2 = 0;
  let dot = 0;
  const fails: string[] = [];
  let firstBad = -1;
  let badCount = 0;
  const note = (i: number, msg: string): void => {
    badCount++;
    if (firstBad < 0) {
      firstBad = i;
      fails.push(`${where(i, x.shape)}: ${msg}`);
    }
  };
  const xb = budget.exact ? bitsOf(x.data) : undefined;
  const yb = budget.exact ? bitsOf(y.data) : undefined;
  for (let i = 0; i < n; i++) {
    const xi = x.data[i]!;
    const yi = y.data[i]!;
    if (xb !== undefined && xb[i] !== yb![i] && !(Number.isNaN(xi) && Number.isNaN(yi))) {
      note(i, `x = ${xi} came back as ${yi} (exact round trip required)`);
      continue;
    }
    if (!Number.isFinite(xi)) continue;
    if (!Number.isFinite(yi)) {
      note(i, `finite x = ${xi} came back as ${yi}`);
      continue;
    }
    const e = xi - yi;
    if (budget.maxAbsError !== undefined) {
      const m = typeof budget.maxAbsError === 'number' ? budget.maxAbsError : budget.maxAbsError[i]!;
      if (!(Math.abs(e) <= m)) note(i, `x = ${xi}, x̂ = ${yi}, |x − x̂| = ${Math.abs(e)} > maxAbsError ${m}`);
    }
    err2 += e * e;
    ref2 += xi * xi;
    app2 += yi * yi;
    dot += xi * yi;
  }
  if (badCount > 0) fails[0] = `${fails[0]} (${badCount} of ${n} elements)`;
  const nmse = ref2 === 0 ? (err2 === 0 ? 0 : Number.POSITIVE_INFINITY) : err2 / ref2;
  const sqnr = err2 === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(ref2 / err2);
  const cos = ref2 === 0 && app2 === 0 ? 1 : ref2 === 0 || app2 === 0 ? 0 : dot / Math.sqrt(ref2 * app2);
  if (budget.maxNmse !== undefined && !(nmse <= budget.maxNmse)) fails.push(`NMSE ${nmse} > ${budget.maxNmse}`);
  if (budget.minSqnrDb !== undefined && !(sqnr >= budget.minSqnrDb))
    fails.push(`SQNR ${sqnr.toFixed(3)} dB < ${budget.minSqnrDb} dB`);
  if (budget.minCosine !== undefined && !(cos >= budget.minCosine)) fails.push(`cosine ${cos} < ${budget.minCosine}`);
  if (budget.deterministic) {
    const q2 = qz.quantize(x);
    const c1 = codesOf(qz, q);
    const c2 = codesOf(qz, q2);
    const a = c1 !== undefined && c2 !== undefined ? Array.from(c1, Number) : Array.from(bitsOf(y.data));
    const b =
      c1 !== undefined && c2 !== undefined
        ? Array.from(c2, Number)
        : Array.from(bitsOf(valuesOf(qz.dequantize(q2), who, 'dq').data));
    const k = a.findIndex((v, i) => v !== b[i]);
    if (k >= 0 || a.length !== b.length)
      fails.push(`not deterministic: a second quantize differs at ${where(Math.max(k, 0), x.shape)}`);
  }
  if (fails.length > 0) {
    throw new InvariantViolation(
      'roundTrip',
      `${who}: ${fails.join('; ')} [NMSE ${nmse}, SQNR ${sqnr.toFixed(2)} dB, cosine ${cos.toFixed(6)} over ${n} elements]`,
      firstBad,
      Math.max(badCount, 1),
    );
  }
}
