/**
 * Scalar slicing rules of the bit-nested ("matryoshka") families: how an r-bit child code and its value in
 * int-c units follow from a c-bit parent code by integer bit operations only (mwq.md §1).
 *
 * | variant | child code | value v (int-c units) | planes read |
 * |---|---|---|---|
 * | `'trunc-mid'` (default of `'truncate'`) | q >> k | ((q >> k) << k) + (2^k − 1)/2 | r |
 * | `'trunc'` | q >> k | (q >> k) << k | r |
 * | `'round-clamp'` (MatQuant Eq. 6, default of `'matquant'`) | min((q >> k) + bit, 2^r − 1) | code << k | r + 1 |
 * | `'round-noclamp'` (MatQuant "extra precision") | (q >> k) + bit ∈ [0, 2^r] | code << k | r + 1 |
 *
 * with k = c − r and bit = (q >> (k − 1)) & 1 (round half up on the dropped bits). For r = c every variant
 * is the identity and reads c planes.
 *
 * Exposed: SliceVariant, sliceCode, sliceParent, sliceValue, slicePlanes.
 * Internal: checkSliceArgs, sliceValueTable.
 * @module
 */
import { fail } from '../common/errors.js';

/**
 * The four slicing rules of mwq.md §1.
 *
 * @example
 * ```ts
 * quantizeNested(w, { scheme: 'matquant', variant: 'round-noclamp' });
 * ```
 */
export type SliceVariant = 'trunc-mid' | 'trunc' | 'round-clamp' | 'round-noclamp';

const VARIANTS: readonly SliceVariant[] = ['trunc-mid', 'trunc', 'round-clamp', 'round-noclamp'];

/** Validate the scalar slicing arguments. Internal. */
export function checkSliceArgs(q: number, c: number, r: number, variant: SliceVariant, who: string): void {
  if (!Number.isInteger(c) || c < 1 || c > 8)
    fail('E_CONFIG', `${who}: parent bits c must be an integer in 1..8, got ${c}`);
  if (!Number.isInteger(r) || r < 1 || r > c)
    fail('E_CONFIG', `${who}: level r must be an integer in 1..${c}, got ${r}`);
  if (!Number.isInteger(q) || q < 0 || q > (1 << c) - 1)
    fail('E_CONFIG', `${who}: code q must be an integer in 0..${(1 << c) - 1}, got ${q}`);
  if (!VARIANTS.includes(variant))
    fail('E_CONFIG', `${who}: unknown variant ${JSON.stringify(variant)}; expected one of ${VARIANTS.join(', ')}`);
}

/**
 * The r-bit child code of a c-bit parent code `q` (integer bit operations only). `'round-noclamp'` may
 * return 2^r (the extra bucket); every other variant returns a value in 0..2^r − 1.
 *
 * @example
 * ```ts
 * sliceCode(183, 8, 2, 'round-clamp'); // 3
 * sliceCode(183, 8, 2, 'trunc'); // 2
 * sliceCode(250, 8, 2, 'round-noclamp'); // 4
 * ```
 */
export function sliceCode(q: number, c: number, r: number, variant: SliceVariant): number {
  checkSliceArgs(q, c, r, variant, 'sliceCode');
  const k = c - r;
  if (k === 0) return q;
  const top = q >>> k;
  if (variant === 'trunc' || variant === 'trunc-mid') return top;
  const up = top + ((q >>> (k - 1)) & 1);
  return variant === 'round-clamp' ? Math.min(up, (1 << r) - 1) : up;
}

/**
 * The sliced parent code S(q, r) = child << k in int-c units (the integer grid point; `'trunc-mid'` uses
 * the `'trunc'` grid point here — its bucket centre is {@link sliceValue}).
 *
 * @example
 * ```ts
 * sliceParent(24, 8, 4, 'round-clamp'); // 32
 * sliceParent(32, 8, 2, 'round-clamp'); // 64 (double rounding: direct sliceParent(24, 8, 2) is 0)
 * ```
 */
export function sliceParent(q: number, c: number, r: number, variant: SliceVariant): number {
  return sliceCode(q, c, r, variant) << (c - r);
}

/**
 * The value of level r in int-c units, `v` in `ŵ = α·(v − z)`: the sliced grid point, plus (2^k − 1)/2
 * (the bucket centre) for `'trunc-mid'` when r < c.
 *
 * @example
 * ```ts
 * sliceValue(183, 8, 4, 'trunc-mid'); // 183.5  (0.01·(183.5 − 128) = +0.555)
 * sliceValue(183, 8, 8, 'trunc-mid'); // 183
 * ```
 */
export function sliceValue(q: number, c: number, r: number, variant: SliceVariant): number {
  const p = sliceParent(q, c, r, variant);
  return variant === 'trunc-mid' && r < c ? p + ((1 << (c - r)) - 1) / 2 : p;
}

/**
 * Number of MSB-first bit planes a level reads: r for the truncating variants, r + 1 for the rounding
 * variants (they need bit r + 1 from the MSB), c when r = c.
 *
 * @example
 * ```ts
 * slicePlanes(8, 4, 'round-clamp'); // 5
 * slicePlanes(8, 4, 'trunc-mid'); // 4
 * ```
 */
export function slicePlanes(c: number, r: number, variant: SliceVariant): number {
  checkSliceArgs(0, c, r, variant, 'slicePlanes');
  if (r === c) return c;
  return variant === 'round-clamp' || variant === 'round-noclamp' ? r + 1 : r;
}

/** Table of {@link sliceValue} over all 2^c parent codes. Internal. */
export function sliceValueTable(c: number, r: number, variant: SliceVariant): Float64Array {
  const t = new Float64Array(1 << c);
  for (let q = 0; q < t.length; q++) t[q] = sliceValue(q, c, r, variant);
  return t;
}
