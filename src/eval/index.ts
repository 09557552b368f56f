/**
 * `lowbit/eval`: real models in TypeScript for measuring quantizers end to end — the llama2.c
 * stories260K runner (run.c-exact forward, BPE tokenizer, sampler, generation), pluggable KV caches
 * (float32, KIVI, per-token baseline, BFP/MX blocks, K-sort), weight plugs (MWQ levels, W·A behind
 * rotations), the mamba-tiny Mamba-1 runner (safetensors loader, held-out windows, rotations, smooth-fused
 * gate), evaluation metrics (NLL/perplexity, KL from float32, top-1), the `eval-model` runner, tensor-level
 * evaluation and the demo. Node only (reads the models shipped in `models/`). Every export is documented
 * with an example in its module.
 * @module
 */
export { LLAMA2_TENSOR_ORDER, type Llama2Checkpoint, type Llama2Layer, readLlama2Checkpoint } from './checkpoint.js';
export { DEMO_SETTINGS, runDemo } from './demo.js';
export { compareLogits, type LogitStats, type Reference, referenceLogits } from './evaluate.js';
export { type GenerateOptions, type GenerateResult, generate } from './generate.js';
export { headKSortModel, keyMagnitudes, layerKSortOrders } from './ksort.js';
export {
  type BlockKvSpec,
  blockKvCache,
  describeKvCache,
  type KiviKvSpec,
  type KvCacheSpec,
  kiviKvCache,
  kiviSideBytes,
  kvCacheFromSpec,
  type PerTokenKvSpec,
  perTokenKvCache,
} from './kvcache.js';
export {
  type ActivationSite,
  type Activations,
  attendDense,
  captureActivations,
  evalTokens,
  float32KvCache,
  type KvCacheFactory,
  type KvCacheLayer,
  type LlamaConfig,
  type LlamaHooks,
  type LlamaLinear,
  type LlamaLinearSite,
  LlamaModel,
  type LlamaOptions,
  type LlamaWeights,
  llamaFromLlama2c,
  loadStories260K,
  loadStories260KTokenizer,
  modelPath,
} from './llama.js';
export {
  bosWindows,
  loadMambaHeldout,
  loadMambaTiny,
  type MambaConfig,
  type MambaForwardOptions,
  type MambaLayerWeights,
  type MambaLinear,
  MambaModel,
  type MambaSite,
  type MambaWeights,
  mambaConfigFromMetadata,
  mambaFromSafetensors,
  mambaWeightsFromTensors,
} from './mamba.js';
export {
  captureMambaInputs,
  MAMBA_SITES,
  type MambaCalibration,
  type MambaWaSpec,
  rotatedMambaLinear,
  smoothFusedMamba,
} from './mambaweights.js';
export {
  DEFAULT_KV,
  DEFAULT_WEIGHTS,
  EVAL_DEFAULTS,
  type EvalModelOptions,
  type EvalModelResult,
  type EvalRow,
  evalModel,
  type KvConfig,
  type ModelName,
  parseKvSpec,
  parseWeightSpec,
  type WeightConfig,
} from './run.js';
export { argmax, RunCRng, Sampler, type SamplerOptions, sample } from './sampler.js';
export { evalTensor, methodBits, TENSOR_METHODS, type TensorEvalRow } from './tensoreval.js';
export { parseTokenizer, type Tokenizer } from './tokenizer.js';
export {
  defaultGroupSize,
  LLAMA_LINEAR_SITES,
  type MwqSpec,
  mwqLlamaWeights,
  type RotationSpec,
  rotatedLlamaLinear,
} from './weights.js';
