/**
 * A llama2.c checkpoint plus its tokenizer → a complete GGUF model file that llama.cpp loads as a `llama`
 * architecture model (what `convert-llama2c-to-ggml` produces, with lowbit's own block encoders).
 *
 * - Metadata: `general.*`, `llama.*` hyper-parameters (context length, embedding/FFN width, layers,
 *   heads, KV heads, RoPE dimension count and base 10000, RMSNorm ε 1e-5), and the tokenizer as a
 *   sentencepiece (`tokenizer.ggml.model = "llama"`) vocabulary: pieces with spaces written as U+2581,
 *   BOS/EOS as `<s>`/`</s>`, `<unk>`, scores, token types (normal 1, unknown 2, control 3, byte 6) and
 *   the BOS/EOS/UNK ids.
 * - Tensors use llama.cpp's names (`token_embd`, `blk.N.attn_q`, …, `output_norm`, `output` when the
 *   classifier is separate — a tied classifier is left out, llama.cpp then reuses `token_embd`).
 *   Matrices keep llama2.c's row-major `[out, in]` (ggml `ne = [in, out]`). llama2.c checkpoints already
 *   hold wq/wk in Meta's interleaved-pair RoPE layout, which is what llama.cpp's `llama` architecture
 *   (RoPE "norm" mode, adjacent pairs) expects, so no Q/K permutation is applied (that permutation is
 *   only for Hugging Face checkpoints).
 * - Types: norms are always F32 (as llama.cpp writes them). Matrices are F32, F16, Q8_0 or Q4_0,
 *   encoded by {@link encodeGgml}; a matrix whose row length is not a multiple of 32 cannot hold
 *   32-element blocks and falls back to F16 (as llama.cpp's converters do) — in stories260K that is
 *   `ffn_down` (row length 172).
 *
 * Exposed: writeGgufModel, ggufModelTensors, ggufRoundTripWeights, llamaVocab, GgufModelType,
 * GgufModelOptions, GgufModelTensor, LlamaVocab.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { decodeGgml, encodeGgml } from '../common/ggml.js';
import { type GgufValueInput, serializeGguf } from '../common/io/gguf.js';
import { type Llama2Checkpoint, readLlama2Checkpoint } from '../eval/checkpoint.js';
import type { LlamaWeights } from '../eval/llama.js';
import { parseTokenizer, type Tokenizer } from '../eval/tokenizer.js';

/**
 * The tensor types {@link writeGgufModel} writes the matrices in.
 *
 * @example
 * ```ts
 * const t: GgufModelType = 'Q4_0';
 * ```
 */
export type GgufModelType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';

const MODEL_TYPES: readonly GgufModelType[] = ['F32', 'F16', 'Q8_0', 'Q4_0'];

/** llama.cpp's `llama_ftype` values (`general.file_type`). */
const FILE_TYPE: Readonly<Record<GgufModelType, number>> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7 };

/** llama.cpp's `llama_token_type` values. */
const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_BYTE = 6;

/**
 * Options of {@link writeGgufModel}.
 *
 * @example
 * ```ts
 * const o: GgufModelOptions = { checkpoint: ckptBytes, tokenizer: tokBytes, type: 'Q8_0' };
 * ```
 */
export interface GgufModelOptions {
  /** The llama2.c checkpoint: its bytes or {@link readLlama2Checkpoint}'s result. */
  readonly checkpoint: Uint8Array | Llama2Checkpoint;
  /** The llama2.c tokenizer: its bytes (`tokenizer.bin` / `tok512.bin`) or a parsed {@link Tokenizer}. */
  readonly tokenizer: Uint8Array | Tokenizer;
  /** Type of the matrices (default `'F32'`). */
  readonly type?: GgufModelType;
  /** `general.name` (default `'llama2.c'`). */
  readonly name?: string;
}

