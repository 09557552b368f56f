/**
 * End-to-end quality of a quantized model against its float32 self: teacher-forced negative
 * log-likelihood and perplexity, mean KL divergence of the next-token distribution from the float32 one,
 * and top-1 agreement, over fixed evaluation sequences.
 *
 * Exposed: LogitStats, evaluateSequences, Reference, referenceLogits, compareLogits.
 * @module
 */
import { check } from '../common/errors.js';

/**
 * Quality numbers of one configuration.
 *
 * @example
 * ```ts
 * const s: LogitStats = compareLogits(ref, (seq) => model.logitsOf(seq));
 * ```
 */
export interface LogitStats {
  /** Mean negative log-likelihood of the next token, nats/token. */
  nll: number;
  /** exp(nll). */
  ppl: number;
  /** Mean KL(p_float32 ‖ p_quantized), nats/token (0 for the float32 baseline itself). */
  kl: number;
  /** Fraction of positions whose argmax equals the float32 argmax. */
  top1: number;
  /** Positions scored. */
  tokens: number;
}

/**
 * Float32 log-probabilities and argmax of the baseline, per sequence and position.
 *
 * @example
 * ```ts
 * const ref: Reference = referenceLogits(seqs, 512, (s) => model.logitsOf(s));
 * ```
 */
export interface Reference {
  readonly vocab: number;
  /** Per sequence `[T−1, vocab]` log-softmax of the baseline logits at positions 0..T−2. */
  readonly logp: Float32Array[];
  readonly argmax: Int32Array[];
  readonly sequences: readonly (readonly number[])[];
}

function logSoftmax(src: Float32Array, so: number, dst: Float32Array, dof: number, n: number): number {
  let max = Number.NEGATIVE_INFINITY;
  let arg = 0;
  for (let i = 0; i < n; i++) {
    const v = src[so + i]!;
    if (v > max) {
      max = v;
      arg = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(src[so + i]! - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < n; i++) dst[dof + i] = src[so + i]! - lse;
  return arg;
}

/**
 * Run `logitsOf(sequence)` (which must return `[T, vocab]` row-major logits, row t predicting token t+1)
 * for every sequence and keep the baseline log-probabilities.
 *
 * @example
 * ```ts
 * const ref = referenceLogits(seqs, 512, (s) => runLlama(model, s));
 * ```
 */
export function referenceLogits(
  sequences: readonly (readonly number[])[],
  vocab: number,
  logitsOf: (seq: readonly number[]) => Float32Array,
): Reference {
  const logp: Float32Array[] = [];
  const argmax: Int32Array[] = [];
  for (const s of sequences) {
    const T = s.length;
    const lg = logitsOf(s);
    check(lg.length === T * vocab, 'E_SHAPE', `referenceLogits: expected ${T}×${vocab} logits, got ${lg.length}`);
    const lp = new Float32Array((T - 1) * vocab);
    const am = new Int32Array(T - 1);
    for (let t = 0; t < T - 1; t++) am[t] = logSoftmax(lg, t * vocab, lp, t * vocab, vocab);
    logp.push(lp);
    argmax.push(am);
  }
  return { vocab, logp, argmax, sequences };
}

/**
 * Score a configuration against the reference: NLL/perplexity of the true next tokens, KL from the
 * float32 distribution, top-1 agreement.
 *
 * @example
 * ```ts
 * const stats = compareLogits(ref, (s) => runLlama(quantizedModel, s));
 * console.log(stats.ppl, stats.kl, stats.top1);
 * ```
 */
export function compareLogits(ref: Reference, logitsOf: (seq: readonly number[]) => Float32Array): LogitStats {
  const V = ref.vocab;
  const lq = new Float32Array(V);
  let nll = 0;
  let kl = 0;
  let agree = 0;
  let n = 0;
  ref.sequences.forEach((s, si) => {
    const T = s.length;
    const lg = logitsOf(s);
    check(lg.length === T * V, 'E_SHAPE', `compareLogits: expected ${T}×${V} logits, got ${lg.length}`);
    const lp = ref.logp[si]!;
    const am = ref.argmax[si]!;
    for (let t = 0; t < T - 1; t++) {
      const a = logSoftmax(lg, t * V, lq, 0, V);
      nll -= lq[s[t + 1]!]!;
      let k = 0;
      for (let i = 0; i < V; i++) {
        const lpi = lp[t * V + i]!;
        k += Math.exp(lpi) * (lpi - lq[i]!);
      }
      kl += k;
      if (a === am[t]) agree++;
      n++;
    }
  });
  const m = nll / n;
  return { nll: m, ppl: Math.exp(m), kl: Math.max(0, kl / n), top1: agree / n, tokens: n };
}
