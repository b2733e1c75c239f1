/**
 * Rpc across languages: a C server (c/tests/peers/rpc-peer.c) with Node clients and a Node server
 * (test/fixtures/rpc-server.ts) with C clients; a handler's error travels as ERR_REMOTE with its message; a server
 * killed -9 while handling a request fails that request with ERR_NO_SERVER (not a timeout), both directions.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Rpc, isShmbusError } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, spawnProcess, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';

const names = trackNames((n) => Rpc.unlink(n));
const dir = mkdtempSync(join(tmpdir(), 'shmbus-cxx-rpc-'));
after(() => {
  names.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** A C++17 program over shmbus.hpp: drains a Node queue with range-for, then serves Rpc until "stop" on stdin. */
const CXX_PROGRAM = `#include "shmbus.hpp"
#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  shmbus::queue_options qo;
  qo.open_timeout = std::chrono::seconds(5);
  auto q = shmbus::Queue::open(argv[1], qo);
  for (const auto& m : q.messages()) std::printf("msg %s %zu\\n", m.is_text ? "text" : "bytes", m.data.size());
  std::printf("end %d\\n", (int)q.ended());
  try {
    q.send_text("late");
  } catch (const shmbus::error& e) {
    std::printf("send after end: %s\\n", e.node_code());
  }
  shmbus::rpc_serve_options options;
  options.workers = 2;
  auto server = shmbus::RpcServer::serve(argv[2], [](const shmbus::RpcRequest& req, shmbus::RpcReply& reply) {
    if (req.text() == "boom") throw std::runtime_error("kaboom from C++");
    reply.set_text("ok:" + std::string(req.text()));
  }, options);
  server.start();
  std::printf("serving\\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line) && line != "stop") {
  }
  const auto served = server.stats().served;
  server.close();
  std::printf("stopped %llu\\n", (unsigned long long)served);
  return 0;
}
`;

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

  it('C++ layer (shmbus.hpp, C++17): range-for over a Node queue to its end, then an RpcServer whose exception reaches Node as ERR_REMOTE', async () => {
    const lib = join(root, 'c', 'build', 'libshmbus.a');
    assert.ok(existsSync(lib), `${lib} is missing: run make -C c`);
    const src = join(dir, 'channels.cpp');
    const bin = join(dir, 'channels');
    writeFileSync(src, CXX_PROGRAM);
    const c = spawnSync('c++', ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-pedantic', `-I${join(root, 'c')}`, src, lib, '-pthread', '-o', bin], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(c.status, 0, c.stderr);
    const qname = names.name('xcxx-q');
    const rname = names.name('xcxx-rpc');
    const q = Queue.create(qname, { slots: 4, maxMessageSize: 64 });
    const prog = spawnProcess(bin, [qname, rname]);
    try {
      await q.send('a', { timeout: 10_000 });
      await q.send(new Uint8Array([1, 2, 3]), { timeout: 10_000 });
      q.end();
      assert.equal(await prog.line(/^msg/), 'msg text 1');
      assert.equal(await prog.line(/^msg/), 'msg bytes 3');
      assert.equal(await prog.line(/^end/), 'end 1');
      assert.equal(await prog.line(/^send after end/), 'send after end: ERR_CLOSED');
      await prog.line('serving');
      const client = Rpc.connect(rname);
      try {
        assert.equal((await client.request('hi', { timeout: 10_000 })).text(), 'ok:hi');
        await assert.rejects(client.request('boom', { timeout: 10_000 }), (e: unknown) => {
          assert.ok(isShmbusError(e, 'ERR_REMOTE'), String(e));
          assert.equal((e as Error).message, 'kaboom from C++');
          return true;
        });
      } finally {
        client.close();
      }
      prog.send('stop');
      assert.equal(await prog.line(/^stopped/), 'stopped 2');
      await expectCleanExit(prog);
    } finally {
      prog.kill();
      q.close();
      Queue.unlink(qname);
    }
  });
});
