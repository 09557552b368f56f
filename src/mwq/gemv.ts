/**
 * Bit-serial matrix–vector products on a {@link NestedWeights}: y = Ŵ_r·x computed from level r's planes
 * only (work and bytes touched grow with the number of planes read), never materialising Ŵ_r.
 *
 * Per group (row o, columns J) the integer part is a weighted sum of masked input sums
 * S_p = Σ_{i∈J, bit p of i set} x_i, one per plane p read:
 * - slicing: Σ v_i x_i with v = Σ_p 2^(c−1−p)·bit_p (+ for rounding variants: plane r adds 2^k and, with
 *   the clamp, the AND of planes 0..r subtracts 2^k); y += α·(Σ v_i x_i + (off − z)·X_J), off = (2^k − 1)/2
 *   for `'trunc-mid'`;
 * - residual: y += s₁·(Σ_p 2^(b₁−1−p) S_p − z₁·X_J) + Σ_levels s_k·(2·S_k − X_J).
 *
 * Fast path (`in` and `groupSize` multiples of 8, little-endian host): the masked sums are read byte by
 * byte from a 256-entry subset-sum table per 8 inputs (LUT-GEMV, built once per input vector, f64), so a
 * plane costs one table lookup per 8 weights. Otherwise a per-bit loop. Sums are f64, y is rounded to
 * float32 once. The reference twins compute dequantize(r)·x densely (f64 sums of float32 products).
 *
 * Exposed: gemv, gemm, gemvRef, gemmRef.
 * @module
 */
import { check, fail } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import type { NestedWeights } from './nested.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function asVector(x: Float32Array | Float32Tensor, who: string): Float32Array {
  if (x instanceof Float32Array) return x;
  if (x !== null && typeof x === 'object' && x.data instanceof Float32Array && x.dtype === 'float32') return x.data;
  return fail('E_DTYPE', `${who}: x must be a Float32Array or a float32 tensor`);
}

/** Plane weights and constants for level r. */
interface Plan {
  /** Planes read (0..P−1). */
  P: number;
  /** Integer weight of plane p (slicing) or of S_p before scaling (residual base: 2^(b₁−1−p); residual level: 2). */
  wt: Float64Array;
  /** Slicing rounding with clamp: subtract 2^k·AND(planes 0..r). */
  andWeight: number;
  /** Slicing: value offset off (trunc-mid). */
  off: number;
  residual: boolean;
  baseP: number;
}

function plan(nw: NestedWeights, r: number): Plan {
  const d = nw.data;
  const c = d.bits;
  const P = nw.planesRead(r);
  const wt = new Float64Array(P);
  let andWeight = 0;
  let off = 0;
  if (d.scheme === 'residual') {
    for (let p = 0; p < P; p++) wt[p] = p < d.baseBits ? 2 ** (d.baseBits - 1 - p) : 2;
    return { P, wt, andWeight, off, residual: true, baseP: d.baseBits };
  }
  const k = c - r;
  if (k === 0 || d.variant === 'trunc' || d.variant === 'trunc-mid') {
    for (let p = 0; p < P; p++) wt[p] = 2 ** (c - 1 - p);
    if (k > 0 && d.variant === 'trunc-mid') off = (2 ** k - 1) / 2;
  } else {
    for (let p = 0; p < r; p++) wt[p] = 2 ** (c - 1 - p);
    wt[r] = 2 ** k;
    if (d.variant === 'round-clamp') andWeight = 2 ** k;
  }
  return { P, wt, andWeight, off, residual: false, baseP: c };
}

