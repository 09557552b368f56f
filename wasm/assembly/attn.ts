// KIVI fused attention: the inner loops of `attendKernel` (src/kivi/attention.ts, kivi.md §5) on packed
// codes, float32, bit for bit the operations of the JS twin:
// - a dot product over the head dimension runs in four float32 lanes (channels d ≡ 0, 1, 2, 3 mod 4,
//   each summed in channel order from +0) combined as (l0 + l1) + (l2 + l3) — `hsum4` below;
// - quantized key logit:  f32(f32(Σ f32(f32(q_d·s_d)·code_d) + Σ f32(q_d·min_d)) · scale);
// - residual key logit:   f32(Σ f32(q_d·k_d) · scale);
// - quantized values:     acc_d += f32(f32(p·s_c)·code_d) and vm_c += f32(p·min_c), token by token;
//   then acc_d += vm_c once; residual values: acc_d += f32(p·v_d), token by token.
// The softmax (float64 `Math.exp`) and the final 1/Σp scaling run in JS on both paths. A token whose
// probability is 0 (masked by the causal limit) adds ±0 to accumulators that are never −0, so skipping
// it or not gives the same bits.
//
// Query rows are served four at a time from one pass over a KV head's codes (a GQA group shares the
// code extraction); remaining rows one at a time. Value accumulators are kept in a permuted order
// (vector v of 4 words, slot j, lane i ↔ channel (4v + i)·fv + j) and put back in channel order by
// `kiviAttnValuesFinish`. Loads may read up to 48 bytes past a row (the JS side pads its regions); those
// lanes land in accumulators that are never read.
//
// Requirements (checked by the JS side): D % 4 == 0, key group G % (32/keyBits) == 0, value group
// Gv % (32/valueBits) == 0.

/** Lane k = (a_k0 + a_k1) + (a_k2 + a_k3) for the four inputs a = a0, a1, a2, a3. */
@inline
function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const u = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 2, 6), v128.shuffle<f32>(a, b, 1, 5, 3, 7));
  const v = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 2, 6), v128.shuffle<f32>(c, d, 1, 5, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u, v, 0, 1, 4, 5), v128.shuffle<f32>(u, v, 2, 3, 6, 7));
}

/** Codes of slot `sh/bits` of four words as float32 lanes. */
@inline
function codesAt(w: v128, sh: i32, mask: v128): v128 {
  return f32x4.convert_i32x4_s(v128.and(i32x4.shr_u(w, sh), mask));
}

// ---------------------------------------------------------------------------------------------------
// keys

/**
 * Logits of `nq` query rows over one KV head's quantized key block of `nTok` tokens: codes
 * `[nTok/fk, D]` words, scales/mins `[nTok/G, D]`, q `[nq, D]`; the logit of row k, token t goes to
 * `logits + (k·ld + t)·4`. Scratch `qs`: 4·D floats.
 */
