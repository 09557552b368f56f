/**
 * `lowbit/export`: lowbit's packed formats in the files real runtimes load — a llama2.c model as a
 * complete GGUF for llama.cpp (F32/F16/Q8_0/Q4_0 via lowbit's ggml encoders) and 4-bit weights as the
 * `B` / `scales` / `zero_points` of ONNX Runtime's `com.microsoft.MatMulNBits`, with a small ONNX
 * protobuf writer. Browser-safe (no `node:*` imports): pass bytes in, get bytes out.
 *
 * @example
 * ```ts
 * import { writeGgufModel, toMatMulNBits, matMulNBitsModel } from 'lowbit/export';
 * const gguf = writeGgufModel({ checkpoint: ckptBytes, tokenizer: tokBytes, type: 'Q4_0' });
 * const onnx = matMulNBitsModel(toMatMulNBits(weight, { bits: 4, blockSize: 32 }));
 * ```
 * @module
 */
export {
  type GgufModelOptions,
  type GgufModelTensor,
  type GgufModelType,
  ggufModelTensors,
  ggufRoundTripWeights,
  type LlamaVocab,
  llamaVocab,
  writeGgufModel,
} from './gguf-model.js';
export {
  dequantizeMatMulNBits,
  type MatMulNBitsOptions,
  type MatMulNBitsWeights,
  matMulNBitsModel,
  toMatMulNBits,
} from './matmulnbits.js';
export {
  encodeOnnxModel,
  ONNX_DTYPE,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx.js';
