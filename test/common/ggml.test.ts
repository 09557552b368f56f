import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import {
  decodeGgml,
  decodeGgmlRef,
  e8m0ToFp32Half,
  encodeGgml,
  encodeGgmlRef,
  GGML_TYPES,
  type GgmlCodecType,
  ggmlByteSize,
  ggmlType,
} from '../../src/common/ggml.js';

const golden = JSON.parse(readFileSync(new URL('../fixtures/gguf/ggml-blocks.json', import.meta.url), 'utf8')) as {
  n: number;
  input_f32_bits: number[];
  types: Record<string, { encoded_hex: string; decoded_f32_bits: number[] }>;
};

const f32FromBits = (b: number[]): Float32Array => new Float32Array(Uint32Array.from(b).buffer);
const bitsOf = (x: Float32Array): number[] => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const BLOCK_TYPES = ['q8_0', 'q4_0', 'q4_1', 'mxfp4'] as const;

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LowbitError);
    expect((e as LowbitError).code).toBe(code);
    return;
  }
  throw new Error(`expected a LowbitError ${code}`);
}

describe('GGML_TYPES traits', () => {
  it('pins the llama.cpp block sizes and ids', () => {
    const want: [string, number, number, number][] = [
      ['F32', 0, 1, 4],
      ['F16', 1, 1, 2],
      ['Q4_0', 2, 32, 18],
      ['Q4_1', 3, 32, 20],
      ['Q5_0', 6, 32, 22],
      ['Q5_1', 7, 32, 24],
      ['Q8_0', 8, 32, 34],
      ['Q8_1', 9, 32, 36],
      ['Q2_K', 10, 256, 84],
      ['Q4_K', 12, 256, 144],
      ['Q6_K', 14, 256, 210],
      ['Q8_K', 15, 256, 292],
      ['IQ4_NL', 20, 32, 18],
      ['I8', 24, 1, 1],
      ['I64', 27, 1, 8],
      ['F64', 28, 1, 8],
      ['BF16', 30, 1, 2],
      ['TQ2_0', 35, 256, 66],
      ['MXFP4', 39, 32, 17],
    ];
    for (const [name, id, bs, ts] of want) {
      const tr = ggmlType(name);
      expect([tr.id, tr.blockSize, tr.typeSize]).toEqual([id, bs, ts]);
      expect(ggmlType(id).name).toBe(name);
    }
    expect(GGML_TYPES.Q4_0.bitsPerWeight).toBe(4.5);
    expect(GGML_TYPES.MXFP4.bitsPerWeight).toBe(4.25);
    for (const removed of [4, 5, 31, 32, 33, 36, 37, 38, 40]) expectCode(() => ggmlType(removed), 'E_DTYPE');
    expect(ggmlByteSize('Q4_0', 64)).toBe(36);
    expectCode(() => ggmlByteSize('Q4_0', 33), 'E_SHAPE');
  });

  it('e8m0ToFp32Half is 2^(e-128) including the two subnormal codes', () => {
    expect(e8m0ToFp32Half(128)).toBe(1);
    expect(e8m0ToFp32Half(0)).toBe(2 ** -128);
    expect(e8m0ToFp32Half(1)).toBe(2 ** -127);
    expect(e8m0ToFp32Half(2)).toBe(2 ** -126);
    expect(e8m0ToFp32Half(254)).toBe(2 ** 126);
  });
});

describe('golden blocks from numpy (test/fixtures/gguf/make_fixtures.py)', () => {
  const x = f32FromBits(golden.input_f32_bits);
  for (const t of BLOCK_TYPES) {
    const g = golden.types[t.toUpperCase()]!;
    it(`${t}: encode is byte-identical, decode is bit-identical`, () => {
      expect(hex(encodeGgml(x, t))).toBe(g.encoded_hex);
      expect(hex(encodeGgmlRef(x, t))).toBe(g.encoded_hex);
      const bytes = Uint8Array.from(Buffer.from(g.encoded_hex, 'hex'));
      expect(bitsOf(decodeGgml(bytes, t, golden.n))).toEqual(g.decoded_f32_bits);
      expect(bitsOf(decodeGgmlRef(bytes, t, golden.n))).toEqual(g.decoded_f32_bits);
    });
  }
});

