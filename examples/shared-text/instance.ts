/**
 * One instance of the shared text, in Node (instance.py and instance.cpp are the same program in Python and C++).
 * It opens the text's Mailbox (or creates it when it is the first), shows the current text, then:
 * - every line typed on stdin becomes the new text (written for everyone);
 * - whenever another instance, in any language, writes, it shows the new text at once: `changed()` parks on a
 *   futex until the version moves (no polling, no CPU while nothing happens).
 * End of input (Ctrl-D) ends it. Run by hand: node dist/examples/shared-text/instance.js [name] [id]
 */
import { createInterface } from 'node:readline';
import { Mailbox, isShmbusError } from '../../src/index.js';

const name = process.argv[2] ?? 'shared-text';
const id = `${process.argv[3] ?? `node-${process.pid}`} (node)`;
const MAX_TEXT = 4096;

/** The first instance creates the mailbox; the others open it (a racing pair: the loser opens). */
function openOrCreate(): { mb: Mailbox; created: boolean } {
  try {
    return { mb: Mailbox.create(name, { maxMessageSize: MAX_TEXT }), created: true };
  } catch (e) {
    if (!isShmbusError(e, 'ERR_SHM_EXISTS')) throw e;
    return { mb: Mailbox.open(name), created: false };
  }
}

const { mb, created } = openOrCreate();
const first = mb.read();
console.log(`${id} ${created ? 'created' : 'opened'} "${name}": version ${first.version}: ${JSON.stringify(first.text())}`);

let written = -1; // the version this instance wrote last: its own change is not news to it
const input = createInterface({ input: process.stdin });
input.on('line', (text) => {
  try {
    written = mb.write(text);
    console.log(`${id} wrote version ${written}: ${JSON.stringify(text)}`);
  } catch (e) {
    if (!isShmbusError(e, 'ERR_MESSAGE_TOO_LARGE')) throw e;
    console.log(`${id}: not written, the text is longer than ${MAX_TEXT} bytes`);
  }
});
input.once('close', () => {
  console.log(`${id}: bye`);
  mb.close(); // ends the watch loop below (its pending changed() rejects with ERR_CLOSED)
});

let seen = first.version;
for (;;) {
  try {
    await mb.changed({ since: seen });
  } catch (e) {
    if (isShmbusError(e, 'ERR_CLOSED')) break;
    throw e;
  }
  const now = mb.read(); // the newest text (edits faster than we look: we show the latest one)
  seen = now.version;
  if (now.version !== written) console.log(`${id} sees version ${now.version}: ${JSON.stringify(now.text())}`);
}
