/**
 * The invariant helpers must pass on a correct quantizer (lowbit's quantizeAffine and a small local
 * min–max quantizer) and FAIL on deliberately broken ones: a helper that cannot fail is worthless.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AffineQuantized, dequantizeAffine, quantizeAffine } from '../../src/common/affine.js';
import { LowbitError } from '../../src/common/errors.js';
import { roundFloor, roundHalfEven } from '../../src/common/rounding.js';
import { type Float32Tensor, float32, tensor } from '../../src/common/tensor.js';
import {
  assertCodesInRange,
  assertIdempotent,
  assertRoundTrip,
  assertWithinHalfStep,
  codeRange,
  expandGroups,
  float32TensorArb,
  InvariantViolation,
  type QuantizerUnderTest,
  quantCaseArb,
} from '../../src/testing/index.js';

/** Per-tensor asymmetric min–max quantizer with pluggable defects. */
interface Toy {
  codes: Int32Array;
  scale: number;
  min: number;
  shape: readonly number[];
}
interface Defects {
  round?: (v: number) => number;
  /** Added to every stored code (an off-by-one bug). */
  codeOffset?: number;
  /** Multiplies the scale (0.9: too small, clips the top; does not reproduce itself after one round trip). */
  scaleFactor?: number;
  /** Writes into the input. */
  mutate?: boolean;
  /** Rounds with Math.random (not reproducible). */
  random?: boolean;
}
function toy(bits: number, d: Defects = {}): QuantizerUnderTest<Toy> & { steps(q: Toy): number } {
  const qmax = 2 ** bits - 1;
  const round = d.round ?? roundHalfEven;
  return {
    quantize(x: Float32Tensor): Toy {
      let mn = Number.POSITIVE_INFINITY;
      let mx = Number.NEGATIVE_INFINITY;
      for (const v of x.data) {
        mn = Math.min(mn, v);
        mx = Math.max(mx, v);
      }
      const scale = Math.fround(Math.fround(Math.fround(mx - mn) / qmax) * (d.scaleFactor ?? 1));
      const codes = new Int32Array(x.data.length);
      for (let i = 0; i < codes.length; i++) {
        const t = scale === 0 ? 0 : Math.fround(Math.fround(x.data[i]! - mn) / scale);
        const r = d.random ? Math.floor(t + Math.random()) : round(t);
        codes[i] = Math.min(qmax, Math.max(0, r)) + (d.codeOffset ?? 0);
      }
      if (d.mutate && x.data.length > 0) (x.data as Float32Array)[0] = 12345;
      return { codes, scale, min: mn, shape: x.shape };
    },
    dequantize(q: Toy) {
      const out = new Float32Array(q.codes.length);
      for (let i = 0; i < out.length; i++) out[i] = Math.fround(Math.fround(q.codes[i]! * q.scale) + q.min);
      return tensor('float32', out, q.shape);
    },
    steps: (q: Toy) => q.scale,
  };
}

function violation(f: () => void): InvariantViolation {
  try {
    f();
  } catch (e) {
    if (e instanceof InvariantViolation) return e;
    throw e;
  }
  throw new Error('expected an InvariantViolation, but the assertion passed');
}

/** fast-check must find a counterexample within `numRuns`, and it must be this invariant. */
function mustFail(
  prop: (x: Float32Tensor) => void,
  invariant: string,
  arb = float32TensorArb({ maxSize: 64 }),
): string {
  const r = fc.check(fc.property(arb, prop), { seed: 42, numRuns: 200 });
  expect(r.failed).toBe(true);
  const err = r.errorInstance;
  expect(err).toBeInstanceOf(InvariantViolation);
  expect((err as InvariantViolation).invariant).toBe(invariant);
  return (err as InvariantViolation).message;
}