describe('hand-derived blocks', () => {
  it('Q4_0 of an all-zero block stores d = -0 (0x8000) and codes 8', () => {
    const b = encodeGgml(new Float32Array(32), 'q4_0');
    expect(Array.from(b.subarray(0, 2))).toEqual([0x00, 0x80]);
    expect(Array.from(b.subarray(2)).every((v) => v === 0x88)).toBe(true);
  });
  it('Q8_0: d = 1/127 rounded to fp16, codes ±127, ties away from zero', () => {
    const x = new Float32Array(32);
    x[0] = 1;
    x[1] = -1;
    x[2] = Math.fround(0.5 / 127); // x·id = 0.5 (almost) → depends on f32 id; checked against Ref below
    const b = encodeGgml(x, 'q8_0');
    // fp16(1/127) = 0x2008 (1/127 = 0.0078740… → 0.0078735… in fp16)
    expect(b[0]! | (b[1]! << 8)).toBe(0x2008);
    expect((b[2]! << 24) >> 24).toBe(127);
    expect((b[3]! << 24) >> 24).toBe(-127);
    expect(hex(b)).toBe(hex(encodeGgmlRef(x, 'q8_0')));
  });
  it('MXFP4: scale byte, E2M1 codes, 0.75·2d → 1·d, −0.25·2d → +0, nibble order j | j+16', () => {
    const x = new Float32Array(32);
    // amax = 6 → e = floor(log2 6) − 2 + 127 = 127, d = 2^-1: grid kv·0.5 = {0, .5, 1, 1.5, 2, 3, 4, 6}
    x[0] = 6;
    x[16] = -6;
    x[1] = 0.75; // between 0.5 (c=1) and 1 (c=2): tie → first (c=1)
    x[17] = -0.25; // tie between 0 and −0.5 → c=0
    x[2] = 5; // between 4 (c=6) and 6 (c=7): tie → c=6
    x[18] = -2.6; // nearest −3 (c=13)
    const b = encodeGgml(x, 'mxfp4');
    expect(b[0]).toBe(127);
    expect(b[1]).toBe(7 | (15 << 4));
    expect(b[2]).toBe(1 | (0 << 4));
    expect(b[3]).toBe(6 | (13 << 4));
    expect(hex(b)).toBe(hex(encodeGgmlRef(x, 'mxfp4')));
    expect(Array.from(decodeGgml(b, 'mxfp4', 32).subarray(0, 3))).toEqual([6, 0.5, 4]);
  });
  it('MXFP4 clamps the exponent at 0 for tiny blocks and rejects scale byte 0xFF on decode', () => {
    const x = new Float32Array(32).fill(2 ** -140);
    expect(encodeGgml(x, 'mxfp4')[0]).toBe(0);
    const bad = new Uint8Array(17);
    bad[0] = 0xff;
    expectCode(() => decodeGgml(bad, 'mxfp4', 32), 'E_FORMAT');
    expectCode(() => decodeGgmlRef(bad, 'mxfp4', 32), 'E_FORMAT');
  });
});

// Edge-heavy float32 generator: ±0, subnormals, huge values, near-ties.
const edgeF32 = fc.oneof(
  fc.float({ noNaN: true, noDefaultInfinity: true }),
  fc.float({ min: Math.fround(-8), max: Math.fround(8), noNaN: true }),
  fc.constantFrom(0, -0, 0.5, -0.5, 1.5, 2.5, 3.5, 5, 7, 10, 1e-40, -1e-45, 3.4028234663852886e38),
  fc.integer({ min: -20, max: 20 }).map((i) => i / 4),
);

function blocks(nBlocks: number) {
  return fc.array(edgeF32, { minLength: 32 * nBlocks, maxLength: 32 * nBlocks }).map((a) => Float32Array.from(a));
}

