/**
 * Attention over a KIVI cache computed directly on the packed codes (kivi.md §5), and its dense
 * reference twin.
 *
 * For query head h (KV head `kv = floor(h / (heads / kvHeads))`, GQA/MQA as data) and query row i at
 * absolute position `T − m + i`:
 * ```
 * logit_t = scale · (Σ_d (q_d·Ks[g,d])·code_K(t,d) + Σ_d q_d·Kmn[g,d])      quantized keys, g = t / G
 * logit_r = scale · q·Kr_r                                                   residual keys
 * p       = softmax(logits over the visible tokens)                          causal: t ≤ T − m + i
 * out_d   = Σ_t p_t·(Vs[t,c]·code_V(t,d) + Vmn[t,c]) + Σ_r p_r·Vr[r,d]       c = d / G
 * ```
 * Float32 arithmetic in a defined order, reproduced bit for bit by the WebAssembly SIMD twin
 * (`wasm/assembly/attn.ts`, run when the backend is wasm and the groups are word-aligned):
 * - a dot product over d runs in four float32 lanes (d ≡ 0, 1, 2, 3 mod 4, each summed in channel order
 *   from +0) combined as `(l0 + l1) + (l2 + l3)`;
 * - quantized key: `f32(f32(Σ f32(qs_d·code) + cm)·sc)` with `qs_d = f32(q_d·Ks)`, `cm = Σ f32(q_d·Kmn)`
 *   (lanes as above) and `sc = f32(scale)`; residual key: `f32(Σ f32(q_d·k_d)·sc)`;
 * - softmax ({@link softmaxRow}): `p = expNeg(f32(logit − max))` (a float32 exp), `Σ p` in float64;
 * - values, token by token: `acc_d += f32(f32(p·Vs)·code)`, `vm_c += f32(p·Vmn)`; then `acc_d += vm_c`;
 *   residual values `acc_d += f32(p·v_d)`; `out_d = f32(acc_d · (1/Σp))`.
 * No dequantized copy of K or V is made; scratch is owned by the caller and reused.
 *
 * Internal module. Exposed through index.ts: attendDenseRef. Internal: AttendScratch, createScratch,
 * softmaxRow, attendArgs, attendKernel.
 * @module
 */
import { check } from '../common/errors.js';
import { type WasmKernels, wasmKernels } from '../common/kernels.js';
import type { Float32Tensor } from '../common/tensor.js';
import { checkFloat32Tensor } from './config.js';
import { type CacheState, VALUE_CHUNK, valueRingRows } from './state.js';

/** Reusable scratch of the fused kernel. */
export interface AttendScratch {
  /** Logits, then probabilities, of one query row: `[T]` (grown on demand). */
  logits: Float32Array;
  /** `f32(q_d·scale[g, d])` of one key group: `[D]`. */
  readonly qs: Float32Array;
  /** `acc_d` of one query row: `[D]`. */
  readonly acc: Float32Array;
  /** `f32(p·scale)` and the running `Σ f32(p·min)` per value channel group: `[D/Gv]`. */
  readonly ps: Float32Array;
  readonly vm: Float32Array;
}

export function createScratch(D: number, valueG: number): AttendScratch {
  return {
    logits: new Float32Array(256),
    qs: new Float32Array(D),
    acc: new Float32Array(D),
    ps: new Float32Array(D / valueG),
    vm: new Float32Array(D / valueG),
  };
}

const fr = Math.fround;

// float32 constants of expNeg (the same literals, as f32, in wasm/assembly/attn.ts)
const E_LOG2E = fr(Math.LOG2E);
const E_C2 = fr(-2.1219444e-4);
const E_P0 = fr(1.98756915e-4);
const E_P1 = fr(1.3981999507e-3);
const E_P2 = fr(8.3334519073e-3);
const E_P3 = fr(4.1665795894e-2);
const E_P4 = fr(1.6666665459e-1);
const E_P5 = fr(5.0000001201e-1);

/** `2^k` for k = −126 … 0 (index k + 126). */
const POW2 = /* @__PURE__ */ (() => {
  const t = new Float64Array(127);
  for (let k = 0; k < 127; k++) t[k] = 2 ** (k - 126);
  return t;
})();

