/**
 * lowbit/tfjs on @tensorflow/tfjs-backend-wasm (loads its .wasm from its own dist/, offline; ~15 ms to
 * initialise, once per file). The cpu backend is registered too, to check the preference order.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import { type Float32Tensor, float32, tensor } from '../../src/common/tensor.js';
import {
  BACKEND_PREFERENCE,
  chooseBackend,
  ensureBackend,
  fromTf,
  matmul,
  matmulSync,
  pickBackend,
  toTf,
} from '../../src/tfjs/index.js';

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof LowbitError) return e.code;
    throw e;
  }
  return undefined;
}

/** Plain-JS reference: float64 accumulation, plus Σ|a·b| for the error bound. */
function refMatmul(a: Float32Tensor, b: Float32Tensor, transposeB: boolean): { c: Float64Array; mag: Float64Array } {
  const [m, k] = a.shape as [number, number];
  const n = transposeB ? b.shape[0]! : b.shape[1]!;
  const c = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let g = 0;
      for (let p = 0; p < k; p++) {
        const bv = transposeB ? b.data[j * k + p]! : b.data[p * n + j]!;
        const t = a.data[i * k + p]! * bv;
        s += t;
        g += Math.abs(t);
      }
      c[i * n + j] = s;
      mag[i * n + j] = g;
    }
  }
  return { c, mag };
}

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 4 - 2;
  }
  return out;
}

beforeAll(async () => {
  tf.env().set('IS_TEST', true); // silences tfjs's "install tfjs-node" console banner
  expect(await ensureBackend()).toBe('wasm');
});

