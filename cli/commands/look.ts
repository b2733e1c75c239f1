/** ls and inspect: what is on the bus, with live figures. */
import { setTimeout as sleep } from 'node:timers/promises';
import { Segment } from '../../src/index.js';
import { EXIT, intOption, type Command } from '../command.js';
import { date, rate, size, table } from '../format.js';
import { mappers } from '../procmaps.js';
import { counter, probe, ratePerSecond, type LiveState, type Probe } from '../probe.js';
import { pidLabel } from './segments.js';
import { bridgeSummary } from '../../src/bridge/status.js';

export type Sampled = Probe & { rate: number | null };

/** Probes every segment (or those named) twice, `sampleMs` apart, to give each channel its message rate. */
export async function sample(sampleMs: number, only?: string): Promise<Sampled[]> {
  const list = () => Segment.list().filter((s) => only === undefined || s.name === only);
  const first = new Map<string, number | null>();
  let t0 = performance.now();
  const maps = mappers();
  const firstProbes = list().map((s) => probe(s, maps.get(s.name) ?? []));
  for (const p of firstProbes) first.set(p.name, counter(p.live));
  const withCounters = firstProbes.some((p) => counter(p.live) !== null);
  if (!withCounters || sampleMs === 0) return firstProbes.map((p) => ({ ...p, rate: null }));
  await sleep(sampleMs);
  const ms = performance.now() - t0;
  t0 = performance.now();
  const maps2 = mappers();
  return list().map((s) => {
    const p = probe(s, maps2.get(s.name) ?? []);
    const before = first.get(p.name);
    return { ...p, rate: before === undefined ? null : ratePerSecond(before, counter(p.live), ms, p.live?.kind === 'queue') };
  });
}

function holder(h: { pid: number; alive: boolean } | null | undefined): string {
  return h ? `${h.pid}${h.alive ? '' : ' (dead)'}` : 'free';
}

/** One line summing up a channel's live state for ls. */
export function summary(live: LiveState | null, r: number | null): string {
  if (live === null) return '';
  switch (live.kind) {
    case 'topic': {
      const lost = live.subscribers.reduce((a, s) => a + s.lost, 0);
      const lag = Math.max(0, ...live.subscribers.map((s) => s.lag));
      return `seq ${live.published}, ${live.publishers.length} pub, ${live.subscribers.length} sub, ${rate(r)}, max lag ${lag}, lost ${lost}`;
    }
    case 'queue':
      return `depth ${live.length}/${live.slots}, ${rate(r)}${live.ended ? ', ended' : ''}${live.lost + live.abandoned > 0 ? `, lost ${live.lost}, abandoned ${live.abandoned}` : ''}`;
    case 'mailbox':
      // A bridge's status mailbox (shmbus bridge): its figures instead of the mailbox's.
      if (live.bridge) return bridgeSummary(live.bridge);
      return `version ${live.version}, ${size(live.length)}, ${rate(r)}`;
    case 'rpc':
      return `${live.workers.length} workers (${live.workers.filter((w) => w.busy).length} busy)`;
    case 'mutex':
      return `holder ${holder(live.holder)}`;
    case 'rwlock':
      return `writer ${holder(live.holder)}, ${live.holders!.length} readers`;
    case 'semaphore':
      return `value ${live.value}/${live.total}, ${live.holders!.length} holders`;
    case 'event':
      return `${live.set ? 'set' : 'reset'}${live.manualReset ? ' (manual reset)' : ''}`;
  }
}

/** A Probe as JSON: dates in the CLI's one format. */
export function toJson(p: Sampled): Record<string, unknown> {
  return { ...p, createdAt: date(p.createdAt) };
}

