/**
 * K-sort: outlier channel rearrangement for block-quantized K caches (Trukhanov & Soloveychik,
 * arXiv 2403.20137; bfp.md §7). Channels of similar magnitude are grouped into the same block by a
 * fixed permutation, so a block's shared exponent is not dictated by one outlier channel.
 *
 * A {@link ChannelOrder} maps new channel slots to original channels: slot `p` (global index
 * `h·D + j` over `kvHeads · headDim` channels) holds original channel `perm[p]`.
 * - `scope: 'head'`: channels stay inside their KV head; the permutation is fused into the rows of
 *   W_q and W_k offline ({@link permuteProjections}); Q·Kᵀ is unchanged.
 * - `scope: 'layer'`: channels may cross heads; the cache stores the keys permuted
 *   ({@link applyChannelOrder}) and attention gathers them back with the inverse index
 *   ({@link restoreChannelOrder}).
 * - `rope: 'interleaved'` (llama2.c / Meta pairs (2i, 2i+1)) or `'half'` (HF `rotate_half`, pairs
 *   (i, i + D/2)): whole pairs move together, sorted by the pair statistic √(s_a² + s_b²) (invariant
 *   under the rotation), and `pairPerm` records which RoPE frequency each new pair slot must use, so the
 *   permutation can be fused before RoPE.
 * Sorting is a stable ascending argsort of the statistic (index as tie-break).
 *
 * Exposed: RopeLayout, ChannelOrder, CalibrateOptions, PermuteProjectionsInput, PermutedProjections,
 * calibrateChannelOrder, channelOrderFromWeights, channelOrderFromPermutation, applyChannelOrder,
 * restoreChannelOrder, permuteProjections, ropeFrequencies.
 * Internal: orderFromStats, validateOrder.
 * @module
 */
import { check, fail } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import { checkBlockSize } from './formats.js';
import { normalizeInput } from './quantize.js';

/**
 * RoPE pair layout: none, interleaved pairs (2i, 2i+1) as in llama2.c / Meta, or half pairs (i, i + D/2)
 * as in HF `rotate_half`.
 *
 * @example
 * ```ts
 * const layout: RopeLayout = 'interleaved';
 * ```
 */
export type RopeLayout = 'none' | 'interleaved' | 'half';

/**
 * A channel permutation for K (and Q) channels. Plain data.
 *
 * @example
 * ```ts
 * const order: ChannelOrder = calibrateChannelOrder(keys, { blockSize: 4 });
 * order.perm[0]; // the original channel stored in slot 0
 * ```
 */
export interface ChannelOrder {
  readonly scope: 'head' | 'layer';
  readonly rope: RopeLayout;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Block size the order was calibrated for (documentation; the sort itself does not depend on it). */
  readonly blockSize: number;
  /** Slot → original global channel (`h·headDim + j`), length `kvHeads · headDim`. */
  readonly perm: Int32Array;
  /** Original global channel → slot (the inverse of `perm`). */
  readonly inverse: Int32Array;
  /**
   * With RoPE: for slot pair `h·(D/2) + i'`, the original pair index (0..D/2) whose frequency it uses;
   * `null` for `rope: 'none'`.
   */
  readonly pairPerm: Int32Array | null;
}

/**
 * Options of {@link calibrateChannelOrder}.
 *
 * @example
 * ```ts
 * const opts: CalibrateOptions = { blockSize: 8, scope: 'layer', statistic: 'absmax' };
 * ```
 */
export interface CalibrateOptions {
  /** Block size of the K quantizer (integer ≥ 1). */
  readonly blockSize: number;
  /** RoPE pair layout (default `'none'`). */
  readonly rope?: RopeLayout;
  /** `'head'` (default; fused into weights) or `'layer'` (storage-level, crosses heads). */
  readonly scope?: 'head' | 'layer';
  /** Channel statistic over tokens: `'l2'` (default, the norm), `'absmax'` or `'mean-abs'`. */
  readonly statistic?: 'l2' | 'absmax' | 'mean-abs';
  /** With RoPE and head scope: one pair order per head (default) or one shared by all heads. */
  readonly ropeTable?: 'per-head' | 'shared';
}

interface OrderOpts {
  blockSize: number;
  rope: RopeLayout;
  scope: 'head' | 'layer';
  ropeTable: 'per-head' | 'shared';
}

