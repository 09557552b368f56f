/**
 * A llama2.c (`run.c`) compatible Llama forward pass in float32, with a pluggable per-layer KV cache and
 * activation hooks, for measuring what quantizers do to a real model.
 *
 * Exposed: LlamaConfig, LlamaWeights, LlamaModel, KvCacheLayer, KvCacheFactory, float32KvCache,
 * captureActivations, ActivationSite.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, fail } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import { readLlama2Checkpoint } from './checkpoint.js';
import { Sampler } from './sampler.js';
import { parseTokenizer, type Tokenizer } from './tokenizer.js';

/**
 * Model hyper-parameters (llama2.c header plus derived values).
 *
 * @example
 * ```ts
 * const c: LlamaConfig = loadStories260K().config; // dim 64, 5 layers, …
 * ```
 */
export interface LlamaConfig {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly vocabSize: number;
  readonly seqLen: number;
  /** RoPE base (10000 for llama2.c models). */
  readonly ropeTheta: number;
  /** RMSNorm epsilon (1e-5). */
  readonly normEps: number;
}

/**
 * Weights, row-major `[out, in]` per layer (y = W·x), as in llama2.c. Arrays of per-layer matrices so a
 * caller can swap in quantized-then-dequantized copies layer by layer.
 *
 * @example
 * ```ts
 * const w: LlamaWeights = { ...model.weights, wq: myWq };
 * ```
 */
export interface LlamaWeights {
  readonly tokenEmbedding: Float32Array; // [vocab, dim]
  readonly rmsAtt: readonly Float32Array[]; // [dim] per layer
  readonly wq: readonly Float32Array[]; // [dim, dim]
  readonly wk: readonly Float32Array[]; // [kvDim, dim]
  readonly wv: readonly Float32Array[]; // [kvDim, dim]
  readonly wo: readonly Float32Array[]; // [dim, dim]
  readonly rmsFfn: readonly Float32Array[]; // [dim]
  readonly w1: readonly Float32Array[]; // [hidden, dim]
  readonly w2: readonly Float32Array[]; // [dim, hidden]
  readonly w3: readonly Float32Array[]; // [hidden, dim]
  readonly rmsFinal: Float32Array; // [dim]
  /** Classifier `[vocab, dim]`; the token embedding when tied. */
  readonly wcls: Float32Array;
}

/**
 * One layer's KV cache as the forward pass sees it: append one token's K and V (`[kvHeads·headDim]`,
 * keys after RoPE), then attend with all query heads of that position.
 *
 * @example
 * ```ts
 * const layer: KvCacheLayer = float32KvCache(0, model.config);
 * ```
 */
export interface KvCacheLayer {
  /** Store one token's key and value (`kvHeads·headDim` each). */
  append(k: Float32Array, v: Float32Array): void;
  /**
   * Write `softmax(q·Kᵀ/√headDim)·V` for every query head into `out` (`nHeads·headDim`), over all
   * tokens appended so far. Query head h reads KV head `floor(h / (nHeads / nKvHeads))`.
   */
  attend(q: Float32Array, out: Float32Array): void;
  /** Bytes this layer's cache holds now. */
  readonly byteLength: number;
}

/**
 * Makes one {@link KvCacheLayer} per layer.
 *
 * @example
 * ```ts
 * const f: KvCacheFactory = (layer, cfg) => float32KvCache(layer, cfg);
 * ```
 */
export type KvCacheFactory = (layer: number, cfg: LlamaConfig) => KvCacheLayer;

/**
 * The float32 KV cache (llama2.c's), the default and the baseline.
 *
 * @example
 * ```ts
 * const model = new LlamaModel(cfg, weights, { kvCache: float32KvCache });
 * ```
 */
export const float32KvCache: KvCacheFactory = (_layer, cfg) => {
  const headDim = cfg.dim / cfg.nHeads;
  const kvDim = cfg.nKvHeads * headDim;
  const group = cfg.nHeads / cfg.nKvHeads;
  const keys = new Float32Array(cfg.seqLen * kvDim);
  const values = new Float32Array(cfg.seqLen * kvDim);
  const att = new Float32Array(cfg.seqLen);
  const invSqrt = 1 / Math.sqrt(headDim);
  let len = 0;
  return {
    append(k: Float32Array, v: Float32Array): void {
      check(len < cfg.seqLen, 'E_LIMIT', `float32KvCache: sequence longer than seqLen ${cfg.seqLen}`);
      keys.set(k, len * kvDim);
      values.set(v, len * kvDim);
      len++;
    },
    attend(q: Float32Array, out: Float32Array): void {
      attendDense(q, out, keys, values, len, cfg.nHeads, group, headDim, kvDim, invSqrt, att);
    },
    get byteLength() {
      return len * kvDim * 2 * 4;
    },
  };
};

