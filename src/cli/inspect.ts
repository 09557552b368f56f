/**
 * `lowbit inspect <file> [--json]`: one row per tensor of a .npy/.npz/.safetensors/.gguf file —
 * name, file dtype, shape, bytes in the file, min, max, absmax and the count of non-finite values
 * (min/max/absmax are over the finite values). Tensors are read one at a time through
 * `openTensorFile`, so the whole file is never in memory. Tensors whose dtype lowbit cannot decode
 * (e.g. GGUF K-quants) are listed with `-` statistics (`null` in JSON).
 *
 * Exposed: inspectCommand, inspectFile, tensorStats, InspectRow, InspectReport.
 * @module
 */
import { parseArgs } from 'node:util';
import { isLowbitError } from '../common/errors.js';
import { bf16ToF32Array, f16ToF32Array } from '../common/half.js';
import { openTensorFile } from '../common/io/open.js';
import type { Tensor } from '../common/tensor.js';
import { alignTable, type CliCommand, type CliIo, formatNumber, parseOrUsage, UsageError } from './io.js';

/** Statistics of one tensor. */
export interface InspectRow {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: number;
  readonly count: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly absmax: number | null;
  readonly nonFinite: number | null;
  /** Why statistics are missing (undecodable dtype). */
  readonly note?: string;
}

/** What `inspect --json` prints. */
export interface InspectReport {
  readonly file: string;
  readonly format: string;
  readonly tensors: readonly InspectRow[];
}

/** min / max / absmax over the finite values, and the count of NaN/±Inf, of any lowbit tensor. */
export function tensorStats(t: Tensor): {
  min: number | null;
  max: number | null;
  absmax: number | null;
  nonFinite: number;
} {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let nonFinite = 0;
  let any = false;
  const scan = (a: ArrayLike<number>) => {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (v - v !== 0) {
        nonFinite++;
        continue;
      }
      any = true;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  };
  if (t.dtype === 'float16') scan(f16ToF32Array(t.data as Uint16Array));
  else if (t.dtype === 'bfloat16') scan(bf16ToF32Array(t.data as Uint16Array));
  else if (t.dtype === 'int64' || t.dtype === 'uint64') {
    const d = t.data as BigInt64Array | BigUint64Array;
    const tmp = new Float64Array(d.length);
    for (let i = 0; i < d.length; i++) tmp[i] = Number(d[i]!);
    scan(tmp);
  } else scan(t.data as ArrayLike<number>);
  if (!any) return { min: null, max: null, absmax: null, nonFinite };
  return { min, max, absmax: Math.max(Math.abs(min), Math.abs(max)), nonFinite };
}

/**
 * Inspect a tensor file: header via `openTensorFile`, then one tensor at a time.
 */
export function inspectFile(path: string): InspectReport {
  const f = openTensorFile(path);
  try {
    const tensors: InspectRow[] = [];
    for (const name of f.names) {
      const info = f.info(name);
      const count = info.shape.reduce((a, b) => a * b, 1);
      const base = { name, dtype: info.fileDtype, shape: [...info.shape], bytes: info.byteLength, count };
      let t: Tensor;
      try {
        t = f.read(name);
      } catch (e) {
        if (isLowbitError(e, 'E_DTYPE')) {
          tensors.push({ ...base, min: null, max: null, absmax: null, nonFinite: null, note: e.message });
          continue;
        }
        throw e;
      }
      tensors.push({ ...base, ...tensorStats(t) });
    }
    return { file: path, format: f.format, tensors };
  } finally {
    f.close();
  }
}

const USAGE = `Usage: lowbit inspect <file> [--json]

List the tensors of a .npy, .npz, .safetensors or .gguf file: name, dtype, shape, bytes,
min, max, absmax (over finite values) and the number of non-finite values.

Options:
  --json      print a JSON report instead of a table
  -h, --help  show this help
`;

/** The `inspect` subcommand. */
export const inspectCommand: CliCommand = {
  name: 'inspect',
  summary: 'list the tensors of a .npy/.npz/.safetensors/.gguf file with min/max/absmax/non-finite counts',
  usage: USAGE,
  run(args: readonly string[], io: CliIo): number {
    const parsed = parseOrUsage(() => parse(args));
    if (parsed.values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (parsed.positionals.length !== 1)
      throw new UsageError(`expected exactly one file, got ${parsed.positionals.length}`);
    const report = inspectFile(parsed.positionals[0]!);
    if (parsed.values.json) {
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return 0;
    }
    io.stdout.write(
      `${report.file}: ${report.format}, ${report.tensors.length} tensor${report.tensors.length === 1 ? '' : 's'}\n`,
    );
    if (report.tensors.length === 0) return 0;
    const rows = report.tensors.map((r) => [
      r.name,
      r.dtype,
      `[${r.shape.join(', ')}]`,
      String(r.bytes),
      formatNumber(r.min),
      formatNumber(r.max),
      formatNumber(r.absmax),
      r.nonFinite === null ? '-' : String(r.nonFinite),
    ]);
    io.stdout.write(
      alignTable(['name', 'dtype', 'shape', 'bytes', 'min', 'max', 'absmax', 'nonfinite'], rows, [
        false,
        false,
        false,
        true,
        true,
        true,
        true,
        true,
      ]),
    );
    const notes = report.tensors.filter((r) => r.note !== undefined);
    if (notes.length > 0)
      io.stdout.write(`(${notes.length} tensor(s) of a dtype lowbit cannot decode: no statistics)\n`);
    return 0;
  },
};

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
}
