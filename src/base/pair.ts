/**
 * Native operations on u64 pairs of u32 words that JS cannot do without allocating: the 64-bit compare-and-swap of
 * the Queue and Rpc rings' (SEQ, PID) slot words (PROTOCOL.md §6), and a record timestamp (the wall clock in µs).
 * The CAS, without BigInts: `Atomics.compareExchange` on a BigInt64Array allocates
 * a BigInt for each operand and for its result: about ten per Queue round trip and side, garbage that drove the
 * scavenges in the round trip's tail (issue 12). The addon's cas64 costs about what that CAS cost (~90 ns, mostly
 * the Node-API call) and allocates nothing.
 */
import { native, type PairWordsHandle } from '../native/binding.js';

/** The pairs of one Int32Array (a segment's words). */
export class PairWords {
  readonly #handle: PairWordsHandle;
  /** Kept so the memory the handle names lives as long as this object. */
  readonly #words: Int32Array;

  constructor(words: Int32Array) {
    this.#words = words;
    this.#handle = native.pairWords(words);
  }

  /**
   * seq_cst 64-bit CAS of the pair whose low word is `words[index]` (index even): (expectedLo, expectedHi) ->
   * (desiredLo, desiredHi), halves as int32 bit patterns (a u32 value is fine too). True when it swapped. Every
   * caller names its SYNC point.
   */
  cas(index: number, expectedLo: number, expectedHi: number, desiredLo: number, desiredHi: number): boolean {
    return native.cas64(this.#handle, index, expectedLo | 0, expectedHi | 0, desiredLo | 0, desiredHi | 0);
  }

  /**
   * Stores the wall clock (µs since the Unix epoch, CLOCK_REALTIME) as a u64 at `words[index]` (low half) and
   * `words[index + 1]`, with plain stores: the caller's commit publishes it. No allocation (performance.now() makes
   * a heap number per call on Node 20 and costs ~100-150 ns).
   */
  stampMicros(index: number): void {
    native.stampMicros(this.#handle, index);
  }

  /** The words these pairs live in. */
  get words(): Int32Array {
    return this.#words;
  }
}
