/** Shared test helpers for test/bfp (float32 bit views, fixture loading, seeded data). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function f32FromHex(s: string): Float32Array {
  const u = new Uint32Array(
    s
      .trim()
      .split(/\s+/)
      .map((h) => Number.parseInt(h, 16)),
  );
  return new Float32Array(u.buffer);
}

export function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Same float32 value with NaN == NaN and +0 == -0 (the fixture's −0 deviation). */
export function sameValue(a: number, b: number): boolean {
  return (Number.isNaN(a) && Number.isNaN(b)) || a === b;
}

export interface MxFixture {
  inputs: string[];
  scales: Record<string, (number | null)[]>;
  cases: Record<string, string[]>;
}

export function loadMxFixture(): MxFixture {
  const p = fileURLToPath(new URL('../fixtures/mx/mx-reference.json', import.meta.url));
  return JSON.parse(readFileSync(p, 'utf8')) as MxFixture;
}

/** mulberry32: deterministic test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()) * scale;
  }
  return out;
}

/** Gaussian data with a few large outliers and some exact zeros. */
export function spiky(n: number, seed: number): Float32Array {
  const x = gaussian(n, seed);
  const r = rng(seed + 7);
  for (let i = 0; i < n; i++) {
    const u = r();
    if (u < 0.03) x[i] = x[i]! * 40;
    else if (u < 0.05) x[i] = 0;
    else if (u < 0.06) x[i] = x[i]! * 1e-6;
  }
  return x;
}
