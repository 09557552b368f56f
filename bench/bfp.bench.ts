/**
 * Block quantization throughput (lowbit/bfp): quantizeBlocks / dequantizeBlocks for MXFP4, MXFP8 E4M3
 * and BFP12 (blocks of 32 along the last axis) on 16 M float32 values, beside a same-process memory
 * copy; the Ref twins run on a 1 M slice (they are plain scalar loops) and are reported per element.
 * Run: `npx tsx bench/run.ts bfp` (`LOWBIT_BENCH_QUICK=1` for a smoke run).
 */
import {
  type BlockFormat,
  dequantizeBlocks,
  dequantizeBlocksRef,
  quantizeBlocks,
  quantizeBlocksRef,
} from '../src/bfp/index.js';
import type { Float32Tensor } from '../src/common/tensor.js';
import { QUICK, runGroup } from './harness.js';

function data(n: number): Float32Tensor {
  const x = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const u = s / 4294967296 - 0.5;
    x[i] = u * (i % 97 === 0 ? 60 : 2); // a sprinkling of outliers
  }
  return { dtype: 'float32', data: x, shape: [n / 1024, 1024] };
}

export async function main(): Promise<void> {
  const n = QUICK ? 1 << 20 : 1 << 24;
  const nRef = QUICK ? 1 << 16 : 1 << 20;
  const x = data(n);
  const xr = data(nRef);
  const formats: BlockFormat[] = ['mxfp4', 'mxfp8_e4m3', 'bfp12'];
  for (const format of formats) {
    const opts = { format, blockSize: 32 } as const;
    const q = quantizeBlocks(x, opts);
    const out = new Float32Array(n);
    await runGroup({
      title: `${format} block 32, [${x.shape.join(', ')}] float32 → ${format}`,
      bytes: 4 * n,
      elements: n,
      runs: QUICK ? 3 : 10,
      cases: [
        { name: `quantizeBlocks ${format}`, fn: () => quantizeBlocks(x, opts) },
        { name: `dequantizeBlocks ${format} (into out)`, fn: () => dequantizeBlocks(q, out) },
      ],
    });
    const qr = quantizeBlocks(xr, opts);
    await runGroup({
      title: `${format} block 32, Ref twins on [${xr.shape.join(', ')}]`,
      bytes: 4 * nRef,
      elements: nRef,
      runs: QUICK ? 1 : 3,
      cases: [
        { name: `quantizeBlocks ${format}`, fn: () => quantizeBlocks(xr, opts) },
        { name: `quantizeBlocksRef ${format}`, fn: () => quantizeBlocksRef(xr, opts) },
        { name: `dequantizeBlocks ${format}`, fn: () => dequantizeBlocks(qr) },
        { name: `dequantizeBlocksRef ${format}`, fn: () => dequantizeBlocksRef(qr) },
      ],
    });
  }
}
