/**
 * D²MoE residual ±1 planes (mwq.md §1, "MWQ"). Per group of G weights (float32 parameters, f64 sums):
 *
 * - base (b₁ bits): `'minmax'` = the slicing parent's quantizer at b₁ bits (integer zero);
 *   `'midrise'` = step Δ = fl(fl(mx − mn)/2^b₁), z₁ = fl(fl(−mn/Δ) − ½), levels mn + (i + ½)Δ;
 *   q₁ = clamp(round(fl(fl(w/s₁) + z₁)), 0, 2^b₁ − 1); ŵ₁ = fl(s₁·(q₁ − z₁)).
 *   With calibration, a least-squares refit of (s₁, z₁) on the fixed codes is tried as a second base.
 * - level k > b₁: R = w − ŵ_{k−1} (the float32 value dequantize(k − 1) returns), β = [R ≥ 0],
 *   Q = 2β − 1, acc += s_k·Q, ŵ_k = fl(acc) where acc = s₁·(q₁ − z₁) + Σ s_i·Q_i in f64.
 * - s_k: `'pow2'` → s_{b₁+1} = s₁/4, s_{k+1} = s_k/2 on the data-free base (calibration is ignored); `'fit'` → argmin_s (R − sQ)ᵀH(R − sQ) =
 *   RᵀHQ / QᵀHQ with H = X_Jᵀ X_J for the group's columns J (calibration) or H = I (data-free:
 *   s = mean|R|). With calibration the signs are refined too: starting from sign(R), coordinate descent
 *   flips Q_j while that lowers the objective, alternating with the scale fit (≤ 4 rounds) — a lowbit
 *   choice standing in for the paper's GPTQ-style compensation (sign(R) is optimal only for H = I).
 * - candidates per group (`'fit'`): pow2 on the data-free base (the guard), then for each base (data-free,
 *   and with calibration its refit) mean|R| scales with sign(R) planes, and with calibration the
 *   calibrated scale/sign fit. Among the candidates no worse than the guard at every level on the same
 *   objective, the one with the lowest Σ_levels objective/guard-objective is kept; if none, the guard
 *   (counted in `fitReport.pow2Fallbacks`). So fitted scales are never worse than power-of-two ones.
 *
 * Exposed: none (used by quantizeNested). Internal: quantizeResidual, gramBlocks, groupObjective.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { type Rounding, rounder } from '../common/rounding.js';
import type { Float32Tensor } from '../common/tensor.js';
import type { NestedConfig } from './config.js';

const MAGIC = 6755399441055744;

/** Gram blocks H_b = X_Jᵀ X_J (G×G, f64) for each column group b of a calibration `[T, in]`. Internal. */
export function gramBlocks(x: Float32Tensor, cols: number, G: number, who: string): Float64Array {
  if (x === null || typeof x !== 'object' || !(x.data instanceof Float32Array) || x.dtype !== 'float32')
    fail('E_DTYPE', `${who}: calibration must be a float32 tensor [T, in]`);
  if (!Array.isArray(x.shape) || x.shape.length !== 2 || x.shape[1] !== cols)
    fail('E_SHAPE', `${who}: calibration must have shape [T, ${cols}], got [${String(x.shape)}]`);
  const T = x.shape[0] as number;
  check(
    Number.isSafeInteger(T) && T >= 1 && x.data.length === T * cols,
    'E_SHAPE',
    `${who}: calibration needs T >= 1 rows and T·in values`,
  );
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    if (d[i]! - d[i]! !== 0)
      fail('E_NONFINITE', `${who}: calibration value ${i} is ${d[i]}; activations must be finite`);
  }
  const nb = cols / G;
  const H = new Float64Array(nb * G * G);
  for (let t = 0; t < T; t++) {
    const row = t * cols;
    for (let b = 0; b < nb; b++) {
      const hb = b * G * G;
      const c0 = row + b * G;
      for (let i = 0; i < G; i++) {
        const xi = d[c0 + i]!;
        if (xi === 0) continue;
        const hi = hb + i * G;
        for (let j = 0; j < G; j++) H[hi + j] = H[hi + j]! + xi * d[c0 + j]!;
      }
    }
  }
  return H;
}

/** eᵀHe for one group (H = null: eᵀe). Internal. */
export function groupObjective(e: Float64Array, H: Float64Array | null, hb: number, G: number): number {
  let s = 0;
  if (H === null) {
    for (let i = 0; i < G; i++) s += e[i]! * e[i]!;
    return s;
  }
  for (let i = 0; i < G; i++) {
    const ei = e[i]!;
    if (ei === 0) continue;
    let t = 0;
    const hi = hb + i * G;
    for (let j = 0; j < G; j++) t += H[hi + j]! * e[j]!;
    s += ei * t;
  }
  return s;
}

