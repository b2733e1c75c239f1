/**
 * Line charts as standalone SVG text, for the plots committed beside BENCHMARKS.md: a few lines of SVG of our own
 * (no plotting dependency). Linear or log10 axes with readable ticks, one polyline per series, a legend.
 *
 * @example
 * ```ts
 * writeFileSync('x.svg', lineChart({ title: 'RTT', xLabel: 'µs', yLabel: 'fraction', xLog: true,
 *   series: [{ name: 'shmbus', points: [[1, 0.1], [2, 0.9]] }] }));
 * ```
 */

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  series: Series[];
  /** Optional fixed y range (for a CDF: [0, 1]). */
  yRange?: [number, number];
  width?: number;
  height?: number;
}

// Distinguishable colours (Okabe-Ito, then a few more), in series order; past them the colours repeat dashed, so
// every series of a chart (the transports suite draws 13) has its own style.
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442', '#999999', '#7F3C8D'];
const DASHES = ['', '7 4', '2 3'];

/** The stroke attributes of series `i`: a colour, dashed on the second round of colours, dotted on the third. */
export function seriesStyle(i: number): string {
  const dash = DASHES[Math.floor(i / COLORS.length) % DASHES.length]!;
  return `stroke="${COLORS[i % COLORS.length]!}"${dash ? ` stroke-dasharray="${dash}"` : ''}`;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A short label for a tick value: 1, 10, 100, 1k, 10k, 1M, 0.1 ... */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Ticks for [lo, hi]: decades on a log axis (with 2 and 5 when few decades), about 5 round steps on a linear one. */
export function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    const decades = Math.log10(hi) - Math.log10(lo);
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of decades < 3 ? [1, 2, 5] : [1]) {
        const v = m * 10 ** e;
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
    }
    return out;
  }
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** The chart as an SVG document. Non-positive values are dropped on log axes; series without points are skipped. */
export function lineChart(o: ChartOptions): string {
  const m = { left: 70, right: 270, top: 40, bottom: 56 };
  const W = o.width ?? 840;
  // Tall enough for the legend (18 px a series) beside the plot area.
  const H = o.height ?? Math.max(440, m.top + m.bottom + 20 + o.series.length * 18);
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const ok = (p: [number, number]): boolean =>
    Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!o.xLog || p[0] > 0) && (!o.yLog || p[1] > 0);
  const series = o.series.map((s) => ({ ...s, points: s.points.filter(ok) })).filter((s) => s.points.length > 0);
  if (series.length === 0) {
    // Nothing measured (every transport failed, or a partial run): an empty chart that says so.
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="14"><rect width="${W}" height="${H}" fill="#fff"/><text x="${W / 2}" y="${H / 2}" text-anchor="middle">${esc(o.title)}: no data in this run</text></svg>\n`;
  }
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = o.yRange ?? [Math.min(...ys), Math.max(...ys)];
  if (!(x1 > x0)) [x0, x1] = o.xLog ? [x0 / 2, x0 * 2] : [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = o.yLog ? [y0 / 2, y0 * 2] : [y0 - 1, y0 + 1];
  if (!o.yLog && !o.yRange && y0 > 0) y0 = 0;
  const f = (v: number, log: boolean | undefined): number => (log ? Math.log10(v) : v);
  const X = (v: number): number => m.left + ((f(v, o.xLog) - f(x0, o.xLog)) / (f(x1, o.xLog) - f(x0, o.xLog))) * pw;
  const Y = (v: number): number => m.top + ph - ((f(v, o.yLog) - f(y0, o.yLog)) / (f(y1, o.yLog) - f(y0, o.yLog))) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${m.left + pw / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
  ];
  for (const t of ticks(x0, x1, o.xLog === true)) {
    const x = X(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  for (const t of ticks(y0, y1, o.yLog === true)) {
    const y = Y(t).toFixed(1);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push(
    `<text x="16" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + ph / 2})">${esc(o.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const style = seriesStyle(i);
    const pts = s.points.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" ${style} stroke-width="2" points="${pts}"/>`);
    if (s.points.length <= 12) {
      for (const p of s.points) out.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const ly = m.top + 10 + i * 18;
    out.push(`<line x1="${m.left + pw + 14}" y1="${ly}" x2="${m.left + pw + 34}" y2="${ly}" ${style} stroke-width="3"/>`);
    out.push(`<text x="${m.left + pw + 40}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Points of an empirical CDF of `samples` (at most `maxPoints`, log-spaced in rank near the tail). */
export function cdfPoints(samples: ArrayLike<number>, maxPoints = 200): [number, number][] {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  if (n === 0) return [];
  const out: [number, number][] = [];
  // Even steps up to p90, then denser toward p99.99 so the tail is drawn.
  const qs = new Set<number>();
  for (let i = 0; i <= maxPoints / 2; i++) qs.add((0.9 * i) / (maxPoints / 2));
  for (let i = 1; i <= maxPoints / 2; i++) qs.add(1 - 0.1 * 10 ** (-(3 * i) / (maxPoints / 2)));
  for (const q of [...qs].sort((a, b) => a - b)) {
    const k = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
    out.push([s[k]!, q]);
  }
  out.push([s[n - 1]!, 1]);
  return out;
}
