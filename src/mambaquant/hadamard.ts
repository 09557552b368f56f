/**
 * Hadamard matrices and the fast Walsh–Hadamard transform for every n = m·2^k, m ∈ {1, 12, 20, 28, 36,
 * 40, 52, 60, 108, 140, 156, 172}, in QuaRot's layout: M = (had_m ⊗ H_{2^k})/√n with had_m on the outer
 * (slow) index, H_{2^k} the Sylvester matrix in natural order (`H[i][j] = (−1)^popcount(i & j)`), and m
 * chosen in QuaRot's `get_hadK` order. Row-vector convention: `fwht(x)` maps each row x to x·Mᵀ (= M·x as
 * a column), which is QuaRot's `matmul_hadU`; `{ transpose: true }` maps x to x·M (`matmul_hadUt`).
 *
 * Float32 semantics (shared by {@link fwht} and {@link fwhtRef}, bit-exact): every butterfly output is
 * rounded to float32; the had_m mixing sums the m float32 inputs in float64 in index order, multiplies
 * by the scale (1/√n as a float64, or 1) and rounds once; for m = 1 the scale is applied to the rounded
 * butterfly output and rounded again.
 *
 * Exposed: hadamardFactorization, hadamardMatrix, fwht, fwhtRef, fwhtRows.
 * Internal: nearbySizes.
 * @module
 */
import { check, fail } from '../common/errors.js';
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
 * hadamardMatrix(7); // throws LowbitError E_SHAPE naming 4 = 2^2, 8 = 2^3, 12 = 12·2^0, …
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

/** Per-size scratch: had_m as float64 ±1 (plain and transposed) and a column buffer. */
interface Plan {
  readonly m: number;
  readonly p: number;
  readonly had: Float64Array;
  readonly hadT: Float64Array;
  readonly col: Float64Array;
}
const plans = new Map<number, Plan>();
function plan(f: HadamardFactorization): Plan {
  const hit = plans.get(f.n);
  if (hit !== undefined) return hit;
  const m = f.m;
  const had = new Float64Array(m * m);
  const hadT = new Float64Array(m * m);
  if (m > 1) {
    const t = hadTable(m);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < m; j++) {
        had[i * m + j] = t[i * m + j]!;
        hadT[j * m + i] = t[i * m + j]!;
      }
  }
  const pl: Plan = { m, p: 2 ** f.k, had, hadT, col: new Float64Array(m) };
  plans.set(f.n, pl);
  return pl;
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
  const { m, p, col } = pl;
  const had = transpose ? pl.hadT : pl.had;
  const scale = normalize ? 1 / Math.sqrt(n) : 1;
  const fr = Math.fround;
  // radix-2 stages h = 1, 2, …, p/2, done two at a time (radix 4) with the same float32 rounding points.
  let stages = 0;
  for (let h = 1; h < p; h *= 2) stages++;
  const scaleLast = m === 1 && normalize && n > 1;
  for (let r = 0; r < rows; r++) {
    const base = offset + r * n;
    const end = base + n;
    let s = 0;
    let h = 1;
    if (stages % 2 === 1) {
      const last = stages === 1 && scaleLast;
      for (let i = base; i < end; i += 2) {
        const a = data[i]!;
        const b = data[i + 1]!;
        if (last) {
          data[i] = fr(a + b) * scale;
          data[i + 1] = fr(a - b) * scale;
        } else {
          data[i] = a + b;
          data[i + 1] = a - b;
        }
      }
      s = 1;
      h = 2;
    }
    for (; s < stages; s += 2, h *= 4) {
      const h2 = 2 * h;
      const h3 = 3 * h;
      const step = 4 * h;
      if (s + 2 === stages && scaleLast) {
        for (let i = base; i < end; i += step)
          for (let j = i; j < i + h; j++) {
            const b0 = fr(data[j]! + data[j + h]!);
            const b1 = fr(data[j]! - data[j + h]!);
            const b2 = fr(data[j + h2]! + data[j + h3]!);
            const b3 = fr(data[j + h2]! - data[j + h3]!);
            data[j] = fr(b0 + b2) * scale;
            data[j + h2] = fr(b0 - b2) * scale;
            data[j + h] = fr(b1 + b3) * scale;
            data[j + h3] = fr(b1 - b3) * scale;
          }
      } else {
        for (let i = base; i < end; i += step)
          for (let j = i; j < i + h; j++) {
            const b0 = fr(data[j]! + data[j + h]!);
            const b1 = fr(data[j]! - data[j + h]!);
            const b2 = fr(data[j + h2]! + data[j + h3]!);
            const b3 = fr(data[j + h2]! - data[j + h3]!);
            data[j] = b0 + b2;
            data[j + h2] = b0 - b2;
            data[j + h] = b1 + b3;
            data[j + h3] = b1 - b3;
          }
      }
    }
    if (m > 1) {
      for (let b = 0; b < p; b++) {
        for (let a = 0; a < m; a++) col[a] = data[base + a * p + b]!;
        for (let a = 0; a < m; a++) {
          let acc = 0;
          const ro = a * m;
          for (let c = 0; c < m; c++) acc += had[ro + c]! * col[c]!;
          data[base + a * p + b] = acc * scale;
        }
      }
    } else if (normalize && n === 1) {
      data[base] = data[base]! * scale;
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
  const had = m > 1 ? hadTable(m) : undefined;
  const scale = normalize ? 1 / Math.sqrt(n) : 1;
  const out = Float32Array.from(x.data);
  const rows = out.length / n;
  for (let r = 0; r < rows; r++) {
    const v = Array.from(out.subarray(r * n, (r + 1) * n));
    for (let h = 1; h < p; h *= 2)
      for (let i = 0; i < n; i += 2 * h)
        for (let j = i; j < i + h; j++) {
          const a = v[j]!;
          const b = v[j + h]!;
          v[j] = Math.fround(a + b);
          v[j + h] = Math.fround(a - b);
        }
    if (had !== undefined) {
      const y = new Array<number>(n);
      for (let a = 0; a < m; a++)
        for (let b = 0; b < p; b++) {
          let acc = 0;
          for (let c = 0; c < m; c++) {
            const sign = opts.transpose === true ? had[c * m + a]! : had[a * m + c]!;
            acc += sign * v[c * p + b]!;
          }
          y[a * p + b] = Math.fround(acc * scale);
        }
      out.set(y, r * n);
    } else {
      for (let i = 0; i < n; i++) out[r * n + i] = Math.fround(v[i]! * scale);
    }
  }
  return tensor('float32', out, x.shape);
}
