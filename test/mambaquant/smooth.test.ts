import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import { type Float32Tensor, float32 } from '../../src/common/tensor.js';
import { hadamardRotation, kltRotation, randomHadamardRotation } from '../../src/mambaquant/rotation.js';
import { channelAbsMax, fuseLinear, scaledSilu, smoothFuseGate, smoothScales } from '../../src/mambaquant/smooth.js';
import { randn } from './helpers.js';

function rand(shape: number[], seed: number, scale = 1): Float32Tensor {
  const g = randn(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return float32(
    new Float32Array(n).map(() => g() * scale),
    shape,
  );
}

/** y = x·Wᵀ (+ b) in float64. */
function linear(
  x: ArrayLike<number>,
  rows: number,
  inp: number,
  w: ArrayLike<number>,
  out: number,
  b?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(rows * out);
  for (let t = 0; t < rows; t++)
    for (let o = 0; o < out; o++) {
      let s = b === undefined ? 0 : b[o]!;
      for (let j = 0; j < inp; j++) s += x[t * inp + j]! * w[o * inp + j]!;
      y[t * out + o] = s;
    }
  return y;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(b[i]!));
    e = Math.max(e, Math.abs(a[i]! - b[i]!));
  }
  return e / m;
}

const silu = (v: number): number => v / (1 + Math.exp(-v));

describe('smoothScales / channelAbsMax', () => {
  it('hand values: s = a^α / w^(1−α), floor and weight clamp', () => {
    expect(Array.from(smoothScales([16, 1], [0.25, 1]))).toEqual([8, 1]);
    expect(Array.from(smoothScales([16, 1], [0.25, 1], { alpha: 1 }))).toEqual([16, 1]);
    expect(Array.from(smoothScales([16, 1], [0.25, 1], { alpha: 0 }))).toEqual([4, 1]);
    expect(Array.from(smoothScales([0, 1e-6], [1, 1]))).toEqual([Math.fround(1e-2), Math.fround(1e-2)]);
    // weight max clamped at 1e-5: s = sqrt(1)/sqrt(1e-5)
    expect(smoothScales([1], [0])[0]).toBe(Math.fround(1 / Math.sqrt(1e-5)));
    expect(Array.from(smoothScales([4], [1], { min: 5 }))).toEqual([5]);
    expect(Array.from(channelAbsMax(float32([1, -3, -2, 0.5], [2, 2])))).toEqual([2, 3]);
  });

  it('bad input', () => {
    expect(() => smoothScales([1, 2], [1])).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    expect(() => smoothScales([1], [1], { alpha: 2 })).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    expect(() => smoothScales([1], [1], { min: 0 })).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    expect(() => smoothScales([Number.NaN], [1])).toThrow(expect.objectContaining({ code: 'E_NONFINITE' }));
    expect(() => smoothScales([-1], [1])).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    expect(() => channelAbsMax(float32([1, Number.POSITIVE_INFINITY], [1, 2]))).toThrow(
      expect.objectContaining({ code: 'E_NONFINITE' }),
    );
  });
});

describe('fuseLinear', () => {
  it('(x ⊘ s)·R · ((W·diag(s))·R)ᵀ = x·Wᵀ to float32 tolerance, for every rotation kind', () => {
    const inp = 48;
    const out = 20;
    const W = rand([out, inp], 1, 0.1);
    const b = rand([out], 2).data;
    const x = rand([9, inp], 3, 2);
    const cal = rand([120, inp], 4);
    const s = smoothScales(channelAbsMax(cal), channelAbsMax(W));
    const want = linear(x.data, 9, inp, W.data, out, b);
    const rotations = [undefined, hadamardRotation(inp), randomHadamardRotation(inp, { seed: 3 }), kltRotation(cal)];
    for (const R of rotations)
      for (const scales of [undefined, s]) {
        const f = fuseLinear(
          { weight: W, bias: b },
          { ...(R ? { inputRotation: R } : {}), ...(scales ? { inputScales: scales } : {}) },
        );
        const xt = f.transformInput(x);
        const got = linear(xt.data, 9, inp, f.weight.data, out, f.bias);
        expect(relErr(got, want), `${R?.kind} ${scales ? 'smooth' : ''}`).toBeLessThan(2e-6);
      }
    const f0 = fuseLinear({ weight: W });
    expect(f0.weight.data).toEqual(W.data);
    expect(f0.weight.data).not.toBe(W.data);
  });

  it('does not mutate inputs; validates', () => {
    const W = rand([4, 8], 5);
    const copy = Float32Array.from(W.data);
    const s = new Float32Array(8).fill(2);
    fuseLinear({ weight: W }, { inputRotation: hadamardRotation(8), inputScales: s }).transformInput(rand([2, 8], 1));
    expect(W.data).toEqual(copy);
    expect(() => fuseLinear({ weight: W }, { inputRotation: hadamardRotation(16) })).toThrow(
      expect.objectContaining({ code: 'E_SHAPE' }),
    );
    expect(() => fuseLinear({ weight: W }, { inputScales: [1, 2] })).toThrow(
      expect.objectContaining({ code: 'E_SHAPE' }),
    );
    expect(() => fuseLinear({ weight: W }, { inputScales: new Array(8).fill(0) })).toThrow(
      expect.objectContaining({ code: 'E_CONFIG' }),
    );
    expect(() => fuseLinear({ weight: W, bias: new Float32Array(3) })).toThrow(
      expect.objectContaining({ code: 'E_SHAPE' }),
    );
    expect(() => fuseLinear({ weight: float32([Number.NaN], [1, 1]) })).toThrow(
      expect.objectContaining({ code: 'E_NONFINITE' }),
    );
    expect(() => fuseLinear({ weight: rand([8], 1) })).toThrow(LowbitError);
    expect(() => fuseLinear({ weight: W }).transformInput(rand([2, 7], 1))).toThrow(
      expect.objectContaining({ code: 'E_SHAPE' }),
    );
  });
});

