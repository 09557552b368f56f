/**
 * run.c's generation loop: prompt tokens are forced (no sampling while inside the prompt), the sampler
 * picks the rest, BOS stops generation, and the printed text is the concatenation of the decoded pieces.
 *
 * Exposed: generate, GenerateOptions, GenerateResult.
 * @module
 */
import { check } from '../common/errors.js';
import type { LlamaModel } from './llama.js';
import { Sampler } from './sampler.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * Options of {@link generate}, named as run.c's flags.
 *
 * @example
 * ```ts
 * const o: GenerateOptions = { prompt: 'Zoo', steps: 60, temperature: 0 };
 * ```
 */
export interface GenerateOptions {
  /** `-i`: the prompt (default empty). */
  prompt?: string;
  /** `-n`: positions to run, counting BOS and the prompt (default 256, clamped to seqLen). */
  steps?: number;
  /** `-t`: temperature (default 1; 0 = greedy). */
  temperature?: number;
  /** `-p`: top-p (default 0.9). */
  topp?: number;
  /** `-s`: RNG seed (default 42 here; run.c uses the time). */
  seed?: bigint | number;
}

/**
 * What {@link generate} produced.
 *
 * @example
 * ```ts
 * const r: GenerateResult = generate(model, tok, { steps: 20 });
 * ```
 */
export interface GenerateResult {
  /** The emitted text (prompt pieces included), exactly the bytes run.c prints, as UTF-8. */
  text: string;
  /** The emitted token ids (the `next` values). */
  ids: number[];
  /** The prompt's token ids (with BOS). */
  promptIds: number[];
}

/**
 * Generate text with run.c semantics. The model is reset first.
 *
 * @example
 * ```ts
 * const { text } = generate(model, tok, { prompt: 'Zoo', steps: 60, temperature: 0 });
 * ```
 */
export function generate(model: LlamaModel, tok: Tokenizer, opts: GenerateOptions = {}): GenerateResult {
  const steps = Math.min(opts.steps ?? 256, model.config.seqLen);
  check(
    Number.isInteger(steps) && steps >= 1,
    'E_CONFIG',
    `generate: steps must be a positive integer, got ${opts.steps}`,
  );
  const sampler = new Sampler({ temperature: opts.temperature ?? 1, topp: opts.topp ?? 0.9, seed: opts.seed ?? 42 });
  const promptIds = tok.encode(opts.prompt ?? '');
  model.reset();
  let token = promptIds[0]!;
  const ids: number[] = [];
  const bytes: Uint8Array[] = [];
  let n = 0;
  for (let pos = 0; pos < steps; pos++) {
    const logits = model.forward(token);
    const next = pos < promptIds.length - 1 ? promptIds[pos + 1]! : sampler.next(logits);
    if (next === tok.bos) break;
    const b = tok.decodeBytes(token, next);
    // run.c's safe_printf: a single-byte piece that is neither printable nor whitespace is not printed
    const c = b[0]!;
    const skip = b.length === 1 && !((c >= 0x20 && c < 0x7f) || (c >= 0x09 && c <= 0x0d));
    if (!skip) {
      bytes.push(b);
      n += b.length;
    }
    ids.push(next);
    token = next;
  }
  const all = new Uint8Array(n);
  let o = 0;
  for (const b of bytes) {
    all.set(b, o);
    o += b.length;
  }
  return { text: new TextDecoder().decode(all), ids, promptIds };
}
