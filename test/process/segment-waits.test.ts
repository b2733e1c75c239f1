import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Segment, isShmbusError } from '../../src/index.js';
import { trackNames } from '../helpers/index.js';

const { name: fresh, cleanup } = trackNames();
after(cleanup);

describe('Segment waits: timeouts, abort, close, and the event loop', () => {
  it('wait returns not-equal at once and timed-out after its timeout', () => {
    const seg = Segment.create(fresh('to'), { size: 64 });
    Atomics.store(seg.words, 0, 3);
    assert.equal(seg.wait(0, 2, { timeout: 10_000 }), 'not-equal');
    const t0 = performance.now();
    assert.equal(seg.wait(0, 3, { timeout: 30 }), 'timed-out');
    assert.ok(performance.now() - t0 >= 29, 'waited at least its timeout');
    seg.close();
  });

  it('waitAsync times out, and an AbortSignal rejects it with ERR_ABORTED carrying the reason', async () => {
    const seg = Segment.create(fresh('abort'), { size: 64 });
    assert.equal(await seg.waitAsync(0, 0, { timeout: 20 }), 'timed-out');
    assert.equal(await seg.waitAsync(0, 1), 'not-equal');
    assert.equal(await seg.waitAsync(0, 0, { timeout: 0 }), 'timed-out');
    const ac = new AbortController();
    const p = seg.waitAsync(0, 0, { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(p, (e: unknown) => isShmbusError(e, 'ERR_ABORTED') && (e.cause as Error).message === 'stop');
    await assert.rejects(seg.waitAsync(0, 0, { signal: ac.signal }), (e: unknown) => isShmbusError(e, 'ERR_ABORTED'));
    await assert.rejects(seg.waitAsync(0, 0, { timeout: -1 }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
    assert.throws(() => seg.wait(16, 0), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
    // The timeout is an option now: a positional number is refused, not taken as "wait forever".
    assert.throws(() => seg.wait(0, 0, 5 as unknown as object), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG') && /number 5/.test(String(e)));
    assert.throws(() => seg.waitAsync(0, 0, { signal: 'yes' as unknown as AbortSignal }), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG') && /signal.*string "yes"/.test(String(e)));
    assert.throws(() => seg.wake(-1), (e: unknown) => isShmbusError(e, 'ERR_INVALID_ARG'));
    seg.close();
  });

  it('1000 pending waitAsync calls leave the event loop free: timers fire and fs.readFile completes', async () => {
    const seg = Segment.create(fresh('many'), { size: 4096 });
    let settled = 0;
    const waits = Array.from({ length: 1000 }, (_, i) =>
      seg.waitAsync(i % 1000, 0, { timeout: 60_000 }).then((r) => {
        settled++;
        return r;
      }),
    );
    // libuv's pool has 4 threads: if the waits sat there, this read could never finish while they are pending.
    const text = await readFile(new URL(import.meta.url), 'utf8');
    assert.ok(text.length > 0);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(settled, 0, 'all waits still pending while fs and timers ran');
    for (let i = 0; i < 1000; i++) Atomics.store(seg.words, i, 1);
    for (let i = 0; i < 1000; i++) seg.wake(i);
    const results = await Promise.all(waits);
    assert.equal(results.filter((r) => r === 'ok').length, 1000);
    seg.close();
  });

  it('close rejects pending waits with ERR_CLOSED, and later use throws ERR_CLOSED', async () => {
    const seg = Segment.create(fresh('closewait'), { size: 64 });
    const p = seg.waitAsync(0, 0);
    seg.close();
    await assert.rejects(p, (e: unknown) => isShmbusError(e, 'ERR_CLOSED'));
    assert.throws(() => seg.bytes, (e: unknown) => isShmbusError(e, 'ERR_CLOSED'));
    assert.throws(() => seg.wait(0, 0, { timeout: 1 }), (e: unknown) => isShmbusError(e, 'ERR_CLOSED'));
    assert.throws(() => seg.wake(0), (e: unknown) => isShmbusError(e, 'ERR_CLOSED'));
    seg.close(); // idempotent
  });

  it('close with live views releases the memory at once; old views stay safe and read zeros', () => {
    const name = fresh('views');
    const seg = Segment.create(name, { size: 1 << 20 });
    const view = seg.bytes;
    const words = new Int32Array(seg.buffer);
    view.fill(0xab);
    const other = Segment.open(name);
    seg.close();
    Segment.unlink(name);
    // The mapping was replaced by private zero pages: reads and writes through stale views do not fault.
    assert.equal(view[12345], 0);
    view[12345] = 1;
    Atomics.add(words, 5, 1);
    assert.equal(Atomics.load(words, 5), 1);
    // The other mapping still sees the shared data, untouched by the stale writes.
    assert.equal(other.bytes[12345], 0xab);
    other.close();
    // Nothing maps the object any more: the kernel can free it (the name is gone too).
    assert.equal(Segment.list().find((s) => s.name === name), undefined);
  });

  it('after close no process maps the segment (attached: false), even while old views are still referenced', () => {
    const name = fresh('released');
    const seg = Segment.create(name, { size: 1 << 16 });
    const keep = seg.bytes;
    assert.equal(Segment.list().find((s) => s.name === name)?.attached, true);
    seg.close();
    assert.equal(Segment.list().find((s) => s.name === name)?.attached, false);
    assert.equal(keep.length, 1 << 16);
  });

  it('using Segment with `using`-style dispose closes it', () => {
    const seg = Segment.create(fresh('dispose'), { size: 8 });
    seg[Symbol.dispose]();
    assert.equal(seg.closed, true);
  });
});
