#!/usr/bin/env node
// `npm test`: compiles the TypeScript, runs every suite (Node, then the peers that exist, then the Node version
// matrix), checks that /dev/shm is left as it was found, and ends with one "N passed, N failed" line.
//
// Environment:
//   SHMBUS_SLOW=1            also run the slow soak/stress suites (*.slow.test.js)
//   SHMBUS_NODE_MATRIX=0     skip the Node 22/24/26 matrix (default: on; installs them from npm into .cache/)
//   SHMBUS_PY_MATRIX=0       skip the Python 3.9-3.13 matrix (scripts/python-matrix.sh)
//   SHMBUS_TEST_FILTER=re    only run test files whose path matches the regular expression
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareMatrix } from './node-matrix.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];

function step(title) {
  process.stdout.write(`\n=== ${title}\n`);
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    // Some runners (bun test) print their summary on stderr: when it is piped, it counts as output too.
    child.stderr?.on('data', (d) => {
      out += d;
      process.stderr.write(d);
    });
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out }));
  });
}

function findTests(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (entry.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

function count(label, out, code) {
  const num = (re) => Number((out.match(re) ?? [])[1] ?? 0);
  const passed = num(/^ℹ pass (\d+)/m);
  const failed = num(/^ℹ fail (\d+)/m) + num(/^ℹ cancelled (\d+)/m);
  const skipped = num(/^ℹ skipped (\d+)/m) + num(/^ℹ todo (\d+)/m);
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  if (code !== 0 || failed > 0) failures.push(`${label} (exit ${code}, ${failed} failed)`);
}

function shmEntries() {
  try {
    return new Set(readdirSync('/dev/shm').filter((n) => n.startsWith('shmbus.')));
  } catch {
    return new Set();
  }
}

async function nodeSuite(label, files, env = {}, node = process.execPath) {
  step(`${label}: ${files.length} files`);
  if (files.length === 0) return;
  const res = await run(node, ['--test', '--test-reporter=spec', ...files], { env: { ...process.env, ...env } });
  count(label, res.out, res.code);
}

/** Deletes compiled files under `out` whose TypeScript source under `src` no longer exists. */
function removeOrphans(out, src) {
  if (!existsSync(out)) return;
  for (const entry of readdirSync(out, { withFileTypes: true })) {
    const path = join(out, entry.name);
    if (entry.isDirectory()) {
      removeOrphans(path, join(src, entry.name));
      continue;
    }
    const stem = entry.name.replace(/(\.d)?\.(js|ts)(\.map)?$/, '');
    if (!existsSync(join(src, `${stem}.ts`))) rmSync(path, { force: true });
  }
}

step('system packages the suites need');
spawnSync('bash', ['scripts/ci-deps.sh'], { stdio: 'inherit' });

step('compile TypeScript');
// tsc never deletes outputs: a test file removed or renamed in the sources would still run from an old dist/test.
removeOrphans(join(root, 'dist', 'test'), join(root, 'test'));
const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.log('\n0 passed, 1 failed');
  process.exit(1);
}

// The C peer (c/): built once, before the Node suites, because the cross-language tests (test/cross) spawn its
// programs (c/build/bin/*). A failed build is one failure with make's output; the cross tests then fail, each
// naming the missing program, and the C suite below reports the build failure again.
if (existsSync(join(root, 'c', 'Makefile'))) {
  step('build the C peer (make -C c)');
  const make = spawnSync('make', ['-C', 'c', '-j2'], { stdio: 'inherit' });
  if (make.status !== 0) {
    failures.push(`make -C c (exit ${make.status ?? make.signal}): the C peer did not build; C and cross tests will fail`);
    totals.failed += 1;
  }
}

// The Python peer, installed into .cache/pyvenv as a user would (scripts/python-setup.sh), after the C build (the
// package compiles c/shmbus.c) and before the Node suites: scenario and cross tests spawn Python programs with it
// (SHMBUS_VENV_PYTHON), and pytest below spawns c/build/bin peers and the Node fixtures in dist/.
let python = null;
if (existsSync(join(root, 'python', 'pyproject.toml'))) {
  step('install the Python peer (scripts/python-setup.sh)');
  const setup = spawnSync('bash', ['scripts/python-setup.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(setup.stdout ?? '');
  if (setup.status !== 0) {
    failures.push(`python-setup (exit ${setup.status}): Python tests and the tests that spawn Python will fail`);
    totals.failed += 1;
  } else {
    python = setup.stdout.trim().split('\n').pop();
    process.env.SHMBUS_VENV_PYTHON = python;
  }
}

const before = shmEntries();
const runId = randomBytes(3).toString('hex');
process.env.SHMBUS_TEST_RUN = runId;
const filter = process.env.SHMBUS_TEST_FILTER ? new RegExp(process.env.SHMBUS_TEST_FILTER) : null;
const slow = process.env.SHMBUS_SLOW === '1';
const selected = findTests(join(root, 'dist', 'test')).filter(
  (f) => (slow || !f.endsWith('.slow.test.js')) && (!filter || filter.test(f)),
);
// The packaging tests (npm pack, install into a fresh project, run on every Node, Bun and Deno) run last, alone.
const isPackaging = (f) => /[/\\]packaging[/\\]/.test(f);
const all = selected.filter((f) => !isPackaging(f));
await nodeSuite(`node ${process.version}`, all.map((f) => relative(root, f)));

if (!filter) {
  // The fallback for engines that refuse a SharedArrayBuffer over external memory: the same suites over a
  // non-shared external ArrayBuffer (SHMBUS_BUFFER=external), to prove Atomics and every channel still work there.
  const fallback = all.filter((f) => /[/\\](unit|process)[/\\].*(segment|protocol|topic|mailbox|queue|mutex)/.test(f)).map((f) => relative(root, f));
  await nodeSuite('external ArrayBuffer fallback', fallback, { SHMBUS_BUFFER: 'external' });
}

if (existsSync(join(root, 'c', 'tests', 'run.sh')) && !filter) {
  step('C peer');
  const res = await run('bash', ['c/tests/run.sh']);
  // run.sh prints a line per test binary and its total last: count the last one.
  const m = [...res.out.matchAll(/^(\d+) passed, (\d+) failed/gm)].at(-1);
  if (m) {
    totals.passed += Number(m[1]);
    totals.failed += Number(m[2]);
  }
  if (res.code !== 0) failures.push(`C tests (exit ${res.code})`);
}

// ==== reliability (rel) ====
// The C peer's parsers under libFuzzer with AddressSanitizer and UBSan (c/fuzz/run.sh): a few seconds per target
// here, minutes with SHMBUS_SLOW=1; its last line is "N passed, M failed" (targets, plus the regression inputs).
if (existsSync(join(root, 'c', 'fuzz', 'run.sh')) && !filter) {
  step('C fuzz targets (c/fuzz/run.sh)');
  const res = await run('bash', ['c/fuzz/run.sh']);
  const m = [...res.out.matchAll(/^(\d+) passed, (\d+) failed/gm)].at(-1);
  if (m) {
    totals.passed += Number(m[1]);
    totals.failed += Number(m[2]);
  }
  if (res.code !== 0) failures.push(`C fuzz (exit ${res.code})`);
}
// ==== end reliability (rel) ====

if (python && !filter) {
  step('python peer (pytest)');
  const res = await run(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'python/tests']);
  const num = (re) => Number((res.out.match(re) ?? [])[1] ?? 0);
  totals.passed += num(/(\d+) passed/);
  totals.failed += num(/(\d+) failed/) + num(/(\d+) errors?/);
  totals.skipped += num(/(\d+) skipped/);
  if (res.code !== 0) failures.push(`pytest (exit ${res.code})`);
}

// ==== python matrix (py) ====
// The Python peer on CPython 3.9-3.13 (scripts/python-matrix.sh: a venv per version under .cache, a pytest subset;
// a version without an interpreter or a cffi wheel is skipped with the reason, after its compile checks).
if (python && !filter && process.env.SHMBUS_PY_MATRIX !== '0') {
  step('python peer on CPython 3.9-3.13 (scripts/python-matrix.sh)');
  const res = await run('bash', ['scripts/python-matrix.sh']);
  totals.passed += (res.out.match(/: ok/g) ?? []).length;
  totals.skipped += (res.out.match(/: skipped/g) ?? []).length;
  if (res.code !== 0) failures.push(`python matrix (exit ${res.code})`);
}
// ==== end python matrix (py) ====

if (process.env.SHMBUS_NODE_MATRIX !== '0') {
  const matrix = await prepareMatrix(root, (msg) => process.stdout.write(`${msg}\n`));
  // Cross-language tests (test/cross) run once, in the main pass: the other language does not change with Node.
  const subset = all
    .filter((f) => !/[/\\]cross[/\\]/.test(f) && /(segment|protocol|wait|mutex|topic|mailbox|queue|rpc)/.test(f))
    .map((f) => relative(root, f));
  for (const v of matrix) {
    if (v.error) {
      failures.push(`node ${v.major}: ${v.error}`);
      totals.failed += 1;
      continue;
    }
    await nodeSuite(`node ${v.version} (matrix)`, subset, { SHMBUS_ADDON: v.addon }, v.node);
  }
}

const packaging = selected.filter(isPackaging).map((f) => relative(root, f));
if (packaging.length > 0) await nodeSuite('the npm package (pack, install, Node/Bun/Deno)', packaging);

// Bun and Deno: the unit suites (one process each: their runners cannot spawn our Node fixtures) on the Node-API
// prebuild, the build that serves both (src/native/locate.ts). Deno has no external-SharedArrayBuffer call, so it
// runs as the fallback pass does (SHMBUS_BUFFER=external); Bun has the call. Cross-process use from Bun and Deno is
// tested with the installed package in test/packaging.
if (!filter || filter.test('runtimes')) {
  step('Bun and Deno: the unit suites on the Node-API prebuild');
  const { installRuntimes } = await import('./runtimes.mjs');
  const rts = installRuntimes(root, (m) => process.stdout.write(`${m}\n`));
  const pre = spawnSync(process.execPath, ['scripts/prebuild.mjs'], { stdio: 'inherit' });
  const units = findTests(join(root, 'dist', 'test', 'unit')).map((f) => relative(join(root, 'dist', 'test'), f));
  const env = { ...process.env, SHMBUS_ADDON: join(root, 'prebuilds', 'linux-x64', 'shmbus.napi.node'), NO_COLOR: '1' };
  for (const [rt, bin] of Object.entries(rts)) {
    if (typeof bin !== 'string' || pre.status !== 0) {
      failures.push(`${rt}: ${typeof bin === 'string' ? 'the prebuilds did not build' : bin.error}`);
      totals.failed += 1;
      continue;
    }
    const res =
      rt === 'bun'
        ? await run(bin, ['test', ...units.map((f) => `./${f}`)], { cwd: join(root, 'dist', 'test'), env, stdio: ['ignore', 'pipe', 'pipe'] })
        : await run(bin, ['test', '-A', '--no-check', ...units.map((f) => join('dist', 'test', f))], {
            env: { ...env, SHMBUS_BUFFER: 'external', DENO_NO_UPDATE_CHECK: '1' },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
    // bun: "N pass" / "N fail"; deno: "ok | N passed (M steps) | K failed (J steps)": count tests at the step level.
    const num = (re) => Number((res.out.match(re) ?? [])[1] ?? 0);
    const passed = rt === 'bun' ? num(/^\s*(\d+) pass$/m) : num(/passed \((\d+) steps?\)/);
    const failed = rt === 'bun' ? num(/^\s*(\d+) fail$/m) : num(/failed \((\d+) steps?\)/);
    process.stdout.write(`${rt}: ${passed} passed, ${failed} failed\n`);
    totals.passed += passed;
    totals.failed += failed;
    if (res.code !== 0 || failed > 0 || passed === 0) failures.push(`${rt} unit suites (exit ${res.code}, ${failed} failed)`);
  }
}

// Another developer's test run or benchmark may be running beside this one: a test name counts as ours only when
// it carries this run's id; names outside the test- and bench- families (examples, fixtures) always count.
const leaked = [...shmEntries()].filter(
  (n) => !before.has(n) && (n.includes(`-${runId}-`) || !/^shmbus\.(test|bench)-/.test(n)),
);
if (leaked.length > 0) {
  failures.push(`/dev/shm leak: ${leaked.join(', ')}`);
  totals.failed += 1;
}

step('summary');
for (const f of failures) console.log(`FAILED: ${f}`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failures.length === 0 ? 0 : 1);
