/**
 * The end-to-end evaluation behind `lowbit eval-model`, the demo and the README numbers: configuration
 * strings for KV caches and weight quantizers, and {@link evalModel}, which scores each configuration
 * against the float32 model on fixed, seeded sequences.
 *
 * Spec strings (case-insensitive):
 * - KV caches (stories260K): `float32`; `kivi<b>` / `kivi<kb>v<vb>` with `-g<G>` (key token group,
 *   default 32), `-gv<Gv>` (value channel group, default min(G, headDim)), `-r<R>` (residual, default
 *   128); `pertoken<b>` / `pertoken<kb>v<vb>` with `-g<G>` (channels per group, default headDim); a block
 *   format (`bfp12`, `bfp14`, `bfp16`, `bfp24`, `mxfp4`, `mxfp6_e2m3`, `mxfp6_e3m2`, `mxfp8_e4m3`,
 *   `mxfp8_e5m2`, `mxint8`) with `-b<n>` (block, default 8), `-konly` (values stay float32) and
 *   `-ksort-head` (fused into wq/wk) or `-ksort-layer` (storage level).
 * - Weights: `mwq-<matquant|truncate|residual>-<level>` (8-bit nested, serving `level` bits);
 *   `w<wb>a<ab>-<none|hadamard|klt-hadamard|smooth-hadamard|smooth-klt-hadamard>`, on mamba-tiny also
 *   with `-fused` (smooth-fused out_proj gate).
 *
 * Exposed: ModelName, parseKvSpec, parseWeightSpec, KvConfig, WeightConfig, EvalModelOptions, EvalRow,
 * EvalModelResult, evalModel, DEFAULT_KV, DEFAULT_WEIGHTS, EVAL_DEFAULTS.
 * @module
 */
import type { BlockFormat } from '../bfp/index.js';
import { check, fail } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import type { KiviBits } from '../kivi/index.js';
import type { LinearTransform } from '../mambaquant/index.js';
import { type NestedScheme, quantizeNested } from '../mwq/index.js';
import { compareLogits, type LogitStats, referenceLogits } from './evaluate.js';
import { headKSortModel, layerKSortOrders } from './ksort.js';
import { type KvCacheSpec, kvCacheFromSpec } from './kvcache.js';
import { captureActivations, evalTokens, type LlamaModel, loadStories260K } from './llama.js';
import { bosWindows, loadMambaHeldout, loadMambaTiny, MambaModel } from './mamba.js';
import { captureMambaInputs, type MAMBA_SITES, rotatedMambaLinear } from './mambaweights.js';
import { defaultGroupSize, mwqLlamaWeights, rotatedLlamaLinear } from './weights.js';

/**
 * The shipped models.
 *
 * @example
 * ```ts
 * const m: ModelName = 'mamba-tiny';
 * ```
 */
export type ModelName = 'stories260K' | 'mamba-tiny';

/**
 * A parsed KV cache configuration.
 *
 * @example
 * ```ts
 * const k: KvConfig = parseKvSpec('kivi2', 8);
 * ```
 */
export interface KvConfig {
  readonly label: string;
  readonly spec: KvCacheSpec;
  readonly ksort?: 'head' | 'layer';
}

/**
 * A parsed weight configuration.
 *
 * @example
 * ```ts
 * const w: WeightConfig = parseWeightSpec('w8a4-hadamard');
 * ```
 */
export type WeightConfig =
  | { readonly label: string; readonly kind: 'mwq'; readonly scheme: NestedScheme; readonly level: number }
  | {
      readonly label: string;
      readonly kind: 'wa';
      readonly weightBits: number;
      readonly activationBits: number;
      readonly transform: LinearTransform;
      readonly fusedGate: boolean;
    };

const BLOCK_FORMATS = [
  'bfp12',
  'bfp14',
  'bfp16',
  'bfp24',
  'mxfp4',
  'mxfp6_e2m3',
  'mxfp6_e3m2',
  'mxfp8_e4m3',
  'mxfp8_e5m2',
  'mxint8',
];
const TRANSFORMS: readonly LinearTransform[] = [
  'none',
  'hadamard',
  'klt-hadamard',
  'smooth-hadamard',
  'smooth-klt-hadamard',
];

function bad(s: string, what: string): never {
  return fail('E_CONFIG', `bad ${what} ${JSON.stringify(s)}; see 'lowbit eval-model --help' for the syntax`);
}

