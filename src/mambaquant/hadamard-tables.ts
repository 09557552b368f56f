/**
 * The small Hadamard matrices had_m (m ∈ {12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172}) built from
 * first principles — Paley I, Paley II, Williamson and a Kronecker doubling — with integer ±1 entries.
 * They equal the tables QuaRot stores in `fake_quant/hadamard_utils.py` (checked element by element
 * against an extracted fixture in test/fixtures/mambaquant/).
 *
 * Exposed (internal to the family): HAD_ORDERS, hadTable, quadraticCharacter.
 * @module
 */
import { fail } from '../common/errors.js';

/** The non-power-of-two factors QuaRot supports, in QuaRot's `get_hadK` test order. */
export const HAD_ORDERS: readonly number[] = Object.freeze([172, 156, 140, 108, 60, 52, 36, 28, 40, 20, 12]);

/** χ(a) mod prime q: 0 for a ≡ 0, +1 for a quadratic residue, −1 otherwise (Euler's criterion). */
export function quadraticCharacter(a: number, q: number): number {
  const r = ((a % q) + q) % q;
  if (r === 0) return 0;
  // r^((q-1)/2) mod q by square-and-multiply; q < 2^13 so products stay exact in doubles.
  let e = (q - 1) / 2;
  let base = r;
  let acc = 1;
  while (e > 0) {
    if (e & 1) acc = (acc * base) % q;
    base = (base * base) % q;
    e >>>= 1;
  }
  return acc === 1 ? 1 : -1;
}

/** Paley I (q ≡ 3 mod 4), order q + 1: `[[1, −1ᵀ], [1, I + Q]]`, Q[a][b] = χ(a − b). */
function paleyI(q: number): Int8Array {
  const m = q + 1;
  const h = new Int8Array(m * m);
  h[0] = 1;
  for (let j = 1; j < m; j++) h[j] = -1;
  for (let a = 0; a < q; a++) {
    const row = (a + 1) * m;
    h[row] = 1;
    for (let b = 0; b < q; b++) h[row + b + 1] = (a === b ? 1 : 0) + quadraticCharacter(a - b, q);
  }
  return h;
}

/** Paley II (q ≡ 1 mod 4), order 2(q + 1): `H₂ ⊗ S + [[1, −1], [−1, −1]] ⊗ I`, S = [[0, 1ᵀ], [1, Q]]. */
function paleyII(q: number): Int8Array {
  const s = q + 1;
  const S = new Int8Array(s * s);
  for (let j = 1; j < s; j++) {
    S[j] = 1;
    S[j * s] = 1;
  }
  for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) S[(a + 1) * s + b + 1] = quadraticCharacter(a - b, q);
  const m = 2 * s;
  const h = new Int8Array(m * m);
  const outerS = [1, 1, 1, -1];
  const outerI = [1, -1, -1, -1];
  for (let A = 0; A < 2; A++)
    for (let B = 0; B < 2; B++)
      for (let i = 0; i < s; i++)
        for (let j = 0; j < s; j++)
          h[(A * s + i) * m + B * s + j] = outerS[A * 2 + B]! * S[i * s + j]! + (i === j ? outerI[A * 2 + B]! : 0);
  return h;
}

/** Williamson array `[[A, B, C, D], [−B, A, −D, C], [−C, D, A, −B], [−D, −C, B, A]]` of circulant blocks. */
function williamson(first: readonly string[]): Int8Array {
  const k = first[0]!.length;
  const blocks = first.map((r) => Array.from(r, (c) => (c === '+' ? 1 : -1)));
  // block index and sign of each of the 4×4 block positions
  const layout = [
    [0, 1, 1, 1, 2, 1, 3, 1],
    [1, -1, 0, 1, 3, -1, 2, 1],
    [2, -1, 3, 1, 0, 1, 1, -1],
    [3, -1, 2, -1, 1, 1, 0, 1],
  ];
  const m = 4 * k;
  const h = new Int8Array(m * m);
  for (let P = 0; P < 4; P++)
    for (let Q = 0; Q < 4; Q++) {
      const blk = blocks[layout[P]![2 * Q]!]!;
      const sign = layout[P]![2 * Q + 1]!;
      for (let i = 0; i < k; i++)
        for (let j = 0; j < k; j++) h[(P * k + i) * m + Q * k + j] = sign * blk[(j - i + k) % k]!;
    }
  return h;
}

/** H₂ ⊗ X with the 2×2 factor on the outer index: `[[X, X], [X, −X]]`. */
function doubled(x: Int8Array, k: number): Int8Array {
  const m = 2 * k;
  const h = new Int8Array(m * m);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      const v = x[i * k + j]!;
      h[i * m + j] = v;
      h[i * m + k + j] = v;
      h[(k + i) * m + j] = v;
      h[(k + i) * m + k + j] = -v;
    }
  return h;
}

const WILLIAMSON: Readonly<Record<number, readonly string[]>> = {
  52: ['+-+--++++--+-', '+---++++++---', '++-+--++--+-+', '+----+--+----'],
  156: [
    '+++--+-+-----+--++----++--+-----+-+--++',
    '++++---+--++----+-+--+-+----++--+---+++',
    '+++--++-+---+-+--+----+--+-+---+-++--++',
    '+---++-+-+-----+++-++-+++-----+-+-++---',
  ],
  172: [
    '+---++--++++-+-+++-++--++-+++-+-++++--++---',
    '++-++++++----+-+--++-++-++--+-+----++++++-+',
    '+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++',
    '++---++++-+--+--++--------++--+--+-++++---+',
  ],
};

const cache = new Map<number, Int8Array>();

/**
 * had_m as a row-major m×m `Int8Array` of ±1 (`H·Hᵀ = m·I`), cached and frozen by convention (callers
 * must not write to it). Throws `E_CONFIG` for an order outside {@link HAD_ORDERS}.
 */
export function hadTable(m: number): Int8Array {
  const hit = cache.get(m);
  if (hit !== undefined) return hit;
  let h: Int8Array;
  switch (m) {
    case 12:
    case 20:
    case 60:
    case 108:
    case 140:
      h = paleyI(m - 1);
      break;
    case 28:
    case 36:
      h = paleyII(m / 2 - 1);
      break;
    case 40:
      h = doubled(hadTable(20), 20);
      break;
    case 52:
    case 156:
    case 172:
      h = williamson(WILLIAMSON[m]!);
      break;
    default:
      return fail('E_CONFIG', `hadTable: no Hadamard table of order ${m}; expected one of ${HAD_ORDERS.join(', ')}`);
  }
  cache.set(m, h);
  return h;
}
