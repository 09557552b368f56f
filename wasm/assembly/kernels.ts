// lowbit WebAssembly SIMD kernels (AssemblyScript 0.28, built by `npm run build:wasm`).
//
// Every kernel mirrors a JavaScript twin bit for bit (see src/common/kernels.ts): the float32 rounding
// points of the twins are exactly the f32 operations here (sub, div, mul, add are correctly rounded IEEE
// binary32, `nearest` is round-half-even). Min/max use `pmin`/`pmax` (`b < a ? b : a`), the semantics
// of the twins' `if (v < mn) mn = v`, so ties between −0 and +0 keep the first element seen; where SIMD
// lanes reorder the scan (contiguous groups), a zero result is re-derived by a scalar scan.
//
// Memory is owned by the JS loader: all pointers are byte offsets chosen by it, above `heapBase()`.
// Kernels return 0 on success, or a negative status when the input violates a precondition (a non-finite
// element, |x| ≥ limit, a range that overflows float32); the JS side then reruns its own checks, which
// throw the proper LowbitError.

export function heapBase(): usize {
  return __heap_base;
}

/** memory.copy: `n` bytes from `src` to `dst` (the pool stages strided-read inputs through scratch). */
export function copyBytes(dst: usize, src: usize, n: usize): void {
  memory.copy(dst, src, n);
}

// ---------------------------------------------------------------------------------------------------
// helpers

/** First element of x[p .. p+n) (stride 4 bytes) that equals zero, with its sign; `z` if none. */
@inline
function firstZero(p: usize, n: i32, z: f32): f32 {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(p + (<usize>i << 2));
    if (v == 0) return v;
  }
  return z;
}

let gMin: f32 = 0;
let gMax: f32 = 0;

/**
 * Min and max of a contiguous run of n ≥ 1 floats into gMin / gMax (two independent pairs of lane
 * accumulators): for finite data the result of the sequential JS scan (a zero min or max takes the sign
 * of the first zero in scan order). A NaN may be dropped here; the code pass detects it.
 */
@inline
function minMaxContig(p: usize, n: i32): void {
  let a = f32x4.splat(load<f32>(p));
  let b = a;
  let c = a;
  let d = a;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const q = p + (<usize>i << 2);
    const v0 = v128.load(q);
    const v1 = v128.load(q, 16);
    a = f32x4.pmin(a, v0);
    b = f32x4.pmax(b, v0);
    c = f32x4.pmin(c, v1);
    d = f32x4.pmax(d, v1);
  }
  if (i + 4 <= n) {
    const v0 = v128.load(p + (<usize>i << 2));
    a = f32x4.pmin(a, v0);
    b = f32x4.pmax(b, v0);
    i += 4;
  }
  a = f32x4.pmin(a, c);
  b = f32x4.pmax(b, d);
  a = f32x4.pmin(a, v128.shuffle<f32>(a, a, 2, 3, 0, 1));
  b = f32x4.pmax(b, v128.shuffle<f32>(b, b, 2, 3, 0, 1));
  a = f32x4.pmin(a, v128.shuffle<f32>(a, a, 1, 0, 3, 2));
  b = f32x4.pmax(b, v128.shuffle<f32>(b, b, 1, 0, 3, 2));
  let mn = f32x4.extract_lane(a, 0);
  let mx = f32x4.extract_lane(b, 0);
  for (; i < n; i++) {
    const v = load<f32>(p + (<usize>i << 2));
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  if (mn == 0) mn = firstZero(p, n, mn);
  if (mx == 0) mx = firstZero(p, n, mx);
  gMin = mn;
  gMax = mx;
}

// ---------------------------------------------------------------------------------------------------
// Codes q = RNE(clamp(f32(f32(x − mn) / s), 0, qmax)), four at a time, without cvt/trunc.
//
// Division path (any qmax ≤ 255): y = f32(min(t, qmax) + 2^23) with the exact quotient t; the add
// rounds half to even at the integer grid, so the bits of y are 0x4B000000 + q (q in the low byte).
// t ≥ −0 always (x ≥ mn in a group); s = 0 is passed as +Inf (t = 0, code 0, as the twins' s = 0 rule).
//
// Multiply path (qmax ≤ 15; qmax 16–255: see below): y = f32(f32(f32(x − mn) · r) + CQ) with r = f32(1/s) and
// CQ = 128.5 − 2^−16. y lies in [128, 256), on the grid 2^−16, so its mantissa is
// R − 1 with R = round((c + 0.5) · 2^16), c = f32((x − mn) · r). When R is not a multiple of 2^16 (the
// low 16 bits of y are not all ones), c + 0.5 is at least 2^−17 away from every integer, and y's bits
// 16..22 hold floor(c + 0.5); when they are all ones the lane is "flagged" and its codes are recomputed
// by the division path (scalar). Why an unflagged code equals the definition: with s normal
// (2^−126 ≤ s < 2^126) the quotient is t = (q/s)(1 + e3), c = (q/s)(1 + e1)(1 + e2), |e_i| ≤ 2^−24, and
// q/s ≤ d/s ≤ qmax/(1 − 2^−24) (q = f32(x − mn) ≤ d = f32(mx − mn), s = f32(d/qmax)), so
// |t − c| ≤ 15.0000009 · 3.0000001 · 2^−24 < 2^−18.4 < 2^−17: no half-integer lies between t and c, hence
// RNE(t) = floor(c + 0.5); and since t < qmax + 0.5, RNE(min(t, qmax)) = RNE(t) (no clamp needed). Any
// other scale: r = NaN (every lane flagged, exact path) or, for s = 0, r = 0 (c = 0, code 0).
// A NaN input makes y NaN (high half ≥ 0x7F80): `codesBad` catches it too; ±Inf inputs are caught by
// the min/max checks.
//
// Multiply path, qmax 16–255 (KIVI 8-bit, affine 5–8 bits): y = f32(c + CQ8) with CQ8 = 256.5 − 2g,
// g = 2^−15 (the grid of [256, 512), where y lies), so y − 256 = K + L·g with K = bits 15..22 of y and
// L = bits 0..14; the kernels use y2 = y << 1 (K in byte 2 as above; L·2 in the low half, the sign bit dropped). A lane is flagged when
// L ≥ 2^15 − 3 (low half of y2 > 0xFFF8). Unflagged: c + 0.5 − 2g lies within g/2 of K + L·g with
// 0 ≤ L ≤ 2^15 − 4, so c + 0.5 ∈ [K + 1.5g, K + 1 − 1.5g]: K = floor(c + 0.5) and c + 0.5 is at least
// 1.5g = 4.58e−5 from every integer. The definition's code is RNE(t_f), t_f = f32(t): |t − c| ≤
// t·(2^−23 + 2^−48) ≤ 3.04e−5 (t ≤ 255.00002, s normal as above) and |t_f − t| ≤ 2^−17 = 7.6e−6 (t < 256),
// so |t_f − c| < 3.81e−5 < 1.5g: t_f + 0.5 lies strictly between the same integers as c + 0.5, hence
// RNE(t_f) = K (and t_f < qmax + 0.5, so the clamp changes nothing). Against the division path: a
// multiply and a shift instead of a divps per 4 elements (faster in place: docs/performance.md, session 8).

/** 128.5 − 2^−16 (multiply path). */
const CQ: f32 = 128.49998474121094;

/** 256.5 − 2^−14 (8-bit multiply path). */
const CQ8: f32 = 256.49993896484375;

/** y2 of the 8-bit multiply path (see above): bits(f32(f32(f32(v − m) · r) + CQ8)) << 1. */
@inline
function yMul8(v: v128, m: v128, r: v128): v128 {
  return i32x4.shl(f32x4.add(f32x4.mul(f32x4.sub(v, m), r), f32x4.splat(CQ8)), 1);
}

/** Largest valid y2 per 32-bit lane of the 8-bit multiply path: high half 0x87FF (K ≤ 255), low half 2·(2^15 − 4). */
const LIM8: i32 = 0x87fffff8;

@inline
function yMul(v: v128, m: v128, r: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.sub(v, m), r), f32x4.splat(CQ));
}

@inline
function yDiv(v: v128, m: v128, s: v128, q: v128): v128 {
  return f32x4.add(f32x4.pmin(f32x4.div(f32x4.sub(v, m), s), q), f32x4.splat(8388608.0));
}

/**
 * `acc` is the i16x8.max_u of some y vectors; `lim` holds per 32-bit lane the largest valid high half
 * and low half (multiply path 0x4380_FFFE: low half all ones = flagged; 8-bit multiply path (y2)
 * 0x87FF_FFF8; division path 0x4B80_FFFF). True when a lane is flagged or NaN.
 */
@inline
function codesBad(acc: v128, lim: v128): bool {
  return v128.any_true(v128.xor(i16x8.max_u(acc, lim), lim));
}

/**
 * The y parameter of a group (every width multiplies; the exact reruns divide by the stored scale): 1/s,
 * 0 for s = 0, NaN for a scale that is not normal (every lane flagged), see above.
 */
@inline
function yParam1(s: f32): f32 {
  if (s == 0) return 0;
  return s >= 1.1754943508222875e-38 && s < 8.507059173023462e37 ? 1 / s : f32.NaN;
}

@inline
function yParam4(s: v128): v128 {
  const z = f32x4.eq(s, f32x4.splat(0));
  const ok = v128.and(f32x4.ge(s, f32x4.splat(1.1754943508222875e-38)), f32x4.lt(s, f32x4.splat(8.507059173023462e37)));
  return v128.andnot(v128.bitselect(f32x4.div(f32x4.splat(1), s), f32x4.splat(f32.NaN), ok), z);
}

/** One code by the definition (s ≠ 0). */
@inline
function code1(v: f32, m: f32, s: f32, qmax: f32): u32 {
  let t: f32 = (v - m) / s;
  if (t < 0) t = 0;
  else if (t > qmax) t = qmax;
  return <u32>nearest<f32>(t);
}

/** Byte `b` of each 32-bit lane of the y vectors into the low byte of 16-bit lanes 0..3 / 4..7. */
@inline
function swzLo(b: i8): v128 {
  return i8x16(b, -128, b + 4, -128, b + 8, -128, b + 12, -128, -128, -128, -128, -128, -128, -128, -128, -128);
}

@inline
function swzHi(b: i8): v128 {
  return i8x16(-128, -128, -128, -128, -128, -128, -128, -128, b, -128, b + 4, -128, b + 8, -128, b + 12, -128);
}

/** 16 codes (byte 2 of each lane of 4 y vectors) → one 2-bit word: its 4 bytes, one in the low byte of each i32 lane. */
@inline
function pack2(y0: v128, y1: v128, y2: v128, y3: v128, lo: v128, hi: v128): v128 {
  const a = i32x4.dot_i16x8_s(v128.or(i8x16.swizzle(y0, lo), i8x16.swizzle(y1, hi)), i16x8(1, 4, 1, 4, 1, 4, 1, 4));
  const b = i32x4.dot_i16x8_s(v128.or(i8x16.swizzle(y2, lo), i8x16.swizzle(y3, hi)), i16x8(1, 4, 1, 4, 1, 4, 1, 4));
  return i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(a, b), i16x8(1, 16, 1, 16, 1, 16, 1, 16));
}

@inline
function pack4(y0: v128, y1: v128, lo: v128, hi: v128): v128 {
  return i32x4.dot_i16x8_s(v128.or(i8x16.swizzle(y0, lo), i8x16.swizzle(y1, hi)), i16x8(1, 16, 1, 16, 1, 16, 1, 16));
}

/** Four vectors of i32 lanes holding one byte each → 16 bytes in order. */
@inline
function narrow4(a: v128, b: v128, c: v128, d: v128): v128 {
  return i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(a, b), i16x8.narrow_i32x4_u(c, d));
}

// ---------------------------------------------------------------------------------------------------
// KIVI values: per token, groups of G consecutive channels; codes packed along channels (kivi-u32).
// Requires G % (32/bits) == 0 and G % 4 == 0 (always true for bits 2, 4, 8 since 32/bits >= 4).
// `prm` is scratch of one f32 per group (+ 16 bytes).

export function kiviValuesQuant(
  x: usize,
  rows: i32,
  D: i32,
  bits: i32,
  G: i32,
  lim: f32,
  codes: usize,
  scales: usize,
  mins: usize,
  prm: usize,
): i32 {
  if (G == 32 && bits == 2) return valuesTiled(2, x, rows, D, lim, codes, scales, mins, prm);
  if (G == 32 && bits == 4) return valuesTiled(4, x, rows, D, lim, codes, scales, mins, prm);
  if (G == 32 && bits == 8) return valuesTiled(8, x, rows, D, lim, codes, scales, mins, prm);
  const qmaxF = <f32>((1 << bits) - 1);
  // groups are contiguous over the whole chunk (row-major rows of D = nGroups·G channels)
  const NG = <usize>rows * <usize>(D / G);
  const gB = <usize>G << 2;
  let g: usize = 0;
  // 1. min/max of 4 groups at a time (no scalar work)
  for (; g + 4 <= NG; g += 4) if (groupParams4(x, g, G, lim, qmaxF, scales, mins, prm) != 0) return -1;
  for (; g < NG; g++) {
    minMaxContig(x + g * gB, G);
    if (!(gMin > -lim && gMax < lim)) return -1;
    const s: f32 = (gMax - gMin) / qmaxF;
    store<f32>(scales + (g << 2), s);
    store<f32>(mins + (g << 2), gMin);
    store<f32>(prm + (g << 2), yParam1(s));
  }
  // 2. codes
  if (bits == 2) return valuesCodes(2, x, rows, D, G, codes, scales, mins, prm);
  if (bits == 4) return valuesCodes(4, x, rows, D, G, codes, scales, mins, prm);
  return valuesCodes(8, x, rows, D, G, codes, scales, mins, prm);
}

/**
 * Codes of the values, four words (one 16-byte store) per step; the group parameters are reloaded
 * when a word starts a new group. Flagged/NaN steps and the last (< 4) words run `valuesExact`.
 */
