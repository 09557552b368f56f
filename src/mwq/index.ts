/**
 * `lowbit/mwq`: matryoshka (bit-nested) weight quantization — one bit-plane store serving several bit
 * widths (MatQuant slicing, truncation to the bucket centre, D²MoE residual ±1 planes), bit-serial
 * GEMV/GEMM reading only the planes of the requested level, a versioned serialized form, and D²MoE's
 * hottest-expert-bit-first (HEBF) load/compute scheduler with FIFO and all-max-bits baselines.
 * Spec: mwq.md. Every export is documented with an example in its module.
 * @module
 */
export {
  type NestedConfig,
  type NestedOptions,
  type NestedScheme,
  normalizeNestedOptions,
  type PlaneScales,
  type ResidualBase,
} from './config.js';
export { gemm, gemmRef, gemv, gemvRef } from './gemv.js';
export {
  type ExpertLevelRequest,
  type HebfInput,
  type HebfLevelCost,
  type PipelineItem,
  type PipelinePolicy,
  type PipelineResult,
  type SyntheticTraceOptions,
  scheduleHEBF,
  scheduleOptimal,
  simulatePipeline,
  syntheticTrace,
} from './hebf.js';
export { type BitPlanes, dequantizeRef, NestedWeights } from './nested.js';
export { calibrationError } from './objective.js';
export { packPlanes, packPlanesRef, planeWords, unpackPlanes, unpackPlanesRef } from './planes.js';
export { quantizeNested, quantizeNestedRef } from './quantize.js';
export { type SliceVariant, sliceCode, sliceParent, slicePlanes, sliceValue } from './slice.js';
