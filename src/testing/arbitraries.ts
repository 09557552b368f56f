/**
 * fast-check arbitraries for property tests of quantizers: shapes, tensors of every lowbit dtype, edge
 * values (±0, subnormals, huge magnitudes), NaN/±Inf injection, outlier channels, constant groups, and
 * quantizer configurations (bits, group sizes including non-divisors, axes, rounding modes).
 *
 * Group layout used by {@link constantGroupsArb} and {@link quantCaseArb} is lowbit's affine one: a
 * group is a run of `groupSize` consecutive elements along `axis` with every other index fixed; the
 * last group of a line is ragged when `groupSize` does not divide `shape[axis]`.
 *
 * Exposed: shapeArb, float32ValueArb, float32TensorArb, tensorArb, withNonFinite, outlierChannelsArb,
 * constantGroupsArb, groupSizeArb, quantConfigArb, quantCaseArb and their option types.
 * Internal: mapToSize, f32FromBits.
 * @module
 */
import fc from 'fast-check';
import { fail } from '../common/errors.js';
import type { RoundingMode } from '../common/rounding.js';
import { type DType, type Float32Tensor, shapeSize, type Tensor, type TypedArrayOf, tensor } from '../common/tensor.js';

/**
 * Options of {@link shapeArb}.
 *
 * @example
 * ```ts
 * const shapes = shapeArb({ minRank: 2, maxRank: 2, maxDim: 64, maxSize: 1024 } satisfies ShapeOptions);
 * ```
 */
export interface ShapeOptions {
  /** Smallest rank (default 1). */
  readonly minRank?: number;
  /** Largest rank (default 3). */
  readonly maxRank?: number;
  /** Smallest dimension (default 1; 0 allows empty tensors). */
  readonly minDim?: number;
  /** Largest dimension (default 8). */
  readonly maxDim?: number;
  /** Cap on the element count (default 512): larger dimensions are shrunk to fit. */
  readonly maxSize?: number;
}

/**
 * Which special float32 values {@link float32ValueArb} mixes in (all on by default).
 *
 * @example
 * ```ts
 * const v = float32ValueArb({ specials: { subnormals: true } satisfies SpecialValues });
 * ```
 */
export interface SpecialValues {
  /** +0 and −0. */
  readonly zeros?: boolean;
  /** Subnormal float32 values (0 < |v| < 2⁻¹²⁶). */
  readonly subnormals?: boolean;
  /** Huge finite magnitudes, 1e30 ≤ |v| ≤ 3.4028234663852886e38 (float32 max). */
  readonly huge?: boolean;
}

/**
 * Options of {@link float32ValueArb}.
 *
 * @example
 * ```ts
 * const v = float32ValueArb({ scale: 100, specials: true, nonFinite: false } satisfies ValueOptions);
 * ```
 */
export interface ValueOptions {
  /** Ordinary values are uniform-ish float32 in [−scale, scale] (default 4). */
  readonly scale?: number;
  /**
   * Mix in edge values: `true` for all kinds of {@link SpecialValues}, or pick kinds (default false).
   * About one value in six is then special.
   */
  readonly specials?: boolean | SpecialValues;
  /** Also produce NaN, +Inf and −Inf (default false). */
  readonly nonFinite?: boolean;
}

/**
 * Options of {@link float32TensorArb}.
 *
 * @example
 * ```ts
 * const x = float32TensorArb({ shape: [16, 64], specials: true } satisfies TensorOptions);
 * ```
 */
export interface TensorOptions extends ShapeOptions, ValueOptions {
  /** A fixed shape (overrides the rank/dim options). */
  readonly shape?: readonly number[];
}

const F32_MAX = 3.4028234663852886e38;

function int(name: string, v: number | undefined, dflt: number, lo: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < lo) fail('E_CONFIG', `${name} must be an integer >= ${lo}, got ${v}`);
  return x;
}

/**
 * Shrink the largest dimensions until the product fits `maxSize` (keeps dims ≥ 1 when minDim ≥ 1). Internal.
 *
 * @example
 * ```ts
 * mapToSize([30, 30, 30], 100); // [4, 5, 5]
 * ```
 */
export function mapToSize(dims: number[], maxSize: number): number[] {
  const d = [...dims];
  if (d.includes(0)) return d;
  let n = d.reduce((a, b) => a * b, 1);
  while (n > maxSize) {
    let k = 0;
    for (let i = 1; i < d.length; i++) if (d[i]! > d[k]!) k = i;
    if (d[k]! <= 1) break;
    n = (n / d[k]!) * (d[k]! - 1);
    d[k] = d[k]! - 1;
  }
  return d;
}

