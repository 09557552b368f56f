import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../../src/common/errors.js';
import { encodeGgml } from '../../../src/common/ggml.js';
import { f32ToF16Array } from '../../../src/common/half.js';
import { openGguf, parseGguf, serializeGguf } from '../../../src/common/io/gguf.js';
import { memorySource } from '../../../src/common/io/source.js';

const fx = (name: string) => new URL(`../../fixtures/gguf/${name}`, import.meta.url);
const bytesOf = (name: string) => new Uint8Array(readFileSync(fx(name)));
const f32FromBits = (b: number[]): Float32Array => new Float32Array(Uint32Array.from(b).buffer);
const bitsOf = (x: Float32Array): number[] => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

function expectCode(fn: () => unknown, code: string, msg?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LowbitError);
    expect((e as LowbitError).code).toBe(code);
    if (msg) expect((e as Error).message).toMatch(msg);
    return;
  }
  throw new Error(`expected a LowbitError ${code}`);
}

const expected = JSON.parse(readFileSync(fx('tiny-v3.expected.json'), 'utf8')) as {
  tensors: Record<string, { dtype: string; shape: number[]; f32_bits?: number[]; u16?: number[]; i32?: number[] }>;
  inputs_f32_bits: Record<string, number[]>;
};

describe('reading numpy-written fixtures', () => {
  const f = parseGguf(bytesOf('tiny-v3.gguf'));

  it('header and metadata of every value type, incl. nested and empty arrays', () => {
    expect(f.format).toBe('gguf');
    expect(f.version).toBe(3);
    expect(f.alignment).toBe(32);
    const m = f.metadata;
    expect(m['general.architecture']).toBe('lowbit-test');
    expect(m['general.name']).toBe('tiny éè ☃');
    expect([m['test.u8'], m['test.i8'], m['test.u16'], m['test.i16']]).toEqual([200, -100, 60000, -30000]);
    expect([m['test.u32'], m['test.i32']]).toEqual([4000000000, -2000000000]);
    expect(m['test.f32']).toBe(Math.fround(0.1));
    expect([m['test.bool_true'], m['test.bool_false']]).toEqual([true, false]);
    expect(m['test.u64']).toBe(2n ** 63n + 5n);
    expect(m['test.i64']).toBe(-(2n ** 62n) - 3n);
    expect(m['test.f64']).toBe(Math.PI);
    expect(m['test.arr_u32']).toEqual([1, 2, 3, 4294967295]);
    expect(m['test.arr_f32']).toEqual([0.5, -1.25]);
    expect(m['test.arr_str']).toEqual(['a', '', 'hello world']);
    expect(m['test.arr_empty']).toEqual([]);
    expect(m['test.arr_nested']).toEqual([[1, -2], [], [3]]);
    expect(m['test.arr_bool']).toEqual([true, false, true]);
    expect(f.typedMetadata['test.u32']).toEqual({ type: 'u32', value: 4000000000 });
    expect(f.typedMetadata['test.arr_nested']).toEqual({
      type: 'array',
      itemType: 'array',
      value: [
        { type: 'array', itemType: 'i16', value: [1, -2] },
        { type: 'array', itemType: 'i16', value: [] },
        { type: 'array', itemType: 'i16', value: [3] },
      ],
    });
  });

  it('tensor infos: names in order, row-major shapes (ne reversed), aligned offsets', () => {
    expect(f.names).toEqual(Object.keys(expected.tensors));
    for (const [name, e] of Object.entries(expected.tensors)) {
      const ti = f.info(name);
      expect(ti.fileDtype).toBe(e.dtype);
      expect(ti.shape).toEqual(e.shape);
      expect(ti.ne).toEqual([...e.shape].reverse());
      expect((ti.byteOffset - f.dataOffset) % 32).toBe(0);
    }
    expect(f.info('blk.0.q4_0').byteLength).toBe(36);
    expect(f.dataOffset % 32).toBe(0);
  });

  it('decodes F32/F16/BF16/Q8_0/Q4_0/Q4_1/MXFP4/I32 exactly as numpy did', () => {
    for (const [name, e] of Object.entries(expected.tensors)) {
      const t = f.read(name);
      expect(t.shape).toEqual(e.shape);
      if (e.u16) expect(Array.from(t.data as Uint16Array)).toEqual(e.u16);
      if (e.i32) {
        expect(t.dtype).toBe('int32');
        expect(Array.from(t.data as Int32Array)).toEqual(e.i32);
      }
      if (e.f32_bits) expect(bitsOf(f.readFloat32(name).data)).toEqual(e.f32_bits);
    }
    expect(f.read('h.f16').dtype).toBe('float16');
    expect(f.read('b.bf16').dtype).toBe('bfloat16');
    expect(f.read('blk.0.q4_0').dtype).toBe('float32');
  });

  it('raw block bytes equal lowbit’s own encoding of the same inputs (independent cross-check)', () => {
    for (const [name, type] of [
      ['blk.0.q8_0', 'q8_0'],
      ['blk.0.q4_0', 'q4_0'],
      ['blk.0.q4_1', 'q4_1'],
      ['blk.0.mxfp4', 'mxfp4'],
    ] as const) {
      const x = f32FromBits(expected.inputs_f32_bits[name]!);
      expect(Buffer.from(f.readRaw(name)).equals(Buffer.from(encodeGgml(x, type)))).toBe(true);
    }
  });

  it('reads a version-2 file with alignment 16', () => {
    const g = parseGguf(bytesOf('tiny-v2-align16.gguf'));
    expect(g.version).toBe(2);
    expect(g.alignment).toBe(16);
    expect(Array.from(g.readFloat32('a').data)).toEqual([1, 2, 3]);
    expect(g.info('b').shape).toEqual([1, 2]);
    expect(Array.from(g.readFloat32('b').data)).toEqual([0.5, -1]);
  });

  it('unknown tensors and read after close', () => {
    const g = openGguf(memorySource(bytesOf('tiny-v3.gguf')));
    expectCode(() => g.read('nope'), 'E_CONFIG');
    g.close();
    expectCode(() => g.read('w.f32'), 'E_IO');
  });
});

