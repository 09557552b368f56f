/**
 * Rotations as objects: `apply(x)` = x·R along the last axis, `applyInverse(x)` = x·Rᵀ, `matrix()` = R.
 * Hadamard rotations run the in-place FWHT on a copy (never a dense matrix); KLT and user matrices run a
 * dense product in plain JS (float64 accumulation, one float32 rounding) or through an injected matmul
 * (`backend: 'tfjs'`, e.g. lowbit/tfjs's `matmul` on the wasm backend).
 *
 * Exposed: Rotation, RotationKind, DenseBackendOptions, hadamardRotation, randomHadamardRotation,
 * kltRotation, denseRotation, KltOptions. Internal: applyDense, applyDenseRef, hadamardRowsF64,
 * checkRows, hadamardSigns.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { createRng } from '../common/rounding.js';
import { assertShape, type Float32Tensor, type Tensor, tensor } from '../common/tensor.js';
import { covariance, symmetricEigen } from './eigen.js';
import { fwhtRows, hadamardFactorization, hadamardMatrix, requireHadamardSize } from './hadamard.js';
import { hadTable } from './hadamard-tables.js';

/**
 * What built a rotation.
 *
 * @example
 * ```ts
 * hadamardRotation(64).kind; // 'hadamard'
 * ```
 */
export type RotationKind = 'hadamard' | 'random-hadamard' | 'klt' | 'dense';

/**
 * An orthogonal n×n rotation R acting on the last axis of row vectors.
 *
 * @example
 * ```ts
 * const R = hadamardRotation(64);
 * const y = R.apply(x); // x·R
 * const back = R.applyInverse(y); // ≈ x
 * ```
 */
export interface Rotation {
  readonly kind: RotationKind;
  readonly n: number;
  /** x·R along the last axis (a new float32 tensor; x is not modified). */
  apply(x: Float32Tensor): Float32Tensor;
  /** x·Rᵀ (= x·R⁻¹) along the last axis. */
  applyInverse(x: Float32Tensor): Float32Tensor;
  /** R as a fresh row-major n×n Float64Array. */
  matrix(): Float64Array;
  /** Notes about the construction (e.g. a rank-deficient calibration); empty when all is well. */
  readonly warnings: readonly string[];
}

/**
 * The injected matrix product of the `'tfjs'` backend: a[M, K]·b[K, N] (or b[N, K]ᵀ with transposeB).
 *
 * @example
 * ```ts
 * import { ensureBackend, matmulSync } from 'lowbit/tfjs';
 * await ensureBackend();
 * const mm: MatmulFn = matmulSync;
 * ```
 */
export type MatmulFn = (a: Float32Tensor, b: Float32Tensor, opts?: { transposeB?: boolean }) => Float32Tensor;

/**
 * How dense rotations multiply: plain JS (default) or an injected matmul such as lowbit/tfjs's.
 *
 * @example
 * ```ts
 * kltRotation(cal, { backend: 'tfjs', matmul: matmulSync });
 * ```
 */
export interface DenseBackendOptions {
  readonly backend?: 'js' | 'tfjs';
  /** Required with `backend: 'tfjs'`: pass `matmul` from lowbit/tfjs (or any compatible function). */
  readonly matmul?: MatmulFn;
}

/** Validate an apply() input: float32, last dim n. Returns the row count. */
export function checkRows(x: Float32Tensor, n: number, who: string): number {
  assertShape(x, who, { dtype: 'float32', minRank: 1 });
  const last = x.shape[x.shape.length - 1]!;
  check(last === n, 'E_SHAPE', () => `${who}: last dimension is ${last}, the rotation has n = ${n}`);
  return x.data.length / n;
}

/** Seeded ±1 signs: d_i = −1 when the i-th uniform of `createRng(seed)` is below 0.5. */
export function hadamardSigns(n: number, seed: number): Float64Array {
  check(Number.isFinite(seed), 'E_CONFIG', `randomHadamardRotation: seed must be a finite number, got ${seed}`);
  const rand = createRng(seed);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = rand() < 0.5 ? -1 : 1;
  return d;
}

