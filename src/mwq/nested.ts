/**
 * `NestedWeights`: one bit-plane store that serves several bit widths (levels) of a weight `[out, in]`.
 *
 * Storage (mwq.md §2): `bits` planes, MSB first, over the row-major flattened weight (element
 * i = row·in + col; see planes.ts), plus float32 metadata per group (groups are `groupSize` consecutive
 * weights of a row):
 * - slicing schemes (`'matquant'`, `'truncate'`): the parent's scale α and integer zero z (one pair per
 *   group, shared by every level); level r reads planes 0..r−1 (truncation) or 0..r (rounding);
 * - `'residual'`: the base scale s₁ and zero z₁, b₁ base planes (the base code, MSB first), then one sign
 *   plane and one scale s_k per group for each level above b₁: ŵ_k = s₁·(q₁ − z₁) + Σ s_i·(2β_i − 1).
 *
 * Exposed: NestedWeights, BitPlanes, dequantizeRef. Internal: NestedData, checkNestedData, schemeVariant.
 * @module
 */
import { check, fail } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import type { NestedScheme, ResidualBase } from './config.js';
import { unpackPlanes } from './planes.js';
import { decodeNested, encodeNested } from './serialize.js';
import { type SliceVariant, slicePlanes, sliceValue, sliceValueTable } from './slice.js';

/**
 * The plain-data form of a {@link NestedWeights} (`toBitPlanes()` / `NestedWeights.fromBitPlanes()`).
 * Arrays are copies; `planes[p]` is plane p (MSB first), `⌈out·in/32⌉` words each.
 *
 * @example
 * ```ts
 * const bp: BitPlanes = quantizeNested(w, { scheme: 'truncate', bits: 4 }).toBitPlanes();
 * bp.planes.length; // 4
 * ```
 */
export interface BitPlanes {
  readonly scheme: NestedScheme;
  /** Slicing rule, or `'residual'`. */
  readonly variant: SliceVariant | 'residual';
  /** Residual base quantizer (`'minmax'` for slicing schemes, informational). */
  readonly base: ResidualBase;
  readonly shape: readonly [number, number];
  /** Widest level (number of planes). */
  readonly bits: number;
  /** Residual: base width b₁; slicing schemes: equal to `bits`. */
  readonly baseBits: number;
  readonly groupSize: number;
  /** `bits` planes, MSB first. */
  readonly planes: readonly Uint32Array[];
  /** Per group: α (slicing) or s₁ (residual base). */
  readonly scales: Float32Array;
  /** Per group: z (an integer for slicing schemes) or z₁. */
  readonly zeros: Float32Array;
  /** Residual: one per-group scale array for each level baseBits+1..bits; empty for slicing schemes. */
  readonly levelScales: readonly Float32Array[];
}

/** Internal storage of a {@link NestedWeights}. */
export interface NestedData {
  scheme: NestedScheme;
  variant: SliceVariant | 'residual';
  base: ResidualBase;
  bits: number;
  baseBits: number;
  groupSize: number;
  rows: number;
  cols: number;
  /** `bits · ⌈n/32⌉` words. */
  planes: Uint32Array;
  scales: Float32Array;
  zeros: Float32Array;
  /** `(bits − baseBits) · groups` (level-major). */
  levelScales: Float32Array;
}

/** Default variant of each scheme (and the allowed set). Internal. */
export function schemeVariant(scheme: NestedScheme): readonly (SliceVariant | 'residual')[] {
  return scheme === 'truncate'
    ? ['trunc-mid', 'trunc']
    : scheme === 'matquant'
      ? ['round-clamp', 'round-noclamp']
      : ['residual'];
}