/** Core: Y[b, o] for B input vectors. xs: B·cols inputs (row-major). */
function bitSerial(nw: NestedWeights, xs: Float32Array, B: number, r: number, out: Float32Array): void {
  const d = nw.data;
  const rows = d.rows;
  const cols = d.cols;
  const G = d.groupSize;
  const n = rows * cols;
  const W = Math.ceil(n / 32);
  const gpr = cols / G;
  const nG = n / G;
  const pl = plan(nw, r);
  const P = pl.P;
  const wt = pl.wt;
  const andW = pl.andWeight;
  const residual = pl.residual;
  const baseP = pl.baseP;
  // group sums of x: X[b·gpr + cg]
  const X = new Float64Array(B * gpr);
  for (let b = 0; b < B; b++) {
    for (let cg = 0; cg < gpr; cg++) {
      let s = 0;
      const o = b * cols + cg * G;
      for (let i = 0; i < G; i++) s += xs[o + i]!;
      X[b * gpr + cg] = s;
    }
  }
  const S = new Float64Array(B * (P + 1)); // S[p·B + b] for planes p < P, S[P·B + b] = AND term
  const acc = new Float64Array(B * rows);
  const fast = LITTLE_ENDIAN && (cols & 7) === 0 && (G & 7) === 0;
  const bytesPerRow = cols >>> 3;
  const bytesPerGroup = G >>> 3;
  let lut: Float64Array | null = null;
  let bytes: Uint8Array | null = null;
  if (fast) {
    // lut[(j·256 + m)·B + b] = Σ_{t: bit t of m} x_b[8j + t]: the B sums of one byte pattern are adjacent
    lut = new Float64Array(B * bytesPerRow * 256);
    for (let j = 0; j < bytesPerRow; j++) {
      const base = j * 256 * B;
      for (let m = 1; m < 256; m++) {
        const low = m & -m;
        const from = base + (m ^ low) * B;
        const to = base + m * B;
        const xo = 8 * j + 31 - Math.clz32(low);
        for (let b = 0; b < B; b++) lut[to + b] = lut[from + b]! + xs[b * cols + xo]!;
      }
    }
    bytes = new Uint8Array(d.planes.buffer, d.planes.byteOffset, d.planes.byteLength);
  }
  const planeBytes = W * 4;
  // gemm: column tiles of ≥ 64 plane bytes per row, so that the B-wide table slice stays in cache across rows
  const tile = fast && B > 1 ? Math.max(1, (64 / bytesPerGroup) | 0) : gpr;
  const SB = P * B;
  for (let c0 = 0; c0 < gpr; c0 += tile) {
    const c1 = Math.min(gpr, c0 + tile);
    for (let o = 0; o < rows; o++) {
      for (let cg = c0; cg < c1; cg++) {
        const g = o * gpr + cg;
        S.fill(0);
        if (fast) {
          const L = lut!;
          const by = bytes!;
          const rowByte = o * bytesPerRow + cg * bytesPerGroup;
          const lutCol = cg * bytesPerGroup;
          if (B === 1) {
            for (let p = 0; p < P; p++) {
              const pb = p * planeBytes + rowByte;
              let sum = 0;
              let li = lutCol * 256;
              for (let j = 0; j < bytesPerGroup; j++, li += 256) sum += L[li + by[pb + j]!]!;
              S[p] = sum;
            }
          } else {
            for (let p = 0; p < P; p++) {
              const pb = p * planeBytes + rowByte;
              const so = p * B;
              for (let j = 0; j < bytesPerGroup; j++) {
                const li = ((lutCol + j) * 256 + by[pb + j]!) * B;
                for (let b = 0; b < B; b++) S[so + b] = S[so + b]! + L[li + b]!;
              }
            }
          }
          if (andW !== 0) {
            for (let j = 0; j < bytesPerGroup; j++) {
              let m = 255;
              for (let p = 0; p < P; p++) m &= by[p * planeBytes + rowByte + j]!;
              if (m === 0) continue;
              const li = ((lutCol + j) * 256 + m) * B;
              for (let b = 0; b < B; b++) S[SB + b] = S[SB + b]! + L[li + b]!;
            }
          }
        } else {
          const e0 = o * cols + cg * G;
          for (let i = 0; i < G; i++) {
            const e = e0 + i;
            const wi = e >>> 5;
            const sh = e & 31;
            let all = 1;
            for (let p = 0; p < P; p++) {
              const bit = (d.planes[p * W + wi]! >>> sh) & 1;
              all &= bit;
              if (bit === 1) for (let b = 0; b < B; b++) S[p * B + b] = S[p * B + b]! + xs[b * cols + cg * G + i]!;
            }
            if (andW !== 0 && all === 1)
              for (let b = 0; b < B; b++) S[SB + b] = S[SB + b]! + xs[b * cols + cg * G + i]!;
          }
        }
        const a = d.scales[g]!;
        const z = d.zeros[g]!;
        for (let b = 0; b < B; b++) {
          const xg = X[b * gpr + cg]!;
          let y: number;
          if (!residual) {
            let t = (pl.off - z) * xg - andW * S[SB + b]!;
            for (let p = 0; p < P; p++) t += wt[p]! * S[p * B + b]!;
            y = a * t;
          } else {
            let t = -z * xg;
            for (let p = 0; p < baseP; p++) t += wt[p]! * S[p * B + b]!;
            y = a * t;
            for (let p = baseP; p < P; p++) y += d.levelScales[(p - baseP) * nG + g]! * (2 * S[p * B + b]! - xg);
          }
          acc[b * rows + o] = acc[b * rows + o]! + y;
        }
      }
    }
  }
  for (let i = 0; i < B * rows; i++) out[i] = acc[i]!;
}

