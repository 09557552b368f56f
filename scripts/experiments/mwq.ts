/**
 * MWQ experiments (issue 6), printed as markdown tables:
 *
 * 1. stories260K, every linear layer (wq, wk, wv, wo, w1, w2, w3 × 5 layers, weights from
 *    models/stories260K/stories260K.bin): pooled weight nmse Σ‖W − Ŵ_r‖² / Σ‖W‖² and output SQNR
 *    10·log10(Σ‖X·Wᵀ‖² / Σ‖X·(W − Ŵ_r)ᵀ‖²) per level r ∈ {8, 6, 4, 3, 2}, for matquant (round-clamp),
 *    truncate (trunc-mid), residual (min-max base b₁ = 2, data-free fit and calibrated fit) and direct
 *    independent min-max quantization at r bits. Group 32 for 64-wide inputs, 43 for w2 (in = 172).
 *    Calibration X = the model's own activations at each layer's input on 2 sequences of 128 tokens
 *    sampled from the float32 model (evalTokens seed 1000); SQNR is measured on 2 other sequences (seed
 *    2000). End to end: teacher-forced next-token KL and top-1 agreement vs float32 on those sequences.
 * 2. HEBF vs FIFO vs all-max-bits on seeded synthetic skewed traces (hebf.ts `syntheticTrace`), and the
 *    gap to the brute-force optimum on small batches.
 *
 * Run: npx tsx scripts/experiments/mwq.ts            (only the scheduler part: `… mwq.ts hebf`)
 */
import type { Float32Tensor } from '../../src/common/tensor.js';
import { compareLogits, referenceLogits } from '../../src/eval/evaluate.js';
import {
  type ActivationSite,
  captureActivations,
  evalTokens,
  type LlamaLinearSite,
  loadStories260K,
} from '../../src/eval/llama.js';
import {
  type HebfLevelCost,
  type NestedOptions,
  quantizeNested,
  scheduleHEBF,
  scheduleOptimal,
  simulatePipeline,
  syntheticTrace,
} from '../../src/mwq/index.js';

const LEVELS = [8, 6, 4, 3, 2];
const SITES: { site: LlamaLinearSite; input: ActivationSite }[] = [
  { site: 'wq', input: 'attn' },
  { site: 'wk', input: 'attn' },
  { site: 'wv', input: 'attn' },
  { site: 'wo', input: 'wo' },
  { site: 'w1', input: 'ffn' },
  { site: 'w2', input: 'w2' },
  { site: 'w3', input: 'ffn' },
];

function concatRows(ts: Float32Tensor[]): Float32Tensor {
  const cols = ts[0]!.shape[1]!;
  const T = ts.reduce((a, t) => a + t.shape[0]!, 0);
  const data = new Float32Array(T * cols);
  let off = 0;
  for (const t of ts) {
    data.set(t.data, off);
    off += t.data.length;
  }
  return { dtype: 'float32', data, shape: [T, cols] };
}