/**
 * `exp(x)` of a float32 x ≤ 0 in float32 operations (the wasm twin computes the same): 0 below −87 (and for NaN);
 * else `n = rne(f32(x·log2 e))` (magic constant 1.5·2^23), `r = f32(f32(x − n·C1) − n·C2)` (Cody–Waite,
 * C1 = 0.693359375 exact), `y = 1 + r + r²·P(r)` (degree-5 polynomial, Horner, one rounding per
 * operation), `f32(y·2^n)`. Within 1 ulp of exp over [−87, 0] (2·10^6 samples). Internal.
 */
export function expNeg(x: number): number {
  if (!(x >= -87)) return 0;
  const k = fr(fr(fr(x * E_LOG2E) + 12582912) - 12582912);
  let r = fr(x - fr(k * 0.693359375));
  r = fr(r - fr(k * E_C2));
  let y = fr(fr(E_P0 * r) + E_P1);
  y = fr(fr(y * r) + E_P2);
  y = fr(fr(y * r) + E_P3);
  y = fr(fr(y * r) + E_P4);
  y = fr(fr(y * r) + E_P5);
  y = fr(fr(fr(y * fr(r * r)) + r) + 1);
  return fr(y * POW2[k + 126]!);
}

/**
 * Softmax of `x[off … off + lim)` in place (kivi.md §5): `p_t = expNeg(f32(x_t − max))`, returns `Σ p_t`
 * summed in float64 in token order. The wasm twin (`kiviAttnSoftmax`) computes the same bits. Internal.
 */
export function softmaxRow(x: Float32Array, off: number, lim: number): number {
  let mx = x[off]!;
  for (let t = 1; t < lim; t++) {
    const v = x[off + t]!;
    if (v > mx) mx = v;
  }
  let sum = 0;
  for (let t = 0; t < lim; t++) {
    const e = expNeg(fr(x[off + t]! - mx));
    x[off + t] = e;
    sum += e;
  }
  return sum;
}

/**
 * Logit of one quantized key token (slot `sh/bits` of word row `crow`): four float32 lanes over the
 * channels d ≡ 0, 1, 2, 3 (mod 4), `lane += f32(qs_d·code_d)` in channel order, combined as
 * `(l0 + l1) + (l2 + l3)`; then `f32(f32(acc + cm)·sc)`. Internal.
 */
function keyLogit(
  codes: Uint32Array,
  crow: number,
  qs: Float32Array,
  D: number,
  sh: number,
  mask: number,
  cm: number,
  sc: number,
): number {
  let l0 = 0;
  let l1 = 0;
  let l2 = 0;
  let l3 = 0;
  for (let d = 0; d < D; d += 4) {
    const o = crow + d;
    l0 = fr(l0 + fr(qs[d]! * ((codes[o]! >>> sh) & mask)));
    l1 = fr(l1 + fr(qs[d + 1]! * ((codes[o + 1]! >>> sh) & mask)));
    l2 = fr(l2 + fr(qs[d + 2]! * ((codes[o + 2]! >>> sh) & mask)));
    l3 = fr(l3 + fr(qs[d + 3]! * ((codes[o + 3]! >>> sh) & mask)));
  }
  return fr(fr(fr(fr(l0 + l1) + fr(l2 + l3)) + cm) * sc);
}

/**
 * {@link keyLogit} of the four tokens in slots `sh/bits … sh/bits + 3` of one word row (one token
 * group), written to `logits[t … t + 3]`. Internal.
 */
