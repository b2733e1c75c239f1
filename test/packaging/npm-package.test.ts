/**
 * The npm package as a user gets it: `npm pack` (which builds the prebuilt addons), then `npm install` of the
 * tarball into a fresh project on a PATH with no compiler, no make and no Python; the installed package then runs
 * a cross-process round trip on Node 20, 22, 24 and 26, on Bun and on Deno (installed from npm by the test), and
 * its install script picks the prebuild or says exactly what a build from source would need.
 * Runs after the Node matrix (scripts/test.mjs), whose Node installs it reuses.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { uniqueName } from '../helpers/index.js';
import { venvPython } from '../helpers/peers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'shmbus-package-'));
const app = join(tmp, 'app');
const bin = join(tmp, 'bin');
after(() => rmSync(tmp, { recursive: true, force: true }));

interface PackFile {
  path: string;
  size: number;
}
let files: PackFile[] = [];
let tarball = '';

/** A PATH holding only node, npm and sh: no compiler, make or Python for the install to fall back on. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { HOME: process.env['HOME'] ?? tmp, PATH: bin, ...extra };
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 180_000, ...opts });
}

function npmCli(): string {
  const r = run('npm', ['root', '-g']);
  return join(r.stdout.trim(), 'npm', 'bin', 'npm-cli.js');
}

/**
 * A program for the installed package: creates a Queue and consumes it, or produces into it, by role. Plain
 * JavaScript that Node, Bun and Deno all run.
 */
const PROGRAM = `
import { Queue, Segment } from 'shmbus';
const [role, name, who, countText] = process.argv.slice(2);
const count = Number(countText);
const rt = process.versions.bun ? 'bun' : process.versions.deno ? 'deno' : 'node';
if (role === 'produce') {
  const q = Queue.open(name, { timeout: 10000 });
  const seg = Segment.open(name);
  const shared = seg.shared;
  seg.close();
  for (let i = 0; i < count; i++) await q.send(new TextEncoder().encode(who + ':' + i), { timeout: 10000 });
  console.log(JSON.stringify({ who, rt, shared, sent: count }));
  q.close();
} else {
  const q = Queue.create(name, { slots: 16, maxMessageSize: 64 });
  console.log('ready');
  const next = new Map();
  let got = 0;
  const expected = count * Number(who);
  while (got < expected) {
    const m = await q.receive({ timeout: 30000 });
    if (m === null) throw new Error('timed out after ' + got);
    const [p, i] = m.text().split(':');
    if (Number(i) !== (next.get(p) ?? 0)) throw new Error(p + ' sent ' + i + ' where ' + (next.get(p) ?? 0) + ' was due');
    next.set(p, Number(i) + 1);
    got++;
  }
  console.log(JSON.stringify({ got, producers: [...next.keys()].sort() }));
  q.close(); Queue.unlink(name);
}
`;

