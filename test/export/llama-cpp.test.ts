/**
 * Integration: stories260K exported by `writeGgufModel` and run by the real llama.cpp (node-llama-cpp,
 * prebuilt CPU binaries). Skipped, with the reason printed, only when node-llama-cpp cannot be loaded.
 *
 * Checks per type:
 * - F32: greedy generation from several prompts equals lowbit's TS forward pass token for token (and the
 *   published run.c greedy output for "Zoo"); the tokenizer (llama.cpp's SPM over our vocab) gives the
 *   same ids and text as lowbit's llama2.c tokenizer.
 * - F16, Q8_0, Q4_0: compared with the TS forward pass on the dequantized weights
 *   (`ggufRoundTripWeights`). llama.cpp's CPU kernels quantize activations to Q8_0 for Q8_0/Q4_0 weights
 *   (and round them to F16 for F16 weights and for the attention K·Q product), which the TS forward does
 *   not. So (a) llama.cpp's greedy generation (100 tokens after each prompt) is teacher-forced through
 *   the TS model: every token llama.cpp picks is within 0.15 logit of the TS maximum (TS logits span
 *   about ±15; a flip needs a near-tie: measured flips happened at TS top-2 gaps ≤ 0.07) and at least
 *   95% of them are the TS argmax itself; (b) teacher-forced next-token distributions agree within
 *   max |Δ log p| ≤ 0.05 (F16) / 0.35 (Q8_0, Q4_0) over tokens with p > 1e-4 and max |Δp| ≤ 2e-3 / 0.04;
 *   measured: 0.007 (F32), 0.018 (F16), 0.21 (Q8_0), 0.15 (Q4_0); greedy tokens equal to the TS argmax:
 *   500/500 (F32), 499/500 (F16), 499/500 (Q8_0), 497/500 (Q4_0), largest gap 0.068 logit. For Q4_0 the TS forward on the *unquantized*
 *   weights is ~20× farther (|Δ log p| 3.5), so the checks see the quantized bytes llama.cpp uses: a
 *   changed block layout fails them.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLlama2Checkpoint } from '../../src/eval/checkpoint.js';
import { LlamaModel, loadStories260KTokenizer, modelPath } from '../../src/eval/llama.js';
import { argmax } from '../../src/eval/sampler.js';
import { type GgufModelType, ggufRoundTripWeights, writeGgufModel } from '../../src/export/gguf-model.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;

let lib: NodeLlamaCpp | undefined;
let llama: Llama | undefined;
let why = '';
try {
  lib = await import('node-llama-cpp');
  llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: lib.LlamaLogLevel.error, progressLogs: false });
} catch (e) {
  // CI sets LOWBIT_REQUIRE_RUNTIMES=1: there a runtime that cannot load is a failure, not a skip
  if (process.env.LOWBIT_REQUIRE_RUNTIMES === '1') throw e;
  why = e instanceof Error ? e.message : String(e);
  console.warn(`[lowbit] SKIPPING the llama.cpp integration tests: node-llama-cpp could not be loaded (${why})`);
}

const ck = readLlama2Checkpoint(readFileSync(modelPath('stories260K/stories260K.bin')));
const tok = loadStories260KTokenizer();
const V = ck.config.vocabSize;
const dir = await mkdtemp(join(tmpdir(), 'lowbit-llamacpp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROMPTS = ['Once upon a time', 'Zoo', 'Tom and his dog', 'The sun was hot. Lily', ''];
const NEW_TOKENS = 100;
/** Greedy length for the quantized-model checks. */
const LONG = 100;
/** Teacher-forced text for the per-token distributions (29 positions). */
const FORCED = 'Once upon a time, there was a little girl named Lily. She liked to play with her big red ball.';

/** Greedy continuation with lowbit's TS forward pass (argmax, lowest id on ties, as llama.cpp's greedy). */
function tsGreedy(model: LlamaModel, prompt: readonly number[], n: number, stopAt: number): number[] {
  model.reset();
  let logits: Float32Array = new Float32Array(0);
  for (const t of prompt) logits = model.forward(t);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = argmax(logits);
    out.push(next);
    if (next === stopAt) break;
    logits = model.forward(next);
  }
  return out;
}

