/**
 * `npm run demo`: quantize every weight matrix of the real stories260K checkpoint shipped in
 * models/stories260K/ with lowbit's affine quantizer and print the reconstruction error.
 *
 * For each matrix (token embedding, then wq wk wv wo w1 w2 w3 of each layer; `[out, in]`) and each of
 * 8/4/3/2 bits × {per-channel, group 64, group 32}: asymmetric min–max (`quantizeAffine` defaults:
 * float zero point = group min, round half-even), groups along the input axis (axis −1). Per-channel =
 * one scale and min per output row; groups of 32/64 along a row (w2 has 172 inputs: ragged last group).
 *
 * Options: `--only <substring>` (e.g. `--only w2`), `--summary` (summary table only), `--json`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { dequantizeAffine, quantizeAffine } from '../src/common/affine.js';
import { type ErrorReport, errorReport } from '../src/common/metrics.js';
import type { Float32Tensor } from '../src/common/tensor.js';
import { type Llama2Checkpoint, readLlama2Checkpoint } from '../src/eval/checkpoint.js';

/** One quantization setting of the table. */
export interface Setting {
  readonly bits: number;
  /** Group size along the input axis; `null` = the whole row (per-channel). */
  readonly groupSize: number | null;
}

export const BITS = [8, 4, 3, 2] as const;
export const GRANULARITIES: readonly (number | null)[] = [null, 64, 32];
export const SETTINGS: readonly Setting[] = BITS.flatMap((bits) =>
  GRANULARITIES.map((groupSize) => ({ bits, groupSize })),
);

export interface MatrixRow extends ErrorReport {
  readonly matrix: string;
  readonly bits: number;
  readonly granularity: string;
  /** Bits per weight including one fp16 scale and one fp16 min per group. */
  readonly bitsPerWeight: number;
}

/** The named 2-D weight matrices of a checkpoint, in file order (embedding first). */
export function weightMatrices(ck: Llama2Checkpoint): { name: string; t: Float32Tensor }[] {
  const out = [{ name: 'token_embedding', t: ck.tensors.get('token_embedding')! }];
  ck.layers.forEach((layer, l) => {
    for (const k of ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const)
      out.push({ name: `layers.${l}.${k}`, t: layer[k] });
  });
  return out;
}

export function granularityName(g: number | null): string {
  return g === null ? 'per-channel' : `group ${g}`;
}

/** Quantize one matrix at one setting and measure the error of the reconstruction. */
export function measure(name: string, t: Float32Tensor, s: Setting): MatrixRow {
  const opts = s.groupSize === null ? { bits: s.bits, axis: -1 } : { bits: s.bits, axis: -1, groupSize: s.groupSize };
  const q = quantizeAffine(t, opts);
  const xhat = dequantizeAffine(q);
  const rep = errorReport(t.data, xhat.data);
  const groups = q.scales.length;
  return {
    matrix: name,
    bits: s.bits,
    granularity: granularityName(s.groupSize),
    bitsPerWeight: s.bits + (32 * groups) / t.data.length,
    ...rep,
  };
}

const sci = (v: number): string => (v === 0 ? '0' : v.toExponential(2));

function pad(s: string, w: number, right = true): string {
  return right ? s.padStart(w) : s.padEnd(w);
}

function stats(t: Float32Tensor): string {
  let mn = Number.POSITIVE_INFINITY;
  let mx = Number.NEGATIVE_INFINITY;
  let s2 = 0;
  for (const v of t.data) {
    if (v < mn) mn = v;
    if (v > mx) mx = v;
    s2 += v * v;
  }
  return `range [${mn.toFixed(3)}, ${mx.toFixed(3)}], rms ${Math.sqrt(s2 / t.data.length).toFixed(4)}`;
}

const HEAD = `  ${pad('bits', 4)}  ${pad('granularity', 11, false)}  ${pad('bpw', 5)}  ${pad('MSE', 9)}  ${pad('NMSE', 9)}  ${pad('SQNR dB', 7)}  ${pad('max|err|', 9)}  ${pad('cosine', 8)}`;

