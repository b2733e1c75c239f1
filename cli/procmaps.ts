/**
 * Which processes map which shmbus segments, from /proc/<pid>/maps (the data `ipcs -p` shows for SysV segments).
 * Processes of other users whose maps we cannot read are not listed (the kernel hides them from us).
 */
import { readdirSync, readFileSync } from 'node:fs';

const PREFIX = '/dev/shm/shmbus.';

/** segment name -> sorted pids that map it (this process excluded). One scan of /proc. */
export function mappers(): Map<string, number[]> {
  const out = new Map<string, Set<number>>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return new Map();
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let maps: string;
    try {
      maps = readFileSync(`/proc/${entry}/maps`, 'latin1');
    } catch {
      continue; // gone meanwhile, or another user's
    }
    let at = 0;
    while ((at = maps.indexOf(PREFIX, at)) >= 0) {
      let end = maps.indexOf('\n', at);
      if (end < 0) end = maps.length;
      // A mapping of an unlinked object ends in " (deleted)": it is no longer reachable by that name.
      const path = maps.slice(at + PREFIX.length, end);
      at = end;
      if (path.endsWith(' (deleted)')) continue;
      let set = out.get(path);
      if (!set) out.set(path, (set = new Set()));
      set.add(pid);
    }
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort((a, b) => a - b)]));
}

/** Pids that map segment `name` (this process excluded). */
export function mappersOf(name: string): number[] {
  return mappers().get(name) ?? [];
}
