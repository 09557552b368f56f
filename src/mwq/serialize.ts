/**
 * Versioned, prefix-readable binary form of a {@link NestedWeights} (format `LBMW` v1, little-endian).
 *
 * ```
 * offset size  field
 * 0      4     magic "LBMW"
 * 4      2     u16 version (1)
 * 6      1     u8 scheme (0 matquant, 1 truncate, 2 residual)
 * 7      1     u8 variant (0 trunc-mid, 1 trunc, 2 round-clamp, 3 round-noclamp, 4 residual)
 * 8      1     u8 bits     9  1  u8 baseBits   10  1  u8 base (0 minmax, 1 midrise)   11  1  u8 0
 * 12     4     u32 out     16 4  u32 in        20  4  u32 groupSize
 * 24     4     u32 checksum: FNV-1a (32-bit, per u32 word) over every word of the blob except this one
 * 28     4     u32 total byte length
 * 32     …     slicing:  scales f32[groups] | zeros f32[groups] | plane 0 | … | plane bits−1
 *              residual: scales f32[groups] | zeros f32[groups] | base planes 0..b₁−1 |
 *                        s f32[groups] | plane b₁ | s f32[groups] | plane b₁+1 | …
 * ```
 * Each plane is ⌈out·in/32⌉ u32 words. The bytes a level reads (`bytesRead(r)`) are a prefix of the
 * payload. Loading checks magic, version, every field, the exact length (no allocation beyond the input
 * size), the checksum and the decoded data (`E_FORMAT` on any failure).
 *
 * Exposed: none directly (`NestedWeights.serialize` / `NestedWeights.deserialize`).
 * Internal: encodeNested, decodeNested, MWQ_FORMAT_VERSION.
 * @module
 */
import { fail } from '../common/errors.js';
import type { NestedScheme, ResidualBase } from './config.js';
import { checkNestedData, type NestedData } from './nested.js';
import type { SliceVariant } from './slice.js';

/** Current format version. Internal. */
export const MWQ_FORMAT_VERSION = 1;
const HEADER = 32;
const MAGIC = [0x4c, 0x42, 0x4d, 0x57]; // "LBMW"
const SCHEMES: readonly NestedScheme[] = ['matquant', 'truncate', 'residual'];
const VARIANTS: readonly (SliceVariant | 'residual')[] = [
  'trunc-mid',
  'trunc',
  'round-clamp',
  'round-noclamp',
  'residual',
];
const BASES: readonly ResidualBase[] = ['minmax', 'midrise'];

function checksum(words: DataView, skipWord: number): number {
  let h = 0x811c9dc5;
  const nw = words.byteLength >>> 2;
  for (let i = 0; i < nw; i++) {
    if (i === skipWord) continue;
    h = Math.imul(h ^ words.getUint32(i * 4, true), 0x01000193);
  }
  return h >>> 0;
}

function layout(d: {
  bits: number;
  baseBits: number;
  rows: number;
  cols: number;
  groupSize: number;
  scheme: NestedScheme;
}): { W: number; nG: number; total: number } {
  const n = d.rows * d.cols;
  const W = Math.ceil(n / 32);
  const nG = n / d.groupSize;
  const nL = d.scheme === 'residual' ? d.bits - d.baseBits : 0;
  return { W, nG, total: HEADER + 8 * nG + 4 * d.bits * W + 4 * nL * nG };
}

/** Serialize. Internal (see `NestedWeights.serialize`). */
export function encodeNested(d: NestedData): Uint8Array {
  const { W, nG, total } = layout(d);
  if (total > 0xffffffff) fail('E_LIMIT', `serialize: blob of ${total} bytes exceeds the 4 GiB format limit`);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint16(4, MWQ_FORMAT_VERSION, true);
  dv.setUint8(6, SCHEMES.indexOf(d.scheme));
  dv.setUint8(7, VARIANTS.indexOf(d.variant));
  dv.setUint8(8, d.bits);
  dv.setUint8(9, d.baseBits);
  dv.setUint8(10, BASES.indexOf(d.base));
  dv.setUint32(12, d.rows, true);
  dv.setUint32(16, d.cols, true);
  dv.setUint32(20, d.groupSize, true);
  dv.setUint32(28, total, true);
  let off = HEADER;
  const putF32 = (a: Float32Array, from: number, count: number): void => {
    for (let i = 0; i < count; i++, off += 4) dv.setFloat32(off, a[from + i]!, true);
  };
  const putPlane = (p: number): void => {
    for (let i = 0; i < W; i++, off += 4) dv.setUint32(off, d.planes[p * W + i]!, true);
  };
  putF32(d.scales, 0, nG);
  putF32(d.zeros, 0, nG);
  if (d.scheme !== 'residual') for (let p = 0; p < d.bits; p++) putPlane(p);
  else {
    for (let p = 0; p < d.baseBits; p++) putPlane(p);
    for (let L = 0; L < d.bits - d.baseBits; L++) {
      putF32(d.levelScales, L * nG, nG);
      putPlane(d.baseBits + L);
    }
  }
  dv.setUint32(24, checksum(dv, 6), true);
  return out;
}

