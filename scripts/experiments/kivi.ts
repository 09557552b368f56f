/**
 * KIVI on real activations: stories260K (5 layers, 4 KV heads, headDim 8), sequences sampled from the
 * float32 model. Prints markdown tables:
 *
 * 1. tensor level — relative error ‖x − x̂‖²/‖x‖² of keys and values captured from the model, quantized
 *    per-channel (groups of G tokens, KIVI's key grouping) vs per-token (groups of 8 channels = one head,
 *    KIVI's value grouping), 2 and 4 bits;
 * 2. end to end — teacher-forced perplexity, KL(float32 ‖ quantized) and top-1 agreement when the KV
 *    cache stores keys/values with each grouping (the paper's Table 1 ablation, as a streaming cache with
 *    a residual window of R full-precision tokens), plus the real `KiviCache` (attention on packed codes).
 *
 * Run: `npx tsx scripts/experiments/kivi.ts` (about a minute).
 */

import { compareLogits, referenceLogits } from '../../src/eval/evaluate.js';
import {
  attendDense,
  captureActivations,
  evalTokens,
  type KvCacheFactory,
  type LlamaConfig,
  loadStories260K,
} from '../../src/eval/llama.js';
import { dequantize, type KiviBits, KiviCache, quantizeKeys, quantizeValues } from '../../src/kivi/index.js';

type Grouping = 'channel' | 'token';

const SEQS = 4;
const LEN = 256;

const model = loadStories260K();
const cfg = model.config;
const headDim = cfg.dim / cfg.nHeads;
const kvDim = cfg.nKvHeads * headDim;
const seqs = evalTokens(model, { sequences: SEQS, length: LEN, seed: 1000 });

// ---- 1. tensor level -----------------------------------------------------------------------------

/** Quantize `[H, T, D]` with the given grouping and return the dequantized copy. */
function fakeQuant(x: Float32Array, T: number, grouping: Grouping, bits: KiviBits, G: number): Float32Array {
  const H = cfg.nKvHeads;
  if (grouping === 'channel') {
    const t = { dtype: 'float32' as const, data: x, shape: [H, T, headDim] };
    return dequantize(quantizeKeys(t, { bits, groupSize: G })).data;
  }
  // per token: [H, T, D] → token rows of H·D channels, groups of D channels (one head)
  const rows = new Float32Array(T * kvDim);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++)
      rows.set(x.subarray((h * T + t) * headDim, (h * T + t + 1) * headDim), t * kvDim + h * headDim);
  const q = quantizeValues(
    { dtype: 'float32', data: rows, shape: [T, kvDim] },
    { bits, groupSize: headDim, allowGroupStraddle: true },
  );
  const d = dequantize(q).data;
  const out = new Float32Array(x.length);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++)
      out.set(d.subarray(t * kvDim + h * headDim, t * kvDim + (h + 1) * headDim), (h * T + t) * headDim);
  return out;
}

function relErr(x: Float32Array, y: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i]! - y[i]!) ** 2;
    den += x[i]! ** 2;
  }
  return num / den;
}

const acts = seqs.map((s) => captureActivations(model, s));
console.log(
  `\n### stories260K K/V tensors (${SEQS} sequences × ${LEN} tokens, ${cfg.nLayers} layers, ${cfg.nKvHeads} KV heads × headDim ${headDim}): relative error ‖x − x̂‖²/‖x‖²\n`,
);
console.log('| tensor | grouping | bits | G | rel. error (mean over layers) | worst layer |');
console.log('|---|---|---|---|---|---|');
for (const side of ['keys', 'values'] as const) {
  for (const bits of [2, 4] as KiviBits[]) {
    const rows: [Grouping, number][] = [
      ['channel', 32],
      ['channel', 128],
      ['token', headDim],
    ];
    for (const [grouping, G] of rows) {
      const errs: number[] = [];
      for (let l = 0; l < cfg.nLayers; l++) {
        let e = 0;
        for (const a of acts) {
          const x = (side === 'keys' ? a.keys : a.values)[l]!.data;
          e += relErr(x, fakeQuant(x, LEN, grouping, bits, G));
        }
        errs.push(e / acts.length);
      }
      const mean = errs.reduce((p, c) => p + c, 0) / errs.length;
      const label = grouping === 'channel' ? 'per-channel (tokens)' : 'per-token (channels)';
      const kivi = (side === 'keys') === (grouping === 'channel') ? ' (KIVI)' : '';
      console.log(
        `| ${side} | ${label}${kivi} | ${bits} | ${G} | ${mean.toExponential(3)} | ${Math.max(...errs).toExponential(3)} |`,
      );
    }
  }
}

