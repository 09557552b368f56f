/**
 * Smoothing scales and their exact fusion into weights (MambaQuant's smooth-fused rotation):
 * `x' = (x ⊘ s)·R`, `W' = (W·diag(s))·R`, so `x'·W'ᵀ = x·Wᵀ`; for the Mamba out_proj input
 * u = y ⊙ SiLU(z), 1/s goes into the gate rows of in_proj and the SiLU becomes the scaled S-SiLU
 * z'·σ(s ⊙ z') = SiLU(z)/s, while s goes into the out_proj columns.
 *
 * Exposed: channelAbsMax, smoothScales, fuseLinear, FusedLinear, smoothFuseGate, SmoothFusedGate,
 * scaledSilu. Internal: checkFinite, checkScales.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { assertShape, type Float32Tensor, tensor } from '../common/tensor.js';
import { checkRows, type Rotation } from './rotation.js';

/** Throw E_NONFINITE on the first NaN/±Inf of `a`. */
export function checkFinite(a: ArrayLike<number>, who: string, what: string): void {
  for (let i = 0; i < a.length; i++)
    if (!Number.isFinite(a[i]!)) fail('E_NONFINITE', `${who}: ${what}[${i}] is ${a[i]}; expected finite values`);
}

/** Validate per-channel scales: n positive finite numbers. Returns them as a Float32Array copy. */
export function checkScales(s: ArrayLike<number>, n: number, who: string): Float32Array {
  check(
    s !== null && typeof s === 'object' && typeof s.length === 'number',
    'E_CONFIG',
    `${who}: scales must be an array of numbers`,
  );
  check(s.length === n, 'E_SHAPE', () => `${who}: ${s.length} scales for ${n} channels`);
  const out = Float32Array.from(s);
  for (let i = 0; i < n; i++) {
    const v = out[i]!;
    if (!(Number.isFinite(v) && v > 0))
      fail('E_CONFIG', `${who}: scale ${i} is ${v}; expected a positive finite number`);
  }
  return out;
}

/**
 * Per-channel max |x| over all rows of a float32 tensor (last axis = channel), e.g. calibration
 * activations `[N, n]` or a weight `[out, in]` (giving max over each input column). Throws E_NONFINITE.
 *
 * @example
 * ```ts
 * channelAbsMax(float32([1, -3, -2, 0.5], [2, 2])); // [2, 3]
 * ```
 */
export function channelAbsMax(x: Float32Tensor): Float32Array {
  assertShape(x, 'channelAbsMax', { dtype: 'float32', minRank: 1 });
  const n = x.shape[x.shape.length - 1]!;
  const out = new Float32Array(n);
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (!Number.isFinite(v)) fail('E_NONFINITE', `channelAbsMax: element ${i} is ${v}`);
    const a = Math.abs(v);
    const j = i % n;
    if (a > out[j]!) out[j] = a;
  }
  return out;
}

/**
 * SmoothQuant/MambaQuant scales `s_j = max(actAbsMax_j^α / max(weightAbsMax_j, 1e-5)^(1−α), min)`,
 * computed in float64 and returned as float32.
 *
 * @example
 * ```ts
 * smoothScales([16, 1], [0.25, 1]); // [8, 1]
 * ```
 */
export function smoothScales(
  actAbsMax: ArrayLike<number>,
  weightAbsMax: ArrayLike<number>,
  opts: { alpha?: number; min?: number } = {},
): Float32Array {
  const alpha = opts.alpha ?? 0.5;
  const min = opts.min ?? 1e-2;
  check(
    Number.isFinite(alpha) && alpha >= 0 && alpha <= 1,
    'E_CONFIG',
    `smoothScales: alpha must be in [0, 1], got ${alpha}`,
  );
  check(Number.isFinite(min) && min > 0, 'E_CONFIG', `smoothScales: min must be a positive number, got ${min}`);
  check(
    actAbsMax.length === weightAbsMax.length,
    'E_SHAPE',
    () => `smoothScales: ${actAbsMax.length} activation maxima but ${weightAbsMax.length} weight maxima`,
  );
  checkFinite(actAbsMax, 'smoothScales', 'actAbsMax');
  checkFinite(weightAbsMax, 'smoothScales', 'weightAbsMax');
  const n = actAbsMax.length;
  const s = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const a = actAbsMax[j]!;
    const w = weightAbsMax[j]!;
    if (a < 0 || w < 0) fail('E_CONFIG', `smoothScales: maxima must be >= 0 (channel ${j}: ${a}, ${w})`);
    const v = a ** alpha / Math.max(w, 1e-5) ** (1 - alpha);
    s[j] = Math.max(v, min);
  }
  return s;
}

