/**
 * Mailbox across languages: a C peer (c/tests/peers/mailbox-peer.c) and the Node fixture (mailbox-peer.ts) on one
 * mailbox, both directions. Values are [crc32 of bytes 4..][counter][random]: a torn read fails the reader.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';

const names = trackNames();
after(names.cleanup);

describe('Mailbox across C and Node', () => {
  it('1 MiB values are never torn: a Node writer, C and Node readers', async () => {
    const name = names.name('xmb');
    const mb = Mailbox.create(name, { maxMessageSize: 1 << 20 });
    const readers = [spawnC('mailbox-peer', ['reader', name]), spawnPeer(fixture('mailbox-peer'), ['reader', name])];
    try {
      await Promise.all(readers.map((r) => r.line('ready')));
      const writer = spawnPeer(fixture('mailbox-peer'), ['writer', name, '1500']);
      await writer.line(/^done writes=/, 60_000);
      for (const r of readers) assert.match(await r.line(/^done /, 60_000), /^done reads=\d+ versions=\d+$/);
      await Promise.all([writer, ...readers].map((p) => expectCleanExit(p)));
    } finally {
      for (const r of readers) r.kill();
      mb.close();
    }
  });

  it('1 MiB values are never torn: a C writer, C and Node readers', async () => {
    const name = names.name('xmb2');
    const mb = Mailbox.create(name, { maxMessageSize: 1 << 20 });
    const readers = [spawnC('mailbox-peer', ['reader', name]), spawnPeer(fixture('mailbox-peer'), ['reader', name])];
    try {
      await Promise.all(readers.map((r) => r.line('ready')));
      const writer = spawnC('mailbox-peer', ['writer', name, '400']);
      assert.equal(await writer.line(/^done writes=/, 60_000), 'done writes=400');
      for (const r of readers) assert.match(await r.line(/^done /, 60_000), /^done reads=\d+ versions=\d+$/);
      assert.equal(mb.version, 401);
      assert.equal(mb.read().text(), 'STOP');
      await Promise.all([writer, ...readers].map((p) => expectCleanExit(p)));
    } finally {
      for (const r of readers) r.kill();
      mb.close();
    }
  });

  it('wait_changed in C wakes on a Node write, changed() in Node on a C write', async () => {
    const name = names.name('xmbw');
    const mb = Mailbox.create(name, { maxMessageSize: 1 << 20 });
    try {
      const cw = spawnC('mailbox-peer', ['watcher', name, '0']);
      await cw.line('waiting');
      mb.write('hello');
      assert.equal(await cw.line(/^changed /), 'changed 1 hello');
      await expectCleanExit(cw);
      const nw = spawnPeer(fixture('mailbox-peer'), ['watcher', name, '1']);
      await nw.line('waiting');
      const writer = spawnC('mailbox-peer', ['writer', name, '0']); // writes "STOP" only
      assert.equal(await writer.line(/^done /), 'done writes=0');
      assert.equal(await nw.line(/^changed /), 'changed 2 STOP');
      await Promise.all([writer, nw].map((p) => expectCleanExit(p)));
    } finally {
      mb.close();
    }
  });

  it('a C writer killed -9 holding the lock: Node writes next; a Node one killed: C writes next', async () => {
    const name = names.name('xmbk');
    const mb = Mailbox.create(name, { maxMessageSize: 1 << 20 });
    try {
      mb.write('before');
      const ch = spawnC('mailbox-peer', ['hold', name]);
      await ch.line('holding');
      ch.kill('SIGKILL');
      assert.equal(await ch.exited, 'SIGKILL');
      assert.equal(mb.read().text(), 'before');
      assert.equal(mb.write('after', { timeout: 20_000 }), 2);
      const nh = spawnPeer(fixture('mailbox-peer'), ['hold', name]);
      await nh.line('holding');
      nh.kill('SIGKILL');
      assert.equal(await nh.exited, 'SIGKILL');
      const writer = spawnC('mailbox-peer', ['writer', name, '0']);
      assert.equal(await writer.line(/^done /, 30_000), 'done writes=0');
      await expectCleanExit(writer);
      assert.equal(mb.version, 3);
      assert.equal(mb.read().text(), 'STOP');
    } finally {
      mb.close();
    }
  });
});
