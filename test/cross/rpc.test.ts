/**
 * Rpc across languages: a C server (c/tests/peers/rpc-peer.c) with Node clients and a Node server
 * (test/fixtures/rpc-server.ts) with C clients; a handler's error travels as ERR_REMOTE with its message; a server
 * killed -9 while handling a request fails that request with ERR_NO_SERVER (not a timeout), both directions.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rpc, isShmbusError } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';

const names = trackNames((n) => Rpc.unlink(n));
after(names.cleanup);

async function stop(server: Peer): Promise<void> {
  server.send('stop');
  await server.line(/^stopped/, 30_000);
  await expectCleanExit(server);
}

describe('Rpc across C and Node', () => {
  it('C server (2 workers) with 2 Node client processes and an in-process Node client: answers match, errors are ERR_REMOTE', async () => {
    const name = names.name('xrpc-c');
    const server = spawnC('rpc-peer', ['serve', name, '2']);
    const clients: Peer[] = [];
    try {
      await server.line('serving');
      clients.push(spawnPeer(fixture('rpc-client'), [name, 'a', '300', '4']), spawnPeer(fixture('rpc-client'), [name, 'b', '300', '4']));
      const client = Rpc.connect(name);
      try {
        assert.equal((await client.request('hi', { timeout: 10_000 })).text(), 'ok:hi');
        const echo = await client.request(new Uint8Array([0, 1, 2, 255]), { timeout: 10_000 });
        assert.deepEqual([...echo.data], [0, 1, 2, 255]);
        assert.equal(echo.isText, false);
        await assert.rejects(client.request('throw:boom "quoted"', { timeout: 10_000 }), (e: unknown) => {
          assert.ok(isShmbusError(e, 'ERR_REMOTE'), String(e));
          assert.equal((e as Error).message, 'boom "quoted"');
          return true;
        });
        assert.equal((await client.request('after', { timeout: 10_000 })).text(), 'ok:after');
      } finally {
        client.close();
      }
      for (const c of clients) assert.equal(await c.line(/^done/, 60_000), 'done 300');
      for (const c of clients) await expectCleanExit(c);
      await stop(server);
    } finally {
      server.kill();
      for (const c of clients) c.kill();
    }
  });

  it('Node server (2 workers) with 2 C client processes (4 threads each) and a C call whose handler throws: ERR_REMOTE', async () => {
    const name = names.name('xrpc-n');
    const server = spawnPeer(fixture('rpc-server'), [name, '2']);
    const clients: Peer[] = [];
    try {
      await server.line('serving');
      clients.push(spawnC('rpc-peer', ['client', name, 'a', '300', '4']), spawnC('rpc-peer', ['client', name, 'b', '300', '4']));
      for (const c of clients) assert.equal(await c.line(/^done/, 60_000), 'done 300');
      for (const c of clients) await expectCleanExit(c);
      const thrower = spawnC('rpc-peer', ['call', name, 'throw:kaboom']);
      assert.equal(await thrower.line(/^(ok|error)/), 'error ERR_REMOTE kaboom');
      await expectCleanExit(thrower);
      const ok = spawnC('rpc-peer', ['call', name, 'plain']);
      assert.equal(await ok.line(/^(ok|error)/), 'ok ok:plain');
      await expectCleanExit(ok);
      await stop(server);
    } finally {
      server.kill();
      for (const c of clients) c.kill();
    }
  });

  it('a C server killed -9 while handling a request: the Node client gets ERR_NO_SERVER, not a timeout', async () => {
    const name = names.name('xrpc-kc');
    const server = spawnC('rpc-peer', ['serve', name, '1']);
    try {
      await server.line('serving');
      const client = Rpc.connect(name);
      try {
        const pending = client.request('hang', { timeout: 30_000 });
        await server.line(/^handling/);
        server.kill('SIGKILL');
        await assert.rejects(pending, (e: unknown) => {
          assert.ok(isShmbusError(e, 'ERR_NO_SERVER'), String(e));
          return true;
        });
        // And later requests fail at once: no live server.
        await assert.rejects(client.request('again', { timeout: 30_000 }), (e: unknown) => isShmbusError(e, 'ERR_NO_SERVER'));
      } finally {
        client.close();
      }
      await server.exited;
    } finally {
      server.kill();
    }
  });

  it('a Node server killed -9 while handling a request: the C client gets ERR_NO_SERVER, not a timeout', async () => {
    const name = names.name('xrpc-kn');
    const server = spawnPeer(fixture('rpc-server'), [name, '1']);
    let caller: Peer | undefined;
    try {
      await server.line('serving');
      caller = spawnC('rpc-peer', ['call', name, 'hang', '30000']);
      await server.line(/^handling/);
      server.kill('SIGKILL');
      assert.match(await caller.line(/^(ok|error)/), /^error ERR_NO_SERVER /);
      await expectCleanExit(caller);
      const none = spawnC('rpc-peer', ['call', name, 'again', '30000']);
      assert.match(await none.line(/^(ok|error)/), /^error ERR_NO_SERVER /);
      await expectCleanExit(none);
    } finally {
      server.kill();
      caller?.kill();
    }
  });
});