/** Validate a {@link NestedData} (used by fromBitPlanes and deserialize). Throws `code`. Internal. */
export function checkNestedData(d: NestedData, code: 'E_FORMAT' | 'E_CONFIG' | 'E_SHAPE', who: string): void {
  const bad = (m: string): never => fail(code, `${who}: ${m}`);
  if (!['matquant', 'truncate', 'residual'].includes(d.scheme)) bad(`unknown scheme ${JSON.stringify(d.scheme)}`);
  if (!schemeVariant(d.scheme).includes(d.variant))
    bad(`variant ${JSON.stringify(d.variant)} does not belong to scheme '${d.scheme}'`);
  if (d.base !== 'minmax' && d.base !== 'midrise') bad(`unknown base ${JSON.stringify(d.base)}`);
  if (!Number.isInteger(d.bits) || d.bits < 2 || d.bits > 8) bad(`bits must be 2..8, got ${d.bits}`);
  if (d.scheme === 'residual') {
    if (!Number.isInteger(d.baseBits) || d.baseBits < 2 || d.baseBits > d.bits)
      bad(`baseBits must be 2..${d.bits}, got ${d.baseBits}`);
  } else if (d.baseBits !== d.bits)
    bad(`baseBits must equal bits (${d.bits}) for scheme '${d.scheme}', got ${d.baseBits}`);
  for (const [k, v] of [
    ['rows', d.rows],
    ['cols', d.cols],
    ['groupSize', d.groupSize],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1 || v > 0xffffffff) bad(`${k} must be a positive 32-bit integer, got ${v}`);
  }
  if (d.cols % d.groupSize !== 0) bad(`groupSize ${d.groupSize} does not divide in = ${d.cols}`);
  const n = d.rows * d.cols;
  if (!Number.isSafeInteger(n) || n > 2 ** 32) bad(`out·in = ${n} is above the 2^32 limit`);
  const W = Math.ceil(n / 32);
  const nG = n / d.groupSize;
  if (d.planes.length !== d.bits * W) bad(`planes hold ${d.planes.length} words, expected ${d.bits}·${W}`);
  if (d.scales.length !== nG || d.zeros.length !== nG)
    bad(`scales/zeros must hold ${nG} groups, got ${d.scales.length}/${d.zeros.length}`);
  const nL = d.scheme === 'residual' ? d.bits - d.baseBits : 0;
  if (d.levelScales.length !== nL * nG) bad(`levelScales must hold ${nL}·${nG} values, got ${d.levelScales.length}`);
  const tail = n & 31;
  if (tail !== 0) {
    const mask = ~((1 << tail) - 1) >>> 0;
    for (let p = 0; p < d.bits; p++) {
      if ((d.planes[p * W + W - 1]! & mask) !== 0) bad(`plane ${p} has non-zero padding bits after element ${n - 1}`);
    }
  }
  for (let g = 0; g < nG; g++) {
    const s = d.scales[g]!;
    const z = d.zeros[g]!;
    if (!Number.isFinite(s) || s < 0) bad(`scale of group ${g} is ${s}, expected finite and >= 0`);
    if (!Number.isFinite(z)) bad(`zero of group ${g} is ${z}, expected finite`);
    if (d.scheme !== 'residual' && !Number.isInteger(z)) bad(`zero of group ${g} is ${z}, expected an integer`);
  }
  for (let i = 0; i < d.levelScales.length; i++) {
    if (!Number.isFinite(d.levelScales[i]!)) bad(`level scale ${i} is ${d.levelScales[i]}, expected finite`);
  }
}

/**
 * Bit-nested weights: one store serving every width in {@link NestedWeights.levels}. Built by
 * `quantizeNested`, `NestedWeights.fromBitPlanes` or `NestedWeights.deserialize`; immutable.
 *
 * @example
 * ```ts
 * const nw = quantizeNested(w, { scheme: 'matquant', bits: 8, groupSize: 64 });
 * nw.levels; // [2, 3, 4, 5, 6, 7, 8]
 * const w4 = nw.dequantize(4); // Float32Tensor [out, in]
 * nw.planesRead(4); // 5
 * ```
 */
export class NestedWeights {
  /** @internal */
  readonly data: NestedData;
  /** The bit widths this store can serve, ascending. */
  readonly levels: readonly number[];
  /** `[out, in]`. */
  readonly shape: readonly [number, number];
  /** Per-group diagnostics of the residual `'fit'` scales (not serialized): groups that kept the pow2 ladder. */
  readonly fitReport: { readonly groups: number; readonly pow2Fallbacks: number } | undefined;

