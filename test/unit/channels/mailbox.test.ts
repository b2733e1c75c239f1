/** Mailbox in one process: versions, reads into caller buffers, codecs, writeAsync, typed errors, sleepers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox, Segment, Topic, isShmbusError, type Codec, type ShmbusErrorCode } from '../../../src/index.js';
import { HDR_PARAMS_OFFSET, MAILBOX_PARAM_MAX_SIZE, MAILBOX_WAITERS_OFFSET, osName } from '../../../src/protocol/index.js';
import { uniqueName, unlinkQuietly } from '../../helpers/index.js';

const code = (c: ShmbusErrorCode) => (e: unknown) => isShmbusError(e, c);

/** The sleepers word beside the version word, as every process sees it. */
function sleepers(name: string): number {
  const seg = Segment.open(name, { kind: 'mailbox' });
  try {
    return Atomics.load(seg.words, MAILBOX_WAITERS_OFFSET / 4);
  } finally {
    seg.close();
  }
}

describe('Mailbox (one process)', () => {
  it('starts empty at version 0; write returns the next version; read returns it whole', () => {
    const name = uniqueName('mb');
    const mb = Mailbox.create(name, { maxMessageSize: 100 });
    try {
      const v0 = mb.read();
      assert.equal(v0.version, 0);
      assert.equal(v0.data.length, 0);
      assert.equal(mb.write('hello'), 1);
      assert.equal(mb.read().text(), 'hello');
      assert.equal(mb.write(new Uint8Array([1, 2, 3])), 2);
      const v = mb.read();
      assert.deepEqual([v.version, [...v.data]], [2, [1, 2, 3]]);
      assert.equal(v.value, v.data, 'without a codec, value is the bytes');
      assert.equal(mb.version, 2);
      assert.ok(v.timestamp > 0);
      mb.write('{"a":[1,2]}');
      assert.deepEqual(mb.read().json(), { a: [1, 2] });
      assert.deepEqual(mb.stats(), { version: 3, maxMessageSize: 100, writes: 3, reads: 4 });
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
  });

  it('read({ into }) copies into the caller buffer when the value fits, else into a fresh one', () => {
    const name = uniqueName('mbinto');
    const mb = Mailbox.create(name, { maxMessageSize: 100 });
    try {
      mb.write(new Uint8Array([4, 5, 6]));
      const buf = new Uint8Array(8).fill(9);
      const v = mb.read({ into: buf });
      assert.equal(v.data.buffer, buf.buffer);
      assert.deepEqual([...v.data], [4, 5, 6]);
      assert.deepEqual([...buf], [4, 5, 6, 9, 9, 9, 9, 9]);
      const exact = new Uint8Array(3);
      assert.equal(mb.read({ into: exact }).data, exact);
      const small = new Uint8Array(2);
      const w = mb.read({ into: small });
      assert.notEqual(w.data.buffer, small.buffer);
      assert.deepEqual([...w.data], [4, 5, 6]);
      assert.throws(() => mb.read({ into: [1, 2] as unknown as Uint8Array }), code('ERR_INVALID_ARG'));
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
  });

  it('codecs: json and v8 values round-trip; a custom codec is used both ways; readers without it get bytes', () => {
    const name = uniqueName('mbcodec');
    const mb = Mailbox.create<{ theme: string; n: number }>(name, { maxMessageSize: 256, codec: 'json' });
    const raw = Mailbox.open(name);
    try {
      mb.write({ theme: 'dark', n: 3 });
      assert.deepEqual(mb.read().value, { theme: 'dark', n: 3 });
      assert.equal(raw.read().text(), '{"theme":"dark","n":3}');
      const v8 = Mailbox.open<Map<string, bigint>>(name, { codec: 'v8' });
      v8.write(new Map([['k', 5n]]));
      assert.deepEqual(v8.read().value, new Map([['k', 5n]]));
      v8.close();
      const upper: Codec<string> = {
        name: 'upper',
        encode: (s) => s.toUpperCase(),
        decode: (b) => new TextDecoder().decode(b.slice()).toLowerCase(),
      };
      const custom = Mailbox.open(name, { codec: upper });
      custom.write('Hello');
      assert.equal(raw.read().text(), 'HELLO');
      assert.equal(custom.read().value, 'hello');
      custom.close();
      assert.throws(() => Mailbox.open(name, { codec: 'yaml' as never }), (e: unknown) => code('ERR_INVALID_ARG')(e) && /codec/.test((e as Error).message));
      assert.throws(() => mb.write(undefined as never), code('ERR_INVALID_ARG'));
    } finally {
      raw.close();
      mb.close();
      unlinkQuietly(name);
    }
  });

  it('refuses bad input with typed errors that name the option and the type received', async () => {
    const name = uniqueName('mberr');
    assert.throws(() => Mailbox.create(name, { maxMessageSize: -1 }), code('ERR_INVALID_ARG'));
    assert.throws(() => Mailbox.create(name, { maxMessageSize: 2 ** 31 }), code('ERR_INVALID_ARG'));
    assert.throws(
      () => Mailbox.create(name, { maxMessageSize: '4096' as never }),
      (e: unknown) => code('ERR_INVALID_ARG')(e) && /maxMessageSize.*got string "4096"/.test((e as Error).message),
    );
    assert.throws(() => Mailbox.create(name, null as never), code('ERR_INVALID_ARG'));
    const mb = Mailbox.create(name, { maxMessageSize: 10 });
    try {
      assert.throws(() => mb.write(new Uint8Array(11)), code('ERR_MESSAGE_TOO_LARGE'));
      assert.throws(() => mb.write(5 as never), (e: unknown) => code('ERR_INVALID_ARG')(e) && /got number 5/.test((e as Error).message));
      await assert.rejects(mb.changed({ since: -1 }), code('ERR_INVALID_ARG'));
      await assert.rejects(mb.changed({ timeout: 5 }), code('ERR_TIMEOUT'));
      await assert.rejects(mb.changed({ signal: AbortSignal.abort() }), code('ERR_ABORTED'));
      await assert.rejects(mb.writeAsync(new Uint8Array(11)), code('ERR_MESSAGE_TOO_LARGE'));
      assert.throws(() => Topic.open(name), code('ERR_SHM_KIND'));
      const raw = Segment.openRaw(osName(name));
      new DataView(raw.buffer).setUint32(HDR_PARAMS_OFFSET + 4 * MAILBOX_PARAM_MAX_SIZE, 1 << 20, true);
      assert.throws(() => Mailbox.open(name), code('ERR_SHM_CORRUPT'));
      raw.close();
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
    assert.throws(() => mb.read(), code('ERR_CLOSED'));
    assert.throws(() => mb.write('x'), code('ERR_CLOSED'));
    await assert.rejects(mb.writeAsync('x'), code('ERR_CLOSED'));
  });

  it('changed() resolves with the new version after a write (also after writeAsync)', async () => {
    const name = uniqueName('mbchg');
    const mb = Mailbox.create(name, { maxMessageSize: 100 });
    try {
      const p = mb.changed({ timeout: 10_000 });
      mb.write('x');
      assert.equal(await p, 1);
      assert.equal(await mb.changed({ since: 0 }), 1);
      const q = mb.changed({ timeout: 10_000 });
      assert.equal(await mb.writeAsync('y'), 2);
      assert.equal(await q, 2);
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
  });

  it('a changed() pending when its handle closes leaves no stale sleeper: the next write clears it, later writes skip the wake', async () => {
    const name = uniqueName('mbsleep');
    const mb = Mailbox.create(name, { maxMessageSize: 16 });
    const other = Mailbox.open(name);
    try {
      const pending = other.changed({ timeout: 60_000 });
      other.close();
      await assert.rejects(pending, code('ERR_CLOSED'));
      assert.notEqual(sleepers(name), 0, 'the parked call announced itself');
      mb.write('a');
      assert.equal(sleepers(name), 0, 'the write after the close cleared the stale announcement');
      mb.write('b');
      assert.equal(sleepers(name), 0, 'nobody sleeps: no wake call');
    } finally {
      mb.close();
      unlinkQuietly(name);
    }
  });
});
