/**
 * Zero-copy Queue across processes and languages: loans (the producer writes in the slot) and views (the consumer
 * reads in the slot) on both ends, Node<->Node and Node<->C, with 2.7 MB images checked by checksum; a producer
 * killed -9 holding a loan and a consumer killed -9 holding a view (nothing committed lost, no wedge); misuse gives
 * typed errors.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, ShmbusError } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';
import { checkMessage, fillMessage } from '../fixtures/queue-msg.js';

const names = trackNames();
after(names.cleanup);

const IMAGE = 1280 * 720 * 3;
const COUNT = 24;

function peer(lang: 'C' | 'Node', role: string, args: string[]): Peer {
  return lang === 'C' ? spawnC('queue-peer', [`zc-${role}`, ...args]) : spawnPeer(fixture('queue-zc'), [role, ...args]);
}

function seqSum(n: number): number {
  return (n * (n - 1)) / 2;
}

describe('Queue zero-copy across processes', () => {
  for (const [from, to] of [
    ['Node', 'Node'],
    ['Node', 'C'],
    ['C', 'Node'],
  ] as const) {
    it(`${COUNT} images of 2.7 MB: ${from} loans -> ${to} views, every checksum right`, async () => {
      const name = names.name('zq-img');
      const q = Queue.create(name, { slots: 4, maxMessageSize: IMAGE });
      const consumer = peer(to, 'consume', [name, String(COUNT)]);
      let producer: Peer | undefined;
      try {
        await consumer.line('ready');
        producer = peer(from, 'produce', [name, '3', String(COUNT), String(IMAGE)]);
        assert.equal(await producer.line(/^done/, 60_000), `done 3 ${COUNT}`);
        assert.equal(await consumer.line(/^consumed/, 60_000), `consumed ${COUNT} ${seqSum(COUNT)}`);
        await expectCleanExit(producer);
        await expectCleanExit(consumer);
        assert.deepEqual([q.stats().abandoned, q.stats().lost, q.length], [0, 0, 0]);
      } finally {
        consumer.kill();
        producer?.kill();
        q.close();
      }
    });
  }

  for (const lang of ['C', 'Node'] as const) {
    it(`a ${lang} producer killed -9 holding a loan: the committed messages arrive (as views), the slot is recovered, the queue goes on`, async () => {
      const name = names.name('zq-kill-loan');
      const q = Queue.create(name, { slots: 4, maxMessageSize: 64 });
      const stuck = peer(lang, 'loan-stuck', [name, '2']);
      try {
        await stuck.line('stuck');
        // Sent behind the open loan: a receiver can take it only once the loan's slot is recovered.
        const after = q.tryLoan(64)!;
        fillMessage(after.bytes, 1, 0);
        after.commit();
        const got: string[] = [];
        for (let i = 0; i < 2; i++) {
          const m = await q.receive({ copy: false, timeout: 5000 });
          got.push(checkMessage(m!.data).join('/'));
          m!.release();
        }
        const waiting = q.receive({ copy: false, timeout: 20_000 });
        stuck.kill('SIGKILL');
        const m = await waiting;
        got.push(checkMessage(m!.data).join('/'));
        m!.release();
        assert.deepEqual(got, ['9/0', '9/1', '1/0']);
        assert.deepEqual([q.stats().abandoned, q.stats().lost], [1, 0]);
        // No wedge: a full lap of the ring works.
        for (let i = 0; i < 8; i++) {
          const loan = await q.loan(8, { timeout: 5000 });
          loan.bytes.fill(i);
          loan.commit();
          assert.equal((await q.receive({ copy: false, timeout: 5000 }))!.data[0], i);
        }
        await stuck.exited;
      } finally {
        stuck.kill();
        q.close();
      }
    });

    it(`a ${lang} consumer killed -9 holding a view: producers that need its slot recover it (lost 1), nothing else is lost`, async () => {
      const name = names.name('zq-kill-view');
      const q = Queue.create(name, { slots: 4, maxMessageSize: 64 });
      const msg = new Uint8Array(64);
      await q.send(fillMessage(msg, 2, 0), { timeout: 5000 });
      const holder = peer(lang, 'view-stuck', [name]);
      try {
        assert.equal(await holder.line(/^holding/), 'holding 2 0');
        holder.kill('SIGKILL');
        await holder.exited;
        // Four loans into a 4-slot ring: the fourth needs the dead consumer's slot.
        for (let seq = 1; seq <= 4; seq++) {
          const loan = await q.loan(64, { timeout: 20_000 });
          fillMessage(loan.bytes, 2, seq);
          loan.commit();
        }
        assert.deepEqual([q.stats().lost, q.stats().abandoned], [1, 0]);
        const seqs: number[] = [];
        for (let m = q.tryReceive({ copy: false }); m !== null; m = q.tryReceive({ copy: false })) seqs.push(checkMessage(m.data)[1]);
        assert.deepEqual(seqs, [1, 2, 3, 4]);
      } finally {
        holder.kill();
        q.close();
      }
    });
  }

  it('misuse gives typed errors: commit twice, a loan above maxMessageSize, release and commit after close, copy:false with into', async () => {
    const name = names.name('zq-misuse');
    const q = Queue.create(name, { slots: 4, maxMessageSize: 16 });
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof ShmbusError ? e.code : `not a ShmbusError: ${String(e)}`;
      }
      return undefined;
    };
    const loan = q.tryLoan(4)!;
    loan.commit();
    assert.equal(code(() => loan.commit()), 'ERR_CLOSED');
    assert.equal(code(() => loan.abort()), 'ERR_CLOSED');
    assert.equal(code(() => q.tryLoan(17)), 'ERR_MESSAGE_TOO_LARGE');
    await assert.rejects(q.loan(17), (e: unknown) => e instanceof ShmbusError && e.code === 'ERR_MESSAGE_TOO_LARGE');
    assert.equal(code(() => q.tryLoan(-1)), 'ERR_INVALID_ARG');
    const bad = q.tryLoan(4)!;
    assert.equal(code(() => bad.commit(5)), 'ERR_INVALID_ARG'); // aborted: its slot is free again
    assert.equal(code(() => q.tryReceive({ copy: false, into: new Uint8Array(4) })), 'ERR_INVALID_ARG');
    const m = q.tryReceive({ copy: false })!;
    assert.equal(m.data.length, 4);
    const open = q.tryLoan(2)!;
    q.close();
    assert.equal(code(() => m.release()), 'ERR_CLOSED');
    assert.equal(code(() => open.commit()), 'ERR_CLOSED');
    assert.equal(code(() => q.tryLoan(1)), 'ERR_CLOSED');
    // The view and the open loan went back at close: another handle finds the ring empty with both slots free.
    const q2 = Queue.open(name);
    try {
      assert.equal(q2.tryReceive(), null);
      assert.equal(q2.trySend('a') && q2.trySend('b'), true);
      assert.deepEqual([q2.stats().abandoned, q2.stats().lost], [0, 0]);
    } finally {
      q2.close();
    }
  });

  it('loans that waited on a full queue each get their own slot (several waiting on one handle at once)', async () => {
    const name = names.name('zq-wait');
    const q = Queue.create(name, { slots: 2, maxMessageSize: 8 });
    const other = Queue.open(name);
    try {
      assert.equal(q.trySend('a') && q.trySend('b'), true);
      const waiting = [q.loan(1, { timeout: 10_000 }), q.loan(1, { timeout: 10_000 }), q.loan(1, { timeout: 10_000 })];
      // Free the ring from another handle: each waiting loan must come back with a slot of its own.
      const got: string[] = [];
      for (let i = 0; i < 2; i++) got.push(other.tryReceive()!.text());
      const first = await Promise.race(waiting);
      first.bytes[0] = 0x31;
      first.commit();
      got.push(String.fromCharCode((await other.receive({ timeout: 10_000 }))!.data[0]!)); // a copy: the slot goes back
      const rest = await Promise.all(waiting);
      const open = rest.filter((l) => l.open);
      assert.equal(open.length, 2);
      open[0]!.bytes[0] = 0x32;
      open[1]!.bytes[0] = 0x33;
      open[0]!.commit();
      open[1]!.commit();
      for (let i = 0; i < 2; i++) got.push(String.fromCharCode((await other.receive({ timeout: 10_000 }))!.data[0]!));
      assert.deepEqual(got, ['a', 'b', '1', '2', '3']);
      assert.equal(other.tryReceive(), null);
      assert.deepEqual([q.stats().abandoned, q.stats().lost], [0, 0]);
    } finally {
      other.close();
      q.close();
    }
  });

  it('the next receive releases the view this handle held; a view of an ended stream is null', async () => {
    const name = names.name('zq-next');
    const q = Queue.create(name, { slots: 2, maxMessageSize: 8 });
    try {
      for (let round = 0; round < 6; round++) {
        assert.equal(q.trySend(`m${round}`), true);
        const m = q.tryReceive({ copy: false })!;
        assert.equal(m.text(), `m${round}`); // never released by hand: the next receive frees its slot
      }
      q.end();
      assert.equal(await q.receive({ copy: false, timeout: 1000 }), null);
    } finally {
      q.close();
    }
  });
});
