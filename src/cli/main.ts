#!/usr/bin/env node
/**
 * The `lowbit` bin: `lowbit <command> [args]`. `main(argv, io)` is the in-process entry (tests call
 * it with string collectors); it returns the exit code: 0 success, 1 a `LowbitError` (bad or
 * unsupported input, printed as one clean line), 2 bad arguments (message + usage).
 *
 * Exposed: main.
 * @module
 */
import { realpathSync } from 'node:fs';
import { LowbitError } from '../common/errors.js';
import { COMMANDS } from './commands.js';
import { type CliIo, UsageError } from './io.js';

function globalUsage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: lowbit <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}

Run 'lowbit <command> --help' for a command's options.
`;
}

/**
 * Run the CLI with `argv` (the arguments after `node lowbit`) and return the exit code.
 *
 * @example
 * ```ts
 * const code = await main(['inspect', 'model.gguf', '--json'], process);
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(globalUsage());
    return 2;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    io.stdout.write(globalUsage());
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (cmd === undefined) {
    io.stderr.write(`lowbit: unknown command '${name}'\n\n${globalUsage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`lowbit ${cmd.name}: ${e.message}\n\n${cmd.usage}`);
      return 2;
    }
    if (e instanceof LowbitError) {
      io.stderr.write(`lowbit ${cmd.name}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** True when this module is the process entry (the bin, or `tsx src/cli/main.ts`), not an import. */
function isEntry(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return /[\\/]cli[\\/]main\.(?:c?js|mjs|ts)$/.test(realpathSync(argv1));
  } catch {
    return false;
  }
}

if (isEntry()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`lowbit: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
