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
 * Kernel (LUT-GEMV; the wasm SIMD kernel `gemvRows` in `wasm/assembly/gemv.ts` computes the same bits):
 * 1. once per input vector, per column byte j (columns 8j..8j+7, x = 0 past `in`), a 256-entry f64
 *    subset-sum table T_j[m] = L[m & 15] + H[m >>> 4] with L[l] = A[l & 3] + B[l >>> 2],
 *    A = [0, x₀, x₁, x₀ + x₁], B = [0, x₂, x₃, x₂ + x₃] (H likewise from x₄..x₇);
 * 2. per (row, group, plane) the masked sum S_p = Σ_k T_{j₀+k}[byte_k & mask_k] over the group's column
 *    bytes k = 0, 1, … (byte_k = the plane's 8 bits at columns 8(j₀+k)…, mask_k = the columns of the
 *    group in it), accumulated in four f64 sums a_(k & 3), S_p = (a₀ + a₁) + (a₂ + a₃); X_J is the same
 *    sum over the all-ones byte, and the MatQuant clamp term the same sum over the AND of the planes read;
 * 3. per group, in f64: slicing t = (off − z)·X_J [− 2^k·S_AND], t += wt_p·S_p for p = 0…P−1, y_g = α·t;
 *    residual t = −z₁·X_J + Σ_{p<b₁} wt_p·S_p, y_g = s₁·t, y_g += s_p·(2·S_p − X_J) for each level plane;
 *    y_o = fl32(Σ_g y_g), groups in order.
 * So a plane costs one table lookup per 8 weights. The reference twins compute dequantize(r)·x densely
 * (f64 sums of float32 products); the two agree to float32 rounding (not bit for bit).
 *
 * Exposed: gemv, gemm, gemvRef, gemmRef. Internal: gemvLutPrep, gemvLutRows (the JS twin of the kernel).
 * @module
 */
import { check, fail } from '../common/errors.js';
import { type GemvPlanesArgs, wasmKernels } from '../common/kernels.js';
import type { Float32Tensor } from '../common/tensor.js';
import type { NestedWeights } from './nested.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function asVector(x: Float32Array | Float32Tensor, who: string): Float32Array {
  if (x instanceof Float32Array) return x;
  if (x !== null && typeof x === 'object' && x.data instanceof Float32Array && x.dtype === 'float32') return x.data;
  return fail('E_DTYPE', `${who}: x must be a Float32Array or a float32 tensor`);
}

/** The bits of column byte j (columns 8j … 8j+7) that lie in the group [c0, c1). */
function colMask(j: number, c0: number, c1: number): number {
  let m = 255;
  if (j === c0 >>> 3) m &= (255 << (c0 & 7)) & 255;
  if (j === (c1 - 1) >>> 3) m &= 255 >>> (7 - ((c1 - 1) & 7));
  return m;
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

/**
 * Step 1 of the kernel (JS twin of the wasm `gemvPrep`): the subset-sum tables of x[xo … xo+cols) into
 * `lut` (⌈cols/8⌉·256 f64) and the group sums X_J into `X` (cols/G f64). Internal.
 */
export function gemvLutPrep(
  x: Float32Array,
  xo: number,
  cols: number,
  G: number,
  lut: Float64Array,
  X: Float64Array,
): void {
  const nb = (cols + 7) >>> 3;
  const L = new Float64Array(16);
  for (let j = 0; j < nb; j++) {
    const c = 8 * j;
    const x0 = c < cols ? x[xo + c]! : 0;
    const x1 = c + 1 < cols ? x[xo + c + 1]! : 0;
    const x2 = c + 2 < cols ? x[xo + c + 2]! : 0;
    const x3 = c + 3 < cols ? x[xo + c + 3]! : 0;
    const x4 = c + 4 < cols ? x[xo + c + 4]! : 0;
    const x5 = c + 5 < cols ? x[xo + c + 5]! : 0;
    const x6 = c + 6 < cols ? x[xo + c + 6]! : 0;
    const x7 = c + 7 < cols ? x[xo + c + 7]! : 0;
    const a3 = x0 + x1;
    const b3 = x2 + x3;
    const e3 = x4 + x5;
    const f3 = x6 + x7;
    for (let l = 0; l < 16; l++) {
      const ai = l & 3;
      const bi = l >>> 2;
      const a = ai === 0 ? 0 : ai === 1 ? x0 : ai === 2 ? x1 : a3;
      const b = bi === 0 ? 0 : bi === 1 ? x2 : bi === 2 ? x3 : b3;
      L[l] = a + b;
    }
    const t = j << 8;
    for (let h = 0; h < 16; h++) {
      const ai = h & 3;
      const bi = h >>> 2;
      const e = ai === 0 ? 0 : ai === 1 ? x4 : ai === 2 ? x5 : e3;
      const f = bi === 0 ? 0 : bi === 1 ? x6 : bi === 2 ? x7 : f3;
      const hv = e + f;
      const o = t + (h << 4);
      for (let l = 0; l < 16; l++) lut[o + l] = L[l]! + hv;
    }
  }
  const gpr = cols / G;
  for (let g = 0; g < gpr; g++) {
    const c0 = g * G;
    const c1 = c0 + G;
    const j0 = c0 >>> 3;
    const j1 = (c1 - 1) >>> 3;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let j = j0; j <= j1; j++) {
      const v = lut[(j << 8) + colMask(j, c0, c1)]!;
      const k = (j - j0) & 3;
      if (k === 0) a0 += v;
      else if (k === 1) a1 += v;
      else if (k === 2) a2 += v;
      else a3 += v;
    }
    X[g] = a0 + a1 + (a2 + a3);
  }
}

