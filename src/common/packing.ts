/**
 * Bit packing of 1–8-bit unsigned codes into `Uint32Array` words, lowest bits first.
 *
 * Layout (`'lsb-u32'`): a word holds `k = floor(32 / bits)` codes; code `i` goes to word `floor(i / k)`
 * at bits `[bits·j, bits·j + bits)` with `j = i mod k`. Codes never straddle two words, so for bit widths
 * that do not divide 32 the top `32 − k·bits` bits of every word are zero padding:
 *
 * | bits | codes/word | padding bits | | bits | codes/word | padding bits |
 * |---|---|---|---|---|---|---|
 * | 1 | 32 | 0 | | 5 | 6 | 2 |
 * | 2 | 16 | 0 | | 6 | 5 | 2 |
 * | 3 | 10 | 2 | | 7 | 4 | 4 |
 * | 4 | 8 | 0 | | 8 | 4 | 0 |
 *
 * The last word of a ragged tail is zero-filled above its last code. This is KIVI's layout
 * (`32 / bits` codes per int32, low bits first) generalised to 3/5/6/7 bits.
 *
 * Exposed: packBits, unpackBits, packBitsRef, unpackBitsRef, packedWords, codesPerWord.
 * @module
 */
import { check, fail } from './errors.js';

function checkBits(bits: number, who: string): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8)
    fail('E_CONFIG', `${who}: bits must be an integer in 1..8, got ${bits}`);
}

/**
 * Codes per 32-bit word for a bit width: `floor(32 / bits)`.
 *
 * @example
 * ```ts
 * codesPerWord(3); // 10
 * ```
 */
export function codesPerWord(bits: number): number {
  checkBits(bits, 'codesPerWord');
  return Math.floor(32 / bits);
}

/**
 * Number of `Uint32Array` words that `n` codes of `bits` bits occupy.
 *
 * @example
 * ```ts
 * packedWords(100, 3); // 10
 * ```
 */
export function packedWords(n: number, bits: number): number {
  const k = codesPerWord(bits);
  return Math.ceil(n / k);
}

/**
 * Pack unsigned codes (each `< 2^bits`) into words. Throws `E_CONFIG` for a bad width and `E_CONFIG`
 * for a code out of range (nothing is written to `out` then). `out`, if given, must have at least
 * {@link packedWords} words; those words are overwritten.
 *
 * @example
 * ```ts
 * const words = packBits(new Uint8Array([1, 2, 3]), 2); // Uint32Array [0b11_10_01]
 * ```
 */
export function packBits(codes: ArrayLike<number>, bits: number, out?: Uint32Array): Uint32Array {
  checkBits(bits, 'packBits');
  const n = codes.length;
  const k = (32 / bits) | 0;
  const words = Math.ceil(n / k);
  const dst = out ?? new Uint32Array(words);
  check(dst.length >= words, 'E_SHAPE', () => `packBits: out has ${dst.length} words, ${words} needed`);
  const max = (1 << bits) - 1;
  for (let i = 0; i < n; i++) {
    const c = codes[i]!;
    if (!(c >= 0 && c <= max && (c | 0) === c))
      fail('E_CONFIG', `packBits: code ${i} is ${c}, expected an integer in 0..${max}`);
  }
  let i = 0;
  for (let w = 0; w < words; w++) {
    let word = 0;
    const end = Math.min(n, i + k);
    for (let shift = 0; i < end; i++, shift += bits) word |= codes[i]! << shift;
    dst[w] = word >>> 0;
  }
  return dst;
}

/**
 * Unpack `n` codes of `bits` bits from words (inverse of {@link packBits}).
 *
 * @example
 * ```ts
 * unpackBits(new Uint32Array([0b111001]), 2, 3); // Uint8Array [1, 2, 3]
 * ```
 */
export function unpackBits(words: Uint32Array, bits: number, n: number, out?: Uint8Array): Uint8Array {
  checkBits(bits, 'unpackBits');
  const k = (32 / bits) | 0;
  const need = Math.ceil(n / k);
  check(Number.isSafeInteger(n) && n >= 0, 'E_CONFIG', `unpackBits: n must be a non-negative integer, got ${n}`);
  check(
    words.length >= need,
    'E_SHAPE',
    () => `unpackBits: ${n} codes of ${bits} bits need ${need} words, got ${words.length}`,
  );
  const dst = out ?? new Uint8Array(n);
  check(dst.length >= n, 'E_SHAPE', () => `unpackBits: out has ${dst.length} elements, ${n} needed`);
  const mask = (1 << bits) - 1;
  let i = 0;
  for (let w = 0; w < need; w++) {
    const word = words[w]!;
    const end = Math.min(n, i + k);
    for (let shift = 0; i < end; i++, shift += bits) dst[i] = (word >>> shift) & mask;
  }
  return dst;
}

/**
 * Reference twin of {@link packBits}: one code at a time, by word and slot index.
 *
 * @example
 * ```ts
 * packBitsRef([1, 2, 3], 2); // same words as packBits
 * ```
 */
export function packBitsRef(codes: ArrayLike<number>, bits: number): Uint32Array {
  checkBits(bits, 'packBitsRef');
  const k = Math.floor(32 / bits);
  const out = new Uint32Array(Math.ceil(codes.length / k));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (!(Number.isInteger(c) && c >= 0 && c < 2 ** bits)) fail('E_CONFIG', `packBitsRef: code ${i} is ${c}`);
    const w = Math.floor(i / k);
    const j = i % k;
    out[w] = (out[w]! + c * 2 ** (bits * j)) >>> 0;
  }
  return out;
}

/**
 * Reference twin of {@link unpackBits}.
 *
 * @example
 * ```ts
 * unpackBitsRef(packBitsRef([5, 6, 7], 3), 3, 3); // Uint8Array [5, 6, 7]
 * ```
 */
export function unpackBitsRef(words: Uint32Array, bits: number, n: number): Uint8Array {
  checkBits(bits, 'unpackBitsRef');
  const k = Math.floor(32 / bits);
  check(words.length >= Math.ceil(n / k), 'E_SHAPE', 'unpackBitsRef: not enough words');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const w = words[Math.floor(i / k)]!;
    out[i] = Math.floor(w / 2 ** (bits * (i % k))) % 2 ** bits;
  }
  return out;
}
