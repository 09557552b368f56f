/**
 * A persistent worker pool (Node only: `worker_threads` + `SharedArrayBuffer`) that splits large KIVI
 * quantize / dequantize calls across cores. Each worker instantiates the same wasm SIMD kernels once
 * (the module bytes and the kernel wrapper source are shipped at start-up; workers are created once and
 * reused). Work is split on group boundaries (values: whole tokens; keys: whole token groups of a
 * stream), every part runs the same kernel on the same bytes, so results are byte-identical to the
 * single-threaded call.
 *
 * Calls below `minElements` (default {@link DEFAULT_POOL_MIN_ELEMENTS}, measured: below about 1 M
 * elements the hand-off costs more than the second core saves), configurations the wasm kernels do not
 * cover (float16 metadata, non-half-even rounding, groups not a multiple of 32/bits), and engines
 * without WebAssembly SIMD run the single-threaded public function instead. Invalid input always ends
 * in the single-threaded function, which throws the documented `LowbitError`.
 *
 * Results of pooled calls are views on `SharedArrayBuffer`s (ordinary typed arrays otherwise).
 *
 * Exposed: KernelPool, KernelPoolOptions, DEFAULT_POOL_MIN_ELEMENTS.
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { check } from '../common/errors.js';
import { WasmKernels, wasmKernels } from '../common/kernels.js';
import { KERNELS_WASM_BASE64 } from '../common/kernels-wasm.generated.js';
import type { Float32Tensor } from '../common/tensor.js';
import { magnitudeLimit, normalizeQuantOptions } from '../kivi/config.js';
import type { KiviQuantizeOptions } from '../kivi/index.js';
import { dequantize, type QuantizedKeys, type QuantizedValues, quantizeKeys, quantizeValues } from '../kivi/index.js';

/**
 * Elements below which the pool runs the single-threaded function (measured on a 2-core machine:
 * KIVI-2 quantizeValues at 1 M elements gains little from a second thread; see docs/performance.md).
 *
 * @example
 * ```ts
 * const pool = await KernelPool.create({ minElements: DEFAULT_POOL_MIN_ELEMENTS * 4 });
 * ```
 */
export const DEFAULT_POOL_MIN_ELEMENTS = 1 << 20;

/**
 * Options of {@link KernelPool.create}.
 *
 * @example
 * ```ts
 * const opts: KernelPoolOptions = { threads: 2, minElements: 1 << 20 };
 * ```
 */
export interface KernelPoolOptions {
  /** Worker threads (default: `availableParallelism()`, at least 1). */
  readonly threads?: number;
  /** Calls with fewer elements run single-threaded (default {@link DEFAULT_POOL_MIN_ELEMENTS}). */
  readonly minElements?: number;
}

type Op = 'vq' | 'kq' | 'vd' | 'kd';

interface Task {
  op: Op;
  /** [xOrCodesOff, n(rows or tokens), cOff, mOff, outOff] per part */
  parts: number[][];
  D: number;
  bits: number;
  G: number;
  lim: number;
  a: SharedArrayBuffer; // input (x or codes)
  codes: SharedArrayBuffer;
  scales: SharedArrayBuffer;
  mins: SharedArrayBuffer;
  out: SharedArrayBuffer | null;
}

function workerSource(): string {
  return `
const { parentPort, workerData } = require('node:worker_threads');
// helpers some transpilers (esbuild keepNames, as in tsx) insert into class source text
const __name = (target) => target;
const __defProp = Object.defineProperty;
const __publicField = (obj, key, value) => __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value });
const WasmKernels = (${WasmKernels.toString()});
const bin = Buffer.from(workerData.b64, 'base64');
const inst = new WebAssembly.Instance(new WebAssembly.Module(bin), {});
const k = new WasmKernels(inst.exports);
parentPort.on('message', (t) => {
  let ok = true;
  const sc = new Float32Array(t.scales), mn = new Float32Array(t.mins);
  for (const [a, n, c, m, o] of t.parts) {
    if (t.op === 'vq') ok = k.kiviValuesQuant(new Float32Array(t.a), a, n, t.D, t.bits, t.G, t.lim, new Uint32Array(t.codes), c, sc, mn, m) && ok;
    else if (t.op === 'kq') ok = k.kiviKeysQuant(new Float32Array(t.a), a, n, t.D, t.bits, t.G, t.lim, new Uint32Array(t.codes), c, sc, mn, m) && ok;
    else if (t.op === 'vd') ok = k.kiviValuesDequant(new Uint32Array(t.codes), c, sc, mn, m, n, t.D, t.bits, t.G, new Float32Array(t.out), o);
    else ok = k.kiviKeysDequant(new Uint32Array(t.codes), c, sc, mn, m, n, t.D, t.bits, t.G, new Float32Array(t.out), o);
    if (!ok) break;
  }
  parentPort.postMessage(ok);
});
`;
}

