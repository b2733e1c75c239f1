/**
 * Every ```js block of README.md runs as written (as an ES module inside this package, so `import ... from
 * 'shmbus'` resolves to this checkout), exits cleanly, and prints what its comments promise: a `console.log(...)`
 * line whose `// comment` starts with a value (a quoted string, a number, true/false/null, `{`, `[`) must print
 * exactly that, once. The value ends at the first ": " (what follows is prose); quoted tokens print unquoted, as
 * console.log prints strings. A console.log whose comment is prose ("ends after the last record") must print at
 * least once. To tell the lines apart, each `console.log(` becomes `__readmeLog(<line>, `, which prints the
 * line number before what console.log would print; nothing else in the snippet changes.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = fileURLToPath(new URL(`../readme-snippets-${process.pid}/`, import.meta.url));
mkdirSync(dir, { recursive: true });
after(() => rmSync(dir, { recursive: true, force: true }));

/** One console.log line of a snippet and what its comment promises. */
export interface Promised {
  line: number;
  /** The exact printed line, or null when the comment is prose (or absent): then it must print at least once. */
  value: string | null;
  comment: string;
}

/** The promise of a `// comment` next to a console.log, per the rule at the top of this file. */
export function promisedValue(comment: string): string | null {
  const c = comment.trim();
  if (!/^(['"{[]|-?\d|true\b|false\b|null\b|undefined\b)/.test(c)) return null;
  const value = c.split(/: /)[0]!;
  // Quoted tokens print without their quotes; anything else (numbers, 1n, JSON text) prints as written.
  return [...value.matchAll(/'[^']*'|"[^"]*"(?=\s|$)|\S+/g)].map((m) => m[0].replace(/^(['"])(.*)\1$/, '$2')).join(' ');
}

export function promises(code: string): Promised[] {
  const out: Promised[] = [];
  code.split('\n').forEach((text, i) => {
    if (!text.includes('console.log(')) return;
    const at = text.lastIndexOf('//');
    const comment = at >= 0 ? text.slice(at + 2) : '';
    out.push({ line: i + 1, value: promisedValue(comment), comment: comment.trim() });
  });
  return out;
}

function instrument(code: string): string {
  const lines = code.split('\n').map((l, i) => l.replaceAll('console.log(', `__readmeLog(${i + 1}, `));
  return (
    "import { format as __readmeFormat } from 'node:util';\n" +
    'const __readmeLog = (line, ...args) => process.stdout.write(`@@${line} ${__readmeFormat(...args)}\\n`);\n' +
    lines.join('\n')
  );
}

function runSnippet(file: string): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
}

describe('README examples', () => {
  it('has examples to run, and their comments promise values to check', () => {
    assert.ok(blocks.length >= 5);
    assert.ok(blocks.flatMap(promises).filter((p) => p.value !== null).length >= 5);
  });
  it('reads the promise of a comment as the rule says', () => {
    assert.equal(promisedValue(" 'not-equal': the word is already 1"), 'not-equal');
    assert.equal(promisedValue(" 1n 2764800 true 0"), '1n 2764800 true 0');
    assert.equal(promisedValue(' 1 {"theme":"dark"}'), '1 {"theme":"dark"}');
    assert.equal(promisedValue(" 'hi'"), 'hi');
    assert.equal(promisedValue(' ends after the last record'), null);
  });
  blocks.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.includes('.create(') || l.includes('.serve(')) ?? code.split('\n')[0]!;
    const promised = promises(code);
    const values = promised.filter((p) => p.value !== null).length;
    it(`snippet ${i + 1} runs when pasted and prints the ${values} value(s) its comments promise: ${title.trim().slice(0, 50)}`, async () => {
      const file = `${dir}snippet-${i + 1}.mjs`;
      writeFileSync(file, instrument(code));
      const res = await runSnippet(file);
      assert.equal(res.code, 0, `snippet ${i + 1} exited with ${res.code}; stderr:\n${res.stderr}`);
      const printed = new Map<number, string[]>();
      for (const l of res.stdout.split('\n')) {
        const m = /^@@(\d+) ([\s\S]*)$/.exec(l);
        if (m) printed.set(Number(m[1]), [...(printed.get(Number(m[1])) ?? []), m[2]!]);
      }
      for (const p of promised) {
        const got = printed.get(p.line) ?? [];
        const where = `snippet ${i + 1} line ${p.line} (// ${p.comment})`;
        if (p.value === null) assert.ok(got.length > 0, `${where} printed nothing`);
        else assert.deepEqual(got, [p.value], `${where}: printed ${JSON.stringify(got)}`);
      }
    });
  });
});
