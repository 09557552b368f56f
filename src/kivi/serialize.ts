/**
 * Versioned binary format of a KiviCache (little-endian), checked on load:
 *
 * | offset | field |
 * |---|---|
 * | 0 | magic `KIVC` (4 bytes) |
 * | 4 | u32 version (= 1) |
 * | 8 | u16 header bytes (= 64) · 10 u16 flags (bit 0: allowGroupStraddle; other bits must be 0) |
 * | 12 | u32 kvHeads · 16 u32 headDim |
 * | 20 | u8 keyBits · u8 valueBits · u8 flushOrder (0 before, 1 after) · u8 scaleDtype (0 f32, 1 f16) |
 * | 24 | u32 key group size · 28 u32 value group size · 32 u32 residualLength · 36 u32 key blocks |
 * | 40 | f64 length T · 48 f64 quantized values |
 * | 56 | u32 residual keys rK · 60 u32 residual values rV |
 * | 64 | u32 CRC-32 (IEEE) of bytes 0–63, 68–71 and the payload (everything but itself) · 68 u32 reserved (0) |
 * | 72 | payload |
 *
 * Payload: per key block codes `[H, R/fk, D]` u32, scales and mins `[H, R/G, D]` (f32 or f16); value
 * codes `[Tvq, H, D/fv]` u32, scales, mins `[Tvq, H, D/G]`; residual keys `[H, rK, D]` f32; residual
 * values `[rV, H, D]` f32 (oldest first). On load: magic, version, config constraints, the residual
 * sizes implied by T and the flush order, the exact byte length (before any allocation), the CRC and
 * the finiteness of scales/mins/residuals are checked; any failure is `E_FORMAT`.
 *
 * Internal module: encodeState, decodeState, crc32.
 * @module
 */
import { fail, isLowbitError } from '../common/errors.js';
import { f16BitsToF32, f32ToF16Bits } from '../common/half.js';
import { type NormalizedCacheConfig, normalizeCacheConfig, PLAIN_ARRAYS } from './config.js';
import { type CacheState, createState, residualCounts, VALUE_CHUNK, valueRingRows } from './state.js';

const MAGIC = 0x4356494b; // 'KIVC' read as little-endian u32
const VERSION = 1;
const HEADER = 72;

let CRC_TABLE: Uint32Array | null = null;

