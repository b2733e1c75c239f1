/**
 * The ```c and ```cpp programs of README.md (sections "C" and "C++") compile as shown (-Wall -Wextra -Werror
 * -pedantic, C11 / C++17, against c/build/libshmbus.a made by `make -C c`), run, and print exactly the ```text
 * block that follows each of them ("Output:").
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const programs = [...readme.matchAll(/```(c|cpp)\n([\s\S]*?)```\s*\n(?:Output:\s*\n\s*)?```text\n([\s\S]*?)```/g)].map((m) => ({
  lang: m[1] as 'c' | 'cpp',
  code: m[2]!,
  output: m[3]!,
}));
const dir = mkdtempSync(join(tmpdir(), 'shmbus-readme-c-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

describe('README C and C++ programs', () => {
  it('has a C and a C++ program, each followed by its output', () => {
    assert.deepEqual(
      programs.map((p) => p.lang),
      ['c', 'cpp'],
    );
  });

  programs.forEach((p, i) => {
    it(`${p.lang === 'c' ? 'C' : 'C++'} program ${i + 1} compiles, runs and prints what the README shows`, () => {
      const lib = join(root, 'c', 'build', 'libshmbus.a');
      assert.ok(existsSync(lib), `${lib} is missing: run make -C c`);
      const src = join(dir, `prog${i}.${p.lang}`);
      const bin = join(dir, `prog${i}`);
      writeFileSync(src, p.code);
      const compile =
        p.lang === 'c'
          ? run('cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic', `-I${join(root, 'c')}`, src, lib, '-pthread', '-o', bin])
          : run('c++', ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-pedantic', `-I${join(root, 'c')}`, src, lib, '-pthread', '-o', bin]);
      assert.equal(compile.status, 0, compile.stderr);
      const r = run(bin, []);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, p.output);
    });
  });
});
