/**
 * Every place where the benchmarks touch API that is being renamed or added in this round (issues 11 and 12),
 * one small function each, so that switching the bench to the new API is an edit of this file only.
 * Each function says what it becomes.
 */
import { Mailbox, Queue, Topic, type Subscriber } from '../src/index.js';

/** Layout of a topic for the benchmarks; stays. */
export interface TopicLayout {
  capacity: number;
  maxMessageSize: number;
}

/**
 * True once `Topic.create(name, { singlePublisher: true })` exists (issue 12): the suite then adds the
 * single-publisher rows. Becomes `true` at the merge.
 */
export const HAS_SINGLE_PUBLISHER = false;

/** Creates a topic; `singlePublisher` becomes `{ ...layout, singlePublisher: true }` once the option exists. */
export function createTopic(name: string, layout: TopicLayout, singlePublisher = false): Topic {
  void singlePublisher; // NEW API: return Topic.create(name, { ...layout, singlePublisher });
  return Topic.create(name, layout);
}

/**
 * One non-blocking zero-copy read for the round-trip loops; returns the payload view or null. Today
 * `tryRead({ copy: false })` allocates a message object per call; becomes the zero-allocation read (a reused
 * message object) once it exists.
 */
export function pollView(sub: Subscriber): Uint8Array | null {
  const m = sub.tryRead({ copy: false });
  return m === null ? null : m.data;
}

/** The awaiting read of the round-trip loops (spin, then park); becomes the zero-allocation awaiting read. */
export async function awaitView(sub: Subscriber, timeout: number): Promise<Uint8Array> {
  return (await sub.read({ timeout, copy: false })).data;
}

/** A sequence number (`publish`'s result, `message.seq`) as a number: bigint today, number after issue 11. */
export function seqNumber(seq: bigint | number): number {
  return Number(seq);
}

/** Queue layout options: `slotSize` today, `maxMessageSize` after issue 11. */
export function queueLayout(slots: number, maxMessageSize: number): { slots: number; slotSize: number } {
  return { slots, slotSize: maxMessageSize }; // NEW API: { slots, maxMessageSize }
}

/** End of stream for every consumer: `close()` today, `end()` after issue 11. */
export function endQueue(q: Queue): void {
  q.close(); // NEW API: q.end();
}

/** Detach this handle: `detach()` today, `close()` after issue 11. */
export function detachQueue(q: Queue): void {
  q.detach(); // NEW API: q.close();
}

/** Rpc server options for the echo server: `slotSize` today, `maxMessageSize` after issue 11. */
export function rpcServeOptions(maxMessageSize: number, spin: number): { workers: number; slots: number; slotSize: number; spin: number } {
  return { workers: 1, slots: 4, slotSize: maxMessageSize, spin }; // NEW API: maxMessageSize instead of slotSize
}

/** A mailbox whose largest value is `maxMessageSize`. */
export function createMailbox(name: string, maxMessageSize: number): Mailbox {
  return Mailbox.create(name, { maxMessageSize });
}