function dims(shape: readonly number[]): { S: number; T: number; D: number } | null {
  if (!Array.isArray(shape) || shape.length < 2) return null;
  let S = 1;
  for (let i = 0; i < shape.length - 2; i++) S *= shape[i]!;
  return { S, T: shape[shape.length - 2]!, D: shape[shape.length - 1]! };
}

function shared(n: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(4, n));
}

/** Split `total` units into at most `k` contiguous ranges [start, count] of multiples of `unit`. */
function split(total: number, k: number, unit: number): [number, number][] {
  const units = total / unit;
  const out: [number, number][] = [];
  const per = Math.ceil(units / k);
  for (let u = 0; u < units; u += per) out.push([u * unit, Math.min(per, units - u) * unit]);
  return out;
}

/**
 * A pool of worker threads running the wasm SIMD KIVI kernels in parallel (Node only).
 *
 * @example
 * ```ts
 * import { KernelPool } from 'lowbit/node';
 * const pool = await KernelPool.create(); // once; reuse for every call
 * const q = await pool.quantizeValues(v, { bits: 2, groupSize: 32 }); // same bytes as quantizeValues
 * const vHat = await pool.dequantize(q);
 * await pool.close();
 * ```
 */
export class KernelPool {
  /** Number of worker threads. */
  readonly threads: number;
  /** Calls with fewer elements run single-threaded. */
  readonly minElements: number;
  readonly #workers: Worker[];
  #closed = false;
  /** Grow-only scratch for inputs/outputs that are not already shared (reused: no page faults per call). */
  #scratchIn: SharedArrayBuffer | null = null;
  #scratchOut: SharedArrayBuffer | null = null;
  /** Calls run one at a time (they share the scratch buffers). */
  #lock: Promise<void> = Promise.resolve();

  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
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

