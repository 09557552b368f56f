/**
 * K-cache reconstruction error with and without K-sort on stories260K's real keys (post-RoPE, from the
 * float32 forward pass), for BFP12 and MXFP4.
 *
 * - Calibration: 4 sequences of 128 tokens sampled from the model (seed 1000); evaluation: 4 other
 *   sequences of 256 tokens (seed 2000). Orders are calibrated per layer on the calibration keys only.
 * - `scope: 'head'`: blocks of n channels inside each KV head (head_dim 8), keys [kvHeads, T, 8]; the
 *   order is a RoPE pair-sort (`rope: 'interleaved'`), i.e. the variant that can be fused into W_q/W_k
 *   with permuted frequencies (post-RoPE keys permuted by pairs are exactly the keys of the fused model).
 * - `scope: 'head'` with `rope: 'none'` (row "channel sort"): single channels sorted inside each head; not
 *   fusable before RoPE, it is the post-RoPE runtime gather variant (bfp.md §7 option b).
 * - `scope: 'layer'`: the 32 KV channels of a token form one row [T, 32], blocks of n along it; the
 *   order may cross heads (storage-level reorder, gathered back before attention).
 * - Error: relative Frobenius error ‖K − K̂‖ / ‖K‖ over all 5 layers' evaluation keys.
 *
 * Run: `npx tsx scripts/experiments/bfp.ts` (prints a markdown table).
 */
import {
  applyChannelOrder,
  type BlockFormat,
  bitsPerElement,
  type ChannelOrder,
  calibrateChannelOrder,
  dequantizeBlocks,
  quantizeBlocks,
  restoreChannelOrder,
} from '../../src/bfp/index.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { captureActivations, evalTokens, loadStories260K } from '../../src/eval/llama.js';

const model = loadStories260K();
const L = model.config.nLayers;

function keysOf(seqs: number[][]): Float32Tensor[] {
  // concatenate the sequences' keys along T, per layer
  const per = seqs.map((s) => captureActivations(model, s).keys);
  return Array.from({ length: L }, (_, l) => {
    const parts = per.map((p) => p[l]!);
    const [H, , D] = parts[0]!.shape as [number, number, number];
    const T = parts.reduce((a, p) => a + p.shape[1]!, 0);
    const out = new Float32Array(H * T * D);
    let t0 = 0;
    for (const p of parts) {
      const Tp = p.shape[1]!;
      for (let h = 0; h < H; h++) out.set(p.data.subarray(h * Tp * D, (h + 1) * Tp * D), (h * T + t0) * D);
      t0 += Tp;
    }
    return { dtype: 'float32', data: out, shape: [H, T, D] };
  });
}

/** [H, T, D] → [T, H·D] (all KV channels of a token in one row) and back. */
function toRows(k: Float32Tensor): Float32Tensor {
  const [H, T, D] = k.shape as [number, number, number];
  const out = new Float32Array(k.data.length);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++) for (let j = 0; j < D; j++) out[t * H * D + h * D + j] = k.data[(h * T + t) * D + j]!;
  return { dtype: 'float32', data: out, shape: [T, H * D] };
}
function fromRows(r: Float32Tensor, H: number, D: number): Float32Tensor {
  const T = r.shape[0]!;
  const out = new Float32Array(r.data.length);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++) for (let j = 0; j < D; j++) out[(h * T + t) * D + j] = r.data[t * H * D + h * D + j]!;
  return { dtype: 'float32', data: out, shape: [H, T, D] };
}

function reconstruct(
  k: Float32Tensor,
  format: BlockFormat,
  n: number,
  scope: 'head' | 'layer',
  order: ChannelOrder | null,
): Float32Tensor {
  const [H, , D] = k.shape as [number, number, number];
  const stored = order === null ? k : applyChannelOrder(k, order);
  const x = scope === 'head' ? stored : toRows(stored);
  const y = dequantizeBlocks(quantizeBlocks(x, { format, blockSize: n }));
  const back = scope === 'head' ? y : fromRows(y, H, D);
  return order === null ? back : restoreChannelOrder(back, order);
}

const calib = keysOf(evalTokens(model, { sequences: 4, length: 128, seed: 1000 }));
const evalK = keysOf(evalTokens(model, { sequences: 4, length: 256, seed: 2000 }));

type Stat = 'l2' | 'absmax';
const rows: string[] = [];
for (const format of ['bfp12', 'mxfp4'] as const) {
  for (const [scope, n, ropeL] of [
    ['head', 4, 'interleaved'],
    ['head', 8, 'interleaved'],
    ['head', 4, 'none'],
    ['layer', 8, 'none'],
    ['layer', 16, 'none'],
    ['layer', 32, 'none'],
  ] as const) {
    const errs: number[] = [];
    for (const stat of [null, 'l2', 'absmax'] as (Stat | null)[]) {
      let num = 0;
      let den = 0;
      for (let l = 0; l < L; l++) {
        const order =
          stat === null
            ? null
            : calibrateChannelOrder(calib[l]!, {
                blockSize: n,
                scope,
                rope: ropeL,
                statistic: stat,
              });
        const k = evalK[l]!;
        const y = reconstruct(k, format, n, scope, order);
        for (let i = 0; i < k.data.length; i++) {
          num += (k.data[i]! - y.data[i]!) ** 2;
          den += k.data[i]! ** 2;
        }
      }
      errs.push(Math.sqrt(num / den));
    }
    const [plain, l2, amax] = errs as [number, number, number];
    const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
    const rel = (v: number) => `${v <= plain ? '−' : '+'}${Math.abs(100 * (1 - v / plain)).toFixed(1)}%`;
    rows.push(
      `| ${format} | ${scope}${scope === 'head' ? (ropeL === 'none' ? ', channel sort (post-RoPE gather)' : ', pair sort (fused)') : ''} | ${n} | ${bitsPerElement(format, n)} | ${pct(plain)} | ${pct(l2)} (${rel(l2)}) | ${pct(amax)} (${rel(amax)}) |`,
    );
  }
}
console.log('| format | scope | block | bits/elem | no sort | K-sort, L2 statistic | K-sort, absmax statistic |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(
  `\nstories260K, ${L} layers, 4 KV heads × head_dim 8; calibration ${calib[0]!.shape[1]} tokens, evaluation ${evalK[0]!.shape[1]} tokens per layer; relative Frobenius error of the dequantized post-RoPE K cache.`,
);
