/**
 * ls, inspect, tail, pub, stats and every --help, through the real bin against channels held open by real peer
 * processes (test/cli/peer.ts).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { crc32 } from 'node:zlib';
import { Frame, Queue, Segment } from '../../src/index.js';
import { expectCleanExit, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { bin, cli, pattern, peerFile } from './lib.js';

const names = trackNames();
after(names.cleanup);

async function peer(): Promise<{ p: Peer; pid: number }> {
  const p = spawnPeer(peerFile);
  const pid = Number((await p.line('ready')).split(' ')[1]);
  return { p, pid };
}

async function ask(p: Peer, cmd: string, answer: RegExp | string): Promise<string> {
  p.send(cmd);
  return p.line(answer);
}

async function quit(...ps: Peer[]): Promise<void> {
  for (const p of ps) {
    p.send('exit');
    await expectCleanExit(p);
  }
}

/** Runs the bin with `input` on stdin; resolves with its exit code and output. */
function runWithInput(args: string[], input: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
    c.stdin.end(input);
  });
}

describe('shmbus CLI: live figures', () => {
  it('ls and inspect show a topic\'s publishers, subscribers with cursor, lag and lost, and a rate while it streams', async () => {
    const name = names.name('cli-topic');
    const { p: pubP, pid: pubPid } = await peer();
    const { p: subP, pid: subPid } = await peer();
    try {
      await ask(pubP, `topic ${name} 4096`, 'created');
      await ask(subP, `subscribe ${name}`, 'subscribed');
      await ask(pubP, 'burst 500', 'published 500'); // the ring holds far fewer: the idle subscriber is lapped
      const ins = JSON.parse(cli('inspect', name, '--json', '--sample', '0').stdout);
      assert.equal(ins.live.kind, 'topic');
      assert.equal(ins.live.published, 500);
      assert.deepEqual(ins.live.publishers, [{ pid: pubPid, alive: true }]);
      assert.equal(ins.live.subscribers.length, 1);
      const s = ins.live.subscribers[0];
      assert.equal(s.pid, subPid);
      assert.equal(s.alive, true);
      assert.equal(s.lag, 500, 'it read nothing');
      assert.deepEqual(ins.pids, [pubPid, subPid]);
      const text = cli('inspect', name, '--sample', '0').stdout;
      assert.match(text, /^sequence\s+last 500, oldest in ring \d+/m);
      assert.match(text, new RegExp(`^\\s+${subPid}\\s+yes\\s+1\\s+500\\s+0$`, 'm'));
      assert.match(text, /^param maxMessageSize\s+\d+/m);

      await ask(pubP, 'stream 2', 'streaming');
      const ls = JSON.parse(cli('ls', '--json', '--sample', '300').stdout);
      const row = ls.segments.find((r: { name: string }) => r.name === name);
      assert.ok(row.rate > 0, `a streaming topic has a rate (got ${row.rate})`);
      assert.match(cli('ls', '--sample', '0').stdout, new RegExp(`${name}\\s+topic.*seq \\d+, 1 pub, 1 sub`));
      await ask(pubP, 'stop', 'stopped');
    } finally {
      await quit(pubP, subP);
    }
  });

  it('inspect shows a mutex holder as alive, and dead once it exits', async () => {
    const name = names.name('cli-mutex');
    const { p, pid } = await peer();
    await ask(p, `mutex ${name}`, 'locked');
    assert.match(cli('inspect', name).stdout, new RegExp(`^holder\\s+${pid}$`, 'm'));
    await quit(p);
    assert.match(cli('inspect', name).stdout, new RegExp(`^holder\\s+${pid} \\(dead\\)$`, 'm'));
  });
});

describe('shmbus CLI: damaged segments', () => {
  it('ls and inspect report a segment whose parameters are impossible instead of reading past it', () => {
    const topic = names.name('cli-bad-topic');
    const mutex = names.name('cli-bad-mutex');
    // A topic header claiming a 1 MiB ring in an 8 KiB payload; a "mutex" of 8 bytes.
    Segment.create(topic, { size: 8192, kind: 'topic', params: [1 << 20, 0, 1000, 4352, 0] }).close();
    Segment.create(mutex, { size: 8, kind: 'mutex' }).close();
    const ins = cli('inspect', topic, '--sample', '0');
    assert.equal(ins.status, 1);
    assert.match(ins.stdout, /^error\s+impossible topic parameters \(capacity 1048576/m);
    assert.match(cli('inspect', mutex).stdout, /^error\s+a mutex needs 32 bytes, the segment has 8$/m);
    const ls = cli('ls', '--sample', '0');
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, new RegExp(`${topic}\\s+topic.*error: impossible topic parameters`));
  });
});

