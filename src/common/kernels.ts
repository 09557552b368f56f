/**
 * Kernel backend switch: WebAssembly SIMD kernels (AssemblyScript source in `wasm/assembly/kernels.ts`,
 * embedded as base64 in `kernels-wasm.generated.ts`) or the plain JavaScript kernels.
 *
 * - `'auto'` (default): the wasm kernels when this engine validates the module (WebAssembly with the
 *   SIMD proposal: Node ≥ 16.4, current browsers), the JS kernels otherwise.
 * - `'wasm'`: require the wasm kernels (throws `E_CONFIG` where WebAssembly SIMD is missing).
 * - `'js'`: always the JS kernels.
 *
 * The wasm kernels are bit-identical to their JS twins (tests compare them). They cover a subset of
 * configurations; every other configuration runs the JS kernel whatever the backend:
 * - KIVI `quantizeKeys` / `quantizeValues`: float32 metadata, `'half-even'` rounding, groupSize a
 *   multiple of 32/bits; `dequantize`: float32 metadata, groupSize a multiple of 32/bits;
 * - `quantizeAffine`: asymmetric float zero point (the default), bits ≤ 8, `'half-even'`, groups along
 *   the last axis or the flattened tensor; `dequantizeAffine`: the same layouts.
 *
 * Inputs are copied into the module's memory in chunks of about 256 KB (so the copies stay in cache),
 * processed, and the results copied out; caller arrays are never aliased. The module (about 8.4 KB) is
 * compiled synchronously on first use; browsers refuse synchronous compilation of modules over 4 KB on
 * the main thread, so there the first call starts an asynchronous compilation and runs in JS until it
 * is done (or call {@link loadKernels} once at start-up). No `node:*` imports: this file runs in browsers.
 * - FWHT (`fwhtRows` of mambaquant): n a power of two ≥ 4 (had_m factor 1).
 * - MX/BFP `quantizeBlocks` / `dequantizeBlocks` (bfp): FP and BFP element formats of 4 or 8 bits
 *   (mxfp4, mxfp8_e4m3/e5m2, bfp12, bfp16), blocks along the last axis (an even axis length for 4-bit
 *   codes), `'half-even'`, scale rule `'floor'`, `nonFinite: 'nan-block'`.
 *
 * Exposed: KernelBackend, setKernelBackend, getKernelBackend, activeKernelBackend, wasmSimdSupported,
 * loadKernels.
 * Internal (used by the families): wasmKernels, WasmKernels.
 * @module
 */
import { fail } from './errors.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.generated.js';

/**
 * Which kernels run: `'auto'` (wasm SIMD where available, the default), `'wasm'` or `'js'`.
 *
 * @example
 * ```ts
 * const b: KernelBackend = 'js';
 * setKernelBackend(b);
 * ```
 */
export type KernelBackend = 'js' | 'wasm' | 'auto';