/**
 * Float64 row transform used to build K·H: each of `rows` rows r becomes (r ⊙ d)·Mᵀ (d optional).
 * Same layout as {@link fwhtRows}, without float32 rounding.
 */
export function hadamardRowsF64(data: Float64Array, rows: number, n: number, d?: Float64Array): void {
  const { m, k } = requireHadamardSize(n, 'hadamardRowsF64');
  const p = 2 ** k;
  const had = m > 1 ? hadTable(m) : undefined;
  const inv = 1 / Math.sqrt(n);
  const col = new Float64Array(m);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    if (d !== undefined) for (let i = 0; i < n; i++) data[base + i] = data[base + i]! * d[i]!;
    for (let h = 1; h < p; h *= 2)
      for (let i = base; i < base + n; i += 2 * h)
        for (let j = i; j < i + h; j++) {
          const a = data[j]!;
          const b = data[j + h]!;
          data[j] = a + b;
          data[j + h] = a - b;
        }
    if (had !== undefined) {
      for (let b = 0; b < p; b++) {
        for (let a = 0; a < m; a++) col[a] = data[base + a * p + b]!;
        for (let a = 0; a < m; a++) {
          let acc = 0;
          for (let c = 0; c < m; c++) acc += had[a * m + c]! * col[c]!;
          data[base + a * p + b] = acc * inv;
        }
      }
    } else {
      for (let i = base; i < base + n; i++) data[i] = data[i]! * inv;
    }
  }
}

/**
 * Dense x·r for `rows` rows of length n (`r` row-major n×n; pass Rᵀ for the inverse): float64
 * accumulation over i ascending, one float32 rounding per output. Allocation-free apart from one
 * n-element accumulator (and `out` when not given).
 */
export function applyDense(
  x: Float32Array,
  rows: number,
  n: number,
  r: Float64Array,
  out: Float32Array = new Float32Array(rows * n),
): Float32Array {
  const acc = new Float64Array(n);
  for (let t = 0; t < rows; t++) {
    acc.fill(0);
    const xo = t * n;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const ro = i * n;
      for (let j = 0; j < n; j++) acc[j] = acc[j]! + xi * r[ro + j]!;
    }
    for (let j = 0; j < n; j++) out[xo + j] = acc[j]!;
  }
  return out;
}

/** Reference twin of {@link applyDense}: one dot product per output element, same summation order. */
export function applyDenseRef(x: Float32Array, rows: number, n: number, r: Float64Array): Float32Array {
  const out = new Float32Array(rows * n);
  for (let t = 0; t < rows; t++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[t * n + i]! * r[i * n + j]!;
      out[t * n + j] = Math.fround(s);
    }
  return out;
}

function transposeOf(r: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = r[i * n + j]!;
  return t;
}

function normalizeBackend(o: DenseBackendOptions, who: string): MatmulFn | undefined {
  const b = o.backend ?? 'js';
  if (b !== 'js' && b !== 'tfjs') fail('E_CONFIG', `${who}: backend must be 'js' or 'tfjs', got ${JSON.stringify(b)}`);
  if (b === 'js') return undefined;
  if (typeof o.matmul !== 'function')
    fail(
      'E_CONFIG',
      `${who}: backend 'tfjs' needs the matmul function: pass { backend: 'tfjs', matmul } with matmul from lowbit/tfjs`,
    );
  return o.matmul;
}

