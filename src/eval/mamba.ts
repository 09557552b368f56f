/**
 * A Mamba-1 language model forward pass (state-spaces `mamba_simple.Mamba`, reference selective scan),
 * float32, over windows that start from a zero state — for mamba-tiny and any checkpoint with the same
 * tensor names. Linear layers can be swapped (fake-quantized weights, activation quantizers, rotations) per
 * site and layer.
 *
 * Exposed: MambaConfig, MambaWeights, MambaModel, MambaSite, mambaWeightsFromTensors, mambaConfigFromMetadata,
 * mambaFromSafetensors, loadMambaTiny, loadMambaHeldout, bosWindows.
 * @module
 */
import { readFileSync } from 'node:fs';
import { check, fail } from '../common/errors.js';
import { openSafetensors } from '../common/io/safetensors.js';
import { memorySource } from '../common/io/source.js';
import type { Float32Tensor } from '../common/tensor.js';
import { modelPath } from './llama.js';

/**
 * Hyper-parameters (state-spaces names).
 *
 * @example
 * ```ts
 * const c: MambaConfig = loadMambaTiny().config; // dModel 96, dInner 192, …
 * ```
 */
export interface MambaConfig {
  readonly dModel: number;
  readonly nLayer: number;
  readonly vocabSize: number;
  readonly dInner: number;
  readonly dState: number;
  readonly dConv: number;
  readonly dtRank: number;
  readonly normEps: number;
}

/**
 * One layer's weights, row-major `[out, in]`.
 *
 * @example
 * ```ts
 * const w: MambaLayerWeights = loadMambaTiny().weights.layers[0];
 * ```
 */
export interface MambaLayerWeights {
  readonly norm: Float32Array; // [dModel]
  readonly inProj: Float32Array; // [2·dInner, dModel]: rows 0..dInner-1 → x, the rest → z
  readonly convWeight: Float32Array; // [dInner, dConv]
  readonly convBias: Float32Array; // [dInner]
  readonly xProj: Float32Array; // [dtRank + 2·dState, dInner]
  readonly dtProj: Float32Array; // [dInner, dtRank]
  readonly dtBias: Float32Array; // [dInner]
  readonly aLog: Float32Array; // [dInner, dState]
  readonly d: Float32Array; // [dInner]
  readonly outProj: Float32Array; // [dModel, dInner]
  /**
   * Optional per-channel gate scale s of the smooth-fused out_proj path: the gate becomes z·σ(s·z)
   * instead of SiLU(z) = z·σ(z) (see `smoothFuseGate` in lowbit/mambaquant).
   */
  readonly gateScale?: Float32Array;
}

/**
 * All weights. The LM head is tied to the embedding.
 *
 * @example
 * ```ts
 * const w: MambaWeights = loadMambaTiny().weights;
 * ```
 */
export interface MambaWeights {
  readonly embedding: Float32Array; // [vocab, dModel]
  readonly layers: readonly MambaLayerWeights[];
  readonly normF: Float32Array; // [dModel]
}

/**
 * The linear sites of a Mamba block.
 *
 * @example
 * ```ts
 * const s: MambaSite = 'out_proj';
 * ```
 */
export type MambaSite = 'in_proj' | 'x_proj' | 'dt_proj' | 'out_proj';

/**
 * A replacement for a linear layer: compute `y[L, out] = x[L, in] · Wᵀ`. Return `undefined` to use the
 * default float32 product. `x` may be modified (e.g. fake-quantized) but not kept.
 *
 * @example
 * ```ts
 * const lin: MambaLinear = () => undefined; // always the float32 product
 * ```
 */
export type MambaLinear = (
  site: MambaSite,
  layer: number,
  x: Float32Array,
  rows: number,
  inDim: number,
  w: Float32Array,
  outDim: number,
) => Float32Array | undefined;

/**
 * Options of {@link MambaModel.forward}.
 *
 * @example
 * ```ts
 * const o: MambaForwardOptions = { onInput: (site, layer, x) => console.log(site, layer, x.length) };
 * ```
 */