@inline
function valuesCodes(
  bits: i32,
  x: usize,
  rows: i32,
  D: i32,
  G: i32,
  codes: usize,
  scales: usize,
  mins: usize,
  prm: usize,
): i32 {
  const f = 32 / bits;
  const qmaxF = <f32>((1 << bits) - 1);
  const NW = (<usize>rows * <usize>D) / <usize>f;
  const NW4 = NW & ~(<usize>3);
  const wpg = G / f;
  const wB = <usize>f << 2;
  const lo = swzLo(2);
  const hi = swzHi(2);
  const badL = bits <= 4 ? i32x4.splat(0x4380fffe) : i32x4.splat(LIM8);
  let gi: usize = 0;
  let left = wpg;
  let vm = v128.load32_splat(mins);
  let vp = v128.load32_splat(prm);
  let xp = x;
  let wi: usize = 0;
  for (; wi < NW4; wi += 4) {
    let acc: v128;
    let q0: v128;
    let q1: v128;
    let q2: v128;
    let q3: v128;
    if (bits == 2) {
      let y0 = yMul(v128.load(xp), vm, vp);
      let y1 = yMul(v128.load(xp, 16), vm, vp);
      let y2 = yMul(v128.load(xp, 32), vm, vp);
      let y3 = yMul(v128.load(xp, 48), vm, vp);
      acc = i16x8.max_u(i16x8.max_u(y0, y1), i16x8.max_u(y2, y3));
      q0 = pack2(y0, y1, y2, y3, lo, hi);
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y0 = yMul(v128.load(xp), vm, vp);
      y1 = yMul(v128.load(xp, 16), vm, vp);
      y2 = yMul(v128.load(xp, 32), vm, vp);
      y3 = yMul(v128.load(xp, 48), vm, vp);
      acc = i16x8.max_u(acc, i16x8.max_u(i16x8.max_u(y0, y1), i16x8.max_u(y2, y3)));
      q1 = pack2(y0, y1, y2, y3, lo, hi);
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y0 = yMul(v128.load(xp), vm, vp);
      y1 = yMul(v128.load(xp, 16), vm, vp);
      y2 = yMul(v128.load(xp, 32), vm, vp);
      y3 = yMul(v128.load(xp, 48), vm, vp);
      acc = i16x8.max_u(acc, i16x8.max_u(i16x8.max_u(y0, y1), i16x8.max_u(y2, y3)));
      q2 = pack2(y0, y1, y2, y3, lo, hi);
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y0 = yMul(v128.load(xp), vm, vp);
      y1 = yMul(v128.load(xp, 16), vm, vp);
      y2 = yMul(v128.load(xp, 32), vm, vp);
      y3 = yMul(v128.load(xp, 48), vm, vp);
      acc = i16x8.max_u(acc, i16x8.max_u(i16x8.max_u(y0, y1), i16x8.max_u(y2, y3)));
      q3 = pack2(y0, y1, y2, y3, lo, hi);
    } else if (bits == 4) {
      let y0 = yMul(v128.load(xp), vm, vp);
      let y1 = yMul(v128.load(xp, 16), vm, vp);
      acc = i16x8.max_u(y0, y1);
      q0 = pack4(y0, y1, lo, hi);
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y0 = yMul(v128.load(xp), vm, vp);
      y1 = yMul(v128.load(xp, 16), vm, vp);
      acc = i16x8.max_u(acc, i16x8.max_u(y0, y1));
      q1 = pack4(y0, y1, lo, hi);
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y0 = yMul(v128.load(xp), vm, vp);
      y1 = yMul(v128.load(xp, 16), vm, vp);
      acc = i16x8.max_u(acc, i16x8.max_u(y0, y1));
      q2 = pack4(y0, y1, lo, hi);
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y0 = yMul(v128.load(xp), vm, vp);
      y1 = yMul(v128.load(xp, 16), vm, vp);
      acc = i16x8.max_u(acc, i16x8.max_u(y0, y1));
      q3 = pack4(y0, y1, lo, hi);
    } else {
      // 8 bits: the y2 of the 4 words, their code bytes gathered at the store (bytes2of4)
      let y = yMul8(v128.load(xp), vm, vp);
      acc = y;
      q0 = y;
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y = yMul8(v128.load(xp), vm, vp);
      acc = i16x8.max_u(acc, y);
      q1 = y;
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y = yMul8(v128.load(xp), vm, vp);
      acc = i16x8.max_u(acc, y);
      q2 = y;
      xp += wB;
      if (--left == 0) {
        gi++;
        left = wpg;
        vm = v128.load32_splat(mins + (gi << 2));
        vp = v128.load32_splat(prm + (gi << 2));
      }
      y = yMul8(v128.load(xp), vm, vp);
      acc = i16x8.max_u(acc, y);
      q3 = y;
    }
    xp += wB;
    if (--left == 0) {
      gi++;
      left = wpg;
      vm = v128.load32_splat(mins + (gi << 2));
      vp = v128.load32_splat(prm + (gi << 2));
    }
    v128.store(codes + (wi << 2), bits == 8 ? bytes2of4(q0, q1, q2, q3) : narrow4(q0, q1, q2, q3));
    if (codesBad(acc, badL) && !valuesExact(x, wi, 4, bits, G, qmaxF, codes, scales, mins)) return -1;
  }
  if (wi < NW && !valuesExact(x, wi, NW - wi, bits, G, qmaxF, codes, scales, mins)) return -1;
  return 0;
}

/**
 * Min/max, scales, mins and the y parameter (`prm`, see yParam4) of the 4 contiguous groups of G at group
 * g: vertical scans, then a 4×4 transpose-reduce; a zero min or max takes the sign of the first zero in
 * scan order, as the sequential scan does. −1 when out of range (±Inf, |x| ≥ lim, or a NaN that stuck in
 * a lane; a dropped NaN is caught by the code pass).
 */
@inline
function groupParams4(
  x: usize,
  g: usize,
  G: i32,
  lim: f32,
  qmaxF: f32,
  scales: usize,
  mins: usize,
  prm: usize,
): i32 {
  const gB = <usize>G << 2;
  const vq = f32x4.splat(qmaxF);
  const zero = f32x4.splat(0);
  const vlim = f32x4.splat(lim);
  const vnlim = f32x4.splat(-lim);
  const p0 = x + g * gB;
  // a runtime loop, not straight-line code: TurboFan would schedule all the loads first and spill
  let n0 = v128.load(p0);
  let n1 = v128.load(p0 + gB);
  let n2 = v128.load(p0 + 2 * gB);
  let n3 = v128.load(p0 + 3 * gB);
  let x0 = n0;
  let x1 = n1;
  let x2 = n2;
  let x3 = n3;
  for (let q = p0 + 16, e = p0 + gB; q < e; q += 16) {
    const v0 = v128.load(q);
    const v1 = v128.load(q + gB);
    const v2 = v128.load(q + 2 * gB);
    const v3 = v128.load(q + 3 * gB);
    n0 = f32x4.pmin(n0, v0);
    n1 = f32x4.pmin(n1, v1);
    n2 = f32x4.pmin(n2, v2);
    n3 = f32x4.pmin(n3, v3);
    x0 = f32x4.pmax(x0, v0);
    x1 = f32x4.pmax(x1, v1);
    x2 = f32x4.pmax(x2, v2);
    x3 = f32x4.pmax(x3, v3);
  }
  const a01 = f32x4.pmin(v128.shuffle<f32>(n0, n1, 0, 4, 1, 5), v128.shuffle<f32>(n0, n1, 2, 6, 3, 7));
  const a23 = f32x4.pmin(v128.shuffle<f32>(n2, n3, 0, 4, 1, 5), v128.shuffle<f32>(n2, n3, 2, 6, 3, 7));
  const mn4 = f32x4.pmin(v128.shuffle<f32>(a01, a23, 0, 1, 4, 5), v128.shuffle<f32>(a01, a23, 2, 3, 6, 7));
  const b01 = f32x4.pmax(v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), v128.shuffle<f32>(x0, x1, 2, 6, 3, 7));
  const b23 = f32x4.pmax(v128.shuffle<f32>(x2, x3, 0, 4, 1, 5), v128.shuffle<f32>(x2, x3, 2, 6, 3, 7));
  const mx4 = f32x4.pmax(v128.shuffle<f32>(b01, b23, 0, 1, 4, 5), v128.shuffle<f32>(b01, b23, 2, 3, 6, 7));
  if (v128.any_true(v128.or(v128.not(f32x4.gt(mn4, vnlim)), v128.not(f32x4.lt(mx4, vlim))))) return -1;
  const mp = mins + (g << 2);
  const sp = scales + (g << 2);
  v128.store(mp, mn4);
  v128.store(sp, mx4);
  if (v128.any_true(v128.or(f32x4.eq(mn4, zero), f32x4.eq(mx4, zero)))) {
    for (let k: usize = 0; k < 4; k++) {
      const pk = p0 + k * gB;
      const m = load<f32>(mp + (k << 2));
      if (m == 0) store<f32>(mp + (k << 2), firstZero(pk, G, m));
      const M = load<f32>(sp + (k << 2));
      if (M == 0) store<f32>(sp + (k << 2), firstZero(pk, G, M));
    }
  }
  const s4 = f32x4.div(f32x4.sub(v128.load(sp), v128.load(mp)), vq);
  v128.store(sp, s4);
  v128.store(prm + (g << 2), yParam4(s4));
  return 0;
}

/**
 * Vector constants of the tiled values path, loaded once per call (V8 rematerialises v128 constants
 * inside loops, 3–4 instructions per use).
 */
const KVC = memory.data<u32>([
  0x43007fff, 0x43007fff, 0x43007fff, 0x43007fff, // 0: CQ
  0x80068002, 0x800e800a, 0x80808080, 0x80808080, // 16: swzLo(2)
  0x80808080, 0x80808080, 0x80068002, 0x800e800a, // 32: swzHi(2)
  0x00100001, 0x00100001, 0x00100001, 0x00100001, // 48: i16x8(1, 16, …)
  0x00040001, 0x00040001, 0x00040001, 0x00040001, // 64: i16x8(1, 4, …)
  0x4380fffe, 0x4380fffe, 0x4380fffe, 0x4380fffe, // 80: badL (multiply path)
  0x43803ffe, 0x43803ffe, 0x43803ffe, 0x43803ffe, // 96: CQ8
  0x87fffff8, 0x87fffff8, 0x87fffff8, 0x87fffff8, // 112: LIM8
  0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, // 128: low nibbles
], 16);

/**
 * Codes of one group of 32 values at `p` (min `m`, 1/s `r`, splatted): 8-bit → 32 bytes at `c`, 4-bit →
 * 16 bytes, 2-bit → 8 bytes. Returns the i16x8.max_u of its y vectors (y2 for 8 bits; for `codesBad`).
 * Same y and packing as `valuesCodes`, with the constants passed in.
 */
@inline
function valGroup(bits: i32, p: usize, m: v128, r: v128, cq: v128, d16: v128, d4: v128, c: usize, exact: bool): v128 {
  // two halves of 4 vectors (fewer live registers); constant swizzle masks (a runtime mask costs V8 an
  // extra saturating add per swizzle). exact: r is the scale s (+Inf for s = 0), cq is qmax, y comes from
  // the dividing definition (its code in byte 2, as on the multiply path), and the result is a NaN mask
  let v0 = v128.load(p);
  let v1 = v128.load(p, 16);
  let v2 = v128.load(p, 32);
  let v3 = v128.load(p, 48);
  let y0 = yVal(bits, v0, m, r, cq, exact);
  let y1 = yVal(bits, v1, m, r, cq, exact);
  let y2 = yVal(bits, v2, m, r, cq, exact);
  let y3 = yVal(bits, v3, m, r, cq, exact);
  const accA = exact ? nanMask4(v0, v1, v2, v3) : i16x8.max_u(i16x8.max_u(y0, y1), i16x8.max_u(y2, y3));
  // 8 bits: byte 2 of each lane of y_k → bytes 4k … 4k + 3, one 16-byte store per half; 2 / 4 bits: the
  // first half's words wait for the second's
  let a0 = i32x4.splat(0);
  let a1 = a0;
  if (bits == 8) v128.store(c, bytes2of4(y0, y1, y2, y3));
  else {
    const z0 = v128.or(i8x16.swizzle(y0, swzLo(2)), i8x16.swizzle(y1, swzHi(2)));
    const z1 = v128.or(i8x16.swizzle(y2, swzLo(2)), i8x16.swizzle(y3, swzHi(2)));
    a0 = bits == 4 ? i32x4.dot_i16x8_s(z0, d16) : i32x4.dot_i16x8_s(z0, d4);
    a1 = bits == 4 ? i32x4.dot_i16x8_s(z1, d16) : i32x4.dot_i16x8_s(z1, d4);
  }
  v0 = v128.load(p, 64);
  v1 = v128.load(p, 80);
  v2 = v128.load(p, 96);
  v3 = v128.load(p, 112);
  y0 = yVal(bits, v0, m, r, cq, exact);
  y1 = yVal(bits, v1, m, r, cq, exact);
  y2 = yVal(bits, v2, m, r, cq, exact);
  y3 = yVal(bits, v3, m, r, cq, exact);
  const accB = exact ? nanMask4(v0, v1, v2, v3) : i16x8.max_u(i16x8.max_u(y0, y1), i16x8.max_u(y2, y3));
  if (bits == 8) v128.store(c, bytes2of4(y0, y1, y2, y3), 16);
  else {
    const z0 = v128.or(i8x16.swizzle(y0, swzLo(2)), i8x16.swizzle(y1, swzHi(2)));
    const z1 = v128.or(i8x16.swizzle(y2, swzLo(2)), i8x16.swizzle(y3, swzHi(2)));
    if (bits == 4) {
      v128.store(c, narrow4(a0, a1, i32x4.dot_i16x8_s(z0, d16), i32x4.dot_i16x8_s(z1, d16)));
    } else {
      const w0 = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(a0, a1), d16);
      const w1 = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(i32x4.dot_i16x8_s(z0, d4), i32x4.dot_i16x8_s(z1, d4)), d16);
      v128.store64_lane(c, narrow4(w0, w1, w0, w1), 0);
    }
  }
  return exact ? v128.or(accA, accB) : i16x8.max_u(accA, accB);
}

/** y of 4 values (y2 for 8 bits): the multiply path, or (exact) the dividing definition's code moved to byte 2. */
@inline
function yVal(bits: i32, v: v128, m: v128, r: v128, cq: v128, exact: bool): v128 {
  if (exact) return i32x4.shl(yDiv(v, m, r, cq), 16);
  const y = f32x4.add(f32x4.mul(f32x4.sub(v, m), r), cq);
  return bits == 8 ? i32x4.shl(y, 1) : y;
}

/** Byte 2 of each 32-bit lane of a, b, c, d → 16 bytes (a's four first). */
@inline
function bytes2of4(a: v128, b: v128, c: v128, d: v128): v128 {
  const lo = v128.or(
    i8x16.swizzle(a, i8x16(2, 6, 10, 14, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128)),
    i8x16.swizzle(b, i8x16(-128, -128, -128, -128, 2, 6, 10, 14, -128, -128, -128, -128, -128, -128, -128, -128)),
  );
  const hi = v128.or(
    i8x16.swizzle(c, i8x16(-128, -128, -128, -128, -128, -128, -128, -128, 2, 6, 10, 14, -128, -128, -128, -128)),
    i8x16.swizzle(d, i8x16(-128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, 2, 6, 10, 14)),
  );
  return v128.or(lo, hi);
}

/** Lanes of 4 vectors that hold NaN (all ones), or'ed together. */
@inline
function nanMask4(a: v128, b: v128, c: v128, d: v128): v128 {
  return v128.or(v128.or(f32x4.ne(a, a), f32x4.ne(b, b)), v128.or(f32x4.ne(c, c), f32x4.ne(d, d)));
}

/**
 * G = 32, bits 2, 4 or 8: tiles of 4 groups (512 bytes). The min/max and parameters of a tile (the same
 * 4×4 transpose-reduce as the two-pass path, `groupParams4`) run one tile ahead of its codes, so the
 * divisions' latency overlaps code work and the codes re-read the tile from L1; no per-word group
 * bookkeeping. The last NG % 4 groups run the scalar min/max and `valuesExact`.
 */
@inline
function valuesTiled(
  bits: i32,
  x: usize,
  rows: i32,
  D: i32,
  lim: f32,
  codes: usize,
  scales: usize,
  mins: usize,
  prm: usize,
): i32 {
  const qmaxF = <f32>((1 << bits) - 1);
  const NG = (<usize>rows * <usize>D) >> 5;
  const NG4 = NG & ~(<usize>3);
  const cq = bits == 8 ? v128.load(KVC, 96) : v128.load(KVC);
  const d16 = v128.load(KVC, 48);
  const d4 = v128.load(KVC, 64);
  const badL = bits == 8 ? v128.load(KVC, 112) : v128.load(KVC, 80);
  const cB: usize = <usize>(bits << 2); // code bytes per group of 32
  if (NG4 > 0 && groupParams4(x, 0, 32, lim, qmaxF, scales, mins, prm) != 0) return -1;
  for (let g: usize = 0; g < NG4; g += 4) {
    if (g + 4 < NG4 && groupParams4(x, g + 4, 32, lim, qmaxF, scales, mins, prm) != 0) return -1;
    const p0 = x + (g << 7);
    const mp = mins + (g << 2);
    const pp = prm + (g << 2);
    const c0 = codes + g * cB;
    let acc = i32x4.splat(0);
    for (let k: usize = 0; k < 4; k++) {
      acc = i16x8.max_u(
        acc,
        valGroup(bits, p0 + (k << 7), v128.load32_splat(mp + (k << 2)), v128.load32_splat(pp + (k << 2)), cq, d16, d4, c0 + k * cB, false),
      );
    }
    if (codesBad(acc, badL)) {
      // a lane near a half-integer (or NaN): the tile again by the definition, four lanes at a time
      const vq = f32x4.splat(qmaxF);
      const inf = f32x4.splat(f32.POSITIVE_INFINITY);
      let nan = i32x4.splat(0);
      for (let k: usize = 0; k < 4; k++) {
        const s = v128.load32_splat(scales + ((g + k) << 2));
        const sv = v128.bitselect(inf, s, f32x4.eq(s, f32x4.splat(0)));
        nan = v128.or(nan, valGroup(bits, p0 + (k << 7), v128.load32_splat(mp + (k << 2)), sv, vq, d16, d4, c0 + k * cB, true));
      }
      if (v128.any_true(nan)) return -1;
    }
  }
  if (NG4 < NG) {
    for (let g = NG4; g < NG; g++) {
      minMaxContig(x + (g << 7), 32);
      if (!(gMin > -lim && gMax < lim)) return -1;
      store<f32>(scales + (g << 2), (gMax - gMin) / qmaxF);
      store<f32>(mins + (g << 2), gMin);
    }
    const wpg: usize = cB >> 2;
    if (!valuesExact(x, NG4 * wpg, (NG - NG4) * wpg, bits, 32, qmaxF, codes, scales, mins)) return -1;
  }
  return 0;
}

