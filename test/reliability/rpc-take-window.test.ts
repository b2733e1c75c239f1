/**
 * The Rpc take window (PROTOCOL §8 "Worker", the intent): a worker publishes the request it is about to take
 * (client, request, busy = 1) before its TAKE CAS, so a worker killed at any instant after the take is reported to
 * the waiting client (ERR_NO_SERVER) instead of leaving it waiting forever. Forced deterministically: the victim
 * server (Node, C, Python; copying and zero-copy) runs with SHMBUS_TEST_RPC_STOP, so its one worker stops itself
 * (SIGSTOP) exactly there; the test process then joins as a second server (the service stays alive, so only the
 * dead worker's entry can tell the client) and kills the victim with SIGKILL.
 *   taken:  stopped right after the TAKE, where busy used to be stored: the request must fail with ERR_NO_SERVER
 *           (before the intent it waited for its timeout: the request was lost silently).
 *   taking: stopped with its intent published but before the TAKE: the request is still in the ring; the live
 *           second server answers it, the stale intent harms nothing, and after the kill requests go on.
 */
import { after as afterAll, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rpc, isShmbusError } from '../../src/index.js';
import { fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { LIVENESS_BOUND_MS, after, kill, spawnPy, unlinkAny } from './lib.js';

const { name, cleanup } = trackNames(unlinkAny);
afterAll(cleanup);

type Point = 'taking' | 'taken';
const VICTIMS: Record<string, (svc: string, env: NodeJS.ProcessEnv) => Peer> = {
  'Node': (svc, env) => spawnPeer(fixture('rpc-server'), [svc, '1'], { env }),
  'Node zero-copy': (svc, env) => spawnPeer(fixture('rpc-zc'), ['serve', svc, '65536'], { env }),
  'C': (svc, env) => spawnC('rpc-peer', ['serve', svc, '1'], { env }),
  'C zero-copy': (svc, env) => spawnC('rpc-peer', ['zc-serve', svc, '1', '65536'], { env }),
  'Python': (svc, env) => spawnPy('rpc-serve', [svc, '1'], { env }),
  'Python zero-copy': (svc, env) => spawnPy('rpc-serve', [svc, '1', 'zc'], { env }),
};

/** Resolves once process `pid` is stopped (state T in /proc/<pid>/stat); a stop has no event to wait for. */
async function stopped(pid: number): Promise<void> {
  const until = Date.now() + LIVENESS_BOUND_MS;
  for (;;) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'T') return;
    if (Date.now() > until) throw new Error(`process ${pid} did not stop within ${LIVENESS_BOUND_MS} ms: ${stat}`);
    await after(2);
  }
}

async function run(kind: string, point: Point): Promise<void> {
  const svc = name('rel-take');
  const victim = VICTIMS[kind]!(svc, { ...process.env, SHMBUS_TEST_RPC_STOP: point });
  let keeper: ReturnType<typeof Rpc.serve> | undefined;
  const client = Rpc.connect(svc);
  try {
    await victim.line('serving');
    const pending = client.request('x', { timeout: LIVENESS_BOUND_MS });
    pending.catch(() => {}); // judged below
    await stopped(victim.child.pid!);
    // The service stays alive through this second server: only the victim's entry can tell the client.
    keeper = Rpc.serve(svc, (req) => `kept:${req.text()}`);
    if (point === 'taking') {
      assert.equal((await pending).text(), 'kept:x', 'the request the stopped worker had not taken yet');
      assert.equal(await kill(victim), 'SIGKILL');
    } else {
      assert.equal(await kill(victim), 'SIGKILL');
      await assert.rejects(pending, (e: unknown) => isShmbusError(e, 'ERR_NO_SERVER'),
        'a request taken by a worker killed before it was answered fails at once (it used to wait for its timeout)');
    }
    // The ring is not blocked: requests go on through the second server.
    assert.equal((await client.request('y', { timeout: LIVENESS_BOUND_MS })).text(), 'kept:y');
  } finally {
    victim.kill('SIGKILL');
    await victim.exited;
    client.close();
    await keeper?.close({ timeout: 5000 });
  }
}

describe('Rpc: a worker killed in the take window (PROTOCOL §8, the intent)', () => {
  for (const kind of Object.keys(VICTIMS)) {
    for (const point of ['taken', 'taking'] as const) {
      it(`${kind} worker stopped ${point === 'taken' ? 'right after its TAKE' : 'with its intent published, before its TAKE'}, then killed`, () => run(kind, point));
    }
  }
});
