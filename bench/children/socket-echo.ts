/**
 * Unix domain socket echo server (forked by bench/baselines.ts unixSocket). Reads length-prefixed frames
 * (u32 LE length + payload) and writes each whole frame back. argv[2] = socket path. Tells the parent it is
 * listening over IPC; removes the socket and exits when the parent disconnects or dies.
 */
import { createServer, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

const path = process.argv[2];
if (path === undefined || typeof process.send !== 'function') {
  process.stderr.write('socket-echo: usage (forked): socket-echo.js <path>\n');
  process.exit(1);
}

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  // Chunks are kept in a list and joined once a whole frame is there (joining per chunk is quadratic in MBs).
  let chunks: Buffer[] = [];
  let have = 0;
  let need = -1;
  socket.on('data', (b: Buffer) => {
    chunks.push(b);
    have += b.length;
    for (;;) {
      if (need < 0) {
        if (have < 4) return;
        if (chunks[0]!.length < 4) chunks = [Buffer.concat(chunks)];
        need = 4 + chunks[0]!.readUInt32LE(0);
      }
      if (have < need) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      socket.write(all.subarray(0, need));
      const rest = all.subarray(need);
      chunks = rest.length > 0 ? [rest] : [];
      have = rest.length;
      need = -1;
    }
  });
  socket.on('error', () => socket.destroy());
}

rmSync(path, { force: true });
const server = createServer(serve);
server.listen(path, () => process.send!({ ready: true, path }));
process.on('disconnect', () => {
  rmSync(path, { force: true });
  process.exit(0);
});