export interface MambaForwardOptions {
  /** Observe (copy) the input of each linear site: `x` is `[L, in]`. */
  onInput?: (site: MambaSite, layer: number, x: Float32Array, rows: number, inDim: number) => void;
  /** Replace linear layers. */
  linear?: MambaLinear;
}

function linearF32(x: Float32Array, rows: number, inDim: number, w: Float32Array, outDim: number): Float32Array {
  const y = new Float32Array(rows * outDim);
  for (let t = 0; t < rows; t++) {
    const xo = t * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let s = 0;
      for (let i = 0; i < inDim; i++) s += x[xo + i]! * w[wo + i]!;
      y[t * outDim + o] = s;
    }
  }
  return y;
}

function rmsnormRows(x: Float32Array, rows: number, dim: number, w: Float32Array, eps: number): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let t = 0; t < rows; t++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[t * dim + i]! * x[t * dim + i]!;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[t * dim + i] = x[t * dim + i]! * inv * w[i]!;
  }
  return out;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
const softplus = (v: number): number => (v > 20 ? v : Math.log1p(Math.exp(v)));

/**
 * Build {@link MambaWeights} from tensors named as state-spaces / mamba-tiny checkpoints
 * (`backbone.embeddings.weight`, `backbone.layers.{i}.mixer.in_proj.weight`, …). Checks every shape.
 *
 * @example
 * ```ts
 * const f = openTensorFile('models/mamba-tiny/model.safetensors');
 * const get = (n: string) => f.readFloat32(n);
 * const w = mambaWeightsFromTensors(cfg, get);
 * ```
 */
