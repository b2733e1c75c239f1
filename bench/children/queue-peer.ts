/**
 * The far side of the Queue and Rpc benchmarks (bench/suites/40-queue.ts).
 *
 * usage: queue-peer.js produce <queue> <count> <size>   prints "ready", waits for "go" on stdin, sends <count>
 *                                                       messages of <size> bytes, prints "sent"
 *        queue-peer.js consume <queue>                  prints "ready", receives until the end of stream, prints
 *                                                       "done <n>"
 *        queue-peer.js echo <in> <out> <spinUs>         sends back on <out> every message from <in> until <in> ends
 *        queue-peer.js serve <rpc> <maxMessageSize> <spinUs>  Rpc echo server; prints "serving", stops on "stop"
 *        queue-peer.js serve-zc <rpc> <maxMessageSize> <spinUs>  the same, zero-copy (request view, response loan)
 * Bounded: every wait has a 60 s timeout, so a broken run ends instead of hanging.
 */
import { createInterface } from 'node:readline';
import { Queue, Rpc, type RpcRequest, type RpcResponseLoan } from '../../src/index.js';

/** Writes the request's 8-byte stamp into a response loan and returns the loan (the zero-copy echo's answer). */
function echoStamp(loan: RpcResponseLoan, data: Uint8Array): RpcResponseLoan {
  loan.bytes.set(data.subarray(0, 8));
  return loan;
}
import { rpcServeOptions } from '../api.js';

const [role, a, b, c] = process.argv.slice(2);
const TIMEOUT = 60_000;
const say = (l: string): void => void process.stdout.write(`${l}\n`);
const stdinLine = (want: string): Promise<void> =>
  new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (l) => {
      if (l === want) {
        rl.close();
        resolve();
      }
    });
  });

try {
  if (role === 'produce') {
    const q = Queue.open(a!);
    const count = Number(b);
    const buf = new Uint8Array(Number(c)).fill(0x5a);
    say('ready');
    await stdinLine('go');
    for (let i = 0; i < count; i++) if (!q.trySend(buf)) await q.send(buf, { timeout: TIMEOUT });
    say('sent');
  } else if (role === 'consume') {
    const q = Queue.open(a!);
    say('ready');
    let n = 0;
    for (;;) {
      const m = q.tryReceive() ?? (await q.receive({ timeout: TIMEOUT }));
      if (m === null) break;
      n++;
    }
    say(`done ${n}`);
  } else if (role === 'echo') {
    const spin = Number(c ?? 50);
    const qin = Queue.open(a!, { spin });
    const qout = Queue.open(b!, { spin });
    const into = new Uint8Array(qin.maxMessageSize);
    const echoInto = { into };
    const echoWait = { timeout: TIMEOUT, into };
    const echoSend = { timeout: TIMEOUT };
    say('ready');
    for (;;) {
      // Options made once, receiving into one reused buffer: the echo allocates nothing per message of its own
      // (as the Topic echo reads in place), so its scavenges are the channel's, not the harness's.
      const m = qin.tryReceive(echoInto) ?? (await qin.receive(echoWait));
      if (m === null) break;
      if (!qout.trySend(m.data)) await qout.send(m.data, echoSend);
    }
  } else if (role === 'serve' || role === 'serve-zc') {
    // serve-zc: zero-copy echo of the same size: the request is read in its slot (copy: false) and the answer is a
    // response loan carrying the request's first 8 bytes (a handler would render its result in place), as the
    // Topic zero-copy frame echo does.
    const handler =
      role === 'serve'
        ? (req: RpcRequest) => req.data
        : (req: RpcRequest) => {
            const loan = req.tryLoan(req.data.length);
            if (loan === null) return req.loan(req.data.length).then((l) => echoStamp(l, req.data));
            return echoStamp(loan, req.data);
          };
    const server = Rpc.serve(a!, handler, { workers: 1, maxMessageSize: Number(b), slots: 4, spin: Number(c ?? 50), copy: role === 'serve' });
    say('serving');
    await stdinLine('stop');
    await server.close();
  } else {
    throw new Error(`unknown role ${role}`);
  }
  process.exit(0);
} catch (e) {
  process.stderr.write(`queue-peer ${role}: ${String((e as Error)?.stack ?? e)}\n`);
  process.exit(1);
}
