/**
 * Self-contained HTML reports with inline SVG plots (no scripts, no network) for `lowbit eval --html`
 * and `lowbit eval-model --html`.
 *
 * Exposed: escapeHtml, barChart, groupedLines, htmlPage, htmlTable.
 * @module
 */

/** Escape text for HTML / SVG content and attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/**
 * A horizontal bar chart (one bar per label; `log` for a log10 axis of positive values).
 *
 * @example
 * ```ts
 * barChart('perplexity', ['float32', 'KIVI-2'], [3.4, 3.5]);
 * ```
 */
export function barChart(
  title: string,
  labels: readonly string[],
  values: readonly number[],
  opts: { log?: boolean; reference?: number } = {},
): string {
  const rowH = 18;
  const left = Math.min(360, 12 + 6.5 * Math.max(8, ...labels.map((l) => l.length)));
  const width = left + 420;
  const height = 30 + rowH * labels.length + 10;
  const tf = (v: number) => (opts.log ? Math.log10(Math.max(v, 1e-12)) : v);
  const finite = values.filter((v) => Number.isFinite(v) && (!opts.log || v > 0)).map(tf);
  const lo = opts.log ? Math.min(0, ...finite) : Math.min(0, ...finite);
  const hi = Math.max(lo + 1e-12, ...finite);
  const x = (v: number) => left + ((tf(v) - lo) / (hi - lo)) * 340;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="4" y="14" font-size="13" font-weight="bold">${escapeHtml(title)}${opts.log ? ' (log scale)' : ''}</text>`,
  ];
  labels.forEach((l, i) => {
    const y = 24 + i * rowH;
    const v = values[i]!;
    const w = Number.isFinite(v) ? Math.max(1, x(v) - left) : 0;
    parts.push(
      `<text x="${left - 6}" y="${y + 12}" text-anchor="end">${escapeHtml(l)}</text>`,
      `<rect x="${left}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowH - 5}" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${(left + w + 4).toFixed(1)}" y="${y + 12}">${escapeHtml(fmt(v))}</text>`,
    );
  });
  if (opts.reference !== undefined && Number.isFinite(opts.reference)) {
    const rx = x(opts.reference).toFixed(1);
    parts.push(`<line x1="${rx}" y1="20" x2="${rx}" y2="${height - 6}" stroke="#000" stroke-dasharray="3,3"/>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * A line / scatter chart of several named series of (x, y) points (`logY` for a log10 y axis).
 *
 * @example
 * ```ts
 * groupedLines('nmse vs bits', 'bits/element', 'nmse', [{ name: 'KIVI', points: [[2.5, 0.1], [4.5, 0.01]] }], { logY: true });
 * ```
 */
export function groupedLines(
  title: string,
  xLabel: string,
  yLabel: string,
  series: readonly { name: string; points: readonly (readonly [number, number])[] }[],
  opts: { logY?: boolean } = {},
): string {
  const W = 640;
  const H = 320;
  const L = 60;
  const B = 40;
  const T = 24;
  const R = 170;
  const ty = (v: number) => (opts.logY ? Math.log10(Math.max(v, 1e-30)) : v);
  const pts = series.flatMap((s) => s.points).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => ty(p[1]));
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(...ys, opts.logY ? Number.POSITIVE_INFINITY : 0);
  const y1 = Math.max(...ys, y0 + 1e-12);
  const px = (v: number) => L + ((v - x0) / (x1 - x0 || 1)) * (W - L - R);
  const py = (v: number) => H - B - ((ty(v) - y0) / (y1 - y0 || 1)) * (H - B - T);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="4" y="14" font-size="13" font-weight="bold">${escapeHtml(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#000"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#000"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
    `<text x="12" y="${(T + H - B) / 2}" transform="rotate(-90 12 ${(T + H - B) / 2})" text-anchor="middle">${escapeHtml(yLabel)}${opts.logY ? ' (log)' : ''}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const xv = x0 + ((x1 - x0) * k) / 4;
    const yv = y0 + ((y1 - y0) * k) / 4;
    const yl = opts.logY ? 10 ** yv : yv;
    parts.push(
      `<text x="${px(xv).toFixed(1)}" y="${H - B + 14}" text-anchor="middle">${escapeHtml(fmt(xv))}</text>`,
      `<text x="${L - 4}" y="${(H - B - ((yv - y0) / (y1 - y0 || 1)) * (H - B - T) + 4).toFixed(1)}" text-anchor="end">${escapeHtml(fmt(yl))}</text>`,
    );
  }
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const ok = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b) && (!opts.logY || b > 0));
    if (ok.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${c}" points="${ok.map(([a, b]) => `${px(a).toFixed(1)},${py(b).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const [a, b] of ok)
      parts.push(`<circle cx="${px(a).toFixed(1)}" cy="${py(b).toFixed(1)}" r="3" fill="${c}"/>`);
    parts.push(
      `<rect x="${W - R + 10}" y="${T + i * 16}" width="10" height="10" fill="${c}"/>`,
      `<text x="${W - R + 24}" y="${T + i * 16 + 9}">${escapeHtml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * An HTML table (strings are escaped).
 *
 * @example
 * ```ts
 * htmlTable(['a', 'b'], [['1', '2']]);
 * ```
 */
export function htmlTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const h = header.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const b = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${h}</tr></thead><tbody>\n${b}\n</tbody></table>`;
}

/**
 * A complete self-contained page: title, free text and sections of trusted HTML (tables, SVG).
 *
 * @example
 * ```ts
 * htmlPage('lowbit eval', [['Summary', htmlTable(['a'], [['1']])]]);
 * ```
 */
export function htmlPage(title: string, sections: readonly (readonly [string, string])[], intro = ''): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}
h2{margin-top:28px}</style></head><body>
<h1>${escapeHtml(title)}</h1>
${intro === '' ? '' : `<p>${escapeHtml(intro)}</p>`}
${sections.map(([h, body]) => `<h2>${escapeHtml(h)}</h2>\n${body}`).join('\n')}
</body></html>
`;
}
