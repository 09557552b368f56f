import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/eval/demo.js';

describe('runDemo', () => {
  it('prints both tables with every cache configuration', () => {
    let out = '';
    runDemo((s) => {
      out += s;
    });
    for (const label of ['KIVI-4', 'KIVI-2', 'per-token K2V2', 'BFP12 b8 + K-sort', 'MXFP4 b8 + K-sort'])
      expect(out).toContain(label);
    expect(out).toContain('(1) Tensor level');
    expect(out).toContain('(2) End to end');
    expect(out).toMatch(/\nfloat32\s+\d+\.\d+\s+0\.0000\s+100\.0%\s+1280\n/);
    expect(out).toContain('the README uses 16 x 256');
  }, 120_000);
});
