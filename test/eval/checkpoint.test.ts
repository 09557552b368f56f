import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LowbitError } from '../../src/common/errors.js';
import { LLAMA2_TENSOR_ORDER, readLlama2Checkpoint } from '../../src/eval/checkpoint.js';

const bytes = new Uint8Array(readFileSync(new URL('../../models/stories260K/stories260K.bin', import.meta.url)));

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof LowbitError) return e.code;
    throw e;
  }
  return undefined;
}

/**
 * Expected values computed once with numpy 2.4, independently of this reader:
 *   h = np.frombuffer(b[:28], '<i4'); f = np.frombuffer(b[28:], '<f4')
 *   for each tensor in file order: byte offset 28 + 4·o, f[o:o+n].astype(np.float64).sum(), f[o], f[o+n-1]
 * (numpy sums pairwise, the test sums sequentially in float64: compared to 1e-9 relative.)
 */
const NUMPY: [string, number, number, number, number][] = [
  ['token_embedding', 28, -752.3677446640068, -0.29474878311157227, -0.424032598733902],
  ['rms_att', 131100, 384.7829294204712, 0.9722429513931274, 1.0649559497833252],
  ['wq', 132380, 3.002939023399904, 0.04439278692007065, -0.18901382386684418],
  ['wk', 214300, -24.900409052997816, 0.2161301076412201, -0.2651301622390747],
  ['wv', 255260, -7.455145706046551, 0.09112543612718582, 0.08836912363767624],
  ['wo', 296220, 31.603886566308574, 0.017344146966934204, 0.0062035913579165936],
  ['rms_ffn', 378140, 264.1280038356781, 0.7367770671844482, 1.234261155128479],
  ['w1', 379420, -76.032067056618, 0.21368665993213654, -0.14359810948371887],
  ['w2', 599580, 29.622342875869435, 0.13498419523239136, -0.0035068716388195753],
  ['w3', 819740, 16.97105951025469, 0.07037118822336197, 0.10603193938732147],
  ['rms_final', 1039900, 115.95276230573654, 2.4583089351654053, 1.7077769041061401],
  ['freq_cis_real', 1040156, 407.79185206396505, 1.0, 0.8722558617591858],
  ['freq_cis_imag', 1048348, 194.2456798815947, 0.0, 0.4890497922897339],
];

function sum(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

describe('readLlama2Checkpoint on the shipped stories260K.bin', () => {
  const ck = readLlama2Checkpoint(bytes);

  it('header and config (models/stories260K/README.md)', () => {
    expect(bytes.length).toBe(1_056_540);
    expect(ck.header).toEqual([64, 172, 5, 8, 4, 512, 512]);
    expect(ck.config).toEqual({
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      seqLen: 512,
      ropeTheta: 10000,
      normEps: 1e-5,
    });
    expect(ck.sharedClassifier).toBe(true);
    expect(ck.tensors.get('wcls')).toBe(ck.tensors.get('token_embedding'));
    expect(ck.byteOffsets.has('wcls')).toBe(false);
  });

  it('shapes, byte offsets, sums and end values match numpy', () => {
    const shapes: Record<string, number[]> = {
      token_embedding: [512, 64],
      rms_att: [5, 64],
      wq: [5, 64, 64],
      wk: [5, 32, 64],
      wv: [5, 32, 64],
      wo: [5, 64, 64],
      rms_ffn: [5, 64],
      w1: [5, 172, 64],
      w2: [5, 64, 172],
      w3: [5, 172, 64],
      rms_final: [64],
      freq_cis_real: [512, 4],
      freq_cis_imag: [512, 4],
    };
    expect(NUMPY.map((r) => r[0])).toEqual(LLAMA2_TENSOR_ORDER.slice(0, 13));
    for (const [name, off, s, first, last] of NUMPY) {
      const t = ck.tensors.get(name)!;
      expect(t.shape, name).toEqual(shapes[name]);
      expect(ck.byteOffsets.get(name), name).toBe(off);
      expect(t.data[0], name).toBe(first);
      expect(t.data[t.data.length - 1], name).toBe(last);
      expect(Math.abs(sum(t.data) - s), name).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(s)));
    }
  });

  it('per-layer views and LlamaWeights point into the stacked arrays', () => {
    // numpy: f[94848:...].reshape(5,172,64)[2,171,63] = -0.1516348421573639;
    //        w2.reshape(5,64,172)[3,10,100] = 0.011577256955206394, |w2[3]|.sum() = 1130.66619573139
    expect(ck.layers).toHaveLength(5);
    expect(ck.layers[2]!.w1.shape).toEqual([172, 64]);
    expect(ck.layers[2]!.w1.data[171 * 64 + 63]).toBe(-0.1516348421573639);
    const w2 = ck.layers[3]!.w2;
    expect(w2.shape).toEqual([64, 172]);
    expect(w2.data[10 * 172 + 100]).toBe(0.011577256955206394);
    let abs = 0;
    for (const v of w2.data) abs += Math.abs(v);
    expect(Math.abs(abs - 1130.66619573139)).toBeLessThan(1e-9 * 1130);
    expect(ck.weights.w2[3]).toBe(w2.data);
    expect(ck.weights.wq).toHaveLength(5);
    expect(ck.weights.wcls).toBe(ck.weights.tokenEmbedding);
    expect(ck.weights.rmsFinal[0]).toBe(2.4583089351654053);
  });

  it('copies: the tensors do not alias the caller bytes, and the bytes are not modified', () => {
    const copy = bytes.slice();
    const c2 = readLlama2Checkpoint(copy);
    c2.tensors.get('wq')!.data[0] = 123;
    expect(Buffer.compare(copy, bytes)).toBe(0);
    // an unaligned view (byteOffset 1) parses the same
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const c3 = readLlama2Checkpoint(shifted.subarray(1));
    expect(c3.tensors.get('w3')!.data[5]).toBe(ck.tensors.get('w3')!.data[5]);
  });
});