function kiviBits(n: number, s: string): KiviBits {
  if (n !== 2 && n !== 4 && n !== 8) bad(s, 'KV spec (KIVI bits must be 2, 4 or 8)');
  return n;
}

/**
 * Parse a KV cache spec string for a model with `headDim` (see the module header for the syntax).
 *
 * @example
 * ```ts
 * parseKvSpec('kivi2', 8).spec; // { method: 'kivi', keyBits: 2, valueBits: 2, groupSize: 32, valueGroupSize: 8, residualLength: 128 }
 * ```
 */
export function parseKvSpec(str: string, headDim: number): KvConfig {
  const s = str.trim().toLowerCase();
  const [head, ...opts] = s.split('-');
  const num = (prefix: string, dflt: number): number => {
    const o = opts.find((x) => x.startsWith(prefix) && /^\d+$/.test(x.slice(prefix.length)));
    return o === undefined ? dflt : Number(o.slice(prefix.length));
  };
  const known = (allowed: RegExp[]): void => {
    for (const o of opts) if (!allowed.some((r) => r.test(o))) bad(str, `KV spec option '${o}' in`);
  };
  if (head === 'float32') {
    known([]);
    return { label: 'float32', spec: { method: 'float32' } };
  }
  let m = /^kivi(\d+)(?:v(\d+))?$/.exec(head ?? '');
  if (m) {
    known([/^gv\d+$/, /^g\d+$/, /^r\d+$/]);
    const kb = kiviBits(Number(m[1]), str);
    const vb = kiviBits(Number(m[2] ?? m[1]), str);
    const G = num('g', 32);
    const Gv = num('gv', Math.min(G, headDim));
    const R = num('r', 128);
    check(G >= 1 && Gv >= 1 && R >= 1, 'E_CONFIG', () => `bad KV spec ${JSON.stringify(str)}: sizes must be >= 1`);
    const label = `KIVI-${kb === vb ? kb : `K${kb}V${vb}`} (G ${G}, G_v ${Gv}, R ${R})`;
    return {
      label,
      spec: { method: 'kivi', keyBits: kb, valueBits: vb, groupSize: G, valueGroupSize: Gv, residualLength: R },
    };
  }
  m = /^pertoken(\d+)(?:v(\d+))?$/.exec(head ?? '');
  if (m) {
    known([/^g\d+$/]);
    const kb = Number(m[1]);
    const vb = Number(m[2] ?? m[1]);
    if (!(kb >= 2 && kb <= 16 && vb >= 2 && vb <= 16)) bad(str, 'KV spec (per-token bits must be 2..16)');
    const G = num('g', headDim);
    return {
      label: `per-token K${kb}V${vb} (G ${G})`,
      spec: { method: 'per-token', keyBits: kb, valueBits: vb, groupSize: G },
    };
  }
  // block formats may contain '_' but not '-'
  if (head !== undefined && BLOCK_FORMATS.includes(head)) {
    known([/^b\d+$/, /^konly$/, /^ksort$/, /^head$/, /^layer$/]);
    const b = num('b', 8);
    const konly = opts.includes('konly');
    const ki = opts.indexOf('ksort');
    let ksort: 'head' | 'layer' | undefined;
    if (ki >= 0) {
      const sc = opts[ki + 1];
      if (sc !== 'head' && sc !== 'layer') bad(str, "KV spec (use '-ksort-head' or '-ksort-layer')");
      ksort = sc;
    } else if (opts.includes('head') || opts.includes('layer')) bad(str, 'KV spec');
    const label = `${head.toUpperCase()} b${b}${konly ? ' (K only)' : ''}${ksort ? ` + K-sort(${ksort})` : ''}`;
    return {
      label,
      spec: { method: 'block', format: head as BlockFormat, blockSize: b, values: !konly },
      ...(ksort !== undefined ? { ksort } : {}),
    };
  }
  return bad(str, 'KV spec');
}

/**
 * Parse a weight spec string (see the module header).
 *
 * @example
 * ```ts
 * parseWeightSpec('w4a8-hadamard'); // { kind: 'wa', weightBits: 4, activationBits: 8, transform: 'hadamard', ... }
 * ```
 */