function parseOpts(o: Partial<CalibrateOptions> | undefined, D: number, who: string): OrderOpts {
  if (typeof o !== 'object' || o === null) fail('E_CONFIG', `${who}: options { blockSize } are required`);
  checkBlockSize(o.blockSize, who);
  const rope = o.rope ?? 'none';
  if (rope !== 'none' && rope !== 'interleaved' && rope !== 'half')
    fail('E_CONFIG', `${who}: rope must be 'none', 'interleaved' or 'half', got ${JSON.stringify(rope)}`);
  const scope = o.scope ?? 'head';
  if (scope !== 'head' && scope !== 'layer')
    fail('E_CONFIG', `${who}: scope must be 'head' or 'layer', got ${JSON.stringify(scope)}`);
  const ropeTable = o.ropeTable ?? 'per-head';
  if (ropeTable !== 'per-head' && ropeTable !== 'shared')
    fail('E_CONFIG', `${who}: ropeTable must be 'per-head' or 'shared', got ${JSON.stringify(ropeTable)}`);
  if (rope !== 'none' && D % 2 !== 0) fail('E_SHAPE', `${who}: RoPE needs an even headDim, got ${D}`);
  return { blockSize: o.blockSize, rope, scope, ropeTable };
}

function members(rope: RopeLayout, D: number, i: number): [number, number] {
  if (rope === 'interleaved') return [2 * i, 2 * i + 1];
  return [i, i + D / 2];
}

function stableArgsort(stat: Float64Array | number[], idx: number[]): number[] {
  return idx.slice().sort((a, b) => stat[a]! - stat[b]! || a - b);
}

/** Build an order from per-channel statistics (length kvHeads·D). Internal. */
export function orderFromStats(stats: Float64Array, H: number, D: number, o: OrderOpts): ChannelOrder {
  const pairs = o.rope !== 'none';
  const U = pairs ? D / 2 : D; // units per head
  const unitStat = new Float64Array(H * U);
  for (let h = 0; h < H; h++)
    for (let i = 0; i < U; i++) {
      if (!pairs) unitStat[h * U + i] = stats[h * D + i]!;
      else {
        const [a, b] = members(o.rope, D, i);
        unitStat[h * U + i] = Math.sqrt(stats[h * D + a]! ** 2 + stats[h * D + b]! ** 2);
      }
    }
  // sorted unit list per slot: sorted[r] = global unit index (h·U + i)
  const sorted: number[] = [];
  if (o.scope === 'layer') {
    sorted.push(...stableArgsort(unitStat, [...Array(H * U).keys()]));
  } else if (pairs && o.ropeTable === 'shared') {
    const sum = new Float64Array(U);
    for (let h = 0; h < H; h++) for (let i = 0; i < U; i++) sum[i] = sum[i]! + unitStat[h * U + i]!;
    const ord = stableArgsort(sum, [...Array(U).keys()]);
    for (let h = 0; h < H; h++) for (const i of ord) sorted.push(h * U + i);
  } else {
    for (let h = 0; h < H; h++) {
      const local = stableArgsort(unitStat.subarray(h * U, (h + 1) * U), [...Array(U).keys()]);
      for (const i of local) sorted.push(h * U + i);
    }
  }
  const perm = new Int32Array(H * D);
  const pairPerm = pairs ? new Int32Array(H * U) : null;
  for (let r = 0; r < H * U; r++) {
    const src = sorted[r]!;
    const hs = Math.floor(src / U);
    const is = src % U;
    const hd = Math.floor(r / U);
    const id = r % U;
    if (!pairs) perm[hd * D + id] = hs * D + is;
    else {
      const [sa, sb] = members(o.rope, D, is);
      const [da, db] = members(o.rope, D, id);
      perm[hd * D + da] = hs * D + sa;
      perm[hd * D + db] = hs * D + sb;
      pairPerm![hd * U + id] = is;
    }
  }
  return makeOrder(perm, pairPerm, H, D, o);
}

function makeOrder(perm: Int32Array, pairPerm: Int32Array | null, H: number, D: number, o: OrderOpts): ChannelOrder {
  const inverse = new Int32Array(H * D);
  for (let p = 0; p < H * D; p++) inverse[perm[p]!] = p;
  return Object.freeze({
    scope: o.scope,
    rope: o.rope,
    kvHeads: H,
    headDim: D,
    blockSize: o.blockSize,
    perm,
    inverse,
    pairPerm,
  });
}

