/**
 * D²MoE's online pipeline for bit-nested experts (mwq.md §5): which (expert, level increment) to load in
 * which order, when each load and compute runs, what to evict under a memory budget.
 *
 * Model (residual levels; a token routed to expert j at level k consumes increments 1..k, each increment's
 * compute uses only its own plane, y = Ŵ₁x + Σ s_i·Q_i·x):
 * - freq(j, k) = Σ_{k' ≥ k} tokens(j, k') — tokens that consume increment k of expert j;
 * - one I/O stream (loads back to back) and one compute stream; item (j, k) computes for
 *   freq(j, k)·compute[k] and starts after its load ends and after the previous compute;
 * - resident items that are needed compute first (no load), highest frequency first;
 * - memory: used = resident + loaded bytes ≤ budget. A load that does not fit waits until enough items
 *   whose compute has finished (or that this batch does not need) can be evicted; eviction order: highest
 *   level first, then lowest frequency, then lowest expert id (high-bit increments before low-bit bases).
 *
 * Policies (ties: lower level, then lower expert id):
 * - `'hebf'`: repeatedly take, among the heads of the per-expert ascending queues, the hottest increment;
 * - `'fifo'`: expert-id order, levels ascending;
 * - `'max-bits'`: every routed token of an expert runs at the top level (all increments), FIFO order.
 *
 * Exposed: HebfLevelCost, ExpertLevelRequest, HebfInput, PipelineItem, PipelineResult, PipelinePolicy,
 * scheduleHEBF, simulatePipeline, scheduleOptimal, syntheticTrace, SyntheticTraceOptions.
 * @module
 */
import { fail } from '../common/errors.js';
import { createRng } from '../common/rounding.js';

/**
 * Cost of one level increment of one expert (all experts are the same size).
 *
 * @example
 * ```ts
 * const base: HebfLevelCost = { bits: 2, load: 2, compute: 0.2, bytes: 2 };
 * ```
 */
export interface HebfLevelCost {
  /** Bit width this increment completes (ascending along `costs`). */
  readonly bits: number;
  /** Time to load the increment. */
  readonly load: number;
  /** Time per token to dequantize and run the increment. */
  readonly compute: number;
  /** Bytes the increment occupies in memory. */
  readonly bytes: number;
}

/**
 * Tokens routed to one expert at one bit width.
 *
 * @example
 * ```ts
 * const r: ExpertLevelRequest = { bits: 3, tokens: 5 };
 * ```
 */
export interface ExpertLevelRequest {
  readonly bits: number;
  readonly tokens: number;
}

/**
 * Input of the scheduler.
 *
 * @example
 * ```ts
 * const input: HebfInput = {
 *   requests: [[{ bits: 2, tokens: 5 }, { bits: 4, tokens: 1 }], [{ bits: 3, tokens: 2 }]],
 *   costs: [{ bits: 2, load: 4, compute: 1, bytes: 400 }, { bits: 3, load: 2, compute: 0.5, bytes: 200 }, { bits: 4, load: 2, compute: 0.5, bytes: 200 }],
 *   memoryBudget: 2000,
 * };
 * ```
 */
export interface HebfInput {
  /** Per expert (index = expert id): the bit levels requested and their token counts. */
  readonly requests: readonly (readonly ExpertLevelRequest[])[];
  /** The level ladder, ascending bits; `costs[0]` is the base. */
  readonly costs: readonly HebfLevelCost[];
  /** Memory budget in bytes (`Infinity` for none). */
  readonly memoryBudget: number;
  /** Increments already in memory (expert ids may exceed `requests.length`: other layers' experts). */
  readonly resident?: readonly { readonly expert: number; readonly bits: number }[];
}

/**
 * One scheduled item of a {@link PipelineResult} timeline.
 *
 * @example
 * ```ts
 * const first: PipelineItem = scheduleHEBF(input).timeline[0]!; // { expert, bits, tokens, loadStart, … }
 * ```
 */
export interface PipelineItem {
  readonly expert: number;
  readonly bits: number;
  /** Tokens consuming this increment, freq(j, k). */
  readonly tokens: number;
  /** Already resident (no load; loadStart = loadEnd = 0). */
  readonly resident: boolean;
  readonly loadStart: number;
  readonly loadEnd: number;
  readonly compStart: number;
  readonly compEnd: number;
}

/**
 * Scheduling policy of {@link simulatePipeline}.
 *
 * @example
 * ```ts
 * const p: PipelinePolicy = 'fifo';
 * ```
 */
