import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Segment, type SegmentInfo } from '../../src/index.js';
import { expectCleanExit, fixture, spawnPeer, uniqueName, unlinkQuietly } from '../helpers/index.js';

const cli = fileURLToPath(new URL('../../cli/shmbus.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const names: string[] = [];
after(() => unlinkQuietly(...names));

describe('shmbus CLI', () => {
  it('ls shows a live segment as attached and a dead creator\'s segment as stale; gc removes only the stale one', async () => {
    const prefix = uniqueName('cli');
    const live = `${prefix}-live`;
    const dead = `${prefix}-dead`;
    names.push(live, dead);
    const seg = Segment.create(live, { size: 100 });
    const peer = spawnPeer(fixture('segment-peer'));
    await peer.line('ready');
    peer.send(`create ${dead} 200`);
    await peer.line('created');
    peer.send('exit');
    await expectCleanExit(peer);

    const ls = run('ls', '--json');
    assert.equal(ls.status, 0, ls.stderr);
    const rows = JSON.parse(ls.stdout) as SegmentInfo[];
    assert.deepEqual(rows.filter((r) => r.name.startsWith(prefix)).map((r) => [r.name, r.size, r.attached, r.stale]), [
      [dead, 200, false, true],
      [live, 100, true, false],
    ]);
    assert.match(run('ls').stdout, new RegExp(`${dead}\\s+raw\\s+200\\s+\\d+\\s+[-0-9: ]+\\s+stale`));

    const dry = run('gc', '--dry-run', '--prefix', prefix);
    assert.match(dry.stdout, new RegExp(`would remove ${dead}`));
    assert.ok(Segment.list().some((s) => s.name === dead), 'dry run removes nothing');
    const gc = run('gc', '--prefix', prefix);
    assert.match(gc.stdout, new RegExp(`removed ${dead}`));
    assert.doesNotMatch(gc.stdout, new RegExp(live));
    assert.deepEqual(Segment.list().filter((s) => s.name.startsWith(prefix)).map((s) => s.name), [live]);

    const inspect = run('inspect', live, '--json');
    assert.equal(JSON.parse(inspect.stdout).kind, 'raw');
    seg.close();
    assert.match(run('rm', live).stdout, new RegExp(`removed ${live}`));
    const again = run('rm', live);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /ERR_SHM_NOT_FOUND/);
    assert.equal(run('bogus').status, 2);
  });
});
