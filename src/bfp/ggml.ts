/**
 * ggml block formats for `lowbit/bfp`: thin shape-aware wrappers over the shared codecs of
 * `src/common/ggml.ts` (the GGUF writer uses the same functions, so there is one implementation).
 *
 * | type | bytes / 32 elements | layout |
 * |---|---|---|
 * | `'q8_0'` | 34 | `f16 d; int8 qs[32]` |
 * | `'q4_0'` | 18 | `f16 d; u8 qs[16]` (byte j = element j low nibble, j + 16 high nibble) |
 * | `'q4_1'` | 20 | `f16 d; f16 m; u8 qs[16]` |
 * | `'mxfp4'` | 17 | `u8 e (E8M0); u8 qs[16]` (same nibble order) |
 *
 * Exposed: GgmlBlockType, encodeGgml, decodeGgml, GGML_BLOCK_BYTES.
 * @module
 */
import { fail } from '../common/errors.js';
import { decodeGgml as decodeCommon, encodeGgml as encodeCommon } from '../common/ggml.js';
import { type Float32Tensor, shapeSize } from '../common/tensor.js';
import { normalizeInput } from './quantize.js';

/**
 * The ggml block types handled here.
 *
 * @example
 * ```ts
 * const t: GgmlBlockType = 'q4_0';
 * ```
 */
export type GgmlBlockType = 'q8_0' | 'q4_0' | 'q4_1' | 'mxfp4';

/**
 * Bytes per 32-element block of each type.
 *
 * @example
 * ```ts
 * GGML_BLOCK_BYTES.mxfp4; // 17
 * ```
 */
export const GGML_BLOCK_BYTES: Readonly<Record<GgmlBlockType, number>> = Object.freeze({
  q8_0: 34,
  q4_0: 18,
  q4_1: 20,
  mxfp4: 17,
});

function checkType(type: unknown, who: string): GgmlBlockType {
  if (type === 'q8_0' || type === 'q4_0' || type === 'q4_1' || type === 'mxfp4') return type;
  return fail(
    'E_CONFIG',
    `${who}: unknown ggml block type ${JSON.stringify(type)}; expected 'q8_0', 'q4_0', 'q4_1' or 'mxfp4'`,
  );
}

/**
 * Encode float32 values (row-major, element count a multiple of 32) into ggml blocks, byte for byte as
 * llama.cpp's `quantize_row_*_ref`. Non-finite values throw `E_NONFINITE`.
 *
 * @example
 * ```ts
 * const bytes = encodeGgml(float32(new Float32Array(64).fill(1), [2, 32]), 'q8_0'); // 68 bytes
 * ```
 */
export function encodeGgml(x: Float32Tensor | Float32Array, type: GgmlBlockType): Uint8Array {
  const t = checkType(type, 'encodeGgml');
  const { data } = normalizeInput(x, 'encodeGgml');
  return encodeCommon(data, t);
}

/**
 * Decode ggml blocks to a float32 tensor of `shape` (element count a multiple of 32, bytes exactly
 * `count / 32 · blockBytes`).
 *
 * @example
 * ```ts
 * const y = decodeGgml(bytes, 'q8_0', [2, 32]); // Float32Tensor [2, 32]
 * ```
 */
export function decodeGgml(bytes: Uint8Array, type: GgmlBlockType, shape: readonly number[]): Float32Tensor {
  const t = checkType(type, 'decodeGgml');
  if (!(bytes instanceof Uint8Array)) fail('E_DTYPE', 'decodeGgml: bytes must be a Uint8Array');
  if (!Array.isArray(shape)) fail('E_SHAPE', 'decodeGgml: shape must be an array of dimensions');
  const n = shapeSize(shape);
  const data = decodeCommon(bytes, t, n);
  return { dtype: 'float32', data, shape: Object.freeze([...shape]) };
}
