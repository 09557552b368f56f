/**
 * Element formats and their traits table: the OCP MX v1.0 element formats (E8M0 shared scale) and
 * d-Matrix block floating point with p-bit sign-magnitude integer elements (8-bit shared exponent).
 *
 * Every format is described by one {@link FormatTraits} record. An element value is
 * `P · 2^se`, where `se` is the block's shared exponent (E8M0 byte − 127) and `P` the element value:
 * - `kind: 'fp'`: sign | exponent field | mantissa field; field 0 is subnormal
 *   `mant · 2^(1 − bias − mbits)`, otherwise `(1 + mant/2^mbits) · 2^(field − bias)`;
 * - `kind: 'int'` (MXINT8): two's complement `k`, value `k / 64`; `0x80` is never produced;
 * - `kind: 'bfp'` (BFP{p+8}): sign-magnitude, sign in bit `p − 1`, value `±m / 2^(p − 2)`,
 *   `m ≤ 2^(p−1) − 1`.
 *
 * Exposed: FormatName, BfpFormat, BlockFormat, FormatTraits, FORMAT_TRAITS, formatTraits,
 * bitsPerElement, decodeElement, elementTable.
 * Internal: checkBlockSize, POW2, POW2_OFFSET, pow2, floorLog2F32Bits.
 * @module
 */
import { fail } from '../common/errors.js';

/**
 * Named formats. MX formats default to blocks of 32; BFP formats too.
 *
 * @example
 * ```ts
 * const f: FormatName = 'mxfp8_e4m3';
 * ```
 */
export type FormatName =
  | 'mxfp8_e4m3'
  | 'mxfp8_e5m2'
  | 'mxfp6_e3m2'
  | 'mxfp6_e2m3'
  | 'mxfp4'
  | 'mxint8'
  | 'bfp12'
  | 'bfp14'
  | 'bfp16'
  | 'bfp24';

/**
 * A BFP format with any element width `mantissaBits` = p in 2..16 (BFP{p+8}).
 *
 * @example
 * ```ts
 * const bfp13: BfpFormat = { kind: 'bfp', mantissaBits: 5 };
 * ```
 */
export interface BfpFormat {
  readonly kind: 'bfp';
  readonly mantissaBits: number;
}

/**
 * A format: a name or a `{ kind: 'bfp', mantissaBits }` descriptor.
 *
 * @example
 * ```ts
 * const formats: BlockFormat[] = ['mxfp4', 'bfp12', { kind: 'bfp', mantissaBits: 3 }];
 * ```
 */
export type BlockFormat = FormatName | BfpFormat;

/**
 * The traits that drive every kernel (one record per format).
 *
 * @example
 * ```ts
 * const t: FormatTraits = formatTraits('mxfp6_e3m2'); // { emax: 4, maxNormal: 28, elementBits: 6, ... }
 * ```
 */
export interface FormatTraits {
  /** Canonical name (`'bfp{p+8}'` for BFP descriptors, e.g. `'bfp10'` for p = 2). */
  readonly name: string;
  /** Element encoding family. */
  readonly kind: 'fp' | 'int' | 'bfp';
  /** Bits per element code. */
  readonly elementBits: number;
  /** Exponent field bits (0 for integer kinds). */
  readonly ebits: number;
  /** Mantissa (fraction) bits; for integer kinds the number of fraction bits of the element value. */
  readonly mbits: number;
  /** Exponent bias (0 for integer kinds). */
  readonly bias: number;
  /** Exponent of the largest element binade: the shared exponent is `floor(log2 amax) − emax`. */
  readonly emax: number;
  /** Largest finite element value. */
  readonly maxNormal: number;
  /** Smallest positive normal element value (for integer kinds: the element unit). */
  readonly minNormal: number;
  /** Smallest positive element value. */
  readonly minSubnormal: number;
  /** Magnitude code of `maxNormal` (without sign bit). */
  readonly maxCode: number;
  /** Which special codes exist: none, NaN only (E4M3 `S.1111.111`), IEEE Inf and NaN (E5M2). */
  readonly specials: 'none' | 'nan' | 'ieee';
  /** Default block size (32 everywhere). */
  readonly defaultBlockSize: number;
}

function fpTraits(name: string, ebits: number, mbits: number, specials: FormatTraits['specials']): FormatTraits {
  const bias = (1 << (ebits - 1)) - 1;
  const maxField = (1 << ebits) - 1;
  let maxCode: number;
  if (specials === 'none') maxCode = (1 << (ebits + mbits)) - 1;
  else if (specials === 'nan')
    maxCode = (1 << (ebits + mbits)) - 2; // S.1111.110
  else maxCode = ((maxField - 1) << mbits) | ((1 << mbits) - 1); // top field is Inf/NaN
  const field = maxCode >>> mbits;
  const mant = maxCode & ((1 << mbits) - 1);
  const maxNormal = (1 + mant / (1 << mbits)) * 2 ** (field - bias);
  return Object.freeze({
    name,
    kind: 'fp',
    elementBits: 1 + ebits + mbits,
    ebits,
    mbits,
    bias,
    emax: field - bias,
    maxNormal,
    minNormal: 2 ** (1 - bias),
    minSubnormal: 2 ** (1 - bias - mbits),
    maxCode,
    specials,
    defaultBlockSize: 32,
  });
}

