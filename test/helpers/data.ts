/**
 * Deterministic test data shared by the pool tests.
 */

/** `n` float32 values in [−3, 3) from a 32-bit LCG, with about 1 in 17 set to 0.5 (ties within groups). */
export function randomData(n: number, seed: number): Float32Array {
  const d = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = s % 17 === 0 ? 0.5 : (s / 4294967296) * 6 - 3;
  }
  return d;
}
