/**
 * Real-model harness throughput: stories260K teacher-forced forward passes (128 tokens) with each KV
 * cache plug, and mamba-tiny windows with float32 and W8A4-Hadamard linear layers. GB/s counts the
 * weight bytes one run reads (every token reads all weights once); elements are tokens. The float32
 * cache is the reference each quantized cache is compared with.
 */
import { kvCacheFromSpec } from '../src/eval/kvcache.js';
import { evalTokens, loadStories260K } from '../src/eval/llama.js';
import { bosWindows, loadMambaHeldout, loadMambaTiny } from '../src/eval/mamba.js';
import { captureMambaInputs, rotatedMambaLinear } from '../src/eval/mambaweights.js';
import { parseKvSpec } from '../src/eval/run.js';
import { QUICK, runGroup } from './harness.js';

export async function main(): Promise<void> {
  const model = loadStories260K();
  const T = QUICK ? 32 : 128;
  const seq = evalTokens(model, { sequences: 1, length: T, seed: 1000 })[0]!;
  const weightBytes = 1_056_540 - 28;
  const specs = ['float32', 'kivi4-g8-r32', 'kivi2-r32', 'pertoken2', 'bfp12', 'mxfp4'];
  await runGroup({
    title: `stories260K forward, ${T} tokens, per KV cache (float32 = reference)`,
    bytes: weightBytes * T,
    elements: T,
    runs: QUICK ? 2 : 5,
    cases: specs.map((s) => {
      const m = model.with({ kvCache: kvCacheFromSpec(parseKvSpec(s, 8).spec) });
      return { name: `logitsOf, ${s}`, fn: () => m.logitsOf(seq) };
    }),
  });
  const mamba = loadMambaTiny();
  const held = loadMambaHeldout();
  const L = QUICK ? 32 : 128;
  const win = bosWindows(held, { count: 1, length: L })[0]!;
  const calWins = bosWindows(held, { count: 2, length: 128, from: held.length - 8000 });
  const q = rotatedMambaLinear(mamba, captureMambaInputs(mamba, calWins), {
    weightBits: 8,
    activationBits: 4,
    transform: 'hadamard',
  });
  await runGroup({
    title: `mamba-tiny forward, ${L}-token window (float32 = reference)`,
    bytes: 1_293_560 * L,
    elements: L,
    runs: QUICK ? 2 : 5,
    cases: [
      { name: 'forward, float32', fn: () => mamba.forward(win) },
      { name: 'forward, W8A4 hadamard', fn: () => q.model.forward(win, { linear: q.linear }) },
    ],
  });
}
