// lowbit WebAssembly SIMD kernels: bit-plane GEMV (LUT-GEMV) for `lowbit/mwq`.
//
// Bit-exact twin of `gemvLutPrep` / `gemvLutRows` in src/mwq/gemv.ts (the module docs there define the
// arithmetic): per column byte j a 256-entry f64 subset-sum table of x[8j … 8j+7], built once per input
// vector; per (row, group, plane) a sum of table entries indexed by the plane's bytes in four f64
// accumulators (k & 3), combined (a0 + a1) + (a2 + a3); per group an f64 epilogue with α, z and the plane
// weights; y = f32(Σ_g y_g). A plane costs one byte load and one table lookup per 8 weights, so the time
// grows linearly with the planes read.
//
// Pointers are byte offsets chosen by the JS loader (WasmKernels.gemvBitPlanes).

/** Four-accumulator table sum over `n` aligned plane bytes at `pb`, tables from `tb` (2048 B apart). */
@inline
function sumBytes(pb: usize, tb: usize, n: i32): f64 {
  let a0: f64 = 0;
  let a1: f64 = 0;
  let a2: f64 = 0;
  let a3: f64 = 0;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    a0 += load<f64>(tb + ((<usize>load<u8>(pb)) << 3));
    a1 += load<f64>(tb + ((<usize>load<u8>(pb, 1)) << 3), 2048);
    a2 += load<f64>(tb + ((<usize>load<u8>(pb, 2)) << 3), 4096);
    a3 += load<f64>(tb + ((<usize>load<u8>(pb, 3)) << 3), 6144);
    pb += 4;
    tb += 8192;
  }
  if (k < n) a0 += load<f64>(tb + ((<usize>load<u8>(pb)) << 3));
  if (k + 1 < n) a1 += load<f64>(tb + ((<usize>load<u8>(pb, 1)) << 3), 2048);
  if (k + 2 < n) a2 += load<f64>(tb + ((<usize>load<u8>(pb, 2)) << 3), 4096);
  return a0 + a1 + (a2 + a3);
}


/** Two planes' sums at once (`pb` and `pb + ps`): the same arithmetic as two {@link sumBytes} calls. */
let gS1: f64 = 0;
@inline
function sumBytes2(pb: usize, ps: usize, tb: usize, n: i32): f64 {
  let a0: f64 = 0;
  let a1: f64 = 0;
  let a2: f64 = 0;
  let a3: f64 = 0;
  let b0: f64 = 0;
  let b1: f64 = 0;
  let b2: f64 = 0;
  let b3: f64 = 0;
  let qb = pb + ps;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    a0 += load<f64>(tb + ((<usize>load<u8>(pb)) << 3));
    b0 += load<f64>(tb + ((<usize>load<u8>(qb)) << 3));
    a1 += load<f64>(tb + ((<usize>load<u8>(pb, 1)) << 3), 2048);
    b1 += load<f64>(tb + ((<usize>load<u8>(qb, 1)) << 3), 2048);
    a2 += load<f64>(tb + ((<usize>load<u8>(pb, 2)) << 3), 4096);
    b2 += load<f64>(tb + ((<usize>load<u8>(qb, 2)) << 3), 4096);
    a3 += load<f64>(tb + ((<usize>load<u8>(pb, 3)) << 3), 6144);
    b3 += load<f64>(tb + ((<usize>load<u8>(qb, 3)) << 3), 6144);
    pb += 4;
    qb += 4;
    tb += 8192;
  }
  if (k < n) {
    a0 += load<f64>(tb + ((<usize>load<u8>(pb)) << 3));
    b0 += load<f64>(tb + ((<usize>load<u8>(qb)) << 3));
  }
  if (k + 1 < n) {
    a1 += load<f64>(tb + ((<usize>load<u8>(pb, 1)) << 3), 2048);
    b1 += load<f64>(tb + ((<usize>load<u8>(qb, 1)) << 3), 2048);
  }
  if (k + 2 < n) {
    a2 += load<f64>(tb + ((<usize>load<u8>(pb, 2)) << 3), 4096);
    b2 += load<f64>(tb + ((<usize>load<u8>(qb, 2)) << 3), 4096);
  }
  gS1 = b0 + b1 + (b2 + b3);
  return a0 + a1 + (a2 + a3);
}