/**
 * Calibrate a channel order from keys `[kvHeads, T, headDim]` (for `rope` ≠ `'none'`, keys before or
 * after RoPE give the same pair statistic with `'l2'`). Throws `E_SHAPE` for another rank, `E_NONFINITE`
 * for NaN/Inf keys, `E_CONFIG` for bad options.
 *
 * @example
 * ```ts
 * const order = calibrateChannelOrder(keys, { blockSize: 4, rope: 'interleaved' });
 * const { wq, wk, freqs } = permuteProjections({ wq: Wq, wk: Wk, numHeads: 8, numKvHeads: 4, headDim: 8, order });
 * ```
 */
export function calibrateChannelOrder(k: Float32Tensor, opts: CalibrateOptions): ChannelOrder {
  const { data, shape } = normalizeInput(k, 'calibrateChannelOrder');
  if (shape.length !== 3)
    fail('E_SHAPE', `calibrateChannelOrder: expected keys [kvHeads, T, headDim], got [${shape.join(', ')}]`);
  const [H, T, D] = shape as [number, number, number];
  check(H >= 1 && D >= 1 && T >= 1, 'E_SHAPE', `calibrateChannelOrder: empty keys [${shape.join(', ')}]`);
  const o = parseOpts(opts, D, 'calibrateChannelOrder');
  const statistic = opts.statistic ?? 'l2';
  if (statistic !== 'l2' && statistic !== 'absmax' && statistic !== 'mean-abs')
    fail(
      'E_CONFIG',
      `calibrateChannelOrder: statistic must be 'l2', 'absmax' or 'mean-abs', got ${JSON.stringify(statistic)}`,
    );
  const stats = new Float64Array(H * D);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++) {
      const base = (h * T + t) * D;
      for (let j = 0; j < D; j++) {
        const v = data[base + j]!;
        if (!Number.isFinite(v)) fail('E_NONFINITE', `calibrateChannelOrder: key [${h}, ${t}, ${j}] is ${v}`);
        const s = h * D + j;
        const a = Math.abs(v);
        if (statistic === 'l2') stats[s] = stats[s]! + v * v;
        else if (statistic === 'absmax') stats[s] = Math.max(stats[s]!, a);
        else stats[s] = stats[s]! + a / T;
      }
    }
  if (statistic === 'l2') for (let s = 0; s < H * D; s++) stats[s] = Math.sqrt(stats[s]!);
  return orderFromStats(stats, H, D, o);
}

/**
 * The paper's data-free order: sort channels by the L2 norm of their W_k row (`wk` `[kvHeads·headDim, d]`).
 *
 * @example
 * ```ts
 * const order = channelOrderFromWeights(wk, { numKvHeads: 4, headDim: 8, blockSize: 4, rope: 'interleaved' });
 * ```
 */
export function channelOrderFromWeights(
  wk: Float32Tensor,
  opts: { numKvHeads: number; headDim: number } & Omit<CalibrateOptions, 'statistic'>,
): ChannelOrder {
  const { data, shape } = normalizeInput(wk, 'channelOrderFromWeights');
  const H = opts?.numKvHeads;
  const D = opts?.headDim;
  if (!Number.isSafeInteger(H) || H < 1 || !Number.isSafeInteger(D) || D < 1)
    fail('E_CONFIG', `channelOrderFromWeights: numKvHeads and headDim must be integers >= 1, got ${H}, ${D}`);
  if (shape.length !== 2 || shape[0] !== H * D)
    fail('E_SHAPE', `channelOrderFromWeights: expected wk [${H * D}, d], got [${shape.join(', ')}]`);
  const o = parseOpts(opts, D, 'channelOrderFromWeights');
  const d = shape[1]!;
  const stats = new Float64Array(H * D);
  for (let r = 0; r < H * D; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += data[r * d + c]! ** 2;
    stats[r] = Math.sqrt(s);
  }
  return orderFromStats(stats, H, D, o);
}

/**
 * Validate a hand-made permutation and wrap it as a {@link ChannelOrder}. `perm` maps slot → original
 * global channel; with `scope: 'head'` every index must stay in its head; with RoPE, pairs must map to
 * pairs. Throws `E_CONFIG` if `perm` is not a permutation (or breaks those rules).
 *
 * @example
 * ```ts
 * const order = channelOrderFromPermutation([1, 0, 3, 2], { kvHeads: 1, headDim: 4, blockSize: 2 });
 * ```
 */
