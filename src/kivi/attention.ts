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
 * Accumulation in float64 (JS numbers), output rounded once to float32. No dequantized copy of K or V
 * is made; scratch is owned by the caller and reused.
 *
 * Internal module. Exposed through index.ts: attendDenseRef. Internal: AttendScratch, createScratch,
 * attendKernel.
 * @module
 */
import { check } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import { checkFloat32Tensor } from './config.js';
import { type CacheState, VALUE_CHUNK, valueRingRows } from './state.js';

/** Reusable scratch of the fused kernel. */
export interface AttendScratch {
  logits: Float64Array;
  /** q_d·scale of every (token group of one key block, channel): `[R/G, D]`. */
  readonly qs: Float64Array;
  /** Σ_d q_d·min per token group of one key block: `[R/G]`. */
  readonly cm: Float64Array;
  readonly acc: Float64Array;
  readonly kacc: Float64Array;
  /** Group of each slot of a key word (general path). */
  readonly gOf: Int32Array;
  /** p·scale and Σ p·min per value channel group: `[D/G]`. */
  readonly ps: Float64Array;
  readonly vm: Float64Array;
}

export function createScratch(D: number, keyG: number, valueG: number, R: number): AttendScratch {
  return {
    logits: new Float64Array(256),
    qs: new Float64Array((R / keyG) * D),
    cm: new Float64Array(R / keyG),
    acc: new Float64Array(D),
    kacc: new Float64Array(16),
    gOf: new Int32Array(16),
    ps: new Float64Array(D / valueG),
    vm: new Float64Array(D / valueG),
  };
}

/**
 * Logits of the 16 tokens of one 2-bit key word row: `logits[t + j] = (Σ_d qs[d]·code_j(d) + cm)·scale`
 * with 16 register accumulators. Internal.
 */
function keyRow2(
  codes: Uint32Array,
  crow: number,
  qs: Float64Array,
  qrow: number,
  D: number,
  logits: Float64Array,
  t: number,
  cm: number,
  scale: number,
): void {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let a4 = 0;
  let a5 = 0;
  let a6 = 0;
  let a7 = 0;
  let a8 = 0;
  let a9 = 0;
  let a10 = 0;
  let a11 = 0;
  let a12 = 0;
  let a13 = 0;
  let a14 = 0;
  let a15 = 0;
  for (let d = 0; d < D; d++) {
    const w = codes[crow + d]!;
    const a = qs[qrow + d]!;
    a0 += a * (w & 3);
    a1 += a * ((w >>> 2) & 3);
    a2 += a * ((w >>> 4) & 3);
    a3 += a * ((w >>> 6) & 3);
    a4 += a * ((w >>> 8) & 3);
    a5 += a * ((w >>> 10) & 3);
    a6 += a * ((w >>> 12) & 3);
    a7 += a * ((w >>> 14) & 3);
    a8 += a * ((w >>> 16) & 3);
    a9 += a * ((w >>> 18) & 3);
    a10 += a * ((w >>> 20) & 3);
    a11 += a * ((w >>> 22) & 3);
    a12 += a * ((w >>> 24) & 3);
    a13 += a * ((w >>> 26) & 3);
    a14 += a * ((w >>> 28) & 3);
    a15 += a * (w >>> 30);
  }
  logits[t] = (a0 + cm) * scale;
  logits[t + 1] = (a1 + cm) * scale;
  logits[t + 2] = (a2 + cm) * scale;
  logits[t + 3] = (a3 + cm) * scale;
  logits[t + 4] = (a4 + cm) * scale;
  logits[t + 5] = (a5 + cm) * scale;
  logits[t + 6] = (a6 + cm) * scale;
  logits[t + 7] = (a7 + cm) * scale;
  logits[t + 8] = (a8 + cm) * scale;
  logits[t + 9] = (a9 + cm) * scale;
  logits[t + 10] = (a10 + cm) * scale;
  logits[t + 11] = (a11 + cm) * scale;
  logits[t + 12] = (a12 + cm) * scale;
  logits[t + 13] = (a13 + cm) * scale;
  logits[t + 14] = (a14 + cm) * scale;
  logits[t + 15] = (a15 + cm) * scale;
}

