/**
 * The per-group calibration objective the residual scheme's fitted scales minimise.
 *
 * Exposed: calibrationError.
 * @module
 */
import { check } from '../common/errors.js';
import type { Float32Tensor } from '../common/tensor.js';
import type { NestedWeights } from './nested.js';
import { checkWeight } from './quantize.js';
import { gramBlocks, groupObjective } from './residual.js';

/**
 * Σ over groups of ‖(w_J − ŵ_J)·X_Jᵀ‖² for level r, where J are the group's columns and X the calibration
 * activations `[T, in]`; without calibration, Σ‖w − ŵ‖² (f64). `w` is the original float32 weight.
 *
 * @example
 * ```ts
 * const fit = quantizeNested(w, { scheme: 'residual', calibration: X });
 * const pow2 = quantizeNested(w, { scheme: 'residual', calibration: X, planeScales: 'pow2' });
 * calibrationError(w, fit, 4, X) <= calibrationError(w, pow2, 4, X); // true
 * ```
 */
export function calibrationError(w: Float32Tensor, nw: NestedWeights, r: number, calibration?: Float32Tensor): number {
  const [rows, cols] = checkWeight(w, 'calibrationError');
  check(
    rows === nw.shape[0] && cols === nw.shape[1],
    'E_SHAPE',
    () => `calibrationError: weight [${rows}, ${cols}] does not match the store [${nw.shape.join(', ')}]`,
  );
  const G = nw.groupSize;
  const H = calibration === undefined ? null : gramBlocks(calibration, cols, G, 'calibrationError');
  const deq = nw.dequantize(r).data;
  const e = new Float64Array(G);
  const gpr = cols / G;
  let total = 0;
  for (let g = 0; g < (rows * cols) / G; g++) {
    for (let j = 0; j < G; j++) e[j] = w.data[g * G + j]! - deq[g * G + j]!;
    total += groupObjective(e, H, (g % gpr) * G * G, G);
  }
  return total;
}
