/**
 * The first-fit block allocator shared by the Node pool and `kernelMemory`: 64-byte blocks, zero-filled on
 * reuse, neighbours merged on release, growth by whole pages up to the limit, E_LIMIT with nothing changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Arena } from '../../src/common/arena.js';
import { LowbitError } from '../../src/common/errors.js';

/** A growable memory over an ArrayBuffer (what WebAssembly.Memory does, without the detach). */
function memory(pages: number): { buffer: ArrayBuffer; grow(p: number): number } {
  const m = {
    buffer: new ArrayBuffer(pages * 65536),
    grow(p: number): number {
      const old = m.buffer;
      const b = new ArrayBuffer(old.byteLength + p * 65536);
      new Uint8Array(b).set(new Uint8Array(old));
      m.buffer = b;
      return old.byteLength / 65536;
    },
  };
  return m;
}

describe('Arena', () => {
  it('hands out disjoint, zero-filled 64-byte blocks; merges freed neighbours; reuses and re-zeroes them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ bytes: fc.integer({ min: 1, max: 40000 }), free: fc.boolean() }), { maxLength: 40 }),
        (ops) => {
          const mem = memory(4);
          const a = new Arena(mem, 1024, 64, (b) => `full ${b}`);
          const live = new Map<number, number>();
          for (const op of ops) {
            const at = a.alloc(op.bytes);
            expect(at % 64).toBe(0);
            expect(at).toBeGreaterThanOrEqual(1024);
            expect(at + op.bytes + 64).toBeLessThanOrEqual(mem.buffer.byteLength);
            for (const [s, n] of live) expect(at + op.bytes <= s || s + n <= at).toBe(true);
            const v = new Uint8Array(mem.buffer, at, op.bytes);
            expect(v.every((x) => x === 0)).toBe(true);
            v.fill(0xee);
            live.set(at, op.bytes);
            if (op.free) {
              expect(a.release(at)).toBe(true);
              expect(a.release(at)).toBe(false);
              live.delete(at);
            }
          }
          expect(a.used).toBe([...live.values()].reduce((s, n) => s + Math.ceil(n / 64) * 64, 0));
          for (const at of live.keys()) a.release(at);
          expect(a.used).toBe(0);
          // everything merged back: one block as large as all the free space fits at the start
          const top = mem.buffer.byteLength - 64 - 1024;
          expect(a.alloc(top)).toBe(1024);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('grows by whole pages up to maxPages, then E_LIMIT with nothing changed', () => {
    const mem = memory(1);
    const a = new Arena(mem, 0, 3, (b) => `${b} more bytes do not fit`);
    a.alloc(65536 - 64);
    expect(mem.buffer.byteLength).toBe(65536);
    a.alloc(100000);
    expect(mem.buffer.byteLength).toBe(3 * 65536);
    const used = a.used;
    let err: unknown;
    try {
      a.alloc(65536);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LowbitError);
    expect((err as LowbitError).code).toBe('E_LIMIT');
    expect((err as LowbitError).message).toBe('65536 more bytes do not fit');
    expect(a.used).toBe(used);
    expect(mem.buffer.byteLength).toBe(3 * 65536);
    // a fixed region (maxPages = its size) never grows
    const f = memory(2);
    const b = new Arena(f, 4096, 2, () => 'full');
    expect(() => b.alloc(2 * 65536)).toThrow('full');
    expect(b.alloc(2 * 65536 - 4096 - 64)).toBe(4096);
    expect(f.buffer.byteLength).toBe(2 * 65536);
  });
});
