import fc from 'fast-check';
import ndarray from 'ndarray';
import { afterEach, describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import {
  asFloat32,
  asTensor,
  bigintToF32,
  stridedCopyRef,
  type TensorLike,
  toNdarray,
  toOrtLike,
} from '../../src/common/interop.js';
import { float32, tensor } from '../../src/common/tensor.js';

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof LowbitError) return e.code;
    throw e;
  }
  return undefined;
}

/** Element-by-element read of an ndarray view (independent of both copy paths). */
function readView(v: ndarray.NdArray<Float32Array>): number[] {
  const out: number[] = [];
  const idx = new Array<number>(v.shape.length).fill(0);
  const n = v.shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    out.push(v.get(...idx) as number);
    for (let k = idx.length - 1; k >= 0; k--) {
      idx[k]!++;
      if (idx[k]! < v.shape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}

describe('asTensor: zero-copy for contiguous inputs', () => {
  it('ORT / transformers.js { type, data, dims }', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = asTensor({ type: 'float32', data, dims: [2, 3] });
    expect(t.data).toBe(data);
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([2, 3]);
    const i8 = new Int8Array([1, -2]);
    expect(asTensor({ type: 'int8', data: i8, dims: [2] }).data).toBe(i8);
    const b = new Uint8Array([1, 0, 1]);
    const tb = asTensor({ type: 'bool', data: b, dims: [3] });
    expect(tb.data).toBe(b);
    expect(tb.dtype).toBe('bool');
    const i64 = new BigInt64Array([1n, -2n]);
    expect(asTensor({ type: 'int64', data: i64, dims: [1, 2] }).data).toBe(i64);
  });

  it('float16 as Uint16Array bits is kept as is', () => {
    const bits = new Uint16Array([0x3c00, 0xc000]);
    const t = asTensor({ type: 'float16', data: bits, dims: [2] });
    expect(t.data).toBe(bits);
    expect(t.dtype).toBe('float16');
  });

  it('tfjs-style { dataSync(), shape, dtype }', () => {
    const data = new Int32Array([1, 2, 3, 4]);
    let calls = 0;
    const tfLike = {
      dtype: 'int32',
      shape: [4],
      dataSync() {
        calls++;
        return data;
      },
    };
    const t = asTensor(tfLike);
    expect(t.data).toBe(data);
    expect(t.dtype).toBe('int32');
    expect(calls).toBe(1);
  });

  it('ndarray: identity at offset 0, shared memory with an offset', () => {
    const buf = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]);
    const whole = ndarray(buf, [2, 4]);
    expect(asTensor(whole).data).toBe(buf);
    // rows 1.. of a [4, 2] view: contiguous, offset 2
    const rows = ndarray(buf, [4, 2]).lo(1, 0);
    const t = asTensor(rows);
    expect(Array.from(t.data as Float32Array)).toEqual([2, 3, 4, 5, 6, 7]);
    expect((t.data as Float32Array).buffer).toBe(buf.buffer);
    expect((t.data as Float32Array).byteOffset).toBe(8);
    // size-1 axes may have any stride and still be contiguous
    const col = asTensor({ data: buf, shape: [1, 8], stride: [999, 1], offset: 0 });
    expect(col.data).toBe(buf);
  });

  it('lowbit tensors and plain { data, shape }', () => {
    const x = float32([1, 2, 3, 4], [2, 2]);
    expect(asTensor(x).data).toBe(x.data);
    const u16 = new Uint16Array([1, 2]);
    const p = asTensor({ data: u16, shape: [2] });
    expect(p.data).toBe(u16);
    expect(p.dtype).toBe('uint16');
    const h = asTensor({ dtype: 'float16', data: u16, shape: [2] } as TensorLike);
    expect(h.dtype).toBe('float16');
    expect(h.data).toBe(u16);
  });

  it('plain number[] is copied to float32 (documented)', () => {
    const arr = [1.5, -2, 1e-46];
    const t = asTensor({ data: arr, shape: [3] });
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.data as Float32Array)).toEqual([1.5, -2, 0]); // 1e-46 underflows to +0 in float32
  });

  it('Uint8ClampedArray becomes uint8 over the same memory', () => {
    const c = new Uint8ClampedArray([1, 2, 255]);
    const t = asTensor({ data: c, shape: [3] });
    expect(t.dtype).toBe('uint8');
    expect(t.data).toBeInstanceOf(Uint8Array);
    expect((t.data as Uint8Array).buffer).toBe(c.buffer);
  });
});

