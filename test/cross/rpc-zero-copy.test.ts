/**
 * Zero-copy Rpc across processes and languages: requests written in loaned slots, handlers reading them in place
 * and answering into loaned response slots, responses read as views; 2.7 MB images Node<->Node, Node<->C (both
 * directions), every byte checked. A worker killed -9 holding a response loan fails the request with
 * ERR_NO_SERVER and leaves nothing wedged. Misuse gives typed errors.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rpc, ShmbusError } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { spawnC } from '../helpers/peers.js';

// Response queues "<name>.r<id>" are removed by their clients' close and the last server out.
const names = trackNames((n) => Rpc.unlink(n));
after(names.cleanup);

const IMAGE = 1280 * 720 * 3;
const COUNT = 8;

function server(lang: 'C' | 'Node', name: string, max: number): Peer {
  return lang === 'C' ? spawnC('rpc-peer', ['zc-serve', name, '2', String(max)]) : spawnPeer(fixture('rpc-zc'), ['serve', name, String(max)]);
}

function client(lang: 'C' | 'Node', name: string, count: number, size: number): Peer {
  return lang === 'C' ? spawnC('rpc-peer', ['zc-client', name, String(count), String(size)]) : spawnPeer(fixture('rpc-zc'), ['client', name, String(count), String(size)]);
}

/**
 * A C++17 program over shmbus.hpp's zero-copy wrappers: Queue::loan / receive_view, an RpcServer with zero_copy and
 * RpcReply::loan, RpcClient::loan / commit (a View) and request_view. Prints one line per check.
 */
const CXX = String.raw`
#include "shmbus.hpp"
#include <cstdio>
#include <thread>
int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc != 3) return 3;
  std::string qn = argv[1], rn = argv[2];
  {
    auto q = shmbus::Queue::create(qn, 4, 1024);
    auto loan = q.loan(5);
    std::memcpy(loan.bytes().data(), "hello", 5);
    loan.commit();
    auto v = q.receive_view(1000ms);
    std::printf("queue view %.*s\n", (int)v->text().size(), v->text().data());
    v->release();
    if (q.try_receive_view()) return 1;
    if (!q.try_loan(4)) return 2; // aborted by its destructor
    shmbus::Queue::unlink(qn);
  }
  {
    shmbus::rpc_serve_options so;
    so.zero_copy = true;
    so.max_message_size = 1 << 16;
    auto server = shmbus::RpcServer::serve(rn, [](const shmbus::RpcRequest& req, shmbus::RpcReply& reply) {
      auto in = req.data();
      auto out = reply.loan(in.size());
      for (std::size_t i = 0; i < in.size(); i++) out.data()[i] = std::byte(255 - std::to_integer<int>(in.data()[i]));
    }, so);
    server.start();
    auto client = shmbus::RpcClient::connect(rn);
    auto loan = client.loan(3, 1000ms);
    std::memcpy(loan.bytes().data(), "", 3);
    auto res = loan.commit(5000ms);
    auto b = res.bytes();
    std::printf("rpc loan view %d %d %d\n", std::to_integer<int>(b.data()[0]), std::to_integer<int>(b.data()[1]), std::to_integer<int>(b.data()[2]));
    res.release();
    const std::byte two[2] = {std::byte(10), std::byte(20)};
    auto r2 = client.request_view(shmbus::bytes(two, 2), 5000ms);
    std::printf("rpc view %d %d\n", std::to_integer<int>(r2.bytes().data()[0]), std::to_integer<int>(r2.bytes().data()[1]));
  }
  return 0;
}
`;

/** Checks an inverted image answer in place: byte i is 255 - ((i * 7 + k) & 255). */
function inverted(data: Uint8Array, k: number): boolean {
  if (data.length !== IMAGE) return false;
  for (let i = 0; i < IMAGE; i++) if (data[i] !== 255 - ((i * 7 + k) & 255)) return false;
  return true;
}

async function stop(p: Peer): Promise<void> {
  p.send('stop');
  await p.line(/^stopped/, 20_000);
  await expectCleanExit(p);
}