export function mambaWeightsFromTensors(cfg: MambaConfig, get: (name: string) => Float32Tensor): MambaWeights {
  const take = (name: string, shape: readonly number[]): Float32Array => {
    const t = get(name);
    const ok = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!ok) fail('E_SHAPE', `mamba: ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    return t.data;
  };
  const { dModel: dm, dInner: di, dState: ds, dConv: dc, dtRank: dr, vocabSize: v } = cfg;
  const layers: MambaLayerWeights[] = [];
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `backbone.layers.${i}`;
    layers.push({
      norm: take(`${p}.norm.weight`, [dm]),
      inProj: take(`${p}.mixer.in_proj.weight`, [2 * di, dm]),
      convWeight: take(`${p}.mixer.conv1d.weight`, [di, 1, dc]),
      convBias: take(`${p}.mixer.conv1d.bias`, [di]),
      xProj: take(`${p}.mixer.x_proj.weight`, [dr + 2 * ds, di]),
      dtProj: take(`${p}.mixer.dt_proj.weight`, [di, dr]),
      dtBias: take(`${p}.mixer.dt_proj.bias`, [di]),
      aLog: take(`${p}.mixer.A_log`, [di, ds]),
      d: take(`${p}.mixer.D`, [di]),
      outProj: take(`${p}.mixer.out_proj.weight`, [dm, di]),
    });
  }
  return {
    embedding: take('backbone.embeddings.weight', [v, dm]),
    layers,
    normF: take('backbone.norm_f.weight', [dm]),
  };
}

/**
 * The Mamba-1 LM. `forward(tokens)` runs one window from a zero state and returns logits `[L, vocab]`.
 *
 * @example
 * ```ts
 * const model = new MambaModel(cfg, weights);
 * const logits = model.forward([1, 403, 407, 261, 378]); // Float32Array(5 * 512)
 * ```
 */
export class MambaModel {
  readonly config: MambaConfig;
  readonly weights: MambaWeights;
  constructor(config: MambaConfig, weights: MambaWeights) {
    check(weights.layers.length === config.nLayer, 'E_CONFIG', 'MambaModel: layer count mismatch');
    this.config = config;
    this.weights = weights;
  }

  /** Logits `[L, vocab]` (row-major) for a window of tokens. */
  forward(tokens: readonly number[], opts: MambaForwardOptions = {}): Float32Array {
    const c = this.config;
    const L = tokens.length;
    check(L >= 1, 'E_SHAPE', 'MambaModel.forward: empty window');
    const { dModel: dm, dInner: di, dState: ds, dConv: dc, dtRank: dr } = c;
    const r = new Float32Array(L * dm);
    for (let t = 0; t < L; t++) {
      const id = tokens[t]!;
      check(
        Number.isInteger(id) && id >= 0 && id < c.vocabSize,
        'E_CONFIG',
        () => `MambaModel.forward: token ${id} out of range`,
      );
      r.set(this.weights.embedding.subarray(id * dm, (id + 1) * dm), t * dm);
    }
    const lin = (site: MambaSite, layer: number, x: Float32Array, inDim: number, w: Float32Array, outDim: number) => {
      opts.onInput?.(site, layer, x, L, inDim);
      return opts.linear?.(site, layer, x, L, inDim, w, outDim) ?? linearF32(x, L, inDim, w, outDim);
    };
    const nx = dr + 2 * ds;
    for (let li = 0; li < c.nLayer; li++) {
      const w = this.weights.layers[li]!;
      const h = rmsnormRows(r, L, dm, w.norm, c.normEps);
      const xz = lin('in_proj', li, h, dm, w.inProj, 2 * di);
      // causal depthwise conv + SiLU
      const u = new Float32Array(L * di);
      for (let t = 0; t < L; t++) {
        for (let e = 0; e < di; e++) {
          let s = w.convBias[e]!;
          for (let k = 0; k < dc; k++) {
            const tt = t - (dc - 1) + k;
            if (tt >= 0) s += w.convWeight[e * dc + k]! * xz[tt * 2 * di + e]!;
          }
          u[t * di + e] = s * sigmoid(s);
        }
      }
      const dbc = lin('x_proj', li, u, di, w.xProj, nx);
      const dtIn = new Float32Array(L * dr);
      for (let t = 0; t < L; t++) for (let j = 0; j < dr; j++) dtIn[t * dr + j] = dbc[t * nx + j]!;
      const dtRaw = lin('dt_proj', li, dtIn, dr, w.dtProj, di);
      const y = new Float32Array(L * di);
      const state = new Float64Array(di * ds);
      for (let t = 0; t < L; t++) {
        const bo = t * nx + dr;
        const co = bo + ds;
        for (let e = 0; e < di; e++) {
          const delta = softplus(dtRaw[t * di + e]! + w.dtBias[e]!);
          const ue = u[t * di + e]!;
          let acc = 0;
          for (let n = 0; n < ds; n++) {
            const a = -Math.exp(w.aLog[e * ds + n]!);
            const s = Math.exp(delta * a) * state[e * ds + n]! + delta * dbc[bo + n]! * ue;
            state[e * ds + n] = Math.fround(s);
            acc += s * dbc[co + n]!;
          }
          y[t * di + e] = acc + w.d[e]! * ue;
        }
      }
      // gate: y · SiLU(z), or y · z·σ(s·z) on the smooth-fused path
      const g = new Float32Array(L * di);
      const gs = w.gateScale;
      for (let t = 0; t < L; t++) {
        for (let e = 0; e < di; e++) {
          const z = xz[t * 2 * di + di + e]!;
          const k = gs === undefined ? z : gs[e]! * z;
          g[t * di + e] = y[t * di + e]! * z * sigmoid(k);
        }
      }
      const out = lin('out_proj', li, g, di, w.outProj, dm);
      for (let i = 0; i < L * dm; i++) r[i] = r[i]! + out[i]!;
    }
    const hf = rmsnormRows(r, L, dm, this.weights.normF, c.normEps);
    return linearF32(hf, L, dm, this.weights.embedding, c.vocabSize);
  }
}

/**
 * Mamba config from a checkpoint's `__metadata__` (strings, as mamba-tiny stores them: `d_model`,
 * `n_layer`, `vocab_size`, `d_inner`, `d_state`, `d_conv`, `dt_rank`, `norm_epsilon`).
 *
 * @example
 * ```ts
 * const cfg = mambaConfigFromMetadata(openSafetensors(src).metadata);
 * ```
 */
export function mambaConfigFromMetadata(meta: Readonly<Record<string, unknown>>): MambaConfig {
  const int = (k: string): number => {
    const v = typeof meta[k] === 'string' || typeof meta[k] === 'number' ? Number(meta[k]) : Number.NaN;
    if (meta[k] === undefined || !Number.isSafeInteger(v) || v < 1)
      fail('E_FORMAT', `mamba: metadata ${k} must be a positive integer, got ${JSON.stringify(meta[k])}`);
    return v;
  };
  const e = meta.norm_epsilon;
  const eps = e === undefined ? 1e-5 : typeof e === 'string' || typeof e === 'number' ? Number(e) : Number.NaN;
  check(Number.isFinite(eps) && eps > 0, 'E_FORMAT', 'mamba: metadata norm_epsilon must be a positive number');
  return {
    dModel: int('d_model'),
    nLayer: int('n_layer'),
    vocabSize: int('vocab_size'),
    dInner: int('d_inner'),
    dState: int('d_state'),
    dConv: int('d_conv'),
    dtRank: int('dt_rank'),
    normEps: eps,
  };
}

/**
 * Build a {@link MambaModel} from the bytes of a `.safetensors` checkpoint (lowbit/io `openSafetensors`;
 * config from its `__metadata__`).
 *
 * @example
 * ```ts
 * const model = mambaFromSafetensors(readFileSync('models/mamba-tiny/model.safetensors'));
 * ```
 */
export function mambaFromSafetensors(bytes: Uint8Array): MambaModel {
  const f = openSafetensors(memorySource(bytes));
  const cfg = mambaConfigFromMetadata(f.metadata);
  return new MambaModel(
    cfg,
    mambaWeightsFromTensors(cfg, (n) => f.readFloat32(n)),
  );
}

/**
 * Load mamba-tiny shipped in `models/mamba-tiny/` (Node).
 *
 * @example
 * ```ts
 * const model = loadMambaTiny();
 * ```
 */
export function loadMambaTiny(): MambaModel {
  return mambaFromSafetensors(readFileSync(modelPath('mamba-tiny/model.safetensors')));
}

/**
 * mamba-tiny's held-out split (`heldout_tokens.u16`: 35,898 little-endian uint16 ids, stories
 * concatenated, each starting with BOS = 1).
 *
 * @example
 * ```ts
 * const ids = loadMambaHeldout(); // Uint16Array(35898)
 * ```
 */
export function loadMambaHeldout(): Uint16Array {
  const b = readFileSync(modelPath('mamba-tiny/heldout_tokens.u16'));
  check(b.length % 2 === 0, 'E_FORMAT', 'heldout_tokens.u16: odd byte length');
  const out = new Uint16Array(b.length / 2);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint16(2 * i, true);
  return out;
}

/**
 * Windows of `length` tokens that each start at a BOS (id 1) of `tokens`: the first `count` story starts
 * at or after index `from` whose window fits (windows may run into the next story; consecutive windows
 * do not overlap). Deterministic: no randomness.
 *
 * @example
 * ```ts
 * const evalWins = bosWindows(loadMambaHeldout(), { count: 16, length: 256 });
 * ```
 */
export function bosWindows(
  tokens: ArrayLike<number>,
  opts: { count: number; length: number; from?: number },
): number[][] {
  const { count, length } = opts;
  check(Number.isInteger(count) && count >= 1, 'E_CONFIG', `bosWindows: count must be >= 1, got ${count}`);
  check(Number.isInteger(length) && length >= 2, 'E_CONFIG', `bosWindows: length must be >= 2, got ${length}`);
  const out: number[][] = [];
  let i = opts.from ?? 0;
  while (out.length < count && i + length <= tokens.length) {
    if (tokens[i] === 1) {
      out.push(Array.from({ length }, (_, j) => tokens[i + j]!));
      i += length;
    } else i++;
  }
  check(out.length === count, 'E_LIMIT', () => `bosWindows: only ${out.length} of ${count} windows fit`);
  return out;
}