describe('asTensor: native Float16Array', () => {
  const g = globalThis as { Float16Array?: unknown };
  const had = 'Float16Array' in g;
  const saved = g.Float16Array;
  afterEach(() => {
    if (had) g.Float16Array = saved;
    else delete g.Float16Array;
  });

  it('is reinterpreted as Uint16Array bits without copying', () => {
    // Node 20 has no Float16Array: stand in a 2-byte typed array class so the detection path runs.
    class FakeFloat16Array extends Uint16Array {}
    if (!had) g.Float16Array = FakeFloat16Array;
    const F16 = g.Float16Array as new (n: number) => ArrayBufferView & { length: number };
    const a = new F16(3);
    new Uint16Array(a.buffer).set([0x3c00, 0x8000, 0x7c00]);
    const t = asTensor({ type: 'float16', data: a, dims: [3] });
    expect(t.dtype).toBe('float16');
    expect(t.data).toBeInstanceOf(Uint16Array);
    expect((t.data as Uint16Array).buffer).toBe(a.buffer);
    expect(Array.from(t.data as Uint16Array)).toEqual([0x3c00, 0x8000, 0x7c00]);
    const f = asFloat32({ type: 'float16', data: a, dims: [3] });
    expect(Array.from(f.data)).toEqual([1, -0, Number.POSITIVE_INFINITY]);
    expect(Object.is(f.data[1], -0)).toBe(true);
    // ndarray of a Float16Array: float16 dtype too
    const nd = asTensor({ data: a, shape: [3], stride: [1], offset: 0 } as unknown as TensorLike);
    expect(nd.dtype).toBe('float16');
  });
});