describe('Rpc zero-copy across processes', () => {
  for (const [from, to] of [
    ['Node', 'Node'],
    ['Node', 'C'],
    ['C', 'Node'],
  ] as const) {
    it(`${COUNT} images of 2.7 MB: ${from} client (request loans, response views) -> ${to} server (request views, response loans)`, async () => {
      const name = names.name('zr-img');
      const srv = server(to, name, IMAGE);
      let cli: Peer | undefined;
      try {
        await srv.line('serving');
        if (from === 'Node') {
          // This process is the Node client: check every byte of each view.
          const c = Rpc.connect(name);
          try {
            for (let k = 0; k < COUNT; k++) {
              const loan = await c.loan(IMAGE, { timeout: 10_000 });
              for (let i = 0; i < IMAGE; i++) loan.bytes[i] = (i * 7 + k) & 255;
              const res = await loan.commit(undefined, { copy: false, timeout: 30_000 });
              assert.equal(res.data.buffer instanceof SharedArrayBuffer, true, 'a view of the response slot');
              assert.equal(inverted(res.data, k), true, `response ${k}`);
              res.release();
            }
          } finally {
            c.close();
          }
        } else {
          cli = client(from, name, COUNT, IMAGE);
          assert.equal(await cli.line(/^done/, 60_000), `done ${COUNT}`);
          await expectCleanExit(cli);
        }
        await stop(srv);
      } finally {
        srv.kill();
        cli?.kill();
      }
    });
  }

  for (const lang of ['C', 'Node'] as const) {
    it(`a ${lang} worker killed -9 holding a response loan: the request fails with ERR_NO_SERVER, the client's queue goes on`, async () => {
      const name = names.name('zr-kill');
      const srv = server(lang, name, 4096);
      const c = Rpc.connect(name, { livenessInterval: 20 });
      let next: Awaited<ReturnType<typeof Rpc.serve>> | undefined;
      try {
        await srv.line('serving');
        const pending = c.request('loan-hang', { timeout: 20_000 });
        await srv.line(/^loaned/);
        srv.kill('SIGKILL');
        await assert.rejects(pending, (e: unknown) => e instanceof ShmbusError && e.code === 'ERR_NO_SERVER');
        await srv.exited;
        // A new server; the client's response queue still has the dead worker's WRITING slot at its head: it is
        // recovered, and the answers of the new server arrive (more than a lap of the 4-slot queue).
        next = Rpc.serve(name, (req) => req.data, { copy: false });
        for (let i = 0; i < 6; i++) {
          const res = await c.request(new Uint8Array([i, 1, 2]), { timeout: 10_000, copy: false });
          assert.deepEqual([...res.data], [i, 1, 2]);
        }
      } finally {
        srv.kill();
        c.close();
        await next?.close();
      }
    });
  }

  it('two zero-copy workers sharing one ring, clients loaning at once: every request read and answered right', async () => {
    const name = names.name('zr-race');
    const srv = Rpc.serve(
      name,
      async (req) => {
        await new Promise(setImmediate); // both workers wait at once, then resume
        const loan = await req.loan(req.data.length);
        loan.bytes.set(req.data);
        return loan;
      },
      { copy: false, workers: 2, slots: 4 },
    );
    const clients = [Rpc.connect(name), Rpc.connect(name), Rpc.connect(name)];
    try {
      await Promise.all(
        clients.map(async (c, ci) => {
          for (let k = 0; k < 60; k++) {
            const loan = await c.loan(8, { timeout: 10_000 });
            loan.bytes.fill(ci * 64 + (k % 64));
            const res = await loan.commit(8, { copy: false, timeout: 10_000 });
            assert.deepEqual([...res.data], new Array(8).fill(ci * 64 + (k % 64)));
            res.release();
          }
        }),
      );
    } finally {
      for (const c of clients) c.close();
      await srv.close();
    }
  });

  it('close({ timeout }) giving up on a hung handler frees its request slot and response loan: the next server answers', async () => {
    const name = names.name('zr-hung');
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const hung = Rpc.serve(
      name,
      async (req) => {
        await req.loan(4); // WRITING at the head of the client's response queue
        entered();
        return new Promise<never>(() => {});
      },
      { copy: false, slots: 2 },
    );
    const c = Rpc.connect(name, { slots: 2 });
    let next: Awaited<ReturnType<typeof Rpc.serve>> | undefined;
    try {
      const lost = c.request('a', { timeout: 2000 });
      lost.catch(() => {}); // fails once the server is gone
      await inHandler;
      // Joins the same service (the hung server is alive), so the next requests use the same request ring.
      next = Rpc.serve(name, (req) => req.data, { copy: false, slots: 2 });
      await hung.close({ timeout: 50 });
      // Another server lives, and the hung one left the table cleanly: the request is not failed at once.
      await assert.rejects(lost, (e: unknown) => e instanceof ShmbusError && (e.code === 'ERR_TIMEOUT' || e.code === 'ERR_NO_SERVER'));
      // More than a lap of both 2-slot rings: neither the request slot nor the response loan stayed held.
      for (let i = 0; i < 5; i++) assert.deepEqual([...(await c.request(new Uint8Array([i]), { timeout: 10_000, copy: false })).data], [i]);
    } finally {
      c.close();
      await next?.close();
    }
  });

  it('the C++ wrappers: Queue::loan / receive_view, RpcServer zero_copy with RpcReply::loan, RpcClient::loan / request_view', () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'shmbus-zc-cxx-'));
    try {
      const src = join(dir, 'prog.cpp');
      const bin = join(dir, 'prog');
      writeFileSync(src, CXX);
      const lib = join(root, 'c', 'build', 'libshmbus.a');
      const c = spawnSync('c++', ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-pedantic', `-I${join(root, 'c')}`, src, lib, '-pthread', '-o', bin], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(c.status, 0, c.stderr);
      const r = spawnSync(bin, [names.name('zcxq'), names.name('zcxr')], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'queue view hello\nrpc loan view 254 253 252\nrpc view 245 235\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('misuse gives typed errors: a response loan larger than the client takes, a second loan, commit twice, a request loan above maxMessageSize, release after close', async () => {
    const name = names.name('zr-misuse');
    const seen: string[] = [];
    const srv = Rpc.serve(
      name,
      async (req) => {
        if (req.text() === 'big') return (await req.loan(1 << 20)) as never; // larger than the client's slots: rethrown
        const loan = await req.loan(2);
        try {
          req.tryLoan(1);
        } catch (e) {
          seen.push((e as ShmbusError).code);
        }
        loan.bytes.set([7, 8]);
        loan.commit();
        try {
          loan.commit();
        } catch (e) {
          seen.push((e as ShmbusError).code);
        }
        return 'ignored: the committed loan answered';
      },
      { copy: false, maxMessageSize: 64 },
    );
    const c = Rpc.connect(name, { maxMessageSize: 64 });
    try {
      await assert.rejects(c.request('big', { timeout: 5000 }), (e: unknown) => e instanceof ShmbusError && e.code === 'ERR_MESSAGE_TOO_LARGE');
      const res = await c.request('x', { timeout: 5000, copy: false });
      assert.deepEqual([...res.data], [7, 8]);
      assert.deepEqual(seen, ['ERR_INVALID_ARG', 'ERR_CLOSED']);
      assert.throws(() => c.tryLoan(65), (e: unknown) => e instanceof ShmbusError && e.code === 'ERR_MESSAGE_TOO_LARGE');
      const loan = c.tryLoan(3)!;
      loan.abort();
      assert.throws(() => loan.abort(), (e: unknown) => e instanceof ShmbusError && e.code === 'ERR_CLOSED');
      await assert.rejects(loan.commit(), (e: unknown) => e instanceof ShmbusError && e.code === 'ERR_CLOSED');
      await assert.rejects(c.request('x', { copy: false, into: new Uint8Array(4) }), (e: unknown) => e instanceof ShmbusError && e.code === 'ERR_INVALID_ARG');
      const view = await c.request('x', { timeout: 5000, copy: false });
      c.close();
      assert.throws(() => view.release(), (e: unknown) => e instanceof ShmbusError && e.code === 'ERR_CLOSED');
    } finally {
      c.close();
      await srv.close();
    }
  });
});
