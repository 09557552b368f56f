/**
 * Integration: `toMatMulNBits` tensors in a one-node ONNX model (lowbit's own protobuf writer) run by the
 * real ONNX Runtime (onnxruntime-node, CPU execution provider) and compared with lowbit's
 * dequantize-then-matmul (`dequantizeMatMulNBits`, then a float64-accumulated A·Wᵀ rounded to float32).
 * Tolerance: |Δ| ≤ 1e-5 · (1 + Σ_k |A[m,k]·W[n,k]|) — float32 accumulation-order error (measured ~3e-7
 * relative). A wrong nibble order, block order, scale layout or zero-point packing moves outputs by whole
 * quantization steps (≥ 1e-2 here). Skipped, with the reason printed, only when onnxruntime-node cannot
 * be loaded.
 */
import { describe, expect, it } from 'vitest';
import { float32 } from '../../src/common/tensor.js';
import { dequantizeMatMulNBits, matMulNBitsModel, toMatMulNBits } from '../../src/export/matmulnbits.js';

type Ort = typeof import('onnxruntime-node');
let ort: Ort | undefined;
try {
  ort = await import('onnxruntime-node');
} catch (e) {
  // CI sets LOWBIT_REQUIRE_RUNTIMES=1: there a runtime that cannot load is a failure, not a skip
  if (process.env.LOWBIT_REQUIRE_RUNTIMES === '1') throw e;
  console.warn(
    `[lowbit] SKIPPING the ONNX Runtime integration tests: onnxruntime-node could not be loaded (${e instanceof Error ? e.message : String(e)})`,
  );
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

describe.skipIf(ort === undefined)('MatMulNBits in ONNX Runtime (onnxruntime-node, CPU)', () => {
  const cases = [
    { M: 3, N: 48, K: 256, blockSize: 32, symmetric: true },
    { M: 3, N: 48, K: 256, blockSize: 32, symmetric: false },
    { M: 5, N: 40, K: 384, blockSize: 128, symmetric: true },
    { M: 5, N: 40, K: 384, blockSize: 128, symmetric: false },
    { M: 2, N: 17, K: 200, blockSize: 128, symmetric: false }, // partial last block, odd block count
    { M: 1, N: 9, K: 70, blockSize: 32, symmetric: true }, // partial last block
    { M: 4, N: 12, K: 96, blockSize: 32, symmetric: false }, // 3 blocks: zero points of a row span 2 bytes
  ];
  for (const c of cases) {
    it(`M=${c.M} N=${c.N} K=${c.K} block ${c.blockSize} ${c.symmetric ? 'symmetric' : 'asymmetric'}`, async () => {
      const rnd = lcg(c.N * 1000 + c.K + (c.symmetric ? 1 : 0));
      const w = Float32Array.from({ length: c.N * c.K }, () => rnd() * 3);
      const a = Float32Array.from({ length: c.M * c.K }, () => rnd() * 2);
      const q = toMatMulNBits(float32(w, [c.N, c.K]), { bits: 4, blockSize: c.blockSize, symmetric: c.symmetric });
      expect(q.zeroPoints === undefined).toBe(c.symmetric);
      const W = dequantizeMatMulNBits(q).data;
      const session = await ort!.InferenceSession.create(matMulNBitsModel(q), { executionProviders: ['cpu'] });
      const out = await session.run({ A: new ort!.Tensor('float32', a, [c.M, c.K]) });
      const Y = out.Y!;
      expect(Y.dims).toEqual([c.M, c.N]);
      const y = Y.data as Float32Array;
      let worst = 0;
      for (let m = 0; m < c.M; m++)
        for (let n = 0; n < c.N; n++) {
          let acc = 0;
          let mag = 0;
          for (let k = 0; k < c.K; k++) {
            const p = a[m * c.K + k]! * W[n * c.K + k]!;
            acc += p;
            mag += Math.abs(p);
          }
          worst = Math.max(worst, Math.abs(Math.fround(acc) - y[m * c.N + n]!) / (1 + mag));
        }
      expect(worst).toBeLessThanOrEqual(1e-5);
      await session.release();
    });
  }
});