/**
 * One tensor of the exported model: llama.cpp name, row-major shape, the GGUF type it is stored in and
 * the float32 values before encoding.
 *
 * @example
 * ```ts
 * const t: GgufModelTensor = ggufModelTensors(ckpt, 'Q4_0')[0]!; // token_embd.weight
 * ```
 */
export interface GgufModelTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: 'F32' | GgufModelType;
  readonly data: Float32Array;
}

/**
 * A llama sentencepiece vocabulary in GGUF form.
 *
 * @example
 * ```ts
 * const v: LlamaVocab = llamaVocab(tok);
 * v.tokens[1]; // '<s>'
 * ```
 */
export interface LlamaVocab {
  readonly tokens: readonly string[];
  readonly scores: readonly number[];
  readonly types: readonly number[];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Convert a llama2.c tokenizer into a llama.cpp sentencepiece vocabulary: id 0 `<unk>` (unknown),
 * 1 `<s>` and 2 `</s>` (control), `<0xHH>` pieces as byte tokens, empty pieces as control, the rest
 * normal with every space written as U+2581 (`▁`), as `convert-llama2c-to-ggml` does. Scores are kept.
 * A piece that is not valid UTF-8 cannot be a GGUF string → `E_FORMAT`.
 *
 * @example
 * ```ts
 * const v = llamaVocab(loadStories260KTokenizer());
 * v.tokens[3]; // '<0x00>' (type 6, byte)
 * ```
 */
export function llamaVocab(tok: Tokenizer): LlamaVocab {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (let i = 0; i < tok.vocabSize; i++) {
    const p = tok.pieces[i]!;
    let text: string;
    try {
      text = strictUtf8.decode(p);
    } catch (e) {
      return fail('E_FORMAT', `llamaVocab: piece ${i} is not valid UTF-8 and cannot be stored as a GGUF string`, e);
    }
    let type = TOKEN_NORMAL;
    if (i === 0) {
      text = '<unk>';
      type = TOKEN_UNKNOWN;
    } else if (i === tok.bos) {
      text = '<s>';
      type = TOKEN_CONTROL;
    } else if (i === tok.eos) {
      text = '</s>';
      type = TOKEN_CONTROL;
    } else if (text.length === 0) type = TOKEN_CONTROL;
    else if (/^<0x[0-9A-Fa-f]{2}>$/.test(text)) type = TOKEN_BYTE;
    tokens.push(text.replaceAll(' ', '\u2581'));
    scores.push(tok.scores[i]!);
    types.push(type);
  }
  return { tokens, scores, types };
}

function asCheckpoint(c: Uint8Array | Llama2Checkpoint): Llama2Checkpoint {
  if (c instanceof Uint8Array) return readLlama2Checkpoint(c);
  check(
    typeof c === 'object' && c !== null && 'config' in c && 'layers' in c,
    'E_CONFIG',
    'writeGgufModel: checkpoint must be the bytes of a llama2.c checkpoint or readLlama2Checkpoint(bytes)',
  );
  return c;
}

function checkType(type: unknown, who: string): GgufModelType {
  if (MODEL_TYPES.includes(type as GgufModelType)) return type as GgufModelType;
  return fail('E_CONFIG', `${who}: type ${JSON.stringify(type)} is not one of ${MODEL_TYPES.join(', ')}`);
}

/**
 * The tensors of the exported model in file order, with the type each is stored in (norms F32,
 * matrices `type`, F16 for matrices whose row length is not a multiple of 32 when `type` is a block
 * type). `data` views the checkpoint's arrays (never modified).
 *
 * @example
 * ```ts
 * const ts = ggufModelTensors(readLlama2Checkpoint(bytes), 'Q4_0');
 * ts.find((t) => t.name === 'blk.0.ffn_down.weight')!.type; // 'F16' (row length 172)
 * ```
 */
export function ggufModelTensors(checkpoint: Llama2Checkpoint, type: GgufModelType = 'F32'): GgufModelTensor[] {
  const ck = asCheckpoint(checkpoint);
  const t = checkType(type, 'ggufModelTensors');
  const c = ck.config;
  const headDim = c.dim / c.nHeads;
  const kvDim = c.nKvHeads * headDim;
  const out: GgufModelTensor[] = [];
  const matrix = (name: string, data: Float32Array, rows: number, cols: number): void => {
    const blockType = t === 'Q8_0' || t === 'Q4_0';
    out.push({ name, shape: [rows, cols], type: blockType && cols % 32 !== 0 ? 'F16' : t, data });
  };
  const vector = (name: string, data: Float32Array): void => {
    out.push({ name, shape: [data.length], type: 'F32', data });
  };
  const w = ck.weights;
  matrix('token_embd.weight', w.tokenEmbedding, c.vocabSize, c.dim);
  vector('output_norm.weight', w.rmsFinal);
  if (!ck.sharedClassifier) matrix('output.weight', w.wcls, c.vocabSize, c.dim);
  for (let l = 0; l < c.nLayers; l++) {
    const b = `blk.${l}`;
    vector(`${b}.attn_norm.weight`, w.rmsAtt[l]!);
    matrix(`${b}.attn_q.weight`, w.wq[l]!, c.dim, c.dim);
    matrix(`${b}.attn_k.weight`, w.wk[l]!, kvDim, c.dim);
    matrix(`${b}.attn_v.weight`, w.wv[l]!, kvDim, c.dim);
    matrix(`${b}.attn_output.weight`, w.wo[l]!, c.dim, c.dim);
    vector(`${b}.ffn_norm.weight`, w.rmsFfn[l]!);
    matrix(`${b}.ffn_gate.weight`, w.w1[l]!, c.hiddenDim, c.dim);
    matrix(`${b}.ffn_down.weight`, w.w2[l]!, c.dim, c.hiddenDim);
    matrix(`${b}.ffn_up.weight`, w.w3[l]!, c.hiddenDim, c.dim);
  }
  return out;
}

/**
 * Write a llama2.c model as a GGUF file llama.cpp loads (see the module notes for what is written).
 * Bad checkpoint or tokenizer bytes → `E_FORMAT`; a tokenizer whose size differs from the model's
 * vocabulary → `E_CONFIG`; an unknown `type` → `E_CONFIG`; non-finite weights with a block type →
 * `E_NONFINITE`. Inputs are not modified.
 *
 * @example
 * ```ts
 * import { readFileSync, writeFileSync } from 'node:fs';
 * const gguf = writeGgufModel({
 *   checkpoint: readFileSync('models/stories260K/stories260K.bin'),
 *   tokenizer: readFileSync('models/stories260K/tok512.bin'),
 *   type: 'Q8_0',
 * });
 * writeFileSync('stories260K-q8_0.gguf', gguf); // llama.cpp / node-llama-cpp load this
 * ```
 */
export function writeGgufModel(opts: GgufModelOptions): Uint8Array {
  const who = 'writeGgufModel';
  check(typeof opts === 'object' && opts !== null, 'E_CONFIG', `${who}: expected an options object`);
  const type = checkType(opts.type ?? 'F32', who);
  const ck = asCheckpoint(opts.checkpoint);
  const c = ck.config;
  const tok = opts.tokenizer instanceof Uint8Array ? parseTokenizer(opts.tokenizer, c.vocabSize) : opts.tokenizer;
  check(
    typeof tok === 'object' && tok !== null && Array.isArray(tok.pieces),
    'E_CONFIG',
    `${who}: tokenizer must be the bytes of a llama2.c tokenizer or a parsed Tokenizer`,
  );
  check(
    tok.vocabSize === c.vocabSize,
    'E_CONFIG',
    () => `${who}: the tokenizer has ${tok.vocabSize} tokens, the model's vocabulary has ${c.vocabSize}`,
  );
  const name = opts.name ?? 'llama2.c';
  check(typeof name === 'string', 'E_CONFIG', `${who}: name must be a string`);
  const vocab = llamaVocab(tok);
  const headDim = c.dim / c.nHeads;
  const u32 = (value: number): GgufValueInput => ({ type: 'u32', value });
  const f32 = (value: number): GgufValueInput => ({ type: 'f32', value });
  const metadata: Record<string, GgufValueInput> = {
    'general.architecture': 'llama',
    'general.name': name,
    'general.file_type': u32(FILE_TYPE[type]),
    'llama.context_length': u32(c.seqLen),
    'llama.embedding_length': u32(c.dim),
    'llama.block_count': u32(c.nLayers),
    'llama.feed_forward_length': u32(c.hiddenDim),
    'llama.rope.dimension_count': u32(headDim),
    'llama.rope.freq_base': f32(c.ropeTheta),
    'llama.attention.head_count': u32(c.nHeads),
    'llama.attention.head_count_kv': u32(c.nKvHeads),
    'llama.attention.layer_norm_rms_epsilon': f32(c.normEps),
    'llama.vocab_size': u32(c.vocabSize),
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', value: vocab.tokens },
    'tokenizer.ggml.scores': { type: 'array', itemType: 'f32', value: vocab.scores },
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', value: vocab.types },
    'tokenizer.ggml.unknown_token_id': u32(0),
    'tokenizer.ggml.bos_token_id': u32(tok.bos),
    'tokenizer.ggml.eos_token_id': u32(tok.eos),
    'tokenizer.ggml.add_bos_token': true,
    'tokenizer.ggml.add_eos_token': false,
  };
  if (type === 'Q8_0' || type === 'Q4_0') metadata['general.quantization_version'] = u32(2);
  const tensors = ggufModelTensors(ck, type).map((t) => ({ name: t.name, data: t.data, shape: t.shape, type: t.type }));
  return serializeGguf({ metadata, tensors });
}

/**
 * The weights llama.cpp computes with when it loads `writeGgufModel({ checkpoint, type })`: every
 * matrix encoded to its stored type and decoded back with lowbit's ggml codecs (norms unchanged).
 * Run `LlamaModel` on these to predict the exported model's outputs.
 *
 * @example
 * ```ts
 * const ck = readLlama2Checkpoint(bytes);
 * const q4 = new LlamaModel(ck.config, ggufRoundTripWeights(ck, 'Q4_0'));
 * ```
 */
export function ggufRoundTripWeights(checkpoint: Llama2Checkpoint, type: GgufModelType): LlamaWeights {
  const ck = asCheckpoint(checkpoint);
  const t = checkType(type, 'ggufRoundTripWeights');
  const types = new Map(ggufModelTensors(ck, t).map((x) => [x.name, x.type]));
  const rt = (name: string, x: Float32Array): Float32Array => {
    const ty = types.get(name) ?? t;
    return ty === 'F32' ? x.slice() : decodeGgml(encodeGgml(x, ty), ty, x.length);
  };
  const w = ck.weights;
  const per = (suffix: string, xs: readonly Float32Array[]): Float32Array[] =>
    xs.map((x, l) => rt(`blk.${l}.${suffix}.weight`, x));
  const tokenEmbedding = rt('token_embd.weight', w.tokenEmbedding);
  return Object.freeze({
    tokenEmbedding,
    rmsAtt: w.rmsAtt.map((x) => x.slice()),
    wq: per('attn_q', w.wq),
    wk: per('attn_k', w.wk),
    wv: per('attn_v', w.wv),
    wo: per('attn_output', w.wo),
    rmsFfn: w.rmsFfn.map((x) => x.slice()),
    w1: per('ffn_gate', w.w1),
    w2: per('ffn_down', w.w2),
    w3: per('ffn_up', w.w3),
    rmsFinal: w.rmsFinal.slice(),
    wcls: ck.sharedClassifier ? tokenEmbedding : rt('output.weight', w.wcls),
  });
}
