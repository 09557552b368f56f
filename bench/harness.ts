/**
 * Tiny benchmark harness: medians of repeated runs after warm-up, reported as GB/s of input bytes and
 * elements/s, beside a same-process memory copy of the same number of bytes (the physical limit), run in
 * pairs with each case (copy, case, copy, case, …) so that "÷ copy" compares copies and kernel runs made at
 * the same moment.
 * `LOWBIT_BENCH_QUICK=1` (CI smoke) shrinks sizes and repetitions so every benchmark still executes.
 */
import { cpus, platform, release } from 'node:os';

/** One measured variant. */
export interface BenchCase {
  name: string;
  /** The work; called once per run (a returned promise is awaited inside the timing). */
  fn: () => unknown;
  /** A baseline (a copy, not a kernel): no speed-up over the twin is printed for it. */
  baseline?: boolean;
}

export interface BenchGroup {
  title: string;
  /** Input bytes one run reads (used for GB/s and for the copy baseline). */
  bytes: number;
  /** Elements one run processes. */
  elements: number;
  cases: BenchCase[];
  /** Runs per case (default 15, quick 3). */
  runs?: number;
  /** Name of the case (the JS / reference twin) each row's speed-up is printed against. */
  twin?: string;
}

export const QUICK = process.env.LOWBIT_BENCH_QUICK === '1' || process.env.CI === 'true';

let sink = 0;

async function time(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  let r = fn();
  if (r instanceof Promise) r = await r;
  const t1 = process.hrtime.bigint();
  if (r !== undefined && r !== null) sink ^= 1;
  return Number(t1 - t0) / 1e9;
}

function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Print the machine line once per process. */
let printedMachine = false;
export function machineLine(): string {
  const cpu = cpus();
  return `node ${process.version}, ${cpu[0]?.model ?? 'unknown CPU'} × ${cpu.length} cores, ${platform()} ${release()}, 1 thread${QUICK ? ', QUICK sizes' : ''}`;
}

/** Measure a group and print a table; returns the rows. */
export async function runGroup(g: BenchGroup): Promise<{ name: string; medianS: number; gbps: number; eps: number }[]> {
  if (!printedMachine) {
    console.log(`\n# ${machineLine()}`);
    printedMachine = true;
  }
  const runs = g.runs ?? (QUICK ? 3 : 15);
  const src = new Uint8Array(g.bytes);
  const dst = new Uint8Array(g.bytes);
  for (let i = 0; i < src.length; i += 4096) src[i] = i & 255;
  const copy = (): void => dst.set(src);
  const rows: {
    name: string;
    baseline?: boolean | undefined;
    medianS: number;
    gbps: number;
    eps: number;
    p75: number;
    p99: number;
    copyS: number;
  }[] = [];
  // each case runs in pairs with the memory copy (copy, case, copy, case, …), so its "÷ copy" compares
  // it with copies made at the same moment (the copy speed of a shared VM drifts by 2× within a minute)
  const copies: number[] = [];
  for (const c of g.cases) {
    for (let w = 0; w < (QUICK ? 1 : 3); w++) {
      await time(copy);
      await time(c.fn);
    }
    const t: number[] = [];
    const tc: number[] = [];
    for (let r = 0; r < runs; r++) {
      tc.push(await time(copy));
      t.push(await time(c.fn));
    }
    t.sort((a, b) => a - b);
    tc.sort((a, b) => a - b);
    copies.push(...tc);
    const med = quantile(t, 0.5);
    rows.push({
      name: c.name,
      baseline: c.baseline,
      medianS: med,
      gbps: g.bytes / med / 1e9,
      eps: g.elements / med,
      p75: quantile(t, 0.75),
      p99: quantile(t, 0.99),
      copyS: quantile(tc, 0.5),
    });
  }
  copies.sort((a, b) => a - b);
  const cm = quantile(copies, 0.5);
  rows.unshift({
    name: 'memcpy (dst.set(src))',
    baseline: true,
    medianS: cm,
    gbps: g.bytes / cm / 1e9,
    eps: g.elements / cm,
    p75: quantile(copies, 0.75),
    p99: quantile(copies, 0.99),
    copyS: cm,
  });
  console.log(`\n## ${g.title}  (${(g.bytes / 1e6).toFixed(1)} MB input, ${g.elements} elements, median of ${runs})`);
  const twin = g.twin === undefined ? undefined : rows.find((r) => r.name === g.twin);
  const tw = twin === undefined ? '' : ` × ${twin.name} |`;
  console.log(`| variant | median ms | p75 ms | p99 ms | GB/s | Melem/s | ÷ copy |${tw}`);
  console.log(`|---|---|---|---|---|---|---|${twin === undefined ? '' : '---|'}`);
  for (const r of rows) {
    const x = twin === undefined ? '' : ` ${r.baseline ? '' : `${(twin.medianS / r.medianS).toFixed(1)}×`} |`;
    console.log(
      `| ${r.name} | ${(r.medianS * 1e3).toFixed(2)} | ${(r.p75 * 1e3).toFixed(2)} | ${(r.p99 * 1e3).toFixed(2)} | ${r.gbps.toFixed(3)} | ${(r.eps / 1e6).toFixed(1)} | ${(r.copyS / r.medianS).toFixed(3)} |${x}`,
    );
  }
  if (sink === 42) console.log('');
  return rows;
}

/** `n` float32 values in [−2, 2) from xorshift32 (`seed` ≠ 0). Same data in every run. */
export function randomData(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 4;
  }
  return out;
}

/** `n` float32 values in [−2, 2) from the 32-bit LCG (1664525, 1013904223) started at `seed`. */
export function lcgData(n: number, seed: number): Float32Array {
  const d = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = (s / 4294967296) * 4 - 2;
  }
  return d;
}
