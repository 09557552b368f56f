import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import { generate } from '../../src/eval/generate.js';
import {
  captureActivations,
  evalTokens,
  llamaFromLlama2c,
  loadStories260K,
  loadStories260KTokenizer,
  modelPath,
} from '../../src/eval/llama.js';
import { RunCRng } from '../../src/eval/sampler.js';
import { parseTokenizer } from '../../src/eval/tokenizer.js';

// Published llama2.c run.c outputs for this checkpoint (shared/specs/realdata.md §5), not produced by lowbit.
const ref = JSON.parse(
  readFileSync(new URL('../fixtures/stories260k-runc-reference.json', import.meta.url), 'utf8'),
) as Record<string, { text: string; ids: number[] }>;

describe('stories260K with run.c semantics', () => {
  const model = loadStories260K();
  const tok = loadStories260KTokenizer();

  it('reads the header', () => {
    expect(model.config).toMatchObject({
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      seqLen: 512,
    });
  });

  it('encodes as the spec examples', () => {
    expect(tok.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(tok.encode('Zoo')).toEqual([1, 410, 469, 347]);
    expect(tok.encode('')).toEqual([1]);
  });

  it('5.1 greedy from BOS, -n 200', () => {
    const r = generate(model, tok, { steps: 200, temperature: 0 });
    expect(r.ids).toEqual(ref.greedy_bos!.ids);
    expect(r.text).toBe(ref.greedy_bos!.text);
  });

  it('5.2 greedy from "Zoo", -n 60', () => {
    const r = generate(model, tok, { prompt: 'Zoo', steps: 60, temperature: 0 });
    expect(r.ids).toEqual(ref.greedy_zoo!.ids);
    expect(r.text).toBe(ref.greedy_zoo!.text);
  });

  it('5.3 sampled -t 1 -p 1 -s 42 -n 200', () => {
    const r = generate(model, tok, { steps: 200, temperature: 1, topp: 1, seed: 42 });
    expect(r.ids).toEqual(ref.sampled_t1_p1!.ids);
    expect(r.text).toBe(ref.sampled_t1_p1!.text);
  });

  it('5.4 sampled -t 1 -p 0.95 -s 42 -n 200', () => {
    const r = generate(model, tok, { steps: 200, temperature: 1, topp: 0.95, seed: 42 });
    expect(r.ids).toEqual(ref.sampled_t1_p095!.ids);
    expect(r.text).toBe(ref.sampled_t1_p095!.text);
  });

  it('5.5 greedy from "Once upon a time", -n 60', () => {
    const r = generate(model, tok, { prompt: 'Once upon a time', steps: 60, temperature: 0 });
    expect(r.ids).toEqual(ref.greedy_bos!.ids.slice(0, 60));
    expect(r.text).toBe(ref.greedy_bos!.text.slice(0, 174));
  });

  it('captures K/V and linear inputs consistent with the forward pass', () => {
    const ids = tok.encode('Once upon a time');
    const acts = captureActivations(model, ids);
    expect(acts.keys).toHaveLength(5);
    expect(acts.keys[0]!.shape).toEqual([4, 5, 8]);
    expect(acts.inputs.w2[0]!.shape).toEqual([5, 172]);
    // position 0 has angle 0: its keys equal wk·rmsnorm(x) without rotation
    const x = acts.inputs.attn[0]!.data.subarray(0, 64);
    const wk = model.weights.wk[0]!;
    for (let r = 0; r < 32; r++) {
      let s = 0;
      for (let c = 0; c < 64; c++) s += wk[r * 64 + c]! * x[c]!;
      const h = Math.floor(r / 8);
      expect(acts.keys[0]!.data[(h * 5 + 0) * 8 + (r % 8)]).toBeCloseTo(s, 5);
    }
  });

  it('evalTokens is deterministic and seeded', () => {
    const a = evalTokens(model, { sequences: 2, length: 64, seed: 7 });
    const b = evalTokens(model, { sequences: 2, length: 64, seed: 7 });
    expect(a).toEqual(b);
    expect(a[0]).toHaveLength(64);
    expect(a[0]![0]).toBe(1);
    expect(a[0]).not.toEqual(a[1]);
  });

  it('rejects corrupt checkpoints and tokenizers with E_FORMAT', () => {
    const bytes = readFileSync(modelPath('stories260K/stories260K.bin'));
    expect(() => llamaFromLlama2c(bytes.subarray(0, bytes.length - 4))).toThrow(
      expect.objectContaining({ code: 'E_FORMAT' }),
    );
    const bad = new Uint8Array(bytes);
    new DataView(bad.buffer).setInt32(0, -5, true);
    expect(() => llamaFromLlama2c(bad)).toThrow(expect.objectContaining({ code: 'E_FORMAT' }));
    const tb = readFileSync(modelPath('stories260K/tok512.bin'));
    try {
      parseTokenizer(tb.subarray(0, 100), 512);
      expect.unreachable();
    } catch (e) {
      expect(isLowbitError(e, 'E_FORMAT')).toBe(true);
    }
  });
});

describe('run.c xorshift64*', () => {
  it('matches the reference recurrence computed with BigInt independently', () => {
    const rng = new RunCRng(42n);
    let s = 42n;
    const M = (1n << 64n) - 1n;
    for (let i = 0; i < 100; i++) {
      s ^= s >> 12n;
      s ^= (s << 25n) & M;
      s ^= s >> 27n;
      const u = Number(((s * 0x2545f4914f6cdd1dn) & M) >> 32n);
      expect(rng.u32()).toBe(u);
    }
  });
});
