/**
 * Hadamard matrices and the fast Walsh–Hadamard transform for every n = m·2^k, m ∈ {1, 12, 20, 28, 36,
 * 40, 52, 60, 108, 140, 156, 172}, in QuaRot's layout: M = (had_m ⊗ H_{2^k})/√n with had_m on the outer
 * (slow) index, H_{2^k} the Sylvester matrix in natural order (`H[i][j] = (−1)^popcount(i & j)`), and m
 * chosen in QuaRot's `get_hadK` order. Row-vector convention: `fwht(x)` maps each row x to x·Mᵀ (= M·x as
 * a column), which is QuaRot's `matmul_hadU`; `{ transpose: true }` maps x to x·M (`matmul_hadUt`).
 *
 * Float32 semantics (shared by {@link fwht} and {@link fwhtRef}, bit-exact): the Sylvester butterfly
 * stages run with h = 1, 2, …, 2^(k−1), every output rounded to float32; for m = 40 (had40 = H₂ ⊗ had20
 * exactly) one more butterfly stage at h = n/2 follows and m is treated as 20 below; the had_m mixing
 * sums the m float32 inputs in float64 in index order, multiplies by the scale (1/√n as a float64, or 1)
 * and rounds once; for m = 1 the scale is applied to the rounded last butterfly output and rounded again.
 *
 * Exposed: hadamardFactorization, hadamardMatrix, fwht, fwhtRef, fwhtRows.
 * Internal: nearbySizes.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { wasmKernels } from '../common/kernels.js';
import { assertShape, type Float32Tensor, tensor } from '../common/tensor.js';
import { HAD_ORDERS, hadTable } from './hadamard-tables.js';

/**
 * How n splits: n = m·2^k (m = 1 for a power of two).
 *
 * @example
 * ```ts
 * hadamardFactorization(2560); // { n: 2560, m: 40, k: 6 }
 * ```
 */
export interface HadamardFactorization {
  readonly n: number;
  readonly m: number;
  readonly k: number;
}

const MAX_N = 2 ** 30;

function isPow2(v: number): boolean {
  return v >= 1 && Number.isSafeInteger(v) && (v & (v - 1)) === 0 && v <= MAX_N;
}

/** Supported sizes around n (up to `count` below and above), formatted `"1536 = 12·2^7"`. */
function nearbySizes(n: number, count = 3): string[] {
  const all: [number, number, number][] = [];
  for (const m of [1, ...HAD_ORDERS]) {
    for (let k = 0; m * 2 ** k <= MAX_N; k++) {
      const v = m * 2 ** k;
      if (hadamardFactorization(v)?.m === m) all.push([v, m, k]);
    }
  }
  all.sort((a, b) => a[0] - b[0]);
  const below = all.filter((e) => e[0] < n).slice(-count);
  const above = all.filter((e) => e[0] > n).slice(0, count);
  return [...below, ...above].map(([v, m, k]) => (m === 1 ? `${v} = 2^${k}` : `${v} = ${m}·2^${k}`));
}

/**
 * The factorization n = m·2^k QuaRot would use (the first m of 172, 156, 140, 108, 60, 52, 36, 28, 40,
 * 20, 12 dividing n, else a power of two), or `undefined` when n has no Hadamard of this family.
 *
 * @example
 * ```ts
 * hadamardFactorization(1536); // { n: 1536, m: 12, k: 7 }
 * hadamardFactorization(100); // undefined
 * ```
 */
export function hadamardFactorization(n: number): HadamardFactorization | undefined {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_N) return undefined;
  for (const m of HAD_ORDERS) {
    if (n % m === 0) {
      const p = n / m;
      return isPow2(p) ? { n, m, k: Math.log2(p) } : undefined;
    }
  }
  return isPow2(n) ? { n, m: 1, k: Math.log2(n) } : undefined;
}