describe('hand-checked examples', () => {
  const x = float32([0, 0.3, 0.7, 1], [2, 2]);

  it('assertWithinHalfStep: passes at 0.5 step, fails above, names the element', () => {
    assertWithinHalfStep(x, [0, 0.25, 0.75, 1], 0.25); // errors 0.05, 0.05
    assertWithinHalfStep([1], [1.125], 0.25); // exactly half a step
    const v = violation(() => assertWithinHalfStep(x, [0, 0, 0.75, 1], 0.25)); // 0.3 → 0: error 0.3 > 0.125
    expect(v.invariant).toBe('withinHalfStep');
    expect(v.index).toBe(1);
    expect(v.count).toBe(1);
    expect(v.message).toMatch(/element 1 \(index \[0, 1\] of shape \[2, 2\]\)/);
    expect(v.message).toMatch(/step\/2 = 0\.125/);
    expect(() => assertWithinHalfStep([1, 2], [1], 1)).toThrow(LowbitError);
    // per-element steps; NaN in x is skipped by default, an error on request
    assertWithinHalfStep([0.3, Number.NaN], [0.5, 0], [0.5, 0.1]);
    expect(() => assertWithinHalfStep([Number.NaN], [0], 1, { nonFinite: 'error' })).toThrow(InvariantViolation);
    expect(() => assertWithinHalfStep([1], [Number.POSITIVE_INFINITY], 1)).toThrow(/reconstructs to Infinity/);
  });

  it('assertCodesInRange: ranges by kind, non-integers and out-of-range codes', () => {
    expect(codeRange({ bits: 4 })).toEqual([0, 15]);
    expect(codeRange({ bits: 4, kind: 'signed' })).toEqual([-8, 7]);
    expect(codeRange({ bits: 4, kind: 'symmetric' })).toEqual([-7, 7]);
    assertCodesInRange(new Uint8Array([0, 15, 7]), { bits: 4 });
    assertCodesInRange(new Int8Array([-7, 7]), { bits: 4, kind: 'symmetric' });
    const v = violation(() => assertCodesInRange(new Int8Array([-7, -8, 9]), { bits: 4, kind: 'symmetric' }));
    expect(v.index).toBe(1);
    expect(v.count).toBe(2);
    expect(v.message).toMatch(/code -8 is outside \[-7, 7\]; 2 of 3 codes/);
    expect(() => assertCodesInRange([0.5], { min: 0, max: 1 })).toThrow(/not an integer/);
  });

  it('expandGroups follows the affine layout (ragged last group, any axis)', () => {
    expect(Array.from(expandGroups([0.5, 2], [2, 3], { axis: 1 }))).toEqual([0.5, 0.5, 0.5, 2, 2, 2]);
    expect(Array.from(expandGroups([1, 9], [5], { groupSize: 3 }))).toEqual([1, 1, 1, 9, 9]);
    // shape [3, 2], axis 0, groups of 2 → ng = 2, params [2, 2] = [[a, b], [c, d]]
    expect(Array.from(expandGroups([1, 2, 3, 4], [3, 2], { axis: 0, groupSize: 2 }))).toEqual([1, 2, 1, 2, 3, 4]);
    expect(() => expandGroups([1], [3, 2], { axis: 0, groupSize: 2 })).toThrow(LowbitError);
  });
});

describe('correct quantizers pass', () => {
  it('the local min–max quantizer (half-even) passes all four helpers', () => {
    fc.assert(
      fc.property(
        float32TensorArb({ maxSize: 64, specials: { zeros: true, subnormals: true } }),
        fc.integer({ min: 1, max: 8 }),
        (x, bits) => {
          const qz = toy(bits);
          const q = qz.quantize(x);
          assertCodesInRange(q.codes, { bits });
          assertWithinHalfStep(x, qz.dequantize(q), q.scale, { levels: 2 ** bits });
          assertIdempotent(qz, x);
          assertRoundTrip(qz, x, { maxAbsError: q.scale + 2 ** bits * 2 ** -149, deterministic: true });
        },
      ),
      { seed: 1, numRuns: 150 },
    );
  });

  it("lowbit's quantizeAffine passes over random shapes, axes, group sizes (incl. non-divisors), bits and roundings", () => {
    fc.assert(
      fc.property(quantCaseArb({ maxSize: 96, specials: { zeros: true, subnormals: true } }), ({ x, config }) => {
        const quantize = (t: Float32Tensor): AffineQuantized => quantizeAffine(t, config);
        const qz = { quantize, dequantize: dequantizeAffine };
        const q = quantize(x);
        const mode = typeof config.rounding === 'string' ? config.rounding : config.rounding.mode;
        assertCodesInRange(q.codes, { bits: config.bits, kind: config.symmetric ? 'symmetric' : 'unsigned' });
        const steps = expandGroups(q.scales, x.shape, {
          ...(q.axis === null ? {} : { axis: q.axis }),
          groupSize: q.groupSize,
        });
        const levels = 2 ** config.bits;
        if (mode === 'floor' || mode === 'stochastic') {
          // not round-to-nearest: the error is below one step
          assertRoundTrip(qz, x, {
            maxAbsError: steps.map((s) => s + 2 ** -21 * s * levels + levels * 2 ** -149),
            deterministic: true,
          });
        } else {
          assertWithinHalfStep(x, dequantizeAffine(q), steps, { levels });
          assertIdempotent(qz, x);
          assertRoundTrip(qz, x, { deterministic: true });
        }
      }),
      { seed: 2, numRuns: 300 },
    );
  });

  it('quantizeAffine at 8 bits per channel: SQNR budget holds', () => {
    const qz = {
      quantize: (t: Float32Tensor) => quantizeAffine(t, { bits: 8, axis: -1 }),
      dequantize: dequantizeAffine,
    };
    fc.assert(
      fc.property(float32TensorArb({ shape: [8, 32] }), (x) =>
        assertRoundTrip(qz, x, { minSqnrDb: 35, minCosine: 0.999 }),
      ),
      { seed: 3, numRuns: 30 },
    );
  });
});