export type PipelinePolicy = 'hebf' | 'fifo' | 'max-bits';

/**
 * Result of a simulation: I/O order, timeline, evictions, peak memory, makespan, compute bubbles.
 *
 * @example
 * ```ts
 * const { makespan, peakMemory, evictions }: PipelineResult = scheduleHEBF(input);
 * ```
 */
export interface PipelineResult {
  readonly policy: PipelinePolicy | 'optimal';
  /** Loads in I/O order. */
  readonly ioQueue: readonly { readonly expert: number; readonly bits: number }[];
  /** Items in compute order (resident first). */
  readonly timeline: readonly PipelineItem[];
  /** Evictions in time order. */
  readonly evictions: readonly { readonly expert: number; readonly bits: number; readonly time: number }[];
  /** Peak bytes in memory. */
  readonly peakMemory: number;
  /** End of the last compute (or load). */
  readonly makespan: number;
  /** Idle time of the compute stream before the makespan. */
  readonly bubbles: number;
  /** What is in memory at the end. */
  readonly finalResident: readonly { readonly expert: number; readonly bits: number }[];
}

interface Norm {
  K: number;
  costs: HebfLevelCost[];
  /** sel[j][k]: tokens of expert j at level index k. */
  sel: number[][];
  budget: number;
  resident: { expert: number; k: number }[];
}

function normalize(input: HebfInput, who: string): Norm {
  if (input === null || typeof input !== 'object') fail('E_CONFIG', `${who}: input object required`);
  const { costs, requests, memoryBudget } = input;
  if (!Array.isArray(costs) || costs.length === 0)
    fail('E_CONFIG', `${who}: costs must be a non-empty array of levels`);
  costs.forEach((c, k) => {
    if (!Number.isInteger(c.bits) || c.bits < 1 || (k > 0 && c.bits <= costs[k - 1]!.bits))
      fail('E_CONFIG', `${who}: costs[${k}].bits must be integers in strictly ascending order`);
    for (const f of ['load', 'compute', 'bytes'] as const) {
      const v = c[f];
      if (!(Number.isFinite(v) && v >= 0))
        fail('E_CONFIG', `${who}: costs[${k}].${f} must be finite and >= 0, got ${v}`);
    }
  });
  if (!(typeof memoryBudget === 'number' && memoryBudget > 0))
    fail('E_CONFIG', `${who}: memoryBudget must be a positive number of bytes (Infinity allowed), got ${memoryBudget}`);
  if (!Array.isArray(requests)) fail('E_CONFIG', `${who}: requests must be an array (one entry per expert)`);
  const K = costs.length;
  const idx = (bits: number, where: string): number => {
    const k = costs.findIndex((c) => c.bits === bits);
    if (k < 0)
      fail(
        'E_CONFIG',
        `${who}: ${where} asks for ${bits} bits, not in the ladder ${costs.map((c) => c.bits).join(', ')}`,
      );
    return k;
  };
  const sel = requests.map((reqs, j) => {
    if (!Array.isArray(reqs)) fail('E_CONFIG', `${who}: requests[${j}] must be an array of { bits, tokens }`);
    const row = new Array<number>(K).fill(0);
    for (const r of reqs) {
      if (!(Number.isFinite(r.tokens) && r.tokens >= 0))
        fail('E_CONFIG', `${who}: requests[${j}] tokens must be finite and >= 0, got ${r.tokens}`);
      const k = idx(r.bits, `requests[${j}]`);
      row[k] = row[k]! + r.tokens;
    }
    return row;
  });
  const seen = new Set<string>();
  const resident = (input.resident ?? []).map((r, i) => {
    if (!Number.isInteger(r.expert) || r.expert < 0)
      fail('E_CONFIG', `${who}: resident[${i}].expert must be a non-negative integer`);
    const k = idx(r.bits, `resident[${i}]`);
    const key = `${r.expert}:${k}`;
    if (seen.has(key)) fail('E_CONFIG', `${who}: resident lists expert ${r.expert} at ${r.bits} bits twice`);
    seen.add(key);
    return { expert: r.expert, k };
  });
  return { K, costs: [...costs], sel, budget: memoryBudget, resident };
}

/** freq(j, k) per policy. */
function frequencies(n: Norm, policy: PipelinePolicy | 'optimal'): number[][] {
  return n.sel.map((row) => {
    const f = new Array<number>(n.K).fill(0);
    if (policy === 'max-bits') {
      const tot = row.reduce((a, b) => a + b, 0);
      f.fill(tot);
      return f;
    }
    let acc = 0;
    for (let k = n.K - 1; k >= 0; k--) {
      acc += row[k]!;
      f[k] = acc;
    }
    return f;
  });
}