export function parseWeightSpec(str: string): WeightConfig {
  const s = str.trim().toLowerCase();
  let m = /^mwq-(matquant|truncate|residual)-(\d+)$/.exec(s);
  if (m) {
    const level = Number(m[2]);
    if (!(level >= 1 && level <= 8)) bad(str, 'weight spec (MWQ level must be 1..8)');
    return { label: `MWQ ${m[1]} ${level}-bit`, kind: 'mwq', scheme: m[1] as NestedScheme, level };
  }
  m = /^w(\d+)a(\d+)-([a-z-]+?)(-fused)?$/.exec(s);
  if (m) {
    const wb = Number(m[1]);
    const ab = Number(m[2]);
    const t = m[3] as LinearTransform;
    if (!TRANSFORMS.includes(t)) bad(str, `weight spec (transform must be one of ${TRANSFORMS.join(', ')})`);
    if (!(wb >= 2 && wb <= 16 && ab >= 2 && ab <= 16)) bad(str, 'weight spec (bits must be 2..16)');
    const fused = m[4] !== undefined;
    if (fused && !t.startsWith('smooth-')) bad(str, "weight spec ('-fused' needs a smooth-* transform)");
    return {
      label: `W${wb}A${ab} ${t}${fused ? ' + fused gate' : ''}`,
      kind: 'wa',
      weightBits: wb,
      activationBits: ab,
      transform: t,
      fusedGate: fused,
    };
  }
  return bad(str, 'weight spec');
}

/**
 * Default KV configurations (stories260K) when `kv` is `['all']`.
 *
 * @example
 * ```ts
 * evalModel({ model: 'stories260K', kv: [...DEFAULT_KV] });
 * ```
 */
export const DEFAULT_KV: readonly string[] = [
  'float32',
  'kivi4',
  'kivi2',
  'kivi2-r32',
  'pertoken2',
  'bfp12',
  'bfp12-ksort-layer',
  'bfp12-b4',
  'bfp12-b4-ksort-head',
  'mxfp4',
  'mxfp4-ksort-layer',
  'mxfp4-b4',
  'mxfp4-b4-ksort-head',
];

/**
 * Default weight configurations when `weights` is `['all']`.
 *
 * @example
 * ```ts
 * DEFAULT_WEIGHTS('mamba-tiny'); // ['w8a8-none', …]
 * ```
 */
export function DEFAULT_WEIGHTS(model: ModelName): string[] {
  const out: string[] = [];
  if (model === 'stories260K')
    for (const s of ['matquant', 'truncate', 'residual']) for (const l of [8, 4, 3, 2]) out.push(`mwq-${s}-${l}`);
  for (const wa of ['w8a8', 'w8a4', 'w4a8']) {
    for (const t of TRANSFORMS) out.push(`${wa}-${t}`);
    if (model === 'mamba-tiny') out.push(`${wa}-smooth-hadamard-fused`, `${wa}-smooth-klt-hadamard-fused`);
  }
  return out;
}

/**
 * Evaluation and calibration set sizes used when not given.
 *
 * @example
 * ```ts
 * EVAL_DEFAULTS.sequences; // 16
 * ```
 */
export const EVAL_DEFAULTS = {
  sequences: 16,
  length: 256,
  seed: 1000,
  calibrationSequences: 4,
  calibrationLength: 256,
  calibrationSeed: 9000,
} as const;

/**
 * Options of {@link evalModel}.
 *
 * @example
 * ```ts
 * const o: EvalModelOptions = { model: 'stories260K', kv: ['kivi2'], sequences: 2, length: 64 };
 * ```
 */
export interface EvalModelOptions {
  readonly model: ModelName;
  /** KV spec strings (stories260K only; `float32` is always the baseline). */
  readonly kv?: readonly string[];
  /** Weight spec strings. */
  readonly weights?: readonly string[];
  /** Evaluation sequences (default 16). */
  readonly sequences?: number;
  /** Tokens per sequence including the leading BOS (default 256). */
  readonly length?: number;
  /** stories260K: sequence i is sampled (temperature 1, top-p 1) with seed `seed + i` (default 1000). */
  readonly seed?: number;
  /** Calibration sequences (default 4), separate from the evaluation ones. */
  readonly calibrationSequences?: number;
  /** Calibration sequence length (default 256). */
  readonly calibrationLength?: number;
  /** stories260K calibration seeds `calibrationSeed + i` (default 9000). */
  readonly calibrationSeed?: number;
  /** Called before each configuration with its index, the count and the label. */
  readonly onProgress?: (done: number, total: number, label: string) => void;
}

