/** Every command, in the order `shmbus help` lists them. */
import type { Command } from '../command.js';
import { inspect, ls } from './look.js';
import { gc, rm } from './segments.js';

export const commands: Command[] = [ls, inspect, rm, gc];