  /** @internal Use `quantizeNested`, `fromBitPlanes` or `deserialize`. */
  constructor(data: NestedData, fitReport?: { groups: number; pow2Fallbacks: number }) {
    this.data = data;
    const lo = data.scheme === 'residual' ? data.baseBits : 2;
    const lv: number[] = [];
    for (let r = lo; r <= data.bits; r++) lv.push(r);
    this.levels = Object.freeze(lv);
    this.shape = Object.freeze([data.rows, data.cols]) as readonly [number, number];
    this.fitReport = fitReport === undefined ? undefined : Object.freeze({ ...fitReport });
    Object.freeze(this);
  }

  /** Scheme name. */
  get scheme(): NestedScheme {
    return this.data.scheme;
  }
  /** Widest level. */
  get bits(): number {
    return this.data.bits;
  }
  /** Weights per group. */
  get groupSize(): number {
    return this.data.groupSize;
  }
  /** Slicing rule or `'residual'`. */
  get variant(): SliceVariant | 'residual' {
    return this.data.variant;
  }

  /** Throw `E_CONFIG` unless `r` is a served level. @internal */
  checkLevel(r: number, who: string): void {
    if (!this.levels.includes(r))
      fail(
        'E_CONFIG',
        `${who}: level ${r} is not served; this ${this.data.scheme} store serves ${this.levels.join(', ')}`,
      );
  }

  /**
   * Planes level r reads: r (truncation, residual), r + 1 (rounding variants, r < bits), bits at r = bits.
   *
   * @example
   * ```ts
   * quantizeNested(w, { scheme: 'matquant' }).planesRead(2); // 3
   * ```
   */
  planesRead(r: number): number {
    this.checkLevel(r, 'planesRead');
    const d = this.data;
    return d.scheme === 'residual' ? r : slicePlanes(d.bits, r, d.variant as SliceVariant);
  }

  /**
   * Exact bytes a level reads from the serialized blob (header excluded): its planes (`⌈n/32⌉·4` bytes
   * each) plus its float32 metadata — α and z per group for slicing schemes; s₁, z₁ and one s_k per
   * residual level per group for `'residual'`.
   *
   * @example
   * ```ts
   * // [4096, 4096], group 128, truncate level 4: 4·2 MiB planes + 131072·8 bytes of (α, z)
   * nw.bytesRead(4); // 9437184
   * ```
   */
  bytesRead(r: number): number {
    const P = this.planesRead(r);
    const d = this.data;
    const n = d.rows * d.cols;
    const planeBytes = Math.ceil(n / 32) * 4;
    const nG = n / d.groupSize;
    const extra = d.scheme === 'residual' ? (r - d.baseBits) * 4 * nG : 0;
    return 8 * nG + P * planeBytes + extra;
  }

  /**
   * Parent codes: the c-bit code per weight (slicing schemes) or the b₁-bit base code (residual).
   *
   * @example
   * ```ts
   * quantizeNested(w, { scheme: 'truncate', bits: 8 }).codes(); // Uint8Array of out·in int8 codes
   * ```
   */
  codes(): Uint8Array {
    const d = this.data;
    const n = d.rows * d.cols;
    const c = unpackPlanes(d.planes, d.bits, n, d.baseBits);
    const sh = d.bits - d.baseBits;
    if (sh > 0) for (let i = 0; i < n; i++) c[i] = c[i]! >>> sh;
    return c;
  }

