/**
 * A small, hardened ZIP reader and writer for `.npz` (Node only: inflates with `node:zlib`).
 *
 * Reader: finds the end-of-central-directory record (scanning back over at most 22 + 65 535 bytes),
 * follows the zip64 locator and record when present, walks the central directory (sizes and offsets
 * from the zip64 extra field when a 32-bit field is 0xFFFFFFFF), and takes each entry's data offset from
 * its **local** header (whose name and extra lengths differ from the central ones; NumPy forces zip64
 * extras into local headers). Methods: 0 (stored) and 8 (deflate). Rejected with `E_FORMAT`: encrypted
 * entries (flag bit 0), other methods, multi-disk archives, duplicate names, entries overlapping each
 * other or the central directory, a local header whose name differs from the central one, and CRC-32
 * mismatches. Flag bit 3 (data descriptor) → the central sizes are trusted. Every offset and length is
 * checked against the source size before anything is read or allocated; a deflate entry may not claim
 * more than 1032× its compressed size (deflate's maximum ratio).
 *
 * Writer: plain (non-zip64) archives, DOS date 1980-01-01, UTF-8 names (flag bit 11 when non-ASCII),
 * stored or deflated; `E_LIMIT` past the 32-bit limits (4 GiB, 65 535 entries).
 *
 * Exposed (internal to lowbit/io): ZipEntry, readZipDirectory, readZipEntry, readZipEntryPrefix, writeZip, crc32,
 * crc32Ref.
 * @module
 */
import * as zlib from 'node:zlib';
import { check, fail } from '../errors.js';
import type { ByteSource } from './source.js';