/** The slice of the WebAssembly JS API used here (the project's TS lib has no DOM types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { readonly exports: object } }>;
}
function wasmApi(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}

interface RawExports {
  memory: WasmMemory;
  heapBase(): number;
  kiviValuesQuant(
    x: number,
    rows: number,
    D: number,
    bits: number,
    G: number,
    lim: number,
    codes: number,
    scales: number,
    mins: number,
    prm: number,
  ): number;
  kiviValuesDequant(
    codes: number,
    rows: number,
    D: number,
    bits: number,
    G: number,
    scales: number,
    mins: number,
    out: number,
  ): void;
  kiviKeysQuant(
    x: number,
    nTok: number,
    D: number,
    bits: number,
    G: number,
    lim: number,
    codes: number,
    scales: number,
    mins: number,
    prm: number,
  ): number;
  kiviKeysDequant(
    codes: number,
    nTok: number,
    D: number,
    bits: number,
    G: number,
    scales: number,
    mins: number,
    out: number,
  ): void;
  affineFloatQuant(
    x: number,
    lines: number,
    len: number,
    gs: number,
    qmax: number,
    codes: number,
    scales: number,
    zeros: number,
    prm: number,
  ): number;
  affineFloatDequant(
    codes: number,
    lines: number,
    len: number,
    gs: number,
    scales: number,
    zeros: number,
    out: number,
  ): void;
  fwhtPow2(x: number, rows: number, n: number, normalize: number, scale: number): void;
  mxEncode(
    x: number,
    rows: number,
    len: number,
    bs: number,
    kind: number,
    mbits: number,
    bias: number,
    emax: number,
    maxCode: number,
    w: number,
    scales: number,
    codes: number,
    tmp: number,
  ): void;
  mxDecode(
    codes: number,
    rows: number,
    len: number,
    bs: number,
    kind: number,
    mbits: number,
    bias: number,
    specials: number,
    w: number,
    scales: number,
    table: number,
    out: number,
  ): void;
}

let requested: KernelBackend = 'auto';
let bytesCache: Uint8Array | null = null;
let supported: boolean | null = null;
let instance: WasmKernels | null = null;

function moduleBytes(): Uint8Array {
  if (bytesCache === null) {
    const bin = atob(KERNELS_WASM_BASE64);
    const b = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    bytesCache = b;
  }
  return bytesCache;
}

/**
 * Whether this engine can run the wasm kernels (it validates the kernels' own module, which uses
 * 128-bit SIMD).
 *
 * @example
 * ```ts
 * if (!wasmSimdSupported()) console.log('lowbit runs its JavaScript kernels here');
 * ```
 */
export function wasmSimdSupported(): boolean {
  if (supported === null) {
    let ok = false;
    try {
      const api = wasmApi();
      ok = api?.validate(moduleBytes()) === true;
    } catch {
      ok = false;
    }
    supported = ok;
  }
  return supported;
}

/**
 * Choose the kernel backend for all later calls (process-wide). `'wasm'` throws `E_CONFIG` when
 * WebAssembly SIMD is missing. Results are bit-identical on both backends.
 *
 * @example
 * ```ts
 * import { setKernelBackend } from 'lowbit/common';
 * setKernelBackend('js'); // e.g. to compare speed
 * setKernelBackend('auto'); // back to the default
 * ```
 */
export function setKernelBackend(backend: KernelBackend): void {
  if (backend !== 'js' && backend !== 'wasm' && backend !== 'auto')
    fail('E_CONFIG', `setKernelBackend: expected 'js', 'wasm' or 'auto', got ${JSON.stringify(backend)}`);
  if (backend === 'wasm' && !wasmSimdSupported())
    fail(
      'E_CONFIG',
      "setKernelBackend: 'wasm' needs WebAssembly with SIMD, which this engine lacks; use 'auto' or 'js'",
    );
  requested = backend;
}

/**
 * The backend last set with {@link setKernelBackend} (`'auto'` by default).
 *
 * @example
 * ```ts
 * getKernelBackend(); // 'auto'
 * ```
 */
export function getKernelBackend(): KernelBackend {
  return requested;
}

/**
 * The backend that actually runs: `'wasm'` or `'js'` (`'auto'` resolved by feature detection).
 *
 * @example
 * ```ts
 * console.log(`kernels: ${activeKernelBackend()}`); // 'wasm' on Node 20
 * ```
 */
export function activeKernelBackend(): 'js' | 'wasm' {
  if (requested === 'js') return 'js';
  return wasmSimdSupported() ? 'wasm' : 'js';
}

let pending: Promise<boolean> | null = null;

/**
 * Compile and instantiate the wasm kernels asynchronously (resolves `true` when they are ready, `false`
 * where WebAssembly SIMD is missing). Optional: the first kernel call compiles synchronously, which
 * browsers refuse on the main thread for modules over 4 KB — there, call this once at start-up (until it
 * resolves, kernels run in JS).
 *
 * @example
 * ```ts
 * import { loadKernels } from 'lowbit/common';
 * await loadKernels(); // then quantizers run their wasm SIMD kernels in the browser too
 * ```
 */
export function loadKernels(): Promise<boolean> {
  if (instance !== null) return Promise.resolve(true);
  if (!wasmSimdSupported()) return Promise.resolve(false);
  if (pending === null) {
    pending = wasmApi()!
      .instantiate(moduleBytes(), {})
      .then((r) => {
        if (instance === null) instance = new WasmKernels(r.instance.exports as unknown as RawExports);
        return true;
      });
  }
  return pending;
}