/** Words [w0, w0 + nw) of the values by the definition; false on a non-finite element. */
function valuesExact(
  x: usize,
  w0: usize,
  nw: usize,
  bits: i32,
  G: i32,
  qmaxF: f32,
  codes: usize,
  scales: usize,
  mins: usize,
): bool {
  const f = <usize>(32 / bits);
  for (let w = w0; w < w0 + nw; w++) {
    let word: u32 = 0;
    for (let j: usize = 0; j < f; j++) {
      const e = w * f + j;
      const v = load<f32>(x + (e << 2));
      if (v - v != 0) return false;
      const g = e / <usize>G;
      const s = load<f32>(scales + (g << 2));
      if (s != 0) word |= code1(v, load<f32>(mins + (g << 2)), s, qmaxF) << (<u32>bits * <u32>j);
    }
    store<u32>(codes + (w << 2), word);
  }
  return true;
}

/** Scalar x̂ of one word (f codes) at `o`. */
@inline
function deqWord(word: u32, bits: i32, s: f32, m: f32, o: usize): void {
  const f = 32 / bits;
  const mask = (1 << bits) - 1;
  for (let j = 0; j < f; j++) {
    store<f32>(o + (<usize>j << 2), <f32>((word >>> (<u32>bits * <u32>j)) & mask) * s + m);
  }
}

/**
 * Values dequantization. Each output vector takes the byte(s) holding its 4 codes into the i32 lanes
 * (swizzle), masks lane l's bit field in place (code · 2^(bits·l')) and multiplies by s · 2^(−bits·l'):
 * the exact real product q·s, so the same float32 as f32(q·s) — valid when s · 2^−6 is exact (s = 0,
 * |s| ≥ 2^−120, or not finite); other words run the scalar loop.
 */
export function kiviValuesDequant(
  codes: usize,
  rows: i32,
  D: i32,
  bits: i32,
  G: i32,
  scales: usize,
  mins: usize,
  out: usize,
): void {
  if (bits == 2) valuesDeq(2, codes, rows, D, G, scales, mins, out);
  else if (bits == 4) valuesDeq(4, codes, rows, D, G, scales, mins, out);
  else valuesDeq(8, codes, rows, D, G, scales, mins, out);
}

@inline
function deqScaleOk(s: f32): bool {
  return s == 0 || !(abs<f32>(s) < 7.52316384526264e-37);
}

/**
 * Output vectors of word k (0..3); `e` holds the word's 4 code bytes zero-extended to i32 lanes. The
 * lane pattern is a pshufd with an immediate (no per-vector constant).
 */
@inline
function deqW(bits: i32, e: v128, am: v128, vs: v128, vm: v128, o: usize): void {
  if (bits == 2) {
    v128.store(o, deq1(v128.shuffle<u32>(e, e, 0, 0, 0, 0), am, vs, vm));
    v128.store(o, deq1(v128.shuffle<u32>(e, e, 1, 1, 1, 1), am, vs, vm), 16);
    v128.store(o, deq1(v128.shuffle<u32>(e, e, 2, 2, 2, 2), am, vs, vm), 32);
    v128.store(o, deq1(v128.shuffle<u32>(e, e, 3, 3, 3, 3), am, vs, vm), 48);
  } else if (bits == 4) {
    v128.store(o, deq1(v128.shuffle<u32>(e, e, 0, 0, 1, 1), am, vs, vm));
    v128.store(o, deq1(v128.shuffle<u32>(e, e, 2, 2, 3, 3), am, vs, vm), 16);
  } else {
    v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(e), vs), vm));
  }
}

@inline
function deq1(c: v128, am: v128, vs: v128, vm: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(v128.and(c, am)), vs), vm);
}

/** Widen 16 code bytes (elements in order) to 16 floats q·s + m at o. */
@inline
function deq16(c: v128, vs: v128, vm: v128, o: usize): void {
  const lo = i16x8.extend_low_i8x16_u(c);
  const hi = i16x8.extend_high_i8x16_u(c);
  v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo)), vs), vm));
  v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo)), vs), vm), 16);
  v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi)), vs), vm), 32);
  v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi)), vs), vm), 48);
}

/**
 * 8-bit values with G a multiple of 16, 4-bit with G a multiple of 32: each 16 code bytes belong to one
 * group, so they widen to floats under one scale and min — no per-word group bookkeeping and no scale
 * condition (f32(f32(q·s) + m) directly). 8 bits: the bytes are the elements in order; 4 bits: element 2i
 * is the low nibble of byte i and 2i + 1 the high one, split and interleaved back into element order.
 * 67 MB, one thread, old vs new in one process: 8-bit 4.65–4.70 → 3.72–3.73 ms in place, 8.93–8.98 →
 * 6.88–7.03 ms from / into plain arrays; 4-bit 4.26–4.56 → 3.70–3.94 and 6.90–7.78 → 6.30–6.85 ms.
 */
@inline
function valuesDeqGroups(bits: i32, codes: usize, n: usize, G: i32, scales: usize, mins: usize, out: usize): void {
  const NG = n / <usize>G;
  const gB = <usize>((G * bits) >> 3); // code bytes per group
  const nib = v128.load(KVC, 128);
  let cp = codes;
  let o = out;
  for (let g: usize = 0; g < NG; g++) {
    const vs = v128.load32_splat(scales + (g << 2));
    const vm = v128.load32_splat(mins + (g << 2));
    for (const e = cp + gB; cp < e; cp += 16) {
      const c = v128.load(cp);
      if (bits == 8) {
        deq16(c, vs, vm, o);
        o += 64;
      } else {
        const lo = v128.and(c, nib);
        const hi = v128.and(i16x8.shr_u(c, 4), nib);
        deq16(i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), vs, vm, o);
        deq16(i8x16.shuffle(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), vs, vm, o + 64);
        o += 128;
      }
    }
  }
}

