/**
 * `lowbit generate --model stories260K|<checkpoint.bin> [--tokenizer tok.bin] [--prompt "…"] [--steps N]
 * [--temperature T] [--topp P] [--seed S] [--kv SPEC]`: llama2.c's run.c generation. stdout gets exactly
 * what run.c prints to stdout for the same `-n/-t/-p/-s/-i` settings (the pieces, then a newline); run.c's
 * speed report (its stderr) is not printed. Defaults as run.c (steps 256, temperature 1, top-p 0.9) except
 * the seed, 42 here (run.c uses the time).
 *
 * Exposed: generateCommand.
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LowbitError } from '../common/errors.js';
import { generate } from '../eval/generate.js';
import { headKSortModel, layerKSortOrders } from '../eval/ksort.js';
import { kvCacheFromSpec } from '../eval/kvcache.js';
import {
  evalTokens,
  type LlamaModel,
  llamaFromLlama2c,
  loadStories260K,
  loadStories260KTokenizer,
} from '../eval/llama.js';
import { parseKvSpec } from '../eval/run.js';
import { parseTokenizer, type Tokenizer } from '../eval/tokenizer.js';
import { type CliCommand, type CliIo, UsageError } from './io.js';

const USAGE = `Usage: lowbit generate [--model stories260K|<llama2.c checkpoint>] [--tokenizer tok.bin] [--prompt TEXT]
                       [--steps N] [--temperature T] [--topp P] [--seed S] [--kv SPEC]

Generates text as llama2.c's run.c does (-i, -n, -t, -p, -s) and prints what run.c prints to stdout.
Defaults: --model stories260K, --steps 256 (0 or > seq_len: seq_len), --temperature 1, --topp 0.9,
--seed 42. --kv runs the model on a quantized KV cache (see 'lowbit eval-model --help' for specs).
`;

function readBytes(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new LowbitError(
      'E_IO',
      `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

function num(v: string | undefined, name: string, check: (x: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x))
    throw new UsageError(`--${name} must be ${what}, got '${v}'`);
  return x;
}

/** The `generate` subcommand. */
export const generateCommand: CliCommand = {
  name: 'generate',
  summary: "generate text with stories260K (or any llama2.c checkpoint) exactly as llama2.c's run.c",
  usage: USAGE,
  run(args: readonly string[], io: CliIo): number {
    let p: ReturnType<
      typeof parseArgs<{
        args: string[];
        allowPositionals: false;
        strict: true;
        options: {
          model: { type: 'string' };
          tokenizer: { type: 'string' };
          prompt: { type: 'string' };
          steps: { type: 'string' };
          temperature: { type: 'string' };
          topp: { type: 'string' };
          seed: { type: 'string' };
          kv: { type: 'string' };
          help: { type: 'boolean'; short: 'h' };
        };
      }>
    >;
    try {
      p = parseArgs({
        args: [...args],
        allowPositionals: false,
        strict: true,
        options: {
          model: { type: 'string' },
          tokenizer: { type: 'string' },
          prompt: { type: 'string' },
          steps: { type: 'string' },
          temperature: { type: 'string' },
          topp: { type: 'string' },
          seed: { type: 'string' },
          kv: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const v = p.values;
    if (v.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    const steps = num(v.steps, 'steps', (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer');
    const temperature = num(v.temperature, 'temperature', (x) => x >= 0, 'a number >= 0');
    const topp = num(v.topp, 'topp', () => true, 'a number');
    if (v.seed !== undefined && !/^\d+$/.test(v.seed))
      throw new UsageError(`--seed must be a non-negative integer, got '${v.seed}'`);
    const name = v.model ?? 'stories260K';
    let model: LlamaModel;
    let tok: Tokenizer;
    if (name === 'stories260K') {
      model = loadStories260K();
      tok =
        v.tokenizer === undefined
          ? loadStories260KTokenizer()
          : parseTokenizer(readBytes(v.tokenizer, 'tokenizer'), 512);
    } else {
      if (v.tokenizer === undefined) throw new UsageError('a checkpoint path needs --tokenizer <tok.bin>');
      model = llamaFromLlama2c(readBytes(name, 'checkpoint'));
      tok = parseTokenizer(readBytes(v.tokenizer, 'tokenizer'), model.config.vocabSize);
    }
    if (v.kv !== undefined) {
      const c = model.config;
      const k = parseKvSpec(v.kv, c.dim / c.nHeads);
      let spec = k.spec;
      if (k.ksort !== undefined && spec.method === 'block') {
        // calibration tokens sampled from the float32 model (seeds 9000, 9001), as eval-model does
        const cal = evalTokens(model, { sequences: 2, length: Math.min(256, c.seqLen), seed: 9000 })
          .flat()
          .slice(0, c.seqLen);
        if (k.ksort === 'head') model = headKSortModel(model, cal, spec.blockSize).model;
        else spec = { ...spec, keyOrders: layerKSortOrders(model, cal, spec.blockSize) };
      }
      model = model.with({ kvCache: kvCacheFromSpec(spec) });
    }
    const n = steps ?? 256;
    const s = n === 0 || n > model.config.seqLen ? model.config.seqLen : n;
    const r = generate(model, tok, {
      prompt: v.prompt ?? '',
      steps: s,
      temperature: temperature ?? 1,
      topp: topp ?? 0.9,
      seed: v.seed === undefined ? 42 : BigInt(v.seed),
    });
    io.stdout.write(`${r.text}\n`);
    return 0;
  },
};
