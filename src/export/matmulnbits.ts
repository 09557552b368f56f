/**
 * 4-bit block quantization in the exact tensor layout of ONNX Runtime's `com.microsoft.MatMulNBits`
 * (`Y = A · Wᵀ`, W `[N, K]` quantized in blocks of `blockSize` along K):
 *
 * - `B` uint8 `[N, nBlocks, blockSize/2]`, nBlocks = ceil(K / blockSize): row n, block b holds the codes
 *   of `W[n, b·bs … b·bs+bs−1]`, two per byte, the even element in the low nibble. A last partial
 *   block is padded with the zero point (dequantizes to 0).
 * - `scales` float32 `[N · nBlocks]` (row-major over n, b).
 * - `zero_points` (asymmetric only) uint8 `[N · ceil(nBlocks/2)]`: per row, two 4-bit zero points per
 *   byte, the even block in the low nibble, each row padded to a whole byte. Symmetric weights omit
 *   it: the operator's default zero point is 8.
 * - Dequantized `W[n, k] = (q − zp) · scale`.
 *
 * Quantization follows ONNX Runtime's block quantizer conventions: symmetric — the element of largest
 * magnitude `m` (with its sign) maps to code 0, `scale = m / −8`, `q = clamp(round(v / scale) + 8, 0, 15)`;
 * asymmetric — `lo = min(0, min)`, `hi = max(0, max)`, `scale = (hi − lo) / 15`,
 * `zp = clamp(round(−lo / scale), 0, 15)`, `q = clamp(round(v / scale) + zp, 0, 15)`. Scales are float32,
 * `v / scale` is computed as `v · fround(1 / scale)` in float32, rounding is half-even (or the given
 * policy). An all-zero block gets scale 0 and codes equal to its zero point. NaN/±Inf → `E_NONFINITE`.
 *
 * Exposed: toMatMulNBits, dequantizeMatMulNBits, matMulNBitsModel, MatMulNBitsOptions, MatMulNBitsWeights.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { type Rounding, rounder } from '../common/rounding.js';
import type { Float32Tensor } from '../common/tensor.js';
import { encodeOnnxModel, ONNX_DTYPE } from './onnx.js';

/**
 * Options of {@link toMatMulNBits}.
 *
 * @example
 * ```ts
 * const o: MatMulNBitsOptions = { bits: 4, blockSize: 32, symmetric: true };
 * ```
 */
export interface MatMulNBitsOptions {
  /** Bits per weight: 4. */
  readonly bits: 4;
  /** Block length along K: a power of two ≥ 16 (ONNX Runtime's CPU kernels use 16…256; 32 and 128 are typical). */
  readonly blockSize: number;
  /** Symmetric (no zero_points input, default zero point 8) or asymmetric with 4-bit zero points (default true). */
  readonly symmetric?: boolean;
  /** Rounding policy of the codes (default `'half-even'`). */
  readonly rounding?: Rounding;
}

/**
 * The inputs and attributes of a `com.microsoft.MatMulNBits` node.
 *
 * @example
 * ```ts
 * const q: MatMulNBitsWeights = toMatMulNBits(w, { bits: 4, blockSize: 32 });
 * q.B.length; // N * nBlocks * 16
 * ```
 */
export interface MatMulNBitsWeights {
  readonly N: number;
  readonly K: number;
  readonly bits: 4;
  readonly blockSize: number;
  readonly nBlocks: number;
  /** Packed codes, shape {@link bShape}. */
  readonly B: Uint8Array;
  readonly bShape: readonly [number, number, number];
  /** Float32 scales `[N · nBlocks]`. */
  readonly scales: Float32Array;
  /** Packed 4-bit zero points `[N · ceil(nBlocks/2)]`, or undefined when symmetric. */
  readonly zeroPoints: Uint8Array | undefined;
}