function intTraits(name: string, kind: 'int' | 'bfp', p: number): FormatTraits {
  const fracBits = p - 2;
  const maxInt = 2 ** (p - 1) - 1;
  return Object.freeze({
    name,
    kind,
    elementBits: p,
    ebits: 0,
    mbits: fracBits,
    bias: 0,
    emax: 0,
    maxNormal: maxInt / 2 ** fracBits,
    minNormal: 2 ** -fracBits,
    minSubnormal: 2 ** -fracBits,
    maxCode: maxInt,
    specials: 'none',
    defaultBlockSize: 32,
  });
}

/**
 * The traits table of the named formats (OCP MX v1.0 §5 and d-Matrix BFP).
 *
 * | name | element | emax | max normal | bits/elem at 32 |
 * |---|---|---|---|---|
 * | mxfp8_e4m3 | E4M3, NaN only | 8 | 448 | 8.25 |
 * | mxfp8_e5m2 | E5M2, IEEE Inf/NaN | 15 | 57344 | 8.25 |
 * | mxfp6_e3m2 | E3M2 | 4 | 28 | 6.25 |
 * | mxfp6_e2m3 | E2M3 | 2 | 7.5 | 6.25 |
 * | mxfp4 | E2M1 | 2 | 6 | 4.25 |
 * | mxint8 | int8 two's complement / 64 | 0 | 127/64 | 8.25 |
 * | bfp12, bfp14, bfp16, bfp24 | p = 4, 6, 8, 16 sign-magnitude / 2^(p−2) | 0 | (2^(p−1)−1)/2^(p−2) | p + 0.25 |
 *
 * @example
 * ```ts
 * FORMAT_TRAITS.mxfp8_e4m3.maxNormal; // 448
 * FORMAT_TRAITS.bfp12.elementBits; // 4
 * ```
 */
export const FORMAT_TRAITS: Readonly<Record<FormatName, FormatTraits>> = Object.freeze({
  mxfp8_e4m3: fpTraits('mxfp8_e4m3', 4, 3, 'nan'),
  mxfp8_e5m2: fpTraits('mxfp8_e5m2', 5, 2, 'ieee'),
  mxfp6_e3m2: fpTraits('mxfp6_e3m2', 3, 2, 'none'),
  mxfp6_e2m3: fpTraits('mxfp6_e2m3', 2, 3, 'none'),
  mxfp4: fpTraits('mxfp4', 2, 1, 'none'),
  mxint8: intTraits('mxint8', 'int', 8),
  bfp12: intTraits('bfp12', 'bfp', 4),
  bfp14: intTraits('bfp14', 'bfp', 6),
  bfp16: intTraits('bfp16', 'bfp', 8),
  bfp24: intTraits('bfp24', 'bfp', 16),
});

const bfpCache = new Map<number, FormatTraits>();

/**
 * Resolve a format (name or BFP descriptor) to its traits. Throws `E_CONFIG` for an unknown name or a
 * `mantissaBits` outside 2..16.
 *
 * @example
 * ```ts
 * formatTraits('mxfp4').maxNormal; // 6
 * formatTraits({ kind: 'bfp', mantissaBits: 5 }).name; // 'bfp13'
 * ```
 */
export function formatTraits(format: BlockFormat): FormatTraits {
  if (typeof format === 'string') {
    const t = Object.hasOwn(FORMAT_TRAITS, format) ? FORMAT_TRAITS[format] : undefined;
    if (t === undefined)
      fail(
        'E_CONFIG',
        `unknown block format ${JSON.stringify(format)}; expected one of ${Object.keys(FORMAT_TRAITS).join(', ')} or { kind: 'bfp', mantissaBits }`,
      );
    return t;
  }
  if (typeof format !== 'object' || format === null || (format as { kind?: unknown }).kind !== 'bfp')
    fail(
      'E_CONFIG',
      `unknown block format ${describeFormat(format)}; expected a name or { kind: 'bfp', mantissaBits }`,
    );
  const p = format.mantissaBits;
  if (!Number.isInteger(p) || p < 2 || p > 16)
    fail('E_CONFIG', `bfp format: mantissaBits must be an integer in 2..16, got ${String(p)}`);
  let t = bfpCache.get(p);
  if (t === undefined) {
    t = intTraits(`bfp${p + 8}`, 'bfp', p);
    bfpCache.set(p, t);
  }
  return t;
}

