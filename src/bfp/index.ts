/**
 * `lowbit/bfp`: block floating point (d-Matrix BFP{p+8}), OCP MX v1.0 formats (MXFP8 E4M3/E5M2, MXFP6
 * E3M2/E2M3, MXFP4, MXINT8), ggml blocks (Q8_0, Q4_0, Q4_1, MXFP4), an integer-domain block dot
 * product, and K-sort (outlier channel rearrangement for K caches).
 *
 * Modules: `formats.ts` (traits table, element decode), `quantize.ts` (block quantizer and its Ref
 * twin), `pack.ts` (code packing order), `dot.ts` (block dot product), `ksort.ts` (channel orders),
 * `ggml.ts` (ggml block wrappers), `serialize.ts` (the versioned `LBFP` container).
 *
 * @example
 * ```ts
 * import { quantizeBlocks, dequantizeBlocks, bitsPerElement } from 'lowbit/bfp';
 * const b = quantizeBlocks(x, { format: 'mxfp4', blockSize: 32 });
 * const y = dequantizeBlocks(b); // Float32Tensor, same shape as x
 * bitsPerElement('mxfp4', 32); // 4.25
 * ```
 * @module
 */

export { dotBlocks, dotBlocksRef } from './dot.js';
export {
  type BfpFormat,
  type BlockFormat,
  bitsPerElement,
  decodeElement,
  elementTable,
  FORMAT_TRAITS,
  type FormatName,
  type FormatTraits,
  formatTraits,
} from './formats.js';
export { decodeGgml, encodeGgml, GGML_BLOCK_BYTES, type GgmlBlockType } from './ggml.js';
export {
  applyChannelOrder,
  type CalibrateOptions,
  type ChannelOrder,
  calibrateChannelOrder,
  channelOrderFromPermutation,
  channelOrderFromWeights,
  type PermutedProjections,
  type PermuteProjectionsInput,
  permuteProjections,
  type RopeLayout,
  restoreChannelOrder,
  ropeFrequencies,
} from './ksort.js';
export { packCodes, packCodesRef, packedBytes, unpackCodes, unpackCodesRef } from './pack.js';
export {
  type BlockTensor,
  blockCodes,
  dequantizeBlocks,
  dequantizeBlocksRef,
  type QuantizeBlocksOptions,
  quantizeBlocks,
  quantizeBlocksRef,
  type ScaleRule,
} from './quantize.js';
export { deserializeBlocks, serializeBlocks } from './serialize.js';