/**
 * y = Ŵ_r·x, bit-serial from level r's planes (see module docs). `x`: `in` floats; returns `out` floats
 * (written to `out` if given). `E_CONFIG` for a level not served, `E_SHAPE` for a length mismatch,
 * `E_NONFINITE` is not checked (NaN/Inf in x propagate).
 *
 * @example
 * ```ts
 * const y = gemv(nw, x, 4); // ≈ dequantize(4)·x, touching nw.bytesRead(4) bytes of weights
 * ```
 */
export function gemv(nw: NestedWeights, x: Float32Array | Float32Tensor, r: number, out?: Float32Array): Float32Array {
  nw.checkLevel(r, 'gemv');
  const xv = asVector(x, 'gemv');
  const [rows, cols] = nw.shape;
  check(
    xv.length === cols,
    'E_SHAPE',
    () => `gemv: x has ${xv.length} elements, the weight [${rows}, ${cols}] needs ${cols}`,
  );
  const dst = out ?? new Float32Array(rows);
  check(dst.length === rows, 'E_SHAPE', () => `gemv: out has ${dst.length} elements, expected ${rows}`);
  bitSerial(nw, xv, 1, r, dst);
  return dst;
}

/**
 * Batched bit-serial product: `X` `[B, in]` (B input vectors as rows) → `[B, out]` with row b = Ŵ_r·x_b.
 * The planes are read once for all B vectors.
 *
 * @example
 * ```ts
 * const Y = gemm(nw, { dtype: 'float32', data: xs, shape: [8, 256] }, 4); // Float32Tensor [8, out]
 * ```
 */
export function gemm(nw: NestedWeights, X: Float32Tensor, r: number, out?: Float32Array): Float32Tensor {
  nw.checkLevel(r, 'gemm');
  const [rows, cols] = nw.shape;
  if (X === null || typeof X !== 'object' || !(X.data instanceof Float32Array) || X.dtype !== 'float32')
    fail('E_DTYPE', 'gemm: X must be a float32 tensor [B, in]');
  if (!Array.isArray(X.shape) || X.shape.length !== 2 || X.shape[1] !== cols)
    fail('E_SHAPE', `gemm: X must have shape [B, ${cols}], got [${String(X.shape)}]`);
  const B = X.shape[0] as number;
  check(X.data.length === B * cols, 'E_SHAPE', 'gemm: X data length does not match its shape');
  const dst = out ?? new Float32Array(B * rows);
  check(dst.length === B * rows, 'E_SHAPE', () => `gemm: out has ${dst.length} elements, expected ${B * rows}`);
  if (B > 0) bitSerial(nw, X.data, B, r, dst);
  return { dtype: 'float32', data: dst, shape: Object.freeze([B, rows]) };
}

/**
 * Reference twin of {@link gemv}: y_o = fl(Σ_i dequantize(r)[o, i]·x_i) with f64 sums.
 *
 * @example
 * ```ts
 * gemvRef(nw, x, 4); // within float32 rounding of gemv(nw, x, 4)
 * ```
 */
export function gemvRef(nw: NestedWeights, x: Float32Array | Float32Tensor, r: number): Float32Array {
  const xv = asVector(x, 'gemvRef');
  const [rows, cols] = nw.shape;
  check(xv.length === cols, 'E_SHAPE', () => `gemvRef: x has ${xv.length} elements, expected ${cols}`);
  const w = nw.dequantize(r).data;
  const y = new Float32Array(rows);
  for (let o = 0; o < rows; o++) {
    let s = 0;
    for (let i = 0; i < cols; i++) s += w[o * cols + i]! * xv[i]!;
    y[o] = s;
  }
  return y;
}

/**
 * Reference twin of {@link gemm}: dense dequantize(r) times each row of X.
 *
 * @example
 * ```ts
 * gemmRef(nw, X, 2).shape; // [B, out]
 * ```
 */
export function gemmRef(nw: NestedWeights, X: Float32Tensor, r: number): Float32Tensor {
  const [rows, cols] = nw.shape;
  check(X.shape.length === 2 && X.shape[1] === cols, 'E_SHAPE', () => `gemmRef: X must have shape [B, ${cols}]`);
  const B = X.shape[0]!;
  const out = new Float32Array(B * rows);
  for (let b = 0; b < B; b++) out.set(gemvRef(nw, X.data.subarray(b * cols, (b + 1) * cols), r), b * rows);
  return { dtype: 'float32', data: out, shape: [B, rows] };
}
