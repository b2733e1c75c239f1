/**
 * Unix domain socket echo server (forked by bench/baselines.ts unixSocket). Reads length-prefixed frames
 * (u32 LE length + payload) and writes each whole frame back. argv[2] = socket path. Tells the parent it is
 * listening over IPC; removes the socket and exits when the parent disconnects or dies.
 */
import { createServer, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { readFrames, writeFramed } from '../framing.js';

const path = process.argv[2];
if (path === undefined || typeof process.send !== 'function') {
  process.stderr.write('socket-echo: usage (forked): socket-echo.js <path>\n');
  process.exit(1);
}

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  readFrames(socket, (payload) => writeFramed(socket, payload));
  socket.on('error', () => socket.destroy());
}

rmSync(path, { force: true });
const server = createServer(serve);
server.listen(path, () => process.send!({ ready: true, path }));
process.on('disconnect', () => {
  rmSync(path, { force: true });
  process.exit(0);
});
