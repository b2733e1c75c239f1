/**
 * A process on host B of the bridge tests (started under nsenter in host B's mount namespace). One mode per run:
 *   frames TOPIC N        read N frames; print "frame <i> <crc32 of the pixels> <width>x<height>"
 *   text TOPIC            print "text <payload>" for each message
 *   drain QUEUE N         receive until the end of stream; print "at <count>" every N/20 records and then
 *                         "done {count, dups, missing, outOfOrder, ended}" (records are decimal indices)
 *   serve RPC             serve: reply the green channel of an RGB request ("boom" throws); print "serving"
 *   mailbox NAME          print "value <text>" for the first value, write "from-b", print "wrote"
 *   status NAME           print the next value of the bridge status Mailbox NAME as one JSON line
 */
import { crc32 } from 'node:zlib';
import { Frame, Mailbox, Queue, Rpc, Topic } from '../../src/index.js';

const [mode, name, arg] = process.argv.slice(2) as [string, string, string | undefined];
const out = (l: string): void => void process.stdout.write(`${l}\n`);

async function appear<T>(open: () => T, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return open();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

switch (mode) {
  case 'frames': {
    const sub = Topic.subscribe(name, { from: 'oldest', timeout: 30_000 });
    out('subscribed');
    for (let i = 0; i < Number(arg); i++) {
      const m = await sub.read({ timeout: 30_000 });
      if (m === null) break;
      const f = Frame.decode(m.data);
      out(`frame ${i} ${crc32(f.data as Uint8Array).toString(16)} ${f.width}x${f.height}`);
    }
    sub.close();
    break;
  }
  case 'text': {
    const sub = Topic.subscribe(name, { from: 'oldest', timeout: 30_000 });
    out('subscribed');
    for (;;) {
      const m = await sub.read({ timeout: 60_000 });
      if (m === null) break;
      out(`text ${m.text()}`);
    }
    break;
  }
  case 'drain': {
    const total = Number(arg);
    const q = await Queue.openAsync(name, { timeout: 60_000 });
    out('opened');
    const seen = new Uint8Array(total);
    let count = 0;
    let dups = 0;
    let outOfOrder = 0;
    let last = -1;
    const step = Math.max(1, Math.floor(total / 20));
    for (;;) {
      const m = await q.receive({ timeout: 60_000 });
      if (m === null) break;
      const i = Number(m.text());
      if (!(i >= 0 && i < total)) throw new Error(`unexpected record ${m.text()}`);
      if (seen[i]) {
        dups++;
        process.stderr.write(`duplicate ${i} at count ${count}, previous record ${last}\n`);
      }
      seen[i] = 1;
      if (i < last) outOfOrder++;
      last = i;
      count++;
      if (count % step === 0) out(`at ${count}`);
    }
    const missing = seen.reduce((a, x) => a + (x ? 0 : 1), 0);
    out(`done ${JSON.stringify({ count, dups, missing, outOfOrder, ended: q.ended })}`);
    if (missing > 0) {
      // Which ones (stderr, for the failure message): the first ranges of missing indices.
      const ranges: string[] = [];
      for (let i = 0; i < total && ranges.length < 10; i++) {
        if (seen[i]) continue;
        let j = i;
        while (j + 1 < total && !seen[j + 1]) j++;
        ranges.push(`${i}-${j}`);
        i = j;
      }
      process.stderr.write(`missing: ${ranges.join(' ')}\n`);
    }
    q.close();
    break;
  }
  case 'serve': {
    const server = Rpc.serve(
      name,
      (req) => {
        if (req.data.length === 4 && req.text() === 'boom') throw new Error('boom on host B');
        return req.data.filter((_, i) => i % 3 === 1);
      },
      { maxMessageSize: 3 << 20, slots: 2 },
    );
    out('serving');
    await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
    await server.close();
    break;
  }
  case 'mailbox': {
    const mb = await appear(() => Mailbox.open(name, { timeout: 0 }));
    if (mb.version === 0) await mb.changed({ since: 0, timeout: 30_000 });
    out(`value ${mb.read().text()}`);
    mb.write('from-b');
    out('wrote');
    mb.close();
    break;
  }
  case 'status': {
    const mb = Mailbox.open(name);
    // The next status written, so that it counts everything that happened before this call.
    await mb.changed({ since: mb.version, timeout: 10_000 });
    out(mb.read().text());
    mb.close();
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
