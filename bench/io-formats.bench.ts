/**
 * lowbit/io: parse and serialize throughput of .npy, .npz (stored / deflate) and .safetensors, plus the
 * narrow-float decoder (`decodeMiniFloats`, table) beside its bit-by-bit `decodeMiniFloatsRef` twin and
 * CRC-32 (zlib) beside the table reference — each next to a memcpy of the same bytes.
 *
 * Full sizes: 4 M float32 values (16 MB) per file; `LOWBIT_BENCH_QUICK=1`: 256 K values.
 * Run: `npx tsx bench/run.ts io-formats` (or `LOWBIT_BENCH_QUICK=1 npx tsx bench/run.ts io-formats`).
 */
import { decodeMiniFloats, decodeMiniFloatsRef } from '../src/common/io/float8.js';
import { parseNpy, serializeNpy } from '../src/common/io/npy.js';
import { parseNpz, serializeNpz } from '../src/common/io/npz.js';
import { parseSafetensors, serializeSafetensors } from '../src/common/io/safetensors.js';
import { crc32, crc32Ref } from '../src/common/io/zip.js';
import type { Tensor } from '../src/common/tensor.js';
import { QUICK, runGroup } from './harness.js';

export async function main(): Promise<void> {
  const n = QUICK ? 1 << 18 : 1 << 22;
  const x = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 4;
  }
  const t: Tensor = { dtype: 'float32', data: x, shape: [n / 1024, 1024] };
  const npy = serializeNpy(t);
  const npzStored = serializeNpz({ w: t });
  const npzDeflate = serializeNpz({ w: t }, { compress: true });
  const st = serializeSafetensors({ w: t }, { note: 'bench' });
  const bytes = n * 4;

  await runGroup({
    title: `.npy / .npz / .safetensors, float32 [${n / 1024}, 1024]`,
    bytes,
    elements: n,
    cases: [
      { name: 'parseNpy', fn: () => parseNpy(npy) },
      { name: 'serializeNpy', fn: () => serializeNpy(t) },
      { name: 'parseNpz (stored, CRC-32 checked)', fn: () => parseNpz(npzStored) },
      { name: 'parseNpz (deflate)', fn: () => parseNpz(npzDeflate) },
      { name: 'serializeNpz (stored)', fn: () => serializeNpz({ w: t }) },
      { name: 'parseSafetensors', fn: () => parseSafetensors(st) },
      { name: 'serializeSafetensors', fn: () => serializeSafetensors({ w: t }) },
    ],
    runs: QUICK ? 3 : 10,
  });

  const codes = new Uint8Array(n);
  for (let i = 0; i < n; i++) codes[i] = (i * 2654435761) >>> 24;
  await runGroup({
    title: `narrow floats to float32 (${n} codes; input bytes = packed codes)`,
    bytes: n,
    elements: n,
    cases: [
      { name: 'decodeMiniFloats f8_e4m3', fn: () => decodeMiniFloats(codes, 'f8_e4m3') },
      { name: 'decodeMiniFloatsRef f8_e4m3', fn: () => decodeMiniFloatsRef(codes, 'f8_e4m3') },
    ],
  });
  await runGroup({
    title: `narrow floats, packed 4-bit (${2 * n} codes from ${n} bytes)`,
    bytes: n,
    elements: 2 * n,
    cases: [
      { name: 'decodeMiniFloats f4_e2m1', fn: () => decodeMiniFloats(codes, 'f4_e2m1') },
      { name: 'decodeMiniFloatsRef f4_e2m1', fn: () => decodeMiniFloatsRef(codes, 'f4_e2m1') },
    ],
  });
  const n6 = Math.floor((n * 8) / 6);
  await runGroup({
    title: `narrow floats, packed 6-bit (${n6} codes from ${n} bytes)`,
    bytes: n,
    elements: n6,
    cases: [
      { name: 'decodeMiniFloats f6_e2m3', fn: () => decodeMiniFloats(codes, 'f6_e2m3') },
      { name: 'decodeMiniFloatsRef f6_e2m3', fn: () => decodeMiniFloatsRef(codes, 'f6_e2m3') },
    ],
  });
  await runGroup({
    title: `CRC-32 of ${(bytes / 1e6).toFixed(1)} MB`,
    bytes,
    elements: bytes,
    cases: [
      { name: 'crc32 (zlib)', fn: () => crc32(npy) },
      { name: 'crc32Ref (table)', fn: () => crc32Ref(npy) },
    ],
    runs: QUICK ? 3 : 10,
  });
}
