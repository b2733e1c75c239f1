/** pub: put messages on a Topic, Queue or Mailbox from arguments, stdin or a file, one message per line. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Mailbox, Queue, Topic } from '../../src/index.js';
import { EXIT, UsageError, intOption, type Command } from '../command.js';
import { fail } from '../errors.js';
import { kindOf } from '../kind.js';

interface Sink {
  put(text: string): Promise<number>;
  close(): void;
}

function sinkFor(name: string, kind: string, timeout: number): Sink {
  if (kind === 'topic') {
    const t = Topic.open(name);
    return { put: async (s) => t.publish(s, { timeout }), close: () => t.close() };
  }
  if (kind === 'queue') {
    const q = Queue.open(name);
    let n = 0;
    return {
      put: async (s) => {
        await q.send(s, { timeout });
        return ++n;
      },
      close: () => q.close(),
    };
  }
  if (kind === 'mailbox') {
    const m = Mailbox.open(name);
    return { put: async (s) => m.write(s, { timeout }), close: () => m.close() };
  }
  throw new UsageError(`${name} is a ${kind}; pub writes to topics, queues and mailboxes`);
}

async function* lines(file: string | undefined): AsyncGenerator<string> {
  const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
  const rl = createInterface({ input, crlfDelay: Infinity });
  for await (const l of rl) yield l;
}

export const pub: Command = {
  name: 'pub',
  synopsis: 'NAME [MESSAGE...] [--file F] [--json] [--end] [--timeout MS]',
  summary: 'publish messages into a Topic, Queue or Mailbox (arguments, stdin lines, or a file)',
  details: `Each MESSAGE argument is one message; without arguments, each line of stdin (or of --file) is one.
Topic: publishes (as one more publisher while it runs); Queue: sends (waits while the queue is full);
Mailbox: writes (each line replaces the value).
  --file F      read the lines from file F ("-" = stdin)
  --json        every message must be valid JSON (a bad line stops with exit 1 before it is sent); sent compact
  --end         Queue: end the stream after the last message (consumers then see the end)
  --timeout MS  how long one message may wait (full queue, busy writers); default 5000
Prints how many messages went out (and the last sequence number or version) on stderr.`,
  options: {
    file: { type: 'string' },
    json: { type: 'boolean' },
    end: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  positionals: [1, Infinity],
  async run(values, [name, ...messages]) {
    const timeout = intOption(values, 'timeout', 5000);
    if (messages.length > 0 && values['file'] !== undefined) throw new UsageError('give messages as arguments or --file, not both');
    let sink: Sink;
    let kind: string;
    try {
      kind = kindOf(name!);
      sink = sinkFor(name!, kind, timeout);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      fail(e);
      return EXIT.failed;
    }
    let count = 0;
    let last = 0;
    try {
      const source = messages.length > 0 ? messages : lines(values['file'] as string | undefined);
      for await (const raw of source) {
        let text = raw;
        if (values['json'] === true) {
          try {
            text = JSON.stringify(JSON.parse(raw));
          } catch (e) {
            process.stderr.write(`shmbus: message ${count + 1} is not valid JSON: ${(e as Error).message}\n`);
            return EXIT.failed;
          }
        }
        last = await sink.put(text);
        count++;
      }
      if (values['end'] === true) {
        if (kind !== 'queue') throw new UsageError('--end applies to queues');
        const q = Queue.open(name!);
        q.end();
        q.close();
      }
    } catch (e) {
      if (e instanceof UsageError) throw e;
      fail(e);
      return EXIT.failed;
    } finally {
      sink.close();
    }
    const what = kind === 'topic' ? `last seq ${last}` : kind === 'mailbox' ? `version ${last}` : `${last} sent`;
    process.stderr.write(`published ${count} message${count === 1 ? '' : 's'} to ${kind} ${name} (${what})\n`);
    return EXIT.ok;
  },
};