function checkWeight(weight: Float32Tensor, who: string): [number, number] {
  check(
    typeof weight === 'object' && weight !== null && weight.data instanceof Float32Array,
    'E_DTYPE',
    `${who}: weight must be a float32 tensor { dtype: 'float32', data: Float32Array, shape: [N, K] }`,
  );
  const shape = weight.shape;
  check(
    Array.isArray(shape) && shape.length === 2,
    'E_SHAPE',
    () => `${who}: weight shape must be [N, K] (out, in), got [${String(shape)}]`,
  );
  const [N, K] = shape as [number, number];
  check(
    Number.isInteger(N) && Number.isInteger(K) && N >= 1 && K >= 1 && N * K === weight.data.length,
    'E_SHAPE',
    () => `${who}: shape [${N}, ${K}] does not match ${weight.data.length} values`,
  );
  return [N, K];
}

/**
 * Quantize a `[N, K]` (out, in) float32 weight into MatMulNBits' `B`, `scales` and `zero_points` (see the
 * module notes for the exact layout and arithmetic). The weight is not modified.
 *
 * @example
 * ```ts
 * const w = float32(Float32Array.from({ length: 8 * 64 }, (_, i) => Math.sin(i)), [8, 64]);
 * const q = toMatMulNBits(w, { bits: 4, blockSize: 32, symmetric: false });
 * q.bShape; // [8, 2, 16]
 * q.zeroPoints!.length; // 8
 * ```
 */
export function toMatMulNBits(weight: Float32Tensor, opts: MatMulNBitsOptions): MatMulNBitsWeights {
  const who = 'toMatMulNBits';
  check(typeof opts === 'object' && opts !== null, 'E_CONFIG', `${who}: expected options { bits: 4, blockSize }`);
  check(opts.bits === 4, 'E_CONFIG', () => `${who}: bits must be 4, got ${String(opts.bits)}`);
  const bs = opts.blockSize;
  check(
    Number.isInteger(bs) && bs >= 16 && bs <= 256 && (bs & (bs - 1)) === 0,
    'E_CONFIG',
    () => `${who}: blockSize must be a power of two in 16..256, got ${String(bs)}`,
  );
  const symmetric = opts.symmetric ?? true;
  check(typeof symmetric === 'boolean', 'E_CONFIG', `${who}: symmetric must be a boolean`);
  const round = rounder(opts.rounding);
  const [N, K] = checkWeight(weight, who);
  const x = weight.data;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v - v !== 0) fail('E_NONFINITE', `${who}: weight element ${i} is ${v}; MatMulNBits needs finite weights`);
  }
  const nBlocks = Math.ceil(K / bs);
  const blob = bs / 2;
  const zpRow = Math.ceil(nBlocks / 2);
  const B = new Uint8Array(N * nBlocks * blob);
  const scales = new Float32Array(N * nBlocks);
  const zeroPoints = symmetric ? undefined : new Uint8Array(N * zpRow);
  const codes = new Uint8Array(bs);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < nBlocks; b++) {
      const k0 = b * bs;
      const k1 = Math.min(K, k0 + bs);
      const row = n * K;
      let scale: number;
      let zp: number;
      if (symmetric) {
        let m = 0;
        for (let k = k0; k < k1; k++) {
          const v = x[row + k]!;
          if (Math.abs(v) > Math.abs(m)) m = v;
        }
        scale = Math.fround(m / -8);
        zp = 8;
      } else {
        let lo = 0;
        let hi = 0;
        for (let k = k0; k < k1; k++) {
          const v = x[row + k]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        scale = Math.fround(Math.fround(hi - lo) / 15);
        zp = scale === 0 ? 0 : Math.min(15, Math.max(0, round(Math.fround(-lo / scale))));
      }
      const inv = scale === 0 ? 0 : Math.fround(1 / scale);
      codes.fill(zp);
      for (let k = k0; k < k1; k++) {
        const q = round(Math.fround(x[row + k]! * inv)) + zp;
        codes[k - k0] = Math.max(0, Math.min(q, 15));
      }
      const o = (n * nBlocks + b) * blob;
      for (let j = 0; j < blob; j++) B[o + j] = codes[2 * j]! | (codes[2 * j + 1]! << 4);
      scales[n * nBlocks + b] = scale;
      if (zeroPoints !== undefined) zeroPoints[n * zpRow + (b >> 1)]! |= zp << ((b & 1) * 4);
    }
  }
  return Object.freeze({
    N,
    K,
    bits: 4 as const,
    blockSize: bs,
    nBlocks,
    B,
    bShape: [N, nBlocks, blob] as const,
    scales,
    zeroPoints,
  });
}

