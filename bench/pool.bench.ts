/**
 * The worker pool (`lowbit/node` KernelPool, all cores: the calling thread + workers) against the same
 * public function on one thread, both on the wasm SIMD kernels, for every pooled kernel: KIVI
 * quantizeKeys / quantizeValues / dequantize (2/4/8-bit, G = 32), affine 4-bit (groups of 128), MX/BFP
 * blocks of 32 (mxfp4, mxfp8_e4m3, mxfp8_e5m2, bfp12, bfp16), the FWHT (n = 4096) and the mwq bit-plane GEMV (a square
 * weight of as many elements, matquant 8 bits, level 4; GB/s of its float32 size; plain and pool memory
 * only: its weights in the pool memory via `pool.nestedWeights`). Each pooled kernel is measured with a
 * plain input (the pool copies the workers' share into shared memory), with a `SharedArrayBuffer`
 * input (each thread copies its share into its kernels' memory) and with the input and outputs in the pool
 * memory (`pool.float32` & co.: read and written in place; "1 thread" is then a one-thread pool on its own
 * memory, the same code path); every output is preallocated (`out`: plain / shared / pool memory; fresh
 * per-call outputs page-fault on this VM, 8 vs 35 ms at random for KIVI-2 quantizeKeys). One-thread and
 * pooled runs alternate (so load drift on a shared machine hits both alike; 21 pairs); medians; GB/s of float32
 * input (dequantize: output), the ratio to a same-process copy of the same bytes — by one thread, and by
 * two threads (the calling thread and a worker each copy half: the ceiling of a memory-bound pooled
 * kernel) — and the speed-up over one thread and over the JS twin (3 runs); the machine's memory streams
 * at that moment: the time one thread and two threads (each half) take just to read the n floats with wasm
 * vector loads and just to write them with wasm vector stores, "streams 2-thread ×" (read; write) = one
 * thread's time ÷ two threads' (2.0 where the memory serves two cores as it serves one), and "stream-bound
 * ×" = 1 thread ms ÷ two threads' stream of the kernel's main traffic (decoders: the write of their
 * output; the others: the read of their input), the most the pool could gain over one thread if it only had
 * to move those bytes; and how much two threads'
 * pure ALU work scales at that moment (2.0× on two free cores: on a shared VM the host may give it less, and
 * then no pooled row can scale either). Then a size sweep of two kernels to place the pool threshold.
 * (The pooled KIVI attention, `pool.attend` on a cache in the pool memory, is measured in
 * kivi-attention.bench.ts beside the one-thread attention.)
 * Full size `[32, 4096, 128]` (16.8 M elements); quick: `[8, 256, 128]`.
 */

import { Worker } from 'node:worker_threads';
import { dequantizeBlocks, quantizeBlocks } from '../src/bfp/quantize.js';
import { dequantizeAffine, quantizeAffine } from '../src/common/affine.js';
import { setKernelBackend } from '../src/common/kernels.js';
import type { Float32Tensor } from '../src/common/tensor.js';
import {
  dequantize,
  type KiviBits,
  type KiviQuantizeOptions,
  quantizeKeys,
  quantizeValues,
} from '../src/kivi/index.js';
import { fwht } from '../src/mambaquant/hadamard.js';
import { gemv, quantizeNested } from '../src/mwq/index.js';
import { KernelPool } from '../src/node/index.js';
import { lcgData, machineLine, QUICK } from './harness.js';

/** The slice of the WebAssembly JS API used here (the project's TS lib has no WebAssembly globals). */
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Memory: new (d: { initial: number; maximum: number; shared: boolean }) => object;
      Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

/**
 * A wasm module over its imported shared memory `e.m`: `s(p, end)` stores a constant vector to bytes
 * [p, end), 64 bytes per iteration with `v128.store` — the instruction every decoder writes its output
 * with (wasm has no non-temporal store), so its time is the floor of a decoder's time; `l(p, end)` reads
 * bytes [p, end) with `v128.load`, 64 bytes per iteration (or-ed into a vector that it stores at 0), the
 * floor of an encoder's pass over its input. Encoded here rather than built, as it is only this; text form:
 * `(func (export "s") (param i32 i32) (local v128) (local.set 2 (v128.const f32x4 1.5 1.5 1.5 1.5))
 *   (loop (v128.store offset=0|16|32|48 (local.get 0) (local.get 2)) …
 *     (br_if 0 (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 64))) (local.get 1)))))
 *  (func (export "l") (param i32 i32) (local v128)
 *   (loop (local.set 2 (v128.or (local.get 2) (v128.load offset=0|16|32|48 (local.get 0)))) … (br_if 0 …))
 *   (v128.store (i32.const 0) (local.get 2)))`.
 */