export function channelOrderFromPermutation(
  perm: ArrayLike<number>,
  opts: { kvHeads: number; headDim: number } & Omit<CalibrateOptions, 'statistic' | 'ropeTable'>,
): ChannelOrder {
  const H = opts?.kvHeads;
  const D = opts?.headDim;
  if (!Number.isSafeInteger(H) || H < 1 || !Number.isSafeInteger(D) || D < 1)
    fail('E_CONFIG', `channelOrderFromPermutation: kvHeads and headDim must be integers >= 1, got ${H}, ${D}`);
  const o = parseOpts(opts, D, 'channelOrderFromPermutation');
  const p = Int32Array.from({ length: perm?.length ?? 0 }, (_, i) => perm[i]!);
  const pairPerm = derivePairs(p, perm, H, D, o);
  const order = makeOrder(p, pairPerm, H, D, o);
  validateOrder(order, 'channelOrderFromPermutation');
  return order;
}

function derivePairs(p: Int32Array, raw: ArrayLike<number>, H: number, D: number, o: OrderOpts): Int32Array | null {
  checkPermutation(raw, H * D, 'channelOrderFromPermutation');
  if (o.rope === 'none') return null;
  const U = D / 2;
  const pp = new Int32Array(H * U);
  for (let h = 0; h < H; h++)
    for (let i = 0; i < U; i++) {
      const [a, b] = members(o.rope, D, i);
      const sa = p[h * D + a]!;
      const sb = p[h * D + b]!;
      const hs = Math.floor(sa / D);
      const ja = sa % D;
      const jb = sb - hs * D;
      let src = -1;
      for (let k = 0; k < U; k++) {
        const [ma, mb] = members(o.rope, D, k);
        if (ma === ja && mb === jb) src = k;
      }
      if (src < 0)
        fail('E_CONFIG', `channelOrderFromPermutation: slot pair ${i} of head ${h} does not hold a whole RoPE pair`);
      pp[h * U + i] = src;
    }
  return pp;
}

function checkPermutation(perm: ArrayLike<number> | undefined, n: number, who: string): void {
  if (perm === undefined || perm === null || typeof perm.length !== 'number' || perm.length !== n)
    fail('E_CONFIG', `${who}: permutation must have ${n} entries, got ${perm?.length}`);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = perm[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= n || seen[v] === 1)
      fail('E_CONFIG', `${who}: not a permutation of 0..${n - 1} (entry ${i} is ${v})`);
    seen[v] = 1;
  }
}

/** Check an order's internal consistency. Internal. */
export function validateOrder(order: ChannelOrder, who: string): void {
  if (typeof order !== 'object' || order === null) fail('E_CONFIG', `${who}: expected a ChannelOrder`);
  const { kvHeads: H, headDim: D } = order;
  if (!Number.isSafeInteger(H) || H < 1 || !Number.isSafeInteger(D) || D < 1)
    fail('E_CONFIG', `${who}: order has bad kvHeads/headDim (${H}, ${D})`);
  checkPermutation(order.perm, H * D, who);
  checkPermutation(order.inverse, H * D, who);
  for (let p = 0; p < H * D; p++)
    if (order.inverse[order.perm[p]!] !== p) fail('E_CONFIG', `${who}: order.inverse is not the inverse of order.perm`);
  if (order.scope === 'head')
    for (let p = 0; p < H * D; p++)
      if (Math.floor(order.perm[p]! / D) !== Math.floor(p / D))
        fail('E_CONFIG', `${who}: scope 'head' but slot ${p} takes channel ${order.perm[p]} from another head`);
  if (order.rope !== 'none') {
    const U = D / 2;
    const pp = order.pairPerm;
    if (!(pp instanceof Int32Array) || pp.length !== H * U)
      fail('E_CONFIG', `${who}: RoPE order needs pairPerm of ${H * U} entries`);
    for (let h = 0; h < H; h++) {
      if (order.scope === 'head') checkPermutation(pp.subarray(h * U, (h + 1) * U), U, who);
      for (let i = 0; i < U; i++) {
        const v = pp[h * U + i]!;
        if (!Number.isInteger(v) || v < 0 || v >= U) fail('E_CONFIG', `${who}: pairPerm entry ${v} out of 0..${U - 1}`);
        const [da, db] = members(order.rope, D, i);
        const [sa, sb] = members(order.rope, D, pp[h * U + i]!);
        const src = order.perm[h * D + da]!;
        const base = src - sa;
        if (order.perm[h * D + db]! !== base + sb || base % D !== 0)
          fail('E_CONFIG', `${who}: slot pair ${i} of head ${h} does not match pairPerm`);
      }
    }
  }
}