/**
 * One configuration's numbers.
 *
 * @example
 * ```ts
 * const row: EvalRow = evalModel({ model: 'stories260K', kv: ['kivi4'] }).rows[1];
 * ```
 */
export interface EvalRow extends LogitStats {
  /** The spec string as given (`float32` for the baseline). */
  readonly spec: string;
  readonly label: string;
  readonly kind: 'baseline' | 'kv' | 'weights';
  /** Mean KV cache bytes per token at the end of a sequence (all layers), or null for mamba. */
  readonly kvBytesPerToken: number | null;
  readonly notes: readonly string[];
}

/**
 * Result of {@link evalModel}.
 *
 * @example
 * ```ts
 * const r: EvalModelResult = evalModel({ model: 'mamba-tiny', weights: ['w8a8-hadamard'] });
 * ```
 */
export interface EvalModelResult {
  readonly model: ModelName;
  /** How the evaluation tokens were made. */
  readonly data: string;
  /** How the calibration tokens were made. */
  readonly calibration: string;
  readonly sequences: number;
  readonly length: number;
  readonly rows: EvalRow[];
}

function expand(list: readonly string[] | undefined, all: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of list ?? []) for (const p of s.split(',')) if (p.trim() !== '') out.push(...(p === 'all' ? all : [p]));
  return out;
}

/**
 * Score every requested configuration against the float32 model: NLL / perplexity of the evaluation
 * tokens, mean KL(p_float32 ‖ p_config) and top-1 agreement. stories260K: the tokens are sampled from the
 * float32 model with run.c's sampler (temperature 1, top-p 1, seeds `seed + i`); calibration uses the
 * seeds `calibrationSeed + i`. mamba-tiny: windows of the held-out split starting at a BOS (the first
 * `sequences` from the start), calibration windows from the last 8,000 tokens.
 *
 * @example
 * ```ts
 * const r = evalModel({ model: 'stories260K', kv: ['kivi2'], sequences: 2, length: 64 });
 * r.rows[1].ppl;
 * ```
 */
export function evalModel(opts: EvalModelOptions): EvalModelResult {
  const model = opts.model;
  if (model !== 'stories260K' && model !== 'mamba-tiny')
    fail('E_CONFIG', `unknown model ${JSON.stringify(model)}; expected stories260K or mamba-tiny`);
  const n = opts.sequences ?? EVAL_DEFAULTS.sequences;
  const len = opts.length ?? EVAL_DEFAULTS.length;
  const seed = opts.seed ?? EVAL_DEFAULTS.seed;
  const cn = opts.calibrationSequences ?? EVAL_DEFAULTS.calibrationSequences;
  const clen = opts.calibrationLength ?? EVAL_DEFAULTS.calibrationLength;
  const cseed = opts.calibrationSeed ?? EVAL_DEFAULTS.calibrationSeed;
  for (const [k, v, lo] of [
    ['sequences', n, 1],
    ['length', len, 2],
    ['calibrationSequences', cn, 1],
    ['calibrationLength', clen, 2],
  ] as const)
    check(Number.isInteger(v) && v >= lo, 'E_CONFIG', `evalModel: ${k} must be an integer >= ${lo}, got ${v}`);
  check(Number.isSafeInteger(seed) && seed >= 0, 'E_CONFIG', `evalModel: seed must be a non-negative integer`);
  return model === 'stories260K' ? evalStories(opts, n, len, seed, cn, clen, cseed) : evalMamba(opts, n, len, cn, clen);
}

function row(spec: string, label: string, kind: EvalRow['kind'], st: LogitStats, kvb: number | null, notes: string[]) {
  return { spec, label, kind, ...st, kvBytesPerToken: kvb, notes };
}

