/**
 * Adapter for transformers.js-style KV caches: a record of `past_key_values.{i}.key|value` tensors
 * (`{ type, data, dims }`, dims `[batch, kvHeads, T, headDim]`, BNSH) is compressed into one
 * {@link KiviCache} per layer and batch row, extended with the tokens a later `generate()` call added,
 * and restored to the same record shape (dequantized) for the next call. Other record entries (e.g.
 * `past_conv.*` of hybrid models) are passed through untouched. No transformers.js import: tensors are
 * structural, and `restorePastKeyValues` takes an optional factory to build real `Tensor`s.
 *
 * Exposed: PastTensorLike, KiviPastOptions, CompressedPastKeyValues, compressPastKeyValues,
 * extendPastKeyValues, restorePastKeyValues.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { f16ToF32Array, f32ToF16Array } from '../common/half.js';
import { KiviCache } from './cache.js';
import { checkFiniteRange, type KiviCacheConfig } from './config.js';

/**
 * A structural tensor as transformers.js / onnxruntime-web build them.
 *
 * @example
 * ```ts
 * const t: PastTensorLike = { type: 'float32', data: new Float32Array(2 * 4 * 8), dims: [1, 2, 4, 8] };
 * ```
 */
export interface PastTensorLike {
  readonly type: string;
  readonly data: Float32Array | Uint16Array | ArrayLike<number>;
  readonly dims: readonly number[];
}

/**
 * Cache options for every layer (kvHeads and headDim come from the tensors).
 *
 * @example
 * ```ts
 * const opts: KiviPastOptions = { bits: 2, groupSize: 32, residualLength: 128 };
 * ```
 */
export type KiviPastOptions = Omit<KiviCacheConfig, 'kvHeads' | 'headDim'>;

/**
 * The compressed form: `caches[layer][batchRow]`.
 *
 * @example
 * ```ts
 * const c: CompressedPastKeyValues = compressPastKeyValues(pkv, { bits: 2 });
 * c.caches[0][0].byteLength;
 * ```
 */
export interface CompressedPastKeyValues {
  readonly layers: number;
  readonly batch: number;
  /** Tokens per sequence (all rows share it, as in a padded transformers.js batch). */
  readonly length: number;
  readonly caches: readonly (readonly KiviCache[])[];
  /** Tensor type of each layer's key/value tensors (`'float32'` or `'float16'`), used on restore. */
  readonly types: readonly ('float32' | 'float16')[];
  /** Entries that are not `past_key_values.{i}.key|value`, kept by reference. */
  readonly passthrough: Readonly<Record<string, unknown>>;
}

const KEY_RE = /^past_key_values\.(\d+)\.(key|value)$/;

interface LayerInput {
  type: 'float32' | 'float16';
  dims: [number, number, number, number];
  k: Float32Array;
  v: Float32Array;
}

function asF32(t: PastTensorLike, who: string, name: string): { type: 'float32' | 'float16'; data: Float32Array } {
  if (t === null || typeof t !== 'object') fail('E_SHAPE', `${who}: ${name} is not a tensor`);
  if (t.type === 'float32') {
    if (!(t.data instanceof Float32Array)) fail('E_DTYPE', `${who}: ${name} has type float32 but no Float32Array data`);
    return { type: 'float32', data: t.data };
  }
  if (t.type === 'float16') {
    if (t.data instanceof Uint16Array) return { type: 'float16', data: f16ToF32Array(t.data) };
    const F16 = (globalThis as { Float16Array?: abstract new () => unknown }).Float16Array;
    if (F16 !== undefined && t.data instanceof F16) return { type: 'float16', data: Float32Array.from(t.data) };
    fail('E_DTYPE', `${who}: ${name} has type float16 but its data is neither Uint16Array nor Float16Array`);
  }
  return fail('E_DTYPE', `${who}: ${name} has type ${JSON.stringify(t.type)}; expected 'float32' or 'float16'`);
}

