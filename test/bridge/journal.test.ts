/**
 * The inbound journal's pending put, resolved after a kill (issue 16: a 100 000-record run lost one record in ~22).
 * A bridge killed between its put into the local queue and the journal mark finds out on restart whether that put
 * went in. The witness used to be the queue's commit counter, which a receiver's RECOVER of the dead bridge's
 * WRITING slot moves too (so the record was taken as delivered: lost); it is now the slot of the ticket the put was
 * to claim. Real queues, a real process killed with SIGKILL while it holds the slot.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Queue } from '../../src/index.js';
import { InJournal, QueueTickets } from '../../src/bridge/journal.js';
import { spawnProcess, trackNames } from '../helpers/index.js';

const INDEX = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const EPOCH = '0123456789abcdef';

describe('bridge inbound journal: a put cut short by a kill', () => {
  const names = trackNames();
  /** A queue and a journal with record 0 of EPOCH pending as the queue's next ticket (as the bridge does it). */
  const setup = (): { q: Queue; queue: string; journal: string } => {
    const queue = names.name('bjq');
    const journal = names.name('bjj');
    const q = Queue.create(queue, { slots: 4, maxMessageSize: 16 });
    const j = InJournal.open(journal, () => QueueTickets.open(queue));
    const t = QueueTickets.open(queue)!;
    j.begin(EPOCH, 0, t.next());
    t.close();
    j.close(false);
    return { q, queue, journal };
  };
  /** Reopens the journal as a restarted bridge does: the last record of EPOCH it counts as in the queue. */
  const restart = (queue: string, journal: string): number => {
    let t: QueueTickets | null = null;
    const j = InJournal.open(journal, () => (t = QueueTickets.open(queue)));
    const last = j.last(EPOCH);
    j.close(false);
    (t as QueueTickets | null)?.close();
    return last;
  };

  it('a sender killed while writing its slot, the slot recovered by the receiver: the record is not in', async () => {
    const { q, queue, journal } = setup();
    try {
      const child = spawnProcess(process.execPath, [
        '--input-type=module',
        '-e',
        `const { Queue } = await import(${JSON.stringify(INDEX)}); const q = Queue.open(${JSON.stringify(queue)}); const loan = q.tryLoan(1); loan.bytes[0] = 7; console.log('held'); setInterval(() => {}, 1000);`,
      ]);
      await child.line('held');
      child.kill('SIGKILL');
      await child.exited;
      // The receiver meets the dead writer's slot, recovers it (commits + 1, abandoned + 1) and takes the next one.
      q.send('after');
      assert.equal((await q.receive({ timeout: 10_000 }))!.text(), 'after');
      assert.equal(q.stats().abandoned, 1);
      assert.equal(restart(queue, journal), -1, 'the put never committed: the record must be put again');
    } finally {
      q.close();
      names.cleanup();
    }
  });

  it('a put that committed counts as in: taken by a receiver, or still waiting in the queue', async () => {
    for (const take of [true, false]) {
      const { q, queue, journal } = setup();
      try {
        assert.equal(q.trySend('x'), true);
        if (take) assert.equal(q.tryReceive()!.text(), 'x');
        assert.equal(restart(queue, journal), 0);
      } finally {
        q.close();
        names.cleanup();
      }
    }
  });

  it('a put that never claimed its slot (killed before it, or the queue was full) is not in', () => {
    const { q, queue, journal } = setup();
    try {
      assert.equal(restart(queue, journal), -1);
    } finally {
      q.close();
      names.cleanup();
    }
  });

  it('the next ticket is past the slots already claimed (held or given back)', async () => {
    const queue = names.name('bjq');
    const q = Queue.create(queue, { slots: 4, maxMessageSize: 16 });
    const t = QueueTickets.open(queue)!;
    try {
      q.trySend('a');
      assert.equal(t.next(), 1);
      const loan = q.tryLoan(1)!; // claims ticket 1: the next put is ticket 2
      assert.equal(t.next(), 2);
      loan.abort();
      assert.equal(t.next(), 2);
    } finally {
      t.close();
      q.close();
      names.cleanup();
    }
  });
});