@inline
function valuesDeq(bits: i32, codes: usize, rows: i32, D: i32, G: i32, scales: usize, mins: usize, out: usize): void {
  if ((bits == 8 && G % 16 == 0) || (bits == 4 && G % 32 == 0)) {
    valuesDeqGroups(bits, codes, <usize>rows * <usize>D, G, scales, mins, out);
    return;
  }
  const f = 32 / bits;
  const NW = (<usize>rows * <usize>D) / <usize>f;
  const NW4 = NW & ~(<usize>3);
  const wpg = G / f;
  const oB = <usize>f << 2;
  const ls =
    bits == 2 ? f32x4(1, 0.25, 0.0625, 0.015625) : bits == 4 ? f32x4(1, 0.0625, 1, 0.0625) : f32x4.splat(1);
  const am = bits == 2 ? i32x4(3, 12, 48, 192) : bits == 4 ? i32x4(15, 240, 15, 240) : i32x4.splat(255);
  let gi: usize = 0;
  let left = wpg;
  let s = load<f32>(scales);
  let m = load<f32>(mins);
  let ok = deqScaleOk(s);
  let vs = f32x4.mul(f32x4.splat(s), ls);
  let vm = f32x4.splat(m);
  let o = out;
  let wi: usize = 0;
  for (; wi < NW4; wi += 4) {
    const c = v128.load(codes + (wi << 2));
    const c01 = i16x8.extend_low_i8x16_u(c);
    const c23 = i16x8.extend_high_i8x16_u(c);
    if (ok) deqW(bits, i32x4.extend_low_i16x8_u(c01), am, vs, vm, o);
    else deqWord(load<u32>(codes + (wi << 2)), bits, s, m, o);
    o += oB;
    if (--left == 0) {
      gi++;
      left = wpg;
      s = load<f32>(scales + (gi << 2));
      m = load<f32>(mins + (gi << 2));
      ok = deqScaleOk(s);
      vs = f32x4.mul(f32x4.splat(s), ls);
      vm = f32x4.splat(m);
    }
    if (ok) deqW(bits, i32x4.extend_high_i16x8_u(c01), am, vs, vm, o);
    else deqWord(load<u32>(codes + ((wi + 1) << 2)), bits, s, m, o);
    o += oB;
    if (--left == 0) {
      gi++;
      left = wpg;
      s = load<f32>(scales + (gi << 2));
      m = load<f32>(mins + (gi << 2));
      ok = deqScaleOk(s);
      vs = f32x4.mul(f32x4.splat(s), ls);
      vm = f32x4.splat(m);
    }
    if (ok) deqW(bits, i32x4.extend_low_i16x8_u(c23), am, vs, vm, o);
    else deqWord(load<u32>(codes + ((wi + 2) << 2)), bits, s, m, o);
    o += oB;
    if (--left == 0) {
      gi++;
      left = wpg;
      s = load<f32>(scales + (gi << 2));
      m = load<f32>(mins + (gi << 2));
      ok = deqScaleOk(s);
      vs = f32x4.mul(f32x4.splat(s), ls);
      vm = f32x4.splat(m);
    }
    if (ok) deqW(bits, i32x4.extend_high_i16x8_u(c23), am, vs, vm, o);
    else deqWord(load<u32>(codes + ((wi + 3) << 2)), bits, s, m, o);
    o += oB;
    if (--left == 0) {
      gi++;
      left = wpg;
      s = load<f32>(scales + (gi << 2));
      m = load<f32>(mins + (gi << 2));
      ok = deqScaleOk(s);
      vs = f32x4.mul(f32x4.splat(s), ls);
      vm = f32x4.splat(m);
    }
  }
  for (; wi < NW; wi++) {
    deqWord(load<u32>(codes + (wi << 2)), bits, s, m, o);
    o += oB;
    if (--left == 0) {
      gi++;
      left = wpg;
      s = load<f32>(scales + (gi << 2));
      m = load<f32>(mins + (gi << 2));
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// KIVI keys: per stream [T, D], per channel over groups of G consecutive tokens; word (w, d) holds
// tokens w·f … w·f+f−1 of channel d. Requires G % (32/bits) == 0. Vectorised across channels, so each
// lane scans its channel in token order (same min/max as the JS scan, no zero fix-up needed). `prm` is
// scratch laid out like `scales`.

/** Scales, mins and y parameters of 4 channels from their min `a` and max `b`; the out-of-range mask. */
@inline
function keysParams(a: v128, b: v128, o: usize, mins: usize, scales: usize, prm: usize, vq: v128, vlim: v128): v128 {
  v128.store(mins + o, a);
  const s = f32x4.div(f32x4.sub(b, a), vq);
  v128.store(scales + o, s);
  v128.store(prm + o, yParam4(s));
  return v128.or(v128.not(f32x4.gt(a, f32x4.neg(vlim))), v128.not(f32x4.lt(b, vlim)));
}

export function kiviKeysQuant(
  x: usize,
  nTok: i32,
  D: i32,
  bits: i32,
  G: i32,
  lim: f32,
  codes: usize,
  scales: usize,
  mins: usize,
  prm: usize,
): i32 {
  const qmaxF = <f32>((1 << bits) - 1);
  const vq = f32x4.splat(qmaxF);
  const vlim = f32x4.splat(lim);
  const nGroups = nTok / G;
  const D4 = D & ~3;
  const D16 = D & ~15;
  const rowB = <usize>D << 2;
  const wpg = G / (32 / bits); // code rows per group
  // one group at a time (G·D floats, 16 KB at G = 32, D = 128: still in L1 for the codes pass)
  for (let g = 0; g < nGroups; g++) {
    let bad = i32x4.splat(0);
    // 1. min/max per channel, 16 channels (4 independent lane chains) per pass over the group's tokens
    const base = x + <usize>g * <usize>G * rowB;
    const mrow = <usize>g * rowB;
    let d = 0;
    for (; d < D16; d += 16) {
      const p = base + (<usize>d << 2);
      let a0 = v128.load(p);
      let a1 = v128.load(p, 16);
      let a2 = v128.load(p, 32);
      let a3 = v128.load(p, 48);
      let b0 = a0;
      let b1 = a1;
      let b2 = a2;
      let b3 = a3;
      for (let q = p + rowB, e = p + <usize>G * rowB; q < e; q += rowB) {
        const v0 = v128.load(q);
        const v1 = v128.load(q, 16);
        const v2 = v128.load(q, 32);
        const v3 = v128.load(q, 48);
        a0 = f32x4.pmin(a0, v0);
        b0 = f32x4.pmax(b0, v0);
        a1 = f32x4.pmin(a1, v1);
        b1 = f32x4.pmax(b1, v1);
        a2 = f32x4.pmin(a2, v2);
        b2 = f32x4.pmax(b2, v2);
        a3 = f32x4.pmin(a3, v3);
        b3 = f32x4.pmax(b3, v3);
      }
      const o = mrow + (<usize>d << 2);
      bad = v128.or(bad, keysParams(a0, b0, o, mins, scales, prm, vq, vlim));
      bad = v128.or(bad, keysParams(a1, b1, o + 16, mins, scales, prm, vq, vlim));
      bad = v128.or(bad, keysParams(a2, b2, o + 32, mins, scales, prm, vq, vlim));
      bad = v128.or(bad, keysParams(a3, b3, o + 48, mins, scales, prm, vq, vlim));
    }
    for (; d < D4; d += 4) {
      const p = base + (<usize>d << 2);
      let a = v128.load(p);
      let b = a;
      for (let q = p + rowB, e = p + <usize>G * rowB; q < e; q += rowB) {
        const v = v128.load(q);
        a = f32x4.pmin(a, v);
        b = f32x4.pmax(b, v);
      }
      bad = v128.or(bad, keysParams(a, b, mrow + (<usize>d << 2), mins, scales, prm, vq, vlim));
    }
    for (; d < D; d++) {
      const p = base + (<usize>d << 2);
      let mn = load<f32>(p);
      let mx = mn;
      for (let t = 0; t < G; t++) {
        const v = load<f32>(p + <usize>t * rowB);
        if (!(abs<f32>(v) < lim)) return -1;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      const s: f32 = (mx - mn) / qmaxF;
      store<f32>(mins + mrow + (<usize>d << 2), mn);
      store<f32>(scales + mrow + (<usize>d << 2), s);
      store<f32>(prm + mrow + (<usize>d << 2), yParam1(s));
    }
    if (v128.any_true(bad)) return -1;
    // 2. the group's codes
    const w0 = g * wpg;
    let st = 0;
    if (bits == 2) st = keysCodes(2, x, w0, w0 + wpg, D, G, codes, scales, mins, prm);
    else if (bits == 4) st = keysCodes(4, x, w0, w0 + wpg, D, G, codes, scales, mins, prm);
    else st = keysCodes(8, x, w0, w0 + wpg, D, G, codes, scales, mins, prm);
    if (st != 0) return st;
  }
  return 0;
}

/** y of 4 keys (y2 for 8 bits) on the multiply path. */
@inline
function yKey(bits: i32, v: v128, m: v128, r: v128): v128 {
  return bits == 8 ? yMul8(v, m, r) : yMul(v, m, r);
}

/**
 * Codes of the keys (rows wBegin … wEnd − 1), one row of D words (f tokens) at a time, 4 channels per
 * vector. The word is Σ_j code_j · 2^(bits·j): its low half holds slots 0 … f/2 − 1, its high half the
 * rest. The high 16 bits of y are 0x4300 + code (2/4 bits; y2 of 8 bits: 0x8700 + code), so Horner's rule
 * on 16-bit lanes (shift by bits, add y) builds each half in the odd lanes — the even lanes (fractions)
 * only collect garbage that never crosses into them — one chain per half. Each half then carries a
 * constant K16 (mod 2^16), subtracted after the halves are blended into words. Flagged/NaN vectors rerun
 * the definition.
 */
@inline
function keysCodes(
  bits: i32,
  x: usize,
  wBegin: i32,
  wEnd: i32,
  D: i32,
  G: i32,
  codes: usize,
  scales: usize,
  mins: usize,
  prm: usize,
): i32 {
  const f = 32 / bits;
  const qmaxF = <f32>((1 << bits) - 1);
  const vq = f32x4.splat(qmaxF);
  const D4 = D & ~3;
  const rowB = <usize>D << 2;
  const badL = bits <= 4 ? i32x4.splat(0x4380fffe) : i32x4.splat(LIM8);
  // the constant part of a half word: Σ_{j < f/2} c · 2^(bits·j) mod 2^16, c the code half of y (2/4
  // bits: 0x4300 + code) or of y2 (8 bits: 0x8700 + code) without the code
  const c = bits <= 4 ? 0x4300 : 0x8700;
  let K16: i32 = 0;
  for (let j = 0; j < f >> 1; j++) K16 += c << (bits * j);
  const vK16 = i16x8.splat(<i16>K16);
  for (let w = wBegin; w < wEnd; w++) {
    const t0 = w * f;
    const mrow = <usize>(t0 / G) * rowB;
    const xb = x + <usize>t0 * rowB;
    const crow = codes + <usize>w * rowB;
    let mp = mins + mrow;
    let pp = prm + mrow;
    let xp = xb;
    let cp = crow;
    let d = 0;
    for (; d < D4; d += 4) {
      // loop-carried pointers: Binaryen otherwise rebuilds (t0 / G) · rowB here, an idiv per step
      const vm = v128.load(mp);
      const vp = v128.load(pp);
      const p = xp;
      // two Horner chains on 16-bit lanes, slots f/2 − 1 … 0 (hl) and f − 1 … f/2 (hh): h = (h << bits) + y;
      // the odd 16-bit lanes (code halves) build the two halves of the 4 words, the even ones are discarded
      const half = f >> 1;
      let y = yKey(bits, v128.load(p + <usize>(half - 1) * rowB), vm, vp);
      let z = yKey(bits, v128.load(p + <usize>(f - 1) * rowB), vm, vp);
      let acc = i16x8.max_u(y, z);
      let hl = y;
      let hh = z;
      if (half > 7) {
        y = yKey(bits, v128.load(p + 6 * rowB), vm, vp);
        z = yKey(bits, v128.load(p + <usize>(6 + half) * rowB), vm, vp);
        acc = i16x8.max_u(acc, i16x8.max_u(y, z));
        hl = i16x8.add(i16x8.shl(hl, bits), y);
        hh = i16x8.add(i16x8.shl(hh, bits), z);
      }
      if (half > 6) {
        y = yKey(bits, v128.load(p + 5 * rowB), vm, vp);
        z = yKey(bits, v128.load(p + <usize>(5 + half) * rowB), vm, vp);
        acc = i16x8.max_u(acc, i16x8.max_u(y, z));
        hl = i16x8.add(i16x8.shl(hl, bits), y);
        hh = i16x8.add(i16x8.shl(hh, bits), z);
      }
      if (half > 5) {
        y = yKey(bits, v128.load(p + 4 * rowB), vm, vp);
        z = yKey(bits, v128.load(p + <usize>(4 + half) * rowB), vm, vp);
        acc = i16x8.max_u(acc, i16x8.max_u(y, z));
        hl = i16x8.add(i16x8.shl(hl, bits), y);
        hh = i16x8.add(i16x8.shl(hh, bits), z);
      }
      if (half > 4) {
        y = yKey(bits, v128.load(p + 3 * rowB), vm, vp);
        z = yKey(bits, v128.load(p + <usize>(3 + half) * rowB), vm, vp);
        acc = i16x8.max_u(acc, i16x8.max_u(y, z));
        hl = i16x8.add(i16x8.shl(hl, bits), y);
        hh = i16x8.add(i16x8.shl(hh, bits), z);
      }
      if (half > 3) {
        y = yKey(bits, v128.load(p + 2 * rowB), vm, vp);
        z = yKey(bits, v128.load(p + <usize>(2 + half) * rowB), vm, vp);
        acc = i16x8.max_u(acc, i16x8.max_u(y, z));
        hl = i16x8.add(i16x8.shl(hl, bits), y);
        hh = i16x8.add(i16x8.shl(hh, bits), z);
      }
      if (half > 2) {
        y = yKey(bits, v128.load(p + rowB), vm, vp);
        z = yKey(bits, v128.load(p + <usize>(1 + half) * rowB), vm, vp);
        acc = i16x8.max_u(acc, i16x8.max_u(y, z));
        hl = i16x8.add(i16x8.shl(hl, bits), y);
        hh = i16x8.add(i16x8.shl(hh, bits), z);
      }
      y = yKey(bits, v128.load(p), vm, vp);
      z = yKey(bits, v128.load(p + <usize>half * rowB), vm, vp);
      acc = i16x8.max_u(acc, i16x8.max_u(y, z));
      hl = i16x8.add(i16x8.shl(hl, bits), y);
      hh = i16x8.add(i16x8.shl(hh, bits), z);
      // words: hl's code halves moved down, hh's in place (a 16-bit blend), less the constant in each half
      const wd = i16x8.sub(
        i8x16.shuffle(i32x4.shr_u(hl, 16), hh, 0, 1, 18, 19, 4, 5, 22, 23, 8, 9, 26, 27, 12, 13, 30, 31),
        vK16,
      );
      v128.store(cp, wd);
      if (codesBad(acc, badL)) {
        // a lane near a half-integer (or NaN): the 4 words again by the definition, 4 lanes at a time
        const s0 = v128.load(scales + (mp - mins));
        const sv = v128.bitselect(f32x4.splat(f32.POSITIVE_INFINITY), s0, f32x4.eq(s0, f32x4.splat(0)));
        if (keysWordExact(bits, p, rowB, vm, sv, vq, cp)) return -1;
      }
      mp += 16;
      pp += 16;
      xp += 16;
      cp += 16;
    }
    if (d < D && !keysExact(x, w, d, D - d, D, bits, G, qmaxF, codes, scales, mins)) return -1;
  }
  return 0;
}

/**
 * Words of 4 channels (f tokens from `p`, rows `rowB` apart) by the dividing definition, stored at `cp`;
 * true when an element is NaN. `sv`: the scales, +Inf where s = 0 (code 0).
 */
@inline
function keysWordExact(bits: i32, p: usize, rowB: usize, vm: v128, sv: v128, vq: v128, cp: usize): bool {
  const f = 32 / bits;
  let wd = i32x4.splat(0);
  let nan = i32x4.splat(0);
  for (let j = f - 1; j >= 0; j--) {
    const v = v128.load(p + <usize>j * rowB);
    nan = v128.or(nan, f32x4.ne(v, v));
    wd = i32x4.add(i32x4.shl(wd, bits), v128.and(yDiv(v, vm, sv, vq), i32x4.splat(0xff)));
  }
  v128.store(cp, wd);
  return v128.any_true(nan);
}

/** Words (w, d … d+nd−1) of the keys by the definition; false on a non-finite element. */
function keysExact(
  x: usize,
  w: i32,
  d: i32,
  nd: i32,
  D: i32,
  bits: i32,
  G: i32,
  qmaxF: f32,
  codes: usize,
  scales: usize,
  mins: usize,
): bool {
  const f = 32 / bits;
  const rowB = <usize>D << 2;
  const t0 = w * f;
  const mrow = <usize>(t0 / G) * rowB;
  for (let k = d; k < d + nd; k++) {
    const db = <usize>k << 2;
    const s = load<f32>(scales + mrow + db);
    const m = load<f32>(mins + mrow + db);
    let word: u32 = 0;
    for (let j = 0; j < f; j++) {
      const v = load<f32>(x + <usize>(t0 + j) * rowB + db);
      if (v - v != 0) return false;
      if (s != 0) word |= code1(v, m, s, qmaxF) << (<u32>bits * <u32>j);
    }
    store<u32>(codes + <usize>w * rowB + db, word);
  }
  return true;
}

export function kiviKeysDequant(
  codes: usize,
  nTok: i32,
  D: i32,
  bits: i32,
  G: i32,
  scales: usize,
  mins: usize,
  out: usize,
  cached: i32,
): void {
  if (bits == 2) keysDeq(2, codes, nTok, D, G, scales, mins, out, cached != 0);
  else if (bits == 4) keysDeq(4, codes, nTok, D, G, scales, mins, out, cached != 0);
  else keysDeq(8, codes, nTok, D, G, scales, mins, out, cached != 0);
}

/** x̂ of the key codes at bit `sh` of the 4 words `c` with scales `s` and minima `m`. */
@inline
function kdqV(c: v128, s: v128, m: v128, sh: i32, mask: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(v128.and(i32x4.shr_u(c, sh), mask)), s), m);
}

/** {@link kdqV} of the vectors at addresses `c`, `s`, `m`. */
@inline
function kdqAt(c: usize, s: usize, m: usize, sh: i32, mask: v128): v128 {
  return kdqV(v128.load(c), v128.load(s), v128.load(m), sh, mask);
}

/**
 * Keys dequantization, two orders with the same results. Into memory (`cached` false): for each of a
 * codes row's f tokens, its output row is written front to back from the (L1-resident) codes row, a
 * cache line per iteration — one sequential write stream. Into a cache-resident tile (`cached`, the
 * plain-array path): each code vector's f tokens at once (f rows 4·D bytes apart), fewer loads per
 * output. 67 MB, one thread, 2 / 4 / 8 bits: into memory 3.03 / 3.08 / 3.65 ms by rows against 4.72 /
 * 4.72 / 5.11 by code vectors (2 or 4 rows per pass, or a cache line of each of the f rows per pass:
 * slower still); into a 256 KB tile 2.13 / 2.32 / 2.95 by code vectors against 2.83 / 2.98 / 3.48.
 */
@inline
function keysDeq(
  bits: i32,
  codes: usize,
  nTok: i32,
  D: i32,
  G: i32,
  scales: usize,
  mins: usize,
  out: usize,
  cached: bool,
): void {
  const f = 32 / bits;
  const maskI = (1 << bits) - 1;
  const rows = nTok / f;
  const D4 = D & ~3;
  const rowB = <usize>D << 2;
  const de = <usize>D4 << 2;
  const vmask = i32x4.splat(maskI);
  for (let w = 0; w < rows; w++) {
    const t0 = w * f;
    const crow = codes + <usize>w * rowB;
    const mrow = <usize>(t0 / G) * rowB;
    const srow = scales + mrow;
    const nrow = mins + mrow;
    const o0 = out + <usize>t0 * rowB;
    if (cached) {
      for (let db: usize = 0; db < de; db += 16) {
        const c = v128.load(crow + db);
        const vs = v128.load(srow + db);
        const vm = v128.load(nrow + db);
        const o = o0 + db;
        v128.store(o, kdqV(c, vs, vm, 0, vmask));
        v128.store(o + rowB, kdqV(c, vs, vm, bits, vmask));
        v128.store(o + 2 * rowB, kdqV(c, vs, vm, 2 * bits, vmask));
        v128.store(o + 3 * rowB, kdqV(c, vs, vm, 3 * bits, vmask));
        if (bits <= 4) {
          v128.store(o + 4 * rowB, kdqV(c, vs, vm, 4 * bits, vmask));
          v128.store(o + 5 * rowB, kdqV(c, vs, vm, 5 * bits, vmask));
          v128.store(o + 6 * rowB, kdqV(c, vs, vm, 6 * bits, vmask));
          v128.store(o + 7 * rowB, kdqV(c, vs, vm, 7 * bits, vmask));
        }
        if (bits == 2) {
          v128.store(o + 8 * rowB, kdqV(c, vs, vm, 8 * bits, vmask));
          v128.store(o + 9 * rowB, kdqV(c, vs, vm, 9 * bits, vmask));
          v128.store(o + 10 * rowB, kdqV(c, vs, vm, 10 * bits, vmask));
          v128.store(o + 11 * rowB, kdqV(c, vs, vm, 11 * bits, vmask));
          v128.store(o + 12 * rowB, kdqV(c, vs, vm, 12 * bits, vmask));
          v128.store(o + 13 * rowB, kdqV(c, vs, vm, 13 * bits, vmask));
          v128.store(o + 14 * rowB, kdqV(c, vs, vm, 14 * bits, vmask));
          v128.store(o + 15 * rowB, kdqV(c, vs, vm, 15 * bits, vmask));
        }
      }
    } else {
      for (let j = 0; j < f; j++) {
        const orow = o0 + <usize>j * rowB;
        const sh = bits * j;
        let db: usize = 0;
        for (; db + 64 <= de; db += 64) {
          v128.store(orow + db, kdqAt(crow + db, srow + db, nrow + db, sh, vmask));
          v128.store(orow + db, kdqAt(crow + db + 16, srow + db + 16, nrow + db + 16, sh, vmask), 16);
          v128.store(orow + db, kdqAt(crow + db + 32, srow + db + 32, nrow + db + 32, sh, vmask), 32);
          v128.store(orow + db, kdqAt(crow + db + 48, srow + db + 48, nrow + db + 48, sh, vmask), 48);
        }
        for (; db < de; db += 16) v128.store(orow + db, kdqAt(crow + db, srow + db, nrow + db, sh, vmask));
      }
    }
    for (let d = D4; d < D; d++) {
      const db = <usize>d << 2;
      const word = load<u32>(crow + db);
      const s = load<f32>(srow + db);
      const m = load<f32>(nrow + db);
      for (let j = 0; j < f; j++) {
        store<f32>(o0 + <usize>j * rowB + db, <f32>((word >>> (<u32>bits * <u32>j)) & maskI) * s + m);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Common affine quantizer, float zero point (the default), contiguous groups (axis = last or none),
// codes one byte each (bits 1..8). `lines` lines of `len` elements, groups of `gs` (the last one of a
// line ragged). Status −1: non-finite input; −2: a group whose range overflows float32.

/** Bytes [0, n) of the affine codes at `xp` → `cp` by the definition; false on a non-finite element. */
function affineExact(xp: usize, cp: usize, n: i32, m: f32, s: f32, qmaxF: f32): bool {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(xp + (<usize>i << 2));
    if (v - v != 0) return false;
    store<u8>(cp + <usize>i, s == 0 ? 0 : <u8>code1(v, m, s, qmaxF));
  }
  return true;
}

export function affineFloatQuant(
  x: usize,
  lines: i32,
  len: i32,
  gs: i32,
  qmaxI: i32,
  codes: usize,
  scales: usize,
  zeros: usize,
  prm: usize,
): i32 {
  const ng = <usize>((len + gs - 1) / gs); // groups per line
  const sl = max(1, AFF_STRIP / len); // lines per strip
  for (let l0 = 0; l0 < lines; l0 += sl) {
    const nl = min(sl, lines - l0);
    const e0 = <usize>l0 * <usize>len;
    const g0 = <usize>l0 * ng;
    const xs = x + (e0 << 2);
    const r =
      qmaxI <= 15
        ? affineCodes(false, xs, nl, len, gs, qmaxI, codes + e0, scales + (g0 << 2), zeros + (g0 << 2), prm)
        : affineCodes(true, xs, nl, len, gs, qmaxI, codes + e0, scales + (g0 << 2), zeros + (g0 << 2), prm);
    if (r != 0) return r;
  }
  return 0;
}

/**
 * Elements per strip of the affine quantizer (whole lines; a longer line is one strip): its three passes
 * run over a strip (8 KB of input, in L1) before the next, so that reading from memory goes on between
 * the arithmetic. In place in the module's memory (67 MB, lines of 128, groups of 128, 4-bit, one thread,
 * two runs): 5.70 / 5.66 → 5.27 / 5.15 ms (1024: 5.22 / 5.12, 4096: 5.98 / 5.96); on cached data 4.57 /
 * 4.55 → 4.64 / 4.59 ms.
 */
const AFF_STRIP = 2048;

/**
 * Three passes: min/max of every group (independent groups, so their scalar tails overlap), then
 * scales and y parameters 4 groups at a time, then the codes, 16 per step, on the multiply path (`wide`:
 * qmax 16 … 255, the 8-bit variant yMul8); a group with a flagged or NaN lane reruns the definition.
 * `prm`: scratch of one f32 per group (+ 16 bytes).
 */
@inline
function affineCodes(
  wide: bool,
  x: usize,
  lines: i32,
  len: i32,
  gs: i32,
  qmaxI: i32,
  codes: usize,
  scales: usize,
  zeros: usize,
  prm: usize,
): i32 {
  const qmaxF = <f32>qmaxI;
  const vq = f32x4.splat(qmaxF);
  const inf = f32.POSITIVE_INFINITY;
  const badL = wide ? i32x4.splat(LIM8) : i32x4.splat(0x4380fffe);
  // 1. min (into zeros) and max (into scales, for now) of every group
  let p: usize = 0;
  for (let l = 0; l < lines; l++) {
    for (let l0 = 0; l0 < len; l0 += gs, p++) {
      const e0 = <usize>l * <usize>len + <usize>l0;
      minMaxContig(x + (e0 << 2), min(gs, len - l0));
      store<f32>(zeros + (p << 2), gMin);
      store<f32>(scales + (p << 2), gMax);
    }
  }
  // 2. scales and y parameters
  const NG = p;
  let g: usize = 0;
  for (; g + 4 <= NG; g += 4) {
    const d = f32x4.sub(v128.load(scales + (g << 2)), v128.load(zeros + (g << 2)));
    if (v128.any_true(f32x4.eq(d, f32x4.splat(inf)))) return -2;
    const s = f32x4.div(d, vq);
    v128.store(scales + (g << 2), s);
    v128.store(prm + (g << 2), yParam4(s));
  }
  for (; g < NG; g++) {
    const d: f32 = load<f32>(scales + (g << 2)) - load<f32>(zeros + (g << 2));
    if (d == inf) return -2;
    const s: f32 = d / qmaxF;
    store<f32>(scales + (g << 2), s);
    store<f32>(prm + (g << 2), yParam1(s));
  }
  // 3. codes
  p = 0;
  for (let l = 0; l < lines; l++) {
    for (let l0 = 0; l0 < len; l0 += gs, p++) {
      const n = min(gs, len - l0);
      const e0 = <usize>l * <usize>len + <usize>l0;
      const xg = x + (e0 << 2);
      const cg = codes + e0;
      const vm = v128.load32_splat(zeros + (p << 2));
      const vp = v128.load32_splat(prm + (p << 2));
      let acc = i32x4.splat(0);
      let i = 0;
      for (; i + 16 <= n; i += 16) {
        const xb = xg + (<usize>i << 2);
        let y0: v128;
        let y1: v128;
        let y2: v128;
        let y3: v128;
        if (wide) {
          y0 = yMul8(v128.load(xb), vm, vp);
          y1 = yMul8(v128.load(xb, 16), vm, vp);
          y2 = yMul8(v128.load(xb, 32), vm, vp);
          y3 = yMul8(v128.load(xb, 48), vm, vp);
        } else {
          y0 = yMul(v128.load(xb), vm, vp);
          y1 = yMul(v128.load(xb, 16), vm, vp);
          y2 = yMul(v128.load(xb, 32), vm, vp);
          y3 = yMul(v128.load(xb, 48), vm, vp);
        }
        // the code bytes (byte 2 of every lane of y / y2) by two unzips: high 16-bit halves, then low bytes
        const h01 = v128.shuffle<u16>(y0, y1, 1, 3, 5, 7, 9, 11, 13, 15);
        const h23 = v128.shuffle<u16>(y2, y3, 1, 3, 5, 7, 9, 11, 13, 15);
        v128.store(cg + <usize>i, v128.shuffle<u8>(h01, h23, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
        acc = i16x8.max_u(acc, i16x8.max_u(i16x8.max_u(y0, y1), i16x8.max_u(y2, y3)));
      }
      const mn = load<f32>(zeros + (p << 2));
      const s = load<f32>(scales + (p << 2));
      if (codesBad(acc, badL)) {
        // a lane near a half-integer (or NaN): the group again by the definition, 16 lanes at a time
        const sv = s == 0 ? f32x4.splat(f32.POSITIVE_INFINITY) : f32x4.splat(s);
        let nan = i32x4.splat(0);
        for (i = 0; i + 16 <= n; i += 16) {
          const xb = xg + (<usize>i << 2);
          const v0 = v128.load(xb);
          const v1 = v128.load(xb, 16);
          const v2 = v128.load(xb, 32);
          const v3 = v128.load(xb, 48);
          nan = v128.or(nan, nanMask4(v0, v1, v2, v3));
          const h01 = v128.shuffle<u16>(yDiv(v0, vm, sv, vq), yDiv(v1, vm, sv, vq), 0, 2, 4, 6, 8, 10, 12, 14);
          const h23 = v128.shuffle<u16>(yDiv(v2, vm, sv, vq), yDiv(v3, vm, sv, vq), 0, 2, 4, 6, 8, 10, 12, 14);
          v128.store(cg + <usize>i, v128.shuffle<u8>(h01, h23, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
        }
        if (v128.any_true(nan)) return -1;
      }
      if (i < n && !affineExact(xg + (<usize>i << 2), cg + <usize>i, n - i, mn, s, qmaxF)) return -1;
    }
  }
  return 0;
}

/** x̂ = f32(f32(q·s) + min) for contiguous groups (same geometry as affineFloatQuant). */
export function affineFloatDequant(
  codes: usize,
  lines: i32,
  len: i32,
  gs: i32,
  scales: usize,
  zeros: usize,
  out: usize,
): void {
  const s0 = i8x16(0, -128, -128, -128, 1, -128, -128, -128, 2, -128, -128, -128, 3, -128, -128, -128);
  const s1 = i8x16(4, -128, -128, -128, 5, -128, -128, -128, 6, -128, -128, -128, 7, -128, -128, -128);
  const s2 = i8x16(8, -128, -128, -128, 9, -128, -128, -128, 10, -128, -128, -128, 11, -128, -128, -128);
  const s3 = i8x16(12, -128, -128, -128, 13, -128, -128, -128, 14, -128, -128, -128, 15, -128, -128, -128);
  let p: usize = 0;
  for (let l = 0; l < lines; l++) {
    for (let l0 = 0; l0 < len; l0 += gs, p++) {
      const n = min(gs, len - l0);
      const e0 = <usize>l * <usize>len + <usize>l0;
      const s = load<f32>(scales + (p << 2));
      const m = load<f32>(zeros + (p << 2));
      const vs = f32x4.splat(s);
      const vm = f32x4.splat(m);
      const cg = codes + e0;
      const og = out + (e0 << 2);
      let i = 0;
      for (; i + 16 <= n; i += 16) {
        const c = v128.load(cg + <usize>i);
        const o = og + (<usize>i << 2);
        v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i8x16.swizzle(c, s0)), vs), vm));
        v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i8x16.swizzle(c, s1)), vs), vm), 16);
        v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i8x16.swizzle(c, s2)), vs), vm), 32);
        v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i8x16.swizzle(c, s3)), vs), vm), 48);
      }
      for (; i + 4 <= n; i += 4) {
        const q = i8x16.swizzle(v128.load32_zero(cg + <usize>i), s0);
        v128.store(og + (<usize>i << 2), f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(q), vs), vm));
      }
      for (; i < n; i++) store<f32>(og + (<usize>i << 2), <f32>load<u8>(cg + <usize>i) * s + m);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Fast Walsh–Hadamard transform, n = 2^k ≥ 4 (the had_m factor m = 1), `rows` contiguous rows in place.