/**
 * Dense attention over float32 K/V rows (`len × kvDim`), float32 semantics as run.c. Internal, shared by
 * caches that keep (or dequantize to) float32 rows.
 *
 * @example
 * ```ts
 * attendDense(q, out, keys, values, len, 8, 2, 8, 32, 1 / Math.sqrt(8), new Float32Array(len));
 * ```
 */
export function attendDense(
  q: Float32Array,
  out: Float32Array,
  keys: Float32Array,
  values: Float32Array,
  len: number,
  nHeads: number,
  group: number,
  headDim: number,
  kvDim: number,
  invSqrt: number,
  att: Float32Array,
): void {
  for (let h = 0; h < nHeads; h++) {
    const qo = h * headDim;
    const ko = Math.floor(h / group) * headDim;
    let max = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < len; t++) {
      let s = 0;
      const base = t * kvDim + ko;
      for (let i = 0; i < headDim; i++) s += q[qo + i]! * keys[base + i]!;
      const sc = Math.fround(Math.fround(s) * invSqrt);
      att[t] = sc;
      if (sc > max) max = sc;
    }
    let sum = 0;
    for (let t = 0; t < len; t++) {
      const e = Math.fround(Math.exp(att[t]! - max));
      att[t] = e;
      sum += e;
    }
    const inv = 1 / Math.fround(sum);
    for (let i = 0; i < headDim; i++) out[qo + i] = 0;
    for (let t = 0; t < len; t++) {
      const p = Math.fround(att[t]! * inv);
      const base = t * kvDim + ko;
      for (let i = 0; i < headDim; i++) out[qo + i] = out[qo + i]! + p * values[base + i]!;
    }
  }
}

/**
 * Where {@link LlamaModel} can report activations: the inputs of wq/wk/wv, wo, w1/w3 and w2.
 *
 * @example
 * ```ts
 * const site: ActivationSite = 'w2'; // the input of w2
 * ```
 */
export type ActivationSite = 'attn' | 'wo' | 'ffn' | 'w2';

/**
 * Hooks called during the forward pass (all optional; arrays are scratch buffers: copy what you keep).
 *
 * @example
 * ```ts
 * const hooks: LlamaHooks = { onKv: (layer, k, v) => console.log(layer, k[0], v[0]) };
 * ```
 */
export interface LlamaHooks {
  /** Called with the input of a linear site of a layer. */
  onInput?(site: ActivationSite, layer: number, x: Float32Array): void;
  /** Called with one token's key (after RoPE) and value before they enter the cache. */
  onKv?(layer: number, k: Float32Array, v: Float32Array): void;
}

/**
 * The linear layers of a Llama block.
 *
 * @example
 * ```ts
 * const site: LlamaLinearSite = 'wq';
 * ```
 */
export type LlamaLinearSite = 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'w3';

/**
 * A replacement for one token's linear layer `out = W·x` (e.g. activation quantization behind a rotation).
 * Return true when `out` was written; false to use the float32 product with the model's weights.
 *
 * @example
 * ```ts
 * const lin: LlamaLinear = (site, layer, x, out) => false; // always the float32 product
 * ```
 */
export type LlamaLinear = (site: LlamaLinearSite, layer: number, x: Float32Array, out: Float32Array) => boolean;

/**
 * Options of {@link LlamaModel}.
 *
 * @example
 * ```ts
 * const o: LlamaOptions = { kvCache: float32KvCache };
 * ```
 */
export interface LlamaOptions {
  /** KV cache per layer (default {@link float32KvCache}). */
  kvCache?: KvCacheFactory;
  hooks?: LlamaHooks;
  /** Linear-layer replacement (default: float32 W·x). */
  linear?: LlamaLinear;
  /**
   * Per-KV-head RoPE frequencies `[nKvHeads, headDim/2]` shared by all layers, or per layer
   * `[nLayers, nKvHeads, headDim/2]`: pair slot i of KV head g (and of the query heads that read it)
   * rotates with frequency `[(layer,) g, i]` — e.g. the permuted tables of a head-scope K-sort fused into
   * wq/wk (lowbit/bfp `permuteProjections(...).freqs`). Default: run.c's `1 / theta^(2i/headDim)` for
   * every head. Frequencies are rounded to float32 as run.c does.
   */
  ropeFreqs?: ArrayLike<number>;
}

