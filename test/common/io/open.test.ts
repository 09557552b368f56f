import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LowbitError } from '../../../src/common/errors.js';
import { encodeGgml } from '../../../src/common/ggml.js';
import { fileSource } from '../../../src/common/io/file-source.js';
import {
  detectTensorFormat,
  openTensorFile,
  openTensorSource,
  readTensorFile,
  writeTensorFile,
} from '../../../src/common/io/open.js';
import type { ByteSource } from '../../../src/common/io/source.js';
import { float32 } from '../../../src/common/tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectCode(fn: () => unknown, code: string, msg?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LowbitError);
    expect((e as LowbitError).code).toBe(code);
    if (msg) expect((e as Error).message).toMatch(msg);
    return;
  }
  throw new Error(`expected a LowbitError ${code}`);
}

/** A ByteSource wrapper that counts the bytes read and the largest single read. */
function counting(src: ByteSource & { close(): void }) {
  const stats = { bytes: 0, calls: 0, largest: 0 };
  const wrapped: ByteSource & { close(): void } = {
    size: src.size,
    read(offset, length, out) {
      stats.bytes += length;
      stats.calls += 1;
      stats.largest = Math.max(stats.largest, length);
      return src.read(offset, length, out);
    },
    close: () => src.close(),
  };
  return { src: wrapped, stats };
}

describe('openTensorFile dispatch', () => {
  const w = float32([1, -2, 3.5, 4, 5, 6], [2, 3]);
  const v = float32([0.25, -0.5], [2]);

  it('writes and reads back every format, detecting it by magic bytes', () => {
    for (const ext of ['npz', 'safetensors', 'gguf'] as const) {
      const p = join(dir, `rt.${ext}`);
      writeTensorFile(p, { w, v });
      // rename-free check of magic detection: open with a misleading extension copy
      const q = join(dir, `rt-${ext}.bin`);
      writeTensorFile(q, new Map([['w', w]]), { format: ext });
      for (const path of [p, q]) {
        const f = openTensorFile(path);
        expect(f.format).toBe(ext);
        expect(f.info('w').shape).toEqual([2, 3]);
        expect(Array.from(f.readFloat32('w').data)).toEqual([1, -2, 3.5, 4, 5, 6]);
        f.close();
      }
      const all = readTensorFile(p);
      expect([...all.keys()].sort()).toEqual(['v', 'w']);
      expect(Array.from(all.get('v')!.data as Float32Array)).toEqual([0.25, -0.5]);
    }
    const p = join(dir, 'one.npy');
    writeTensorFile(p, { w });
    const f = openTensorFile(p);
    expect(f.format).toBe('npy');
    expect(Array.from(f.readFloat32(f.names[0]!).data)).toEqual([1, -2, 3.5, 4, 5, 6]);
    f.close();
  });

  it('gguf options: block type and typed metadata', () => {
    const x = float32(
      Array.from({ length: 64 }, (_, i) => Math.cos(i)),
      [2, 32],
    );
    const p = join(dir, 'q.gguf');
    writeTensorFile(
      p,
      { x },
      { ggufType: 'Q8_0', metadata: { 'general.architecture': 'test', n: { type: 'i32', value: 3 } } },
    );
    const f = openTensorFile(p);
    expect(f.info('x').fileDtype).toBe('Q8_0');
    expect(f.metadata.n).toBe(3);
    const enc = encodeGgml(x.data, 'q8_0');
    expect(f.info('x').byteLength).toBe(enc.length);
    f.close();
  });

  it('safetensors metadata must be strings; npy holds one tensor', () => {
    expectCode(() => writeTensorFile(join(dir, 'm.safetensors'), { w }, { metadata: { a: 1 } }), 'E_CONFIG');
    writeTensorFile(join(dir, 'm.safetensors'), { w }, { metadata: { a: 'b' } });
    expect(openTensorFile(join(dir, 'm.safetensors')).metadata.a).toBe('b');
    expectCode(() => writeTensorFile(join(dir, 'two.npy'), { w, v }), 'E_CONFIG');
    expectCode(() => writeTensorFile(join(dir, 'x.unknown'), { w }), 'E_CONFIG');
  });

  it('magic detection and errors', () => {
    const te = new TextEncoder();
    expect(detectTensorFormat(te.encode('GGUF\x03\0\0\0'), 100)).toBe('gguf');
    expect(detectTensorFormat(Uint8Array.from([0x93, ...te.encode('NUMPY\x01\x00')]), 100)).toBe('npy');
    expect(detectTensorFormat(Uint8Array.from([0x50, 0x4b, 3, 4]), 100)).toBe('npz');
    const st = new Uint8Array(12);
    st[0] = 2;
    st[8] = 0x7b;
    expect(detectTensorFormat(st, 12)).toBe('safetensors');
    expect(detectTensorFormat(st, 9)).toBeUndefined();
    expect(detectTensorFormat(te.encode('hello world'), 11)).toBeUndefined();
    const junk = join(dir, 'junk.bin');
    writeFileSync(junk, 'not a tensor file at all');
    expectCode(() => openTensorFile(junk), 'E_FORMAT', /unknown tensor file format/);
    expectCode(() => openTensorFile(join(dir, 'missing.gguf')), 'E_IO');
    // no magic, but the extension says gguf → the GGUF parser reports the problem
    const bad = join(dir, 'bad.gguf');
    writeFileSync(bad, new Uint8Array(40));
    expectCode(() => openTensorFile(bad), 'E_FORMAT', /bad\.gguf: GGUF: bad magic/);
  });
});