// Each butterfly stage rounds a + b and a − b to float32, in the same dataflow as the radix-2 JS
// reference; with `normalize`, every output is f32(f64(y) · scale) with the double `scale` = 1/√n, as in
// the JS (`Math.fround(v * scale)`). Stages h = 1 and 2 run in registers, h ≥ 4 across vectors.

export function fwhtPow2(x: usize, rows: i32, n: i32, normalize: i32, scale: f64): void {
  const s1 = f32x4(1, -1, 1, -1);
  const s2 = f32x4(1, 1, -1, -1);
  const vsc = f64x2.splat(scale);
  const rowB = <usize>n << 2;
  for (let r = 0; r < rows; r++) {
    const base = x + <usize>r * rowB;
    const end = base + rowB;
    // h = 1 and h = 2 inside each vector of 4
    for (let p = base; p < end; p += 16) {
      let v = v128.load(p);
      // h = 1: [x0+x1, x0−x1, x2+x3, x2−x3]
      let a = v128.shuffle<f32>(v, v, 0, 0, 2, 2);
      let b = v128.shuffle<f32>(v, v, 1, 1, 3, 3);
      v = f32x4.add(a, f32x4.mul(b, s1));
      // h = 2: [y0+y2, y1+y3, y0−y2, y1−y3]
      a = v128.shuffle<f32>(v, v, 0, 1, 0, 1);
      b = v128.shuffle<f32>(v, v, 2, 3, 2, 3);
      v128.store(p, f32x4.add(a, f32x4.mul(b, s2)));
    }
    for (let h = 4; h < n; h <<= 1) {
      const hB = <usize>h << 2;
      for (let i = base; i < end; i += hB << 1) {
        for (let j = i, e = i + hB; j < e; j += 16) {
          const a = v128.load(j);
          const b = v128.load(j + hB);
          v128.store(j, f32x4.add(a, b));
          v128.store(j + hB, f32x4.sub(a, b));
        }
      }
    }
    if (normalize) {
      for (let p = base; p < end; p += 16) {
        const v = v128.load(p);
        const lo = f64x2.mul(f64x2.promote_low_f32x4(v), vsc);
        const hi = f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)), vsc);
        const dl = f32x4.demote_f64x2_zero(lo);
        const dh = f32x4.demote_f64x2_zero(hi);
        v128.store(p, v128.shuffle<f32>(dl, dh, 0, 1, 4, 5));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// MX / BFP blocks (src/bfp/quantize.ts), contiguous blocks along the last axis, round half to even.
// `rows` rows of `len` elements, blocks of `bs` (the last one of a row ragged). Element kinds: 0 = FP
// (sign | exponent | mantissa, subnormals), 1 = BFP (sign-magnitude integer / 2^mbits). Codes of `w` = 4
// (two per byte, low nibble first; the chunk starts on an even element) or 8 bits.
//
// Whole blocks of 16·k elements (every row a whole number of blocks; blocks of 32 specialised) take the
// fast paths further below (mxEncodeFast / mxDecodeFast); other geometries (ragged last blocks, block
// sizes not a multiple of 16) the general per-block code that follows.
//
// Exactness (general path): every element is |x| = sig · 2^ee with an integer sig < 2^24 (exact as f32), and the
// scaled magnitude m = sig · 2^p is formed with one f32 multiply by a power of two p ≥ −126: it is a
// normal float (exact) — or, where the true p is below −126, m < 2^−102 both ways, which rounds to 0.
// `nearest` is round-half-even, so r equals the JS `m + 1.5·2^52 − 1.5·2^52` on the exact double m.

/** Scale byte of one block from the integer max of its magnitude bits (rule 'floor'). */
@inline
function mxScaleByte(m: u32, emax: i32): i32 {
  if (m >= 0x7f800000) return 0xff;
  if (m == 0) return 0;
  const be = <i32>(m >>> 23);
  let se = (be != 0 ? be - 127 : 31 - <i32>clz<u32>(m) - 149) - emax;
  if (se < -127) se = -127;
  else if (se > 127) se = 127;
  return se + 127;
}

/** Integer max of |bits| over x[0..n). */
@inline
function mxAmax(p: usize, n: i32): u32 {
  const mask = i32x4.splat(0x7fffffff);
  let vm = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) vm = i32x4.max_u(vm, v128.and(v128.load(p + (<usize>i << 2)), mask));
  let m = max<u32>(
    max<u32>(<u32>i32x4.extract_lane(vm, 0), <u32>i32x4.extract_lane(vm, 1)),
    max<u32>(<u32>i32x4.extract_lane(vm, 2), <u32>i32x4.extract_lane(vm, 3)),
  );
  for (; i < n; i++) m = max<u32>(m, load<u32>(p + (<usize>i << 2)) & 0x7fffffff);
  return m;
}

/** Codes of 4 elements (bits `ub`) of a block (constants gEminX, gPk, gBase of its scale), as i32 lanes. */
@inline
function mxCode4(
  ub: v128,
  kind: i32,
  mbits: i32,
  vMax: v128,
  vSign: v128,
  gEminX: v128,
  gPk: v128,
  gBase: v128,
): v128 {
  const ab = v128.and(ub, i32x4.splat(0x7fffffff));
  const bf = i32x4.shr_u(ab, 23);
  const ee = i32x4.sub(i32x4.max_u(bf, i32x4.splat(1)), i32x4.splat(150));
  const sig = v128.or(v128.and(ab, i32x4.splat(0x7fffff)), i32x4.shl(i32x4.min_u(bf, i32x4.splat(1)), 23));
  const sigf = f32x4.convert_i32x4_u(sig);
  let code: v128;
  if (kind == 0) {
    const ex = i32x4.add(i32x4.sub(i32x4.shr_u(sigf, 23), i32x4.splat(127)), ee);
    const exc = i32x4.max_s(ex, gEminX);
    const pb = i32x4.max_s(i32x4.sub(i32x4.add(ee, gPk), exc), i32x4.splat(1));
    const ri = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(sigf, i32x4.shl(pb, 23))));
    code = i32x4.add(i32x4.add(i32x4.shl(exc, mbits), gBase), ri);
  } else {
    const pb = i32x4.max_s(i32x4.add(ee, gPk), i32x4.splat(1));
    code = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(sigf, i32x4.shl(pb, 23))));
  }
  code = i32x4.min_s(code, vMax);
  const neg = v128.and(i32x4.shr_s(ub, 31), v128.not(i32x4.eq(code, i32x4.splat(0))));
  return v128.or(code, v128.and(neg, vSign));
}

/** Codes of the n elements of one block at xb into bytes at cb (16 at a time, running past n). */
@inline
function mxEncBlock(
  xb: usize,
  cb: usize,
  n: i32,
  kind: i32,
  mbits: i32,
  vMax: v128,
  vSign: v128,
  gEminX: v128,
  gPk: v128,
  gBase: v128,
): void {
  for (let i = 0; i < n; i += 16) {
    const a = xb + (<usize>i << 2);
    const c0 = mxCode4(v128.load(a), kind, mbits, vMax, vSign, gEminX, gPk, gBase);
    const c1 = mxCode4(v128.load(a + 16), kind, mbits, vMax, vSign, gEminX, gPk, gBase);
    const c2 = mxCode4(v128.load(a + 32), kind, mbits, vMax, vSign, gEminX, gPk, gBase);
    const c3 = mxCode4(v128.load(a + 48), kind, mbits, vMax, vSign, gEminX, gPk, gBase);
    v128.store(cb + <usize>i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(c0, c1), i16x8.narrow_i32x4_u(c2, c3)));
  }
}

