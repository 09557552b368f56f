/**
 * Options of {@link quantizeNested}, validated once into a frozen config.
 *
 * Exposed: NestedScheme, ResidualBase, PlaneScales, NestedOptions, NestedConfig, normalizeNestedOptions.
 * @module
 */
import { fail } from '../common/errors.js';
import { normalizeRounding, type Rounding } from '../common/rounding.js';
import type { Float32Tensor } from '../common/tensor.js';
import type { SliceVariant } from './slice.js';

/**
 * The three nesting schemes: MatQuant slicing, truncation to the bucket centre, D²MoE residual ±1 planes.
 *
 * @example
 * ```ts
 * const s: NestedScheme = 'truncate';
 * ```
 */
export type NestedScheme = 'matquant' | 'truncate' | 'residual';

/**
 * Base quantizer of the residual scheme: min-max (endpoint grid, integer zero) or mid-rise (bucket centres).
 *
 * @example
 * ```ts
 * quantizeNested(w, { scheme: 'residual', base: 'midrise', planeScales: 'pow2' }); // = uniform mid-rise at every level
 * ```
 */
export type ResidualBase = 'minmax' | 'midrise';

/**
 * Residual plane scales: least-squares fit (data-free or calibrated), or the power-of-two ladder α/4, α/8, …
 *
 * @example
 * ```ts
 * const p: PlaneScales = 'pow2';
 * ```
 */
export type PlaneScales = 'fit' | 'pow2';

/**
 * Options of `quantizeNested`.
 *
 * @example
 * ```ts
 * const opts: NestedOptions = { scheme: 'residual', bits: 4, baseBits: 2, groupSize: 64 };
 * ```
 */
export interface NestedOptions {
  /** Nesting scheme (required). */
  readonly scheme: NestedScheme;
  /** Widest level c (parent bits for slicing, b_K for residual), 2..8. Default 8. */
  readonly bits?: number;
  /** Weights per group along `in`; must divide `in`. Default 128 (or `in` when `in` < 128). */
  readonly groupSize?: number;
  /** Real → integer rounding of the weights (default `'half-even'`). Zero points always round half to even. */
  readonly rounding?: Rounding;
  /** Slicing rule: `'trunc-mid'` (default) or `'trunc'` for `'truncate'`; `'round-clamp'` (default) or `'round-noclamp'` for `'matquant'`. */
  readonly variant?: SliceVariant;
  /** Residual: width b₁ of the base, 2 ≤ b₁ ≤ bits. Default 2 (levels 2..bits). */
  readonly baseBits?: number;
  /** Residual: base quantizer (default `'minmax'`). */
  readonly base?: ResidualBase;
  /** Residual: plane scales (default `'fit'`). */
  readonly planeScales?: PlaneScales;
  /** Residual: calibration activations `[T, in]`; scales then minimise ‖(w − ŵ)·Xᵀ‖² per group and level. */
  readonly calibration?: Float32Tensor;
}

/**
 * A validated, frozen configuration (see {@link normalizeNestedOptions}).
 *
 * @example
 * ```ts
 * const cfg: NestedConfig = normalizeNestedOptions({ scheme: 'matquant' }, 512); // cfg.groupSize === 128
 * ```
 */
export interface NestedConfig {
  readonly scheme: NestedScheme;
  readonly bits: number;
  readonly groupSize: number;
  readonly rounding: { readonly mode: string; readonly seed: number };
  readonly variant: SliceVariant | 'residual';
  readonly baseBits: number;
  readonly base: ResidualBase;
  readonly planeScales: PlaneScales;
}

const SCHEMES: readonly NestedScheme[] = ['matquant', 'truncate', 'residual'];

/**
 * Validate options against a weight of `cols` inputs. Throws `E_CONFIG` (bad option) or `E_SHAPE`
 * (group size not dividing `in`).
 *
 * @example
 * ```ts
 * normalizeNestedOptions({ scheme: 'truncate' }, 256).variant; // 'trunc-mid'
 * ```
 */
export function normalizeNestedOptions(opts: NestedOptions, cols: number): NestedConfig {
  if (opts === null || typeof opts !== 'object') fail('E_CONFIG', 'quantizeNested: options object required');
  const { scheme } = opts;
  if (!SCHEMES.includes(scheme))
    fail(
      'E_CONFIG',
      `quantizeNested: scheme must be 'matquant', 'truncate' or 'residual', got ${JSON.stringify(scheme)}`,
    );
  const bits = opts.bits ?? 8;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8)
    fail('E_CONFIG', `quantizeNested: bits must be an integer in 2..8, got ${bits}`);
  const groupSize = opts.groupSize ?? Math.min(128, cols);
  if (!Number.isInteger(groupSize) || groupSize < 1)
    fail('E_CONFIG', `quantizeNested: groupSize must be a positive integer, got ${groupSize}`);
  if (cols % groupSize !== 0)
    fail(
      'E_SHAPE',
      `quantizeNested: groupSize ${groupSize} does not divide in = ${cols} (ragged groups are not supported)`,
    );
  const rounding = normalizeRounding(opts.rounding);
  let variant: SliceVariant | 'residual';
  if (scheme === 'residual') {
    if (opts.variant !== undefined)
      fail('E_CONFIG', `quantizeNested: variant is for 'matquant'/'truncate', not 'residual'`);
    variant = 'residual';
  } else {
    const allowed: readonly SliceVariant[] =
      scheme === 'truncate' ? ['trunc-mid', 'trunc'] : ['round-clamp', 'round-noclamp'];
    variant = opts.variant ?? allowed[0]!;
    if (!allowed.includes(variant))
      fail(
        'E_CONFIG',
        `quantizeNested: variant for '${scheme}' must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${JSON.stringify(opts.variant)}`,
      );
    for (const key of ['baseBits', 'base', 'planeScales', 'calibration'] as const) {
      if (opts[key] !== undefined) fail('E_CONFIG', `quantizeNested: option '${key}' is only for scheme 'residual'`);
    }
  }
  const baseBits = scheme === 'residual' ? (opts.baseBits ?? Math.min(2, bits)) : bits;
  if (!Number.isInteger(baseBits) || baseBits < 2 || baseBits > bits)
    fail('E_CONFIG', `quantizeNested: baseBits must be an integer in 2..${bits}, got ${baseBits}`);
  const base = opts.base ?? 'minmax';
  if (base !== 'minmax' && base !== 'midrise')
    fail('E_CONFIG', `quantizeNested: base must be 'minmax' or 'midrise', got ${JSON.stringify(base)}`);
  const planeScales = opts.planeScales ?? 'fit';
  if (planeScales !== 'fit' && planeScales !== 'pow2')
    fail('E_CONFIG', `quantizeNested: planeScales must be 'fit' or 'pow2', got ${JSON.stringify(planeScales)}`);
  return Object.freeze({
    scheme,
    bits,
    groupSize,
    rounding: Object.freeze(rounding),
    variant,
    baseBits,
    base,
    planeScales,
  });
}