describe('writer', () => {
  it('is byte-identical to the numpy writer (typed metadata, alignment 64, F32/F16/Q8_0/Q4_0)', () => {
    const inp = JSON.parse(readFileSync(fx('writer-v3-align64.inputs.json'), 'utf8')) as Record<string, number[]>;
    const w = f32FromBits(inp.w!);
    const h = f32FromBits(inp.h!);
    const wx = f32FromBits(inp.wx!);
    const out = serializeGguf({
      metadata: {
        'general.architecture': 'llama',
        'general.alignment': { type: 'u32', value: 64 },
        'llama.block_count': 1,
        'llama.rope.freq_base': { type: 'f32', value: 10000 },
        'llama.attention.layer_norm_rms_epsilon': 1e-5,
        'tokenizer.ggml.tokens': ['<unk>', '<s>', '</s>'],
        'tokenizer.ggml.scores': { type: 'array', itemType: 'f32', value: [0, -1.5, 2.25] },
        'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', value: [2, 3, 3] },
        'test.i64': { type: 'i64', value: -5n },
      },
      tensors: [
        { name: 'token_embd.weight', data: w, shape: [2, 3] },
        { name: 'output_norm.weight', data: { dtype: 'float16', data: f32ToF16Array(h), shape: [8] } },
        { name: 'blk.0.attn_q.weight', data: wx, shape: [2, 32], type: 'Q8_0' },
        { name: 'blk.0.attn_k.weight', data: wx, shape: [2, 32], type: 'Q4_0' },
      ],
    });
    expect(Buffer.from(out).equals(Buffer.from(bytesOf('writer-v3-align64.gguf')))).toBe(true);
  });

  it('round-trips every metadata type and every writable tensor type', () => {
    const x = Float32Array.from({ length: 96 }, (_, i) => Math.sin(i) * 3);
    const metadata = {
      a: { type: 'u8', value: 7 },
      b: { type: 'i8', value: -7 },
      c: { type: 'u16', value: 65535 },
      d: { type: 'i16', value: -1 },
      e: { type: 'u32', value: 0 },
      f: { type: 'i32', value: 5 },
      g: { type: 'f32', value: 1.5 },
      h: { type: 'bool', value: true },
      i: { type: 'string', value: 'ü' },
      j: { type: 'u64', value: 2n ** 64n - 1n },
      k: { type: 'i64', value: -(2n ** 63n) },
      l: { type: 'f64', value: 0.1 },
      m: {
        type: 'array',
        itemType: 'array',
        value: [{ type: 'array', itemType: 'string', value: ['x', 'y'] }],
      },
    } as const;
    const types = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'MXFP4'] as const;
    const bytes = serializeGguf({
      metadata,
      tensors: types.map((type) => ({ name: `t.${type}`, data: x, shape: [3, 32], type })),
      alignment: 128,
    });
    const f = parseGguf(bytes);
    expect(f.alignment).toBe(128);
    for (const [k, v] of Object.entries(metadata)) {
      const got = f.typedMetadata[k]!;
      if (v.type === 'u64' || v.type === 'i64') expect(got.value).toBe(v.value);
      else expect(got).toEqual(v);
    }
    expect(f.typedMetadata['general.alignment']).toEqual({ type: 'u32', value: 128 });
    expect(bitsOf(f.readFloat32('t.F32').data)).toEqual(bitsOf(x));
    for (const type of types) {
      const got = f.readRaw(`t.${type}`);
      expect(Buffer.from(got).equals(Buffer.from(encodeGgml(x, type)))).toBe(true);
      expect(f.info(`t.${type}`).shape).toEqual([3, 32]);
    }
  });

  it('infers bare metadata types', () => {
    const f = parseGguf(
      serializeGguf({
        metadata: { s: 'x', n: 3, neg: -3, big: 2 ** 40, fl: 0.5, bo: false, bi: 9n, arr: [[1, 2], [3]] },
        tensors: [],
      }),
    );
    const t = f.typedMetadata;
    expect([t.s!.type, t.n!.type, t.neg!.type, t.big!.type, t.fl!.type, t.bo!.type, t.bi!.type]).toEqual([
      'string',
      'u32',
      'i32',
      'i64',
      'f32',
      'bool',
      'i64',
    ]);
    expect(f.metadata.arr).toEqual([[1, 2], [3]]);
    expect(f.names).toEqual([]);
  });

  it('rejects bad writer input', () => {
    const x = new Float32Array(32);
    expectCode(() => serializeGguf({ tensors: [{ name: 'a', data: x, shape: [2, 16], type: 'Q8_0' }] }), 'E_SHAPE');
    expectCode(() => serializeGguf({ tensors: [{ name: 'a', data: x, shape: [3, 11] }] }), 'E_SHAPE');
    expectCode(
      () =>
        serializeGguf({
          tensors: [
            { name: 'a', data: x },
            { name: 'a', data: x },
          ],
        }),
      'E_CONFIG',
    );
    expectCode(() => serializeGguf({ tensors: [{ name: 'n'.repeat(64), data: x }] }), 'E_CONFIG');
    expectCode(() => serializeGguf({ tensors: [], metadata: { a: { type: 'u8', value: 256 } } }), 'E_CONFIG');
    expectCode(() => serializeGguf({ tensors: [], metadata: { a: [1, 'x'] } }), 'E_CONFIG');
    expectCode(() => serializeGguf({ tensors: [], alignment: 48 }), 'E_CONFIG');
    expectCode(
      () =>
        serializeGguf({ tensors: [], alignment: 64, metadata: { 'general.alignment': { type: 'u32', value: 32 } } }),
      'E_CONFIG',
    );
    expectCode(
      () => serializeGguf({ tensors: [{ name: 'q', data: { dtype: 'int32', data: new Int32Array(1), shape: [1] } }] }),
      'E_DTYPE',
    );
    const nan = new Float32Array(32).fill(Number.NaN);
    expectCode(() => serializeGguf({ tensors: [{ name: 'a', data: nan, type: 'Q4_0' }] }), 'E_NONFINITE');
  });
});