describe('fast path = reference twin, bit for bit', () => {
  for (const t of BLOCK_TYPES) {
    it(`${t}: random edge-heavy blocks`, () => {
      fc.assert(
        fc.property(blocks(2), fc.double({ min: -30, max: 30, noNaN: true }), (x, e) => {
          const s = Math.fround(2 ** Math.trunc(e));
          const y = x.map((v) => v * s);
          for (const v of [x, y]) {
            if (!v.every(Number.isFinite)) continue;
            const a = encodeGgml(v, t);
            expect(hex(a)).toBe(hex(encodeGgmlRef(v, t)));
            expect(bitsOf(decodeGgml(a, t, v.length))).toEqual(bitsOf(decodeGgmlRef(a, t, v.length)));
          }
        }),
        { numRuns: 300 },
      );
    });
  }

  it('mxfp4: every code at every grid midpoint ± 1 ulp, many scales', () => {
    const pts: number[] = [];
    for (const m of [0.5, 1.5, 2.5, 3.5, 5, 7, 10, 0.25, 6, 12, 13]) {
      const f = new Float32Array([m]);
      const u = new Uint32Array(f.buffer);
      for (const du of [-1, 0, 1]) {
        const g = new Uint32Array([u[0]! + du]);
        const v = new Float32Array(g.buffer)[0]!;
        pts.push(v, -v);
      }
    }
    for (let e = -140; e <= 125; e += 3) {
      const x = new Float32Array(32 * Math.ceil((pts.length + 1) / 31));
      for (let b = 0; b * 31 < pts.length; b++) {
        x[b * 32] = 12 * 2 ** e; // pins amax so the grid spacing is 2^e
        for (let j = 0; j < 31 && b * 31 + j < pts.length; j++) x[b * 32 + 1 + j] = pts[b * 31 + j]! * 2 ** e;
      }
      expect(hex(encodeGgml(x, 'mxfp4'))).toBe(hex(encodeGgmlRef(x, 'mxfp4')));
    }
  });

  it('mxfp4 exponent: amax just below / at / above powers of two', () => {
    for (let k = -149; k < 128; k++) {
      const p = 2 ** k;
      const f = new Float32Array([p]);
      const u = new Uint32Array(f.buffer);
      const x = new Float32Array(32 * 5);
      for (let d = -2; d <= 2; d++) {
        const g = new Uint32Array([u[0]! + d]);
        x[(d + 2) * 32] = new Float32Array(g.buffer)[0]!;
      }
      if (!x.every(Number.isFinite)) continue;
      expect(hex(encodeGgml(x, 'mxfp4'))).toBe(hex(encodeGgmlRef(x, 'mxfp4')));
    }
  });

  it('all 65536 (low, high) nibble bytes decode identically for every block type and many scales', () => {
    for (const t of BLOCK_TYPES) {
      const tr = ggmlType(t);
      const nb = 256;
      const bytes = new Uint8Array(nb * tr.typeSize);
      for (let i = 0; i < nb; i++) {
        const o = i * tr.typeSize;
        const hdr = t === 'q4_1' ? 4 : t === 'mxfp4' ? 1 : 2;
        if (t === 'mxfp4') bytes[o] = (i * 37) % 255;
        else {
          bytes[o] = (i * 73) & 255;
          bytes[o + 1] = (i * 29) & 0x7b; // avoid fp16 Inf/NaN scales
          if (t === 'q4_1') {
            bytes[o + 2] = (i * 11) & 255;
            bytes[o + 3] = (i * 7) & 0x7b;
          }
        }
        for (let j = hdr; j < tr.typeSize; j++) bytes[o + j] = (i + j * 17) & 255;
      }
      const n = nb * 32;
      expect(bitsOf(decodeGgml(bytes, t, n))).toEqual(bitsOf(decodeGgmlRef(bytes, t, n)));
    }
  });

  it('mxfp4 decode: every scale byte 0..254 with every code', () => {
    const bytes = new Uint8Array(255 * 17);
    for (let e = 0; e < 255; e++) {
      bytes[e * 17] = e;
      for (let j = 0; j < 16; j++) bytes[e * 17 + 1 + j] = j | ((15 - j) << 4);
    }
    const y = decodeGgml(bytes, 'mxfp4', 255 * 32);
    expect(bitsOf(y)).toEqual(bitsOf(decodeGgmlRef(bytes, 'mxfp4', 255 * 32)));
    for (let e = 0; e < 255; e++) {
      expect(y[e * 32 + 7]).toBe(
        12 * 2 ** (e - 128) > 3.4028234663852886e38 ? Number.POSITIVE_INFINITY : Math.fround(12 * 2 ** (e - 128)),
      );
      expect(y[e * 32 + 1]).toBe(Math.fround(2 ** (e - 128)));
    }
  });

  it('tiny blocks whose f32 reciprocal overflows (x86 int conversion semantics) agree', () => {
    for (const t of BLOCK_TYPES) {
      const x = new Float32Array(64);
      for (let i = 0; i < 64; i++) x[i] = (i % 5) * 1e-45 * (i % 2 ? -1 : 1);
      x[40] = 2 ** -130;
      expect(hex(encodeGgml(x, t))).toBe(hex(encodeGgmlRef(x, t)));
    }
  });
});

