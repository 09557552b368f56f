import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLowbitError } from '../../src/common/errors.js';
import { parseGguf } from '../../src/common/io/gguf.js';
import { readLlama2Checkpoint } from '../../src/eval/checkpoint.js';
import { modelPath } from '../../src/eval/llama.js';
import { parseTokenizer } from '../../src/eval/tokenizer.js';
import { ggufModelTensors, ggufRoundTripWeights, llamaVocab, writeGgufModel } from '../../src/export/gguf-model.js';

const ckptBytes = readFileSync(modelPath('stories260K/stories260K.bin'));
const tokBytes = readFileSync(modelPath('stories260K/tok512.bin'));
const ck = readLlama2Checkpoint(ckptBytes);
const tok = parseTokenizer(tokBytes, 512);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return isLowbitError(e) ? e.code : 'other';
  }
  return 'none';
};

describe('writeGgufModel (stories260K)', () => {
  const hashes = [sha(ckptBytes), sha(tokBytes)];
  const f32 = parseGguf(writeGgufModel({ checkpoint: ckptBytes, tokenizer: tokBytes, name: 'stories260K' }));

  it('writes llama architecture metadata from the checkpoint header', () => {
    const m = f32.metadata;
    expect(m['general.architecture']).toBe('llama');
    expect(m['general.name']).toBe('stories260K');
    expect(m['general.file_type']).toBe(0);
    expect(m['llama.context_length']).toBe(512);
    expect(m['llama.embedding_length']).toBe(64);
    expect(m['llama.block_count']).toBe(5);
    expect(m['llama.feed_forward_length']).toBe(172);
    expect(m['llama.attention.head_count']).toBe(8);
    expect(m['llama.attention.head_count_kv']).toBe(4);
    expect(m['llama.rope.dimension_count']).toBe(8);
    expect(m['llama.rope.freq_base']).toBe(10000);
    expect(m['llama.attention.layer_norm_rms_epsilon']).toBe(Math.fround(1e-5));
    expect(f32.typedMetadata['llama.attention.layer_norm_rms_epsilon']!.type).toBe('f32');
    expect(f32.typedMetadata['llama.block_count']!.type).toBe('u32');
  });

  it('writes the tokenizer as a llama sentencepiece vocabulary', () => {
    const m = f32.metadata;
    expect(m['tokenizer.ggml.model']).toBe('llama');
    const tokens = m['tokenizer.ggml.tokens'] as string[];
    const types = m['tokenizer.ggml.token_type'] as number[];
    const scores = m['tokenizer.ggml.scores'] as number[];
    expect(tokens).toHaveLength(512);
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect(types.slice(0, 3)).toEqual([2, 3, 3]);
    // byte-fallback tokens 3..258 are <0x00>..<0xFF>
    for (let b = 0; b < 256; b++) {
      expect(tokens[3 + b]).toBe(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      expect(types[3 + b]).toBe(6);
    }
    // the rest are normal pieces with ' ' written as U+2581, scores kept as float32
    for (let i = 259; i < 512; i++) {
      expect(types[i]).toBe(1);
      expect(tokens[i]).toBe(new TextDecoder().decode(tok.pieces[i]!).replaceAll(' ', '▁'));
      expect(scores[i]).toBe(tok.scores[i]);
    }
    expect(tokens).toContain('▁a');
    expect(m['tokenizer.ggml.bos_token_id']).toBe(1);
    expect(m['tokenizer.ggml.eos_token_id']).toBe(2);
    expect(m['tokenizer.ggml.unknown_token_id']).toBe(0);
    expect(m['tokenizer.ggml.add_bos_token']).toBe(true);
    expect(llamaVocab(tok).tokens).toEqual(tokens);
  });

  it('names, shapes and data of the tensors: F32 is the checkpoint exactly, tied classifier left out', () => {
    expect(f32.names).toHaveLength(2 + 5 * 9);
    expect(f32.names).not.toContain('output.weight');
    expect(f32.info('token_embd.weight').shape).toEqual([512, 64]);
    expect(f32.info('blk.0.attn_k.weight').shape).toEqual([32, 64]);
    expect(f32.info('blk.4.ffn_down.weight').shape).toEqual([64, 172]);
    expect(f32.info('blk.4.ffn_gate.weight').shape).toEqual([172, 64]);
    expect(f32.readFloat32('blk.2.attn_q.weight').data).toEqual(ck.weights.wq[2]);
    expect(f32.readFloat32('blk.3.ffn_up.weight').data).toEqual(ck.weights.w3[3]);
    expect(f32.readFloat32('blk.1.attn_norm.weight').data).toEqual(ck.weights.rmsAtt[1]);
    expect(f32.readFloat32('output_norm.weight').data).toEqual(ck.weights.rmsFinal);
    expect(f32.readFloat32('token_embd.weight').data).toEqual(ck.weights.tokenEmbedding);
  });

  for (const type of ['F16', 'Q8_0', 'Q4_0'] as const) {
    it(`${type}: stored types, and the file decodes to ggufRoundTripWeights`, () => {
      const g = parseGguf(writeGgufModel({ checkpoint: ck, tokenizer: tok, type }));
      expect(g.metadata['general.file_type']).toBe({ F16: 1, Q8_0: 7, Q4_0: 2 }[type]);
      expect(g.info('blk.0.attn_q.weight').fileDtype).toBe(type);
      expect(g.info('blk.0.ffn_norm.weight').fileDtype).toBe('F32');
      expect(g.info('blk.0.ffn_down.weight').fileDtype).toBe('F16'); // row length 172: no 32-blocks
      const rt = ggufRoundTripWeights(ck, type);
      expect(g.readFloat32('token_embd.weight').data).toEqual(rt.tokenEmbedding);
      expect(rt.wcls).toBe(rt.tokenEmbedding);
      for (let l = 0; l < 5; l++) {
        expect(g.readFloat32(`blk.${l}.attn_v.weight`).data).toEqual(rt.wv[l]);
        expect(g.readFloat32(`blk.${l}.ffn_down.weight`).data).toEqual(rt.w2[l]);
        expect(g.readFloat32(`blk.${l}.ffn_gate.weight`).data).toEqual(rt.w1[l]);
      }
      expect(ggufModelTensors(ck, type).filter((t) => t.type === type)).toHaveLength(
        type === 'F16' ? 1 + 5 * 7 : 1 + 5 * 6,
      );
    });
  }

  it('never modifies its inputs', () => {
    writeGgufModel({ checkpoint: ckptBytes, tokenizer: tokBytes, type: 'Q4_0' });
    ggufRoundTripWeights(ck, 'Q8_0');
    expect([sha(ckptBytes), sha(tokBytes)]).toEqual(hashes);
  });

  it('rejects bad input with LowbitError codes', () => {
    expect(codeOf(() => writeGgufModel({ checkpoint: ck, tokenizer: tok, type: 'Q4_1' as 'Q4_0' }))).toBe('E_CONFIG');
    expect(codeOf(() => writeGgufModel({ checkpoint: ckptBytes.subarray(0, 100), tokenizer: tok }))).toBe('E_FORMAT');
    expect(codeOf(() => writeGgufModel({ checkpoint: ck, tokenizer: tokBytes.subarray(0, 50) }))).toBe('E_FORMAT');
    const small = { ...tok, vocabSize: 10, pieces: tok.pieces.slice(0, 10), scores: tok.scores.slice(0, 10) };
    expect(codeOf(() => writeGgufModel({ checkpoint: ck, tokenizer: small }))).toBe('E_CONFIG');
    const bad = { ...tok, pieces: tok.pieces.map((p, i) => (i === 300 ? Uint8Array.of(0xff, 0xfe) : p)) };
    expect(codeOf(() => writeGgufModel({ checkpoint: ck, tokenizer: bad }))).toBe('E_FORMAT');
  });
});
