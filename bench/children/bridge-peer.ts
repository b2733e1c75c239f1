/**
 * The far side of the bridge benchmark (bench/suites/80-bridge.ts). Modes:
 *   nats-echo URL IN OUT      echo every message of NATS subject IN to subject OUT
 *   topic-echo IN OUT         echo every message of local topic IN to local topic OUT (it creates OUT)
 *   nats-sink URL SUBJ N      count messages of SUBJ until N or 3 s of silence; print "got <count> <ms first..last>"
 *   topic-sink TOPIC N        the same for a local topic
 * Each prints "ready" once it listens.
 */
import { connect } from 'nats';
import { Topic } from '../../src/index.js';

const [mode, ...args] = process.argv.slice(2) as [string, ...string[]];
const out = (l: string): void => void process.stdout.write(`${l}\n`);

async function sink(next: (timeout: number) => Promise<boolean>, n: number): Promise<void> {
  let count = 0;
  let first = 0;
  let last = 0;
  while (count < n && (await next(count === 0 ? 60_000 : 3000))) {
    last = performance.now();
    if (count === 0) first = last;
    count++;
  }
  out(`got ${count} ${(last - first).toFixed(1)}`);
}

switch (mode) {
  case 'nats-echo': {
    const [url, inSubj, outSubj] = args as [string, string, string];
    const nc = await connect({ servers: url });
    nc.subscribe(inSubj, { callback: (_e, m) => nc.publish(outSubj, m.data) });
    await nc.flush();
    out('ready');
    await nc.closed();
    break;
  }
  case 'topic-echo': {
    const [inName, outName] = args as [string, string];
    const pub = Topic.create(outName, { capacity: 1 << 20, maxMessageSize: 4096 });
    const sub = Topic.subscribe(inName, { timeout: 60_000, spin: 50 });
    out('ready');
    for (;;) {
      const m = await sub.read({ timeout: 60_000 }).catch(() => null);
      if (m === null) break;
      pub.publish(m.data);
    }
    pub.close();
    Topic.unlink(outName);
    break;
  }
  case 'nats-sink': {
    const [url, subj, n] = args as [string, string, string];
    const nc = await connect({ servers: url });
    const sub = nc.subscribe(subj);
    await nc.flush();
    out('ready');
    const it = sub[Symbol.asyncIterator]();
    await sink(async (timeout) => {
      let t: NodeJS.Timeout | undefined;
      const r = await Promise.race([it.next(), new Promise<null>((res) => (t = setTimeout(() => res(null), timeout)))]);
      clearTimeout(t);
      return r !== null && !r.done;
    }, Number(n));
    await nc.close();
    break;
  }
  case 'topic-sink': {
    const [name, n] = args as [string, string];
    const sub = Topic.subscribe(name, { timeout: 60_000, from: 'oldest' });
    out('ready');
    await sink(async (timeout) => (await sub.read({ timeout }).catch(() => null)) !== null, Number(n));
    sub.close();
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
