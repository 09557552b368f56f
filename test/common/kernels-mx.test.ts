/**
 * MX/BFP wasm fast paths (whole blocks of 16·k elements along the last axis: the single-read SIMD
 * shared exponents, the integer-domain element encoding with the 2^±64 pre-scale of extreme blocks, the
 * two-byte-plane 4-bit decode and the arithmetic 8-bit decode) against the JS kernels and the `…Ref`
 * twins, bit for bit:
 * - every block-max exponent from the float32 subnormals to the float32 max (so every shared exponent,
 *   both pre-scale thresholds and the clamped −127) × every element binade × the values at, one float32
 *   ulp below and one above every rounding tie between neighbouring element values, the max normal and
 *   the saturation range above it, both signs;
 * - all-negative and mixed-sign FP blocks over element subnormals (the signed-magic path);
 * - NaN/±Inf blocks, all-zero and ±0 blocks, float32-subnormal blocks, chunks whose block count is not a
 *   multiple of 4, block sizes 16, 48, 64, 96, 128, and rows across and longer than the wrapper chunks
 *   (64 K elements per encode call, 1 M per decode call);
 * - decoding of every code byte under every scale byte (NaN/Inf codes, −0 codes, 0xFF blocks) for
 *   blocks of 16 and 32.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type BlockFormat, elementTable, formatTraits } from '../../src/bfp/formats.js';
import { dequantizeBlocks, dequantizeBlocksRef, quantizeBlocks, quantizeBlocksRef } from '../../src/bfp/quantize.js';
import { setKernelBackend, wasmSimdSupported } from '../../src/common/kernels.js';
import { firstDiff, withBackend } from '../helpers/bits.js';
import { codedBlocks, expectDecodeTwins } from '../helpers/blocks.js';

afterEach(() => setKernelBackend('auto'));

const runWasm = wasmSimdSupported() ? it : it.skip;
const FORMATS: BlockFormat[] = ['mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2', 'bfp12', 'bfp16'];

/** Quantize + dequantize on both backends (and the Ref twins when `ref`); every byte must agree. */
function agree(x: Float32Array, shape: number[], format: BlockFormat, blockSize: number, ref: boolean, ctx = ''): void {
  const opts = { format, blockSize };
  const t = { dtype: 'float32' as const, data: x, shape };
  const w = withBackend('wasm', () => quantizeBlocks(t, opts));
  const j = withBackend('js', () => quantizeBlocks(t, opts));
  const c = `${JSON.stringify(format)} [${shape.join(', ')}] bs ${blockSize} ${ctx}`;
  expect(firstDiff(w.scales, j.scales), c).toBe(-1);
  expect(firstDiff(w.codes, j.codes), c).toBe(-1);
  const yw = withBackend('wasm', () => dequantizeBlocks(w)).data;
  const yj = withBackend('js', () => dequantizeBlocks(w)).data;
  expect(firstDiff(yw, yj), c).toBe(-1);
  if (ref) {
    const r = quantizeBlocksRef(t, opts);
    expect(firstDiff(w.scales, r.scales), c).toBe(-1);
    expect(firstDiff(w.codes, r.codes), c).toBe(-1);
    expect(firstDiff(yw, dequantizeBlocksRef(w).data), c).toBe(-1);
  }
}

const F1 = new Float32Array(1);
const U1 = new Uint32Array(F1.buffer);
/** The float32 `d` ulps away from f32(v) (bit-pattern step; v > 0). */
function ulpStep(v: number, d: number): number {
  F1[0] = v;
  U1[0] = U1[0]! + d;
  return F1[0]!;
}

/**
 * Magnitudes (element units) around every rounding decision of a format: every finite element value,
 * every midpoint between neighbours and its float32 neighbours, the max normal and the saturation range
 * above it (up to just below the next power of two, where the shared exponent would change).
 */
function boundaryMagnitudes(format: BlockFormat): number[] {
  const tr = formatTraits(format);
  const vals = [...new Set(Array.from(elementTable(format)).filter((v) => Number.isFinite(v) && v >= 0))]
    .filter((v) => v <= tr.maxNormal)
    .sort((a, b) => a - b);
  const out: number[] = [];
  for (let i = 0; i < vals.length; i++) {
    out.push(vals[i]!);
    if (i > 0) out.push(ulpStep(vals[i]!, -1));
    if (i + 1 < vals.length) {
      const t = (vals[i]! + vals[i + 1]!) / 2;
      out.push(t, ulpStep(t, -1), ulpStep(t, 1), ulpStep(vals[i]!, 1));
    }
  }
  const top = 2 ** (tr.emax + 1);
  const half =
    (tr.maxNormal + (tr.kind === 'fp' ? tr.maxNormal + 2 ** (tr.emax - tr.mbits) : tr.maxNormal + 2 ** -tr.mbits)) / 2;
  out.push(ulpStep(half, -1), half, ulpStep(half, 1), (half + top) / 2, ulpStep(top, -1));
  return out;
}

/** Blocks of 32: element 0 = 2^k · (just below 2^(emax+1)), the rest ±boundary magnitudes · 2^k. */
function boundaryBlocks(format: BlockFormat, k: number): Float32Array {
  const tr = formatTraits(format);
  const mags = boundaryMagnitudes(format);
  const body: number[] = [];
  for (const m of mags) body.push(m, -m);
  const per = 31;
  const nb = Math.ceil(body.length / per);
  const x = new Float32Array(nb * 32);
  const lead = ulpStep(2 ** (tr.emax + 1), -1);
  for (let b = 0; b < nb; b++) {
    x[b * 32] = (b & 1 ? -lead : lead) * 2 ** k;
    for (let i = 0; i < per; i++) x[b * 32 + 1 + i] = (body[b * per + i] ?? 0) * 2 ** k;
  }
  return x;
}