/** Simulate a given I/O order. `order` lists (expert, level index) items to load. */
function simulate(
  n: Norm,
  freq: number[][],
  order: { expert: number; k: number }[],
  policy: PipelineResult['policy'],
  who: string,
): PipelineResult {
  const key = (j: number, k: number): string => `${j}:${k}`;
  const fr = (j: number, k: number): number => freq[j]?.[k] ?? 0;
  interface Mem {
    expert: number;
    k: number;
    bytes: number;
    doneAt: number; // time after which it can be evicted
    freq: number;
  }
  const mem = new Map<string, Mem>();
  let used = 0;
  for (const r of n.resident) {
    const b = n.costs[r.k]!.bytes;
    mem.set(key(r.expert, r.k), { expert: r.expert, k: r.k, bytes: b, doneAt: 0, freq: fr(r.expert, r.k) });
    used += b;
  }
  const evictions: { expert: number; bits: number; time: number }[] = [];
  const timeline: PipelineItem[] = [];
  let tC = 0;
  let busy = 0;
  // resident items that are needed compute first, hottest first
  const resNeeded = [...mem.values()]
    .filter((m) => m.freq > 0)
    .sort((a, b) => b.freq - a.freq || a.k - b.k || a.expert - b.expert);
  for (const m of resNeeded) {
    const d = m.freq * n.costs[m.k]!.compute;
    timeline.push({
      expert: m.expert,
      bits: n.costs[m.k]!.bits,
      tokens: m.freq,
      resident: true,
      loadStart: 0,
      loadEnd: 0,
      compStart: tC,
      compEnd: tC + d,
    });
    tC += d;
    busy += d;
    m.doneAt = tC;
  }
  if (used > n.budget) {
    // evict unneeded residents right away (priority order) until the budget holds
    const cands = [...mem.values()]
      .filter((m) => m.freq === 0)
      .sort((a, b) => b.k - a.k || a.freq - b.freq || a.expert - b.expert);
    for (const m of cands) {
      if (used <= n.budget) break;
      mem.delete(key(m.expert, m.k));
      used -= m.bytes;
      evictions.push({ expert: m.expert, bits: n.costs[m.k]!.bits, time: 0 });
    }
    if (used > n.budget)
      fail('E_LIMIT', `${who}: the needed resident increments (${used} bytes) exceed the memory budget ${n.budget}`);
  }
  let peak = used; // after the start-of-batch evictions (an over-budget input residency is not a schedule's peak)
  let tIO = 0;
  for (const it of order) {
    const c = n.costs[it.k]!;
    let start = tIO;
    if (used + c.bytes > n.budget) {
      const deficit = used + c.bytes - n.budget;
      const cands = [...mem.values()].sort((a, b) => a.doneAt - b.doneAt);
      let avail = 0;
      let T = -1;
      for (const m of cands) {
        avail += m.bytes;
        if (avail >= deficit) {
          T = m.doneAt;
          break;
        }
      }
      if (T < 0)
        fail(
          'E_LIMIT',
          `${who}: increment (${it.expert}, ${c.bits} bits) of ${c.bytes} bytes cannot fit in the memory budget ${n.budget}`,
        );
      start = Math.max(tIO, T);
      const ready = cands
        .filter((m) => m.doneAt <= T)
        .sort((a, b) => b.k - a.k || a.freq - b.freq || a.expert - b.expert);
      let freed = 0;
      for (const m of ready) {
        if (freed >= deficit) break;
        mem.delete(key(m.expert, m.k));
        freed += m.bytes;
        used -= m.bytes;
        evictions.push({ expert: m.expert, bits: n.costs[m.k]!.bits, time: start });
      }
    }
    const f = fr(it.expert, it.k);
    used += c.bytes;
    if (used > peak) peak = used;
    const loadEnd = start + c.load;
    tIO = loadEnd;
    const compStart = Math.max(tC, loadEnd);
    const d = f * c.compute;
    tC = compStart + d;
    busy += d;
    mem.set(key(it.expert, it.k), { expert: it.expert, k: it.k, bytes: c.bytes, doneAt: tC, freq: f });
    timeline.push({
      expert: it.expert,
      bits: c.bits,
      tokens: f,
      resident: false,
      loadStart: start,
      loadEnd,
      compStart,
      compEnd: tC,
    });
  }
  const makespan = Math.max(tC, tIO);
  evictions.sort((a, b) => a.time - b.time);
  const finalResident = [...mem.values()]
    .sort((a, b) => a.expert - b.expert || a.k - b.k)
    .map((m) => ({ expert: m.expert, bits: n.costs[m.k]!.bits }));
  return {
    policy,
    ioQueue: order.map((o) => ({ expert: o.expert, bits: n.costs[o.k]!.bits })),
    timeline,
    evictions,
    peakMemory: peak,
    makespan,
    bubbles: makespan - busy,
    finalResident,
  };
}

