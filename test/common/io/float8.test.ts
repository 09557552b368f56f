import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeMiniFloats,
  decodeMiniFloatsRef,
  MINI_FLOAT_BITS,
  type MiniFloatFormat,
  miniFloatTable,
  miniFloatToF32,
} from '../../../src/common/io/float8.js';
import { FIXTURES, f32Hex, outcome } from './format-helpers.js';

const TABLES = JSON.parse(readFileSync(`${FIXTURES}float8-tables.json`, 'utf8')) as Record<MiniFloatFormat, string[]>;
const FORMATS = Object.keys(MINI_FLOAT_BITS) as MiniFloatFormat[];

describe('narrow float decoders', () => {
  it.each(FORMATS)('%s: every code matches the python (math.ldexp) table bit for bit', (fmt) => {
    const want = TABLES[fmt];
    expect(want.length).toBe(1 << MINI_FLOAT_BITS[fmt]);
    const table = miniFloatTable(fmt);
    const got = f32Hex(table);
    // NaN payloads are not specified: compare NaN-ness for NaN codes, bits otherwise
    for (let c = 0; c < want.length; c++) {
      const w = want[c]!;
      const nanCode = (Number.parseInt(w, 16) & 0x7fffffff) > 0x7f800000;
      if (nanCode) expect(Number.isNaN(table[c]!), `${fmt} code ${c}`).toBe(true);
      else expect(got[c], `${fmt} code ${c}`).toBe(w);
      const scalar = miniFloatToF32(c, fmt);
      if (nanCode) expect(Number.isNaN(scalar)).toBe(true);
      else expect(Object.is(Math.fround(scalar), table[c])).toBe(true);
    }
  });

  it('hand-derived landmarks of each format', () => {
    const v = (c: number, f: MiniFloatFormat) => miniFloatToF32(c, f);
    // E4M3FN: max 448 = 1.75·2^8 (0x7E), 0x7F NaN, min subnormal 2^-9, no Inf
    expect(v(0x7e, 'f8_e4m3')).toBe(448);
    expect(v(0x7f, 'f8_e4m3')).toBeNaN();
    expect(v(0xff, 'f8_e4m3')).toBeNaN();
    expect(v(0x01, 'f8_e4m3')).toBe(2 ** -9);
    expect(v(0x38, 'f8_e4m3')).toBe(1);
    expect(Object.is(v(0x80, 'f8_e4m3'), -0)).toBe(true);
    // E5M2: max 57344 = 1.75·2^15, Inf at 0x7C, NaN 0x7D..0x7F, min subnormal 2^-16
    expect(v(0x7b, 'f8_e5m2')).toBe(57344);
    expect(v(0x7c, 'f8_e5m2')).toBe(Infinity);
    expect(v(0xfc, 'f8_e5m2')).toBe(-Infinity);
    expect(v(0x7d, 'f8_e5m2')).toBeNaN();
    expect(v(0x01, 'f8_e5m2')).toBe(2 ** -16);
    expect(v(0x3c, 'f8_e5m2')).toBe(1);
    // FNUZ: only 0x80 is NaN; bias 8 / 16; max 240 / 57344
    expect(v(0x80, 'f8_e4m3fnuz')).toBeNaN();
    expect(v(0x7f, 'f8_e4m3fnuz')).toBe(240);
    expect(v(0xff, 'f8_e4m3fnuz')).toBe(-240);
    expect(v(0x40, 'f8_e4m3fnuz')).toBe(1);
    expect(v(0x80, 'f8_e5m2fnuz')).toBeNaN();
    expect(v(0x7f, 'f8_e5m2fnuz')).toBe(57344);
    expect(v(0x40, 'f8_e5m2fnuz')).toBe(1);
    // E8M0: 2^(c-127), 0xFF NaN
    expect(v(127, 'e8m0')).toBe(1);
    expect(v(0, 'e8m0')).toBe(2 ** -127);
    expect(v(254, 'e8m0')).toBe(2 ** 127);
    expect(v(255, 'e8m0')).toBeNaN();
    // MX element formats (OCP MX v1.0 tables)
    expect(Array.from(miniFloatTable('f4_e2m1').slice(0, 8))).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6]);
    expect(v(0b011111, 'f6_e2m3')).toBe(7.5);
    expect(v(0b000001, 'f6_e2m3')).toBe(0.125);
    expect(v(0b011111, 'f6_e3m2')).toBe(28);
    expect(v(0b000001, 'f6_e3m2')).toBe(0.0625);
    expect(v(0b111111, 'f6_e3m2')).toBe(-28);
  });

  it('every value of the microxcaling MX fixtures is a decodable element value times 2^scale', () => {
    const mx = JSON.parse(readFileSync(`${FIXTURES}../mx/mx-reference.json`, 'utf8')) as {
      cases: Record<string, string[]>;
      scales: Record<string, (number | null)[]>;
    };
    const map: Record<string, MiniFloatFormat> = {
      fp8_e4m3: 'f8_e4m3',
      fp8_e5m2: 'f8_e5m2',
      fp6_e3m2: 'f6_e3m2',
      fp6_e2m3: 'f6_e2m3',
      fp4_e2m1: 'f4_e2m1',
    };
    let checked = 0;
    for (const [key, blocks] of Object.entries(mx.cases)) {
      const [fmt] = key.split('/');
      const mf = map[fmt!];
      if (mf === undefined) continue;
      const values = new Set(Array.from(miniFloatTable(mf)).filter((x) => Number.isFinite(x)));
      blocks.forEach((block, i) => {
        const scale = mx.scales[fmt!]![i];
        if (scale === null || scale === undefined) return;
        const u = new Uint32Array(block.split(' ').map((h) => Number.parseInt(h, 16)));
        for (const x of new Float32Array(u.buffer)) {
          if (!Number.isFinite(x)) continue;
          expect(values.has(x / 2 ** scale), `${key} block ${i}: ${x} / 2^${scale}`).toBe(true);
          checked++;
        }
      });
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it.each(FORMATS)('%s: table decoder equals the bit-by-bit reference on random packed bytes', (fmt) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 67 }), (bytes) => {
        const n = Math.floor((bytes.length * 8) / MINI_FLOAT_BITS[fmt]);
        for (const count of [n, Math.max(0, n - 1), Math.max(0, n - 3)]) {
          const a = decodeMiniFloats(bytes, fmt, count);
          const b = decodeMiniFloatsRef(bytes, fmt, count);
          expect(a.length).toBe(count);
          for (let i = 0; i < count; i++)
            expect(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i]))).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('packs sub-byte codes lowest bits first', () => {
    // f4: byte 0x72 → element 0 = 0x2 (1.0), element 1 = 0x7 (6.0)
    expect(Array.from(decodeMiniFloats(new Uint8Array([0x72]), 'f4_e2m1'))).toEqual([1, 6]);
    // f6: codes [1, 2, 3, 4] → bits 000001 000010 000011 000100 (LSB first) = 0x41 0x30 0x10
    const b = new Uint8Array([1 | (2 << 6), (2 >> 2) | (3 << 4), (3 >> 4) | (4 << 2)]);
    expect(Array.from(decodeMiniFloats(b, 'f6_e2m3', 4))).toEqual([0.125, 0.25, 0.375, 0.5]);
    expect(Array.from(decodeMiniFloatsRef(b, 'f6_e2m3', 4))).toEqual([0.125, 0.25, 0.375, 0.5]);
  });

  it('checks its arguments', () => {
    expect(outcome(() => miniFloatToF32(256, 'f8_e4m3'))).toBe('E_CONFIG');
    expect(outcome(() => miniFloatToF32(64, 'f6_e2m3'))).toBe('E_CONFIG');
    expect(outcome(() => miniFloatToF32(1, 'f9' as MiniFloatFormat))).toBe('E_DTYPE');
    expect(outcome(() => decodeMiniFloats(new Uint8Array(2), 'f6_e3m2', 3))).toBe('E_SHAPE');
    expect(outcome(() => decodeMiniFloats(new Uint8Array(2), 'f8_e5m2', 2, new Float32Array(1)))).toBe('E_SHAPE');
    expect(outcome(() => decodeMiniFloats(new Uint8Array(2), 'toString' as MiniFloatFormat))).toBe('E_DTYPE');
  });
});
