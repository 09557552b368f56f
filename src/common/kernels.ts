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
 * - FWHT (`fwhtRows` of mambaquant): n a power of two ≥ 4 (had_m factor 1).
 * - MX/BFP `quantizeBlocks` / `dequantizeBlocks` (bfp): FP and BFP element formats of 4 or 8 bits
 *   (mxfp4, mxfp8_e4m3/e5m2, bfp12, bfp16), blocks along the last axis (an even axis length for 4-bit
 *   codes), `'half-even'`, scale rule `'floor'`, `nonFinite: 'nan-block'`.
 * - Bit-plane GEMV (`gemv` / `gemm` of mwq): every scheme, variant and level, any `in` and groupSize
 *   (column bytes that straddle groups or rows are masked); the planes read are copied in row chunks of
 *   about 256 KB, the B inputs' subset-sum tables once per call.
 * - KIVI `KiviCache.attend` (fused attention on packed codes): key and value groups that are whole
 *   words (G % (32/bits) === 0); the packed cache is copied into the module's memory one key block /
 *   value chunk at a time (see {@link WasmKernels.kiviAttend}).
 *
 * Inputs are copied into the module's memory in chunks of about 256 KB (so the copies stay in cache),
 * processed, and the results copied out (decoders: in chunks of up to 4 MB of output, see
 * {@link WasmKernels.deqChunk}); caller arrays are never aliased. The module (about 95 KB; 127 KB as base64) is
 * compiled synchronously on first use; an engine that refuses synchronous compilation of a module this
 * size on the main thread (Chromium long did above 4 KB; Chromium 156 compiles it) makes the first call
 * start an asynchronous compilation and run in JS until it is done (or call {@link loadKernels} once at
 * start-up). No `node:*` imports: this file runs in browsers (`test/browser` runs it in Chromium).
 *
 * Exposed: KernelBackend, setKernelBackend, getKernelBackend, activeKernelBackend, wasmSimdSupported,
 * loadKernels, kernelMemory / KernelMemory (tensors in the module's own memory, read in place).
 * Internal (used by the families and the Node pool): wasmKernels, WasmKernels, withWasmKernels.
 * @module
 */
import { Arena } from './arena.js';
import { check, fail } from './errors.js';
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

/** Byte offsets of the regions {@link WasmKernels} lays out, one per size (a tuple of the same length). */
type Offsets<S extends readonly number[]> = { -readonly [K in keyof S]: number };

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
  copyBytes(dst: number, src: number, n: number): void;
  setPinScratch(p: number): void;
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
  /** `cached` 1: `out` is a cache-resident tile (the kernel writes f rows at once), 0: memory (row by row). */
  kiviKeysDequant(
    codes: number,
    nTok: number,
    D: number,
    bits: number,
    G: number,
    scales: number,
    mins: number,
    out: number,
    cached: number,
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
  // --- attn ---
  kiviAttnKeys(
    codes: number,
    scales: number,
    mins: number,
    nTok: number,
    D: number,
    bits: number,
    G: number,
    q: number,
    nq: number,
    sc: number,
    logits: number,
    ld: number,
    qs: number,
  ): void;
  kiviAttnKeysF32(
    k: number,
    nTok: number,
    kStride: number,
    D: number,
    q: number,
    nq: number,
    sc: number,
    logits: number,
    ld: number,
  ): void;
  kiviAttnValues(
    codes: number,
    scales: number,
    mins: number,
    nTok: number,
    H: number,
    kv: number,
    D: number,
    bits: number,
    GV: number,
    p: number,
    ld: number,
    nq: number,
    acc: number,
    vm: number,
    vmRow: number,
    sw: number,
  ): void;
  kiviAttnValuesFinish(
    acc: number,
    vm: number,
    vmRow: number,
    nq: number,
    D: number,
    bits: number,
    GV: number,
    out: number,
  ): void;
  kiviAttnValuesF32(
    v: number,
    nTok: number,
    vStride: number,
    D: number,
    p: number,
    ld: number,
    nq: number,
    acc: number,
  ): void;
  kiviAttnSoftmax(
    logits: number,
    ld: number,
    nq: number,
    T: number,
    m: number,
    r0: number,
    causal: number,
    sums: number,
  ): void;
  // --- gemv ---
  gemvPrep(x: number, cols: number, G: number, lut: number, X: number): void;
  gemvRows(
    planes: number,
    ps: number,
    rows: number,
    cols: number,
    G: number,
    P: number,
    wt: number,
    andW: number,
    off: number,
    residual: number,
    baseP: number,
    lut: number,
    X: number,
    scales: number,
    zeros: number,
    lsc: number,
    lstride: number,
    tileG: number,
    acc: number,
    out: number,
  ): void;
}

/**
 * Geometry and level constants of a bit-plane GEMV call (see `gemvBitPlanes`; built by mwq's gemv).
 * Internal.
 */
export interface GemvPlanesArgs {
  rows: number;
  cols: number;
  G: number;
  /** Planes read. */
  P: number;
  /** f64 weight of each plane's masked sum (P values). */
  wt: Float64Array;
  /** MatQuant clamp: weight of the AND of the planes read (0: none). */
  andW: number;
  /** Slicing value offset (trunc-mid). */
  off: number;
  residual: boolean;
  /** Planes of the base code (residual: b₁; slicing: bits). */
  baseP: number;
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
 * where WebAssembly SIMD is missing). Optional: the first kernel call compiles synchronously, which some
 * browsers refuse on the main thread for a module this size — there, call this once at start-up (until it
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

let captured: WasmKernels | null = null;

/**
 * Internal (the Node worker pool): run `fn` while {@link wasmKernels} answers `k` instead of the module's
 * kernels, so the pool can capture the kernel calls a public function makes (with their validated
 * geometry) and run them itself. Only for functions that return right after their kernel call.
 */
export function withWasmKernels<T>(k: WasmKernels, fn: () => T): T {
  const prev = captured;
  captured = k;
  try {
    return fn();
  } finally {
    captured = prev;
  }
}

/** The wasm kernels when the active backend is wasm (and the module is ready), else `null`. Internal. */
export function wasmKernels(): WasmKernels | null {
  if (captured !== null) return captured;
  if (requested === 'js') return null;
  return moduleInstance();
}

/** The module's instance, compiled synchronously when needed; `null` without SIMD or while compiling. */
function moduleInstance(): WasmKernels | null {
  if (!wasmSimdSupported()) return null;
  if (instance === null) {
    if (pending !== null) return null; // async compilation under way (browser main thread)
    try {
      const api = wasmApi()!;
      const inst = new api.Instance(new api.Module(moduleBytes()), {});
      instance = new WasmKernels(inst.exports as unknown as RawExports);
    } catch {
      // synchronous compilation refused (a browser's main thread): compile in the background
      void loadKernels().catch(() => undefined);
      return null;
    }
  }
  return instance;
}

/**
 * Bytes of scratch the kernels keep below a {@link kernelMemory} reservation: 32 MB (a call that needs more
 * runs its JS twin — a GEMV from about 110 K input columns, an FWHT row of 16 M elements; every other
 * kernel is chunked far below it).
 */
const KERNEL_SCRATCH = 32 << 20;

/** The state of a {@link KernelMemory}: replaced in place when an unused reservation grows. Internal. */
export interface KernelRegion {
  /** The allocator over the reserved bytes (null: no SIMD, ordinary arrays). */
  arena: Arena | null;
  /** The memory's buffer the arrays view (null: no SIMD). */
  buffer: ArrayBufferLike | null;
  bytes: number;
}
let reserved: { readonly mem: KernelMemory; readonly region: KernelRegion } | null = null;

/** `bytes` reserved above the kernels' scratch (the memory grows once), or E_LIMIT / E_CONFIG with nothing changed. */
function reserveRegion(bytes: number): KernelRegion {
  if (!wasmSimdSupported()) return { arena: null, buffer: null, bytes };
  const k = moduleInstance();
  if (k === null) fail('E_CONFIG', 'kernelMemory: the kernels are still compiling here; await loadKernels() first');
  const start = k.reserve(KERNEL_SCRATCH, bytes);
  if (start < 0)
    fail('E_LIMIT', `kernelMemory: ${bytes} bytes do not fit in the kernels' memory (2 GB with their scratch)`);
  const mem = k.memory;
  const size = mem.buffer.byteLength - 64 - start;
  const arena = new Arena(mem, start, mem.buffer.byteLength / 65536, (b) => fullMessage(b, size));
  return { arena, buffer: mem.buffer, bytes: size };
}

/**
 * Arrays in the WebAssembly kernels' own memory, from {@link kernelMemory}: every public function reads
 * such inputs and writes such `out` arrays in place, on the calling thread, with no copy in or out — the
 * single-threaded counterpart of the Node pool's memory, in any engine. Elsewhere they are ordinary
 * typed arrays. Without WebAssembly SIMD they are ordinary arrays (`inPlace` false) under the same budget.
 *
 * @example
 * ```ts
 * const mem = kernelMemory(64 << 20);
 * const x = mem.float32(16 * 1024 * 128);
 * x.set(keys); // fill it once, then quantize it at the kernel's pace
 * mem.release(x);
 * ```
 */
export class KernelMemory {
  readonly #r: KernelRegion;
  #plainUsed = 0;
  readonly #plain = new WeakSet<object>();

  /** Internal: use {@link kernelMemory}. */
  constructor(region: KernelRegion) {
    this.#r = region;
  }

  /**
   * Whether the arrays live in the kernels' memory (WebAssembly SIMD available), so kernels read them in place.
   *
   * @example
   * ```ts
   * if (!kernelMemory(1 << 20).inPlace) console.log('no wasm SIMD here: ordinary arrays');
   * ```
   */
  get inPlace(): boolean {
    return this.#r.arena !== null;
  }

  /**
   * Bytes reserved (at least those asked for).
   *
   * @example
   * ```ts
   * kernelMemory(1 << 20).bytes >= 1 << 20; // true
   * ```
   */
  get bytes(): number {
    return this.#r.bytes;
  }

  /**
   * Bytes handed out and not yet released (64-byte blocks).
   *
   * @example
   * ```ts
   * const mem = kernelMemory(1 << 20);
   * mem.release(mem.float32(10));
   * mem.used; // 0
   * ```
   */
  get used(): number {
    return this.#r.arena?.used ?? this.#plainUsed;
  }

  /**
   * A zero-filled `Float32Array` of `n` elements; E_LIMIT (nothing allocated) when it does not fit.
   *
   * @example
   * ```ts
   * const x = kernelMemory(1 << 20).float32(1024);
   * ```
   */
  float32(n: number): Float32Array {
    return this.#alloc(Float32Array, n, 'float32');
  }

  /**
   * A zero-filled `Uint32Array` (as {@link KernelMemory.float32}), e.g. KIVI codes given as `out`.
   *
   * @example
   * ```ts
   * const codes = kernelMemory(1 << 20).uint32(256);
   * ```
   */
  uint32(n: number): Uint32Array {
    return this.#alloc(Uint32Array, n, 'uint32');
  }

  /**
   * A zero-filled `Uint8Array` (as {@link KernelMemory.float32}), e.g. MX codes and scales.
   *
   * @example
   * ```ts
   * const scales = kernelMemory(1 << 20).uint8(32);
   * ```
   */
  uint8(n: number): Uint8Array {
    return this.#alloc(Uint8Array, n, 'uint8');
  }

  /**
   * Whether `a` views this memory (an array from {@link KernelMemory.float32} and friends, or a view of one).
   *
   * @example
   * ```ts
   * const mem = kernelMemory(1 << 20);
   * mem.owns(mem.float32(8)); // true
   * mem.owns(new Float32Array(8)); // false
   * ```
   */
  owns(a: ArrayBufferView): boolean {
    const { arena, buffer } = this.#r;
    return arena !== null ? a.buffer === buffer && a.byteLength > 0 : this.#plain.has(a);
  }

  /**
   * Give back an array this memory handed out (E_CONFIG for any other array, or one released already).
   *
   * @example
   * ```ts
   * const mem = kernelMemory(1 << 20);
   * mem.release(mem.uint8(100));
   * ```
   */
  release(a: Float32Array | Uint32Array | Uint8Array): void {
    if (a.length === 0 && !this.owns(a)) return;
    const { arena, buffer } = this.#r;
    const ok = arena === null ? this.#plain.delete(a) : a.buffer === buffer && arena.release(a.byteOffset);
    check(ok, 'E_CONFIG', 'KernelMemory.release: not an array of this memory (or released already)');
    if (arena === null) this.#plainUsed -= Math.ceil(a.byteLength / 64) * 64;
  }

  #alloc<A extends Float32Array | Uint32Array | Uint8Array>(
    C: { new (b: ArrayBufferLike, o: number, n: number): A; new (n: number): A; readonly BYTES_PER_ELEMENT: number },
    n: number,
    what: string,
  ): A {
    check(
      Number.isSafeInteger(n) && n >= 0 && n * C.BYTES_PER_ELEMENT <= 2 ** 31,
      'E_CONFIG',
      () => `KernelMemory.${what}: n must be an integer in 0..${2 ** 31 / C.BYTES_PER_ELEMENT}, got ${n}`,
    );
    if (n === 0) return new C(0);
    const bytes = n * C.BYTES_PER_ELEMENT;
    const { arena, buffer, bytes: size } = this.#r;
    if (arena === null) {
      const need = Math.ceil(bytes / 64) * 64;
      check(this.#plainUsed + need <= size, 'E_LIMIT', () => fullMessage(bytes, size));
      const a = new C(n);
      this.#plain.add(a);
      this.#plainUsed += need;
      return a;
    }
    return new C(buffer!, arena.alloc(bytes), n);
  }
}

function fullMessage(bytes: number, size: number): string {
  return `KernelMemory: ${bytes} more bytes do not fit in the ${size} bytes reserved (kernelMemory)`;
}

/**
 * Reserve `bytes` of the WebAssembly kernels' memory for tensors (see {@link KernelMemory}). The first
 * call grows the module's memory once (below the reservation the kernels keep 32 MB of scratch) and fixes
 * it: a grown memory would detach the arrays handed out, so later calls return the same reservation when
 * they ask for no more than it holds, grow it when none of its arrays is in use, and fail with E_CONFIG
 * otherwise. At most about 2 GB in all
 * (E_LIMIT). In a browser whose main thread refuses to compile the module synchronously, call
 * {@link loadKernels} first (E_CONFIG until it resolves).
 *
 * @example
 * ```ts
 * import { kernelMemory } from 'lowbit/common';
 * import { quantizeValues } from 'lowbit/kivi';
 * const mem = kernelMemory(256 << 20);
 * const v = mem.float32(32 * 4096 * 128);
 * v.set(values); // then quantizeValues reads it in place
 * const q = quantizeValues({ dtype: 'float32', data: v, shape: [32, 4096, 128] }, { bits: 2, groupSize: 32 });
 * ```
 */
export function kernelMemory(bytes: number): KernelMemory {
  check(
    Number.isSafeInteger(bytes) && bytes > 0,
    'E_CONFIG',
    () => `kernelMemory: bytes must be a positive integer, got ${bytes}`,
  );
  if (reserved === null) {
    const region = reserveRegion(bytes);
    reserved = { mem: new KernelMemory(region), region };
    return reserved.mem;
  }
  const { mem, region } = reserved;
  if (bytes <= region.bytes) return mem;
  check(
    mem.used === 0,
    'E_CONFIG',
    () =>
      `kernelMemory: ${region.bytes} bytes are reserved and ${mem.used} in use; the kernels' memory cannot grow to ` +
      `${bytes} while arrays are handed out (growing would detach them): release them first, or ask for enough at first`,
  );
  Object.assign(region, reserveRegion(bytes));
  return mem;
}

/** Arguments of {@link WasmKernels.kiviAttend} (a cache state, the queries and the output). Internal. */
export interface KiviAttendArgs {
  readonly H: number;
  readonly D: number;
  readonly keyBits: number;
  readonly valueBits: number;
  readonly G: number;
  readonly GV: number;
  readonly R: number;
  readonly T: number;
  readonly kBlocks: readonly {
    readonly codes: Uint32Array;
    readonly scales: Float32Array;
    readonly mins: Float32Array;
  }[];
  readonly kRes: Float32Array;
  readonly kResLen: number;
  readonly vChunks: readonly {
    readonly codes: Uint32Array;
    readonly scales: Float32Array;
    readonly mins: Float32Array;
  }[];
  readonly vChunkLen: number;
  readonly vQLen: number;
  readonly vRes: Float32Array;
  readonly vResStart: number;
  readonly vResLen: number;
  readonly ring: number;
  readonly q: Float32Array;
  readonly heads: number;
  readonly m: number;
  readonly scale: number;
  readonly causal: boolean;
  readonly out: Float32Array;
  /** Logit floats per tile of query rows (default 2^20; tests pass small values to force tiling). */
  readonly tileFloats?: number;
}

/**
 * Typed wrappers over the raw exports: they lay out regions in the module's memory, copy in, call, copy
 * out. Each returns `false` when the kernel reported a precondition failure (non-finite input, range
 * overflow); the caller then runs its own checks, which throw the proper error. Self-contained (no
 * free variables), so the Node worker pool ships its source text to workers. Internal.
 */
export class WasmKernels {
  /**
   * Elements of float32 input per wasm call of the encoders (64 K, 256 KB: the copy in stays in L2).
   * Measured on the benchmark machine: MX/BFP encoding 0.01–0.02× the memory copy better than 32 K, 8 K–16 K
   * worse; KIVI quantize 8 K–16 K and 256 K–1 M worse, 128 K equal. A getter, not a static field: bundlers
   * may move static field initialisers out of the class body, and the pool ships the class's source text
   * to its workers.
   */
  static get CHUNK(): number {
    return 1 << 16;
  }
  private readonly x: RawExports;
  private readonly base: number;
  /**
   * End of this instance's scratch (a slot of a shared memory, or below a {@link kernelMemory}
   * reservation), or 2 GB: the memory grows on demand.
   */
  private end: number;
  /** Buffers of this module's memory that caller arrays may view (see {@link WasmKernels.adopt}). */
  private readonly owned = new WeakSet<object>();

  /**
   * `slot`: [start, end) byte range for this instance's scratch when several instances share one memory
   * (the Node pool); the memory then never grows for scratch.
   */
  constructor(x: RawExports, slot?: readonly [number, number]) {
    this.x = x;
    this.base = slot === undefined ? (x.heapBase() + 15) & ~15 : slot[0] + 256;
    this.end = slot === undefined ? 2 ** 31 : slot[1];
    // the MX kernels' 256-byte register scratch: static data unless the memory is shared with other instances
    if (slot !== undefined) x.setPinScratch(slot[0]);
  }

  /**
   * Declare `buf` (a buffer of this module's memory, e.g. a shared memory's `buffer` before it grew) as
   * holding caller arrays: kernels then read and write those arrays in place instead of copying them.
   */
  adopt(buf: object): void {
    this.owned.add(buf);
  }

  /**
   * Internal ({@link kernelMemory}): bound this instance's scratch to `scratch` bytes from its base and grow
   * its memory once so that `bytes` more (and the 64-byte guard) fit above them; returns where they start,
   * or −1 (nothing changed) past 2 GB or when the engine refuses to grow the memory. The memory never
   * grows again: growing a non-shared memory detaches every view of it.
   */
  reserve(scratch: number, bytes: number): number {
    const start = this.base + scratch;
    const mem = this.x.memory;
    const top = start + bytes + 64;
    if (top > 2 ** 31) return -1;
    if (top > mem.buffer.byteLength) {
      try {
        mem.grow(Math.ceil((top - mem.buffer.byteLength) / 65536));
      } catch {
        return -1;
      }
    }
    this.end = start;
    return start;
  }

  /** This module's memory (internal: {@link kernelMemory}). */
  get memory(): WasmMemory {
    return this.x.memory;
  }

  /**
   * Byte address of `a[off]` in this module's memory when `a` views it (an adopted buffer) and ends at
   * least 64 bytes before the memory's end (the kernels' vector loads may read up to 64 bytes past an
   * input), else −1.
   */
  private at(a: Float32Array | Uint32Array | Uint8Array, off: number): number {
    const mem = this.x.memory.buffer;
    if (a.buffer !== mem && !this.owned.has(a.buffer)) return -1;
    return a.byteOffset + a.byteLength + 64 <= mem.byteLength ? a.byteOffset + off * a.BYTES_PER_ELEMENT : -1;
  }

  /**
   * Address of the input `a[off … off+n)`: in place, or copied to the scratch region `p` — also when in
   * place with `stage` (kernels that read their input in a strided order: a sequential copy first is
   * faster than their first touch of memory, measured for KIVI keys: 9.6 → 6.9 ms per 67 MB).
   */
  private inp(a: Float32Array | Uint32Array | Uint8Array, off: number, n: number, p: number, stage = false): number {
    const q = this.at(a, off);
    const b = a.BYTES_PER_ELEMENT;
    if (q >= 0 && stage) this.x.copyBytes(p, q, n * b);
    if (q >= 0) return stage ? p : q;
    new Uint8Array(this.x.memory.buffer).set(new Uint8Array(a.buffer, a.byteOffset + off * b, n * b), p);
    return p;
  }

  /**
   * Address where the output `a[off … off+n)` is written: in place, or the scratch region `p` (copied out
   * by {@link back}). `slack`: bytes a kernel may write past the region's end (vector stores of a ragged
   * tail); in place then needs that many bytes of `a` after the region (later chunks of the same call
   * rewrite them), so the last chunk of an array goes through scratch.
   */
  private outp(a: Float32Array | Uint32Array | Uint8Array, off: number, n: number, p: number, slack = 0): number {
    const q = this.at(a, off);
    return q >= 0 && (off + n) * a.BYTES_PER_ELEMENT + slack <= a.byteLength ? q : p;
  }

  /** Copy an output that {@link outp} put in the scratch region `p` (q === p) into `a[off … off+n)`. */
  private back(a: Float32Array | Uint32Array | Uint8Array, off: number, n: number, q: number, p: number): void {
    if (q !== p) return;
    const b = a.BYTES_PER_ELEMENT;
    new Uint8Array(a.buffer, a.byteOffset + off * b, n * b).set(new Uint8Array(this.x.memory.buffer, p, n * b));
  }

  /** Make room for regions of the given byte sizes; returns their 16-aligned offsets, one per size. */
  private layout<const S extends readonly number[]>(sizes: S): Offsets<S> | null {
    const offs: number[] = [];
    let p = this.base;
    for (const s of sizes) {
      offs.push(p);
      p += Math.ceil(s / 16) * 16;
    }
    // the kernels address memory with 32-bit offsets; refuse (caller falls back to JS) past 2 GB or the slot
    if (p > this.end) return null;
    const mem = this.x.memory;
    const have = mem.buffer.byteLength;
    if (p > have) {
      try {
        mem.grow(Math.ceil((p - have) / 65536));
      } catch {
        return null;
      }
    }
    return offs as Offsets<S>;
  }

  private f32(): Float32Array {
    return new Float32Array(this.x.memory.buffer);
  }

  private u32(): Uint32Array {
    return new Uint32Array(this.x.memory.buffer);
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
    return this.kiviQuant(this.x.kiviValuesQuant, 1, x, xOff, rows, D, bits, G, lim, codes, cOff, scales, mins, mOff);
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
    return this.kiviDequant(this.x.kiviValuesDequant, 1, codes, cOff, scales, mins, mOff, rows, D, bits, G, out, oOff);
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
    const k = this.x.kiviKeysQuant;
    return this.kiviQuant(k, G, x, xOff, nTok, D, bits, G, lim, codes, cOff, scales, mins, mOff, true);
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
    return this.kiviDequant(this.x.kiviKeysDequant, G, codes, cOff, scales, mins, mOff, nTok, D, bits, G, out, oOff);
  }

  /**
   * Shared chunk loop of the KIVI quantizers: `n` tokens of D channels, chunks of a multiple of `unit`
   * tokens (keys: G, values: 1) of about {@link WasmKernels.CHUNK} elements. Token t's codes start at word t·D/f and its metadata at t·D/G for both layouts
   * (values: row-major per token; keys: `[T/f, D]` and `[T/G, D]` with t a multiple of G).
   */
  private kiviQuant(
    kernel: RawExports['kiviValuesQuant'],
    unit: number,
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
    stage = false,
  ): boolean {
    const f = 32 / bits;
    const step = unit * Math.max(1, Math.floor(WasmKernels.CHUNK / (unit * D)));
    const ct = Math.min(step, n);
    const nm = ((ct * D) / G) * 4;
    // prm: the kernels' per-group scratch (read one group past the end)
    const L = this.layout([ct * D * 4, ((ct * D) / f) * 4, nm, nm, nm + 16]);
    if (L === null) return false;
    const [px, pc, ps, pm, pp] = L;
    for (let t0 = 0; t0 < n; t0 += step) {
      const nt = Math.min(step, n - t0);
      const m = nt * D;
      const c0 = cOff + (t0 * D) / f;
      const m0 = mOff + (t0 * D) / G;
      const [qc, qs, qm] = [
        this.outp(codes, c0, m / f, pc),
        this.outp(scales, m0, m / G, ps),
        this.outp(mins, m0, m / G, pm),
      ];
      if (kernel(this.inp(x, xOff + t0 * D, m, px, stage), nt, D, bits, G, lim, qc, qs, qm, pp) !== 0) return false;
      this.back(codes, c0, m / f, qc, pc);
      this.back(scales, m0, m / G, qs, ps);
      this.back(mins, m0, m / G, qm, pm);
    }
    return true;
  }

  /**
   * Shared chunk loop of the KIVI dequantizers (layout and `unit` as {@link kiviQuant}; chunks of about
   * {@link WasmKernels.deqChunk} elements).
   */
  private kiviDequant(
    kernel: RawExports['kiviKeysDequant'],
    unit: number,
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
    const step = unit * Math.max(1, Math.floor(WasmKernels.deqChunk(4 + bits / 8 + 8 / G) / (unit * D)));
    const ct = Math.min(step, n);
    const L = this.layout([((ct * D) / f) * 4, ((ct * D) / G) * 4, ((ct * D) / G) * 4, ct * D * 4]);
    if (L === null) return false;
    const [pc, ps, pm, po] = L;
    for (let t0 = 0; t0 < n; t0 += step) {
      const nt = Math.min(step, n - t0);
      const m = nt * D;
      const c0 = cOff + (t0 * D) / f;
      const m0 = mOff + (t0 * D) / G;
      const qo = this.outp(out, oOff + t0 * D, m, po);
      const qc = this.inp(codes, c0, m / f, pc);
      // (the values' kernel takes no `cached`: JS drops the extra argument)
      kernel(qc, nt, D, bits, G, this.inp(scales, m0, m / G, ps), this.inp(mins, m0, m / G, pm), qo, qo === po ? 1 : 0);
      this.back(out, oOff + t0 * D, m, qo, po);
    }
    return true;
  }

  /**
   * Chunk loop of the "lines of `len`, groups of `gs`" kernels (affine, MX): whole lines per chunk when a
   * line fits in `chunk` elements, else runs of whole groups of one line (of an even element count when
   * `even`). `sizes(E, Gn)` gives the module regions for chunks of E elements and Gn groups; `run(e0, nr,
   * ln, s0, ns, L)` processes nr lines of ln elements from element e0 (groups s0 … s0 + ns) and returns
   * false to stop.
   */
  private lineChunks<const S extends readonly number[]>(
    lines: number,
    len: number,
    gs: number,
    chunk: number,
    even: boolean,
    sizes: (E: number, Gn: number) => S,
    run: (e0: number, nr: number, ln: number, s0: number, ns: number, L: Offsets<S>) => boolean,
  ): boolean {
    const ng = Math.ceil(len / gs);
    if (len <= chunk) {
      const step = Math.max(1, Math.floor(chunk / len));
      const cl = Math.min(step, lines);
      const L = this.layout(sizes(cl * len, cl * ng));
      if (L === null) return false;
      for (let l0 = 0; l0 < lines; l0 += step) {
        const nl = Math.min(step, lines - l0);
        if (!run(l0 * len, nl, len, l0 * ng, nl * ng, L)) return false;
      }
      return true;
    }
    let gStep = Math.max(1, Math.floor(chunk / gs));
    if (even && (gStep * gs) % 2 === 1) gStep++;
    const L = this.layout(sizes(Math.min(len, gStep * gs), gStep));
    if (L === null) return false;
    for (let l = 0; l < lines; l++)
      for (let g0 = 0; g0 < ng; g0 += gStep) {
        const n = Math.min(len - g0 * gs, gStep * gs);
        if (!run(l * len + g0 * gs, 1, n, l * ng + g0, Math.ceil(n / gs), L)) return false;
      }
    return true;
  }

  /**
   * Affine quantization, float zero point, contiguous groups: `lines` lines of `len` elements, groups
   * of `gs` along each line (ragged last group); codes one byte each. Returns false when the kernel
   * reports non-finite input or a range overflow (or no memory could be had).
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
    return this.lineChunks(
      lines,
      len,
      gs,
      WasmKernels.CHUNK,
      false,
      (E, Gn) => [E * 4, E, Gn * 4, Gn * 4, Gn * 4 + 16],
      (e0, nr, ln, s0, ns, L) => {
        const [px, pc, ps, pz, pp] = L;
        const n = nr * ln;
        const [qc, qs, qz] = [this.outp(codes, e0, n, pc), this.outp(scales, s0, ns, ps), this.outp(zeros, s0, ns, pz)];
        if (this.x.affineFloatQuant(this.inp(x, e0, n, px), nr, ln, gs, qmax, qc, qs, qz, pp) !== 0) return false;
        this.back(codes, e0, n, qc, pc);
        this.back(scales, s0, ns, qs, ps);
        this.back(zeros, s0, ns, qz, pz);
        return true;
      },
    );
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
    return this.lineChunks(
      lines,
      len,
      gs,
      WasmKernels.deqChunk(5 + 8 / gs),
      false,
      (E, Gn) => [E, Gn * 4, Gn * 4, E * 4],
      (e0, nr, ln, s0, ns, L) => {
        const [pc, ps, pz, po] = L;
        const n = nr * ln;
        const qo = this.outp(out, e0, n, po);
        const qc = this.inp(codes, e0, n, pc);
        this.x.affineFloatDequant(qc, nr, ln, gs, this.inp(scales, s0, ns, ps), this.inp(zeros, s0, ns, pz), qo);
        this.back(out, e0, n, qo, po);
        return true;
      },
    );
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
      const q = this.inp(data, e0, nr * n, px);
      this.x.fwhtPow2(q, nr, n, normalize ? 1 : 0, scale);
      this.back(data, e0, nr * n, q, px);
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
    const exact = WasmKernels.mxExact(bs, len);
    return this.lineChunks(
      rows,
      len,
      bs,
      WasmKernels.CHUNK,
      true,
      // tmp: a byte per element, or 8 per block + one block of floats (the fast path's rare blocks)
      (E, Gn) => [E * 4 + 64, Gn + 16, (E * w) / 8 + 64, E + 80 + 4 * bs],
      (e0, nr, ln, s0, ns, L) => {
        const [px, ps, pc, pt] = L;
        const n = nr * ln;
        // the MX kernels' vector stores of a ragged tail reach up to 16 scale / 64 code bytes past the
        // region; codes only past blocks of other than 16·k elements (whole ones are stored exactly)
        const qs = this.outp(scales, s0, ns, ps, 16);
        const qc = this.outp(codes, (e0 * w) / 8, (n * w) / 8, pc, exact ? 0 : 64);
        this.x.mxEncode(this.inp(x, e0, n, px), nr, ln, bs, kind, mbits, bias, emax, maxCode, w, qs, qc, pt);
        this.back(scales, s0, ns, qs, ps);
        this.back(codes, (e0 * w) / 8, (n * w) / 8, qc, pc);
        return true;
      },
    );
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
    const exact = WasmKernels.mxExact(bs, len);
    return this.lineChunks(
      rows,
      len,
      bs,
      WasmKernels.deqChunk(4 + w / 8 + 1 / bs),
      true,
      (E, Gn) => [(E * w) / 8 + 64, Gn + 16, 64, E * 4 + 64],
      (e0, nr, ln, s0, ns, L) => {
        const [pc, ps, pt, po] = L;
        const n = nr * ln;
        const qo = this.outp(out, e0, n, po, exact ? 0 : 64); // (up to 64 bytes past a ragged block, as above)
        const qc = this.inp(codes, (e0 * w) / 8, (n * w) / 8, pc);
        const qs = this.inp(scales, s0, ns, ps);
        this.x.mxDecode(qc, nr, ln, bs, kind, mbits, bias, specials, w, qs, this.inp(table, 0, table.length, pt), qo);
        this.back(out, e0, n, qo, po);
        return true;
      },
    );
  }

  // --- attn ---
  /**
   * Fused KIVI attention on packed codes (the wasm twin of `attendKernel` in src/kivi/attention.ts, same
   * float32 operations): `heads × m` query rows `q[(h·m + i)·D …]` over a cache of `T` tokens — key
   * blocks of `R` tokens (codes `[H, R/fk, D]`, scales/mins `[H, R/G, D]`), `kResLen` residual keys
   * (`kRes` `[H, R + 1, D]`), value chunks of `vChunkLen` tokens (codes `[n, H, D/fv]`, scales/mins
   * `[n, H, D/Gv]`), `vResLen` residual values in a ring of `ring` rows `[H, D]` from `vResStart`.
   * Needs G % (32/keyBits) === 0 and Gv % (32/valueBits) === 0. Logits of a tile of query rows stay in
   * the module's memory; each key block and value chunk is copied in once per tile (64–128 KB, so the
   * copy stays in cache) and serves every KV head and query row of the tile — key blocks, value chunks
   * and residual keys in this module's memory (a cache allocated by the Node pool) are read in place. The
   * softmax runs in wasm (the twin's float32 exp), the final 1/Σp scaling here in JS. Only query rows
   * [rowLo, rowHi) are computed (the Node pool splits a call by rows); a row's result does not depend on
   * the range.
   */
  kiviAttend(a: KiviAttendArgs, rowLo = 0, rowHi = a.heads * a.m): boolean {
    const { H, D, keyBits, valueBits, G, GV, R, T, heads, m, q, out } = a;
    const fk = 32 / keyBits;
    const fv = 32 / valueBits;
    const rowsPerKv = (heads / H) * m;
    const ld = (T + 3) & ~3;
    // logits of up to 2^20 floats (4 MB) per tile of query rows
    const rowsTile = Math.max(1, Math.min(rowHi - rowLo, Math.floor((a.tileFloats ?? 1 << 20) / ld)));
    const nW = D / fv;
    const accRow = (((nW + 3) >> 2) * fv) << 2;
    const nGr = D / GV;
    const vmRow = ((nGr + 3) >> 2) << 2;
    const kbW = H * (R / fk) * D;
    const kbM = H * (R / G) * D;
    const vcW = a.vChunkLen * H * nW;
    const vcM = a.vChunkLen * H * nGr;
    const al = (n: number): number => Math.ceil(n / 4) * 4;
    const tileFloats = Math.max(al(kbW) + 2 * al(kbM), al(vcW) + 2 * al(vcM), H * a.kResLen * D, a.vResLen * H * D);
    const L = this.layout([
      rowsTile * D * 4,
      rowsTile * ld * 4,
      rowsTile * accRow * 4,
      rowsTile * vmRow * 4,
      rowsTile * D * 4,
      4 * D * 4,
      2 * al(nW) * 4,
      rowsTile * 8,
      tileFloats * 4 + 64,
    ]);
    if (L === null) return false;
    const [pq, pl, pacc, pvm, pout, pqs, psw, psum, pt] = L;
    const f32 = this.f32();
    const u32 = this.u32();
    const x = this.x;
    const sc = Math.fround(a.scale);
    const tq = a.kBlocks.length * R;
    const ptS = pt + al(kbW) * 4;
    const ptM = ptS + al(kbM) * 4;
    const pvS = pt + al(vcW) * 4;
    const pvM = pvS + al(vcM) * 4;
    /** Addresses of a block's / chunk's arrays in place, or null (then they are copied in each tile). */
    const inPlace = (c: {
      codes: Uint32Array;
      scales: Float32Array;
      mins: Float32Array;
    }): readonly [number, number, number] | null => {
      const w = [this.at(c.codes, 0), this.at(c.scales, 0), this.at(c.mins, 0)] as const;
      return w.every((v) => v >= 0) ? w : null;
    };
    // (once per call: every tile of query rows reads the same blocks and chunks)
    const kAt = a.kBlocks.map(inPlace);
    const vAt = a.vChunks.map(inPlace);
    const kResAt = this.at(a.kRes, 0);
    const vResAt = this.at(a.vRes, 0);
    for (let r0 = rowLo; r0 < rowHi; r0 += rowsTile) {
      const nr = Math.min(rowsTile, rowHi - r0);
      f32.set(q.subarray(r0 * D, (r0 + nr) * D), pq >>> 2);
      let limMax = T;
      if (a.causal) {
        let iMax = 0;
        for (let r = r0; r < r0 + nr && iMax < m - 1; r++) iMax = Math.max(iMax, r % m);
        limMax = T - m + iMax + 1;
      }
      const kv0 = Math.floor(r0 / rowsPerKv);
      const kv1 = Math.floor((r0 + nr - 1) / rowsPerKv);
      // logits over quantized keys, one block (all KV heads) at a time
      for (let b = 0; b < a.kBlocks.length && b * R < limMax; b++) {
        const blk = a.kBlocks[b]!;
        const [kc, ks, km] = kAt[b] ?? [pt, ptS, ptM];
        if (kc === pt) {
          u32.set(blk.codes, pt >>> 2);
          f32.set(blk.scales, ptS >>> 2);
          f32.set(blk.mins, ptM >>> 2);
        }
        for (let kv = kv0; kv <= kv1; kv++) {
          const rs = Math.max(r0, kv * rowsPerKv) - r0;
          const re = Math.min(r0 + nr, (kv + 1) * rowsPerKv) - r0;
          x.kiviAttnKeys(
            kc + kv * (R / fk) * D * 4,
            ks + kv * (R / G) * D * 4,
            km + kv * (R / G) * D * 4,
            R,
            D,
            keyBits,
            G,
            pq + rs * D * 4,
            re - rs,
            sc,
            pl + (rs * ld + b * R) * 4,
            ld,
            pqs,
          );
        }
      }
      // logits over residual keys
      if (a.kResLen > 0 && tq < limMax) {
        const n = a.kResLen * D;
        if (kResAt < 0)
          for (let h = 0; h < H; h++)
            f32.set(a.kRes.subarray(h * (R + 1) * D, h * (R + 1) * D + n), (pt >>> 2) + h * n);
        for (let kv = kv0; kv <= kv1; kv++) {
          const rs = Math.max(r0, kv * rowsPerKv) - r0;
          const re = Math.min(r0 + nr, (kv + 1) * rowsPerKv) - r0;
          x.kiviAttnKeysF32(
            kResAt >= 0 ? kResAt + kv * (R + 1) * D * 4 : pt + kv * n * 4,
            a.kResLen,
            D * 4,
            D,
            pq + rs * D * 4,
            re - rs,
            sc,
            pl + (rs * ld + tq) * 4,
            ld,
          );
        }
      }
      // softmax per row (softmaxRow of src/kivi/attention.ts); masked tokens get p = 0
      x.kiviAttnSoftmax(pl, ld, nr, T, m, r0, a.causal ? 1 : 0, psum);
      const sums = new Float64Array(this.x.memory.buffer, psum, nr);
      // p · V over quantized values, one chunk (all KV heads) at a time
      f32.fill(0, pacc >>> 2, (pacc >>> 2) + nr * accRow);
      f32.fill(0, pvm >>> 2, (pvm >>> 2) + nr * vmRow);
      const vEnd = Math.min(a.vQLen, limMax);
      for (let ci = 0; ci * a.vChunkLen < vEnd; ci++) {
        const t0 = ci * a.vChunkLen;
        const n = Math.min(a.vChunkLen, vEnd - t0);
        const ch = a.vChunks[ci]!;
        const [vc, vs, vm] = vAt[ci] ?? [pt, pvS, pvM];
        if (vc === pt) {
          u32.set(ch.codes.subarray(0, n * H * nW), pt >>> 2);
          f32.set(ch.scales.subarray(0, n * H * nGr), pvS >>> 2);
          f32.set(ch.mins.subarray(0, n * H * nGr), pvM >>> 2);
        }
        for (let kv = kv0; kv <= kv1; kv++) {
          const rs = Math.max(r0, kv * rowsPerKv) - r0;
          const re = Math.min(r0 + nr, (kv + 1) * rowsPerKv) - r0;
          x.kiviAttnValues(
            vc,
            vs,
            vm,
            n,
            H,
            kv,
            D,
            valueBits,
            GV,
            pl + (rs * ld + t0) * 4,
            ld,
            re - rs,
            pacc + rs * accRow * 4,
            pvm + rs * vmRow * 4,
            vmRow,
            psw,
          );
        }
      }
      x.kiviAttnValuesFinish(pacc, pvm, vmRow, nr, D, valueBits, GV, pout);
      // p · V over residual values, in token order: the ring's two runs read in place from this module's
      // memory (one call per run: the same accumulations in the same order), else copied into the tile
      if (a.vResLen > 0 && a.vQLen < limMax) {
        const HD = H * D;
        const n1 = Math.min(a.vResLen, a.ring - a.vResStart);
        // runs: [address of the first row, tokens, index of the first token]
        let runs: [number, number, number][];
        if (vResAt >= 0)
          runs = [
            [vResAt + a.vResStart * HD * 4, n1, 0],
            [vResAt, a.vResLen - n1, n1],
          ];
        else {
          f32.set(a.vRes.subarray(a.vResStart * HD, (a.vResStart + n1) * HD), pt >>> 2);
          if (a.vResLen > n1) f32.set(a.vRes.subarray(0, (a.vResLen - n1) * HD), (pt >>> 2) + n1 * HD);
          runs = [[pt, a.vResLen, 0]];
        }
        for (let kv = kv0; kv <= kv1; kv++) {
          const rs = Math.max(r0, kv * rowsPerKv) - r0;
          const re = Math.min(r0 + nr, (kv + 1) * rowsPerKv) - r0;
          for (const [at, n, t0] of runs) {
            if (n === 0) continue;
            x.kiviAttnValuesF32(
              at + kv * D * 4,
              n,
              HD * 4,
              D,
              pl + (rs * ld + a.vQLen + t0) * 4,
              ld,
              re - rs,
              pout + rs * D * 4,
            );
          }
        }
      }
      for (let k = 0; k < nr; k++) {
        const inv = 1 / sums[k]!;
        const o = (pout >>> 2) + k * D;
        const oo = (r0 + k) * D;
        for (let d = 0; d < D; d++) out[oo + d] = f32[o + d]! * inv;
      }
    }
    return true;
  }

  /**
   * Positions in {@link WasmKernels.attendFlat}'s list that the Node pool reads or rewrites when it cuts a
   * call into parts (shape scalars, row range, counts, arrays; the blocks' arrays from `blocks` on).
   */
  static get ATTEND_AT() {
    return {
      H: 0,
      D: 1,
      T: 7,
      heads: 14,
      m: 15,
      rowLo: 19,
      rowHi: 20,
      nK: 21,
      nV: 22,
      kRes: 23,
      vRes: 24,
      q: 25,
      out: 26,
      blocks: 27,
    } as const;
  }

  /**
   * {@link kiviAttend}'s arguments and row range as a flat list of numbers, booleans and arrays (what the
   * Node pool cuts into parts and sends to its workers): 21 scalars (H, D, keyBits, valueBits, G, GV, R,
   * T, kResLen, vChunkLen, vQLen, vResStart, vResLen, ring, heads, m, scale, causal, tileFloats or −1,
   * rowLo, rowHi), the key block and value chunk counts, kRes, vRes, q, out, then codes / scales / mins of
   * every key block and every value chunk. Inverse: {@link WasmKernels.kiviAttendFlat}.
   */
  static attendFlat(
    a: KiviAttendArgs,
    rowLo: number,
    rowHi: number,
  ): (number | boolean | Float32Array | Uint32Array)[] {
    const v: (number | boolean | Float32Array | Uint32Array)[] = [
      a.H,
      a.D,
      a.keyBits,
      a.valueBits,
      a.G,
      a.GV,
      a.R,
      a.T,
    ];
    v.push(a.kResLen, a.vChunkLen, a.vQLen, a.vResStart, a.vResLen, a.ring, a.heads, a.m, a.scale, a.causal);
    v.push(a.tileFloats ?? -1, rowLo, rowHi, a.kBlocks.length, a.vChunks.length, a.kRes, a.vRes, a.q, a.out);
    for (const b of [...a.kBlocks, ...a.vChunks]) v.push(b.codes, b.scales, b.mins);
    return v;
  }

  /** {@link kiviAttend} on the flat list of {@link WasmKernels.attendFlat}. */
  kiviAttendFlat(...v: (number | boolean | Float32Array | Uint32Array)[]): boolean {
    const n = (i: number): number => v[i] as number;
    const P = WasmKernels.ATTEND_AT;
    const blocks = (from: number, count: number) =>
      Array.from({ length: count }, (_, j) => ({
        codes: v[from + 3 * j] as Uint32Array,
        scales: v[from + 3 * j + 1] as Float32Array,
        mins: v[from + 3 * j + 2] as Float32Array,
      }));
    const a: KiviAttendArgs = {
      H: n(0),
      D: n(1),
      keyBits: n(2),
      valueBits: n(3),
      G: n(4),
      GV: n(5),
      R: n(6),
      T: n(7),
      kResLen: n(8),
      vChunkLen: n(9),
      vQLen: n(10),
      vResStart: n(11),
      vResLen: n(12),
      ring: n(13),
      heads: n(14),
      m: n(15),
      scale: n(16),
      causal: v[17] === true,
      ...(n(18) >= 0 ? { tileFloats: n(18) } : {}),
      kRes: v[P.kRes] as Float32Array,
      vRes: v[P.vRes] as Float32Array,
      q: v[P.q] as Float32Array,
      out: v[P.out] as Float32Array,
      kBlocks: blocks(P.blocks, n(P.nK)),
      vChunks: blocks(P.blocks + 3 * n(P.nK), n(P.nV)),
    };
    return this.kiviAttend(a, n(P.rowLo), n(P.rowHi));
  }

  /** {@link kiviAttend}'s softmax of one row `x` in place (all `x.length` tokens visible); returns Σp. */
  kiviSoftmaxRow(x: Float32Array): number {
    const n = x.length;
    const L = this.layout([((n + 3) & ~3) * 4, 16]);
    if (L === null) return Number.NaN;
    const [px, ps] = L;
    this.f32().set(x, px >>> 2);
    this.x.kiviAttnSoftmax(px, (n + 3) & ~3, 1, n, 1, 0, 0, ps);
    x.set(this.f32().subarray(px >>> 2, (px >>> 2) + n));
    return new Float64Array(this.x.memory.buffer, ps, 1)[0]!;
  }

  // --- gemv ---
  /**
   * Bit-plane GEMV (mwq LUT-GEMV, twin of `gemvLutPrep`/`gemvLutRows` in src/mwq/gemv.ts): y_b = Ŵ·x_b
   * for B vectors `xs` ([B, cols]) from the first `P` planes of `planes` (W words per plane, element
   * e = row·cols + col is bit e & 31 of word e >>> 5), into `out` ([B, rows]); only output rows
   * [r0, r1) (r0 a multiple of 32: the Node pool splits calls by rows). The geometry and level constants
   * are those of {@link GemvPlanesArgs}, flat (`wt`: P weights). Planes are copied in chunks of 32k rows
   * (≈ 256 KB of plane bytes), once per batch of vectors whose tables fit in 1 MB.
   */
  gemvBitPlanes(
    planes: Uint32Array,
    W: number,
    rows: number,
    cols: number,
    G: number,
    P: number,
    wt: Float64Array,
    andW: number,
    off: number,
    residual: boolean,
    baseP: number,
    scales: Float32Array,
    zeros: Float32Array,
    levelScales: Float32Array,
    xs: Float32Array,
    B: number,
    out: Float32Array,
    r0: number,
    r1: number,
  ): boolean {
    const gpr = cols / G;
    const nG = rows * gpr;
    const nb = (cols + 7) >>> 3;
    const nL = residual ? Math.max(0, P - baseP) : 0;
    // rows per chunk: a multiple of 32 (each chunk starts on a word), about 2^21 plane bits
    const R = Math.min(
      Math.ceil((r1 - r0) / 32) * 32,
      Math.max(32, Math.floor(2 ** 21 / Math.max(1, P * cols) / 32) * 32),
    );
    const cw = Math.ceil((R * cols) / 32) + 1;
    // column tiles: about 128 KB of tables per tile
    const tileG = Math.max(1, Math.floor(64 / Math.max(1, G >>> 3)));
    const Bc = Math.max(1, Math.min(B, Math.floor(2 ** 20 / (nb * 2048))));
    const L = this.layout([
      nb * 32,
      Bc * nb * 2048,
      Bc * gpr * 8,
      P * 8,
      P * cw * 4,
      R * gpr * 4,
      R * gpr * 4,
      Math.max(1, nL) * R * gpr * 4,
      Bc * R * 4,
      R * 8,
    ]);
    if (L === null) return false;
    const [px, plut, pX, pwt, pp, ps, pz, pls, po, pacc] = L;
    new Float64Array(this.x.memory.buffer, pwt, P).set(wt.subarray(0, P));
    const [f32, u32] = [this.f32(), this.u32()]; // (the memory does not grow during the call)
    // arrays in this module's memory (the Node pool's, kernelMemory's) are read / written in place: the
    // group and level scales at their offsets, each output vector's rows; the planes are copied by chunk
    // with memory.copy (see below)
    const planesAt = this.at(planes, 0);
    const inGroups = this.at(scales, 0) >= 0 && this.at(zeros, 0) >= 0 && (nL === 0 || this.at(levelScales, 0) >= 0);
    const inOut = this.at(out, 0) >= 0;
    // vectors in batches of Bc whose tables stay cache-resident (≤ 1 MB); the planes are copied once per batch
    for (let b0 = 0; b0 < B; b0 += Bc) {
      const b1 = Math.min(B, b0 + Bc);
      for (let b = b0; b < b1; b++) {
        f32.set(xs.subarray(b * cols, (b + 1) * cols), px >>> 2);
        f32.fill(0, (px >>> 2) + cols, (px >>> 2) + nb * 8);
        this.x.gemvPrep(px, cols, G, plut + (b - b0) * nb * 2048, pX + (b - b0) * gpr * 8);
      }
      for (let o0 = r0; o0 < r1; o0 += R) {
        const o1 = Math.min(r1, o0 + R);
        const nr = o1 - o0;
        const w0 = (o0 * cols) / 32;
        const w1 = Math.ceil((o1 * cols) / 32);
        const g0 = o0 * gpr;
        const ng = nr * gpr;
        // each plane's rows of the chunk, side by side (from this module's memory by memory.copy): read in
        // place at their stride of W words the P planes are P streams a power of two apart in most shapes
        // (4096 × 4096: 2 MB), which share cache sets — twice as slow at 4 planes, measured
        for (let p = 0; p < P; p++) {
          const d = (pp >>> 2) + p * cw;
          if (planesAt >= 0) this.x.copyBytes(pp + p * cw * 4, planesAt + (p * W + w0) * 4, (w1 - w0) * 4);
          else u32.set(planes.subarray(p * W + w0, p * W + w1), d);
          u32.fill(0, d + w1 - w0, d + cw);
        }
        if (!inGroups) {
          f32.set(scales.subarray(g0, g0 + ng), ps >>> 2);
          f32.set(zeros.subarray(g0, g0 + ng), pz >>> 2);
          for (let l = 0; l < nL; l++)
            f32.set(levelScales.subarray(l * nG + g0, l * nG + g0 + ng), (pls >>> 2) + l * R * gpr);
        }
        // (addresses of this chunk's groups, for every vector of the batch; its planes are at pp)
        const [qs, qz, ql] = [
          inGroups ? this.at(scales, g0) : ps,
          inGroups ? this.at(zeros, g0) : pz,
          inGroups && nL > 0 ? this.at(levelScales, g0) : pls,
        ];
        for (let b = b0; b < b1; b++) {
          this.x.gemvRows(
            pp,
            cw * 4,
            nr,
            cols,
            G,
            P,
            pwt,
            andW,
            off,
            residual ? 1 : 0,
            baseP,
            plut + (b - b0) * nb * 2048,
            pX + (b - b0) * gpr * 8,
            qs,
            qz,
            ql,
            inGroups ? nG * 4 : R * gpr * 4,
            tileG,
            pacc,
            inOut ? this.at(out, b * rows + o0) : po + (b - b0) * R * 4,
          );
        }
        if (inOut) continue;
        for (let b = b0; b < b1; b++)
          out.set(f32.subarray((po >>> 2) + (b - b0) * R, (po >>> 2) + (b - b0) * R + nr), b * rows + o0);
      }
    }
    return true;
  }

  // --- mx ---
  /**
   * Whether the MX kernels store a chunk's codes / decoded values exactly (no vector store past its end):
   * every block has 16·k elements (blocks of `bs`, rows of `len`).
   */
  static mxExact(bs: number, len: number): boolean {
    return bs % 16 === 0 && len % bs === 0;
  }

  /**
   * Elements per wasm call of every decoder (KIVI, affine, MX/BFP): up to 1 M (4 MB of float32 output),
   * fewer when the call's regions (`bytesPerElement` of codes, metadata and output) would pass 6 MB (a pool
   * thread's scratch slot is 8 MB). The copy of each decoded chunk into the caller's `out` is cheaper in
   * large pieces, measured on the benchmark machine: MX 0.53–0.55× → 0.63–0.72× the memory copy end to
   * end; KIVI (median of 5 runs, 67 MB of output) 2-bit keys 6.64 → 5.59 ms, 4-bit values 8.20 → 7.22 ms
   * against 256 KB pieces (copy 4.5 ms); 1 MB pieces were as good as 4 MB.
   */
  static deqChunk(bytesPerElement: number): number {
    return Math.min(1 << 20, Math.floor((6 << 20) / bytesPerElement));
  }
}