function streamModule(): object {
  const store = (off: number) => [0x20, 0, 0x20, 2, 0xfd, 0x0b, 4, off]; // local.get 0, 2; v128.store
  // local.get 2, 0; v128.load; v128.or; local.set 2
  const load = (off: number) => [0x20, 2, 0x20, 0, 0xfd, 0x00, 4, off, 0xfd, 0x50, 0x21, 2];
  const next = [0x20, 0, 0x41, 0xc0, 0, 0x6a, 0x22, 0, 0x20, 1, 0x49, 0x0d, 0, 0x0b]; // p += 64; br_if p < end; end loop
  const s = [
    ...[1, 1, 0x7b], // one v128 local
    ...[0xfd, 0x0c, ...[0, 0, 0xc0, 0x3f, 0, 0, 0xc0, 0x3f, 0, 0, 0xc0, 0x3f, 0, 0, 0xc0, 0x3f]], // v128.const
    ...[0x21, 2, 0x03, 0x40], // local.set 2; loop
    ...[0, 16, 32, 48].flatMap(store),
    ...next,
    0x0b,
  ];
  const l = [
    ...[1, 1, 0x7b, 0x03, 0x40], // one v128 local; loop
    ...[0, 16, 32, 48].flatMap(load),
    ...next,
    ...[0x41, 0, 0x20, 2, 0xfd, 0x0b, 4, 0], // v128.store at 0
    0x0b,
  ];
  const leb = (v: number): number[] => (v < 128 ? [v] : [(v & 127) | 128, ...leb(v >> 7)]); // unsigned LEB128
  const sec = (id: number, b: number[]) => [id, ...leb(b.length), ...b];
  return new Wasm.Module(
    new Uint8Array([
      ...[0, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
      ...sec(1, [1, 0x60, 2, 0x7f, 0x7f, 0]), // type (i32, i32) → ()
      ...sec(2, [1, 1, 0x65, 1, 0x6d, 2, 3, 1, 0x80, 0x80, 4]), // import e.m: memory 1..65536 shared
      ...sec(3, [2, 0, 0]),
      ...sec(7, [2, 1, 0x73, 0, 0, 1, 0x6c, 0, 1]), // export "s", "l"
      ...sec(10, [2, ...leb(s.length), ...s, ...leb(l.length), ...l]),
    ]),
  );
}

/**
 * The machine's two-thread memory speeds, the ceilings of a memory-bound pooled kernel: this thread and a
 * worker (blocked in `Atomics.wait` between runs, woken by `Atomics.notify`, as the pool's calling thread
 * waits for its workers) each copy half of `bytes` between two `SharedArrayBuffer`s (`copy`), or each
 * write half of `bytes` with wasm vector stores (`store`; `store1`: this thread writes all of it), or
 * each read half of them with wasm vector loads (`load`; `load1`: this thread reads all of it).
 * `close()` ends the worker.
 */
function twoThreads(bytes: number): {
  copy: () => void;
  store: () => void;
  store1: () => void;
  load: () => void;
  load1: () => void;
  alu: () => number;
  close: () => Promise<number>;
} {
  const flag = new Int32Array(new SharedArrayBuffer(16));
  const src = new Uint8Array(new SharedArrayBuffer(bytes));
  const dst = new Uint8Array(new SharedArrayBuffer(bytes));
  for (let i = 0; i < bytes; i += 4096) src[i] = i & 255;
  const half = (bytes >> 7) << 6; // 64-byte aligned
  const module = streamModule();
  const memory = new Wasm.Memory({ initial: Math.ceil(bytes / 65536), maximum: 65536, shared: true });
  const ex = new Wasm.Instance(module, { e: { m: memory } }).exports;
  const st = ex.s as (p: number, e: number) => void;
  const ld = ex.l as (p: number, e: number) => void;
  st(0, bytes & ~63); // every page mapped (an untouched page reads as the kernel's shared zero page)
  // pure ALU work (an LCG chain, ~5 ms), no memory traffic
  const spin = (n: number): number => {
    let s = 1;
    for (let i = 0; i < n; i++) s = (Math.imul(s, 1664525) + 1013904223) | 0;
    return s;
  };
  const N = 2e7;
  const w = new Worker(
    `const { workerData: { flag, src, dst, half, N, module, memory, bytes } } = require('node:worker_threads');
    const spin = ${spin.toString()};
    const { s: st, l: ld } = new WebAssembly.Instance(module, { e: { m: memory } }).exports;
    for (;;) {
      Atomics.wait(flag, 0, 0);
      const cmd = Atomics.load(flag, 0);
      if (cmd === 2) break;
      if (cmd === 3) flag[2] = spin(N);
      else if (cmd === 4) st(half, bytes & ~63);
      else if (cmd === 5) ld(half, bytes & ~63);
      else dst.set(src.subarray(half), half);
      Atomics.store(flag, 0, 0);
      Atomics.store(flag, 1, 1);
      Atomics.notify(flag, 1);
    }`,
    { eval: true, workerData: { flag, src, dst, half, N, module, memory, bytes } },
  );
  const both = (cmd: number, mine: () => void): void => {
    Atomics.store(flag, 1, 0);
    Atomics.store(flag, 0, cmd);
    Atomics.notify(flag, 0);
    mine();
    Atomics.wait(flag, 1, 0);
  };
  return {
    copy: () => both(1, () => dst.set(src.subarray(0, half))),
    store: () => both(4, () => st(0, half)),
    store1: () => st(0, bytes & ~63),
    load: () => both(5, () => ld(0, half)),
    load1: () => ld(0, bytes & ~63),
    /**
     * How many times one thread's pure ALU work the two threads do in the same time (2.0: two free
     * cores; a VM whose host gives it less than two cores' time shows less): medians of 5.
     */
    alu: () => {
      const one: number[] = [];
      const two: number[] = [];
      for (let i = 0; i < 5; i++) {
        let t0 = performance.now();
        flag[3] = spin(N);
        one.push(performance.now() - t0);
        t0 = performance.now();
        both(3, () => {
          flag[3] = spin(N);
        });
        two.push(performance.now() - t0);
      }
      return (2 * medianS(one)) / medianS(two);
    },
    close: () => {
      Atomics.store(flag, 0, 2);
      Atomics.notify(flag, 0);
      return w.terminate();
    },
  };
}

/** The median of `t` (sorts it in place; the lower middle of an even count). */
function middle(t: number[]): number {
  return t.sort((x, y) => x - y)[Math.floor((t.length - 1) / 2)]!;
}

/** The median of times `t` in milliseconds, in seconds. */
function medianS(t: number[]): number {
  return middle(t) / 1e3;
}

/**
 * Alternate `one` and `pool` runs (after warm-ups: V8 runs a new wasm function through its baseline
 * compiler for its first calls, about 10 calls of these kernels on this thread), each pair in alternating
 * order; the medians in seconds and the median of the pairs' ratios one ÷ pool (two runs milliseconds
 * apart: the host's drift, which moves the medians of a row by up to 25 % between two runs of the bench,
 * mostly cancels in a pair).
 */
async function pair(one: () => unknown, pool: () => Promise<unknown>, runs: number): Promise<[number, number, number]> {
  for (let i = 0; i < (QUICK ? 2 : 12); i++) {
    await one();
    await pool();
  }
  const a: number[] = [];
  const b: number[] = [];
  const time = async (fn: () => unknown, into: number[]): Promise<void> => {
    const t0 = performance.now();
    await fn();
    into.push(performance.now() - t0);
  };
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      await time(one, a);
      await time(pool, b);
    } else {
      await time(pool, b);
      await time(one, a);
    }
  }
  const ratios = a.map((t, i) => t / b[i]!);
  return [medianS(a), medianS(b), middle(ratios)];
}

