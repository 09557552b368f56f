/**
 * `lowbit/mambaquant`: MambaQuant-style rotations for activation quantization — Hadamard matrices and
 * the fast Walsh–Hadamard transform for every n = m·2^k of QuaRot's tables, randomized Hadamard, KLT
 * (eigenvectors of the calibration covariance) followed by a Hadamard (K·H), smoothing scales fused
 * into weights (including the Mamba gate / out_proj case with the scaled SiLU), and W8A8 / W4A8 fake
 * quantization of a linear layer behind each transform.
 *
 * Modules: hadamard-tables (had_m from Paley I/II, Williamson, Kronecker), hadamard (sizes, matrices,
 * FWHT), eigen (covariance, Householder + QL, Jacobi oracle), rotation (rotation objects), smooth
 * (scales and fusion), linear (fake-quantized linear layer).
 * @module
 */

export { covariance, type SquareMatrix, type SymmetricEigen, symmetricEigen, symmetricEigenJacobi } from './eigen.js';
export {
  type FwhtOptions,
  fwht,
  fwhtRef,
  fwhtRows,
  type HadamardFactorization,
  hadamardFactorization,
  hadamardMatrix,
} from './hadamard.js';
export {
  fakeQuantRows,
  fakeQuantRowsRef,
  type LinearTransform,
  type QuantizedLinear,
  type QuantizeLinearOptions,
  quantizeLinear,
} from './linear.js';
export {
  type DenseBackendOptions,
  denseRotation,
  hadamardRotation,
  hasHadamard,
  type KltOptions,
  kltRotation,
  type MatmulFn,
  type Rotation,
  type RotationKind,
  randomHadamardRotation,
} from './rotation.js';
export {
  channelAbsMax,
  type FusedLinear,
  fuseLinear,
  type SmoothFusedGate,
  scaledSilu,
  smoothFuseGate,
  smoothScales,
} from './smooth.js';
