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

/** Min and max of a contiguous run of n ≥ 1 floats, same result as the sequential JS scan. */
@inline
function minMaxContig(p: usize, n: i32, lim: f32): bool {
  // result in globals gMin / gMax; false when a value is non-finite or |v| >= lim
  let i = 0;
  let vmn = f32x4.splat(load<f32>(p));
  let vmx = vmn;
  // v − v is NaN exactly for NaN and ±Inf; the sum of those stays NaN. |v| < lim is checked on the
  // final min and max (pmin/pmax may drop a NaN, the sum does not).
  let nan = f32x4.splat(0);
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(p + (<usize>i << 2));
    vmn = f32x4.pmin(vmn, v);
    vmx = f32x4.pmax(vmx, v);
    nan = f32x4.add(nan, f32x4.sub(v, v));
  }
  if (v128.any_true(f32x4.ne(nan, nan))) return false;
  let mn = f32x4.extract_lane(vmn, 0);
  let mx = f32x4.extract_lane(vmx, 0);
  let t = f32x4.extract_lane(vmn, 1);
  if (t < mn) mn = t;
  t = f32x4.extract_lane(vmn, 2);
  if (t < mn) mn = t;
  t = f32x4.extract_lane(vmn, 3);
  if (t < mn) mn = t;
  t = f32x4.extract_lane(vmx, 1);
  if (t > mx) mx = t;
  t = f32x4.extract_lane(vmx, 2);
  if (t > mx) mx = t;
  t = f32x4.extract_lane(vmx, 3);
  if (t > mx) mx = t;
  for (; i < n; i++) {
    const v = load<f32>(p + (<usize>i << 2));
    if (!(abs<f32>(v) < lim)) return false;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  if (!(mn > -lim && mx < lim)) return false;
  if (mn == 0) mn = firstZero(p, n, mn);
  if (mx == 0) mx = firstZero(p, n, mx);
  gMin = mn;
  gMax = mx;
  return true;
}

let gMin: f32 = 0;
let gMax: f32 = 0;

/** Codes of 4 floats: round-half-even(clamp(f32(f32(x − m) / s), 0, qmax)) as u32 lanes (t finite). */
@inline
function code4(v: v128, m: v128, s: v128, qmax: v128): v128 {
  // the clamp at 0 is the saturation of trunc_sat_u (any t < 0 rounds to a value ≤ −0 → 0)
  const t = f32x4.pmin(f32x4.div(f32x4.sub(v, m), s), qmax);
  return i32x4.trunc_sat_f32x4_u(f32x4.nearest(t));
}

@inline
function code1(v: f32, m: f32, s: f32, qmax: f32): u32 {
  let t: f32 = (v - m) / s;
  if (t < 0) t = 0;
  else if (t > qmax) t = qmax;
  return <u32>nearest<f32>(t);
}