/** Max |Δp| and max |Δ log p| (over p > 1e-4) between TS logits rows and llama.cpp's distributions. */
function distributionError(
  tsLogits: Float32Array,
  dists: readonly Map<number, number>[],
): { dp: number; dlogp: number } {
  let dp = 0;
  let dlogp = 0;
  dists.forEach((probs, t) => {
    expect(probs.size).toBe(V);
    const row = tsLogits.subarray(t * V, (t + 1) * V);
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < V; i++) m = Math.max(m, row[i]!);
    let s = 0;
    for (let i = 0; i < V; i++) s += Math.exp(row[i]! - m);
    const lse = m + Math.log(s);
    for (let i = 0; i < V; i++) {
      const lp = row[i]! - lse;
      const p = Math.exp(lp);
      const q = probs.get(i)!;
      dp = Math.max(dp, Math.abs(p - q));
      if (p > 1e-4) dlogp = Math.max(dlogp, Math.abs(Math.log(q) - lp));
    }
  });
  return { dp, dlogp };
}

async function withModel<T>(
  type: GgufModelType,
  body: (m: Awaited<ReturnType<Llama['loadModel']>>) => Promise<T>,
): Promise<T> {
  const path = join(dir, `stories260K-${type}.gguf`);
  writeFileSync(path, writeGgufModel({ checkpoint: ck, tokenizer: tok, type, name: 'stories260K' }));
  const model = await llama!.loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    return await body(model);
  } finally {
    await model.dispose();
  }
}

async function llamaGreedy(
  model: Awaited<ReturnType<Llama['loadModel']>>,
  prompt: readonly number[],
  n: number,
): Promise<number[]> {
  const ctx = await model.createContext({ contextSize: 256, batchSize: 256, sequences: 1, threads: 1 });
  try {
    const seq = ctx.getSequence();
    const out: number[] = [];
    for await (const t of seq.evaluate([...prompt] as never, { temperature: 0, yieldEogToken: true })) {
      out.push(t as number);
      if (out.length >= n) break;
    }
    return out;
  } finally {
    await ctx.dispose();
  }
}

async function llamaDistributions(
  model: Awaited<ReturnType<Llama['loadModel']>>,
  ids: readonly number[],
): Promise<Map<number, number>[]> {
  const ctx = await model.createContext({ contextSize: 256, batchSize: 256, sequences: 1, threads: 1 });
  try {
    const seq = ctx.getSequence();
    const res = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { probabilities: true } }] as never));
    return res.map((r) => r!.next.probabilities!);
  } finally {
    await ctx.dispose();
  }
}

const TOL: Record<GgufModelType, { dlogp: number; dp: number }> = {
  F32: { dlogp: 0.02, dp: 1e-3 },
  F16: { dlogp: 0.05, dp: 2e-3 },
  Q8_0: { dlogp: 0.35, dp: 0.04 },
  Q4_0: { dlogp: 0.35, dp: 0.04 },
};