describe('hardening (hand-built headers)', () => {
  const base = () => serializeGguf({ metadata: { k: 'v' }, tensors: [{ name: 't', data: new Float32Array(8) }] });
  // layout of base(): 0 magic, 4 version, 8 n_tensors, 16 n_kv, 24 key len(1), 32 'k', 33 type, 37 len(1), 45 'v',
  // 46 name len(1), 54 't', 55 n_dims, 59 ne[0], 67 type, 71 offset, 79 → pad to 96, data 96..128
  const mutate = (fn: (dv: DataView, b: Uint8Array) => void): Uint8Array => {
    const b = base().slice();
    fn(new DataView(b.buffer), b);
    return b;
  };

  it('accepts the unmodified base file', () => {
    const f = parseGguf(base());
    expect(f.dataOffset).toBe(96);
    expect(f.info('t').byteOffset).toBe(96);
  });
  it('bad magic, v1, unknown and byte-swapped versions', () => {
    expectCode(() => parseGguf(mutate((_, b) => (b[0] = 0x48))), 'E_FORMAT', /magic/);
    expectCode(() => parseGguf(mutate((dv) => dv.setUint32(4, 1, true))), 'E_FORMAT', /version 1/);
    expectCode(() => parseGguf(mutate((dv) => dv.setUint32(4, 4, true))), 'E_FORMAT', /version 4/);
    expectCode(() => parseGguf(mutate((dv) => dv.setUint32(4, 3, false))), 'E_FORMAT', /big-endian/);
  });
  it('counts and lengths beyond caps or beyond the file', () => {
    expectCode(() => parseGguf(mutate((dv) => dv.setBigUint64(8, 2n ** 40n, true))), 'E_LIMIT');
    expectCode(() => parseGguf(mutate((dv) => dv.setBigUint64(8, 1000n, true))), 'E_FORMAT', /bytes are left/);
    expectCode(() => parseGguf(mutate((dv) => dv.setBigUint64(16, 2n ** 63n, true))), 'E_LIMIT');
    expectCode(() => parseGguf(mutate((dv) => dv.setBigUint64(24, 2n ** 33n, true))), 'E_LIMIT');
    expectCode(() => parseGguf(mutate((dv) => dv.setBigUint64(37, 5000n, true))), 'E_FORMAT');
  });
  it('metadata: unknown type, bad bool, duplicate key, nesting depth, bad alignment', () => {
    expectCode(() => parseGguf(mutate((dv) => dv.setUint32(33, 13, true))), 'E_FORMAT', /unknown value type/);
    const dup = serializeGguf({ metadata: { ab: 1, ac: 2 }, tensors: [] });
    dup[51] = 0x62; // rename "ac" (key bytes at 50..51) to "ab"
    expectCode(() => parseGguf(dup), 'E_FORMAT', /duplicate metadata key/);
    let deep: Record<string, unknown> = { type: 'array', itemType: 'u8', value: [1] };
    for (let i = 0; i < 9; i++) deep = { type: 'array', itemType: 'array', value: [deep] };
    const deepBytes = serializeGguf({ metadata: { d: deep as never }, tensors: [] });
    expectCode(() => parseGguf(deepBytes), 'E_LIMIT', /nested/);
    expect(parseGguf(deepBytes, { maxDepth: 16 }).metadata.d).toBeDefined();
    const boolBytes = serializeGguf({ metadata: { b: true }, tensors: [] });
    boolBytes[37] = 2; // 24 header + 8 key length + "b" + 4 type
    expectCode(() => parseGguf(boolBytes), 'E_FORMAT', /bool/);
    const al = serializeGguf({ metadata: { 'general.alignment': { type: 'u32', value: 64 } }, tensors: [] });
    new DataView(al.buffer).setUint32(24 + 8 + 17, 5, true); // value type u32 → i32
    expectCode(() => parseGguf(al), 'E_FORMAT', /alignment/);
    const al2 = serializeGguf({ metadata: { 'general.alignment': { type: 'u32', value: 64 } }, tensors: [] });
    new DataView(al2.buffer).setUint32(24 + 8 + 17 + 4, 48, true);
    expectCode(() => parseGguf(al2), 'E_FORMAT', /power of two/);
  });
  it('tensor infos: n_dims cap, unknown type, misaligned, out of file, overlap, duplicates, block rows', () => {
    expectCode(() => parseGguf(mutate((dv) => dv.setUint32(55, 9, true))), 'E_LIMIT', /dims/);
    expectCode(() => parseGguf(mutate((dv) => dv.setUint32(67, 4, true))), 'E_FORMAT', /unknown ggml type/);
    expectCode(() => parseGguf(mutate((dv) => dv.setBigUint64(71, 4n, true))), 'E_FORMAT', /alignment/);
    expectCode(() => parseGguf(mutate((dv) => dv.setBigUint64(71, 32n, true))), 'E_FORMAT', /past the end/);
    expectCode(() => parseGguf(mutate((dv) => dv.setBigUint64(59, 2n ** 60n, true))), 'E_LIMIT');
    expectCode(() => parseGguf(mutate((dv) => dv.setUint32(67, 2, true))), 'E_FORMAT', /block size/);
    const two = serializeGguf({
      tensors: [
        { name: 'a', data: new Float32Array(8) },
        { name: 'b', data: new Float32Array(8) },
      ],
    });
    const dv = new DataView(two.buffer);
    // second tensor info: name at 24+8+1+4+8+4+8 = 57 (len), 65 'b', 66 n_dims, 70 ne, 78 type, 82 offset
    expect(dv.getBigUint64(82, true)).toBe(32n);
    const ov = two.slice();
    new DataView(ov.buffer).setBigUint64(82, 0n, true);
    expectCode(() => parseGguf(ov), 'E_FORMAT', /overlap/);
    const dn = two.slice();
    dn[65] = 0x61;
    expectCode(() => parseGguf(dn), 'E_FORMAT', /duplicate tensor/);
    expectCode(() => parseGguf(two.subarray(0, 100)), 'E_FORMAT');
  });
  it('invalid UTF-8 in a key or tensor name is rejected; in a value it is replaced', () => {
    expectCode(() => parseGguf(mutate((_, b) => (b[32] = 0xff))), 'E_FORMAT', /UTF-8/);
    expectCode(() => parseGguf(mutate((_, b) => (b[54] = 0xc3))), 'E_FORMAT', /UTF-8/);
    expect(parseGguf(mutate((_, b) => (b[45] = 0xff))).metadata.k).toBe('\ufffd');
  });
  it('does not decode unsupported ggml types but lists them', () => {
    const b = serializeGguf({ tensors: [{ name: 'k', data: new Float32Array(256) }] });
    const dv = new DataView(b.buffer);
    // ne[0] at 24+8+1+4 = 37, type at 45; make it a 256-element Q4_K (144 bytes ≤ 1024 bytes of data)
    dv.setUint32(45, 12, true);
    const f = parseGguf(b);
    expect(f.info('k').fileDtype).toBe('Q4_K');
    expect(f.info('k').byteLength).toBe(144);
    expectCode(() => f.read('k'), 'E_DTYPE', /cannot decode/);
  });
  it('never mutates the input bytes', () => {
    const b = bytesOf('tiny-v3.gguf');
    const copy = b.slice();
    const f = parseGguf(b);
    for (const n of f.names) f.read(n);
    expect(Buffer.from(b).equals(Buffer.from(copy))).toBe(true);
  });
});
