#!/usr/bin/env node
/**
 * shmbus command line: look at and clean up the segments on this machine. Uses the public API only.
 *   shmbus ls [--json]                 list segments (kind, size, creator, attached, stale)
 *   shmbus inspect NAME [--json]       header and layout parameters of one segment
 *   shmbus rm NAME...                  unlink segments by name
 *   shmbus gc [--dry-run] [--prefix P] unlink stale segments (creator dead, nobody attached)
 */
import { Segment, isShmbusError, type SegmentInfo } from '../src/index.js';

const USAGE = `usage: shmbus <command>
  ls [--json]                  list shmbus segments on this machine
  inspect NAME [--json]        show one segment's header
  rm NAME...                   unlink segments
  gc [--dry-run] [--prefix P]  unlink stale segments (creator dead and nobody has them mapped)`;

function table(rows: SegmentInfo[]): string {
  const head = ['NAME', 'KIND', 'SIZE', 'CREATOR', 'CREATED', 'STATE'];
  const body = rows.map((r) => [
    r.name,
    r.kind,
    String(r.size),
    String(r.creatorPid || '-'),
    r.createdAt ? r.createdAt.toISOString().replace('T', ' ').slice(0, 19) : '-',
    r.stale ? 'stale' : r.attached ? 'attached' : 'idle',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cols) => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function flag(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}

function main(argv: string[]): number {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case 'ls': {
      const json = flag(args, '--json');
      const rows = Segment.list();
      console.log(json ? JSON.stringify(rows, null, 2) : rows.length ? table(rows) : 'no shmbus segments');
      return 0;
    }
    case 'inspect': {
      const json = flag(args, '--json');
      const name = args[0];
      if (!name) break;
      const info = Segment.list().find((s) => s.name === name);
      if (!info) {
        console.error(`shmbus: no segment "${name}"`);
        return 1;
      }
      let params: readonly number[] = [];
      if (info.kind !== 'unknown') {
        const seg = Segment.open(name);
        params = seg.params;
        seg.close();
      }
      const out = { ...info, params };
      console.log(json ? JSON.stringify(out, null, 2) : Object.entries(out).map(([k, v]) => `${k.padEnd(11)} ${Array.isArray(v) ? v.join(' ') : String(v)}`).join('\n'));
      return 0;
    }
    case 'rm': {
      if (args.length === 0) break;
      let status = 0;
      for (const name of args) {
        try {
          Segment.unlink(name);
          console.log(`removed ${name}`);
        } catch (e) {
          console.error(`shmbus: ${isShmbusError(e) ? `${e.code}: ${e.message}` : String(e)}`);
          status = 1;
        }
      }
      return status;
    }
    case 'gc': {
      const dry = flag(args, '--dry-run');
      const prefix = option(args, '--prefix') ?? '';
      const stale = Segment.list().filter((s) => s.stale && s.name.startsWith(prefix));
      for (const s of stale) {
        if (!dry) Segment.unlink(s.name);
        console.log(`${dry ? 'would remove' : 'removed'} ${s.name} (${s.kind}, ${s.size} bytes, creator ${s.creatorPid || 'unknown'} is gone)`);
      }
      if (stale.length === 0) console.log('no stale segments');
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
      console.log(USAGE);
      return 0;
  }
  console.error(USAGE);
  return 2;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error(`shmbus: ${isShmbusError(e) ? `${e.code}: ${e.message}` : String(e)}`);
  process.exitCode = 1;
}
