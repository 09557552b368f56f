/**
 * `lowbit/tfjs`: an adapter between lowbit tensors and TensorFlow.js, written against
 * `@tensorflow/tfjs-core` only (an optional peer dependency). lowbit never imports a backend: register
 * one yourself (`import '@tensorflow/tfjs-node'`, `import '@tensorflow/tfjs-backend-wasm'` or
 * `import '@tensorflow/tfjs-backend-cpu'`) before calling {@link ensureBackend} or {@link matmul}.
 *
 * Backend choice ({@link pickBackend}): `'tensorflow'` (tfjs-node) when registered, else `'wasm'`, else
 * `'cpu'`, else whichever other backend has the highest tfjs priority (webgl, webgpu, …).
 *
 * Exposed: toTf, fromTf, matmul, matmulSync, pickBackend, chooseBackend, ensureBackend,
 * BACKEND_PREFERENCE, MatmulOptions, FromTfOptions.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, fail } from '../common/errors.js';
import { asFloat32, asTensor, type TensorLike } from '../common/interop.js';
import { describe, type Float32Tensor, type Tensor, tensor } from '../common/tensor.js';

/**
 * Preferred tfjs backends, best first.
 *
 * @example
 * ```ts
 * import { BACKEND_PREFERENCE } from 'lowbit/tfjs';
 * BACKEND_PREFERENCE; // ['tensorflow', 'wasm', 'cpu']
 * ```
 */
export const BACKEND_PREFERENCE: readonly string[] = Object.freeze(['tensorflow', 'wasm', 'cpu']);

/**
 * Pure backend choice from a list of registered backend names (with optional tfjs priorities for the
 * fallback): the first of {@link BACKEND_PREFERENCE} that is registered, else the registered backend with
 * the highest priority. Throws `E_CONFIG` when nothing is registered.
 *
 * @example
 * ```ts
 * import { chooseBackend } from 'lowbit/tfjs';
 * chooseBackend(['cpu', 'wasm']); // 'wasm'
 * chooseBackend(['cpu', 'wasm', 'tensorflow']); // 'tensorflow'
 * ```
 */
export function chooseBackend(
  registered: readonly string[],
  priorities: Readonly<Record<string, number>> = {},
): string {
  for (const name of BACKEND_PREFERENCE) if (registered.includes(name)) return name;
  let best: string | undefined;
  let bestP = Number.NEGATIVE_INFINITY;
  for (const name of registered) {
    const p = priorities[name] ?? 0;
    if (best === undefined || p > bestP) {
      best = name;
      bestP = p;
    }
  }
  if (best === undefined) {
    fail(
      'E_CONFIG',
      "lowbit/tfjs: no tfjs backend is registered; import one first, e.g. '@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm' or '@tensorflow/tfjs-backend-cpu'",
    );
  }
  return best;
}

function registry(): { names: string[]; priorities: Record<string, number> } {
  const reg = (tf.engine() as unknown as { registryFactory: Record<string, { priority: number }> }).registryFactory;
  const names = Object.keys(reg);
  const priorities: Record<string, number> = {};
  for (const n of names) priorities[n] = reg[n]!.priority;
  return { names, priorities };
}

/**
 * The best registered tfjs backend's name (see {@link chooseBackend}); does not switch to it.
 *
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-wasm';
 * import { pickBackend } from 'lowbit/tfjs';
 * pickBackend(); // 'wasm'
 * ```
 */
export function pickBackend(): string {
  const { names, priorities } = registry();
  return chooseBackend(names, priorities);
}

/**
 * Make the best registered backend the active one and wait until it is ready; returns its name. If it
 * fails to initialise, the next registered candidate is tried. Note that this sets tfjs's global backend.
 *
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-wasm';
 * import { ensureBackend } from 'lowbit/tfjs';
 * await ensureBackend(); // 'wasm'
 * ```
 */
