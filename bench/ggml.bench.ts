/**
 * ggml block codecs (src/common/ggml.ts): encode float32 → Q8_0/Q4_0/Q4_1/MXFP4 blocks and decode back,
 * fast path beside its reference twin and a same-process memcpy of the same input bytes; plus GGUF
 * tensor reads (header parse + Q4_0 decode) from memory.
 * `LOWBIT_BENCH_QUICK=1 npx tsx bench/run.ts ggml` for a smoke run.
 */
import { decodeGgml, decodeGgmlRef, encodeGgml, encodeGgmlRef, ggmlByteSize } from '../src/common/ggml.js';
import { parseGguf, serializeGguf } from '../src/common/io/gguf.js';
import { QUICK, runGroup } from './harness.js';

export async function main(): Promise<void> {
  const n = QUICK ? 1 << 16 : 1 << 22; // 4 M floats = 16 MB of input
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.1 + 2 * Math.cos(i) + (i % 97 === 0 ? 40 : 0);
  for (const type of ['q8_0', 'q4_0', 'q4_1', 'mxfp4'] as const) {
    await runGroup({
      title: `encodeGgml ${type}, ${n} float32 (blocks of 32)`,
      bytes: 4 * n,
      elements: n,
      cases: [
        { name: `encodeGgml (${type})`, fn: () => encodeGgml(x, type) },
        { name: `encodeGgmlRef (${type})`, fn: () => encodeGgmlRef(x, type) },
      ],
    });
    const q = encodeGgml(x, type);
    await runGroup({
      title: `decodeGgml ${type}, ${n} values (${ggmlByteSize(type, n)} bytes in, GB/s of float32 out)`,
      bytes: 4 * n,
      elements: n,
      cases: [
        { name: `decodeGgml (${type})`, fn: () => decodeGgml(q, type, n) },
        { name: `decodeGgmlRef (${type})`, fn: () => decodeGgmlRef(q, type, n) },
      ],
    });
  }
  const rows = 64;
  const file = serializeGguf({
    metadata: { 'general.architecture': 'bench' },
    tensors: [{ name: 'w', data: x, shape: [rows, n / rows], type: 'Q4_0' }],
  });
  await runGroup({
    title: `parseGguf + readFloat32 of one Q4_0 tensor [${rows}, ${n / rows}] from memory`,
    bytes: 4 * n,
    elements: n,
    cases: [{ name: 'parseGguf(bytes).readFloat32(w)', fn: () => parseGguf(file).readFloat32('w') }],
  });
}