export function formatRow(r: MatrixRow): string {
  return `  ${pad(String(r.bits), 4)}  ${pad(r.granularity, 11, false)}  ${pad(r.bitsPerWeight.toFixed(2), 5)}  ${pad(sci(r.mse), 9)}  ${pad(sci(r.nmse), 9)}  ${pad(r.sqnrDb.toFixed(2), 7)}  ${pad(sci(r.maxAbsError), 9)}  ${pad(r.cosine.toFixed(6), 8)}`;
}

/** Summary over matrices per setting: mean / min SQNR (and where the min is), mean cosine. */
export function summarize(rows: readonly MatrixRow[]): string[] {
  const lines = [
    `  ${pad('bits', 4)}  ${pad('granularity', 11, false)}  ${pad('bpw', 5)}  ${pad('mean SQNR', 9)}  ${pad('min SQNR', 8)}  ${pad('worst matrix', 18, false)}  ${pad('mean cos', 8)}`,
  ];
  for (const s of SETTINGS) {
    const g = granularityName(s.groupSize);
    const sel = rows.filter((r) => r.bits === s.bits && r.granularity === g);
    if (sel.length === 0) continue;
    let worst = sel[0]!;
    let sq = 0;
    let cos = 0;
    let bpw = 0;
    for (const r of sel) {
      sq += r.sqnrDb;
      cos += r.cosine;
      bpw += r.bitsPerWeight * r.n;
      if (r.sqnrDb < worst.sqnrDb) worst = r;
    }
    const n = sel.reduce((a, r) => a + r.n, 0);
    lines.push(
      `  ${pad(String(s.bits), 4)}  ${pad(g, 11, false)}  ${pad((bpw / n).toFixed(2), 5)}  ${pad((sq / sel.length).toFixed(2), 9)}  ${pad(worst.sqnrDb.toFixed(2), 8)}  ${pad(worst.matrix, 18, false)}  ${pad((cos / sel.length).toFixed(6), 8)}`,
    );
  }
  return lines;
}

export function main(argv: string[] = process.argv.slice(2)): void {
  const { values } = parseArgs({
    args: argv,
    options: { only: { type: 'string' }, summary: { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const t0 = performance.now();
  const here = fileURLToPath(new URL('.', import.meta.url));
  const path = resolve(here, '../models/stories260K/stories260K.bin');
  const ck = readLlama2Checkpoint(new Uint8Array(readFileSync(path)));
  const mats = weightMatrices(ck).filter((m) => values.only === undefined || m.name.includes(values.only));
  const rows: MatrixRow[] = [];
  const out: string[] = [];
  const c = ck.config;
  out.push(
    `lowbit demo: affine quantization of stories260K (dim ${c.dim}, hidden ${c.hiddenDim}, ${c.nLayers} layers, ${c.nHeads} heads / ${c.nKvHeads} kv heads, vocab ${c.vocabSize})`,
  );
  out.push(
    'asymmetric min–max, round half-even, groups along the input axis; bpw counts an fp16 scale + fp16 min per group',
  );
  for (const m of mats) {
    if (!values.summary) {
      out.push('');
      out.push(`${m.name} [${m.t.shape.join(', ')}]  ${m.t.data.length} values, ${stats(m.t)}`);
      out.push(HEAD);
    }
    for (const s of SETTINGS) {
      const r = measure(m.name, m.t, s);
      rows.push(r);
      if (!values.summary) out.push(formatRow(r));
    }
  }
  const weights = mats.reduce((a, m) => a + m.t.data.length, 0);
  out.push('');
  out.push(`summary over ${mats.length} matrices (${weights} weights), mean/min of per-matrix SQNR:`);
  out.push(...summarize(rows));
  const ms = performance.now() - t0;
  out.push('');
  out.push(`${rows.length} quantize/dequantize runs in ${(ms / 1000).toFixed(2)} s`);
  if (values.json) console.log(JSON.stringify(rows, null, 1));
  else console.log(out.join('\n'));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