export async function ensureBackend(): Promise<string> {
  const { names, priorities } = registry();
  let remaining = [...names];
  const errors: string[] = [];
  while (remaining.length > 0) {
    const name = chooseBackend(remaining, priorities);
    const current = (tf.engine() as unknown as { backendName: string | null }).backendName;
    if (current === name) {
      await tf.ready();
      return name;
    }
    let ok = false;
    let why = 'failed to initialise';
    try {
      ok = await tf.setBackend(name);
    } catch (e) {
      why = (e as Error).message;
    }
    if (ok) {
      await tf.ready();
      return name;
    }
    errors.push(`${name}: ${why}`);
    remaining = remaining.filter((n) => n !== name);
  }
  return fail(
    'E_CONFIG',
    `lowbit/tfjs: no tfjs backend could be initialised (${errors.join('; ') || 'none registered'})`,
  );
}

/**
 * A lowbit tensor (or anything {@link asTensor} accepts) as a `tf.Tensor`. float32, int32 and bool keep
 * their dtype; every other dtype is converted to float32 with {@link asFloat32} (float16/bfloat16
 * decoded, integers rounded to the nearest float32). The caller owns (and disposes) the result. tfjs's
 * cpu backend keeps a reference to the array rather than copying it: do not write into the source
 * while the tf.Tensor is alive.
 *
 * @example
 * ```ts
 * import { float32 } from 'lowbit/common';
 * import { toTf } from 'lowbit/tfjs';
 * const t = toTf(float32([1, 2, 3, 4], [2, 2])); // tf.Tensor2D float32
 * t.dispose();
 * ```
 */
export function toTf(t: TensorLike): tf.Tensor {
  const x = asTensor(t);
  if (x.dtype === 'int32') return tf.tensor(x.data as Int32Array, [...x.shape], 'int32');
  if (x.dtype === 'bool') return tf.tensor(x.data as Uint8Array, [...x.shape], 'bool');
  const f = asFloat32(x);
  return tf.tensor(f.data, [...f.shape], 'float32');
}

/**
 * Options of {@link fromTf}.
 *
 * @example
 * ```ts
 * const x = fromTf(tfTensor, { copy: false }); // aliases the backend's array (cpu backend)
 * ```
 */
export interface FromTfOptions {
  /**
   * Copy the values (default `true`). tfjs's cpu backend returns its internal array from `dataSync()`,
   * so without a copy writing into the lowbit tensor would change the (immutable) tf.Tensor.
   */
  readonly copy?: boolean;
}

/**
 * A `tf.Tensor` (float32, int32 or bool) as a lowbit tensor of the same dtype. Reads the values with
 * `dataSync()`; does not dispose the input.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import { fromTf } from 'lowbit/tfjs';
 * const x = fromTf(tf.tensor2d([1, 2, 3, 4], [2, 2])); // { dtype: 'float32', data: Float32Array [1, 2, 3, 4], shape: [2, 2] }
 * ```
 */
export function fromTf(t: tf.Tensor, opts: FromTfOptions = {}): Tensor<'float32' | 'int32' | 'bool'> {
  check(
    t !== null && typeof t === 'object' && typeof (t as { dataSync?: unknown }).dataSync === 'function',
    'E_DTYPE',
    () => `fromTf: expected a tf.Tensor, got ${describe(t)}`,
  );
  const x = asTensor(t) as Tensor<'float32' | 'int32' | 'bool'>;
  if (opts.copy === false) return x;
  return tensor(x.dtype, x.data.slice() as typeof x.data, x.shape) as Tensor<'float32' | 'int32' | 'bool'>;
}

/**
 * Options of {@link matmul}.
 *
 * @example
 * ```ts
 * const y = await matmul(x, w, { transposeB: true }); // w is [out, in]
 * ```
 */
export interface MatmulOptions {
  /** `b` is given as `[N, K]` (rows are output columns, like a weight matrix `[out, in]`); default false. */
  readonly transposeB?: boolean;
}

