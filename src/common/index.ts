/**
 * `lowbit/common`: tensors, rounding policies, the affine quantizer, bit packing, fp16/bf16, error
 * metrics, typed errors, ggml block codecs and interop with ndarray / ORT / transformers.js / tfjs tensors.
 * Everything here is in-memory and runs in browsers; file formats live in `lowbit/io` (Node).
 * @module
 */
export * from './affine.js';
export * from './errors.js';
export * from './ggml.js';
export * from './half.js';
export * from './interop.js';
export {
  activeKernelBackend,
  getKernelBackend,
  type KernelBackend,
  KernelMemory,
  kernelMemory,
  loadKernels,
  setKernelBackend,
  wasmSimdSupported,
} from './kernels.js';
export * from './metrics.js';
export * from './packing.js';
export * from './rounding.js';
export * from './tensor.js';