/** 4-bit twin of {@link keyRow2} (8 tokens per word). Internal. */
function keyRow4(
  codes: Uint32Array,
  crow: number,
  qs: Float64Array,
  qrow: number,
  D: number,
  logits: Float64Array,
  t: number,
  cm: number,
  scale: number,
): void {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let a4 = 0;
  let a5 = 0;
  let a6 = 0;
  let a7 = 0;
  for (let d = 0; d < D; d++) {
    const w = codes[crow + d]!;
    const a = qs[qrow + d]!;
    a0 += a * (w & 15);
    a1 += a * ((w >>> 4) & 15);
    a2 += a * ((w >>> 8) & 15);
    a3 += a * ((w >>> 12) & 15);
    a4 += a * ((w >>> 16) & 15);
    a5 += a * ((w >>> 20) & 15);
    a6 += a * ((w >>> 24) & 15);
    a7 += a * (w >>> 28);
  }
  logits[t] = (a0 + cm) * scale;
  logits[t + 1] = (a1 + cm) * scale;
  logits[t + 2] = (a2 + cm) * scale;
  logits[t + 3] = (a3 + cm) * scale;
  logits[t + 4] = (a4 + cm) * scale;
  logits[t + 5] = (a5 + cm) * scale;
  logits[t + 6] = (a6 + cm) * scale;
  logits[t + 7] = (a7 + cm) * scale;
}

/** 8-bit twin of {@link keyRow2} (4 tokens per word). Internal. */
function keyRow8(
  codes: Uint32Array,
  crow: number,
  qs: Float64Array,
  qrow: number,
  D: number,
  logits: Float64Array,
  t: number,
  cm: number,
  scale: number,
): void {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  for (let d = 0; d < D; d++) {
    const w = codes[crow + d]!;
    const a = qs[qrow + d]!;
    a0 += a * (w & 255);
    a1 += a * ((w >>> 8) & 255);
    a2 += a * ((w >>> 16) & 255);
    a3 += a * (w >>> 24);
  }
  logits[t] = (a0 + cm) * scale;
  logits[t + 1] = (a1 + cm) * scale;
  logits[t + 2] = (a2 + cm) * scale;
  logits[t + 3] = (a3 + cm) * scale;
}

/**
 * `acc[d] += ps[group(d)]·code(d)` over one token's 2-bit value words (16 channels per word). Internal.
 */
function valueRow2(
  codes: Uint32Array,
  co: number,
  ps: Float64Array,
  nWords: number,
  wordsPerGroup: number,
  acc: Float64Array,
): void {
  for (let w = 0; w < nWords; w++) {
    const x = codes[co + w]!;
    const a = ps[(w / wordsPerGroup) | 0]!;
    const d = w * 16;
    acc[d] = acc[d]! + a * (x & 3);
    acc[d + 1] = acc[d + 1]! + a * ((x >>> 2) & 3);
    acc[d + 2] = acc[d + 2]! + a * ((x >>> 4) & 3);
    acc[d + 3] = acc[d + 3]! + a * ((x >>> 6) & 3);
    acc[d + 4] = acc[d + 4]! + a * ((x >>> 8) & 3);
    acc[d + 5] = acc[d + 5]! + a * ((x >>> 10) & 3);
    acc[d + 6] = acc[d + 6]! + a * ((x >>> 12) & 3);
    acc[d + 7] = acc[d + 7]! + a * ((x >>> 14) & 3);
    acc[d + 8] = acc[d + 8]! + a * ((x >>> 16) & 3);
    acc[d + 9] = acc[d + 9]! + a * ((x >>> 18) & 3);
    acc[d + 10] = acc[d + 10]! + a * ((x >>> 20) & 3);
    acc[d + 11] = acc[d + 11]! + a * ((x >>> 22) & 3);
    acc[d + 12] = acc[d + 12]! + a * ((x >>> 24) & 3);
    acc[d + 13] = acc[d + 13]! + a * ((x >>> 26) & 3);
    acc[d + 14] = acc[d + 14]! + a * ((x >>> 28) & 3);
    acc[d + 15] = acc[d + 15]! + a * (x >>> 30);
  }
}

