import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import type { Float32Tensor } from '../../src/common/tensor.js';
import { type BitPlanes, type NestedOptions, NestedWeights, quantizeNested } from '../../src/mwq/index.js';

function weight(rows: number, cols: number, seed: number): Float32Tensor {
  let s = seed >>> 0;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32 - 0.5) * 0.3;
  }
  return { dtype: 'float32', data, shape: [rows, cols] };
}

const SCHEMES: NestedOptions[] = [
  { scheme: 'matquant', bits: 8 },
  { scheme: 'matquant', variant: 'round-noclamp', bits: 6 },
  { scheme: 'truncate', bits: 8 },
  { scheme: 'truncate', variant: 'trunc', bits: 4 },
  { scheme: 'residual', bits: 8, baseBits: 2 },
  { scheme: 'residual', bits: 4, baseBits: 2, base: 'midrise', planeScales: 'pow2' },
];

function zeroPlanes(
  o: Partial<BitPlanes> & Pick<BitPlanes, 'scheme' | 'variant' | 'bits' | 'baseBits'>,
  rows: number,
  cols: number,
  G: number,
): BitPlanes {
  const n = rows * cols;
  const W = Math.ceil(n / 32);
  const nG = n / G;
  return {
    base: 'minmax',
    shape: [rows, cols],
    groupSize: G,
    planes: Array.from({ length: o.bits }, () => new Uint32Array(W)),
    scales: new Float32Array(nG),
    zeros: new Float32Array(nG),
    levelScales: Array.from({ length: o.scheme === 'residual' ? o.bits - o.baseBits : 0 }, () => new Float32Array(nG)),
    ...o,
  };
}

describe('NestedWeights accounting', () => {
  it('planesRead: truncation r, rounding r + 1 (c at r = c), residual r', () => {
    const w = weight(4, 64, 1);
    const mq = quantizeNested(w, { scheme: 'matquant' });
    const tr = quantizeNested(w, { scheme: 'truncate' });
    const rs = quantizeNested(w, { scheme: 'residual', bits: 6, baseBits: 3 });
    expect(mq.levels).toEqual([2, 3, 4, 5, 6, 7, 8]);
    for (let r = 2; r < 8; r++) {
      expect(mq.planesRead(r)).toBe(r + 1);
      expect(tr.planesRead(r)).toBe(r);
    }
    expect(mq.planesRead(8)).toBe(8);
    expect(rs.levels).toEqual([3, 4, 5, 6]);
    for (const r of rs.levels) expect(rs.planesRead(r)).toBe(r);
  });

  it('bytesRead on [4096, 4096], group 128 (mwq.md §2 worked sizes with float32 metadata: 8 bytes per group)', () => {
    const meta = 131072 * 8;
    const tr = NestedWeights.fromBitPlanes(
      zeroPlanes({ scheme: 'truncate', variant: 'trunc-mid', bits: 8, baseBits: 8 }, 4096, 4096, 128),
    );
    for (const [r, wb] of [
      [8, 16777216],
      [6, 12582912],
      [4, 8388608],
      [3, 6291456],
      [2, 4194304],
    ] as const)
      expect(tr.bytesRead(r)).toBe(wb + meta);
    const mq = NestedWeights.fromBitPlanes(
      zeroPlanes({ scheme: 'matquant', variant: 'round-clamp', bits: 8, baseBits: 8 }, 4096, 4096, 128),
    );
    for (const r of [6, 4, 3, 2]) expect(mq.bytesRead(r)).toBe((r + 1) * 2097152 + meta);
    const v1 = NestedWeights.fromBitPlanes(
      zeroPlanes({ scheme: 'residual', variant: 'residual', bits: 4, baseBits: 2 }, 4096, 4096, 128),
    );
    expect(v1.bytesRead(2)).toBe(4194304 + meta);
    expect(v1.bytesRead(3)).toBe(6291456 + meta + 524288);
    expect(v1.bytesRead(4)).toBe(8388608 + meta + 1048576);
  });

  it('bytesRead equals the serialized prefix a level needs, and that prefix alone determines the level', () => {
    for (const o of SCHEMES) {
      const w = weight(5, 96, 7);
      const a = quantizeNested(w, { ...o, groupSize: 32 });
      const blobA = a.serialize();
      expect(blobA.length).toBe(32 + a.bytesRead(a.bits));
      for (const r of a.levels) {
        // scramble everything the level does not read, then compare prefixes and values
        const bp = a.toBitPlanes();
        const P = a.planesRead(r);
        const planes = bp.planes.map((p, i) =>
          i < P ? p : p.map((x, j) => (j === p.length - 1 ? 0 : x ^ 0x5a5a5a5a) >>> 0),
        );
        const levelScales = bp.levelScales.map((s, i) => (i < r - bp.baseBits ? s : s.map((x) => x * 3)));
        const b = NestedWeights.fromBitPlanes({ ...bp, planes, levelScales });
        const blobB = b.serialize();
        const end = 32 + a.bytesRead(r);
        expect(Array.from(blobB.subarray(32, end))).toEqual(Array.from(blobA.subarray(32, end)));
        expect(b.dequantize(r).data).toEqual(a.dequantize(r).data);
      }
    }
  });
});

