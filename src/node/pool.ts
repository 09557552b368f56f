/**
 * A persistent worker pool (Node only: `worker_threads` + `SharedArrayBuffer`) that splits the large
 * tensors of the wasm SIMD kernels across cores: KIVI quantize / dequantize, the common affine quantizer,
 * MX/BFP block encode / decode, the power-of-two FWHT and the bit-plane GEMV / GEMM of mwq (by output
 * rows; {@link KernelPool.nestedWeights} keeps a weight store in the pool memory, read in place) and the
 * fused KIVI decode attention of a cache kept in the pool memory (`new KiviCache({ …, arrays: pool })`;
 * by query rows, whole KV heads per part).
 *
 * How a pooled call works: the pool runs the ordinary public function with the kernel layer swapped
 * for a recorder ({@link withWasmKernels}), so the function validates its input, allocates its outputs
 * and names the kernel calls it would make, with their geometry, exactly as single-threaded. The pool
 * then cuts each call on group / block / row boundaries into parts and runs them on the calling thread
 * and in the workers (each worker compiled the same wasm module once at start-up): when every array is
 * shared, 8 parts per thread that the threads claim from a shared counter as they go; otherwise one
 * contiguous share per thread, the workers' outputs copied back into the function's outputs. The workers
 * wait in `Atomics.wait` on a shared bell, not in their event loops; the pool rings it before it cuts a
 * call (the wake-up overlaps that work) and writes the job into the worker's shared job buffer (posting it
 * only when it names other shared buffers or does not fit). Every part runs the same kernel on the same
 * bytes, so results are byte-identical to the single-threaded call (tested), including the output array
 * types (ordinary typed arrays).
 *
 * Pool memory: every thread's kernels run on one shared WebAssembly memory (the kernels' shared-memory
 * build), which also holds arrays the pool hands out ({@link KernelPool.float32}, `uint32`, `uint8`;
 * give them back with {@link KernelPool.release}). The kernels read and write such arrays in place — no
 * copy into or out of the kernels' memory, on the calling thread or in a worker — so a tensor kept there,
 * with its outputs passed as `out`, is the fastest input of every pooled function (measured on 2 cores:
 * 1.6–1.9× one thread on the same arrays at 16.8 M elements, and the one-thread pool itself reads its
 * input in place: KIVI-2 quantizeValues 0.76–0.86× of a memory copy against 0.5–0.58× from a plain array).
 * Other inputs work too: `SharedArrayBuffer`-backed arrays are read by the workers directly (each thread
 * copies its share into its kernels' scratch), plain arrays have the workers' spans copied into mirrors in
 * the pool memory first and their outputs copied back. Calls below `minElements` (float32 data shared or in
 * the pool memory; default {@link DEFAULT_POOL_MIN_ELEMENTS}) or `minElementsPlain` (float32 data plain;
 * default {@link DEFAULT_POOL_MIN_ELEMENTS_PLAIN}) run on the calling thread (on the pool memory's kernels
 * when an array is there), as do configurations the wasm kernels do not cover; engines without
 * WebAssembly SIMD and `setKernelBackend('js')` run the single-threaded function. Invalid input always
 * ends in the single-threaded function, which throws the documented `LowbitError`. The calling thread
 * computes its share synchronously (like the single-threaded function, it is busy for that time), then
 * waits for the workers on shared flags.
 *
 * Exposed: KernelPool, KernelPoolOptions, DEFAULT_POOL_MIN_ELEMENTS, DEFAULT_POOL_MIN_ELEMENTS_PLAIN.
 * @module
 */
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { BlockTensor, QuantizeBlocksOptions } from '../bfp/index.js';
import { dequantizeBlocks, quantizeBlocks } from '../bfp/index.js';
import type { AffineOptions, AffineQuantized } from '../common/affine.js';
import { dequantizeAffine, quantizeAffine } from '../common/affine.js';
import { Arena } from '../common/arena.js';
import { check } from '../common/errors.js';
import { type KiviAttendArgs, WasmKernels, wasmKernels, withWasmKernels } from '../common/kernels.js';
import { KERNELS_WASM_BASE64 } from '../common/kernels-wasm.generated.js';
import type { Float32Tensor } from '../common/tensor.js';
import type { KiviQuantizeOptions } from '../kivi/index.js';
import {
  dequantize,
  type KiviAttendOptions,
  type KiviCache,
  type QuantizedKeys,
  type QuantizedValues,
  quantizeKeys,
  quantizeValues,
} from '../kivi/index.js';
import type { FwhtOptions } from '../mambaquant/index.js';
import { fwht } from '../mambaquant/index.js';
import { gemm, gemv, NestedWeights } from '../mwq/index.js';
import { KERNELS_SHARED_WASM_BASE64 } from './kernels-shared-wasm.generated.js';

/**
 * Elements below which the pool runs a call on the calling thread when its float32 input / output is in
 * the pool memory or another `SharedArrayBuffer` (plain code / metadata arrays are fine: the workers'
 * shares of them are copied, a small cost). Measured on a 2-core machine (`bench/pool.bench.ts`, size
 * sweep of KIVI-2 quantizeValues and MXFP4 quantizeBlocks, two runs on 2026-11-29 07:48 / 07:50 UTC, jobs
 * in the workers' shared job buffers): pool memory 0.81–1.27× at 1 M elements, 1.22–1.49× at 2 M,
 * 1.47–1.69× at 4 M; other shared arrays 0.83–1.28× at 1 M, 1.06–1.58× at 2 M, 1.48–1.68× at 4 M — so
 * 2 M, the smallest size at which every cell of both runs gained.
 *
 * @example
 * ```ts
 * const pool = await KernelPool.create({ minElements: DEFAULT_POOL_MIN_ELEMENTS * 4 });
 * ```
 */
export const DEFAULT_POOL_MIN_ELEMENTS = 1 << 21;

/**
 * Elements below which the pool runs a call on the calling thread when its float32 input or output is a
 * plain array (≥ 2 bytes per element that the calling thread copies for the workers' shares first, and
 * back). Measured as above, plain arrays did not pay on 2 cores: 0.41–0.63× at 1 M, 0.81–0.96× at 8 M,
 * 0.94–1.01× at 16.8 M (0.81–1.17× over all pooled kernels at 16.8 M) — so the default pools only
 * tensors of 32 M elements and more; keep large tensors in the pool memory instead.
 *
 * @example
 * ```ts
 * const pool = await KernelPool.create({ minElementsPlain: DEFAULT_POOL_MIN_ELEMENTS_PLAIN * 2 });
 * ```
 */
export const DEFAULT_POOL_MIN_ELEMENTS_PLAIN = 1 << 25;

/**
 * Options of {@link KernelPool.create}.
 *
 * @example
 * ```ts
 * const opts: KernelPoolOptions = { threads: 2, minElements: 1 << 20, minElementsPlain: 1 << 23 };
 * ```
 */
export interface KernelPoolOptions {
  /** Threads that run kernels, the calling thread included (default `availableParallelism()`); `threads − 1` workers are started. */
  readonly threads?: number;
  /** Calls whose float32 data is shared run single-threaded below this (default {@link DEFAULT_POOL_MIN_ELEMENTS}). */
  readonly minElements?: number;
  /** Calls with plain (non-shared) float32 input or output run single-threaded below this (default {@link DEFAULT_POOL_MIN_ELEMENTS_PLAIN}). */
  readonly minElementsPlain?: number;
}

type Arr = Float32Array | Uint32Array | Uint8Array | Float64Array;
type Arg = number | boolean | Arr;
/** One kernel call: a {@link WasmKernels} method name and its arguments. */
interface Call {
  m: string;
  a: Arg[];
}
/** A range of elements of the array argument `i` that a part reads (`inp`) and/or writes (`out`). */
interface Io {
  i: number;
  lo: number;
  hi: number;
  inp: boolean;
  out: boolean;
}
/** A part of a call: its own arguments (offsets / counts / subarray views) and the ranges it touches. */
interface Part {
  m: string;
  a: Arg[];
  io: Io[];
  n: number;
}

const io = (i: number, lo: number, hi: number, inp: boolean, out: boolean): Io => ({ i, lo, hi, inp, out });
const num = (a: Arg[], i: number): number => a[i] as number;
const arr = (a: Arg[], i: number): Arr => a[i] as Arr;

