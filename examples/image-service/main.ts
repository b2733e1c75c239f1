/**
 * The seed-001 scenario, across languages: clients in Node, Python and C++ (client.ts, client.py, client.cpp) send
 * images plus JSON parameters as Parts records over Rpc to an image service (service.py: numpy; service.cpp: plain
 * loops) and check every answer pixel by pixel against their own computation. In the middle, the Python service is
 * killed (kill -9) and a C++ service takes its place: the clients get ERR_NO_SERVER, retry, and go on with the new
 * service, none of them hangs. This orchestrator starts everything, steps on what the programs print, and echoes
 * their lines (all but the per-image "pixels match" ones), then their totals.
 * Run: npm run example -- image-service
 */
import { Rpc } from '../../src/index.js';
import { Child, atExit, programCommand, type Language } from '../lib/children.js';

const name = process.argv[2] ?? `image-service-${process.pid}`;
const routine = / -> \d+x\d+ \w+ by \S+: pixels match$/;
const refusal = / refused by \S+: /;
// The last server out removes the service and each client its response queue; this is for a run that fails
// midway (the service, and the response queues of dead clients).
atExit(() => Rpc.unlink(name));

function start(label: string, program: string, language: Language, id?: string): Child {
  const args = id === undefined ? [name] : [name, id];
  let refusals = 0;
  const kid = new Child(label, [...programCommand('image-service', program, language), ...args], (l) => {
    // Echo what tells the story: not each matching image, and only the first refusal of each client.
    if (routine.test(l) || (refusal.test(l) && refusals++ > 0)) return;
    console.log(`  | ${l}`);
  });
  return kid;
}

console.log(`image service "${name}" (Rpc, Parts records), clients in Node, Python and C++`);
const first = start('python service', 'service', 'python');
await first.line(/serving/);
const clients = [start('A', 'client', 'node', 'A'), start('B', 'client', 'python', 'B'), start('C', 'client', 'cpp', 'C')];
// Each client has had 3 images answered by the Python service...
await Promise.all(clients.map((c) => c.count(/ by python-\d+: pixels match$/, 3)));
console.log('> kill -9 the Python service, in the middle of the clients\' requests');
first.process.kill('SIGKILL');
await first.exited;
// ...each finds it gone and keeps retrying...
await Promise.all(clients.map((c) => c.line(/ERR_NO_SERVER/)));
console.log('> start the C++ service');
const second = start('C++ service', 'service', 'cpp');
await second.line(/serving/);
// ...and goes on with the new one: 3 more images each.
await Promise.all(clients.map((c) => c.count(/ by cpp-\d+: pixels match$/, 3)));
console.log('> stop the clients, then the C++ service');
for (const c of clients) {
  c.send('stop');
  c.endInput();
}
await Promise.all(clients.map((c) => c.success()));
second.process.kill('SIGTERM');
await second.success();
const totals = clients.map((c) => c.lines.find((l) => l.includes(': done: '))!);
console.log(`every image checked pixel by pixel in 3 languages; no client hung:\n${totals.join('\n')}`);