  /** A shared view of `x`: itself when already shared, else a copy in the reused input scratch. */
  #input(x: Float32Array): [SharedArrayBuffer, number] {
    if (x.buffer instanceof SharedArrayBuffer) return [x.buffer, x.byteOffset >>> 2];
    if (this.#scratchIn === null || this.#scratchIn.byteLength < x.byteLength) this.#scratchIn = shared(x.byteLength);
    new Float32Array(this.#scratchIn, 0, x.length).set(x);
    return [this.#scratchIn, 0];
  }

  private constructor(workers: Worker[], minElements: number) {
    this.#workers = workers;
    this.threads = workers.length;
    this.minElements = minElements;
  }

  /**
   * Start the workers (each compiles the wasm module once). Resolves when all are ready.
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
    const minElements = opts.minElements ?? DEFAULT_POOL_MIN_ELEMENTS;
    check(
      Number.isSafeInteger(minElements) && minElements >= 0,
      'E_CONFIG',
      () => `KernelPool.create: minElements must be a non-negative integer, got ${minElements}`,
    );
    const workers: Worker[] = [];
    if (wasmKernels() !== null) {
      const src = workerSource();
      for (let i = 0; i < threads; i++) {
        const w = new Worker(src, { eval: true, workerData: { b64: KERNELS_WASM_BASE64 } });
        w.unref();
        workers.push(w);
      }
      // a round trip proves each worker compiled the module
      await Promise.all(workers.map((w) => KernelPool.#run(w, null)));
    }
    return new KernelPool(workers, minElements);
  }

  static #run(w: Worker, task: Task | null): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const onMsg = (ok: boolean): void => {
        w.off('error', onErr);
        w.unref();
        resolve(ok);
      };
      const onErr = (e: Error): void => {
        w.off('message', onMsg);
        reject(e);
      };
      w.once('message', onMsg);
      w.once('error', onErr);
      w.ref();
      w.postMessage(
        task ?? {
          op: 'vd',
          parts: [],
          D: 0,
          bits: 2,
          G: 16,
          lim: 0,
          a: shared(4),
          codes: shared(4),
          scales: shared(4),
          mins: shared(4),
          out: shared(4),
        },
      );
    });
  }

  async #dispatch(base: Omit<Task, 'parts'>, parts: number[][]): Promise<boolean> {
    const k = Math.min(this.#workers.length, parts.length);
    const per = Math.ceil(parts.length / k);
    const runs: Promise<boolean>[] = [];
    for (let i = 0; i < k; i++) {
      const mine = parts.slice(i * per, (i + 1) * per);
      if (mine.length > 0) runs.push(KernelPool.#run(this.#workers[i]!, { ...base, parts: mine }));
    }
    const oks = await Promise.all(runs);
    return oks.every((b) => b);
  }

  #usable(n: number): boolean {
    if (this.#closed) throw new Error('KernelPool: the pool is closed');
    return this.#workers.length > 0 && n >= this.minElements && n > 0;
  }

  /**
   * {@link quantizeValues} split across the workers; byte-identical results.
   *
   * @example
   * ```ts
   * const q = await pool.quantizeValues(v, { bits: 2, groupSize: 32 });
   * ```
   */
  quantizeValues(v: Float32Tensor, opts: KiviQuantizeOptions): Promise<QuantizedValues> {
    return this.#exclusive(() => this.#quantizeValues(v, opts));
  }

  async #quantizeValues(v: Float32Tensor, opts: KiviQuantizeOptions): Promise<QuantizedValues> {
    const d = v !== null && typeof v === 'object' ? dims(v.shape) : null;
    const o = normalizeQuantOptions(opts, 'quantizeValues', 'values');
    const f = 32 / o.bits;
    const G = o.groupSize;
    if (
      d === null ||
      !(v.data instanceof Float32Array) ||
      v.data.length !== d.S * d.T * d.D ||
      !o.halfEven ||
      o.scaleDtype !== 'float32' ||
      G % f !== 0 ||
      d.D % G !== 0 ||
      !this.#usable(v.data.length)
    )
      return quantizeValues(v, opts);
    const { S, T, D } = d;
    const rows = S * T;
    const n = rows * D;
    const [a, base] = this.#input(v.data);
    const codes = shared((n / f) * 4);
    const scales = shared((n / G) * 4);
    const mins = shared((n / G) * 4);
    const parts = split(rows, this.#workers.length, 1).map(([r0, nr]) => [
      base + r0 * D,
      nr,
      (r0 * D) / f,
      (r0 * D) / G,
      0,
    ]);
    const ok = await this.#dispatch(
      { op: 'vq', D, bits: o.bits, G, lim: magnitudeLimit('float32'), a, codes, scales, mins, out: null },
      parts,
    );
    if (!ok) return quantizeValues(v, opts); // throws the documented error
    return Object.freeze({
      kind: 'values' as const,
      codes: new Uint32Array(codes, 0, n / f),
      scales: new Float32Array(scales, 0, n / G),
      mins: new Float32Array(mins, 0, n / G),
      shape: Object.freeze([...v.shape]),
      bits: o.bits,
      groupSize: G,
      scaleDtype: 'float32' as const,
    });
  }

  /**
   * {@link quantizeKeys} split across the workers (whole token groups); byte-identical results.
   *
   * @example
   * ```ts
   * const q = await pool.quantizeKeys(k, { bits: 2, groupSize: 32 });
   * ```
   */
  quantizeKeys(k: Float32Tensor, opts: KiviQuantizeOptions): Promise<QuantizedKeys> {
    return this.#exclusive(() => this.#quantizeKeys(k, opts));
  }

  async #quantizeKeys(k: Float32Tensor, opts: KiviQuantizeOptions): Promise<QuantizedKeys> {
    const d = k !== null && typeof k === 'object' ? dims(k.shape) : null;
    const o = normalizeQuantOptions(opts, 'quantizeKeys', 'keys');
    const f = 32 / o.bits;
    const G = o.groupSize;
    if (
      d === null ||
      !(k.data instanceof Float32Array) ||
      k.data.length !== d.S * d.T * d.D ||
      !o.halfEven ||
      o.scaleDtype !== 'float32' ||
      G % f !== 0 ||
      d.T % G !== 0 ||
      !this.#usable(k.data.length)
    )
      return quantizeKeys(k, opts);
    const { S, T, D } = d;
    const n = S * T * D;
    const [a, base] = this.#input(k.data);
    const codes = shared((n / f) * 4);
    const scales = shared((n / G) * 4);
    const mins = shared((n / G) * 4);
    const parts: number[][] = [];
    const per = Math.max(1, Math.ceil(this.#workers.length / S));
    for (let s = 0; s < S; s++)
      for (const [t0, nt] of split(T, per, G))
        parts.push([base + s * T * D + t0 * D, nt, (s * T * D) / f + (t0 / f) * D, (s * T * D) / G + (t0 / G) * D, 0]);
    const ok = await this.#dispatch(
      { op: 'kq', D, bits: o.bits, G, lim: magnitudeLimit('float32'), a, codes, scales, mins, out: null },
      parts,
    );
    if (!ok) return quantizeKeys(k, opts);
    return Object.freeze({
      kind: 'keys' as const,
      codes: new Uint32Array(codes, 0, n / f),
      scales: new Float32Array(scales, 0, n / G),
      mins: new Float32Array(mins, 0, n / G),
      shape: Object.freeze([...k.shape]),
      bits: o.bits,
      groupSize: G,
      scaleDtype: 'float32' as const,
    });
  }

  /**
   * {@link dequantize} split across the workers; byte-identical results. `out` (optional, exactly the
   * element count) receives the result — pass a `SharedArrayBuffer`-backed array to skip a copy; without
   * `out` the result is a new `SharedArrayBuffer`-backed tensor.
   *
   * @example
   * ```ts
   * const x = await pool.dequantize(await pool.quantizeKeys(k, { bits: 4, groupSize: 32 }));
   * const out = new Float32Array(new SharedArrayBuffer(k.data.byteLength));
   * await pool.dequantize(q, out); // reuses out
   * ```
   */
  dequantize(q: QuantizedKeys | QuantizedValues, out?: Float32Array): Promise<Float32Tensor> {
    return this.#exclusive(() => this.#dequantize(q, out));
  }

  async #dequantize(q: QuantizedKeys | QuantizedValues, dst?: Float32Array): Promise<Float32Tensor> {
    const d = q !== null && typeof q === 'object' ? dims(q.shape) : null;
    if (d === null) return dequantize(q, dst);
    const f = 32 / q.bits;
    const G = q.groupSize;
    if (
      q.scaleDtype !== 'float32' ||
      !(q.codes instanceof Uint32Array) ||
      !(q.scales instanceof Float32Array) ||
      !(q.mins instanceof Float32Array) ||
      (q.bits !== 2 && q.bits !== 4 && q.bits !== 8) ||
      !Number.isSafeInteger(G) ||
      G < 1 ||
      G % f !== 0 ||
      (q.kind === 'keys' ? d.T % G !== 0 : d.D % G !== 0) ||
      q.codes.length !== (d.S * d.T * d.D) / f ||
      q.scales.length !== (d.S * d.T * d.D) / G ||
      q.mins.length !== q.scales.length ||
      !(dst === undefined || (dst instanceof Float32Array && dst.length === d.S * d.T * d.D)) ||
      !this.#usable(d.S * d.T * d.D)
    )
      return dequantize(q, dst);
    const { S, T, D } = d;
    const n = S * T * D;
    const toShared = (src: Uint32Array | Float32Array): SharedArrayBuffer => {
      if (src.buffer instanceof SharedArrayBuffer && src.byteOffset === 0) return src.buffer;
      const b = shared(src.byteLength);
      new Uint8Array(b).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
      return b;
    };
    const codes = toShared(q.codes);
    const scales = toShared(q.scales);
    const mins = toShared(q.mins);
    let out: SharedArrayBuffer;
    let ob = 0;
    if (dst !== undefined && dst.buffer instanceof SharedArrayBuffer) {
      out = dst.buffer;
      ob = dst.byteOffset >>> 2;
    } else if (dst !== undefined) {
      if (this.#scratchOut === null || this.#scratchOut.byteLength < n * 4) this.#scratchOut = shared(n * 4);
      out = this.#scratchOut;
    } else out = shared(n * 4);
    const parts: number[][] = [];
    if (q.kind === 'values') {
      for (const [r0, nr] of split(S * T, this.#workers.length, 1))
        parts.push([0, nr, (r0 * D) / f, (r0 * D) / G, ob + r0 * D]);
    } else {
      const per = Math.max(1, Math.ceil(this.#workers.length / S));
      for (let s = 0; s < S; s++)
        for (const [t0, nt] of split(T, per, G))
          parts.push([0, nt, (s * T * D) / f + (t0 / f) * D, (s * T * D) / G + (t0 / G) * D, ob + s * T * D + t0 * D]);
    }
    const ok = await this.#dispatch(
      { op: q.kind === 'values' ? 'vd' : 'kd', D, bits: q.bits, G, lim: 0, a: codes, codes, scales, mins, out },
      parts,
    );
    if (!ok) return dequantize(q, dst);
    let data: Float32Array;
    if (dst === undefined) data = new Float32Array(out, 0, n);
    else {
      if (out !== dst.buffer) dst.set(new Float32Array(out, 0, n));
      data = dst;
    }
    return { dtype: 'float32', data, shape: Object.freeze([...q.shape]) };
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
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