function stories(): void {
  const t0 = Date.now();
  const model = loadStories260K();
  const c = model.config;
  const calSeqs = evalTokens(model, { sequences: 2, length: 128, seed: 1000 });
  const evalSeqs = evalTokens(model, { sequences: 2, length: 128, seed: 2000 });
  const cal = calSeqs.map((s) => captureActivations(model, s));
  const ev = evalSeqs.map((s) => captureActivations(model, s));
  const kv = (c.nKvHeads * c.dim) / c.nHeads;
  const shape: Record<LlamaLinearSite, [number, number]> = {
    wq: [c.dim, c.dim],
    wk: [kv, c.dim],
    wv: [kv, c.dim],
    wo: [c.dim, c.dim],
    w1: [c.hiddenDim, c.dim],
    w3: [c.hiddenDim, c.dim],
    w2: [c.dim, c.hiddenDim],
  };
  type Method = { name: string; make: (w: Float32Tensor, G: number, X: Float32Tensor, r: number) => Float32Array };
  const nestedCache = new Map<string, ReturnType<typeof quantizeNested>>();
  const nested = (key: string, w: Float32Tensor, o: NestedOptions) => {
    let nw = nestedCache.get(key);
    if (nw === undefined) {
      nw = quantizeNested(w, o);
      nestedCache.set(key, nw);
    }
    return nw;
  };
  let fallbacks = 0;
  let groups = 0;
  const methods: Method[] = [
    {
      name: 'matquant (round-clamp)',
      make: (w, G, _X, r) =>
        nested(`mq${w.data.byteOffset}${w.data.length}`, w, { scheme: 'matquant', groupSize: G }).dequantize(r).data,
    },
    {
      name: 'truncate (trunc-mid)',
      make: (w, G, _X, r) =>
        nested(`tr${w.data.byteOffset}${w.data.length}`, w, { scheme: 'truncate', groupSize: G }).dequantize(r).data,
    },
    {
      name: 'residual 2→8, data-free',
      make: (w, G, _X, r) =>
        nested(`rd${w.data.byteOffset}${w.data.length}`, w, { scheme: 'residual', groupSize: G }).dequantize(r).data,
    },
    {
      name: 'residual 2→8, calibrated',
      make: (w, G, X, r) => {
        const key = `rc${w.data.byteOffset}${w.data.length}`;
        const had = nestedCache.has(key);
        const nw = nested(key, w, { scheme: 'residual', groupSize: G, calibration: X });
        if (!had) {
          fallbacks += nw.fitReport!.pow2Fallbacks;
          groups += nw.fitReport!.groups;
        }
        return nw.dequantize(r).data;
      },
    },
    {
      name: 'direct min-max int-r',
      make: (w, G, _X, r) => quantizeNested(w, { scheme: 'truncate', bits: r, groupSize: G }).dequantize(r).data,
    },
  ];
  // pooled sums per method and level
  const acc = methods.map(() => LEVELS.map(() => ({ we: 0, ws: 0, ye: 0, ys: 0 })));
  const weightsOut = methods.map(() => LEVELS.map(() => ({}) as Record<LlamaLinearSite, Float32Array[]>));
  for (const { site, input } of SITES) {
    const [rows, cols] = shape[site];
    const G = cols % 32 === 0 ? 32 : 43;
    for (let l = 0; l < c.nLayers; l++) {
      const w: Float32Tensor = { dtype: 'float32', data: model.weights[site][l]!, shape: [rows, cols] };
      const Xc = concatRows(cal.map((a) => a.inputs[input][l]!));
      const Xe = concatRows(ev.map((a) => a.inputs[input][l]!));
      const T = Xe.shape[0]!;
      methods.forEach((m, mi) => {
        LEVELS.forEach((r, li) => {
          const wh = m.make(w, G, Xc, r);
          const a = acc[mi]![li]!;
          for (let i = 0; i < wh.length; i++) {
            a.we += (w.data[i]! - wh[i]!) ** 2;
            a.ws += w.data[i]! ** 2;
          }
          for (let t = 0; t < T; t++) {
            for (let o = 0; o < rows; o++) {
              let y = 0;
              let e = 0;
              for (let i = 0; i < cols; i++) {
                const x = Xe.data[t * cols + i]!;
                y += w.data[o * cols + i]! * x;
                e += (w.data[o * cols + i]! - wh[o * cols + i]!) * x;
              }
              a.ys += y * y;
              a.ye += e * e;
            }
          }
          const wo = weightsOut[mi]![li]!;
          if (wo[site] === undefined) wo[site] = [];
          wo[site].push(wh);
        });
      });
    }
  }
  console.log(`\n### stories260K: all 35 linear layers, weight nmse and output SQNR per level\n`);
  console.log(
    `| method | ${LEVELS.map((r) => `r=${r} nmse`).join(' | ')} | ${LEVELS.map((r) => `r=${r} SQNR dB`).join(' | ')} |`,
  );
  console.log(`|---|${LEVELS.map(() => '---').join('|')}|${LEVELS.map(() => '---').join('|')}|`);
  methods.forEach((m, mi) => {
    const a = acc[mi]!;
    console.log(
      `| ${m.name} | ${a.map((x) => (x.we / x.ws).toExponential(2)).join(' | ')} | ${a.map((x) => (10 * Math.log10(x.ys / x.ye)).toFixed(1)).join(' | ')} |`,
    );
  });
  console.log(
    `\n(calibrated residual: ${fallbacks} of ${groups} groups kept the pow2 ladder as no fitted candidate beat it at every level)`,
  );
  // end to end
  const ref = referenceLogits(evalSeqs, c.vocabSize, (s) => model.logitsOf(s));
  console.log(
    `\n### stories260K end to end (all linear layers at level r; teacher-forced, ${ref.sequences.length}×128 tokens, seed 2000)\n`,
  );
  console.log(`| method | ${LEVELS.map((r) => `r=${r} KL / top-1`).join(' | ')} |`);
  console.log(`|---|${LEVELS.map(() => '---').join('|')}|`);
  methods.forEach((m, mi) => {
    const cells = LEVELS.map((_, li) => {
      const q = model.with({ weights: { ...model.weights, ...weightsOut[mi]![li]! } });
      const s = compareLogits(ref, (seq) => q.logitsOf(seq));
      return `${s.kl.toFixed(4)} / ${(100 * s.top1).toFixed(1)}%`;
    });
    console.log(`| ${m.name} | ${cells.join(' | ')} |`);
  });
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

function hebf(): void {
  // Cost model (D²MoE V1 ladder 2→3→4 bits, residual planes): the 2-bit base is 2 planes, each
  // increment 1 plane, so load times are 2 : 1 : 1 units (one plane of one expert = 1 time unit) and
  // bytes the same; compute per token is `ratio` per plane (dequantize + run).
  const ladder = [2, 3, 4];
  console.log('\n### HEBF vs FIFO vs all-max-bits (synthetic skewed traces, 20 seeds each)\n');
  console.log(
    '| experts | top-k | tokens | skew | compute/IO per plane·token | budget (planes) | HEBF makespan | FIFO | all-max-bits | HEBF/FIFO | HEBF > FIFO | HEBF peak mem |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [E, topK, tokens] of [
    [8, 2, 32],
    [16, 2, 64],
    [64, 4, 128],
  ] as const) {
    for (const skew of [0.8, 1.5]) {
      for (const ratio of [0.02, 0.1, 0.3]) {
        const costs: HebfLevelCost[] = [
          { bits: 2, load: 2, compute: 2 * ratio, bytes: 2 },
          { bits: 3, load: 1, compute: ratio, bytes: 1 },
          { bits: 4, load: 1, compute: ratio, bytes: 1 },
        ];
        for (const budget of [Infinity, E * 2]) {
          let h = 0;
          let f = 0;
          let m = 0;
          let worse = 0;
          let peak = 0;
          const seeds = 20;
          for (let seed = 0; seed < seeds; seed++) {
            const requests = syntheticTrace({
              experts: E,
              tokens,
              skew,
              levelShares: [0.3, 0.4, 0.3],
              ladder,
              topK,
              seed,
            });
            const input = { requests, costs, memoryBudget: budget };
            const rh = scheduleHEBF(input);
            const rf = simulatePipeline(input, 'fifo');
            const rm = simulatePipeline({ ...input, memoryBudget: Infinity }, 'max-bits');
            h += rh.makespan;
            f += rf.makespan;
            m += rm.makespan;
            peak += rh.peakMemory;
            if (rh.makespan > rf.makespan + 1e-9) worse++;
          }
          console.log(
            `| ${E} | ${topK} | ${tokens} | ${skew} | ${ratio} | ${budget === Infinity ? '∞' : budget} | ${(h / seeds).toFixed(1)} | ${(f / seeds).toFixed(1)} | ${(m / seeds).toFixed(1)} | ${(h / f).toFixed(3)} | ${worse}/${seeds} | ${(peak / seeds).toFixed(1)} |`,
          );
        }
      }
    }
  }
  // gap to the brute-force optimum on small batches
  let worst = 0;
  let mean = 0;
  let fifoMean = 0;
  const N = 100;
  for (let seed = 0; seed < N; seed++) {
    const requests = syntheticTrace({ experts: 3, tokens: 8, skew: 1, levelShares: [0.5, 0.5], ladder: [2, 3], seed });
    const costs: HebfLevelCost[] = [
      { bits: 2, load: 2, compute: 0.3, bytes: 2 },
      { bits: 3, load: 1, compute: 0.15, bytes: 1 },
    ];
    const input = { requests, costs, memoryBudget: Infinity };
    const o = scheduleOptimal(input).makespan;
    const g = scheduleHEBF(input).makespan / o - 1;
    fifoMean += simulatePipeline(input, 'fifo').makespan / o - 1;
    mean += g;
    worst = Math.max(worst, g);
  }
  // wider sweep: how often HEBF loses to FIFO, including budgets that cannot hold the hot experts
  let worse = 0;
  let total = 0;
  const tight: string[] = [];
  for (const ratio of [0.02, 0.05, 0.1, 0.2, 0.5])
    for (const skew of [0.8, 1.2, 2])
      for (const budget of [Infinity, 40, 20])
        for (let seed = 0; seed < 20; seed++) {
          const costs: HebfLevelCost[] = [
            { bits: 2, load: 2, compute: 2 * ratio, bytes: 2 },
            { bits: 3, load: 1, compute: ratio, bytes: 1 },
            { bits: 4, load: 1, compute: ratio, bytes: 1 },
          ];
          const requests = syntheticTrace({
            experts: 16,
            tokens: 64,
            skew,
            levelShares: [0.3, 0.4, 0.3],
            ladder,
            topK: 2,
            seed,
          });
          const input = { requests, costs, memoryBudget: budget };
          total++;
          if (scheduleHEBF(input).makespan > simulatePipeline(input, 'fifo').makespan + 1e-9) {
            worse++;
            if (!tight.includes(String(budget))) tight.push(String(budget));
          }
        }
  console.log(
    `\nSweep (16 experts, top-2, 64 tokens; compute/IO 0.02–0.5, skew 0.8–2, budget ∞/40/20 planes, 20 seeds): HEBF makespan > FIFO on ${worse} of ${total} traces (budgets: ${tight.join(', ') || 'none'}).`,
  );
  console.log(
    `\nGap to the brute-force optimum (3 experts, ladder 2→3, 8 tokens, ≤ 6 loads, ${N} seeds): HEBF mean ${((100 * mean) / N).toFixed(2)}%, worst ${(100 * worst).toFixed(2)}%; FIFO mean ${((100 * fifoMean) / N).toFixed(2)}%.`,
  );
}

if (process.argv[2] !== 'hebf') stories();
hebf();