/** y[out] = W[out, in] · x[in], accumulated in float64, stored as float32. */
function matvec(out: Float32Array, w: Float32Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += w[o + c]! * x[c]!;
    out[r] = s;
  }
}

function rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array, eps: number): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const scale = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(ss) / x.length) + eps));
  for (let i = 0; i < x.length; i++) out[i] = w[i]! * Math.fround(scale * x[i]!);
}

/**
 * A llama2.c-compatible model: `forward(token, pos)` returns the logits of the next token. One instance
 * holds one sequence's KV cache; `reset()` starts a new sequence.
 *
 * @example
 * ```ts
 * const model = loadStories260K();
 * const logits = model.forward(1); // BOS at position 0
 * ```
 */
export class LlamaModel {
  readonly config: LlamaConfig;
  readonly weights: LlamaWeights;
  private readonly opts: LlamaOptions;
  private caches: KvCacheLayer[];
  private pos = 0;
  private readonly x: Float32Array;
  private readonly xb: Float32Array;
  private readonly xb2: Float32Array;
  private readonly q: Float32Array;
  private readonly k: Float32Array;
  private readonly v: Float32Array;
  private readonly hb: Float32Array;
  private readonly hb2: Float32Array;
  private readonly logits: Float32Array;
  private readonly ropeCos: Float32Array;
  private readonly ropeSin: Float32Array;
  /** 1, or nLayers with per-layer RoPE frequencies. */
  private readonly ropeTables: number;

  constructor(config: LlamaConfig, weights: LlamaWeights, opts: LlamaOptions = {}) {
    check(config.dim % config.nHeads === 0, 'E_CONFIG', 'LlamaModel: dim must be a multiple of nHeads');
    check(config.nHeads % config.nKvHeads === 0, 'E_CONFIG', 'LlamaModel: nHeads must be a multiple of nKvHeads');
    this.config = config;
    this.weights = weights;
    this.opts = opts;
    const headDim = config.dim / config.nHeads;
    const kvDim = config.nKvHeads * headDim;
    this.x = new Float32Array(config.dim);
    this.xb = new Float32Array(config.dim);
    this.xb2 = new Float32Array(config.dim);
    this.q = new Float32Array(config.dim);
    this.k = new Float32Array(kvDim);
    this.v = new Float32Array(kvDim);
    this.hb = new Float32Array(config.hiddenDim);
    this.hb2 = new Float32Array(config.hiddenDim);
    this.logits = new Float32Array(config.vocabSize);
    // RoPE tables [seqLen, nKvHeads, half], computed as run.c does in float32: freq = 1 / theta^(j/headDim),
    // angle = pos * freq (or the per-head frequencies of opts.ropeFreqs).
    const half = headDim / 2;
    const H = config.nKvHeads;
    const rf = opts.ropeFreqs;
    const per = H * half;
    if (rf !== undefined)
      check(
        (rf.length === per || rf.length === config.nLayers * per) &&
          Array.from({ length: rf.length }, (_, i) => rf[i]!).every(Number.isFinite),
        'E_CONFIG',
        () =>
          `LlamaModel: ropeFreqs must hold nKvHeads·headDim/2 = ${per} or nLayers·${per} finite numbers, got ${rf.length}`,
      );
    const nTables = rf !== undefined && rf.length > per ? config.nLayers : 1;
    this.ropeTables = nTables;
    const freqs = new Float32Array(nTables * per);
    for (let j = 0; j < nTables * per; j++)
      freqs[j] =
        rf === undefined
          ? Math.fround(1 / Math.fround(config.ropeTheta ** Math.fround((2 * (j % half)) / headDim)))
          : Math.fround(rf[j]!);
    this.ropeCos = new Float32Array(config.seqLen * nTables * per);
    this.ropeSin = new Float32Array(config.seqLen * nTables * per);
    for (let p = 0; p < config.seqLen; p++) {
      for (let j = 0; j < nTables * per; j++) {
        const val = Math.fround(p * freqs[j]!);
        this.ropeCos[p * nTables * per + j] = Math.cos(val);
        this.ropeSin[p * nTables * per + j] = Math.sin(val);
      }
    }
    this.caches = this.makeCaches();
  }

