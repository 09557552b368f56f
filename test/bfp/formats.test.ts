import { describe, expect, it } from 'vitest';
import {
  bitsPerElement,
  decodeElement,
  elementTable,
  FORMAT_TRAITS,
  type FormatName,
  formatTraits,
} from '../../src/bfp/formats.js';
import { blockCodes, dequantizeBlocks, quantizeBlocks } from '../../src/bfp/quantize.js';
import { isLowbitError } from '../../src/common/errors.js';

// Spec values (bfp.md §4, OCP MX v1.0 table), written out by hand.
const FP = {
  mxfp8_e4m3: { e: 3 + 1, m: 3, bias: 7, emax: 8, max: 448, minSub: 2 ** -9, minNorm: 2 ** -6 },
  mxfp8_e5m2: { e: 5, m: 2, bias: 15, emax: 15, max: 57344, minSub: 2 ** -16, minNorm: 2 ** -14 },
  mxfp6_e3m2: { e: 3, m: 2, bias: 3, emax: 4, max: 28, minSub: 0.0625, minNorm: 0.25 },
  mxfp6_e2m3: { e: 2, m: 3, bias: 1, emax: 2, max: 7.5, minSub: 0.125, minNorm: 1 },
  mxfp4: { e: 2, m: 1, bias: 1, emax: 2, max: 6, minSub: 0.5, minNorm: 1 },
} as const;

/** Independent decode of an FP element code from the OCP field definitions. */
function fpValue(name: keyof typeof FP, c: number): number {
  const { e, m, bias } = FP[name];
  const sign = Math.floor(c / 2 ** (e + m)) === 1 ? -1 : 1;
  const E = Math.floor(c / 2 ** m) % 2 ** e;
  const M = c % 2 ** m;
  if (name === 'mxfp8_e4m3' && E === 15 && M === 7) return Number.NaN;
  if (name === 'mxfp8_e5m2' && E === 31) return M === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return E === 0 ? sign * M * 2 ** (1 - bias - m) : sign * (1 + M / 2 ** m) * 2 ** (E - bias);
}

function expectedTable(name: FormatName | number): number[] {
  const out: number[] = [];
  if (typeof name === 'number') {
    const p = name;
    for (let c = 0; c < 2 ** p; c++) {
      const neg = c >= 2 ** (p - 1);
      const mag = neg ? c - 2 ** (p - 1) : c;
      out.push(((neg ? -1 : 1) * mag) / 2 ** (p - 2));
    }
    return out;
  }
  if (name === 'mxint8') {
    for (let c = 0; c < 256; c++) out.push((c < 128 ? c : c - 256) / 64);
    return out;
  }
  const f = name as keyof typeof FP;
  const bits = 1 + FP[f].e + FP[f].m;
  for (let c = 0; c < 2 ** bits; c++) out.push(fpValue(f, c));
  return out;
}

describe('format traits table', () => {
  it('matches the OCP MX v1.0 table', () => {
    for (const [name, s] of Object.entries(FP)) {
      const t = formatTraits(name as FormatName);
      expect(t.kind).toBe('fp');
      expect(t.elementBits).toBe(1 + s.e + s.m);
      expect(t.bias).toBe(s.bias);
      expect(t.emax).toBe(s.emax);
      expect(t.maxNormal).toBe(s.max);
      expect(t.minNormal).toBe(s.minNorm);
      expect(t.minSubnormal).toBe(s.minSub);
      expect(t.defaultBlockSize).toBe(32);
    }
    expect(FORMAT_TRAITS.mxint8.maxNormal).toBe(1.984375);
    expect(FORMAT_TRAITS.mxint8.minSubnormal).toBe(2 ** -6);
    expect(FORMAT_TRAITS.bfp12.maxNormal).toBe(7 / 4);
    expect(FORMAT_TRAITS.bfp16.maxNormal).toBe(127 / 64);
    expect(FORMAT_TRAITS.bfp24.elementBits).toBe(16);
    expect(formatTraits({ kind: 'bfp', mantissaBits: 5 }).name).toBe('bfp13');
    expect(formatTraits({ kind: 'bfp', mantissaBits: 4 }).maxNormal).toBe(FORMAT_TRAITS.bfp12.maxNormal);
  });

  it('bitsPerElement = element bits + 8 / block (bfp.md §8)', () => {
    expect(bitsPerElement('mxfp4', 32)).toBe(4.25);
    expect(bitsPerElement('mxfp8_e4m3')).toBe(8.25);
    expect(bitsPerElement('mxfp6_e2m3', 32)).toBe(6.25);
    expect(bitsPerElement('mxint8', 32)).toBe(8.25);
    expect(bitsPerElement('bfp12', 32)).toBe(4.25);
    expect(bitsPerElement('bfp16', 16)).toBe(8.5);
    expect(bitsPerElement({ kind: 'bfp', mantissaBits: 16 }, 64)).toBe(16.125);
  });

  it('rejects unknown formats and bad block sizes with E_CONFIG', () => {
    const bad: unknown[] = [
      'mxfp3',
      'BFP12',
      '',
      12,
      null,
      { kind: 'bfp', mantissaBits: 1 },
      { kind: 'bfp', mantissaBits: 17 },
      { kind: 'bfp', mantissaBits: 4.5 },
      { kind: 'mx' },
      'toString',
    ];
    for (const f of bad) {
      try {
        formatTraits(f as FormatName);
        expect.unreachable(String(f));
      } catch (e) {
        expect(isLowbitError(e, 'E_CONFIG')).toBe(true);
      }
    }
    for (const n of [0, -1, 1.5, Number.NaN, '8' as unknown as number]) {
      expect(() => bitsPerElement('mxfp4', n)).toThrow(/blockSize/);
    }
    expect(() => decodeElement('mxfp4', 16)).toThrow(/code/);
  });
});

