/** Memory accounting against the worked numbers of kivi.md §7 (hand-derived there). */
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import { kiviBytesPerToken, kiviCacheBytes, kiviCompressionRatio } from '../../src/kivi/index.js';

describe('kiviBytesPerToken (D = 128, f16 meta)', () => {
  it('2-bit G32 → 48 B/token (3 bits/elem, 5.33× vs 256 B); 4-bit G32 → 80 B (3.2×); 2-bit G128 → 36 B (7.1×)', () => {
    const a = kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 32 });
    expect(a.keys).toBe(48);
    expect(a.values).toBe(48);
    expect(a.keyBitsPerElement).toBe(3);
    expect(a.fp16).toBe(512);
    expect(256 / a.keys).toBeCloseTo(5.33, 2);
    const b = kiviBytesPerToken({ headDim: 128, bits: 4, groupSize: 32 });
    expect(b.keys).toBe(80);
    expect(256 / b.keys).toBeCloseTo(3.2, 5);
    const c = kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 128, residualLength: 128 });
    expect(c.keys).toBe(36);
    expect(256 / c.keys).toBeCloseTo(7.11, 2);
    // float32 metadata doubles the scale/min term
    expect(kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 32, scaleDtype: 'float32' }).keys).toBe(64);
    // mixed widths
    const m = kiviBytesPerToken({ headDim: 128, keyBits: 2, valueBits: 4, groupSize: 32 });
    expect([m.keys, m.values, m.total]).toEqual([48, 80, 128]);
  });

  it('Llama-2-7B (32 layers × 32 heads × D 128): fp16 0.5 MiB/token, KIVI-2 G32 → 0.09375 MiB/token', () => {
    const b = kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 32, kvHeads: 32, layers: 32 });
    expect(b.fp16 / 2 ** 20).toBe(0.5);
    expect(b.total / 2 ** 20).toBe(0.09375);
  });
});

describe('kiviCacheBytes / kiviCompressionRatio (R = 128, b = 2, G = 32, one head)', () => {
  const cfg = { headDim: 128, bits: 2, groupSize: 32, residualLength: 128 } as const;
  const table: [number, number, number, number, number, number][] = [
    [100, 25600, 25600, 51200, 51200, 1.0],
    [1000, 69632, 74624, 144256, 512000, 3.55],
    [4096, 196608, 223232, 419840, 2097152, 5.0],
    [32768, 1572864, 1599488, 3172352, 16777216, 5.29],
  ];
  for (const [T, k, v, total, fp16, ratio] of table) {
    it(`T = ${T}: K ${k}, V ${v}, total ${total}, fp16 ${fp16}, ratio ${ratio}`, () => {
      const b = kiviCacheBytes(cfg, T);
      expect([b.keys, b.values, b.total, b.fp16]).toEqual([k, v, total, fp16]);
      expect(kiviCompressionRatio(cfg, T)).toBeCloseTo(ratio, 2);
    });
  }
  it('Llama-2-7B at T = 4096: 410 MiB vs 2048 MiB', () => {
    const b = kiviCacheBytes({ ...cfg, kvHeads: 32, layers: 32 }, 4096);
    expect(b.total / 2 ** 20).toBeCloseTo(410, 0);
    expect(b.fp16 / 2 ** 20).toBe(2048);
  });
  it('residual windows rK = T mod R, rV = min(T, R)', () => {
    expect(kiviCacheBytes(cfg, 1000)).toMatchObject({ residualKeys: 104, residualValues: 128 });
    expect(kiviCacheBytes(cfg, 0).total).toBe(0);
  });
  it('bad config → E_CONFIG', () => {
    for (const f of [
      () => kiviCacheBytes(cfg, -1),
      () => kiviCompressionRatio(cfg, 0),
      () => kiviBytesPerToken({ headDim: 100, bits: 2, groupSize: 32 }),
      () => kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 32, layers: 0 }),
      () => kiviBytesPerToken({ headDim: 128, bits: 2, groupSize: 32, residualDtype: 'int8' as 'float16' }),
    ]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isLowbitError(err, 'E_CONFIG')).toBe(true);
    }
  });
});