// --- fast encode: blocks of 16·k elements, every row a whole number of blocks ------------------------
//
// The chunk is then a flat run of blocks, encoded strip by strip (STRIP blocks), two passes per strip:
// 1. per 4 blocks: the integer max of |bits| of each block, the four shared exponents in SIMD lanes,
//    the scale bytes and each block's constants (Th, K below) into `tmp`. Blocks holding NaN/±Inf get
//    0xFF, and blocks whose constants would leave the normal float32 range (se + emin < −126, or
//    M ≥ 2^128 below) need their elements scaled by 2^±64 (exact for every element that can round to a
//    nonzero code; the others stay below half the smallest code either way): both are flagged and
//    recoded after the last strip by mxRareBlocks (zero codes, or codes of a scaled copy in scratch) —
//    the input is never written.
// 2. codes, 16 elements at a time, in the integer domain:
//    - BFP: code = bits(|x| + C) − bits(C) with C = 2^(se − mbits + 23) (= K): one float add rounds
//      |x| / 2^(se − mbits) to an integer, half to even (|x| < 2^(se+1) ≤ C/2^(22 − mbits), so the
//      sum stays in C's binade, whose ulp is the element unit);
//    - FP: the same add with a per-lane magic M = 2^(max(E_x, se + emin) + 23 − mbits) (its ulp is the
//      element ulp at x's binade, or the subnormal ulp below the normal range)
//      plus an integer offset c = (max(E_x, se + emin) − (se + emin)) · 2^mbits in M's mantissa: the
//      low bits of bits(|x| + M) are then c + round(|x| / ulp) = the magnitude code, the rounding carry
//      into the next binade included. bits(M + c) = e·(2^23 + 2^mbits) + K, e = max(E_x, Th) biased (Th = the
//      biased exponent of 2^(se + emin)); the add is done on the signed x with x's sign in M (see mxMag4).
//    Codes never exceed 128 before the clamp (|x| < 2^(se + emax + 1)), so the low byte holds them; the
//    clamp to the max normal code, the sign (never on a zero magnitude) and the FP4 nibble packing are
//    byte operations on 16 codes at once.
//
// Vector constants are loaded from this table once per call (V8 rematerialises v128 constants inside
// loops, 3–4 instructions per use).

const MXC = memory.data<u32>([
  0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, // 0: |bits| mask
  0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000, // 16: exponent field
  0x000000ff, 0x000000ff, 0x000000ff, 0x000000ff, // 32: low byte
  0x7f7f7f7f, 0x7f7f7f7f, 0x7f7f7f7f, 0x7f7f7f7f, // 48: 0x7f bytes
  0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff, // 64: low byte of i16 lanes
  0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, // 80: low nibbles
  0x7fc00000, 0x7fc00000, 0x7fc00000, 0x7fc00000, // 96: NaN
  0x87ffffff, 0x87ffffff, 0x87ffffff, 0x87ffffff, // 112: E4M3 fields under float32 (shr_s 4)
  0x8fffffff, 0x8fffffff, 0x8fffffff, 0x8fffffff, // 128: E5M2 (shr_s 3)
  0x807fffff, 0x807fffff, 0x807fffff, 0x807fffff, // 144: BFP magnitude as a float32 subnormal (shr_s 8)
  0x7c7c7c7c, 0x7c7c7c7c, 0x7c7c7c7c, 0x7c7c7c7c, // 160: E5M2 Inf/NaN field
], 16);

/**
 * Scratch slots for `pin` and the block maxima: 256 bytes, per instance — instances that share one
 * memory (the Node pool's threads) each point theirs into their own scratch (`setPinScratch`).
 */
let MXPIN: usize = memory.data(256, 16);

/** Move this instance's `pin` scratch to `p` (256 bytes, 16-aligned). */
export function setPinScratch(p: usize): void {
  MXPIN = p;
}

/**
 * v through memory: a value V8 can neither rematerialise nor sink into a loop (a splat of a runtime
 * value computed once per call stays one register or one spill slot).
 */
@inline
function pin(v: v128, slot: i32): v128 {
  v128.store(MXPIN + (<usize>slot << 4), v);
  return v128.load(MXPIN + (<usize>slot << 4));
}

/** Magnitude codes of 4 elements (float bits ub) in the low byte of each lane (upper bytes garbage). */
@inline
function mxMag4(ub: v128, kind: i32, sh: i32, Th: v128, K: v128, ABS: v128, EXP: v128, FF: v128): v128 {
  if (kind == 0) {
    // e = 256·sign + max(E_x, eth) (a byte max on the low byte of ub >> 23); e · (2^23 + 2^mbits) + K
    // is bits(M + c) with x's sign in bit 31 (and, for a set sign, one more bit 2^(8 + mbits) in M's
    // mantissa, above the code byte): x + that = −(|x| + M + …) for negative x, same low byte
    const e = i8x16.max_u(i32x4.shr_u(ub, 23), Th);
    return v128.and(f32x4.add(ub, i32x4.add(i32x4.mul(e, EXP), K)), FF);
  }
  return v128.and(f32x4.add(v128.and(ub, ABS), K), FF);
}

/** Code bytes (sign-magnitude, sign bit at `sb`, never −0, clamped to vMax) of the 16 elements at p. */
@inline
function mxCodes16(
  p: usize,
  kind: i32,
  sh: i32,
  sb: i32,
  Th: v128,
  K: v128,
  vMax: v128,
  ABS: v128,
  EXP: v128,
  FF: v128,
  B7F: v128,
): v128 {
  const u0 = v128.load(p);
  const u1 = v128.load(p + 16);
  const u2 = v128.load(p + 32);
  const u3 = v128.load(p + 48);
  // signed saturating narrows of the raw bits: 0x80 exactly for a set sign bit, else 0x00..0x7f
  const s = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(u0, u1), i16x8.narrow_i32x4_s(u2, u3));
  const c = i8x16.min_u(
    i8x16.narrow_i16x8_u(
      i16x8.narrow_i32x4_u(mxMag4(u0, kind, sh, Th, K, ABS, EXP, FF), mxMag4(u1, kind, sh, Th, K, ABS, EXP, FF)),
      i16x8.narrow_i32x4_u(mxMag4(u2, kind, sh, Th, K, ABS, EXP, FF), mxMag4(u3, kind, sh, Th, K, ABS, EXP, FF)),
    ),
    vMax,
  );
  // 1 where the sign is set and the magnitude code nonzero, moved to the code's sign bit (an i16 shift
  // by sb ≤ 7 of 0/1 bytes does not cross bytes)
  const neg = i8x16.min_u(i8x16.sub_sat_u(s, B7F), c);
  return v128.or(c, i16x8.shl(neg, sb));
}

/** Lane-wise unsigned max of |bits| over the n floats at p (n = 32: one tree, no loop). */
@inline
function amaxV(p: usize, n: i32, ABS: v128): v128 {
  if (n == 32) {
    const a0 = i32x4.max_u(v128.and(v128.load(p), ABS), v128.and(v128.load(p, 16), ABS));
    const a1 = i32x4.max_u(v128.and(v128.load(p, 32), ABS), v128.and(v128.load(p, 48), ABS));
    const a2 = i32x4.max_u(v128.and(v128.load(p, 64), ABS), v128.and(v128.load(p, 80), ABS));
    const a3 = i32x4.max_u(v128.and(v128.load(p, 96), ABS), v128.and(v128.load(p, 112), ABS));
    return i32x4.max_u(i32x4.max_u(a0, a1), i32x4.max_u(a2, a3));
  }
  let a = v128.and(v128.load(p), ABS);
  for (let i: usize = 16; i < (<usize>n << 2); i += 16) a = i32x4.max_u(a, v128.and(v128.load(p + i), ABS));
  return a;
}

/** Per-block constants (Th, K) of shared exponent se (FP: Th = the biased exponent of 2^(se + emin); BFP: Th unused). */
@inline
function mxConsts(se: i32, kind: i32, mbits: i32, emin: i32, tb: usize): void {
  if (kind == 0) {
    const eth = 127 + se + emin; // biased float32 exponent of the smallest normal element
    store<i32>(tb, eth);
    store<i32>(tb, ((23 - mbits) << 23) - (eth << mbits), 4);
  } else store<i32>(tb, (150 + se - mbits) << 23, 4);
}

/**
 * Blocks per strip of the fast encoder: both passes run over a strip (2 KB of input for blocks of 32, in
 * L1) before the next, so that reading the input from memory goes on between the arithmetic instead of
 * in a separate first pass over the whole chunk. In place in the module's memory (67 MB, 64 K-element
 * calls, one thread), against one first pass per chunk: FP4 7.36 / 7.12 → 5.43 / 5.38 ms, E4M3 6.60 /
 * 6.45 → 4.80 / 4.77, BFP12 5.75 / 5.60 → 4.58 / 4.50; on data already in cache unchanged (4.89–4.97 ms
 * FP4); strips of 4 blocks slower on cached data (FP4 6.15 ms), 8–64 between.
 */
const STRIP = 16;

/** Set by mxScales4 when a block holds NaN/Inf or needs the 2^±64 pre-scale (a wasm global: per instance). */
let mxRare = false;

/**
 * Pass 1 of mxEncFast for the nv ≤ 4 blocks from block b: scale bytes and the (Th, K) constants into
 * tmp; for NaN/Inf blocks (codes 0) and extreme blocks (pre-scaled by 2^±64) the constants are set for
 * `mxRareBlocks`, which recodes them after pass 2 (the input is never written: it may be the caller's
 * array, read in place).
 */
@inline
function mxScales4(
  x: usize,
  b: i32,
  nv: i32,
  n: i32,
  kind: i32,
  mbits: i32,
  emin: i32,
  seLo: i32,
  seHi: i32,
  scales: usize,
  tmp: usize,
  ABS: v128,
  FF: v128,
): void {
  const nB = <usize>n << 2; // bytes of input per block
  const p = x + <usize>b * nB;
  const z = i32x4.splat(0);
  // each block's maximum goes through memory: the store orders the next block's loads after this
  // block's arithmetic (TurboFan otherwise hoists all 32 loads of a straight-line group and spills)
  v128.store(MXPIN, amaxV(p, n, ABS), 160);
  v128.store(MXPIN, nv > 1 ? amaxV(p + nB, n, ABS) : z, 176);
  v128.store(MXPIN, nv > 2 ? amaxV(p + 2 * nB, n, ABS) : z, 192);
  v128.store(MXPIN, nv > 3 ? amaxV(p + 3 * nB, n, ABS) : z, 208);
  const a0 = v128.load(MXPIN, 160);
  const a1 = v128.load(MXPIN, 176);
  const a2 = v128.load(MXPIN, 192);
  const a3 = v128.load(MXPIN, 208);
  // 4×4 transpose-reduce: lane j = max of block b + j
  const t01 = i32x4.max_u(v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), v128.shuffle<i32>(a0, a1, 2, 6, 3, 7));
  const t23 = i32x4.max_u(v128.shuffle<i32>(a2, a3, 0, 4, 1, 5), v128.shuffle<i32>(a2, a3, 2, 6, 3, 7));
  const m = i32x4.max_u(v128.shuffle<i32>(t01, t23, 0, 1, 4, 5), v128.shuffle<i32>(t01, t23, 2, 3, 6, 7));
  // biased exponent field of the max minus 127 + emax, at least −127 (a float32-subnormal max, field 0,
  // gives −127 − emax ≤ −127: clamped like every max below 2^(−127 + emax))
  const se = i32x4.max_s(i32x4.sub(i32x4.shr_u(m, 23), v128.load(MXPIN, 32)), v128.load(MXPIN, 48));
  const nan = i32x4.gt_s(m, v128.load(MXPIN, 64));
  const byte = i32x4.max_s(i32x4.add(se, v128.load(MXPIN, 112)), v128.and(nan, FF));
  const by = i16x8.narrow_i32x4_u(byte, byte);
  v128.store32_lane(scales + <usize>b, i8x16.narrow_i16x8_u(by, by), 0);
  const tb = tmp + (<usize>b << 3);
  if (kind == 0) {
    const eth = i32x4.add(se, v128.load(MXPIN, 128)); // Th: biased exponent of 2^(se + emin)
    const K = i32x4.sub(v128.load(MXPIN, 144), i32x4.shl(eth, mbits));
    v128.store(tb, v128.shuffle<i32>(eth, K, 0, 4, 1, 5));
    v128.store(tb + 16, v128.shuffle<i32>(eth, K, 2, 6, 3, 7));
  } else {
    const K = i32x4.shl(i32x4.add(se, v128.load(MXPIN, 128)), 23);
    v128.store(tb, v128.shuffle<i32>(K, K, 0, 0, 1, 1));
    v128.store(tb + 16, v128.shuffle<i32>(K, K, 2, 2, 3, 3));
  }
  if (v128.any_true(v128.or(nan, v128.or(i32x4.lt_s(se, v128.load(MXPIN, 80)), i32x4.gt_s(se, v128.load(MXPIN, 96)))))) {
    // rare: NaN/Inf blocks (codes 0) and blocks needing the 2^±64 pre-scale, recoded by mxRareBlocks
    mxRare = true;
    for (let j = 0; j < nv; j++) {
      const tj = tb + (<usize>j << 3);
      if (load<u8>(scales + <usize>(b + j)) == 0xff) {
        mxConsts(0, kind, mbits, emin, tj);
        continue;
      }
      let sj = <i32>load<u8>(scales + <usize>(b + j)) - 127;
      if (sj >= seLo && sj <= seHi) continue;
      sj += sj < seLo ? 64 : -64;
      mxConsts(sj, kind, mbits, emin, tj);
    }
  }
}

/**
 * After pass 2 of mxEncFast: the codes of NaN/Inf blocks zeroed, those of extreme blocks recomputed from
 * a copy pre-scaled by 2^±64 in `blk` (n floats of scratch), with the constants mxScales4 left in tmp.
 */
@inline
function mxRareBlocks(
  x: usize,
  nb: i32,
  n: i32,
  kind: i32,
  sh: i32,
  sb: i32,
  w: i32,
  seLo: i32,
  seHi: i32,
  scales: usize,
  codes: usize,
  tmp: usize,
  blk: usize,
  vMax: v128,
  ABS: v128,
  EXP: v128,
  FF: v128,
  B7F: v128,
  NIB: v128,
): void {
  const nB = <usize>n << 2;
  const cB = <usize>((n * w) >> 3); // code bytes per block
  for (let b = 0; b < nb; b++) {
    const byte = <i32>load<u8>(scales + <usize>b);
    const cb = codes + <usize>b * cB;
    if (byte == 0xff) {
      memory.fill(cb, 0, cB);
      continue;
    }
    const sj = byte - 127;
    if (sj >= seLo && sj <= seHi) continue;
    const p = x + <usize>b * nB;
    const f = f32x4.splat(sj < seLo ? <f32>18446744073709551616.0 : <f32>5.421010862427522e-20);
    for (let i: usize = 0; i < nB; i += 16) v128.store(blk + i, f32x4.mul(v128.load(p + i), f));
    mxBlockCodes(blk, cb, n, w, tmp + (<usize>b << 3), kind, sh, sb, vMax, ABS, EXP, FF, B7F, NIB);
  }
}

/** Codes of one block of n = 16·k elements at p into cb (4-bit packed or 8-bit), constants (Th, K) at tb. */
@inline
function mxBlockCodes(
  p: usize,
  cb: usize,
  n: i32,
  w: i32,
  tb: usize,
  kind: i32,
  sh: i32,
  sb: i32,
  vMax: v128,
  ABS: v128,
  EXP: v128,
  FF: v128,
  B7F: v128,
  NIB: v128,
): void {
  const Th = v128.load32_splat(tb);
  const K = v128.load32_splat(tb, 4);
  if (n == 32) {
    // straight-line, each half stored before the next is loaded (TurboFan would hoist all eight loads and
    // spill; the loop below is 15–30 % slower for blocks of 32)
    mxStore16(mxCodes16(p, kind, sh, sb, Th, K, vMax, ABS, EXP, FF, B7F), cb, 0, w, NIB);
    mxStore16(mxCodes16(p + 64, kind, sh, sb, Th, K, vMax, ABS, EXP, FF, B7F), cb, 16, w, NIB);
    return;
  }
  for (let i = 0; i < n; i += 16)
    mxStore16(mxCodes16(p + (<usize>i << 2), kind, sh, sb, Th, K, vMax, ABS, EXP, FF, B7F), cb, i, w, NIB);
}

