/**
 * A fixed workload over the browser-safe entry points (`common`, `kivi`, `bfp`, `mambaquant`, `mwq`),
 * run on each kernel backend, that returns an FNV-1a digest of every output. `browser.test.ts` runs it
 * in Node and, bundled for browsers, in headless Chromium: the digests must agree across engines and
 * backends (the wasm kernels are bit-identical to their JS twins). Inputs include ties on the 4-bit
 * grid, ±0, NaN / ±Inf blocks and blocks that need the encoders' 2^±64 pre-scale, ragged last blocks
 * and row lengths that are not a multiple of 4, so the wasm paths' rare branches run too.
 */
import * as bfp from '../../src/bfp/index.js';
import * as common from '../../src/common/index.js';
import { wasmKernels } from '../../src/common/kernels.js';
import * as kivi from '../../src/kivi/index.js';
import * as mambaquant from '../../src/mambaquant/index.js';
import * as mwq from '../../src/mwq/index.js';

/** FNV-1a (32-bit) of the bytes of a typed array, as 8 hex digits. */
function digest(a: ArrayBufferView): string {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Deterministic float32 data in [−4, 4) (an LCG), every 7th value on the 1/8 grid (ties for low bits). */
function data(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = (s / 2 ** 32) * 8 - 4;
    x[i] = i % 7 === 0 ? Math.floor(v * 8) / 8 : v;
  }
  return x;
}

/** Backend-independent facts about the engine, then `name → digest` for one backend. */
export interface ProbeResult {
  readonly simd: boolean;
  /** What `loadKernels()` resolved to. */
  readonly loaded: boolean;
  /** Whether `kernelMemory` hands out arrays in the kernels' memory. */
  readonly inPlace: boolean;
  readonly auto: 'js' | 'wasm';
  readonly digests: Record<'js' | 'wasm', Record<string, string>>;
}

function workload(): Record<string, string> {
  const d: Record<string, string> = {};
  const t = (a: Float32Array, shape: number[]) => ({ dtype: 'float32' as const, data: a, shape });
  // KIVI keys / values, 2- and 4-bit, G = 32; D = 36 (not a multiple of 16: ragged channel tails)
  for (const bits of [2, 4] as const) {
    const k = kivi.quantizeKeys(t(data(2 * 64 * 36, 1 + bits), [2, 64, 36]), { bits, groupSize: 32 });
    const v = kivi.quantizeValues(t(data(2 * 64 * 64, 2 + bits), [2, 64, 64]), { bits, groupSize: 32 });
    for (const [name, q] of [
      ['keys', k],
      ['values', v],
    ] as const) {
      d[`kivi${bits} ${name} codes`] = digest(q.codes);
      d[`kivi${bits} ${name} scales`] = digest(q.scales);
      d[`kivi${bits} ${name} mins`] = digest(q.mins);
      d[`kivi${bits} ${name} dequantized`] = digest(kivi.dequantize(q).data);
    }
  }
  // the 2-bit values again, from the kernels' own memory (kernelMemory) into outputs there: read in place
  const mem = common.kernelMemory(1 << 20);
  const vm = mem.float32(2 * 64 * 64);
  vm.set(data(2 * 64 * 64, 4));
  const out = { codes: mem.uint32(512), scales: mem.float32(256), mins: mem.float32(256) };
  const qm = kivi.quantizeValues(t(vm, [2, 64, 64]), { bits: 2, groupSize: 32, out });
  const dm = mem.float32(vm.length);
  d['kernel memory kivi2 values codes'] = digest(qm.codes);
  d['kernel memory kivi2 values dequantized'] = digest(kivi.dequantize(qm, dm).data);
  for (const a of [vm, out.codes, out.scales, out.mins, dm]) mem.release(a);
  // fused decode attention on packed codes (2 KV heads, GQA 2:1, a residual window)
  const cache = new kivi.KiviCache({ kvHeads: 2, headDim: 64, bits: 2, groupSize: 32, residualLength: 32 });
  cache.append(t(data(2 * 100 * 64, 11), [2, 100, 64]), t(data(2 * 100 * 64, 12), [2, 100, 64]));
  d['kivi attend'] = digest(cache.attend(t(data(4 * 64, 13), [4, 1, 64])).data);
  // MX / BFP blocks of 32 along rows of 130 (a ragged last block); special blocks in row 0
  const x = data(6 * 130, 21);
  x[3] = Number.NaN;
  x[40] = Number.POSITIVE_INFINITY;
  for (let i = 64; i < 96; i++) x[i] = (x[i] as number) * 1e-41; // float32 subnormals: pre-scaled by 2^64
  for (let i = 96; i < 128; i++) x[i] = (x[i] as number) * 8e37; // near the float32 max
  x[131] = -0;
  for (const format of ['mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2', 'bfp12', 'bfp16'] as const) {
    const b = bfp.quantizeBlocks(t(x, [6, 130]), { format, blockSize: 32 });
    d[`${format} scales`] = digest(b.scales);
    d[`${format} codes`] = digest(b.codes);
    d[`${format} decoded`] = digest(bfp.dequantizeBlocks(b).data);
  }
  // the common affine quantizer: 4-bit float zero point, groups of 48 on rows of 100 (ragged groups)
  const a = common.quantizeAffine(t(data(8 * 100, 31), [8, 100]), { bits: 4, axis: 1, groupSize: 48 });
  d['affine codes'] = digest(a.codes);
  d['affine scales'] = digest(a.scales);
  d['affine zeros'] = digest(a.zeros);
  d['affine dequantized'] = digest(common.dequantizeAffine(a).data);
  // FWHT (in place) at n = 256 and n = 12·16 (the Hadamard-12 path)
  d['fwht 256'] = digest(mambaquant.fwht(t(data(8 * 256, 41), [8, 256])).data);
  d['fwht 192'] = digest(mambaquant.fwht(t(data(8 * 192, 42), [8, 192])).data);
  // mwq: nested int8 weights, bit-plane GEMV reading 8, 4 and 2 planes
  const nw = mwq.quantizeNested(t(data(64 * 256, 51), [64, 256]), { scheme: 'truncate', bits: 8, groupSize: 128 });
  const xv = data(256, 52);
  for (const r of [8, 4, 2]) d[`mwq gemv r=${r}`] = digest(mwq.gemv(nw, xv, r));
  return d;
}

/**
 * Run the workload on the JS and the wasm backend (compiling the wasm module first) and restore 'auto'.
 *
 * @example
 * ```ts
 * const r = await probe(); // r.digests.js deep-equals r.digests.wasm
 * ```
 */
export async function probe(): Promise<ProbeResult> {
  const loaded = await common.loadKernels();
  const simd = common.wasmSimdSupported();
  const auto = common.activeKernelBackend();
  const digests = { js: {}, wasm: {} } as ProbeResult['digests'];
  try {
    for (const b of ['js', 'wasm'] as const) {
      if (b === 'wasm' && !simd) continue;
      common.setKernelBackend(b);
      if (b === 'wasm' && wasmKernels() === null) throw new Error('probe: no wasm kernels after loadKernels()');
      digests[b] = workload();
    }
  } finally {
    common.setKernelBackend('auto');
  }
  return { simd, loaded, inPlace: common.kernelMemory(1 << 20).inPlace, auto, digests };
}