export const ls: Command = {
  name: 'ls',
  synopsis: '[--json] [--sample MS]',
  summary: 'list segments: kind, size, creator, alive/stale, pids, live channel figures',
  details: `Lists every shmbus segment on this machine: kind, payload size, creator pid, creation time (ISO 8601,
UTC), alive or stale (creator dead and nobody maps it: \`shmbus gc\` removes it), the pids that map it, and for
channels their live figures (Topic: last sequence, publishers, subscribers, messages/s, largest subscriber lag,
lost; Queue: depth, messages/s; Mailbox: version, value size, writes/s). Rates are measured over --sample ms.
  --json       print {segments, totals} as JSON
  --sample MS  how long to measure rates (default 200; 0 = no rates)`,
  options: { json: { type: 'boolean' }, sample: { type: 'string' } },
  positionals: [0, 0],
  async run(values) {
    const rows = await sample(intOption(values, 'sample', 200));
    const totals = {
      segments: rows.length,
      bytes: rows.reduce((a, r) => a + r.size, 0),
      stale: rows.filter((r) => r.state === 'stale').length,
      staleBytes: rows.filter((r) => r.state === 'stale').reduce((a, r) => a + r.size, 0),
    };
    if (values['json'] === true) {
      process.stdout.write(`${JSON.stringify({ segments: rows.map(toJson), totals }, null, 2)}\n`);
      return EXIT.ok;
    }
    if (rows.length === 0) {
      process.stdout.write('no shmbus segments\n');
      return EXIT.ok;
    }
    const body = rows.map((r) => [
      r.name,
      r.kind,
      size(r.size),
      String(r.creatorPid || '-'),
      date(r.createdAt) ?? '-',
      r.state,
      r.pids.join(',') || '-',
      r.error ? `error: ${r.error}` : summary(r.live, r.rate),
    ]);
    process.stdout.write(`${table(['NAME', 'KIND', 'SIZE', 'CREATOR', 'CREATED', 'STATE', 'PIDS', 'LIVE'], body)}\n`);
    process.stdout.write(
      `${totals.segments} segments, ${size(totals.bytes)}; ${totals.stale} stale (${size(totals.staleBytes)}: shmbus gc removes them)\n`,
    );
    return EXIT.ok;
  },
};

const PARAM_NAMES: Record<string, string[]> = {
  topic: ['capacityLo', 'capacityHi', 'maxMessageSize', 'dataOffset', 'flags'],
  queue: ['slots', 'maxMessageSize'],
  mailbox: ['maxMessageSize', 'slotStride'],
  rpc: ['slots', 'maxMessageSize', 'maxWorkers'],
};

