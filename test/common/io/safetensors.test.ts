import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../../src/common/io/file-source.js';
import {
  openSafetensors,
  parseSafetensors,
  type RawSafetensor,
  SAFETENSORS_DTYPE_BITS,
  type SafetensorsDtype,
  safetensorToFloat32,
  serializeSafetensors,
} from '../../../src/common/io/safetensors.js';
import { memorySource } from '../../../src/common/io/source.js';
import type { Tensor } from '../../../src/common/tensor.js';
import {
  EXPECTED,
  FIXTURES,
  f32Hex,
  fixture,
  hasNumpy,
  MAMBA,
  outcome,
  python,
  tensorHex,
  trackedSource,
} from './format-helpers.js';

/** A safetensors file from a header object or text (padded to 8) and a data section. */
function st(header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) text += ' '.repeat((8 - (new TextEncoder().encode(text).length % 8)) % 8);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const RAW_DTYPES = new Set<SafetensorsDtype>([
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'F8_E4M3FNUZ',
  'F8_E5M2FNUZ',
  'C64',
]);

/** Rebuild serializer input from parsed contents (raw bytes for the narrow / complex dtypes). */
function asInput(c: ReturnType<typeof parseSafetensors>): Map<string, Tensor | RawSafetensor> {
  const m = new Map<string, Tensor | RawSafetensor>();
  for (const [name, t] of c.tensors) {
    const info = c.info.get(name)!;
    const fd = info.fileDtype as SafetensorsDtype;
    if (RAW_DTYPES.has(fd))
      m.set(name, {
        fileDtype: fd,
        shape: info.shape,
        bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      });
    else m.set(name, t);
  }
  return m;
}

describe('safetensors: fixtures from the independent python writer', () => {
  const files = readdirSync(`${FIXTURES}st`).filter((f) => f.endsWith('.safetensors'));
  it('covers every fixture listed in expected.json', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED.st).sort());
  });
  it.each(files)('%s: bytes, shapes, metadata and float32 decodes match', (f) => {
    const want = EXPECTED.st[f]!;
    const bytes = fixture(`st/${f}`);
    const c = parseSafetensors(bytes);
    expect(c.metadata).toEqual(want.metadata ?? {});
    expect([...c.tensors.keys()].sort()).toEqual(Object.keys(want.tensors).sort());
    const lazy = openSafetensors(memorySource(bytes));
    for (const [name, t] of c.tensors) {
      const w = want.tensors[name]!;
      const info = c.info.get(name)!;
      expect(info.fileDtype, name).toBe(w.dtype);
      expect([...info.shape], name).toEqual(w.shape);
      expect(tensorHex(t), name).toBe(w.hex);
      expect(tensorHex(lazy.read(name)), name).toBe(w.hex);
      if (w.f32hex !== undefined) {
        const x = lazy.readFloat32(name);
        expect([...x.shape]).toEqual(w.shape);
        const got = f32Hex(x.data);
        w.f32hex.forEach((h, i) => {
          if ((Number.parseInt(h, 16) & 0x7fffffff) > 0x7f800000)
            expect(Number.isNaN(x.data[i]), `${name}[${i}]`).toBe(true);
          else expect(got[i], `${name}[${i}]`).toBe(h);
        });
        expect(f32Hex(safetensorToFloat32(t, info).data)).toEqual(got);
      }
    }
  });
  it('writes byte-identical files to the python (Rust-rule) writer', () => {
    for (const f of ['all_dtypes.safetensors', 'no_metadata.safetensors', 'empty.safetensors']) {
      const bytes = fixture(`st/${f}`);
      const c = parseSafetensors(bytes);
      // metadata in file order (expected.json sorts its keys)
      const out = serializeSafetensors(asInput(c), EXPECTED.st[f]!.metadata === null ? undefined : c.metadata);
      expect(Buffer.from(out).equals(Buffer.from(bytes)), f).toBe(true);
    }
  });
  it('maps dtypes as documented (F8 → uint8 bits, F4/F6 → packed bytes, C64 → float32 pairs)', () => {
    const c = parseSafetensors(fixture('st/all_dtypes.safetensors'));
    expect(c.tensors.get('f8_e4m3')!.dtype).toBe('uint8');
    expect(c.tensors.get('f8_e4m3')!.shape).toEqual([16, 16]);
    expect(c.tensors.get('f4')!.shape).toEqual([3]);
    expect(c.tensors.get('f6_e2m3')!.shape).toEqual([6]);
    expect(c.tensors.get('bf16')!.dtype).toBe('bfloat16');
    expect(c.tensors.get('f16')!.dtype).toBe('float16');
    const z = c.tensors.get('c64')!;
    expect(z.shape).toEqual([3, 2]);
    expect(Array.from(z.data as Float32Array)).toEqual([1, 2, -0.5, 0, 3.25, -1]);
    expect(c.tensors.get('scalar')!.shape).toEqual([]);
    expect(Array.from(c.tensors.get('scalar')!.data as Float32Array)).toEqual([2.5]);
    expect(c.tensors.get('empty')!.data.length).toBe(0);
    // misaligned F32 (data offset 3 in a 4-aligned section) is copied, not rejected
    const m = parseSafetensors(fixture('st/misaligned.safetensors'));
    expect(Array.from(m.tensors.get('b')!.data as Float32Array)).toEqual([1.5, -2]);
    expect(m.info.get('b')!.byteOffset % 4).not.toBe(0);
  });
});