/** A dense rotation object over a validated orthogonal R (float64, owned). */
function denseObject(
  kind: RotationKind,
  n: number,
  R: Float64Array,
  mm: MatmulFn | undefined,
  warnings: string[],
): Rotation {
  const RT = transposeOf(R, n);
  const R32 = mm === undefined ? undefined : tensor('float32', Float32Array.from(R), [n, n]);
  const run = (x: Float32Tensor, inverse: boolean, who: string): Float32Tensor => {
    const rows = checkRows(x, n, who);
    if (R32 !== undefined && mm !== undefined) {
      const y = mm(tensor('float32', x.data, [rows, n]), R32, { transposeB: inverse });
      check(
        y !== null && typeof y === 'object' && y.data instanceof Float32Array && y.data.length === rows * n,
        'E_SHAPE',
        () => `${who}: the injected matmul returned a result that is not a float32 [${rows}, ${n}] tensor`,
      );
      return tensor('float32', Float32Array.from(y.data), x.shape);
    }
    return tensor('float32', applyDense(x.data, rows, n, inverse ? RT : R), x.shape);
  };
  return Object.freeze({
    kind,
    n,
    apply: (x: Float32Tensor) => run(x, false, `${kind}Rotation.apply`),
    applyInverse: (x: Float32Tensor) => run(x, true, `${kind}Rotation.applyInverse`),
    matrix: () => Float64Array.from(R),
    warnings: Object.freeze([...warnings]),
  });
}

/**
 * The Hadamard rotation R = Mᵀ (M = hadamardMatrix(n)), so `apply(x)` = QuaRot's `matmul_hadU(x)`.
 *
 * @example
 * ```ts
 * const R = hadamardRotation(1536); // 12·2^7
 * const y = R.apply(x); // = QuaRot matmul_hadU(x)
 * ```
 */
export function hadamardRotation(n: number): Rotation {
  requireHadamardSize(n, 'hadamardRotation');
  const run = (x: Float32Tensor, transpose: boolean, who: string): Float32Tensor => {
    const rows = checkRows(x, n, who);
    const out = Float32Array.from(x.data);
    fwhtRows(out, rows, n, 0, true, transpose);
    return tensor('float32', out, x.shape);
  };
  return Object.freeze({
    kind: 'hadamard' as const,
    n,
    apply: (x: Float32Tensor) => run(x, false, 'hadamardRotation.apply'),
    applyInverse: (x: Float32Tensor) => run(x, true, 'hadamardRotation.applyInverse'),
    matrix: () => hadamardMatrix(n, { transpose: true }),
    warnings: Object.freeze([]),
  });
}

/**
 * Randomized Hadamard R = D·Mᵀ with a seeded ±1 diagonal D (QuaRot's `random_hadamard_matrix`
 * construction; the signs come from lowbit's splitmix32 `createRng(seed)`, not torch's generator).
 * `apply(x)` = fwht(x ⊙ d); the same seed always gives the same R.
 *
 * @example
 * ```ts
 * const R = randomHadamardRotation(4096, { seed: 7 });
 * R.apply(x); // fwht(x ⊙ d), d = R.signs
 * ```
 */
export function randomHadamardRotation(
  n: number,
  opts: { seed?: number } = {},
): Rotation & { readonly signs: Float64Array } {
  requireHadamardSize(n, 'randomHadamardRotation');
  const d = hadamardSigns(n, opts.seed ?? 0);
  const apply = (x: Float32Tensor): Float32Tensor => {
    const rows = checkRows(x, n, 'randomHadamardRotation.apply');
    const out = new Float32Array(x.data.length);
    const xd = x.data;
    for (let t = 0; t < rows; t++) for (let i = 0; i < n; i++) out[t * n + i] = xd[t * n + i]! * d[i]!;
    fwhtRows(out, rows, n, 0, true, false);
    return tensor('float32', out, x.shape);
  };
  const applyInverse = (x: Float32Tensor): Float32Tensor => {
    const rows = checkRows(x, n, 'randomHadamardRotation.applyInverse');
    const out = Float32Array.from(x.data);
    fwhtRows(out, rows, n, 0, true, true);
    for (let t = 0; t < rows; t++) for (let i = 0; i < n; i++) out[t * n + i] = out[t * n + i]! * d[i]!;
    return tensor('float32', out, x.shape);
  };
  const matrix = (): Float64Array => {
    const m = hadamardMatrix(n); // M; R[i][j] = d_i·M[j][i]
    const r = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) r[i * n + j] = d[i]! * m[j * n + i]!;
    return r;
  };
  return Object.freeze({
    kind: 'random-hadamard' as const,
    n,
    apply,
    applyInverse,
    matrix,
    signs: Float64Array.from(d),
    warnings: Object.freeze([]),
  });
}

