/**
 * Bit-plane storage (mwq.md §2, packing `'bitplane-msb'`): a c-bit code array of n elements is stored as c
 * planes, MSB first (plane 0 holds bit c − 1). Within a plane, element i is bit (i & 31) of 32-bit word
 * i >>> 5 (LSB-first in the word, the KIVI rule with b = 1); a plane is ⌈n/32⌉ words and the unused
 * high bits of its last word are zero. Planes are stored back to back in one `Uint32Array`.
 *
 * Exposed: planeWords, packPlanes, packPlanesRef, unpackPlanes, unpackPlanesRef. Internal: packPlanesUnchecked.
 * @module
 */
import { check, fail } from '../common/errors.js';

function checkBits(bits: number, who: string): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8)
    fail('E_CONFIG', `${who}: bits must be an integer in 1..8, got ${bits}`);
}

/**
 * Words per plane for n elements: ⌈n/32⌉.
 *
 * @example
 * ```ts
 * planeWords(100); // 4
 * ```
 */
export function planeWords(n: number): number {
  check(Number.isSafeInteger(n) && n >= 0, 'E_CONFIG', () => `planeWords: n must be a non-negative integer, got ${n}`);
  return Math.ceil(n / 32);
}

/**
 * Pack c-bit codes into c MSB-first planes (`c·⌈n/32⌉` words). Codes must be integers in 0..2^c − 1
 * (`E_CONFIG` otherwise, nothing written). `out`, if given, must hold at least that many words.
 *
 * @example
 * ```ts
 * const planes = packPlanes(new Uint8Array([2, 1, 3]), 2); // plane 0 (MSB) = 0b101, plane 1 = 0b110
 * ```
 */
export function packPlanes(codes: Uint8Array, bits: number, out?: Uint32Array): Uint32Array {
  checkBits(bits, 'packPlanes');
  const n = codes.length;
  const W = Math.ceil(n / 32);
  const dst = out ?? new Uint32Array(bits * W);
  check(dst.length >= bits * W, 'E_SHAPE', () => `packPlanes: out has ${dst.length} words, ${bits * W} needed`);
  const max = (1 << bits) - 1;
  for (let i = 0; i < n; i++) {
    if (codes[i]! > max) fail('E_CONFIG', `packPlanes: code ${i} is ${codes[i]}, expected 0..${max}`);
  }
  return packPlanesUnchecked(codes, bits, dst);
}

/** {@link packPlanes} without the range check (codes known to be < 2^bits). Internal. */
export function packPlanesUnchecked(codes: Uint8Array, bits: number, dst: Uint32Array): Uint32Array {
  const n = codes.length;
  const W = Math.ceil(n / 32);
  // one pass over the codes: eight bit-position accumulators per 32-code word
  for (let w = 0; w < W; w++) {
    const i0 = w << 5;
    const end = i0 + 32 <= n ? 32 : n - i0;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let a4 = 0;
    let a5 = 0;
    let a6 = 0;
    let a7 = 0;
    for (let j = 0; j < end; j++) {
      const q = codes[i0 + j]!;
      a0 |= (q & 1) << j;
      a1 |= ((q >>> 1) & 1) << j;
      a2 |= ((q >>> 2) & 1) << j;
      a3 |= ((q >>> 3) & 1) << j;
      a4 |= ((q >>> 4) & 1) << j;
      a5 |= ((q >>> 5) & 1) << j;
      a6 |= ((q >>> 6) & 1) << j;
      a7 |= ((q >>> 7) & 1) << j;
    }
    // plane p holds bit (bits − 1 − p)
    const top = bits - 1;
    dst[(top - 0) * W + w] = a0 >>> 0;
    if (bits > 1) dst[(top - 1) * W + w] = a1 >>> 0;
    if (bits > 2) dst[(top - 2) * W + w] = a2 >>> 0;
    if (bits > 3) dst[(top - 3) * W + w] = a3 >>> 0;
    if (bits > 4) dst[(top - 4) * W + w] = a4 >>> 0;
    if (bits > 5) dst[(top - 5) * W + w] = a5 >>> 0;
    if (bits > 6) dst[(top - 6) * W + w] = a6 >>> 0;
    if (bits > 7) dst[(top - 7) * W + w] = a7 >>> 0;
  }
  return dst;
}