describe('safetensors: the real mamba-tiny checkpoint', () => {
  it('every tensor matches an independent struct/json parse (sha256, first values, sums)', () => {
    const want = EXPECTED.mamba;
    const src = trackedSource(new Uint8Array(readFileSync(MAMBA)));
    const f = openSafetensors(src);
    expect(src.size).toBe(want.size);
    expect(f.metadata).toEqual(want.metadata);
    expect([...f.names].sort()).toEqual(Object.keys(want.tensors).sort());
    for (const name of f.names) {
      const w = want.tensors[name]!;
      const t = f.read(name);
      expect(t.dtype).toBe('float32');
      expect([...t.shape]).toEqual(w.shape);
      const d = t.data as Float32Array;
      expect(createHash('sha256').update(new Uint8Array(d.buffer)).digest('hex'), name).toBe(w.sha256);
      expect(f32Hex(d.subarray(0, 4))).toEqual(w.first);
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i]!;
      expect(Math.abs(s - w.sum)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(w.sum)));
    }
    expect(src.maxRead).toBeLessThan(want.size);
    // and through the file-backed source
    const g = openSafetensors(fileSource(MAMBA));
    expect(g.info('backbone.embeddings.weight')).toMatchObject({
      fileDtype: 'F32',
      dtype: 'float32',
      shape: [512, 96],
      byteOffset: 8 + want.header_len,
    });
    g.close();
  });
  it('re-serializing it and parsing back gives the same tensors and metadata', () => {
    const c = parseSafetensors(new Uint8Array(readFileSync(MAMBA)));
    const back = parseSafetensors(serializeSafetensors(c.tensors, c.metadata));
    expect(back.metadata).toEqual(c.metadata);
    for (const [k, t] of c.tensors) expect(tensorHex(back.tensors.get(k)!)).toBe(tensorHex(t));
  });
});