function evalStories(
  opts: EvalModelOptions,
  n: number,
  len: number,
  seed: number,
  cn: number,
  clen: number,
  cseed: number,
): EvalModelResult {
  const base = loadStories260K();
  const c = base.config;
  check(len <= c.seqLen && clen <= c.seqLen, 'E_CONFIG', `evalModel: length must be <= seqLen ${c.seqLen}`);
  const headDim = c.dim / c.nHeads;
  const kvs = expand(opts.kv, DEFAULT_KV).map((s) => [s, parseKvSpec(s, headDim)] as const);
  const ws = expand(opts.weights, DEFAULT_WEIGHTS('stories260K')).map((s) => [s, parseWeightSpec(s)] as const);
  for (const [s, w] of ws)
    if (w.kind === 'wa' && w.fusedGate) fail('E_CONFIG', `weight spec ${JSON.stringify(s)}: '-fused' is mamba-only`);
  const seqs = evalTokens(base, { sequences: n, length: len, seed });
  const calSeqs = evalTokens(base, { sequences: cn, length: clen, seed: cseed });
  const calFlat = calSeqs.flat();
  const total = 1 + kvs.length + ws.length;
  let done = 0;
  const progress = (label: string) => opts.onProgress?.(done++, total, label);
  progress('float32');
  let kvb = 0;
  const run = (m: LlamaModel) => (s: readonly number[]) => {
    const lg = m.logitsOf(s);
    kvb += m.kvBytes / s.length;
    return lg;
  };
  const ref = referenceLogits(seqs, c.vocabSize, run(base));
  const rows: EvalRow[] = [];
  rows.push(row('float32', 'float32', 'baseline', compareLogits(ref, run(base)), kvb / (2 * n), []));
  // calibration per layer/site; K-sort orders calibrated on the concatenated calibration tokens (truncated
  // to seqLen)
  const calTokens = calFlat.slice(0, c.seqLen);
  let acts: ReturnType<typeof captureActivations> | undefined;
  const actsOf = () => {
    acts ??= concatActivations(calSeqs.map((s) => captureActivations(base, s)));
    return acts;
  };
  for (const [s, k] of kvs) {
    progress(k.label);
    if (k.spec.method === 'float32') continue;
    let m = base;
    let spec = k.spec;
    const notes: string[] = [];
    if (k.ksort === 'head' && spec.method === 'block') {
      m = headKSortModel(base, calTokens, spec.blockSize).model;
      notes.push(`K-sort(head) fused into wq/wk, calibrated on ${calTokens.length} tokens`);
    } else if (k.ksort === 'layer' && spec.method === 'block') {
      spec = { ...spec, keyOrders: layerKSortOrders(base, calTokens, spec.blockSize) };
      notes.push(`K-sort(layer) calibrated on ${calTokens.length} tokens`);
    }
    m = m.with({ kvCache: kvCacheFromSpec(spec) });
    kvb = 0;
    const st = compareLogits(ref, run(m));
    rows.push(row(s, k.label, 'kv', st, kvb / n, notes));
  }
  for (const [s, w] of ws) {
    progress(w.label);
    let m: LlamaModel;
    const notes: string[] = [];
    if (w.kind === 'mwq') {
      const weights = mwqLlamaWeights(base, {
        scheme: w.scheme,
        level: w.level,
        ...(w.scheme === 'residual' ? { calibration: actsOf() } : {}),
      });
      m = base.with({ weights });
      notes.push('group size 32 on 64-wide inputs, 43 on the 172-wide w2 input; 8-bit parent');
    } else {
      const q = rotatedLlamaLinear(base, actsOf(), {
        weightBits: w.weightBits,
        activationBits: w.activationBits,
        transform: w.transform,
      });
      m = base.with({ linear: q.linear });
      const warn = new Set<string>();
      for (const l of q.layers.values()) for (const x of l.warnings) warn.add(x);
      notes.push(...warn);
    }
    kvb = 0;
    const st = compareLogits(ref, run(m));
    rows.push(row(s, w.label, 'weights', st, kvb / n, notes));
  }
  opts.onProgress?.(total, total, 'done');
  return {
    model: 'stories260K',
    data: `${n} sequences x ${len} tokens sampled from the float32 model (run.c sampler, temperature 1, top-p 1, seeds ${seed}..${seed + n - 1}, BOS first)`,
    calibration: `${cn} sequences x ${clen} tokens (seeds ${cseed}..${cseed + cn - 1}); K-sort orders on the first ${calTokens.length} of them`,
    sequences: n,
    length: len,
    rows,
  };
}

function concatActivations(list: ReturnType<typeof captureActivations>[]): ReturnType<typeof captureActivations> {
  const first = list[0]!;
  const cat = (ts: Float32Tensor[]): Float32Tensor => {
    const rowsN = ts.reduce((a, t) => a + t.shape[0]!, 0);
    const w = ts[0]!.shape[1]!;
    const d = new Float32Array(rowsN * w);
    let o = 0;
    for (const t of ts) {
      d.set(t.data, o);
      o += t.data.length;
    }
    return { dtype: 'float32', data: d, shape: [rowsN, w] };
  };
  const inputs = {} as typeof first.inputs;
  for (const site of Object.keys(first.inputs) as (keyof typeof first.inputs)[])
    inputs[site] = first.inputs[site].map((_, l) => cat(list.map((a) => a.inputs[site][l]!)));
  return { keys: first.keys, values: first.values, inputs };
}