/**
 * Parts per thread of a call whose arrays are all shared (the threads claim them, see {@link claim}); a
 * static split cuts one part per thread. Measured on 2 cores, 16.8 M elements in the pool memory, ten
 * kernels, claimed vs static split alternating in one process, mean speed-up over one thread: 8 per
 * thread 1.65 → 1.70, 1.67 → 1.74, 1.69 → 1.74; 4 per thread 1.39 → 1.54, 1.64 → 1.66; 16 per thread
 * 1.57 → 1.64; 32 per thread 1.68 → 1.61 (docs/performance.md).
 */
const PARTS_PER_THREAD = 8;

/**
 * Kernels cut into fewer parts per thread when the threads claim them. The bit-plane GEMV builds its
 * input vectors' subset-sum tables (1 MB at in = 4096) in every part: one part per thread (measured, 2
 * threads, [4096, 4096] matquant, everything in the pool memory, pooled ms at levels 2 / 4 / 8: 16 parts
 * 5.68 / 8.06 / 9.66, 8 parts 5.78 / 8.57 / 10.38, 4 parts 6.11 / 8.26 / 10.42, 2 parts 3.91 / 5.72 /
 * 7.80). The fused attention likewise (a part sets up its tiles and walks every key block for its rows:
 * 16 claimed parts of 2 query rows ran at 0.79–0.94× of one thread, T = 2048–4096).
 */
const PARTS_PER_THREAD_OF: Readonly<Record<string, number>> = { gemvBitPlanes: 1, kiviAttendFlat: 1 };

/**
 * Bytes up to which a read-only array that is not shared (the MX decoder's 16-value table) is copied into
 * the pool memory for a call, so that the call's parts can still be claimed (see `#shareSmall`).
 */
const SMALL_BYTES = 4096;

/**
 * End of the run of parts that a claim at `i` of `n` takes with `k` threads: guided self-scheduling, a
 * 1/(2k) share of what is left (at least one part), so runs shrink towards the end. Self-contained (the
 * workers get its source text).
 */
function claimEnd(i: number, n: number, k: number): number {
  return i + Math.max(1, Math.floor((n - i) / (2 * k)));
}

/**
 * Claim the next run of parts from the shared counter `flags[at]` (parts [i, claimEnd(i, n, k))); −1
 * when none are left. Self-contained (the workers get its source text).
 */
function claim(flags: Int32Array, at: number, n: number, k: number): number {
  for (;;) {
    const i = Atomics.load(flags, at);
    if (i >= n) return -1;
    if (Atomics.compareExchange(flags, at, i, claimEnd(i, n, k)) === i) return i;
  }
}

/** Cut [0, units) into at most k nearly equal ranges [start, count]. */
function ranges(units: number, k: number): [number, number][] {
  const out: [number, number][] = [];
  const per = Math.ceil(units / Math.max(1, k));
  for (let u = 0; u < units; u += per) out.push([u, Math.min(per, units - u)]);
  return out;
}

/**
 * Parts of a "lines of `len`, groups of `gs`" kernel (affine, MX): whole lines when there are enough,
 * else runs of whole groups of one line (of an even element count when `even`, for 4-bit codes). Per
 * part: [first element, elements, first group, groups, lines, line length].
 */
function lineParts(lines: number, len: number, gs: number, k: number, even: boolean): number[][] {
  const ng = Math.ceil(len / gs);
  if (lines >= k || ng === 1)
    return ranges(lines, k).map(([l0, nl]) => [l0 * len, nl * len, l0 * ng, nl * ng, nl, len]);
  const out: number[][] = [];
  let step = Math.ceil(ng / Math.ceil(k / lines));
  if (even && (step * gs) % 2 === 1) step++;
  for (let l = 0; l < lines; l++)
    for (let g0 = 0; g0 < ng; g0 += step) {
      const n = Math.min(len - g0 * gs, step * gs);
      out.push([l * len + g0 * gs, n, l * ng + g0, Math.min(step, ng - g0), 1, n]);
    }
  return out;
}

/**
 * Splitter of a "lines" kernel (arrays indexed from 0; `lines` and `len` at argument positions 1 and 2,
 * the group size at `gsAt`): each array argument is sliced per part by its kind — `'x'` one element per
 * value, `'g'` one per group, `'c'` codes of `w` bits per value (`w` at argument `wAt`, else 8), `'t'`
 * whole (a table) — and is read (`inp`) or written.
 */
function linesSplit(
  m: string,
  gsAt: number,
  arrays: [at: number, kind: 'x' | 'g' | 'c' | 't', inp: boolean][],
  wAt = -1,
): (a: Arg[], k: number) => Part[] {
  return (a, k) => {
    const w = wAt < 0 ? 8 : num(a, wAt);
    return lineParts(num(a, 1), num(a, 2), num(a, gsAt), k, w === 4).map(([e0, n, s0, ns, nl, len]) => {
      const b = a.slice();
      b[1] = nl!;
      b[2] = len!;
      const ios: Io[] = [];
      for (const [at, kind, inp] of arrays) {
        const x = arr(a, at);
        const [lo, cnt] =
          kind === 'x'
            ? [e0!, n!]
            : kind === 'g'
              ? [s0!, ns!]
              : kind === 'c'
                ? [(e0! * w) / 8, (n! * w) / 8]
                : [0, x.length];
        if (kind !== 't') b[at] = x.subarray(lo, lo + cnt);
        ios.push(io(at, 0, cnt, inp, !inp));
      }
      return { m, a: b, n: n!, io: ios };
    });
  };
}

/** Argument positions of a KIVI wrapper (see {@link kiviSplit}). */
interface KiviPos {
  x: number;
  xOff: number;
  n: number;
  d: number;
  c: number;
  cOff: number;
  s: number;
  mOff: number;
}
// quantizers (x, xOff, n, D, bits, G, lim, codes, cOff, scales, mins, mOff);
// dequantizers (codes, cOff, scales, mins, mOff, n, D, bits, G, out, oOff)
const KQ: KiviPos = { x: 0, xOff: 1, n: 2, d: 3, c: 7, cOff: 8, s: 9, mOff: 11 };
const KD: KiviPos = { x: 9, xOff: 10, n: 5, d: 6, c: 0, cOff: 1, s: 2, mOff: 4 };

/**
 * Splitter of a KIVI kernel into runs of tokens (values: any token; keys: whole token groups of G): the
 * token count at `n`, D, bits and G at `d`, `d + 1`, `d + 2`; the float32 array and its offset at
 * `x`/`xOff`, codes at `c`/`cOff`, scales and mins at `s`, `s + 1` with their offset at `mOff`. Token t's
 * codes start at word t·D/f and its metadata at t·D/G in both layouts.
 */
function kiviSplit(m: string, quant: boolean, p: KiviPos, perGroup: boolean): (a: Arg[], k: number) => Part[] {
  return (a, k) => {
    const [D, f, G] = [num(a, p.d), 32 / num(a, p.d + 1), num(a, p.d + 2)];
    const unit = perGroup ? G : 1;
    return ranges(num(a, p.n) / unit, k).map(([u0, nu]) => {
      const [t0, nt] = [u0 * unit, nu * unit];
      const b = a.slice();
      b[p.n] = nt;
      b[p.xOff] = num(a, p.xOff) + t0 * D;
      b[p.cOff] = num(a, p.cOff) + (t0 * D) / f;
      b[p.mOff] = num(a, p.mOff) + (t0 * D) / G;
      const [x0, c0, m0] = [num(b, p.xOff), num(b, p.cOff), num(b, p.mOff)];
      const nm = (nt * D) / G;
      return {
        m,
        a: b,
        n: nt * D,
        io: [
          io(p.x, x0, x0 + nt * D, quant, !quant),
          io(p.c, c0, c0 + (nt * D) / f, !quant, quant),
          io(p.s, m0, m0 + nm, !quant, quant),
          io(p.s + 1, m0, m0 + nm, !quant, quant),
        ],
      };
    });
  };
}

/**
 * Splitter of the bit-plane GEMV by output rows, in runs of 32 (each run starts on a plane word): a part
 * reads its rows' words of each plane, their group scales / zeros / level scales and every input vector,
 * and writes its rows of each output vector.
 */
