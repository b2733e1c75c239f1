/**
 * Seed 001's tip on shmbus: a file too big to map at once (there 400 MB on 32-bit Windows; here 1 GiB) processed
 * through windows, in Node, Python and C at the same time, each computing the file's CRC-32 with a progress bar
 * and reporting its peak RSS, which the window bounds, not the file.
 *
 *   npm run example -- big-file [--size 1024] [--window 64] [--dir /tmp]     (sizes in MiB)
 *
 * Writes a --size MiB file into a new temporary directory under --dir (sparse: 64 KiB of random bytes at the start
 * of every MiB, holes between them, so it takes 1/16 of its size on disk and is written in a moment; the holes
 * read as zeros and are checksummed like any byte), computes its CRC-32 while writing it, runs checksum.ts,
 * checksum.py and checksum.c on it (each maps one --window MiB window at a time: Segment.mapFile /
 * Segment.map_file / shmbus_segment_map_file), shows their progress (a bar on a terminal, a line per quarter
 * otherwise), and checks that every CRC equals the file's and that every process's peak RSS grew by less than four
 * windows. The directory is removed at the end, also on failure or Ctrl-C. Exits 1 naming what failed.
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';
import { Child, programCommand, type Language } from '../lib/children.js';

const EXAMPLE = 'big-file';
const MiB = 2 ** 20;
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    window: { type: 'string', default: '64' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const size = Number(values.size) * MiB;
const window = Number(values.window) * MiB;
if (!(size > 0 && Number.isInteger(size) && window > 0 && Number.isInteger(window))) throw new Error('--size and --window: whole MiB > 0');

const dir = mkdtempSync(join(values.dir, 'shmbus-big-file-'));
const cleanup = () => rmSync(dir, { recursive: true, force: true });
process.once('exit', cleanup); // also when a check fails (process.exit) or a program throws
process.once('SIGINT', () => process.exit(130)); // Ctrl-C: the exit handler removes the file

/** Writes the sparse file and returns its CRC-32 (the holes are fed to the CRC as the zeros they read as). */
function writeFile(path: string): number {
  const data = 64 * 1024;
  const zeros = new Uint8Array(MiB - data);
  const fd = openSync(path, 'w');
  let crc = 0;
  try {
    ftruncateSync(fd, size);
    for (let at = 0; at < size; at += MiB) {
      const block = randomBytes(data);
      writeSync(fd, block, 0, data, at);
      crc = crc32(block, crc);
      crc = crc32(zeros, crc);
    }
  } finally {
    closeSync(fd);
  }
  return crc;
}

const hex = (crc: number) => `0x${crc.toString(16).padStart(8, '0')}`;
const file = join(dir, 'big.bin');
const expected = writeFile(file);
const onDisk = statSync(file).blocks * 512;
console.log(
  `big-file: ${size / MiB} MiB file ${file} (sparse: ${(onDisk / MiB).toFixed(0)} MiB on disk), CRC-32 ${hex(expected)}; ` +
    `window ${window / MiB} MiB`,
);

interface Result {
  crc: number;
  bytes: number;
  windows: number;
  seconds: number;
  startRssKiB: number;
  peakRssKiB: number;
}

const workers: { label: string; lang: Language; how: string }[] = [
  { label: 'node', lang: 'node', how: 'Segment.mapFile' },
  { label: 'python', lang: 'python', how: 'Segment.map_file' },
  { label: 'c', lang: 'cpp', how: 'shmbus_segment_map_file' },
];
const tty = process.stdout.isTTY === true;
const percent = new Map(workers.map((w) => [w.label, 0]));
const draw = () => process.stdout.write(`\r${workers.map((w) => `${w.label} ${String(percent.get(w.label)).padStart(3)}%`).join(' | ')}`);
const children = workers.map(
  (w) =>
    new Child(w.label, [...programCommand(EXAMPLE, 'checksum', w.lang), file, String(window), 'lines'], (line) => {
      const m = /^progress (\d+) (\d+)$/.exec(line);
      if (!m) return;
      const p = Math.floor((100 * Number(m[1])) / Number(m[2]));
      const before = percent.get(w.label)!;
      percent.set(w.label, p);
      if (tty) draw();
      else if (Math.floor(p / 25) > Math.floor(before / 25)) console.log(`${w.label}: ${p}% (${(Number(m[1]) / MiB).toFixed(0)} of ${size / MiB} MiB)`);
    }),
);
if (tty) draw();
const results = await Promise.all(
  children.map(async (c) => {
    const line = await c.line(/^result /, { timeoutMs: 600_000 });
    await c.success();
    return JSON.parse(line.slice('result '.length)) as Result;
  }),
);
if (tty) process.stdout.write('\n');

const failures: string[] = [];
const windows = Math.ceil(size / window);
workers.forEach((w, i) => {
  const r = results[i]!;
  const growth = (r.peakRssKiB - r.startRssKiB) / 1024;
  console.log(
    `${w.label} (${w.how}): CRC-32 ${hex(r.crc)} ${r.crc === expected ? '=' : '!='} the file's, ${r.windows} windows of ` +
      `${window / MiB} MiB in ${r.seconds.toFixed(2)} s (${(size / MiB / r.seconds).toFixed(0)} MiB/s); peak RSS ` +
      `${(r.peakRssKiB / 1024).toFixed(0)} MiB, ${growth.toFixed(0)} MiB above its start (window ${window / MiB} MiB, file ${size / MiB} MiB)`,
  );
  if (r.crc !== expected) failures.push(`${w.label}: CRC-32 ${hex(r.crc)}, the file's is ${hex(expected)}`);
  if (r.bytes !== size || r.windows !== windows) failures.push(`${w.label}: ${r.bytes} bytes in ${r.windows} windows, expected ${size} in ${windows}`);
  if (!(r.startRssKiB > 0 && r.peakRssKiB >= r.startRssKiB)) failures.push(`${w.label}: no peak RSS (${r.startRssKiB} -> ${r.peakRssKiB} KiB)`);
  if (growth >= (4 * window) / MiB) failures.push(`${w.label}: peak RSS grew by ${growth.toFixed(0)} MiB, not bounded by the ${window / MiB} MiB window`);
});
cleanup();
if (failures.length > 0) {
  for (const f of failures) console.log(`FAILED: ${f}`);
  process.exit(1);
}
console.log(`big-file: every CRC-32 equals the file's; every peak RSS grew by less than 4 windows; ${dir} removed`);