  /**
   * Dequantize level r to float32 `[out, in]`, reading only that level's planes. `E_CONFIG` if r is not
   * served; `out`, if given, must hold `out·in` floats.
   *
   * @example
   * ```ts
   * const w2 = nw.dequantize(2).data; // Float32Array
   * ```
   */
  dequantize(r: number, out?: Float32Array): Float32Tensor {
    this.checkLevel(r, 'dequantize');
    const d = this.data;
    const n = d.rows * d.cols;
    const dst = out ?? new Float32Array(n);
    check(dst.length === n, 'E_SHAPE', () => `dequantize: out has ${dst.length} elements, expected ${n}`);
    const G = d.groupSize;
    const nG = n / G;
    const W = Math.ceil(n / 32);
    if (d.scheme !== 'residual') {
      const P = slicePlanes(d.bits, r, d.variant as SliceVariant);
      const codes = unpackPlanes(d.planes, d.bits, n, P);
      const table = sliceValueTable(d.bits, r, d.variant as SliceVariant);
      for (let g = 0; g < nG; g++) {
        const a = d.scales[g]!;
        const z = d.zeros[g]!;
        const i0 = g * G;
        for (let i = i0; i < i0 + G; i++) dst[i] = Math.fround(a * (table[codes[i]!]! - z));
      }
    } else {
      const codes = unpackPlanes(d.planes, d.bits, n, d.baseBits);
      const sh = d.bits - d.baseBits;
      const acc = new Float64Array(n);
      for (let g = 0; g < nG; g++) {
        const a = d.scales[g]!;
        const z = d.zeros[g]!;
        const i0 = g * G;
        for (let i = i0; i < i0 + G; i++) acc[i] = a * ((codes[i]! >>> sh) - z);
      }
      for (let L = 0; L < r - d.baseBits; L++) {
        const pb = (d.baseBits + L) * W;
        const so = L * nG;
        for (let w = 0; w < W; w++) {
          const word = d.planes[pb + w]!;
          const i0 = w << 5;
          const end = i0 + 32 <= n ? 32 : n - i0;
          for (let j = 0; j < end; j++) {
            const i = i0 + j;
            const s = d.levelScales[so + ((i / G) | 0)]!;
            acc[i] = acc[i]! + (((word >>> j) & 1) === 1 ? s : -s);
          }
        }
      }
      for (let i = 0; i < n; i++) dst[i] = Math.fround(acc[i]!);
    }
    return { dtype: 'float32', data: dst, shape: Object.freeze([d.rows, d.cols]) };
  }

  /**
   * Copy out the plain bit-plane form (planes MSB first, 32 weights per `Uint32Array` word, scales,
   * zeros and per-level scales).
   *
   * @example
   * ```ts
   * const bp = nw.toBitPlanes();
   * NestedWeights.fromBitPlanes(bp).dequantize(4); // same values as nw.dequantize(4)
   * ```
   */
  toBitPlanes(): BitPlanes {
    const d = this.data;
    const W = Math.ceil((d.rows * d.cols) / 32);
    const nG = (d.rows * d.cols) / d.groupSize;
    const planes: Uint32Array[] = [];
    for (let p = 0; p < d.bits; p++) planes.push(d.planes.slice(p * W, (p + 1) * W));
    const levelScales: Float32Array[] = [];
    for (let L = 0; L < d.levelScales.length / nG; L++) levelScales.push(d.levelScales.slice(L * nG, (L + 1) * nG));
    return {
      scheme: d.scheme,
      variant: d.variant,
      base: d.base,
      shape: [d.rows, d.cols],
      bits: d.bits,
      baseBits: d.baseBits,
      groupSize: d.groupSize,
      planes,
      scales: d.scales.slice(),
      zeros: d.zeros.slice(),
      levelScales,
    };
  }

  /**
   * Serialize to the versioned `LBMW` v1 blob (see serialize.ts): header, metadata, then planes in
   * prefix order, so level r is the first `32 + bytesRead(r)` bytes.
   *
   * @example
   * ```ts
   * const blob = nw.serialize(); // Uint8Array
   * NestedWeights.deserialize(blob).dequantize(4); // bit-identical to nw.dequantize(4)
   * ```
   */
  serialize(): Uint8Array {
    return encodeNested(this.data);
  }

  /**
   * Load a blob written by {@link NestedWeights.serialize}; `E_FORMAT` for a wrong magic or version, a
   * truncated or padded blob, a checksum mismatch or inconsistent contents.
   *
   * @example
   * ```ts
   * const nw2 = NestedWeights.deserialize(blob);
   * ```
   */
  static deserialize(bytes: Uint8Array): NestedWeights {
    return new NestedWeights(decodeNested(bytes));
  }

