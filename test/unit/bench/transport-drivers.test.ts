/**
 * The C and Python rows of the transports suite: bench/c/transport-driver.c (C <-> C over c/shmbus.h) and
 * bench/children/transport-driver.py (multiprocessing.Pipe/Queue, the Python Topic) run as real processes through
 * runProgramTransport, with the suite's ops, on 1 and 2 peers; every op answers, and no segment is left behind.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runProgramTransport, windowFor, type ProgramOp, type RoundTripResult, type StreamResult } from '../../../bench/transports.js';
import { buildWithShmbus } from '../../../bench/suites/50-c.js';
import { ROOT } from '../../../bench/lib.js';
import { trackNames, unlinkQuietly } from '../../helpers/index.js';
import { venvPython } from '../../helpers/peers.js';

const names = trackNames((n) => unlinkQuietly(`${n}-down`, `${n}-up`, `${n}-d0`, `${n}-d1`));
after(() => names.cleanup());

const MAX = 1 << 20;
const stream = (size: number, count: number, capMs?: number): ProgramOp => ({ size, count, window: windowFor(size), ...(capMs ? { capMs } : {}) });

function leftovers(name: string): string[] {
  return readdirSync('/dev/shm').filter((f) => f.includes(name));
}

async function check(command: [string, ...string[]], kind: string): Promise<void> {
  const name = names.name(`trdrv-${kind}`);
  const ops: ProgramOp[] = [{ rtt: 200, warm: 20 }, stream(64, 6000, 20), stream(64, 300), stream(MAX, 4)];
  const one = await runProgramTransport({ command, kind, name, peers: 1, cpus: undefined, maxSize: MAX, ops, timeoutMs: 60_000 });
  assert.equal(one.length, ops.length);
  const rtt = one[0] as RoundTripResult;
  assert.equal(rtt.samples.length, 200);
  assert.ok(rtt.samples.every((s) => Number.isFinite(s) && s > 0), 'every round trip was timed');
  assert.ok(rtt.cpuPer > 0, 'CPU per round trip is counted');
  for (const r of one.slice(1) as StreamResult[]) assert.ok(Number.isFinite(r.perSecond) && r.perSecond > 0 && r.cpuPer >= 0, JSON.stringify(r));
  assert.deepEqual(leftovers(name), []);

  const name2 = names.name(`trdrv-${kind}2`);
  const two = await runProgramTransport({ command, kind, name: name2, peers: 2, cpus: undefined, maxSize: MAX, ops: [stream(64, 500)], timeoutMs: 60_000 });
  assert.ok((two[0] as StreamResult).perSecond > 0);
  assert.deepEqual(leftovers(name2), []);

  // A message larger than the channels were made for is refused with an error, not a hang or a crash.
  const name3 = names.name(`trdrv-${kind}3`);
  await assert.rejects(
    runProgramTransport({ command, kind, name: name3, peers: 1, cpus: undefined, maxSize: MAX, ops: [stream(MAX + 1, 1)], timeoutMs: 60_000 }),
    /bad op/,
  );
  assert.deepEqual(leftovers(name3), []);
}

describe('transports suite: the C and Python programs', () => {
  it('C <-> C over Topic and Queue: round trips, capped and plain streams, two peers', async () => {
    const bin = buildWithShmbus('transport-driver');
    await check([bin], 'topic');
    await check([bin], 'queue');
  });

  it('Python <-> Python over multiprocessing.Pipe, multiprocessing.Queue and the shmbus Topic', async () => {
    const script = join(ROOT, 'bench', 'children', 'transport-driver.py');
    for (const kind of ['pipe', 'queue', 'topic']) await check([venvPython(), script], kind);
  });
});