// ---- 2. end to end -------------------------------------------------------------------------------

interface FakeSpec {
  key: Grouping;
  value: Grouping;
  keyBits: KiviBits;
  valueBits: KiviBits;
  /** Token group of per-channel quantization. */
  G: number;
  /** Residual window (multiple of G). */
  R: number;
}

/**
 * A streaming cache that stores dequantized float32 rows with KIVI's residual rules: per-channel sides
 * are quantized in whole R-token blocks (aligned at multiples of R, groups of G tokens); per-token sides
 * one token at a time once more than R tokens are held. Attention is dense over the stored rows.
 */
function fakeKvCache(spec: FakeSpec): KvCacheFactory {
  return (_layer: number, c: LlamaConfig) => {
    const H = c.nKvHeads;
    const keys = new Float32Array(c.seqLen * kvDim);
    const values = new Float32Array(c.seqLen * kvDim);
    const rawK = new Float32Array(c.seqLen * kvDim);
    const rawV = new Float32Array(c.seqLen * kvDim);
    const att = new Float32Array(c.seqLen);
    let len = 0;
    const block = (raw: Float32Array, dst: Float32Array, t0: number, bits: KiviBits) => {
      // tokens [t0, t0 + R) as [H, R, D] per channel
      const x = new Float32Array(H * spec.R * headDim);
      for (let t = 0; t < spec.R; t++)
        for (let h = 0; h < H; h++)
          x.set(
            raw.subarray((t0 + t) * kvDim + h * headDim, (t0 + t) * kvDim + (h + 1) * headDim),
            (h * spec.R + t) * headDim,
          );
      const d = fakeQuant(x, spec.R, 'channel', bits, spec.G);
      for (let t = 0; t < spec.R; t++)
        for (let h = 0; h < H; h++)
          dst.set(
            d.subarray((h * spec.R + t) * headDim, (h * spec.R + t + 1) * headDim),
            (t0 + t) * kvDim + h * headDim,
          );
    };
    const token = (raw: Float32Array, dst: Float32Array, t: number, bits: KiviBits) => {
      const q = quantizeValues(
        { dtype: 'float32', data: raw.slice(t * kvDim, (t + 1) * kvDim), shape: [1, kvDim] },
        { bits, groupSize: headDim, allowGroupStraddle: true },
      );
      dst.set(dequantize(q).data, t * kvDim);
    };
    const flush = (g: Grouping, raw: Float32Array, dst: Float32Array, bits: KiviBits) => {
      if (g === 'channel') {
        if (len % spec.R === 0) block(raw, dst, len - spec.R, bits);
      } else if (len > spec.R) token(raw, dst, len - spec.R - 1, bits);
    };
    return {
      append(k: Float32Array, v: Float32Array) {
        rawK.set(k, len * kvDim);
        rawV.set(v, len * kvDim);
        keys.set(k, len * kvDim);
        values.set(v, len * kvDim);
        len++;
        flush(spec.key, rawK, keys, spec.keyBits);
        flush(spec.value, rawV, values, spec.valueBits);
      },
      attend(q: Float32Array, out: Float32Array) {
        attendDense(q, out, keys, values, len, c.nHeads, c.nHeads / H, headDim, kvDim, 1 / Math.sqrt(headDim), att);
      },
      byteLength: 0,
    };
  };
}

