/** ls, inspect, rm, gc: the segments on this machine. */
import { readFileSync } from 'node:fs';
import { Segment, type SegmentInfo } from '../../src/index.js';
import { EXIT, type Command } from '../command.js';
import { fail } from '../errors.js';
import { date, size, table } from '../format.js';
import { mappers, mappersOf } from '../procmaps.js';

/** "1234 (node)": a pid with its command name when /proc tells it. */
export function pidLabel(pid: number): string {
  try {
    return `${pid} (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()})`;
  } catch {
    return String(pid);
  }
}

function state(s: SegmentInfo): string {
  return s.stale ? 'stale' : 'alive';
}

export const rm: Command = {
  name: 'rm',
  synopsis: 'NAME... [--force]',
  summary: 'unlink segments (refuses one that live processes have mapped)',
  details: `Removes the names. A segment that live processes still map is refused (exit 3) and the pids that map it
are printed: unlinking it would leave them publishing into a name nobody can open again.
  --force   remove it anyway (the processes keep their mapping; the memory goes when the last one exits)`,
  options: { force: { type: 'boolean' } },
  positionals: [1, Infinity],
  run(values, names) {
    let status: number = EXIT.ok;
    const mapped = mappers();
    for (const name of names) {
      const pids = mapped.get(name) ?? [];
      if (pids.length > 0 && values['force'] !== true) {
        process.stderr.write(
          `shmbus: refusing to remove ${name}: mapped by ${pids.map(pidLabel).join(', ')}; stop them first, or use --force\n`,
        );
        status = Math.max(status, EXIT.refused);
        continue;
      }
      try {
        Segment.unlink(name);
        process.stdout.write(`removed ${name}${pids.length > 0 ? ` (still mapped by ${pids.join(', ')})` : ''}\n`);
      } catch (e) {
        fail(e);
        status = Math.max(status, EXIT.failed);
      }
    }
    return status;
  },
};

export const gc: Command = {
  name: 'gc',
  synopsis: '[--dry-run] [--prefix P] [--json]',
  summary: 'unlink stale segments (creator dead and nobody maps them)',
  details: `Removes every stale segment: its creator is dead and no process maps it.
  --dry-run   only print what would be removed
  --prefix P  only segments whose name starts with P
  --json      print the segments (removed or to remove) as JSON`,
  options: { 'dry-run': { type: 'boolean' }, prefix: { type: 'string' }, json: { type: 'boolean' } },
  positionals: [0, 0],
  run(values) {
    const dry = values['dry-run'] === true;
    const prefix = (values['prefix'] as string | undefined) ?? '';
    const stale = Segment.list().filter((s) => s.stale && s.name.startsWith(prefix));
    let status: number = EXIT.ok;
    const done: SegmentInfo[] = [];
    for (const s of stale) {
      // A process may have attached since the listing: check again right before removing.
      if (!dry && mappersOf(s.name).length > 0) continue;
      try {
        if (!dry) Segment.unlink(s.name);
        done.push(s);
        if (values['json'] !== true) {
          process.stdout.write(
            `${dry ? 'would remove' : 'removed'} ${s.name} (${s.kind}, ${size(s.size)}, creator ${s.creatorPid || 'unknown'} is gone)\n`,
          );
        }
      } catch (e) {
        fail(e);
        status = EXIT.failed;
      }
    }
    if (values['json'] === true) {
      const rows = done.map((s) => ({ name: s.name, kind: s.kind, size: s.size, creatorPid: s.creatorPid, removed: !dry }));
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    } else if (stale.length === 0) process.stdout.write('no stale segments\n');
    return status;
  },
};