describe('the npm package, installed from its tarball', () => {
  before(() => {
    mkdirSync(bin, { recursive: true });
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync(npmCli(), join(bin, 'npm'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    // npm pack runs prepack (scripts/prebuild.mjs: the prebuilt addons) and prepare (tsc).
    const pack = run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: root });
    assert.equal(pack.status, 0, pack.stderr);
    const info = (JSON.parse(pack.stdout) as { filename: string; size: number; unpackedSize: number; files: PackFile[] }[])[0]!;
    files = info.files;
    tarball = join(tmp, info.filename);
    process.stdout.write(`# ${info.filename}: ${info.size} bytes packed, ${info.unpackedSize} unpacked, ${files.length} files\n`);
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
    writeFileSync(join(app, 'program.mjs'), PROGRAM);
    const inst = run(join(bin, 'npm'), ['install', '--no-audit', '--no-fund', tarball], { cwd: app, env: bareEnv() });
    assert.equal(inst.status, 0, `${inst.stdout}\n${inst.stderr}`);
  });

  it('the tarball holds what users need and nothing else', () => {
    const paths = new Set(files.map((f) => f.path));
    for (const need of [
      'package.json',
      'README.md',
      'LICENSE',
      'PROTOCOL.md',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/cli/shmbus.js',
      'prebuilds/linux-x64/shmbus.abi115.node',
      'prebuilds/linux-x64/shmbus.napi.node',
      'scripts/install.mjs',
      'binding.gyp',
    ]) {
      assert.ok(paths.has(need), `${need} is in the tarball`);
    }
    const unwanted = [...paths].filter((p) => /^(dist\/test|dist\/bench|test|bench|build|c\/build|c\/tests|python\/tests|\.cache|node_modules)\/|__pycache__/.test(p));
    assert.deepEqual(unwanted, []);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string; repository?: { url: string } };
    assert.match(readFileSync(join(root, 'LICENSE'), 'utf8'), new RegExp(`^${pkg.license} License`));
    assert.ok(pkg.repository?.url, 'a repository field');
  });

  it('every relative link in the shipped README points to a file the tarball ships', () => {
    const paths = new Set(files.map((f) => f.path));
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
    assert.ok(links.length > 0);
    const broken = links.filter((l) => {
      const p = l.replace(/^\.\//, '').replace(/\/$/, '');
      return !paths.has(p) && ![...paths].some((f) => f.startsWith(`${p}/`));
    });
    assert.deepEqual(broken, []);
  });

  it('installs with no compiler on PATH and runs on Node 20 with the ABI prebuild (a shared buffer)', () => {
    assert.ok(!existsSync(join(app, 'node_modules/shmbus/build')), 'nothing was compiled');
    const name = uniqueName('pkg');
    const r = run(join(bin, 'node'), ['--input-type=module', '-e', `
      import { Segment } from 'shmbus';
      const s = Segment.create(${JSON.stringify(name)}, { size: 4096 });
      console.log(JSON.stringify({ shared: s.shared }));
      s.close(); Segment.unlink(${JSON.stringify(name)});`], { cwd: app, env: bareEnv() });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { shared: true });
  });

  it('the install script takes the prebuild, and names what a build from source would need', () => {
    const script = join(app, 'node_modules/shmbus/scripts/install.mjs');
    const pre = run(join(bin, 'node'), [script], { cwd: join(app, 'node_modules/shmbus'), env: bareEnv() });
    assert.equal(pre.status, 0, pre.stderr);
    assert.match(pre.stderr, /using the prebuilt addon prebuilds\/linux-x64\/shmbus\.abi115\.node/);
    const src = run(join(bin, 'node'), [script], { cwd: join(app, 'node_modules/shmbus'), env: bareEnv({ SHMBUS_BUILD_FROM_SOURCE: '1' }) });
    assert.equal(src.status, 1);
    assert.match(src.stderr, /needs python3, make, a C\+\+ compiler/);
    assert.match(src.stderr, /npm rebuild shmbus/);
  });

  it('one Node-API prebuild serves Node 22, 24 and 26, Bun and Deno: producers in each runtime feed one Node consumer', async () => {
    const matrix = (await import(pathToFileURL(join(root, 'scripts/node-matrix.mjs')).href)) as {
      MATRIX_MAJORS: number[];
      installNodes(root: string, majors: number[], log: (m: string) => void): Record<number, { node?: string; error?: string }>;
    };
    const { installRuntimes } = (await import(pathToFileURL(join(root, 'scripts/runtimes.mjs')).href)) as {
      installRuntimes(root: string, log: (m: string) => void): Record<string, string | { error: string }>;
    };
    const log = (m: string): void => void process.stdout.write(`# ${m}\n`);
    const nodes = matrix.installNodes(root, matrix.MATRIX_MAJORS, log);
    const rts = installRuntimes(root, log);
    const producers: { who: string; cmd: string; args: string[] }[] = [];
    for (const m of matrix.MATRIX_MAJORS) {
      const n = nodes[m]!;
      assert.ok(n.node, `Node ${m}: ${n.error}`);
      producers.push({ who: `node${m}`, cmd: n.node!, args: [] });
    }
    for (const [rt, path] of Object.entries(rts)) {
      assert.equal(typeof path, 'string', `${rt}: ${JSON.stringify(path)}`);
      producers.push({ who: rt, cmd: path as string, args: rt === 'deno' ? ['run', '-A'] : [] });
    }
    const { spawn } = await import('node:child_process');
    const name = uniqueName('pkg-q');
    const count = 2000;
    const consumer = spawn(join(bin, 'node'), ['program.mjs', 'consume', name, String(producers.length), String(count)], {
      cwd: app,
      env: bareEnv(),
    });
    let out = '';
    let err = '';
    consumer.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const ready = new Promise<void>((resolve) =>
      consumer.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('ready')) resolve();
      }),
    );
    const closed = new Promise<number | null>((resolve) => consumer.on('close', resolve));
    await Promise.race([ready, closed]);
    assert.ok(out.includes('ready'), err);
    const results = await Promise.all(
      producers.map(
        (p) =>
          new Promise<{ who: string; code: number | null; out: string; err: string }>((resolve) => {
            const c = spawn(p.cmd, [...p.args, 'program.mjs', 'produce', name, p.who, String(count)], {
              cwd: app,
              env: { ...bareEnv(), DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
            });
            let o = '';
            let e = '';
            c.stdout.setEncoding('utf8').on('data', (d: string) => (o += d));
            c.stderr.setEncoding('utf8').on('data', (d: string) => (e += d));
            c.on('close', (code) => resolve({ who: p.who, code, out: o, err: e }));
          }),
      ),
    );
    for (const r of results) assert.equal(r.code, 0, `${r.who}: ${r.err}`);
    const reports = results.map((r) => JSON.parse(r.out.trim()) as { who: string; rt: string; shared: boolean; sent: number });
    process.stdout.write(`# ${JSON.stringify(reports)}\n`);
    for (const r of reports) {
      assert.equal(r.sent, count);
      // Node 22+ (and Bun, which has the call) get a SharedArrayBuffer from the Node-API build; Deno, which lacks
      // it, an external ArrayBuffer over the mapping (docs/install.md has the table).
      assert.equal(r.shared, r.rt !== 'deno', `${r.who} shared`);
    }
    assert.equal(await closed, 0, err);
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { got: count * producers.length, producers: producers.map((p) => p.who).sort() });
  });
});