function parseRecord(
  pkv: Readonly<Record<string, unknown>>,
  who: string,
): { layers: LayerInput[]; passthrough: Record<string, unknown> } {
  if (pkv === null || typeof pkv !== 'object') fail('E_SHAPE', `${who}: expected a record of past_key_values tensors`);
  const found = new Map<number, { key?: PastTensorLike; value?: PastTensorLike }>();
  const passthrough: Record<string, unknown> = {};
  for (const name of Object.keys(pkv)) {
    const m = KEY_RE.exec(name);
    if (m === null) {
      passthrough[name] = pkv[name];
      continue;
    }
    const i = Number(m[1]);
    const e = found.get(i) ?? {};
    e[m[2] as 'key' | 'value'] = pkv[name] as PastTensorLike;
    found.set(i, e);
  }
  const L = found.size;
  check(L > 0, 'E_SHAPE', `${who}: no past_key_values.{i}.key|value entries`);
  const layers: LayerInput[] = [];
  let B = -1;
  let T = -1;
  for (let i = 0; i < L; i++) {
    const e = found.get(i);
    if (e?.key === undefined || e.value === undefined)
      fail('E_SHAPE', `${who}: layers must be 0..${L - 1} with both .key and .value; layer ${i} is incomplete`);
    const dk = e.key.dims;
    const dv = e.value.dims;
    const ok = (d: readonly number[]) =>
      Array.isArray(d) && d.length === 4 && d.every((x) => Number.isSafeInteger(x) && x >= 0);
    check(
      ok(dk) && ok(dv) && dk.every((x, j) => x === dv[j]),
      'E_SHAPE',
      () => `${who}: layer ${i} key/value dims must be equal [batch, kvHeads, T, headDim], got [${dk}] / [${dv}]`,
    );
    const dims = dk as [number, number, number, number];
    if (i === 0) {
      B = dims[0];
      T = dims[2];
    }
    check(
      dims[0] === B && dims[2] === T,
      'E_SHAPE',
      () => `${who}: layer ${i} has batch ${dims[0]} and T ${dims[2]}, layer 0 has ${B} and ${T}`,
    );
    const k = asF32(e.key, who, `past_key_values.${i}.key`);
    const v = asF32(e.value, who, `past_key_values.${i}.value`);
    const n = dims[0] * dims[1] * dims[2] * dims[3];
    check(k.data.length === n && v.data.length === n, 'E_SHAPE', `${who}: layer ${i} data length does not match dims`);
    check(k.type === v.type, 'E_DTYPE', `${who}: layer ${i} key and value types differ`);
    layers.push({ type: k.type, dims, k: k.data, v: v.data });
  }
  return { layers, passthrough };
}

/** Copy tokens [t0, T) of batch row b from BNSH data into a fresh `[H, T − t0, D]` array. */
function rowSlice(data: Float32Array, dims: readonly number[], b: number, t0: number): Float32Array {
  const [, H, T, D] = dims as [number, number, number, number];
  const n = T - t0;
  const out = new Float32Array(H * n * D);
  for (let h = 0; h < H; h++) {
    const src = ((b * H + h) * T + t0) * D;
    out.set(data.subarray(src, src + n * D), h * n * D);
  }
  return out;
}

/**
 * Compress a transformers.js-style `past_key_values` record into one `KiviCache` per layer and batch
 * row (the whole sequence is appended, so the newest tokens stay in the full-precision window). The
 * record is not modified.
 *
 * @example
 * ```ts
 * const c = compressPastKeyValues(out.past_key_values, { bits: 2, groupSize: 32, residualLength: 128 });
 * ```
 */
export function compressPastKeyValues(
  pkv: Readonly<Record<string, unknown>>,
  opts: KiviPastOptions = {},
): CompressedPastKeyValues {
  const who = 'compressPastKeyValues';
  const { layers, passthrough } = parseRecord(pkv, who);
  const caches = layers.map(({ dims }) => {
    const row: KiviCache[] = [];
    for (let b = 0; b < dims[0]; b++) row.push(new KiviCache({ ...opts, kvHeads: dims[1], headDim: dims[3] }));
    return row;
  });
  const T = layers[0]!.dims[2];
  if (T > 0) {
    layers.forEach(({ dims, k, v }, i) => {
      for (let b = 0; b < dims[0]; b++) {
        const shape = [dims[1], T, dims[3]];
        caches[i]![b]!.append(
          { dtype: 'float32', data: rowSlice(k, dims, b, 0), shape },
          { dtype: 'float32', data: rowSlice(v, dims, b, 0), shape },
        );
      }
    });
  }
  return {
    layers: layers.length,
    batch: layers[0]!.dims[0],
    length: T,
    caches,
    types: layers.map((l) => l.type),
    passthrough,
  };
}

