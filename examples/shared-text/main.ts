/**
 * The seed-000/003 scenario: a piece of text shared between processes, every instance told when it changes.
 * An editor writes new versions of the text into a Mailbox; two viewer processes wait with `changed()` (parked on
 * a futex: no polling, no CPU) and print each version they see. A reader never blocks the editor and never sees a
 * half-written text; if edits come faster than a viewer looks, it simply gets the latest one.
 * Run: node dist/examples/shared-text/main.js
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Mailbox } from '../../src/index.js';

const EDITS = ['Hello', 'Hello, shared', 'Hello, shared memory!'];

async function viewer(name: string, id: string): Promise<void> {
  const mb = Mailbox.open(name);
  let version = mb.version;
  process.send?.('ready');
  for (;;) {
    version = await mb.changed({ since: version, timeout: 30_000 });
    const text = mb.read().text();
    console.log(`viewer ${id} sees version ${version}: "${text}"`);
    if (text === EDITS.at(-1)) break;
  }
  mb.close();
}

async function main(): Promise<void> {
  const name = `text-${process.pid}`;
  const mb = Mailbox.create(name, { maxMessageSize: 4096 });
  const viewers = ['A', 'B'].map((id) => {
    const child = fork(fileURLToPath(import.meta.url), ['viewer', name, id]);
    return {
      ready: new Promise<void>((resolve) => child.once('message', () => resolve())),
      exited: new Promise((resolve) => child.once('exit', resolve)),
    };
  });
  await Promise.all(viewers.map((v) => v.ready));
  for (const text of EDITS) {
    const version = mb.write(text);
    console.log(`editor wrote version ${version}: "${text}"`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(viewers.map((v) => v.exited));
  const { data, version } = mb.read();
  console.log(`final: version ${version}, ${data.length} bytes`);
  mb.close();
  Mailbox.unlink(name);
}

const [role, name, id] = process.argv.slice(2);
if (role === 'viewer') await viewer(name!, id!);
else await main();