describe('broken quantizers fail', () => {
  it('floor instead of round → assertWithinHalfStep fails (and says by how much)', () => {
    const msg = mustFail((x) => {
      const qz = toy(4, { round: roundFloor });
      const q = qz.quantize(x);
      assertWithinHalfStep(x, qz.dequantize(q), q.scale, { levels: 16 });
    }, 'withinHalfStep');
    expect(msg).toMatch(/elements are off by more than half a step/);
    // the floor version still satisfies the one-step bound, so the failure is specific to rounding
    const x = float32([0, 0.8, 1], [3]);
    const qz = toy(1, { round: roundFloor });
    assertRoundTrip(qz, x, { maxAbsError: 1 });
  });

  it('codes off by one step → assertCodesInRange and assertWithinHalfStep fail', () => {
    mustFail((x) => {
      const q = toy(3, { codeOffset: 1 }).quantize(x);
      assertCodesInRange(q.codes, { bits: 3 });
    }, 'codesInRange');
    mustFail((x) => {
      const qz = toy(3, { codeOffset: 1 });
      const q = qz.quantize(x);
      assertWithinHalfStep(x, qz.dequantize(q), q.scale, { levels: 8 });
    }, 'withinHalfStep');
  });

  it('a scale that does not reproduce itself → assertIdempotent fails', () => {
    const msg = mustFail((x) => assertIdempotent(toy(4, { scaleFactor: 0.9 }), x), 'idempotent');
    expect(msg).toMatch(/q\(dq\(q\(x\)\)\) ≠ q\(x\) at element \d+/);
    // comparing values instead of codes also catches it
    mustFail((x) => assertIdempotent(toy(4, { scaleFactor: 0.9 }), x, { compare: 'values' }), 'idempotent');
  });

  it('writing into the input → caught by assertIdempotent and assertRoundTrip', () => {
    const x = float32([1, 2, 3], [3]);
    const v = violation(() => assertRoundTrip(toy(4, { mutate: true }), x));
    expect(v.invariant).toBe('inputUnmodified');
    expect(v.message).toMatch(/wrote into its input/);
    expect(violation(() => assertIdempotent(toy(4, { mutate: true }), float32([1, 2], [2]))).invariant).toBe(
      'inputUnmodified',
    );
  });

  it('assertRoundTrip: budgets, exactness, lost values and non-determinism fail', () => {
    const zero: QuantizerUnderTest<number[]> = {
      quantize: (t) => Array.from(t.data, () => 0),
      dequantize: (q) => q,
    };
    const x = float32([1, -2, 3, 0.5], [2, 2]);
    expect(violation(() => assertRoundTrip(zero, x, { minSqnrDb: 1 })).message).toMatch(/SQNR -?0\.000 dB < 1 dB/);
    expect(violation(() => assertRoundTrip(zero, x, { maxNmse: 0.5 })).message).toMatch(/NMSE 1 > 0\.5/);
    expect(violation(() => assertRoundTrip(zero, x, { minCosine: 0.5 })).message).toMatch(/cosine 0 < 0\.5/);
    expect(violation(() => assertRoundTrip(zero, x, { maxAbsError: 1 })).message).toMatch(
      /element 1 \(index \[0, 1\] of shape \[2, 2\]\): x = -2, x̂ = 0/,
    );
    const identity: QuantizerUnderTest<Float32Tensor> = { quantize: (t) => t, dequantize: (q) => q };
    assertRoundTrip(identity, float32([1, -0, Number.NaN], [3]), { exact: true });
    const flipsZero: QuantizerUnderTest<Float32Tensor> = {
      quantize: (t) =>
        float32(
          Array.from(t.data, (v) => (v === 0 ? 0 : v)),
          t.shape,
        ),
      dequantize: (q) => q,
    };
    expect(violation(() => assertRoundTrip(flipsZero, float32([1, -0], [2]), { exact: true })).message).toMatch(
      /x = 0 came back as 0 \(exact round trip required\)/,
    );
    const lost: QuantizerUnderTest<Float32Tensor> = { quantize: (t) => t, dequantize: () => [1, 2] };
    expect(violation(() => assertRoundTrip(lost, x)).message).toMatch(/4 elements but the reconstruction has 2/);
    const inf: QuantizerUnderTest<Float32Tensor> = {
      quantize: (t) => t,
      dequantize: (q) => Array.from(q.data, () => Number.POSITIVE_INFINITY),
    };
    expect(violation(() => assertRoundTrip(inf, x)).message).toMatch(/finite x = 1 came back as Infinity/);
    mustFail(
      (t) => assertRoundTrip(toy(2, { random: true }), t, { deterministic: true }),
      'roundTrip',
      float32TensorArb({ shape: [32] }),
    );
  });
});