function sharedCopy(a: Float32Array): Float32Array {
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

export async function main(): Promise<void> {
  setKernelBackend('wasm');
  const pool = await KernelPool.create({ minElements: 0, minElementsPlain: 0 }); // measure the split itself
  const H = QUICK ? 8 : 32;
  const T = QUICK ? 256 : 4096;
  const D = 128;
  const n = H * T * D;
  const shape = [H, T, D];
  const data = lcgData(n, 12345);
  const x = { dtype: 'float32' as const, data, shape };
  const xs = { ...x, data: sharedCopy(data) };
  const out1 = new Float32Array(n);
  const outP = new Float32Array(n);
  const outS = new Float32Array(new SharedArrayBuffer(n * 4));
  const runs = QUICK ? 3 : 21;
  // the same tensors in the memory of this pool and of a one-thread pool (its "1 thread")
  const pool1 = await KernelPool.create({ threads: 1 });
  const inMem = (p: KernelPool) => {
    const xm = { ...x, data: p.float32(n) };
    xm.data.set(data);
    return { p, x: xm, out: p.float32(n) };
  };
  const [m1, mp] = [inMem(pool1), inMem(pool)];
  /** Outputs shaped like `like`'s, in `p`'s memory. */
  const kiviOut = (
    p: KernelPool,
    like: { codes: Uint32Array; scales: ArrayLike<number>; mins: ArrayLike<number> },
  ) => ({
    codes: p.uint32(like.codes.length),
    scales: p.float32(like.scales.length),
    mins: p.float32(like.mins.length),
  });
  console.log(
    `\n# ${machineLine().replace('1 thread', `pool: ${pool.threads} threads (caller + ${pool.threads - 1} workers)`)}`,
  );
  console.log(
    `\n## worker pool vs one thread, wasm kernels, [${shape.join(', ')}] float32 (${(n * 4e-6).toFixed(1)} MB)`,
  );
  console.log(
    '| kernel | input | memcpy ms | 2-thread copy ms | JS twin ms | 1 thread ms | pool ms | pool GB/s | 1 thread ÷ copy | pool ÷ copy | pool ÷ 2-thread copy | pool × 1 thread | × (pairs) | 1-thread read ms | 2-thread read ms | 1-thread write ms | 2-thread write ms | streams 2-thread × (read; write) | stream-bound × | pool × JS twin | 2-thread ALU × |',
  );
  console.log(`|${'---|'.repeat(21)}`);
  const two = twoThreads(n * 4);
  const src = new Uint8Array(n * 4);
  const dst = new Uint8Array(n * 4);
  for (let i = 0; i < src.length; i += 4096) src[i] = i & 255;
  const median = (fn: () => unknown, reps: number): number => {
    const t: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      fn();
      t.push(performance.now() - t0);
    }
    return medianS(t);
  };
  /** `twin`: the single-threaded call on plain arrays whose JS kernel is timed (default `one`). */
  const row = async (
    name: string,
    kind: string,
    one: () => unknown,
    many: () => Promise<unknown>,
    twin: () => unknown = one,
  ): Promise<void> => {
    const [t1, tp, tr] = await pair(one, many, runs);
    const tc = median(() => dst.set(src), runs);
    median(two.copy, 2); // (wakes the worker's core)
    const tc2 = median(two.copy, runs);
    // the machine's memory streams at this moment: one thread, then two threads, reading / writing the
    // n floats; the pooled kernel cannot beat two threads' stream of its main traffic (decoders write n
    // floats, the others read them)
    const [tr1, tr2] = await pair(two.load1, async () => two.load(), runs);
    const [tw1, tw2] = await pair(two.store1, async () => two.store(), runs);
    const floor = name.includes('dequantize') ? tw2 : tr2;
    const alu = QUICK ? Number.NaN : two.alu();
    setKernelBackend('js');
    twin(); // warm-up of the JS twin
    const tj = median(twin, QUICK ? 1 : 3);
    setKernelBackend('wasm');
    const ms = (t: number): string => (t * 1e3).toFixed(2);
    console.log(
      `| ${name} | ${kind} | ${ms(tc)} | ${ms(tc2)} | ${ms(tj)} | ${ms(t1)} | ${ms(tp)} | ${((n * 4) / tp / 1e9).toFixed(2)} | ${(tc / t1).toFixed(2)} | ${(tc / tp).toFixed(2)} | ${(tc2 / tp).toFixed(2)} | ${(t1 / tp).toFixed(2)}× | ${tr.toFixed(2)}× | ${ms(tr1)} | ${ms(tr2)} | ${ms(tw1)} | ${ms(tw2)} | ${(tr1 / tr2).toFixed(2)}; ${(tw1 / tw2).toFixed(2)} | ${(t1 / floor).toFixed(2)}× | ${(tj / tp).toFixed(1)}× | ${QUICK ? '–' : `${alu.toFixed(2)}×`} |`,
    );
  };
  for (const bits of [2, 4, 8] as KiviBits[]) {
    const o = { bits, groupSize: 32 };
    for (const kind of ['Keys', 'Values'] as const) {
      const q = kind === 'Keys' ? quantizeKeys : quantizeValues;
      const qp = (p: KernelPool, t: Float32Tensor, op: KiviQuantizeOptions) =>
        kind === 'Keys' ? p.quantizeKeys(t, op) : p.quantizeValues(t, op);
      // preallocated outputs (fresh per-call outputs page-fault on this VM: 8 vs 35 ms at random)
      const ref = q(x, o);
      const po = {
        ...o,
        out: { codes: ref.codes, scales: ref.scales as Float32Array, mins: ref.mins as Float32Array },
      };
      const name = `KIVI-${bits} quantize${kind}`;
      await row(
        name,
        'plain',
        () => q(x, po),
        () => qp(pool, x, po),
      );
      await row(
        name,
        'shared',
        () => q(x, po),
        () => qp(pool, xs, po),
      );
      const [o1, oP] = [
        { ...o, out: kiviOut(pool1, ref) },
        { ...o, out: kiviOut(pool, ref) },
      ];
      await row(
        name,
        'pool memory',
        () => qp(pool1, m1.x, o1),
        () => qp(pool, mp.x, oP),
        () => q(x, po),
      );
      const dn = `KIVI-${bits} dequantize ${kind.toLowerCase()}`;
      await row(
        dn,
        'plain out',
        () => dequantize(ref, out1),
        () => pool.dequantize(ref, outP),
      );
      await row(
        dn,
        'shared out',
        () => dequantize(ref, out1),
        () => pool.dequantize(ref, outS),
      );
      const [q1, qP] = [await qp(pool1, m1.x, o1), await qp(pool, mp.x, oP)];
      const d1 = () => pool1.dequantize(q1, m1.out);
      await row(
        dn,
        'pool memory',
        d1,
        () => pool.dequantize(qP, mp.out),
        () => dequantize(ref, out1),
      );
    }
  }
  const ao = { bits: 4, axis: -1, groupSize: 128 };
  const aP = quantizeAffine(x, ao);
  const aoo = {
    ...ao,
    out: { codes: aP.codes as Uint8Array, scales: aP.scales as Float32Array, zeros: aP.zeros as Float32Array },
  };
  await row(
    'affine 4-bit quantize',
    'plain',
    () => quantizeAffine(x, aoo),
    () => pool.quantizeAffine(x, aoo),
  );
  await row(
    'affine 4-bit quantize',
    'shared',
    () => quantizeAffine(x, aoo),
    () => pool.quantizeAffine(xs, aoo),
  );
  const aOut = (p: KernelPool) => ({
    ...ao,
    out: { codes: p.uint8(aP.codes.length), scales: p.float32(aP.scales.length), zeros: p.float32(aP.zeros.length) },
  });
  const [a1, ap] = [aOut(pool1), aOut(pool)];
  await row(
    'affine 4-bit quantize',
    'pool memory',
    () => pool1.quantizeAffine(m1.x, a1),
    () => pool.quantizeAffine(mp.x, ap),
    () => quantizeAffine(x, aoo),
  );
  const qa = quantizeAffine(x, ao);
  await row(
    'affine 4-bit dequantize',
    'plain out',
    () => dequantizeAffine(qa, out1),
    () => pool.dequantizeAffine(qa, outP),
  );
  await row(
    'affine 4-bit dequantize',
    'shared out',
    () => dequantizeAffine(qa, out1),
    () => pool.dequantizeAffine(qa, outS),
  );
  const [qa1, qap] = [await pool1.quantizeAffine(m1.x, a1), await pool.quantizeAffine(mp.x, ap)];
  await row(
    'affine 4-bit dequantize',
    'pool memory',
    () => pool1.dequantizeAffine(qa1, m1.out),
    () => pool.dequantizeAffine(qap, mp.out),
    () => dequantizeAffine(qa, out1),
  );
  for (const format of ['mxfp4', 'mxfp8_e4m3', 'mxfp8_e5m2', 'bfp12', 'bfp16'] as const) {
    const qb = quantizeBlocks(x, { format, blockSize: 32 });
    const bo = { format, blockSize: 32, out: { scales: qb.scales.slice(), codes: qb.codes.slice() } };
    await row(
      `${format} quantizeBlocks`,
      'plain',
      () => quantizeBlocks(x, bo),
      () => pool.quantizeBlocks(x, bo),
    );
    await row(
      `${format} quantizeBlocks`,
      'shared',
      () => quantizeBlocks(x, bo),
      () => pool.quantizeBlocks(xs, bo),
    );
    const bOut = (p: KernelPool) => ({
      format,
      blockSize: 32,
      out: { scales: p.uint8(qb.scales.length), codes: p.uint8(qb.codes.length) },
    });
    const [b1, bp] = [bOut(pool1), bOut(pool)];
    await row(
      `${format} quantizeBlocks`,
      'pool memory',
      () => pool1.quantizeBlocks(m1.x, b1),
      () => pool.quantizeBlocks(mp.x, bp),
      () => quantizeBlocks(x, bo),
    );
    await row(
      `${format} dequantizeBlocks`,
      'plain out',
      () => dequantizeBlocks(qb, out1),
      () => pool.dequantizeBlocks(qb, outP),
    );
    await row(
      `${format} dequantizeBlocks`,
      'shared out',
      () => dequantizeBlocks(qb, out1),
      () => pool.dequantizeBlocks(qb, outS),
    );
    const [qb1, qbp] = [await pool1.quantizeBlocks(m1.x, b1), await pool.quantizeBlocks(mp.x, bp)];
    await row(
      `${format} dequantizeBlocks`,
      'pool memory',
      () => pool1.dequantizeBlocks(qb1, m1.out),
      () => pool.dequantizeBlocks(qbp, mp.out),
      () => dequantizeBlocks(qb, out1),
    );
  }
  const fr = n / 4096;
  const f1 = { dtype: 'float32' as const, data: out1, shape: [fr, 4096] };
  const fp = { dtype: 'float32' as const, data: outP, shape: [fr, 4096] };
  const fs = { dtype: 'float32' as const, data: outS, shape: [fr, 4096] };
  await row(
    'FWHT n = 4096 (in place)',
    'plain',
    () => fwht(f1),
    () => pool.fwht(fp),
  );
  await row(
    'FWHT n = 4096 (in place)',
    'shared',
    () => fwht(f1),
    () => pool.fwht(fs),
  );
  await row(
    'FWHT n = 4096 (in place)',
    'pool memory',
    // (on the outputs' buffers: the transform in place would change the tensor the sweep below quantizes)
    () => pool1.fwht({ ...m1.x, data: m1.out, shape: [fr, 4096] }),
    () => pool.fwht({ ...mp.x, data: mp.out, shape: [fr, 4096] }),
    () => fwht(f1),
  );
  // bit-plane GEMV (mwq) of a square weight of n elements (matquant, 8 bits, groups of 128) at level 4
  // (5 planes read): plain, and with the store, x and y in the pool memory (KernelPool.nestedWeights)
  const side = Math.sqrt(n);
  const nw = quantizeNested(
    { dtype: 'float32', data: data.subarray(0, n), shape: [side, side] },
    { scheme: 'matquant' },
  );
  const gx = lcgData(side, 99);
  const gy = new Float32Array(side);
  const gMem = (p: KernelPool) => {
    const v = p.float32(side);
    v.set(gx);
    return { w: p.nestedWeights(nw), x: v, y: p.float32(side) };
  };
  const [g1, gp] = [gMem(pool1), gMem(pool)];
  const gName = `bit-plane GEMV [${side}, ${side}], r = 4`;
  await row(
    gName,
    'plain',
    () => gemv(nw, gx, 4, gy),
    () => pool.gemv(nw, gx, 4, gy),
  );
  await row(
    gName,
    'pool memory',
    () => pool1.gemv(g1.w, g1.x, 4, g1.y),
    () => pool.gemv(gp.w, gp.x, 4, gp.y),
    () => gemv(nw, gx, 4, gy),
  );

  // threshold: pool speed-up by size, plain and shared input (plain preallocated outputs), and input and
  // outputs in the pool memory (a one-thread pool's for "1 thread")
  const sweepOut = (p: KernelPool) => ({
    kivi: { codes: p.uint32(n / 16), scales: p.float32(n / 32), mins: p.float32(n / 32) },
    mx: { scales: p.uint8(n / 32), codes: p.uint8(n / 2) },
  });
  const [so1, soP] = [sweepOut(pool1), sweepOut(pool)];
  // plain outputs for the plain and shared columns (preallocated too: fresh ones page-fault at random)
  const soPlain = {
    kivi: { codes: new Uint32Array(n / 16), scales: new Float32Array(n / 32), mins: new Float32Array(n / 32) },
    mx: { scales: new Uint8Array(n / 32), codes: new Uint8Array(n / 2) },
  };
  console.log('\n## pool speed-up by tensor size (rows of 128 channels; speed-up = 1 thread ms ÷ pool ms)');
  console.log(
    '| elements | KIVI-2 quantizeValues, plain | shared | pool memory | mxfp4 quantizeBlocks, plain | shared | pool memory |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const e of QUICK
    ? [1 << 14, 1 << 18]
    : [1 << 16, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22, 1 << 23, 1 << 24]) {
    const cells: string[] = [];
    const reps = Math.max(runs, Math.min(200, Math.floor((1 << 24) / e)));
    const o = { bits: 2 as const, groupSize: 32 };
    const bo = { format: 'mxfp4' as const, blockSize: 32 };
    const sh = [e / 128, 128];
    const ko = (q: (typeof so1)['kivi']) => ({
      ...o,
      out: {
        codes: q.codes.subarray(0, e / 16),
        scales: q.scales.subarray(0, e / 32),
        mins: q.mins.subarray(0, e / 32),
      },
    });
    const mo = (q: (typeof so1)['mx']) => ({
      ...bo,
      out: { scales: q.scales.subarray(0, e / 32), codes: q.codes.subarray(0, e / 2) },
    });
    for (const which of ['kivi', 'mx'] as const)
      for (const [src1, srcP, p1] of [
        [data, data, null],
        [xs.data, xs.data, null],
        [m1.x.data, mp.x.data, pool1],
      ] as const) {
        const t1 = { dtype: 'float32' as const, data: src1.subarray(0, e), shape: sh };
        const tp = { dtype: 'float32' as const, data: srcP.subarray(0, e), shape: sh };
        const [a, b] =
          which === 'kivi'
            ? await pair(
                () => (p1 === null ? quantizeValues(t1, ko(soPlain.kivi)) : p1.quantizeValues(t1, ko(so1.kivi))),
                () => pool.quantizeValues(tp, ko(p1 === null ? soPlain.kivi : soP.kivi)),
                reps,
              )
            : await pair(
                () => (p1 === null ? quantizeBlocks(t1, mo(soPlain.mx)) : p1.quantizeBlocks(t1, mo(so1.mx))),
                () => pool.quantizeBlocks(tp, mo(p1 === null ? soPlain.mx : soP.mx)),
                reps,
              );
        cells.push(`${(a / b).toFixed(2)}× (${(a * 1e3).toFixed(2)} / ${(b * 1e3).toFixed(2)} ms)`);
      }
    console.log(`| ${e} | ${cells.join(' | ')} |`);
  }
  await two.close();
  await pool.close();
  await pool1.close();
  setKernelBackend('auto');
}