  private makeCaches(): KvCacheLayer[] {
    const f = this.opts.kvCache ?? float32KvCache;
    return Array.from({ length: this.config.nLayers }, (_, l) => f(l, this.config));
  }

  /**
   * Teacher-forced logits of a whole sequence from a fresh cache: `[T, vocab]`, row t predicting token t+1.
   *
   * @example
   * ```ts
   * const logits = model.logitsOf([1, 403, 407]); // Float32Array(3 * 512)
   * ```
   */
  logitsOf(tokens: readonly number[]): Float32Array {
    this.reset();
    const V = this.config.vocabSize;
    const out = new Float32Array(tokens.length * V);
    for (let t = 0; t < tokens.length; t++) out.set(this.forward(tokens[t]!), t * V);
    return out;
  }

  /**
   * A model with the same config and other weights or options (e.g. fake-quantized weights, another KV cache).
   *
   * @example
   * ```ts
   * const q = model.with({ weights: quantizedWeights, kvCache: myCacheFactory });
   * ```
   */
  with(change: {
    weights?: LlamaWeights;
    kvCache?: KvCacheFactory;
    hooks?: LlamaHooks;
    linear?: LlamaLinear;
    ropeFreqs?: ArrayLike<number>;
  }): LlamaModel {
    const opts: LlamaOptions = { ...this.opts };
    if (change.ropeFreqs !== undefined) opts.ropeFreqs = change.ropeFreqs;
    if (change.kvCache !== undefined) opts.kvCache = change.kvCache;
    if (change.hooks !== undefined) opts.hooks = change.hooks;
    if (change.linear !== undefined) opts.linear = change.linear;
    return new LlamaModel(this.config, change.weights ?? this.weights, opts);
  }

  /** The options this model was built with (KV cache, hooks, linear replacement, RoPE frequencies). */
  get options(): Readonly<LlamaOptions> {
    return this.opts;
  }

  /** Start a new sequence (fresh caches, position 0). */
  reset(): void {
    this.caches = this.makeCaches();
    this.pos = 0;
  }

  /** Position of the next token. */
  get position(): number {
    return this.pos;
  }

  /** Bytes held by all layers' KV caches. */
  get kvBytes(): number {
    let b = 0;
    for (const c of this.caches) b += c.byteLength;
    return b;
  }

