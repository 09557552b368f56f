import { describe, expect, it } from 'vitest';
import { bitsPerElement } from '../../src/bfp/index.js';
import { compareLogits, referenceLogits } from '../../src/eval/evaluate.js';
import { headKSortModel, keyMagnitudes, layerKSortOrders } from '../../src/eval/ksort.js';
import { blockKvCache, kiviKvCache, kiviSideBytes, kvCacheFromSpec, perTokenKvCache } from '../../src/eval/kvcache.js';
import {
  attendDense,
  captureActivations,
  evalTokens,
  type KvCacheFactory,
  loadStories260K,
} from '../../src/eval/llama.js';
import { parseKvSpec, parseWeightSpec } from '../../src/eval/run.js';
import { mwqLlamaWeights, rotatedLlamaLinear } from '../../src/eval/weights.js';
import { KiviCache } from '../../src/kivi/index.js';

const model = loadStories260K();
// evaluation and calibration tokens from different seeds (separate slices)
const evalSeqs = evalTokens(model, { sequences: 1, length: 48, seed: 1000 });
const calSeq = evalTokens(model, { sequences: 1, length: 96, seed: 9000 })[0]!;
const ref = referenceLogits(evalSeqs, 512, (s) => model.logitsOf(s));
const score = (m: typeof model) => compareLogits(ref, (s) => m.logitsOf(s));

describe('compareLogits on hand-computed logits', () => {
  it('NLL, KL and top-1 of a 2-token vocabulary', () => {
    // baseline logits [0, 0] -> p = (1/2, 1/2); quantized [ln 3, 0] -> q = (3/4, 1/4)
    const r = referenceLogits([[0, 1]], 2, () => new Float32Array([0, 0, 5, 5]));
    const st = compareLogits(r, () => new Float32Array([Math.log(3), 0, 0, 0]));
    expect(st.tokens).toBe(1);
    expect(st.nll).toBeCloseTo(Math.log(4), 6); // true next token 1 has q = 1/4
    expect(st.ppl).toBeCloseTo(4, 5);
    expect(st.kl).toBeCloseTo(0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25), 6);
    expect(st.top1).toBe(1); // argmax 0 in both (first index on the baseline tie)
    const st2 = compareLogits(r, () => new Float32Array([0, 1, 0, 0]));
    expect(st2.top1).toBe(0);
  });
});

