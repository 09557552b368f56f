/** The `backend: 'tfjs'` path of dense rotations with lowbit/tfjs's synchronous matmul (wasm backend). */
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { float32 } from '../../src/common/tensor.js';
import { kltRotation } from '../../src/mambaquant/rotation.js';
import { ensureBackend, matmulSync } from '../../src/tfjs/index.js';
import { randn } from './helpers.js';

let backend = '';
beforeAll(async () => {
  backend = await ensureBackend();
});

describe('kltRotation with lowbit/tfjs matmulSync', () => {
  it('agrees with the plain JS path within float32 tolerance (apply and applyInverse)', () => {
    expect(['wasm', 'cpu']).toContain(backend);
    const n = 64;
    const g = randn(5);
    const N = 200;
    const cal = float32(
      new Float32Array(N * n).map((_, i) => g() * (i % n === 7 ? 12 : 1) + (i % n === 3 ? 4 : 0)),
      [N, n],
    );
    const js = kltRotation(cal);
    const tf = kltRotation(cal, { backend: 'tfjs', matmul: matmulSync });
    const x = float32(
      new Float32Array(33 * n).map(() => g() * 3),
      [33, n],
    );
    const a = js.apply(x).data;
    const b = tf.apply(x).data;
    let scale = 0;
    let err = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(a[i]!));
      err = Math.max(err, Math.abs(a[i]! - b[i]!));
    }
    expect(err).toBeLessThan(n * 2 ** -23 * scale * 4);
    const back = tf.applyInverse(tf.apply(x)).data;
    for (let i = 0; i < back.length; i++) expect(Math.abs(back[i]! - x.data[i]!)).toBeLessThan(1e-4 * scale);
  });
});