function keyLogits4(
  codes: Uint32Array,
  crow: number,
  qs: Float32Array,
  D: number,
  sh: number,
  bits: number,
  mask: number,
  cm: number,
  sc: number,
  logits: Float32Array,
  t: number,
): void {
  const s1 = sh + bits;
  const s2 = s1 + bits;
  const s3 = s2 + bits;
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  let b3 = 0;
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  let e0 = 0;
  let e1 = 0;
  let e2 = 0;
  let e3 = 0;
  for (let d = 0; d < D; d += 4) {
    const o = crow + d;
    const w0 = codes[o]!;
    const w1 = codes[o + 1]!;
    const w2 = codes[o + 2]!;
    const w3 = codes[o + 3]!;
    const q0 = qs[d]!;
    const q1 = qs[d + 1]!;
    const q2 = qs[d + 2]!;
    const q3 = qs[d + 3]!;
    a0 = fr(a0 + fr(q0 * ((w0 >>> sh) & mask)));
    a1 = fr(a1 + fr(q1 * ((w1 >>> sh) & mask)));
    a2 = fr(a2 + fr(q2 * ((w2 >>> sh) & mask)));
    a3 = fr(a3 + fr(q3 * ((w3 >>> sh) & mask)));
    b0 = fr(b0 + fr(q0 * ((w0 >>> s1) & mask)));
    b1 = fr(b1 + fr(q1 * ((w1 >>> s1) & mask)));
    b2 = fr(b2 + fr(q2 * ((w2 >>> s1) & mask)));
    b3 = fr(b3 + fr(q3 * ((w3 >>> s1) & mask)));
    c0 = fr(c0 + fr(q0 * ((w0 >>> s2) & mask)));
    c1 = fr(c1 + fr(q1 * ((w1 >>> s2) & mask)));
    c2 = fr(c2 + fr(q2 * ((w2 >>> s2) & mask)));
    c3 = fr(c3 + fr(q3 * ((w3 >>> s2) & mask)));
    e0 = fr(e0 + fr(q0 * ((w0 >>> s3) & mask)));
    e1 = fr(e1 + fr(q1 * ((w1 >>> s3) & mask)));
    e2 = fr(e2 + fr(q2 * ((w2 >>> s3) & mask)));
    e3 = fr(e3 + fr(q3 * ((w3 >>> s3) & mask)));
  }
  logits[t] = fr(fr(fr(a0 + a1) + fr(a2 + a3)) + cm) * sc;
  logits[t + 1] = fr(fr(fr(b0 + b1) + fr(b2 + b3)) + cm) * sc;
  logits[t + 2] = fr(fr(fr(c0 + c1) + fr(c2 + c3)) + cm) * sc;
  logits[t + 3] = fr(fr(fr(e0 + e1) + fr(e2 + e3)) + cm) * sc;
}

/**
 * `acc[d] = f32(acc[d] + f32(ps[group(d)]·code(d)))` over one token's value words (`fv` channels per
 * word, `wordsPerGroup` words per channel group). Internal.
 */
function valueRow(
  codes: Uint32Array,
  co: number,
  ps: Float32Array,
  nWords: number,
  wordsPerGroup: number,
  bits: number,
  acc: Float32Array,
): void {
  if (bits === 2) {
    for (let w = 0; w < nWords; w++) {
      const x = codes[co + w]!;
      const a = ps[(w / wordsPerGroup) | 0]!;
      const d = w * 16;
      acc[d] = acc[d]! + fr(a * (x & 3));
      acc[d + 1] = acc[d + 1]! + fr(a * ((x >>> 2) & 3));
      acc[d + 2] = acc[d + 2]! + fr(a * ((x >>> 4) & 3));
      acc[d + 3] = acc[d + 3]! + fr(a * ((x >>> 6) & 3));
      acc[d + 4] = acc[d + 4]! + fr(a * ((x >>> 8) & 3));
      acc[d + 5] = acc[d + 5]! + fr(a * ((x >>> 10) & 3));
      acc[d + 6] = acc[d + 6]! + fr(a * ((x >>> 12) & 3));
      acc[d + 7] = acc[d + 7]! + fr(a * ((x >>> 14) & 3));
      acc[d + 8] = acc[d + 8]! + fr(a * ((x >>> 16) & 3));
      acc[d + 9] = acc[d + 9]! + fr(a * ((x >>> 18) & 3));
      acc[d + 10] = acc[d + 10]! + fr(a * ((x >>> 20) & 3));
      acc[d + 11] = acc[d + 11]! + fr(a * ((x >>> 22) & 3));
      acc[d + 12] = acc[d + 12]! + fr(a * ((x >>> 24) & 3));
      acc[d + 13] = acc[d + 13]! + fr(a * ((x >>> 26) & 3));
      acc[d + 14] = acc[d + 14]! + fr(a * ((x >>> 28) & 3));
      acc[d + 15] = acc[d + 15]! + fr(a * (x >>> 30));
    }
  } else if (bits === 4) {
    for (let w = 0; w < nWords; w++) {
      const x = codes[co + w]!;
      const a = ps[(w / wordsPerGroup) | 0]!;
      const d = w * 8;
      acc[d] = acc[d]! + fr(a * (x & 15));
      acc[d + 1] = acc[d + 1]! + fr(a * ((x >>> 4) & 15));
      acc[d + 2] = acc[d + 2]! + fr(a * ((x >>> 8) & 15));
      acc[d + 3] = acc[d + 3]! + fr(a * ((x >>> 12) & 15));
      acc[d + 4] = acc[d + 4]! + fr(a * ((x >>> 16) & 15));
      acc[d + 5] = acc[d + 5]! + fr(a * ((x >>> 20) & 15));
      acc[d + 6] = acc[d + 6]! + fr(a * ((x >>> 24) & 15));
      acc[d + 7] = acc[d + 7]! + fr(a * (x >>> 28));
    }
  } else {
    for (let w = 0; w < nWords; w++) {
      const x = codes[co + w]!;
      const a = ps[(w / wordsPerGroup) | 0]!;
      const d = w * 4;
      acc[d] = acc[d]! + fr(a * (x & 255));
      acc[d + 1] = acc[d + 1]! + fr(a * ((x >>> 8) & 255));
      acc[d + 2] = acc[d + 2]! + fr(a * ((x >>> 16) & 255));
      acc[d + 3] = acc[d + 3]! + fr(a * (x >>> 24));
    }
  }
}