/**
 * Steps 2–3 of the kernel (JS twin of the wasm `gemvRows`): rows o0 … o1−1 of y from the planes in `by`
 * (plane p's byte i at `by[p·planeBytes + i]`, element e of a plane is bit e & 7 of its byte e >>> 3),
 * `lut`/`X` from {@link gemvLutPrep}, metadata of group g (global index) at `scales[g]`, `zeros[g]`,
 * `levelScales[l·nG + g]`; y_o into `out[outOff + o − o0]`. Internal.
 */
export function gemvLutRows(
  by: Uint8Array,
  planeBytes: number,
  a: GemvPlanesArgs,
  lut: Float64Array,
  X: Float64Array,
  scales: Float32Array,
  zeros: Float32Array,
  levelScales: Float32Array,
  o0: number,
  o1: number,
  out: Float32Array,
  outOff: number,
): void {
  const { cols, G, P, wt, andW, off, residual, baseP } = a;
  const gpr = cols / G;
  const nG = a.rows * gpr;
  const aligned = (cols & 7) === 0 && (G & 7) === 0;
  const bpg = G >>> 3;
  const S = new Float64Array(P + 1);
  for (let o = o0; o < o1; o++) {
    let acc = 0;
    const rowBit = o * cols;
    for (let g = 0; g < gpr; g++) {
      const c0 = g * G;
      const c1 = c0 + G;
      if (aligned) {
        const rb = (rowBit + c0) / 8;
        const t0 = c0 << 5; // (c0 / 8)·256
        for (let p = 0; p < P; p++) {
          const pb = p * planeBytes + rb;
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let a3 = 0;
          let k = 0;
          let t = t0;
          for (; k + 4 <= bpg; k += 4, t += 1024) {
            a0 += lut[t + by[pb + k]!]!;
            a1 += lut[t + 256 + by[pb + k + 1]!]!;
            a2 += lut[t + 512 + by[pb + k + 2]!]!;
            a3 += lut[t + 768 + by[pb + k + 3]!]!;
          }
          if (k < bpg) a0 += lut[t + by[pb + k]!]!;
          if (k + 1 < bpg) a1 += lut[t + 256 + by[pb + k + 1]!]!;
          if (k + 2 < bpg) a2 += lut[t + 512 + by[pb + k + 2]!]!;
          S[p] = a0 + a1 + (a2 + a3);
        }
        if (andW !== 0) {
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let a3 = 0;
          for (let k = 0; k < bpg; k++) {
            let m = 255;
            for (let p = 0; p < P; p++) m &= by[p * planeBytes + rb + k]!;
            const v = lut[t0 + (k << 8) + m]!;
            const kk = k & 3;
            if (kk === 0) a0 += v;
            else if (kk === 1) a1 += v;
            else if (kk === 2) a2 += v;
            else a3 += v;
          }
          S[P] = a0 + a1 + (a2 + a3);
        }
      } else {
        const j0 = c0 >>> 3;
        const j1 = (c1 - 1) >>> 3;
        for (let p = 0; p <= P; p++) {
          if (p === P && andW === 0) break;
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let a3 = 0;
          for (let j = j0; j <= j1; j++) {
            let m = colMask(j, c0, c1);
            const e = rowBit + 8 * j;
            const sh = e & 7;
            const i = (e - sh) / 8;
            const q0 = p === P ? 0 : p;
            const q1 = p === P ? P : p + 1;
            for (let q = q0; q < q1; q++) {
              const bi = q * planeBytes + i;
              let v = by[bi]! >>> sh;
              if (sh !== 0 && i + 1 < planeBytes) v |= by[bi + 1]! << (8 - sh);
              m &= v;
            }
            const s = lut[(j << 8) + m]!;
            const k = (j - j0) & 3;
            if (k === 0) a0 += s;
            else if (k === 1) a1 += s;
            else if (k === 2) a2 += s;
            else a3 += s;
          }
          S[p] = a0 + a1 + (a2 + a3);
        }
      }
      const gi = o * gpr + g;
      const xg = X[g]!;
      const al = scales[gi]!;
      const z = zeros[gi]!;
      let y: number;
      if (!residual) {
        let t = (off - z) * xg;
        if (andW !== 0) t -= andW * S[P]!;
        for (let p = 0; p < P; p++) t += wt[p]! * S[p]!;
        y = al * t;
      } else {
        let t = -z * xg;
        for (let p = 0; p < baseP; p++) t += wt[p]! * S[p]!;
        y = al * t;
        for (let p = baseP; p < P; p++) y += levelScales[(p - baseP) * nG + gi]! * (2 * S[p]! - xg);
      }
      acc += y;
    }
    out[outOff + o - o0] = acc;
  }
}

