/**
 * HTTP echo server on 127.0.0.1 (forked by bench/baselines.ts httpLoopback): answers every POST with its body.
 * Tells the parent its port over IPC; exits when the parent disconnects or dies.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

if (typeof process.send !== 'function') {
  process.stderr.write('http-echo: run me with child_process.fork\n');
  process.exit(1);
}
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (b: Buffer) => chunks.push(b));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send!({ ready: true, port: (server.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
