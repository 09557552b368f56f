/**
 * `lowbit export-gguf <checkpoint.bin> --tokenizer <tok.bin> --out <model.gguf> [--type T] [--name S]`:
 * write a llama2.c checkpoint and its tokenizer as a GGUF model that llama.cpp loads, with the matrices
 * in F32, F16, Q8_0 or Q4_0 (lowbit's ggml encoders). Prints one line per stored type and the file size.
 *
 * Exposed: exportGgufCommand.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fail } from '../common/errors.js';
import { readLlama2Checkpoint } from '../eval/checkpoint.js';
import { type GgufModelType, ggufModelTensors, writeGgufModel } from '../export/gguf-model.js';
import type { CliCommand, CliIo } from './io.js';
import { parseOrUsage, UsageError } from './io.js';

const TYPES: readonly GgufModelType[] = ['F32', 'F16', 'Q8_0', 'Q4_0'];

const USAGE = `Usage: lowbit export-gguf <checkpoint.bin> --tokenizer <tok.bin> --out <model.gguf> [options]

Write a llama2.c ("version 0") checkpoint and its tokenizer as a llama.cpp GGUF model.

Options:
  -t, --tokenizer FILE  llama2.c tokenizer (tokenizer.bin, tok512.bin, ...)  [required]
  -o, --out FILE        output .gguf path  [required]
      --type T          matrix type: F32 (default), F16, Q8_0 or Q4_0; norms stay F32, matrices
                        whose row length is not a multiple of 32 fall back to F16
      --name S          general.name (default: llama2.c)
  -h, --help            show this help

Example:
  lowbit export-gguf models/stories260K/stories260K.bin -t models/stories260K/tok512.bin \\
    -o stories260K-q8_0.gguf --type Q8_0
`;

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    return fail('E_IO', `cannot read ${path}: ${(e as Error).message}`, e);
  }
}

/**
 * The `export-gguf` subcommand.
 *
 * @example
 * ```ts
 * await exportGgufCommand.run(['stories260K.bin', '-t', 'tok512.bin', '-o', 'out.gguf'], process);
 * ```
 */
export const exportGgufCommand: CliCommand = {
  name: 'export-gguf',
  summary: 'write a llama2.c checkpoint + tokenizer as a llama.cpp GGUF model (F32/F16/Q8_0/Q4_0)',
  usage: USAGE,
  run(args: readonly string[], io: CliIo): number {
    const parsed = parseOrUsage(() => parse(args));
    const v = parsed.values;
    if (v.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (parsed.positionals.length !== 1)
      throw new UsageError(`expected one checkpoint file, got ${parsed.positionals.length}`);
    if (v.tokenizer === undefined) throw new UsageError('--tokenizer is required');
    if (v.out === undefined) throw new UsageError('--out is required');
    const type = (v.type ?? 'F32').toUpperCase() as GgufModelType;
    if (!TYPES.includes(type)) throw new UsageError(`--type must be one of ${TYPES.join(', ')}, got ${v.type}`);
    const ckpt = readLlama2Checkpoint(readBytes(parsed.positionals[0]!));
    const bytes = writeGgufModel({
      checkpoint: ckpt,
      tokenizer: readBytes(v.tokenizer),
      type,
      ...(v.name !== undefined ? { name: v.name } : {}),
    });
    try {
      writeFileSync(v.out, bytes);
    } catch (e) {
      fail('E_IO', `cannot write ${v.out}: ${(e as Error).message}`, e);
    }
    const counts = new Map<string, number>();
    for (const t of ggufModelTensors(ckpt, type)) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
    const c = ckpt.config;
    io.stdout.write(
      `${v.out}: llama, ${c.nLayers} layers, dim ${c.dim}, vocab ${c.vocabSize}, ${bytes.length} bytes\n` +
        [...counts].map(([t, n]) => `  ${t}: ${n} tensors\n`).join(''),
    );
    return 0;
  },
};

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      tokenizer: { type: 'string', short: 't' },
      out: { type: 'string', short: 'o' },
      type: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