describe('backend choice', () => {
  it('prefers tensorflow, then wasm, then cpu, then the highest-priority other backend', () => {
    expect(BACKEND_PREFERENCE).toEqual(['tensorflow', 'wasm', 'cpu']);
    expect(chooseBackend(['cpu', 'wasm', 'tensorflow'])).toBe('tensorflow');
    expect(chooseBackend(['cpu', 'wasm'])).toBe('wasm');
    expect(chooseBackend(['cpu', 'webgl'], { webgl: 2, cpu: 1 })).toBe('cpu');
    expect(chooseBackend(['webgl', 'webgpu'], { webgl: 2, webgpu: 3 })).toBe('webgpu');
    expect(code(() => chooseBackend([]))).toBe('E_CONFIG');
  });

  it('pickBackend / ensureBackend select wasm when wasm and cpu are registered', async () => {
    expect(pickBackend()).toBe('wasm');
    await tf.setBackend('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await ensureBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('matmul on wasm vs plain JS', () => {
  // tfjs-backend-wasm (XNNPACK) sums in float32 in its own order: |c − exact| ≤ K·2⁻²³·Σ|a·b| (+ the
  // final float32 rounding, covered by the same bound for K ≥ 1).
  function check(a: Float32Tensor, b: Float32Tensor, transposeB: boolean, got: Float32Tensor): void {
    const { c, mag } = refMatmul(a, b, transposeB);
    const k = a.shape[1]!;
    expect(got.shape).toEqual([a.shape[0], transposeB ? b.shape[0] : b.shape[1]]);
    for (let i = 0; i < c.length; i++) {
      const tol = k * 2 ** -23 * mag[i]! + 1e-30;
      if (!(Math.abs(got.data[i]! - c[i]!) <= tol)) {
        throw new Error(`element ${i}: wasm ${got.data[i]} vs exact ${c[i]} (tol ${tol})`);
      }
    }
  }

  it('hand-checked 2×2 and a weight-style [out, in] product', async () => {
    const a = float32([1, 2, 3, 4], [2, 2]);
    const b = float32([5, 6, 7, 8], [2, 2]);
    expect(Array.from((await matmul(a, b)).data)).toEqual([19, 22, 43, 50]);
    expect(Array.from((await matmul(a, b, { transposeB: true })).data)).toEqual([17, 23, 39, 53]);
    const w = float32([1, 2, 3, 4, 5, 6], [3, 2]);
    expect(Array.from((await matmul(float32([1, 1], [1, 2]), w, { transposeB: true })).data)).toEqual([3, 7, 11]);
  });

  it('random shapes, both layouts, within the stated tolerance; no tensors leak', async () => {
    const before = tf.memory().numTensors;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 17 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 19 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 1e6 }),
        async (m, k, n, tb, seed) => {
          const a = tensor('float32', rand(m * k, seed), [m, k]);
          const b = tensor('float32', rand(k * n, seed + 7), tb ? [n, k] : [k, n]);
          const aCopy = a.data.slice();
          const got = await matmul(a, b, { transposeB: tb });
          check(a, b, tb, got);
          expect(a.data).toEqual(aCopy); // inputs untouched
        },
      ),
      { numRuns: 40 },
    );
    // one larger product (a real weight shape of stories260K: w1 [172, 64] applied to 33 tokens)
    const x = tensor('float32', rand(33 * 64, 5), [33, 64]);
    const w1 = tensor('float32', rand(172 * 64, 6), [172, 64]);
    check(x, w1, true, matmulSync(x, w1, { transposeB: true }));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('shape and dtype errors', async () => {
    const a = float32([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(code(() => matmulSync(a, a))).toBe('E_SHAPE');
    expect(code(() => matmulSync(a, float32([1, 2, 3], [3])))).toBe('E_SHAPE');
    expect(code(() => matmulSync(a, tensor('int32', new Int32Array(6), [3, 2]) as unknown as Float32Tensor))).toBe(
      'E_DTYPE',
    );
    await expect(matmul(a, a)).rejects.toThrow(/inner dimensions differ/);
    expect(matmulSync(a, a, { transposeB: true }).shape).toEqual([2, 2]);
    expect(Array.from(matmulSync(tensor('float32', new Float32Array(0), [2, 0]), float32([], [0, 3])).data)).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
  });
});

describe('toTf / fromTf', () => {
  it('round trips float32, int32 and bool', () => {
    for (const t of [
      float32([1.5, -2, 3, 4], [2, 2]),
      tensor('int32', new Int32Array([1, -2, 2147483647]), [3]),
      tensor('bool', new Uint8Array([1, 0, 1, 1]), [4]),
    ]) {
      const tt = toTf(t);
      expect(tt.dtype).toBe(t.dtype);
      expect(tt.shape).toEqual(t.shape);
      const back = fromTf(tt);
      expect(back.dtype).toBe(t.dtype);
      expect(Array.from(back.data)).toEqual(Array.from(t.data));
      tt.dispose();
    }
  });

  it('other dtypes go to float32 (float16 decoded, integers exact here)', () => {
    const h = toTf(tensor('float16', new Uint16Array([0x3c00, 0xc000, 0x0001]), [3]));
    expect(h.dtype).toBe('float32');
    expect(Array.from(h.dataSync())).toEqual([1, -2, 2 ** -24]);
    h.dispose();
    const i8 = toTf({ type: 'int8', data: new Int8Array([-128, 127]), dims: [1, 2] });
    expect(i8.shape).toEqual([1, 2]);
    expect(Array.from(i8.dataSync())).toEqual([-128, 127]);
    i8.dispose();
  });

  it('fromTf copies by default, so writing the result leaves the tf.Tensor intact (cpu backend aliases)', async () => {
    await tf.setBackend('cpu');
    try {
      const tt = tf.tensor1d([1, 2, 3]);
      const x = fromTf(tt);
      (x.data as Float32Array)[0] = 99;
      expect(Array.from(tt.dataSync())).toEqual([1, 2, 3]);
      const alias = fromTf(tt, { copy: false });
      expect(alias.data).toBe(tt.dataSync());
      tt.dispose();
      expect(code(() => fromTf({} as tf.Tensor))).toBe('E_DTYPE');
    } finally {
      await ensureBackend();
    }
  });
});