/** Factorize or throw `E_SHAPE` naming the supported sizes near n. */
export function requireHadamardSize(n: number, who: string): HadamardFactorization {
  const f = hadamardFactorization(n);
  if (f === undefined) {
    const near = Number.isSafeInteger(n) && n >= 1 ? `; nearby supported sizes: ${nearbySizes(n).join(', ')}` : '';
    fail(
      'E_SHAPE',
      `${who}: no Hadamard matrix of size ${n}; supported sizes are n = m·2^k with m in {1, ${[...HAD_ORDERS].sort((a, b) => a - b).join(', ')}} (QuaRot's choice of m, up to 2^30)${near}`,
    );
  }
  return f;
}

/**
 * The normalized n×n Hadamard matrix M = (had_m ⊗ H_{2^k})/√n as a row-major `Float64Array` (entries
 * exactly ±1/√n with 1/√n = `1 / Math.sqrt(n)`); `{ transpose: true }` returns Mᵀ.
 *
 * @example
 * ```ts
 * const M = hadamardMatrix(12); // 144 entries, each ±1/√12; M·Mᵀ = I
 * hadamardMatrix(7); // throws LowbitError E_SHAPE naming 1 = 2^0, 2 = 2^1, 4 = 2^2, 8 = 2^3, 12 = 12·2^0, 16 = 2^4
 * ```
 */
export function hadamardMatrix(n: number, opts: { transpose?: boolean } = {}): Float64Array {
  const { m, k } = requireHadamardSize(n, 'hadamardMatrix');
  check(n <= 16384, 'E_LIMIT', `hadamardMatrix: n = ${n} would allocate ${n}² doubles; the cap is n = 16384`);
  const p = 2 ** k;
  const had = m === 1 ? undefined : hadTable(m);
  const inv = 1 / Math.sqrt(n);
  const out = new Float64Array(n * n);
  const parity = new Uint8Array(p); // parity[v] = popcount(v) mod 2
  for (let v = 1; v < p; v++) parity[v] = parity[v >>> 1]! ^ (v & 1);
  for (let a = 0; a < m; a++)
    for (let b = 0; b < p; b++) {
      const ro = (a * p + b) * n;
      for (let a2 = 0; a2 < m; a2++) {
        const v = had === undefined ? inv : had[a * m + a2]! * inv;
        const o = ro + a2 * p;
        for (let b2 = 0; b2 < p; b2++) out[o + b2] = parity[b & b2] === 0 ? v : -v;
      }
    }
  if (opts.transpose === true && had !== undefined) {
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const t = out[i * n + j]!;
        out[i * n + j] = out[j * n + i]!;
        out[j * n + i] = t;
      }
  }
  return out;
}

/**
 * Options of {@link fwht}.
 *
 * @example
 * ```ts
 * fwht(x, { normalize: false, transpose: true });
 * ```
 */
export interface FwhtOptions {
  /** Multiply by 1/√n so the transform is orthogonal (default true). */
  readonly normalize?: boolean;
  /** Use Mᵀ (QuaRot's `matmul_hadUt`): x ↦ x·M instead of x·Mᵀ (default false). */
  readonly transpose?: boolean;
}

/**
 * Per-size plan. had40 = H₂ ⊗ had20 exactly, so for m = 40 the transform is one extra butterfly stage
 * at h = n/2 (the outer H₂) followed by had20 mixing: 21 instead of 40 operations per element.
 */
