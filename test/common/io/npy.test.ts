import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../../src/common/io/file-source.js';
import { openNpy, parseNpy, readNpyHeader, serializeNpy } from '../../../src/common/io/npy.js';
import { memorySource } from '../../../src/common/io/source.js';
import { type DType, ELEMENT_BYTES, type Tensor } from '../../../src/common/tensor.js';
import { EXPECTED, FIXTURES, fixture, hasNumpy, outcome, python, tensorHex } from './format-helpers.js';

const DTYPE_OF: Record<string, DType> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i1: 'int8',
  u1: 'uint8',
  i2: 'int16',
  u2: 'uint16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  u8: 'uint64',
  b1: 'bool',
};

/** A .npy file with a hand-written header literal (v1), padded the numpy way. */
function npyWithHeader(header: string, data: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const body = header.endsWith('\n') ? header : `${header}\n`;
  const enc = major === 3 ? new TextEncoder().encode(body) : Uint8Array.from(body, (c) => c.charCodeAt(0));
  const out = new Uint8Array(prefix + enc.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, enc.length, true);
  else dv.setUint32(8, enc.length, true);
  out.set(enc, prefix);
  out.set(data, prefix + enc.length);
  return out;
}

describe('npy: numpy-written fixtures', () => {
  const files = readdirSync(`${FIXTURES}npy`).filter((f) => f.endsWith('.npy'));
  it('covers every fixture listed in expected.json', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED.npy).sort());
  });
  it.each(files)('%s decodes to numpy’s C-order little-endian bytes', (f) => {
    const e = EXPECTED.npy[f]!;
    const t = parseNpy(fixture(`npy/${f}`));
    expect(t.dtype).toBe(DTYPE_OF[e.descr!.slice(1)]);
    expect([...t.shape]).toEqual(e.shape);
    expect(tensorHex(t)).toBe(e.hex);
    // the lazy path agrees
    const lazy = openNpy(memorySource(fixture(`npy/${f}`)));
    expect(tensorHex(lazy.read('array'))).toBe(e.hex);
    expect(lazy.info('array').fileDtype).toBe(e.descr);
  });
  it('writes byte-identical files to np.save for little-endian C-order arrays', () => {
    let n = 0;
    for (const f of files) {
      const b = fixture(`npy/${f}`);
      const e = EXPECTED.npy[f]!;
      if (e.descr!.startsWith('>') || f.startsWith('fortran') || f.startsWith('v2') || f.startsWith('v3')) continue;
      expect(Buffer.from(serializeNpy(parseNpy(b))).equals(Buffer.from(b)), f).toBe(true);
      n++;
    }
    expect(n).toBeGreaterThanOrEqual(18);
  });
  it('reads v2 and v3 headers', () => {
    expect(readNpyHeader(memorySource(fixture('npy/v2_f4.npy'))).version).toBe('2.0');
    expect(readNpyHeader(memorySource(fixture('npy/v3_f4.npy'))).version).toBe('3.0');
  });
  it('transposes Fortran-order data to row-major (same element at every index)', () => {
    const h = readNpyHeader(memorySource(fixture('npy/fortran_f4.npy')));
    expect(h.fortranOrder).toBe(true);
    const t = parseNpy(fixture('npy/fortran_f4.npy'));
    // numpy: np.arange(24).reshape(2,3,4) * 1.5 - 7 → element [i,j,k] = (12i + 4j + k)·1.5 − 7
    const d = t.data as Float32Array;
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 4; k++) expect(d[12 * i + 4 * j + k]).toBe((12 * i + 4 * j + k) * 1.5 - 7);
  });
  it('transposes Fortran-order 64-bit integers and leaves 1-D / 0-D Fortran arrays alone', () => {
    // column-major [[0, 1, 2], [3, 4, 5]] is stored 0 3 1 4 2 5
    const col = BigInt64Array.from([0n, 3n, 1n, 4n, 2n, 5n]);
    const t = parseNpy(
      npyWithHeader(`{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }`, new Uint8Array(col.buffer)),
    );
    expect(Array.from(t.data as BigInt64Array)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    const v = parseNpy(
      npyWithHeader(`{'descr': '|u1', 'fortran_order': True, 'shape': (3,), }`, Uint8Array.from([7, 8, 9])),
    );
    expect(Array.from(v.data as Uint8Array)).toEqual([7, 8, 9]);
    const z = parseNpy(
      npyWithHeader(`{'descr': '>u2', 'fortran_order': True, 'shape': (), }`, Uint8Array.from([1, 2])),
    );
    expect(Array.from(z.data as Uint16Array)).toEqual([0x0102]);
  });
  it('readFloat32 converts every dtype (ints exactly, f16 to its value)', () => {
    const f = openNpy(memorySource(fixture('npy/i8.npy')));
    const x = f.readFloat32('array').data;
    expect(x[0]).toBe(-(2 ** 63));
    expect(x[2]).toBe(0);
    expect(
      Array.from(
        openNpy(memorySource(fixture('npy/b1.npy')))
          .readFloat32('array')
          .data.slice(0, 4),
      ),
    ).toEqual([1, 0, 1, 1]);
    const h = openNpy(memorySource(fixture('npy/f2.npy'))).readFloat32('array').data;
    expect(Array.from(h.slice(0, 5))).toEqual([0, -0, 1, -2.5, 65504]);
    expect(h[7]).toBe(Infinity);
  });
  it('opens a file through fileSource and names its tensor "array"', () => {
    const f = openNpy(fileSource(`${FIXTURES}npy/be_f8.npy`));
    expect(f.format).toBe('npy');
    expect(f.names).toEqual(['array']);
    expect(f.metadata).toMatchObject({ descr: '>f8', fortran_order: false, shape: [3, 4], version: '1.0' });
    expect(tensorHex(f.read('array'))).toBe(EXPECTED.npy['be_f8.npy']!.hex);
    expect(outcome(() => f.info('other'))).toBe('E_CONFIG');
    f.close();
  });
});

