import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { main, measure, SETTINGS, weightMatrices } from '../../scripts/weights-demo.js';
import { readLlama2Checkpoint } from '../../src/eval/checkpoint.js';

const ck = readLlama2Checkpoint(
  new Uint8Array(readFileSync(new URL('../../models/stories260K/stories260K.bin', import.meta.url))),
);

describe('demo', () => {
  it('lists the embedding and 7 matrices per layer', () => {
    const m = weightMatrices(ck);
    expect(m).toHaveLength(1 + 5 * 7);
    expect(m[0]!.name).toBe('token_embedding');
    expect(m[35]!.name).toBe('layers.4.w3');
    expect(SETTINGS).toHaveLength(12);
  });

  it('error rows match an independent numpy min–max quantizer', () => {
    // numpy one-off (float32 steps: s = (max−min)/qmax, q = clip(round((x−min)/s)), x̂ = q·s + min, per row
    // or per group of the row; errors in float64):
    //   token_embedding, 4 bits, per-channel: MSE 0.0008607968621438259, SQNR 20.44433970193099 dB, max 0.07216066122055054
    //   token_embedding, 2 bits, group 32:    MSE 0.016200833288101263,  SQNR 7.6979729238131736 dB
    //   layers.3.w2 (172 inputs: ragged last group), 3 bits, group 32: MSE 0.0004988606240039056, SQNR 15.417096265077994 dB
    const emb = ck.tensors.get('token_embedding')!;
    const a = measure('token_embedding', emb, { bits: 4, groupSize: null });
    expect(a.mse).toBeCloseTo(0.0008607968621438259, 12);
    expect(a.sqnrDb).toBeCloseTo(20.44433970193099, 6);
    expect(a.maxAbsError).toBeCloseTo(0.07216066122055054, 7);
    expect(a.bitsPerWeight).toBe(4.5);
    const b = measure('token_embedding', emb, { bits: 2, groupSize: 32 });
    expect(b.mse).toBeCloseTo(0.016200833288101263, 10);
    expect(b.sqnrDb).toBeCloseTo(7.6979729238131736, 6);
    const c = measure('layers.3.w2', ck.layers[3]!.w2, { bits: 3, groupSize: 32 });
    expect(c.mse).toBeCloseTo(0.0004988606240039056, 12);
    expect(c.sqnrDb).toBeCloseTo(15.417096265077994, 6);
  });

  it('main prints a table and a summary', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      main(['--only', 'layers.1.wo']);
      const text = String(log.mock.calls[0]![0]);
      expect(text).toContain('layers.1.wo [64, 64]');
      expect(text).toContain('SQNR dB');
      expect(text).toContain('summary over 1 matrices');
      expect(text.split('\n').filter((l) => /^\s+[8432]\s+(per-channel|group)/.test(l))).toHaveLength(24);
    } finally {
      log.mockRestore();
    }
  });
});