  /**
   * Build from the plain bit-plane form (copied, fully validated: `E_CONFIG` on any inconsistency).
   *
   * @example
   * ```ts
   * const again = NestedWeights.fromBitPlanes(nw.toBitPlanes());
   * ```
   */
  static fromBitPlanes(bp: BitPlanes): NestedWeights {
    if (bp === null || typeof bp !== 'object') fail('E_CONFIG', 'fromBitPlanes: expected a BitPlanes object');
    const shape = bp.shape;
    if (!Array.isArray(shape) || shape.length !== 2) fail('E_CONFIG', 'fromBitPlanes: shape must be [out, in]');
    const [rows, cols] = shape as [number, number];
    if (!Array.isArray(bp.planes) || !bp.planes.every((p) => p instanceof Uint32Array))
      fail('E_CONFIG', 'fromBitPlanes: planes must be an array of Uint32Array');
    if (!(bp.scales instanceof Float32Array) || !(bp.zeros instanceof Float32Array))
      fail('E_CONFIG', 'fromBitPlanes: scales and zeros must be Float32Array');
    if (!Array.isArray(bp.levelScales) || !bp.levelScales.every((s) => s instanceof Float32Array))
      fail('E_CONFIG', 'fromBitPlanes: levelScales must be an array of Float32Array');
    const n = rows * cols;
    const W = Number.isSafeInteger(n) && n > 0 ? Math.ceil(n / 32) : 0;
    if (bp.planes.length !== bp.bits || !bp.planes.every((p) => p.length === W))
      fail('E_CONFIG', `fromBitPlanes: expected ${bp.bits} planes of ${W} words`);
    const planes = new Uint32Array(bp.bits * W);
    bp.planes.forEach((p, i) => {
      planes.set(p, i * W);
    });
    const nG = bp.scales.length;
    const levelScales = new Float32Array(bp.levelScales.length * nG);
    bp.levelScales.forEach((s, i) => {
      if (s.length !== nG) fail('E_CONFIG', `fromBitPlanes: levelScales[${i}] has ${s.length} groups, expected ${nG}`);
      levelScales.set(s, i * nG);
    });
    const data: NestedData = {
      scheme: bp.scheme,
      variant: bp.variant,
      base: bp.base,
      bits: bp.bits,
      baseBits: bp.baseBits,
      groupSize: bp.groupSize,
      rows,
      cols,
      planes,
      scales: bp.scales.slice(),
      zeros: bp.zeros.slice(),
      levelScales,
    };
    checkNestedData(data, 'E_CONFIG', 'fromBitPlanes');
    return new NestedWeights(data);
  }
}

/**
 * Reference twin of `NestedWeights.dequantize`: per element, rebuild the full code bit by bit from every
 * plane, apply the scalar slicing rule ({@link sliceValue}) or the residual sum, one `Math.fround`.
 *
 * @example
 * ```ts
 * dequantizeRef(nw, 4).data; // bit-identical to nw.dequantize(4).data
 * ```
 */
export function dequantizeRef(nw: NestedWeights, r: number): Float32Tensor {
  nw.checkLevel(r, 'dequantizeRef');
  const d = nw.data;
  const n = d.rows * d.cols;
  const W = Math.ceil(n / 32);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const bit = (p: number): number => Math.floor(d.planes[p * W + Math.floor(i / 32)]! / 2 ** (i % 32)) % 2;
    const g = Math.floor(i / d.groupSize);
    if (d.scheme !== 'residual') {
      let q = 0;
      for (let p = 0; p < d.bits; p++) q = q * 2 + bit(p);
      out[i] = Math.fround(d.scales[g]! * (sliceValue(q, d.bits, r, d.variant as SliceVariant) - d.zeros[g]!));
    } else {
      let q = 0;
      for (let p = 0; p < d.baseBits; p++) q = q * 2 + bit(p);
      let acc = d.scales[g]! * (q - d.zeros[g]!);
      const nG = n / d.groupSize;
      for (let L = 0; L < r - d.baseBits; L++) acc += d.levelScales[L * nG + g]! * (2 * bit(d.baseBits + L) - 1);
      out[i] = Math.fround(acc);
    }
  }
  return { dtype: 'float32', data: out, shape: [d.rows, d.cols] };
}
