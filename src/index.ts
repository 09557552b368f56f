/**
 * `lowbit`: everything. The common layer (`lowbit/common`) and the file formats (`lowbit/io`) are
 * re-exported flat; each algorithm family is a namespace (`kivi`, `bfp`, `mambaquant`, `mwq`) because their
 * names overlap (`dequantize`, …). Import a subpath (`lowbit/kivi`, …) to load only one family.
 *
 * @example
 * ```ts
 * import { kivi, quantizeAffine } from 'lowbit';
 * const q = kivi.quantizeKeys(k, { bits: 2, groupSize: 32 });
 * ```
 * @module
 */

export * as bfp from './bfp/index.js';
export * from './common/index.js';
export * from './common/io/index.js';
export * as kivi from './kivi/index.js';
export * as mambaquant from './mambaquant/index.js';
export * as mwq from './mwq/index.js';
