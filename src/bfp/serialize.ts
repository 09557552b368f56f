/**
 * A versioned binary container for one {@link BlockTensor} (little-endian):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `LBFP` |
 * | 4 | 2 | version (1) |
 * | 6 | 1 | format id: 0 mxfp8_e4m3, 1 mxfp8_e5m2, 2 mxfp6_e3m2, 3 mxfp6_e2m3, 4 mxfp4, 5 mxint8, 6 bfp12, 7 bfp14, 8 bfp16, 9 bfp24, 255 `{ kind: 'bfp', mantissaBits }` |
 * | 7 | 1 | mantissaBits (format id 255; else 0) |
 * | 8 | 1 | rank r (1..32) |
 * | 9 | 1 | axis (< r) |
 * | 10 | 1 | scale rule: 0 floor, 1 ceil, 2 even, 3 rceil |
 * | 11 | 1 | reserved (0) |
 * | 12 | 4 | blockSize (u32, ≥ 1) |
 * | 16 | 4·r | dims (u32 each) |
 * | 16 + 4r | s | scale bytes (E8M0, one per block) |
 * | … | c | packed element codes |
 *
 * The total length must be exactly `16 + 4r + s + c` (both derived from the header), so nothing is
 * allocated beyond the input's size. Corruption → `E_FORMAT`; sizes above the caps → `E_LIMIT`.
 *
 * Exposed: serializeBlocks, deserializeBlocks.
 * @module
 */
import { fail } from '../common/errors.js';
import type { BlockFormat, FormatName } from './formats.js';
import { formatTraits } from './formats.js';
import { packedBytes } from './pack.js';
import { type BlockTensor, blockGeometry, type ScaleRule } from './quantize.js';

const MAGIC = [0x4c, 0x42, 0x46, 0x50]; // 'LBFP'
const VERSION = 1;
const NAMES: FormatName[] = [
  'mxfp8_e4m3',
  'mxfp8_e5m2',
  'mxfp6_e3m2',
  'mxfp6_e2m3',
  'mxfp4',
  'mxint8',
  'bfp12',
  'bfp14',
  'bfp16',
  'bfp24',
];
const RULES: ScaleRule[] = ['floor', 'ceil', 'even', 'rceil'];
/** Largest element count accepted on load (2^40). */
const MAX_ELEMENTS = 2 ** 40;

/**
 * Serialize a BlockTensor into the `LBFP` v1 container.
 *
 * @example
 * ```ts
 * const bytes = serializeBlocks(quantizeBlocks(x, { format: 'mxfp4' }));
 * const back = deserializeBlocks(bytes); // same fields
 * ```
 */
export function serializeBlocks(b: BlockTensor): Uint8Array {
  const t = formatTraits(b.format);
  const id = typeof b.format === 'string' ? NAMES.indexOf(b.format) : 255;
  const r = b.shape.length;
  if (r < 1 || r > 32) fail('E_SHAPE', `serializeBlocks: rank must be 1..32, got ${r}`);
  const g = blockGeometry(b.shape, b.axis, b.blockSize, 'serializeBlocks');
  const n = b.shape.reduce((p, d) => p * d, 1);
  const ns = g.outer * g.nb * g.inner;
  const nc = packedBytes(n, t.elementBits);
  if (b.scales.length !== ns || b.codes.length !== nc)
    fail(
      'E_SHAPE',
      `serializeBlocks: expected ${ns} scale and ${nc} code bytes, got ${b.scales.length} and ${b.codes.length}`,
    );
  const rule = RULES.indexOf(b.scaleRule ?? 'floor');
  if (rule < 0) fail('E_CONFIG', `serializeBlocks: unknown scaleRule ${JSON.stringify(b.scaleRule)}`);
  for (const d of b.shape)
    if (d > 0xffffffff) fail('E_LIMIT', `serializeBlocks: dimension ${d} does not fit in 32 bits`);
  if (b.blockSize > 0xffffffff) fail('E_LIMIT', `serializeBlocks: blockSize ${b.blockSize} does not fit in 32 bits`);
  const head = 16 + 4 * r;
  const out = new Uint8Array(head + ns + nc);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint16(4, VERSION, true);
  out[6] = id;
  out[7] = id === 255 ? t.elementBits : 0;
  out[8] = r;
  out[9] = g.axis;
  out[10] = rule;
  dv.setUint32(12, b.blockSize, true);
  for (let i = 0; i < r; i++) dv.setUint32(16 + 4 * i, b.shape[i]!, true);
  out.set(b.scales, head);
  out.set(b.codes, head + ns);
  return out;
}