  /**
   * Run one token at the next position and return the logits (a scratch buffer, overwritten by the next
   * call: copy it to keep it).
   */
  forward(token: number): Float32Array {
    const c = this.config;
    const w = this.weights;
    check(
      Number.isInteger(token) && token >= 0 && token < c.vocabSize,
      'E_CONFIG',
      () => `forward: token ${token} out of range 0..${c.vocabSize - 1}`,
    );
    check(this.pos < c.seqLen, 'E_LIMIT', `forward: position ${this.pos} reaches seqLen ${c.seqLen}`);
    const pos = this.pos;
    const headDim = c.dim / c.nHeads;
    const kvDim = c.nKvHeads * headDim;
    const half = headDim / 2;
    const { x, xb, xb2, q, k, v, hb, hb2 } = this;
    const hooks = this.opts.hooks;
    x.set(w.tokenEmbedding.subarray(token * c.dim, (token + 1) * c.dim));
    for (let l = 0; l < c.nLayers; l++) {
      rmsnorm(xb, x, w.rmsAtt[l]!, c.normEps);
      hooks?.onInput?.('attn', l, xb);
      const lin = this.opts.linear;
      if (lin === undefined || !lin('wq', l, xb, q)) matvec(q, w.wq[l]!, xb, c.dim, c.dim);
      if (lin === undefined || !lin('wk', l, xb, k)) matvec(k, w.wk[l]!, xb, kvDim, c.dim);
      if (lin === undefined || !lin('wv', l, xb, v)) matvec(v, w.wv[l]!, xb, kvDim, c.dim);
      const group = c.nHeads / c.nKvHeads;
      const rowBase = (pos * this.ropeTables + (this.ropeTables > 1 ? l : 0)) * c.nKvHeads * half;
      for (let i = 0; i < c.dim; i += 2) {
        // pair j of head floor(i / headDim): keys (i < kvDim) use their own KV head's table, queries their group's
        const head = Math.floor(i / headDim);
        const j = (i % headDim) / 2;
        const qi = rowBase + Math.floor(head / group) * half + j;
        const a = q[i]!;
        const b = q[i + 1]!;
        const fcr = this.ropeCos[qi]!;
        const fci = this.ropeSin[qi]!;
        q[i] = Math.fround(a * fcr) - Math.fround(b * fci);
        q[i + 1] = Math.fround(a * fci) + Math.fround(b * fcr);
        if (i < kvDim) {
          const ki = rowBase + head * half + j;
          const ka = k[i]!;
          const kb = k[i + 1]!;
          const kcr = this.ropeCos[ki]!;
          const kci = this.ropeSin[ki]!;
          k[i] = Math.fround(ka * kcr) - Math.fround(kb * kci);
          k[i + 1] = Math.fround(ka * kci) + Math.fround(kb * kcr);
        }
      }
      hooks?.onKv?.(l, k, v);
      const cache = this.caches[l]!;
      cache.append(k, v);
      cache.attend(q, xb);
      hooks?.onInput?.('wo', l, xb);
      if (lin === undefined || !lin('wo', l, xb, xb2)) matvec(xb2, w.wo[l]!, xb, c.dim, c.dim);
      for (let i = 0; i < c.dim; i++) x[i] = x[i]! + xb2[i]!;
      rmsnorm(xb, x, w.rmsFfn[l]!, c.normEps);
      hooks?.onInput?.('ffn', l, xb);
      if (lin === undefined || !lin('w1', l, xb, hb)) matvec(hb, w.w1[l]!, xb, c.hiddenDim, c.dim);
      if (lin === undefined || !lin('w3', l, xb, hb2)) matvec(hb2, w.w3[l]!, xb, c.hiddenDim, c.dim);
      for (let i = 0; i < c.hiddenDim; i++) {
        const u = hb[i]!;
        const s = Math.fround(u * Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-u)))));
        hb[i] = s * hb2[i]!;
      }
      hooks?.onInput?.('w2', l, hb);
      if (lin === undefined || !lin('w2', l, hb, xb)) matvec(xb, w.w2[l]!, hb, c.dim, c.hiddenDim);
      for (let i = 0; i < c.dim; i++) x[i] = x[i]! + xb[i]!;
    }
    rmsnorm(x, x, w.rmsFinal, c.normEps);
    matvec(this.logits, w.wcls, x, c.vocabSize, c.dim);
    this.pos++;
    return this.logits;
  }
}

/**
 * Activations captured by {@link captureActivations}.
 *
 * @example
 * ```ts
 * const a: Activations = captureActivations(model, [1, 403, 407]);
 * ```
 */
export interface Activations {
  /** Per layer `[kvHeads, T, headDim]`, keys after RoPE. */
  keys: Float32Tensor[];
  /** Per layer `[kvHeads, T, headDim]`. */
  values: Float32Tensor[];
  /** Per site, per layer `[T, in]`. */
  inputs: Record<ActivationSite, Float32Tensor[]>;
}

/**
 * Run `tokens` through a fresh copy of the model with a float32 KV cache (same weights, RoPE tables and
 * linear replacement; positions 0..T−1) and capture, per layer, the
 * K/V cache (as `[kvHeads, T, headDim]`) and the inputs of every linear site (`[T, in]`).
 *
 * @example
 * ```ts
 * const acts = captureActivations(loadStories260K(), [1, 403, 407, 261, 378]);
 * acts.keys[0].shape; // [4, 5, 8]
 * ```
 */