/**
 * Random shapes: rank in [minRank, maxRank], dims in [minDim, maxDim], at most `maxSize` elements.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { shapeArb } from 'lowbit/testing';
 * fc.assert(fc.property(shapeArb({ maxRank: 4 }), (shape) => shape.length <= 4));
 * ```
 */
export function shapeArb(opts: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const minRank = int('shapeArb: minRank', opts.minRank, 1, 0);
  const maxRank = int('shapeArb: maxRank', opts.maxRank, Math.max(3, minRank), minRank);
  const minDim = int('shapeArb: minDim', opts.minDim, 1, 0);
  const maxDim = int('shapeArb: maxDim', opts.maxDim, Math.max(8, minDim), minDim);
  const maxSize = int('shapeArb: maxSize', opts.maxSize, 512, 1);
  return fc
    .array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank })
    .map((dims) => mapToSize(dims, maxSize));
}

/**
 * The float32 whose bit pattern is `bits` (as a JS number). Internal.
 *
 * @example
 * ```ts
 * f32FromBits(0x3f800000); // 1
 * f32FromBits(1); // 2^-149, the smallest subnormal
 * ```
 */
export function f32FromBits(bits: number): number {
  const u = new Uint32Array([bits >>> 0]);
  return new Float32Array(u.buffer)[0]!;
}

/**
 * Single float32 values (as JS numbers that are exact float32): ordinary values in [−scale, scale],
 * optionally mixed with ±0, subnormals and huge magnitudes, and optionally NaN/±Inf.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { float32ValueArb } from 'lowbit/testing';
 * fc.sample(float32ValueArb({ specials: true }), 5); // e.g. [0.73, -0, 1.4e-45, -2.1, 3.3e37]
 * ```
 */
export function float32ValueArb(opts: ValueOptions = {}): fc.Arbitrary<number> {
  const scale = Math.fround(opts.scale ?? 4);
  if (!(scale > 0 && Number.isFinite(scale)))
    fail('E_CONFIG', `float32ValueArb: scale must be a positive finite number, got ${opts.scale}`);
  const normal = fc.float({ min: -scale, max: scale, noNaN: true, noDefaultInfinity: true });
  const arbs: fc.WeightedArbitrary<number>[] = [{ arbitrary: normal, weight: 10 }];
  const sp = opts.specials === true ? { zeros: true, subnormals: true, huge: true } : opts.specials || {};
  if (sp.zeros) arbs.push({ arbitrary: fc.constantFrom(0, -0), weight: 1 });
  if (sp.subnormals) {
    const sub = fc
      .tuple(fc.integer({ min: 1, max: 0x7fffff }), fc.boolean())
      .map(([m, neg]) => f32FromBits((neg ? 0x80000000 : 0) | m));
    arbs.push({ arbitrary: sub, weight: 1 });
  }
  if (sp.huge) {
    const huge = fc
      .tuple(fc.float({ min: Math.fround(1e30), max: F32_MAX, noNaN: true }), fc.boolean())
      .map(([v, neg]) => (neg ? -v : v));
    arbs.push({ arbitrary: huge, weight: 1 });
  }
  if (opts.nonFinite) {
    arbs.push({
      arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
      weight: 1,
    });
  }
  return arbs.length === 1 ? normal : fc.oneof(...arbs);
}

/**
 * Float32 tensors of a fixed or random shape, values from {@link float32ValueArb}.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { float32TensorArb } from 'lowbit/testing';
 * fc.assert(fc.property(float32TensorArb({ shape: [4, 16], specials: true }), (x) => x.data.length === 64));
 * ```
 */
export function float32TensorArb(opts: TensorOptions = {}): fc.Arbitrary<Float32Tensor> {
  const values = float32ValueArb(opts);
  const shapes = opts.shape !== undefined ? fc.constant([...opts.shape]) : shapeArb(opts);
  return shapes.chain((shape) => {
    const n = shapeSize(shape);
    return fc.array(values, { minLength: n, maxLength: n }).map((v) => tensor('float32', Float32Array.from(v), shape));
  });
}

