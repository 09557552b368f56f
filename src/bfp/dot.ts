/**
 * Dot product of two BlockTensors on the integer codes and shared exponents, without a dequantized
 * float copy.
 *
 * Every element value of a format is an integer multiple of its smallest positive value `u`
 * (`minSubnormal`; 2^−(p−2) for integer kinds), so element `i` of a block is `A_i · u · 2^se`. For each
 * pair of aligned blocks the kernel sums the integer products `Σ A_i·B_i` exactly, then scales by
 * `u_a · u_b · 2^(se_a + se_b)` (a power of two) and adds the block result to the total (one float64
 * rounding per block). The block sum is exact in float64 whenever `blockSize · maxA · maxB ≤ 2^53`
 * (every pair of formats here except those involving MXFP8 E5M2, whose integers reach 1.75·2^31);
 * then the integers are split into 16-bit limbs and three exact partial sums are combined at the end
 * of the block. A NaN block (scale 0xFF) makes the result NaN.
 *
 * Exposed: dotBlocks, dotBlocksRef.
 * Internal: intTable.
 * @module
 */
import { check, fail } from '../common/errors.js';
import { elementTable, formatTraits, POW2, POW2_OFFSET, pow2 } from './formats.js';
import { unpackCodesRef } from './pack.js';
import { type BlockTensor, blockCodes, blockGeometry } from './quantize.js';

const intTables = new Map<string, Float64Array>();

/** Element value of every code in units of the format's smallest positive value. Internal. */
export function intTable(b: BlockTensor): { table: Float64Array; unitLog2: number; maxInt: number } {
  const t = formatTraits(b.format);
  const unitLog2 = t.kind === 'fp' ? 1 - t.bias - t.mbits : -t.mbits;
  let table = intTables.get(t.name);
  if (table === undefined) {
    const vals = elementTable(b.format);
    table = new Float64Array(vals.length);
    for (let c = 0; c < vals.length; c++) table[c] = vals[c]! * pow2(-unitLog2);
    intTables.set(t.name, table);
  }
  return { table, unitLog2, maxInt: t.maxNormal * pow2(-unitLog2) };
}

function checkPair(a: BlockTensor, b: BlockTensor, who: string) {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null)
    fail('E_CONFIG', `${who}: expected two BlockTensors`);
  const sa = a.shape.join(',');
  check(
    sa === b.shape.join(','),
    'E_SHAPE',
    () => `${who}: shapes differ: [${a.shape.join(', ')}] vs [${b.shape.join(', ')}]`,
  );
  check(a.axis === b.axis, 'E_SHAPE', () => `${who}: block axes differ: ${a.axis} vs ${b.axis}`);
  check(a.blockSize === b.blockSize, 'E_SHAPE', () => `${who}: block sizes differ: ${a.blockSize} vs ${b.blockSize}`);
}

/**
 * Σ_i a_i·b_i over all elements of two BlockTensors with the same shape, axis and block size (their
 * formats may differ), computed on the integer element values and the shared exponents.
 *
 * @example
 * ```ts
 * const a = quantizeBlocks(x, { format: 'bfp16', blockSize: 32 });
 * const b = quantizeBlocks(y, { format: 'mxfp4', blockSize: 32 });
 * dotBlocks(a, b); // equals the dot of dequantizeBlocks(a) and dequantizeBlocks(b)
 * ```
 */
export function dotBlocks(a: BlockTensor, b: BlockTensor): number {
  checkPair(a, b, 'dotBlocks');
  const ca = blockCodes(a);
  const cb = blockCodes(b);
  const ta = intTable(a);
  const tb = intTable(b);
  const g = blockGeometry(a.shape, a.axis, a.blockSize, 'dotBlocks');
  const { outer, len, inner, nb } = g;
  const ns = outer * nb * inner;
  const split = a.blockSize * ta.maxInt * tb.maxInt > 2 ** 53;
  const acc = new Float64Array(ns);
  const accX = split ? new Float64Array(ns) : acc;
  const accL = split ? new Float64Array(ns) : acc;
  const A = ta.table;
  const B = tb.table;
  const bs = a.blockSize;
  for (let o = 0; o < outer; o++) {
    for (let l = 0; l < len; l++) {
      const base = (o * len + l) * inner;
      const sbase = (o * nb + ((l / bs) | 0)) * inner;
      if (!split) {
        for (let i = 0; i < inner; i++) acc[sbase + i] = acc[sbase + i]! + A[ca[base + i]!]! * B[cb[base + i]!]!;
      } else {
        for (let i = 0; i < inner; i++) {
          const x = A[ca[base + i]!]!;
          const y = B[cb[base + i]!]!;
          const xh = Math.trunc(x / 65536);
          const xl = x - xh * 65536;
          const yh = Math.trunc(y / 65536);
          const yl = y - yh * 65536;
          const s = sbase + i;
          acc[s] = acc[s]! + xh * yh;
          accX[s] = accX[s]! + (xh * yl + xl * yh);
          accL[s] = accL[s]! + xl * yl;
        }
      }
    }
  }
  const unit = ta.unitLog2 + tb.unitLog2 - 254;
  let total = 0;
  for (let s = 0; s < ns; s++) {
    const ea = a.scales[s]!;
    const eb = b.scales[s]!;
    if (ea === 0xff || eb === 0xff) return Number.NaN;
    const sum = split ? acc[s]! * 4294967296 + accX[s]! * 65536 + accL[s]! : acc[s]!;
    total += sum * POW2[POW2_OFFSET + ea + eb + unit]!;
  }
  return total;
}

/**
 * Reference twin of {@link dotBlocks}: block by block with BigInt integer sums (exact), each block
 * converted to float64 once and added in block order.
 *
 * @example
 * ```ts
 * dotBlocksRef(a, b) === dotBlocks(a, b); // for formats without E5M2
 * ```
 */
export function dotBlocksRef(a: BlockTensor, b: BlockTensor): number {
  checkPair(a, b, 'dotBlocksRef');
  const ta = formatTraits(a.format);
  const tb = formatTraits(b.format);
  const n = a.shape.reduce((p, d) => p * d, 1);
  const ca = unpackCodesRef(a.codes, ta.elementBits, n);
  const cb = unpackCodesRef(b.codes, tb.elementBits, n);
  const ia = intTable(a);
  const ib = intTable(b);
  const { outer, len, inner, nb } = blockGeometry(a.shape, a.axis, a.blockSize, 'dotBlocksRef');
  let total = 0;
  for (let o = 0; o < outer; o++)
    for (let bk = 0; bk < nb; bk++)
      for (let i = 0; i < inner; i++) {
        const s = (o * nb + bk) * inner + i;
        if (a.scales[s] === 255 || b.scales[s] === 255) return Number.NaN;
        let sum = 0n;
        for (let l = bk * a.blockSize; l < Math.min(len, (bk + 1) * a.blockSize); l++) {
          const idx = (o * len + l) * inner + i;
          sum += BigInt(ia.table[ca[idx]!]!) * BigInt(ib.table[cb[idx]!]!);
        }
        const e = a.scales[s]! + b.scales[s]! - 254 + ia.unitLog2 + ib.unitLog2;
        total += Number(sum) * 2 ** e;
      }
  return total;
}
