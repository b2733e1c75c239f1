/**
 * The mapping budget: keeps this process's memory mappings below vm.max_map_count with headroom for V8.
 *
 * At the kernel's limit every mmap fails, and V8's own next one (a heap page, a zone) aborts the whole process
 * ("Zone Allocation failed") before shmbus would see its own mmap fail. So a new segment mapping is refused with
 * ERR_SHM_NO_SPACE while the process's mappings, plus one, would pass the limit minus a reserve left to V8 and
 * the rest of the process (an eighth of the limit, at most 8192: 8192 of the default 65530).
 *
 * Cheap: the count comes from /proc/self/maps (one line per mapping) only now and then: at the first mapping,
 * after every REMEASURE_EVERY mappings made since, and whenever the estimate (last count plus the mappings made
 * since, unmaps ignored: it only overestimates) reaches the budget. A closed segment's range stays mapped until
 * its buffer is garbage-collected (stale views read zeros), so closing frees budget only after a collection.
 *
 * SHMBUS_MAX_MAP_COUNT (an integer) lowers the limit assumed, never raises it: the tests reach the budget with a
 * few thousand segments instead of ~60 000.
 */
import { readFileSync } from 'node:fs';
import { ShmbusError } from '../errors.js';

const REMEASURE_EVERY = 1024;
const RESERVE_MAX = 8192;

/** The limit assumed (Infinity where /proc says nothing) and the budget under it; computed at the first use. */
let limit = 0;
let budget = -1;
/** Mappings counted at the last measure, and mappings made by shmbus since then. */
let counted = 0;
let since = REMEASURE_EVERY; // forces a measure at the first mapping

function systemLimit(): number {
  try {
    const n = Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : Infinity;
  } catch {
    return Infinity; // not Linux's procfs: no budget
  }
}

/** Lines of /proc/self/maps: this process's mappings right now (0 when unreadable: then only the kernel limits). */
function countMappings(): number {
  let maps: Buffer;
  try {
    maps = readFileSync('/proc/self/maps');
  } catch {
    return 0;
  }
  let n = 0;
  for (let i = maps.indexOf(10); i >= 0; i = maps.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * Called before each new mapping of a segment, file window or raw object.
 * @throws ERR_SHM_NO_SPACE when one more mapping would pass the budget (nothing is mapped then)
 */
export function reserveMapping(what: string, segment: string | undefined): void {
  if (budget < 0) {
    limit = systemLimit();
    const lowered = Number(process.env['SHMBUS_MAX_MAP_COUNT']);
    if (Number.isInteger(lowered) && lowered > 0 && lowered < limit) limit = lowered;
    budget = limit - Math.min(RESERVE_MAX, Math.ceil(limit / 8));
  }
  if (budget === Infinity) return;
  if (since >= REMEASURE_EVERY || counted + since + 1 > budget) {
    counted = countMappings();
    since = 0;
  }
  if (counted + since + 1 > budget) {
    throw new ShmbusError(
      'ERR_SHM_NO_SPACE',
      `cannot map ${what}: this process has ${counted} memory mappings, and vm.max_map_count is ${limit} (the last ` +
        `${limit - budget} are left to the JavaScript engine, which aborts the process when it finds none); close ` +
        'segments this process no longer needs (their mappings go once they are garbage-collected), or raise ' +
        'vm.max_map_count (sysctl -w vm.max_map_count=...)',
      segment === undefined ? {} : { segment },
    );
  }
  since++;
}