function valuesOf(dtype: DType, opts: TensorOptions): fc.Arbitrary<number | bigint> {
  const nf = opts.nonFinite === true;
  switch (dtype) {
    case 'float32':
      return float32ValueArb(opts);
    case 'float64':
      return fc.double({
        noNaN: !nf,
        noDefaultInfinity: !nf,
        min: nf ? undefined : -1e300,
        max: nf ? undefined : 1e300,
      } as fc.DoubleConstraints);
    case 'float16':
      // exponent field 0x1f (bits 10..14) holds Inf/NaN
      return fc.integer({ min: 0, max: 0xffff }).filter((h) => nf || (h & 0x7c00) !== 0x7c00);
    case 'bfloat16':
      return fc.integer({ min: 0, max: 0xffff }).filter((h) => nf || (h & 0x7f80) !== 0x7f80);
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'uint8':
      return fc.integer({ min: 0, max: 255 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'int32':
      return fc.integer({ min: -2147483648, max: 2147483647 });
    case 'uint32':
      return fc.integer({ min: 0, max: 4294967295 });
    case 'int64':
      return fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
    case 'uint64':
      return fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    case 'bool':
      return fc.integer({ min: 0, max: 1 });
    default:
      return fail('E_DTYPE', `tensorArb: unknown dtype ${JSON.stringify(dtype)}`);
  }
}

const CTORS: Record<DType, { from(a: ArrayLike<number | bigint>): unknown }> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array as unknown as { from(a: ArrayLike<number | bigint>): unknown },
  uint64: BigUint64Array as unknown as { from(a: ArrayLike<number | bigint>): unknown },
  bool: Uint8Array,
};

/**
 * Tensors of any lowbit dtype (or of a dtype drawn from a list): float16/bfloat16 as random bit
 * patterns (non-finite codes only with `nonFinite`), integers over their full range, bool as 0/1.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { tensorArb } from 'lowbit/testing';
 * fc.assert(fc.property(tensorArb(['float16', 'int8', 'float32']), (t) => t.data.length >= 1));
 * ```
 */
export function tensorArb<D extends DType>(dtype: D | readonly D[], opts: TensorOptions = {}): fc.Arbitrary<Tensor<D>> {
  const list = (Array.isArray(dtype) ? dtype : [dtype]) as D[];
  if (list.length === 0) fail('E_CONFIG', 'tensorArb: need at least one dtype');
  for (const d of list) if (!(d in CTORS)) fail('E_DTYPE', `tensorArb: unknown dtype ${JSON.stringify(d)}`);
  const shapes = opts.shape !== undefined ? fc.constant([...opts.shape]) : shapeArb(opts);
  return fc.tuple(fc.constantFrom(...list), shapes).chain(([d, shape]) => {
    const n = shapeSize(shape);
    return fc
      .array(valuesOf(d, opts), { minLength: n, maxLength: n })
      .map((v) => tensor(d, CTORS[d].from(v) as TypedArrayOf[D], shape));
  });
}

/**
 * Options of {@link withNonFinite}.
 *
 * @example
 * ```ts
 * const bad = withNonFinite(float32TensorArb(), { maxCount: 1, values: [Number.NaN] } satisfies NonFiniteOptions);
 * ```
 */
export interface NonFiniteOptions {
  /** At most this many positions are replaced (default 3; at least one when the tensor is non-empty). */
  readonly maxCount?: number;
  /** Values to inject (default NaN, +Inf, −Inf). */
  readonly values?: readonly number[];
}

/**
 * Inject NaN / ±Inf at 1..maxCount random positions of each generated float32 tensor (a new tensor;
 * the generated one is not modified). Empty tensors pass through unchanged.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { float32TensorArb, withNonFinite } from 'lowbit/testing';
 * const bad = withNonFinite(float32TensorArb({ shape: [8] }));
 * fc.assert(fc.property(bad, (x) => x.data.some((v) => !Number.isFinite(v))));
 * ```
 */
export function withNonFinite(
  arb: fc.Arbitrary<Float32Tensor>,
  opts: NonFiniteOptions = {},
): fc.Arbitrary<Float32Tensor> {
  const maxCount = int('withNonFinite: maxCount', opts.maxCount, 3, 1);
  const vals = opts.values ?? [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  if (vals.length === 0) fail('E_CONFIG', 'withNonFinite: values must not be empty');
  return arb.chain((x) => {
    const n = x.data.length;
    if (n === 0) return fc.constant(x);
    return fc
      .array(fc.tuple(fc.nat(n - 1), fc.constantFrom(...vals)), { minLength: 1, maxLength: maxCount })
      .map((hits) => {
        const d = x.data.slice();
        for (const [i, v] of hits) d[i] = v;
        return tensor('float32', d, x.shape);
      });
  });
}

/**
 * Options of {@link outlierChannelsArb}.
 *
 * @example
 * ```ts
 * const c = outlierChannelsArb({ shape: [32, 64], axis: -1, maxChannels: 3, factor: [50, 100] } satisfies OutlierOptions);
 * ```
 */
export interface OutlierOptions extends TensorOptions {
  /** The channel axis (default −1: the last axis, i.e. input features of `[tokens, features]`). */
  readonly axis?: number;
  /** Most channels to scale (default 2). */
  readonly maxChannels?: number;
  /** Scale factor range (default [10, 1000]). */
  readonly factor?: readonly [number, number];
}

/**
 * What {@link outlierChannelsArb} generates.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(outlierChannelsArb(), (c: OutlierCase) => c.channels.length >= 1));
 * ```
 */
export interface OutlierCase {
  readonly x: Float32Tensor;
  /** Normalised channel axis. */
  readonly axis: number;
  /** Channels (indices along `axis`) that were scaled. */
  readonly channels: readonly number[];
  readonly factor: number;
}

/**
 * Tensors with a few outlier channels: every element whose index along `axis` is one of `channels` is
 * multiplied by `factor` (the LLM activation pattern that breaks per-tensor scales). Rank ≥ 2 unless a
 * shape is given.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { outlierChannelsArb } from 'lowbit/testing';
 * fc.assert(fc.property(outlierChannelsArb({ shape: [16, 32] }), ({ x, channels }) => channels.length >= 1));
 * ```
 */
export function outlierChannelsArb(opts: OutlierOptions = {}): fc.Arbitrary<OutlierCase> {
  const maxChannels = int('outlierChannelsArb: maxChannels', opts.maxChannels, 2, 1);
  const [flo, fhi] = opts.factor ?? [10, 1000];
  if (!(flo > 0 && fhi >= flo && Number.isFinite(fhi)))
    fail('E_CONFIG', `outlierChannelsArb: bad factor range [${flo}, ${fhi}]`);
  const base = float32TensorArb({ minRank: 2, ...opts, specials: opts.specials ?? false });
  return base.chain((x) => {
    const rank = x.shape.length;
    const a0 = opts.axis ?? -1;
    if (!Number.isInteger(a0) || a0 < -rank || a0 >= rank) {
      fail('E_CONFIG', `outlierChannelsArb: axis ${a0} out of range for shape [${x.shape.join(', ')}]`);
    }
    const axis = a0 < 0 ? a0 + rank : a0;
    const len = x.shape[axis]!;
    if (len === 0) return fc.constant({ x, axis, channels: [] as number[], factor: 1 });
    return fc
      .tuple(
        fc.uniqueArray(fc.nat(len - 1), { minLength: 1, maxLength: Math.min(maxChannels, len) }),
        fc.float({ min: Math.fround(flo), max: Math.fround(fhi), noNaN: true }),
      )
      .map(([channels, factor]) => {
        let inner = 1;
        for (let d = axis + 1; d < rank; d++) inner *= x.shape[d]!;
        const d = x.data.slice();
        const hit = new Uint8Array(len);
        for (const c of channels) hit[c] = 1;
        for (let i = 0; i < d.length; i++) {
          if (hit[Math.floor(i / inner) % len] === 1) d[i] = d[i]! * factor;
        }
        return { x: tensor('float32', d, x.shape), axis, channels: [...channels].sort((p, q) => p - q), factor };
      });
  });
}

/**
 * Options of {@link constantGroupsArb}.
 *
 * @example
 * ```ts
 * const x = constantGroupsArb({ shape: [8, 40], groupSize: 16, axis: 1 } satisfies ConstantGroupOptions);
 * ```
 */
export interface ConstantGroupOptions extends TensorOptions {
  /** Group length along `axis` (required). */
  readonly groupSize: number;
  /** Grouping axis (default −1). */
  readonly axis?: number;
}

/**
 * Tensors where a random subset of groups (at least one when the tensor is non-empty) is constant:
 * every element of the group holds one value, drawn from {0, −0, a random value} (constant groups have a
 * zero range: the case that makes a min–max scale 0).
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { constantGroupsArb } from 'lowbit/testing';
 * fc.assert(fc.property(constantGroupsArb({ shape: [4, 10], groupSize: 4 }), (x) => x.shape[1] === 10));
 * ```
 */
export function constantGroupsArb(opts: ConstantGroupOptions): fc.Arbitrary<Float32Tensor> {
  const gs = int('constantGroupsArb: groupSize', opts.groupSize, 0, 1);
  return float32TensorArb(opts).chain((x) => {
    const rank = x.shape.length;
    const a0 = opts.axis ?? -1;
    if (!Number.isInteger(a0) || a0 < -rank || a0 >= rank) {
      fail('E_CONFIG', `constantGroupsArb: axis ${a0} out of range for shape [${x.shape.join(', ')}]`);
    }
    const axis = a0 < 0 ? a0 + rank : a0;
    const len = x.shape[axis]!;
    let inner = 1;
    for (let d = axis + 1; d < rank; d++) inner *= x.shape[d]!;
    const outer = len === 0 ? 0 : x.data.length / (len * inner);
    const ng = Math.ceil(len / gs);
    const groups = outer * inner * ng;
    if (groups === 0) return fc.constant(x);
    const value = fc.oneof(fc.constantFrom(0, -0), float32ValueArb({ scale: opts.scale ?? 4 }));
    return fc
      .array(fc.tuple(fc.boolean(), value), { minLength: groups, maxLength: groups })
      .chain((sel) =>
        sel.some(([c]) => c)
          ? fc.constant(sel)
          : fc.nat(groups - 1).map((k) => sel.map((s, i) => (i === k ? [true, s[1]] : s) as [boolean, number])),
      )
      .map((sel) => {
        const d = x.data.slice();
        for (let o = 0; o < outer; o++) {
          for (let j = 0; j < inner; j++) {
            for (let g = 0; g < ng; g++) {
              const [isConst, v] = sel[(o * inner + j) * ng + g]!;
              if (!isConst) continue;
              for (let l = g * gs; l < Math.min(len, (g + 1) * gs); l++) d[(o * len + l) * inner + j] = v;
            }
          }
        }
        return tensor('float32', d, x.shape);
      });
  });
}

/**
 * Group sizes for a line of `len` elements: divisors of `len`, non-divisors (ragged last group), 1, and
 * sizes larger than `len` (one short group).
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { groupSizeArb } from 'lowbit/testing';
 * fc.sample(groupSizeArb(12), 6); // e.g. [4, 5, 1, 12, 7, 16]
 * ```
 */
export function groupSizeArb(len: number): fc.Arbitrary<number> {
  const n = int('groupSizeArb: len', len, 0, 0);
  const divisors: number[] = [];
  for (let g = 1; g <= n; g++) if (n % g === 0) divisors.push(g);
  const arbs: fc.Arbitrary<number>[] = [fc.integer({ min: n + 1, max: n + 9 })];
  if (divisors.length > 0) arbs.push(fc.constantFrom(...divisors));
  const nonDiv: number[] = [];
  for (let g = 2; g < n; g++) if (n % g !== 0) nonDiv.push(g);
  if (nonDiv.length > 0) arbs.push(fc.constantFrom(...nonDiv));
  return fc.oneof(...arbs);
}

/**
 * A quantizer configuration (the shape of lowbit's `AffineOptions`).
 *
 * @example
 * ```ts
 * const c: QuantConfig = { bits: 4, symmetric: false, axis: -1, groupSize: 32, rounding: 'half-even' };
 * quantizeAffine(x, c);
 * ```
 */
export interface QuantConfig {
  readonly bits: number;
  readonly symmetric: boolean;
  /** Reduction axis; absent = the flattened tensor. */
  readonly axis?: number;
  /** Group size along `axis` (or the flattened tensor); absent = whole line. */
  readonly groupSize?: number;
  readonly rounding: RoundingMode | { readonly mode: 'stochastic'; readonly seed: number };
}

/**
 * Options of {@link quantConfigArb} / {@link quantCaseArb}.
 *
 * @example
 * ```ts
 * const cfgs = quantConfigArb({ bits: [2, 4], roundings: ['half-even'], rank: 3 } satisfies QuantConfigOptions);
 * ```
 */
export interface QuantConfigOptions {
  /** Allowed bit widths (default 1..8; symmetric configurations need ≥ 2). */
  readonly bits?: readonly number[];
  /** Rounding modes to draw from (default all five; stochastic with a random seed). */
  readonly roundings?: readonly RoundingMode[];
  /** `true`/`false` to fix symmetric, undefined to draw both. */
  readonly symmetric?: boolean;
  /** Group sizes to draw from when no shape is known (default [1, 2, 3, 4, 5, 7, 8, 9, 16, 32, 33, 64, 128]). */
  readonly groupSizes?: readonly number[];
  /** Rank of the tensors the config is for (default 2): axes are drawn from [−rank, rank). */
  readonly rank?: number;
}

const DEFAULT_ROUNDINGS: readonly RoundingMode[] = ['half-even', 'half-away', 'half-up', 'floor', 'stochastic'];

function roundingArb(modes: readonly RoundingMode[]): fc.Arbitrary<QuantConfig['rounding']> {
  if (modes.length === 0) fail('E_CONFIG', 'quantConfigArb: roundings must not be empty');
  return fc
    .tuple(fc.constantFrom(...modes), fc.nat(0xffffffff))
    .map(([mode, seed]) => (mode === 'stochastic' ? { mode, seed } : mode));
}

function bitsSym(opts: QuantConfigOptions): fc.Arbitrary<[number, boolean]> {
  const bits = opts.bits ?? [1, 2, 3, 4, 5, 6, 7, 8];
  if (bits.length === 0) fail('E_CONFIG', 'quantConfigArb: bits must not be empty');
  const sym = opts.symmetric === undefined ? fc.boolean() : fc.constant(opts.symmetric);
  return fc.tuple(fc.constantFrom(...bits), sym).map(([b, s]) => [b, s && b >= 2]);
}

/**
 * Quantizer configurations independent of a tensor: bits, symmetric (never with 1 bit), an optional axis
 * in [−rank, rank), an optional group size (non-divisors included) and a rounding mode.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { quantConfigArb } from 'lowbit/testing';
 * fc.sample(quantConfigArb({ bits: [2, 4] }), 1); // e.g. [{ bits: 4, symmetric: false, axis: -1, groupSize: 33, rounding: 'half-even' }]
 * ```
 */
export function quantConfigArb(opts: QuantConfigOptions = {}): fc.Arbitrary<QuantConfig> {
  const rank = int('quantConfigArb: rank', opts.rank, 2, 1);
  const gsList = opts.groupSizes ?? [1, 2, 3, 4, 5, 7, 8, 9, 16, 32, 33, 64, 128];
  return fc
    .tuple(
      bitsSym(opts),
      fc.option(fc.integer({ min: -rank, max: rank - 1 }), { nil: undefined }),
      fc.option(fc.constantFrom(...gsList), { nil: undefined }),
      roundingArb(opts.roundings ?? DEFAULT_ROUNDINGS),
    )
    .map(([[bits, symmetric], axis, groupSize, rounding]) => ({
      bits,
      symmetric,
      rounding,
      ...(axis === undefined ? {} : { axis }),
      ...(groupSize === undefined ? {} : { groupSize }),
    }));
}

/**
 * Options of {@link quantCaseArb}.
 *
 * @example
 * ```ts
 * const cases = quantCaseArb({ shape: [4, 48], bits: [3], symmetric: true } satisfies QuantCaseOptions);
 * ```
 */
export interface QuantCaseOptions extends TensorOptions, Omit<QuantConfigOptions, 'rank' | 'groupSizes'> {}

/**
 * A tensor and a configuration that fits it: the axis is one of the tensor's, the group size is drawn by
 * {@link groupSizeArb} for the grouped length (divisors, non-divisors, larger than the line).
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { quantizeAffine } from 'lowbit/common';
 * import { quantCaseArb } from 'lowbit/testing';
 * fc.assert(fc.property(quantCaseArb(), ({ x, config }) => quantizeAffine(x, config).codes.length === x.data.length));
 * ```
 */
export function quantCaseArb(opts: QuantCaseOptions = {}): fc.Arbitrary<{ x: Float32Tensor; config: QuantConfig }> {
  return float32TensorArb(opts).chain((x) => {
    const rank = x.shape.length;
    const axisArb =
      rank === 0 ? fc.constant(undefined) : fc.option(fc.integer({ min: -rank, max: rank - 1 }), { nil: undefined });
    return fc
      .tuple(bitsSym(opts), axisArb, roundingArb(opts.roundings ?? DEFAULT_ROUNDINGS))
      .chain(([[bits, symmetric], axis, rounding]) => {
        const len = axis === undefined ? x.data.length : x.shape[axis < 0 ? axis + rank : axis]!;
        return fc.option(groupSizeArb(len), { nil: undefined }).map((groupSize) => ({
          x,
          config: {
            bits,
            symmetric,
            rounding,
            ...(axis === undefined ? {} : { axis }),
            ...(groupSize === undefined ? {} : { groupSize }),
          } as QuantConfig,
        }));
      });
  });
}