/** Little-endian byte view of the planes (a swapped copy on big-endian hosts). */
function planeBytesView(planes: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(planes.buffer, planes.byteOffset, planes.byteLength);
  const b = new Uint8Array(planes.length * 4);
  for (let i = 0; i < planes.length; i++) {
    const w = planes[i]!;
    b[4 * i] = w & 255;
    b[4 * i + 1] = (w >>> 8) & 255;
    b[4 * i + 2] = (w >>> 16) & 255;
    b[4 * i + 3] = w >>> 24;
  }
  return b;
}

/** Core: Y[b, o] for B input vectors (xs: B·cols inputs, row-major) — wasm kernel or its JS twin. */
function bitSerial(nw: NestedWeights, xs: Float32Array, B: number, r: number, out: Float32Array): void {
  const d = nw.data;
  const rows = d.rows;
  const cols = d.cols;
  const G = d.groupSize;
  const W = Math.ceil((rows * cols) / 32);
  const pl = plan(nw, r);
  const a: GemvPlanesArgs = {
    rows,
    cols,
    G,
    P: pl.P,
    wt: pl.wt,
    andW: pl.andWeight,
    off: pl.off,
    residual: pl.residual,
    baseP: pl.baseP,
  };
  const wk = wasmKernels();
  if (
    wk?.gemvBitPlanes(
      d.planes,
      W,
      rows,
      cols,
      G,
      a.P,
      a.wt,
      a.andW,
      a.off,
      a.residual,
      a.baseP,
      d.scales,
      d.zeros,
      d.levelScales,
      xs,
      B,
      out,
      0,
      rows,
    )
  )
    return;
  const gpr = cols / G;
  const lb = ((cols + 7) >>> 3) * 256;
  // vectors in batches whose tables fit in 1 MB (as the wasm wrapper); row blocks of ≈ 64 KB of plane
  // bytes so that a block stays in cache across the batch
  const Bc = Math.max(1, Math.min(B, Math.floor(2 ** 17 / lb)));
  const lut = new Float64Array(Bc * lb);
  const X = new Float64Array(Bc * gpr);
  const by = planeBytesView(d.planes);
  const step = Bc === 1 ? rows : Math.max(1, Math.floor(65536 / Math.max(1, (pl.P * cols) / 8)));
  for (let b0 = 0; b0 < B; b0 += Bc) {
    const b1 = Math.min(B, b0 + Bc);
    for (let b = b0; b < b1; b++)
      gemvLutPrep(
        xs,
        b * cols,
        cols,
        G,
        lut.subarray((b - b0) * lb, (b - b0 + 1) * lb),
        X.subarray((b - b0) * gpr, (b - b0 + 1) * gpr),
      );
    for (let o0 = 0; o0 < rows; o0 += step) {
      const o1 = Math.min(rows, o0 + step);
      for (let b = b0; b < b1; b++)
        gemvLutRows(
          by,
          4 * W,
          a,
          lut.subarray((b - b0) * lb, (b - b0 + 1) * lb),
          X.subarray((b - b0) * gpr, (b - b0 + 1) * gpr),
          d.scales,
          d.zeros,
          d.levelScales,
          o0,
          o1,
          out,
          b * rows + o0,
        );
    }
  }
}

/**
 * y = Ŵ_r·x, bit-serial from level r's planes (see module docs): the WebAssembly SIMD kernel where
 * available, else its bit-identical JS twin (`setKernelBackend`); time grows linearly with the planes
 * read. `x`: `in` floats; returns `out` floats (written to `out` if given). `E_CONFIG` for a level not
 * served, `E_SHAPE` for a length mismatch, `E_NONFINITE` is not checked (NaN/Inf in x propagate: a NaN
 * makes every output NaN).
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
