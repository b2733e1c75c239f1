/**
 * The published types, as a consumer gets them: the package is packed (`npm pack`), the tarball installed into a
 * fresh project outside this checkout that has no @types/node, and test/types/consumer/consumer.ts (plus a part
 * generated here: `using` / `await using` on every exported class that can be disposed) is compiled with
 * `tsc --strict --module nodenext --moduleResolution nodenext` by TypeScript 5.9 and by TypeScript 7 (the native
 * compiler, npm `typescript@7`). The packed .d.ts must also hold no `any` (written or implied by a defaulted
 * iterator type argument) and no `@internal` member, and the package must ship no tests.
 *
 * The compilers are installed once into .cache/types/compilers and npm's cache is .cache/npm, so a rerun needs no
 * network; when the registry cannot be reached and nothing is cached, the tests skip and say so.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cache = join(root, '.cache');
const npmCache = join(cache, 'npm');
const compilersDir = join(cache, 'types', 'compilers');
const COMPILERS = { 'TypeScript 5.9': 'typescript@5.9.3', 'TypeScript 7': 'typescript@7.0.2' } as const;
type CompilerName = keyof typeof COMPILERS;
const alias = (n: CompilerName): string => (n === 'TypeScript 5.9' ? 'ts59' : 'ts7');

/**
 * Findings another engineer's change removes (file owned elsewhere): a finding that contains a key is reported as
 * `todo` while it occurs; a key that no longer matches any finding of its check fails, so the list is deleted from
 * as the changes land.
 */
const PENDING: Record<string, string> = {
};

class Unreachable extends Error {}

function run(cmd: string, args: string[], cwd: string): { status: number; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function npm(args: string[], cwd: string): string {
  const r = run('npm', [...args, '--cache', npmCache, '--no-audit', '--no-fund'], cwd);
  if (r.status !== 0) {
    const net = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH/;
    if (net.test(r.out)) {
      const why = r.out.split('\n').find((l) => /FetchError|request to/.test(l)) ?? r.out.split('\n').find((l) => net.test(l))!;
      throw new Unreachable(`npm registry unreachable and nothing cached in .cache/ (npm ${args[0]}): ${why.replace(/^npm error\s*/, '').trim()}`);
    }
    throw new Error(`npm ${args.join(' ')} failed:\n${r.out}`);
  }
  return r.out;
}

function tscPath(n: CompilerName): string {
  return join(compilersDir, 'node_modules', alias(n), 'bin', 'tsc');
}

/** Installs both compilers into .cache/types/compilers (npm aliases ts59 / ts7) unless they are there already. */
function ensureCompilers(): void {
  const names = Object.keys(COMPILERS) as CompilerName[];
  const versionOk = (n: CompilerName): boolean =>
    existsSync(tscPath(n)) && run(process.execPath, [tscPath(n), '--version'], compilersDir).out.includes(COMPILERS[n].split('@')[1]!);
  if (names.every(versionOk)) return;
  mkdirSync(compilersDir, { recursive: true });
  const deps = Object.fromEntries(names.map((n) => [alias(n), `npm:${COMPILERS[n]}`]));
  writeFileSync(join(compilersDir, 'package.json'), `${JSON.stringify({ private: true, dependencies: deps }, null, 2)}\n`);
  npm(['install', '--prefer-offline'], compilersDir);
  for (const n of names) assert.ok(versionOk(n), `${COMPILERS[n]} did not install`);
}

function listFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) listFiles(p, out);
    else out.push(p);
  }
  return out;
}

/** The .d.ts text with comments and string literals blanked, so prose ("any process") is not taken for a type. */
function codeOnly(dts: string): string {
  return dts.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, (m) => m.replace(/[^\n]/g, ' '));
}

