/**
 * The llama2.c tokenizer (`tokenizer.bin` / `tok512.bin`): sentencepiece-style BPE with byte fallback,
 * encoding and decoding exactly as `run.c` does.
 *
 * Exposed: Tokenizer, parseTokenizer.
 * @module
 */
import { check, fail } from '../common/errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });
const enc = new TextEncoder();

/**
 * A llama2.c BPE tokenizer. Pieces are kept as bytes (a piece may be a partial UTF-8 sequence).
 *
 * @example
 * ```ts
 * const tok = parseTokenizer(bytesOf('tok512.bin'), 512);
 * tok.encode('Once upon a time'); // [1, 403, 407, 261, 378]
 * ```
 */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly maxTokenLength: number;
  readonly bos: number;
  readonly eos: number;
  /** Piece bytes of each id. */
  readonly pieces: readonly Uint8Array[];
  readonly scores: Float32Array;
  /** BOS, dummy-prefix space (for non-empty text), then greedy highest-score merges. */
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
  /** The bytes run.c prints for `tok` following `prev` (leading space dropped after BOS, `<0xHH>` → byte). */
  decodeBytes(prev: number, tok: number): Uint8Array;
  /** Decode a whole emitted sequence (`prev` = the token before `ids[0]`) to a string. */
  decode(ids: readonly number[], prev?: number): string;
}

/**
 * Parse a llama2.c tokenizer file for a model with `vocabSize` tokens. The file must be consumed
 * exactly; bad lengths → `E_FORMAT`.
 *
 * @example
 * ```ts
 * const tok = parseTokenizer(readFileSync('models/stories260K/tok512.bin'), 512);
 * ```
 */
export function parseTokenizer(bytes: Uint8Array, vocabSize: number): Tokenizer {
  check(
    Number.isInteger(vocabSize) && vocabSize > 3,
    'E_CONFIG',
    `parseTokenizer: vocabSize ${vocabSize} must be an integer > 3`,
  );
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number): void => {
    if (o + n > bytes.length)
      fail('E_FORMAT', `tokenizer: truncated at byte ${o} (need ${n} more, file has ${bytes.length})`);
  };
  need(4);
  const maxTokenLength = dv.getInt32(0, true);
  o = 4;
  check(
    maxTokenLength > 0 && maxTokenLength < 1024,
    'E_FORMAT',
    `tokenizer: max_token_length ${maxTokenLength} out of range`,
  );
  const pieces: Uint8Array[] = [];
  const scores = new Float32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) {
    need(8);
    scores[i] = dv.getFloat32(o, true);
    const len = dv.getInt32(o + 4, true);
    o += 8;
    if (len < 0 || len > maxTokenLength * 4 + 16) fail('E_FORMAT', `tokenizer: piece ${i} has length ${len}`);
    need(len);
    pieces.push(bytes.slice(o, o + len));
    o += len;
  }
  check(
    o === bytes.length,
    'E_FORMAT',
    () => `tokenizer: ${bytes.length - o} trailing bytes after ${vocabSize} pieces`,
  );
  // piece string (latin1-safe key of the bytes) -> id; first id wins on duplicates, like run.c's sorted lookup
  const keyOf = (b: Uint8Array): string => {
    let s = '';
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
    return s;
  };
  const lookup = new Map<string, number>();
  for (let i = 0; i < vocabSize; i++) {
    const k = keyOf(pieces[i]!);
    if (!lookup.has(k)) lookup.set(k, i);
  }
  const byteToken = (b: number): number => b + 3;

  function encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const ids: number[] = [];
    if (opts.bos !== false) ids.push(1);
    if (text.length > 0) {
      const sp = lookup.get(' ');
      if (sp !== undefined) ids.push(sp);
    }
    const b = enc.encode(text);
    // split into UTF-8 characters (a lead byte plus its continuation bytes, at most 4)
    let i = 0;
    while (i < b.length) {
      let j = i + 1;
      while (j < b.length && (b[j]! & 0xc0) === 0x80 && j - i < 4) j++;
      const ch = b.subarray(i, j);
      const id = lookup.get(keyOf(ch));
      if (id !== undefined) ids.push(id);
      else for (let t = 0; t < ch.length; t++) ids.push(byteToken(ch[t]!));
      i = j;
    }
    // merge the best-scoring adjacent pair until none merges
    for (;;) {
      let best = Number.NEGATIVE_INFINITY;
      let bestId = -1;
      let bestIdx = -1;
      for (let t = 0; t + 1 < ids.length; t++) {
        const a = pieces[ids[t]!]!;
        const c = pieces[ids[t + 1]!]!;
        const merged = new Uint8Array(a.length + c.length);
        merged.set(a);
        merged.set(c, a.length);
        const id = lookup.get(keyOf(merged));
        if (id !== undefined && scores[id]! > best) {
          best = scores[id]!;
          bestId = id;
          bestIdx = t;
        }
      }
      if (bestIdx < 0) break;
      ids.splice(bestIdx, 2, bestId);
    }
    if (opts.eos === true) ids.push(2);
    return ids;
  }

  function decodeBytes(prev: number, tok: number): Uint8Array {
    check(Number.isInteger(tok) && tok >= 0 && tok < vocabSize, 'E_CONFIG', `decode: token ${tok} out of range`);
    let p = pieces[tok]!;
    if (prev === 1 && p[0] === 0x20) p = p.subarray(1);
    // '<0xHH>' -> the raw byte
    if (p.length === 6 && p[0] === 0x3c && p[1] === 0x30 && p[2] === 0x78 && p[5] === 0x3e) {
      const hex = String.fromCharCode(p[3]!, p[4]!);
      const v = Number.parseInt(hex, 16);
      if (!Number.isNaN(v)) return Uint8Array.of(v);
    }
    return p;
  }

  function decode(ids: readonly number[], prev = 1): string {
    const parts: Uint8Array[] = [];
    let n = 0;
    let pr = prev;
    for (const id of ids) {
      const b = decodeBytes(pr, id);
      parts.push(b);
      n += b.length;
      pr = id;
    }
    const all = new Uint8Array(n);
    let o2 = 0;
    for (const b of parts) {
      all.set(b, o2);
      o2 += b.length;
    }
    return utf8.decode(all);
  }

  return { vocabSize, maxTokenLength, bos: 1, eos: 2, pieces, scores, encode, decodeBytes, decode };
}
