/**
 * The bit-serial gemv / gemm tests run again with the JS kernels forced (the default `'auto'` backend runs
 * the wasm SIMD kernel on Node 20, so the plain run of gemv.test.ts covers the wasm path and this file
 * keeps the JS twin covered against gemvRef).
 */
import { setKernelBackend } from '../../src/common/kernels.js';

setKernelBackend('js');
await import('./gemv.test.js');