describe('safetensors: round trip every dtype', () => {
  const dtypes = Object.keys(SAFETENSORS_DTYPE_BITS) as SafetensorsDtype[];
  it('random shapes and bytes of all 22 dtypes survive serialize → parse bit-exactly', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(...dtypes),
            fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
            fc.integer(),
          ),
          {
            maxLength: 8,
          },
        ),
        fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        (specs, meta) => {
          const m = new Map<string, RawSafetensor>();
          specs.forEach(([dt, shape0, seed], i) => {
            const bits = SAFETENSORS_DTYPE_BITS[dt];
            let shape = shape0;
            if (((shape.reduce((a, b) => a * b, 1) * bits) & 7) !== 0) shape = [...shape, 2, 2]; // whole bytes
            const n = (shape.reduce((a, b) => a * b, 1) * bits) / 8;
            const bytes = new Uint8Array(n);
            let s = seed >>> 0;
            for (let k = 0; k < n; k++) {
              s = (Math.imul(s, 1103515245) + 12345) >>> 0;
              bytes[k] = dt === 'BOOL' ? s >>> 31 : s >>> 24;
            }
            m.set(`t${i}.${dt}`, { fileDtype: dt, shape, bytes });
          });
          const metaObj = Object.keys(meta).length > 0 ? meta : undefined;
          const bytes = serializeSafetensors(m, metaObj);
          const c = parseSafetensors(bytes);
          expect(c.metadata).toEqual(metaObj ?? {});
          for (const [k, v] of m) {
            expect(c.info.get(k)!.fileDtype).toBe(v.fileDtype);
            expect([...c.info.get(k)!.shape]).toEqual(v.shape);
            expect(tensorHex(c.tensors.get(k)!)).toBe(Buffer.from(v.bytes).toString('hex'));
          }
          // header padded to 8, data ordered by descending dtype
          const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
          expect(n % 8).toBe(0);
          const offsets = [...c.info.values()]
            .sort((a, b) => a.byteOffset - b.byteOffset)
            .map((x) => dtypes.indexOf(x.fileDtype as SafetensorsDtype));
          for (let i = 1; i < offsets.length; i++) expect(offsets[i]!).toBeLessThanOrEqual(offsets[i - 1]!);
        },
      ),
      { numRuns: 60 },
    );
  });
  it('serializes lowbit tensors by dtype and leaves them untouched', () => {
    const t: Tensor = { dtype: 'bfloat16', data: Uint16Array.from([0x3f80, 0xc000]), shape: [2] };
    const u: Tensor = { dtype: 'bool', data: Uint8Array.from([1, 0, 1]), shape: [3] };
    const c = parseSafetensors(serializeSafetensors({ b: t, flag: u }));
    expect(c.info.get('b')!.fileDtype).toBe('BF16');
    expect(c.info.get('flag')!.fileDtype).toBe('BOOL');
    expect(Array.from(openSafetensors(memorySource(serializeSafetensors({ b: t }))).readFloat32('b').data)).toEqual([
      1, -2,
    ]);
    expect(Array.from(t.data as Uint16Array)).toEqual([0x3f80, 0xc000]);
  });
  it('rejects bad writer input', () => {
    const f = { dtype: 'float32' as const, data: new Float32Array(2), shape: [2] };
    expect(outcome(() => serializeSafetensors({ __metadata__: f }))).toBe('E_CONFIG');
    expect(outcome(() => serializeSafetensors({ a: { ...f, shape: [3] } }))).toBe('E_SHAPE');
    expect(outcome(() => serializeSafetensors({ a: { fileDtype: 'F4', shape: [3], bytes: new Uint8Array(2) } }))).toBe(
      'E_SHAPE',
    );
    expect(
      outcome(() => serializeSafetensors({ a: { fileDtype: 'F6_E2M3', shape: [4], bytes: new Uint8Array(4) } })),
    ).toBe('E_SHAPE');
    expect(
      outcome(() =>
        serializeSafetensors({ a: { fileDtype: 'Q4' as SafetensorsDtype, shape: [1], bytes: new Uint8Array(1) } }),
      ),
    ).toBe('E_DTYPE');
    expect(outcome(() => serializeSafetensors({ a: f }, { k: 3 as unknown as string }))).toBe('E_CONFIG');
  });
  it.skipIf(!hasNumpy())('an independent python parser reads what serializeSafetensors writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-st-'));
    const p = join(dir, 'x.safetensors');
    writeFileSync(
      p,
      serializeSafetensors(
        {
          w: { dtype: 'float32', data: Float32Array.from([1.5, -2, 3]), shape: [3] },
          i: { dtype: 'int16', data: Int16Array.from([7, -8]), shape: [1, 2] },
        },
        { m: 'é' },
      ),
    );
    const out = python(
      'import json,struct,sys,numpy as np\nb=open(sys.argv[1],"rb").read();n=struct.unpack("<Q",b[:8])[0];h=json.loads(b[8:8+n]);m=h.pop("__metadata__")\nfor k in sorted(h):\n  t=h[k];s,e=t["data_offsets"];print(k,t["dtype"],t["shape"],np.frombuffer(b[8+n+s:8+n+e],{"F32":"<f4","I16":"<i2"}[t["dtype"]]).tolist())\nprint(m["m"]==chr(233), n%8, len(b)==8+n+max(t["data_offsets"][1] for t in h.values()))',
      [p],
    );
    expect(out.trim().split('\n')).toEqual(['i I16 [1, 2] [7, -8]', 'w F32 [3] [1.5, -2.0, 3.0]', 'True 0 True']);
  });
});

