/**
 * The seed-003 scenario, across languages: one text shared by instances in Node, Python and C++ (instance.ts,
 * instance.py, instance.cpp). Each edits it; every other instance shows the new text at once (a Mailbox: change
 * notification on a futex, no polling); an instance started later shows the current text. This orchestrator plays
 * a scripted session (it types lines into the instances' stdin and waits for what they print), echoes everything
 * the instances print, then sums up what each one saw.
 * Run: npm run example -- shared-text
 */
import { Mailbox } from '../../src/index.js';
import { Child, atExit, programCommand, type Language } from '../lib/children.js';

const name = process.argv[2] ?? `shared-text-${process.pid}`;
const instances = new Map<string, Child>();
atExit(() => {
  try {
    Mailbox.unlink(name); // the text: the instances leave it for a later one
  } catch {
    // never created (an instance failed to start)
  }
});

function start(id: string, language: Language): Child {
  const kid = new Child(id, [...programCommand('shared-text', 'instance', language), name, id], (l) => console.log(`  | ${l}`));
  instances.set(id, kid);
  return kid;
}

/** Types `text` into instance `id` and waits until it wrote it and every other running instance showed it. */
async function edit(id: string, text: string): Promise<number> {
  const writer = instances.get(id)!;
  const from = writer.lines.length;
  console.log(`> ${id} types ${JSON.stringify(text)}`);
  writer.send(text);
  const wrote = await writer.line(/ wrote version \d+: /, { from });
  const version = Number(/ wrote version (\d+): /.exec(wrote)![1]);
  await Promise.all(
    [...instances].filter(([other]) => other !== id).map(([, kid]) => kid.line(new RegExp(` sees version ${version}: `))),
  );
  return version;
}

const versionOf = (line: string): number => Number(/version (\d+)/.exec(line)![1]);

console.log(`shared text "${name}" (a Mailbox), instances in Node, Python and C++`);
const a = start('A', 'node');
await a.line(/ created "/);
const b = start('B', 'python');
await b.line(/ opened "/);
await edit('A', 'Hello from Node');
await edit('B', 'Grüße aus Python 🐍');
console.log('> C starts later');
const c = start('C', 'cpp');
await c.line(/ opened "/);
await edit('C', 'C++ was here: "quotes" \\ and tabs\tok');
await edit('A', 'Node again, after C++');

// All three type at the same moment: the writers take turns (a robust lock), readers never see half a text,
// and everyone ends on the same, newest version.
console.log('> A, B and C type at the same moment');
const burst = [...instances.keys()].map((id) => [id, `${id} wins?`] as const);
const marks = new Map([...instances].map(([id, kid]) => [id, kid.lines.length]));
for (const [id, text] of burst) instances.get(id)!.send(text);
const last = (await Promise.all([...instances].map(([id, kid]) => kid.line(/ wrote version \d+: /, { from: marks.get(id)! }))))
  .map(versionOf)
  .reduce((x, y) => Math.max(x, y));
await Promise.all([...instances].map(([, kid]) => kid.line(new RegExp(`(wrote|sees) version ${last}: `))));

for (const kid of instances.values()) kid.endInput();
await Promise.all([...instances.values()].map((kid) => kid.success()));

console.log('what each instance saw (versions written by the others):');
for (const [id, kid] of instances) {
  const opened = kid.lines.find((l) => / (created|opened) "/.test(l))!;
  const seen = kid.lines.filter((l) => / sees version /.test(l)).map(versionOf);
  const wrote = kid.lines.filter((l) => / wrote version /.test(l)).map(versionOf);
  console.log(`${id}: started at version ${versionOf(opened)}, saw ${seen.join(' ')}, wrote ${wrote.join(' ')}`);
}
const mb = Mailbox.open(name);
const final = mb.read();
mb.close();
console.log(`final: version ${final.version}: ${JSON.stringify(final.text())}`);