/** The wasm kernels when the active backend is wasm (and the module is ready), else `null`. Internal. */
export function wasmKernels(): WasmKernels | null {
  if (requested === 'js' || !wasmSimdSupported()) return null;
  if (instance === null) {
    if (pending !== null) return null; // async compilation under way (browser main thread)
    try {
      const api = wasmApi()!;
      const inst = new api.Instance(new api.Module(moduleBytes()), {});
      instance = new WasmKernels(inst.exports as unknown as RawExports);
    } catch {
      // synchronous compilation refused (browser main thread, module > 4 KB): compile in the background
      void loadKernels().catch(() => undefined);
      return null;
    }
  }
  return instance;
}

/**
 * Typed wrappers over the raw exports: they lay out regions in the module's memory, copy in, call, copy
 * out. Each returns `false` when the kernel reported a precondition failure (non-finite input, range
 * overflow); the caller then runs its own checks, which throw the proper error. Self-contained (no
 * free variables), so the Node worker pool ships its source text to workers. Internal.
 */
export class WasmKernels {
  /**
   * Elements of float32 input per wasm call (256 KB): the copies in and out stay in L2. A getter, not a
   * static field: bundlers may move static field initialisers out of the class body, and the pool
   * ships the class's source text to its workers.
   */
  static get CHUNK(): number {
    return 1 << 16;
  }
  private readonly x: RawExports;
  private readonly base: number;

  constructor(x: RawExports) {
    this.x = x;
    this.base = (x.heapBase() + 15) & ~15;
  }

  /** Make room for regions of the given byte sizes; returns their 16-aligned offsets. */
  private layout(sizes: readonly number[]): number[] | null {
    const offs: number[] = [];
    let p = this.base;
    for (const s of sizes) {
      offs.push(p);
      p += Math.ceil(s / 16) * 16;
    }
    // the kernels address memory with 32-bit offsets; refuse (caller falls back to JS) past 2 GB
    if (p > 2 ** 31) return null;
    const mem = this.x.memory;
    const have = mem.buffer.byteLength;
    if (p > have) {
      try {
        mem.grow(Math.ceil((p - have) / 65536));
      } catch {
        return null;
      }
    }
    return offs;
  }

  private f32(): Float32Array {
    return new Float32Array(this.x.memory.buffer);
  }

  private u32(): Uint32Array {
    return new Uint32Array(this.x.memory.buffer);
  }

  private u8(): Uint8Array {
    return new Uint8Array(this.x.memory.buffer);
  }

  /**
   * KIVI values: `rows` tokens of D channels from `x[xOff…]`; codes at `cOff` (D/f words per row),
   * scales/mins at `mOff` (D/G per row). Needs G % (32/bits) === 0, float32 metadata, half-even.
   */
  kiviValuesQuant(
    x: Float32Array,
    xOff: number,
    rows: number,
    D: number,
    bits: number,
    G: number,
    lim: number,
    codes: Uint32Array,
    cOff: number,
    scales: Float32Array,
    mins: Float32Array,
    mOff: number,
  ): boolean {
    const step = Math.max(1, Math.floor(WasmKernels.CHUNK / D));
    return this.kiviQuant(
      this.x.kiviValuesQuant,
      step,
      x,
      xOff,
      rows,
      D,
      bits,
      G,
      lim,
      codes,
      cOff,
      scales,
      mins,
      mOff,
    );
  }

  /** KIVI values dequantization of `rows` tokens (same layout as {@link kiviValuesQuant}). */
  kiviValuesDequant(
    codes: Uint32Array,
    cOff: number,
    scales: Float32Array,
    mins: Float32Array,
    mOff: number,
    rows: number,
    D: number,
    bits: number,
    G: number,
    out: Float32Array,
    oOff: number,
  ): boolean {
    const step = Math.max(1, Math.floor(WasmKernels.CHUNK / D));
    return this.kiviDequant(
      this.x.kiviValuesDequant,
      step,
      codes,
      cOff,
      scales,
      mins,
      mOff,
      rows,
      D,
      bits,
      G,
      out,
      oOff,
    );
  }

