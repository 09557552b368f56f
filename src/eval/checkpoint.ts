/**
 * Reader of llama2.c checkpoints ("version 0", the format of Karpathy's tinyllamas such as stories260K):
 * bytes in, config and named float32 tensors out. Browser-safe (no `node:*`); pass the file's bytes.
 *
 * Layout (little-endian, no magic): 7 int32 `dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
 * seq_len`, then float32 arrays in this order (matrices `[out, in]`, row-major, y = W·x):
 * `token_embedding [V, D]`, `rms_att [L, D]`, `wq [L, D, D]`, `wk [L, KV, D]`, `wv [L, KV, D]`,
 * `wo [L, D, D]`, `rms_ffn [L, D]`, `w1 [L, H, D]`, `w2 [L, D, H]`, `w3 [L, H, D]`, `rms_final [D]`,
 * `freq_cis_real [S, hd/2]`, `freq_cis_imag [S, hd/2]` (legacy, unused by run.c), and — only when
 * vocab_size is negative — a separate classifier `wcls [V, D]` (a positive vocab_size means the
 * classifier is the token embedding). Here hd = D / n_heads and KV = n_kv_heads·hd.
 *
 * Exposed: readLlama2Checkpoint, Llama2Checkpoint, Llama2Layer, LLAMA2_TENSOR_ORDER. Internal: none.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { type Float32Tensor, tensor } from '../common/tensor.js';
import type { LlamaConfig, LlamaWeights } from './llama.js';

/**
 * Names of the float32 arrays of a llama2.c checkpoint, in file order (`wcls` only when separate).
 *
 * @example
 * ```ts
 * LLAMA2_TENSOR_ORDER[2]; // 'wq'
 * ```
 */
export const LLAMA2_TENSOR_ORDER: readonly string[] = Object.freeze([
  'token_embedding',
  'rms_att',
  'wq',
  'wk',
  'wv',
  'wo',
  'rms_ffn',
  'w1',
  'w2',
  'w3',
  'rms_final',
  'freq_cis_real',
  'freq_cis_imag',
  'wcls',
]);

/**
 * One layer's tensors (views into the stacked arrays). Matrices are `[out, in]`.
 *
 * @example
 * ```ts
 * const l: Llama2Layer = readLlama2Checkpoint(bytes).layers[0]!;
 * l.wk.shape; // [kvDim, dim]
 * ```
 */
export interface Llama2Layer {
  readonly rmsAtt: Float32Tensor;
  readonly wq: Float32Tensor;
  readonly wk: Float32Tensor;
  readonly wv: Float32Tensor;
  readonly wo: Float32Tensor;
  readonly rmsFfn: Float32Tensor;
  readonly w1: Float32Tensor;
  readonly w2: Float32Tensor;
  readonly w3: Float32Tensor;
}

/**
 * A parsed llama2.c checkpoint.
 *
 * @example
 * ```ts
 * const ck: Llama2Checkpoint = readLlama2Checkpoint(bytes);
 * const model = new LlamaModel(ck.config, ck.weights);
 * ```
 */
export interface Llama2Checkpoint {
  /** Header values plus llama2.c's fixed RoPE θ = 10000 and RMSNorm ε = 1e-5. */
  readonly config: LlamaConfig;
  /** The 7 raw header int32 values (vocab_size keeps its sign). */
  readonly header: readonly number[];
  /** True when the classifier is the token embedding (positive vocab_size). */
  readonly sharedClassifier: boolean;
  /**
   * Stacked tensors by llama2.c name ({@link LLAMA2_TENSOR_ORDER}): per-layer arrays carry a leading
   * layer axis (`wq` is `[L, D, D]`). `wcls` is present in both cases (the same object as
   * `token_embedding` when shared).
   */
  readonly tensors: ReadonlyMap<string, Float32Tensor>;
  /** Byte offset of each tensor in the file (`wcls` only when separate). */
  readonly byteOffsets: ReadonlyMap<string, number>;
  /** Per-layer views. */
  readonly layers: readonly Llama2Layer[];
  /** The same data in the shape `LlamaModel` takes (`new LlamaModel(ckpt.config, ckpt.weights)`). */
  readonly weights: LlamaWeights;
}

