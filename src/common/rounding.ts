/**
 * Rounding as a named policy. Kernels never use the built-in `Math` rounding to nearest (which sends halves toward +∞):
 * every rounding goes through one of these functions, chosen once per call by {@link rounder}.
 *
 * Exposed: RoundingMode, Rounding, roundHalfEven, roundHalfAway, roundHalfUp, roundFloor, rounder,
 * createRng, normalizeRounding.
 * @module
 */
import { fail } from './errors.js';

/**
 * Named rounding modes:
 * - `'half-even'` (default; numpy/torch `round`): ties to the even integer;
 * - `'half-away'`: ties away from zero (C `round`, microxcaling's default);
 * - `'half-up'`: ties toward +∞ (`floor(v + 0.5)`, ggml Q4_0's rule);
 * - `'floor'`: toward −∞;
 * - `'stochastic'`: `floor(v + u)` with `u` uniform in [0, 1) from a seeded generator (reproducible).
 */
export type RoundingMode = 'half-even' | 'half-away' | 'half-up' | 'floor' | 'stochastic';

/**
 * A rounding policy: a mode name, or `{ mode: 'stochastic', seed }` to fix the generator's seed
 * (the seed defaults to 0, so the plain `'stochastic'` string is reproducible too).
 *
 * @example
 * ```ts
 * const r: Rounding = { mode: 'stochastic', seed: 42 };
 * ```
 */
export type Rounding = RoundingMode | { readonly mode: RoundingMode; readonly seed?: number };

const BIG = 4503599627370496; // 2^52: (v + 2^52) - 2^52 rounds 0 <= v < 2^52 to an integer, ties to even

/**
 * Round half to even. Exact for every finite double; NaN stays NaN, ±Inf stays ±Inf, −0 stays −0.
 *
 * @example
 * ```ts
 * roundHalfEven(2.5); // 2
 * roundHalfEven(-2.5); // -2
 * roundHalfEven(3.5); // 4
 * ```
 */
export function roundHalfEven(v: number): number {
  if (v >= 0) {
    if (v >= BIG) return v;
    const r = v + BIG - BIG;
    return r === 0 ? v * 0 : r; // keeps -0 as -0
  }
  if (v <= -BIG) return v;
  const r = v - BIG + BIG;
  return r === 0 ? -0 : r; // NaN falls through both comparisons only when v is NaN
}

/**
 * Round half away from zero.
 *
 * @example
 * ```ts
 * roundHalfAway(2.5); // 3
 * roundHalfAway(-2.5); // -3
 * ```
 */
export function roundHalfAway(v: number): number {
  const t = Math.trunc(v);
  const d = v - t; // exact for doubles
  if (d >= 0.5) return t + 1;
  if (d <= -0.5) return t - 1;
  return t;
}

/**
 * Round half toward +∞ (`floor(v + 0.5)` computed without the double-rounding error of that expression).
 *
 * @example
 * ```ts
 * roundHalfUp(2.5); // 3
 * roundHalfUp(-2.5); // -2
 * ```
 */
export function roundHalfUp(v: number): number {
  const f = Math.floor(v);
  if (v - f >= 0.5) return f === -1 ? -0 : f + 1; // −0.5 ≤ v < 0 rounds to −0, like the other modes
  return f;
}

/**
 * Round toward −∞.
 *
 * @example
 * ```ts
 * roundFloor(-0.5); // -1
 * ```
 */
export function roundFloor(v: number): number {
  return Math.floor(v);
}

/**
 * A small seeded generator (splitmix32) returning uniform floats in [0, 1) with 2^-32 resolution.
 * Same seed, same sequence, on every platform.
 *
 * @example
 * ```ts
 * const rand = createRng(7);
 * const u = rand(); // 0 <= u < 1
 * ```
 */
export function createRng(seed = 0): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/**
 * Validate a {@link Rounding} and return `{ mode, seed }`. Throws `E_CONFIG` for an unknown mode.
 *
 * @example
 * ```ts
 * normalizeRounding(undefined); // { mode: 'half-even', seed: 0 }
 * ```
 */
export function normalizeRounding(r: Rounding | undefined): { mode: RoundingMode; seed: number } {
  const mode = r === undefined ? 'half-even' : typeof r === 'string' ? r : r?.mode;
  const seed = typeof r === 'object' && r !== null && r.seed !== undefined ? r.seed : 0;
  if (mode !== 'half-even' && mode !== 'half-away' && mode !== 'half-up' && mode !== 'floor' && mode !== 'stochastic') {
    fail(
      'E_CONFIG',
      `rounding: unknown mode ${JSON.stringify(mode)}; expected 'half-even', 'half-away', 'half-up', 'floor' or 'stochastic'`,
    );
  }
  if (!Number.isFinite(seed)) fail('E_CONFIG', `rounding: seed must be a finite number, got ${seed}`);
  return { mode, seed };
}

/**
 * Return the scalar rounding function of a policy. For `'stochastic'` a fresh seeded generator is
 * created on each call, so one quantize call with the same seed gives the same codes.
 *
 * @example
 * ```ts
 * const round = rounder('half-even');
 * round(0.5); // 0
 * const sr = rounder({ mode: 'stochastic', seed: 1 });
 * sr(0.25); // 0 or 1, reproducibly
 * ```
 */
export function rounder(r?: Rounding): (v: number) => number {
  const { mode, seed } = normalizeRounding(r);
  switch (mode) {
    case 'half-even':
      return roundHalfEven;
    case 'half-away':
      return roundHalfAway;
    case 'half-up':
      return roundHalfUp;
    case 'floor':
      return roundFloor;
    case 'stochastic': {
      const rand = createRng(seed);
      return (v: number) => Math.floor(v + rand());
    }
  }
}