function describeFormat(f: unknown): string {
  try {
    return JSON.stringify(f) ?? String(f);
  } catch {
    return String(f);
  }
}

/**
 * Storage bits per element including the one-byte shared scale: `elementBits + 8 / blockSize`.
 * Throws `E_CONFIG` for an unknown format or a block size that is not an integer ≥ 1.
 *
 * @example
 * ```ts
 * bitsPerElement('mxfp4', 32); // 4.25
 * bitsPerElement('bfp12', 16); // 4.5
 * ```
 */
export function bitsPerElement(format: BlockFormat, blockSize?: number): number {
  const t = formatTraits(format);
  const n = blockSize ?? t.defaultBlockSize;
  checkBlockSize(n, 'bitsPerElement');
  return t.elementBits + 8 / n;
}

/** Validate a block size. Internal. */
export function checkBlockSize(n: unknown, who: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
    fail('E_CONFIG', `${who}: blockSize must be an integer >= 1, got ${String(n)}`);
}

/** Exact powers of two 2^k for k in [-1100, 1100] (index k + 1100). Internal. */
export const POW2_OFFSET = 1100;
/** Internal. */
export const POW2: Float64Array = (() => {
  const t = new Float64Array(2 * POW2_OFFSET + 1);
  let v = 1;
  for (let k = 0; k <= POW2_OFFSET; k++) {
    t[POW2_OFFSET + k] = v;
    v *= 2;
  }
  v = 1;
  for (let k = 0; k <= POW2_OFFSET; k++) {
    t[POW2_OFFSET - k] = v;
    v /= 2;
  }
  return t;
})();

/** Exact 2^k for integer k in [-1074, 1023]. Internal. */
export function pow2(k: number): number {
  return POW2[k + POW2_OFFSET]!;
}

/**
 * Exact floor(log2 |v|) of a non-zero finite float32 from its bit pattern (no float log2): normal
 * `be − 127`, subnormal `31 − clz32(mant) − 149`. Internal.
 */
export function floorLog2F32Bits(bits: number): number {
  const be = (bits >>> 23) & 0xff;
  if (be !== 0) return be - 127;
  return 31 - Math.clz32(bits & 0x7fffff) - 149;
}

/**
 * Decode one element code to its value `P` (without the shared scale). Codes outside `0..2^bits − 1`
 * throw `E_CONFIG`. E4M3 `S.1111.111` and E5M2 top-field codes decode to NaN / ±Inf (never produced).
 *
 * @example
 * ```ts
 * decodeElement('mxfp4', 0b0111); // 6
 * decodeElement('mxint8', 0x81); // -127/64
 * decodeElement('bfp12', 0b1011); // -0.75  (sign-magnitude: −3 / 4)
 * ```
 */
export function decodeElement(format: BlockFormat, code: number): number {
  const t = formatTraits(format);
  if (!Number.isInteger(code) || code < 0 || code >= 2 ** t.elementBits)
    fail('E_CONFIG', `decodeElement: code must be an integer in 0..${2 ** t.elementBits - 1}, got ${code}`);
  return decodeCode(t, code);
}

function decodeCode(t: FormatTraits, code: number): number {
  const w = t.elementBits;
  if (t.kind === 'int') {
    const k = code >= 1 << (w - 1) ? code - (1 << w) : code;
    return k / 2 ** t.mbits;
  }
  const sign = code >= 2 ** (w - 1) ? -1 : 1;
  const mag = code % 2 ** (w - 1);
  if (t.kind === 'bfp') return (sign * mag) / 2 ** t.mbits;
  const field = mag >>> t.mbits;
  const mant = mag & ((1 << t.mbits) - 1);
  const maxField = (1 << t.ebits) - 1;
  if (t.specials === 'nan' && field === maxField && mant === (1 << t.mbits) - 1) return Number.NaN;
  if (t.specials === 'ieee' && field === maxField) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  if (field === 0) return sign * mant * 2 ** (1 - t.bias - t.mbits);
  return sign * (1 + mant / 2 ** t.mbits) * 2 ** (field - t.bias);
}

const tableCache = new Map<string, Float64Array>();

/**
 * The decode table of a format: entry `c` is the value of code `c` (length 2^elementBits). Shared,
 * frozen by convention: do not write to it.
 *
 * @example
 * ```ts
 * Array.from(elementTable('mxfp4').subarray(0, 8)); // [0, 0.5, 1, 1.5, 2, 3, 4, 6]
 * ```
 */
export function elementTable(format: BlockFormat): Float64Array {
  const t = formatTraits(format);
  let tab = tableCache.get(t.name);
  if (tab === undefined) {
    const n = 2 ** t.elementBits;
    tab = new Float64Array(n);
    for (let c = 0; c < n; c++) tab[c] = decodeCode(t, c);
    tableCache.set(t.name, tab);
  }
  return tab;
}