interface Plan {
  readonly m: number;
  /** Order of the mixed table: m, or 20 when m = 40. */
  readonly mm: number;
  /** Extra outer butterfly at h = n/2 (m = 40). */
  readonly outer: boolean;
  readonly p: number;
  readonly stages: number;
  readonly had: Float64Array;
  readonly hadT: Float64Array;
  readonly col: Float64Array;
}
const plans = new Map<number, Plan>();
function plan(f: HadamardFactorization): Plan {
  const hit = plans.get(f.n);
  if (hit !== undefined) return hit;
  const outer = f.m === 40;
  const mm = outer ? 20 : f.m;
  const had = new Float64Array(mm * mm);
  const hadT = new Float64Array(mm * mm);
  if (mm > 1) {
    const t = hadTable(mm);
    for (let i = 0; i < mm; i++)
      for (let j = 0; j < mm; j++) {
        had[i * mm + j] = t[i * mm + j]!;
        hadT[j * mm + i] = t[i * mm + j]!;
      }
  }
  const pl: Plan = { m: f.m, mm, outer, p: 2 ** f.k, stages: f.k, had, hadT, col: new Float64Array(mm * 4) };
  plans.set(f.n, pl);
  return pl;
}

/** Stages h = 1, 2, 4 on consecutive groups of 8 of [base, end); `scale` ≠ 0 scales the last stage. */
function pass8(x: Float32Array, base: number, end: number, scale: number): void {
  const fr = Math.fround;
  for (let i = base; i < end; i += 8) {
    const x0 = x[i]!;
    const x1 = x[i + 1]!;
    const x2 = x[i + 2]!;
    const x3 = x[i + 3]!;
    const x4 = x[i + 4]!;
    const x5 = x[i + 5]!;
    const x6 = x[i + 6]!;
    const x7 = x[i + 7]!;
    const a0 = fr(x0 + x1);
    const a1 = fr(x0 - x1);
    const a2 = fr(x2 + x3);
    const a3 = fr(x2 - x3);
    const a4 = fr(x4 + x5);
    const a5 = fr(x4 - x5);
    const a6 = fr(x6 + x7);
    const a7 = fr(x6 - x7);
    const b0 = fr(a0 + a2);
    const b2 = fr(a0 - a2);
    const b1 = fr(a1 + a3);
    const b3 = fr(a1 - a3);
    const b4 = fr(a4 + a6);
    const b6 = fr(a4 - a6);
    const b5 = fr(a5 + a7);
    const b7 = fr(a5 - a7);
    if (scale !== 0) {
      x[i] = fr(b0 + b4) * scale;
      x[i + 4] = fr(b0 - b4) * scale;
      x[i + 1] = fr(b1 + b5) * scale;
      x[i + 5] = fr(b1 - b5) * scale;
      x[i + 2] = fr(b2 + b6) * scale;
      x[i + 6] = fr(b2 - b6) * scale;
      x[i + 3] = fr(b3 + b7) * scale;
      x[i + 7] = fr(b3 - b7) * scale;
    } else {
      x[i] = b0 + b4;
      x[i + 4] = b0 - b4;
      x[i + 1] = b1 + b5;
      x[i + 5] = b1 - b5;
      x[i + 2] = b2 + b6;
      x[i + 6] = b2 - b6;
      x[i + 3] = b3 + b7;
      x[i + 7] = b3 - b7;
    }
  }
}

/** Stages h and 2h (radix 4) on [base, end); `scale` ≠ 0 scales the second stage. */
function pass4(x: Float32Array, base: number, end: number, h: number, scale: number): void {
  const fr = Math.fround;
  const h2 = 2 * h;
  const h3 = 3 * h;
  const step = 4 * h;
  for (let i = base; i < end; i += step)
    for (let j = i; j < i + h; j++) {
      const b0 = fr(x[j]! + x[j + h]!);
      const b1 = fr(x[j]! - x[j + h]!);
      const b2 = fr(x[j + h2]! + x[j + h3]!);
      const b3 = fr(x[j + h2]! - x[j + h3]!);
      if (scale !== 0) {
        x[j] = fr(b0 + b2) * scale;
        x[j + h2] = fr(b0 - b2) * scale;
        x[j + h] = fr(b1 + b3) * scale;
        x[j + h3] = fr(b1 - b3) * scale;
      } else {
        x[j] = b0 + b2;
        x[j + h2] = b0 - b2;
        x[j + h] = b1 + b3;
        x[j + h3] = b1 - b3;
      }
    }
}

