/** Every command, in the order `shmbus help` lists them. */
import type { Command } from '../command.js';
import { bench } from './bench.js';
import { bridge } from './bridge.js';
import { inspect, ls } from './look.js';
import { pub } from './pub.js';
import { gc, rm } from './segments.js';
import { stats } from './stats.js';
import { tail } from './tail.js';
import { view } from './view.js';

export const commands: Command[] = [ls, inspect, tail, pub, stats, rm, gc, bench, view, bridge];
