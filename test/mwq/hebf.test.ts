import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LowbitError } from '../../src/common/errors.js';
import {
  type HebfInput,
  type HebfLevelCost,
  type PipelineResult,
  scheduleHEBF,
  scheduleOptimal,
  simulatePipeline,
  syntheticTrace,
} from '../../src/mwq/index.js';

const COSTS: HebfLevelCost[] = [
  { bits: 2, load: 4, compute: 1, bytes: 4 },
  { bits: 3, load: 2, compute: 1, bytes: 2 },
];

/** Check every invariant of mwq.md §7.11 plus the timing and memory model. */
function checkInvariants(input: HebfInput, res: PipelineResult, maxBits = false): void {
  const costs = input.costs;
  const K = costs.length;
  const kOf = (bits: number) => costs.findIndex((c) => c.bits === bits);
  // frequencies
  const freq = input.requests.map((reqs) => {
    const sel = new Array<number>(K).fill(0);
    for (const r of reqs) sel[kOf(r.bits)] = sel[kOf(r.bits)]! + r.tokens;
    if (maxBits) return new Array<number>(K).fill(sel.reduce((a, b) => a + b, 0));
    return sel.map((_, k) => sel.slice(k).reduce((a, b) => a + b, 0));
  });
  const resident = new Set((input.resident ?? []).map((r) => `${r.expert}:${r.bits}`));
  const needed = new Set<string>();
  freq.forEach((f, j) => {
    f.forEach((v, k) => {
      if (v > 0) needed.add(`${j}:${costs[k]!.bits}`);
    });
  });
  // each needed increment loaded or resident exactly once
  const seen = new Map<string, number>();
  for (const it of res.timeline) seen.set(`${it.expert}:${it.bits}`, (seen.get(`${it.expert}:${it.bits}`) ?? 0) + 1);
  expect(new Set(seen.keys())).toEqual(needed);
  for (const v of seen.values()) expect(v).toBe(1);
  for (const it of res.timeline) expect(it.resident).toBe(resident.has(`${it.expert}:${it.bits}`));
  // loads: in ioQueue order, back to back, ascending levels per expert
  const loads = res.timeline.filter((t) => !t.resident);
  expect(loads.map((t) => ({ expert: t.expert, bits: t.bits }))).toEqual(res.ioQueue);
  const lastBits = new Map<number, number>();
  let tIO = 0;
  let tC = 0;
  for (const t of res.timeline) {
    const c = costs[kOf(t.bits)]!;
    if (!t.resident) {
      expect(t.loadStart).toBeGreaterThanOrEqual(tIO - 1e-9);
      expect(t.loadEnd - t.loadStart).toBeCloseTo(c.load, 9);
      tIO = t.loadEnd;
      expect(t.bits).toBeGreaterThan(lastBits.get(t.expert) ?? 0);
      lastBits.set(t.expert, t.bits);
      expect(t.compStart).toBeGreaterThanOrEqual(t.loadEnd - 1e-9); // compute never before its load ends
    }
    expect(t.compStart).toBeGreaterThanOrEqual(tC - 1e-9);
    expect(t.compEnd - t.compStart).toBeCloseTo(t.tokens * c.compute, 9);
    expect(t.tokens).toBe(freq[t.expert]![kOf(t.bits)]);
    tC = t.compEnd;
  }
  expect(res.makespan).toBeCloseTo(Math.max(tC, tIO), 9);
  // memory replay: never above the budget; an evicted item had finished computing
  const doneAt = new Map<string, number>();
  for (const t of res.timeline) doneAt.set(`${t.expert}:${t.bits}`, t.compEnd);
  let used = (input.resident ?? []).reduce((a, r) => a + costs[kOf(r.bits)]!.bytes, 0);
  let ev = 0;
  const evs = res.evictions;
  const pre = evs.filter((e) => e.time === 0 && !needed.has(`${e.expert}:${e.bits}`));
  for (const e of pre) used -= costs[kOf(e.bits)]!.bytes;
  ev = 0;
  const rest = evs.filter((e) => !pre.includes(e));
  let peak = used;
  expect(used).toBeLessThanOrEqual(input.memoryBudget);
  for (const t of loads) {
    while (ev < rest.length && rest[ev]!.time <= t.loadStart + 1e-12) {
      const e = rest[ev++]!;
      const d = doneAt.get(`${e.expert}:${e.bits}`);
      if (d !== undefined) expect(d).toBeLessThanOrEqual(e.time + 1e-9);
      used -= costs[kOf(e.bits)]!.bytes;
    }
    used += costs[kOf(t.bits)]!.bytes;
    peak = Math.max(peak, used);
    expect(used).toBeLessThanOrEqual(input.memoryBudget + 1e-9);
  }
  expect(res.peakMemory).toBeLessThanOrEqual(input.memoryBudget);
  expect(res.peakMemory).toBeCloseTo(Math.max(peak, res.peakMemory), 9);
}