describe('safetensors: hardening checklist', () => {
  const F32x2 = new Uint8Array(8);
  const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  it('accepts the minimal valid file', () => {
    expect(parseSafetensors(st(good, F32x2)).tensors.get('a')!.data.length).toBe(2);
  });
  it('1: u64 header length, capped at 1e8 (E_LIMIT), within the file', () => {
    const b = st(good, F32x2);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, 100_000_001n, true);
    expect(outcome(() => parseSafetensors(b))).toBe('E_LIMIT');
    dv.setBigUint64(0, 0xffffffffffffffffn, true);
    expect(outcome(() => parseSafetensors(b))).toBe('E_LIMIT');
    dv.setBigUint64(0, 2n ** 53n + 1n, true);
    expect(outcome(() => parseSafetensors(b))).toBe('E_LIMIT');
    dv.setBigUint64(0, BigInt(b.length), true);
    expect(outcome(() => parseSafetensors(b))).toBe('E_FORMAT');
    expect(outcome(() => parseSafetensors(new Uint8Array(7)))).toBe('E_FORMAT');
  });
  it('2: UTF-8, a JSON object, and no duplicate keys at any depth', () => {
    const bad = st(good, F32x2);
    bad[9] = 0xff;
    expect(() => parseSafetensors(bad)).toThrow(/UTF-8/);
    expect(outcome(() => parseSafetensors(st('[1,2]')))).toBe('E_FORMAT');
    expect(outcome(() => parseSafetensors(st('null')))).toBe('E_FORMAT');
    expect(outcome(() => parseSafetensors(st('{"a":')))).toBe('E_FORMAT');
    const dupTop =
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(() => parseSafetensors(st(dupTop, F32x2))).toThrow(/duplicate key "a"/);
    const dupEsc =
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"\\u0061":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(() => parseSafetensors(st(dupEsc, F32x2))).toThrow(/duplicate/);
    const dupInner = '{"a":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}}';
    expect(() => parseSafetensors(st(dupInner, F32x2))).toThrow(/duplicate key "dtype"/);
    const dupMeta = '{"__metadata__":{"k":"1","k":"2"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(() => parseSafetensors(st(dupMeta, F32x2))).toThrow(/duplicate/);
    // keys that only look alike are fine; strings containing braces and quotes do not confuse the scan
    const tricky = '{"__metadata__":{"x":"{\\"a\\":1,","y":"[}"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(parseSafetensors(st(tricky, F32x2)).metadata).toEqual({ x: '{"a":1,', y: '[}' });
  });
  it('3: known dtype, shape of non-negative safe integers, two integer offsets, string metadata', () => {
    const cases: [unknown, string][] = [
      [{ a: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, 'E_DTYPE'],
      [{ a: { dtype: 'toString', shape: [2], data_offsets: [0, 8] } }, 'E_DTYPE'],
      [{ a: { dtype: 7, shape: [2], data_offsets: [0, 8] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: [2 ** 53], data_offsets: [0, 8] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8, 9] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [-1, 8] } }, 'E_FORMAT'],
      [{ a: { dtype: 'F32', shape: [2] } }, 'E_FORMAT'],
      [{ a: [1] }, 'E_FORMAT'],
      [{ __metadata__: { k: 1 }, ...good }, 'E_FORMAT'],
      [{ __metadata__: ['x'], ...good }, 'E_FORMAT'],
    ];
    for (const [h, code] of cases)
      expect(
        outcome(() => parseSafetensors(st(h, F32x2))),
        JSON.stringify(h),
      ).toBe(code);
    expect(
      outcome(() => parseSafetensors(st('{"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,8]}}', F32x2))),
    ).toBe('E_FORMAT');
    expect(parseSafetensors(st({ __metadata__: null, ...good }, F32x2)).metadata).toEqual({});
  });
  it('4: offsets start at 0, contiguous, no gaps or overlaps, end >= begin', () => {
    const two = (a: number[], b: number[]) => ({
      a: { dtype: 'F32', shape: [1], data_offsets: a },
      b: { dtype: 'F32', shape: [1], data_offsets: b },
    });
    expect(parseSafetensors(st(two([4, 8], [0, 4]), F32x2)).tensors.size).toBe(2); // any key order
    expect(outcome(() => parseSafetensors(st(two([0, 4], [0, 4]), F32x2)))).toBe('E_FORMAT'); // overlap
    expect(outcome(() => parseSafetensors(st(two([0, 4], [2, 6]), new Uint8Array(6))))).toBe('E_FORMAT');
    expect(outcome(() => parseSafetensors(st(two([4, 8], [8, 12]), new Uint8Array(12))))).toBe('E_FORMAT'); // gap at 0
    expect(outcome(() => parseSafetensors(st(two([0, 4], [5, 9]), new Uint8Array(9))))).toBe('E_FORMAT'); // gap
    expect(
      outcome(() => parseSafetensors(st({ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)))),
    ).toBe('E_FORMAT');
  });
  it('5: checked element count, whole bytes for sub-byte dtypes, exact byte span', () => {
    expect(
      outcome(() => parseSafetensors(st({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 7] } }, new Uint8Array(7)))),
    ).toBe('E_FORMAT');
    expect(
      outcome(() => parseSafetensors(st({ a: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }, new Uint8Array(2)))),
    ).toBe('E_FORMAT');
    expect(
      outcome(() =>
        parseSafetensors(st({ a: { dtype: 'F6_E3M2', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2))),
      ),
    ).toBe('E_FORMAT');
    expect(
      parseSafetensors(
        st({ a: { dtype: 'F6_E3M2', shape: [4], data_offsets: [0, 3] } }, new Uint8Array(3)),
      ).tensors.get('a')!.shape,
    ).toEqual([3]);
    const huge = { a: { dtype: 'F64', shape: [2 ** 26, 2 ** 26, 2 ** 26], data_offsets: [0, 8] } };
    expect(outcome(() => parseSafetensors(st(huge, F32x2)))).toBe('E_LIMIT');
    const huge2 = { a: { dtype: 'U64', shape: [2 ** 50, 16], data_offsets: [0, 8] } };
    expect(outcome(() => parseSafetensors(st(huge2, F32x2)))).toBe('E_LIMIT');
    const zero = { a: { dtype: 'F32', shape: [0, 2 ** 52], data_offsets: [0, 0] } };
    expect(parseSafetensors(st(zero)).tensors.get('a')!.data.length).toBe(0);
  });
  it('6: the data section ends exactly at the end of the file', () => {
    expect(() => parseSafetensors(st(good, new Uint8Array(9)))).toThrow(/trailing/);
    expect(outcome(() => parseSafetensors(st(good, new Uint8Array(7))))).toBe('E_FORMAT');
    expect(outcome(() => parseSafetensors(st({}, new Uint8Array(1))))).toBe('E_FORMAT');
    expect(parseSafetensors(st({})).tensors.size).toBe(0);
    expect(parseSafetensors(st('{}', new Uint8Array(0), false)).tensors.size).toBe(0); // unpadded header is fine
  });
  it('7: misaligned offsets are copied', () => {
    const b = st(
      { a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, b: { dtype: 'F64', shape: [1], data_offsets: [1, 9] } },
      Uint8Array.from([9, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]),
    );
    expect(Array.from(parseSafetensors(b).tensors.get('b')!.data as Float64Array)).toEqual([1]);
    expect(Array.from(openSafetensors(memorySource(b)).readFloat32('b').data)).toEqual([1]);
  });
  it('unknown tensor names are E_CONFIG on the lazy handle', () => {
    expect(outcome(() => openSafetensors(memorySource(st(good, F32x2))).read('zz'))).toBe('E_CONFIG');
    expect(outcome(() => openSafetensors(memorySource(st(good, F32x2))).info('__proto__'))).toBe('E_CONFIG');
  });
});