describe('KV cache plugs', () => {
  it('the float32 plug equals the default cache bit for bit', () => {
    const a = model.logitsOf(evalSeqs[0]!);
    const b = model.with({ kvCache: kvCacheFromSpec({ method: 'float32' }) }).logitsOf(evalSeqs[0]!);
    expect(b).toEqual(a);
  });

  it('per-token and block caches report the byteLength of their formulas', () => {
    const T = 37;
    const kvDim = 32;
    const run = (f: KvCacheFactory) => {
      const m = model.with({ kvCache: f });
      m.logitsOf(evalSeqs[0]!.slice(0, T));
      return m.kvBytes;
    };
    // per-token K2V2, groups of 8: per side 32·2/8 code bytes + 4 groups · (scale + min) · 4 B = 8 + 32
    expect(run(perTokenKvCache({ method: 'per-token', keyBits: 2, valueBits: 2, groupSize: 8 }))).toBe(
      T * 5 * 2 * (8 + 32),
    );
    // keys 4-bit, values float32
    expect(run(perTokenKvCache({ method: 'per-token', keyBits: 4, valueBits: 32, groupSize: 8 }))).toBe(
      T * 5 * (16 + 32 + kvDim * 4),
    );
    // BFP12 block 8: 4-bit elements + one 8-bit exponent per 8 = 5 bits/element -> 20 B per side
    expect(bitsPerElement('bfp12', 8)).toBe(5);
    expect(run(blockKvCache({ method: 'block', format: 'bfp12', blockSize: 8 }))).toBe(T * 5 * 2 * 20);
    // MXFP4 block 4 with values float32: 4 + 8/4 = 6 bits -> 24 B keys + 128 B values
    expect(run(blockKvCache({ method: 'block', format: 'mxfp4', blockSize: 4, values: false }))).toBe(
      T * 5 * (24 + 128),
    );
  });

  it('KIVI through the model equals dense attention over its own dequantized cache (1e-5 relative)', () => {
    // native KiviCache config on headDim 8: 4-bit, G 8, R 16; a mirror cache fed the same K/V is dequantized
    const spec = { method: 'kivi', keyBits: 4, valueBits: 4, groupSize: 8, residualLength: 16 } as const;
    const inner = kiviKvCache(spec);
    let maxRel = 0;
    let calls = 0;
    const wrap: KvCacheFactory = (layer, c) => {
      const l = inner(layer, c);
      const mirror = new KiviCache({ kvHeads: 4, headDim: 8, bits: 4, groupSize: 8, residualLength: 16 });
      const out2 = new Float32Array(64);
      const att = new Float32Array(c.seqLen);
      let n = 0;
      return {
        append(k, v) {
          l.append(k, v);
          mirror.append(
            { dtype: 'float32', data: k, shape: [4, 1, 8] },
            { dtype: 'float32', data: v, shape: [4, 1, 8] },
          );
          n++;
        },
        attend(q, out) {
          l.attend(q, out);
          // [kvHeads, T, D] -> [T, kvHeads·D] rows for the harness's dense attention
          const K = mirror.keys().data;
          const V = mirror.values().data;
          const rk = new Float32Array(n * 32);
          const rv = new Float32Array(n * 32);
          for (let h = 0; h < 4; h++)
            for (let t = 0; t < n; t++)
              for (let d = 0; d < 8; d++) {
                rk[t * 32 + h * 8 + d] = K[(h * n + t) * 8 + d]!;
                rv[t * 32 + h * 8 + d] = V[(h * n + t) * 8 + d]!;
              }
          attendDense(q, out2, rk, rv, n, 8, 2, 8, 32, 1 / Math.sqrt(8), att);
          let num = 0;
          let den = 0;
          for (let i = 0; i < 64; i++) {
            num = Math.max(num, Math.abs(out[i]! - out2[i]!));
            den = Math.max(den, Math.abs(out2[i]!));
          }
          maxRel = Math.max(maxRel, num / den);
          calls++;
        },
        get byteLength() {
          return l.byteLength;
        },
      };
    };
    const m = model.with({ kvCache: wrap });
    m.logitsOf(evalSeqs[0]!);
    expect(calls).toBe(5 * 48);
    expect(maxRel).toBeLessThan(1e-5);
    // and the cache really quantizes: logits differ from float32
    expect(m.logitsOf(evalSeqs[0]!)).not.toEqual(model.logitsOf(evalSeqs[0]!));
  });

  it("KIVI bytes: kiviSideBytes equals a native KiviCache's byteLength; the split path reports it", () => {
    const c = new KiviCache({ kvHeads: 4, headDim: 8, bits: 4, groupSize: 8, residualLength: 16 });
    const row = { dtype: 'float32' as const, data: new Float32Array(32).fill(0.5), shape: [4, 1, 8] };
    for (let t = 1; t <= 37; t++) {
      c.append(row, row);
      expect(c.byteLength).toBe(kiviSideBytes('keys', t, 32, 4, 8, 16) + kiviSideBytes('values', t, 32, 4, 8, 16));
    }
    // paper setting G = 32 tokens for keys, G_v = 8 = headDim for values (split path), R = 32
    const spec = parseKvSpec('kivi2-r32', 8).spec;
    expect(spec).toEqual({
      method: 'kivi',
      keyBits: 2,
      valueBits: 2,
      groupSize: 32,
      valueGroupSize: 8,
      residualLength: 32,
    });
    const m = model.with({ kvCache: kvCacheFromSpec(spec) });
    m.logitsOf(evalSeqs[0]!);
    // T = 48: keys 32 quantized (32·2/8 + 32/32·32·8... per channel one group) + 16 residual; values 16 quantized + 32 residual
    const keys = (32 * 32 * 2) / 8 + 32 * 8 + 16 * 32 * 4;
    const values = (16 * 32 * 2) / 8 + 16 * 4 * 8 + 32 * 32 * 4;
    expect(m.kvBytes).toBe(5 * (keys + values));
    const st = score(m);
    expect(st.kl).toBeGreaterThan(0);
    expect(st.kl).toBeLessThan(0.5);
  });

  it('KIVI rejects a value group that crosses heads', () => {
    expect(() =>
      model
        .with({
          kvCache: kiviKvCache({
            method: 'kivi',
            keyBits: 2,
            valueBits: 2,
            groupSize: 32,
            valueGroupSize: 16,
            residualLength: 32,
          }),
        })
        .forward(1),
    ).toThrow(/valueGroupSize/);
  });

  it('on the real keys, KIVI-2 beats 2-bit per-token keys end to end (the paper finding)', () => {
    const kivi = score(model.with({ kvCache: kvCacheFromSpec(parseKvSpec('kivi2-r32', 8).spec) }));
    const perTok = score(model.with({ kvCache: kvCacheFromSpec(parseKvSpec('pertoken2', 8).spec) }));
    expect(kivi.kl).toBeLessThan(perTok.kl);
  });
});