describe('smoothFuseGate (Mamba gated block y·SiLU(z) → out_proj)', () => {
  /** Mamba-style block: [xs, z] = x·in_projᵀ; y = tanh(xs) (stand-in for conv + SSM); u = y ⊙ gate(z); out = u·out_projᵀ. */
  function block(
    x: Float32Tensor,
    inProj: Float32Tensor,
    outProj: Float32Tensor,
    dInner: number,
    gate: (z: Float32Tensor) => Float32Tensor,
    online?: (u: Float32Tensor) => Float32Tensor,
  ): Float64Array {
    const T = x.shape[0]!;
    const dModel = x.shape[1]!;
    const xz = linear(x.data, T, dModel, inProj.data, 2 * dInner);
    const y = new Float32Array(T * dInner);
    const z = new Float32Array(T * dInner);
    for (let t = 0; t < T; t++)
      for (let j = 0; j < dInner; j++) {
        y[t * dInner + j] = Math.tanh(xz[t * 2 * dInner + j]!);
        z[t * dInner + j] = xz[t * 2 * dInner + dInner + j]!;
      }
    const g = gate(float32(z, [T, dInner])).data;
    let u = float32(
      y.map((v, i) => v * g[i]!),
      [T, dInner],
    );
    if (online) u = online(u);
    return linear(u.data, T, dInner, outProj.data, dModel);
  }

  it('the fused block (gate rows / s, S-SiLU, out_proj columns · s, optional online Hadamard) equals the original', () => {
    const dModel = 16;
    const dInner = 40;
    const inProj = rand([2 * dInner, dModel], 11, 0.3);
    const outProj = rand([dModel, dInner], 12, 0.2);
    const x = rand([13, dModel], 13, 1.5);
    const plainSilu = (z: Float32Tensor): Float32Tensor => float32(z.data.map(silu), z.shape);
    const want = block(x, inProj, outProj, dInner, plainSilu);
    const scales = new Float32Array(dInner).map((_, j) => 0.05 + (j % 7) * 1.3);
    for (const rotation of [undefined, hadamardRotation(dInner), randomHadamardRotation(dInner, { seed: 2 })]) {
      const f = smoothFuseGate({ inProj, outProj, dInner, scales, ...(rotation ? { rotation } : {}) });
      expect(f.gateScale).toEqual(scales);
      const got = block(
        x,
        f.inProj,
        f.outProj,
        dInner,
        (z) => scaledSilu(z, f.gateScale),
        f.rotation ? (u) => f.rotation!.apply(u) : undefined,
      );
      expect(relErr(got, want), rotation?.kind ?? 'no rotation').toBeLessThan(2e-5);
    }
    // the x rows of in_proj are untouched, the z rows divided
    const f = smoothFuseGate({ inProj, outProj, dInner, scales });
    expect(f.inProj.data.subarray(0, dInner * dModel)).toEqual(inProj.data.subarray(0, dInner * dModel));
    expect(f.inProj.data[dInner * dModel + 3]).toBe(Math.fround(inProj.data[dInner * dModel + 3]! / scales[0]!));
    expect(f.outProj.data[dInner + 2]).toBe(Math.fround(outProj.data[dInner + 2]! * scales[2]!));
    // but using the plain SiLU on the fused weights is wrong: the scaled SiLU is needed
    const wrong = block(x, f.inProj, f.outProj, dInner, plainSilu);
    expect(relErr(wrong, want)).toBeGreaterThan(1e-2);
  });

  it('S-SiLU identity: (z/s)·σ(z) = SiLU(z)/s', () => {
    const z = [-8, -1.5, -0.1, 0, 0.3, 2, 9];
    const s = [0.1, 0.5, 1, 2, 3, 7, 0.02];
    const zs = float32(
      z.map((v, i) => v / s[i]!),
      [1, 7],
    );
    const got = scaledSilu(zs, s).data;
    for (let i = 0; i < 7; i++)
      expect(Math.abs(got[i]! - silu(z[i]!) / s[i]!)).toBeLessThan(1e-6 * (1 + Math.abs(silu(z[i]!) / s[i]!)));
  });

  it('bad input', () => {
    const inProj = rand([8, 3], 1);
    const outProj = rand([3, 4], 2);
    const ok = { inProj, outProj, dInner: 4, scales: [1, 1, 1, 1] };
    expect(() => smoothFuseGate({ ...ok, dInner: 3 })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    expect(() => smoothFuseGate({ ...ok, outProj: rand([3, 5], 2) })).toThrow(
      expect.objectContaining({ code: 'E_SHAPE' }),
    );
    expect(() => smoothFuseGate({ ...ok, scales: [1, 1, 1] })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    expect(() => smoothFuseGate({ ...ok, scales: [1, 1, 1, Number.NaN] })).toThrow(
      expect.objectContaining({ code: 'E_CONFIG' }),
    );
    expect(() => smoothFuseGate({ ...ok, dInner: 0 })).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    expect(() => smoothFuseGate({ ...ok, rotation: hadamardRotation(8) })).toThrow(
      expect.objectContaining({ code: 'E_SHAPE' }),
    );
    const bad = Float32Array.from(inProj.data);
    bad[0] = Number.NaN;
    expect(() => smoothFuseGate({ ...ok, inProj: float32(bad, [8, 3]) })).toThrow(
      expect.objectContaining({ code: 'E_NONFINITE' }),
    );
    expect(() => scaledSilu(rand([2, 4], 1), [1, 2])).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
  });
});