const HEADER_BYTES = 28;

function littleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/**
 * Parse the bytes of a llama2.c "version 0" checkpoint. The header is validated (positive sizes,
 * dim divisible by n_heads, n_heads by n_kv_heads, an even head size) and the file size must equal
 * exactly 28 + 4·(number of floats), counting the separate classifier when vocab_size is negative:
 * bad headers and truncated or over-long files throw `E_FORMAT`; sizes past 2^53 throw `E_LIMIT`.
 * llama2.c "version 1/2" exports (magic `ak42`) are rejected with `E_FORMAT`.
 *
 * The float data is copied once into a fresh `Float32Array` (so the tensors never alias the caller's
 * bytes and alignment does not matter); all tensors are views into that one array.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const ckpt = readLlama2Checkpoint(readFileSync('models/stories260K/stories260K.bin'));
 * ckpt.config.dim; // 64
 * ckpt.layers[0]!.wq.shape; // [64, 64]
 * ckpt.tensors.get('w2')!.shape; // [5, 64, 172]
 * ```
 */
export function readLlama2Checkpoint(bytes: Uint8Array): Llama2Checkpoint {
  const who = 'readLlama2Checkpoint';
  check(bytes instanceof Uint8Array, 'E_FORMAT', `${who}: expected the file's bytes as a Uint8Array`);
  check(
    bytes.length >= HEADER_BYTES,
    'E_FORMAT',
    () => `${who}: ${bytes.length} bytes is shorter than the 28-byte header (7 int32)`,
  );
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) === 0x616b3432) {
    fail(
      'E_FORMAT',
      `${who}: this is a llama2.c version ${dv.getInt32(4, true)} export (magic "ak42"); only the legacy version 0 layout is supported`,
    );
  }
  const header = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = header as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const hdr = `[dim ${dim}, hidden_dim ${hiddenDim}, n_layers ${nLayers}, n_heads ${nHeads}, n_kv_heads ${nKvHeads}, vocab_size ${vocabRaw}, seq_len ${seqLen}]`;
  const positive = [dim, hiddenDim, nLayers, nHeads, nKvHeads, seqLen].every((v) => v > 0) && vocabRaw !== 0;
  check(positive, 'E_FORMAT', () => `${who}: header ${hdr}: every size must be positive (vocab_size non-zero)`);
  check(dim % nHeads === 0, 'E_FORMAT', () => `${who}: header ${hdr}: dim must be a multiple of n_heads`);
  check(nHeads % nKvHeads === 0, 'E_FORMAT', () => `${who}: header ${hdr}: n_heads must be a multiple of n_kv_heads`);
  const headDim = dim / nHeads;
  check(headDim % 2 === 0, 'E_FORMAT', () => `${who}: header ${hdr}: head size ${headDim} must be even (RoPE pairs)`);
  const shared = vocabRaw > 0;
  const vocab = Math.abs(vocabRaw);
  const kvDim = nKvHeads * headDim;

  const sizes: [string, number, number[]][] = [
    ['token_embedding', vocab * dim, [vocab, dim]],
    ['rms_att', nLayers * dim, [nLayers, dim]],
    ['wq', nLayers * dim * dim, [nLayers, dim, dim]],
    ['wk', nLayers * kvDim * dim, [nLayers, kvDim, dim]],
    ['wv', nLayers * kvDim * dim, [nLayers, kvDim, dim]],
    ['wo', nLayers * dim * dim, [nLayers, dim, dim]],
    ['rms_ffn', nLayers * dim, [nLayers, dim]],
    ['w1', nLayers * hiddenDim * dim, [nLayers, hiddenDim, dim]],
    ['w2', nLayers * dim * hiddenDim, [nLayers, dim, hiddenDim]],
    ['w3', nLayers * hiddenDim * dim, [nLayers, hiddenDim, dim]],
    ['rms_final', dim, [dim]],
    ['freq_cis_real', (seqLen * headDim) / 2, [seqLen, headDim / 2]],
    ['freq_cis_imag', (seqLen * headDim) / 2, [seqLen, headDim / 2]],
  ];
  if (!shared) sizes.push(['wcls', vocab * dim, [vocab, dim]]);
  let floats = 0;
  for (const [, n] of sizes) {
    floats += n;
    if (!Number.isSafeInteger(n) || !Number.isSafeInteger(4 * floats + HEADER_BYTES)) {
      fail('E_LIMIT', `${who}: header ${hdr} describes more than 2^53 bytes`);
    }
  }
  const expected = HEADER_BYTES + 4 * floats;
  if (bytes.length !== expected) {
    const alt = HEADER_BYTES + 4 * (floats + (shared ? vocab * dim : -vocab * dim));
    const hint =
      bytes.length === alt
        ? ` (that size would fit a ${shared ? 'separate' : 'shared'} classifier: the sign of vocab_size looks wrong)`
        : bytes.length < expected
          ? ' (truncated)'
          : ' (trailing bytes)';
    fail(
      'E_FORMAT',
      `${who}: header ${hdr} with a ${shared ? 'shared' : 'separate'} classifier needs ${expected} bytes, got ${bytes.length}${hint}`,
    );
  }

  const all = new Float32Array(floats);
  if (littleEndianHost()) {
    new Uint8Array(all.buffer).set(bytes.subarray(HEADER_BYTES, expected));
  } else {
    for (let i = 0; i < floats; i++) all[i] = dv.getFloat32(HEADER_BYTES + 4 * i, true);
  }
  const tensors = new Map<string, Float32Tensor>();
  const byteOffsets = new Map<string, number>();
  let o = 0;
  for (const [name, n, shape] of sizes) {
    tensors.set(name, tensor('float32', all.subarray(o, o + n), shape));
    byteOffsets.set(name, HEADER_BYTES + 4 * o);
    o += n;
  }
  if (shared) tensors.set('wcls', tensors.get('token_embedding')!);

  const layerView = (name: string, l: number): Float32Tensor => {
    const t = tensors.get(name)!;
    const per = t.data.length / nLayers;
    return tensor('float32', t.data.subarray(l * per, (l + 1) * per), t.shape.slice(1));
  };
  const layers: Llama2Layer[] = [];
  for (let l = 0; l < nLayers; l++) {
    layers.push(
      Object.freeze({
        rmsAtt: layerView('rms_att', l),
        wq: layerView('wq', l),
        wk: layerView('wk', l),
        wv: layerView('wv', l),
        wo: layerView('wo', l),
        rmsFfn: layerView('rms_ffn', l),
        w1: layerView('w1', l),
        w2: layerView('w2', l),
        w3: layerView('w3', l),
      }),
    );
  }
  const config: LlamaConfig = Object.freeze({
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: vocab,
    seqLen,
    ropeTheta: 10000,
    normEps: 1e-5,
  });
  const weights: LlamaWeights = Object.freeze({
    tokenEmbedding: tensors.get('token_embedding')!.data,
    rmsAtt: layers.map((x) => x.rmsAtt.data),
    wq: layers.map((x) => x.wq.data),
    wk: layers.map((x) => x.wk.data),
    wv: layers.map((x) => x.wv.data),
    wo: layers.map((x) => x.wo.data),
    rmsFfn: layers.map((x) => x.rmsFfn.data),
    w1: layers.map((x) => x.w1.data),
    w2: layers.map((x) => x.w2.data),
    w3: layers.map((x) => x.w3.data),
    rmsFinal: tensors.get('rms_final')!.data,
    wcls: tensors.get('wcls')!.data,
  });
  return Object.freeze({
    config,
    header: Object.freeze(header),
    sharedClassifier: shared,
    tensors,
    byteOffsets,
    layers: Object.freeze(layers),
    weights,
  });
}