describe('HEBF scheduler', () => {
  it('hand example: HEBF, FIFO and all-max-bits timelines', () => {
    const input: HebfInput = {
      requests: [[{ bits: 2, tokens: 1 }], [{ bits: 3, tokens: 3 }]],
      costs: COSTS,
      memoryBudget: Infinity,
    };
    const h = scheduleHEBF(input);
    expect(h.ioQueue).toEqual([
      { expert: 1, bits: 2 },
      { expert: 1, bits: 3 },
      { expert: 0, bits: 2 },
    ]);
    expect(h.timeline.map((t) => [t.loadStart, t.loadEnd, t.compStart, t.compEnd])).toEqual([
      [0, 4, 4, 7],
      [4, 6, 7, 10],
      [6, 10, 10, 11],
    ]);
    expect(h.makespan).toBe(11);
    expect(h.bubbles).toBe(4);
    const f = simulatePipeline(input, 'fifo');
    expect(f.timeline.map((t) => [t.loadStart, t.loadEnd, t.compStart, t.compEnd])).toEqual([
      [0, 4, 4, 5],
      [4, 8, 8, 11],
      [8, 10, 11, 14],
    ]);
    expect(f.makespan).toBe(14);
    const m = simulatePipeline(input, 'max-bits');
    expect(m.makespan).toBe(16);
    expect(m.ioQueue.length).toBe(4);
    for (const [r, mb] of [
      [h, false],
      [f, false],
      [m, true],
    ] as const)
      checkInvariants(input, r, mb);
  });

  it('memory budget: previous-layer high-bit increments evicted first, loads wait for finished computes', () => {
    const input: HebfInput = {
      requests: [[{ bits: 2, tokens: 1 }], [{ bits: 3, tokens: 3 }]],
      costs: COSTS,
      memoryBudget: 6,
      resident: [
        { expert: 5, bits: 2 },
        { expert: 5, bits: 3 },
      ],
    };
    const h = scheduleHEBF(input);
    expect(h.evictions).toEqual([
      { expert: 5, bits: 3, time: 0 },
      { expert: 5, bits: 2, time: 0 },
      { expert: 1, bits: 2, time: 7 },
    ]);
    expect(h.timeline.map((t) => [t.loadStart, t.loadEnd, t.compStart, t.compEnd])).toEqual([
      [0, 4, 4, 7],
      [4, 6, 7, 10],
      [7, 11, 11, 12],
    ]);
    expect(h.makespan).toBe(12);
    expect(h.peakMemory).toBe(6);
    expect(h.finalResident).toEqual([
      { expert: 0, bits: 2 },
      { expert: 1, bits: 3 },
    ]);
    checkInvariants(input, h);
  });

  it('resident needed increments compute first without a load', () => {
    const input: HebfInput = {
      requests: [[{ bits: 3, tokens: 2 }]],
      costs: COSTS,
      memoryBudget: 100,
      resident: [{ expert: 0, bits: 2 }],
    };
    const h = scheduleHEBF(input);
    expect(h.timeline[0]).toMatchObject({ expert: 0, bits: 2, resident: true, compStart: 0, compEnd: 2 });
    expect(h.ioQueue).toEqual([{ expert: 0, bits: 3 }]);
    expect(h.makespan).toBe(4);
    checkInvariants(input, h);
  });

  it('invariants hold on random inputs for every policy, with and without a budget', () => {
    const costs: HebfLevelCost[] = [
      { bits: 2, load: 2, compute: 0.2, bytes: 4 },
      { bits: 3, load: 1, compute: 0.1, bytes: 2 },
      { bits: 4, load: 1, compute: 0.1, bytes: 2 },
    ];
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.record({ bits: fc.constantFrom(2, 3, 4), tokens: fc.integer({ min: 0, max: 9 }) }), {
            maxLength: 3,
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.constantFrom(Infinity, 12, 8),
        fc.array(fc.record({ expert: fc.integer({ min: 0, max: 10 }), bits: fc.constantFrom(2, 3, 4) }), {
          maxLength: 3,
        }),
        (requests, memoryBudget, res) => {
          const seen = new Set<string>();
          const resident = res.filter((r) => !seen.has(`${r.expert}:${r.bits}`) && seen.add(`${r.expert}:${r.bits}`));
          for (const policy of ['hebf', 'fifo', 'max-bits'] as const) {
            const input: HebfInput = { requests, costs, memoryBudget, resident };
            let r: PipelineResult;
            try {
              r = simulatePipeline(input, policy);
            } catch (e) {
              expect((e as LowbitError).code).toBe('E_LIMIT'); // needed residents above a tight budget
              continue;
            }
            checkInvariants(input, r, policy === 'max-bits');
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('on seeded skewed synthetic traces HEBF makespan ≤ FIFO ≤ all-max-bits (no budget and a 40-unit budget)', () => {
    for (const ratio of [0.02, 0.1, 0.5]) {
      const costs: HebfLevelCost[] = [
        { bits: 2, load: 2, compute: 2 * ratio, bytes: 2 },
        { bits: 3, load: 1, compute: ratio, bytes: 1 },
        { bits: 4, load: 1, compute: ratio, bytes: 1 },
      ];
      for (let seed = 0; seed < 10; seed++) {
        const requests = syntheticTrace({
          experts: 16,
          tokens: 64,
          skew: 1.2,
          levelShares: [0.3, 0.4, 0.3],
          ladder: [2, 3, 4],
          topK: 2,
          seed,
        });
        for (const memoryBudget of [Infinity, 40]) {
          const h = scheduleHEBF({ requests, costs, memoryBudget });
          const f = simulatePipeline({ requests, costs, memoryBudget }, 'fifo');
          const m = simulatePipeline({ requests, costs, memoryBudget }, 'max-bits');
          expect(h.makespan).toBeLessThanOrEqual(f.makespan + 1e-9);
          expect(f.makespan).toBeLessThanOrEqual(m.makespan + 1e-9);
        }
      }
    }
  });

  it('brute-force optimum on ≤ 6 loads: HEBF is never better than the optimum and its gap is small', () => {
    const costs: HebfLevelCost[] = [
      { bits: 2, load: 2, compute: 0.5, bytes: 2 },
      { bits: 3, load: 1, compute: 0.25, bytes: 1 },
    ];
    let worst = 0;
    for (let seed = 0; seed < 30; seed++) {
      const requests = syntheticTrace({
        experts: 3,
        tokens: 8,
        skew: 1,
        levelShares: [0.5, 0.5],
        ladder: [2, 3],
        seed,
      });
      const h = scheduleHEBF({ requests, costs, memoryBudget: Infinity });
      const o = scheduleOptimal({ requests, costs, memoryBudget: Infinity });
      expect(h.ioQueue.length).toBeLessThanOrEqual(6);
      expect(o.makespan).toBeLessThanOrEqual(h.makespan + 1e-9);
      worst = Math.max(worst, h.makespan / o.makespan - 1);
    }
    expect(worst).toBeLessThan(0.25);
  });

  it('syntheticTrace is deterministic and skewed', () => {
    const o = { experts: 8, tokens: 400, skew: 1.5, levelShares: [0.3, 0.4, 0.3], ladder: [2, 3, 4], seed: 3 };
    expect(syntheticTrace(o)).toEqual(syntheticTrace(o));
    const per = syntheticTrace(o).map((r) => r.reduce((a, b) => a + b.tokens, 0));
    expect(per.reduce((a, b) => a + b, 0)).toBe(400);
    expect(Math.max(...per)).toBeGreaterThan(3 * (400 / 8));
  });

  it('errors', () => {
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as LowbitError).code;
      }
    };
    const ok: HebfInput = { requests: [[{ bits: 2, tokens: 1 }]], costs: COSTS, memoryBudget: 10 };
    expect(code(() => scheduleHEBF(ok))).toBe('ok');
    expect(code(() => scheduleHEBF({ ...ok, requests: [[{ bits: 4, tokens: 1 }]] }))).toBe('E_CONFIG');
    expect(code(() => scheduleHEBF({ ...ok, costs: [COSTS[1]!, COSTS[0]!] }))).toBe('E_CONFIG');
    expect(code(() => scheduleHEBF({ ...ok, memoryBudget: 0 }))).toBe('E_CONFIG');
    expect(code(() => scheduleHEBF({ ...ok, requests: [[{ bits: 2, tokens: -1 }]] }))).toBe('E_CONFIG');
    expect(code(() => scheduleHEBF({ ...ok, memoryBudget: 3 }))).toBe('E_LIMIT');
    expect(code(() => simulatePipeline(ok, 'lifo' as never))).toBe('E_CONFIG');
    expect(
      code(() => scheduleOptimal({ ...ok, requests: Array.from({ length: 10 }, () => [{ bits: 3, tokens: 1 }]) })),
    ).toBe('E_LIMIT');
  });
});
