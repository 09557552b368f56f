import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HAD_ORDERS, hadTable, quadraticCharacter } from '../../src/mambaquant/hadamard-tables.js';
import { fixture } from './helpers.js';

// SHA-256 digests of QuaRot's stored tables (the tables themselves are not committed; see the fixture README).
const fx = fixture<{ sha256: Record<string, string> }>('quarot-hadamard-sha256.json');

function signText(h: Int8Array, m: number): string {
  const rows: string[] = [];
  for (let i = 0; i < m; i++) {
    let r = '';
    for (let j = 0; j < m; j++) r += h[i * m + j] === 1 ? '+' : '-';
    rows.push(r);
  }
  return rows.join('\n');
}

describe('had_m tables', () => {
  it.each([...HAD_ORDERS])(
    'had%i equals QuaRot’s stored table element by element (SHA-256 of the sign pattern)',
    (m) => {
      const got = hadTable(m);
      expect(got.length).toBe(m * m);
      for (let i = 0; i < m * m; i++) expect(Math.abs(got[i]!)).toBe(1);
      const digest = createHash('sha256').update(signText(got, m), 'ascii').digest('hex');
      expect(digest).toBe(fx.sha256[String(m)]);
    },
  );

  it('the digest check can fail: one flipped entry changes it', () => {
    const h = Int8Array.from(hadTable(12));
    h[5] = -h[5]!;
    expect(createHash('sha256').update(signText(h, 12), 'ascii').digest('hex')).not.toBe(fx.sha256['12']);
  });

  it.each([...HAD_ORDERS])('had%i is an integer Hadamard matrix: H·Hᵀ = m·I exactly', (m) => {
    const h = hadTable(m);
    let bad = 0;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let k = 0; k < m; k++) s += h[i * m + k]! * h[j * m + k]!;
        if (s !== (i === j ? m : 0)) bad++;
      }
    expect(bad).toBe(0);
  });

  it('Paley II orders are symmetric, Paley I are not', () => {
    for (const m of [28, 36]) {
      const h = hadTable(m);
      for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) expect(h[i * m + j]).toBe(h[j * m + i]);
    }
    const h12 = hadTable(12);
    expect(h12[1]).not.toBe(h12[12]);
  });

  it('quadratic character matches brute-force squares', () => {
    for (const q of [11, 13, 17, 19, 43, 59, 107, 139]) {
      const squares = new Set<number>();
      for (let a = 1; a < q; a++) squares.add((a * a) % q);
      for (let a = -q; a < 2 * q; a++) {
        const r = ((a % q) + q) % q;
        expect(quadraticCharacter(a, q)).toBe(r === 0 ? 0 : squares.has(r) ? 1 : -1);
      }
    }
  });

  it('rejects unknown orders', () => {
    expect(() => hadTable(24)).toThrow(/E?order 24|no Hadamard table/);
  });
});