describe('K-sort', () => {
  it('head scope fused into wq/wk with permuted RoPE frequencies keeps the float32 logits', () => {
    const { model: sorted, orders } = headKSortModel(model, calSeq, 4);
    expect(orders).toHaveLength(5);
    // the orders are not the identity (else the test proves nothing)
    expect(orders.some((o) => o.perm.some((p, i) => p !== i))).toBe(true);
    expect(sorted.weights.wk[0]).not.toEqual(model.weights.wk[0]);
    const a = model.logitsOf(evalSeqs[0]!);
    const b = sorted.logitsOf(evalSeqs[0]!);
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
    expect(max).toBeLessThan(1e-4);
    // without the permuted frequencies the fused weights are wrong
    const wrong = sorted.with({ ropeFreqs: new Float64Array(5 * 16).map((_, i) => 1 / 10000 ** ((2 * (i % 4)) / 8)) });
    let maxWrong = 0;
    const c = wrong.logitsOf(evalSeqs[0]!);
    for (let i = 0; i < a.length; i++) maxWrong = Math.max(maxWrong, Math.abs(a[i]! - c[i]!));
    expect(maxWrong).toBeGreaterThan(1e-2);
  });

  it('explicit default RoPE frequencies equal the built-in ones', () => {
    const f = new Float64Array(16).map((_, i) => Math.fround(1 / Math.fround(10000 ** Math.fround((2 * (i % 4)) / 8))));
    expect(model.with({ ropeFreqs: f }).logitsOf(evalSeqs[0]!.slice(0, 20))).toEqual(
      model.logitsOf(evalSeqs[0]!.slice(0, 20)),
    );
    expect(() => model.with({ ropeFreqs: new Float64Array(3) })).toThrow(/ropeFreqs/);
  });

  it('layer-scope orders sort every layer by calibration absmax and help BFP12 at block 8', () => {
    const orders = layerKSortOrders(model, calSeq, 8);
    const mags = keyMagnitudes(model, calSeq);
    for (let l = 0; l < 5; l++) {
      const sorted = Array.from(orders[l]!.perm, (p) => mags[l]![p]!);
      for (let i = 1; i < 32; i++) expect(sorted[i]!).toBeGreaterThanOrEqual(sorted[i - 1]!);
    }
    const plain = score(model.with({ kvCache: blockKvCache({ method: 'block', format: 'bfp12', blockSize: 8 }) }));
    const ks = score(
      model.with({ kvCache: blockKvCache({ method: 'block', format: 'bfp12', blockSize: 8, keyOrders: orders }) }),
    );
    expect(ks.kl).toBeLessThan(plain.kl);
  });
});

describe('weight plugs', () => {
  const acts = captureActivations(model, calSeq);

  it('MWQ levels: 8-bit is near float32, 2-bit much worse than 4-bit', () => {
    const kl = (level: number) =>
      score(model.with({ weights: mwqLlamaWeights(model, { scheme: 'matquant', level }) })).kl;
    const k8 = kl(8);
    const k4 = kl(4);
    const k2 = kl(2);
    expect(k8).toBeLessThan(0.01);
    expect(k4).toBeGreaterThan(k8);
    expect(k2).toBeGreaterThan(k4);
  });

  it('W8A8 behind a Hadamard is near float32 (calibrated on a separate slice)', () => {
    const q = rotatedLlamaLinear(model, acts, { weightBits: 8, activationBits: 8, transform: 'hadamard' });
    const st = score(model.with({ linear: q.linear }));
    expect(st.kl).toBeGreaterThan(0);
    expect(st.kl).toBeLessThan(0.02);
  });
});

describe('spec strings', () => {
  it('parses KV specs', () => {
    expect(parseKvSpec('float32', 8).spec).toEqual({ method: 'float32' });
    expect(parseKvSpec('kivi4v2-g32-gv8-r64', 8).spec).toMatchObject({ keyBits: 4, valueBits: 2, residualLength: 64 });
    expect(parseKvSpec('pertoken2', 8).spec).toEqual({ method: 'per-token', keyBits: 2, valueBits: 2, groupSize: 8 });
    expect(parseKvSpec('mxfp4-b4-konly-ksort-head', 8)).toMatchObject({
      ksort: 'head',
      spec: { method: 'block', format: 'mxfp4', blockSize: 4, values: false },
    });
    for (const bad of ['kivi3', 'bogus', 'bfp12-ksort', 'bfp12-ksort-row', 'pertoken1', 'kivi2-x5'])
      expect(() => parseKvSpec(bad, 8)).toThrow(/bad/);
  });

  it('parses weight specs', () => {
    expect(parseWeightSpec('mwq-residual-3')).toMatchObject({ kind: 'mwq', scheme: 'residual', level: 3 });
    expect(parseWeightSpec('w4a8-smooth-klt-hadamard-fused')).toMatchObject({
      kind: 'wa',
      weightBits: 4,
      activationBits: 8,
      transform: 'smooth-klt-hadamard',
      fusedGate: true,
    });
    for (const bad of ['mwq-foo-4', 'mwq-matquant-9', 'w8a8-rot', 'w8a8-hadamard-fused', 'w1a8-none'])
      expect(() => parseWeightSpec(bad)).toThrow(/bad/);
  });
});
