/**
 * The real `shmbus` bin (dist/cli/shmbus.js) in real processes against real segments: strict argument parsing,
 * rm's refusal while live processes map a segment, gc's filter, ls/inspect output.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Segment } from '../../src/index.js';
import { expectCleanExit, spawnPeer, trackNames, unlinkQuietly } from '../helpers/index.js';
import { cli, peerFile } from './lib.js';

const names = trackNames();
/** Names derived from a tracked prefix (prefix-live, ...), removed at the end too. */
const derived: string[] = [];
after(() => {
  names.cleanup();
  unlinkQuietly(...derived);
});

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** A stale segment: created by a process that then exited. */
async function staleSegment(name: string, size = 200): Promise<void> {
  const peer = spawnPeer(peerFile);
  await peer.line('ready');
  peer.send(`segment ${name} ${size}`);
  await peer.line('created');
  peer.send('exit');
  await expectCleanExit(peer);
}

describe('shmbus CLI: usage and strict arguments', () => {
  it('bare shmbus and help print the usage and exit 0; --version prints the package version', () => {
    for (const args of [[], ['help'], ['--help']]) {
      const r = cli(...args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /usage: shmbus <command>/);
      assert.match(r.stdout, /\bls\b.*\n.*\binspect\b/);
    }
    const v = cli('--version');
    assert.equal(v.status, 0);
    assert.equal(v.stdout.trim(), `shmbus ${pkg.version}`);
    const h = cli('help', 'gc');
    assert.equal(h.status, 0);
    assert.match(h.stdout, /usage: shmbus gc/);
    assert.match(cli('rm', '--help').stdout, /--force/);
  });

  it('an unknown command or flag, a missing value or argument: usage on stderr, exit 2, nothing done', async () => {
    const prefix = names.name('cli-args');
    const stale = `${prefix}-stale`;
    derived.push(stale);
    await staleSegment(stale);
    const bad = [
      ['bogus'],
      ['gc', '-n'],
      ['gc', '--dryrun'],
      ['gc', '--prefix'],
      ['gc', 'extra'],
      ['rm'],
      ['rm', stale, '--frce'],
      ['inspect'],
      ['ls', '--sample', 'x'],
    ];
    for (const args of bad) {
      const r = cli(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: shmbus/, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    assert.ok(existsSync(`/dev/shm/shmbus.${stale}`), 'nothing was removed');
    // --prefix=P is the same as --prefix P.
    const other = `${names.name('cli-other')}`;
    await staleSegment(other);
    const gc = cli('gc', `--prefix=${prefix}`);
    assert.equal(gc.status, 0, gc.stderr);
    assert.match(gc.stdout, new RegExp(`removed ${stale} \\(raw, 200 B, creator \\d+ is gone\\)`));
    assert.ok(!existsSync(`/dev/shm/shmbus.${stale}`));
    assert.ok(existsSync(`/dev/shm/shmbus.${other}`), 'the filter held');
    const dry = cli('gc', '--dry-run', '--json', '--prefix', other);
    assert.deepEqual(JSON.parse(dry.stdout).map((r: { name: string; removed: boolean }) => [r.name, r.removed]), [[other, false]]);
    assert.ok(existsSync(`/dev/shm/shmbus.${other}`));
    assert.equal(cli('gc', '--prefix', other).status, 0);
    assert.ok(!existsSync(`/dev/shm/shmbus.${other}`));
  });
});

describe('shmbus CLI: rm', () => {
  it('refuses a segment that a live process maps and names it; --force removes it; a missing name exits 1', async () => {
    const name = names.name('cli-rm');
    const peer = spawnPeer(peerFile);
    const pid = Number((await peer.line('ready')).split(' ')[1]);
    peer.send(`segment ${name} 4096`);
    await peer.line('created');
    const r = cli('rm', name);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`refusing to remove ${name}: mapped by ${pid} \\(node\\)`));
    assert.ok(existsSync(`/dev/shm/shmbus.${name}`));
    const f = cli('rm', '--force', name);
    assert.equal(f.status, 0, f.stderr);
    assert.match(f.stdout, new RegExp(`removed ${name} \\(still mapped by ${pid}\\)`));
    assert.ok(!existsSync(`/dev/shm/shmbus.${name}`));
    const again = cli('rm', name);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /ERR_SHM_NOT_FOUND/);
    peer.send('exit');
    await expectCleanExit(peer);

    // Unmapped: removed without --force.
    const idle = names.name('cli-rm-idle');
    Segment.create(idle, { size: 64 }).close();
    const ok = cli('rm', idle);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(!existsSync(`/dev/shm/shmbus.${idle}`));
  });
});

describe('shmbus CLI: ls and inspect', () => {
  it('ls shows kind, human size, ISO date, alive/stale and the pids that map each segment; --json has totals', async () => {
    const prefix = names.name('cli-ls');
    const live = `${prefix}-live`;
    const dead = `${prefix}-dead`;
    derived.push(live, dead);
    await staleSegment(dead, 200);
    const peer = spawnPeer(peerFile);
    const pid = Number((await peer.line('ready')).split(' ')[1]);
    peer.send(`segment ${live} 3072`);
    await peer.line('created');
    try {
      const text = cli('ls', '--sample', '0');
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, new RegExp(`${dead}\\s+raw\\s+200 B\\s+\\d+\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+stale\\s+-`));
      assert.match(text.stdout, new RegExp(`${live}\\s+raw\\s+3\\.0 KiB\\s+${pid}\\s+\\S+Z\\s+alive\\s+${pid}`));
      assert.match(text.stdout, /\d+ segments, .* \d+ stale/);
      const json = JSON.parse(cli('ls', '--json', '--sample', '0').stdout) as {
        segments: { name: string; size: number; state: string; pids: number[]; createdAt: string }[];
        totals: { segments: number; bytes: number; stale: number };
      };
      const mine = json.segments.filter((s) => s.name.startsWith(prefix)).map((s) => [s.name, s.size, s.state, s.pids]);
      assert.deepEqual(mine, [
        [dead, 200, 'stale', []],
        [live, 3072, 'alive', [pid]],
      ]);
      assert.ok(json.totals.segments >= 2 && json.totals.stale >= 1 && json.totals.bytes >= 3272);
      assert.match(json.segments.find((s) => s.name === live)!.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      const ins = cli('inspect', live, '--sample', '0');
      assert.equal(ins.status, 0, ins.stderr);
      assert.match(ins.stdout, /^name\s+/m);
      assert.match(ins.stdout, new RegExp(`^mapped by\\s+${pid} \\(node\\)`, 'm'));
      assert.match(ins.stdout, /^size\s+3\.0 KiB \(3072 bytes payload\)/m);
      const missing = cli('inspect', `${prefix}-nope`);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /ERR_SHM_NOT_FOUND/);
    } finally {
      peer.send('exit');
      await expectCleanExit(peer);
    }
  });
});
