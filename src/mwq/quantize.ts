/**
 * `quantizeNested`: build a {@link NestedWeights} from a float32 weight `[out, in]` (groups of `groupSize`
 * consecutive weights along `in`).
 *
 * Slicing schemes (`'matquant'`, `'truncate'`) share one c-bit parent per group (mwq.md §1), all float32:
 * `[mn, mx]` = group min/max (a constant group is widened to include 0), `α = fl(fl(mx − mn)/(2^c − 1))`,
 * `z = rne(fl(−mn/α))`, `q = clamp(round(fl(fl(w/α) + z)), 0, 2^c − 1)`; an all-zero group has α = z = 0.
 * `round` is the configured rounding policy (default half-even); `fl` is rounding to float32. This matches
 * numpy float32 arithmetic operation for operation.
 *
 * The residual scheme lives in residual.ts.
 *
 * Exposed: quantizeNested, quantizeNestedRef. Internal: checkWeight, quantizeSlicingCodes, quantizeSlicingCodesRef.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { rounder } from '../common/rounding.js';
import type { Float32Tensor } from '../common/tensor.js';
import { type NestedConfig, type NestedOptions, normalizeNestedOptions } from './config.js';
import { type NestedData, NestedWeights } from './nested.js';
import { packPlanesRef, packPlanesUnchecked } from './planes.js';
import { quantizeResidual } from './residual.js';

const MAGIC = 6755399441055744; // 1.5·2^52: (v + M) − M rounds half to even for |v| < 2^51

/** Validate a weight tensor: float32, rank 2, non-empty, finite. Internal. */
export function checkWeight(w: Float32Tensor, who: string): [number, number] {
  if (w === null || typeof w !== 'object' || !(w.data instanceof Float32Array))
    fail('E_DTYPE', `${who}: expected a float32 tensor { dtype, data: Float32Array, shape: [out, in] }`);
  if (w.dtype !== 'float32') fail('E_DTYPE', `${who}: expected dtype float32, got ${w.dtype}`);
  if (!Array.isArray(w.shape) || w.shape.length !== 2)
    fail('E_SHAPE', `${who}: expected a weight of rank 2 [out, in], got shape [${String(w.shape)}]`);
  const [rows, cols] = w.shape as [number, number];
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 1 || cols < 1)
    fail('E_SHAPE', `${who}: expected positive dimensions, got [${rows}, ${cols}]`);
  if (rows * cols > 2 ** 32) fail('E_LIMIT', `${who}: out·in = ${rows * cols} is above the 2^32 limit`);
  check(
    w.data.length === rows * cols,
    'E_SHAPE',
    () => `${who}: shape [${rows}, ${cols}] needs ${rows * cols} values, data has ${w.data.length}`,
  );
  const d = w.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v - v !== 0)
      fail(
        'E_NONFINITE',
        `${who}: weight ${i} (row ${Math.floor(i / cols)}, col ${i % cols}) is ${v}; weights must be finite`,
      );
  }
  return [rows, cols];
}

/**
 * Fast slicing-parent kernel: α, z per group and the c-bit codes. Half-even rounding is inlined (magic
 * constant); other policies call the policy's scalar function. Internal.
 */