/** Arguments of the wasm twin ({@link WasmKernels.kiviAttend}) for a cache state. Internal. */
export function attendArgs(
  st: CacheState,
  q: Float32Array,
  heads: number,
  m: number,
  scale: number,
  causal: boolean,
  out: Float32Array,
): Parameters<WasmKernels['kiviAttend']>[0] {
  const c = st.cfg;
  return {
    H: c.kvHeads,
    D: c.headDim,
    keyBits: c.keyBits,
    valueBits: c.valueBits,
    G: c.keyGroupSize,
    GV: c.valueGroupSize,
    R: c.residualLength,
    T: st.length,
    kBlocks: st.kBlocks,
    kRes: st.kRes,
    kResLen: st.kResLen,
    vChunks: st.vChunks,
    vChunkLen: VALUE_CHUNK,
    vQLen: st.vQLen,
    vRes: st.vRes,
    vResStart: st.vResStart,
    vResLen: st.vResLen,
    ring: valueRingRows(c),
    q,
    heads,
    m,
    scale,
    causal,
    out,
  };
}

/**
 * Fused attention of `heads × m` query rows `q[(h·m + i)·D …]` over the cache; writes `out` with the
 * same layout. Inputs are validated by the caller. Float32 arithmetic in the order of kivi.md §5 (the
 * wasm SIMD kernels reproduce it bit for bit).
 */