/** 4-bit twin of {@link valueRow2} (8 channels per word). Internal. */
function valueRow4(
  codes: Uint32Array,
  co: number,
  ps: Float64Array,
  nWords: number,
  wordsPerGroup: number,
  acc: Float64Array,
): void {
  for (let w = 0; w < nWords; w++) {
    const x = codes[co + w]!;
    const a = ps[(w / wordsPerGroup) | 0]!;
    const d = w * 8;
    acc[d] = acc[d]! + a * (x & 15);
    acc[d + 1] = acc[d + 1]! + a * ((x >>> 4) & 15);
    acc[d + 2] = acc[d + 2]! + a * ((x >>> 8) & 15);
    acc[d + 3] = acc[d + 3]! + a * ((x >>> 12) & 15);
    acc[d + 4] = acc[d + 4]! + a * ((x >>> 16) & 15);
    acc[d + 5] = acc[d + 5]! + a * ((x >>> 20) & 15);
    acc[d + 6] = acc[d + 6]! + a * ((x >>> 24) & 15);
    acc[d + 7] = acc[d + 7]! + a * (x >>> 28);
  }
}

/** 8-bit twin of {@link valueRow2} (4 channels per word). Internal. */
function valueRow8(
  codes: Uint32Array,
  co: number,
  ps: Float64Array,
  nWords: number,
  wordsPerGroup: number,
  acc: Float64Array,
): void {
  for (let w = 0; w < nWords; w++) {
    const x = codes[co + w]!;
    const a = ps[(w / wordsPerGroup) | 0]!;
    const d = w * 4;
    acc[d] = acc[d]! + a * (x & 255);
    acc[d + 1] = acc[d + 1]! + a * ((x >>> 8) & 255);
    acc[d + 2] = acc[d + 2]! + a * ((x >>> 16) & 255);
    acc[d + 3] = acc[d + 3]! + a * (x >>> 24);
  }
}

