/**
 * Covariance and the symmetric eigendecomposition in float64: Householder tridiagonalisation followed
 * by the implicit QL algorithm with Wilkinson-type shifts (EISPACK `tred2`/`tql2`, as in JAMA), with a
 * cyclic Jacobi twin used as the test oracle. Results are sorted (eigenvalues descending) and
 * sign-fixed (each eigenvector's largest-magnitude component is positive, first one on ties) so the
 * same input always gives the same vectors.
 *
 * Storage: all matrices are row-major `Float64Array`s. Internally the QL code keeps the transpose of
 * EISPACK's V so its inner loops run over contiguous memory.
 *
 * Exposed: covariance, symmetricEigen, symmetricEigenJacobi, SymmetricEigen.
 * Internal: asSquare, finishEigen.
 * @module
 */
import { check, fail } from '../common/errors.js';
import type { Float32Tensor, Tensor } from '../common/tensor.js';

/**
 * Result of a symmetric eigendecomposition A = V·diag(values)·Vᵀ.
 *
 * @example
 * ```ts
 * const { values, vectors } = symmetricEigen(covariance(x));
 * ```
 */
export interface SymmetricEigen {
  readonly n: number;
  /** Eigenvalues, descending. */
  readonly values: Float64Array;
  /** n×n row-major; column j is the unit eigenvector of `values[j]`. */
  readonly vectors: Float64Array;
}

/**
 * A square float64 matrix argument: a `[n, n]` float64/float32 tensor or a row-major Float64Array.
 *
 * @example
 * ```ts
 * symmetricEigen(new Float64Array([2, 1, 1, 2])); // a 2×2 matrix
 * ```
 */
export type SquareMatrix = Float64Array | Tensor<'float64'> | Float32Tensor;

/** Copy a square matrix into a fresh Float64Array, validating shape, finiteness and symmetry. */
export function asSquare(a: SquareMatrix, who: string, symmetric: boolean): { n: number; data: Float64Array } {
  let data: Float64Array;
  let n: number;
  if (a instanceof Float64Array) {
    n = Math.sqrt(a.length);
    check(Number.isInteger(n), 'E_SHAPE', `${who}: a Float64Array of length ${a.length} is not a square matrix`);
    data = Float64Array.from(a);
  } else {
    check(
      a !== null && typeof a === 'object' && (a.dtype === 'float64' || a.dtype === 'float32'),
      'E_DTYPE',
      `${who}: expected a float64 or float32 [n, n] tensor or a Float64Array`,
    );
    check(
      a.shape.length === 2 && a.shape[0] === a.shape[1],
      'E_SHAPE',
      () => `${who}: expected a square [n, n] matrix, got shape [${a.shape.join(', ')}]`,
    );
    n = a.shape[0]!;
    data = Float64Array.from(a.data as ArrayLike<number>);
  }
  check(n >= 1, 'E_SHAPE', `${who}: empty matrix`);
  let amax = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) fail('E_NONFINITE', `${who}: element ${i} is ${v}; the matrix must be finite`);
    const av = Math.abs(v);
    if (av > amax) amax = av;
  }
  if (symmetric) {
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const d = Math.abs(data[i * n + j]! - data[j * n + i]!);
        if (d > 1e-12 * amax)
          fail('E_CONFIG', `${who}: matrix is not symmetric (|a[${i}][${j}] − a[${j}][${i}]| = ${d.toExponential(3)})`);
      }
  }
  return { n, data };
}

/**
 * Covariance of the rows of x (`[N, n]`, any leading dims flattened) in float64:
 * `(X − μ)ᵀ(X − μ)/(N − 1)` when centred (default), `XᵀX/N` otherwise. Returns a `[n, n]` float64 tensor.
 *
 * @example
 * ```ts
 * import { float32 } from 'lowbit/common';
 * covariance(float32([1, 2, 3, 4, 5, 7], [3, 2])).data; // [4, 5, 5, 6.333…]
 * ```
 */
export function covariance(x: Float32Tensor, opts: { center?: boolean } = {}): Tensor<'float64'> {
  check(
    x !== null && typeof x === 'object' && x.dtype === 'float32',
    'E_DTYPE',
    'covariance: expected a float32 tensor',
  );
  check(x.shape.length >= 2, 'E_SHAPE', () => `covariance: expected [N, n], got shape [${x.shape.join(', ')}]`);
  const n = x.shape[x.shape.length - 1]!;
  const N = n === 0 ? 0 : x.data.length / n;
  const center = opts.center ?? true;
  check(n >= 1, 'E_SHAPE', 'covariance: n must be at least 1');
  check(N >= (center ? 2 : 1), 'E_SHAPE', `covariance: need at least ${center ? 2 : 1} rows, got ${N}`);
  const xd = x.data;
  const mu = new Float64Array(n);
  for (let i = 0; i < xd.length; i++) {
    const v = xd[i]!;
    if (!Number.isFinite(v)) fail('E_NONFINITE', `covariance: element ${i} is ${v}`);
  }
  if (center) {
    for (let t = 0; t < N; t++) for (let j = 0; j < n; j++) mu[j] = mu[j]! + xd[t * n + j]!;
    for (let j = 0; j < n; j++) mu[j] = mu[j]! / N;
  }
  const c = new Float64Array(n * n);
  const row = new Float64Array(n);
  for (let t = 0; t < N; t++) {
    const o = t * n;
    for (let j = 0; j < n; j++) row[j] = xd[o + j]! - mu[j]!;
    for (let i = 0; i < n; i++) {
      const ri = row[i]!;
      if (ri === 0) continue;
      const ci = i * n;
      for (let j = i; j < n; j++) c[ci + j] = c[ci + j]! + ri * row[j]!;
    }
  }
  const div = center ? N - 1 : N;
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      const v = c[i * n + j]! / div;
      c[i * n + j] = v;
      c[j * n + i] = v;
    }
  return { dtype: 'float64', data: c, shape: Object.freeze([n, n]) };
}