const DESCR_OF = Object.fromEntries(
  Object.entries(DTYPE_OF).map(([k, v]) => [v, `${k.endsWith('1') ? '|' : '<'}${k}`]),
) as Record<DType, string>;

describe('npy: round trip', () => {
  const dtypes: DType[] = [
    'float16',
    'float32',
    'float64',
    'int8',
    'uint8',
    'int16',
    'uint16',
    'int32',
    'uint32',
    'int64',
    'uint64',
    'bool',
  ];
  it.each(dtypes)('%s: serialize → parse is bit-exact and does not touch the input', (dtype) => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }), fc.integer(), (shape, seed) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const bytes = new Uint8Array(n * ELEMENT_BYTES[dtype]);
        let s = seed >>> 0;
        for (let i = 0; i < bytes.length; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          bytes[i] = dtype === 'bool' ? s >>> 31 : s >>> 24;
        }
        const header = `{'descr': '${DESCR_OF[dtype]}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
        const t = parseNpy(npyWithHeader(header, bytes));
        const before = tensorHex(t);
        const back = parseNpy(serializeNpy(t));
        expect(back.dtype).toBe(dtype);
        expect([...back.shape]).toEqual(shape);
        expect(tensorHex(back)).toBe(before);
        expect(tensorHex(t)).toBe(before);
      }),
      { numRuns: 40 },
    );
  });
  it('rejects bfloat16 (no numpy dtype) with E_DTYPE and a data/shape mismatch with E_SHAPE', () => {
    expect(outcome(() => serializeNpy({ dtype: 'bfloat16', data: new Uint16Array(2), shape: [2] }))).toBe('E_DTYPE');
    expect(outcome(() => serializeNpy({ dtype: 'float32', data: new Float32Array(3), shape: [2] }))).toBe('E_SHAPE');
    expect(
      outcome(() => serializeNpy({ dtype: 'float32', data: new Float64Array(2), shape: [2] } as unknown as Tensor)),
    ).toBe('E_DTYPE');
  });
  it.skipIf(!hasNumpy())('numpy loads what serializeNpy writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-npy-'));
    const t = { dtype: 'int16' as const, data: Int16Array.from([-3, 0, 7, 32767, -32768, 5]), shape: [2, 3] };
    writeFileSync(join(dir, 'a.npy'), serializeNpy(t));
    const out = python('import numpy as np,sys; a=np.load(sys.argv[1]); print(a.dtype.str, a.shape, a.tolist())', [
      join(dir, 'a.npy'),
    ]);
    expect(out.trim()).toBe('<i2 (2, 3) [[-3, 0, 7], [32767, -32768, 5]]');
  });
});

describe('npy: header tokenizer', () => {
  const f4x2 = new Uint8Array(8);
  it.each([
    `{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }`,
    `{"descr": "<f4", "fortran_order": False, "shape": (2,)}`,
    `{'shape': (2, ), 'fortran_order': False, 'descr': '<f4'}   `,
    `  {  'descr' :'<f4','fortran_order':False,'shape':(2L,),}`,
    `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }`,
    `{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1,), }`,
  ])('accepts %s', (h) => {
    expect(parseNpy(npyWithHeader(h, f4x2)).data.length).toBe(2);
  });
  it.each([
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (2), }`, 'E_FORMAT'], // (2) is an int
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }`, 'E_FORMAT'],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }`, 'E_FORMAT'],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': [2], }`, 'E_FORMAT'],
    [`{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }`, 'E_FORMAT'],
    [`{'descr': '<f4', 'shape': (2,), }`, 'E_FORMAT'],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': True}`, 'E_FORMAT'],
    [`{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}`, 'E_FORMAT'],
    [`{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (2,)}`, 'E_FORMAT'],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk`, 'E_FORMAT'],
    [`{'descr': '<f\\4', 'fortran_order': False, 'shape': (2,)}`, 'E_FORMAT'],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (2,)`, 'E_FORMAT'],
    [`{'descr': '|O', 'fortran_order': False, 'shape': (2,)}`, 'E_DTYPE'],
    [`{'descr': '|V2', 'fortran_order': False, 'shape': (2,)}`, 'E_DTYPE'],
    [`{'descr': '|V4', 'fortran_order': False, 'shape': (2,)}`, 'E_DTYPE'],
    [`{'descr': '|f4', 'fortran_order': False, 'shape': (2,)}`, 'E_DTYPE'],
    [`{'descr': '=f4', 'fortran_order': False, 'shape': (2,)}`, 'E_DTYPE'],
    [`{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}`, 'E_DTYPE'],
    [`{'descr': '<U1', 'fortran_order': False, 'shape': (2,)}`, 'E_DTYPE'],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}`, 'E_FORMAT'], // truncated data
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}`, 'E_FORMAT'], // trailing bytes
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999,)}`, 'E_LIMIT'],
    [`{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}`, 'E_LIMIT'],
  ])('rejects %s with %s', (h, code) => {
    expect(outcome(() => parseNpy(npyWithHeader(h, f4x2)))).toBe(code);
  });
  it('caps the header at 10 000 bytes (E_LIMIT) and checks the preamble', () => {
    const big = npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}${' '.repeat(10_001)}`, f4x2, 2);
    expect(outcome(() => parseNpy(big))).toBe('E_LIMIT');
    const ok = npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}`, f4x2);
    const badMagic = ok.slice();
    badMagic[1] = 0x4f;
    expect(outcome(() => parseNpy(badMagic))).toBe('E_FORMAT');
    const badVersion = ok.slice();
    badVersion[6] = 4;
    expect(outcome(() => parseNpy(badVersion))).toBe('E_FORMAT');
    expect(outcome(() => parseNpy(ok.subarray(0, 9)))).toBe('E_FORMAT');
    expect(outcome(() => parseNpy(ok.subarray(0, 30)))).toBe('E_FORMAT');
  });
  it('decodes v3 headers as UTF-8 and rejects invalid UTF-8', () => {
    const ok = npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}`, f4x2, 3);
    expect(parseNpy(ok).shape).toEqual([2]);
    const bad = ok.slice();
    bad[bad.length - 8 - 1] = 0xff; // the final newline of the header
    expect(() => parseNpy(bad)).toThrow(/not valid UTF-8/);
  });
});