/**
 * A linear layer with scales and a rotation folded in; see {@link fuseLinear}.
 *
 * @example
 * ```ts
 * const f = fuseLinear({ weight }, { inputScales: s });
 * f.transformInput(x); // (x ⊘ s)
 * ```
 */
export interface FusedLinear {
  /** W' = (W·diag(s))·R, `[out, in]`. */
  readonly weight: Float32Tensor;
  /** The bias, copied (unchanged by input-side transforms). */
  readonly bias: Float32Array | undefined;
  readonly scales: Float32Array | undefined;
  readonly rotation: Rotation | undefined;
  /** x' = (x ⊘ s)·R along the last axis (new tensor), so x'·W'ᵀ = x·Wᵀ. */
  transformInput(x: Float32Tensor): Float32Tensor;
}

/**
 * Fold input scales s and/or a rotation R into a linear layer y = x·Wᵀ + b: returns W' = (W·diag(s))·R
 * and the matching input transform x' = (x ⊘ s)·R, so that x'·W'ᵀ = x·Wᵀ.
 *
 * @example
 * ```ts
 * const f = fuseLinear({ weight }, { inputRotation: hadamardRotation(64), inputScales: s });
 * // f.transformInput(x) · f.weightᵀ equals x · weightᵀ
 * ```
 */
export function fuseLinear(
  layer: { weight: Float32Tensor; bias?: Float32Array },
  opts: { inputRotation?: Rotation; inputScales?: ArrayLike<number> } = {},
): FusedLinear {
  check(layer !== null && typeof layer === 'object', 'E_CONFIG', 'fuseLinear: expected { weight, bias? }');
  const W = layer.weight;
  assertShape(W, 'fuseLinear', { dtype: 'float32', rank: 2 });
  const [out, inp] = W.shape as [number, number];
  checkFinite(W.data, 'fuseLinear', 'weight');
  let bias: Float32Array | undefined;
  if (layer.bias !== undefined) {
    check(layer.bias instanceof Float32Array, 'E_DTYPE', 'fuseLinear: bias must be a Float32Array');
    check(
      layer.bias.length === out,
      'E_SHAPE',
      () => `fuseLinear: bias has ${layer.bias!.length} entries, weight has ${out} rows`,
    );
    bias = Float32Array.from(layer.bias);
  }
  const s = opts.inputScales === undefined ? undefined : checkScales(opts.inputScales, inp, 'fuseLinear');
  const R = opts.inputRotation;
  if (R !== undefined)
    check(R.n === inp, 'E_SHAPE', () => `fuseLinear: rotation has n = ${R.n}, weight has ${inp} inputs`);
  let w: Float32Array = Float32Array.from(W.data);
  if (s !== undefined)
    for (let o = 0; o < out; o++) for (let j = 0; j < inp; j++) w[o * inp + j] = w[o * inp + j]! * s[j]!;
  if (R !== undefined) w = R.apply(tensor('float32', w, [out, inp])).data;
  const transformInput = (x: Float32Tensor): Float32Tensor => {
    const rows = checkRows(x, inp, 'fuseLinear.transformInput');
    let y: Float32Array = Float32Array.from(x.data);
    if (s !== undefined)
      for (let t = 0; t < rows; t++) for (let j = 0; j < inp; j++) y[t * inp + j] = y[t * inp + j]! / s[j]!;
    if (R !== undefined) y = R.apply(tensor('float32', y, [rows, inp])).data;
    return tensor('float32', y, x.shape);
  };
  return Object.freeze({ weight: tensor('float32', w, [out, inp]), bias, scales: s, rotation: R, transformInput });
}

/**
 * Result of {@link smoothFuseGate}.
 *
 * @example
 * ```ts
 * const { inProj, outProj, gateScale } = smoothFuseGate({ inProj: Win, outProj: Wout, dInner: 128, scales: s });
 * ```
 */
export interface SmoothFusedGate {
  /** in_proj with its gate (z) rows divided by s. */
  readonly inProj: Float32Tensor;
  /** out_proj with column j multiplied by s_j (then ·R when a rotation is given). */
  readonly outProj: Float32Tensor;
  /** Per-channel s for the scaled SiLU z'·σ(s ⊙ z') (see {@link scaledSilu}). */
  readonly gateScale: Float32Array;
  /** The online rotation to apply to u' = y ⊙ S-SiLU(z') before out_proj, if any. */
  readonly rotation: Rotation | undefined;
}