/**
 * Extend a compressed cache with the tokens a later `generate()` call added: `pkv` holds T' ≥ length
 * tokens (the first `length` of them are the restored ones and are ignored); tokens [length, T') are
 * appended, so old tokens are never re-quantized. Returns the updated compressed form (the caches are
 * extended in place; passthrough entries are taken from `pkv`). Everything is validated first: on error
 * no cache changes.
 *
 * @example
 * ```ts
 * c = extendPastKeyValues(c, out2.past_key_values);
 * ```
 */
export function extendPastKeyValues(
  c: CompressedPastKeyValues,
  pkv: Readonly<Record<string, unknown>>,
): CompressedPastKeyValues {
  const who = 'extendPastKeyValues';
  const { layers, passthrough } = parseRecord(pkv, who);
  check(layers.length === c.layers, 'E_SHAPE', `${who}: ${layers.length} layers, the cache has ${c.layers}`);
  const T = layers[0]!.dims[2];
  check(T >= c.length, 'E_SHAPE', `${who}: the record holds ${T} tokens, fewer than the cache's ${c.length}`);
  layers.forEach(({ dims }, i) => {
    const cfg = c.caches[i]![0]!.config;
    check(
      dims[0] === c.batch && dims[1] === cfg.kvHeads && dims[3] === cfg.headDim,
      'E_SHAPE',
      () =>
        `${who}: layer ${i} dims [${dims}] do not match the cache (batch ${c.batch}, ${cfg.kvHeads} heads, D ${cfg.headDim})`,
    );
  });
  // Validate all appended data before touching any cache.
  const slices = layers.map(({ dims, k, v }) => {
    const rows: { k: Float32Array; v: Float32Array }[] = [];
    for (let b = 0; b < dims[0]; b++)
      rows.push({ k: rowSlice(k, dims, b, c.length), v: rowSlice(v, dims, b, c.length) });
    return rows;
  });
  slices.forEach((rows, i) => {
    const sd = c.caches[i]![0]!.config.scaleDtype;
    for (const r of rows) {
      checkFiniteRange(r.k, 0, r.k.length, sd, who, `past_key_values.${i}.key`);
      checkFiniteRange(r.v, 0, r.v.length, sd, who, `past_key_values.${i}.value`);
    }
  });
  if (T > c.length) {
    slices.forEach((rows, i) => {
      const dims = layers[i]!.dims;
      rows.forEach((r, b) => {
        const shape = [dims[1], T - c.length, dims[3]];
        c.caches[i]![b]!.append({ dtype: 'float32', data: r.k, shape }, { dtype: 'float32', data: r.v, shape });
      });
    });
  }
  return { ...c, length: T, passthrough };
}

/**
 * Restore the record shape for the next `generate()` call: `past_key_values.{i}.key|value` as
 * dequantized `[batch, kvHeads, T, headDim]` tensors of each layer's original type (float16 data as
 * `Uint16Array` bit patterns), plus the passthrough entries. `createTensor` (e.g.
 * `(type, data, dims) => new Tensor(type, data, dims)`) builds the tensor objects; default plain objects.
 *
 * @example
 * ```ts
 * const past_key_values = restorePastKeyValues(c);
 * // await model.generate({ ...inputs, past_key_values });
 * ```
 */
export function restorePastKeyValues<Out = PastTensorLike>(
  c: CompressedPastKeyValues,
  createTensor?: (type: 'float32' | 'float16', data: Float32Array | Uint16Array, dims: number[]) => Out,
): Record<string, Out | unknown> {
  const make =
    createTensor ??
    ((type: 'float32' | 'float16', data: Float32Array | Uint16Array, dims: number[]) =>
      ({ type, data, dims }) as unknown as Out);
  const out: Record<string, Out | unknown> = {};
  for (let i = 0; i < c.layers; i++) {
    const row = c.caches[i]!;
    const { kvHeads: H, headDim: D } = row[0]!.config;
    const T = c.length;
    const n = H * T * D;
    const k = new Float32Array(c.batch * n);
    const v = new Float32Array(c.batch * n);
    row.forEach((cache, b) => {
      k.set(cache.keys().data, b * n);
      v.set(cache.values().data, b * n);
    });
    const type = c.types[i]!;
    const dims = [c.batch, H, T, D];
    out[`past_key_values.${i}.key`] = make(type, type === 'float16' ? f32ToF16Array(k) : k, [...dims]);
    out[`past_key_values.${i}.value`] = make(type, type === 'float16' ? f32ToF16Array(v) : v, [...dims]);
  }
  for (const [name, val] of Object.entries(c.passthrough)) out[name] = val;
  return out;
}
