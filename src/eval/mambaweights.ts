/**
 * W·A fake quantization of mamba-tiny's linear layers behind each rotation transform of
 * lowbit/mambaquant (calibrated on the model's own activations), and MambaQuant's smooth-fused out_proj
 * gate: the smoothing scales of the out_proj input are folded into the gate rows of in_proj and the
 * columns of out_proj, and the gate becomes z·σ(s·z) (`smoothFuseGate`).
 *
 * Exposed: MAMBA_SITES, MambaCalibration, captureMambaInputs, smoothFusedMamba, MambaWaSpec,
 * rotatedMambaLinear.
 * @module
 */
import type { Float32Tensor } from '../common/tensor.js';
import {
  channelAbsMax,
  hasHadamard,
  type LinearTransform,
  type QuantizedLinear,
  quantizeLinear,
  smoothFuseGate,
  smoothScales,
} from '../mambaquant/index.js';
import { type MambaLayerWeights, type MambaLinear, MambaModel, type MambaSite } from './mamba.js';

/**
 * The linear sites of a Mamba block in forward order.
 *
 * @example
 * ```ts
 * MAMBA_SITES.length; // 4
 * ```
 */
export const MAMBA_SITES: readonly MambaSite[] = ['in_proj', 'x_proj', 'dt_proj', 'out_proj'];

/**
 * Captured inputs of every linear site: `[site][layer]` as `[rows, in]`.
 *
 * @example
 * ```ts
 * const cal: MambaCalibration = captureMambaInputs(model, windows);
 * ```
 */
export type MambaCalibration = Record<MambaSite, Float32Tensor[]>;

/**
 * Run `windows` through the float32 `model` and stack the inputs of every linear site per layer.
 *
 * @example
 * ```ts
 * const cal = captureMambaInputs(model, bosWindows(loadMambaHeldout(), { count: 4, length: 128, from: 30000 }));
 * cal.out_proj[0].shape; // [512, 192]
 * ```
 */
export function captureMambaInputs(model: MambaModel, windows: readonly (readonly number[])[]): MambaCalibration {
  const parts = {} as Record<MambaSite, Float32Array[][]>;
  const widths = {} as Record<MambaSite, number>;
  for (const s of MAMBA_SITES) parts[s] = Array.from({ length: model.config.nLayer }, () => []);
  for (const w of windows)
    model.forward(w, {
      onInput(site, layer, x, _rows, inDim) {
        parts[site][layer]!.push(Float32Array.from(x));
        widths[site] = inDim;
      },
    });
  const out = {} as MambaCalibration;
  for (const s of MAMBA_SITES)
    out[s] = parts[s].map((chunks) => {
      const n = chunks.reduce((a, c) => a + c.length, 0);
      const data = new Float32Array(n);
      let o = 0;
      for (const c of chunks) {
        data.set(c, o);
        o += c.length;
      }
      return { dtype: 'float32', data, shape: [n / widths[s], widths[s]] };
    });
  return out;
}

/**
 * A copy of `model` with MambaQuant's smooth-fused gate in every layer: s = smoothScales(absmax of the
 * calibration out_proj input, absmax of out_proj's columns, α), gate rows of in_proj divided by s,
 * out_proj columns multiplied by s, and the gate z'·σ(s·z'). Output-preserving up to float32 rounding;
 * the out_proj input becomes y·SiLU(z)/s (smoothed).
 *
 * @example
 * ```ts
 * const fused = smoothFusedMamba(model, cal.out_proj, 0.5);
 * ```
 */
export function smoothFusedMamba(model: MambaModel, outProjInputs: readonly Float32Tensor[], alpha = 0.5): MambaModel {
  const { dInner, dModel } = model.config;
  const layers: MambaLayerWeights[] = model.weights.layers.map((w, l) => {
    const outProj: Float32Tensor = { dtype: 'float32', data: w.outProj, shape: [dModel, dInner] };
    const s = smoothScales(channelAbsMax(outProjInputs[l]!), channelAbsMax(outProj), { alpha });
    const g = smoothFuseGate({
      inProj: { dtype: 'float32', data: w.inProj, shape: [2 * dInner, dModel] },
      outProj,
      dInner,
      scales: s,
    });
    return { ...w, inProj: g.inProj.data, outProj: g.outProj.data, gateScale: g.gateScale };
  });
  return new MambaModel(model.config, { ...model.weights, layers });
}

