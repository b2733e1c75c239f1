/**
 * The seed-004 scenario, across languages: a C++ server (server.cpp) streams a directory listing (path, type, size,
 * mtime, mode) as Parts records over Queues to a Node and a Python client (client.ts, client.py), then ends each
 * stream. The clients start first and wait for the server's queue; each checks that the count and checksum of what
 * it got equal the server's trailer and its own listing of the directory. This orchestrator makes a test tree (or
 * takes a directory), starts the clients, then the server, and echoes what they print.
 * Run: npm run example -- file-stream [directory] [queue name]
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Segment } from '../../src/index.js';
import { Child, atExit, programCommand, type Language } from '../lib/children.js';

const dir = process.argv[2] ?? makeTree();
const name = process.argv[3] ?? `file-stream-${process.pid}`;
atExit(() => {
  if (process.argv[2] === undefined) rmSync(dir, { recursive: true, force: true });
  // The server and the clients remove their queues; this is for a run that failed midway.
  for (const s of Segment.list()) if (s.name === name || s.name.startsWith(`${name}.`)) Queue.unlink(s.name);
});

/** A throwaway tree, the same everywhere: 12 folders of 150 files (sizes 0..4 KiB, UTF-8 names, three modes),
 * a nested folder and a symlink: 1816 entries. */
function makeTree(): string {
  const root = mkdtempSync(join(tmpdir(), 'shmbus-file-stream-'));
  for (let d = 0; d < 12; d++) {
    const sub = join(root, `dir${d}`);
    mkdirSync(sub);
    for (let f = 0; f < 150; f++) {
      const file = join(sub, f % 10 === 0 ? `Grüße-${f}.txt` : `file${f}.dat`);
      writeFileSync(file, Buffer.alloc((d * 977 + f * 131) % 4097, f), { mode: [0o644, 0o600, 0o755][f % 3] });
    }
  }
  mkdirSync(join(root, 'dir0', 'nested', 'deeper'), { recursive: true });
  writeFileSync(join(root, 'dir0', 'nested', 'deeper', 'leaf.txt'), 'leaf');
  symlinkSync('dir1/file1.dat', join(root, 'link-to-file1'));
  return root;
}

function start(label: string, program: string, language: Language, args: string[]): Child {
  const kid = new Child(label, [...programCommand('file-stream', program, language), ...args], (l) => console.log(`  | ${l}`));
  return kid;
}

console.log(`listing ${process.argv[2] ?? 'a generated tree'} from a C++ server to a Node and a Python client, queue "${name}"`);
const clients = [start('A', 'client', 'node', [name, dir, 'A']), start('B', 'client', 'python', [name, dir, 'B'])];
await Promise.all(clients.map((c) => c.line(/waiting for the server's queue/)));
console.log('> both clients wait for the server; start it');
const server = start('server', 'server', 'cpp', [name, dir, String(clients.length)]);
await Promise.all([...clients, server].map((c) => c.success()));
console.log('every record arrived once in both languages: counts and checksums agree with the server and with the disk');