/**
 * The `[N, K]` float32 weight a MatMulNBits node computes with: `(q − zp) · scale` per element, read
 * back from the packed `B` / `scales` / `zero_points` (default zero point 8 when they are absent).
 * Inconsistent sizes → `E_SHAPE`.
 *
 * @example
 * ```ts
 * const w2 = dequantizeMatMulNBits(toMatMulNBits(w, { bits: 4, blockSize: 32 }));
 * ```
 */
export function dequantizeMatMulNBits(q: MatMulNBitsWeights): Float32Tensor {
  const who = 'dequantizeMatMulNBits';
  const { N, K, blockSize: bs, nBlocks } = q;
  const blob = bs / 2;
  const zpRow = Math.ceil(nBlocks / 2);
  check(
    nBlocks === Math.ceil(K / bs) &&
      q.B.length === N * nBlocks * blob &&
      q.scales.length === N * nBlocks &&
      (q.zeroPoints === undefined || q.zeroPoints.length === N * zpRow),
    'E_SHAPE',
    () => `${who}: B/scales/zero_points sizes do not match N=${N}, K=${K}, blockSize=${bs}`,
  );
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / bs);
      const j = k - b * bs;
      const byte = q.B[(n * nBlocks + b) * blob + (j >> 1)]!;
      const code = (byte >> ((j & 1) * 4)) & 15;
      const zp = q.zeroPoints === undefined ? 8 : (q.zeroPoints[n * zpRow + (b >> 1)]! >> ((b & 1) * 4)) & 15;
      out[n * K + k] = Math.fround((code - zp) * q.scales[n * nBlocks + b]!);
    }
  }
  return { dtype: 'float32', data: out, shape: [N, K] };
}

function bytesOf(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat32(4 * i, a[i]!, true);
  return out;
}

/**
 * A one-node ONNX model `Y[M, N] = MatMulNBits(A[M, K], B, scales[, zero_points])` with the quantized
 * weight as initializers (float32 A/Y, `M` symbolic; opsets: default 21, com.microsoft 1), as ONNX
 * protobuf bytes for `InferenceSession.create(bytes)`.
 *
 * @example
 * ```ts
 * import * as ort from 'onnxruntime-node';
 * const q = toMatMulNBits(w, { bits: 4, blockSize: 32 });
 * const session = await ort.InferenceSession.create(matMulNBitsModel(q));
 * const { Y } = await session.run({ A: new ort.Tensor('float32', a, [M, q.K]) });
 * ```
 */
export function matMulNBitsModel(
  q: MatMulNBitsWeights,
  names: { readonly input?: string; readonly output?: string } = {},
): Uint8Array {
  dequantizeMatMulNBits({ ...q, B: q.B, scales: q.scales, zeroPoints: q.zeroPoints }); // validates the sizes
  const input = names.input ?? 'A';
  const output = names.output ?? 'Y';
  const inputs = [input, 'B', 'scales'];
  const initializers = [
    { name: 'B', dims: [...q.bShape], dataType: ONNX_DTYPE.uint8, raw: q.B },
    { name: 'scales', dims: [q.scales.length], dataType: ONNX_DTYPE.float, raw: bytesOf(q.scales) },
  ];
  if (q.zeroPoints !== undefined) {
    inputs.push('zero_points');
    initializers.push({
      name: 'zero_points',
      dims: [q.zeroPoints.length],
      dataType: ONNX_DTYPE.uint8,
      raw: q.zeroPoints,
    });
  }
  return encodeOnnxModel({
    opsets: [
      { domain: '', version: 21 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: 'lowbit_matmulnbits',
      nodes: [
        {
          opType: 'MatMulNBits',
          domain: 'com.microsoft',
          name: 'matmul_nbits',
          inputs,
          outputs: [output],
          attributes: { K: q.K, N: q.N, bits: q.bits, block_size: q.blockSize },
        },
      ],
      initializers,
      inputs: [{ name: input, elemType: ONNX_DTYPE.float, dims: ['M', q.K] }],
      outputs: [{ name: output, elemType: ONNX_DTYPE.float, dims: ['M', q.N] }],
    },
  });
}