describe('round trips and errors', () => {
  it('f32 / f16 / bf16 encode-decode', () => {
    const x = Float32Array.from([1, -2.5, 0.1, 65504, 1e-8, -0, 3.4e38, Number.POSITIVE_INFINITY]);
    expect(bitsOf(decodeGgml(encodeGgml(x, 'f32'), 'f32', x.length))).toEqual(bitsOf(x));
    const h = decodeGgml(encodeGgml(x, 'F16'), 'F16', x.length);
    expect(Array.from(h.subarray(0, 4))).toEqual([1, -2.5, Math.fround(0.0999755859375), 65504]);
    expect(h[6]).toBe(Number.POSITIVE_INFINITY);
    const b = decodeGgml(encodeGgml(x, 'bf16'), 'bf16', x.length);
    expect(b[0]).toBe(1);
    expect(b[1]).toBe(-2.5);
    for (const t of ['f32', 'f16', 'bf16'] as const) {
      expect(hex(encodeGgml(x, t))).toBe(hex(encodeGgmlRef(x, t)));
    }
  });

  it('round-trip error stays within half a step of each block', () => {
    const x = Float32Array.from({ length: 256 }, (_, i) => 0.1 + 2 * Math.cos(i));
    const q8 = decodeGgml(encodeGgml(x, 'q8_0'), 'q8_0', x.length);
    const q4 = decodeGgml(encodeGgml(x, 'q4_1'), 'q4_1', x.length);
    let e8 = 0;
    let e4 = 0;
    for (let i = 0; i < x.length; i++) {
      e8 = Math.max(e8, Math.abs(q8[i]! - x[i]!));
      e4 = Math.max(e4, Math.abs(q4[i]! - x[i]!));
    }
    expect(e8).toBeLessThanOrEqual((2.1 / 127) * 0.6); // half a step + fp16 rounding of d
    expect(e4).toBeLessThanOrEqual((4.2 / 15) * 0.6);
  });

  it("meets llama.cpp's test-quantize-fns total-error budget (sqrt(Σ err²)/n ≤ 0.002 on 0.1 + 2·cos(i))", () => {
    const n = 32 * 128;
    const x = Float32Array.from({ length: n }, (_, i) => 0.1 + 2 * Math.cos(i));
    for (const t of BLOCK_TYPES) {
      const y = decodeGgml(encodeGgml(x, t), t, n);
      let se = 0;
      for (let i = 0; i < n; i++) se += (y[i]! - x[i]!) ** 2;
      expect(Math.sqrt(se) / n).toBeLessThan(0.002);
    }
  });

  it('rejects bad lengths, NaN/Inf, unknown types; never mutates the input', () => {
    expectCode(() => encodeGgml(new Float32Array(33), 'q8_0'), 'E_SHAPE');
    expectCode(() => encodeGgml(new Float32Array(32).fill(Number.NaN), 'q4_0'), 'E_NONFINITE');
    expectCode(() => encodeGgmlRef(new Float32Array(32).fill(Number.NEGATIVE_INFINITY), 'mxfp4'), 'E_NONFINITE');
    expectCode(() => encodeGgml(new Float32Array(32), 'q5_0' as GgmlCodecType), 'E_DTYPE');
    expectCode(() => decodeGgml(new Uint8Array(33), 'q8_0', 32), 'E_SHAPE');
    expectCode(() => decodeGgml(new Uint8Array(34), 'q8_0', 31), 'E_SHAPE');
    const x = Float32Array.from({ length: 64 }, (_, i) => i - 30.5);
    const copy = x.slice();
    for (const t of BLOCK_TYPES) encodeGgml(x, t);
    expect(x).toEqual(copy);
  });

  it('decodes from an unaligned view', () => {
    const x = Float32Array.from({ length: 32 }, (_, i) => i / 7);
    for (const t of ['f32', 'f16', 'q4_0'] as const) {
      const enc = encodeGgml(x, t);
      const buf = new Uint8Array(enc.length + 1);
      buf.set(enc, 1);
      expect(bitsOf(decodeGgml(buf.subarray(1), t, 32))).toEqual(bitsOf(decodeGgml(enc, t, 32)));
    }
  });
});