/** Per-expert queues of needed, non-resident increments in ascending order. */
function queues(n: Norm, freq: number[][]): { expert: number; k: number }[][] {
  const res = new Set(n.resident.map((r) => `${r.expert}:${r.k}`));
  return freq.map((f, j) => {
    const q: { expert: number; k: number }[] = [];
    for (let k = 0; k < n.K; k++) if (f[k]! > 0 && !res.has(`${j}:${k}`)) q.push({ expert: j, k });
    return q;
  });
}

/**
 * Simulate one layer's batch under a policy: `'hebf'` (hottest increment first among the per-expert
 * queue heads), `'fifo'` (expert-id order) or `'max-bits'` (every token at the top level, FIFO order).
 * `E_CONFIG` for bad input, `E_LIMIT` when an increment cannot fit the budget even after evictions.
 *
 * @example
 * ```ts
 * const fifo = simulatePipeline(input, 'fifo');
 * const hebf = simulatePipeline(input, 'hebf');
 * hebf.makespan <= fifo.makespan; // usually, on skewed traces
 * ```
 */
export function simulatePipeline(input: HebfInput, policy: PipelinePolicy): PipelineResult {
  if (policy !== 'hebf' && policy !== 'fifo' && policy !== 'max-bits')
    fail('E_CONFIG', `simulatePipeline: policy must be 'hebf', 'fifo' or 'max-bits', got ${JSON.stringify(policy)}`);
  const n = normalize(input, 'simulatePipeline');
  const freq = frequencies(n, policy);
  const Q = queues(n, freq);
  const order: { expert: number; k: number }[] = [];
  if (policy === 'hebf') {
    const heads = Q.map(() => 0);
    for (;;) {
      let best = -1;
      for (let j = 0; j < Q.length; j++) {
        const it = Q[j]![heads[j]!];
        if (it === undefined) continue;
        if (best < 0) {
          best = j;
          continue;
        }
        const b = Q[best]![heads[best]!]!;
        const fi = freq[j]![it.k]!;
        const fb = freq[best]![b.k]!;
        if (fi > fb || (fi === fb && it.k < b.k)) best = j;
      }
      if (best < 0) break;
      order.push(Q[best]![heads[best]!]!);
      heads[best]!++;
    }
  } else for (const q of Q) order.push(...q);
  return simulate(n, freq, order, policy, 'simulatePipeline');
}

/**
 * The hottest-expert-bit-first schedule (D²MoE HEBF) of one layer's batch: I/O order, start/finish of
 * every load and compute, evictions, peak memory and makespan. Same as `simulatePipeline(input, 'hebf')`.
 *
 * @example
 * ```ts
 * const s = scheduleHEBF({ requests, costs, memoryBudget: 64e6 });
 * s.ioQueue; // [{ expert: 3, bits: 2 }, { expert: 3, bits: 3 }, …]
 * s.makespan;
 * ```
 */
export function scheduleHEBF(input: HebfInput): PipelineResult {
  return simulatePipeline(input, 'hebf');
}

/**
 * Brute-force optimum over every I/O order that loads each expert's increments in ascending order (same
 * timing and memory model). For checking heuristics on small batches: at most 9 loads (`E_LIMIT`).
 *
 * @example
 * ```ts
 * const gap = scheduleHEBF(input).makespan / scheduleOptimal(input).makespan - 1;
 * ```
 */