/**
 * W·A fake quantization settings for mamba.
 *
 * @example
 * ```ts
 * const s: MambaWaSpec = { weightBits: 8, activationBits: 4, transform: 'smooth-hadamard', fusedGate: true };
 * ```
 */
export interface MambaWaSpec {
  readonly weightBits: number;
  readonly activationBits: number;
  readonly transform: LinearTransform;
  /**
   * Smooth the out_proj input through the gate ({@link smoothFusedMamba}) instead of an online scale:
   * out_proj then uses the transform without its `smooth-` part. Only with a `smooth-*` transform.
   */
  readonly fusedGate?: boolean;
}

function weightOf(w: MambaLayerWeights, site: MambaSite): Float32Array {
  switch (site) {
    case 'in_proj':
      return w.inProj;
    case 'x_proj':
      return w.xProj;
    case 'dt_proj':
      return w.dtProj;
    case 'out_proj':
      return w.outProj;
  }
}

/**
 * The linear-layer replacement of `model` (use the returned `model`: it is the smooth-fused copy with
 * `fusedGate`): every linear layer through `quantizeLinear` (per-token activations, per-channel
 * weights, symmetric, after the transform fitted on `calibration`). A site whose width has no Hadamard
 * (dt_proj: 6 inputs) is quantized with transform `'none'`; `notes` says so.
 *
 * @example
 * ```ts
 * const q = rotatedMambaLinear(model, cal, { weightBits: 8, activationBits: 8, transform: 'hadamard' });
 * const logits = q.model.forward(tokens, { linear: q.linear });
 * ```
 */
export function rotatedMambaLinear(
  model: MambaModel,
  calibration: MambaCalibration,
  spec: MambaWaSpec,
  calibrationWindows?: readonly (readonly number[])[],
): { model: MambaModel; linear: MambaLinear; layers: Map<string, QuantizedLinear>; notes: string[] } {
  let m = model;
  let cal = calibration;
  const notes: string[] = [];
  const smooth = spec.transform.startsWith('smooth-');
  if (spec.fusedGate === true) {
    if (!smooth) notes.push(`fusedGate ignored: transform '${spec.transform}' does not smooth`);
    else {
      m = smoothFusedMamba(model, calibration.out_proj);
      // the fused model's own out_proj inputs (smoothed) for the rotation fit
      if (calibrationWindows !== undefined) cal = captureMambaInputs(m, calibrationWindows);
      else {
        const s = m.weights.layers.map((w) => w.gateScale!);
        cal = {
          ...calibration,
          out_proj: calibration.out_proj.map((t, l) => {
            const d = Float32Array.from(t.data);
            const n = t.shape[1]!;
            for (let i = 0; i < d.length; i++) d[i] = d[i]! / s[l]![i % n]!;
            return { dtype: 'float32', data: d, shape: t.shape };
          }),
        };
      }
    }
  }
  const layers = new Map<string, QuantizedLinear>();
  for (const site of MAMBA_SITES) {
    for (let l = 0; l < m.config.nLayer; l++) {
      const x = cal[site][l]!;
      const inDim = x.shape[1]!;
      const w = weightOf(m.weights.layers[l]!, site);
      let transform = spec.transform;
      if (site === 'out_proj' && spec.fusedGate === true && smooth)
        transform = transform.slice('smooth-'.length) as LinearTransform;
      if (transform !== 'none' && !hasHadamard(inDim)) {
        if (l === 0) notes.push(`${site} (${inDim} inputs, no Hadamard): transform 'none'`);
        transform = 'none';
      }
      layers.set(
        `${site}.${l}`,
        quantizeLinear(
          { weight: { dtype: 'float32', data: w, shape: [w.length / inDim, inDim] }, calibration: x },
          { weightBits: spec.weightBits, activationBits: spec.activationBits, transform },
        ),
      );
    }
  }
  const linear: MambaLinear = (site, layer, x, rows, inDim) =>
    layers.get(`${site}.${layer}`)!.forward({ dtype: 'float32', data: x, shape: [rows, inDim] }).data;
  return { model: m, linear, layers, notes };
}
