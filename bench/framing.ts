/**
 * Length-prefixed frames (u32 LE length + payload) over a stream socket, for the socket baselines
 * (bench/baselines.ts unixSocket, bench/children/socket-echo.ts) and the transports suite (bench/transports.ts).
 */
import type { Socket } from 'node:net';

/** Length-prefixed frames (u32 LE + payload) over a stream socket: `onFrame` gets each payload (a view). */
export function readFrames(socket: Socket, onFrame: (payload: Buffer) => void): void {
  socket.setNoDelay(true);
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
      // Joined once per frame (joining per chunk would be quadratic for MB payloads).
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      onFrame(all.subarray(4, need));
      const rest = all.subarray(need);
      chunks = rest.length > 0 ? [rest] : [];
      have = rest.length;
      need = -1;
    }
  });
}

/** Writes one length-prefixed frame (see {@link readFrames}). */
export function writeFramed(socket: Socket, data: Uint8Array): void {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(data.length, 0);
  socket.cork();
  socket.write(head);
  socket.write(data);
  socket.uncork();
}