describe('files larger than 2 GiB', () => {
  it('opens a sparse 2.1 GiB GGUF and reads the tensors at both ends without reading the file whole', () => {
    const GAP = 2 ** 31; // an I8 tensor of 2 GiB between the two small ones, never read
    const te = new TextEncoder();
    const parts: number[] = [];
    const u32 = (v: number) => parts.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
    const u64 = (v: number) => {
      u32(v % 2 ** 32);
      u32(Math.floor(v / 2 ** 32));
    };
    const str = (s: string) => {
      const b = te.encode(s);
      u64(b.length);
      parts.push(...b);
    };
    parts.push(...te.encode('GGUF'));
    u32(3);
    u64(3); // tensors
    u64(0); // kv
    const infos: [string, number, number, number][] = [
      ['first', 0, 8, 0],
      ['gap', 24, GAP, 32],
      ['last', 0, 16, 32 + GAP],
    ];
    for (const [name, type, n, off] of infos) {
      str(name);
      u32(1);
      u64(n);
      u32(type);
      u64(off);
    }
    while (parts.length % 32 !== 0) parts.push(0);
    const dataStart = parts.length;
    const first = Float32Array.from({ length: 8 }, (_, i) => i + 0.5);
    const last = Float32Array.from({ length: 16 }, (_, i) => -i * 1.25);
    const p = join(dir, 'huge.gguf');
    const fd = openSync(p, 'w');
    try {
      writeSync(fd, Uint8Array.from(parts), 0, parts.length, 0);
      writeSync(fd, new Uint8Array(first.buffer), 0, 32, dataStart);
      ftruncateSync(fd, dataStart + 32 + GAP + 64);
      writeSync(fd, new Uint8Array(last.buffer), 0, 64, dataStart + 32 + GAP);
    } finally {
      closeSync(fd);
    }
    const size = statSync(p).size;
    expect(size).toBeGreaterThan(2 ** 31);

    const { src, stats } = counting(fileSource(p));
    const f = openTensorSource(src, { name: p });
    expect(f.names).toEqual(['first', 'gap', 'last']);
    expect(f.info('gap').shape).toEqual([GAP]);
    expect(f.info('last').byteOffset).toBe(dataStart + 32 + GAP);
    expect(Array.from(f.readFloat32('first').data)).toEqual(Array.from(first));
    expect(Array.from(f.readFloat32('last').data)).toEqual(Array.from(last));
    f.close();
    // header (read in one bounded window) + 32 + 64 tensor bytes, nowhere near the 2 GiB file
    expect(stats.bytes).toBeLessThan(dataStart + 96 + 16 + 65536);
    expect(stats.largest).toBeLessThanOrEqual(65536);

    const g = openTensorFile(p);
    expect(Array.from(g.readFloat32('last').data)).toEqual(Array.from(last));
    g.close();
    rmSync(p);
  });
});