/**
 * Options of {@link kltRotation}.
 *
 * @example
 * ```ts
 * kltRotation(cal, { center: true, hadamard: true, seed: 1, onRankDeficient: 'hadamard' });
 * ```
 */
export interface KltOptions extends DenseBackendOptions {
  /** Centre the calibration before the covariance (default true; false uses XᵀX/N). */
  readonly center?: boolean;
  /** Follow K by a Hadamard: R = K·H (default true). `false` gives K alone (not recommended). */
  readonly hadamard?: boolean;
  /** With a seed, H is the randomized D·H of {@link randomHadamardRotation}. */
  readonly seed?: number;
  /**
   * What to do when the calibration has fewer rows than needed for a full-rank covariance
   * (N − 1 < n centred, N < n otherwise): `'warn'` (default; the null-space part of K is arbitrary but
   * orthogonal, noted in `warnings`), `'hadamard'` (return the Hadamard rotation instead, with a
   * warning) or `'error'` (`E_SHAPE`).
   */
  readonly onRankDeficient?: 'warn' | 'hadamard' | 'error';
}

/**
 * KLT rotation from calibration rows (`[N, n]`, leading dims flattened): the eigenvectors K of their
 * covariance (sorted descending, sign-fixed), followed by a Hadamard: R = K·H, so every channel of x·R
 * has variance tr(C)/n on the calibration data. The result also carries the eigenvalues.
 *
 * @example
 * ```ts
 * const R = kltRotation(calibration); // calibration [N, n], N > n
 * const y = R.apply(x); // channel variances of y ≈ tr(C)/n
 * ```
 */
export function kltRotation(
  calibration: Float32Tensor,
  opts: KltOptions = {},
): Rotation & { readonly eigenvalues: Float64Array } {
  assertShape(calibration, 'kltRotation', { dtype: 'float32', minRank: 2 });
  const n = calibration.shape[calibration.shape.length - 1]!;
  const N = n === 0 ? 0 : calibration.data.length / n;
  const center = opts.center ?? true;
  const useH = opts.hadamard ?? true;
  const policy = opts.onRankDeficient ?? 'warn';
  if (policy !== 'warn' && policy !== 'hadamard' && policy !== 'error')
    fail(
      'E_CONFIG',
      `kltRotation: onRankDeficient must be 'warn', 'hadamard' or 'error', got ${JSON.stringify(policy)}`,
    );
  if (typeof useH !== 'boolean') fail('E_CONFIG', 'kltRotation: hadamard must be a boolean');
  const mm = normalizeBackend(opts, 'kltRotation');
  if (useH || policy === 'hadamard') requireHadamardSize(n, 'kltRotation');
  if (opts.seed !== undefined) check(Number.isFinite(opts.seed), 'E_CONFIG', 'kltRotation: seed must be finite');
  const warnings: string[] = [];
  const dof = center ? N - 1 : N;
  if (dof < n) {
    const msg = `kltRotation: ${N} calibration rows give a covariance of rank <= ${Math.max(dof, 0)} < n = ${n}`;
    if (policy === 'error') fail('E_SHAPE', `${msg}; provide at least ${center ? n + 1 : n} rows`);
    if (policy === 'hadamard') {
      const h = opts.seed === undefined ? hadamardRotation(n) : randomHadamardRotation(n, { seed: opts.seed });
      const rot = denseObject('hadamard', n, h.matrix(), mm, [`${msg}; fell back to the Hadamard rotation`]);
      return Object.freeze({ ...rot, apply: h.apply, applyInverse: h.applyInverse, eigenvalues: new Float64Array(0) });
    }
    warnings.push(`${msg}; the null-space eigenvectors are arbitrary (orthogonality and invariance still hold)`);
  }
  const cov = covariance(calibration, { center });
  const { values, vectors } = symmetricEigen(cov);
  const R = vectors; // K, columns = eigenvectors; R = K·H row by row
  if (useH) hadamardRowsF64(R, n, n, opts.seed === undefined ? undefined : hadamardSigns(n, opts.seed));
  const rot = denseObject('klt', n, R, mm, warnings);
  return Object.freeze({ ...rot, eigenvalues: values });
}