// ---------------------------------------------------------------------------------------------------
// KIVI values: per token, groups of G consecutive channels; codes packed along channels (kivi-u32).
// Requires G % (32/bits) == 0 and G % 4 == 0 (always true for bits 2, 4, 8 since 32/bits >= 4).

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
): i32 {
  const f = 32 / bits;
  const qmaxI = (1 << bits) - 1;
  const qmaxF = <f32>qmaxI;
  const vq = f32x4.splat(qmaxF);
  const nGroups = D / G;
  const wpg = G / f;
  const chunks = f >> 2; // vectors of 4 per word
  const laneMul = i32x4(1, 1 << bits, 1 << (2 * bits), 1 << (3 * bits));
  const sh = 4 * bits;
  // groups are contiguous over the whole chunk (row-major rows of D = nGroups·G channels)
  const NG = <usize>rows * <usize>nGroups;
  const gB = <usize>G << 2;
  const zero = f32x4.splat(0);
  const vlim = f32x4.splat(lim);
  const vnlim = f32x4.splat(-lim);
  let g: usize = 0;
  // 1. min/max of 4 groups at a time: vertical scans, then a 4×4 transpose-reduce (no scalar work)
  for (; g + 4 <= NG; g += 4) {
    const p0 = x + g * gB;
    let n0 = v128.load(p0);
    let n1 = v128.load(p0 + gB);
    let n2 = v128.load(p0 + 2 * gB);
    let n3 = v128.load(p0 + 3 * gB);
    let x0 = n0;
    let x1 = n1;
    let x2 = n2;
    let x3 = n3;
    let nan = f32x4.add(f32x4.add(f32x4.sub(n0, n0), f32x4.sub(n1, n1)), f32x4.add(f32x4.sub(n2, n2), f32x4.sub(n3, n3)));
    for (let o: usize = 16; o < gB; o += 16) {
      const v0 = v128.load(p0 + o);
      const v1 = v128.load(p0 + gB + o);
      const v2 = v128.load(p0 + 2 * gB + o);
      const v3 = v128.load(p0 + 3 * gB + o);
      n0 = f32x4.pmin(n0, v0);
      n1 = f32x4.pmin(n1, v1);
      n2 = f32x4.pmin(n2, v2);
      n3 = f32x4.pmin(n3, v3);
      x0 = f32x4.pmax(x0, v0);
      x1 = f32x4.pmax(x1, v1);
      x2 = f32x4.pmax(x2, v2);
      x3 = f32x4.pmax(x3, v3);
      nan = f32x4.add(nan, f32x4.add(f32x4.add(f32x4.sub(v0, v0), f32x4.sub(v1, v1)), f32x4.add(f32x4.sub(v2, v2), f32x4.sub(v3, v3))));
    }
    const a01 = f32x4.pmin(v128.shuffle<f32>(n0, n1, 0, 4, 1, 5), v128.shuffle<f32>(n0, n1, 2, 6, 3, 7));
    const a23 = f32x4.pmin(v128.shuffle<f32>(n2, n3, 0, 4, 1, 5), v128.shuffle<f32>(n2, n3, 2, 6, 3, 7));
    const mn4 = f32x4.pmin(v128.shuffle<f32>(a01, a23, 0, 1, 4, 5), v128.shuffle<f32>(a01, a23, 2, 3, 6, 7));
    const b01 = f32x4.pmax(v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), v128.shuffle<f32>(x0, x1, 2, 6, 3, 7));
    const b23 = f32x4.pmax(v128.shuffle<f32>(x2, x3, 0, 4, 1, 5), v128.shuffle<f32>(x2, x3, 2, 6, 3, 7));
    const mx4 = f32x4.pmax(v128.shuffle<f32>(b01, b23, 0, 1, 4, 5), v128.shuffle<f32>(b01, b23, 2, 3, 6, 7));
    if (v128.any_true(v128.or(f32x4.ne(nan, nan), v128.or(v128.not(f32x4.gt(mn4, vnlim)), v128.not(f32x4.lt(mx4, vlim))))))
      return -1;
    const mp = mins + (g << 2);
    const sp = scales + (g << 2);
    v128.store(mp, mn4);
    v128.store(sp, mx4);
    if (v128.any_true(v128.or(f32x4.eq(mn4, zero), f32x4.eq(mx4, zero)))) {
      // a zero min or max: take the sign of the first zero in scan order, as the sequential scan does
      for (let k: usize = 0; k < 4; k++) {
        const pk = p0 + k * gB;
        const m = load<f32>(mp + (k << 2));
        if (m == 0) store<f32>(mp + (k << 2), firstZero(pk, G, m));
        const M = load<f32>(sp + (k << 2));
        if (M == 0) store<f32>(sp + (k << 2), firstZero(pk, G, M));
      }
    }
    v128.store(sp, f32x4.div(f32x4.sub(v128.load(sp), v128.load(mp)), vq));
  }
  for (; g < NG; g++) {
    if (!minMaxContig(x + g * gB, G, lim)) return -1;
    store<f32>(scales + (g << 2), (gMax - gMin) / qmaxF);
    store<f32>(mins + (g << 2), gMin);
  }
  // 2. codes, group by group
  let wi: usize = 0; // word index
  for (g = 0; g < NG; g++) {
    const xg = x + g * gB;
    const s = load<f32>(scales + (g << 2));
    if (s == 0) {
      memory.fill(codes + (wi << 2), 0, <usize>wpg << 2);
      wi += wpg;
      continue;
    }
    const vm = f32x4.splat(load<f32>(mins + (g << 2)));
    const vs = f32x4.splat(s);
    for (let w = 0; w < wpg; w++, wi++) {
      const xw = xg + ((<usize>w * <usize>f) << 2);
      let acc = code4(v128.load(xw), vm, vs, vq);
      for (let k = 1; k < chunks; k++) {
        const q = code4(v128.load(xw + (<usize>k << 4)), vm, vs, vq);
        acc = v128.or(acc, i32x4.shl(q, sh * k));
      }
      acc = i32x4.mul(acc, laneMul);
      const word =
        i32x4.extract_lane(acc, 0) | i32x4.extract_lane(acc, 1) | i32x4.extract_lane(acc, 2) | i32x4.extract_lane(acc, 3);
      store<i32>(codes + (wi << 2), word);
    }
  }
  return 0;
}

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
  const f = 32 / bits;
  const mask = i32x4.splat((1 << bits) - 1);
  const wpg = G / f;
  const chunks = f >> 2;
  const sh = 4 * bits;
  const nGroups = (<usize>rows * <usize>D) / <usize>G;
  let wi: usize = 0;
  let o = out;
  for (let g: usize = 0; g < nGroups; g++) {
    const vs = f32x4.splat(load<f32>(scales + (g << 2)));
    const vm = f32x4.splat(load<f32>(mins + (g << 2)));
    for (let w = 0; w < wpg; w++, wi++) {
      const word = load<u32>(codes + (wi << 2));
      let v = i32x4(word, word >>> bits, word >>> (2 * bits), word >>> (3 * bits));
      for (let k = 0; k < chunks; k++) {
        const q = v128.and(v, mask);
        v128.store(o, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(q), vs), vm));
        o += 16;
        v = i32x4.shr_u(v, sh);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// KIVI keys: per stream [T, D], per channel over groups of G consecutive tokens; word (w, d) holds
// tokens w·f … w·f+f−1 of channel d. Requires G % (32/bits) == 0. Vectorised across channels, so each
// lane scans its channel in token order (same min/max as the JS scan, no zero fix-up needed).

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
): i32 {
  const f = 32 / bits;
  const qmaxF = <f32>((1 << bits) - 1);
  const vq = f32x4.splat(qmaxF);
  const vlim = f32x4.splat(lim);
  const vnlim = f32x4.splat(-lim);
  const nGroups = nTok / G;
  const D4 = D & ~3;
  const rowB = <usize>D << 2;
  let bad = i32x4.splat(0);
  // 1. min/max per (group, channel) into mins/scales, then scales
  for (let g = 0; g < nGroups; g++) {
    const base = x + <usize>g * <usize>G * rowB;
    const mrow = <usize>g * rowB;
    let d = 0;
    for (; d < D4; d += 4) {
      const p = base + (<usize>d << 2);
      let vmn = v128.load(p);
      let vmx = vmn;
      let nan = f32x4.sub(vmn, vmn);
      for (let t = 1; t < G; t++) {
        const v = v128.load(p + <usize>t * rowB);
        vmn = f32x4.pmin(vmn, v);
        vmx = f32x4.pmax(vmx, v);
        nan = f32x4.add(nan, f32x4.sub(v, v));
      }
      // NaN/±Inf anywhere, or a min/max at or beyond ±lim
      bad = v128.or(bad, f32x4.ne(nan, nan));
      bad = v128.or(bad, v128.not(f32x4.gt(vmn, vnlim)));
      bad = v128.or(bad, v128.not(f32x4.lt(vmx, vlim)));
      v128.store(mins + mrow + (<usize>d << 2), vmn);
      v128.store(scales + mrow + (<usize>d << 2), f32x4.div(f32x4.sub(vmx, vmn), vq));
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
      store<f32>(mins + mrow + (<usize>d << 2), mn);
      store<f32>(scales + mrow + (<usize>d << 2), (mx - mn) / qmaxF);
    }
  }
  if (v128.any_true(bad)) return -1;
  // 2. codes, one row of D words (f tokens) at a time; s == 0 gives code 0 (select on the lane mask)
  const rows = nTok / f;
  const zero = f32x4.splat(0);
  for (let w = 0; w < rows; w++) {
    const t0 = w * f;
    const mrow = <usize>(t0 / G) * rowB;
    const xb = x + <usize>t0 * rowB;
    const crow = codes + <usize>w * rowB;
    let d = 0;
    for (; d < D4; d += 4) {
      const db = <usize>d << 2;
      const vs = v128.load(scales + mrow + db);
      const vm = v128.load(mins + mrow + db);
      const nz = f32x4.ne(vs, zero);
      let acc = i32x4.splat(0);
      for (let j = 0; j < f; j++) {
        const q = code4(v128.load(xb + <usize>j * rowB + db), vm, vs, vq);
        acc = v128.or(acc, i32x4.shl(q, bits * j));
      }
      v128.store(crow + db, v128.and(acc, nz));
    }
    for (; d < D; d++) {
      const db = <usize>d << 2;
      const s = load<f32>(scales + mrow + db);
      const m = load<f32>(mins + mrow + db);
      let word: u32 = 0;
      if (s != 0) {
        for (let j = 0; j < f; j++) word |= code1(load<f32>(xb + <usize>j * rowB + db), m, s, qmaxF) << (bits * j);
      }
      store<u32>(crow + db, word);
    }
  }
  return 0;
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
): void {
  const f = 32 / bits;
  const maskI = (1 << bits) - 1;
  const mask = i32x4.splat(maskI);
  const rows = nTok / f;
  const D4 = D & ~3;
  const rowB = <usize>D << 2;
  for (let w = 0; w < rows; w++) {
    const crow = codes + <usize>w * rowB;
    for (let j = 0; j < f; j++) {
      const t = w * f + j;
      const mrow = <usize>(t / G) * rowB;
      const orow = out + <usize>t * rowB;
      const sh = bits * j;
      let d = 0;
      for (; d < D4; d += 4) {
        const db = <usize>d << 2;
        const q = v128.and(i32x4.shr_u(v128.load(crow + db), sh), mask);
        const r = f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(q), v128.load(scales + mrow + db)), v128.load(mins + mrow + db));
        v128.store(orow + db, r);
      }
      for (; d < D; d++) {
        const db = <usize>d << 2;
        const q = <f32>((load<u32>(crow + db) >>> sh) & maskI);
        store<f32>(orow + db, q * load<f32>(scales + mrow + db) + load<f32>(mins + mrow + db));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Common affine quantizer, float zero point (the default), contiguous groups (axis = last or none),
// codes one byte each (bits 1..8). `lines` lines of `len` elements, groups of `gs` (the last one of a
// line ragged). Status −1: non-finite input; −2: a group whose range overflows float32.

export function affineFloatQuant(
  x: usize,
  lines: i32,
  len: i32,
  gs: i32,
  qmaxI: i32,
  codes: usize,
  scales: usize,
  zeros: usize,
): i32 {
  const qmaxF = <f32>qmaxI;
  const vq = f32x4.splat(qmaxF);
  const inf = f32.POSITIVE_INFINITY;
  let p: usize = 0;
  for (let l = 0; l < lines; l++) {
    for (let l0 = 0; l0 < len; l0 += gs, p++) {
      const n = min(gs, len - l0);
      const e0 = <usize>l * <usize>len + <usize>l0;
      const xg = x + (e0 << 2);
      const cg = codes + e0;
      if (!minMaxContig(xg, n, inf)) return -1;
      const mn = gMin;
      const d: f32 = gMax - mn;
      if (d == inf) return -2;
      const s: f32 = d / qmaxF;
      store<f32>(scales + (p << 2), s);
      store<f32>(zeros + (p << 2), mn);
      if (s == 0) {
        memory.fill(cg, 0, <usize>n);
        continue;
      }
      const vm = f32x4.splat(mn);
      const vs = f32x4.splat(s);
      let i = 0;
      for (; i + 16 <= n; i += 16) {
        const b = xg + (<usize>i << 2);
        const a0 = code4(v128.load(b), vm, vs, vq);
        const a1 = code4(v128.load(b + 16), vm, vs, vq);
        const a2 = code4(v128.load(b + 32), vm, vs, vq);
        const a3 = code4(v128.load(b + 48), vm, vs, vq);
        const h0 = i16x8.narrow_i32x4_u(a0, a1);
        const h1 = i16x8.narrow_i32x4_u(a2, a3);
        v128.store(cg + <usize>i, i8x16.narrow_i16x8_u(h0, h1));
      }
      for (; i < n; i++) store<u8>(cg + <usize>i, <u8>code1(load<f32>(xg + (<usize>i << 2)), mn, s, qmaxF));
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
      for (; i + 4 <= n; i += 4) {
        const q = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(cg + <usize>i)));
        v128.store(og + (<usize>i << 2), f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(q), vs), vm));
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
// Exactness: every element is |x| = sig · 2^ee with an integer sig < 2^24 (exact as f32), and the
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
