/**
 * `lowbit eval <file> [--method M[,M…]] [--bits B[,B…]] [--group G] [--json] [--html out.html]`: quantize
 * every tensor of a .npy/.npz/.safetensors/.gguf file with each method and print bits per element,
 * compression ratio (bits per element in the file, byteLength·8 ÷ elements, ÷ bits per element), nmse, SQNR, max abs error and, for K caches
 * (rank-3 `[heads, tokens, headDim]` tensors), the attention-score error (see lowbit/eval `evalTensor`).
 * Tensors are read one at a time (`openTensorFile`), so memory is bounded by the largest tensor. A
 * progress bar is drawn on stderr when it is a terminal and `--json` is not given.
 *
 * `--json` prints one object (schema `lowbit.eval/1`): `{ schema, file, format, methods, bits, group,
 * rows: [{ tensor, method, bits, groupSize, bitsPerElement, compression, nmse, sqnrDb, maxAbsError,
 * scoreNmse (number | null), skipped? }] }`; non-finite numbers (e.g. SQNR of an exact reconstruction,
 * or a skipped method) are written as null. Tensors whose dtype lowbit cannot decode are listed in
 * `undecodable`.
 *
 * Exposed: evalCommand, evalFile, EvalFileReport.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LowbitError } from '../common/errors.js';
import { openTensorFile } from '../common/io/open.js';
import { evalTensor, TENSOR_METHODS, type TensorEvalRow } from '../eval/tensoreval.js';
import { progressBar } from './eval-model.js';
import { barChart, groupedLines, htmlPage, htmlTable } from './html.js';
import { alignTable, type CliCommand, type CliIo, formatNumber, parseOrUsage, UsageError } from './io.js';

const DEFAULT_METHODS = [
  'kivi-keys',
  'kivi-values',
  'per-token',
  'per-channel',
  'bfp12',
  'bfp12-ksort',
  'mxfp4',
  'mxfp4-ksort',
];

const USAGE = `Usage: lowbit eval <file> [--method M[,M…]] [--bits B[,B…]] [--group G] [--json] [--html out.html]

Quantizes every tensor of a .npy/.npz/.safetensors/.gguf file with each method and prints bits/element,
compression ratio, nmse, SQNR (dB), max abs error and, for rank-3 [heads, tokens, headDim] tensors (K caches),
the attention-score nmse. Last axis = channels, second-to-last = tokens.

Methods: ${TENSOR_METHODS.join(', ')} (or 'all')
Defaults: --method ${DEFAULT_METHODS.join(',')} --bits 2,4 --group 32
`;

/** What `eval --json` prints (before the schema tag). */
export interface EvalFileReport {
  readonly file: string;
  readonly format: string;
  readonly methods: readonly string[];
  readonly bits: readonly number[];
  readonly group: number;
  readonly rows: TensorEvalRow[];
  /** Tensors skipped because their dtype cannot be decoded. */
  readonly undecodable: string[];
  /** Per-channel absmax (over tokens) of rank-3 tensors, original and ascending order: for the report. */
  readonly channelAbsmax: { tensor: string; absmax: number[] }[];
}

/** Bits per element of a tensor as stored in its file (byteLength · 8 ÷ element count; 32 if empty). */
function fileBits(byteLength: number, shape: readonly number[]): number {
  const n = shape.reduce((a, d) => a * d, 1);
  return n > 0 && byteLength > 0 ? (byteLength * 8) / n : 32;
}

/**
 * Evaluate every tensor of a file (one at a time).
 *
 * @example
 * ```ts
 * const r = evalFile('kv.npz', { methods: ['kivi-keys'], bits: [2], group: 32 });
 * ```
 */
export function evalFile(
  path: string,
  opts: { methods: readonly string[]; bits: readonly number[]; group: number },
  onProgress: (done: number, total: number, label: string) => void = () => {},
): EvalFileReport {
  const f = openTensorFile(path);
  const rows: TensorEvalRow[] = [];
  const undecodable: string[] = [];
  const channelAbsmax: { tensor: string; absmax: number[] }[] = [];
  try {
    const names = f.names;
    names.forEach((name, i) => {
      onProgress(i, names.length, name);
      const info = f.info(name);
      let x: ReturnType<typeof f.readFloat32>;
      try {
        x = f.readFloat32(name);
      } catch (e) {
        if (
          e instanceof LowbitError &&
          (e.code === 'E_DTYPE' || e.code === 'E_FORMAT') &&
          /dtype|type/i.test(e.message)
        ) {
          undecodable.push(name);
          return;
        }
        throw e;
      }
      rows.push(...evalTensor(name, x, opts.methods, opts.bits, opts.group, fileBits(info.byteLength, info.shape)));
      if (x.shape.length === 3) {
        const D = x.shape[2]!;
        const m = new Array<number>(D).fill(0);
        for (let j = 0; j < x.data.length; j++) m[j % D] = Math.max(m[j % D]!, Math.abs(x.data[j]!));
        channelAbsmax.push({ tensor: name, absmax: m });
      }
    });
    onProgress(names.length, names.length, 'done');
  } finally {
    f.close();
  }
  return { file: path, format: f.format, ...opts, rows, undecodable, channelAbsmax };
}

