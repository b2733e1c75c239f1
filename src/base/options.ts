/**
 * Option checking shared by every public call: a bad option is ERR_INVALID_ARG naming the option, what it must
 * be, and what was received (its type as well as its value, so '4096' and 4096 are told apart).
 */
import { ShmbusError } from '../errors.js';

/** How a received value is shown in an error: its type and, for primitives, its value. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string':
      return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}${typeof value === 'bigint' ? 'n' : ''}`;
    case 'symbol':
      return 'symbol';
    case 'function':
      return 'function';
    default: {
      const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof ctor === 'string' && ctor !== '' && ctor !== 'Object' ? `an instance of ${ctor}` : 'object';
    }
  }
}

/** ERR_INVALID_ARG for option `name`, which must be `expected` (a phrase: "an integer from 1 to 64"). */
export function invalidArg(name: string, expected: string, got: unknown): ShmbusError {
  return new ShmbusError('ERR_INVALID_ARG', `${name} must be ${expected} (got ${describe(got)})`);
}

/** The options argument of a call: undefined means {}; anything but a plain object is refused. */
export function optionsObject<T extends object>(options: T | undefined, where: string): T | Record<string, never> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArg(`${where} options`, 'an object', options);
  }
  return options;
}

/** An integer option in [min, max]; `fallback` when undefined. */
export function intOption(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArg(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** A boolean option; `fallback` when undefined. */
export function boolOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArg(name, 'a boolean', value);
  return value;
}

/** A value that must be one of `choices`; `fallback` when undefined. */
export function choiceOption<C extends string>(name: string, value: unknown, choices: readonly C[], fallback: C): C {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw invalidArg(name, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, value);
  }
  return value as C;
}

/** Largest liveness interval: it is also a timer and futex-wait slice, and setTimeout clamps above 2^31-1 ms. */
export const MAX_LIVENESS_MS = 2 ** 31 - 1;

/**
 * The `livenessInterval` option of every robust object (locks, Queue, Rpc, subscribers): whole milliseconds from 1
 * to 2^31-1; `fallback` when undefined.
 */
export function livenessOption(value: unknown, fallback: number): number {
  return intOption('livenessInterval', value, 1, MAX_LIVENESS_MS, fallback);
}