export function scheduleOptimal(input: HebfInput): PipelineResult {
  const n = normalize(input, 'scheduleOptimal');
  const freq = frequencies(n, 'hebf');
  const Q = queues(n, freq);
  const total = Q.reduce((a, q) => a + q.length, 0);
  if (total > 9) fail('E_LIMIT', `scheduleOptimal: ${total} loads; brute force is limited to 9`);
  let best: PipelineResult | undefined;
  const heads = Q.map(() => 0);
  const order: { expert: number; k: number }[] = [];
  const rec = (): void => {
    if (order.length === total) {
      let r: PipelineResult;
      try {
        r = simulate(n, freq, [...order], 'optimal', 'scheduleOptimal');
      } catch {
        return;
      }
      if (best === undefined || r.makespan < best.makespan) best = r;
      return;
    }
    for (let j = 0; j < Q.length; j++) {
      const it = Q[j]![heads[j]!];
      if (it === undefined) continue;
      heads[j]!++;
      order.push(it);
      rec();
      order.pop();
      heads[j]!--;
    }
  };
  rec();
  if (best === undefined) return simulate(n, freq, [], 'optimal', 'scheduleOptimal');
  return best;
}

/**
 * Options of {@link syntheticTrace}.
 *
 * @example
 * ```ts
 * const o: SyntheticTraceOptions = { experts: 8, tokens: 32, skew: 1.2, levelShares: [0.3, 0.4, 0.3], ladder: [2, 3, 4], seed: 1 };
 * ```
 */
export interface SyntheticTraceOptions {
  readonly experts: number;
  readonly tokens: number;
  /** Zipf exponent of expert popularity (0 = uniform). */
  readonly skew: number;
  /** Share of tokens per ladder level (normalised). */
  readonly levelShares: readonly number[];
  /** Bit widths of the ladder (same length as levelShares). */
  readonly ladder: readonly number[];
  /** Experts per token (top-k routing, default 1). */
  readonly topK?: number;
  readonly seed: number;
}

/**
 * Seeded synthetic routing trace. Generator (documented, deterministic): a splitmix32 stream
 * (`createRng(seed)`); a random permutation of expert ids ranks them (Fisher–Yates); expert of rank i has
 * weight 1/(i + 1)^skew; each token draws `topK` distinct experts in proportion to the weights (without
 * replacement) and one level from `levelShares`, shared by its experts.
 *
 * @example
 * ```ts
 * const requests = syntheticTrace({ experts: 8, tokens: 32, skew: 1.2, levelShares: [0.3, 0.4, 0.3], ladder: [2, 3, 4], seed: 7 });
 * ```
 */
export function syntheticTrace(o: SyntheticTraceOptions): ExpertLevelRequest[][] {
  const E = o.experts;
  if (!Number.isInteger(E) || E < 1) fail('E_CONFIG', `syntheticTrace: experts must be a positive integer, got ${E}`);
  if (!Number.isInteger(o.tokens) || o.tokens < 0)
    fail('E_CONFIG', `syntheticTrace: tokens must be a non-negative integer`);
  if (!(Number.isFinite(o.skew) && o.skew >= 0)) fail('E_CONFIG', `syntheticTrace: skew must be finite and >= 0`);
  const topK = o.topK ?? 1;
  if (!Number.isInteger(topK) || topK < 1 || topK > E) fail('E_CONFIG', `syntheticTrace: topK must be in 1..${E}`);
  if (o.levelShares.length !== o.ladder.length || o.ladder.length === 0 || o.levelShares.some((s) => !(s >= 0)))
    fail('E_CONFIG', 'syntheticTrace: levelShares must be non-negative, one per ladder level');
  const rand = createRng(o.seed);
  const perm = Array.from({ length: E }, (_, i) => i);
  for (let i = E - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const weight = new Array<number>(E);
  for (let i = 0; i < E; i++) weight[perm[i]!] = 1 / (i + 1) ** o.skew;
  const shareSum = o.levelShares.reduce((a, b) => a + b, 0);
  const counts = Array.from({ length: E }, () => new Array<number>(o.ladder.length).fill(0));
  for (let t = 0; t < o.tokens; t++) {
    let u = rand() * shareSum;
    let lv = 0;
    while (lv < o.ladder.length - 1 && u >= o.levelShares[lv]!) u -= o.levelShares[lv++]!;
    const w = [...weight];
    for (let c = 0; c < topK; c++) {
      const tot = w.reduce((a, b) => a + b, 0);
      let v = rand() * tot;
      let j = 0;
      while (j < E - 1 && (v >= w[j]! || w[j] === 0)) v -= w[j++]!;
      while (w[j] === 0 && j > 0) j--; // float round-off past the last open expert
      counts[j]![lv]!++;
      w[j] = 0;
    }
  }
  return counts.map((row) => row.flatMap((tokens, k) => (tokens > 0 ? [{ bits: o.ladder[k]!, tokens }] : [])));
}
