/**
 * `npm run demo`: the main job of lowbit on real data that ships with the project — run the stories260K
 * model, capture its real KV cache, and print what KIVI, the per-token baseline, BFP12 and MXFP4 (with and
 * without K-sort) do to it: tensor-level errors and end-to-end perplexity / KL / top-1 / bytes per token.
 * Weight-quantizer tables: `npm run demo:weights`.
 */
import { runDemo } from '../src/eval/demo.js';

runDemo((s) => process.stdout.write(s));
process.stdout.write(
  '\nMore: `npm run demo:weights` (affine weight error per matrix), `npm run lowbit -- eval-model --kv all` (full table).\n',
);