function gemvSplit(a: Arg[], k: number): Part[] {
  const [W, rows, cols, G, P] = [num(a, 1), num(a, 2), num(a, 3), num(a, 4), num(a, 5)];
  const [baseP, B, r0, r1] = [num(a, 10), num(a, 15), num(a, 17), num(a, 18)];
  const gpr = cols / G;
  const nL = a[9] === true ? Math.max(0, P - baseP) : 0;
  return ranges(Math.ceil((r1 - r0) / 32), k).map(([u0, nu]) => {
    const [o0, o1] = [r0 + u0 * 32, Math.min(r1, r0 + (u0 + nu) * 32)];
    const b = a.slice();
    b[17] = o0;
    b[18] = o1;
    const [w0, w1] = [(o0 * cols) / 32, Math.ceil((o1 * cols) / 32)];
    const ios: Io[] = [io(6, 0, P, true, false), io(14, 0, B * cols, true, false)];
    for (let p = 0; p < P; p++) ios.push(io(0, p * W + w0, p * W + w1, true, false));
    ios.push(io(11, o0 * gpr, o1 * gpr, true, false), io(12, o0 * gpr, o1 * gpr, true, false));
    for (let l = 0; l < nL; l++) ios.push(io(13, l * rows * gpr + o0 * gpr, l * rows * gpr + o1 * gpr, true, false));
    for (let v = 0; v < B; v++) ios.push(io(16, v * rows + o0, v * rows + o1, false, true));
    return { m: 'gemvBitPlanes', a: b, n: (o1 - o0) * cols, io: ios };
  });
}

/**
 * Splitter of the fused KIVI attention (its flat argument list, {@link WasmKernels.attendFlat}) by query
 * rows: a part reads its rows of q and the whole cache (residuals, every key block and value chunk) and
 * writes its rows of out. Elements (for the pool's threshold): half the cache's T·H·D — a pooled step
 * costs this VM about 1 ms more than a split quantizer call (wake-ups, the join, more to cut and post):
 * with 32 query / 8 KV heads of 128, 2 threads against one on the same cache, T = 1024 0.96–1.03×, 2048
 * 0.72–1.40×, 4096 1.04–1.72× (several runs), so the default `minElements` (2 M) pools T ≥ 4096 there.
 */
function attendSplit(a: Arg[], k: number): Part[] {
  const P = WasmKernels.ATTEND_AT;
  const cache = attendCacheArgs(a);
  // a cache in ordinary arrays is not split (no parts: the call runs on the calling thread) — copying it
  // to a worker costs more than the worker saves (measured: docs/performance.md, session 6)
  if (!cache.every((i) => arr(a, i).buffer instanceof SharedArrayBuffer)) return [];
  const [D, T, H, lo, hi] = [num(a, P.D), num(a, P.T), num(a, P.H), num(a, P.rowLo), num(a, P.rowHi)];
  // whole KV heads per part when the call covers whole heads (a head's key blocks and value rows are then
  // read by one part, for all its query rows)
  const perKv = (num(a, P.heads) / H) * num(a, P.m);
  const unit = lo % perKv === 0 && hi % perKv === 0 ? perKv : 1;
  return ranges((hi - lo) / unit, k).map(([u0, nu]) => {
    const [r0, r1] = [lo + u0 * unit, lo + (u0 + nu) * unit];
    const nr = r1 - r0;
    const b = a.slice();
    b[P.rowLo] = r0;
    b[P.rowHi] = r1;
    const ios: Io[] = [io(P.q, r0 * D, r1 * D, true, false), io(P.out, r0 * D, r1 * D, false, true)];
    for (const i of cache) ios.push(io(i, 0, arr(a, i).length, true, false));
    return { m: 'kiviAttendFlat', a: b, n: Math.floor((T * H * D * nr) / (2 * (hi - lo))), io: ios };
  });
}

/** Positions of an attention call's cache arrays (residuals, key blocks, value chunks: all but q and out). */
function attendCacheArgs(a: Arg[]): number[] {
  const P = WasmKernels.ATTEND_AT;
  const at: number[] = [P.kRes, P.vRes];
  for (let i = P.blocks; i < a.length; i++) at.push(i);
  return at;
}

/** How each pooled kernel splits into parts (keyed by {@link WasmKernels} method name). */
const SPLIT: Record<string, (a: Arg[], k: number) => Part[]> = {
  kiviValuesQuant: kiviSplit('kiviValuesQuant', true, KQ, false),
  kiviKeysQuant: kiviSplit('kiviKeysQuant', true, KQ, true),
  kiviValuesDequant: kiviSplit('kiviValuesDequant', false, KD, false),
  kiviKeysDequant: kiviSplit('kiviKeysDequant', false, KD, true),
  // (x, lines, len, gs, qmax, codes, scales, zeros)
  affineFloatQuant: linesSplit('affineFloatQuant', 3, [
    [0, 'x', true],
    [5, 'x', false],
    [6, 'g', false],
    [7, 'g', false],
  ]),
  // (codes, lines, len, gs, scales, zeros, out)
  affineFloatDequant: linesSplit('affineFloatDequant', 3, [
    [0, 'x', true],
    [4, 'g', true],
    [5, 'g', true],
    [6, 'x', false],
  ]),
  // (data, offset, rows, n, normalize, scale): in place
  fwhtPow2: (a, k) => {
    const [off, n] = [num(a, 1), num(a, 3)];
    return ranges(num(a, 2), k).map(([r0, nr]) => {
      const b = a.slice();
      b[1] = off + r0 * n;
      b[2] = nr;
      return { m: 'fwhtPow2', a: b, n: nr * n, io: [io(0, num(b, 1), num(b, 1) + nr * n, true, true)] };
    });
  },
  // (x, rows, len, bs, kind, mbits, bias, emax, maxCode, w, scales, codes)
  mxEncode: linesSplit(
    'mxEncode',
    3,
    [
      [0, 'x', true],
      [10, 'g', false],
      [11, 'c', false],
    ],
    9,
  ),
  // (planes, W, rows, cols, G, P, wt, andW, off, residual, baseP, scales, zeros, levelScales, xs, B, out, r0, r1)
  gemvBitPlanes: gemvSplit,
  // WasmKernels.attendFlat's list
  kiviAttendFlat: attendSplit,
  // (codes, rows, len, bs, kind, mbits, bias, specials, w, scales, table, out)
  mxDecode: linesSplit(
    'mxDecode',
    3,
    [
      [0, 'c', true],
      [9, 'g', true],
      [10, 't', true],
      [11, 'x', false],
    ],
    8,
  ),
};

/** A kernel layer that records the calls of the kernels in {@link SPLIT} (and reports success). */
function recorder(calls: Call[]): WasmKernels {
  const rec: Record<string, (...a: Arg[]) => boolean> = {};
  for (const m of Object.keys(SPLIT))
    rec[m] = (...a: Arg[]): boolean => {
      calls.push({ m, a });
      return true;
    };
  // the attention's arguments are an object: recorded as its flat list
  rec.kiviAttend = (...a: unknown[]): boolean => {
    const args = a[0] as KiviAttendArgs;
    const [lo, hi] = [(a[1] as number | undefined) ?? 0, (a[2] as number | undefined) ?? args.heads * args.m];
    calls.push({ m: 'kiviAttendFlat', a: WasmKernels.attendFlat(args, lo, hi) });
    return true;
  };
  // kernels the pool does not split report "not run": the function takes its JS path, single-threaded
  return new Proxy(rec, {
    get: (t, m) => (typeof m === 'string' && m in t ? t[m] : () => false),
  }) as unknown as WasmKernels;
}

/**
 * A typed array in a message: its shared buffer (null: the pool's memory, read in place by the worker's
 * kernels), byte offset, length and element type.
 */
export type WireArr = [SharedArrayBuffer | null, number, number, 0 | 1 | 2 | 3];
export type WireArg = number | boolean | WireArr;

/**
 * Float64 words of each worker's job buffer (128 KB): a job of parts whose arrays are all in the pool
 * memory is written there instead of posted (no structured clone on the calling thread, none to read in
 * the worker); about 480 KIVI parts fit, larger jobs and jobs naming other shared buffers are posted.
 */
export const JOB_WORDS = 1 << 14;

/**
 * How long (ms) a worker woken ahead of a job waits for it before it blocks again: the pool rings the
 * workers' bells before it cuts a call into parts, so that their wake-up overlaps that work.
 */
const WAKE_WAIT_MS = 0.5;

/** The kernels a job names, by index (the same list on both sides: the workers get it as `names`). */
const METHODS = Object.keys(SPLIT);
const METHOD_INDEX = new Map(METHODS.map((m, i) => [m, i]));