/** Same sum over the AND of `P` planes' bytes (planes `ps` bytes apart), four bytes per step (not inlined: inlining it into gemvRows made the whole loop nest slower under V8). */
function sumAnd(pb: usize, ps: usize, P: i32, tb: usize, n: i32): f64 {
  let a0: f64 = 0;
  let a1: f64 = 0;
  let a2: f64 = 0;
  let a3: f64 = 0;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    let m = load<u32>(pb);
    let q = pb + ps;
    for (let p = 1; p < P; p++) {
      m &= load<u32>(q);
      q += ps;
    }
    a0 += load<f64>(tb + <usize>((m << 3) & 0x7f8));
    a1 += load<f64>(tb + <usize>((m >> 5) & 0x7f8), 2048);
    a2 += load<f64>(tb + <usize>((m >> 13) & 0x7f8), 4096);
    a3 += load<f64>(tb + <usize>((m >> 21) & 0x7f8), 6144);
    pb += 4;
    tb += 8192;
  }
  for (; k < n; k++) {
    let m: u32 = 255;
    let q = pb;
    for (let p = 0; p < P; p++) {
      m &= <u32>load<u8>(q);
      q += ps;
    }
    const v = load<f64>(tb + (<usize>m << 3));
    const kk = k & 3;
    if (kk == 0) a0 += v;
    else if (kk == 1) a1 += v;
    else a2 += v;
    pb += 1;
    tb += 2048;
  }
  return a0 + a1 + (a2 + a3);
}

/** Byte mask of the columns of [c0, c1) inside column byte j. */
@inline
function colMask(j: i32, c0: i32, c1: i32, j0: i32, j1: i32): u32 {
  let m: u32 = 255;
  if (j == j0) m &= (<u32>255 << (<u32>c0 & 7)) & 255;
  if (j == j1) m &= <u32>255 >> (7 - ((<u32>c1 - 1) & 7));
  return m;
}

/**
 * Tables and group sums of one input vector: x (f32, `cols` values, zero-padded to a multiple of 8) →
 * lut (⌈cols/8⌉·256 f64, T_j[m] = L[m & 15] + H[m >> 4]) and X (cols/G f64).
 */
export function gemvPrep(x: usize, cols: i32, G: i32, lut: usize, X: usize): void {
  const nb = (cols + 7) >>> 3;
  const zero = f64x2.splat(0);
  for (let j = 0; j < nb; j++) {
    const xp = x + (<usize>j << 5);
    const x0 = <f64>load<f32>(xp);
    const x1 = <f64>load<f32>(xp, 4);
    const x2 = <f64>load<f32>(xp, 8);
    const x3 = <f64>load<f32>(xp, 12);
    const x4 = <f64>load<f32>(xp, 16);
    const x5 = <f64>load<f32>(xp, 20);
    const x6 = <f64>load<f32>(xp, 24);
    const x7 = <f64>load<f32>(xp, 28);
    // A = [0, x0 | x1, x0 + x1], B = [0, x2, x3, x2 + x3]; L[4b + a] = A[a] + B[b]
    const A01 = f64x2.replace_lane(zero, 1, x0);
    const A23 = f64x2.replace_lane(f64x2.splat(x1), 1, x0 + x1);
    const b1 = f64x2.splat(x2);
    const b2 = f64x2.splat(x3);
    const b3 = f64x2.splat(x2 + x3);
    const L0 = f64x2.add(A01, zero);
    const L1 = f64x2.add(A23, zero);
    const L2 = f64x2.add(A01, b1);
    const L3 = f64x2.add(A23, b1);
    const L4 = f64x2.add(A01, b2);
    const L5 = f64x2.add(A23, b2);
    const L6 = f64x2.add(A01, b3);
    const L7 = f64x2.add(A23, b3);
    const e3 = x4 + x5;
    const f3 = x6 + x7;
    let t = lut + (<usize>j << 11);
    for (let h = 0; h < 16; h++) {
      const ai = h & 3;
      const bi = h >>> 2;
      const e: f64 = ai == 0 ? 0 : ai == 1 ? x4 : ai == 2 ? x5 : e3;
      const f: f64 = bi == 0 ? 0 : bi == 1 ? x6 : bi == 2 ? x7 : f3;
      const hv = f64x2.splat(e + f);
      v128.store(t, f64x2.add(L0, hv));
      v128.store(t, f64x2.add(L1, hv), 16);
      v128.store(t, f64x2.add(L2, hv), 32);
      v128.store(t, f64x2.add(L3, hv), 48);
      v128.store(t, f64x2.add(L4, hv), 64);
      v128.store(t, f64x2.add(L5, hv), 80);
      v128.store(t, f64x2.add(L6, hv), 96);
      v128.store(t, f64x2.add(L7, hv), 112);
      t += 128;
    }
  }
  const gpr = cols / G;
  for (let g = 0; g < gpr; g++) {
    const c0 = g * G;
    const c1 = c0 + G;
    const j0 = c0 >>> 3;
    const j1 = (c1 - 1) >>> 3;
    let a0: f64 = 0;
    let a1: f64 = 0;
    let a2: f64 = 0;
    let a3: f64 = 0;
    for (let j = j0; j <= j1; j++) {
      const v = load<f64>(lut + (<usize>j << 11) + (<usize>colMask(j, c0, c1, j0, j1) << 3));
      const k = (j - j0) & 3;
      if (k == 0) a0 += v;
      else if (k == 1) a1 += v;
      else if (k == 2) a2 += v;
      else a3 += v;
    }
    store<f64>(X + (<usize>g << 3), a0 + a1 + (a2 + a3));
  }
}

