/**
 * Every place where the benchmarks touch API that is being renamed or added in this round (issues 11 and 12),
 * one small function each, so that switching the bench to the new API is an edit of this file only.
 * Each function says what it becomes.
 */
import { Mailbox, Queue, Topic, type Message, type Subscriber } from '../src/index.js';

/** Layout of a topic for the benchmarks; stays. */
export interface TopicLayout {
  capacity: number;
  maxMessageSize: number;
}

/** The suite has single-publisher rows (`Topic.create(name, { singlePublisher: true })`). */
export const HAS_SINGLE_PUBLISHER = true;

/** Creates a topic, in single-publisher mode when asked. */
export function createTopic(name: string, layout: TopicLayout, singlePublisher = false): Topic {
  return Topic.create(name, { ...layout, singlePublisher });
}

/**
 * The options of the round-trip loops' reads, made once: a literal in the call would be a fresh object per poll
 * wherever V8 does not inline tryRead into the loop (a busy-poll loop then made a scavenge every ~100 round trips).
 */
const VIEW_READ = Object.freeze({ copy: false, reuse: true });

/** One non-blocking zero-copy read for the round-trip loops: the reused message and view (no allocation). */
export function pollView(sub: Subscriber): Uint8Array | null {
  const m = sub.tryRead(VIEW_READ);
  return m === null ? null : m.data;
}

/** Options of {@link awaitRead}, made once (see VIEW_READ). */
const AWAIT_READ = Object.freeze({ timeout: 60_000, copy: false, reuse: true });

/**
 * The awaiting read of the round-trip loops (spin, then park), reusing the message and view, as a user writes it:
 * `await sub.read(options)`, one await. (An `async` helper around it costs a second await and its own promise:
 * ~0.6 µs more per read here, which was most of the "await read() / busy-poll" gap of issue 12.)
 * Resolves null when the topic ended.
 */
export function awaitRead(sub: Subscriber): Promise<Message | null> {
  return sub.read(AWAIT_READ);
}

/** The awaiting read of the round-trip loops (spin, then park), reusing the message and view. */
export async function awaitView(sub: Subscriber, timeout: number): Promise<Uint8Array> {
  const m = await sub.read({ timeout, copy: false, reuse: true });
  if (m === null) throw new Error(`topic "${sub.name}" ended (no publisher left)`);
  return m.data;
}

/** A sequence number as a number. */
export function seqNumber(seq: number): number {
  return seq;
}

/** Rpc server options for the echo server: `slotSize` today, `maxMessageSize` after issue 11. */
export function rpcServeOptions(maxMessageSize: number, spin: number): { workers: number; slots: number; slotSize: number; spin: number } {
  return { workers: 1, slots: 4, slotSize: maxMessageSize, spin }; // NEW API: maxMessageSize instead of slotSize
}

/** A mailbox whose largest value is `maxMessageSize`. */
export function createMailbox(name: string, maxMessageSize: number): Mailbox {
  return Mailbox.create(name, { maxMessageSize });
}