/** Deserialize and validate. Internal (see `NestedWeights.deserialize`). */
export function decodeNested(bytes: Uint8Array): NestedData {
  const bad = (m: string): never => fail('E_FORMAT', `deserialize: ${m}`);
  if (!(bytes instanceof Uint8Array)) fail('E_FORMAT', 'deserialize: expected a Uint8Array');
  if (bytes.length < HEADER) bad(`${bytes.length} bytes is shorter than the ${HEADER}-byte header`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) bad('bad magic (expected "LBMW")');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(4, true);
  if (version !== MWQ_FORMAT_VERSION) bad(`unsupported version ${version} (this build reads ${MWQ_FORMAT_VERSION})`);
  const scheme = SCHEMES[dv.getUint8(6)] ?? bad(`unknown scheme id ${dv.getUint8(6)}`);
  const variant = VARIANTS[dv.getUint8(7)] ?? bad(`unknown variant id ${dv.getUint8(7)}`);
  const bits = dv.getUint8(8);
  const baseBits = dv.getUint8(9);
  const base = BASES[dv.getUint8(10)] ?? bad(`unknown base id ${dv.getUint8(10)}`);
  if (dv.getUint8(11) !== 0) bad('reserved byte 11 is not zero');
  const rows = dv.getUint32(12, true);
  const cols = dv.getUint32(16, true);
  const groupSize = dv.getUint32(20, true);
  if (bits < 2 || bits > 8) bad(`bits ${bits} outside 2..8`);
  if (baseBits < 2 || baseBits > bits) bad(`baseBits ${baseBits} outside 2..${bits}`);
  if (rows < 1 || cols < 1 || groupSize < 1 || cols % groupSize !== 0)
    bad(`bad dimensions out=${rows} in=${cols} groupSize=${groupSize}`);
  const { W, nG, total } = layout({ bits, baseBits, rows, cols, groupSize, scheme });
  if (dv.getUint32(28, true) !== total)
    bad(`header length ${dv.getUint32(28, true)} does not match the computed ${total}`);
  if (bytes.length !== total)
    bad(`blob has ${bytes.length} bytes, the header describes ${total} (truncated or padded)`);
  if (checksum(dv, 6) !== dv.getUint32(24, true)) bad('checksum mismatch (corrupt data)');
  const planes = new Uint32Array(bits * W);
  const scales = new Float32Array(nG);
  const zeros = new Float32Array(nG);
  const nL = scheme === 'residual' ? bits - baseBits : 0;
  const levelScales = new Float32Array(nL * nG);
  let off = HEADER;
  const getF32 = (a: Float32Array, from: number, count: number): void => {
    for (let i = 0; i < count; i++, off += 4) a[from + i] = dv.getFloat32(off, true);
  };
  const getPlane = (p: number): void => {
    for (let i = 0; i < W; i++, off += 4) planes[p * W + i] = dv.getUint32(off, true);
  };
  getF32(scales, 0, nG);
  getF32(zeros, 0, nG);
  if (scheme !== 'residual') for (let p = 0; p < bits; p++) getPlane(p);
  else {
    for (let p = 0; p < baseBits; p++) getPlane(p);
    for (let L = 0; L < nL; L++) {
      getF32(levelScales, L * nG, nG);
      getPlane(baseBits + L);
    }
  }
  const d: NestedData = {
    scheme,
    variant,
    base,
    bits,
    baseBits,
    groupSize,
    rows,
    cols,
    planes,
    scales,
    zeros,
    levelScales,
  };
  checkNestedData(d, 'E_FORMAT', 'deserialize');
  return d;
}