/** Masked table sum for one group of a row at bit `rowBit` in the general (unaligned) layout. */
@inline
function sumBits(pb: usize, ps: usize, q0: i32, q1: i32, rowBit: u32, lut: usize, c0: i32, c1: i32): f64 {
  const j0 = c0 >>> 3;
  const j1 = (c1 - 1) >>> 3;
  let a0: f64 = 0;
  let a1: f64 = 0;
  let a2: f64 = 0;
  let a3: f64 = 0;
  for (let j = j0; j <= j1; j++) {
    let m = colMask(j, c0, c1, j0, j1);
    const e = rowBit + (<u32>j << 3);
    const sh = e & 7;
    let q = pb + <usize>(e >>> 3) + <usize>q0 * ps;
    for (let p = q0; p < q1; p++) {
      m &= <u32>load<u16>(q) >>> sh;
      q += ps;
    }
    const v = load<f64>(lut + (<usize>j << 11) + (<usize>(m & 255) << 3));
    const k = (j - j0) & 3;
    if (k == 0) a0 += v;
    else if (k == 1) a1 += v;
    else if (k == 2) a2 += v;
    else a3 += v;
  }
  return a0 + a1 + (a2 + a3);
}

/**
 * y for `rows` rows of a chunk. planes: plane p's bits of the chunk at `planes + p·ps` (row o starts at
 * bit o·cols; at least 2 readable bytes past the last one); wt: P f64 plane weights; scales/zeros: f32
 * per group of the chunk (row-major); lsc: f32 level scales, level l at `lsc + l·lstride`; lut/X from
 * gemvPrep; `acc`: rows f64 of scratch; out: rows f32. Groups are visited in column tiles of `tileG`
 * groups (so a tile of the tables stays in cache across rows); each row still sums its groups in order.
 */
export function gemvRows(
  planes: usize,
  ps: usize,
  rows: i32,
  cols: i32,
  G: i32,
  P: i32,
  wt: usize,
  andW: f64,
  off: f64,
  residual: i32,
  baseP: i32,
  lut: usize,
  X: usize,
  scales: usize,
  zeros: usize,
  lsc: usize,
  lstride: usize,
  tileG: i32,
  acc: usize,
  out: usize,
): void {
  const gpr = cols / G;
  const aligned = (cols & 7) == 0 && (G & 7) == 0;
  const bpg = G >>> 3;
  for (let o = 0; o < rows; o++) store<f64>(acc + (<usize>o << 3), 0);
  for (let g0 = 0; g0 < gpr; g0 += tileG) {
    const g1 = min(gpr, g0 + tileG);
    for (let o = 0; o < rows; o++) {
      const rowBit = <u32>o * <u32>cols;
      let ac = load<f64>(acc + (<usize>o << 3));
      for (let g = g0; g < g1; g++) {
        const c0 = g * G;
        const c1 = c0 + G;
        const gi = <usize>(o * gpr + g);
        const xg = load<f64>(X + (<usize>g << 3));
        const al = <f64>load<f32>(scales + (gi << 2));
        const z = <f64>load<f32>(zeros + (gi << 2));
        const tb = lut + (<usize>(c0 >>> 3) << 11);
        const pb = planes + <usize>((rowBit + <u32>c0) >>> 3);
        let t: f64;
        let y: f64 = 0;
        if (residual == 0) {
          t = (off - z) * xg;
          if (andW != 0) {
            const sa = aligned ? sumAnd(pb, ps, P, tb, bpg) : sumBits(planes, ps, 0, P, rowBit, lut, c0, c1);
            t -= andW * sa;
          }
        } else t = -z * xg;
        let s1: f64 = 0;
        for (let p = 0; p < P; p++) {
          let s: f64;
          if (aligned) {
            if ((p & 1) == 0) {
              if (p + 1 < P) {
                s = sumBytes2(pb + <usize>p * ps, ps, tb, bpg);
                s1 = gS1;
              } else s = sumBytes(pb + <usize>p * ps, tb, bpg);
            } else s = s1;
          } else s = sumBits(planes, ps, p, p + 1, rowBit, lut, c0, c1);
          if (p < baseP) t += load<f64>(wt + (<usize>p << 3)) * s;
          else {
            if (p == baseP) y = al * t;
            y += <f64>load<f32>(lsc + <usize>(p - baseP) * lstride + (gi << 2)) * (2 * s - xg);
          }
        }
        if (P <= baseP) y = al * t;
        ac += y;
      }
      store<f64>(acc + (<usize>o << 3), ac);
    }
  }
  for (let o = 0; o < rows; o++) store<f32>(out + (<usize>o << 2), <f32>load<f64>(acc + (<usize>o << 3)));
}
