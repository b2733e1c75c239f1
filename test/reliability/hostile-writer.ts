/**
 * Child: a hostile peer. Maps a live channel's segment (whatever its kind) and writes random words at random places
 * of its payload, as fast as it can, until a line arrives on stdin (or it is killed). Seeded: argv <name> <seed>.
 * Prints "writing" once it has written the first words, "stopped <writes>" at the end.
 */
import { Segment } from '../../src/index.js';
import { fail, say } from '../fixtures/lib.js';

const [name, seedArg] = process.argv.slice(2);
let s = Number(seedArg) >>> 0;
const next = (): number => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
};
try {
  const seg = Segment.open(name!);
  const w = seg.words;
  let stop = false;
  process.stdin.once('data', () => (stop = true));
  let writes = 0;
  const burst = (): void => {
    for (let i = 0; i < 200; i++) {
      const r = next();
      // Half the writes are "interesting" values (0, small counts, all ones, a live pid: our own), half random.
      const v = r & 1 ? next() : [0, 1, 2, -1, 0x7fffffff, process.pid, 64][r % 7]!;
      Atomics.store(w, next() % w.length, v);
      writes++;
    }
    if (writes === 200) say('writing');
    if (stop) {
      say(`stopped ${writes}`);
      seg.close();
      process.exit(0);
    }
    setImmediate(burst);
  };
  burst();
} catch (e) {
  fail(e);
}
