/**
 * The registry of `lowbit` subcommands. Each command lives in its own file and is added here; `main`
 * dispatches on the first argument. (Later issues add `eval`, `eval-model` and `generate`.)
 *
 * Exposed: COMMANDS.
 * @module
 */
import { evalCommand } from './eval.js';
import { evalModelCommand } from './eval-model.js';
import { exportGgufCommand } from './export-gguf.js';
import { generateCommand } from './generate.js';
import { inspectCommand } from './inspect.js';
import type { CliCommand } from './io.js';

/** Every subcommand, in the order `lowbit --help` lists them. */
export const COMMANDS: readonly CliCommand[] = [
  inspectCommand,
  evalCommand,
  evalModelCommand,
  generateCommand,
  exportGgufCommand,
];