/** Stage h (radix 2) on [base, end); `scale` ≠ 0 scales it. */
function pass2(x: Float32Array, base: number, end: number, h: number, scale: number): void {
  const fr = Math.fround;
  const step = 2 * h;
  for (let i = base; i < end; i += step)
    for (let j = i; j < i + h; j++) {
      const a = x[j]!;
      const b = x[j + h]!;
      if (scale !== 0) {
        x[j] = fr(a + b) * scale;
        x[j + h] = fr(a - b) * scale;
      } else {
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
}

/**
 * had_mm mixing over the outer index of each block of mm·p values starting at `base`: y[a][b] =
 * scale·Σ_c had[a][c]·t[c][b] (float64, c ascending), rounded once. Four columns b at a time.
 */
function mix(
  x: Float32Array,
  base: number,
  mm: number,
  p: number,
  had: Float64Array,
  col: Float64Array,
  scale: number,
): void {
  let b = 0;
  for (; b + 4 <= p; b += 4) {
    for (let c = 0; c < mm; c++) {
      const o = base + c * p + b;
      col[4 * c] = x[o]!;
      col[4 * c + 1] = x[o + 1]!;
      col[4 * c + 2] = x[o + 2]!;
      col[4 * c + 3] = x[o + 3]!;
    }
    for (let a = 0; a < mm; a++) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      const ro = a * mm;
      for (let c = 0; c < mm; c++) {
        const h = had[ro + c]!;
        s0 += h * col[4 * c]!;
        s1 += h * col[4 * c + 1]!;
        s2 += h * col[4 * c + 2]!;
        s3 += h * col[4 * c + 3]!;
      }
      const o = base + a * p + b;
      x[o] = s0 * scale;
      x[o + 1] = s1 * scale;
      x[o + 2] = s2 * scale;
      x[o + 3] = s3 * scale;
    }
  }
  for (; b < p; b++) {
    for (let c = 0; c < mm; c++) col[c] = x[base + c * p + b]!;
    for (let a = 0; a < mm; a++) {
      let s = 0;
      const ro = a * mm;
      for (let c = 0; c < mm; c++) s += had[ro + c]! * col[c]!;
      x[base + a * p + b] = s * scale;
    }
  }
}

/**
 * Low-level kernel: transform `rows` contiguous rows of length n starting at `offset` of `data`, in
 * place. No validation beyond the size; no allocation after the first call for a given n.
 *
 * @example
 * ```ts
 * const buf = new Float32Array(4 * 24); // 4 rows of n = 24
 * fwhtRows(buf, 4, 24);
 * ```
 */
export function fwhtRows(
  data: Float32Array,
  rows: number,
  n: number,
  offset = 0,
  normalize = true,
  transpose = false,
): void {
  const pl = plan(requireHadamardSize(n, 'fwht'));
  const { mm, p, stages, col, outer } = pl;
  const had = transpose ? pl.hadT : pl.had;
  const scale = normalize ? 1 / Math.sqrt(n) : 1;
  // m = 1: the scale is folded into the last butterfly pass (0 = no scaling)
  const lastScale = mm === 1 && !outer && normalize && n > 1 ? scale : 0;
  // n = 2^k ≥ 4: the wasm SIMD butterflies (bit-identical: same float32 dataflow and final f32(y·scale))
  if (mm === 1 && !outer && n >= 4 && rows > 0) {
    // false only when no memory could be had for a chunk, before any row was touched
    if (wasmKernels()?.fwhtPow2(data, offset, rows, n, normalize, scale)) return;
  }
  for (let r = 0; r < rows; r++) {
    const base = offset + r * n;
    const end = base + n;
    let left = stages;
    let h = 1;
    if (left >= 3) {
      pass8(data, base, end, left === 3 ? lastScale : 0);
      left -= 3;
      h = 8;
    }
    for (; left >= 2; left -= 2, h *= 4) pass4(data, base, end, h, left === 2 ? lastScale : 0);
    if (left === 1) pass2(data, base, end, h, lastScale);
    if (outer) pass2(data, base, end, n / 2, 0);
    if (mm > 1) {
      const block = mm * p;
      for (let o = base; o < end; o += block) mix(data, o, mm, p, had, col, scale);
    }
  }
}

/**
 * In-place fast Hadamard transform along the last axis of a float32 tensor: each row x becomes x·Mᵀ
 * (M = {@link hadamardMatrix}), O(n log n) for the 2^k part plus m adds per element for had_m.
 * Mutates and returns `x` (copy first to keep the input).
 *
 * @example
 * ```ts
 * import { float32 } from 'lowbit/common';
 * const x = float32([1, 0, 0, 0], [1, 4]);
 * fwht(x).data; // [0.5, 0.5, 0.5, 0.5] (x is transformed in place)
 * ```
 */
export function fwht(x: Float32Tensor, opts: FwhtOptions = {}): Float32Tensor {
  assertShape(x, 'fwht', { dtype: 'float32', minRank: 1 });
  const n = x.shape[x.shape.length - 1]!;
  requireHadamardSize(n, 'fwht');
  fwhtRows(x.data, x.data.length / n, n, 0, opts.normalize ?? true, opts.transpose ?? false);
  return x;
}

/**
 * Reference twin of {@link fwht}: the textbook radix-2 loop with `Math.fround` at every float32 rounding
 * point, then the had_m mixing; returns a new tensor (the input is not touched). Bit-exact with `fwht`.
 *
 * @example
 * ```ts
 * const y = fwhtRef(x); // same bits as fwht(copy of x)
 * ```
 */
export function fwhtRef(x: Float32Tensor, opts: FwhtOptions = {}): Float32Tensor {
  assertShape(x, 'fwhtRef', { dtype: 'float32', minRank: 1 });
  const n = x.shape[x.shape.length - 1]!;
  const { m, k } = requireHadamardSize(n, 'fwhtRef');
  const p = 2 ** k;
  const normalize = opts.normalize ?? true;
  // had40 = H₂ ⊗ had20: an outer butterfly at h = n/2, then had20 mixing in each half
  const mm = m === 40 ? 20 : m;
  const had = mm > 1 ? hadTable(mm) : undefined;
  const scale = normalize ? 1 / Math.sqrt(n) : 1;
  const out = Float32Array.from(x.data);
  const rows = out.length / n;
  for (let r = 0; r < rows; r++) {
    const v = Array.from(out.subarray(r * n, (r + 1) * n));
    const bfly = (h: number): void => {
      for (let i = 0; i < n; i += 2 * h)
        for (let j = i; j < i + h; j++) {
          const a = v[j]!;
          const b = v[j + h]!;
          v[j] = Math.fround(a + b);
          v[j + h] = Math.fround(a - b);
        }
    };
    for (let h = 1; h < p; h *= 2) bfly(h);
    if (m === 40) bfly(n / 2);
    if (had !== undefined) {
      const y = new Array<number>(n);
      for (let blk = 0; blk < n; blk += mm * p)
        for (let a = 0; a < mm; a++)
          for (let b = 0; b < p; b++) {
            let acc = 0;
            for (let c = 0; c < mm; c++) {
              const sign = opts.transpose === true ? had[c * mm + a]! : had[a * mm + c]!;
              acc += sign * v[blk + c * p + b]!;
            }
            y[blk + a * p + b] = Math.fround(acc * scale);
          }
      out.set(y, r * n);
    } else {
      for (let i = 0; i < n; i++) out[r * n + i] = Math.fround(v[i]! * scale);
    }
  }
  return tensor('float32', out, x.shape);
}