/** uᵀHv (H = null: uᵀv). */
function bilinear(u: Float64Array, v: Float64Array, H: Float64Array | null, hb: number, G: number): number {
  let s = 0;
  if (H === null) {
    for (let i = 0; i < G; i++) s += u[i]! * v[i]!;
    return s;
  }
  for (let i = 0; i < G; i++) {
    const ui = u[i]!;
    if (ui === 0) continue;
    let t = 0;
    const hi = hb + i * G;
    for (let j = 0; j < G; j++) t += H[hi + j]! * v[j]!;
    s += ui * t;
  }
  return s;
}

/**
 * Calibrated plane fit for one group and level: starting from Q = sign(R), alternate the least-squares
 * scale s = RᵀHQ / QᵀHQ with coordinate descent on the signs (flip Q_j when it lowers (R − sQ)ᵀH(R − sQ)),
 * at most 4 rounds. Updates Q in place and returns s (float32); falls back to `s0` when QᵀHQ = 0.
 */
function fitSigns(
  R: Float64Array,
  Q: Float64Array,
  H: Float64Array,
  hb: number,
  G: number,
  s0: number,
  He: Float64Array,
): number {
  const lsScale = (): number => {
    const den = bilinear(Q, Q, H, hb, G);
    const fit = bilinear(R, Q, H, hb, G) / den;
    return den > 0 && Number.isFinite(fit) ? Math.fround(fit) : s0;
  };
  let s = lsScale();
  for (let round = 0; round < 4; round++) {
    // He = H·(R − sQ)
    for (let i = 0; i < G; i++) {
      let t = 0;
      const hi = hb + i * G;
      for (let j = 0; j < G; j++) t += H[hi + j]! * (R[j]! - s * Q[j]!);
      He[i] = t;
    }
    let flips = 0;
    for (let j = 0; j < G; j++) {
      const d = 2 * s * Q[j]!; // e_j grows by d when Q_j flips
      const delta = 2 * d * He[j]! + d * d * H[hb + j * G + j]!;
      if (delta < 0) {
        Q[j] = -Q[j]!;
        const col = hb + j; // H symmetric: column j = row j
        for (let i = 0; i < G; i++) He[i] = He[i]! + d * H[col + i * G]!;
        flips++;
      }
    }
    const s2 = lsScale();
    if (flips === 0 && s2 === s) break;
    s = s2;
  }
  return s;
}

/** Result of {@link quantizeResidual}: `bits`-bit codes (base in the top b₁ bits, then one bit per level). */
export interface ResidualResult {
  codes: Uint8Array;
  scales: Float32Array;
  zeros: Float32Array;
  levelScales: Float32Array;
  pow2Fallbacks: number;
}

