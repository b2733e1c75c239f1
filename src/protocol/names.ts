/** shmbus names and their OS names. The one place that maps one to the other (macOS will hash long names here). */
import { ShmbusError } from '../errors.js';
import { NAME_MAX_LENGTH, OS_NAME_PREFIX } from './layout.js';

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,200}$/;

/** Throws ERR_INVALID_NAME unless `name` is 1-200 characters of [A-Za-z0-9._-] and not "." or "..". */
export function validateName(name: unknown): string {
  if (typeof name !== 'string') {
    throw new ShmbusError('ERR_INVALID_NAME', `a segment name must be a string (got ${typeof name})`);
  }
  if (!NAME_PATTERN.test(name) || name === '.' || name === '..') {
    const shown = JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}...` : name);
    throw new ShmbusError(
      'ERR_INVALID_NAME',
      `invalid segment name ${shown}: use 1-${NAME_MAX_LENGTH} characters of A-Z a-z 0-9 . _ - (not "." or "..")`,
    );
  }
  return name;
}

/** The POSIX shm name of a shmbus name: "/shmbus.<name>". */
export function osName(name: string): string {
  return `/${OS_NAME_PREFIX}${validateName(name)}`;
}

/** The shmbus name of an entry in /dev/shm, or undefined if it is not one of ours. */
export function nameFromOsName(entry: string): string | undefined {
  const bare = entry.startsWith('/') ? entry.slice(1) : entry;
  if (!bare.startsWith(OS_NAME_PREFIX)) return undefined;
  const name = bare.slice(OS_NAME_PREFIX.length);
  return NAME_PATTERN.test(name) && name !== '.' && name !== '..' ? name : undefined;
}