/**
 * CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320) of a byte range; `prev` continues a CRC over a
 * preceding range (crc32(b, j, k, crc32(b, i, j)) = crc32(b, i, k)).
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, prev = 0): number {
  let table = CRC_TABLE;
  if (table === null) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    CRC_TABLE = table;
  }
  let crc = (prev ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

interface Sizes {
  blockWords: number;
  blockMeta: number;
  tokWords: number;
  tokMeta: number;
  metaBytes: number;
}

function sizes(cfg: NormalizedCacheConfig): Sizes {
  const { kvHeads: H, headDim: D, residualLength: R } = cfg;
  return {
    blockWords: (H * R * D) / (32 / cfg.keyBits),
    blockMeta: (H * R * D) / cfg.keyGroupSize,
    tokWords: (H * D) / (32 / cfg.valueBits),
    tokMeta: (H * D) / cfg.valueGroupSize,
    metaBytes: cfg.scaleDtype === 'float16' ? 2 : 4,
  };
}

function payloadBytes(cfg: NormalizedCacheConfig, nBlocks: number, vq: number, rK: number, rV: number): number {
  const z = sizes(cfg);
  const H = cfg.kvHeads;
  const D = cfg.headDim;
  return (
    nBlocks * (z.blockWords * 4 + 2 * z.blockMeta * z.metaBytes) +
    vq * (z.tokWords * 4 + 2 * z.tokMeta * z.metaBytes) +
    (rK + rV) * H * D * 4
  );
}

/** Serialize a cache state. */
export function encodeState(st: CacheState): Uint8Array {
  const cfg = st.cfg;
  const { kvHeads: H, headDim: D, residualLength: R } = cfg;
  const z = sizes(cfg);
  const f16 = cfg.scaleDtype === 'float16';
  const total = HEADER + payloadBytes(cfg, st.kBlocks.length, st.vQLen, st.kResLen, st.vResLen);
  const bytes = new Uint8Array(total);
  const dv = new DataView(bytes.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, VERSION, true);
  dv.setUint16(8, HEADER, true);
  dv.setUint16(10, cfg.allowGroupStraddle ? 1 : 0, true);
  dv.setUint32(12, H, true);
  dv.setUint32(16, D, true);
  dv.setUint8(20, cfg.keyBits);
  dv.setUint8(21, cfg.valueBits);
  dv.setUint8(22, cfg.flushOrder === 'before-attention' ? 0 : 1);
  dv.setUint8(23, f16 ? 1 : 0);
  dv.setUint32(24, cfg.keyGroupSize, true);
  dv.setUint32(28, cfg.valueGroupSize, true);
  dv.setUint32(32, R, true);
  dv.setUint32(36, st.kBlocks.length, true);
  dv.setFloat64(40, st.length, true);
  dv.setFloat64(48, st.vQLen, true);
  dv.setUint32(56, st.kResLen, true);
  dv.setUint32(60, st.vResLen, true);
  let o = HEADER;
  const u32 = (a: Uint32Array, from: number, n: number) => {
    for (let i = 0; i < n; i++, o += 4) dv.setUint32(o, a[from + i]!, true);
  };
  const f32 = (a: Float32Array, from: number, n: number) => {
    for (let i = 0; i < n; i++, o += 4) dv.setFloat32(o, a[from + i]!, true);
  };
  const meta = (a: Float32Array, from: number, n: number) => {
    if (!f16) return f32(a, from, n);
    for (let i = 0; i < n; i++, o += 2) dv.setUint16(o, f32ToF16Bits(a[from + i]!), true);
  };
  for (const b of st.kBlocks) {
    u32(b.codes, 0, z.blockWords);
    meta(b.scales, 0, z.blockMeta);
    meta(b.mins, 0, z.blockMeta);
  }
  // values, chunk by chunk (codes, then scales, then mins for all quantized tokens)
  const parts = [0, 1, 2] as const;
  for (const part of parts) {
    for (let t0 = 0; t0 < st.vQLen; t0 += VALUE_CHUNK) {
      const n = Math.min(VALUE_CHUNK, st.vQLen - t0);
      const ch = st.vChunks[t0 / VALUE_CHUNK]!;
      if (part === 0) u32(ch.codes, 0, n * z.tokWords);
      else meta(part === 1 ? ch.scales : ch.mins, 0, n * z.tokMeta);
    }
  }
  for (let h = 0; h < H; h++) f32(st.kRes, h * (R + 1) * D, st.kResLen * D);
  const ring = valueRingRows(cfg);
  for (let r = 0; r < st.vResLen; r++) f32(st.vRes, ((st.vResStart + r) % ring) * H * D, H * D);
  dv.setUint32(64, checksum(bytes, total), true);
  return bytes;
}

function bad(msg: string): never {
  fail('E_FORMAT', `KiviCache.deserialize: ${msg}`);
}

/** CRC of the whole blob except the CRC field itself (bytes 64–67), so header flags are covered too. */
function checksum(bytes: Uint8Array, total: number): number {
  return crc32(bytes, 68, total, crc32(bytes, 0, 64));
}