function gather(k: Float32Tensor, order: ChannelOrder, map: Int32Array, who: string): Float32Tensor {
  const { data, shape } = normalizeInput(k, who);
  if (shape.length !== 3 || shape[0] !== order.kvHeads || shape[2] !== order.headDim)
    fail('E_SHAPE', `${who}: expected keys [${order.kvHeads}, T, ${order.headDim}], got [${shape.join(', ')}]`);
  const [H, T, D] = shape as [number, number, number];
  const out = new Float32Array(data.length);
  for (let p = 0; p < H * D; p++) {
    const src = map[p]!;
    const hd = Math.floor(p / D);
    const jd = p % D;
    const hs = Math.floor(src / D);
    const js = src % D;
    for (let t = 0; t < T; t++) out[(hd * T + t) * D + jd] = data[(hs * T + t) * D + js]!;
  }
  return { dtype: 'float32', data: out, shape: Object.freeze([H, T, D]) };
}

/**
 * Permute keys `[kvHeads, T, headDim]` into slot order: `out[h', t, j'] = k[perm(h'·D + j')]`.
 *
 * @example
 * ```ts
 * const stored = applyChannelOrder(keys, order); // quantize `stored` in blocks along the last axis
 * ```
 */
export function applyChannelOrder(k: Float32Tensor, order: ChannelOrder): Float32Tensor {
  validateOrder(order, 'applyChannelOrder');
  return gather(k, order, order.perm, 'applyChannelOrder');
}

/**
 * Inverse of {@link applyChannelOrder}: gather permuted keys back to the original channel order.
 *
 * @example
 * ```ts
 * restoreChannelOrder(applyChannelOrder(keys, order), order); // equals keys
 * ```
 */
export function restoreChannelOrder(k: Float32Tensor, order: ChannelOrder): Float32Tensor {
  validateOrder(order, 'restoreChannelOrder');
  return gather(k, order, order.inverse, 'restoreChannelOrder');
}

/**
 * The standard RoPE frequencies `θ^(−2i/D)` for `i = 0..D/2 − 1` (float64).
 *
 * @example
 * ```ts
 * ropeFrequencies(8); // [1, 0.1, 0.01, 0.001]
 * ```
 */
export function ropeFrequencies(headDim: number, theta = 10000): Float64Array {
  if (!Number.isSafeInteger(headDim) || headDim < 2 || headDim % 2 !== 0)
    fail('E_CONFIG', `ropeFrequencies: headDim must be an even integer >= 2, got ${headDim}`);
  const f = new Float64Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) f[i] = 1 / theta ** ((2 * i) / headDim);
  return f;
}

/**
 * Inputs of {@link permuteProjections}. Matrices are `[out, in]` (row = output channel, y = W·x).
 *
 * @example
 * ```ts
 * const input: PermuteProjectionsInput = { wq, wk, numHeads: 8, numKvHeads: 4, headDim: 8, order };
 * ```
 */
export interface PermuteProjectionsInput {
  readonly wq: Float32Tensor;
  readonly wk: Float32Tensor;
  readonly bq?: Float32Tensor;
  readonly bk?: Float32Tensor;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly order: ChannelOrder;
  /** Base RoPE frequencies (length headDim/2; default {@link ropeFrequencies}). */
  readonly freqs?: ArrayLike<number>;
}

/**
 * Result of {@link permuteProjections}.
 *
 * @example
 * ```ts
 * const { wq: wq2, wk: wk2, freqs } = permuteProjections(input);
 * ```
 */
export interface PermutedProjections {
  readonly wq: Float32Tensor;
  readonly wk: Float32Tensor;
  readonly bq?: Float32Tensor;
  readonly bk?: Float32Tensor;
  /** With RoPE: per-KV-head frequency tables `[numKvHeads, headDim/2]` (query heads use their KV head's). */
  readonly freqs?: Float64Array;
}