/**
 * Parse an `LBFP` container (copies the scale and code bytes). Throws `E_FORMAT` on a bad magic,
 * unsupported version, unknown format or rule, inconsistent header or wrong total length, and
 * `E_LIMIT` for an element count above 2^40.
 *
 * @example
 * ```ts
 * const b = deserializeBlocks(readFileSync('k.lbfp'));
 * const k = dequantizeBlocks(b);
 * ```
 */
export function deserializeBlocks(bytes: Uint8Array): BlockTensor {
  if (!(bytes instanceof Uint8Array)) fail('E_FORMAT', 'deserializeBlocks: expected a Uint8Array');
  if (bytes.length < 16)
    fail('E_FORMAT', `deserializeBlocks: ${bytes.length} bytes is shorter than the 16-byte header`);
  for (let i = 0; i < 4; i++)
    if (bytes[i] !== MAGIC[i]) fail('E_FORMAT', 'deserializeBlocks: bad magic (expected "LBFP")');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(4, true);
  if (version !== VERSION) fail('E_FORMAT', `deserializeBlocks: unsupported version ${version} (expected ${VERSION})`);
  const id = bytes[6]!;
  let format: BlockFormat;
  if (id === 255) {
    const p = bytes[7]!;
    if (p < 2 || p > 16) fail('E_FORMAT', `deserializeBlocks: bfp mantissaBits ${p} outside 2..16`);
    format = Object.freeze({ kind: 'bfp', mantissaBits: p });
  } else {
    const name = NAMES[id];
    if (name === undefined || bytes[7] !== 0) fail('E_FORMAT', `deserializeBlocks: unknown format id ${id}`);
    format = name;
  }
  const t = formatTraits(format);
  const r = bytes[8]!;
  const axis = bytes[9]!;
  const rule = RULES[bytes[10]!];
  if (r < 1 || r > 32) fail('E_FORMAT', `deserializeBlocks: rank ${r} outside 1..32`);
  if (axis >= r) fail('E_FORMAT', `deserializeBlocks: axis ${axis} out of range for rank ${r}`);
  if (rule === undefined || bytes[11] !== 0)
    fail('E_FORMAT', `deserializeBlocks: bad scale rule ${bytes[10]} or reserved byte`);
  const blockSize = dv.getUint32(12, true);
  if (blockSize < 1) fail('E_FORMAT', 'deserializeBlocks: blockSize 0');
  const head = 16 + 4 * r;
  if (bytes.length < head) fail('E_FORMAT', `deserializeBlocks: truncated header (${bytes.length} < ${head} bytes)`);
  const shape: number[] = [];
  let n = 1;
  for (let i = 0; i < r; i++) {
    const d = dv.getUint32(16 + 4 * i, true);
    shape.push(d);
    n *= d;
    if (n > MAX_ELEMENTS) fail('E_LIMIT', `deserializeBlocks: element count exceeds 2^40`);
  }
  const g = blockGeometry(shape, axis, blockSize, 'deserializeBlocks');
  const ns = g.outer * g.nb * g.inner;
  const nc = packedBytes(n, t.elementBits);
  if (bytes.length !== head + ns + nc)
    fail(
      'E_FORMAT',
      `deserializeBlocks: expected ${head + ns + nc} bytes for shape [${shape.join(', ')}], got ${bytes.length}`,
    );
  const scales = bytes.slice(head, head + ns);
  const codes = bytes.slice(head + ns);
  return {
    format,
    shape: Object.freeze(shape),
    axis,
    blockSize,
    scaleShape: Object.freeze(g.scaleShape),
    scales,
    codes,
    storageBits: n * t.elementBits + 8 * ns,
    scaleRule: rule,
  };
}
