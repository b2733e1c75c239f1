/** The shape of one CLI command and the exit codes scripts can rely on. */
import type { ParseArgsConfig } from 'node:util';

/** Exit codes: documented in docs/cli.md. */
export const EXIT = {
  ok: 0,
  /** The command ran and failed: no such segment, an error from shmbus (its code is printed). */
  failed: 1,
  /** Bad command line: unknown command or flag, missing value or argument. Nothing was done. */
  usage: 2,
  /** Refused to act: e.g. `rm` of a segment live processes have mapped (without --force). */
  refused: 3,
} as const;

export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface Command {
  name: string;
  /** Synopsis after the command name, e.g. "NAME [--json]". */
  synopsis: string;
  /** One line for the command list. */
  summary: string;
  /** Longer help text (options explained), printed by `shmbus CMD --help`. */
  details: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Positional arguments: [min, max] (max Infinity for a list). */
  positionals: [number, number];
  run(values: Values, positionals: string[]): number | Promise<number>;
}

/** Thrown by a command for a usage error found after parsing (a bad option value): exit 2 with the usage. */
export class UsageError extends Error {}

/** Parses a non-negative integer option value, or throws UsageError. */
export function intOption(values: Values, key: string, fallback: number, min = 0): number {
  const v = values[key];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${key} needs a whole number >= ${min} (got ${JSON.stringify(v)})`);
  }
  return n;
}

/** Parses an option whose value must be one of `choices`, or throws UsageError. */
export function choiceOption<T extends string>(values: Values, key: string, choices: readonly T[], fallback: T): T {
  const v = values[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${key} must be one of ${choices.join(', ')} (got ${JSON.stringify(v)})`);
  }
  return v as T;
}
