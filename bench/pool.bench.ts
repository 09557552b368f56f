/**
 * The worker pool (`lowbit/node` KernelPool, all cores: the calling thread + workers) against the same
 * public function on one thread, both on the wasm SIMD kernels, for every pooled kernel: KIVI
 * quantizeKeys / quantizeValues / dequantize (2/4-bit, G = 32), affine 4-bit (groups of 128), MX/BFP
 * blocks of 32 (mxfp4, mxfp8_e4m3, bfp12) and the FWHT (n = 4096). Each pooled kernel is measured with a
 * plain input (the pool copies the workers' share into shared memory) and with a `SharedArrayBuffer`
 * input (read in place); dequantizers write into a preallocated `out` (plain / shared). One-thread and
 * pooled runs alternate (so load drift on a shared machine hits both alike); medians; GB/s of float32
 * input (dequantize: output), the ratio to a same-process copy of the same bytes, the speed-up over one
 * thread and over the JS twin (3 runs). Then a size sweep of two kernels to place the pool threshold.
 * Full size `[32, 4096, 128]` (16.8 M elements); quick: `[8, 256, 128]`.
 */
import { dequantizeBlocks, quantizeBlocks } from '../src/bfp/quantize.js';
import { dequantizeAffine, quantizeAffine } from '../src/common/affine.js';
import { setKernelBackend } from '../src/common/kernels.js';
import { dequantize, type KiviBits, quantizeKeys, quantizeValues } from '../src/kivi/index.js';
import { fwht } from '../src/mambaquant/hadamard.js';
import { KernelPool } from '../src/node/index.js';
import { machineLine, QUICK } from './harness.js';

/**
 * Alternate `one` and `pool` runs (after warm-ups: V8 runs a new wasm function through its baseline
 * compiler for its first calls, about 10 calls of these kernels on this thread); medians in seconds.
 */
async function pair(one: () => unknown, pool: () => Promise<unknown>, runs: number): Promise<[number, number]> {
  for (let i = 0; i < (QUICK ? 2 : 12); i++) {
    one();
    await pool();
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    one();
    a.push(performance.now() - t0);
    t0 = performance.now();
    await pool();
    b.push(performance.now() - t0);
  }
  const med = (t: number[]): number => t.sort((x, y) => x - y)[Math.floor((t.length - 1) / 2)]! / 1e3;
  return [med(a), med(b)];
}

function lcg(n: number, seed: number): Float32Array {
  const d = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = (s / 4294967296) * 4 - 2;
  }
  return d;
}

