/**
 * Interop and tfjs benchmarks: the strided copy of a transposed ndarray view (`asTensor`, via ndarray-ops)
 * beside its plain twin `stridedCopyRef`, f16 → f32 via `asFloat32`, and `lowbit/tfjs` matmul on
 * tfjs-backend-wasm beside a plain-JS float32 loop.
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import ndarray from 'ndarray';
import { asFloat32, asTensor, stridedCopyRef } from '../src/common/interop.js';
import { tensor } from '../src/common/tensor.js';
import { ensureBackend, matmulSync } from '../src/tfjs/index.js';
import { QUICK, runGroup } from './harness.js';

function jsMatmulT(a: Float32Array, b: Float32Array, m: number, k: number, n: number, out: Float32Array): Float32Array {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = Math.fround(s + Math.fround(a[i * k + p]! * b[j * k + p]!));
      out[i * n + j] = s;
    }
  }
  return out;
}

export async function main(): Promise<void> {
  tf.env().set('IS_TEST', true);
  const side = QUICK ? 256 : 2048; // 2048² f32 = 16 MB
  const n = side * side;
  const buf = new Float32Array(n);
  for (let i = 0; i < n; i++) buf[i] = (i % 1000) * 0.001;
  const view = ndarray(buf, [side, side]).transpose(1, 0);
  const out = new Float32Array(n);
  await runGroup({
    title: `transposed ndarray view → contiguous, float32 [${side}, ${side}]`,
    bytes: 4 * n,
    elements: n,
    cases: [
      { name: 'asTensor (ndarray-ops assign)', fn: () => asTensor(view) },
      { name: 'stridedCopyRef (plain loop)', fn: () => stridedCopyRef(buf, view.shape, view.stride, view.offset, out) },
    ],
  });

  const h = new Uint16Array(n);
  for (let i = 0; i < n; i++) h[i] = (0x3c00 + (i & 0x3ff)) & 0xffff;
  await runGroup({
    title: `asFloat32 of an ORT float16 tensor, ${n} elements`,
    bytes: 2 * n,
    elements: n,
    cases: [{ name: 'asFloat32 ({ type: float16 })', fn: () => asFloat32({ type: 'float16', data: h, dims: [n] }) }],
  });

  await ensureBackend();
  const [m, k, nn] = QUICK ? [64, 256, 256] : [64, 1024, 1024];
  const a = tensor('float32', buf.subarray(0, m * k).slice(), [m, k]);
  const w = tensor('float32', buf.subarray(0, nn * k).slice(), [nn, k]);
  const o = new Float32Array(m * nn);
  const rows = await runGroup({
    title: `matmul a[${m}, ${k}] · w[${nn}, ${k}]ᵀ (${tf.getBackend()} backend; elements = multiply-adds)`,
    bytes: 4 * (m * k + nn * k),
    elements: m * k * nn,
    runs: QUICK ? 3 : 10,
    cases: [
      { name: `lowbit/tfjs matmulSync (${tf.getBackend()})`, fn: () => matmulSync(a, w, { transposeB: true }) },
      { name: 'plain JS float32 loop (Ref)', fn: () => jsMatmulT(a.data, w.data, m, k, nn, o) },
    ],
  });
  for (const r of rows.slice(1)) console.log(`${r.name}: ${((2 * r.eps) / 1e9).toFixed(2)} GFLOP/s`);
}
