/**
 * K-sort for the stories260K harness (lowbit/bfp, bfp.md §7): channel orders calibrated on the model's
 * own keys, either fused into wq/wk with per-head permuted RoPE frequencies (`scope: 'head'`, Q·Kᵀ
 * unchanged, the cache just stores the permuted keys) or applied at storage level (`scope: 'layer'`,
 * channels may cross heads, {@link blockKvCache} `keyOrders`).
 *
 * Exposed: headKSortModel, layerKSortOrders, keyMagnitudes.
 * @module
 */
import { type ChannelOrder, calibrateChannelOrder, permuteProjections } from '../bfp/index.js';
import { captureActivations, type LlamaModel } from './llama.js';

/**
 * A copy of `model` with a head-scope K-sort fused into wq/wk: channel pairs of each KV head sorted by
 * their calibration L2 norm (RoPE pairs move together), the query heads of a GQA group permuted alike,
 * and each head's RoPE frequencies permuted to match. In exact arithmetic the logits are unchanged; a
 * block cache then sees the sorted channel order. Calibrated on `calibrationTokens` (keep them
 * separate from the evaluation tokens).
 *
 * @example
 * ```ts
 * const { model: sorted, orders } = headKSortModel(model, calibrationTokens, 8);
 * const q = sorted.with({ kvCache: blockKvCache({ method: 'block', format: 'mxfp4', blockSize: 8 }) });
 * ```
 */
export function headKSortModel(
  model: LlamaModel,
  calibrationTokens: readonly number[],
  blockSize: number,
): { model: LlamaModel; orders: ChannelOrder[] } {
  const c = model.config;
  const headDim = c.dim / c.nHeads;
  const kvDim = c.nKvHeads * headDim;
  const acts = captureActivations(model, calibrationTokens);
  const wq: Float32Array[] = [];
  const wk: Float32Array[] = [];
  const orders: ChannelOrder[] = [];
  const half = headDim / 2;
  const freqs = new Float64Array(c.nLayers * c.nKvHeads * half);
  for (let l = 0; l < c.nLayers; l++) {
    const order = calibrateChannelOrder(acts.keys[l]!, { blockSize, rope: 'interleaved', scope: 'head' });
    const base = new Float64Array(half);
    for (let i = 0; i < half; i++)
      base[i] = Math.fround(1 / Math.fround(c.ropeTheta ** Math.fround((2 * i) / headDim)));
    const p = permuteProjections({
      wq: { dtype: 'float32', data: model.weights.wq[l]!, shape: [c.dim, c.dim] },
      wk: { dtype: 'float32', data: model.weights.wk[l]!, shape: [kvDim, c.dim] },
      numHeads: c.nHeads,
      numKvHeads: c.nKvHeads,
      headDim,
      order,
      freqs: base,
    });
    wq.push(p.wq.data);
    wk.push(p.wk.data);
    orders.push(order);
    freqs.set(p.freqs!, l * c.nKvHeads * half);
  }
  return { model: model.with({ weights: { ...model.weights, wq, wk }, ropeFreqs: freqs }), orders };
}

/**
 * Layer-scope K-sort orders (one per layer, over all `kvHeads·headDim` channels of the post-RoPE keys,
 * ascending calibration absmax), for {@link blockKvCache}'s `keyOrders`.
 *
 * @example
 * ```ts
 * const keyOrders = layerKSortOrders(model, calibrationTokens, 8);
 * const f = blockKvCache({ method: 'block', format: 'bfp12', blockSize: 8, keyOrders });
 * ```
 */
export function layerKSortOrders(
  model: LlamaModel,
  calibrationTokens: readonly number[],
  blockSize: number,
): ChannelOrder[] {
  const acts = captureActivations(model, calibrationTokens);
  return acts.keys.map((k) => calibrateChannelOrder(k, { blockSize, scope: 'layer', statistic: 'absmax' }));
}

/**
 * Per-channel absmax of each layer's post-RoPE keys over `tokens` (`[layer][kvHeads·headDim]`), in the
 * model's own channel order — for plots of |K| before and after K-sort.
 *
 * @example
 * ```ts
 * const mags = keyMagnitudes(model, tokens); // mags[0].length === 32 on stories260K
 * ```
 */
export function keyMagnitudes(model: LlamaModel, tokens: readonly number[]): Float64Array[] {
  const acts = captureActivations(model, tokens);
  return acts.keys.map((k) => {
    const [H, T, D] = k.shape as [number, number, number];
    const m = new Float64Array(H * D);
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++)
        for (let j = 0; j < D; j++) m[h * D + j] = Math.max(m[h * D + j]!, Math.abs(k.data[(h * T + t) * D + j]!));
    return m;
  });
}