export function kiviAttnKeys(
  codes: usize,
  scales: usize,
  mins: usize,
  nTok: i32,
  D: i32,
  bits: i32,
  G: i32,
  q: usize,
  nq: i32,
  sc: f32,
  logits: usize,
  ld: i32,
  qs: usize,
): void {
  const fk = 32 / bits;
  const nG = nTok / G;
  const wpg = G / fk;
  const DB = <usize>D << 2;
  const LB = <usize>ld << 2;
  const mask = i32x4.splat((1 << bits) - 1);
  const vsc = f32x4.splat(sc);
  const zero = f32x4.splat(0);
  for (let r0 = 0; r0 < nq; r0 += 4) {
    const nr = min(4, nq - r0);
    const qb = q + <usize>r0 * DB;
    const lb = logits + <usize>r0 * LB;
    // rows past nr repeat the last row (their results are not stored)
    const q0 = qb;
    const q1 = qb + <usize>min(1, nr - 1) * DB;
    const q2 = qb + <usize>min(2, nr - 1) * DB;
    const q3 = qb + <usize>min(3, nr - 1) * DB;
    const s0 = qs;
    const s1 = qs + DB;
    const s2 = qs + 2 * DB;
    const s3 = qs + 3 * DB;
    for (let g = 0; g < nG; g++) {
      const sg = scales + <usize>g * DB;
      const mg = mins + <usize>g * DB;
      // qs_k = f32(q_k·s); cm_k = Σ f32(q_k·min) in four lanes
      let c0 = zero;
      let c1 = zero;
      let c2 = zero;
      let c3 = zero;
      for (let o: usize = 0; o < DB; o += 16) {
        const s = v128.load(sg + o);
        const mn = v128.load(mg + o);
        const a0 = v128.load(q0 + o);
        const a1 = v128.load(q1 + o);
        const a2 = v128.load(q2 + o);
        const a3 = v128.load(q3 + o);
        v128.store(s0 + o, f32x4.mul(a0, s));
        v128.store(s1 + o, f32x4.mul(a1, s));
        v128.store(s2 + o, f32x4.mul(a2, s));
        v128.store(s3 + o, f32x4.mul(a3, s));
        c0 = f32x4.add(c0, f32x4.mul(a0, mn));
        c1 = f32x4.add(c1, f32x4.mul(a1, mn));
        c2 = f32x4.add(c2, f32x4.mul(a2, mn));
        c3 = f32x4.add(c3, f32x4.mul(a3, mn));
      }
      const cm = hsum4(c0, c1, c2, c3);
      const cw = codes + <usize>(g * wpg) * DB;
      const tg = g * G;
      if (nr == 4) {
        // one token of four rows per pass over a word row
        for (let w = 0; w < wpg; w++) {
          const cr = cw + <usize>w * DB;
          for (let j = 0; j < fk; j++) {
            const sh = j * bits;
            let a0 = zero;
            let a1 = zero;
            let a2 = zero;
            let a3 = zero;
            for (let o: usize = 0; o < DB; o += 16) {
              const c = codesAt(v128.load(cr + o), sh, mask);
              a0 = f32x4.add(a0, f32x4.mul(v128.load(s0 + o), c));
              a1 = f32x4.add(a1, f32x4.mul(v128.load(s1 + o), c));
              a2 = f32x4.add(a2, f32x4.mul(v128.load(s2 + o), c));
              a3 = f32x4.add(a3, f32x4.mul(v128.load(s3 + o), c));
            }
            const l = f32x4.mul(f32x4.add(hsum4(a0, a1, a2, a3), cm), vsc);
            const lt = lb + (<usize>(tg + w * fk + j) << 2);
            v128.store32_lane(lt, l, 0);
            v128.store32_lane(lt + LB, l, 1);
            v128.store32_lane(lt + 2 * LB, l, 2);
            v128.store32_lane(lt + 3 * LB, l, 3);
          }
        }
      } else {
        // rows one at a time, four tokens per pass over a word row
        for (let k = 0; k < nr; k++) {
          const sk = qs + <usize>k * DB;
          const cmk = f32x4.splat(
            k == 0 ? f32x4.extract_lane(cm, 0) : k == 1 ? f32x4.extract_lane(cm, 1) : f32x4.extract_lane(cm, 2),
          );
          const lk = lb + <usize>k * LB;
          for (let w = 0; w < wpg; w++) {
            const cr = cw + <usize>w * DB;
            for (let j = 0; j < fk; j += 4) {
              const sh = j * bits;
              let a0 = zero;
              let a1 = zero;
              let a2 = zero;
              let a3 = zero;
              for (let o: usize = 0; o < DB; o += 16) {
                const x = v128.load(cr + o);
                const s = v128.load(sk + o);
                a0 = f32x4.add(a0, f32x4.mul(s, codesAt(x, sh, mask)));
                a1 = f32x4.add(a1, f32x4.mul(s, codesAt(x, sh + bits, mask)));
                a2 = f32x4.add(a2, f32x4.mul(s, codesAt(x, sh + 2 * bits, mask)));
                a3 = f32x4.add(a3, f32x4.mul(s, codesAt(x, sh + 3 * bits, mask)));
              }
              const l = f32x4.mul(f32x4.add(hsum4(a0, a1, a2, a3), cmk), vsc);
              v128.store(lk + (<usize>(tg + w * fk + j) << 2), l);
            }
          }
        }
      }
    }
  }
}

