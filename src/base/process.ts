/** Process identity for liveness checks: a pid alone can be reused, pid + start time cannot. */
import { native } from '../native/binding.js';

/** Start time of `pid` (Linux: clock ticks since boot), 0 when no such live process exists. */
export function processStartTime(pid: number): number {
  return native.processStartTime(pid);
}

let self: { pid: number; startTime: number } | undefined;

/** This process's pid and start time (cached: they never change). */
export function selfIdentity(): { pid: number; startTime: number } {
  self ??= { pid: process.pid, startTime: native.processStartTime(process.pid) };
  return self;
}

/**
 * True while the process that wrote (pid, startTime) is alive. startTime 0 means "unknown": then the pid alone
 * decides. A zombie counts as dead.
 */
export function isProcessAlive(pid: number, startTime: number): boolean {
  if (pid <= 0) return false;
  const now = native.processStartTime(pid);
  return now !== 0 && (startTime === 0 || now === startTime);
}
