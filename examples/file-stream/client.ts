/**
 * A file-stream client in Node (client.py is the same client in Python; server.cpp is the server). The handshake:
 * 1. create my reply Queue; 2. wait for the server's request Queue to appear (`Queue.openAsync`: this client may
 * start before the server); 3. send one request record { reply, client }; 4. receive the listing, one Parts record
 * per entry, until the end of the stream (the server's `end()`); 5. check it: the count and checksum of what came
 * must equal the server's trailer and this machine's own listing of the directory (read here with lstat).
 * Exit code 1 when anything differs. Run by hand (server running or not yet):
 *   node dist/examples/file-stream/client.js [name] [directory] [id]
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Parts, Queue, type QueueMessage } from '../../src/index.js';

const name = process.argv[2] ?? 'file-stream';
const root = process.argv[3] ?? '.';
const id = process.argv[4] ?? `node-${process.pid}`;
const who = `${id} (node)`;
const utf8 = new TextEncoder();

/** FNV-1a-64 of `path\0size\0mtime_ns\0mode` (what server.cpp sums): the checksum is the sum mod 2^64. */
function recordHash(path: string, size: bigint, mtimeNs: bigint, mode: bigint): bigint {
  let h = 0xcbf29ce484222325n;
  for (const c of utf8.encode(`${path}\0${size}\0${mtimeNs}\0${mode}`)) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

/** This machine's own listing of the tree (the same entries the server walks: lstat, symlinks not followed). */
function localListing(dir: string, out = { count: 0, sum: 0n }): { count: number; sum: bigint } {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const st = lstatSync(path, { bigint: true });
    out.count++;
    out.sum = (out.sum + recordHash(relative(root, path), st.size, st.mtimeNs, st.mode)) & 0xffffffffffffffffn;
    if (entry.isDirectory()) localListing(path, out);
  }
  return out;
}

const hex = (n: bigint): string => n.toString(16).padStart(16, '0');
const replyName = `${name}.${id}-${process.pid}`;
const reply = Queue.create(replyName, { slots: 64, maxMessageSize: 8192 }); // backpressure: 64 records in flight
try {
  console.log(`${who}: waiting for the server's queue "${name}"`);
  const requests = await Queue.openAsync(name, { timeout: 60_000 }); // without blocking the event loop
  await requests.send(Parts.encode({ reply: replyName, client: who }), { timeout: 10_000 });
  requests.close();
  console.log(`${who}: asked for the listing on "${replyName}"`);

  const types = new Map<string, number>();
  let [count, sum, bytes] = [0, 0n, 0n];
  let trailer: { count: number; checksum: string } | null = null;
  // Until the end of the stream; 30 s without a record means the server is gone (ERR_TIMEOUT), not a hang.
  // copy: false: each record is decoded in place in its slot, which the next receive releases.
  const next = (): Promise<QueueMessage | null> => reply.receive({ timeout: 30_000, copy: false });
  for (let m = await next(); m !== null; m = await next()) {
    const r = Parts.decode(m.data);
    if ('count' in r) {
      trailer = { count: Number(r['count']), checksum: String(r['checksum']) };
      continue;
    }
    const [path, size, mtimeNs, mode] = [r['path'] as string, r['size'] as bigint, r['mtime_ns'] as bigint, r['mode'] as bigint];
    count++;
    sum = (sum + recordHash(path, size, mtimeNs, mode)) & 0xffffffffffffffffn;
    types.set(r['type'] as string, (types.get(r['type'] as string) ?? 0) + 1);
    if (r['type'] === 'file') bytes += size;
  }
  const local = localListing(root);
  const kinds = [...types].sort().map(([t, n]) => `${n} ${t}`).join(', ');
  console.log(`${who}: got ${count} records (${kinds}; ${bytes} bytes of files), checksum ${hex(sum)}, then the end of the stream`);
  console.log(`${who}: the server's trailer says ${trailer?.count} records, checksum ${trailer?.checksum}`);
  console.log(`${who}: this machine's own listing: ${local.count} records, checksum ${hex(local.sum)}`);
  const agree = trailer !== null && trailer.count === count && trailer.checksum === hex(sum) && local.count === count && local.sum === sum;
  console.log(`${who}: ${agree ? 'all three agree: nothing lost, nothing changed' : 'MISMATCH'}`);
  if (!agree) process.exitCode = 1;
} finally {
  reply.close();
  Queue.unlink(replyName);
}