function rows(t: Float32Tensor, nRows: number, name: string, rank: 1 | 2): Float32Array {
  const { data, shape } = normalizeInput(t, 'permuteProjections');
  if (shape.length !== rank || shape[0] !== nRows)
    fail(
      'E_SHAPE',
      `permuteProjections: expected ${name} [${nRows}${rank === 2 ? ', d' : ''}], got [${shape.join(', ')}]`,
    );
  return data;
}

function permuteRows(data: Float32Array, shape: readonly number[], src: (r: number) => number): Float32Tensor {
  const n = shape[0]!;
  const d = shape.length === 2 ? shape[1]! : 1;
  const out = new Float32Array(data.length);
  for (let r = 0; r < n; r++) out.set(data.subarray(src(r) * d, src(r) * d + d), r * d);
  return { dtype: 'float32', data: out, shape: Object.freeze([...shape]) };
}

/**
 * Fuse a head-scope channel order into W_q and W_k (and biases): `W_k'[h·D + j] = W_k[perm(h·D + j)]`
 * and, for every query head `q` of KV head `h` (GQA groups share it), `W_q'[q·D + j] = W_q[q·D + π_h(j)]`.
 * With RoPE, also returns the per-head permuted frequency tables. Q·Kᵀ is unchanged. Inputs are not
 * mutated. Throws `E_SHAPE` when the weights do not match the heads, `E_CONFIG` for a layer-scope
 * order or one that is not a permutation.
 *
 * @example
 * ```ts
 * const p = permuteProjections({ wq, wk, numHeads: 8, numKvHeads: 4, headDim: 8, order });
 * // use p.wq, p.wk, and p.freqs[h * 4 + i] as the frequency of pair slot i of KV head h (and its query heads)
 * ```
 */
export function permuteProjections(input: PermuteProjectionsInput): PermutedProjections {
  if (typeof input !== 'object' || input === null) fail('E_CONFIG', 'permuteProjections: expected an input object');
  const { numHeads: Hq, numKvHeads: H, headDim: D, order } = input;
  for (const [k, v] of [
    ['numHeads', Hq],
    ['numKvHeads', H],
    ['headDim', D],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 1)
      fail('E_CONFIG', `permuteProjections: ${k} must be an integer >= 1, got ${v}`);
  if (Hq % H !== 0) fail('E_SHAPE', `permuteProjections: numHeads ${Hq} is not a multiple of numKvHeads ${H}`);
  validateOrder(order, 'permuteProjections');
  if (order.scope !== 'head')
    fail('E_CONFIG', "permuteProjections: a scope 'layer' order cannot be fused into weights; apply it to the cache");
  if (order.kvHeads !== H || order.headDim !== D)
    fail(
      'E_SHAPE',
      `permuteProjections: order is for ${order.kvHeads} KV heads × ${order.headDim}, weights for ${H} × ${D}`,
    );
  const wq = rows(input.wq, Hq * D, 'wq', 2);
  const wk = rows(input.wk, H * D, 'wk', 2);
  if (input.wq.shape[1] !== input.wk.shape[1])
    fail(
      'E_SHAPE',
      `permuteProjections: wq and wk have different input widths (${input.wq.shape[1]} vs ${input.wk.shape[1]})`,
    );
  const g = Hq / H;
  const qsrc = (r: number) => {
    const q = Math.floor(r / D);
    const h = Math.floor(q / g);
    return q * D + (order.perm[h * D + (r % D)]! - h * D);
  };
  const ksrc = (r: number) => order.perm[r]!;
  const res: { -readonly [K in keyof PermutedProjections]: PermutedProjections[K] } = {
    wq: permuteRows(wq, input.wq.shape, qsrc),
    wk: permuteRows(wk, input.wk.shape, ksrc),
  };
  if (input.bq !== undefined) res.bq = permuteRows(rows(input.bq, Hq * D, 'bq', 1), input.bq.shape, qsrc);
  if (input.bk !== undefined) res.bk = permuteRows(rows(input.bk, H * D, 'bk', 1), input.bk.shape, ksrc);
  if (order.rope !== 'none') {
    const U = D / 2;
    const base = input.freqs === undefined ? ropeFrequencies(D) : Float64Array.from(input.freqs);
    if (base.length !== U)
      fail('E_SHAPE', `permuteProjections: freqs must have headDim/2 = ${U} entries, got ${base.length}`);
    const f = new Float64Array(H * U);
    for (let s = 0; s < H * U; s++) f[s] = base[order.pairPerm![s]!]!;
    res.freqs = f;
  }
  return res;
}
