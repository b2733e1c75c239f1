/**
 * Native waiter edge cases (defect 8): two words woken at the same moment in one futex_waitv group (and with the
 * io_uring waiter) both complete;
 * in thread-per-wait mode a cancel wakes nobody else, leaves no thread behind (even when it lands before the thread
 * parks), and the number of threads is bounded.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Segment } from '../../src/index.js';
import { waitAsync, wake } from '../../src/base/futex.js';
import { fixture, spawnPeer, trackNames, expectCleanExit, unlinkQuietly as cleanupName } from '../helpers/index.js';

const { name: fresh, cleanup } = trackNames();
after(cleanup);

/** Syscall lines ("nr arg1 arg2 ...") of the threads of a process (a blocked thread shows its system call). */
function blockedSyscalls(pid: number | 'self'): string[][] {
  const out: string[][] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.push(readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').trim().split(' '));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** The system call the main thread of `pid` is blocked in ('202' = futex), or 'running'. */
function mainThreadSyscall(pid: number): string {
  return readFileSync(`/proc/${pid}/syscall`, 'utf8').trim().split(' ')[0]!;
}

/** Polls (bounded, no fixed sleep) until `cond()` holds. */
async function until(cond: () => boolean, what: string, withinMs = 20_000): Promise<void> {
  const end = performance.now() + withinMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('native waiter edge cases', () => {
  // The same edge case for both waiters that group nothing in the kernel the same way: the futex_waitv group
  // (SHMBUS_WAITER=waitv) and the default io_uring waiter (one FUTEX_WAIT request per wait).
  for (const [kind, env] of [['futex_waitv', { SHMBUS_WAITER: 'waitv' }], ['io_uring', { SHMBUS_WAITER: 'io_uring' }]] as const) {
    it(`${kind}: two words woken back to back, values unchanged: both waits complete`, async (t) => {
      // Pinned to one CPU: both wakes are made before the waiter runs again.
      const peer = spawnPeer(fixture('native-two-words'), [], { wrap: ['taskset', '-c', '0'], env: { ...process.env, ...env } });
      const got = await peer.line(/^kind /);
      if (got !== `kind ${kind}`) {
        peer.kill();
        return t.skip(`no ${kind} waiter on this kernel (${got})`);
      }
      assert.equal(await peer.line(/^(all ok|lost \d+)$/, 60_000), 'all ok');
      await expectCleanExit(peer);
    });
  }

  it('thread-per-wait: cancel before park leaves no thread, the thread count is bounded, cancel wakes no other sleeper', async () => {
    const name = fresh('cancel');
    const seg = Segment.create(name, { size: 64 });
    const sleeper = spawnPeer(fixture('native-waker'), [name]);
    const threads = spawnPeer(fixture('native-threads'), [name], { env: { ...process.env, SHMBUS_WAITER: 'threads' } });
    try {
      assert.equal(await threads.line(/^kind /), 'kind thread-per-wait');
      const [, base, now] = (await threads.line(/^threads /)).split(' ');
      assert.equal(now, base, 'every cancelled wait thread ended');
      assert.equal(await threads.line(/^limit /), 'limit ERR_OS', 'the wait past 2048 threads is refused');
      const [, base2, now2] = (await threads.line(/^threads-after-limit /)).split(' ');
      assert.equal(now2, base2);
      await threads.line('checks done');

      // Another process sleeps on word 2; the thread-per-wait process cancels its own wait on that word.
      await sleeper.line('ready');
      sleeper.send(`wait 2 0 ${2 ** 40}`);
      await sleeper.line('parked');
      const pid = sleeper.child.pid!;
      await until(() => mainThreadSyscall(pid) === '202', 'the sleeper to park');
      threads.send('cancel-shared');
      await threads.line('cancelled');
      // Woken, it would have printed 'waited ok' and gone back to its event loop (epoll).
      assert.equal(mainThreadSyscall(pid), '202', 'the other sleeper is still asleep in its futex wait');
      Atomics.store(seg.words, 2, 1);
      wake(seg.words, 2);
      assert.match(await sleeper.line(/^waited /), /^waited (ok|not-equal)$/);
      sleeper.send('exit');
      threads.child.stdin!.end();
      await expectCleanExit(sleeper);
      await expectCleanExit(threads);
    } finally {
      sleeper.kill();
      threads.kill();
      seg.close();
    }
  });
});

describe('segment creation under signals', () => {
  it('posix_fallocate interrupted by a signal (EINTR) is retried: no create fails', async () => {
    const prefix = fresh('eintr');
    const peer = spawnPeer(fixture('native-eintr'), [prefix]);
    let storm: ReturnType<typeof spawn> | undefined;
    try {
      await peer.line('ready');
      // A shell sending SIGUSR2 to the peer as fast as it can, until we stop it.
      storm = spawn('bash', ['-c', `while kill -USR2 ${peer.child.pid} 2>/dev/null; do :; done`], { stdio: 'ignore' });
      peer.send('go');
      const done = await peer.line(/^done /, 120_000);
      const stopped = new Promise((r) => storm!.once('exit', r));
      storm.kill('SIGKILL');
      await stopped;
      assert.equal(done.split(' ').slice(2).join(' '), '[]');
      peer.send('exit');
      await expectCleanExit(peer);
    } finally {
      storm?.kill('SIGKILL');
      peer.kill();
      for (let i = 0; i < 40; i++) cleanupName(`${prefix}-${i}`);
    }
  });
});