/**
 * Wrap a user matrix R (`[n, n]` float64/float32 tensor or row-major Float64Array) as a rotation after
 * checking max|RᵀR − I| ≤ `tolerance` (default 1e-5, loose enough for float32-stored matrices).
 *
 * @example
 * ```ts
 * const R = denseRotation(new Float64Array([0, 1, -1, 0])); // a 2×2 rotation
 * R.apply(float32([1, 2], [1, 2])).data; // [-2, 1]
 * ```
 */
export function denseRotation(
  matrix: Float64Array | Tensor<'float64'> | Float32Tensor,
  opts: DenseBackendOptions & { tolerance?: number } = {},
): Rotation {
  let R: Float64Array;
  let n: number;
  if (matrix instanceof Float64Array) {
    n = Math.sqrt(matrix.length);
    check(
      Number.isInteger(n) && n >= 1,
      'E_SHAPE',
      `denseRotation: a Float64Array of length ${matrix.length} is not square`,
    );
    R = Float64Array.from(matrix);
  } else {
    check(
      matrix !== null && typeof matrix === 'object' && (matrix.dtype === 'float64' || matrix.dtype === 'float32'),
      'E_DTYPE',
      'denseRotation: expected a float64/float32 [n, n] tensor or a Float64Array',
    );
    check(
      matrix.shape.length === 2 && matrix.shape[0] === matrix.shape[1] && matrix.shape[0]! >= 1,
      'E_SHAPE',
      () => `denseRotation: expected a square [n, n] matrix, got shape [${matrix.shape.join(', ')}]`,
    );
    n = matrix.shape[0]!;
    R = Float64Array.from(matrix.data as ArrayLike<number>);
  }
  for (let i = 0; i < R.length; i++)
    if (!Number.isFinite(R[i]!)) fail('E_NONFINITE', `denseRotation: element ${i} is ${R[i]}`);
  const tol = opts.tolerance ?? 1e-5;
  check(Number.isFinite(tol) && tol > 0, 'E_CONFIG', `denseRotation: tolerance must be a positive number, got ${tol}`);
  const mm = normalizeBackend(opts, 'denseRotation');
  // max |RᵀR − I|: (RᵀR)_ij = Σ_k R_ki R_kj
  const g = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const ro = k * n;
    for (let i = 0; i < n; i++) {
      const rki = R[ro + i]!;
      if (rki === 0) continue;
      const go = i * n;
      for (let j = 0; j < n; j++) g[go + j] = g[go + j]! + rki * R[ro + j]!;
    }
  }
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(g[i * n + j]! - (i === j ? 1 : 0)));
  if (worst > tol)
    fail(
      'E_CONFIG',
      `denseRotation: matrix is not orthogonal: max|RᵀR − I| = ${worst.toExponential(3)} > tolerance ${tol}`,
    );
  return denseObject('dense', n, R, mm, []);
}

/**
 * True when n has a Hadamard rotation (re-exported helper for callers choosing a transform).
 *
 * @example
 * ```ts
 * hasHadamard(172); // true
 * hasHadamard(100); // false
 * ```
 */
export function hasHadamard(n: number): boolean {
  return hadamardFactorization(n) !== undefined;
}
