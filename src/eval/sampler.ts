/**
 * The `run.c` sampler: greedy argmax, temperature, top-p (nucleus) and its xorshift64* generator, bit-exact.
 *
 * Exposed: RunCRng, Sampler, sample, argmax.
 * @module
 */
import { check } from '../common/errors.js';

const MASK64 = (1n << 64n) - 1n;

/**
 * run.c's xorshift64* generator: `random_u32` and `random_f32` (24-bit float in [0, 1)).
 *
 * @example
 * ```ts
 * const rng = new RunCRng(42n);
 * rng.f32();
 * ```
 */
export class RunCRng {
  private s: bigint;
  constructor(seed: bigint | number) {
    this.s = BigInt(seed) & MASK64;
  }
  /** Next 32-bit unsigned value. */
  u32(): number {
    let s = this.s;
    s ^= s >> 12n;
    s = (s ^ (s << 25n)) & MASK64;
    s ^= s >> 27n;
    this.s = s;
    return Number(((s * 0x2545f4914f6cdd1dn) & MASK64) >> 32n);
  }
  /** Next float32 in [0, 1): `(u32 >>> 8) / 2^24`. */
  f32(): number {
    return Math.fround((this.u32() >>> 8) / 16777216);
  }
}

/**
 * Index of the largest value, first index on ties.
 *
 * @example
 * ```ts
 * argmax(new Float32Array([1, 3, 3])); // 1
 * ```
 */
export function argmax(x: Float32Array): number {
  let best = 0;
  let bv = x[0]!;
  for (let i = 1; i < x.length; i++) {
    if (x[i]! > bv) {
      bv = x[i]!;
      best = i;
    }
  }
  return best;
}

/**
 * Sampler settings: `temperature` 0 is greedy; `topp` in (0, 1) enables nucleus sampling.
 *
 * @example
 * ```ts
 * const o: SamplerOptions = { temperature: 1, topp: 0.9, seed: 42 };
 * ```
 */
export interface SamplerOptions {
  temperature: number;
  topp: number;
  seed: bigint | number;
}

/**
 * run.c's sampler. `next(logits)` may modify `logits` in place (as run.c does).
 *
 * @example
 * ```ts
 * const s = new Sampler({ temperature: 1, topp: 0.9, seed: 42 });
 * const id = s.next(logits);
 * ```
 */
export class Sampler {
  readonly temperature: number;
  readonly topp: number;
  private readonly rng: RunCRng;
  constructor(opts: SamplerOptions) {
    check(
      Number.isFinite(opts.temperature) && opts.temperature >= 0,
      'E_CONFIG',
      `sampler: temperature must be >= 0, got ${opts.temperature}`,
    );
    check(Number.isFinite(opts.topp), 'E_CONFIG', `sampler: topp must be finite, got ${opts.topp}`);
    this.temperature = opts.temperature;
    this.topp = opts.topp;
    this.rng = new RunCRng(opts.seed);
  }

  /** Choose the next token. */
  next(logits: Float32Array): number {
    if (this.temperature === 0) return argmax(logits);
    const n = logits.length;
    const t = Math.fround(this.temperature);
    for (let i = 0; i < n; i++) logits[i] = logits[i]! / t;
    softmaxF32(logits);
    const coin = this.rng.f32();
    if (this.topp <= 0 || this.topp >= 1) return sampleMult(logits, coin);
    return sampleTopp(logits, Math.fround(this.topp), coin);
  }
}

function softmaxF32(x: Float32Array): void {
  let max = x[0]!;
  for (let i = 1; i < x.length; i++) if (x[i]! > max) max = x[i]!;
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const e = Math.fround(Math.exp(x[i]! - max));
    x[i] = e;
    sum = Math.fround(sum + e);
  }
  for (let i = 0; i < x.length; i++) x[i] = x[i]! / sum;
}

function sampleMult(p: Float32Array, coin: number): number {
  let cdf = 0;
  for (let i = 0; i < p.length; i++) {
    cdf = Math.fround(cdf + p[i]!);
    if (coin < cdf) return i;
  }
  return p.length - 1;
}

function sampleTopp(p: Float32Array, topp: number, coin: number): number {
  const n = p.length;
  const cutoff = Math.fround(Math.fround(1 - topp) / (n - 1));
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (p[i]! >= cutoff) idx.push(i);
  // run.c uses qsort (not stable); probabilities tie only for equal logits, where we keep index order
  idx.sort((a, b) => p[b]! - p[a]! || a - b);
  let cum = 0;
  let last = idx.length - 1;
  for (let i = 0; i < idx.length; i++) {
    cum = Math.fround(cum + p[idx[i]!]!);
    if (cum > topp) {
      last = i;
      break;
    }
  }
  const r = Math.fround(coin * cum);
  let cdf = 0;
  for (let i = 0; i <= last; i++) {
    cdf = Math.fround(cdf + p[idx[i]!]!);
    if (r < cdf) return idx[i]!;
  }
  return idx[last]!;
}

/**
 * One-shot helper: sample with fresh settings (mostly for tests).
 *
 * @example
 * ```ts
 * sample(new Float32Array([0, 5, 1]), { temperature: 0, topp: 1, seed: 1 }); // 1
 * ```
 */
export function sample(logits: Float32Array, opts: SamplerOptions): number {
  return new Sampler(opts).next(Float32Array.from(logits));
}