/** Labelled lines of one segment for inspect (text). */
function inspectText(p: Sampled): string {
  const lines: [string, string][] = [
    ['name', p.name],
    ['kind', p.kind],
    ['size', `${size(p.size)} (${p.size} bytes payload)`],
    ['creator', `${p.creatorPid || '-'}`],
    ['created', date(p.createdAt) ?? '-'],
    ['state', p.state],
    ['mapped by', p.pids.map(pidLabel).join(', ') || 'nobody'],
  ];
  const names = PARAM_NAMES[p.kind] ?? [];
  p.params.forEach((v, i) => {
    if (v !== 0 || i < names.length) lines.push([`param ${names[i] ?? i}`, String(v)]);
  });
  const out = lines.map(([k, v]) => `${k.padEnd(20)} ${v}`);
  if (p.error) out.push(`${'error'.padEnd(20)} ${p.error}`);
  const l = p.live;
  const add = (k: string, v: string | number | boolean) => out.push(`${k.padEnd(20)} ${String(v)}`);
  if (l?.kind === 'topic') {
    add('capacity', `${size(l.capacity)} ring, messages up to ${size(l.maxMessageSize)}`);
    add('single publisher', l.singlePublisher);
    add('sequence', `last ${l.published}, oldest in ring ${l.oldest}`);
    add('ring positions', `write ${l.writePos}, tail ${l.tailPos}`);
    add('rate', rate(p.rate));
    add('writers lock', holder(l.writersLock));
    add('publishers', l.publishers.map((h) => holder(h)).join(', ') || 'none');
    add('subscribers', l.subscribers.length);
    if (l.subscribers.length > 0) {
      const t = table(
        ['PID', 'ALIVE', 'NEXT SEQ', 'LAG', 'LOST'],
        l.subscribers.map((s) => [String(s.pid), s.alive ? 'yes' : 'no', String(s.nextSeq), String(s.lag), String(s.lost)]),
      );
      out.push(...t.split('\n').map((x) => `  ${x}`));
    }
  } else if (l?.kind === 'queue') {
    add('depth', `${l.length} of ${l.slots} slots (messages up to ${size(l.maxMessageSize)})`);
    add('ring positions', `next to send ${l.tail}, next to receive ${l.head}`);
    add('rate', rate(p.rate));
    add('ended', l.ended);
    add('abandoned', l.abandoned);
    add('lost', l.lost);
  } else if (l?.kind === 'mailbox') {
    add('version', l.version);
    add('value', `${size(l.length)} (max ${size(l.maxMessageSize)}), written ${date(l.writtenAt) ?? 'never'}`);
    add('rate', rate(p.rate));
    add('writers lock', holder(l.writersLock));
    if (l.bridge) {
      add('bridge', bridgeSummary(l.bridge));
      for (const c of l.bridge.channels) {
        add(`  ${c.kind} ${c.local}`, `${c.direction} ${c.subject} ${c.state}: out ${c.out.messages} (${c.out.rate.toFixed(0)}/s, lost ${c.out.lost}), in ${c.in.messages} (${c.in.rate.toFixed(0)}/s, lost ${c.in.lost}), lag ${c.lag}${c.error ? `, error ${c.error}` : ''}`);
      }
    }
  } else if (l?.kind === 'rpc') {
    add('request ring', `${l.slots} slots, requests up to ${size(l.maxMessageSize)}`);
    add('workers', l.workers.map((w) => `${holder(w)}${w.busy ? ' busy' : ''}`).join(', ') || 'none');
  } else if (l) {
    if (l.holder !== undefined) add(l.kind === 'rwlock' ? 'writer' : 'holder', holder(l.holder));
    if (l.recoveries !== undefined) add('recoveries', l.recoveries);
    if (l.value !== undefined) add('value', `${l.value} free of ${l.total}`);
    if (l.holders) add(l.kind === 'rwlock' ? 'readers' : 'holders', l.holders.map((h) => `${holder(h)}${h.units ? ` x${h.units}` : ''}`).join(', ') || 'none');
    if (l.set !== undefined) add('set', `${l.set}${l.manualReset ? ' (manual reset)' : ' (auto reset)'}`);
  }
  return out.join('\n');
}

export const inspect: Command = {
  name: 'inspect',
  synopsis: 'NAME [--json] [--sample MS]',
  summary: 'one segment: labelled header fields, live state, subscribers and their lag, lock holders',
  details: `Shows one segment: its header fields with their names, the processes that map it, and its live state
(Topic: sequence numbers, ring positions, every subscriber's cursor, lag and lost count, publishers; Queue:
depth, ended, abandoned and lost counts; Mailbox: version and value; locks: holders with alive/dead).
  --json       print it as JSON
  --sample MS  how long to measure the message rate (default 200; 0 = none)`,
  options: { json: { type: 'boolean' }, sample: { type: 'string' } },
  positionals: [1, 1],
  async run(values, [name]) {
    const [p] = await sample(intOption(values, 'sample', 200), name);
    if (!p) {
      process.stderr.write(`shmbus: ERR_SHM_NOT_FOUND: no segment "${name}"\n`);
      return EXIT.failed;
    }
    process.stdout.write(values['json'] === true ? `${JSON.stringify(toJson(p), null, 2)}\n` : `${inspectText(p)}\n`);
    return p.error ? EXIT.failed : EXIT.ok;
  },
};