describe('exhaustive element codes', () => {
  const names: (FormatName | number)[] = [
    'mxfp8_e4m3',
    'mxfp8_e5m2',
    'mxfp6_e3m2',
    'mxfp6_e2m3',
    'mxfp4',
    'mxint8',
    ...Array.from({ length: 15 }, (_, i) => i + 2),
  ];
  for (const name of names) {
    const fmt = typeof name === 'number' ? ({ kind: 'bfp', mantissaBits: name } as const) : name;
    const label = typeof name === 'number' ? `bfp p=${name}` : name;
    it(`${label}: every code decodes to the spec value and re-encodes to itself`, () => {
      const t = formatTraits(fmt);
      const want = expectedTable(name);
      const table = elementTable(fmt);
      expect(table.length).toBe(2 ** t.elementBits);
      let bad = 0;
      for (let c = 0; c < want.length; c++) {
        if (!(Object.is(table[c], want[c]) || (Number.isNaN(table[c]!) && Number.isNaN(want[c]!)))) bad++;
        if ((c < 64 || c % 97 === 0) && !Object.is(decodeElement(fmt, c), want[c]) && !Number.isNaN(want[c]!)) bad++;
      }
      expect(bad).toBe(0);
      if (name === 'mxfp4') expect(want.slice(0, 8)).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6]);
      // every finite code except −0 and MXINT8's 0x80: block [maxNormal, v] has scale 2^0, so v keeps its code
      const codes: number[] = [];
      for (let c = 0; c < want.length; c++) {
        const v = want[c]!;
        if (!Number.isFinite(v) || Object.is(v, -0)) continue;
        if (name === 'mxint8' && c === 0x80) continue;
        codes.push(c);
      }
      const x = new Float32Array(2 * codes.length);
      codes.forEach((c, i) => {
        x[2 * i] = t.maxNormal;
        x[2 * i + 1] = want[c]!;
      });
      for (const rounding of ['half-even', 'half-away', 'floor', 'stochastic'] as const) {
        const b = quantizeBlocks(
          { dtype: 'float32', data: x, shape: [codes.length, 2] },
          { format: fmt, blockSize: 2, rounding },
        );
        expect(b.scales.every((s) => s === 127)).toBe(true);
        const got = blockCodes(b);
        const y = dequantizeBlocks(b).data;
        let wrong = 0;
        for (let i = 0; i < codes.length; i++) if (got[2 * i + 1] !== codes[i] || got[2 * i] !== t.maxCode) wrong++;
        for (let i = 0; i < x.length; i++) if (!Object.is(y[i], x[i])) wrong++;
        expect(wrong).toBe(0);
      }
      // |P| never exceeds max normal; the max-normal code is the largest finite code
      let over = 0;
      for (let c = 0; c < want.length; c++)
        if (Number.isFinite(want[c]!) && Math.abs(want[c]!) > t.maxNormal && !(name === 'mxint8' && c === 0x80)) over++;
      expect(over).toBe(0);
      expect(table[t.maxCode]).toBe(t.maxNormal);
    });
  }

  it('MXINT8 never produces 0x80 (−2.0): −2 saturates to −127/64', () => {
    const b = quantizeBlocks(new Float32Array([1.5, -1.9921875, -1.99999]), { format: 'mxint8', blockSize: 3 });
    expect(b.scales[0]).toBe(127);
    expect(Array.from(blockCodes(b))).toEqual([96, 0x81, 0x81]);
  });
});