function evalMamba(opts: EvalModelOptions, n: number, len: number, cn: number, clen: number): EvalModelResult {
  const base = loadMambaTiny();
  const held = loadMambaHeldout();
  const kvs = expand(opts.kv, []).filter((s) => s.trim().toLowerCase() !== 'float32');
  if (kvs.length > 0) fail('E_CONFIG', 'mamba-tiny has no KV cache; --kv applies to stories260K only');
  const ws = expand(opts.weights, DEFAULT_WEIGHTS('mamba-tiny')).map((s) => [s, parseWeightSpec(s)] as const);
  const calFrom = held.length - 8000;
  const wins = bosWindows(held, { count: n, length: len });
  // the last evaluation window must end before the calibration region
  let end = 0;
  for (let i = 0, found = 0; i < held.length && found < n; ) {
    if (held[i] === 1) {
      found++;
      end = i + len;
      i += len;
    } else i++;
  }
  check(end <= calFrom, 'E_CONFIG', `evalModel: ${n} x ${len} evaluation windows overlap the calibration region`);
  const calWins = bosWindows(held, { count: cn, length: clen, from: calFrom });
  const total = 1 + ws.length;
  let done = 0;
  const progress = (label: string) => opts.onProgress?.(done++, total, label);
  progress('float32');
  const ref = referenceLogits(wins, base.config.vocabSize, (s) => base.forward(s));
  const rows: EvalRow[] = [
    row(
      'float32',
      'float32',
      'baseline',
      compareLogits(ref, (s) => base.forward(s)),
      null,
      [],
    ),
  ];
  let cal: ReturnType<typeof captureMambaInputs> | undefined;
  for (const [s, w] of ws) {
    progress(w.label);
    let m: MambaModel = base;
    let st: LogitStats;
    const notes: string[] = [];
    if (w.kind === 'mwq') {
      m = mwqMamba(base, w.scheme, w.level, (cal ??= captureMambaInputs(base, calWins)));
      st = compareLogits(ref, (x) => m.forward(x));
    } else {
      const q = rotatedMambaLinear(
        base,
        (cal ??= captureMambaInputs(base, calWins)),
        { weightBits: w.weightBits, activationBits: w.activationBits, transform: w.transform, fusedGate: w.fusedGate },
        calWins,
      );
      notes.push(...q.notes);
      st = compareLogits(ref, (x) => q.model.forward(x, { linear: q.linear }));
    }
    rows.push(row(s, w.label, 'weights', st, null, notes));
  }
  opts.onProgress?.(total, total, 'done');
  return {
    model: 'mamba-tiny',
    data: `${n} windows x ${len} tokens of heldout_tokens.u16, each starting at a BOS, the first ${n} story starts from index 0 (non-overlapping), zero initial state`,
    calibration: `${cn} windows x ${clen} tokens starting at BOSes after index ${calFrom} (the last 8,000 held-out tokens)`,
    sequences: n,
    length: len,
    rows,
  };
}

function mwqMamba(
  model: MambaModel,
  scheme: NestedScheme,
  level: number,
  cal: ReturnType<typeof captureMambaInputs>,
): MambaModel {
  const layers = model.weights.layers.map((w, l) => {
    const q = (site: (typeof MAMBA_SITES)[number], data: Float32Array): Float32Array => {
      const inDim = cal[site][l]!.shape[1]!;
      const t: Float32Tensor = { dtype: 'float32', data, shape: [data.length / inDim, inDim] };
      return quantizeNested(t, {
        scheme,
        bits: 8,
        groupSize: defaultGroupSize(inDim),
        ...(scheme === 'residual' ? { calibration: cal[site][l]! } : {}),
      }).dequantize(level).data;
    };
    return {
      ...w,
      inProj: q('in_proj', w.inProj),
      xProj: q('x_proj', w.xProj),
      dtProj: q('dt_proj', w.dtProj),
      outProj: q('out_proj', w.outProj),
    };
  });
  return new MambaModel(model.config, { ...model.weights, layers });
}