/**
 * Logits of `nq` query rows over `nTok` float32 keys (token t at `k + t·kStride`, D channels); row k,
 * token t to `logits + (k·ld + t)·4`.
 */
export function kiviAttnKeysF32(
  k: usize,
  nTok: i32,
  kStride: i32,
  D: i32,
  q: usize,
  nq: i32,
  sc: f32,
  logits: usize,
  ld: i32,
): void {
  const DB = <usize>D << 2;
  const LB = <usize>ld << 2;
  const KB = <usize>kStride;
  const vsc = f32x4.splat(sc);
  const zero = f32x4.splat(0);
  for (let r0 = 0; r0 < nq; r0 += 4) {
    const nr = min(4, nq - r0);
    const qb = q + <usize>r0 * DB;
    const lb = logits + <usize>r0 * LB;
    if (nr == 4) {
      const q1 = qb + DB;
      const q2 = qb + 2 * DB;
      const q3 = qb + 3 * DB;
      for (let t = 0; t < nTok; t++) {
        const kt = k + <usize>t * KB;
        let a0 = zero;
        let a1 = zero;
        let a2 = zero;
        let a3 = zero;
        for (let o: usize = 0; o < DB; o += 16) {
          const x = v128.load(kt + o);
          a0 = f32x4.add(a0, f32x4.mul(v128.load(qb + o), x));
          a1 = f32x4.add(a1, f32x4.mul(v128.load(q1 + o), x));
          a2 = f32x4.add(a2, f32x4.mul(v128.load(q2 + o), x));
          a3 = f32x4.add(a3, f32x4.mul(v128.load(q3 + o), x));
        }
        const l = f32x4.mul(hsum4(a0, a1, a2, a3), vsc);
        const lt = lb + (<usize>t << 2);
        v128.store32_lane(lt, l, 0);
        v128.store32_lane(lt + LB, l, 1);
        v128.store32_lane(lt + 2 * LB, l, 2);
        v128.store32_lane(lt + 3 * LB, l, 3);
      }
    } else {
      for (let r = 0; r < nr; r++) {
        const qk = qb + <usize>r * DB;
        const lk = lb + <usize>r * LB;
        let t = 0;
        for (; t + 4 <= nTok; t += 4) {
          const kt = k + <usize>t * KB;
          let a0 = zero;
          let a1 = zero;
          let a2 = zero;
          let a3 = zero;
          for (let o: usize = 0; o < DB; o += 16) {
            const s = v128.load(qk + o);
            a0 = f32x4.add(a0, f32x4.mul(s, v128.load(kt + o)));
            a1 = f32x4.add(a1, f32x4.mul(s, v128.load(kt + KB + o)));
            a2 = f32x4.add(a2, f32x4.mul(s, v128.load(kt + 2 * KB + o)));
            a3 = f32x4.add(a3, f32x4.mul(s, v128.load(kt + 3 * KB + o)));
          }
          v128.store(lk + (<usize>t << 2), f32x4.mul(hsum4(a0, a1, a2, a3), vsc));
        }
        for (; t < nTok; t++) {
          const kt = k + <usize>t * KB;
          let a0 = zero;
          for (let o: usize = 0; o < DB; o += 16) a0 = f32x4.add(a0, f32x4.mul(v128.load(qk + o), v128.load(kt + o)));
          const l = f32x4.mul(hsum4(a0, a0, a0, a0), vsc);
          store<f32>(lk + (<usize>t << 2), f32x4.extract_lane(l, 0));
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// values

/** Accumulator floats per row of {@link kiviAttnValues}: whole vectors of 4 words, fv slots each. */
@inline
function accRowFloats(D: i32, bits: i32): i32 {
  const fv = 32 / bits;
  return (((D / fv + 3) >> 2) * fv) << 2;
}

/** The scale of each word's channel group, one float per word (pad words repeat the last). */
@inline
function expandScales(sw: usize, sr: usize, nWV: i32, nW: i32, wpg: i32): void {
  for (let w = 0; w < nWV << 2; w++) store<f32>(sw + (<usize>w << 2), load<f32>(sr + (<usize>(min(w, nW - 1) / wpg) << 2)));
}

/**
 * `p·V` of `nq` query rows over `nTok` quantized value tokens of one chunk: token tt's codes at row
 * `tt·H + kv` of `[nTok, H, D/fv]` words, scales/mins at row `tt·H + kv` of `[nTok, H, D/Gv]`; the
 * probability of row k, token tt at `p + (k·ld + tt)·4`. Accumulates into `acc` (row k at
 * `k·accRowFloats` floats, permuted order) and `vm` (row k at `k·vmRow` floats, one per channel group).
 * Scratch `sw`: two floats per word, rounded up to whole vectors.
 */
export function kiviAttnValues(
  codes: usize,
  scales: usize,
  mins: usize,
  nTok: i32,
  H: i32,
  kv: i32,
  D: i32,
  bits: i32,
  GV: i32,
  p: usize,
  ld: i32,
  nq: i32,
  acc: usize,
  vm: usize,
  vmRow: i32,
  sw: usize,
): void {
  const fv = 32 / bits;
  const nW = D / fv;
  const nWV = (nW + 3) >> 2;
  const nGr = D / GV;
  const wpg = GV / fv;
  const AB = <usize>accRowFloats(D, bits) << 2;
  const VB = <usize>vmRow << 2;
  const CRB = <usize>nW << 2;
  const MRB = <usize>nGr << 2;
  const LB = <usize>ld << 2;
  const mask = i32x4.splat((1 << bits) - 1);
  const swB = sw + (<usize>nWV << 4);
  let tt = 0;
  // two tokens per pass: each accumulator is loaded and stored once for both (same addition order)
  for (; tt + 2 <= nTok; tt += 2) {
    const rowA = <usize>(tt * H + kv);
    const rowB = rowA + <usize>H;
    const crA = codes + rowA * CRB;
    const crB = codes + rowB * CRB;
    const mrA = mins + rowA * MRB;
    const mrB = mins + rowB * MRB;
    expandScales(sw, scales + rowA * MRB, nWV, nW, wpg);
    expandScales(swB, scales + rowB * MRB, nWV, nW, wpg);
    for (let r0 = 0; r0 < nq; r0 += 4) {
      const nr = min(4, nq - r0);
      const pt = p + <usize>r0 * LB + (<usize>tt << 2);
      const ab = acc + <usize>r0 * AB;
      const vb = vm + <usize>r0 * VB;
      if (nr == 4) {
        const pa0 = load<f32>(pt);
        const pa1 = load<f32>(pt + LB);
        const pa2 = load<f32>(pt + 2 * LB);
        const pa3 = load<f32>(pt + 3 * LB);
        const pb0 = load<f32>(pt, 4);
        const pb1 = load<f32>(pt + LB, 4);
        const pb2 = load<f32>(pt + 2 * LB, 4);
        const pb3 = load<f32>(pt + 3 * LB, 4);
        if (pa0 == 0 && pa1 == 0 && pa2 == 0 && pa3 == 0 && pb0 == 0 && pb1 == 0 && pb2 == 0 && pb3 == 0) continue;
        const va0 = f32x4.splat(pa0);
        const va1 = f32x4.splat(pa1);
        const va2 = f32x4.splat(pa2);
        const va3 = f32x4.splat(pa3);
        const vb0 = f32x4.splat(pb0);
        const vb1 = f32x4.splat(pb1);
        const vb2 = f32x4.splat(pb2);
        const vb3 = f32x4.splat(pb3);
        for (let o: usize = 0; o < MRB; o += 16) {
          const ma = v128.load(mrA + o);
          const mb = v128.load(mrB + o);
          v128.store(vb + o, f32x4.add(f32x4.add(v128.load(vb + o), f32x4.mul(va0, ma)), f32x4.mul(vb0, mb)));
          v128.store(vb + VB + o, f32x4.add(f32x4.add(v128.load(vb + VB + o), f32x4.mul(va1, ma)), f32x4.mul(vb1, mb)));
          v128.store(vb + 2 * VB + o, f32x4.add(f32x4.add(v128.load(vb + 2 * VB + o), f32x4.mul(va2, ma)), f32x4.mul(vb2, mb)));
          v128.store(vb + 3 * VB + o, f32x4.add(f32x4.add(v128.load(vb + 3 * VB + o), f32x4.mul(va3, ma)), f32x4.mul(vb3, mb)));
        }
        for (let v = 0; v < nWV; v++) {
          const xa = v128.load(crA + (<usize>v << 4));
          const xb = v128.load(crB + (<usize>v << 4));
          const sa = v128.load(sw + (<usize>v << 4));
          const sb = v128.load(swB + (<usize>v << 4));
          const ea0 = f32x4.mul(va0, sa);
          const ea1 = f32x4.mul(va1, sa);
          const ea2 = f32x4.mul(va2, sa);
          const ea3 = f32x4.mul(va3, sa);
          const eb0 = f32x4.mul(vb0, sb);
          const eb1 = f32x4.mul(vb1, sb);
          const eb2 = f32x4.mul(vb2, sb);
          const eb3 = f32x4.mul(vb3, sb);
          let a = ab + (<usize>(v * fv) << 4);
          for (let j = 0; j < fv; j++, a += 16) {
            const ca = codesAt(xa, j * bits, mask);
            const cb = codesAt(xb, j * bits, mask);
            v128.store(a, f32x4.add(f32x4.add(v128.load(a), f32x4.mul(ea0, ca)), f32x4.mul(eb0, cb)));
            v128.store(a + AB, f32x4.add(f32x4.add(v128.load(a + AB), f32x4.mul(ea1, ca)), f32x4.mul(eb1, cb)));
            v128.store(a + 2 * AB, f32x4.add(f32x4.add(v128.load(a + 2 * AB), f32x4.mul(ea2, ca)), f32x4.mul(eb2, cb)));
            v128.store(a + 3 * AB, f32x4.add(f32x4.add(v128.load(a + 3 * AB), f32x4.mul(ea3, ca)), f32x4.mul(eb3, cb)));
          }
        }
      } else {
        for (let k = 0; k < nr; k++) {
          const pa = load<f32>(pt + <usize>k * LB);
          const pb = load<f32>(pt + <usize>k * LB, 4);
          if (pa == 0 && pb == 0) continue;
          const va = f32x4.splat(pa);
          const vbb = f32x4.splat(pb);
          const vk = vb + <usize>k * VB;
          for (let o: usize = 0; o < MRB; o += 16) {
            const x = f32x4.add(v128.load(vk + o), f32x4.mul(va, v128.load(mrA + o)));
            v128.store(vk + o, f32x4.add(x, f32x4.mul(vbb, v128.load(mrB + o))));
          }
          const ak = ab + <usize>k * AB;
          for (let v = 0; v < nWV; v++) {
            const xa = v128.load(crA + (<usize>v << 4));
            const xb = v128.load(crB + (<usize>v << 4));
            const ea = f32x4.mul(va, v128.load(sw + (<usize>v << 4)));
            const eb = f32x4.mul(vbb, v128.load(swB + (<usize>v << 4)));
            let a = ak + (<usize>(v * fv) << 4);
            for (let j = 0; j < fv; j++, a += 16) {
              const x = f32x4.add(v128.load(a), f32x4.mul(ea, codesAt(xa, j * bits, mask)));
              v128.store(a, f32x4.add(x, f32x4.mul(eb, codesAt(xb, j * bits, mask))));
            }
          }
        }
      }
    }
  }
  // the last token of an odd count
  for (; tt < nTok; tt++) {
    const row = <usize>(tt * H + kv);
    const cr = codes + row * CRB;
    const sr = scales + row * MRB;
    const mr = mins + row * MRB;
    expandScales(sw, sr, nWV, nW, wpg);
    for (let r0 = 0; r0 < nq; r0 += 4) {
      const nr = min(4, nq - r0);
      const pt = p + <usize>r0 * LB + (<usize>tt << 2);
      const ab = acc + <usize>r0 * AB;
      const vb = vm + <usize>r0 * VB;
      if (nr == 4) {
        const p0 = load<f32>(pt);
        const p1 = load<f32>(pt + LB);
        const p2 = load<f32>(pt + 2 * LB);
        const p3 = load<f32>(pt + 3 * LB);
        if (p0 == 0 && p1 == 0 && p2 == 0 && p3 == 0) continue;
        const v0 = f32x4.splat(p0);
        const v1 = f32x4.splat(p1);
        const v2 = f32x4.splat(p2);
        const v3 = f32x4.splat(p3);
        for (let o: usize = 0; o < MRB; o += 16) {
          const mn = v128.load(mr + o);
          v128.store(vb + o, f32x4.add(v128.load(vb + o), f32x4.mul(v0, mn)));
          v128.store(vb + VB + o, f32x4.add(v128.load(vb + VB + o), f32x4.mul(v1, mn)));
          v128.store(vb + 2 * VB + o, f32x4.add(v128.load(vb + 2 * VB + o), f32x4.mul(v2, mn)));
          v128.store(vb + 3 * VB + o, f32x4.add(v128.load(vb + 3 * VB + o), f32x4.mul(v3, mn)));
        }
        for (let v = 0; v < nWV; v++) {
          const x = v128.load(cr + (<usize>v << 4));
          const s = v128.load(sw + (<usize>v << 4));
          const e0 = f32x4.mul(v0, s);
          const e1 = f32x4.mul(v1, s);
          const e2 = f32x4.mul(v2, s);
          const e3 = f32x4.mul(v3, s);
          let a = ab + (<usize>(v * fv) << 4);
          for (let j = 0; j < fv; j++, a += 16) {
            const c = codesAt(x, j * bits, mask);
            v128.store(a, f32x4.add(v128.load(a), f32x4.mul(e0, c)));
            v128.store(a + AB, f32x4.add(v128.load(a + AB), f32x4.mul(e1, c)));
            v128.store(a + 2 * AB, f32x4.add(v128.load(a + 2 * AB), f32x4.mul(e2, c)));
            v128.store(a + 3 * AB, f32x4.add(v128.load(a + 3 * AB), f32x4.mul(e3, c)));
          }
        }
      } else {
        for (let k = 0; k < nr; k++) {
          const pk = load<f32>(pt + <usize>k * LB);
          if (pk == 0) continue;
          const v0 = f32x4.splat(pk);
          const vk = vb + <usize>k * VB;
          for (let o: usize = 0; o < MRB; o += 16)
            v128.store(vk + o, f32x4.add(v128.load(vk + o), f32x4.mul(v0, v128.load(mr + o))));
          const ak = ab + <usize>k * AB;
          for (let v = 0; v < nWV; v++) {
            const x = v128.load(cr + (<usize>v << 4));
            const e0 = f32x4.mul(v0, v128.load(sw + (<usize>v << 4)));
            let a = ak + (<usize>(v * fv) << 4);
            for (let j = 0; j < fv; j++, a += 16)
              v128.store(a, f32x4.add(v128.load(a), f32x4.mul(e0, codesAt(x, j * bits, mask))));
          }
        }
      }
    }
  }
}

/**
 * `out[k·D + d] = f32(acc_k[perm(d)] + vm_k[d/Gv])` for `nq` rows: the quantized-value part of `p·V` in
 * channel order.
 */
export function kiviAttnValuesFinish(acc: usize, vm: usize, vmRow: i32, nq: i32, D: i32, bits: i32, GV: i32, out: usize): void {
  const fv = 32 / bits;
  const AB = <usize>accRowFloats(D, bits) << 2;
  const VB = <usize>vmRow << 2;
  const DB = <usize>D << 2;
  for (let k = 0; k < nq; k++) {
    const ak = acc + <usize>k * AB;
    const vk = vm + <usize>k * VB;
    const ok = out + <usize>k * DB;
    for (let d = 0; d < D; d++) {
      const w = d / fv;
      const j = d - w * fv;
      const idx = (((w >> 2) * fv + j) << 2) + (w & 3);
      store<f32>(ok + (<usize>d << 2), load<f32>(ak + (<usize>idx << 2)) + load<f32>(vk + (<usize>(d / GV) << 2)));
    }
  }
}

/**
 * `acc_k[d] += f32(p_k·v_d)` for `nq` rows over `nTok` float32 value tokens (token t at
 * `v + t·vStride`); acc rows of D floats in channel order.
 */
export function kiviAttnValuesF32(
  v: usize,
  nTok: i32,
  vStride: i32,
  D: i32,
  p: usize,
  ld: i32,
  nq: i32,
  acc: usize,
): void {
  const DB = <usize>D << 2;
  const LB = <usize>ld << 2;
  for (let t = 0; t < nTok; t++) {
    const vt = v + <usize>t * <usize>vStride;
    for (let r0 = 0; r0 < nq; r0 += 4) {
      const nr = min(4, nq - r0);
      const pt = p + <usize>r0 * LB + (<usize>t << 2);
      const ab = acc + <usize>r0 * DB;
      if (nr == 4) {
        const p0 = load<f32>(pt);
        const p1 = load<f32>(pt + LB);
        const p2 = load<f32>(pt + 2 * LB);
        const p3 = load<f32>(pt + 3 * LB);
        if (p0 == 0 && p1 == 0 && p2 == 0 && p3 == 0) continue;
        const v0 = f32x4.splat(p0);
        const v1 = f32x4.splat(p1);
        const v2 = f32x4.splat(p2);
        const v3 = f32x4.splat(p3);
        for (let o: usize = 0; o < DB; o += 16) {
          const x = v128.load(vt + o);
          const a = ab + o;
          v128.store(a, f32x4.add(v128.load(a), f32x4.mul(v0, x)));
          v128.store(a + DB, f32x4.add(v128.load(a + DB), f32x4.mul(v1, x)));
          v128.store(a + 2 * DB, f32x4.add(v128.load(a + 2 * DB), f32x4.mul(v2, x)));
          v128.store(a + 3 * DB, f32x4.add(v128.load(a + 3 * DB), f32x4.mul(v3, x)));
        }
      } else {
        for (let k = 0; k < nr; k++) {
          const pk = load<f32>(pt + <usize>k * LB);
          if (pk == 0) continue;
          const v0 = f32x4.splat(pk);
          const a = ab + <usize>k * DB;
          for (let o: usize = 0; o < DB; o += 16)
            v128.store(a + o, f32x4.add(v128.load(a + o), f32x4.mul(v0, v128.load(vt + o))));
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// softmax

// float32 constants of the exp (the JS twin's E_* constants in src/kivi/attention.ts)
const E_LOG2E: f32 = 1.4426950408889634; // Math.LOG2E
const E_C1: f32 = 0.693359375;
const E_C2: f32 = -2.1219444e-4;
const E_P0: f32 = 1.98756915e-4;
const E_P1: f32 = 1.3981999507e-3;
const E_P2: f32 = 8.3334519073e-3;
const E_P3: f32 = 4.1665795894e-2;
const E_P4: f32 = 1.6666665459e-1;
const E_P5: f32 = 5.0000001201e-1;
const MAGIC: f32 = 12582912; // 1.5·2^23: t + MAGIC rounds t to an integer (half-even), n in its low bits

/** `expNeg` of src/kivi/attention.ts on four lanes: 0 below −87 (and for NaN), else f32(y·2^n). */
@inline
function expNeg4(x: v128): v128 {
  const m = f32x4.add(f32x4.mul(x, f32x4.splat(E_LOG2E)), f32x4.splat(MAGIC));
  const k = f32x4.sub(m, f32x4.splat(MAGIC));
  let r = f32x4.sub(x, f32x4.mul(k, f32x4.splat(E_C1)));
  r = f32x4.sub(r, f32x4.mul(k, f32x4.splat(E_C2)));
  let y = f32x4.add(f32x4.mul(f32x4.splat(E_P0), r), f32x4.splat(E_P1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(E_P2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(E_P3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(E_P4));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(E_P5));
  y = f32x4.add(f32x4.add(f32x4.mul(y, f32x4.mul(r, r)), r), f32x4.splat(1));
  // 2^n from the bits of m = 0x4B400000 + n (n ≥ −126 wherever x ≥ −87)
  const p2 = i32x4.shl(i32x4.sub(m, i32x4.splat(0x4b400000 - 127)), 23);
  return v128.and(f32x4.mul(y, p2), f32x4.ge(x, f32x4.splat(-87)));
}

/**
 * Softmax of `nq` rows of logits in place (`softmaxRow` of src/kivi/attention.ts): row k (query row
 * r0 + k of m per head) sees `lim = causal ? T − m + (r0 + k) mod m + 1 : T` tokens; p = expNeg(f32(x −
 * max)), tokens [lim, T) get 0; `Σ p` (float64, token order) to `sums + 8k`.
 */
export function kiviAttnSoftmax(logits: usize, ld: i32, nq: i32, T: i32, m: i32, r0: i32, causal: i32, sums: usize): void {
  for (let k = 0; k < nq; k++) {
    const lim = causal != 0 ? T - m + ((r0 + k) % m) + 1 : T;
    const x = logits + ((<usize>k * <usize>ld) << 2);
    const l4 = lim & ~3;
    let mx = f32x4.splat(load<f32>(x));
    for (let t = 0; t < l4; t += 4) mx = f32x4.pmax(mx, v128.load(x + (<usize>t << 2)));
    // `if (v > mx) mx = v` as in JS (pmax too skips a NaN v; a NaN first element stays)
    let mxs = f32x4.extract_lane(mx, 0);
    let v = f32x4.extract_lane(mx, 1);
    if (v > mxs) mxs = v;
    v = f32x4.extract_lane(mx, 2);
    if (v > mxs) mxs = v;
    v = f32x4.extract_lane(mx, 3);
    if (v > mxs) mxs = v;
    for (let t = l4; t < lim; t++) {
      v = load<f32>(x + (<usize>t << 2));
      if (v > mxs) mxs = v;
    }
    const vmx = f32x4.splat(mxs);
    for (let t = 0; t < l4; t += 4) {
      const p = x + (<usize>t << 2);
      v128.store(p, expNeg4(f32x4.sub(v128.load(p), vmx)));
    }
    for (let t = l4; t < lim; t++) {
      const p = x + (<usize>t << 2);
      store<f32>(p, f32x4.extract_lane(expNeg4(f32x4.splat(load<f32>(p) - mxs)), 0));
    }
    let sum: f64 = 0;
    for (let t = 0; t < lim; t++) sum += <f64>load<f32>(x + (<usize>t << 2));
    store<f64>(sums + (<usize>k << 3), sum);
    if (lim < T) memory.fill(x + (<usize>lim << 2), 0, <usize>(T - lim) << 2);
  }
}