export function attendKernel(
  st: CacheState,
  q: Float32Array,
  heads: number,
  m: number,
  scale: number,
  causal: boolean,
  out: Float32Array,
  sc: AttendScratch,
): void {
  const { kvHeads: H, headDim: D, keyBits, valueBits, keyGroupSize: G, valueGroupSize: GV, residualLength: R } = st.cfg;
  const T = st.length;
  const fk = (32 / keyBits) | 0;
  const fv = (32 / valueBits) | 0;
  // wasm SIMD twin (bit-identical) for word-aligned groups
  const wk = G % fk === 0 && GV % fv === 0 ? wasmKernels() : null;
  if (wk?.kiviAttend(attendArgs(st, q, heads, m, scale, causal, out))) return;
  if (sc.logits.length < T) sc.logits = new Float32Array(Math.max(T, 2 * sc.logits.length));
  const logits = sc.logits;
  const { qs, acc, ps, vm } = sc;
  const kmask = (1 << keyBits) - 1;
  const vmask = (1 << valueBits) - 1;
  const groupHeads = (heads / H) | 0;
  const groupsPerBlock = (R / G) | 0;
  const valueAligned = GV % fv === 0;
  const blockWordsPerHead = (R / fk) * D;
  const blockMetaPerHead = (R / G) * D;
  const tq = st.kBlocks.length * R;
  const kStride = (R + 1) * D;
  const vWords = (D / fv) | 0;
  const vGroups = (D / GV) | 0;
  const vWordsPerGroup = valueAligned ? (GV / fv) | 0 : 1;
  const ring = valueRingRows(st.cfg);
  const sc32 = fr(scale);
  for (let h = 0; h < heads; h++) {
    const kv = (h / groupHeads) | 0;
    for (let i = 0; i < m; i++) {
      const qOff = (h * m + i) * D;
      const lim = causal ? T - m + i + 1 : T;
      // --- logits over quantized keys, one token group at a time
      for (let b = 0; b < st.kBlocks.length && b * R < lim; b++) {
        const blk = st.kBlocks[b]!;
        const codes = blk.codes;
        const scales = blk.scales;
        const mins = blk.mins;
        const mbase = kv * blockMetaPerHead;
        const cbase = kv * blockWordsPerHead;
        for (let g = 0; g < groupsPerBlock; g++) {
          const t0 = b * R + g * G;
          if (t0 >= lim) break;
          // qs_d = f32(q_d·s_d); cm = Σ_d f32(q_d·min_d) in four lanes
          const mrow = mbase + g * D;
          let c0 = 0;
          let c1 = 0;
          let c2 = 0;
          let c3 = 0;
          for (let d = 0; d < D; d += 4) {
            const o = qOff + d;
            const mo = mrow + d;
            qs[d] = q[o]! * scales[mo]!;
            qs[d + 1] = q[o + 1]! * scales[mo + 1]!;
            qs[d + 2] = q[o + 2]! * scales[mo + 2]!;
            qs[d + 3] = q[o + 3]! * scales[mo + 3]!;
            c0 = fr(c0 + fr(q[o]! * mins[mo]!));
            c1 = fr(c1 + fr(q[o + 1]! * mins[mo + 1]!));
            c2 = fr(c2 + fr(q[o + 2]! * mins[mo + 2]!));
            c3 = fr(c3 + fr(q[o + 3]! * mins[mo + 3]!));
          }
          const cm = fr(fr(c0 + c1) + fr(c2 + c3));
          // tokens of the group (a word may straddle groups with allowGroupStraddle: slot by slot)
          const t1 = Math.min(t0 + G, lim);
          let t = t0;
          if (G % 4 === 0) {
            // four tokens of one group per pass over the word row
            for (; t + 4 <= t1; t += 4) {
              const tt = t - b * R;
              const w = (tt / fk) | 0;
              keyLogits4(codes, cbase + w * D, qs, D, (tt - w * fk) * keyBits, keyBits, kmask, cm, sc32, logits, t);
            }
          }
          for (; t < t1; t++) {
            const tt = t - b * R;
            const w = (tt / fk) | 0;
            const sh = (tt - w * fk) * keyBits;
            logits[t] = keyLogit(codes, cbase + w * D, qs, D, sh, kmask, cm, sc32);
          }
        }
      }
      // --- logits over residual keys
      for (let r = 0; r < st.kResLen; r++) {
        const pos = tq + r;
        if (pos >= lim) break;
        const ko = kv * kStride + r * D;
        const kr = st.kRes;
        let l0 = 0;
        let l1 = 0;
        let l2 = 0;
        let l3 = 0;
        for (let d = 0; d < D; d += 4) {
          const o = qOff + d;
          l0 = fr(l0 + fr(q[o]! * kr[ko + d]!));
          l1 = fr(l1 + fr(q[o + 1]! * kr[ko + d + 1]!));
          l2 = fr(l2 + fr(q[o + 2]! * kr[ko + d + 2]!));
          l3 = fr(l3 + fr(q[o + 3]! * kr[ko + d + 3]!));
        }
        logits[pos] = fr(fr(l0 + l1) + fr(l2 + l3)) * sc32;
      }
      const sum = softmaxRow(logits, 0, lim);
      // --- p · V over quantized values
      acc.fill(0);
      vm.fill(0);
      const vEnd = Math.min(st.vQLen, lim);
      for (let tv = 0; tv < vEnd; tv++) {
        const p = logits[tv]!;
        const ci = (tv / VALUE_CHUNK) | 0;
        const chunk = st.vChunks[ci]!;
        const r = (tv - ci * VALUE_CHUNK) * H + kv;
        const co = r * vWords;
        const mo = r * vGroups;
        const codes = chunk.codes;
        for (let c = 0; c < vGroups; c++) {
          ps[c] = p * chunk.scales[mo + c]!;
          vm[c] = vm[c]! + fr(p * chunk.mins[mo + c]!);
        }
        if (valueAligned) valueRow(codes, co, ps, vWords, vWordsPerGroup, valueBits, acc);
        else {
          for (let w = 0; w < vWords; w++) {
            let word = codes[co + w]!;
            const d0 = w * fv;
            for (let j = 0; j < fv; j++) {
              acc[d0 + j] = acc[d0 + j]! + fr(ps[((d0 + j) / GV) | 0]! * (word & vmask));
              word >>>= valueBits;
            }
          }
        }
      }
      for (let d = 0; d < D; d++) acc[d] = acc[d]! + vm[(d / GV) | 0]!;
      // --- p · V over residual values
      const vr = st.vRes;
      for (let r = 0; r < st.vResLen; r++) {
        const pos = st.vQLen + r;
        if (pos >= lim) break;
        const p = logits[pos]!;
        const vo = (((st.vResStart + r) % ring) * H + kv) * D;
        for (let d = 0; d < D; d++) acc[d] = acc[d]! + fr(p * vr[vo + d]!);
      }
      const inv = 1 / sum;
      for (let d = 0; d < D; d++) out[qOff + d] = acc[d]! * inv;
    }
  }
}

