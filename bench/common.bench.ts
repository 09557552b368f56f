/**
 * src/common numeric kernels: fp16 / bf16 conversions and the affine quantizer, each beside a memcpy
 * of the same input bytes and its `…Ref` twin.
 *
 * Full sizes: 4 M float32 values (16 MB) per run; `LOWBIT_BENCH_QUICK=1`: 256 K values.
 * Run: `npx tsx bench/run.ts common` (or `LOWBIT_BENCH_QUICK=1 npx tsx bench/run.ts common`).
 */
import {
  type AffineOptions,
  dequantizeAffine,
  dequantizeAffineRef,
  quantizeAffine,
  quantizeAffineRef,
} from '../src/common/affine.js';
import {
  bf16ToF32Array,
  bf16ToF32ArrayRef,
  f16ToF32Array,
  f16ToF32ArrayRef,
  f32ToBf16Array,
  f32ToBf16ArrayRef,
  f32ToF16Array,
  f32ToF16ArrayRef,
} from '../src/common/half.js';
import { createRng } from '../src/common/rounding.js';
import { float32 } from '../src/common/tensor.js';
import { QUICK, runGroup } from './harness.js';

/** Gaussian-ish float32 data (sum of uniforms), deterministic. */
function data(n: number, seed: number): Float32Array {
  const r = createRng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (r() + r() + r() - 1.5) * 2;
  return x;
}

export async function main(): Promise<void> {
  const rows = QUICK ? 256 : 4096;
  const cols = 1024;
  const n = rows * cols;
  const x = data(n, 1);
  const h16 = f32ToF16Array(x);
  const b16 = f32ToBf16Array(x);
  const outH = new Uint16Array(n);
  const outF = new Float32Array(n);
  const refRuns = QUICK ? 2 : 5;

  await runGroup({
    title: `fp16 encode: f32ToF16Array, ${n} float32 → fp16 bits (RNE)`,
    bytes: 4 * n,
    elements: n,
    cases: [
      { name: 'f32ToF16Array (bit trick, out given)', fn: () => f32ToF16Array(x, outH) },
      { name: 'f32ToF16ArrayRef (arithmetic)', fn: () => f32ToF16ArrayRef(x) },
    ],
    runs: QUICK ? 3 : 10,
  });
  await runGroup({
    title: `fp16 decode: f16ToF32Array, ${n} fp16 codes → float32`,
    bytes: 2 * n,
    elements: n,
    cases: [
      { name: 'f16ToF32Array (65 536-entry table, out given)', fn: () => f16ToF32Array(h16, outF) },
      { name: 'f16ToF32ArrayRef (arithmetic)', fn: () => f16ToF32ArrayRef(h16) },
    ],
    runs: QUICK ? 3 : 10,
  });
  await runGroup({
    title: `bf16 encode: f32ToBf16Array, ${n} float32 → bf16 bits (RNE)`,
    bytes: 4 * n,
    elements: n,
    cases: [
      { name: 'f32ToBf16Array (bit trick, out given)', fn: () => f32ToBf16Array(x, outH) },
      { name: 'f32ToBf16ArrayRef (bf16Round + bits)', fn: () => f32ToBf16ArrayRef(x) },
    ],
    runs: QUICK ? 3 : 10,
  });
  await runGroup({
    title: `bf16 decode: bf16ToF32Array, ${n} bf16 codes → float32`,
    bytes: 2 * n,
    elements: n,
    cases: [
      { name: 'bf16ToF32Array (u16 << 16, out given)', fn: () => bf16ToF32Array(b16, outF) },
      { name: 'bf16ToF32ArrayRef (arithmetic)', fn: () => bf16ToF32ArrayRef(b16) },
    ],
    runs: QUICK ? 3 : 10,
  });

  const t = float32(x, [rows, cols]);
  const configs: [string, AffineOptions][] = [
    ['int8 symmetric, groups of 128 along the row (axis 1)', { bits: 8, symmetric: true, axis: 1, groupSize: 128 }],
    ['int4 asymmetric (float min), groups of 128 along the row (axis 1)', { bits: 4, axis: 1, groupSize: 128 }],
    ['int4 asymmetric, groups of 128 along the column (axis 0: strided rows)', { bits: 4, axis: 0, groupSize: 128 }],
    ['int4 integer zero point, groups of 128 (axis 1)', { bits: 4, axis: 1, groupSize: 128, zeroPoint: 'int' }],
  ];
  for (const [label, opts] of configs) {
    await runGroup({
      title: `affine quantize, ${label}: [${rows}, ${cols}] float32`,
      bytes: 4 * n,
      elements: n,
      cases: [
        { name: 'quantizeAffine', fn: () => quantizeAffine(t, opts) },
        { name: 'quantizeAffineRef', fn: () => quantizeAffineRef(t, opts) },
      ],
      runs: refRuns,
    });
  }
  const q4 = quantizeAffine(t, { bits: 4, axis: 1, groupSize: 128 });
  await runGroup({
    title: `affine dequantize, int4 groups of 128 (axis 1): [${rows}, ${cols}] → float32 (input = 1-byte codes + params)`,
    bytes: n + 8 * (n / 128),
    elements: n,
    cases: [
      { name: 'dequantizeAffine', fn: () => dequantizeAffine(q4) },
      { name: 'dequantizeAffineRef', fn: () => dequantizeAffineRef(q4) },
    ],
    runs: refRuns,
  });
}