describe('MX/BFP wasm fast paths = JS = Ref, bit for bit', () => {
  runWasm('every block-max exponent × every tie, its float32 neighbours and the saturation range', () => {
    for (const format of FORMATS) {
      const emax = formatTraits(format).emax;
      // block max 2^(k+emax+1)⁻: shared exponent k (clamped at −127 for float32-subnormal maxima)
      for (let k = -160 - emax; k <= 127 - emax; k++) {
        const x = boundaryBlocks(format, k);
        const ref =
          k % 23 === 0 ||
          [-127, -126, -121, -120, -113, -112, 91, 92, 99, 100, 103, 104, 106, 107, 110, 111].includes(k);
        agree(x, [x.length / 32, 32], format, 32, ref, `k ${k}`);
      }
    }
  });

  runWasm('NaN/±Inf, all-zero, ±0-only and float32-subnormal blocks; block counts not a multiple of 4', () => {
    for (const format of FORMATS)
      for (const nb of [1, 2, 3, 5, 6, 7, 9]) {
        const x = new Float32Array(nb * 32);
        for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.77) * 3;
        x.fill(0, 32, 64); // an all-zero block (when present)
        if (nb > 2) for (let i = 64; i < 96; i++) x[i] = i & 1 ? -0 : 0;
        if (nb > 3) x[100] = Number.NaN;
        if (nb > 4) x[150] = Number.NEGATIVE_INFINITY;
        if (nb > 5) for (let i = 160; i < 192; i++) x[i] = (i % 5) * 1e-45 * (i & 1 ? -1 : 1);
        if (nb > 6) x[200] = 3.4e38;
        agree(x, [nb, 32], format, 32, true);
        agree(x, [1, nb * 32], format, 32, true);
      }
  });

  runWasm('block sizes 16, 48, 64, 96 and 128 (whole blocks per row), random values with ties', () => {
    for (const format of FORMATS)
      for (const bs of [16, 48, 64, 96, 128]) {
        const rows = 5;
        const len = bs * 3;
        const x = new Float32Array(rows * len);
        let s = bs * 7919;
        for (let i = 0; i < x.length; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          const u = s / 4294967296;
          x[i] = u < 0.1 ? 0.5 * (i & 1 ? -1 : 1) : u < 0.15 ? -0 : (u - 0.5) * 2 ** ((i % 40) - 20);
        }
        x[len + 3] = Number.NaN; // a NaN block
        agree(x, [rows, len], format, bs, true);
      }
  });

  runWasm(
    'FP magic from the signed bits: all-negative and mixed-sign blocks, element subnormals, −0, partial groups',
    () => {
      // the FP fast path adds x to a magic carrying x's sign (and, for negative x, one extra mantissa bit
      // above the code byte); blocks whose elements sit below, at and above the smallest normal element
      for (const format of ['mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2'] as BlockFormat[]) {
        const nb = 4 * 9 + 3; // whole groups of 4 blocks and a partial one
        const x = new Float32Array(nb * 32);
        let s = 99;
        for (let b = 0; b < nb; b++) {
          const top = 2 ** ((b % 13) * 9 - 60); // the block max sets se
          for (let i = 0; i < 32; i++) {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            const u = s / 4294967296;
            // magnitudes spread over ~20 binades under the max, so many fall on element subnormals
            const mag = i === 0 ? top : top * 2 ** (-20 * u);
            const neg = b % 3 === 0 ? true : b % 3 === 1 ? i % 2 === 1 : u < 0.5;
            x[b * 32 + i] = i === 5 ? -0 : neg ? -mag : mag;
          }
        }
        agree(x, [nb, 32], format, 32, true);
        agree(x, [1, nb * 32], format, 32, true);
      }
    },
  );

  runWasm('many blocks across wrapper chunks (and rows longer than a chunk)', () => {
    for (const format of FORMATS) {
      const x = new Float32Array(3 * 65536 + 4096);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.013) * 2 ** (((i >> 5) % 50) - 25);
      agree(x, [x.length / 128, 128], format, 32, false);
      agree(x, [2, x.length / 2], format, 32, false);
    }
  });

  runWasm('rows across and longer than a decode chunk (1 M elements) and an encode chunk (64 K)', () => {
    for (const format of ['mxfp4', 'mxfp8_e4m3'] as BlockFormat[]) {
      const x = new Float32Array((1 << 20) + 8 * 128 + 256);
      for (let i = 0; i < x.length; i++) x[i] = Math.cos(i * 0.0071) * 2 ** (((i >> 6) % 30) - 15);
      x[777777] = Number.NaN;
      agree(x, [x.length / 128, 128], format, 32, false); // rows across chunks, fast path
      agree(x, [1, x.length], format, 32, false); // one row longer than a chunk, fast path
      agree(x, [2, x.length / 2], format, 7, false); // general path, ragged blocks
    }
  });

  runWasm('decode: every code byte under every scale byte, blocks of 16 and 32', () => {
    for (const format of FORMATS)
      for (const bs of [16, 32]) {
        const w = formatTraits(format).elementBits;
        const nCodes = 2 ** w;
        const b = codedBlocks(
          format,
          256,
          Math.max(nCodes, 2 * bs),
          bs,
          (r, i) => (i + 3 * r) % nCodes,
          (j) => (j * 7) % 256,
        );
        expectDecodeTwins(b, `${format} bs ${bs}`);
      }
  });
});
