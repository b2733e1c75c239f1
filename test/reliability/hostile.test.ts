/**
 * A hostile peer writes random words into a live channel's memory while the test process (and a C peer) use it:
 * every call either works or throws a ShmbusError, each within a bounded time (calls carry timeouts; async ones are
 * raced against the bound); nothing crashes (the C peer ends by itself or by our kill, never by a signal of its
 * own) and nothing hangs. The seed is printed: SHMBUS_SEED replays the hostile writes.
 */
import { after as afterAll, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox, Queue, Rpc, ShmbusError, Topic } from '../../src/index.js';
import { spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { fileURLToPath } from 'node:url';
import { LIVENESS_BOUND_MS, SLOW, rng, unlinkAny, within } from './lib.js';

const { name, cleanup } = trackNames(unlinkAny);
afterAll(cleanup);

const hostile = fileURLToPath(new URL('./hostile-writer.js', import.meta.url));
const DURATION_MS = SLOW ? 60_000 : 1500;

/** Runs `fn` repeatedly for DURATION_MS; each call must end (value or ShmbusError) within the bound. */
async function keepUsing(what: string, fn: () => unknown | Promise<unknown>, problems: string[]): Promise<{ ok: number; typed: Map<string, number> }> {
  const typed = new Map<string, number>();
  let ok = 0;
  const end = performance.now() + DURATION_MS;
  while (performance.now() < end && problems.length === 0) {
    let settled = false;
    const call = (async () => {
      try {
        await fn();
        ok++;
      } catch (e) {
        if (e instanceof ShmbusError) typed.set(e.code, (typed.get(e.code) ?? 0) + 1);
        else problems.push(`${what} threw a non-ShmbusError: ${String((e as Error)?.stack ?? e)}`);
      } finally {
        settled = true;
      }
    })();
    if (!(await within(call, LIVENESS_BOUND_MS)) && !settled) problems.push(`${what} did not end within ${LIVENESS_BOUND_MS} ms`);
    await new Promise((r) => setImmediate(r));
  }
  return { ok, typed };
}

async function startHostile(n: string, seed: number): Promise<Peer> {
  const h = spawnPeer(hostile, [n, String(seed)]);
  await h.line('writing');
  return h;
}

async function stopHostile(h: Peer, problems: string[]): Promise<void> {
  h.send('stop');
  await h.line(/^stopped/, LIVENESS_BOUND_MS).catch((e: unknown) => problems.push(`hostile writer: ${String(e)}`));
  await h.exited;
}

describe('a hostile peer writing garbage into live channels', () => {
  const r = rng('hostile');

  it('Topic: publish, loan and read go on or fail typed; a C subscriber never crashes', async (t) => {
    const n = name('hostile-topic');
    const topic = Topic.create(n, { capacity: 16 * 1024, maxMessageSize: 1024 });
    const sub = Topic.subscribe(n, { from: 'oldest', livenessInterval: 10 });
    const cSub = spawnC('topic-peer', ['sub', n, '64', '0', '0', 'oldest', 'copy', 'go']);
    await cSub.line('ready');
    const h = await startHostile(n, r.int(2 ** 31));
    const problems: string[] = [];
    const msg = new Uint8Array(100);
    const a = keepUsing('publish', () => topic.publish(msg, { timeout: 200 }), problems);
    const b = keepUsing('read', () => sub.read({ timeout: 200 }), problems);
    const [pa, pb] = await Promise.all([a, b]);
    await stopHostile(h, problems);
    cSub.kill('SIGKILL');
    const code = await cSub.exited;
    if (typeof code === 'string' && code !== 'SIGKILL') problems.push(`the C subscriber died of ${code}: ${cSub.stderr().slice(0, 300)}`);
    t.diagnostic(`publish ok ${pa.ok} typed ${JSON.stringify([...pa.typed])}; read ok ${pb.ok} typed ${JSON.stringify([...pb.typed])}; C subscriber ended with ${code}`);
    sub.close();
    topic.close();
    assert.deepEqual(problems, [], `seed ${r.seed}`);
  });

  it('Queue: send and receive go on or fail typed', async (t) => {
    const n = name('hostile-q');
    const q = Queue.create(n, { slots: 8, maxMessageSize: 256 });
    const h = await startHostile(n, r.int(2 ** 31));
    const problems: string[] = [];
    const [pa, pb] = await Promise.all([
      keepUsing('send', () => q.send(new Uint8Array(50), { timeout: 200 }), problems),
      keepUsing('receive', () => q.receive({ timeout: 200 }), problems),
    ]);
    await stopHostile(h, problems);
    t.diagnostic(`send ok ${pa.ok} typed ${JSON.stringify([...pa.typed])}; receive ok ${pb.ok} typed ${JSON.stringify([...pb.typed])}`);
    q.close();
    Queue.unlink(n);
    assert.deepEqual(problems, [], `seed ${r.seed}`);
  });

  it('Mailbox: write and read go on or fail typed; a C reader never crashes', async (t) => {
    const n = name('hostile-mb');
    const mb = Mailbox.create(n, { maxMessageSize: 1 << 20 });
    const cReader = spawnC('mailbox-peer', ['reader', n]);
    await cReader.line('ready');
    const h = await startHostile(n, r.int(2 ** 31));
    const problems: string[] = [];
    const [pa, pb] = await Promise.all([
      keepUsing('write', () => mb.writeAsync(new Uint8Array(300), { timeout: 200 }), problems),
      keepUsing('read', () => mb.read(), problems),
    ]);
    await stopHostile(h, problems);
    cReader.kill('SIGKILL');
    const code = await cReader.exited;
    // It may stop by itself on what it takes for a torn value (exit 1) or a typed error: never by a signal.
    if (typeof code === 'string' && code !== 'SIGKILL') problems.push(`the C reader died of ${code}: ${cReader.stderr().slice(0, 300)}`);
    t.diagnostic(`write ok ${pa.ok} typed ${JSON.stringify([...pa.typed])}; read ok ${pb.ok} typed ${JSON.stringify([...pb.typed])}; C reader ended with ${code}`);
    mb.close();
    Mailbox.unlink(n);
    assert.deepEqual(problems, [], `seed ${r.seed}`);
  });

  it('Rpc: requests to a service under attack end (answer or typed error)', async (t) => {
    const n = name('hostile-rpc');
    const server = Rpc.serve(n, (req) => req.data, { maxMessageSize: 256, slots: 4, livenessInterval: 10 });
    const client = Rpc.connect(n, { livenessInterval: 10 });
    const h = await startHostile(n, r.int(2 ** 31));
    const problems: string[] = [];
    const p = await keepUsing('request', () => client.request(new Uint8Array(20), { timeout: 200 }), problems);
    await stopHostile(h, problems);
    t.diagnostic(`request ok ${p.ok} typed ${JSON.stringify([...p.typed])}`);
    client.close();
    const closed = await within(server.close({ timeout: 1000 }).catch(() => undefined), LIVENESS_BOUND_MS);
    if (!closed) problems.push('server.close() did not end');
    assert.deepEqual(problems, [], `seed ${r.seed}`);
  });
});