/** `any` written in the types, and `any` implied by an iterator/generator type whose TReturn/TNext were left out. */
export function anyFindings(file: string, dts: string): string[] {
  const code = codeOnly(dts);
  const out: string[] = [];
  if (/\bany\b/.test(code)) {
    for (const line of code.split('\n')) if (/\bany\b/.test(line)) out.push(`${file}: any: ${line.trim()}`);
  }
  const iter = /(implements\s+[^{]*)?\b(AsyncIterator|Iterator|AsyncGenerator|Generator|AsyncIterableIterator|IterableIterator|AsyncIterable|Iterable)<([^<>]*(?:<[^<>]*>[^<>]*)*)>/g;
  for (const m of code.matchAll(iter)) {
    if (m[1] !== undefined) continue; // `implements AsyncIterable<T>` constrains the class; its method says what it returns
    const args = m[3]!.split(',').length;
    if (args < 3) out.push(`${file}: implied any: ${m[2]}<${m[3]!.trim()}>`);
  }
  return out;
}

describe('published types (packed package, consumer without @types/node)', () => {
  let skip: string | undefined;
  let work = '';
  let installed = '';
  let packedFiles: string[] = [];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'shmbus-types-'));
    try {
      ensureCompilers();
      // Pack what `npm publish` would ship (dist/ was compiled by the test runner; --ignore-scripts: no rebuild).
      const packOut = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
      const info = JSON.parse(packOut.slice(packOut.indexOf('['))) as { filename: string; files: { path: string }[] }[];
      packedFiles = info[0]!.files.map((f) => f.path);
      const project = join(work, 'consumer');
      mkdirSync(project);
      writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`);
      // --ignore-scripts: the addon build is not what this test checks (and types need no addon).
      npm(['install', '--ignore-scripts', '--prefer-offline', join(work, info[0]!.filename)], project);
      installed = join(project, 'node_modules', 'shmbus');
      assert.ok(existsSync(installed), 'the tarball installed as node_modules/shmbus');
    } catch (e) {
      if (e instanceof Unreachable) skip = e.message;
      else throw e;
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const skipped = (t: TestContext): boolean => {
    if (skip !== undefined) t.skip(skip);
    return skip !== undefined;
  };

  for (const compiler of Object.keys(COMPILERS) as CompilerName[]) {
    it(`a consumer compiles against the packed .d.ts with ${COMPILERS[compiler]}: tsc --strict --module nodenext --moduleResolution nodenext, no @types/node`, async (t) => {
      if (skipped(t)) return;
      const project = dirname(dirname(installed));
      // No @types anywhere the compiler looks (the project and its ancestors): the consumer really lacks Node's types.
      for (let d = project; ; d = dirname(d)) {
        assert.ok(!existsSync(join(d, 'node_modules', '@types')), `${d}/node_modules/@types exists`);
        if (dirname(d) === d) break;
      }
      const consumer = readFileSync(join(root, 'test', 'types', 'consumer', 'consumer.ts'), 'utf8');
      writeFileSync(join(project, 'consumer.ts'), `${consumer}\n${await disposalPart()}`);
      const r = run(process.execPath, [tscPath(compiler), '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--noEmit', 'consumer.ts'], project);
      t.diagnostic(run(process.execPath, [tscPath(compiler), '--version'], project).out.trim());
      assert.equal(r.status, 0, `${COMPILERS[compiler]} reported:\n${r.out}`);
    });
  }

  it('the consumer uses every exported class', async () => {
    const api = (await import('../../src/index.js')) as Record<string, unknown>;
    const consumer = readFileSync(join(root, 'test', 'types', 'consumer', 'consumer.ts'), 'utf8');
    const used = (n: string): boolean => new RegExp(`\\b${n}\\b`).test(consumer.replace(/^\s*\/\/.*$/gm, '').replace(/^import[\s\S]*?from 'shmbus';$/m, ''));
    const classes = Object.entries(api).filter(([, v]) => typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v)));
    assert.ok(classes.length >= 10);
    assert.deepEqual(classes.map(([n]) => n).filter((n) => !used(n)), [], 'exported classes test/types/consumer/consumer.ts does not use');
  });

  it('the published .d.ts (reachable from the exports) hold no any (written or implied) and no @internal', async (t) => {
    if (skipped(t)) return;
    const { program } = await publishedProgram(installed);
    const dts = program.getSourceFiles().map((f) => f.fileName).filter((f) => f.startsWith(installed));
    assert.ok(dts.length > 10, 'the package ships its .d.ts');
    const findings: string[] = [];
    for (const f of dts) {
      const text = readFileSync(f, 'utf8');
      const rel = relative(installed, f);
      findings.push(...anyFindings(rel, text));
      if (text.includes('@internal')) findings.push(`${rel}: @internal: ${text.split('\n').filter((l) => l.includes('@internal')).join(' | ').trim()}`);
      if (/\/\/\/\s*<reference\s+types="node"/.test(text)) findings.push(`${rel}: references @types/node`);
    }
    checkFindings(t, findings);
  });

  it('the sources mark no constructor @internal (stripInternal would publish a public no-argument constructor)', (t) => {
    const findings: string[] = [];
    for (const f of listFiles(join(root, 'src')).filter((p) => p.endsWith('.ts'))) {
      const text = readFileSync(f, 'utf8');
      if (/@internal[^\n]*\*\/\s*\n\s*constructor\s*\(/.test(text)) {
        findings.push(`${relative(root, f)}: @internal constructor (stripInternal publishes a public no-argument constructor)`);
      }
    }
    checkFindings(t, findings);
  });

  it('every exported class with close() can be disposed (`using`, or `await using` when close is async)', async (t) => {
    const api = (await import('../../src/index.js')) as Record<string, unknown>;
    const findings: string[] = [];
    for (const [name, value] of Object.entries(api)) {
      if (typeof value !== 'function' || !('prototype' in value)) continue;
      const proto = value.prototype as Record<string | symbol, unknown>;
      if (typeof proto['close'] !== 'function') continue;
      // close() that returns a promise (async, or a plain function returning one) needs asyncDispose.
      const asyncClose = (proto['close'] as () => unknown).constructor.name === 'AsyncFunction' || typeof proto[Symbol.asyncDispose] === 'function';
      const [wanted, label] = asyncClose ? [Symbol.asyncDispose, 'Symbol.asyncDispose'] : [Symbol.dispose, 'Symbol.dispose'];
      if (typeof proto[wanted] !== 'function') findings.push(`${name} has close() but no [${label}]`);
    }
    checkFindings(t, [...new Set(findings)]);
  });

  it('every named type that a public signature uses is exported (options, results, callbacks)', async (t) => {
    if (skipped(t)) return;
    const missing = await unexportedTypes(installed);
    checkFindings(t, missing);
  });

  it('the package ships no tests, and its exports put the types condition first (nodenext consumers)', (t) => {
    if (skipped(t)) return;
    const tests = packedFiles.filter((p) => /(^|\/)(test|tests|__tests__)\/|\.test\.(js|ts|d\.ts)$|^(dist\/)?bench\//.test(p)); // docs/bench holds the report's plots
    assert.deepEqual(tests, [], 'test files in the tarball');
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      types: string;
      exports: Record<string, Record<string, string>>;
    };
    assert.ok(existsSync(join(installed, pkg.types)), `"types" ${pkg.types} is in the tarball`);
    for (const [sub, conds] of Object.entries(pkg.exports)) {
      assert.equal(Object.keys(conds)[0], 'types', `exports["${sub}"]: "types" first`);
      for (const target of Object.values(conds)) assert.ok(existsSync(join(installed, target)), `exports["${sub}"] -> ${target} is in the tarball`);
    }
  });
});

/**
 * The program a consumer gets from the package's entry points (TypeScript 5.9 compiler API, from the cached
 * compiler): its .d.ts are the published types (a stale file left in dist/ by a removed source is not among them).
 */
async function publishedProgram(pkgDir: string): Promise<{ ts: typeof import('typescript'); program: import('typescript').Program; entries: string[] }> {
  const { createRequire } = await import('node:module');
  const ts = createRequire(import.meta.url)(join(compilersDir, 'node_modules', 'ts59', 'lib', 'typescript.js')) as typeof import('typescript');
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, { types: string }> };
  const entries = Object.values(pkg.exports).map((c) => join(pkgDir, c.types));
  const program = ts.createProgram(entries, { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true });
  return { ts, program, entries };
}

/**
 * Names of types declared in the package that a public signature reaches (parameters, results, their unions,
 * type arguments and the properties of such types, transitively) but that neither entry point exports: a consumer
 * could not name them. Uses the TypeScript 5.9 compiler API from the cached compiler.
 */
async function unexportedTypes(pkgDir: string): Promise<string[]> {
  const { ts, program, entries } = await publishedProgram(pkgDir);
  const checker = program.getTypeChecker();
  const exported = new Set<string>();
  const roots: import('typescript').Symbol[] = [];
  for (const e of entries) {
    const mod = checker.getSymbolAtLocation(program.getSourceFile(e)!)!;
    for (const sym of checker.getExportsOfModule(mod)) {
      exported.add(sym.name);
      roots.push(sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym);
    }
  }
  const inPackage = (d: import('typescript').Declaration): boolean => d.getSourceFile().fileName.startsWith(pkgDir);
  const seen = new Set<import('typescript').Type>();
  const missing = new Set<string>();
  const visitType = (type: import('typescript').Type): void => {
    if (seen.has(type)) return;
    seen.add(type);
    const named = type.aliasSymbol ?? type.getSymbol();
    const decl = named?.declarations?.[0];
    if (named && decl && inPackage(decl)) {
      const kind = decl.kind;
      const isNamedDecl =
        kind === ts.SyntaxKind.InterfaceDeclaration || kind === ts.SyntaxKind.TypeAliasDeclaration || kind === ts.SyntaxKind.ClassDeclaration || kind === ts.SyntaxKind.EnumDeclaration;
      if (isNamedDecl && !exported.has(named.name)) missing.add(`${named.name} (${relative(pkgDir, decl.getSourceFile().fileName)}) is used by the public API but not exported`);
    } else if (named && decl && !(type.isUnionOrIntersection() || type.aliasTypeArguments || (type as import('typescript').TypeReference).typeArguments)) {
      return; // a lib type (Uint8Array, AbortSignal ...) with nothing of ours inside
    }
    if (type.isUnionOrIntersection()) type.types.forEach(visitType);
    for (const a of type.aliasTypeArguments ?? []) visitType(a);
    for (const a of checker.getTypeArguments(type as import('typescript').TypeReference) ?? []) visitType(a);
    if (named && decl && inPackage(decl)) {
      for (const p of checker.getPropertiesOfType(type)) {
        const pd = p.valueDeclaration ?? p.declarations?.[0];
        if (!pd || !inPackage(pd) || (ts.getCombinedModifierFlags(pd) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0) continue;
        if (p.name.startsWith('#')) continue;
        visitType(checker.getTypeOfSymbolAtLocation(p, pd));
      }
    }
    for (const sig of [...type.getCallSignatures(), ...type.getConstructSignatures()]) {
      for (const param of sig.getParameters()) visitType(checker.getTypeOfSymbol(param));
      visitType(sig.getReturnType());
    }
  };
  for (const sym of roots) {
    if (sym.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Function | ts.SymbolFlags.Variable)) visitType(checker.getTypeOfSymbol(sym));
    if (sym.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) visitType(checker.getDeclaredTypeOfSymbol(sym));
  }
  return [...missing].sort();
}

/** Findings not in PENDING fail; PENDING ones are reported as todo; a PENDING entry no longer found fails. */
function checkFindings(t: TestContext, findings: string[]): void {
  const keyOf = (f: string): string | undefined => Object.keys(PENDING).find((k) => f.includes(k));
  const unexpected = findings.filter((f) => keyOf(f) === undefined);
  const pending = findings.filter((f) => keyOf(f) !== undefined);
  for (const f of pending) t.diagnostic(`pending (${PENDING[keyOf(f)!]}): ${f}`);
  const gone = Object.keys(PENDING).filter((k) => !findings.some((f) => f.includes(k)) && sameCheck(k, t.name));
  assert.deepEqual(unexpected, [], `published-type findings:\n${unexpected.join('\n')}`);
  assert.deepEqual(gone, [], 'fixed: remove these from PENDING in test/types/types.test.ts');
  if (pending.length > 0) t.todo(`${pending.length} finding(s) wait for another engineer's change (see diagnostics)`);
}

/** Whether a PENDING key belongs to the check named `testName` (so each check only judges its own entries). */
function sameCheck(key: string, testName: string): boolean {
  if (key.startsWith('src/')) return testName.includes('constructor @internal');
  if (key.includes('Symbol.asyncDispose') || key.includes('Symbol.dispose]')) return testName.includes('disposed');
  if (key.includes('not exported')) return testName.includes('is exported');
  return testName.includes('no any');
}

/**
 * TypeScript for `using x` / `await using x` on every exported class whose prototype has [Symbol.dispose] /
 * [Symbol.asyncDispose] at run time: the published declarations must say so too (`typeof X.prototype` so generic
 * classes need no type arguments here).
 */
async function disposalPart(): Promise<string> {
  const api = (await import('../../src/index.js')) as Record<string, unknown>;
  const lines = ['// ---- generated by test/types/types.test.ts: disposal of every disposable class', "import * as all from 'shmbus';"];
  for (const [name, value] of Object.entries(api)) {
    if (typeof value !== 'function' || !('prototype' in value)) continue;
    const proto = value.prototype as Record<symbol, unknown>;
    if (typeof proto[Symbol.dispose] === 'function') {
      lines.push(`export function dispose${name}(x: typeof all.${name}.prototype): void { using handle = x; void handle; }`);
    }
    if (typeof proto[Symbol.asyncDispose] === 'function') {
      lines.push(`export async function asyncDispose${name}(x: typeof all.${name}.prototype): Promise<void> { await using handle = x; void handle; }`);
    }
  }
  return `${lines.join('\n')}\n`;
}
