/**
 * Packing of element codes into bytes: one dense little-endian bitstream, element `j` at bits
 * `[w·j, w·j + w)` of the byte stream (bit 0 = least significant bit of byte 0). Consequences:
 * - 8-bit formats (MXFP8, MXINT8, BFP16): one byte per element, in element order;
 * - 4-bit formats (MXFP4, BFP12): two per byte, **element 2i in the low nibble**, 2i + 1 in the high
 *   nibble (the OCP / PyTorch `float4_e2m1fn_x2` order);
 * - 6-bit formats (MXFP6, BFP14): packed densely, 4 elements in 3 bytes (lowbit's choice; no verified
 *   interop layout exists);
 * - 16-bit (BFP24): two bytes per element, little-endian. Other widths follow the same rule.
 * The stream covers the whole tensor in row-major element order; the last byte is zero-padded above
 * the last code.
 *
 * Exposed: packCodes, unpackCodes, packCodesRef, unpackCodesRef, packedBytes.
 * @module
 */
import { check, fail } from '../common/errors.js';

/**
 * Bytes that `n` codes of `w` bits occupy: `ceil(n·w / 8)`.
 *
 * @example
 * ```ts
 * packedBytes(33, 4); // 17
 * ```
 */
export function packedBytes(n: number, w: number): number {
  return Math.ceil((n * w) / 8);
}

function checkWidth(w: number, who: string): void {
  if (!Number.isInteger(w) || w < 1 || w > 16) fail('E_CONFIG', `${who}: code width must be in 1..16, got ${w}`);
}

/**
 * Pack `n` codes of `w` bits (1..16) into the dense little-endian bitstream. Codes are masked to `w` bits.
 *
 * @example
 * ```ts
 * packCodes(new Uint16Array([1, 2, 3]), 4); // Uint8Array [0x21, 0x03]
 * ```
 */
export function packCodes(codes: Uint16Array, w: number, n = codes.length, out?: Uint8Array): Uint8Array {
  checkWidth(w, 'packCodes');
  const nb = packedBytes(n, w);
  const dst = out ?? new Uint8Array(nb);
  check(dst.length >= nb, 'E_SHAPE', () => `packCodes: out has ${dst.length} bytes, ${nb} needed`);
  const mask = (1 << w) - 1;
  if (w === 8) {
    for (let i = 0; i < n; i++) dst[i] = codes[i]! & 0xff;
    return dst;
  }
  if (w === 4) {
    const pairs = n >>> 1;
    for (let j = 0; j < pairs; j++) dst[j] = (codes[2 * j]! & 15) | ((codes[2 * j + 1]! & 15) << 4);
    if (n & 1) dst[pairs] = codes[n - 1]! & 15;
    return dst;
  }
  let acc = 0;
  let nbits = 0;
  let o = 0;
  for (let i = 0; i < n; i++) {
    acc |= (codes[i]! & mask) << nbits;
    nbits += w;
    while (nbits >= 8) {
      dst[o++] = acc & 0xff;
      acc >>>= 8;
      nbits -= 8;
    }
  }
  if (nbits > 0) dst[o] = acc & 0xff;
  return dst;
}

/**
 * Unpack `n` codes of `w` bits from the bitstream (inverse of {@link packCodes}).
 *
 * @example
 * ```ts
 * unpackCodes(new Uint8Array([0x21, 0x03]), 4, 3); // Uint16Array [1, 2, 3]
 * ```
 */
export function unpackCodes(bytes: Uint8Array, w: number, n: number, out?: Uint16Array): Uint16Array {
  checkWidth(w, 'unpackCodes');
  const nb = packedBytes(n, w);
  check(
    bytes.length >= nb,
    'E_SHAPE',
    () => `unpackCodes: ${n} codes of ${w} bits need ${nb} bytes, got ${bytes.length}`,
  );
  const dst = out ?? new Uint16Array(n);
  check(dst.length >= n, 'E_SHAPE', () => `unpackCodes: out has ${dst.length} elements, ${n} needed`);
  if (w === 8) {
    for (let i = 0; i < n; i++) dst[i] = bytes[i]!;
    return dst;
  }
  if (w === 4) {
    const pairs = n >>> 1;
    for (let j = 0; j < pairs; j++) {
      const b = bytes[j]!;
      dst[2 * j] = b & 15;
      dst[2 * j + 1] = b >>> 4;
    }
    if (n & 1) dst[n - 1] = bytes[pairs]! & 15;
    return dst;
  }
  const mask = (1 << w) - 1;
  let acc = 0;
  let nbits = 0;
  let o = 0;
  for (let i = 0; i < n; i++) {
    while (nbits < w) {
      acc |= bytes[o++]! << nbits;
      nbits += 8;
    }
    dst[i] = acc & mask;
    acc >>>= w;
    nbits -= w;
  }
  return dst;
}

/**
 * Reference twin of {@link packCodes}: sets one bit at a time.
 *
 * @example
 * ```ts
 * packCodesRef([1, 2, 3], 4); // Uint8Array [0x21, 0x03]
 * ```
 */
export function packCodesRef(codes: ArrayLike<number>, w: number): Uint8Array {
  checkWidth(w, 'packCodesRef');
  const out = new Uint8Array(packedBytes(codes.length, w));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    for (let k = 0; k < w; k++) {
      if (Math.floor(c / 2 ** k) % 2 === 1) {
        const bit = i * w + k;
        out[Math.floor(bit / 8)] = out[Math.floor(bit / 8)]! + 2 ** (bit % 8);
      }
    }
  }
  return out;
}

/**
 * Reference twin of {@link unpackCodes}: reads one bit at a time.
 *
 * @example
 * ```ts
 * unpackCodesRef(new Uint8Array([0x21, 0x03]), 4, 3); // [1, 2, 3]
 * ```
 */
export function unpackCodesRef(bytes: Uint8Array, w: number, n: number): Uint16Array {
  checkWidth(w, 'unpackCodesRef');
  check(bytes.length >= packedBytes(n, w), 'E_SHAPE', 'unpackCodesRef: not enough bytes');
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let k = 0; k < w; k++) {
      const bit = i * w + k;
      if (Math.floor(bytes[Math.floor(bit / 8)]! / 2 ** (bit % 8)) % 2 === 1) c += 2 ** k;
    }
    out[i] = c;
  }
  return out;
}