/** Sort descending, fix signs, return V with eigenvectors in columns. `z` holds eigenvectors as rows. */
function finishEigen(n: number, d: Float64Array, z: Float64Array): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[b]! - d[a]! || a - b);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const src = order[c]! * n;
    values[c] = d[order[c]!]!;
    let best = 0;
    let bestAbs = -1;
    for (let k = 0; k < n; k++) {
      const a = Math.abs(z[src + k]!);
      if (a > bestAbs * (1 + 1e-12)) {
        bestAbs = a;
        best = k;
      }
    }
    const sign = z[src + best]! < 0 ? -1 : 1;
    for (let k = 0; k < n; k++) vectors[k * n + c] = sign * z[src + k]!;
  }
  return { n, values, vectors };
}

/**
 * Symmetric eigendecomposition (Householder tridiagonalisation + implicit QL, float64), sorted
 * descending and sign-fixed. Throws `E_CONFIG` for a non-symmetric input, `E_NONFINITE` for NaN/Inf.
 *
 * @example
 * ```ts
 * const { values, vectors } = symmetricEigen(new Float64Array([2, 1, 1, 2]));
 * values; // [3, 1]; vectors column 0 ≈ [0.7071, 0.7071]
 * ```
 */
export function symmetricEigen(a: SquareMatrix): SymmetricEigen {
  const { n, data } = asSquare(a, 'symmetricEigen', true);
  // W = Vᵀ (row j of W = column j of EISPACK's V); A symmetric so W starts as A.
  const W = data;
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  // --- tred2 on the transposed storage: V[r][c] ≡ W[c*n + r]
  for (let j = 0; j < n; j++) d[j] = W[j * n + n - 1]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = W[j * n + i - 1]!;
        W[j * n + i] = 0;
        W[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        W[i * n + j] = f;
        const wj = j * n;
        g = e[j]! + W[wj + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const v = W[wj + k]!;
          g += v * d[k]!;
          e[k] = e[k]! + v * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        const wj = j * n;
        for (let k = j; k <= i - 1; k++) W[wj + k] = W[wj + k]! - (f * e[k]! + g * d[k]!);
        d[j] = W[wj + i - 1]!;
        W[wj + i] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    W[i * n + n - 1] = W[i * n + i]!;
    W[i * n + i] = 1;
    const h = d[i + 1]!;
    const wi1 = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = W[wi1 + k]! / h;
      for (let j = 0; j <= i; j++) {
        const wj = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += W[wi1 + k]! * W[wj + k]!;
        for (let k = 0; k <= i; k++) W[wj + k] = W[wj + k]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) W[wi1 + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = W[j * n + n - 1]!;
    W[j * n + n - 1] = 0;
  }
  W[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
  // --- tql2
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  const maxIter = 60;
  const CHUNK = 128;
  const rc = new Float64Array(n);
  const rs = new Float64Array(n);
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        iter++;
        if (iter > maxIter)
          fail('E_LIMIT', `symmetricEigen: QL did not converge for eigenvalue ${l} in ${maxIter} iterations`);
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          rc[i] = c;
          rs[i] = s;
        }
        // apply the sweep's rotations to the eigenvector rows in column chunks (cache-friendly; every
        // element sees the same rotations in the same order as the unchunked loop)
        for (let k0 = 0; k0 < n; k0 += CHUNK) {
          const k1 = Math.min(n, k0 + CHUNK);
          for (let i = m - 1; i >= l; i--) {
            const ci = rc[i]!;
            const si = rs[i]!;
            const wi = i * n;
            const wi1 = wi + n;
            for (let k = k0; k < k1; k++) {
              const hv = W[wi1 + k]!;
              const vi = W[wi + k]!;
              W[wi1 + k] = si * vi + ci * hv;
              W[wi + k] = ci * vi - si * hv;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  return finishEigen(n, d, W);
}

/**
 * Cyclic Jacobi eigendecomposition (the test oracle for {@link symmetricEigen}; ~5–10× slower). Sorted
 * and sign-fixed the same way. Sweeps until the off-diagonal mass is below 1e-30 of the total.
 *
 * @example
 * ```ts
 * const oracle = symmetricEigenJacobi(new Float64Array([2, 1, 1, 2])); // values [3, 1]
 * ```
 */
export function symmetricEigenJacobi(a: SquareMatrix, opts: { maxSweeps?: number } = {}): SymmetricEigen {
  const { n, data: A } = asSquare(a, 'symmetricEigenJacobi', true);
  const Z = new Float64Array(n * n); // rows = eigenvectors
  for (let i = 0; i < n; i++) Z[i * n + i] = 1;
  const maxSweeps = opts.maxSweeps ?? 50;
  let total = 0;
  for (let i = 0; i < A.length; i++) total += A[i]! * A[i]!;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q]! * A[p * n + q]!;
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (apq === 0) continue;
        const app = A[p * n + p]!;
        const aqq = A[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J with J the rotation in the (p, q) plane
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k]!;
          const aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        A[p * n + q] = 0;
        A[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const zp = Z[p * n + k]!;
          const zq = Z[q * n + k]!;
          Z[p * n + k] = c * zp - s * zq;
          Z[q * n + k] = s * zp + c * zq;
        }
      }
  }
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = A[i * n + i]!;
  return finishEigen(n, d, Z);
}
