/**
 * `npm run bench`: runs every suite in bench/suites/ (or those named on the command line), prints progress,
 * writes BENCHMARKS.md, its plots (docs/bench/*.svg) and bench/results/latest.json. Never part of `npm test`.
 * `npm run bench -- --quick` (or SHMBUS_BENCH_QUICK=1): about 10x fewer iterations, a smoke run that produces
 * every table; it never writes BENCHMARKS.md (its figures are not for the report; plots go to bench/results/plots).
 * `npm run bench -- --only <suite>` (repeatable, or bare names): only the suites whose file name contains it.
 */
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { BUSY_LOAD_PER_CORE, renderReport, ROOT, renderTable, targetsTable, type BenchContext, type Suite, type SuiteResult } from './lib.js';

const suitesDir = join(ROOT, 'dist', 'bench', 'suites');
const args = process.argv.slice(2);
const quick = args.includes('--quick') || process.env['SHMBUS_BENCH_QUICK'] === '1';
const wanted = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--only').concat(args.flatMap((a, i) => (a === '--only' && args[i + 1] ? [args[i + 1]!] : [])));
const unknown = args.filter((a) => a.startsWith('--') && a !== '--quick' && a !== '--only');
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown option ${unknown.join(' ')} (options: --quick, --only <suite>)\n`);
  process.exit(2);
}
const files = readdirSync(suitesDir)
  .filter((f) => f.endsWith('.js'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();
const full = wanted.length === 0 && !quick;
const tty = process.stderr.isTTY === true;
let bar = '';
const started = performance.now();
/** The progress line (a bar on a terminal, redrawn under each log line; plain lines otherwise). */
const progress = (done: number, suite: string): void => {
  const width = 30;
  const fill = Math.round((done / files.length) * width);
  const secs = Math.round((performance.now() - started) / 1000);
  bar = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${files.length} suites, ${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')} elapsed${suite ? `, now ${suite}` : ''}`;
  if (tty) process.stderr.write(`\r\x1b[K${bar}`);
  else process.stderr.write(`[bench] ${bar}\n`);
};
const ctx: BenchContext = {
  log: (m) => process.stderr.write(tty ? `\r\x1b[K[bench] ${m}\n${bar}` : `[bench] ${m}\n`),
  quick,
  plotsDir: join(ROOT, ...(full ? ['docs', 'bench'] : ['bench', 'results', 'plots'])),
};
const cores = cpus().length;
// Other work on the machine shows in the tails (and even in the medians of cross-core rows): the 1-minute load
// average is recorded before and after every suite, and a run that starts busy is flagged in the report.
const load1 = (): number => loadavg()[0]!;
const loadBefore = load1();
const busy = loadBefore > BUSY_LOAD_PER_CORE * cores;
if (busy) ctx.log(`warning: load average ${loadBefore.toFixed(2)} on ${cores} cores at start: numbers not comparable`);
const results: SuiteResult[] = [];
for (const [i, f] of files.entries()) {
  progress(i, f.replace(/\.js$/, ''));
  ctx.log(`suite ${f}`);
  const before = load1();
  const mod = (await import(join(suitesDir, f))) as { default: Suite };
  const tables = await mod.default(ctx);
  for (const t of tables) process.stdout.write(`${renderTable(t)}\n`);
  results.push({ suite: f.replace(/\.js$/, ''), loadBefore: before, loadAfter: load1(), tables });
}
progress(files.length, '');
if (tty) process.stderr.write('\n');
const when = new Date().toISOString();
const loadAfter = load1();
// Node flags (e.g. --min-semi-space-size) go to every Node child too (nodeCommand passes process.execArgv on).
const flags = process.execArgv.length > 0 ? `, node flags ${process.execArgv.join(' ')}` : '';
const machine = `${cores} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}${flags}, ${process.platform}`;
const targets = targetsTable();
if (targets) process.stdout.write(`${renderTable(targets)}\n`);
const md = renderReport({ when, machine, cores, quick, loadBefore, loadAfter, busy, results, targets });
if (full) writeFileSync(join(ROOT, 'BENCHMARKS.md'), md);
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench', 'results', 'latest.json'),
  JSON.stringify({ when, machine, quick, busy, loadBefore, loadAfter, targets, results }, null, 2),
);
writeFileSync(join(ROOT, 'bench', 'results', 'latest.md'), md);
ctx.log(
  full
    ? 'wrote BENCHMARKS.md and bench/results/latest.{json,md}'
    : `wrote bench/results/latest.{json,md} (${quick ? 'quick' : 'partial'} run: BENCHMARKS.md untouched)`,
);