describe('the Python wheel', () => {
  it('pip wheel ./python builds a wheel with the native part inside; a fresh venv installs it with no compiler and runs', () => {
    const py = venvPython();
    const wheels = join(tmp, 'wheels');
    const built = run(py, ['-m', 'pip', 'wheel', '--no-build-isolation', '--no-deps', '--no-index', '-w', wheels, join(root, 'python')]);
    assert.equal(built.status, 0, built.stderr);
    const wheel = readdirSync(wheels).find((f) => f.endsWith('.whl'));
    assert.ok(wheel, 'a wheel was written');
    const listing = run(py, ['-m', 'zipfile', '-l', join(wheels, wheel!)]);
    assert.match(listing.stdout, /shmbus\/_native\.[^ ]*\.so/, 'the compiled part is inside');
    // A venv of the interpreter the package was built with; cffi's runtime comes from the system site-packages.
    const base = run(py, ['-c', 'import sys; print(sys._base_executable)']).stdout.trim();
    const venv = join(tmp, 'wheel-venv');
    const mk = run(base, ['-m', 'venv', '--system-site-packages', venv]);
    assert.equal(mk.status, 0, mk.stderr);
    // PATH holds only the venv: no cc, no make; CC points nowhere, so any compile attempt would fail loudly.
    const env = { HOME: process.env['HOME'] ?? tmp, PATH: join(venv, 'bin'), CC: '/nonexistent/cc' };
    const inst = run(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--no-index', '--no-deps', join(wheels, wheel!)], { env });
    assert.equal(inst.status, 0, inst.stderr);
    const name = uniqueName('wheel');
    const prog = [
      'import shmbus',
      `t = shmbus.Topic.create(${JSON.stringify(name)}, capacity=1 << 16)`,
      `s = shmbus.Topic.subscribe(${JSON.stringify(name)})`,
      't.publish(b"from the wheel")',
      'm = s.read(timeout=5.0)',
      'print(bytes(m.data).decode(), shmbus.__file__)',
      's.close(); t.close(); shmbus.Topic.unlink(' + JSON.stringify(name) + ')',
    ].join('\n');
    const r = run(join(venv, 'bin', 'python'), ['-c', prog], { env, cwd: tmp });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^from the wheel .*wheel-venv/);
  });
});
