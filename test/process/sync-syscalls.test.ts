import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RWLOCK_SIZE, Segment } from '../../src/index.js';
import { fixture } from '../helpers/index.js';
import { lockTestScope } from '../helpers/locks.js';

const { name } = lockTestScope();
const CYCLES = 100_000;

/** Why strace cannot be used here, or undefined when it can. */
function straceUnavailable(): string | undefined {
  const probe = spawnSync('strace', ['-f', '-c', '-o', '/dev/null', 'true'], { encoding: 'utf8' });
  if (probe.error) return 'strace is not installed (scripts/ci-deps.sh installs it)';
  if (probe.status !== 0) return `strace cannot trace here (ptrace not permitted?): ${probe.stderr.trim()}`;
  return undefined;
}

/** futex calls made by a whole child process (all its threads) doing `cycles` lock/unlock cycles in `mode`. */
function futexCalls(mode: string, cycles: number): number {
  const seg = Segment.create(name('sys'), { size: RWLOCK_SIZE });
  const dir = mkdtempSync(join(tmpdir(), 'shmbus-strace-'));
  try {
    const out = join(dir, 'summary');
    const r = spawnSync('strace', ['-f', '-c', '-e', 'trace=futex', '-o', out, process.execPath, fixture('lock-cycles'), seg.name, String(cycles), mode], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `child failed: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`done ${cycles}`));
    const line = readFileSync(out, 'utf8')
      .split('\n')
      .find((l) => /\sfutex$/.test(l));
    // Columns: % time, seconds, usecs/call, calls, [errors], syscall.
    return line === undefined ? 0 : Number(line.trim().split(/\s+/)[3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    seg.close();
  }
}

describe('uncontended sync operations make no system call', () => {
  const skip = straceUnavailable();
  for (const mode of ['mutex-sync', 'mutex-async', 'rwlock-read', 'rwlock-write', 'semaphore', 'event']) {
    it(`${CYCLES} uncontended ${mode} cycles add (almost) no futex calls to the process's own`, { skip }, () => {
      const idle = futexCalls(mode, 0);
      const busy = futexCalls(mode, CYCLES);
      // Node's own threads (GC, platform workers) make some futex calls of their own, more when the process runs
      // longer; a wake or wait per cycle would add at least CYCLES.
      assert.ok(busy - idle < CYCLES / 100, `${mode}: ${busy} futex calls with ${CYCLES} cycles, ${idle} with none`);
    });
  }
});