function parseList(v: string[] | undefined, dflt: readonly string[]): string[] {
  if (v === undefined) return [...dflt];
  return v
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function fmt(v: number | null): string {
  return v === null || !Number.isFinite(v) ? (v === Number.POSITIVE_INFINITY ? 'inf' : '-') : formatNumber(v);
}

/** The self-contained HTML report of an eval run. */
export function evalHtml(r: EvalFileReport): string {
  const sections: [string, string][] = [];
  for (const c of r.channelAbsmax) {
    const sorted = [...c.absmax].sort((a, b) => a - b);
    sections.push([
      `Per-channel |K| of ${c.tensor} (max over heads and tokens)`,
      `${barChart(
        'before K-sort (channel order)',
        c.absmax.map((_, i) => `ch ${i}`),
        c.absmax,
      )}\n${barChart(
        'after K-sort (ascending absmax: neighbours share a block)',
        sorted.map((_, i) => `slot ${i}`),
        sorted,
      )}`,
    ]);
  }
  const series = new Map<string, [number, number][]>();
  for (const row of r.rows) {
    if (!Number.isFinite(row.nmse) || !Number.isFinite(row.bitsPerElement)) continue;
    const key = row.method;
    const agg = series.get(key) ?? [];
    agg.push([row.bitsPerElement, Math.max(row.nmse, 1e-12)]);
    series.set(key, agg);
  }
  sections.push([
    'Error vs bits per element (every tensor)',
    groupedLines(
      'nmse vs bits/element',
      'bits per element',
      'nmse',
      [...series].map(([name, points]) => ({ name, points: points.sort((a, b) => a[0] - b[0]) })),
      { logY: true },
    ),
  ]);
  sections.push([
    'Table',
    htmlTable(
      ['tensor', 'method', 'bits', 'bits/elem', 'ratio', 'nmse', 'SQNR dB', 'max abs err', 'score nmse'],
      r.rows.map((x) => [
        x.tensor,
        x.method,
        String(x.bits),
        fmt(x.bitsPerElement),
        fmt(x.compression),
        fmt(x.nmse),
        fmt(x.sqnrDb),
        fmt(x.maxAbsError),
        fmt(x.scoreNmse),
      ]),
    ),
  ]);
  return htmlPage(`lowbit eval: ${r.file}`, sections, `${r.format}, group/block ${r.group}`);
}

function jsonSafe(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? null : v;
}

/** The `eval` subcommand. */
export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'quantize every tensor of a file with each method and tabulate the error (nmse, SQNR, bits)',
  usage: USAGE,
  run(args: readonly string[], io: CliIo): number {
    const p = parseOrUsage(() => parse(args));
    const v = p.values;
    if (v.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (p.positionals.length !== 1) throw new UsageError(`expected exactly one file, got ${p.positionals.length}`);
    let methods = parseList(v.method, DEFAULT_METHODS);
    if (methods.includes('all')) methods = [...TENSOR_METHODS];
    for (const m of methods)
      if (!TENSOR_METHODS.includes(m))
        throw new UsageError(`unknown method '${m}'; known: ${TENSOR_METHODS.join(', ')}`);
    const bits = parseList(v.bits, ['2', '4']).map((b) => {
      if (!/^\d+$/.test(b) || Number(b) < 1 || Number(b) > 16)
        throw new UsageError(`--bits must be integers 1..16, got '${b}'`);
      return Number(b);
    });
    const g = v.group ?? '32';
    if (!/^\d+$/.test(g) || Number(g) < 1) throw new UsageError(`--group must be a positive integer, got '${g}'`);
    const r = evalFile(p.positionals[0]!, { methods, bits, group: Number(g) }, progressBar(io, v.json !== true));
    if (v.html !== undefined) {
      try {
        writeFileSync(v.html, evalHtml(r));
      } catch (e) {
        throw new LowbitError('E_IO', `cannot write ${v.html}: ${(e as Error).message}`);
      }
    }
    if (v.json) {
      io.stdout.write(`${JSON.stringify({ schema: 'lowbit.eval/1', ...r }, jsonSafe, 2)}\n`);
      return 0;
    }
    io.stdout.write(`${r.file}: ${r.format}, ${r.rows.length} results\n`);
    io.stdout.write(
      alignTable(
        ['tensor', 'method', 'bits', 'bits/elem', 'ratio', 'nmse', 'SQNR dB', 'max abs err', 'score nmse'],
        r.rows.map((x) => [
          x.tensor,
          x.method,
          String(x.bits),
          fmt(x.bitsPerElement),
          fmt(x.compression),
          fmt(x.nmse),
          fmt(x.sqnrDb),
          fmt(x.maxAbsError),
          x.skipped !== undefined ? 'skipped*' : fmt(x.scoreNmse),
        ]),
        [false, false, true, true, true, true, true, true, true],
      ),
    );
    const skips = [
      ...new Set(r.rows.filter((x) => x.skipped !== undefined).map((x) => `  ${x.tensor} ${x.method}: ${x.skipped}`)),
    ];
    if (skips.length > 0) io.stdout.write(`* skipped:\n${skips.join('\n')}\n`);
    if (r.undecodable.length > 0) io.stdout.write(`(not decodable, skipped: ${r.undecodable.join(', ')})\n`);
    return 0;
  },
};

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      method: { type: 'string', multiple: true },
      bits: { type: 'string', multiple: true },
      group: { type: 'string' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