export function quantizeSlicingCodes(
  w: Float32Array,
  G: number,
  c: number,
  cfg: NestedConfig,
  codes: Uint8Array,
  scales: Float32Array,
  zeros: Float32Array,
): void {
  const qmax = (1 << c) - 1;
  const nG = w.length / G;
  const rne = cfg.rounding.mode === 'half-even';
  const round = rounder(cfg.rounding as NestedOptions['rounding']);
  for (let g = 0; g < nG; g++) {
    const i0 = g * G;
    const i1 = i0 + G;
    let mn = w[i0]!;
    let mx = mn;
    for (let i = i0 + 1; i < i1; i++) {
      const v = w[i]!;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    if (mn === mx) {
      if (mn > 0) mn = 0;
      if (mx < 0) mx = 0;
    }
    let a = Math.fround(Math.fround(mx - mn) / qmax);
    if (a === Infinity) a = Math.fround((mx - mn) / qmax);
    if (a === 0) {
      scales[g] = 0;
      zeros[g] = 0;
      codes.fill(0, i0, i1);
      continue;
    }
    const zf = Math.fround(-mn / a);
    const z = zf + MAGIC - MAGIC;
    scales[g] = a;
    zeros[g] = z;
    if (rne) {
      for (let i = i0; i < i1; i++) {
        const t = Math.fround(Math.fround(w[i]! / a) + z);
        const q = t + MAGIC - MAGIC;
        codes[i] = q < 0 ? 0 : Math.min(q, qmax);
      }
    } else {
      for (let i = i0; i < i1; i++) {
        const q = round(Math.fround(Math.fround(w[i]! / a) + z));
        codes[i] = q < 0 ? 0 : Math.min(q, qmax);
      }
    }
  }
}

/** Reference twin of {@link quantizeSlicingCodes}: one element at a time, explicit policy calls. Internal. */
export function quantizeSlicingCodesRef(
  w: Float32Array,
  G: number,
  c: number,
  cfg: NestedConfig,
): { codes: Uint8Array; scales: Float32Array; zeros: Float32Array } {
  const round = rounder(cfg.rounding as NestedOptions['rounding']);
  const rne = rounder('half-even');
  const nG = w.length / G;
  const codes = new Uint8Array(w.length);
  const scales = new Float32Array(nG);
  const zeros = new Float32Array(nG);
  const qmax = 2 ** c - 1;
  for (let g = 0; g < nG; g++) {
    const grp = Array.from(w.subarray(g * G, (g + 1) * G));
    let mn = Math.min(...grp);
    let mx = Math.max(...grp);
    if (mn === mx) {
      mn = Math.min(mn, 0);
      mx = Math.max(mx, 0);
    }
    let a = Math.fround(Math.fround(mx - mn) / qmax);
    if (!Number.isFinite(a)) a = Math.fround((mx - mn) / qmax);
    const z = a === 0 ? 0 : rne(Math.fround(-mn / a)) + 0; // + 0: store −0 as +0
    scales[g] = a;
    zeros[g] = z;
    for (let j = 0; j < G; j++) {
      const q = a === 0 ? 0 : round(Math.fround(Math.fround(grp[j]! / a) + z));
      codes[g * G + j] = Math.min(qmax, Math.max(0, q));
    }
  }
  return { codes, scales, zeros };
}

function build(w: Float32Tensor, opts: NestedOptions, ref: boolean, who: string): NestedWeights {
  const [rows, cols] = checkWeight(w, who);
  const cfg = normalizeNestedOptions(opts, cols);
  const n = rows * cols;
  const G = cfg.groupSize;
  const nG = n / G;
  if (cfg.scheme === 'residual') {
    const r = quantizeResidual(w.data, rows, cols, cfg, opts.calibration, who);
    const planes = ref
      ? packPlanesRef(r.codes, cfg.bits)
      : packPlanesUnchecked(r.codes, cfg.bits, new Uint32Array(cfg.bits * Math.ceil(n / 32)));
    const data: NestedData = {
      scheme: 'residual',
      variant: 'residual',
      base: cfg.base,
      bits: cfg.bits,
      baseBits: cfg.baseBits,
      groupSize: G,
      rows,
      cols,
      planes,
      scales: r.scales,
      zeros: r.zeros,
      levelScales: r.levelScales,
    };
    return new NestedWeights(data, { groups: nG, pow2Fallbacks: r.pow2Fallbacks });
  }
  let codes: Uint8Array;
  let scales: Float32Array;
  let zeros: Float32Array;
  if (ref) ({ codes, scales, zeros } = quantizeSlicingCodesRef(w.data, G, cfg.bits, cfg));
  else {
    codes = new Uint8Array(n);
    scales = new Float32Array(nG);
    zeros = new Float32Array(nG);
    quantizeSlicingCodes(w.data, G, cfg.bits, cfg, codes, scales, zeros);
  }
  const data: NestedData = {
    scheme: cfg.scheme,
    variant: cfg.variant,
    base: 'minmax',
    bits: cfg.bits,
    baseBits: cfg.bits,
    groupSize: G,
    rows,
    cols,
    planes: ref
      ? packPlanesRef(codes, cfg.bits)
      : packPlanesUnchecked(codes, cfg.bits, new Uint32Array(cfg.bits * Math.ceil(n / 32))),
    scales,
    zeros,
    levelScales: new Float32Array(0),
  };
  return new NestedWeights(data);
}

/**
 * Quantize a weight `[out, in]` into bit-nested form.
 *
 * - `'matquant'`: one int-c code per weight; level r is MatQuant's slice
 *   clamp(round_half_up(q / 2^(c−r)), 0, 2^r − 1)·2^(c−r) (variant `'round-noclamp'` drops the clamp),
 *   dequantized with the int-c α and z; reads r + 1 planes.
 * - `'truncate'`: level r keeps the top r bits and reconstructs at the bucket centre (`'trunc-mid'`;
 *   `'trunc'` at the bucket floor); reads r planes (prefix-readable).
 * - `'residual'` (D²MoE MWQ): a `baseBits`-bit asymmetric base plus one ±1 plane per extra bit, each with
 *   its own per-group scale: least squares on W (data-free; s_k = mean|R|), or on ‖(w − ŵ)·Xᵀ‖² per group
 *   and level when `calibration` `[T, in]` is given; `planeScales: 'pow2'` uses s₁/4, s₁/8, …
 *
 * Errors: `E_CONFIG` (bits outside 2..8, bad option), `E_SHAPE` (not rank 2, group size not dividing
 * `in`, calibration width), `E_DTYPE` (not float32), `E_NONFINITE` (NaN/±Inf weight or activation).
 * The input is never modified.
 *
 * @example
 * ```ts
 * import { quantizeNested } from 'lowbit/mwq';
 * const w = { dtype: 'float32', data: new Float32Array(64 * 256).map((_, i) => Math.sin(i)), shape: [64, 256] } as const;
 * const nw = quantizeNested(w, { scheme: 'truncate', bits: 8, groupSize: 128 });
 * const w3 = nw.dequantize(3); // float32 [64, 256] from the top 3 planes
 * ```
 */
export function quantizeNested(w: Float32Tensor, opts: NestedOptions): NestedWeights {
  return build(w, opts, false, 'quantizeNested');
}

/**
 * Reference twin of {@link quantizeNested}: scalar per-element quantization and bit-by-bit plane packing.
 * Produces a bit-identical store (same `serialize()` bytes). The residual fit has one implementation,
 * shared by both.
 *
 * @example
 * ```ts
 * quantizeNestedRef(w, { scheme: 'matquant' }).serialize(); // same bytes as quantizeNested(w, …).serialize()
 * ```
 */
export function quantizeNestedRef(w: Float32Tensor, opts: NestedOptions): NestedWeights {
  return build(w, opts, true, 'quantizeNestedRef');
}