function sharedCopy(a: Float32Array): Float32Array {
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

export async function main(): Promise<void> {
  setKernelBackend('wasm');
  const pool = await KernelPool.create({ minElements: 0, minElementsPlain: 0 }); // measure the split itself
  const H = QUICK ? 8 : 32;
  const T = QUICK ? 256 : 4096;
  const D = 128;
  const n = H * T * D;
  const shape = [H, T, D];
  const data = lcg(n, 12345);
  const x = { dtype: 'float32' as const, data, shape };
  const xs = { ...x, data: sharedCopy(data) };
  const out1 = new Float32Array(n);
  const outP = new Float32Array(n);
  const outS = new Float32Array(new SharedArrayBuffer(n * 4));
  const runs = QUICK ? 3 : 11;
  console.log(
    `\n# ${machineLine().replace('1 thread', `pool: ${pool.threads} threads (caller + ${pool.threads - 1} workers)`)}`,
  );
  console.log(
    `\n## worker pool vs one thread, wasm kernels, [${shape.join(', ')}] float32 (${(n * 4e-6).toFixed(1)} MB)`,
  );
  console.log(
    '| kernel | input | memcpy ms | JS twin ms | 1 thread ms | pool ms | pool GB/s | 1 thread ÷ copy | pool ÷ copy | pool × 1 thread | pool × JS twin |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const src = new Uint8Array(n * 4);
  const dst = new Uint8Array(n * 4);
  for (let i = 0; i < src.length; i += 4096) src[i] = i & 255;
  const median = (fn: () => unknown, reps: number): number => {
    const t: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      fn();
      t.push(performance.now() - t0);
    }
    return t.sort((a, b) => a - b)[Math.floor((reps - 1) / 2)]! / 1e3;
  };
  const row = async (name: string, kind: string, one: () => unknown, many: () => Promise<unknown>): Promise<void> => {
    const [t1, tp] = await pair(one, many, runs);
    const tc = median(() => dst.set(src), runs);
    setKernelBackend('js');
    one(); // warm-up of the JS twin
    const tj = median(one, QUICK ? 1 : 3);
    setKernelBackend('wasm');
    const ms = (t: number): string => (t * 1e3).toFixed(2);
    console.log(
      `| ${name} | ${kind} | ${ms(tc)} | ${ms(tj)} | ${ms(t1)} | ${ms(tp)} | ${((n * 4) / tp / 1e9).toFixed(2)} | ${(tc / t1).toFixed(2)} | ${(tc / tp).toFixed(2)} | ${(t1 / tp).toFixed(2)}× | ${(tj / tp).toFixed(1)}× |`,
    );
  };
  for (const bits of [2, 4] as KiviBits[]) {
    const o = { bits, groupSize: 32 };
    await row(
      `KIVI-${bits} quantizeKeys`,
      'plain',
      () => quantizeKeys(x, o),
      () => pool.quantizeKeys(x, o),
    );
    await row(
      `KIVI-${bits} quantizeKeys`,
      'shared',
      () => quantizeKeys(x, o),
      () => pool.quantizeKeys(xs, o),
    );
    await row(
      `KIVI-${bits} quantizeValues`,
      'plain',
      () => quantizeValues(x, o),
      () => pool.quantizeValues(x, o),
    );
    await row(
      `KIVI-${bits} quantizeValues`,
      'shared',
      () => quantizeValues(x, o),
      () => pool.quantizeValues(xs, o),
    );
    const qk = quantizeKeys(x, o);
    const qv = quantizeValues(x, o);
    await row(
      `KIVI-${bits} dequantize keys`,
      'plain out',
      () => dequantize(qk, out1),
      () => pool.dequantize(qk, outP),
    );
    await row(
      `KIVI-${bits} dequantize keys`,
      'shared out',
      () => dequantize(qk, out1),
      () => pool.dequantize(qk, outS),
    );
    await row(
      `KIVI-${bits} dequantize values`,
      'plain out',
      () => dequantize(qv, out1),
      () => pool.dequantize(qv, outP),
    );
    await row(
      `KIVI-${bits} dequantize values`,
      'shared out',
      () => dequantize(qv, out1),
      () => pool.dequantize(qv, outS),
    );
  }
  const ao = { bits: 4, axis: -1, groupSize: 128 };
  await row(
    'affine 4-bit quantize',
    'plain',
    () => quantizeAffine(x, ao),
    () => pool.quantizeAffine(x, ao),
  );
  await row(
    'affine 4-bit quantize',
    'shared',
    () => quantizeAffine(x, ao),
    () => pool.quantizeAffine(xs, ao),
  );
  const qa = quantizeAffine(x, ao);
  await row(
    'affine 4-bit dequantize',
    'new output',
    () => dequantizeAffine(qa),
    () => pool.dequantizeAffine(qa),
  );
  for (const format of ['mxfp4', 'mxfp8_e4m3', 'bfp12'] as const) {
    const qb = quantizeBlocks(x, { format, blockSize: 32 });
    const bo = { format, blockSize: 32, out: { scales: qb.scales.slice(), codes: qb.codes.slice() } };
    await row(
      `${format} quantizeBlocks`,
      'plain',
      () => quantizeBlocks(x, bo),
      () => pool.quantizeBlocks(x, bo),
    );
    await row(
      `${format} quantizeBlocks`,
      'shared',
      () => quantizeBlocks(x, bo),
      () => pool.quantizeBlocks(xs, bo),
    );
    await row(
      `${format} dequantizeBlocks`,
      'plain out',
      () => dequantizeBlocks(qb, out1),
      () => pool.dequantizeBlocks(qb, outP),
    );
    await row(
      `${format} dequantizeBlocks`,
      'shared out',
      () => dequantizeBlocks(qb, out1),
      () => pool.dequantizeBlocks(qb, outS),
    );
  }
  const fr = n / 4096;
  const f1 = { dtype: 'float32' as const, data: out1, shape: [fr, 4096] };
  const fp = { dtype: 'float32' as const, data: outP, shape: [fr, 4096] };
  const fs = { dtype: 'float32' as const, data: outS, shape: [fr, 4096] };
  await row(
    'FWHT n = 4096 (in place)',
    'plain',
    () => fwht(f1),
    () => pool.fwht(fp),
  );
  await row(
    'FWHT n = 4096 (in place)',
    'shared',
    () => fwht(f1),
    () => pool.fwht(fs),
  );

  // threshold: pool speed-up by size, plain and shared input
  console.log('\n## pool speed-up by tensor size (rows of 128 channels; speed-up = 1 thread ms ÷ pool ms)');
  console.log('| elements | KIVI-2 quantizeValues, plain | shared | mxfp4 quantizeBlocks, plain | shared |');
  console.log('|---|---|---|---|---|');
  for (const e of QUICK
    ? [1 << 14, 1 << 18]
    : [1 << 16, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22, 1 << 23, 1 << 24]) {
    const cells: string[] = [];
    const reps = Math.max(runs, Math.min(200, Math.floor((1 << 24) / e)));
    const o = { bits: 2 as const, groupSize: 32 };
    const bo = { format: 'mxfp4' as const, blockSize: 32 };
    for (const which of ['kivi', 'mx'] as const)
      for (const src of [data, xs.data]) {
        const t = { dtype: 'float32' as const, data: src.subarray(0, e), shape: [e / 128, 128] };
        const [a, b] =
          which === 'kivi'
            ? await pair(
                () => quantizeValues(t, o),
                () => pool.quantizeValues(t, o),
                reps,
              )
            : await pair(
                () => quantizeBlocks(t, bo),
                () => pool.quantizeBlocks(t, bo),
                reps,
              );
        cells.push(`${(a / b).toFixed(2)}× (${(a * 1e3).toFixed(2)} / ${(b * 1e3).toFixed(2)} ms)`);
      }
    console.log(`| ${e} | ${cells.join(' | ')} |`);
  }
  await pool.close();
  setKernelBackend('auto');
}
