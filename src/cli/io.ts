/**
 * Shared plumbing of the `lowbit` CLI: the injectable output streams, the command interface every
 * subcommand file implements, and the usage error that makes `main` print a command's usage.
 *
 * Exposed (to the CLI's own modules and tests): CliIo, CliCommand, UsageError, formatNumber, alignTable.
 * @module
 */

/** Where the CLI writes: `process` in the bin, string collectors in tests. */
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/**
 * One subcommand. Each lives in its own file (`inspect.ts`, later `eval.ts`, `generate.ts`, …) and is
 * registered in `commands.ts`. `run` receives the arguments after the command name and returns the
 * exit code; it throws {@link UsageError} for bad arguments and `LowbitError` for bad input data.
 */
export interface CliCommand {
  readonly name: string;
  /** One line for `lowbit --help`. */
  readonly summary: string;
  /** Full usage text for `lowbit <name> --help` and after a usage error. */
  readonly usage: string;
  run(args: readonly string[], io: CliIo): number | Promise<number>;
}

/** Bad command-line arguments: `main` prints the message and the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Run a command's argument parser, turning its errors into {@link UsageError} (exit code 2 with usage).
 *
 * @example
 * ```ts
 * const p = parseOrUsage(() => parseArgs({ args, options }));
 * ```
 */
export function parseOrUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A number for a table cell: integers as they are, others with 6 significant digits. */
export function formatNumber(v: number | null): string {
  if (v === null) return '-';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e15)) return v.toExponential(5).replace(/\.?0+e/, 'e');
  return v
    .toPrecision(6)
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '');
}

/** Render rows as an aligned text table (numeric columns right-aligned). */
export function alignTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: readonly boolean[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`;
}