export function captureActivations(model: LlamaModel, tokens: readonly number[]): Activations {
  const c = model.config;
  const T = tokens.length;
  const headDim = c.dim / c.nHeads;
  const kvDim = c.nKvHeads * headDim;
  const K = Array.from({ length: c.nLayers }, () => new Float32Array(T * kvDim));
  const V = Array.from({ length: c.nLayers }, () => new Float32Array(T * kvDim));
  const width: Record<ActivationSite, number> = { attn: c.dim, wo: c.dim, ffn: c.dim, w2: c.hiddenDim };
  const sites: ActivationSite[] = ['attn', 'wo', 'ffn', 'w2'];
  const X = {} as Record<ActivationSite, Float32Array[]>;
  for (const s of sites) X[s] = Array.from({ length: c.nLayers }, () => new Float32Array(T * width[s]));
  let t = 0;
  const m = new LlamaModel(c, model.weights, {
    ...(model.options.ropeFreqs !== undefined ? { ropeFreqs: model.options.ropeFreqs } : {}),
    ...(model.options.linear !== undefined ? { linear: model.options.linear } : {}),
    hooks: {
      onInput(site, layer, x) {
        X[site][layer]!.set(x, t * width[site]);
      },
      onKv(layer, k, v) {
        // [T, kvHeads, headDim] -> [kvHeads, T, headDim]
        for (let h = 0; h < c.nKvHeads; h++) {
          for (let i = 0; i < headDim; i++) {
            K[layer]![(h * T + t) * headDim + i] = k[h * headDim + i]!;
            V[layer]![(h * T + t) * headDim + i] = v[h * headDim + i]!;
          }
        }
      },
    },
  });
  for (t = 0; t < T; t++) m.forward(tokens[t]!);
  const kv = (a: Float32Array): Float32Tensor => ({ dtype: 'float32', data: a, shape: [c.nKvHeads, T, headDim] });
  const inputs = {} as Record<ActivationSite, Float32Tensor[]>;
  for (const s of sites) inputs[s] = X[s].map((a) => ({ dtype: 'float32', data: a, shape: [T, width[s]] }));
  return { keys: K.map(kv), values: V.map(kv), inputs };
}

/**
 * Evaluation sequences sampled from the float32 model with run.c's sampler at temperature 1 (plain
 * multinomial, top-p 1): sequence i starts at BOS and uses seed `seed + i`; a sampled BOS does not stop
 * the sequence (a new story starts), so every sequence has exactly `length` tokens including the leading BOS.
 *
 * @example
 * ```ts
 * const seqs = evalTokens(model, { sequences: 16, length: 256, seed: 1000 });
 * ```
 */
export function evalTokens(model: LlamaModel, opts: { sequences: number; length: number; seed: number }): number[][] {
  const { sequences, length, seed } = opts;
  check(
    Number.isInteger(sequences) && sequences >= 1,
    'E_CONFIG',
    `evalTokens: sequences must be >= 1, got ${sequences}`,
  );
  check(
    Number.isInteger(length) && length >= 2 && length <= model.config.seqLen,
    'E_CONFIG',
    () => `evalTokens: length must be in 2..${model.config.seqLen}, got ${length}`,
  );
  const m = new LlamaModel(model.config, model.weights);
  const out: number[][] = [];
  for (let s = 0; s < sequences; s++) {
    const sampler = new Sampler({ temperature: 1, topp: 1, seed: seed + s });
    m.reset();
    const seq = [1];
    while (seq.length < length) seq.push(sampler.next(m.forward(seq[seq.length - 1]!)));
    out.push(seq);
  }
  return out;
}

/**
 * Build a {@link LlamaModel} from the bytes of a llama2.c checkpoint ("version 0": 7 int32 header then
 * float32 arrays; a negative vocab_size means a separate classifier follows).
 *
 * @example
 * ```ts
 * const model = llamaFromLlama2c(readFileSync('stories260K.bin'));
 * ```
 */
export function llamaFromLlama2c(bytes: Uint8Array, opts: LlamaOptions = {}): LlamaModel {
  const ckpt = readLlama2Checkpoint(bytes);
  return new LlamaModel(ckpt.config, ckpt.weights, opts);
}

/**
 * Load the stories260K model shipped in `models/stories260K/` (Node).
 *
 * @example
 * ```ts
 * const model = loadStories260K();
 * ```
 */
export function loadStories260K(opts: LlamaOptions = {}): LlamaModel {
  return llamaFromLlama2c(readFileSync(modelPath('stories260K/stories260K.bin')), opts);
}

/**
 * Load the stories260K tokenizer shipped in `models/stories260K/tok512.bin` (Node).
 *
 * @example
 * ```ts
 * const tok = loadStories260KTokenizer();
 * ```
 */
export function loadStories260KTokenizer(): Tokenizer {
  return parseTokenizer(readFileSync(modelPath('stories260K/tok512.bin')), 512);
}

/**
 * Absolute path of a file under the repository's `models/` folder.
 *
 * @example
 * ```ts
 * modelPath('stories260K/tok512.bin'); // absolute path inside the package
 * ```
 */
export function modelPath(rel: string): string {
  // src/eval/llama.ts and dist/eval/*.js both sit two levels below the package root
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..', '..']) {
    const p = resolve(here, up, 'models', rel);
    if (existsSync(p)) return p;
  }
  return fail('E_IO', `model file models/${rel} not found next to the lowbit package`);
}