/** A tiny hand-built checkpoint: dim 4, hidden 6, 1 layer, 2 heads, 1 kv head, vocab ±3, seq 2. */
function tiny(vocab: number, extraFloats = 0): Uint8Array {
  const dim = 4;
  const hidden = 6;
  const v = Math.abs(vocab);
  const kv = 2; // 1 kv head × head size 2
  const floats =
    v * dim +
    dim +
    dim * dim +
    2 * kv * dim +
    dim * dim +
    dim +
    3 * hidden * dim +
    dim +
    2 * 2 +
    (vocab < 0 ? v * dim : 0);
  const b = new Uint8Array(28 + 4 * (floats + extraFloats));
  const dv = new DataView(b.buffer);
  for (const [i, x] of [dim, hidden, 1, 2, 1, vocab, 2].entries()) dv.setInt32(4 * i, x, true);
  for (let i = 0; i < floats + extraFloats; i++) dv.setFloat32(28 + 4 * i, i, true); // value = float index
  return b;
}

describe('readLlama2Checkpoint on hand-built files', () => {
  it('separate classifier (negative vocab_size) is read after freq_cis', () => {
    const ck = readLlama2Checkpoint(tiny(-3));
    expect(ck.sharedClassifier).toBe(false);
    expect(ck.config.vocabSize).toBe(3);
    // floats before wcls: 12 + 4 + 16 + 8 + 8 + 16 + 4 + 72 + 4 + 4 = 148
    const wcls = ck.tensors.get('wcls')!;
    expect(wcls.shape).toEqual([3, 4]);
    expect(wcls.data[0]).toBe(148);
    expect(wcls.data[11]).toBe(159);
    expect(ck.byteOffsets.get('wcls')).toBe(28 + 4 * 148);
    expect(ck.weights.wcls).not.toBe(ck.weights.tokenEmbedding);
    expect(ck.tensors.get('wk')!.shape).toEqual([1, 2, 4]);
    expect(ck.tensors.get('wk')!.data[0]).toBe(32); // 12 + 4 + 16
    expect(ck.tensors.get('freq_cis_imag')!.shape).toEqual([2, 1]);
  });

  it('shared classifier', () => {
    const ck = readLlama2Checkpoint(tiny(3));
    expect(ck.sharedClassifier).toBe(true);
    expect(ck.weights.wcls).toBe(ck.weights.tokenEmbedding);
  });

  it('size mismatches, bad headers and v1 exports throw E_FORMAT with a reason', () => {
    expect(() => readLlama2Checkpoint(tiny(3, 1))).toThrow(/trailing bytes/);
    expect(() => readLlama2Checkpoint(tiny(3).subarray(0, 100))).toThrow(/truncated/);
    // a file with a separate classifier but a positive vocab_size: the hint names the sign
    const wrongSign = tiny(-3);
    new DataView(wrongSign.buffer).setInt32(20, 3, true);
    expect(() => readLlama2Checkpoint(wrongSign)).toThrow(/sign of vocab_size/);
    expect(code(() => readLlama2Checkpoint(new Uint8Array(10)))).toBe('E_FORMAT');
    const bad = (i: number, v: number): Uint8Array => {
      const b = tiny(3);
      new DataView(b.buffer).setInt32(4 * i, v, true);
      return b;
    };
    expect(code(() => readLlama2Checkpoint(bad(0, 0)))).toBe('E_FORMAT');
    expect(code(() => readLlama2Checkpoint(bad(2, -1)))).toBe('E_FORMAT');
    expect(() => readLlama2Checkpoint(bad(3, 3))).toThrow(/multiple of n_heads/);
    expect(() => readLlama2Checkpoint(bad(4, 3))).toThrow(/multiple of n_kv_heads/);
    expect(() => readLlama2Checkpoint(bad(0, 6))).toThrow(/head size 3 must be even/);
    expect(code(() => readLlama2Checkpoint(bad(5, 0)))).toBe('E_FORMAT');
    expect(() => readLlama2Checkpoint(bad(0, 1024))).toThrow(/needs \d+ bytes, got 620 \(truncated\)/);
    const huge = tiny(3);
    const dv = new DataView(huge.buffer);
    dv.setInt32(0, 2 ** 30, true);
    dv.setInt32(4, 2 ** 30, true);
    dv.setInt32(8, 2 ** 30, true);
    dv.setInt32(12, 2, true);
    dv.setInt32(16, 2, true);
    expect(code(() => readLlama2Checkpoint(huge))).toBe('E_LIMIT');
    const v1 = new Uint8Array(256);
    new DataView(v1.buffer).setUint32(0, 0x616b3432, true);
    new DataView(v1.buffer).setInt32(4, 1, true);
    expect(() => readLlama2Checkpoint(v1)).toThrow(/version 1 export/);
  });
});
