/**
 * wasm SIMD kernels vs their JS twins vs memcpy: KIVI keys/values quantize (2/4/8-bit, G = 32, float32
 * metadata, half-even) and dequantize, the common affine quantizer (4-bit float zero point, groups of 128 on the
 * last axis), the FWHT at n = 4096 and the MX/BFP block kernels (mxfp4, mxfp8_e4m3/e5m2, bfp12/16; blocks of
 * 32 on the last axis, half-even, into preallocated outputs). Each row is the public function with the backend forced by
 * `setKernelBackend`; GB/s are of float32 input bytes (dequantize: of float32 output bytes). KIVI and
 * affine rows write into preallocated outputs ("into out", like the dequantize and MX rows) and, for
 * comparison, into outputs allocated per call ("new outputs"). Single thread; the worker pool is
 * measured in pool.bench.ts. The "kernel memory" rows run the same public function with the input and
 * outputs allocated by `kernelMemory` (lowbit/common: the kernels' own memory, any engine), which the
 * kernels read and write in place (no copy in or out of the module's memory). The encoders' groups also
 * time the plain path's copy of the input into a wasm memory alone ("copy-in alone"): plain ≈ that +
 * kernel memory.
 * Full size: a KV cache layer `[32, 4096, 128]` (16.8 M elements, 67 MB); quick: `[8, 512, 128]`.
 */
import { dequantizeBlocks, quantizeBlocks } from '../src/bfp/quantize.js';
import { dequantizeAffine, quantizeAffine } from '../src/common/affine.js';
import { type KernelBackend, kernelMemory, setKernelBackend, WasmKernels } from '../src/common/kernels.js';
import { dequantize, type KiviBits, quantizeKeys, quantizeValues } from '../src/kivi/index.js';
import { fwht } from '../src/mambaquant/hadamard.js';
import { lcgData, QUICK, runGroup } from './harness.js';

function withBackend<T>(b: KernelBackend, fn: () => T): () => T {
  return () => {
    setKernelBackend(b);
    try {
      return fn();
    } finally {
      setKernelBackend('auto');
    }
  };
}

/**
 * What a plain-array encoder does before its kernel runs: the input copied into a wasm memory in the
 * wrappers' chunks (`WasmKernels.CHUNK` float32 elements, 256 KB: they stay in L2), by the same
 * `TypedArray.set`. A plain row takes about this plus the kernel-memory row (the kernel on data that needs no
 * copy): one thread cannot overlap the two, as a wasm kernel cannot read a JS array.
 */
function copyIn(src: Float32Array): () => void {
  const chunk = WasmKernels.CHUNK;
  // (the project's TS lib has no WebAssembly globals: the constructor is typed here)
  const W = (
    globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }
  ).WebAssembly;
  const mem = new Float32Array(new W.Memory({ initial: Math.ceil((chunk * 4) / 65536) }).buffer);
  return () => {
    for (let o = 0; o < src.length; o += chunk) mem.set(src.subarray(o, o + chunk));
  };
}

