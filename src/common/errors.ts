/**
 * Typed errors. Every failure that lowbit reports on purpose is a {@link LowbitError} with a
 * machine-readable {@link LowbitErrorCode} and a message that says what was wrong and what was expected.
 *
 * Exposed: LowbitError, LowbitErrorCode, isLowbitError. Internal helpers: fail, check.
 * @module
 */

/**
 * Error codes:
 * - `E_CONFIG`: an invalid option or configuration value;
 * - `E_SHAPE`: a shape that does not fit (rank, length, divisibility);
 * - `E_DTYPE`: an unsupported or mismatched element type;
 * - `E_NONFINITE`: NaN or ±Inf where the algorithm's policy rejects them;
 * - `E_FORMAT`: a corrupt, truncated or unsupported file or serialized blob;
 * - `E_LIMIT`: a size above a safety cap (header length, allocation, count);
 * - `E_IO`: the file system refused (missing file, read failure).
 *
 * @example
 * ```ts
 * import { LowbitError } from 'lowbit/common';
 * try { quantizeAffine(x, { bits: 9 }); } catch (e) { if (e instanceof LowbitError && e.code === 'E_CONFIG') {} }
 * ```
 */
export type LowbitErrorCode = 'E_CONFIG' | 'E_SHAPE' | 'E_DTYPE' | 'E_NONFINITE' | 'E_FORMAT' | 'E_LIMIT' | 'E_IO';

/**
 * The one error class lowbit throws on purpose.
 *
 * @example
 * ```ts
 * import { LowbitError } from 'lowbit/common';
 * throw new LowbitError('E_SHAPE', 'quantizeKeys: expected k of rank >= 2 [..., T, D], got shape [5]');
 * ```
 */
export class LowbitError extends Error {
  /** Machine-readable code. */
  readonly code: LowbitErrorCode;
  constructor(code: LowbitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LowbitError';
    this.code = code;
  }
}

/**
 * Type guard for {@link LowbitError}, optionally for one code.
 *
 * @example
 * ```ts
 * if (isLowbitError(e, 'E_FORMAT')) console.error('corrupt file:', e.message);
 * ```
 */
export function isLowbitError(e: unknown, code?: LowbitErrorCode): e is LowbitError {
  return e instanceof LowbitError && (code === undefined || e.code === code);
}

/** Throw a {@link LowbitError}. Internal. */
export function fail(code: LowbitErrorCode, message: string, cause?: unknown): never {
  throw new LowbitError(code, message, cause === undefined ? undefined : { cause });
}

/** Throw a {@link LowbitError} unless `cond` holds. Internal. */
export function check(cond: unknown, code: LowbitErrorCode, message: string | (() => string)): asserts cond {
  if (!cond) throw new LowbitError(code, typeof message === 'string' ? message : message());
}