/**
 * Write a job — claim counter `c` and its parts — into `job`: [1, c, parts, then per part: method index,
 * argument count, per argument a tag (0 number, 1 boolean, 2 array in the pool memory) and its value(s)].
 * False (nothing marked written) when an array is in another buffer or the job does not fit. Internal
 * (exported for the tests, not from `lowbit/node`).
 */
export function writeJob(
  job: Float64Array,
  c: number,
  parts: [string, WireArg[]][],
  methods: Map<string, number>,
): boolean {
  let p = 3;
  for (const [m, args] of parts) {
    if (p + 2 + 4 * args.length > job.length) return false;
    job[p++] = methods.get(m)!;
    job[p++] = args.length;
    for (const v of args) {
      if (typeof v === 'number') {
        job[p++] = 0;
        job[p++] = v;
      } else if (typeof v === 'boolean') {
        job[p++] = 1;
        job[p++] = v ? 1 : 0;
      } else {
        if (v[0] !== null) return false;
        job[p++] = 2;
        job[p++] = v[1];
        job[p++] = v[2];
        job[p++] = v[3];
      }
    }
  }
  job[1] = c;
  job[2] = parts.length;
  job[0] = 1;
  return true;
}

/**
 * Read back what {@link writeJob} wrote: [c, parts]. Self-contained (the workers get its source text).
 * Internal (exported for the tests).
 */
export function readJob(job: Float64Array, names: string[]): [number, [string, WireArg[]][]] {
  const parts: [string, WireArg[]][] = [];
  let p = 3;
  for (let i = 0; i < job[2]!; i++) {
    const m = names[job[p++]!]!;
    const n = job[p++]!;
    const args: WireArg[] = [];
    for (let j = 0; j < n; j++) {
      const t = job[p++];
      if (t === 0) args.push(job[p++]!);
      else if (t === 1) args.push(job[p++] === 1);
      else {
        args.push([null, job[p]!, job[p + 1]!, job[p + 2] as 0 | 1 | 2 | 3]);
        p += 3;
      }
    }
    parts.push([m, args]);
  }
  return [job[1]!, parts];
}

function workerSource(): string {
  return `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
// helpers some transpilers (esbuild keepNames, as in tsx) insert into class source text
const __name = (target) => target;
const __defProp = Object.defineProperty;
const __publicField = (obj, key, value) => __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value });
const WasmKernels = (${WasmKernels.toString()});
const bin = Buffer.from(workerData.b64, 'base64');
// every kernel compiled by the optimizing compiler up front (see optimizedInstance)
const v8 = require('node:v8');
v8.setFlagsFromString('--no-liftoff');
v8.setFlagsFromString('--no-wasm-lazy-compilation');
let mod;
try {
  mod = new WebAssembly.Module(bin);
} finally {
  for (const f of workerData.restore) v8.setFlagsFromString(f);
}
const memory = workerData.memory;
const inst = new WebAssembly.Instance(mod, { env: { memory } });
const k = new WasmKernels(inst.exports, workerData.slot);
const T = [Float32Array, Uint32Array, Uint8Array, Float64Array];
const done = workerData.done;
const me = workerData.index;
const run = ([m, args]) => k[m](...args.map((v) => (Array.isArray(v) ? new T[v[3]](v[0] ?? memory.buffer, v[1], v[2]) : v)));
const claimEnd = ${claimEnd.toString()};
const claim = ${claim.toString()};
const readJob = ${readJob.toString()};
// [c, parts]: c < 0, run all parts; else claim them from the counter done[c] with the calling thread
// reply (flag and message): 1 + 2 × the parts run, or 2 when a kernel reported failure
const handle = ([c, parts]) => {
  let ok = true;
  let ran = 0;
  if (c < 0) {
    for (const p of parts) if ((ok = run(p))) ran++; else break;
  } else
    for (let i = claim(done, c, parts.length, workerData.threads); ok && i >= 0; i = claim(done, c, parts.length, workerData.threads))
      for (let e = claimEnd(i, parts.length, workerData.threads); ok && i < e; i++)
        if ((ok = run(parts[i]))) ran++;
        else Atomics.store(done, c, parts.length); // the others stop claiming
  const flag = ok ? 1 + 2 * ran : 2;
  // the calling thread may be blocked in Atomics.wait on this slot: wake it first, then the message
  Atomics.store(done, me, flag);
  Atomics.notify(done, me);
  parentPort.postMessage(flag);
};
// blocked on the bell (not in the event loop: a wake costs no event-loop turn); rung ahead of a job, it
// waits up to ${WAKE_WAIT_MS} ms for the job; the job is in the shared job buffer or, when it names other
// shared buffers or does not fit, in a message
const { ctl, job, names } = workerData;
const bell = 2 * me;
let rung = 0;
let handled = 0;
for (;;) {
  while (Atomics.load(ctl, bell) === rung) Atomics.wait(ctl, bell, rung);
  rung = Atomics.load(ctl, bell);
  const until = performance.now() + ${WAKE_WAIT_MS};
  while (Atomics.load(ctl, bell + 1) === handled && performance.now() < until);
  while (handled < Atomics.load(ctl, bell + 1)) {
    handled++;
    handle(job[0] === 1 ? readJob(job, names) : receiveMessageOnPort(parentPort).message);
    rung = Atomics.load(ctl, bell); // (the job's own ring: no second wait for a job)
  }
}
`;
}

/**
 * The V8 flags that put baseline compilation back after the optimized compile: V8's defaults, except
 * where the process was started with the opposite flag (then that one).
 */
function restoreFlags(): string[] {
  const argv = process.execArgv;
  const pick = (on: string, off: string): string => (argv.includes(off) ? off : on);
  return [pick('--liftoff', '--no-liftoff'), pick('--wasm-lazy-compilation', '--no-wasm-lazy-compilation')];
}

/** A shared WebAssembly memory (the slice of the API used here). */
interface SharedMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmCtors {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => SharedMemory;
}
const wasmCtors = (): WasmCtors => (globalThis as unknown as { WebAssembly: WasmCtors }).WebAssembly;

/** Pages (64 KB) of the pool's memory: at most 2 GB, the kernels' 32-bit offsets. */
const MAX_PAGES = 32768;
/** Where the threads' scratch slots start (above the module's static data). */
const SLOTS_AT = 1 << 20;
/**
 * Bytes of scratch per thread: 32 MB up to 16 threads, then 512 MB shared out (at least 1 MB). The
 * decoders' chunks are budgeted to 6 MB (`WasmKernels.deqChunk`); the bit-plane GEMV needs 2 KB of tables
 * per 8 input columns, so 8 MB slots sent a 28 672-column GEMV (a 70B-class FFN down projection) to the
 * JS twin; 32 MB hold about 110 K columns, as a `kernelMemory` reservation does on one thread.
 */
function slotBytes(threads: number): number {
  return Math.max(1 << 20, Math.min(32 << 20, Math.floor((512 << 20) / threads / 65536) * 65536));
}

/**
 * The kernels compiled by V8's optimizing compiler up front: the shared-memory module on `memory` with
 * scratch in `slot`, or (no memory) the ordinary module on its own memory — copies between plain arrays
 * and non-shared memory are plain memmoves, while V8 copies to or from shared memory with relaxed atomic
 * word copies (measured: KIVI-2 keys staged from a plain array, 6.9 vs 8.7 ms per 67 MB). By default V8
 * runs new wasm code through its baseline compiler (Liftoff) and tiers hot functions up later; measured
 * here, pool workers kept running baseline code (their shares took 1.45× the time of the same share on the
 * tiered-up calling thread, 18 vs 12 ms of an FWHT), so the pool compiles its instances — the workers' and
 * its own — with the baseline compiler and lazy compilation switched off for the duration of the compile
 * (V8 flags are process-wide; {@link restoreFlags} puts them back right after).
 */
function optimizedInstance(memory?: SharedMemory, slot?: [number, number]): WasmKernels {
  const bin = Buffer.from(memory === undefined ? KERNELS_WASM_BASE64 : KERNELS_SHARED_WASM_BASE64, 'base64');
  const W = wasmCtors();
  setFlagsFromString('--no-liftoff');
  setFlagsFromString('--no-wasm-lazy-compilation');
  let mod: object;
  try {
    mod = new W.Module(bin);
  } finally {
    for (const f of restoreFlags()) setFlagsFromString(f);
  }
  const inst = new W.Instance(mod, memory === undefined ? {} : { env: { memory } });
  const x = inst.exports as unknown as ConstructorParameters<typeof WasmKernels>[0];
  if (memory !== undefined && x.heapBase() > SLOTS_AT)
    throw new Error("KernelPool: the kernels' static data overlaps the scratch slots");
  return new WasmKernels(x, slot);
}

