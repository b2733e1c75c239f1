/** Output helpers shared by every command: one size format, one date format, aligned tables. */

/** Bytes as a human-readable size: "512 B", "4.0 KiB", "1.5 MiB" (binary units, one decimal). */
export function size(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** The one date format of the CLI (text and JSON): ISO 8601 in UTC, to the second ("2026-11-30T13:38:32Z"). */
export function date(d: Date | number | null | undefined): string | null {
  if (d === null || d === undefined) return null;
  const t = typeof d === 'number' ? d : d.getTime();
  if (!Number.isFinite(t) || t <= 0) return null;
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A rate with a unit suffix: 0, 12.5, 3.4k, 1.2M per second. */
export function rate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond)) return '-';
  if (perSecond < 1000) return `${perSecond.toFixed(perSecond < 10 ? 1 : 0)}/s`;
  if (perSecond < 1e6) return `${(perSecond / 1e3).toFixed(1)}k/s`;
  return `${(perSecond / 1e6).toFixed(2)}M/s`;
}

/** Rows of cells as an aligned table (two spaces between columns, no trailing blanks). */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((cols) => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
