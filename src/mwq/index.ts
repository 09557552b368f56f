export * from './config.js';
export * from './gemv.js';
export { type BitPlanes, dequantizeRef, NestedWeights } from './nested.js';
export * from './planes.js';
export { quantizeNested, quantizeNestedRef } from './quantize.js';
export { type SliceVariant, sliceCode, sliceParent, slicePlanes, sliceValue } from './slice.js';
