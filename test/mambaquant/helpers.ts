/** Shared test helpers for mambaquant tests: seeded normals, fixtures, small dense algebra in float64. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '../../src/common/rounding.js';

const here = dirname(fileURLToPath(import.meta.url));

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(join(here, '../fixtures/mambaquant', name), 'utf8')) as T;
}

/** Seeded standard normals (Box–Muller over createRng). */
export function randn(seed: number): () => number {
  const u = createRng(seed);
  return () => {
    const a = u() || 1e-12;
    const b = u();
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
  };
}

/** a[r×k]·b[k×c], float64. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, r: number, k: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++)
    for (let t = 0; t < k; t++) {
      const v = a[i * k + t]!;
      if (v === 0) continue;
      for (let j = 0; j < c; j++) out[i * c + j] = out[i * c + j]! + v * b[t * c + j]!;
    }
  return out;
}

export function transpose(a: ArrayLike<number>, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j]!;
  return out;
}

/** max |a − b|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** max |RᵀR − I| for an n×n row-major matrix. */
export function orthError(r: ArrayLike<number>, n: number): number {
  const g = matmul(transpose(r, n, n), r, n, n, n);
  let m = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m = Math.max(m, Math.abs(g[i * n + j]! - (i === j ? 1 : 0)));
  return m;
}

/** (−1)^popcount(i & j), written independently of the code under test. */
export function sylvester(i: number, j: number): number {
  let v = i & j;
  let s = 1;
  while (v) {
    s = -s;
    v &= v - 1;
  }
  return s;
}