function checkMatmul(a: Float32Tensor, b: Float32Tensor, transposeB: boolean): [number, number, number] {
  for (const [name, t] of [
    ['a', a],
    ['b', b],
  ] as const) {
    check(
      t !== null && typeof t === 'object' && t.dtype === 'float32' && t.data instanceof Float32Array,
      'E_DTYPE',
      () =>
        `matmul: ${name} must be a float32 tensor, got ${t === null || typeof t !== 'object' ? describe(t) : t.dtype}`,
    );
    check(
      Array.isArray(t.shape) && t.shape.length === 2,
      'E_SHAPE',
      () => `matmul: ${name} must have rank 2, got shape [${t.shape.join(', ')}]`,
    );
    check(
      t.data.length === t.shape[0]! * t.shape[1]!,
      'E_SHAPE',
      () => `matmul: ${name} has shape [${t.shape.join(', ')}] but ${t.data.length} values`,
    );
  }
  const [m, k] = a.shape as [number, number];
  const [b0, b1] = b.shape as [number, number];
  const kb = transposeB ? b1 : b0;
  const n = transposeB ? b0 : b1;
  check(
    kb === k,
    'E_SHAPE',
    () =>
      `matmul: inner dimensions differ: a is [${m}, ${k}], b is [${b0}, ${b1}]${transposeB ? ` (transposeB: expected [N, ${k}])` : ` (expected [${k}, N])`}`,
  );
  return [m, k, n];
}

/**
 * `a · b` (or `a · bᵀ` with `transposeB`) on the currently active tfjs backend, synchronously. Inputs
 * `[M, K]` and `[K, N]` (or `[N, K]`), output `[M, N]` float32. All tf tensors are disposed. Throws
 * `E_CONFIG` when no backend is active yet (call `await ensureBackend()` once first).
 *
 * @example
 * ```ts
 * import { float32 } from 'lowbit/common';
 * import { ensureBackend, matmulSync } from 'lowbit/tfjs';
 * await ensureBackend();
 * matmulSync(float32([1, 2, 3, 4], [2, 2]), float32([1, 0, 0, 1], [2, 2])).data; // [1, 2, 3, 4]
 * ```
 */
export function matmulSync(a: Float32Tensor, b: Float32Tensor, opts: MatmulOptions = {}): Float32Tensor {
  const transposeB = opts.transposeB === true;
  const [m, k, n] = checkMatmul(a, b, transposeB);
  const active = (tf.engine() as unknown as { backendName: string | null }).backendName;
  check(active !== null, 'E_CONFIG', 'matmul: no tfjs backend is active; call `await ensureBackend()` first');
  if (m === 0 || n === 0) return tensor('float32', new Float32Array(m * n), [m, n]);
  if (k === 0) return tensor('float32', new Float32Array(m * n), [m, n]);
  const out = tf.tidy(() => {
    const ta = tf.tensor2d(a.data, [m, k], 'float32');
    const tb = tf.tensor2d(b.data, [...b.shape] as [number, number], 'float32');
    return tf.matMul(ta, tb, false, transposeB).dataSync();
  });
  check(
    out instanceof Float32Array && out.length === m * n,
    'E_DTYPE',
    () => `matmul: backend '${active}' returned ${describe(out)} of length ${(out as { length?: number }).length}`,
  );
  // The result array belongs to a disposed tensor (or is a copy of wasm memory): nothing else holds it.
  return tensor('float32', out, [m, n]);
}

/**
 * `a · b` (or `a · bᵀ` with `transposeB`) on the best registered tfjs backend ({@link ensureBackend}
 * is awaited first). Inputs `[M, K]` and `[K, N]` (or `[N, K]`), output `[M, N]` float32; every
 * intermediate tf tensor is disposed. Results differ from a sequential float32 loop only by summation
 * order (tfjs-backend-wasm uses XNNPACK): |Δ| ≤ K·2⁻²³·Σₖ|aᵢₖ·bₖⱼ|.
 *
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-wasm';
 * import { float32 } from 'lowbit/common';
 * import { matmul } from 'lowbit/tfjs';
 * const w = float32([1, 2, 3, 4, 5, 6], [3, 2]); // [out, in]
 * const y = await matmul(float32([1, 1], [1, 2]), w, { transposeB: true }); // [[3, 7, 11]]
 * ```
 */
export async function matmul(a: Float32Tensor, b: Float32Tensor, opts: MatmulOptions = {}): Promise<Float32Tensor> {
  checkMatmul(a, b, opts.transposeB === true);
  await ensureBackend();
  return matmulSync(a, b, opts);
}