describe('bit planes and serialization round trips', () => {
  it('toBitPlanes → fromBitPlanes and serialize → deserialize are bit-exact for every scheme', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(8, 16, 12),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(...SCHEMES),
        fc.integer(),
        (rows, G, m, o, seed) => {
          const w = weight(rows, G * m, seed);
          const a = quantizeNested(w, { ...o, groupSize: G });
          const b = NestedWeights.fromBitPlanes(a.toBitPlanes());
          const c = NestedWeights.deserialize(a.serialize());
          expect(c.serialize()).toEqual(a.serialize());
          for (const r of a.levels) {
            expect(b.dequantize(r).data).toEqual(a.dequantize(r).data);
            expect(c.dequantize(r).data).toEqual(a.dequantize(r).data);
          }
          expect(c.levels).toEqual(a.levels);
          expect(c.variant).toBe(a.variant);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('toBitPlanes layout: MSB-first planes, element i = bit (i & 31) of word i >>> 5', () => {
    const w = weight(2, 40, 3);
    const nw = quantizeNested(w, { scheme: 'truncate', bits: 5, groupSize: 8 });
    const codes = nw.codes();
    const bp = nw.toBitPlanes();
    expect(bp.planes.length).toBe(5);
    for (let i = 0; i < 80; i++)
      for (let p = 0; p < 5; p++) expect((bp.planes[p]![i >>> 5]! >>> (i & 31)) & 1).toBe((codes[i]! >> (4 - p)) & 1);
    // the copy is detached
    bp.planes[0]![0] = ~bp.planes[0]![0]! >>> 0;
    expect(nw.toBitPlanes().planes[0]![0]).not.toBe(bp.planes[0]![0]);
  });

  it('fromBitPlanes rejects inconsistent data with E_CONFIG', () => {
    const bp = quantizeNested(weight(2, 40, 3), { scheme: 'truncate', bits: 4, groupSize: 8 }).toBitPlanes();
    const bad: Partial<BitPlanes>[] = [
      { planes: bp.planes.slice(1) },
      { scales: new Float32Array(3) },
      { zeros: bp.zeros.map((z, i) => (i === 0 ? z + 0.5 : z)) },
      { scales: bp.scales.map((s, i) => (i === 1 ? Number.NaN : s)) },
      {
        planes: bp.planes.map((p, i) =>
          i === 0 ? p.map((x, j) => (j === p.length - 1 ? x | 0x80000000 : x) >>> 0) : p,
        ),
      },
      { variant: 'round-clamp' },
      { bits: 9 },
      { groupSize: 7 },
    ];
    for (const b of bad) expect(() => NestedWeights.fromBitPlanes({ ...bp, ...b } as BitPlanes)).toThrow(LowbitError);
  });

  it('deserialize: E_FORMAT for wrong magic, version, truncation, padding and any corrupted byte', () => {
    const blob = quantizeNested(weight(3, 64, 5), { scheme: 'residual', bits: 5, groupSize: 32 }).serialize();
    const code = (b: Uint8Array) => {
      try {
        NestedWeights.deserialize(b);
        return 'ok';
      } catch (e) {
        return (e as LowbitError).code;
      }
    };
    expect(code(blob)).toBe('ok');
    const m = blob.slice();
    m[0] = 0x58;
    expect(code(m)).toBe('E_FORMAT');
    const v = blob.slice();
    v[4] = 2;
    expect(code(v)).toBe('E_FORMAT');
    expect(code(blob.subarray(0, blob.length - 4))).toBe('E_FORMAT');
    expect(code(blob.subarray(0, 20))).toBe('E_FORMAT');
    const padded = new Uint8Array(blob.length + 4);
    padded.set(blob);
    expect(code(padded)).toBe('E_FORMAT');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: blob.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const c = blob.slice();
        c[pos] = c[pos]! ^ x;
        expect(code(c)).toBe('E_FORMAT');
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (junk) => {
        expect(code(junk)).toBe('E_FORMAT');
      }),
      { numRuns: 100 },
    );
  });
});
