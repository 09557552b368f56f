/**
 * Error metrics between a reference signal and its approximation (e.g. a dequantized tensor). Every
 * sum is accumulated in float64, whatever the input type.
 *
 * Conventions (the same for every function):
 * - **Length mismatch** throws `E_SHAPE`.
 * - **Non-finite inputs**: if any element of `ref` or `approx` is NaN or ±Inf, every metric is `NaN`
 *   (a quantization error is not defined there; the NaN makes it visible instead of hiding it).
 * - **Zero-energy reference** (Σ ref² = 0, incl. empty inputs): `nmse` is 0 when the error is 0 and
 *   `+Infinity` otherwise; `sqnrDb` is `+Infinity` when the error is 0 (also for a non-zero
 *   reference: a perfect reconstruction), and `−Infinity` when only the reference is zero.
 * - **Cosine similarity** with a zero vector: 1 when both vectors are zero (they are equal), 0 when
 *   exactly one is.
 * - **Empty inputs** (n = 0): mse = nmse = maxAbsError = 0, sqnrDb = +Infinity, cosine = 1.
 *
 * Exposed: mse, nmse, sqnrDb, maxAbsError, cosineSimilarity, errorReport, ErrorReport.
 * @module
 */
import { check } from './errors.js';

/**
 * All metrics of {@link errorReport}.
 *
 * - `mse`: mean of (ref − approx)²;
 * - `nmse`: mse / mean(ref²);
 * - `sqnrDb`: 10·log10(Σ ref² / Σ (ref − approx)²) = −10·log10(nmse);
 * - `maxAbsError`: max |ref − approx|;
 * - `cosine`: Σ ref·approx / (‖ref‖·‖approx‖), clamped to [−1, 1];
 * - `n`: number of elements.
 *
 * @example
 * ```ts
 * const r: ErrorReport = errorReport([1, -1], [1, 0]); // { mse: 0.5, nmse: 0.5, sqnrDb: 3.01…, maxAbsError: 1, cosine: 0.707…, n: 2 }
 * ```
 */
export interface ErrorReport {
  readonly mse: number;
  readonly nmse: number;
  readonly sqnrDb: number;
  readonly maxAbsError: number;
  readonly cosine: number;
  readonly n: number;
}

interface Sums {
  n: number;
  err2: number;
  ref2: number;
  app2: number;
  dot: number;
  maxAbs: number;
  finite: boolean;
}

function sums(who: string, ref: ArrayLike<number>, approx: ArrayLike<number>): Sums {
  const n = ref.length;
  check(
    approx.length === n,
    'E_SHAPE',
    () => `${who}: ref has ${n} elements but approx has ${approx.length}; expected equal lengths`,
  );
  let err2 = 0;
  let ref2 = 0;
  let app2 = 0;
  let dot = 0;
  let maxAbs = 0;
  let poison = 0; // stays 0 while every input is finite (x·0 is NaN for ±Inf and NaN)
  for (let i = 0; i < n; i++) {
    const r = +ref[i]!;
    const a = +approx[i]!;
    const d = r - a;
    poison += r * 0 + a * 0;
    err2 += d * d;
    ref2 += r * r;
    app2 += a * a;
    dot += r * a;
    const ad = d < 0 ? -d : d;
    if (ad > maxAbs) maxAbs = ad;
  }
  return { n, err2, ref2, app2, dot, maxAbs, finite: poison === 0 };
}

function nmseOf(s: Sums): number {
  if (s.err2 === 0) return 0;
  if (s.ref2 === 0) return Number.POSITIVE_INFINITY;
  return s.err2 / s.ref2;
}

function sqnrOf(s: Sums): number {
  if (s.err2 === 0) return Number.POSITIVE_INFINITY;
  if (s.ref2 === 0) return Number.NEGATIVE_INFINITY;
  const q = s.ref2 / s.err2;
  // the quotient loses precision (subnormal) or overflows at extreme energy ratios: use the log difference
  if (q > 1e-290 && q < 1e290) return 10 * Math.log10(q);
  return 10 * (Math.log10(s.ref2) - Math.log10(s.err2));
}

