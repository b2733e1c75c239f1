/** stats: a live, refreshing view of one segment's rates, lag and lost counts (like top). */
import { setTimeout as sleep } from 'node:timers/promises';
import { Segment } from '../../src/index.js';
import { EXIT, intOption, type Command } from '../command.js';
import { date, rate, size, table } from '../format.js';
import { interrupted } from '../kind.js';
import { mappersOf } from '../procmaps.js';
import { counter, probe, ratePerSecond, type Probe } from '../probe.js';

// Alternate screen + hidden cursor while running; both undone on every way out.
const ENTER = '\x1b[?1049h\x1b[?25l';
export const RESTORE = '\x1b[?25h\x1b[?1049l';
const HOME_CLEAR = '\x1b[H\x1b[2J';

function snapshot(name: string): Probe | null {
  const info = Segment.list().find((s) => s.name === name);
  return info ? probe(info, mappersOf(name)) : null;
}

function screen(p: Probe, r: number | null, lostRates: Map<number, number | null>): string {
  const out = [`shmbus stats ${p.name}  (${p.kind}, ${size(p.size)}, ${p.state})  ${date(Date.now())}`, ''];
  const l = p.live;
  if (p.error) out.push(`error: ${p.error}`);
  if (l?.kind === 'topic') {
    out.push(`messages   ${l.published} published, ${rate(r)}`);
    out.push(`ring       ${size(l.capacity)}, oldest seq ${l.oldest}`);
    out.push(`publishers ${l.publishers.map((h) => `${h.pid}${h.alive ? '' : ' (dead)'}`).join(', ') || 'none'}`);
    out.push('');
    out.push(
      l.subscribers.length === 0
        ? 'no subscribers'
        : table(
            ['SUBSCRIBER', 'ALIVE', 'LAG', 'LOST', 'LOST/S'],
            l.subscribers.map((s) => [String(s.pid), s.alive ? 'yes' : 'no', String(s.lag), String(s.lost), rate(lostRates.get(s.pid))]),
          ),
    );
  } else if (l?.kind === 'queue') {
    out.push(`depth      ${l.length} / ${l.slots} ${'#'.repeat(Math.round((20 * l.length) / Math.max(1, l.slots))).padEnd(20, '.')}`);
    out.push(`messages   ${rate(r)}${l.ended ? ' (ended)' : ''}`);
    out.push(`lost       ${l.lost}, abandoned ${l.abandoned}`);
  } else if (l?.kind === 'mailbox') {
    out.push(`version    ${l.version}, ${rate(r)}`);
    out.push(`value      ${size(l.length)}, written ${date(l.writtenAt) ?? 'never'}`);
  }
  out.push('', `mapped by  ${p.pids.join(', ') || 'nobody'}`, '', 'Ctrl-C to quit');
  return out.join('\n');
}

export const stats: Command = {
  name: 'stats',
  synopsis: 'NAME [--interval MS] [--count N] [--json]',
  summary: 'a live, refreshing view of a channel: rates, subscriber lag, lost counts (Ctrl-C to quit)',
  details: `Refreshes every --interval ms: Topic messages/s, each subscriber's lag, lost count and lost/s;
Queue depth and messages/s; Mailbox writes/s. On a terminal it draws full screen and restores the terminal on
Ctrl-C; otherwise it prints one snapshot per interval.
  --interval MS  refresh period (default 1000)
  --count N      stop after N refreshes
  --json         one JSON object per refresh (one line each)`,
  options: { interval: { type: 'string' }, count: { type: 'string' }, json: { type: 'boolean' } },
  positionals: [1, 1],
  async run(values, [name]) {
    const interval = intOption(values, 'interval', 1000, 10);
    const count = values['count'] === undefined ? Infinity : intOption(values, 'count', 0, 1);
    const json = values['json'] === true;
    let prev = snapshot(name!);
    if (prev === null) {
      process.stderr.write(`shmbus: ERR_SHM_NOT_FOUND: no segment "${name}"\n`);
      return EXIT.failed;
    }
    const tty = process.stdout.isTTY === true && !json;
    const stop = interrupted();
    const restore = (): void => {
      if (tty) process.stdout.write(RESTORE);
    };
    // Also on an uncaught error or process.exit elsewhere: never leave the terminal in the alternate screen.
    process.once('exit', restore);
    if (tty) process.stdout.write(ENTER);
    let t0 = performance.now();
    try {
      for (let i = 0; i < count; i++) {
        await Promise.race([sleep(interval, undefined, { signal: stop.signal }).catch(() => undefined), stop.promise]);
        if (stop.signal.aborted) break;
        const now = snapshot(name!);
        if (now === null) {
          process.stderr.write(`shmbus: ${name} was removed\n`);
          return EXIT.failed;
        }
        const ms = performance.now() - t0;
        t0 = performance.now();
        const r = ratePerSecond(counter(prev.live), counter(now.live), ms, now.live?.kind === 'queue');
        const lostRates = new Map<number, number | null>();
        if (now.live?.kind === 'topic' && prev.live?.kind === 'topic') {
          const before = new Map(prev.live.subscribers.map((s) => [s.pid, s.lost]));
          for (const s of now.live.subscribers) lostRates.set(s.pid, ratePerSecond(before.get(s.pid) ?? null, s.lost, ms, false));
        }
        if (json) process.stdout.write(`${JSON.stringify({ time: date(Date.now()), rate: r, ...now, createdAt: date(now.createdAt) })}\n`);
        else process.stdout.write(`${tty ? HOME_CLEAR : ''}${screen(now, r, lostRates)}\n${tty ? '' : '\n'}`);
        prev = now;
      }
    } finally {
      stop.dispose();
      restore();
      process.off('exit', restore);
    }
    return EXIT.ok;
  },
};