/** The real KiviCache (attention on packed codes); values need 32/bits | headDim (4 or 8 bits here). */
function kiviCache(keyBits: KiviBits, valueBits: KiviBits, G: number, R: number): KvCacheFactory {
  return (_layer: number, c: LlamaConfig) => {
    const cache = new KiviCache({
      kvHeads: c.nKvHeads,
      headDim,
      keyBits,
      valueBits,
      keyGroupSize: G,
      valueGroupSize: headDim,
      residualLength: R,
    });
    const kShape = [c.nKvHeads, 1, headDim];
    const qShape = [c.nHeads, 1, headDim];
    return {
      append(k: Float32Array, v: Float32Array) {
        cache.append({ dtype: 'float32', data: k, shape: kShape }, { dtype: 'float32', data: v, shape: kShape });
      },
      attend(q: Float32Array, out: Float32Array) {
        cache.attend({ dtype: 'float32', data: q, shape: qShape }, { out });
      },
      get byteLength() {
        return cache.byteLength;
      },
    };
  };
}

const ref = referenceLogits(seqs, cfg.vocabSize, (s) => model.logitsOf(s));
const base = compareLogits(ref, (s) => model.logitsOf(s));
console.log(
  `\n### stories260K end to end (${SEQS} sequences × ${LEN} tokens sampled from the float32 model, teacher-forced; streaming cache, residual window R)\n`,
);
console.log('| KV cache | keys | values | bits K/V | G | R | ppl | KL vs f32 (nats/token) | top-1 agreement |');
console.log('|---|---|---|---|---|---|---|---|---|');
console.log(`| float32 | – | – | 32/32 | – | – | ${base.ppl.toFixed(4)} | 0 | 1.0000 |`);
const fakes: FakeSpec[] = [
  { key: 'channel', value: 'token', keyBits: 2, valueBits: 2, G: 32, R: 32 },
  { key: 'token', value: 'token', keyBits: 2, valueBits: 2, G: 32, R: 32 },
  { key: 'channel', value: 'channel', keyBits: 2, valueBits: 2, G: 32, R: 32 },
  { key: 'token', value: 'channel', keyBits: 2, valueBits: 2, G: 32, R: 32 },
  { key: 'channel', value: 'token', keyBits: 2, valueBits: 2, G: 32, R: 128 },
  { key: 'token', value: 'token', keyBits: 2, valueBits: 2, G: 32, R: 128 },
  { key: 'channel', value: 'token', keyBits: 4, valueBits: 4, G: 32, R: 32 },
  { key: 'token', value: 'token', keyBits: 4, valueBits: 4, G: 32, R: 32 },
];
for (const f of fakes) {
  const m = model.with({ kvCache: fakeKvCache(f) });
  const st = compareLogits(ref, (s) => m.logitsOf(s));
  const kivi = f.key === 'channel' && f.value === 'token' ? 'KIVI grouping' : 'ablation';
  console.log(
    `| ${kivi} (fake-quant rows) | per-${f.key} | per-${f.value} | ${f.keyBits}/${f.valueBits} | ${f.G} | ${f.R} | ${st.ppl.toFixed(4)} | ${st.kl.toFixed(5)} | ${st.top1.toFixed(4)} |`,
  );
}
for (const [kb, vb, G, R] of [
  [2, 4, 32, 32],
  [2, 4, 32, 128],
  [4, 4, 32, 32],
] as [KiviBits, KiviBits, number, number][]) {
  const m = model.with({ kvCache: kiviCache(kb, vb, G, R) });
  const st = compareLogits(ref, (s) => m.logitsOf(s));
  m.logitsOf(seqs[0]!);
  const bytes = m.kvBytes / LEN;
  console.log(
    `| KiviCache (packed codes, ${bytes.toFixed(0)} B/token vs ${2 * kvDim * 4 * cfg.nLayers} f32) | per-channel | per-token | ${kb}/${vb} | ${G} (values ${headDim}) | ${R} | ${st.ppl.toFixed(4)} | ${st.kl.toFixed(5)} | ${st.top1.toFixed(4)} |`,
  );
}