/** One entry of a ZIP central directory, validated against the source. */
export interface ZipEntry {
  readonly name: string;
  readonly method: 0 | 8;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  /** Absolute offset of the entry's (compressed) data. */
  readonly dataOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_Z64_LOC = 0x07064b50;
const SIG_Z64_EOCD = 0x06064b50;
const SIG_CEN = 0x02014b50;
const SIG_LOC = 0x04034b50;
const MAX_DEFLATE_RATIO = 1032;
const MAX_ENTRIES = 1_000_000;

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 (IEEE) of some bytes, via `zlib.crc32` when present (Node ≥ 20.15), else a table. */
export function crc32(bytes: Uint8Array): number {
  const z = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  if (typeof z === 'function') return z(bytes) >>> 0;
  return crc32Ref(bytes);
}

/** Table-driven CRC-32, the reference twin of {@link crc32}. */
export function crc32Ref(bytes: Uint8Array): number {
  if (CRC_TABLE === undefined) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  const t = CRC_TABLE;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function u64(b: Uint8Array, o: number, what: string): number {
  const lo = u32(b, o);
  const hi = u32(b, o + 4);
  const v = hi * 0x100000000 + lo;
  if (!Number.isSafeInteger(v))
    fail('E_FORMAT', `zip: ${what} ${BigInt(hi) * 0x100000000n + BigInt(lo)} is not a safe integer`);
  return v;
}

function decodeName(raw: Uint8Array, utf8: boolean): string {
  let ascii = true;
  for (let i = 0; i < raw.length; i++) if (raw[i]! >= 0x80) ascii = false;
  if (ascii || utf8) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch (e) {
      return fail('E_FORMAT', 'zip: entry name is not valid UTF-8', e);
    }
  }
  // Legacy names without the UTF-8 flag: CP437 in the spec; decode the ASCII-compatible way (latin-1).
  return new TextDecoder('latin1').decode(raw);
}

/**
 * Read and validate a ZIP central directory (and every local header). Throws `E_FORMAT` for anything
 * corrupt or unsupported, `E_LIMIT` for more than 1 000 000 entries.
 *
 * @example
 * ```ts
 * const entries = readZipDirectory(memorySource(bytes));
 * const data = readZipEntry(memorySource(bytes), entries[0]!);
 * ```
 */
export function readZipDirectory(src: ByteSource): ZipEntry[] {
  const size = src.size;
  if (size < 22) fail('E_FORMAT', `zip: ${size}-byte file is too short for an end-of-central-directory record`);
  const tailLen = Math.min(size, 22 + 0xffff);
  const tailStart = size - tailLen;
  const tail = src.read(tailStart, tailLen);
  let eocd = -1;
  for (let p = tailLen - 22; p >= 0; p--) {
    if (u32(tail, p) === SIG_EOCD && p + 22 + u16(tail, p + 20) === tailLen) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail('E_FORMAT', 'zip: end-of-central-directory record not found (not a zip/npz file, or truncated)');
  const eocdAbs = tailStart + eocd;
  const diskNo = u16(tail, eocd + 4);
  const cdDisk = u16(tail, eocd + 6);
  let countDisk = u16(tail, eocd + 8);
  let count = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  let cdEndLimit = eocdAbs;
  if (eocdAbs >= 20 && u32(src.read(eocdAbs - 20, 20), 0) === SIG_Z64_LOC) {
    const loc = src.read(eocdAbs - 20, 20);
    if (u32(loc, 4) !== 0 || u32(loc, 16) > 1) fail('E_FORMAT', 'zip: multi-disk zip64 archives are not supported');
    const z64Off = u64(loc, 8, 'zip64 end-of-directory offset');
    if (z64Off + 56 > eocdAbs - 20) fail('E_FORMAT', `zip: zip64 end-of-directory offset ${z64Off} is out of range`);
    const z = src.read(z64Off, 56);
    if (u32(z, 0) !== SIG_Z64_EOCD) fail('E_FORMAT', 'zip: zip64 end-of-directory record signature mismatch');
    if (u32(z, 16) !== 0 || u32(z, 20) !== 0) fail('E_FORMAT', 'zip: multi-disk archives are not supported');
    countDisk = u64(z, 24, 'zip64 entry count');
    count = u64(z, 32, 'zip64 entry count');
    cdSize = u64(z, 40, 'zip64 directory size');
    cdOffset = u64(z, 48, 'zip64 directory offset');
    cdEndLimit = z64Off;
  } else if (diskNo !== 0 || cdDisk !== 0) {
    fail('E_FORMAT', 'zip: multi-disk archives are not supported');
  }
  if (countDisk !== count) fail('E_FORMAT', 'zip: multi-disk archives are not supported');
  if (count > MAX_ENTRIES) fail('E_LIMIT', `zip: ${count} entries exceed the cap of ${MAX_ENTRIES}`);
  if (cdOffset + cdSize > cdEndLimit)
    fail('E_FORMAT', `zip: central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record`);
  if (count * 46 > cdSize) fail('E_FORMAT', `zip: ${count} entries cannot fit in a ${cdSize}-byte central directory`);
  const cd = src.read(cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdSize) fail('E_FORMAT', `zip: central directory entry ${k} is truncated`);
    if (u32(cd, p) !== SIG_CEN) fail('E_FORMAT', `zip: central directory entry ${k} has a bad signature`);
    const flags = u16(cd, p + 8);
    const method = u16(cd, p + 10);
    const crc = u32(cd, p + 16);
    let csize = u32(cd, p + 20);
    let usize = u32(cd, p + 24);
    const nameLen = u16(cd, p + 28);
    const extraLen = u16(cd, p + 30);
    const commentLen = u16(cd, p + 32);
    const disk = u16(cd, p + 34);
    let local = u32(cd, p + 42);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdSize) fail('E_FORMAT', `zip: central directory entry ${k} runs past the directory`);
    const nameRaw = cd.subarray(p + 46, p + 46 + nameLen);
    const name = decodeName(nameRaw, (flags & 0x800) !== 0);
    // zip64 extra: the 64-bit fields present are those whose 32-bit field is 0xFFFFFFFF, in this order.
    let q = p + 46 + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = u16(cd, q);
      const len = u16(cd, q + 2);
      if (q + 4 + len > extraEnd) fail('E_FORMAT', `zip: extra field of entry ${JSON.stringify(name)} is truncated`);
      if (id === 0x0001) {
        let r = q + 4;
        const need = (usize === 0xffffffff ? 8 : 0) + (csize === 0xffffffff ? 8 : 0) + (local === 0xffffffff ? 8 : 0);
        if (need > len) fail('E_FORMAT', `zip: zip64 extra field of ${JSON.stringify(name)} is too short`);
        if (usize === 0xffffffff) {
          usize = u64(cd, r, 'uncompressed size');
          r += 8;
        }
        if (csize === 0xffffffff) {
          csize = u64(cd, r, 'compressed size');
          r += 8;
        }
        if (local === 0xffffffff) local = u64(cd, r, 'local header offset');
      }
      q += 4 + len;
    }
    if (flags & 1) fail('E_FORMAT', `zip: entry ${JSON.stringify(name)} is encrypted`);
    if (method !== 0 && method !== 8)
      fail(
        'E_FORMAT',
        `zip: entry ${JSON.stringify(name)} uses compression method ${method}, expected 0 (stored) or 8 (deflate)`,
      );
    if (disk !== 0 && disk !== 0xffff) fail('E_FORMAT', 'zip: multi-disk archives are not supported');
    if (seen.has(name)) fail('E_FORMAT', `zip: duplicate entry name ${JSON.stringify(name)}`);
    seen.add(name);
    if (method === 0 && csize !== usize)
      fail('E_FORMAT', `zip: stored entry ${JSON.stringify(name)} has compressed size ${csize} != size ${usize}`);
    if (method === 8 && usize > csize * MAX_DEFLATE_RATIO + 64)
      fail(
        'E_FORMAT',
        `zip: deflate entry ${JSON.stringify(name)} claims ${usize} bytes from ${csize}, beyond deflate's ratio`,
      );
    // Local header: its own name and extra lengths.
    if (local + 30 > cdOffset)
      fail('E_FORMAT', `zip: local header of ${JSON.stringify(name)} at ${local} is out of range`);
    const lh = src.read(local, 30);
    if (u32(lh, 0) !== SIG_LOC) fail('E_FORMAT', `zip: local header of ${JSON.stringify(name)} has a bad signature`);
    const lNameLen = u16(lh, 26);
    const lExtraLen = u16(lh, 28);
    const dataOffset = local + 30 + lNameLen + lExtraLen;
    if (dataOffset + csize > cdOffset)
      fail(
        'E_FORMAT',
        `zip: data of ${JSON.stringify(name)} [${dataOffset}, ${dataOffset + csize}) overlaps the central directory or runs past the file`,
      );
    const lName = src.read(local + 30, lNameLen);
    let same = lNameLen === nameLen;
    for (let i = 0; same && i < nameLen; i++) same = lName[i] === nameRaw[i];
    if (!same) fail('E_FORMAT', `zip: local header name differs from the central name ${JSON.stringify(name)}`);
    entries.push(
      Object.freeze({
        name,
        method: method as 0 | 8,
        flags,
        crc32: crc,
        compressedSize: csize,
        uncompressedSize: usize,
        localHeaderOffset: local,
        dataOffset,
      }),
    );
    p = end;
  }
  // No two entries may overlap (header + data).
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (prev.dataOffset + prev.compressedSize > cur.localHeaderOffset)
      fail('E_FORMAT', `zip: entries ${JSON.stringify(prev.name)} and ${JSON.stringify(cur.name)} overlap`);
  }
  return entries;
}

