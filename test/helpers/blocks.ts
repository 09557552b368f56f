/**
 * Block tensors built code by code, for the decoder tests (wasm vs JS twin vs Ref).
 */
import { expect } from 'vitest';
import { type BlockFormat, formatTraits } from '../../src/bfp/formats.js';
import { type BlockTensor, dequantizeBlocks, dequantizeBlocksRef } from '../../src/bfp/quantize.js';
import { firstDiff, withBackend } from './bits.js';

/**
 * A `[rows, len]` block tensor of `format` (blocks of `bs` along the last axis, a ragged last block when
 * bs ∤ len) whose element (r, i) has code `code(r, i)` and whose block j has scale byte `scale(j)`.
 */
export function codedBlocks(
  format: BlockFormat,
  rows: number,
  len: number,
  bs: number,
  code: (r: number, i: number) => number,
  scale: (j: number) => number,
): BlockTensor {
  const w = formatTraits(format).elementBits;
  const nb = Math.ceil(len / bs);
  const codes = new Uint16Array(rows * len);
  for (let r = 0; r < rows; r++) for (let i = 0; i < len; i++) codes[r * len + i] = code(r, i);
  const packed = new Uint8Array((codes.length * w) / 8);
  if (w === 8) packed.set(codes);
  else for (let i = 0; i < codes.length; i++) packed[i >> 1]! |= codes[i]! << ((i & 1) * 4);
  const scales = new Uint8Array(rows * nb);
  for (let j = 0; j < scales.length; j++) scales[j] = scale(j);
  return {
    format,
    shape: [rows, len],
    axis: 1,
    blockSize: bs,
    scaleShape: [rows, nb],
    scales,
    codes: packed,
    storageBits: 0,
    scaleRule: 'floor',
  };
}

/** dequantizeBlocks on the wasm backend equals the JS backend and the Ref, bit for bit. */
export function expectDecodeTwins(b: BlockTensor, label: string): void {
  const yw = withBackend('wasm', () => dequantizeBlocks(b)).data;
  const yj = withBackend('js', () => dequantizeBlocks(b)).data;
  expect(firstDiff(yw, yj), label).toBe(-1);
  expect(firstDiff(yw, dequantizeBlocksRef(b).data), label).toBe(-1);
}