/** Quantize with the residual scheme. Internal. */
export function quantizeResidual(
  w: Float32Array,
  rows: number,
  cols: number,
  cfg: NestedConfig,
  calibration: Float32Tensor | undefined,
  who: string,
): ResidualResult {
  const G = cfg.groupSize;
  const n = rows * cols;
  const nG = n / G;
  const b1 = cfg.baseBits;
  const K = cfg.bits;
  const nL = K - b1;
  const H = calibration === undefined ? null : gramBlocks(calibration, cols, G, who);
  const gpr = cols / G;
  const round = rounder(cfg.rounding as Rounding);
  const codes = new Uint8Array(n);
  const scales = new Float32Array(nG);
  const zeros = new Float32Array(nG);
  const levelScales = new Float32Array(nL * nG);
  const qmax = (1 << b1) - 1;
  const q = new Float64Array(G);
  const ones = new Float64Array(G).fill(1);
  const wv = new Float64Array(G);
  const e = new Float64Array(G);
  const cur = new Float64Array(G);
  const acc = new Float64Array(G);
  const R = new Float64Array(G);
  const Q = new Float64Array(G);
  const He = new Float64Array(G);
  // per-path outputs: signs and scales per level, objective per level
  const paths = [0, 1, 2, 3, 4].map(() => ({
    base: new Float64Array(2),
    signs: new Uint8Array(nL * G),
    s: new Float64Array(nL),
    obj: new Float64Array(nL),
  }));
  let fallbacks = 0;
  for (let g = 0; g < nG; g++) {
    const i0 = g * G;
    const hb = (g % gpr) * G * G;
    let mn = w[i0]!;
    let mx = mn;
    for (let j = 0; j < G; j++) {
      const v = w[i0 + j]!;
      wv[j] = v;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    if (mn === mx) {
      if (mn > 0) mn = 0;
      if (mx < 0) mx = 0;
    }
    // base
    let s1: number;
    let z1: number;
    if (cfg.base === 'minmax') {
      s1 = Math.fround(Math.fround(mx - mn) / qmax);
      if (s1 === Infinity) s1 = Math.fround((mx - mn) / qmax);
      z1 = s1 === 0 ? 0 : Math.fround(-mn / s1) + MAGIC - MAGIC;
    } else {
      s1 = Math.fround(Math.fround(mx - mn) / (qmax + 1));
      if (s1 === Infinity) s1 = Math.fround((mx - mn) / (qmax + 1));
      z1 = s1 === 0 ? 0 : Math.fround(Math.fround(-mn / s1) - 0.5);
    }
    for (let j = 0; j < G; j++) {
      const v = s1 === 0 ? 0 : round(Math.fround(Math.fround(wv[j]! / s1) + z1));
      q[j] = v < 0 ? 0 : Math.min(v, qmax);
    }
    // candidate bases: the data-free one, and (with calibration) its least-squares refit on the codes
    const bases: [number, number][] = [[s1, z1]];
    if (H !== null && s1 > 0) {
      const qq = bilinear(q, q, H, hb, G);
      const q1 = bilinear(q, ones, H, hb, G);
      const oo = bilinear(ones, ones, H, hb, G);
      const qw = bilinear(q, wv, H, hb, G);
      const ow = bilinear(ones, wv, H, hb, G);
      const det = qq * oo - q1 * q1;
      if (det > 1e-12 * qq * oo) {
        const a = (qw * oo - q1 * ow) / det;
        const b = (qq * ow - q1 * qw) / det;
        const sa = Math.fround(a);
        const za = Math.fround(-b / a);
        if (sa > 0 && Number.isFinite(sa) && Number.isFinite(za) && (sa !== s1 || za !== z1)) bases.push([sa, za]);
      }
    }
    // candidate paths: 0 = pow2 on the data-free base (the configured result for 'pow2', the guard for
    // 'fit'); for 'fit' then, per base, mean|R| scales with sign(R) planes and (with calibration) the
    // calibrated scale/sign fit
    const fit = cfg.planeScales === 'fit' && nL > 0;
    let nc = 0;
    const run = (bs: number, bz: number, mode: 0 | 1 | 2): void => {
      const P = paths[nc++]!;
      P.base[0] = bs;
      P.base[1] = bz;
      for (let j = 0; j < G; j++) {
        acc[j] = bs * (q[j]! - bz);
        cur[j] = Math.fround(acc[j]!);
      }
      let prev = bs;
      for (let L = 0; L < nL; L++) {
        let absSum = 0;
        for (let j = 0; j < G; j++) {
          const rj = wv[j]! - cur[j]!;
          R[j] = rj;
          Q[j] = rj >= 0 ? 1 : -1;
          absSum += rj >= 0 ? rj : -rj;
        }
        let s: number;
        if (mode === 0) s = Math.fround(prev / (L === 0 ? 4 : 2));
        else {
          s = Math.fround(absSum / G);
          if (mode === 2) s = fitSigns(R, Q, H!, hb, G, s, He);
        }
        prev = s;
        P.s[L] = s;
        for (let j = 0; j < G; j++) P.signs[L * G + j] = Q[j]! > 0 ? 1 : 0;
        if (!fit) continue;
        for (let j = 0; j < G; j++) {
          acc[j] = acc[j]! + (Q[j]! > 0 ? s : -s);
          cur[j] = Math.fround(acc[j]!);
          e[j] = wv[j]! - cur[j]!;
        }
        P.obj[L] = groupObjective(e, H, hb, G);
      }
    };
    if (!fit) {
      // 'pow2' (or no residual levels): single path, cur must still advance level by level
      const P = paths[0]!;
      P.base[0] = s1;
      P.base[1] = z1;
      for (let j = 0; j < G; j++) {
        acc[j] = s1 * (q[j]! - z1);
        cur[j] = Math.fround(acc[j]!);
      }
      let prev = s1;
      for (let L = 0; L < nL; L++) {
        const s = Math.fround(prev / (L === 0 ? 4 : 2));
        prev = s;
        P.s[L] = s;
        for (let j = 0; j < G; j++) {
          const up = wv[j]! - cur[j]! >= 0;
          P.signs[L * G + j] = up ? 1 : 0;
          acc[j] = acc[j]! + (up ? s : -s);
          cur[j] = Math.fround(acc[j]!);
        }
      }
      nc = 1;
    } else {
      run(s1, z1, 0);
      for (const [bs, bz] of bases) {
        run(bs, bz, 1);
        if (H !== null) run(bs, bz, 2);
      }
    }
    let use = 0;
    if (fit) {
      // among the fitted candidates no worse than pow2 at every level, the lowest Σ_L obj/obj_pow2
      let best = Infinity;
      const ref = paths[0]!.obj;
      for (let c = 1; c < nc; c++) {
        const o = paths[c]!.obj;
        let ok = true;
        let sum = 0;
        for (let L = 0; L < nL; L++) {
          if (o[L]! > ref[L]!) ok = false;
          sum += ref[L]! > 0 ? o[L]! / ref[L]! : 0;
        }
        if (ok && sum < best) {
          best = sum;
          use = c;
        }
      }
      if (use === 0) fallbacks++;
    }
    scales[g] = paths[use]!.base[0]!;
    zeros[g] = paths[use]!.base[1]!;
    const P = paths[use]!;
    for (let L = 0; L < nL; L++) levelScales[L * nG + g] = P.s[L]!;
    for (let j = 0; j < G; j++) {
      let code = q[j]! << nL;
      for (let L = 0; L < nL; L++) code |= P.signs[L * G + j]! << (nL - 1 - L);
      codes[i0 + j] = code;
    }
  }
  return { codes, scales, zeros, levelScales, pow2Fallbacks: fallbacks };
}
