/** tail: print what a Topic carries (as one more subscriber: non-destructive) or each new Mailbox value. */
import { crc32 } from 'node:zlib';
import { Frame, Mailbox, Topic, isShmbusError } from '../../src/index.js';
import { EXIT, choiceOption, intOption, type Command, type Values } from '../command.js';
import { fail } from '../errors.js';
import { date } from '../format.js';
import { interrupted, kindOf } from '../kind.js';

const FORMATS = ['text', 'hex', 'json', 'frame'] as const;
type Format = (typeof FORMATS)[number];
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A payload as JSON data: parsed JSON, else UTF-8 text, else base64. */
function payload(data: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
  }
  try {
    return { json: JSON.parse(text) as unknown };
  } catch {
    return { text };
  }
}

function hex(data: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < data.length; i += 16) {
    const row = data.subarray(i, i + 16);
    const h = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const a = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(`  ${i.toString(16).padStart(8, '0')}  ${h.padEnd(47)}  ${a}`);
  }
  return lines.join('\n');
}

/** One line (or block) for a message. `seq` is a Topic sequence or a Mailbox version. */
export function render(format: Format, seq: number, timestampMs: number, data: Uint8Array, lost: number): string {
  switch (format) {
    case 'text':
      return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
    case 'hex':
      return `#${seq} ${data.length} bytes${lost ? ` (lost ${lost})` : ''}\n${hex(data)}`;
    case 'json':
      return JSON.stringify({ seq, time: date(timestampMs), size: data.length, lost, ...payload(data) });
    case 'frame': {
      try {
        const f = Frame.decode(data);
        return `#${seq} ${f.width}x${f.height} ${f.format} ${f.dtype} stride ${f.stride} crc32 ${crc32(f.bytes).toString(16).padStart(8, '0')}${f.timestamp ? ` at ${date(f.timestamp)}` : ''}${lost ? ` (lost ${lost})` : ''}`;
      } catch (e) {
        return `#${seq} ${data.length} bytes: ${isShmbusError(e) ? e.message : String(e)}`;
      }
    }
  }
}

async function tailTopic(name: string, values: Values, format: Format, limit: number): Promise<number> {
  const stop = interrupted();
  const from = choiceOption(values, 'from', ['latest', 'oldest'] as const, 'latest');
  const sub = Topic.subscribe(name, { from });
  let printed = 0;
  let lostBefore = 0;
  try {
    await sub.ready;
    // Ready to read: scripts (and tests) can start publishing once they see this on stderr.
    if (values['quiet'] !== true) process.stderr.write(`tailing topic ${name} from ${from} (Ctrl-C to stop)\n`);
    while (printed < limit) {
      const m = await sub.read({ signal: stop.signal });
      if (m === null) break; // end of stream: no publisher left
      const lost = sub.lost - lostBefore;
      lostBefore = sub.lost;
      if (lost > 0 && format === 'text') process.stderr.write(`(lost ${lost} messages: the ring overtook this reader)\n`);
      process.stdout.write(`${render(format, m.seq, m.timestamp, m.data, lost)}\n`);
      printed++;
    }
  } catch (e) {
    if (!isShmbusError(e, 'ERR_ABORTED')) throw e;
  } finally {
    stop.dispose();
    sub.close();
  }
  return EXIT.ok;
}

async function tailMailbox(name: string, values: Values, format: Format, limit: number): Promise<number> {
  const stop = interrupted();
  const mb = Mailbox.open(name);
  let printed = 0;
  try {
    let v = mb.read();
    if (values['quiet'] !== true) process.stderr.write(`tailing mailbox ${name} (Ctrl-C to stop)\n`);
    // The current value first (as `tail` prints the end of a file), then each change.
    if (v.version > 0 && values['from'] !== 'latest') {
      process.stdout.write(`${render(format, v.version, v.timestamp, v.data, 0)}\n`);
      printed++;
    }
    while (printed < limit) {
      await mb.changed({ since: v.version, signal: stop.signal });
      const next = mb.read();
      // Versions skipped between two reads are values nobody asked to keep (a mailbox holds the latest only).
      v = next;
      process.stdout.write(`${render(format, v.version, v.timestamp, v.data, 0)}\n`);
      printed++;
    }
  } catch (e) {
    if (!isShmbusError(e, 'ERR_ABORTED')) throw e;
  } finally {
    stop.dispose();
    mb.close();
  }
  return EXIT.ok;
}

export const tail: Command = {
  name: 'tail',
  synopsis: 'NAME [--format text|hex|json|frame] [--from latest|oldest] [-n N] [--quiet]',
  summary: 'print messages as they arrive on a Topic (non-destructively) or each new Mailbox value',
  details: `Topic: subscribes as one more subscriber (publishers and other subscribers never notice; when it falls
behind, the ring overtakes it and it reports what it lost). Ends at the end of the stream (no publisher left).
Mailbox: prints the current value, then every new one. A Queue is refused: reading it would take its messages.
  --format F   text (default: the payload as UTF-8), hex (a dump), json (one JSON object per line: seq, time,
               size, lost, and json/text/base64), frame (a Frame: width x height, format, dtype, stride, crc32)
  --from W     latest (default: what is published from now on) or oldest (what the ring still holds first);
               for a Mailbox, latest skips the current value
  -n N         stop after N messages
  --quiet      no "tailing ..." line on stderr`,
  options: {
    format: { type: 'string' },
    from: { type: 'string' },
    n: { type: 'string', short: 'n' },
    quiet: { type: 'boolean', short: 'q' },
  },
  positionals: [1, 1],
  async run(values, [name]) {
    const format = choiceOption(values, 'format', FORMATS, 'text');
    choiceOption(values, 'from', ['latest', 'oldest'] as const, 'latest');
    const limit = values['n'] === undefined ? Infinity : intOption(values, 'n', 0, 1);
    let kind: string;
    try {
      kind = kindOf(name!);
    } catch (e) {
      fail(e);
      return EXIT.failed;
    }
    if (kind === 'topic') return tailTopic(name!, values, format, limit);
    if (kind === 'mailbox') return tailMailbox(name!, values, format, limit);
    if (kind === 'queue') {
      process.stderr.write(`shmbus: ${name} is a queue: every message goes to one consumer, so tail would take them (use inspect or stats)\n`);
      return EXIT.failed;
    }
    process.stderr.write(`shmbus: ${name} is a ${kind}; tail reads topics and mailboxes\n`);
    return EXIT.failed;
  },
};