describe('asTensor: strided ndarray views are copied correctly', () => {
  const base = new Float32Array(24).map((_, i) => i);

  it('transpose, step, negative step, lo/hi, pick', () => {
    const a = ndarray(base, [4, 6]);
    const t = asTensor(a.transpose(1, 0));
    expect(t.shape).toEqual([6, 4]);
    // hand-derived: element [i, j] of the transpose is base[j*6 + i]
    expect(Array.from(t.data as Float32Array).slice(0, 8)).toEqual([0, 6, 12, 18, 1, 7, 13, 19]);
    expect(t.data).not.toBe(base);

    const s = asTensor(a.step(2, 3)); // rows 0, 2; cols 0, 3
    expect(s.shape).toEqual([2, 2]);
    expect(Array.from(s.data as Float32Array)).toEqual([0, 3, 12, 15]);

    const r = asTensor(a.step(-1, 1).hi(2, 2)); // rows 3, 2; cols 0, 1
    expect(Array.from(r.data as Float32Array)).toEqual([18, 19, 12, 13]);

    const c = asTensor(a.pick(null, 5)); // column 5
    expect(c.shape).toEqual([4]);
    expect(Array.from(c.data as Float32Array)).toEqual([5, 11, 17, 23]);

    const box = asTensor(a.lo(1, 2).hi(2, 3));
    expect(Array.from(box.data as Float32Array)).toEqual([8, 9, 10, 14, 15, 16]);
  });

  it('random 1..4-D views: ndarray-ops copy = stridedCopyRef = element-wise get', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        (dims, seed) => {
          const n = dims.reduce((p, d) => p * d, 1);
          const buf = new Float32Array(n).map((_, i) => i + seed * 0.5);
          let v = ndarray(buf, dims);
          // a permutation and optional reversal/stepping derived from the seed
          const perm = dims.map((_, i) => i).sort((p, q) => ((p * 7 + seed) % 5) - ((q * 7 + seed) % 5));
          v = v.transpose(...perm);
          const steps = v.shape.map((d, i) =>
            ((seed >> i) & 1) === 1 ? -1 : d > 2 && ((seed >> (i + 4)) & 1) === 1 ? 2 : 1,
          );
          v = v.step(...steps);
          const t = asTensor(v);
          const want = readView(v);
          expect(Array.from(t.data as Float32Array)).toEqual(want);
          expect(t.shape).toEqual(v.shape);
          const ref = stridedCopyRef(buf, v.shape, v.stride, v.offset, new Float32Array(want.length));
          expect(Array.from(ref)).toEqual(want);
          // the source is untouched
          expect(Array.from(buf)).toEqual(Array.from(new Float32Array(n).map((_, i) => i + seed * 0.5)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('integer and bigint views keep their dtype', () => {
    const i16 = ndarray(new Int16Array([1, 2, 3, 4, 5, 6]), [2, 3]).transpose(1, 0);
    const t = asTensor(i16);
    expect(t.dtype).toBe('int16');
    expect(Array.from(t.data as Int16Array)).toEqual([1, 4, 2, 5, 3, 6]);
    const big = asTensor({ data: new BigInt64Array([1n, 2n, 3n, 4n]), shape: [2, 2], stride: [1, 2], offset: 0 });
    expect(big.dtype).toBe('int64');
    expect(Array.from(big.data as BigInt64Array)).toEqual([1n, 3n, 2n, 4n]);
  });

  it('empty views', () => {
    const t = asTensor({ data: new Float32Array(4), shape: [0, 3], stride: [1, 7], offset: 99 });
    expect(t.shape).toEqual([0, 3]);
    expect(t.data.length).toBe(0);
  });
});

describe('asTensor: errors', () => {
  const f = new Float32Array(6);
  it('E_SHAPE for sizes, strides and offsets that do not fit', () => {
    expect(code(() => asTensor({ type: 'float32', data: f, dims: [2, 2] }))).toBe('E_SHAPE');
    expect(code(() => asTensor({ data: f, shape: [7] }))).toBe('E_SHAPE');
    expect(code(() => asTensor({ data: f, shape: [2, -3] }))).toBe('E_SHAPE');
    expect(code(() => asTensor({ data: f, shape: [2, 1.5] }))).toBe('E_SHAPE');
    expect(code(() => asTensor({ data: f, shape: [2, 3], stride: [3], offset: 0 }))).toBe('E_SHAPE');
    expect(code(() => asTensor({ data: f, shape: [2, 3], stride: [3, 1], offset: 1 }))).toBe('E_SHAPE');
    expect(code(() => asTensor({ data: f, shape: [3], stride: [-1], offset: 1 }))).toBe('E_SHAPE');
    expect(code(() => asTensor({ data: f, shape: [3], stride: [1], offset: -1 }))).toBe('E_SHAPE');
    expect(code(() => asTensor({ dtype: 'float32', data: f, shape: [5] } as TensorLike))).toBe('E_SHAPE');
    expect(code(() => asTensor({ type: 'float32', data: f, dims: 6 as unknown as number[] }))).toBe('E_SHAPE');
  });

  it('E_DTYPE for element types that do not fit, with a message saying what was expected', () => {
    expect(code(() => asTensor({ type: 'float32', data: new Int32Array(6), dims: [6] }))).toBe('E_DTYPE');
    expect(code(() => asTensor({ type: 'float16', data: new Float32Array(2), dims: [2] }))).toBe('E_DTYPE');
    expect(code(() => asTensor({ type: 'string', data: ['a'], dims: [1] }))).toBe('E_DTYPE');
    expect(() => asTensor({ type: 'int4', data: new Uint8Array(1), dims: [2] })).toThrow(/packed two per byte/);
    expect(() => asTensor({ type: 'int8', data: new Uint8Array(1), dims: [1] })).toThrow(
      /needs a Int8Array, got Uint8Array/,
    );
    expect(code(() => asTensor({ dtype: 'complex64', shape: [1], dataSync: () => new Float32Array(2) }))).toBe(
      'E_DTYPE',
    );
    expect(code(() => asTensor({ data: ['1', 2] as unknown as number[], shape: [2] }))).toBe('E_DTYPE');
    expect(code(() => asTensor({ data: 'abc' as unknown as number[], shape: [3] }))).toBe('E_DTYPE');
    expect(code(() => asTensor({ dtype: 'float32', data: new Float64Array(2), shape: [2] } as TensorLike))).toBe(
      'E_DTYPE',
    );
    expect(
      code(() => asTensor({ dtype: 'nope', data: new Float64Array(2), shape: [2] } as unknown as TensorLike)),
    ).toBe('E_DTYPE');
    const gpu = {
      type: 'float32',
      dims: [2],
      get data(): Float32Array {
        throw new Error(
          'The data is not on CPU. Use `getData()` to download GPU data to CPU, or use `texture` or `gpuBuffer` property to access the GPU data directly.',
        );
      },
    };
    expect(() => asTensor(gpu)).toThrow(/not readable on the CPU.*getData/);
    expect(code(() => asTensor(null as unknown as TensorLike))).toBe('E_DTYPE');
    expect(code(() => asTensor(42 as unknown as TensorLike))).toBe('E_DTYPE');
    expect(code(() => asTensor({ foo: 1 } as unknown as TensorLike))).toBe('E_DTYPE');
  });
});

describe('mutation safety', () => {
  it('inputs are never written, shapes are copied and frozen', () => {
    const data = new Float32Array([3, 1, 4, 1, 5, 9]);
    const dims = [2, 3];
    const t = asTensor({ type: 'float32', data, dims });
    dims[0] = 99;
    expect(t.shape).toEqual([2, 3]);
    expect(Object.isFrozen(t.shape)).toBe(true);
    const view = ndarray(data, [2, 3]).transpose(1, 0);
    const c = asTensor(view);
    (c.data as Float32Array)[0] = 100; // a copy: the source must not change
    expect(Array.from(data)).toEqual([3, 1, 4, 1, 5, 9]);
    const h = new Uint16Array([0x3c00, 0x7e00]);
    const f = asFloat32({ type: 'float16', data: h, dims: [2] });
    f.data[0] = 7;
    expect(Array.from(h)).toEqual([0x3c00, 0x7e00]);
  });

  it('zero-copy results alias the source (documented)', () => {
    const data = new Float32Array([1, 2]);
    const t = asFloat32({ data, shape: [2] });
    expect(t.data).toBe(data);
  });
});

describe('asFloat32', () => {
  it('float16 and bfloat16 bits decode exactly (hand-derived values)', () => {
    // 0x3c00 = 1, 0xc000 = -2, 0x7c00 = +Inf, 0x0001 = 2^-24 (smallest subnormal), 0x7bff = 65504, 0x3555 = 0.333251953125
    const h = asFloat32({
      type: 'float16',
      data: new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x0001, 0x7bff, 0x3555, 0x7e00]),
      dims: [7],
    });
    expect(Array.from(h.data).slice(0, 6)).toEqual([1, -2, Number.POSITIVE_INFINITY, 2 ** -24, 65504, 0.333251953125]);
    expect(Number.isNaN(h.data[6]!)).toBe(true);
    // bfloat16: 0x3f80 = 1, 0x4049 = 3.140625, 0xff80 = -Inf, 0x0001 = 2^-133
    const b = asFloat32({
      dtype: 'bfloat16',
      data: new Uint16Array([0x3f80, 0x4049, 0xff80, 0x0001]),
      shape: [2, 2],
    } as TensorLike);
    expect(Array.from(b.data)).toEqual([1, 3.140625, Number.NEGATIVE_INFINITY, 2 ** -133]);
    expect(b.shape).toEqual([2, 2]);
  });

  it('integers and float64 round to nearest float32, ties to even', () => {
    const i = asFloat32({ data: new Int32Array([16777217, 16777219, -16777217, 7]), shape: [4] });
    expect(Array.from(i.data)).toEqual([16777216, 16777220, -16777216, 7]);
    const u = asFloat32({ type: 'uint32', data: new Uint32Array([4294967295]), dims: [1] });
    expect(Array.from(u.data)).toEqual([4294967296]);
    const d = asFloat32({ type: 'float64', data: new Float64Array([0.1, 1e39, -1e-50]), dims: [3] });
    expect(d.data[0]).toBe(Math.fround(0.1));
    expect(d.data[1]).toBe(Number.POSITIVE_INFINITY);
    expect(Object.is(d.data[2], -0)).toBe(true);
    const u8 = asFloat32({ type: 'bool', data: new Uint8Array([1, 0]), dims: [2] });
    expect(Array.from(u8.data)).toEqual([1, 0]);
  });

  it('int64 rounds once (no double rounding through float64)', () => {
    // 2^60 + 2^36 + 1: float32 ulp at 2^60 is 2^37, so the exact value is just above the midpoint and
    // rounds up to 2^60 + 2^37. Number() first would give 2^60 + 2^36 (a tie) and then 2^60.
    const v = (1n << 60n) + (1n << 36n) + 1n;
    expect(bigintToF32(v)).toBe(2 ** 60 + 2 ** 37);
    expect(Math.fround(Number(v))).toBe(2 ** 60); // the double-rounding trap this avoids
    expect(bigintToF32((1n << 60n) + (1n << 36n))).toBe(2 ** 60); // exact tie → even
    expect(bigintToF32((1n << 60n) + (3n << 36n))).toBe(2 ** 60 + 2 ** 38); // tie, odd mantissa → up
    expect(bigintToF32(-((1n << 60n) + (1n << 36n) + 1n))).toBe(-(2 ** 60 + 2 ** 37));
    expect(bigintToF32(0n)).toBe(0);
    const t = asFloat32({ type: 'uint64', data: new BigUint64Array([(1n << 64n) - 1n, 5n]), dims: [2] });
    expect(Array.from(t.data)).toEqual([2 ** 64, 5]);
  });

  it('zero-copy for float32', () => {
    const data = new Float32Array(4);
    expect(asFloat32({ type: 'float32', data, dims: [4] }).data).toBe(data);
  });
});

describe('toNdarray / toOrtLike', () => {
  it('toNdarray shares memory and indexes row-major', () => {
    const x = float32([1, 2, 3, 4, 5, 6], [2, 3]);
    const nd = toNdarray(x);
    expect(nd.data).toBe(x.data);
    expect(nd.shape).toEqual([2, 3]);
    expect(nd.stride).toEqual([3, 1]);
    expect(nd.get(1, 2)).toBe(6);
    expect(nd.transpose(1, 0).get(2, 1)).toBe(6);
    // round trip through asTensor is the identity on data
    expect(asTensor(nd).data).toBe(x.data);
    const h = toNdarray(tensor('float16', new Uint16Array([0x3c00]), [1]));
    expect(h.data).toBeInstanceOf(Uint16Array);
  });

  it('toOrtLike gives { type, data, dims } and rejects bfloat16', () => {
    const x = tensor('int8', new Int8Array([1, -1, 3]), [3]);
    const o = toOrtLike(x);
    expect(o.type).toBe('int8');
    expect(o.data).toBe(x.data);
    expect(o.dims).toEqual([3]);
    expect(asTensor(o).data).toBe(x.data);
    expect(toOrtLike(tensor('float16', new Uint16Array(2), [2])).type).toBe('float16');
    expect(code(() => toOrtLike(tensor('bfloat16', new Uint16Array(2), [2])))).toBe('E_DTYPE');
  });
});
