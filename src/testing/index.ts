/**
 * `lowbit/testing`: fast-check arbitraries and invariant assertions for property tests of quantizers —
 * lowbit's own and yours. `fast-check` is an optional peer dependency: install it to use this subpath.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { dequantizeAffine, quantizeAffine } from 'lowbit/common';
 * import { assertCodesInRange, assertIdempotent, quantCaseArb } from 'lowbit/testing';
 * fc.assert(
 *   fc.property(quantCaseArb({ symmetric: false }), ({ x, config }) => {
 *     const q = quantizeAffine(x, config);
 *     assertCodesInRange(q.codes, { bits: config.bits });
 *     assertIdempotent({ quantize: (t) => quantizeAffine(t, config), dequantize: dequantizeAffine }, x);
 *   }),
 * );
 * ```
 * @module
 */
export * from './arbitraries.js';
export * from './assertions.js';