/** Store the code bytes c of elements i … i + 15 of a block at cb: 8-bit, or 4-bit packed (low nibble first). */
@inline
function mxStore16(c: v128, cb: usize, i: i32, w: i32, NIB: v128): void {
  if (w == 8) v128.store(cb + <usize>i, c);
  else {
    // code pairs (lo, hi) of 4 bits: the high byte of (lo + 256·hi)·0x0110 is lo + 16·hi
    const q = i16x8.shr_u(i16x8.mul(c, NIB), 8);
    v128.store64_lane(cb + <usize>(i >> 1), i8x16.narrow_i16x8_u(q, q), 0);
  }
}

/**
 * Encode `nb` whole blocks of n = 16·k elements: scale bytes and codes (4-bit packed two per byte, or
 * 8-bit); `tmp` holds 8 bytes per block (+ 32), then (16-aligned) n floats of scratch for mxRareBlocks.
 * Literal format constants at every call site.
 */
@inline
function mxEncFast(
  x: usize,
  nb: i32,
  n: i32,
  kind: i32,
  mbits: i32,
  w: i32,
  bias: i32,
  emax: i32,
  maxCode: i32,
  scales: usize,
  codes: usize,
  tmp: usize,
): void {
  const emin = 1 - bias;
  const sh = 23 - mbits;
  const sb = w - 1; // sign bit of a code
  // shared exponents outside [seLo, seHi] first scale the block by 2^±64 (see above)
  const seLo = kind == 0 ? -126 - emin : -1000;
  const seHi = kind == 0 ? 104 - emax + mbits : 104 + mbits;
  const ABS = v128.load(MXC);
  const FF = v128.load(MXC, 32);
  const B7F = v128.load(MXC, 48);
  const vMax = pin(i8x16.splat(<i8>maxCode), 0);
  const NIB = pin(i16x8.splat(0x0110), 14); // 4-bit code pair packing multiplier
  const EXP = pin(i32x4.splat((1 << 23) + (1 << mbits)), 1); // FP: multiplier of e in mxMag4
  const nB = <usize>n << 2; // bytes of input per block
  const cB = <usize>((n * w) >> 3); // code bytes per block
  // pass 1, four blocks at a time: whole groups with straight-line code, then the last (partial) group,
  // whose missing blocks read as zero blocks; the constants are loads from MXPIN (memory operands)
  v128.store(MXPIN, i32x4.splat(127 + emax), 32);
  v128.store(MXPIN, i32x4.splat(-127), 48);
  v128.store(MXPIN, i32x4.splat(0x7f7fffff), 64);
  v128.store(MXPIN, i32x4.splat(seLo), 80);
  v128.store(MXPIN, i32x4.splat(seHi), 96);
  v128.store(MXPIN, i32x4.splat(127), 112);
  v128.store(MXPIN, i32x4.splat(kind == 0 ? 127 + emin : 150 - mbits), 128);
  v128.store(MXPIN, i32x4.splat((23 - mbits) << 23), 144);
  mxRare = false;
  // strips of STRIP blocks: pass 1 (scales and constants, four blocks at a time) then pass 2 (codes) of the
  // strip, which is still in L1 — the stream of loads from memory continues between the compute
  for (let s0 = 0; s0 < nb; s0 += STRIP) {
    const s1 = min(nb, s0 + STRIP);
    const e4 = s0 + ((s1 - s0) & ~3);
    for (let b = s0; b < e4; b += 4) mxScales4(x, b, 4, n, kind, mbits, emin, seLo, seHi, scales, tmp, ABS, FF);
    if (e4 < s1) mxScales4(x, e4, s1 - e4, n, kind, mbits, emin, seLo, seHi, scales, tmp, ABS, FF);
    for (let b = s0; b < s1; b++)
      mxBlockCodes(x + <usize>b * nB, codes + <usize>b * cB, n, w, tmp + (<usize>b << 3), kind, sh, sb, vMax, ABS, EXP, FF, B7F, NIB);
  }
  if (mxRare) {
    const blk = (tmp + (<usize>nb << 3) + 32 + 15) & ~(<usize>15);
    mxRareBlocks(x, nb, n, kind, sh, sb, w, seLo, seHi, scales, codes, tmp, blk, vMax, ABS, EXP, FF, B7F, NIB);
  }
}

/** Dispatch of the fast encode with literal format constants (FP4, E4M3, E5M2, BFP p = 4 / 8). */
function mxEncodeFast(
  x: usize,
  nb: i32,
  n: i32,
  kind: i32,
  mbits: i32,
  bias: i32,
  emax: i32,
  maxCode: i32,
  w: i32,
  scales: usize,
  codes: usize,
  tmp: usize,
): bool {
  // the literal constants below must equal the traits passed in
  let f = -1;
  if (kind == 0 && w == 4 && mbits == 1 && bias == 1 && emax == 2 && maxCode == 7) f = 0; // FP4 E2M1
  else if (kind == 0 && w == 8 && mbits == 3 && bias == 7 && emax == 8 && maxCode == 126) f = 1; // E4M3
  else if (kind == 0 && w == 8 && mbits == 2 && bias == 15 && emax == 15 && maxCode == 123) f = 2; // E5M2
  else if (kind == 1 && w == 4 && mbits == 2 && maxCode == 7) f = 3; // BFP12
  else if (kind == 1 && w == 8 && mbits == 6 && maxCode == 127) f = 4; // BFP16
  else return false;
  if (n == 32) {
    if (f == 0) mxEncFast(x, nb, 32, 0, 1, 4, 1, 2, 7, scales, codes, tmp);
    else if (f == 1) mxEncFast(x, nb, 32, 0, 3, 8, 7, 8, 126, scales, codes, tmp);
    else if (f == 2) mxEncFast(x, nb, 32, 0, 2, 8, 15, 15, 123, scales, codes, tmp);
    else if (f == 3) mxEncFast(x, nb, 32, 1, 2, 4, 0, 0, 7, scales, codes, tmp);
    else mxEncFast(x, nb, 32, 1, 6, 8, 0, 0, 127, scales, codes, tmp);
  } else {
    if (f == 0) mxEncFast(x, nb, n, 0, 1, 4, 1, 2, 7, scales, codes, tmp);
    else if (f == 1) mxEncFast(x, nb, n, 0, 3, 8, 7, 8, 126, scales, codes, tmp);
    else if (f == 2) mxEncFast(x, nb, n, 0, 2, 8, 15, 15, 123, scales, codes, tmp);
    else if (f == 3) mxEncFast(x, nb, n, 1, 2, 4, 0, 0, 7, scales, codes, tmp);
    else mxEncFast(x, nb, n, 1, 6, 8, 0, 0, 127, scales, codes, tmp);
  }
  return true;
}

/**
 * Encode: scales (one byte per block) and codes. `tmp` holds one byte per element (4-bit codes are
 * packed from it into `codes`); regions need 16 bytes of slack (vectors run past ragged block ends and
 * later blocks overwrite the excess).
 */
export function mxEncode(
  x: usize,
  rows: i32,
  len: i32,
  bs: i32,
  kind: i32,
  mbits: i32,
  bias: i32,
  emax: i32,
  maxCode: i32,
  w: i32,
  scales: usize,
  codes: usize,
  tmp: usize,
): void {
  if (bs % 16 == 0 && len % bs == 0 && mxEncodeFast(x, (rows * len) / bs, bs, kind, mbits, bias, emax, maxCode, w, scales, codes, tmp))
    return;
  const dst = w == 8 ? codes : tmp;
  const vMax = i32x4.splat(maxCode);
  const vSign = i32x4.splat(1 << (w - 1));
  const emin = 1 - bias;
  const one = 1 << mbits;
  let sp: usize = scales;
  for (let r = 0; r < rows; r++) {
    for (let l0 = 0; l0 < len; l0 += bs, sp++) {
      const n = min(bs, len - l0);
      const e0 = <usize>r * <usize>len + <usize>l0;
      const xb = x + (e0 << 2);
      const cb = dst + e0;
      const byte = mxScaleByte(mxAmax(xb, n), emax);
      store<u8>(sp, <u8>byte);
      if (byte == 0xff) {
        memory.fill(cb, 0, <usize>n);
        continue;
      }
      const se = byte - 127;
      const gEminX = i32x4.splat(emin + se);
      const gPk = i32x4.splat(mbits + 127 - (kind == 0 ? 0 : se)); // p + 127 = ee + gPk − exc (FP), ee + gPk (BFP)
      const gBase = i32x4.splat(((bias - se) << mbits) - one);
      // literal mbits / kind per format, so the shifts compile to immediates
      if (kind != 0) mxEncBlock(xb, cb, n, 1, 0, vMax, vSign, gEminX, gPk, gBase);
      else if (mbits == 1) mxEncBlock(xb, cb, n, 0, 1, vMax, vSign, gEminX, gPk, gBase);
      else if (mbits == 3) mxEncBlock(xb, cb, n, 0, 3, vMax, vSign, gEminX, gPk, gBase);
      else if (mbits == 2) mxEncBlock(xb, cb, n, 0, 2, vMax, vSign, gEminX, gPk, gBase);
      else mxEncBlock(xb, cb, n, 0, mbits, vMax, vSign, gEminX, gPk, gBase);
    }
  }
  if (w == 4) {
    const total = <usize>rows * <usize>len;
    const lo = i16x8.splat(0x0f);
    const hi = i16x8.splat(0xf0);
    for (let j: usize = 0; j < total; j += 16) {
      const v = v128.load(tmp + j);
      const p = v128.or(v128.and(v, lo), v128.and(i16x8.shr_u(v, 4), hi));
      v128.store64_lane(codes + (j >> 1), i8x16.narrow_i16x8_u(p, p), 0);
    }
  }
}

// --- fast decode: blocks of 16·k elements, every row a whole number of blocks ----------------------
//
// 4-bit codes: the 16 element values have float32 bits with zero low halves (FP4 and BFP12 values have
// at most 3 significant bits; mxDecode checks the table), so two byte planes (bytes 2 and 3) looked up
// with `i8x16.swizzle` give the upper halves; one multiply by 2^se per block. 8-bit codes: the code byte
// moved to the top of an i32 lane (byte unpacks against zero) and shifted right arithmetically puts the
// fields under the float32 ones with the sign in place:
// - FP (shift mbits + 1): exponent and mantissa fields under the float32 ones (field 0 lands on float32
//   subnormals, which scale the same way), a float of value P · 2^(bias − 127); one multiply by
//   2^(127 − bias + se) (exact operands, one rounding), or dec8Slow's two (by 2^(127 − bias), exact, then
//   2^se) when that factor would overflow (se > bias);
// - BFP (shift 8): ±mag as the float32 subnormal mag · 2^−133, times 2^127 (exact) then 2^se.
// Blocks of 32 are decoded straight-line; a block holding a NaN/Inf code (E4M3 S.1111.111, E5M2 field
// 31) goes through dec8Slow, which patches those lanes.