/**
 * Options of dense/fused attention.
 *
 * @example
 * ```ts
 * const opts: AttendOptions = { causal: false };
 * ```
 */
export interface AttendOptions {
  /** Logit scale (default `1/√headDim`). */
  readonly scale?: number;
  /** Causal mask by absolute position for m > 1 query rows: row i sees tokens ≤ T − m + i (default true). */
  readonly causal?: boolean;
}

/**
 * Dense reference attention in float64: `softmax(q·Kᵀ·scale)·V` with `q` `[heads, m, D]`, `keys` and
 * `values` `[kvHeads, T, D]` (e.g. a cache's dequantized `keys()` / `values()`), query head h reading KV
 * head `floor(h / (heads / kvHeads))`, causal by absolute position (row i sees tokens ≤ T − m + i).
 *
 * @example
 * ```ts
 * const ref = attendDenseRef(q, cache.keys(), cache.values());
 * ```
 */
export function attendDenseRef(
  q: Float32Tensor,
  keys: Float32Tensor,
  values: Float32Tensor,
  opts: AttendOptions = {},
): Float32Tensor {
  const who = 'attendDenseRef';
  const qd = checkFloat32Tensor(q, who, 'q');
  const kd = checkFloat32Tensor(keys, who, 'keys');
  const vd = checkFloat32Tensor(values, who, 'values');
  check(
    q.shape.length === 3 && keys.shape.length === 3 && values.shape.length === 3,
    'E_SHAPE',
    `${who}: expected q [heads, m, D], keys/values [kvHeads, T, D]`,
  );
  const [heads, m, D] = q.shape as [number, number, number];
  const [H, T, Dk] = keys.shape as [number, number, number];
  check(
    Dk === D && values.shape[0] === H && values.shape[1] === T && values.shape[2] === D,
    'E_SHAPE',
    `${who}: keys/values must both be [kvHeads, T, ${D}]`,
  );
  check(H > 0 && heads % H === 0, 'E_SHAPE', `${who}: heads ${heads} must be a multiple of kvHeads ${H}`);
  const causal = opts.causal ?? true;
  check(!causal || m <= T, 'E_SHAPE', `${who}: causal attention needs m <= T`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const out = new Float32Array(heads * m * D);
  for (let h = 0; h < heads; h++) {
    const kv = Math.floor(h / (heads / H));
    for (let i = 0; i < m; i++) {
      const lim = causal ? T - m + i + 1 : T;
      const logits: number[] = [];
      for (let t = 0; t < lim; t++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += qd[(h * m + i) * D + d]! * kd[(kv * T + t) * D + d]!;
        logits.push(s * scale);
      }
      let mx = Number.NEGATIVE_INFINITY;
      for (const l of logits) if (l > mx) mx = l;
      const e = logits.map((l) => Math.exp(l - mx));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let t = 0; t < lim; t++) s += e[t]! * vd[(kv * T + t) * D + d]!;
        out[(h * m + i) * D + d] = s / sum;
      }
    }
  }
  return { dtype: 'float32', data: out, shape: [heads, m, D] };
}
