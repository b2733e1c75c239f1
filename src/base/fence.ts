/**
 * Memory fences for the seqlock readers and writers (Topic records, Mailbox slots) on weakly ordered CPUs.
 * A reader copies a payload with plain loads, then validates with an atomic load: on arm64 the plain loads may be
 * satisfied after that load unless an acquire fence separates them (C11 `atomic_thread_fence(memory_order_acquire)`).
 * A writer that marks a slot busy (seq_cst store) and then writes bytes with plain stores needs a release fence
 * between them on arm64 (so the bytes cannot become visible before the mark).
 *
 * x86-64 is TSO: loads are not reordered with older loads, stores not with older stores, so both fences are
 * no-ops there (no call, no cost). Elsewhere they go through the addon.
 */
import { native } from '../native/binding.js';

const TSO = process.arch === 'x64' || process.arch === 'ia32';

/** Orders every load before it (a payload copy) before every load after it (the validating load). */
export const acquireFence: () => void = TSO ? () => {} : () => native.fence(0);

/** Orders every store before it (the odd seqlock mark) before every store after it (the payload bytes). */
export const releaseFence: () => void = TSO ? () => {} : () => native.fence(1);
