/**
 * A peer of the transports suite (bench/suites/90-transports.ts), as a process (argv[2] = its LinkConfig as JSON)
 * or as a worker thread (workerData). It answers every probe with a hello, echoes every data message in 'echo'
 * benches, and in stream benches answers each window's last message (and the last of all, with its CPU time).
 * The role is carried by the messages themselves (byte 1 of a data message: 0 echo, else the window size), so one
 * peer serves every bench of a transport.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { KIND, openPeer, type LinkConfig } from '../transports.js';

const config: LinkConfig = isMainThread ? (JSON.parse(process.argv[2]!) as LinkConfig) : (workerData as LinkConfig);
const link = await openPeer(
  config,
  (d) => parentPort!.postMessage(d),
  (cb) => parentPort!.on('message', cb),
);
const hello = new Uint8Array([KIND.hello, config.index]);
const ack = new Uint8Array([KIND.ack, config.index]);
// CPU time is reported per stream: from the end of the previous one (or from the start) to its last message.
let started = process.cpuUsage();
let count = 0;
for (;;) {
  const m = await link.receive();
  const kind = m[0];
  if (kind === KIND.probe) {
    await link.send(hello);
  } else if (kind === KIND.data && m[1] === 0) {
    await link.send(m); // echo
  } else if (kind === KIND.data) {
    if (++count % m[1]! === 0) await link.send(ack);
  } else if (kind === KIND.last) {
    count = 0;
    const cpu = process.cpuUsage(started);
    await link.send(new TextEncoder().encode(`\u0004${JSON.stringify({ index: config.index, cpuUs: cpu.user + cpu.system })}`));
    started = process.cpuUsage();
  } else {
    break; // anything else: the parent is done with us
  }
}
await link.close();
if (isMainThread) process.exit(0);