  /**
   * KIVI keys of one stream: `nTok` tokens × D channels from `x[xOff…]`; codes at `cOff` (`[nTok/f, D]`),
   * scales/mins at `mOff` (`[nTok/G, D]`). Needs G % (32/bits) === 0, float32 metadata, half-even.
   */
  kiviKeysQuant(
    x: Float32Array,
    xOff: number,
    nTok: number,
    D: number,
    bits: number,
    G: number,
    lim: number,
    codes: Uint32Array,
    cOff: number,
    scales: Float32Array,
    mins: Float32Array,
    mOff: number,
  ): boolean {
    const step = G * Math.max(1, Math.floor(WasmKernels.CHUNK / (G * D)));
    return this.kiviQuant(this.x.kiviKeysQuant, step, x, xOff, nTok, D, bits, G, lim, codes, cOff, scales, mins, mOff);
  }

  /** KIVI keys dequantization of one stream (same layout as {@link kiviKeysQuant}). */
  kiviKeysDequant(
    codes: Uint32Array,
    cOff: number,
    scales: Float32Array,
    mins: Float32Array,
    mOff: number,
    nTok: number,
    D: number,
    bits: number,
    G: number,
    out: Float32Array,
    oOff: number,
  ): boolean {
    const step = G * Math.max(1, Math.floor(WasmKernels.CHUNK / (G * D)));
    return this.kiviDequant(this.x.kiviKeysDequant, step, codes, cOff, scales, mins, mOff, nTok, D, bits, G, out, oOff);
  }

  /**
   * Shared chunk loop of the KIVI quantizers: `n` tokens of D channels, `step` tokens per chunk (keys: a
   * multiple of G). Token t's codes start at word t·D/f and its metadata at t·D/G for both layouts
   * (values: row-major per token; keys: `[T/f, D]` and `[T/G, D]` with t a multiple of G).
   */
  private kiviQuant(
    kernel: RawExports['kiviValuesQuant'],
    step: number,
    x: Float32Array,
    xOff: number,
    n: number,
    D: number,
    bits: number,
    G: number,
    lim: number,
    codes: Uint32Array,
    cOff: number,
    scales: Float32Array,
    mins: Float32Array,
    mOff: number,
  ): boolean {
    const f = 32 / bits;
    const ct = Math.min(step, n);
    const nm = ((ct * D) / G) * 4;
    // prm: the kernels' per-group scratch (read one group past the end)
    const L = this.layout([ct * D * 4, ((ct * D) / f) * 4, nm, nm, nm + 16]);
    if (L === null) return false;
    const [px, pc, ps, pm, pp] = L as [number, number, number, number, number];
    const fv = this.f32();
    const uv = this.u32();
    for (let t0 = 0; t0 < n; t0 += step) {
      const nt = Math.min(step, n - t0);
      const m = nt * D;
      const e0 = xOff + t0 * D;
      fv.set(x.subarray(e0, e0 + m), px >>> 2);
      if (kernel(px, nt, D, bits, G, lim, pc, ps, pm, pp) !== 0) return false;
      const c0 = cOff + (t0 * D) / f;
      const m0 = mOff + (t0 * D) / G;
      codes.set(uv.subarray(pc >>> 2, (pc >>> 2) + m / f), c0);
      scales.set(fv.subarray(ps >>> 2, (ps >>> 2) + m / G), m0);
      mins.set(fv.subarray(pm >>> 2, (pm >>> 2) + m / G), m0);
    }
    return true;
  }