/** Float values of 16 4-bit codes (one per byte of c) times vs, stored at o. */
@inline
function dec4x16(c: v128, P2: v128, P3: v128, vs: v128, o: usize): void {
  const q2 = i8x16.swizzle(P2, c);
  const q3 = i8x16.swizzle(P3, c);
  const z = i32x4.splat(0);
  const h0 = i8x16.shuffle(q2, q3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const h1 = i8x16.shuffle(q2, q3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  v128.store(o, f32x4.mul(v128.shuffle<i16>(z, h0, 0, 8, 1, 9, 2, 10, 3, 11), vs));
  v128.store(o + 16, f32x4.mul(v128.shuffle<i16>(z, h0, 4, 12, 5, 13, 6, 14, 7, 15), vs));
  v128.store(o + 32, f32x4.mul(v128.shuffle<i16>(z, h1, 0, 8, 1, 9, 2, 10, 3, 11), vs));
  v128.store(o + 48, f32x4.mul(v128.shuffle<i16>(z, h1, 4, 12, 5, 13, 6, 14, 7, 15), vs));
}

/** The four 8-bit codes of lanes 4j … 4j+3 of c in the top byte of each i32 lane (code << 24). */
@inline
function top8(c: v128, j: i32): v128 {
  const z = i32x4.splat(0);
  const h =
    j < 2
      ? i8x16.shuffle(z, c, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
      : i8x16.shuffle(z, c, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  return (j & 1) == 0
    ? v128.shuffle<i16>(z, h, 0, 8, 1, 9, 2, 10, 3, 11)
    : v128.shuffle<i16>(z, h, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** Float bits of the shifted code (see above): P · 2^(bias − 127) for FP, ±mag · 2^−133 for BFP. */
@inline
function bits8(w: v128, kind: i32, mbits: i32): v128 {
  if (kind != 0) return v128.and(i32x4.shr_s(w, 8), i32x4.splat(0x807fffff));
  return v128.and(i32x4.shr_s(w, mbits + 1), i32x4.splat(0x80000000 | ((1 << (30 - mbits)) - 1)));
}

/** Values of four 8-bit codes (w = code << 24), general case: two multiplies, NaN/±Inf codes patched. */
@inline
function slow4(w: v128, kind: i32, mbits: i32, specials: i32, F1: v128, F2: v128): v128 {
  let v: v128;
  if (kind != 0) v = v128.and(i32x4.shr_s(w, 8), i32x4.splat(0x807fffff));
  else v = v128.and(i32x4.shr_s(w, mbits + 1), i32x4.splat(0x80000000 | ((1 << (30 - mbits)) - 1)));
  v = f32x4.mul(f32x4.mul(v, F1), F2);
  const vNaN = f32x4.splat(f32.NaN);
  const mag = v128.and(w, i32x4.splat(0x7f000000));
  if (specials == 1) v = v128.bitselect(vNaN, v, i32x4.eq(mag, i32x4.splat(0x7f000000)));
  else if (specials == 2) {
    const top = i32x4.splat((0x7f >> mbits) << (24 + mbits)); // all-ones exponent field
    const isTop = i32x4.eq(v128.and(w, top), top);
    const inf = v128.or(f32x4.splat(f32.POSITIVE_INFINITY), v128.and(w, i32x4.splat(0x80000000)));
    v = v128.bitselect(inf, v128.bitselect(vNaN, v, isTop), i32x4.eq(mag, top));
  }
  return v;
}

/**
 * 16 8-bit codes c to floats at o, general case (by F1 = 2^k0, exact, then F2 = 2^se; NaN/±Inf codes
 * patched). Runtime format constants: used for rare blocks and groups only.
 */
function dec8Slow(c: v128, kind: i32, mbits: i32, specials: i32, F1: v128, F2: v128, o: usize): void {
  v128.store(o, slow4(top8(c, 0), kind, mbits, specials, F1, F2));
  v128.store(o + 16, slow4(top8(c, 1), kind, mbits, specials, F1, F2));
  v128.store(o + 32, slow4(top8(c, 2), kind, mbits, specials, F1, F2));
  v128.store(o + 48, slow4(top8(c, 3), kind, mbits, specials, F1, F2));
}

/**
 * The codes of one 8-bit block (n = 16·k, k ≠ 2) at cb to floats at ob: FP one multiply by F =
 * 2^(k0 + se) (callers ensure k0 + se ≤ 127), BFP two (by F1 = 2^127, then F2 = 2^se); groups of 16
 * codes holding a NaN/Inf code (FP) go through dec8Slow.
 */
@inline
function dec8Block(
  cb: usize,
  ob: usize,
  n: i32,
  kind: i32,
  mbits: i32,
  specials: i32,
  F: v128,
  F1: v128,
  F2: v128,
): void {
  const tb = <i8>(<i32>((0x7f >> mbits) << mbits));
  const vt = i8x16.splat(specials == 1 ? 0x7f : tb);
  for (let i = 0; i < n; i += 16) {
    const c = v128.load(cb + <usize>i);
    const o = ob + (<usize>i << 2);
    if (specials != 0 && v128.any_true(i8x16.eq(v128.and(c, vt), vt))) {
      dec8Slow(c, kind, mbits, specials, F1, F2, o);
      continue;
    }
    if (kind != 0) {
      v128.store(o, f32x4.mul(f32x4.mul(bits8(top8(c, 0), 1, 0), F1), F2));
      v128.store(o + 16, f32x4.mul(f32x4.mul(bits8(top8(c, 1), 1, 0), F1), F2));
      v128.store(o + 32, f32x4.mul(f32x4.mul(bits8(top8(c, 2), 1, 0), F1), F2));
      v128.store(o + 48, f32x4.mul(f32x4.mul(bits8(top8(c, 3), 1, 0), F1), F2));
    } else {
      v128.store(o, f32x4.mul(bits8(top8(c, 0), 0, mbits), F));
      v128.store(o + 16, f32x4.mul(bits8(top8(c, 1), 0, mbits), F));
      v128.store(o + 32, f32x4.mul(bits8(top8(c, 2), 0, mbits), F));
      v128.store(o + 48, f32x4.mul(bits8(top8(c, 3), 0, mbits), F));
    }
  }
}

/** Decode `nb` whole blocks of n = 16·k elements (literal format constants at every call site). */
@inline
function mxDecFast(
  codes: usize,
  nb: i32,
  n: i32,
  kind: i32,
  mbits: i32,
  w: i32,
  bias: i32,
  specials: i32,
  scales: usize,
  P2: v128,
  P3: v128,
  out: usize,
): void {
  const nB = <usize>n << 2;
  const cB = <usize>((n * w) >> 3);
  const nib = v128.load(MXC, 80);
  const k0 = kind == 0 ? 127 - bias : 133 - mbits;
  const vNaN = v128.load(MXC, 96);
  // 8-bit: the field mask after the shift, the special-code byte pattern, 2^k0
  const vFld = v128.load(MXC + <usize>(kind != 0 ? 144 : mbits == 3 ? 112 : 128));
  const vSp = v128.load(MXC + <usize>(specials == 1 ? 48 : 160));
  const vF1 = pin(f32x4.splat(reinterpret<f32>((k0 + 127) << 23)), 1);
  for (let b = 0; b < nb; b++) {
    const byte = <i32>load<u8>(scales + <usize>b);
    const ob = out + <usize>b * nB;
    const cb = codes + <usize>b * cB;
    if (byte == 0xff) {
      for (let i: usize = 0; i < nB; i += 16) v128.store(ob + i, vNaN);
      continue;
    }
    const se = byte - 127;
    if (w == 4) {
      const vs = f32x4.splat(reinterpret<f32>(byte == 0 ? 0x00400000 : byte << 23));
      let i = 0;
      for (; i + 32 <= n; i += 32) {
        const v = v128.load(cb + <usize>(i >> 1));
        const lo = v128.and(v, nib);
        const hi = v128.and(i16x8.shr_u(v, 4), nib);
        const o = ob + (<usize>i << 2);
        dec4x16(i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), P2, P3, vs, o);
        dec4x16(i8x16.shuffle(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), P2, P3, vs, o + 64);
      }
      if (i < n) {
        const v = v128.load64_zero(cb + <usize>(i >> 1));
        const lo = v128.and(v, nib);
        const hi = v128.and(i16x8.shr_u(v, 4), nib);
        dec4x16(i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), P2, P3, vs, ob + (<usize>i << 2));
      }
    } else if (n == 32) {
      const F2 = f32x4.splat(reinterpret<f32>(byte == 0 ? 0x00400000 : byte << 23));
      const k = k0 + se; // FP: k ≥ 127 − 15 − 127, so 2^k (k ≤ 127) is a normal float
      const c0 = v128.load(cb);
      const c1 = v128.load(cb, 16);
      if (specials != 0) {
        const s0 = i8x16.eq(v128.and(c0, vSp), vSp);
        const s1 = i8x16.eq(v128.and(c1, vSp), vSp);
        if (v128.any_true(v128.or(s0, s1))) {
          dec8Slow(c0, kind, mbits, specials, vF1, F2, ob);
          dec8Slow(c1, kind, mbits, specials, vF1, F2, ob + 64);
          continue;
        }
      }
      if (kind != 0) {
        v128.store(ob, f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(top8(c0, 0), 8), vFld), vF1), F2));
        v128.store(ob, f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(top8(c0, 1), 8), vFld), vF1), F2), 16);
        v128.store(ob, f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(top8(c0, 2), 8), vFld), vF1), F2), 32);
        v128.store(ob, f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(top8(c0, 3), 8), vFld), vF1), F2), 48);
        v128.store(ob, f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(top8(c1, 0), 8), vFld), vF1), F2), 64);
        v128.store(ob, f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(top8(c1, 1), 8), vFld), vF1), F2), 80);
        v128.store(ob, f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(top8(c1, 2), 8), vFld), vF1), F2), 96);
        v128.store(ob, f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(top8(c1, 3), 8), vFld), vF1), F2), 112);
      } else if (k <= 127) {
        const F = f32x4.splat(reinterpret<f32>((k + 127) << 23));
        const r = mbits + 1;
        v128.store(ob, f32x4.mul(v128.and(i32x4.shr_s(top8(c0, 0), r), vFld), F));
        v128.store(ob, f32x4.mul(v128.and(i32x4.shr_s(top8(c0, 1), r), vFld), F), 16);
        v128.store(ob, f32x4.mul(v128.and(i32x4.shr_s(top8(c0, 2), r), vFld), F), 32);
        v128.store(ob, f32x4.mul(v128.and(i32x4.shr_s(top8(c0, 3), r), vFld), F), 48);
        v128.store(ob, f32x4.mul(v128.and(i32x4.shr_s(top8(c1, 0), r), vFld), F), 64);
        v128.store(ob, f32x4.mul(v128.and(i32x4.shr_s(top8(c1, 1), r), vFld), F), 80);
        v128.store(ob, f32x4.mul(v128.and(i32x4.shr_s(top8(c1, 2), r), vFld), F), 96);
        v128.store(ob, f32x4.mul(v128.and(i32x4.shr_s(top8(c1, 3), r), vFld), F), 112);
      } else {
        dec8Slow(c0, kind, mbits, specials, vF1, F2, ob);
        dec8Slow(c1, kind, mbits, specials, vF1, F2, ob + 64);
      }
    } else {
      const F1 = f32x4.splat(reinterpret<f32>((k0 + 127) << 23));
      const F2 = f32x4.splat(reinterpret<f32>(byte == 0 ? 0x00400000 : byte << 23));
      const k = k0 + se; // FP: k ≥ 127 − 15 − 127, so 2^k (k ≤ 127) is a normal float
      if (kind != 0) dec8Block(cb, ob, n, 1, mbits, 0, F1, F1, F2);
      else if (k <= 127) dec8Block(cb, ob, n, 0, mbits, specials, f32x4.splat(reinterpret<f32>((k + 127) << 23)), F1, F2);
      else for (let i = 0; i < n; i += 16) dec8Slow(v128.load(cb + <usize>i), 0, mbits, specials, F1, F2, ob + (<usize>i << 2));
    }
  }
}

/** Dispatch of the fast decode with literal format constants; false when not covered. */
function mxDecodeFast(
  codes: usize,
  nb: i32,
  n: i32,
  kind: i32,
  mbits: i32,
  bias: i32,
  specials: i32,
  w: i32,
  scales: usize,
  P2: v128,
  P3: v128,
  out: usize,
): bool {
  if (w == 4) mxDecFast(codes, nb, n, 0, 0, 4, 0, 0, scales, P2, P3, out);
  else if (kind == 0 && mbits == 3 && bias == 7 && specials == 1) mxDecFast(codes, nb, n, 0, 3, 8, 7, 1, scales, P2, P3, out);
  else if (kind == 0 && mbits == 2 && bias == 15 && specials == 2) mxDecFast(codes, nb, n, 0, 2, 8, 15, 2, scales, P2, P3, out);
  else if (kind == 1 && mbits == 6) mxDecFast(codes, nb, n, 1, 6, 8, 0, 0, scales, P2, P3, out);
  else return false;
  return true;
}

/** Values (without the block scale) of four 8-bit codes (i32 lanes). */
@inline
function mxValue8(
  c: v128,
  kind: i32,
  mbits: i32,
  specials: i32,
  magMask: v128,
  mantMask: v128,
  vRebias: v128,
  maxField: v128,
  vBfpPow: v128,
): v128 {
  // 8-bit codes: the sign is bit 7
  const sign = v128.and(i32x4.shl(c, 24), i32x4.splat(0x80000000));
  const mag = v128.and(c, magMask);
  if (kind != 0) return v128.or(f32x4.mul(f32x4.convert_i32x4_u(mag), vBfpPow), sign);
  // exponent and mantissa fields moved under the float32 ones: a float32 of value P · 2^(bias − 127)
  // (field 0 lands on float32 subnormals, which scale the same way); one exact multiply rebiases it
  let v = v128.or(f32x4.mul(i32x4.shl(mag, 23 - mbits), vRebias), sign);
  const vNaN = f32x4.splat(f32.NaN);
  if (specials == 1) v = v128.bitselect(vNaN, v, i32x4.eq(mag, magMask));
  else if (specials == 2) {
    const inf = v128.or(f32x4.splat(f32.POSITIVE_INFINITY), sign);
    const top = i32x4.eq(i32x4.shr_u(mag, mbits), maxField);
    v = v128.bitselect(v128.bitselect(inf, vNaN, i32x4.eq(v128.and(mag, mantMask), i32x4.splat(0))), v, top);
  }
  return v;
}

/** Values of the n 8-bit codes of one block at cb, times the scale vs, into out at ob (16 at a time). */
@inline
function mxDec8Block(
  cb: usize,
  ob: usize,
  n: i32,
  kind: i32,
  mbits: i32,
  specials: i32,
  vs: v128,
  magMask: v128,
  mantMask: v128,
  vRebias: v128,
  maxField: v128,
  vBfpPow: v128,
): void {
  for (let i = 0; i < n; i += 16) {
    const v = v128.load(cb + <usize>i);
    const lo = i16x8.extend_low_i8x16_u(v);
    const hi = i16x8.extend_high_i8x16_u(v);
    const o = ob + (<usize>i << 2);
    v128.store(o, f32x4.mul(mxValue8(i32x4.extend_low_i16x8_u(lo), kind, mbits, specials, magMask, mantMask, vRebias, maxField, vBfpPow), vs));
    v128.store(o + 16, f32x4.mul(mxValue8(i32x4.extend_high_i16x8_u(lo), kind, mbits, specials, magMask, mantMask, vRebias, maxField, vBfpPow), vs));
    v128.store(o + 32, f32x4.mul(mxValue8(i32x4.extend_low_i16x8_u(hi), kind, mbits, specials, magMask, mantMask, vRebias, maxField, vBfpPow), vs));
    v128.store(o + 48, f32x4.mul(mxValue8(i32x4.extend_high_i16x8_u(hi), kind, mbits, specials, magMask, mantMask, vRebias, maxField, vBfpPow), vs));
  }
}

/**
 * Decode (same geometry): out = f32(P · 2^(byte − 127)), NaN for 0xFF blocks. 4-bit codes look their
 * value up in the 16-entry f32 `table`; 8-bit codes are decoded arithmetically (kind 0: FP with
 * `specials` 0 none, 1 NaN at S.1..1.1..1, 2 IEEE top field; kind 1: BFP). Regions need 64 bytes of slack (vectors run past
 * ragged block ends; later blocks overwrite the excess).
 */
export function mxDecode(
  codes: usize,
  rows: i32,
  len: i32,
  bs: i32,
  kind: i32,
  mbits: i32,
  bias: i32,
  specials: i32,
  w: i32,
  scales: usize,
  table: usize,
  out: usize,
): void {
  const t0 = v128.load(table);
  const t1 = v128.load(table + 16);
  const t2 = v128.load(table + 32);
  const t3 = v128.load(table + 48);
  // byte planes of the 16 table entries
  const b01 = i8x16.shuffle(t0, t1, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
  const b23 = i8x16.shuffle(t2, t3, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
  const c01 = i8x16.shuffle(t0, t1, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
  const c23 = i8x16.shuffle(t2, t3, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
  const P0 = i8x16.shuffle(b01, b23, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  const P1 = i8x16.shuffle(b01, b23, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const P2 = i8x16.shuffle(c01, c23, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  const P3 = i8x16.shuffle(c01, c23, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const nib = i8x16.splat(0x0f);
  // the fast path's 4-bit tables need zero low halves (true for FP4 and BFP12 values)
  const low = i32x4.splat(0xffff);
  const lowZero = !v128.any_true(
    v128.or(v128.or(v128.and(t0, low), v128.and(t1, low)), v128.or(v128.and(t2, low), v128.and(t3, low))),
  );
  if (
    bs % 16 == 0 &&
    len % bs == 0 &&
    (w == 8 || lowZero) &&
    mxDecodeFast(codes, (rows * len) / bs, bs, kind, mbits, bias, specials, w, scales, P2, P3, out)
  )
    return;
  const magMask = i32x4.splat((1 << (w - 1)) - 1);
  const mantMask = i32x4.splat((1 << mbits) - 1);
  const vRebias = f32x4.splat(reinterpret<f32>((254 - bias) << 23)); // 2^(127 − bias)
  const maxField = i32x4.splat((1 << (w - 1 - mbits)) - 1);
  const vBfpPow = f32x4.splat(<f32>1 / <f32>(1 << mbits));
  let sp: usize = scales;
  for (let r = 0; r < rows; r++) {
    for (let l0 = 0; l0 < len; l0 += bs, sp++) {
      const n = min(bs, len - l0);
      const e0 = <usize>r * <usize>len + <usize>l0;
      const ob = out + (e0 << 2);
      const byte = <i32>load<u8>(sp);
      const s: f32 = byte == 0xff ? f32.NaN : reinterpret<f32>(byte == 0 ? 0x00400000 : byte << 23);
      const vs = f32x4.splat(s);
      if (w == 4) {
        for (let i = 0; i < n; i += 16) {
          const e = e0 + <usize>i;
          const v = v128.load(codes + (e >> 1));
          const lo = v128.and(v, nib);
          const hi = v128.and(i16x8.shr_u(v, 4), nib);
          const c =
            (e & 1) == 0
              ? i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
              : i8x16.shuffle(hi, lo, 0, 17, 1, 18, 2, 19, 3, 20, 4, 21, 5, 22, 6, 23, 7, 24);
          const q0 = i8x16.swizzle(P0, c);
          const q1 = i8x16.swizzle(P1, c);
          const q2 = i8x16.swizzle(P2, c);
          const q3 = i8x16.swizzle(P3, c);
          const a = i8x16.shuffle(q0, q1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
          const b = i8x16.shuffle(q2, q3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
          const a2 = i8x16.shuffle(q0, q1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
          const b2 = i8x16.shuffle(q2, q3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
          const o = ob + (<usize>i << 2);
          v128.store(o, f32x4.mul(v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11), vs));
          v128.store(o + 16, f32x4.mul(v128.shuffle<i16>(a, b, 4, 12, 5, 13, 6, 14, 7, 15), vs));
          v128.store(o + 32, f32x4.mul(v128.shuffle<i16>(a2, b2, 0, 8, 1, 9, 2, 10, 3, 11), vs));
          v128.store(o + 48, f32x4.mul(v128.shuffle<i16>(a2, b2, 4, 12, 5, 13, 6, 14, 7, 15), vs));
        }
      } else {
        const cb = codes + e0;
        if (kind != 0) mxDec8Block(cb, ob, n, 1, 6, 0, vs, magMask, mantMask, vRebias, maxField, vBfpPow);
        else if (mbits == 3 && specials == 1)
          mxDec8Block(cb, ob, n, 0, 3, 1, vs, magMask, mantMask, vRebias, maxField, vBfpPow);
        else if (mbits == 2 && specials == 2)
          mxDec8Block(cb, ob, n, 0, 2, 2, vs, magMask, mantMask, vRebias, maxField, vBfpPow);
        else mxDec8Block(cb, ob, n, 0, mbits, specials, vs, magMask, mantMask, vRebias, maxField, vBfpPow);
      }
    }
  }
}
export * from './attn';
export * from './gemv';
