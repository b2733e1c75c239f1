#!/usr/bin/env node
/**
 * shmbus command line: look into the bus from a terminal (ls, inspect, tail, stats), put messages on it (pub),
 * clean up (rm, gc), measure it (bench) and watch it in a browser (view). Arguments are parsed strictly: an
 * unknown flag or a missing value prints the usage and exits 2 before anything is done. docs/cli.md has it all.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EXIT, UsageError, type Command } from './command.js';
import { fail } from './errors.js';
import { commands } from './commands/index.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: shmbus <command> [options]',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'shmbus <command> --help   options of one command',
    'shmbus --version          the installed version',
  ].join('\n');
}

function commandUsage(c: Command): string {
  return `usage: shmbus ${c.name} ${c.synopsis}`.trimEnd();
}

function usageError(message: string, c?: Command): number {
  process.stderr.write(`shmbus${c ? ` ${c.name}` : ''}: ${message}\n${c ? commandUsage(c) : usage()}\n`);
  return EXIT.usage;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stdout.write(`${usage()}\n`);
    return EXIT.ok;
  }
  if (first === '--version' || first === '-V') {
    if (rest.length > 0) return usageError('--version takes no arguments');
    process.stdout.write(`shmbus ${version()}\n`);
    return EXIT.ok;
  }
  if (first === 'help' || first === '--help' || first === '-h') {
    const topic = rest[0];
    if (topic === undefined) {
      process.stdout.write(`${usage()}\n`);
      return EXIT.ok;
    }
    const c = commands.find((x) => x.name === topic);
    if (!c || rest.length > 1) return usageError(`no command "${rest.join(' ')}"`);
    process.stdout.write(`${commandUsage(c)}\n${c.summary}\n\n${c.details}\n`);
    return EXIT.ok;
  }
  const c = commands.find((x) => x.name === first);
  if (!c) return usageError(`unknown command "${first}"`);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...c.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    // ERR_PARSE_ARGS_UNKNOWN_OPTION, ERR_PARSE_ARGS_INVALID_OPTION_VALUE (a missing value), ...
    return usageError((e as Error).message, c);
  }
  if (parsed.values['help'] === true) {
    process.stdout.write(`${commandUsage(c)}\n${c.summary}\n\n${c.details}\n`);
    return EXIT.ok;
  }
  const [min, max] = c.positionals;
  const n = parsed.positionals.length;
  if (n < min) return usageError(min === 1 && max === 1 ? 'needs a segment NAME' : `needs at least ${min} argument(s)`, c);
  if (n > max) return usageError(`unexpected argument "${parsed.positionals[max]}"`, c);
  try {
    return await c.run(parsed.values as never, parsed.positionals);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message, c);
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    fail(e);
    process.exitCode = EXIT.failed;
  },
);