  /** Shared chunk loop of the KIVI dequantizers (layout as {@link kiviQuant}). */
  private kiviDequant(
    kernel: RawExports['kiviValuesDequant'],
    step: number,
    codes: Uint32Array,
    cOff: number,
    scales: Float32Array,
    mins: Float32Array,
    mOff: number,
    n: number,
    D: number,
    bits: number,
    G: number,
    out: Float32Array,
    oOff: number,
  ): boolean {
    const f = 32 / bits;
    const ct = Math.min(step, n);
    const L = this.layout([((ct * D) / f) * 4, ((ct * D) / G) * 4, ((ct * D) / G) * 4, ct * D * 4]);
    if (L === null) return false;
    const [pc, ps, pm, po] = L as [number, number, number, number];
    const fv = this.f32();
    const uv = this.u32();
    for (let t0 = 0; t0 < n; t0 += step) {
      const nt = Math.min(step, n - t0);
      const m = nt * D;
      const c0 = cOff + (t0 * D) / f;
      const m0 = mOff + (t0 * D) / G;
      uv.set(codes.subarray(c0, c0 + m / f), pc >>> 2);
      fv.set(scales.subarray(m0, m0 + m / G), ps >>> 2);
      fv.set(mins.subarray(m0, m0 + m / G), pm >>> 2);
      kernel(pc, nt, D, bits, G, ps, pm, po);
      out.set(fv.subarray(po >>> 2, (po >>> 2) + m), oOff + t0 * D);
    }
    return true;
  }

  /**
   * Affine quantization, float zero point, contiguous groups: `lines` lines of `len` elements, groups
   * of `gs` along each line (ragged last group); codes one byte each. Returns the status (0 ok, −1
   * non-finite input, −2 range overflow).
   */
  affineFloatQuant(
    x: Float32Array,
    lines: number,
    len: number,
    gs: number,
    qmax: number,
    codes: Uint8Array,
    scales: Float32Array,
    zeros: Float32Array,
  ): boolean {
    const ng = Math.ceil(len / gs);
    // chunk by whole lines when lines are short, else by whole groups of one line
    if (len <= WasmKernels.CHUNK) {
      const step = Math.max(1, Math.floor(WasmKernels.CHUNK / len));
      const cl = Math.min(step, lines);
      const L = this.layout([cl * len * 4, cl * len, cl * ng * 4, cl * ng * 4, cl * ng * 4 + 16]);
      if (L === null) return false;
      const [px, pc, ps, pz, pp] = L as [number, number, number, number, number];
      const fv = this.f32();
      const u8 = this.u8();
      for (let l0 = 0; l0 < lines; l0 += step) {
        const nl = Math.min(step, lines - l0);
        const n = nl * len;
        fv.set(x.subarray(l0 * len, l0 * len + n), px >>> 2);
        if (this.x.affineFloatQuant(px, nl, len, gs, qmax, pc, ps, pz, pp) !== 0) return false;
        codes.set(u8.subarray(pc, pc + n), l0 * len);
        scales.set(fv.subarray(ps >>> 2, (ps >>> 2) + nl * ng), l0 * ng);
        zeros.set(fv.subarray(pz >>> 2, (pz >>> 2) + nl * ng), l0 * ng);
      }
      return true;
    }
    const gStep = Math.max(1, Math.floor(WasmKernels.CHUNK / gs));
    const ce = Math.min(len, gStep * gs);
    const L = this.layout([ce * 4, ce, gStep * 4, gStep * 4, gStep * 4 + 16]);
    if (L === null) return false;
    const [px, pc, ps, pz, pp] = L as [number, number, number, number, number];
    for (let l = 0; l < lines; l++) {
      for (let g0 = 0; g0 < ng; g0 += gStep) {
        const e0 = l * len + g0 * gs;
        const n = Math.min(len - g0 * gs, gStep * gs);
        const k = Math.ceil(n / gs);
        this.f32().set(x.subarray(e0, e0 + n), px >>> 2);
        if (this.x.affineFloatQuant(px, 1, n, gs, qmax, pc, ps, pz, pp) !== 0) return false;
        codes.set(this.u8().subarray(pc, pc + n), e0);
        const fv = this.f32();
        scales.set(fv.subarray(ps >>> 2, (ps >>> 2) + k), l * ng + g0);
        zeros.set(fv.subarray(pz >>> 2, (pz >>> 2) + k), l * ng + g0);
      }
    }
    return true;
  }

