/**
 * `lowbit eval-model [--model stories260K|mamba-tiny] [--kv …] [--weights …] [--json] [--html out.html]`:
 * the end-to-end table of a shipped model — perplexity, KL from float32, top-1 agreement and KV bytes
 * per token for each KV cache / weight configuration, beside the float32 baseline.
 *
 * `--json` prints one object (schema `lowbit.eval-model/1`):
 * `{ schema, model, data, calibration, sequences, length, rows: [{ spec, label, kind ('baseline' | 'kv' |
 * 'weights'), nll, ppl, kl, top1, tokens, kvBytesPerToken (number | null), notes: string[] }] }`
 * (nll and kl in nats per token; top1 a fraction).
 *
 * Exposed: evalModelCommand, intOption, progressBar.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LowbitError } from '../common/errors.js';
import { type EvalModelResult, evalModel, type ModelName } from '../eval/run.js';
import { barChart, htmlPage, htmlTable } from './html.js';
import { alignTable, type CliCommand, type CliIo, formatNumber, parseOrUsage, UsageError } from './io.js';

const USAGE = `Usage: lowbit eval-model [--model stories260K|mamba-tiny] [--kv SPEC[,SPEC…]] [--weights SPEC[,SPEC…]]
                         [--sequences N] [--length T] [--seed S] [--calib-sequences N] [--calib-length T]
                         [--calib-seed S] [--json] [--html out.html]

Scores each configuration against the float32 model (teacher-forced NLL/perplexity, mean KL from the
float32 next-token distribution, top-1 agreement, KV cache bytes per token). Default: --model stories260K
--kv all (or --weights all for mamba-tiny), 16 sequences x 256 tokens, seed 1000.

KV specs (stories260K): float32 | kivi<b>[v<b>][-g<G>][-gv<Gv>][-r<R>] | pertoken<b>[v<b>][-g<G>] |
  <bfp12|bfp14|bfp16|bfp24|mxfp4|mxfp6_e2m3|mxfp6_e3m2|mxfp8_e4m3|mxfp8_e5m2|mxint8>[-b<n>][-konly]
  [-ksort-head|-ksort-layer] | all
Weight specs: mwq-<matquant|truncate|residual>-<level> | w<wb>a<ab>-<none|hadamard|klt-hadamard|
  smooth-hadamard|smooth-klt-hadamard>[-fused (mamba-tiny)] | all
`;

/** A non-negative integer option value, or a usage error. */
export function intOption(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return Number(v);
}

/** A progress bar on stderr when it is a terminal (and not with --json); a no-op otherwise. */
export function progressBar(io: CliIo, enabled: boolean): (done: number, total: number, label: string) => void {
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  if (!enabled || !tty) return () => {};
  return (done, total, label) => {
    const w = 24;
    const f = Math.floor((done / Math.max(1, total)) * w);
    const bar = `[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${done}/${total} ${label}`.slice(0, 100);
    io.stderr.write(`\r\x1b[K${bar}${done >= total ? '\n' : ''}`);
  };
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: false,
    strict: true,
    options: {
      model: { type: 'string' },
      kv: { type: 'string', multiple: true },
      weights: { type: 'string', multiple: true },
      sequences: { type: 'string' },
      length: { type: 'string' },
      seed: { type: 'string' },
      'calib-sequences': { type: 'string' },
      'calib-length': { type: 'string' },
      'calib-seed': { type: 'string' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Render the result as an aligned text table. */
export function evalModelTable(r: EvalModelResult): string {
  const rows = r.rows.map((x) => [
    x.label,
    formatNumber(Number(x.ppl.toFixed(4))),
    formatNumber(Number(x.nll.toFixed(4))),
    formatNumber(Number(x.kl.toFixed(4))),
    `${(100 * x.top1).toFixed(1)}%`,
    x.kvBytesPerToken === null ? '-' : formatNumber(Number(x.kvBytesPerToken.toFixed(1))),
  ]);
  const notes = r.rows.flatMap((x) => x.notes.map((n) => `  ${x.label}: ${n}`));
  return `${r.model}: ${r.data}\ncalibration: ${r.calibration}\n\n${alignTable(
    ['config', 'ppl', 'nll', 'KL', 'top-1', 'KV B/token'],
    rows,
    [false, true, true, true, true, true],
  )}${notes.length > 0 ? `\nnotes:\n${[...new Set(notes)].join('\n')}\n` : ''}`;
}

/** The self-contained HTML report of an eval-model run. */
export function evalModelHtml(r: EvalModelResult): string {
  const labels = r.rows.map((x) => x.label);
  return htmlPage(
    `lowbit eval-model: ${r.model}`,
    [
      [
        'Perplexity per configuration',
        barChart(
          'perplexity',
          labels,
          r.rows.map((x) => x.ppl),
          { log: true, reference: r.rows[0]!.ppl },
        ),
      ],
      [
        'KL from float32 (nats/token)',
        barChart(
          'KL',
          labels,
          r.rows.map((x) => x.kl),
        ),
      ],
      [
        'Table',
        htmlTable(
          ['config', 'ppl', 'nll', 'KL', 'top-1', 'KV B/token'],
          r.rows.map((x) => [
            x.label,
            x.ppl.toFixed(4),
            x.nll.toFixed(4),
            x.kl.toFixed(4),
            `${(100 * x.top1).toFixed(1)}%`,
            x.kvBytesPerToken === null ? '-' : x.kvBytesPerToken.toFixed(1),
          ]),
        ),
      ],
    ],
    `${r.data}. Calibration: ${r.calibration}.`,
  );
}

/** The `eval-model` subcommand. */
export const evalModelCommand: CliCommand = {
  name: 'eval-model',
  summary: 'end-to-end quality (ppl, KL, top-1, KV bytes) of quantized stories260K / mamba-tiny',
  usage: USAGE,
  run(args: readonly string[], io: CliIo): number {
    const p = parseOrUsage(() => parse(args));
    const v = p.values;
    if (v.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    const model = (v.model ?? 'stories260K') as ModelName;
    if (model !== 'stories260K' && model !== 'mamba-tiny')
      throw new UsageError(`--model must be stories260K or mamba-tiny, got '${v.model}'`);
    let kv = v.kv;
    let weights = v.weights;
    if (kv === undefined && weights === undefined) {
      if (model === 'stories260K') kv = ['all'];
      else weights = ['all'];
    }
    const opt = {
      sequences: intOption(v.sequences, 'sequences', 1),
      length: intOption(v.length, 'length', 2),
      seed: intOption(v.seed, 'seed', 0),
      calibrationSequences: intOption(v['calib-sequences'], 'calib-sequences', 1),
      calibrationLength: intOption(v['calib-length'], 'calib-length', 2),
      calibrationSeed: intOption(v['calib-seed'], 'calib-seed', 0),
    };
    const clean = Object.fromEntries(Object.entries(opt).filter(([, x]) => x !== undefined));
    const r = evalModel({
      model,
      ...(kv !== undefined ? { kv } : {}),
      ...(weights !== undefined ? { weights } : {}),
      ...clean,
      onProgress: progressBar(io, v.json !== true),
    });
    if (v.html !== undefined) {
      try {
        writeFileSync(v.html, evalModelHtml(r));
      } catch (e) {
        throw new LowbitError('E_IO', `cannot write ${v.html}: ${(e as Error).message}`);
      }
    }
    if (v.json) io.stdout.write(`${JSON.stringify({ schema: 'lowbit.eval-model/1', ...r }, null, 2)}\n`);
    else io.stdout.write(evalModelTable(r));
    return 0;
  },
};
