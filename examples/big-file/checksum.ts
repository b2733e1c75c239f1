/**
 * The CRC-32 of a file of any size through windows of `Segment.mapFile`, with a progress bar and the peak RSS
 * (the Node twin of checksum.c).
 *   node dist/examples/big-file/checksum.js <file> <window-bytes> [bar|lines]
 * One window is mapped at a time (any offset), checksummed by zlib.crc32 straight from the mapping (no copy, no
 * read into a Buffer) and closed before the next: the memory this process touches is bounded by the window, not by
 * the file. bar: a progress bar on stderr (the default when stderr is a terminal); lines: "progress <done>
 * <total>" on stdout after each window. Prints "result {json}" last.
 */
import { readFileSync, statSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { Segment } from '../../src/index.js';

const [path, windowArg, mode] = process.argv.slice(2);
const window = Number(windowArg);
const lines = mode !== undefined ? mode === 'lines' : !process.stderr.isTTY;
const total = statSync(path!).size;
/** This process's peak RSS (VmHWM of /proc/self/status) in KiB (not resourceUsage().maxRSS: it survives exec). */
const peakRssKiB = () => Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? -1);
const startRss = peakRssKiB();
const t0 = performance.now();
let crc = 0;
let windows = 0;
for (let off = 0; off < total; off += window) {
  const length = Math.min(window, total - off);
  const seg = Segment.mapFile(path!, { offset: off, length });
  crc = crc32(seg.bytes, crc);
  seg.close(); // unmapped at once: its pages leave this process's RSS
  windows++;
  const done = off + length;
  if (lines) console.log(`progress ${done} ${total}`);
  else {
    const fill = Math.floor((30 * done) / total);
    process.stderr.write(`\r[${'#'.repeat(fill)}${' '.repeat(30 - fill)}] ${String(Math.floor((100 * done) / total)).padStart(3)}% ${Math.floor(done / 2 ** 20)}/${Math.floor(total / 2 ** 20)} MiB`);
  }
}
if (!lines) process.stderr.write('\n');
const result = { crc, bytes: total, windows, seconds: Number(((performance.now() - t0) / 1000).toFixed(3)), startRssKiB: startRss, peakRssKiB: peakRssKiB() };
console.log(`result ${JSON.stringify(result)}`);
