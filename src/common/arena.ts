/**
 * First-fit allocator of zero-filled blocks in a WebAssembly memory (64-byte aligned blocks; free
 * neighbours merge). Used by the Node pool's shared memory (which grows by whole pages when no free block
 * fits) and by {@link kernelMemory} (a fixed region: a grown non-shared memory would detach every array
 * handed out). The last 64 bytes of the memory are never handed out: the kernels read inputs in place only
 * when 64 bytes follow them. No `node:*` imports. Internal.
 * @module
 */
import { fail } from './errors.js';

/** The slice of a `WebAssembly.Memory` the allocator uses. */
export interface ArenaMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}

/** See the module comment. Internal. */
export class Arena {
  readonly #memory: ArenaMemory;
  readonly #maxPages: number;
  readonly #full: (bytes: number) => string;
  /** Free blocks [start, bytes], by address. */
  #free: [number, number][] = [];
  readonly #used = new Map<number, number>();
  #inUse = 0;
  /** End of the highest block ever handed out: memory above it is still all zero. */
  #high: number;

  /**
   * Blocks from `start` up to the memory's end (less 64 bytes); the memory may grow to `maxPages` pages
   * (its current size: never). `full(bytes)` is the E_LIMIT message when `bytes` more do not fit.
   */
  constructor(memory: ArenaMemory, start: number, maxPages: number, full: (bytes: number) => string) {
    this.#memory = memory;
    this.#maxPages = maxPages;
    this.#full = full;
    this.#high = start;
    const end = memory.buffer.byteLength - 64;
    if (end > start) this.#free.push([start, end - start]);
  }

  /** Bytes handed out and not released. */
  get used(): number {
    return this.#inUse;
  }

  /** Address of a zero-filled block of `bytes` bytes (> 0); E_LIMIT (nothing changed) when it does not fit. */
  alloc(bytes: number): number {
    const need = Math.ceil(bytes / 64) * 64;
    let i = this.#free.findIndex(([, n]) => n >= need);
    if (i < 0) {
      const size = this.#memory.buffer.byteLength;
      const end = Math.max(this.#high, size - 64); // where free space at the top starts (the guard tail)
      const last = this.#free[this.#free.length - 1];
      const tail = last !== undefined && last[0] + last[1] === end ? last[1] : 0;
      const pages = Math.ceil((need - tail + end + 64 - size) / 65536);
      if (size / 65536 + pages > this.#maxPages) fail('E_LIMIT', this.#full(bytes));
      this.#memory.grow(pages);
      const top = size + pages * 65536 - 64;
      if (tail > 0) last![1] = top - last![0];
      else this.#free.push([end, top - end]);
      i = this.#free.length - 1;
    }
    const blk = this.#free[i]!;
    const at = blk[0];
    if (blk[1] === need) this.#free.splice(i, 1);
    else {
      blk[0] += need;
      blk[1] -= need;
    }
    this.#used.set(at, need);
    this.#inUse += need;
    if (at < this.#high) new Uint8Array(this.#memory.buffer, at, Math.min(need, this.#high - at)).fill(0);
    this.#high = Math.max(this.#high, at + need);
    return at;
  }

  /** Free the block at `at`; false when no block starts there. */
  release(at: number): boolean {
    const n = this.#used.get(at);
    if (n === undefined) return false;
    this.#used.delete(at);
    this.#inUse -= n;
    let i = this.#free.findIndex(([s]) => s > at);
    if (i < 0) i = this.#free.length;
    this.#free.splice(i, 0, [at, n]);
    const next = this.#free[i + 1];
    if (next !== undefined && at + n === next[0]) {
      this.#free[i]![1] += next[1];
      this.#free.splice(i + 1, 1);
    }
    const prev = this.#free[i - 1];
    if (prev !== undefined && prev[0] + prev[1] === at) {
      prev[1] += this.#free[i]![1];
      this.#free.splice(i, 1);
    }
    return true;
  }
}
