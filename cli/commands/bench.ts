/** bench: runs the benchmark suites (bench/) with a progress bar, then prints their tables. */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT, type Command } from '../command.js';

const benchDir = fileURLToPath(new URL('../../bench/', import.meta.url));

export const bench: Command = {
  name: 'bench',
  synopsis: '[SUITE...] [--quick]',
  summary: 'run the benchmark suites with a progress bar, then print their tables',
  details: `Runs the suites of bench/suites (all, or those whose file name contains a SUITE argument) as
\`npm run bench\` does, showing progress on stderr, then prints the tables. A full run (no SUITE, no --quick)
also rewrites BENCHMARKS.md; every run writes bench/results/latest.{json,md}. Needs the package's source tree
(a git checkout), not just the installed package.
  --quick   about 10x fewer iterations: a smoke run whose figures are not for the report`,
  options: { quick: { type: 'boolean' } },
  positionals: [0, Infinity],
  async run(values, suites) {
    const index = `${benchDir}index.js`;
    if (!existsSync(index)) {
      process.stderr.write('shmbus: the benchmarks are not here (bench/ ships with the source tree, not the package)\n');
      return EXIT.failed;
    }
    const all = readdirSync(`${benchDir}suites`).filter((f) => f.endsWith('.js'));
    const total = all.filter((f) => suites.length === 0 || suites.some((s) => f.includes(s))).length;
    if (total === 0) {
      process.stderr.write(`shmbus: no suite matches ${suites.join(', ')} (suites: ${all.map((f) => f.replace(/\.js$/, '')).join(', ')})\n`);
      return EXIT.failed;
    }
    const child = spawn(process.execPath, [index, ...suites, ...(values['quick'] === true ? ['--quick'] : [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tables = '';
    let done = 0;
    let current = '';
    let note = '';
    const tty = process.stderr.isTTY === true;
    const bar = (): void => {
      const width = 30;
      const filled = Math.round((width * done) / total);
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${current} ${note}`.slice(0, 110);
      process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (tables += d));
    let buf = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/^\[bench\] /, '');
        buf = buf.slice(nl + 1);
        const m = /^suite (\S+)/.exec(line);
        if (m) {
          if (current) done++;
          current = m[1]!.replace(/\.js$/, '');
          note = '';
          bar();
        } else {
          note = line.trim();
          // Piped: one line per suite, not one per step.
          if (tty) bar();
        }
      }
    });
    const code = await new Promise<number>((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1))));
    if (code === 0) {
      done = total;
      current = 'done';
      note = '';
      bar();
    }
    if (tty) process.stderr.write('\n');
    process.stdout.write(tables);
    return code === 0 ? EXIT.ok : EXIT.failed;
  },
};