/**
 * Smooth-fuse the Mamba out_proj input u = y ⊙ SiLU(z), z = the gate half of in_proj
 * (`inProj` `[2·dInner, dModel]`, rows [dInner, 2·dInner) are z; no bias), `outProj` `[dModel, dInner]`:
 * gate rows ← rows / s, out_proj columns ← columns · s (then ·R with `rotation`), and the block must use
 * `scaledSilu(z', gateScale)` (= SiLU(z)/s) in place of SiLU(z), followed by `rotation.apply` online.
 * The block output is unchanged (to float32 rounding).
 *
 * @example
 * ```ts
 * const g = smoothFuseGate({ inProj: Win, outProj: Wout, dInner: 128, scales: s, rotation: hadamardRotation(128) });
 * // u' = g.rotation.apply(y ⊙ scaledSilu(z', g.gateScale)); out = u'·g.outProjᵀ
 * ```
 */
export function smoothFuseGate(args: {
  inProj: Float32Tensor;
  outProj: Float32Tensor;
  dInner: number;
  scales: ArrayLike<number>;
  rotation?: Rotation;
}): SmoothFusedGate {
  check(
    args !== null && typeof args === 'object',
    'E_CONFIG',
    'smoothFuseGate: expected { inProj, outProj, dInner, scales }',
  );
  const { inProj, outProj, dInner } = args;
  check(
    Number.isSafeInteger(dInner) && dInner >= 1,
    'E_CONFIG',
    `smoothFuseGate: dInner must be a positive integer, got ${dInner}`,
  );
  assertShape(inProj, 'smoothFuseGate(inProj)', { dtype: 'float32', rank: 2 });
  assertShape(outProj, 'smoothFuseGate(outProj)', { dtype: 'float32', rank: 2 });
  const dModel = inProj.shape[1]!;
  check(
    inProj.shape[0] === 2 * dInner,
    'E_SHAPE',
    () => `smoothFuseGate: inProj must be [2·dInner = ${2 * dInner}, dModel], got [${inProj.shape.join(', ')}]`,
  );
  check(
    outProj.shape[1] === dInner,
    'E_SHAPE',
    () => `smoothFuseGate: outProj must be [dModel, dInner = ${dInner}], got [${outProj.shape.join(', ')}]`,
  );
  checkFinite(inProj.data, 'smoothFuseGate', 'inProj');
  checkFinite(outProj.data, 'smoothFuseGate', 'outProj');
  const s = checkScales(args.scales, dInner, 'smoothFuseGate');
  const R = args.rotation;
  if (R !== undefined)
    check(R.n === dInner, 'E_SHAPE', () => `smoothFuseGate: rotation has n = ${R.n}, dInner is ${dInner}`);
  const inW = Float32Array.from(inProj.data);
  for (let j = 0; j < dInner; j++) {
    const ro = (dInner + j) * dModel;
    const sj = s[j]!;
    for (let c = 0; c < dModel; c++) inW[ro + c] = inW[ro + c]! / sj;
  }
  const dOut = outProj.shape[0]!;
  let outW: Float32Array = Float32Array.from(outProj.data);
  for (let o = 0; o < dOut; o++) for (let j = 0; j < dInner; j++) outW[o * dInner + j] = outW[o * dInner + j]! * s[j]!;
  if (R !== undefined) outW = R.apply(tensor('float32', outW, [dOut, dInner])).data;
  return Object.freeze({
    inProj: tensor('float32', inW, inProj.shape),
    outProj: tensor('float32', outW, outProj.shape),
    gateScale: s,
    rotation: R,
  });
}

/**
 * The scaled SiLU of a smooth-fused gate: `z'·σ(s ⊙ z')` along the last axis (new tensor, float64
 * inside, one float32 rounding). With z' = z/s this equals SiLU(z)/s.
 *
 * @example
 * ```ts
 * scaledSilu(float32([0.5], [1, 1]), [2]).data; // [SiLU(1)/2]
 * ```
 */
export function scaledSilu(z: Float32Tensor, gateScale: ArrayLike<number>): Float32Tensor {
  assertShape(z, 'scaledSilu', { dtype: 'float32', minRank: 1 });
  const n = z.shape[z.shape.length - 1]!;
  const s = checkScales(gateScale, n, 'scaledSilu');
  const out = new Float32Array(z.data.length);
  const d = z.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    out[i] = v / (1 + Math.exp(-s[i % n]! * v));
  }
  return tensor('float32', out, z.shape);
}