export async function main(): Promise<void> {
  const H = QUICK ? 8 : 32;
  const T = QUICK ? 512 : 4096;
  const D = 128;
  const n = H * T * D;
  const data = lcgData(n, 12345);
  const x = { dtype: 'float32' as const, data, shape: [H, T, D] };
  const shape = `[${H}, ${T}, ${D}]`;
  // arrays in the kernels' own memory (about 19 bytes per element in all): read and written in place
  const mem = kernelMemory(20 * n);
  const xm = { ...x, data: mem.float32(n) };
  xm.data.set(data);
  const outM = mem.float32(n);
  const inMem = 'wasm SIMD, kernel memory (in place)';
  const cin = { name: 'copy-in alone (what plain adds)', fn: copyIn(data), baseline: true };
  for (const bits of [2, 4, 8] as KiviBits[]) {
    const o = { bits, groupSize: 32 };
    // preallocated outputs (opts.out), as the dequantize rows write into `out`; the "new outputs" rows
    // allocate them per call (fresh memory: its first touch costs page faults, which vary by machine)
    const kOut = quantizeKeys(x, o);
    const ko = { ...o, out: { codes: kOut.codes, scales: kOut.scales, mins: kOut.mins } };
    const vOut = quantizeValues(x, o);
    const vo = { ...o, out: { codes: vOut.codes, scales: vOut.scales, mins: vOut.mins } };
    const km = {
      ...o,
      out: {
        codes: mem.uint32(kOut.codes.length),
        scales: mem.float32(kOut.scales.length),
        mins: mem.float32(kOut.mins.length),
      },
    };
    const vm = {
      ...o,
      out: {
        codes: mem.uint32(vOut.codes.length),
        scales: mem.float32(vOut.scales.length),
        mins: mem.float32(vOut.mins.length),
      },
    };
    await runGroup({
      title: `KIVI-${bits} quantizeKeys ${shape}, G = 32`,
      bytes: n * 4,
      elements: n,
      twin: 'JS kernel (into out)',
      cases: [
        { name: 'wasm SIMD (into out)', fn: withBackend('wasm', () => quantizeKeys(x, ko)) },
        { name: 'wasm SIMD (new outputs)', fn: withBackend('wasm', () => quantizeKeys(x, o)) },
        { name: inMem, fn: () => quantizeKeys(xm, km) },
        cin,
        { name: 'JS kernel (into out)', fn: withBackend('js', () => quantizeKeys(x, ko)) },
      ],
    });
    await runGroup({
      title: `KIVI-${bits} quantizeValues ${shape}, G = 32`,
      bytes: n * 4,
      elements: n,
      twin: 'JS kernel (into out)',
      cases: [
        { name: 'wasm SIMD (into out)', fn: withBackend('wasm', () => quantizeValues(x, vo)) },
        { name: 'wasm SIMD (new outputs)', fn: withBackend('wasm', () => quantizeValues(x, o)) },
        { name: inMem, fn: () => quantizeValues(xm, vm) },
        cin,
        { name: 'JS kernel (into out)', fn: withBackend('js', () => quantizeValues(x, vo)) },
      ],
    });
    const qk = quantizeKeys(x, o);
    const qv = quantizeValues(x, o);
    const qkm = quantizeKeys(xm, km);
    const qvm = quantizeValues(xm, vm);
    const out = new Float32Array(n);
    await runGroup({
      title: `KIVI-${bits} dequantize keys ${shape} (GB/s of float32 output)`,
      bytes: n * 4,
      elements: n,
      twin: 'JS kernel',
      cases: [
        { name: 'wasm SIMD', fn: withBackend('wasm', () => dequantize(qk, out)) },
        { name: inMem, fn: () => dequantize(qkm, outM) },
        { name: 'JS kernel', fn: withBackend('js', () => dequantize(qk, out)) },
      ],
    });
    await runGroup({
      title: `KIVI-${bits} dequantize values ${shape} (GB/s of float32 output)`,
      bytes: n * 4,
      elements: n,
      twin: 'JS kernel',
      cases: [
        { name: 'wasm SIMD', fn: withBackend('wasm', () => dequantize(qv, out)) },
        { name: inMem, fn: () => dequantize(qvm, outM) },
        { name: 'JS kernel', fn: withBackend('js', () => dequantize(qv, out)) },
      ],
    });
  }
  const ao = { bits: 4, axis: -1, groupSize: 128 };
  const qa = quantizeAffine(x, ao);
  const aoo = { ...ao, out: { codes: qa.codes.slice(), scales: qa.scales.slice(), zeros: qa.zeros.slice() } };
  const aom = {
    ...ao,
    out: {
      codes: mem.uint8(qa.codes.length),
      scales: mem.float32(qa.scales.length),
      zeros: mem.float32(qa.zeros.length),
    },
  };
  const qam = quantizeAffine(xm, aom);
  await runGroup({
    title: `quantizeAffine 4-bit float zero point ${shape}, groups of 128 on the last axis`,
    bytes: n * 4,
    elements: n,
    twin: 'JS kernel (into out)',
    cases: [
      { name: 'wasm SIMD (into out)', fn: withBackend('wasm', () => quantizeAffine(x, aoo)) },
      { name: 'wasm SIMD (new outputs)', fn: withBackend('wasm', () => quantizeAffine(x, ao)) },
      { name: inMem, fn: () => quantizeAffine(xm, aom) },
      cin,
      { name: 'JS kernel (into out)', fn: withBackend('js', () => quantizeAffine(x, aoo)) },
    ],
  });
  const fx = new Float32Array(n);
  await runGroup({
    title: `FWHT n = 4096 (in place), ${n / 4096} rows`,
    bytes: n * 4,
    elements: n,
    twin: 'JS kernel',
    cases: [
      {
        name: 'wasm SIMD',
        fn: withBackend('wasm', () => fwht({ dtype: 'float32', data: fx, shape: [n / 4096, 4096] })),
      },
      { name: inMem, fn: () => fwht({ dtype: 'float32', data: outM, shape: [n / 4096, 4096] }) },
      { name: 'JS kernel', fn: withBackend('js', () => fwht({ dtype: 'float32', data: fx, shape: [n / 4096, 4096] })) },
    ],
  });
  const aOut = new Float32Array(n);
  await runGroup({
    title: `dequantizeAffine 4-bit ${shape} (GB/s of float32 output)`,
    bytes: n * 4,
    elements: n,
    twin: 'JS kernel (into out)',
    cases: [
      { name: 'wasm SIMD (into out)', fn: withBackend('wasm', () => dequantizeAffine(qa, aOut)) },
      { name: 'wasm SIMD (new output)', fn: withBackend('wasm', () => dequantizeAffine(qa)) },
      { name: inMem, fn: () => dequantizeAffine(qam, outM) },
      { name: 'JS kernel (into out)', fn: withBackend('js', () => dequantizeAffine(qa, aOut)) },
    ],
  });

  // MX / BFP blocks of 32 along the last axis (also mxfp8_e5m2, bfp16), into preallocated scales/codes and out
  for (const format of ['mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2', 'bfp12', 'bfp16'] as const) {
    const qb = quantizeBlocks(x, { format, blockSize: 32 });
    const bo = { format, blockSize: 32, out: { scales: qb.scales.slice(), codes: qb.codes.slice() } };
    const bm = {
      format,
      blockSize: 32,
      out: { scales: mem.uint8(qb.scales.length), codes: mem.uint8(qb.codes.length) },
    };
    const qbm = quantizeBlocks(xm, bm);
    await runGroup({
      title: `${format} quantizeBlocks ${shape}, blocks of 32 (into out)`,
      bytes: n * 4,
      elements: n,
      twin: 'JS kernel',
      cases: [
        { name: 'wasm SIMD', fn: withBackend('wasm', () => quantizeBlocks(x, bo)) },
        { name: inMem, fn: () => quantizeBlocks(xm, bm) },
        cin,
        { name: 'JS kernel', fn: withBackend('js', () => quantizeBlocks(x, bo)) },
      ],
    });
    const bout = new Float32Array(n);
    await runGroup({
      title: `${format} dequantizeBlocks ${shape} (GB/s of float32 output, into out)`,
      bytes: n * 4,
      elements: n,
      twin: 'JS kernel',
      cases: [
        { name: 'wasm SIMD', fn: withBackend('wasm', () => dequantizeBlocks(qb, bout)) },
        { name: inMem, fn: () => dequantizeBlocks(qbm, outM) },
        { name: 'JS kernel', fn: withBackend('js', () => dequantizeBlocks(qb, bout)) },
      ],
    });
  }
}
