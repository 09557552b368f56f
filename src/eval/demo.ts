/**
 * The demo (`npm run demo`): runs the shipped stories260K model, captures its real KV cache, and prints
 * (1) the tensor-level table — KIVI-2/4, the 2-bit per-token baseline, BFP12 and MXFP4 with and without
 * K-sort — and (2) the end-to-end table (perplexity, KL from float32, top-1 agreement, KV bytes per
 * token) for the same cache configurations. Uses a smaller evaluation set than the README run (says so in
 * its output) so that it finishes in well under a minute on 2 cores.
 *
 * Exposed: runDemo, DEMO_SETTINGS.
 * @module
 */
import { alignTable, formatNumber } from '../cli/io.js';
import { captureActivations, evalTokens, loadStories260K } from './llama.js';
import { evalModel } from './run.js';
import { evalTensor } from './tensoreval.js';

/**
 * Sizes of the demo run (the README uses 16 × 256 evaluation tokens and 4 × 256 calibration tokens).
 *
 * @example
 * ```ts
 * DEMO_SETTINGS.sequences; // 4 evaluation sequences in the demo
 * ```
 */
export const DEMO_SETTINGS = {
  captureLength: 256,
  captureSeed: 1000,
  sequences: 4,
  length: 128,
  seed: 1000,
  calibrationSequences: 2,
  calibrationLength: 128,
  calibrationSeed: 9000,
} as const;

interface TensorConfig {
  label: string;
  key: { method: string; bits: number; group: number };
  value: { method: string; bits: number; group: number };
}

const TENSOR_CONFIGS: TensorConfig[] = [
  {
    label: 'KIVI-4 (K per-channel G 32 tokens, V per-token G 8)',
    key: { method: 'kivi-keys', bits: 4, group: 32 },
    value: { method: 'kivi-values', bits: 4, group: 8 },
  },
  {
    label: 'KIVI-2 (K per-channel G 32 tokens, V per-token G 8)',
    key: { method: 'kivi-keys', bits: 2, group: 32 },
    value: { method: 'kivi-values', bits: 2, group: 8 },
  },
  {
    label: 'per-token K2V2 (G 8 channels)',
    key: { method: 'per-token', bits: 2, group: 8 },
    value: { method: 'kivi-values', bits: 2, group: 8 },
  },
  { label: 'BFP12 b8', key: { method: 'bfp12', bits: 4, group: 8 }, value: { method: 'bfp12', bits: 4, group: 8 } },
  {
    label: 'BFP12 b8 + K-sort',
    key: { method: 'bfp12-ksort', bits: 4, group: 8 },
    value: { method: 'bfp12', bits: 4, group: 8 },
  },
  { label: 'MXFP4 b8', key: { method: 'mxfp4', bits: 4, group: 8 }, value: { method: 'mxfp4', bits: 4, group: 8 } },
  {
    label: 'MXFP4 b8 + K-sort',
    key: { method: 'mxfp4-ksort', bits: 4, group: 8 },
    value: { method: 'mxfp4', bits: 4, group: 8 },
  },
];

const E2E_KV = [
  'float32',
  'kivi4-r32',
  'kivi2-r32',
  'pertoken2',
  'bfp12',
  'bfp12-ksort-layer',
  'mxfp4',
  'mxfp4-ksort-layer',
];

/**
 * Run the demo, writing text through `write` (e.g. `process.stdout.write.bind(process.stdout)`).
 *
 * @example
 * ```ts
 * runDemo((s) => process.stdout.write(s));
 * ```
 */
export function runDemo(write: (s: string) => void): void {
  const t0 = performance.now();
  const S = DEMO_SETTINGS;
  const model = loadStories260K();
  write('lowbit demo: the stories260K model (models/stories260K, 5 layers, 4 KV heads x 8 dims)\n\n');
  // (1) the real KV cache of one sampled story
  const seq = evalTokens(model, { sequences: 1, length: S.captureLength, seed: S.captureSeed })[0]!;
  const acts = captureActivations(model, seq);
  write(
    `(1) Tensor level: the real K (after RoPE) and V cache of all 5 layers, ${S.captureLength} tokens sampled from the model\n` +
      `    (seed ${S.captureSeed}); every token quantized (no full-precision residual); numbers averaged over layers.\n` +
      '    score nmse = error of the attention scores q·k/√8 with the float keys as queries. K-sort: channel\n' +
      '    order by absmax over these tokens, across all 32 KV channels (storage level).\n\n',
  );
  const rows = TENSOR_CONFIGS.map((c) => {
    let kN = 0;
    let vN = 0;
    let sN = 0;
    let bpe = 0;
    for (let l = 0; l < 5; l++) {
      const k = evalTensor('k', acts.keys[l]!, [c.key.method], [c.key.bits], c.key.group, 32)[0]!;
      const v = evalTensor('v', acts.values[l]!, [c.value.method], [c.value.bits], c.value.group, 32)[0]!;
      kN += k.nmse / 5;
      vN += v.nmse / 5;
      sN += (k.scoreNmse ?? 0) / 5;
      bpe += (k.bitsPerElement + v.bitsPerElement) / 10;
    }
    return [c.label, formatNumber(Number(bpe.toFixed(3))), formatNumber(kN), formatNumber(sN), formatNumber(vN)];
  });
  write(
    alignTable(['configuration', 'bits/elem (K,V mean)', 'K nmse', 'K score nmse', 'V nmse'], rows, [
      false,
      true,
      true,
      true,
      true,
    ]),
  );
  write(
    `\n(2) End to end: teacher-forced on ${S.sequences} sequences x ${S.length} tokens sampled from the float32 model (seeds ${S.seed}..${S.seed + S.sequences - 1});\n` +
      `    the README uses 16 x 256 (lowbit eval-model). K-sort calibrated on ${S.calibrationSequences} other sequences (seeds ${S.calibrationSeed}+).\n` +
      '    KIVI here with R = 32 (with the paper R = 128 every token of a 128-token sequence would stay in float32).\n\n',
  );
  const r = evalModel({
    model: 'stories260K',
    kv: E2E_KV,
    sequences: S.sequences,
    length: S.length,
    seed: S.seed,
    calibrationSequences: S.calibrationSequences,
    calibrationLength: S.calibrationLength,
    calibrationSeed: S.calibrationSeed,
  });
  write(
    alignTable(
      ['configuration', 'ppl', 'KL (nats)', 'top-1', 'KV bytes/token'],
      r.rows.map((x) => [
        x.label,
        x.ppl.toFixed(3),
        x.kl.toFixed(4),
        `${(100 * x.top1).toFixed(1)}%`,
        x.kvBytesPerToken === null ? '-' : x.kvBytesPerToken.toFixed(0),
      ]),
      [false, true, true, true, true],
    ),
  );
  write(
    `\nKV bytes/token: all 5 layers, averaged at the end of a ${S.length}-token sequence (KIVI includes its float32 residual).\n` +
      `Done in ${((performance.now() - t0) / 1000).toFixed(1)} s.\n`,
  );
}
