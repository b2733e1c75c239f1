/**
 * The seed-004 scenario: a server process walks a directory tree and streams one record per file (path, size,
 * modification time) to a client through a Queue, then ends the stream; the client prints what it got.
 * No handshake per record: the Queue is lossless, applies backpressure when the client falls behind, and `end()`
 * marks the end of the stream (`close()` only lets go of a handle). Run: node dist/examples/file-stream/main.js [directory]
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from '../../src/index.js';

/** One directory entry as it travels: "path\tsize\tmtimeMs" (a string message; any bytes would do). */
function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) {
      const st = statSync(path);
      yield `${path}\t${st.size}\t${Math.round(st.mtimeMs)}`;
    }
  }
}

async function server(name: string, dir: string): Promise<void> {
  // Whichever side starts first creates the queue; the other opens it.
  const q = Queue.openOrCreate(name, { slots: 256, maxMessageSize: 4096 });
  let sent = 0;
  for (const record of walk(dir)) {
    await q.send(record, { timeout: 10_000 }); // waits while the client is behind (backpressure)
    sent++;
  }
  q.end(); // end of stream: the client drains what is left, then its loop ends
  console.log(`server: sent ${sent} records, then ended the stream`);
  q.close(); // lets go of this handle only
}

async function client(): Promise<void> {
  const name = `files-${process.pid}`;
  const dir = process.argv[2] ?? makeTree();
  const q = Queue.openOrCreate(name, { slots: 256, maxMessageSize: 4096 });
  console.log(`client: listening on queue "${name}" before the server starts`);
  const kid = fork(fileURLToPath(import.meta.url), ['server', name, dir]);
  const exited = new Promise((r) => kid.once('exit', r));
  let files = 0;
  let bytes = 0;
  let largest = '';
  let largestSize = -1;
  for await (const m of q) {
    const [path, size] = m.text().split('\t');
    files++;
    bytes += Number(size);
    if (Number(size) > largestSize) [largest, largestSize] = [path!, Number(size)];
  }
  await exited;
  console.log(`client: got ${files} records (${bytes} bytes in all), then the end of the stream`);
  console.log(`client: largest file ${largest.slice(dir.length + 1)} (${largestSize} bytes)`);
  q.close();
  Queue.unlink(name);
  if (process.argv[2] === undefined) rmSync(dir, { recursive: true });
}

/** A throwaway tree of 1000 files in 10 folders, so the run is the same everywhere. */
function makeTree(): string {
  const root = mkdtempSync(join(tmpdir(), 'shmbus-files-'));
  for (let d = 0; d < 10; d++) {
    mkdirSync(join(root, `dir${d}`));
    for (let f = 0; f < 100; f++) writeFileSync(join(root, `dir${d}`, `file${f}.txt`), 'x'.repeat(d * 100 + f));
  }
  return root;
}

if (process.argv[2] === 'server') await server(process.argv[3]!, process.argv[4]!);
else await client();