function cosineOf(s: Sums): number {
  if (s.ref2 === 0 && s.app2 === 0) return 1;
  if (s.ref2 === 0 || s.app2 === 0) return 0;
  // |cos| ≤ 1 (Cauchy–Schwarz), but rounding, and sums that fall into the subnormal range for magnitudes
  // below ~1e-154, can push the quotient past ±1 (by up to 3.4e-10 measured): clamp
  const c = s.dot / (Math.sqrt(s.ref2) * Math.sqrt(s.app2));
  return Math.min(1, Math.max(-1, c));
}

/**
 * Mean squared error, accumulated in float64.
 *
 * @example
 * ```ts
 * mse([1, 2, 3], [1, 2, 5]); // 4 / 3
 * ```
 */
export function mse(ref: ArrayLike<number>, approx: ArrayLike<number>): number {
  const s = sums('mse', ref, approx);
  if (!s.finite) return Number.NaN;
  return s.n === 0 ? 0 : s.err2 / s.n;
}

/**
 * Normalised MSE: MSE divided by the mean square of the reference (0 for a perfect match; see the
 * module notes for a zero-energy reference).
 *
 * @example
 * ```ts
 * nmse([1, -1], [1, 0]); // 0.5
 * ```
 */
export function nmse(ref: ArrayLike<number>, approx: ArrayLike<number>): number {
  const s = sums('nmse', ref, approx);
  return s.finite ? nmseOf(s) : Number.NaN;
}

/**
 * Signal-to-quantization-noise ratio in dB: 10·log10(Σ ref² / Σ (ref − approx)²).
 *
 * @example
 * ```ts
 * sqnrDb([1, -1], [1, 0]); // 3.0103 (= 10·log10 2)
 * ```
 */
export function sqnrDb(ref: ArrayLike<number>, approx: ArrayLike<number>): number {
  const s = sums('sqnrDb', ref, approx);
  return s.finite ? sqnrOf(s) : Number.NaN;
}

/**
 * Largest absolute elementwise error.
 *
 * @example
 * ```ts
 * maxAbsError([1, 2, 3], [1.5, 2, 2]); // 1
 * ```
 */
export function maxAbsError(ref: ArrayLike<number>, approx: ArrayLike<number>): number {
  const s = sums('maxAbsError', ref, approx);
  return s.finite ? s.maxAbs : Number.NaN;
}

/**
 * Cosine similarity Σ ref·approx / (‖ref‖·‖approx‖), in [−1, 1] (1 when both are zero vectors, 0 when
 * one is).
 *
 * @example
 * ```ts
 * cosineSimilarity([1, 0], [0, 1]); // 0
 * cosineSimilarity([1, 2], [2, 4]); // 1
 * ```
 */
export function cosineSimilarity(ref: ArrayLike<number>, approx: ArrayLike<number>): number {
  const s = sums('cosineSimilarity', ref, approx);
  return s.finite ? cosineOf(s) : Number.NaN;
}

/**
 * Every metric in one pass: `{ mse, nmse, sqnrDb, maxAbsError, cosine, n }`.
 *
 * @example
 * ```ts
 * const r = errorReport(x.data, dequantizeAffine(quantizeAffine(x, { bits: 4 })).data);
 * console.log(`${r.sqnrDb.toFixed(1)} dB, max |err| ${r.maxAbsError}`);
 * ```
 */
export function errorReport(ref: ArrayLike<number>, approx: ArrayLike<number>): ErrorReport {
  const s = sums('errorReport', ref, approx);
  if (!s.finite) {
    return {
      mse: Number.NaN,
      nmse: Number.NaN,
      sqnrDb: Number.NaN,
      maxAbsError: Number.NaN,
      cosine: Number.NaN,
      n: s.n,
    };
  }
  return {
    mse: s.n === 0 ? 0 : s.err2 / s.n,
    nmse: nmseOf(s),
    sqnrDb: sqnrOf(s),
    maxAbsError: s.maxAbs,
    cosine: cosineOf(s),
    n: s.n,
  };
}
