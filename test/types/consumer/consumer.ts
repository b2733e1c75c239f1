// A TypeScript consumer of the packed shmbus package, compiled by test/types/types.test.ts with
// `tsc --strict --module nodenext --moduleResolution nodenext` (TypeScript 5.9 and 7) in a project that has no
// @types/node. It is never run: it proves that the shipped .d.ts are self-contained and that every public class
// can be created, opened, used and closed (and disposed) with the types as published. The type test appends a
// generated part that checks `using` / `await using` on every exported class that has a dispose method.
// Keep it in step with the public API (docs/api.md): when a name changes, change it here. Classes that may become
// generic are named through `instanceof` so that the file does not depend on their type parameters.
import {
  ERROR_CODES,
  Event,
  Loan,
  Mailbox,
  Message,
  Mutex,
  Queue,
  QueueLoan,
  QueueMessage,
  Rpc,
  RpcClient,
  RpcRequest,
  RpcRequestLoan,
  RpcResponse,
  RpcResponseLoan,
  RpcServer,
  RwLock,
  Segment,
  Semaphore,
  ShmbusError,
  Subscriber,
  Topic,
  isShmbusError,
  type ShmbusErrorCode,
} from 'shmbus';
import * as protocol from 'shmbus/protocol';

export async function segments(): Promise<void> {
  const seg: Segment = Segment.create('types-seg', { size: 4096 });
  const peer = Segment.open('types-seg');
  peer.bytes.set(new TextEncoder().encode('hi'), 4);
  Atomics.store(peer.words, 0, 1);
  const woken: number = peer.wake(0);
  const r = await seg.waitAsync(0, 0, { timeout: 100 });
  const label: string = `${woken} ${String(r)}`;
  void label;
  seg.close();
  peer.close();
  Segment.unlink('types-seg');
  {
    using s = Segment.create('types-seg2', { size: 4096 });
    void s.bytes.byteLength;
  }
}

export async function locks(): Promise<void> {
  const m = Mutex.create('types.lock');
  const { recovered } = await m.lock({ timeout: 1000 });
  const flag: boolean = recovered;
  void flag;
  m.unlock();
  await m.withLock(async () => 1);
  m.close();
  Mutex.open('types.lock').close();
  Mutex.unlink('types.lock');

  const rw = RwLock.create('types.rw');
  await rw.withRead(async () => undefined);
  await rw.withWrite(async () => undefined);
  rw.close();
  RwLock.unlink('types.rw');

  const sem = Semaphore.create('types.sem', { initial: 2 });
  await sem.acquire({ timeout: 1000 });
  sem.release();
  sem.close();
  Semaphore.unlink('types.sem');

  const ev = Event.create('types.ev', { manualReset: true });
  ev.set();
  await ev.wait({ timeout: 1000 });
  ev.close();
  Event.unlink('types.ev');

  const seg = Segment.create('types.embedded', { size: 4096 });
  const embedded = new Mutex(seg, 0);
  embedded.close();
  seg.close();
}

export async function topics(): Promise<void> {
  const pub = Topic.create('types.topic', { capacity: 1 << 16, maxMessageSize: 1024 });
  const sub = Topic.subscribe('types.topic', { from: 'oldest' });
  pub.publish('hello');
  const loan = pub.loan(3);
  loan.bytes.set([1, 2, 3]);
  loan.commit();
  const m = await sub.read({ timeout: 1000 });
  if (m === null) throw new Error('the topic ended'); // null: no publisher left and nothing unread
  const named: boolean = pub instanceof Topic && sub instanceof Subscriber && m instanceof Message && loan instanceof Loan;
  const text: string = m.text();
  const data: Uint8Array = m.data;
  void [text, data, sub.lost, named];
  for await (const msg of sub) {
    void msg.data.length;
    break;
  }
  sub.close();
  pub.close();
  Topic.open('types.topic').close();
  Topic.unlink('types.topic');
}

export async function mailboxes(): Promise<void> {
  const mb = Mailbox.create('types.mb');
  const other = Mailbox.open('types.mb');
  mb.write('{"a":1}');
  const v = other.read();
  void v.text();
  mb.close();
  other.close();
  Mailbox.unlink('types.mb');
}

export async function queues(): Promise<void> {
  const q = Queue.create('types.q');
  await q.send('a', { timeout: 1000 });
  const ok: boolean = q.trySend(new Uint8Array([1]));
  void ok;
  const m = await q.receive({ timeout: 1000 });
  if (m instanceof QueueMessage) void m.text();
  const loan = await q.loan(3, { timeout: 1000 });
  if (loan instanceof QueueLoan) loan.bytes.set([1, 2, 3]);
  loan.commit();
  const view = q.tryReceive({ copy: false });
  if (view !== null) view.release();
  for await (const msg of Queue.open('types.q')) {
    const t: string = msg.text();
    void t;
    break;
  }
  q.close();
  Queue.unlink('types.q');
}

export async function rpcs(): Promise<void> {
  const server = Rpc.serve('types.rpc', (req) => (req instanceof RpcRequest ? req.data : new Uint8Array(0)), { workers: 1 });
  const client = Rpc.connect('types.rpc');
  const named: boolean = server instanceof RpcServer && client instanceof RpcClient;
  void named;
  const res = await client.request('hi', { timeout: 1000 });
  const answered: boolean = res instanceof RpcResponse;
  const reply: string = res.text();
  void [res.data.length, answered, reply, server.stats().served, client.stats().inFlight];
  const zc = Rpc.serve(
    'types.rpczc',
    async (req) => {
      const out = await req.loan(req.data.length);
      out.bytes.set(req.data);
      return out instanceof RpcResponseLoan ? out : new Uint8Array(0);
    },
    { copy: false },
  );
  const zclient = Rpc.connect('types.rpczc');
  const rl = await zclient.loan(2, { timeout: 1000 });
  const loaned: boolean = rl instanceof RpcRequestLoan;
  rl.bytes.set([4, 5]);
  const view = await rl.commit(2, { copy: false, timeout: 1000 });
  void [loaned, view.data.length];
  view.release();
  zclient.close();
  await zc.close();
  client.close();
  await server.close();
  Rpc.unlink('types.rpc');
}

export function errors(e: unknown): string {
  const codes: readonly ShmbusErrorCode[] = ERROR_CODES;
  if (isShmbusError(e)) return e.code;
  if (e instanceof ShmbusError) return e.code;
  return String(codes.length) + String(protocol.PROTOCOL_VERSION);
}