describe('shmbus CLI: tail and pub', () => {
  it('tail reads a topic as one more subscriber: --from oldest, -n, --format text|json|hex|frame', async () => {
    const name = names.name('cli-tail');
    const { p } = await peer();
    try {
      await ask(p, `topic ${name} 65536`, 'created');
      await ask(p, 'publish hello world', 'published 1');
      await ask(p, 'publish {"a":2}', 'published 2');
      const text = cli('tail', name, '--from', 'oldest', '-n', '2', '--quiet');
      assert.equal(text.status, 0, text.stderr);
      assert.equal(text.stdout, 'hello world\n{"a":2}\n');
      const json = cli('tail', name, '--from=oldest', '-n', '2', '--format', 'json').stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(json.map((j) => [j.seq, j.size, j.lost, j.text ?? j.json]), [[1, 11, 0, 'hello world'], [2, 7, 0, { a: 2 }]]);
      assert.match(json[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(cli('tail', name, '--from', 'oldest', '-n', '1', '--format', 'hex').stdout, /^#1 11 bytes\n  00000000  68 65 6c 6c 6f 20 77 6f 72 6c 64 +hello world$/m);
      await ask(p, 'frame 4 3 BGR 9', 'published 3');
      const data = new Uint8Array(4 * 3 * 3);
      for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) data[(y * 4 + x) * 3 + c] = pattern(x, y, c, 9);
      const crc = crc32(Frame.decode(Frame.encode({ width: 4, height: 3, format: 'BGR', data })).bytes).toString(16).padStart(8, '0');
      const frame = cli('tail', name, '--from', 'oldest', '-n', '3', '--format', 'frame', '--quiet').stdout.trim().split('\n');
      assert.match(frame[0]!, /^#1 11 bytes: not a valid frame/);
      assert.match(frame[2]!, new RegExp(`^#3 4x3 BGR uint8 stride 12 crc32 ${crc} at \\S+Z$`));
      assert.equal(cli('tail', name, '--format', 'png').status, 2);
    } finally {
      await quit(p);
    }
  });

  it('tail is a subscriber that may be lapped: stopped while a burst overruns the ring, it reports what it lost', async () => {
    const name = names.name('cli-lapped');
    const { p } = await peer();
    try {
      await ask(p, `topic ${name} 4096`, 'created');
      const t = spawn(process.execPath, [bin, 'tail', name, '--format', 'json', '-n', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      t.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      await new Promise<void>((resolve) => t.stderr.setEncoding('utf8').on('data', (d: string) => d.includes('tailing') && resolve()));
      t.kill('SIGSTOP'); // attached, and now it cannot read: the burst laps it
      await ask(p, 'burst 500', 'published 500');
      t.kill('SIGCONT');
      const code = await new Promise<number | null>((resolve) => t.on('close', (c) => resolve(c)));
      assert.equal(code, 0);
      const msgs = out.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; lost: number; text: string });
      assert.equal(msgs.length, 3);
      assert.ok(msgs[0]!.seq > 1 && msgs[0]!.lost === msgs[0]!.seq - 1, `first read after the burst: ${JSON.stringify(msgs[0])}`);
      assert.equal(msgs[0]!.text, `m${msgs[0]!.seq - 1}`);
      assert.deepEqual(msgs.slice(1).map((m) => [m.seq - msgs[0]!.seq, m.lost]), [[1, 0], [2, 0]]);
    } finally {
      await quit(p);
    }
  });

  it('tail follows a mailbox: the current value, then each new one; pub writes mailboxes, topics and queues', async () => {
    const mb = names.name('cli-mb');
    const q = names.name('cli-q');
    const { p } = await peer();
    try {
      await ask(p, `mailbox ${mb}`, 'created');
      await ask(p, 'write first', 'version 1');
      const t = spawnPeer(bin, ['tail', mb, '-n', '2', '--quiet']);
      assert.equal(await t.line(/./), 'first');
      const w = await runWithInput(['pub', mb], 'second\n');
      assert.equal(w.status, 0, w.stderr);
      assert.match(w.stderr, new RegExp(`published 1 message to mailbox ${mb} \\(version 2\\)`));
      assert.equal(await t.line(/./), 'second');
      await expectCleanExit(t);

      await ask(p, `queue ${q}`, 'created');
      const sent = await runWithInput(['pub', q, '--json', '--end'], '{"n": 1}\n[2, 3]\n');
      assert.equal(sent.status, 0, sent.stderr);
      assert.match(cli('inspect', q, '--sample', '0').stdout, /^ring positions\s+next to send 2, next to receive 0$/m);
      assert.match(cli('inspect', q, '--sample', '0').stdout, /^depth\s+2 of 16 slots/m);
      const consumer = Queue.open(q);
      try {
        assert.equal(consumer.tryReceive()?.text(), '{"n":1}');
        assert.equal(consumer.tryReceive()?.text(), '[2,3]');
        assert.equal(consumer.ended, true);
      } finally {
        consumer.close();
      }
      const bad = await runWithInput(['pub', q, '--json'], 'not json\n');
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /message 1 is not valid JSON/);
      assert.equal(cli('tail', q).status, 1, 'a queue is refused: tail would consume it');
    } finally {
      await quit(p);
    }
  });
});

describe('shmbus CLI: stats and help', () => {
  it('stats prints snapshots (--count, --json) and, on a terminal, restores it on Ctrl-C', async () => {
    const name = names.name('cli-stats');
    const { p } = await peer();
    try {
      await ask(p, `topic ${name} 4096`, 'created');
      await ask(p, `subscribe ${name}`, 'subscribed');
      const js = cli('stats', name, '--count', '2', '--interval', '50', '--json');
      assert.equal(js.status, 0, js.stderr);
      const snaps = js.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(snaps.length, 2);
      assert.equal(snaps[1].live.subscribers.length, 1);
      const plain = cli('stats', name, '--count', '1', '--interval', '10');
      assert.match(plain.stdout, /SUBSCRIBER\s+ALIVE\s+LAG\s+LOST\s+LOST\/S/);

      // A real terminal: script(1) runs the bin on a pty; ^C through the pty is the user's Ctrl-C. script runs the
      // command through $SHELL -c; `exec` makes node the pty's foreground process itself, so the ^C reaches only
      // it (dash, the /bin/sh script falls back to when SHELL is unset, would otherwise die of the SIGINT: 130).
      const term = spawn('script', ['-qfec', `exec ${process.execPath} ${bin} stats ${name} --interval 50`, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, SHELL: '/bin/sh' },
      });
      let out = '';
      let err = '';
      term.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const closed = new Promise<number | null>((resolve) => term.on('close', (c) => resolve(c)));
      const drawn = new Promise<void>((resolve) =>
        term.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('Ctrl-C to quit')) resolve();
        }),
      );
      const early = await Promise.race([drawn.then(() => null), closed.then((c) => ({ c }))]);
      assert.equal(early, null, `script(1) ended before the first screen: ${JSON.stringify({ out, err })}`);
      assert.ok(out.includes('\x1b[?1049h'), 'entered the alternate screen');
      term.stdin.write('\x03');
      const code = await closed;
      assert.equal(code, 0, JSON.stringify({ out: out.slice(-300), err }));
      assert.ok(out.endsWith('\x1b[?25h\x1b[?1049l') || out.includes('\x1b[?25h\x1b[?1049l'), 'cursor shown, screen restored');
    } finally {
      await quit(p);
    }
  });

  it('every command has --help (exit 0) listing its options', () => {
    for (const c of ['ls', 'inspect', 'tail', 'pub', 'stats', 'rm', 'gc', 'bench']) {
      const r = cli(c, '--help');
      assert.equal(r.status, 0, c);
      assert.match(r.stdout, new RegExp(`^usage: shmbus ${c}`), c);
    }
    assert.match(cli('tail', '-h').stdout, /--format F/);
    const nosuite = cli('bench', 'no-such-suite');
    assert.equal(nosuite.status, 1);
    assert.match(nosuite.stderr, /no suite matches no-such-suite/);
  });
});