/**
 * Read, decompress and CRC-check one entry's bytes. Allocates at most the declared size.
 *
 * @example
 * ```ts
 * const bytes = readZipEntry(src, entries[0]!);
 * ```
 */
export function readZipEntry(src: ByteSource, e: ZipEntry): Uint8Array {
  const comp = src.read(e.dataOffset, e.compressedSize);
  let data: Uint8Array;
  if (e.method === 0) {
    data = comp;
  } else {
    let out: Buffer;
    try {
      out = zlib.inflateRawSync(comp, { maxOutputLength: Math.max(1, e.uncompressedSize) });
    } catch (err) {
      return fail(
        'E_FORMAT',
        `zip: entry ${JSON.stringify(e.name)}: deflate data is corrupt or longer than its declared ${e.uncompressedSize} bytes`,
        err,
      );
    }
    data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  check(
    data.length === e.uncompressedSize,
    'E_FORMAT',
    () => `zip: entry ${JSON.stringify(e.name)} has ${data.length} bytes, its header says ${e.uncompressedSize}`,
  );
  const c = crc32(data);
  check(
    c === e.crc32,
    'E_FORMAT',
    () =>
      `zip: CRC-32 mismatch in ${JSON.stringify(e.name)}: computed ${c.toString(16)}, stored ${e.crc32.toString(16)}`,
  );
  return data;
}

/**
 * The first bytes of an entry (at least `min(want, uncompressedSize)` of them; not CRC-checked): reads
 * the stored bytes, or inflates a growing prefix of the compressed stream. Used to reach a `.npy` header
 * without inflating the whole entry.
 *
 * @example
 * ```ts
 * const head = readZipEntryPrefix(src, entry, 128);
 * ```
 */
export function readZipEntryPrefix(src: ByteSource, e: ZipEntry, want: number): Uint8Array {
  const goal = Math.min(want, e.uncompressedSize);
  if (e.method === 0) return src.read(e.dataOffset, goal);
  let k = Math.min(e.compressedSize, 4096);
  for (;;) {
    let out: Buffer;
    try {
      out = zlib.inflateRawSync(src.read(e.dataOffset, k), {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        maxOutputLength: Math.max(1, e.uncompressedSize),
      });
    } catch (err) {
      return fail(
        'E_FORMAT',
        `zip: entry ${JSON.stringify(e.name)}: deflate data is corrupt or longer than its declared ${e.uncompressedSize} bytes`,
        err,
      );
    }
    if (out.length >= goal || k >= e.compressedSize) return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    k = Math.min(e.compressedSize, k * 4);
  }
}

/**
 * Write a ZIP archive of the given entries (stored, or raw-deflated when `compress`).
 *
 * @example
 * ```ts
 * const zip = writeZip([{ name: 'a.npy', data: serializeNpy(t) }], { compress: true });
 * ```
 */
export function writeZip(
  entries: readonly { name: string; data: Uint8Array }[],
  options: { compress?: boolean } = {},
): Uint8Array {
  if (entries.length > 0xffff)
    fail('E_LIMIT', `zip: ${entries.length} entries exceed the 65 535 of a non-zip64 archive`);
  const enc = new TextEncoder();
  const parts: {
    name: Uint8Array;
    utf8: boolean;
    method: number;
    crc: number;
    usize: number;
    body: Uint8Array;
    offset: number;
  }[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (const { name, data } of entries) {
    check(typeof name === 'string' && name.length > 0, 'E_CONFIG', 'zip: entry names must be non-empty strings');
    check(!names.has(name), 'E_CONFIG', () => `zip: duplicate entry name ${JSON.stringify(name)}`);
    names.add(name);
    const nb = enc.encode(name);
    check(nb.length <= 0xffff, 'E_LIMIT', 'zip: entry name longer than 65 535 bytes');
    let method = 0;
    let body = data;
    if (options.compress) {
      const z = zlib.deflateRawSync(data);
      body = new Uint8Array(z.buffer, z.byteOffset, z.byteLength);
      method = 8;
    }
    const utf8 = nb.length !== name.length || /[^\x20-\x7e]/.test(name);
    parts.push({ name: nb, utf8, method, crc: crc32(data), usize: data.length, body, offset });
    offset += 30 + nb.length + body.length;
  }
  let cdSize = 0;
  for (const p of parts) cdSize += 46 + p.name.length;
  const total = offset + cdSize + 22;
  if (offset + cdSize > 0xfffffffe)
    fail('E_LIMIT', 'zip: archive above 4 GiB needs zip64, which the writer does not produce');
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  for (const p of parts) {
    const o = p.offset;
    dv.setUint32(o, SIG_LOC, true);
    dv.setUint16(o + 4, p.method === 8 ? 20 : 10, true);
    dv.setUint16(o + 6, p.utf8 ? 0x800 : 0, true);
    dv.setUint16(o + 8, p.method, true);
    dv.setUint16(o + 10, 0, true); // time 00:00
    dv.setUint16(o + 12, 0x21, true); // date 1980-01-01
    dv.setUint32(o + 14, p.crc, true);
    dv.setUint32(o + 18, p.body.length, true);
    dv.setUint32(o + 22, p.usize, true);
    dv.setUint16(o + 26, p.name.length, true);
    dv.setUint16(o + 28, 0, true);
    out.set(p.name, o + 30);
    out.set(p.body, o + 30 + p.name.length);
  }
  let c = offset;
  for (const p of parts) {
    dv.setUint32(c, SIG_CEN, true);
    dv.setUint16(c + 4, 20, true); // made by: MS-DOS, 2.0
    dv.setUint16(c + 6, p.method === 8 ? 20 : 10, true);
    dv.setUint16(c + 8, p.utf8 ? 0x800 : 0, true);
    dv.setUint16(c + 10, p.method, true);
    dv.setUint16(c + 12, 0, true);
    dv.setUint16(c + 14, 0x21, true);
    dv.setUint32(c + 16, p.crc, true);
    dv.setUint32(c + 20, p.body.length, true);
    dv.setUint32(c + 24, p.usize, true);
    dv.setUint16(c + 28, p.name.length, true);
    // extra, comment, disk, internal attrs = 0; external attrs = 0; local offset:
    dv.setUint32(c + 42, p.offset, true);
    out.set(p.name, c + 46);
    c += 46 + p.name.length;
  }
  dv.setUint32(c, SIG_EOCD, true);
  dv.setUint16(c + 8, parts.length, true);
  dv.setUint16(c + 10, parts.length, true);
  dv.setUint32(c + 12, cdSize, true);
  dv.setUint32(c + 16, offset, true);
  return out;
}
