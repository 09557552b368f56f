/**
 * The family tests of the kernels that have a wasm path, run again with the JS kernels forced (the
 * default `'auto'` backend runs the wasm kernels on Node 20, so the plain runs of these files cover the
 * wasm path and this file keeps the JS kernels covered).
 */
import { setKernelBackend } from '../../src/common/kernels.js';

setKernelBackend('js');
await import('./affine.test.js');
await import('../kivi/quantizer.test.js');
await import('../mambaquant/hadamard.test.js');
await import('../bfp/quantize.test.js'); // includes the MX reference vectors (microxcaling)