  /** Inverse of {@link affineFloatQuant} (same geometry): `out[e] = f32(f32(q·s) + min)`. */
  affineFloatDequant(
    codes: Uint8Array,
    lines: number,
    len: number,
    gs: number,
    scales: Float32Array,
    zeros: Float32Array,
    out: Float32Array,
  ): boolean {
    const ng = Math.ceil(len / gs);
    if (len <= WasmKernels.CHUNK) {
      const step = Math.max(1, Math.floor(WasmKernels.CHUNK / len));
      const cl = Math.min(step, lines);
      const L = this.layout([cl * len, cl * ng * 4, cl * ng * 4, cl * len * 4]);
      if (L === null) return false;
      const [pc, ps, pz, po] = L;
      for (let l0 = 0; l0 < lines; l0 += step) {
        const nl = Math.min(step, lines - l0);
        const n = nl * len;
        this.u8().set(codes.subarray(l0 * len, l0 * len + n), pc!);
        const fv = this.f32();
        fv.set(scales.subarray(l0 * ng, (l0 + nl) * ng), ps! >>> 2);
        fv.set(zeros.subarray(l0 * ng, (l0 + nl) * ng), pz! >>> 2);
        this.x.affineFloatDequant(pc!, nl, len, gs, ps!, pz!, po!);
        out.set(this.f32().subarray(po! >>> 2, (po! >>> 2) + n), l0 * len);
      }
      return true;
    }
    const gStep = Math.max(1, Math.floor(WasmKernels.CHUNK / gs));
    const ce = Math.min(len, gStep * gs);
    const L = this.layout([ce, gStep * 4, gStep * 4, ce * 4]);
    if (L === null) return false;
    const [pc, ps, pz, po] = L;
    for (let l = 0; l < lines; l++) {
      for (let g0 = 0; g0 < ng; g0 += gStep) {
        const e0 = l * len + g0 * gs;
        const n = Math.min(len - g0 * gs, gStep * gs);
        const k = Math.ceil(n / gs);
        this.u8().set(codes.subarray(e0, e0 + n), pc!);
        const fv = this.f32();
        fv.set(scales.subarray(l * ng + g0, l * ng + g0 + k), ps! >>> 2);
        fv.set(zeros.subarray(l * ng + g0, l * ng + g0 + k), pz! >>> 2);
        this.x.affineFloatDequant(pc!, 1, n, gs, ps!, pz!, po!);
        out.set(this.f32().subarray(po! >>> 2, (po! >>> 2) + n), e0);
      }
    }
    return true;
  }

  /**
   * FWHT of `rows` contiguous rows of length n (a power of two ≥ 4) at `data[offset…]`, in place;
   * `scale` (a double, 1/√n) is applied as `f32(y·scale)` when `normalize`.
   */
  fwhtPow2(data: Float32Array, offset: number, rows: number, n: number, normalize: boolean, scale: number): boolean {
    const step = Math.max(1, Math.floor(WasmKernels.CHUNK / n));
    const cr = Math.min(step, rows);
    const L = this.layout([cr * n * 4]);
    if (L === null) return false;
    const [px] = L;
    for (let r0 = 0; r0 < rows; r0 += step) {
      const nr = Math.min(step, rows - r0);
      const e0 = offset + r0 * n;
      this.f32().set(data.subarray(e0, e0 + nr * n), px! >>> 2);
      this.x.fwhtPow2(px!, nr, n, normalize ? 1 : 0, scale);
      data.set(this.f32().subarray(px! >>> 2, (px! >>> 2) + nr * n), e0);
    }
    return true;
  }