/**
 * A worker and the replies it owes, in the order its jobs were posted (one reply per job), so a call
 * can return on the workers' completion flags before their messages arrive.
 */
class Link {
  readonly worker: Worker;
  readonly #waiting: { resolve: (flag: number) => void; reject: (e: Error) => void }[] = [];
  #closing = false;
  /** [bell, jobs posted] of every worker (this one's at 2 × index). */
  readonly #ctl: Int32Array;
  readonly #bell: number;
  readonly #job: Float64Array;

  constructor(worker: Worker, ctl: Int32Array, index: number, job: Float64Array) {
    this.worker = worker;
    this.#ctl = ctl;
    this.#bell = 2 * index;
    this.#job = job;
    worker.on('message', (flag: number) => {
      this.#waiting.shift()?.resolve(flag);
      // idle workers do not keep the process alive (but a closing one does, until it has exited)
      if (this.#waiting.length === 0 && !this.#closing) worker.unref();
    });
    worker.on('error', (e: Error) => {
      for (const r of this.#waiting.splice(0)) r.reject(e);
    });
    worker.unref();
  }

  /**
   * Terminate the worker. It stays ref'd until it has exited: a late reply to the last job must not
   * unref it, or a top-level `await pool.close()` sees the event loop run empty (Node exit code 13).
   */
  close(): Promise<number> {
    this.#closing = true;
    this.worker.ref();
    return this.worker.terminate();
  }

  /**
   * Post a job — its parts, and the index of the claim counter in the flags (−1: run every part); resolves
   * with the worker's reply to it (1 + 2 × the parts it ran, or 2: a kernel reported failure).
   */
  post(parts: [string, WireArg[]][], claimAt = -1): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.worker.ref();
      if (!writeJob(this.#job, claimAt, parts, METHOD_INDEX)) {
        this.#job[0] = 0;
        this.worker.postMessage([claimAt, parts]);
      }
      Atomics.add(this.#ctl, this.#bell + 1, 1);
      this.wake();
    });
  }

  /** Ring the worker's bell: it wakes (if blocked) and waits briefly for a job (see {@link WAKE_WAIT_MS}). */
  wake(): void {
    Atomics.add(this.#ctl, this.#bell, 1);
    Atomics.notify(this.#ctl, this.#bell);
  }
}

/**
 * A pool of worker threads that runs the wasm SIMD kernels of large calls in parallel (Node only).
 *
 * @example
 * ```ts
 * import { KernelPool } from 'lowbit/node';
 * const pool = await KernelPool.create(); // once; reuse for every call
 * const q = await pool.quantizeValues(v, { bits: 2, groupSize: 32 }); // same bytes as quantizeValues
 * const vHat = await pool.dequantize(q);
 * const b = await pool.quantizeBlocks(x, { format: 'mxfp4', blockSize: 32 });
 * // fastest: the tensor and the outputs in the pool memory (read and written in place by every thread)
 * const data = pool.float32(v.data.length);
 * data.set(v.data);
 * const out = { codes: pool.uint32(q.codes.length), scales: pool.float32(q.scales.length), mins: pool.float32(q.mins.length) };
 * await pool.quantizeValues({ ...v, data }, { bits: 2, groupSize: 32, out });
 * await pool.close();
 * ```
 */
export class KernelPool {
  /** Threads that run kernels, the calling thread included. */
  readonly threads: number;
  /** Calls with fewer elements run single-threaded. */
  readonly minElements: number;
  /** Calls with plain (non-shared) arrays and fewer elements run single-threaded. */
  readonly minElementsPlain: number;
  readonly #workers: Link[];
  /** This thread's kernels (optimized up front), for its share and for calls under the threshold. */
  readonly #local: WasmKernels | null;
  /** The same on the pool memory, for calls that touch arrays allocated there. */
  readonly #home: WasmKernels | null;
  /** The memory every thread's kernels run on, and its allocator (null without wasm SIMD). */
  readonly #memory: SharedMemory | null;
  readonly #arena: Arena | null;
  /** Buffers of the pool memory that arrays handed out view (one per size the memory had). */
  readonly #mine = new WeakSet<object>();
  #closed = false;
  /**
   * Grow-only mirrors in the pool memory (one per distinct non-shared buffer of a call), reused: the
   * workers' kernels read and write them in place.
   */
  #scratch: Uint8Array[] = [];
  /** Grow-only region in the pool memory for a call's small read-only arrays (see {@link #shareSmall}). */
  #small: Uint8Array | null = null;
  /** Calls run one at a time (they share the scratch buffers). */
  #lock: Promise<void> = Promise.resolve();
  /**
   * Shared with the workers: per worker, 0 while its job runs, then 1 + 2 × the parts it ran or 2 (a kernel
   * failed); the last slot is the claim counter of a call whose parts the threads claim.
   */
  readonly #done: Int32Array;
  #lastParts = 0;
  #lastShares: number[] = [];

  /**
   * Diagnostics: how many parts the last call was split into (0: it ran single-threaded — below
   * `minElements`, no wasm kernel for its configuration, or invalid input).
   *
   * @example
   * ```ts
   * await pool.quantizeBlocks(x, { format: 'mxfp4', blockSize: 32 });
   * pool.lastParts; // 2 on a 2-core machine for a large x
   * ```
   */
  get lastParts(): number {
    return this.#lastParts;
  }

  /**
   * Diagnostics: how many of the last call's parts each thread ran — the workers in order, the calling
   * thread last (empty when it ran single-threaded). A call whose arrays are all shared (the pool memory,
   * `SharedArrayBuffer`s) is cut into 8 parts per thread that the threads claim as they go, so a thread
   * that starts late or runs slower takes fewer; other calls are cut into one part per thread.
   *
   * @example
   * ```ts
   * await pool.quantizeValues({ ...v, data: pool.float32(v.data.length) }, { bits: 2, groupSize: 32 });
   * pool.lastShares; // e.g. [7, 9] on 2 cores: the worker ran 7 parts, the calling thread 9
   * ```
   */
  get lastShares(): readonly number[] {
    return this.#lastShares;
  }

  private constructor(
    done: Int32Array,
    workers: Link[],
    local: [WasmKernels, WasmKernels] | null,
    memory: SharedMemory | null,
    arenaAt: number,
    threads: number,
    min: [number, number],
  ) {
    this.#workers = workers;
    this.#done = done;
    [this.#local, this.#home] = local ?? [null, null];
    this.#memory = memory;
    this.#arena =
      memory === null
        ? null
        : new Arena(
            memory,
            arenaAt,
            MAX_PAGES,
            (b) => `KernelPool: ${b} more bytes do not fit in the pool's 2 GB memory`,
          );
    this.threads = threads;
    [this.minElements, this.minElementsPlain] = min;
  }

  /**
   * Start `threads − 1` workers (each compiles the wasm module once). Resolves when all are ready.
   *
   * @example
   * ```ts
   * const pool = await KernelPool.create({ threads: 2 });
   * ```
   */
  static async create(opts: KernelPoolOptions = {}): Promise<KernelPool> {
    const threads = opts.threads ?? Math.max(1, availableParallelism());
    check(
      Number.isSafeInteger(threads) && threads >= 1 && threads <= 256,
      'E_CONFIG',
      () => `KernelPool.create: threads must be an integer in 1..256, got ${threads}`,
    );
    const min: [number, number] = [
      opts.minElements ?? DEFAULT_POOL_MIN_ELEMENTS,
      opts.minElementsPlain ?? DEFAULT_POOL_MIN_ELEMENTS_PLAIN,
    ];
    for (const [i, name] of ['minElements', 'minElementsPlain'].entries())
      check(
        Number.isSafeInteger(min[i]) && min[i]! >= 0,
        'E_CONFIG',
        () => `KernelPool.create: ${name} must be a non-negative integer, got ${min[i]}`,
      );
    const workers: Link[] = [];
    const done = new Int32Array(new SharedArrayBuffer(4 * threads));
    if (wasmKernels() === null) return new KernelPool(done, workers, null, null, 0, 1, min);
    // one shared memory: [static data | a scratch slot per thread | arrays handed out by the pool]
    const S = slotBytes(threads);
    const slot = (i: number): [number, number] => [SLOTS_AT + i * S, SLOTS_AT + (i + 1) * S];
    const arenaAt = SLOTS_AT + threads * S;
    const memory = new (wasmCtors().Memory)({ initial: arenaAt / 65536, maximum: MAX_PAGES, shared: true });
    const local: [WasmKernels, WasmKernels] = [optimizedInstance(), optimizedInstance(memory, slot(0))];
    const src = workerSource();
    const ctl = new Int32Array(new SharedArrayBuffer(8 * threads));
    for (let i = 1; i < threads; i++) {
      const job = new Float64Array(new SharedArrayBuffer(8 * JOB_WORDS));
      const workerData = {
        b64: KERNELS_SHARED_WASM_BASE64,
        restore: restoreFlags(),
        memory,
        slot: slot(i),
        done,
        index: i - 1,
        threads,
        ctl,
        job,
        names: METHODS,
      };
      workers.push(new Link(new Worker(src, { eval: true, workerData }), ctl, i - 1, job));
    }
    // a round trip proves each worker compiled the module
    await Promise.all(workers.map((w) => w.post([])));
    return new KernelPool(done, workers, local, memory, arenaAt, threads, min);
  }

  /** A zero-filled array of `n` elements in the pool memory. */
  #alloc<A extends Arr>(C: new (b: SharedArrayBuffer, o: number, n: number) => A, n: number, what: string): A {
    check(!this.#closed, 'E_CONFIG', 'KernelPool: the pool is closed');
    check(
      Number.isSafeInteger(n) && n >= 0 && n * 4 <= 2 ** 31,
      'E_CONFIG',
      () => `KernelPool.${what}: n must be an integer in 0..2^29, got ${n}`,
    );
    const mem = this.#memory;
    if (mem === null || n === 0) return new C(new SharedArrayBuffer(0), 0, 0);
    const at = this.#arena!.alloc(n * (C as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
    const buf = mem.buffer;
    this.#mine.add(buf);
    this.#home!.adopt(buf);
    return new C(buf, at, n);
  }

  /**
   * A zero-filled `Float32Array` of `n` elements in the pool's shared memory. The pool's kernels read and
   * write such arrays in place — no copies in or out, on this thread and in the workers — so a tensor
   * held here (and the outputs given as `out`) is the fastest input for every pooled function; any
   * other code can use it like a plain array. Give it back with {@link KernelPool.release}. Without
   * WebAssembly SIMD (no pool memory) it is an ordinary shared array.
   *
   * @example
   * ```ts
   * const x = pool.float32(32 * 4096 * 128);
   * x.set(kvLayer); // fill it once
   * const q = await pool.quantizeValues({ dtype: 'float32', data: x, shape: [32, 4096, 128] }, { bits: 2, groupSize: 32 });
   * pool.release(x);
   * ```
   */
  float32(n: number): Float32Array {
    return this.#alloc(Float32Array, n, 'float32');
  }

  /**
   * A zero-filled `Uint32Array` in the pool memory (as {@link KernelPool.float32}), e.g. KIVI codes given as `out`.
   *
   * @example
   * ```ts
   * const codes = pool.uint32(q.codes.length);
   * ```
   */
  uint32(n: number): Uint32Array {
    return this.#alloc(Uint32Array, n, 'uint32');
  }

  /**
   * A zero-filled `Uint8Array` in the pool memory (as {@link KernelPool.float32}), e.g. MX codes / scales.
   *
   * @example
   * ```ts
   * const scales = pool.uint8(b.scales.length);
   * ```
   */
  uint8(n: number): Uint8Array {
    return this.#alloc(Uint8Array, n, 'uint8');
  }

  /**
   * Whether `a` views the pool memory (an array from {@link KernelPool.float32} and friends, or a view of one).
   *
   * @example
   * ```ts
   * pool.owns(pool.float32(8)); // true
   * pool.owns(new Float32Array(8)); // false
   * ```
   */
  owns(a: ArrayBufferView): boolean {
    return this.#mine.has(a.buffer);
  }

  /**
   * A copy of the bit-nested weights `nw` (mwq) whose planes, scales and level scales live in the pool
   * memory: {@link KernelPool.gemv} / `gemm` then read them in place on every thread (no copy per call),
   * and so does the single-threaded `gemv` through this pool ({@link KernelPool} with `threads: 1`).
   * Serves the same levels with the same bytes. Give it back with {@link KernelPool.release}.
   *
   * @example
   * ```ts
   * const resident = pool.nestedWeights(nw); // once, e.g. when a layer is loaded
   * const y = await pool.gemv(resident, x, 4); // same bytes as gemv(nw, x, 4)
   * pool.release(resident);
   * ```
   */
  nestedWeights(nw: NestedWeights): NestedWeights {
    check(nw instanceof NestedWeights, 'E_CONFIG', 'KernelPool.nestedWeights: expected a NestedWeights');
    const d = nw.data;
    const got: (Float32Array | Uint32Array)[] = [];
    const copy = <A extends Float32Array | Uint32Array>(a: A, alloc: (n: number) => A): A => {
      const b = alloc(a.length);
      got.push(b);
      b.set(a as never);
      return b;
    };
    try {
      const planes = copy(d.planes, (n) => this.uint32(n));
      const scales = copy(d.scales, (n) => this.float32(n));
      const zeros = copy(d.zeros, (n) => this.float32(n));
      const levelScales = copy(d.levelScales, (n) => this.float32(n));
      return new NestedWeights({ ...d, planes, scales, zeros, levelScales }, nw.fitReport);
    } catch (e) {
      for (const b of got) this.release(b); // (E_LIMIT past 2 GB: nothing stays allocated)
      throw e;
    }
  }

  /**
   * Give back an array from {@link KernelPool.float32} / `uint32` / `uint8` (the whole array as returned,
   * not a subarray), or the weights from {@link KernelPool.nestedWeights}; its memory is reused by later
   * allocations, so stop using it. Throws `E_CONFIG` for any other array or one already released.
   *
   * @example
   * ```ts
   * const x = pool.float32(1024);
   * pool.release(x);
   * ```
   */
  release(a: Float32Array | Uint32Array | Uint8Array | NestedWeights): void {
    if (a instanceof NestedWeights) {
      const d = a.data;
      for (const v of [d.planes, d.scales, d.zeros, d.levelScales]) this.release(v);
      return;
    }
    if (a.length === 0 && !this.#mine.has(a.buffer)) return;
    check(
      this.#mine.has(a.buffer) && this.#arena!.release(a.byteOffset),
      'E_CONFIG',
      'KernelPool.release: not an array allocated by this pool (or released already)',
    );
  }

  /**
   * Bytes of pool memory handed out and not yet released.
   *
   * @example
   * ```ts
   * pool.bytesInUse; // 0 after every array was released
   * ```
   */
  get bytesInUse(): number {
    return this.#arena?.used ?? 0;
  }

  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('KernelPool: the pool is closed');
    const prev = this.#lock;
    let release!: () => void;
    this.#lock = new Promise<void>((r) => {
      release = r;
    });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /**
   * Run the public function `fn` with its kernel calls split across the threads. `fn` must return
   * right after its (recorded) kernel calls; its outputs are filled before the promise resolves.
   */
  #pooled<T>(fn: () => T): Promise<T> {
    return this.#exclusive(async () => {
      this.#lastParts = 0;
      this.#lastShares = [];
      const wk = this.#local;
      if (wk === null || wasmKernels() === null) return fn();
      const calls: Call[] = [];
      const res = withWasmKernels(recorder(calls), fn);
      // bytes of plain (non-shared) arrays the workers' shares would copy in or out (no workers: not needed)
      let total = 0;
      let plainBytes = 0;
      const wholes: (Part | undefined)[] = [];
      if (this.#workers.length > 0)
        for (const c of calls) {
          const whole = SPLIT[c.m]!(c.a, 1)[0];
          wholes.push(whole);
          if (whole === undefined) continue;
          total += whole.n;
          for (const r of whole.io) {
            const x = arr(whole.a, r.i);
            if (!(x.buffer instanceof SharedArrayBuffer)) plainBytes += (r.hi - r.lo) * x.BYTES_PER_ELEMENT;
          }
        }
      // a float32 tensor to copy (≥ 2 bytes per element) makes the call "plain"; small code/metadata outputs do not
      const min = plainBytes >= 2 * total ? this.minElementsPlain : this.minElements;
      if (total < min || total === 0 || this.#workers.length === 0) {
        for (const c of calls) if (!this.#kernels(c.a)[c.m]!(...c.a)) return fn();
        return res;
      }
      if (await this.#execute(calls, wholes)) return res;
      this.#lastParts = 0;
      this.#lastShares = [];
      return fn(); // again, single-threaded: throws the documented error
    });
  }

  /** This thread's kernels for a call's arguments: on the pool memory when one of them is there. */
  #kernels(a: Arg[]): Record<string, (...a: Arg[]) => boolean> {
    const home = a.some((v) => typeof v === 'object' && this.#mine.has(v.buffer));
    return (home ? this.#home : this.#local) as unknown as Record<string, (...a: Arg[]) => boolean>;
  }

  /**
   * Replace the calls' small read-only arrays that are not shared (at most {@link SMALL_BYTES} each, e.g.
   * the MX decoder's 16-value table) with copies in the pool memory, so that a call whose other arrays
   * are shared can still be claimed by every thread.
   */
  #shareSmall(calls: Call[], wholes: (Part | undefined)[]): void {
    const picks: [Call, number][] = [];
    let need = 0;
    for (const [k, c] of calls.entries()) {
      const whole = wholes[k];
      c.a.forEach((v, i) => {
        if (typeof v !== 'object' || v.buffer instanceof SharedArrayBuffer || v.byteLength > SMALL_BYTES) return;
        if (whole === undefined || whole.io.some((r) => r.i === i && r.out)) return;
        picks.push([c, i]);
        need += (v.byteLength + 15) & ~15;
      });
    }
    if (picks.length === 0 || need > 16 * SMALL_BYTES) return;
    if (this.#small === null || this.#small.byteLength < need) {
      if (this.#small !== null) this.#arena!.release(this.#small.byteOffset);
      const at = this.#arena!.alloc(need); // (may grow the memory: take its buffer after)
      const buf = this.#memory!.buffer;
      this.#mine.add(buf);
      this.#home!.adopt(buf);
      this.#small = new Uint8Array(buf, at, need);
    }
    let off = this.#small.byteOffset;
    for (const [c, i] of picks) {
      const v = c.a[i] as Arr;
      const C = v.constructor as new (b: ArrayBufferLike, o: number, n: number) => Arr;
      const copy = new C(this.#small.buffer, off, v.length);
      copy.set(v as never);
      c.a[i] = copy;
      off += (v.byteLength + 15) & ~15;
    }
  }

  /**
   * Split the calls into parts, run them (workers + this thread), copy the outputs back. `wholes`: each
   * call as one part (its ranges), as {@link KernelPool.#pooled} measured it.
   */
  async #execute(calls: Call[], wholes: (Part | undefined)[]): Promise<boolean> {
    const k = this.#workers.length + 1;
    for (const w of this.#workers) w.wake(); // their wake-up overlaps the cutting and posting below
    this.#shareSmall(calls, wholes);
    // every array shared (the pool memory or a SharedArrayBuffer): any thread can run any part, so the
    // threads claim parts from a counter (a late or slowed thread takes fewer); else one part per thread
    const dynamic = calls.every((c) =>
      c.a.every((v) => typeof v !== 'object' || v.buffer instanceof SharedArrayBuffer),
    );
    const parts: Part[] = [];
    for (const c of calls) {
      const want = dynamic ? (PARTS_PER_THREAD_OF[c.m] ?? PARTS_PER_THREAD) * k : k;
      parts.push(...SPLIT[c.m]!(c.a, calls.length >= want ? 1 : Math.ceil(want / calls.length)));
    }
    if (dynamic) return this.#claimed(parts);
    // contiguous runs of parts of about equal element counts, one per thread; the last runs here
    let total = 0;
    for (const p of parts) total += p.n;
    const share: Part[][] = Array.from({ length: k }, () => []);
    let acc = 0;
    for (const p of parts) {
      share[Math.min(k - 1, Math.floor((acc + p.n / 2) / (total / k)))]!.push(p);
      acc += p.n;
    }
    // mirrors in the pool memory of the spans of non-shared buffers that the workers' arrays cover (reused)
    const span = new Map<ArrayBufferLike, [number, number]>();
    for (let w = 0; w < k - 1; w++)
      for (const p of share[w]!)
        for (const v of p.a) {
          if (typeof v !== 'object' || v.buffer instanceof SharedArrayBuffer) continue;
          const s = span.get(v.buffer);
          const lo = v.byteOffset & ~15; // keep the mirror views aligned like the originals
          const hi = v.byteOffset + v.byteLength;
          span.set(v.buffer, s === undefined ? [lo, hi] : [Math.min(s[0], lo), Math.max(s[1], hi)]);
        }
    const mirror = new Map<ArrayBufferLike, [Uint8Array, number]>();
    for (const [buf, [lo, hi]] of span) {
      const slot = mirror.size;
      let m = this.#scratch[slot];
      if (m === undefined || m.byteLength < hi - lo) {
        if (m !== undefined) this.#arena!.release(m.byteOffset);
        const at = this.#arena!.alloc(hi - lo); // (may grow the memory: take its buffer after)
        m = this.#scratch[slot] = new Uint8Array(this.#memory!.buffer, at, hi - lo);
      }
      mirror.set(buf, [m, lo]);
    }
    /** Copy a byte range between an original buffer and its mirror. */
    const copy = (x: Arr, r: Io, toMirror: boolean): void => {
      const off = x.byteOffset + r.lo * x.BYTES_PER_ELEMENT;
      const len = (r.hi - r.lo) * x.BYTES_PER_ELEMENT;
      const [m, lo] = mirror.get(x.buffer)!;
      const orig = new Uint8Array(x.buffer, off, len);
      const mir = new Uint8Array(m.buffer, m.byteOffset + off - lo, len);
      if (toMirror) mir.set(orig);
      else orig.set(mir);
    };
    this.#lastParts = parts.length;
    const runs: Promise<number>[] = [];
    const busy: number[] = [];
    for (let w = 0; w < k - 1; w++) {
      const mine = share[w]!;
      if (mine.length === 0) continue;
      const msg: [string, WireArg[]][] = [];
      for (const p of mine) {
        const a = p.a.map((v) => (typeof v === 'object' ? this.#wire(v, mirror) : v));
        for (const r of p.io) {
          const x = arr(p.a, r.i);
          if (r.inp && !(x.buffer instanceof SharedArrayBuffer)) copy(x, r, true);
        }
        msg.push([p.m, a]);
      }
      runs.push(this.#post(w, msg));
      busy.push(w);
    }
    let ok = true;
    const t0 = performance.now();
    for (const p of share[k - 1]!) if (ok) ok = this.#kernels(p.a)[p.m]!(...p.a);
    if (!(await this.#joined(ok ? share[k - 1]!.length : -1, t0, busy, runs))) return false;
    for (let w = 0; w < k - 1; w++)
      for (const p of share[w]!)
        for (const r of p.io) {
          const x = arr(p.a, r.i);
          if (r.out && !(x.buffer instanceof SharedArrayBuffer)) copy(x, r, false);
        }
    return true;
  }

  /**
   * `x` in a job message: the pool memory (a view the worker's kernels use in place: its address, or
   * that of its mirror — `mirror` maps non-shared buffers to [mirror, first mirrored byte]) or another
   * shared buffer.
   */
  #wire(x: Arr, mirror?: Map<ArrayBufferLike, [Uint8Array, number]>): WireArr {
    const t = x instanceof Float32Array ? 0 : x instanceof Uint32Array ? 1 : x instanceof Uint8Array ? 2 : 3;
    if (this.#mine.has(x.buffer)) return [null, x.byteOffset, x.length, t];
    if (x.buffer instanceof SharedArrayBuffer) return [x.buffer, x.byteOffset, x.length, t];
    const [m, lo] = mirror!.get(x.buffer)!;
    return [null, m.byteOffset + x.byteOffset - lo, x.length, t];
  }

  /** Post worker `w` a job (claim counter `at`, or −1: run every part), its flag cleared first. */
  #post(w: number, msg: [string, WireArg[]][], at = -1): Promise<number> {
    Atomics.store(this.#done, w, 0);
    return this.#workers[w]!.post(msg, at);
  }

  /** Run `parts` (arrays all shared) on every thread, each claiming runs of parts from a shared counter. */
  async #claimed(parts: Part[]): Promise<boolean> {
    const k = this.#workers.length + 1;
    const at = k - 1; // the counter: the flag slot the calling thread does not use
    const msg = parts.map((p): [string, WireArg[]] => [
      p.m,
      p.a.map((v) => (typeof v === 'object' ? this.#wire(v) : v)),
    ]);
    this.#lastParts = parts.length;
    Atomics.store(this.#done, at, 0);
    const runs: Promise<number>[] = [];
    const busy: number[] = [];
    for (let w = 0; w < k - 1; w++) {
      runs.push(this.#post(w, msg, at));
      busy.push(w);
    }
    let ran = 0;
    const t0 = performance.now();
    for (let i = claim(this.#done, at, parts.length, k); ran >= 0 && i >= 0; i = claim(this.#done, at, parts.length, k))
      for (let e = claimEnd(i, parts.length, k); ran >= 0 && i < e; i++) {
        const p = parts[i]!;
        if (this.#kernels(p.a)[p.m]!(...p.a)) ran++;
        else {
          ran = -1;
          Atomics.store(this.#done, at, parts.length); // the workers stop claiming
        }
      }
    return this.#joined(ran, t0, busy, runs);
  }

  /**
   * Wait for the workers `busy` (their jobs `runs`) after this thread's own work (started at `t0`; `ran`
   * parts, −1: failed): on their shared flags (a message would take an extra event-loop turn), at most a
   * few times this thread's own time; past that (a stalled or failed worker), on their messages. True
   * when all succeeded; records {@link KernelPool.lastShares}.
   */
  async #joined(ran: number, t0: number, busy: number[], runs: Promise<number>[]): Promise<boolean> {
    const budget = 5 + 4 * (performance.now() - t0);
    let flagged = true;
    for (const w of busy) {
      Atomics.wait(this.#done, w, 0, Math.max(0, budget - (performance.now() - t0)));
      if (Atomics.load(this.#done, w) === 0) flagged = false;
    }
    let flags: number[];
    if (flagged) {
      flags = busy.map((w) => Atomics.load(this.#done, w));
      Promise.all(runs).catch(() => undefined); // their messages arrive later (see Link)
    } else flags = await Promise.all(runs);
    const shares = new Array<number>(this.#workers.length + 1).fill(0);
    busy.forEach((w, i) => {
      shares[w] = (flags[i]! - 1) / 2;
    });
    shares[this.#workers.length] = ran;
    this.#lastShares = shares;
    return ran >= 0 && flags.every((f) => f % 2 === 1);
  }

  /**
   * {@link quantizeValues} (KIVI) split across the threads; byte-identical results.
   *
   * @example
   * ```ts
   * const q = await pool.quantizeValues(v, { bits: 2, groupSize: 32 });
   * ```
   */
  quantizeValues(v: Float32Tensor, opts: KiviQuantizeOptions): Promise<QuantizedValues> {
    return this.#pooled(() => quantizeValues(v, opts));
  }

  /**
   * {@link quantizeKeys} (KIVI) split across the threads (whole token groups); byte-identical results.
   *
   * @example
   * ```ts
   * const q = await pool.quantizeKeys(k, { bits: 2, groupSize: 32 });
   * ```
   */
  quantizeKeys(k: Float32Tensor, opts: KiviQuantizeOptions): Promise<QuantizedKeys> {
    return this.#pooled(() => quantizeKeys(k, opts));
  }

  /**
   * {@link dequantize} (KIVI) split across the threads; byte-identical results. `out` (optional)
   * receives the result — a `SharedArrayBuffer`-backed `out` skips a copy.
   *
   * @example
   * ```ts
   * const x = await pool.dequantize(await pool.quantizeKeys(k, { bits: 4, groupSize: 32 }));
   * const out = new Float32Array(new SharedArrayBuffer(k.data.byteLength));
   * await pool.dequantize(q, out); // reuses out
   * ```
   */
  dequantize(q: QuantizedKeys | QuantizedValues, out?: Float32Array): Promise<Float32Tensor> {
    return this.#pooled(() => dequantize(q, out));
  }

  /**
   * {@link quantizeAffine} split across the threads; byte-identical results.
   *
   * @example
   * ```ts
   * const q = await pool.quantizeAffine(w, { bits: 4, axis: -1, groupSize: 128 });
   * ```
   */
  quantizeAffine(x: Float32Tensor, opts: AffineOptions): Promise<AffineQuantized> {
    return this.#pooled(() => quantizeAffine(x, opts));
  }

  /**
   * {@link dequantizeAffine} split across the threads; byte-identical results. `out` (optional) receives
   * the result, as in `dequantizeAffine` (in the pool memory: written in place).
   *
   * @example
   * ```ts
   * const w2 = await pool.dequantizeAffine(q);
   * await pool.dequantizeAffine(q, pool.float32(w2.data.length));
   * ```
   */
  dequantizeAffine(q: AffineQuantized, out?: Float32Array): Promise<Float32Tensor> {
    return this.#pooled(() => dequantizeAffine(q, out));
  }

  /**
   * `quantizeBlocks` (bfp: MX / BFP formats) split across the threads; byte-identical results.
   *
   * @example
   * ```ts
   * const b = await pool.quantizeBlocks(x, { format: 'mxfp4', blockSize: 32 });
   * ```
   */
  quantizeBlocks(x: Float32Tensor | Float32Array, opts: QuantizeBlocksOptions): Promise<BlockTensor> {
    return this.#pooled(() => quantizeBlocks(x, opts));
  }

  /**
   * `dequantizeBlocks` (bfp) split across the threads; byte-identical results. `out` as there.
   *
   * @example
   * ```ts
   * const y = await pool.dequantizeBlocks(b);
   * ```
   */
  dequantizeBlocks(b: BlockTensor, out?: Float32Array): Promise<Float32Tensor> {
    return this.#pooled(() => dequantizeBlocks(b, out));
  }

  /**
   * `fwht` (mambaquant; in place, like `fwht`) split across the threads by rows; byte-identical results.
   *
   * @example
   * ```ts
   * await pool.fwht(x); // x: [rows, 4096] float32, transformed in place
   * ```
   */
  fwht(x: Float32Tensor, opts: FwhtOptions = {}): Promise<Float32Tensor> {
    return this.#pooled(() => fwht(x, opts));
  }

  /**
   * `KiviCache.attend` (fused decode attention on the packed cache) split across the threads by query
   * rows; byte-identical results. Pooled when the cache lives in the pool memory — created with
   * `arrays: pool` (`new KiviCache({ …, arrays: pool })`), so every thread reads it in place; a cache in
   * ordinary arrays runs on the calling thread, as `cache.attend` (copying it to the workers costs more
   * than they save).
   *
   * @example
   * ```ts
   * const cache = new KiviCache({ kvHeads: 8, headDim: 128, bits: 2, arrays: pool });
   * cache.append(k, v);
   * const o = await pool.attend(cache, q); // same bytes as cache.attend(q)
   * cache.release(); // its storage back to the pool
   * ```
   */
  attend(cache: KiviCache, q: Float32Tensor, opts?: KiviAttendOptions): Promise<Float32Tensor> {
    return this.#pooled(() => cache.attend(q, opts));
  }

  /**
   * `gemv` (mwq: bit-serial y = Ŵ_r·x from the first planes of level r) split across the threads by output
   * rows (runs of 32); byte-identical results. Weights from {@link KernelPool.nestedWeights} are read in
   * place by every thread; for other weights the workers' rows' plane words are copied into the pool
   * memory for each call (about a half of `nw.bytesRead(r)` on 2 threads, small beside the arithmetic of
   * a bit-serial GEMV).
   *
   * @example
   * ```ts
   * const y = await pool.gemv(nw, x, 4); // same bytes as gemv(nw, x, 4)
   * ```
   */
  gemv(nw: NestedWeights, x: Float32Array | Float32Tensor, r: number, out?: Float32Array): Promise<Float32Array> {
    return this.#pooled(() => gemv(nw, x, r, out));
  }

  /**
   * `gemm` (mwq: B input vectors at once, the planes read once for all) split across the threads by output
   * rows, as {@link KernelPool.gemv}; byte-identical results.
   *
   * @example
   * ```ts
   * const Y = await pool.gemm(nw, { dtype: 'float32', data: xs, shape: [8, 4096] }, 4);
   * ```
   */
  gemm(nw: NestedWeights, X: Float32Tensor, r: number, out?: Float32Array): Promise<Float32Tensor> {
    return this.#pooled(() => gemm(nw, X, r, out));
  }

  /**
   * Terminate the workers. Later calls throw.
   *
   * @example
   * ```ts
   * await pool.close();
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.close()));
  }
}