describe.skipIf(llama === undefined)('stories260K GGUF in llama.cpp (node-llama-cpp 3.21.1)', () => {
  it('F32: tokenizer, greedy generation from several prompts = TS forward (and run.c for "Zoo")', async () => {
    const ts = new LlamaModel(ck.config, ck.weights);
    await withModel('F32', async (model) => {
      expect(model.tokens.bos).toBe(1);
      expect(model.tokens.eos).toBe(2);
      for (const prompt of PROMPTS) {
        const ids = tok.encode(prompt);
        expect([1, ...model.tokenize(prompt)], `tokens of ${JSON.stringify(prompt)}`).toEqual(ids);
        const want = tsGreedy(ts, ids, NEW_TOKENS, tok.eos);
        const got = await llamaGreedy(model, ids, NEW_TOKENS);
        expect(got, `greedy after ${JSON.stringify(prompt)}`).toEqual(want);
        if (!want.includes(1))
          expect(model.detokenize([...ids.slice(1), ...got] as never)).toBe(tok.decode([...ids.slice(1), ...want]));
      }
      // the published run.c output: `run stories260K.bin -z tok512.bin -t 0 -i Zoo -n 60`
      const ref = JSON.parse(
        readFileSync(new URL('../fixtures/stories260k-runc-reference.json', import.meta.url), 'utf8'),
      ).greedy_zoo as { ids: number[] };
      const zoo = tok.encode('Zoo');
      const got = await llamaGreedy(model, zoo, 60 - zoo.length);
      expect([...zoo.slice(1), ...got]).toEqual(ref.ids.slice(0, 59));
    });
  });

  it('a separate classifier (negative vocab_size) is written as output.weight and used by llama.cpp', async () => {
    // stories260K with vocab_size −512 and a classifier that differs from the embedding (a row permutation,
    // sign-flipped): llama.cpp must read `output.weight`, not fall back to `token_embd`
    const bytes = readFileSync(modelPath('stories260K/stories260K.bin'));
    const emb = ck.weights.tokenEmbedding;
    const D = ck.config.dim;
    const wcls = new Float32Array(emb.length);
    for (let v = 0; v < V; v++) for (let i = 0; i < D; i++) wcls[v * D + i] = -emb[((v * 7 + 3) % V) * D + i]!;
    const sep = new Uint8Array(bytes.length + wcls.byteLength);
    sep.set(bytes);
    sep.set(new Uint8Array(wcls.buffer), bytes.length);
    new DataView(sep.buffer).setInt32(20, -V, true);
    const ck2 = readLlama2Checkpoint(sep);
    expect(ck2.sharedClassifier).toBe(false);
    const path = join(dir, 'separate-classifier.gguf');
    writeFileSync(path, writeGgufModel({ checkpoint: ck2, tokenizer: tok }));
    const model = await llama!.loadModel({ modelPath: path, gpuLayers: 0 });
    try {
      const forced = tok.encode(FORCED);
      const dists = await llamaDistributions(model, forced);
      const err = distributionError(new LlamaModel(ck2.config, ck2.weights).logitsOf(forced), dists);
      expect(err.dlogp).toBeLessThanOrEqual(TOL.F32.dlogp);
      expect(err.dp).toBeLessThanOrEqual(TOL.F32.dp);
    } finally {
      await model.dispose();
    }
  });

  for (const type of ['F32', 'F16', 'Q8_0', 'Q4_0'] as const) {
    it(`${type}: greedy outputs and per-token distributions match the TS forward on the dequantized weights`, async () => {
      const w = type === 'F32' ? ck.weights : ggufRoundTripWeights(ck, type);
      const ts = new LlamaModel(ck.config, w);
      await withModel(type, async (model) => {
        if (type !== 'F32') {
          let steps = 0;
          let exact = 0;
          for (const prompt of PROMPTS) {
            const ids = tok.encode(prompt);
            const got = await llamaGreedy(model, ids, LONG);
            ts.reset();
            let logits: Float32Array = new Float32Array(0);
            for (const t of ids) logits = ts.forward(t);
            for (const t of got) {
              const best = argmax(logits);
              expect(logits[best]! - logits[t]!, `${type} after ${JSON.stringify(prompt)}: step ${steps}`).toBeLessThan(
                0.15,
              );
              if (t === best) exact++;
              steps++;
              if (t === tok.eos) break;
              logits = ts.forward(t);
            }
          }
          expect(steps).toBeGreaterThanOrEqual(PROMPTS.length * 50);
          expect(
            exact / steps,
            `${type}: share of llama.cpp greedy tokens equal to the TS argmax`,
          ).toBeGreaterThanOrEqual(0.95);
        }
        const forced = tok.encode(FORCED);
        const dists = await llamaDistributions(model, forced);
        const err = distributionError(ts.logitsOf(forced), dists);
        expect(err.dlogp, `${type} max |Δ log p|`).toBeLessThanOrEqual(TOL[type].dlogp);
        expect(err.dp, `${type} max |Δp|`).toBeLessThanOrEqual(TOL[type].dp);
        if (type === 'Q4_0') {
          // the unquantized model is far from what llama.cpp computes: the quantized bytes are what it runs
          const far = distributionError(new LlamaModel(ck.config, ck.weights).logitsOf(forced), dists);
          expect(far.dlogp).toBeGreaterThan(5 * err.dlogp);
        }
      });
    });
  }
});