  /**
   * MX/BFP block encode, blocks of `bs` along rows of `len` (ragged last block): one scale byte per
   * block into `scales`, codes of `w` = 4 (len even) or 8 bits into `codes` (packed, low nibble first).
   * Element kind 0 = FP, 1 = BFP; half-even, scale rule 'floor', NaN/Inf blocks get 0xFF.
   */
  mxEncode(
    x: Float32Array,
    rows: number,
    len: number,
    bs: number,
    kind: number,
    mbits: number,
    bias: number,
    emax: number,
    maxCode: number,
    w: number,
    scales: Uint8Array,
    codes: Uint8Array,
  ): boolean {
    const nb = Math.ceil(len / bs);
    const run = (e0: number, nr: number, ln: number, s0: number, ns: number, L: number[]): void => {
      const [px, ps, pc, pt] = L as [number, number, number, number];
      const n = nr * ln;
      this.f32().set(x.subarray(e0, e0 + n), px >>> 2);
      this.x.mxEncode(px, nr, ln, bs, kind, mbits, bias, emax, maxCode, w, ps, pc, pt);
      const u8 = this.u8();
      scales.set(u8.subarray(ps, ps + ns), s0);
      codes.set(u8.subarray(pc, pc + (n * w) / 8), (e0 * w) / 8);
    };
    if (len <= WasmKernels.CHUNK) {
      const step = Math.max(1, Math.floor(WasmKernels.CHUNK / len));
      const cr = Math.min(step, rows);
      const L = this.layout([cr * len * 4 + 64, cr * nb + 16, (cr * len * w) / 8 + 64, cr * len + 64]);
      if (L === null) return false;
      for (let r0 = 0; r0 < rows; r0 += step) {
        const nr = Math.min(step, rows - r0);
        run(r0 * len, nr, len, r0 * nb, nr * nb, L);
      }
      return true;
    }
    let gStep = Math.max(1, Math.floor(WasmKernels.CHUNK / bs));
    if ((gStep * bs) % 2 === 1) gStep++;
    const ce = Math.min(len, gStep * bs);
    const L = this.layout([ce * 4 + 64, gStep + 16, (ce * w) / 8 + 64, ce + 64]);
    if (L === null) return false;
    for (let r = 0; r < rows; r++)
      for (let g0 = 0; g0 < nb; g0 += gStep) {
        const n = Math.min(len - g0 * bs, gStep * bs);
        run(r * len + g0 * bs, 1, n, r * nb + g0, Math.ceil(n / bs), L);
      }
    return true;
  }

  /**
   * Inverse of {@link mxEncode} (same geometry): `table` holds the 16 values of the 4-bit codes (unused
   * for 8-bit codes, decoded arithmetically; `specials` 0 none, 1 NaN at all-ones, 2 IEEE top field).
   */
  mxDecode(
    codes: Uint8Array,
    rows: number,
    len: number,
    bs: number,
    kind: number,
    mbits: number,
    bias: number,
    specials: number,
    w: number,
    scales: Uint8Array,
    table: Float32Array,
    out: Float32Array,
  ): boolean {
    const nb = Math.ceil(len / bs);
    const run = (e0: number, nr: number, ln: number, s0: number, ns: number, L: number[]): void => {
      const [pc, ps, pt, po] = L as [number, number, number, number];
      const n = nr * ln;
      const u8 = this.u8();
      u8.set(codes.subarray((e0 * w) / 8, ((e0 + n) * w) / 8), pc);
      u8.set(scales.subarray(s0, s0 + ns), ps);
      this.f32().set(table, pt >>> 2);
      this.x.mxDecode(pc, nr, ln, bs, kind, mbits, bias, specials, w, ps, pt, po);
      out.set(this.f32().subarray(po >>> 2, (po >>> 2) + n), e0);
    };
    if (len <= WasmKernels.CHUNK) {
      const step = Math.max(1, Math.floor(WasmKernels.CHUNK / len));
      const cr = Math.min(step, rows);
      const L = this.layout([(cr * len * w) / 8 + 64, cr * nb + 16, 64, cr * len * 4 + 64]);
      if (L === null) return false;
      for (let r0 = 0; r0 < rows; r0 += step) {
        const nr = Math.min(step, rows - r0);
        run(r0 * len, nr, len, r0 * nb, nr * nb, L);
      }
      return true;
    }
    let gStep = Math.max(1, Math.floor(WasmKernels.CHUNK / bs));
    if ((gStep * bs) % 2 === 1) gStep++;
    const ce = Math.min(len, gStep * bs);
    const L = this.layout([(ce * w) / 8 + 64, gStep + 16, 64, ce * 4 + 64]);
    if (L === null) return false;
    for (let r = 0; r < rows; r++)
      for (let g0 = 0; g0 < nb; g0 += gStep) {
        const n = Math.min(len - g0 * bs, gStep * bs);
        run(r * len + g0 * bs, 1, n, r * nb + g0, Math.ceil(n / bs), L);
      }
    return true;
  }
}
