/**
 * MambaQuant rotation benchmarks:
 * - `fwht` (in place, float32) at n = 1024, 4096 (powers of two) and 1536 = 12·128, 2560 = 40·64 (QuaRot
 *   factors), 16 MB of rows each, beside memcpy; then a smaller group with the `fwhtRef` twin and the dense
 *   matrix-product reference (x·Mᵀ with M = hadamardMatrix(n), float64 accumulation);
 * - `symmetricEigen` wall time at n = 256 and 1024 (random symmetric matrices);
 * - dense KLT rotation apply (x·R, R = K·H at n = 1024) in plain JS vs lowbit/tfjs `matmulSync` on the
 *   wasm backend.
 * Goals (issue 5): fwht ≥ 1 GB/s at 4096; non-power-of-two within 2× of power-of-two; eigen n = 1024 ≤ 10 s.
 */
import '@tensorflow/tfjs-backend-wasm';
import { createRng } from '../src/common/rounding.js';
import { float32 } from '../src/common/tensor.js';
import { denseRotation, fwht, fwhtRef, hadamardMatrix, symmetricEigen } from '../src/mambaquant/index.js';
import { applyDense, hadamardRowsF64 } from '../src/mambaquant/rotation.js';
import { ensureBackend, matmulSync } from '../src/tfjs/index.js';
import { QUICK, runGroup } from './harness.js';

function randomF32(len: number, seed: number): Float32Array {
  const r = createRng(seed);
  return new Float32Array(len).map(() => r() * 2 - 1);
}

export async function main(): Promise<void> {
  const sizes = [1024, 4096, 1536, 2560];
  const totalBytes = QUICK ? 1 << 20 : 16 << 20;
  const summary: string[] = [];
  const gbps: Record<number, number> = {};
  for (const n of sizes) {
    const rows = Math.max(1, Math.floor(totalBytes / 4 / n));
    const x = float32(randomF32(rows * n, n), [rows, n]);
    const res = await runGroup({
      title: `fwht in place, n = ${n}, [${rows}, ${n}] float32`,
      bytes: rows * n * 4,
      elements: rows * n,
      cases: [{ name: 'fwht (normalized)', fn: () => fwht(x) }],
    });
    gbps[n] = res[1]!.gbps;
  }
  for (const n of sizes) {
    const rows = QUICK ? 2 : 16;
    const x = float32(randomF32(rows * n, n + 1), [rows, n]);
    const M = hadamardMatrix(n, { transpose: true }); // x·Mᵀ
    const out = new Float32Array(rows * n);
    await runGroup({
      title: `fwht vs references, n = ${n}, [${rows}, ${n}] float32`,
      bytes: rows * n * 4,
      elements: rows * n,
      runs: QUICK ? 2 : 5,
      cases: [
        { name: 'fwht', fn: () => fwht(x) },
        { name: 'fwhtRef (scalar twin, allocates)', fn: () => fwhtRef(x) },
        { name: 'dense x·Mᵀ (float64 accumulate)', fn: () => applyDense(x.data, rows, n, M, out) },
      ],
    });
  }
  summary.push(
    `fwht GB/s: ${sizes.map((n) => `${n}: ${gbps[n]!.toFixed(3)}`).join(', ')}; goal ≥ 1 GB/s at 4096: ${gbps[4096]! >= 1 ? 'met' : 'NOT met'}; ` +
      `non-power-of-two ÷ power-of-two: 1536/1024 = ${(gbps[1536]! / gbps[1024]!).toFixed(2)}, 2560/4096 = ${(gbps[2560]! / gbps[4096]!).toFixed(2)} (goal ≥ 0.5)`,
  );

  // symmetricEigen wall time
  const eigSizes = QUICK ? [64, 256] : [256, 1024];
  console.log('\n## symmetricEigen (Householder + implicit QL, float64)');
  console.log('| n | runs | median s | min s |');
  console.log('|---|---|---|---|');
  let eig1024: { vectors: Float64Array } | undefined;
  for (const n of eigSizes) {
    const r = createRng(n);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j <= i; j++) {
        const v = r() - 0.5;
        a[i * n + j] = v;
        a[j * n + i] = v;
      }
    const runs = n >= 1024 ? 1 : 3;
    if (n < 1024) symmetricEigen(a); // warm-up
    const t: number[] = [];
    for (let k = 0; k < runs; k++) {
      const t0 = process.hrtime.bigint();
      const e = symmetricEigen(a);
      t.push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (n === eigSizes[eigSizes.length - 1]) eig1024 = e;
    }
    t.sort((p, q) => p - q);
    console.log(`| ${n} | ${runs} | ${t[Math.floor(t.length / 2)]!.toFixed(3)} | ${t[0]!.toFixed(3)} |`);
    summary.push(
      `symmetricEigen n = ${n}: ${t[Math.floor(t.length / 2)]!.toFixed(2)} s${n === 1024 ? ` (goal ≤ 10 s: ${t[0]! <= 10 ? 'met' : 'NOT met'})` : ''}`,
    );
  }

  // dense KLT apply: JS vs tfjs (wasm)
  const n = eigSizes[eigSizes.length - 1]!;
  const K = Float64Array.from(eig1024!.vectors);
  hadamardRowsF64(K, n, n); // R = K·H
  const backend = await ensureBackend();
  const js = denseRotation(K);
  const tf = denseRotation(K, { backend: 'tfjs', matmul: matmulSync });
  const rows = QUICK ? 32 : 256;
  const x = float32(randomF32(rows * n, 7), [rows, n]);
  const a = js.apply(x).data;
  const b = tf.apply(x).data;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  const res = await runGroup({
    title: `dense KLT apply x·(K·H), n = ${n}, [${rows}, ${n}] float32 (tfjs backend: ${backend}; max |JS − tfjs| = ${err.toExponential(2)} of max ${scale.toFixed(2)})`,
    bytes: rows * n * 4,
    elements: rows * n,
    runs: QUICK ? 2 : 7,
    cases: [
      { name: 'JS (float64 accumulate)', fn: () => js.apply(x) },
      { name: `tfjs matmulSync (${backend})`, fn: () => tf.apply(x) },
    ],
  });
  summary.push(
    `dense KLT apply n = ${n}: JS ${(res[1]!.medianS * 1e3).toFixed(1)} ms, tfjs-${backend} ${(res[2]!.medianS * 1e3).toFixed(1)} ms (${(res[1]!.medianS / res[2]!.medianS).toFixed(1)}×)`,
  );
  console.log('\n## Goals');
  for (const s of summary) console.log(`- ${s}`);
}