/**
 * Reference twin of {@link packPlanes}: one bit at a time, by arithmetic on word and bit indices.
 *
 * @example
 * ```ts
 * packPlanesRef([2, 1, 3], 2); // same words as packPlanes
 * ```
 */
export function packPlanesRef(codes: ArrayLike<number>, bits: number): Uint32Array {
  checkBits(bits, 'packPlanesRef');
  const n = codes.length;
  const W = Math.ceil(n / 32);
  const out = new Uint32Array(bits * W);
  for (let i = 0; i < n; i++) {
    const q = codes[i]!;
    if (!(Number.isInteger(q) && q >= 0 && q < 2 ** bits)) fail('E_CONFIG', `packPlanesRef: code ${i} is ${q}`);
    for (let p = 0; p < bits; p++) {
      const bit = Math.floor(q / 2 ** (bits - 1 - p)) % 2;
      const w = p * W + Math.floor(i / 32);
      out[w] = out[w]! + bit * 2 ** (i % 32);
    }
  }
  return out;
}

/**
 * Rebuild codes from the first `read` planes (default all): the missing low bits are zero, so with
 * `read = r` the result is `(q >>> (c − r)) << (c − r)`.
 *
 * @example
 * ```ts
 * unpackPlanes(packPlanes(new Uint8Array([7, 5]), 3), 3, 2); // Uint8Array [7, 5]
 * unpackPlanes(packPlanes(new Uint8Array([7, 5]), 3), 3, 2, 1); // Uint8Array [4, 4]
 * ```
 */
export function unpackPlanes(planes: Uint32Array, bits: number, n: number, read = bits, out?: Uint8Array): Uint8Array {
  checkBits(bits, 'unpackPlanes');
  check(
    Number.isSafeInteger(n) && n >= 0,
    'E_CONFIG',
    () => `unpackPlanes: n must be a non-negative integer, got ${n}`,
  );
  check(
    Number.isInteger(read) && read >= 0 && read <= bits,
    'E_CONFIG',
    () => `unpackPlanes: read must be 0..${bits}, got ${read}`,
  );
  const W = Math.ceil(n / 32);
  check(
    planes.length >= read * W,
    'E_SHAPE',
    () => `unpackPlanes: ${read} planes of ${n} bits need ${read * W} words, got ${planes.length}`,
  );
  const dst = out ?? new Uint8Array(n);
  check(dst.length >= n, 'E_SHAPE', () => `unpackPlanes: out has ${dst.length} elements, ${n} needed`);
  dst.fill(0, 0, n);
  for (let p = 0; p < read; p++) {
    const sh = bits - 1 - p;
    const base = p * W;
    for (let w = 0; w < W; w++) {
      const word = planes[base + w]!;
      if (word === 0) continue;
      const i0 = w << 5;
      const end = i0 + 32 <= n ? 32 : n - i0;
      for (let j = 0; j < end; j++) dst[i0 + j] = dst[i0 + j]! | (((word >>> j) & 1) << sh);
    }
  }
  return dst;
}

/**
 * Reference twin of {@link unpackPlanes}.
 *
 * @example
 * ```ts
 * unpackPlanesRef(packPlanesRef([6, 1], 3), 3, 2); // Uint8Array [6, 1]
 * ```
 */
export function unpackPlanesRef(planes: Uint32Array, bits: number, n: number, read = bits): Uint8Array {
  checkBits(bits, 'unpackPlanesRef');
  const W = Math.ceil(n / 32);
  check(planes.length >= read * W, 'E_SHAPE', 'unpackPlanesRef: not enough words');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let q = 0;
    for (let p = 0; p < read; p++) {
      const word = planes[p * W + Math.floor(i / 32)]!;
      q += (Math.floor(word / 2 ** (i % 32)) % 2) * 2 ** (bits - 1 - p);
    }
    out[i] = q;
  }
  return out;
}