/** Parse and validate a serialized cache. Never mutates `bytes`. */
export function decodeState(bytes: Uint8Array): CacheState {
  if (!(bytes instanceof Uint8Array)) fail('E_FORMAT', 'KiviCache.deserialize: expected a Uint8Array');
  if (bytes.length < HEADER) bad(`${bytes.length} bytes is shorter than the ${HEADER}-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) bad('bad magic (expected "KIVC")');
  const version = dv.getUint32(4, true);
  if (version !== VERSION) bad(`unsupported version ${version} (this build reads version ${VERSION})`);
  if (dv.getUint16(8, true) !== HEADER) bad('bad header length');
  const flags = dv.getUint16(10, true);
  if (flags > 1) bad(`unknown flags 0x${flags.toString(16)}`);
  const codeOf = (b: number) => (b === 2 || b === 4 || b === 8 ? b : bad(`bad bit width ${b}`));
  const fo = dv.getUint8(22);
  const sd = dv.getUint8(23);
  if (fo > 1) bad(`bad flush order ${fo}`);
  if (sd > 1) bad(`bad scale dtype ${sd}`);
  let cfg: NormalizedCacheConfig;
  try {
    cfg = normalizeCacheConfig({
      kvHeads: dv.getUint32(12, true),
      headDim: dv.getUint32(16, true),
      keyBits: codeOf(dv.getUint8(20)),
      valueBits: codeOf(dv.getUint8(21)),
      keyGroupSize: dv.getUint32(24, true),
      valueGroupSize: dv.getUint32(28, true),
      residualLength: dv.getUint32(32, true),
      flushOrder: fo === 0 ? 'before-attention' : 'after-attention',
      scaleDtype: sd === 0 ? 'float32' : 'float16',
      allowGroupStraddle: flags === 1,
    });
  } catch (e) {
    if (isLowbitError(e)) bad(`bad configuration: ${e.message}`);
    throw e;
  }
  const { kvHeads: H, headDim: D, residualLength: R } = cfg;
  // Bound the residual buffers before allocating them (they exist even for an empty cache).
  if ((R + 2) * H * D * 4 > bytes.length * 64 + 2 ** 28)
    bad(`residual buffers for H=${H}, D=${D}, R=${R} are implausibly large for a ${bytes.length}-byte blob`);
  const nBlocks = dv.getUint32(36, true);
  const T = dv.getFloat64(40, true);
  const vq = dv.getFloat64(48, true);
  const rK = dv.getUint32(56, true);
  const rV = dv.getUint32(60, true);
  if (dv.getUint32(68, true) !== 0) bad('reserved header field is not 0');
  if (!Number.isSafeInteger(T) || T < 0) bad(`bad length ${T}`);
  if (!Number.isSafeInteger(vq) || vq < 0) bad(`bad quantized value count ${vq}`);
  const want = residualCounts(R, T, cfg.flushOrder);
  if (rK !== want.rK || rV !== want.rV || nBlocks * R + rK !== T || vq + rV !== T)
    bad(`inconsistent counts: T=${T}, key blocks=${nBlocks}, rK=${rK}, quantized values=${vq}, rV=${rV}`);
  const expected = HEADER + payloadBytes(cfg, nBlocks, vq, rK, rV);
  if (expected !== bytes.length) bad(`expected ${expected} bytes for this header, got ${bytes.length}`);
  const crc = dv.getUint32(64, true);
  if (checksum(bytes, bytes.length) !== crc) bad('checksum mismatch (corrupt data)');

  const st = createState(cfg, PLAIN_ARRAYS);
  const z = sizes(cfg);
  const f16 = cfg.scaleDtype === 'float16';
  let o = HEADER;
  const u32 = (a: Uint32Array, from: number, n: number) => {
    for (let i = 0; i < n; i++, o += 4) a[from + i] = dv.getUint32(o, true);
  };
  const f32 = (a: Float32Array, from: number, n: number, what: string, nonNeg = false) => {
    for (let i = 0; i < n; i++, o += 4) {
      const v = dv.getFloat32(o, true);
      if (!Number.isFinite(v) || (nonNeg && v < 0)) bad(`${what} value ${v} is not allowed`);
      a[from + i] = v;
    }
  };
  const meta = (a: Float32Array, from: number, n: number, what: string, nonNeg: boolean) => {
    if (!f16) return f32(a, from, n, what, nonNeg);
    for (let i = 0; i < n; i++, o += 2) {
      const v = f16BitsToF32(dv.getUint16(o, true));
      if (!Number.isFinite(v) || (nonNeg && v < 0)) bad(`${what} value ${v} is not allowed`);
      a[from + i] = v;
    }
  };
  for (let b = 0; b < nBlocks; b++) {
    const blk = {
      codes: new Uint32Array(z.blockWords),
      scales: new Float32Array(z.blockMeta),
      mins: new Float32Array(z.blockMeta),
    };
    u32(blk.codes, 0, z.blockWords);
    meta(blk.scales, 0, z.blockMeta, 'key scale', true);
    meta(blk.mins, 0, z.blockMeta, 'key min', false);
    st.kBlocks.push(blk);
  }
  for (let t0 = 0; t0 < vq; t0 += VALUE_CHUNK) {
    const n = VALUE_CHUNK * H * D;
    st.vChunks.push({
      codes: new Uint32Array(n / (32 / cfg.valueBits)),
      scales: new Float32Array(n / cfg.valueGroupSize),
      mins: new Float32Array(n / cfg.valueGroupSize),
    });
  }
  for (const part of [0, 1, 2] as const) {
    for (let t0 = 0; t0 < vq; t0 += VALUE_CHUNK) {
      const n = Math.min(VALUE_CHUNK, vq - t0);
      const ch = st.vChunks[t0 / VALUE_CHUNK]!;
      if (part === 0) u32(ch.codes, 0, n * z.tokWords);
      else if (part === 1) meta(ch.scales, 0, n * z.tokMeta, 'value scale', true);
      else meta(ch.mins, 0, n * z.tokMeta, 'value min', false);
    }
  }
  for (let h = 0; h < H; h++) f32(st.kRes, h * (R + 1) * D, rK * D, 'residual key');
  const ring = valueRingRows(cfg);
  st.vResStart = vq % ring;
  for (let r = 0; r < rV; r++) f32(st.vRes, ((st.vResStart + r) % ring) * H * D, H * D, 'residual value');
  st.length = T;
  st.kResLen = rK;
  st.vQLen = vq;
  st.vResLen = rV;
  return st;
}