/**
 * Fused attention of `heads × m` query rows `q[(h·m + i)·D …]` over the cache; writes `out` with the
 * same layout. Inputs are validated by the caller.
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
  if (sc.logits.length < T) sc.logits = new Float64Array(Math.max(T, 2 * sc.logits.length));
  const logits = sc.logits;
  const { qs, cm, acc, kacc, gOf, ps, vm } = sc;
  const fk = (32 / keyBits) | 0;
  const fv = (32 / valueBits) | 0;
  const kmask = (1 << keyBits) - 1;
  const vmask = (1 << valueBits) - 1;
  const groupHeads = (heads / H) | 0;
  const groupsPerBlock = (R / G) | 0;
  const rowsPerBlock = (R / fk) | 0;
  const keyAligned = G % fk === 0;
  const valueAligned = GV % fv === 0;
  const blockWordsPerHead = (R / fk) * D;
  const blockMetaPerHead = (R / G) * D;
  const tq = st.kBlocks.length * R;
  const kStride = (R + 1) * D;
  const vWords = (D / fv) | 0;
  const vGroups = (D / GV) | 0;
  const vWordsPerGroup = valueAligned ? (GV / fv) | 0 : 1;
  const ring = valueRingRows(st.cfg);
  for (let h = 0; h < heads; h++) {
    const kv = (h / groupHeads) | 0;
    for (let i = 0; i < m; i++) {
      const qOff = (h * m + i) * D;
      const lim = causal ? T - m + i + 1 : T;
      // --- logits over quantized keys, one R-block at a time
      let t = 0;
      for (let b = 0; b < st.kBlocks.length && t < lim; b++) {
        const blk = st.kBlocks[b]!;
        const codes = blk.codes;
        const scales = blk.scales;
        const mins = blk.mins;
        const mbase = kv * blockMetaPerHead;
        const cbase = kv * blockWordsPerHead;
        for (let g = 0; g < groupsPerBlock; g++) {
          const mrow = mbase + g * D;
          const qrow = g * D;
          let c = 0;
          for (let d = 0; d < D; d++) {
            const qd = q[qOff + d]!;
            qs[qrow + d] = qd * scales[mrow + d]!;
            c += qd * mins[mrow + d]!;
          }
          cm[g] = c;
        }
        for (let w = 0; w < rowsPerBlock && t < lim; w++) {
          const crow = cbase + w * D;
          if (keyAligned) {
            // a word row lies in one token group
            const g = ((w * fk) / G) | 0;
            if (keyBits === 2) keyRow2(codes, crow, qs, g * D, D, logits, t, cm[g]!, scale);
            else if (keyBits === 4) keyRow4(codes, crow, qs, g * D, D, logits, t, cm[g]!, scale);
            else keyRow8(codes, crow, qs, g * D, D, logits, t, cm[g]!, scale);
          } else {
            // G < 32/bits (allowGroupStraddle): each slot of the word has its own group
            for (let j = 0; j < fk; j++) kacc[j] = 0;
            for (let j = 0; j < fk; j++) gOf[j] = (((w * fk + j) / G) | 0) * D;
            for (let d = 0; d < D; d++) {
              let word = codes[crow + d]!;
              for (let j = 0; j < fk; j++) {
                kacc[j] = kacc[j]! + qs[gOf[j]! + d]! * (word & kmask);
                word >>>= keyBits;
              }
            }
            for (let j = 0; j < fk; j++) logits[t + j] = (kacc[j]! + cm[(gOf[j]! / D) | 0]!) * scale;
          }
          t += fk;
        }
      }
      // --- logits over residual keys
      for (let r = 0; r < st.kResLen; r++) {
        const pos = tq + r;
        if (pos >= lim) break;
        const ko = kv * kStride + r * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qOff + d]! * st.kRes[ko + d]!;
        logits[pos] = s * scale;
      }
      // --- softmax over [0, lim)
      let mx = logits[0]!;
      for (let p = 1; p < lim; p++) if (logits[p]! > mx) mx = logits[p]!;
      let sum = 0;
      for (let p = 0; p < lim; p++) {
        const e = Math.exp(logits[p]! - mx);
        logits[p] = e;
        sum += e;
      }
      // --- p · V over quantized values
      for (let d = 0; d < D; d++) acc[d] = 0;
      for (let c = 0; c < vGroups; c++) vm[c] = 0;
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
          vm[c] = vm[c]! + p * chunk.mins[mo + c]!;
        }
        if (valueAligned) {
          if (valueBits === 2) valueRow2(codes, co, ps, vWords, vWordsPerGroup, acc);
          else if (valueBits === 4) valueRow4(codes, co, ps, vWords, vWordsPerGroup, acc);
          else valueRow8(codes, co, ps, vWords, vWordsPerGroup, acc);
        } else {
          for (let w = 0; w < vWords; w++) {
            let word = codes[co + w]!;
            const d0 = w * fv;
            for (let j = 0; j < fv; j++) {
              acc[d0 + j] = acc[d0 + j]! + ps[((d0 + j) / GV) | 0]! * (word & vmask);
              word >>>= valueBits;
            }
          }
        }
      }
      for (let d = 0; d < D; d++) acc[d] = acc[d]! + vm[(d / GV) | 0]!;
      // --- p · V over residual values
      for (let r = 0; r < st.vResLen; r++) {
        const pos = st.vQLen + r;
        if (pos >= lim) break;
        const p = logits[pos]!;
        const vo = (((st.vResStart + r) % ring) * H + kv) * D;
        for (let d = 0; d < D; d++) acc[d] = acc[d]! + p * st.vRes[vo + d]!;
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
