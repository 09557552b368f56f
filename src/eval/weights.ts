/**
 * Weight (and activation) quantization of a {@link LlamaModel}'s linear layers for the harness:
 * MWQ bit-nested levels (lowbit/mwq) and W·A fake quantization behind a rotation transform
 * (lowbit/mambaquant `quantizeLinear`, calibrated on the model's own activations).
 *
 * Exposed: LLAMA_LINEAR_SITES, MwqSpec, mwqLlamaWeights, RotationSpec, rotatedLlamaLinear, defaultGroupSize.
 * @module
 */
import type { Float32Tensor } from '../common/tensor.js';
import { type LinearTransform, type QuantizedLinear, quantizeLinear } from '../mambaquant/index.js';
import { type NestedScheme, quantizeNested } from '../mwq/index.js';
import type { ActivationSite, Activations, LlamaLinear, LlamaLinearSite, LlamaModel, LlamaWeights } from './llama.js';

/**
 * The seven linear layers of a Llama block, with the activation site that feeds each.
 *
 * @example
 * ```ts
 * LLAMA_LINEAR_SITES.map((s) => s.site); // ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3']
 * ```
 */
export const LLAMA_LINEAR_SITES: readonly { site: LlamaLinearSite; input: ActivationSite }[] = [
  { site: 'wq', input: 'attn' },
  { site: 'wk', input: 'attn' },
  { site: 'wv', input: 'attn' },
  { site: 'wo', input: 'wo' },
  { site: 'w1', input: 'ffn' },
  { site: 'w2', input: 'w2' },
  { site: 'w3', input: 'ffn' },
];

/**
 * MWQ settings: scheme, the widest level and the level served.
 *
 * @example
 * ```ts
 * const s: MwqSpec = { scheme: 'truncate', level: 4 };
 * ```
 */
export interface MwqSpec {
  readonly scheme: NestedScheme;
  /** Level r to serve (bits). */
  readonly level: number;
  /** Widest level c (default 8). */
  readonly bits?: number;
  /** Group size along `in` (default {@link defaultGroupSize}). */
  readonly groupSize?: number;
  /** Residual scheme: calibration activations per layer and site (scales fitted to ‖W·X − Ŵ·X‖²). */
  readonly calibration?: Activations;
}

/**
 * The group size the harness uses for an input width: 32 when it divides `in` (stories260K's 64-wide
 * inputs), else the largest divisor of `in` not above 64 (172 → 43).
 *
 * @example
 * ```ts
 * defaultGroupSize(172); // 43
 * ```
 */
export function defaultGroupSize(inDim: number): number {
  if (inDim % 32 === 0) return 32;
  for (let g = Math.min(64, inDim); g >= 1; g--) if (inDim % g === 0) return g;
  return inDim;
}

function shapeOf(site: LlamaLinearSite, m: LlamaModel): [number, number] {
  const c = m.config;
  const kv = (c.nKvHeads * c.dim) / c.nHeads;
  switch (site) {
    case 'wq':
    case 'wo':
      return [c.dim, c.dim];
    case 'wk':
    case 'wv':
      return [kv, c.dim];
    case 'w1':
    case 'w3':
      return [c.hiddenDim, c.dim];
    case 'w2':
      return [c.dim, c.hiddenDim];
  }
}

/**
 * Weights of `model` with every linear layer replaced by its MWQ level-r reconstruction
 * (`quantizeNested(...).dequantize(r)`); norms and embeddings stay float32.
 *
 * @example
 * ```ts
 * const w = mwqLlamaWeights(model, { scheme: 'matquant', level: 4 });
 * const q = model.with({ weights: w });
 * ```
 */
export function mwqLlamaWeights(model: LlamaModel, spec: MwqSpec): LlamaWeights {
  const w = model.weights;
  const out: Record<LlamaLinearSite, Float32Array[]> = { wq: [], wk: [], wv: [], wo: [], w1: [], w2: [], w3: [] };
  for (const { site, input } of LLAMA_LINEAR_SITES) {
    const [rows, cols] = shapeOf(site, model);
    for (let l = 0; l < model.config.nLayers; l++) {
      const t: Float32Tensor = { dtype: 'float32', data: w[site][l]!, shape: [rows, cols] };
      const cal = spec.scheme === 'residual' ? spec.calibration?.inputs[input][l] : undefined;
      const nested = quantizeNested(t, {
        scheme: spec.scheme,
        bits: spec.bits ?? 8,
        groupSize: spec.groupSize ?? defaultGroupSize(cols),
        ...(cal !== undefined ? { calibration: cal } : {}),
      });
      out[site].push(nested.dequantize(spec.level).data);
    }
  }
  return { ...w, ...out };
}

/**
 * W·A fake quantization settings.
 *
 * @example
 * ```ts
 * const s: RotationSpec = { weightBits: 4, activationBits: 8, transform: 'klt-hadamard' };
 * ```
 */
export interface RotationSpec {
  readonly weightBits: number;
  readonly activationBits: number;
  readonly transform: LinearTransform;
  /** Seed of the randomized Hadamard (default: plain Hadamard). */
  readonly seed?: number;
}

/**
 * A linear-layer replacement that runs every linear layer of `model` through `quantizeLinear` (the
 * transform fitted on `calibration`, the model's own activations): per-token activation and per-channel
 * weight fake quantization after the rotation. Returns the hook and the fitted layers (for their
 * warnings and errors).
 *
 * @example
 * ```ts
 * const acts = captureActivations(model, calibrationTokens);
 * const { linear } = rotatedLlamaLinear(model, acts, { weightBits: 8, activationBits: 8, transform: 'hadamard' });
 * const q = model.with({ linear });
 * ```
 */
export function rotatedLlamaLinear(
  model: LlamaModel,
  calibration: Activations,
  spec: RotationSpec,
): { linear: LlamaLinear; layers: Map<string, QuantizedLinear> } {
  const layers = new Map<string, QuantizedLinear>();
  for (const { site, input } of LLAMA_LINEAR_SITES) {
    const [rows, cols] = shapeOf(site, model);
    for (let l = 0; l < model.config.nLayers; l++) {
      const weight: Float32Tensor = { dtype: 'float32', data: model.weights[site][l]!, shape: [rows, cols] };
      const q = quantizeLinear(
        { weight, calibration: calibration.inputs[input][l]! },
        {
          weightBits: spec.weightBits,
          activationBits: spec.activationBits,
          transform: spec.transform,
          ...(spec.seed !== undefined ? { seed: spec.seed } : {}),
        },
      );
      layers.set(`${site}.${l}`, q);
    }
  }
  const linear: LlamaLinear = (site, layer, x, out) => {
    const q = layers.get(`${site}.${layer}`)!;
    out.set(q.forward({ dtype: 'float32', data: x, shape: [1, x.length] }).data);
    return true;
  };
  return { linear, layers };
}
