/* Queue (PROTOCOL.md §6): a lossless bounded MPMC queue. The ring algorithm (claim, commit, take, free and recover as
 * 64-bit CASes of the (seq, pid) pair of a slot) is shared with Rpc through queue_ring.h; the public shmbus_queue_*
 * functions below wrap one ring at payload offset 0 of a queue segment. */
#include "queue_ring.h"

#include <stdlib.h>
#include <string.h>

/* Consecutive failed CAS/help steps in one call before the ring is declared corrupt (never reached when sane). */
#define QUEUE_RETRY_LIMIT (1u << 22)

/* ---- words of the ring ---------------------------------------------------------------------------------------- */

static inline uint32_t* queue_word(const sbi_ring* r, uint32_t off) {
  return (uint32_t*)(void*)(r->base + off);
}

static inline uint8_t* queue_slot(const sbi_ring* r, uint32_t index) {
  return r->base + SBI_Q_SLOTS + (uint64_t)index * r->stride;
}

/* The (seq, pid) pair of a slot: one naturally aligned u64, seq in the low half (PROTOCOL is little-endian; so
 * is every platform the seam supports). Only ever accessed with 64-bit atomics. */
static inline uint64_t* queue_pair(uint8_t* slot) {
  return (uint64_t*)(void*)slot;
}

static inline uint64_t queue_make_pair(uint32_t seq, uint32_t pid) {
  return (uint64_t)seq | ((uint64_t)pid << 32);
}

/* FREE of the next lap for a slot whose state word is `seq`. */
static inline uint32_t queue_next_lap(const sbi_ring* r, uint32_t seq) {
  return (seq & ~3u) + 4u * r->slots;
}

/* ---- layout --------------------------------------------------------------------------------------------------- */

int sbi_ring_validate(const char* name, uint64_t base_offset, uint64_t avail, uint32_t slots, uint32_t slot_size) {
  int ok = slots >= 1 && slots <= SBI_Q_MAX_SLOTS && (slots & (slots - 1)) == 0 && slot_size >= 1 &&
       slot_size <= SBI_Q_MAX_SLOT_SIZE && base_offset % 64 == 0 && base_offset <= avail &&
       sbi_ring_size(slots, slot_size) <= avail - base_offset;
  if (ok) return SHMBUS_OK;
  return sbi_fail(SHMBUS_ESHM_CORRUPT,
           "segment \"%s\" has an impossible queue layout (slots %u, slot size %u, %llu payload bytes); "
           "unlink it and create it again",
           name, slots, slot_size, (unsigned long long)avail);
}

void sbi_ring_init(uint8_t* base, uint32_t slots, uint32_t slot_size, uint32_t first_ticket) {
  uint64_t stride = sbi_ring_stride(slot_size);
  uint32_t i;
  /* Plain stores: the segment is not published yet (SYNC READY follows). */
  *(uint32_t*)(void*)(base + SBI_Q_TAIL) = first_ticket;
  *(uint32_t*)(void*)(base + SBI_Q_HEAD) = first_ticket;
  for (i = 0; i < slots; i++) {
    /* The first ticket >= first_ticket that maps to slot i, times 4: FREE for that ticket. */
    uint32_t ticket = first_ticket + ((i - first_ticket) & (slots - 1));
    *(uint32_t*)(void*)(base + SBI_Q_SLOTS + (uint64_t)i * stride) = ticket * 4u;
  }
}

void sbi_ring_attach(sbi_ring* r, uint8_t* base, uint32_t slots, uint32_t slot_size, const char* name,
           uint32_t spin_us, uint32_t liveness_ms) {
  memset(r, 0, sizeof *r);
  r->base = base;
  r->name = name;
  r->slots = slots;
  r->slot_size = slot_size;
  r->mask = slots - 1;
  r->stride = sbi_ring_stride(slot_size);
  r->spin_us = spin_us;
  r->liveness_ms = liveness_ms;
  r->me = *sbi_self();
}

/* ---- waking --------------------------------------------------------------------------------------------------- */

static void queue_bump_commits(sbi_ring* r) {
  /* SYNC QUEUE-COMMITS (seq_cst RMW): the consumers' counter word moves; then the §3 counter-word wake. */
  uint32_t old = sbi_add32(queue_word(r, SBI_Q_COMMITS), 1, __ATOMIC_SEQ_CST);
  sbi_wake_counter(queue_word(r, SBI_Q_COMMITS), queue_word(r, SBI_Q_CONSUMER_WAITERS), old);
}

static void queue_bump_releases(sbi_ring* r) {
  /* SYNC QUEUE-RELEASES (seq_cst RMW): the producers' counter word moves; then the §3 counter-word wake. */
  uint32_t old = sbi_add32(queue_word(r, SBI_Q_RELEASES), 1, __ATOMIC_SEQ_CST);
  sbi_wake_counter(queue_word(r, SBI_Q_RELEASES), queue_word(r, SBI_Q_PRODUCER_WAITERS), old);
}

/* Wakes both sides after a slot changed hands outside the normal commit/free path (recover, give back, end). */
static void queue_bump_both(sbi_ring* r) {
  queue_bump_commits(r);
  queue_bump_releases(r);
}

/* ---- recovery ------------------------------------------------------------------------------------------------- */

/* Records our start time and namespace for the slot state `seq` we now hold, then names that state in ownerSeq. */
static void queue_stamp_owner(sbi_ring* r, uint8_t* slot, uint32_t seq) {
  uint32_t* w = (uint32_t*)(void*)slot;
  /* Relaxed stores: a recoverer may read them concurrently (it validates them through ownerSeq). */
  sbi_store32(&w[SBI_Q_SLOT_START / 4], (uint32_t)r->me.start, __ATOMIC_RELAXED);
  sbi_store32(&w[SBI_Q_SLOT_START / 4 + 1], (uint32_t)(r->me.start >> 32), __ATOMIC_RELAXED);
  sbi_store32(&w[SBI_Q_SLOT_NS / 4], r->me.ns, __ATOMIC_RELAXED);
  /* SYNC QUEUE-OWNER (release store): start and ns are complete before ownerSeq names them. */
  sbi_store32(&w[SBI_Q_SLOT_OWNER_SEQ / 4], seq, __ATOMIC_RELEASE);
}

/* The recorded (start, ns) of the holder of state `seq`: 0 and both zero (not stamped yet), or 1 when the stamp
 * changed while we read it (the slot moved on: nothing to judge). */
static int queue_read_owner(uint8_t* slot, uint32_t seq, uint64_t* start, uint32_t* ns) {
  uint32_t* w = (uint32_t*)(void*)slot;
  uint32_t lo, hi;
  /* SYNC QUEUE-OWNER (acquire load): pairs with the release store in q_stamp_owner. */
  if (sbi_load32(&w[SBI_Q_SLOT_OWNER_SEQ / 4], __ATOMIC_ACQUIRE) != seq) {
    *start = 0;
    *ns = 0;
    return 0;
  }
  /* Relaxed atomic reads: the holder may be rewriting them (a seqlock; validated below). */
  lo = sbi_load32(&w[SBI_Q_SLOT_START / 4], __ATOMIC_RELAXED);
  hi = sbi_load32(&w[SBI_Q_SLOT_START / 4 + 1], __ATOMIC_RELAXED);
  *ns = sbi_load32(&w[SBI_Q_SLOT_NS / 4], __ATOMIC_RELAXED);
  *start = (uint64_t)lo | ((uint64_t)hi << 32);
  /* SYNC QUEUE-OWNER (acquire fence, then a load): the reads above happened before this re-check. */
  sbi_fence_acquire();
  return sbi_load32(&w[SBI_Q_SLOT_OWNER_SEQ / 4], __ATOMIC_RELAXED) == seq ? 0 : 1;
}

/* Checks the holder of `slot` (in state `seq`) and frees the slot if that holder is dead. 1 when the slot changed
 * (recovered, or moved on meanwhile): the caller looks again. */
static int queue_recover_if_dead(sbi_ring* r, uint8_t* slot, uint32_t seq) {
  uint64_t cur, start;
  uint32_t pid, ns;
  uint64_t freed;
  /* SYNC QUEUE-RECOVER-LOAD (acquire 64-bit load): the pair judged, read as one (the pid belongs to this seq). */
  cur = sbi_load64(queue_pair(slot), __ATOMIC_ACQUIRE);
  if ((uint32_t)cur != seq) return 1;
  pid = (uint32_t)(cur >> 32);
  if (queue_read_owner(slot, seq, &start, &ns)) return 1;
  if (sbi_holder_alive(pid, start, ns)) return 0;
  freed = queue_make_pair(queue_next_lap(r, seq), 0);
  /* SYNC QUEUE-RECOVER (acq_rel 64-bit CAS): only if the dead holder still holds it; frees it for the next lap. */
  if (!sbi_cas64(queue_pair(slot), &cur, freed)) return 1;
  /* Statistics (relaxed RMW by the CAS winner): counted once. */
  __atomic_fetch_add(queue_word(r, (seq & 3u) == SBI_Q_WRITING ? SBI_Q_ABANDONED : SBI_Q_LOST), 1, __ATOMIC_RELAXED);
  /* Process-local stuck tracker (relaxed: a hint for when to check liveness). */
  __atomic_store_n(&r->stuck_index1, 0, __ATOMIC_RELAXED);
  queue_bump_both(r);
  return 1;
}

/* `seq` was read from slot `index`, which blocks us; `held` is the state in which a (possibly dead) process holds
 * it. The second time in a row we find the same slot held, check its holder; 1 when it was recovered. */
static int queue_maybe_recover(sbi_ring* r, uint32_t index, uint32_t seq, uint32_t held) {
  if (seq != held) return 0;
  /* Process-local stuck tracker (relaxed loads and stores: a hint; a race only delays one liveness check). */
  if (__atomic_load_n(&r->stuck_index1, __ATOMIC_RELAXED) != index + 1 ||
    __atomic_load_n(&r->stuck_seq, __ATOMIC_RELAXED) != seq) {
    __atomic_store_n(&r->stuck_index1, index + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&r->stuck_seq, seq, __ATOMIC_RELAXED);
    return 0;
  }
  return queue_recover_if_dead(r, queue_slot(r, index), seq);
}

/* ---- producer side -------------------------------------------------------------------------------------------- */

/* Gives back a slot we hold in state `seq` (WRITING or TAKEN) as FREE for the next lap and wakes both sides;
 * nothing to do if it was recovered meanwhile. */
static void queue_give_back(sbi_ring* r, uint8_t* slot, uint32_t seq) {
  uint64_t held = queue_make_pair(seq, r->me.pid);
  /* SYNC QUEUE-FREE (seq_cst 64-bit CAS): (our state, us) -> (next lap's FREE, 0). */
  if (sbi_cas64(queue_pair(slot), &held, queue_make_pair(queue_next_lap(r, seq), 0))) queue_bump_both(r);
}

/* Claims the slot of the next ticket: 0 with out_slot and out_seq set, SHMBUS_EAGAIN (full), SHMBUS_ECLOSED. */
static int queue_claim(sbi_ring* r, uint8_t** out_slot, uint32_t* out_seq) {
  uint32_t pos, i;
  /* SYNC QUEUE-CLOSED (seq_cst load): refuse new claims once the stream has ended. */
  if (sbi_load32(queue_word(r, SBI_Q_CLOSED), __ATOMIC_SEQ_CST) != 0) return SHMBUS_ECLOSED;
  /* SYNC QUEUE-TAIL (relaxed load): a ticket hint; the slot's pair decides. */
  pos = sbi_load32(queue_word(r, SBI_Q_TAIL), __ATOMIC_RELAXED);
  for (i = 0; i < QUEUE_RETRY_LIMIT; i++) {
    uint32_t index = pos & r->mask;
    uint8_t* slot = queue_slot(r, index);
    /* SYNC QUEUE-SLOT-LOAD (relaxed 64-bit load): a hint that the CAS below validates. */
    uint64_t pair = sbi_load64(queue_pair(slot), __ATOMIC_RELAXED);
    uint32_t seq = (uint32_t)pair;
    uint32_t expected = pos * 4u;
    int32_t dif = (int32_t)(seq - expected);
    if (dif == 0) {
      uint32_t want = expected + SBI_Q_WRITING;
      uint64_t free_pair = queue_make_pair(seq, 0);
      /* SYNC QUEUE-CLAIM (seq_cst 64-bit CAS): (FREE, 0) -> (WRITING, our pid) in one step, so the slot is never
       * held by an unknown process; acquires the FREE / RECOVER that freed it for this lap. */
      if (sbi_cas64(queue_pair(slot), &free_pair, queue_make_pair(want, r->me.pid))) {
        uint32_t p = pos;
        /* SYNC QUEUE-TAIL (relaxed CAS): move the hint on; failure means someone helped already. */
        __atomic_compare_exchange_n(queue_word(r, SBI_Q_TAIL), &p, pos + 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        queue_stamp_owner(r, slot, want);
        *out_slot = slot;
        *out_seq = want;
        return SHMBUS_OK;
      }
      /* SYNC QUEUE-TAIL (relaxed load): reload the hint after a lost race. */
      pos = sbi_load32(queue_word(r, SBI_Q_TAIL), __ATOMIC_RELAXED);
    } else if (dif < 0) {
      /* The slot still holds the previous lap's message: full, unless that lap's consumer died holding it. */
      if (queue_maybe_recover(r, index, seq, (pos - r->slots) * 4u + SBI_Q_TAKEN)) continue;
      return SHMBUS_EAGAIN;
    } else {
      uint32_t p = pos;
      /* Another producer claimed this ticket: help the hint along (SYNC QUEUE-TAIL, relaxed), reload. */
      __atomic_compare_exchange_n(queue_word(r, SBI_Q_TAIL), &p, pos + 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
      pos = sbi_load32(queue_word(r, SBI_Q_TAIL), __ATOMIC_RELAXED);
    }
  }
  return sbi_fail(SHMBUS_ESHM_CORRUPT, "queue \"%s\" is corrupt: the producer ticket never settles; unlink it",
           r->name);
}

/* Steps 6-9 of Send for a slot we hold WRITING in state `seq`: 0 committed, 1 recovered under us (a wrong verdict:
 * nothing was sent, the slot is no longer ours), SHMBUS_ECLOSED (the stream ended: the slot was given back). */
static int queue_commit(sbi_ring* r, uint8_t* slot, uint32_t seq, uint32_t length, uint32_t flags) {
  uint64_t held = queue_make_pair(seq, r->me.pid);
  /* SYNC QUEUE-CLOSE-CHECK (seq_cst load after the claim CAS): an end() ordered before our claim makes us give
   * the slot back, so no message is committed after a receiver has seen the end of the stream. */
  if (sbi_load32(queue_word(r, SBI_Q_CLOSED), __ATOMIC_SEQ_CST) != 0) {
    queue_give_back(r, slot, seq);
    return sbi_fail(SHMBUS_ECLOSED, "queue \"%s\" has ended (end of stream)", r->name);
  }
  /* SYNC QUEUE-HELD-CHECK (relaxed 64-bit load): still ours? If a peer recovered the slot while we wrote (a
   * wrong verdict), its next owner's length and flags must not be overwritten: leave it. */
  if (sbi_load64(queue_pair(slot), __ATOMIC_RELAXED) != held) return 1;
  /* Relaxed stores: a consumer may peek at the length of an older lap concurrently (the COMMIT publishes). */
  sbi_store32(&((uint32_t*)(void*)slot)[SBI_Q_SLOT_LENGTH / 4], length, __ATOMIC_RELAXED);
  sbi_store32(&((uint32_t*)(void*)slot)[SBI_Q_SLOT_FLAGS / 4], flags, __ATOMIC_RELAXED);
  /* SYNC QUEUE-COMMIT (seq_cst 64-bit CAS, release part): publishes length, flags and body; (WRITING, us) ->
   * (COMMITTED, 0); pairs with the take CAS. Fails only if our slot was recovered (judged dead). */
  if (!sbi_cas64(queue_pair(slot), &held, queue_make_pair(seq + 1, 0))) return 1;
  /* Handle statistics (relaxed RMW). */
  __atomic_fetch_add(&r->sent, 1, __ATOMIC_RELAXED);
  queue_bump_commits(r);
  return SHMBUS_OK;
}

int sbi_ring_try_write(sbi_ring* r, sbi_body_writer writer, void* ctx, uint32_t flags) {
  for (;;) {
    uint8_t* slot = NULL;
    uint32_t seq = 0, length = 0;
    int rc = sbi_ring_try_claim(r, &slot, &seq);
    if (rc != SHMBUS_OK) return rc;
    rc = writer(ctx, slot + SBI_Q_SLOT_HEADER, r->slot_size, &length);
    if (rc == SHMBUS_OK && length > r->slot_size) rc = SHMBUS_EMESSAGE_TOO_LARGE;
    if (rc != SHMBUS_OK) {
      queue_give_back(r, slot, seq);
      return rc;
    }
    rc = queue_commit(r, slot, seq, length, flags);
    if (rc != 1) return rc;
    /* Recovered under us: the message was never visible; send it again. Handle statistics (relaxed RMW). */
    __atomic_fetch_add(&r->resent, 1, __ATOMIC_RELAXED);
  }
}

int sbi_ring_try_claim(sbi_ring* r, uint8_t** slot, uint32_t* seq) {
  int rc = queue_claim(r, slot, seq);
  if (rc == SHMBUS_ECLOSED) return sbi_fail(SHMBUS_ECLOSED, "queue \"%s\" has ended (end of stream)", r->name);
  return rc;
}

int sbi_ring_commit_held(sbi_ring* r, uint8_t* slot, uint32_t seq, uint32_t length, uint32_t flags) {
  int rc = queue_commit(r, slot, seq, length, flags);
  if (rc != 1) return rc;
  return sbi_fail(SHMBUS_ESHM_CORRUPT,
                  "queue \"%s\": the slot of this loan was recovered by another process that judged this one dead; "
                  "the message was not sent",
                  r->name);
}

void sbi_ring_give_back(sbi_ring* r, uint8_t* slot, uint32_t seq) {
  queue_give_back(r, slot, seq);
}

/* ---- consumer side -------------------------------------------------------------------------------------------- */

/* QUEUE-FREE of a slot we took in state `taken`: 1 freed (producers woken), 0 recovered under us. */
static int queue_free(sbi_ring* r, uint8_t* slot, uint32_t taken) {
  uint64_t held = queue_make_pair(taken, r->me.pid);
  /* SYNC QUEUE-FREE (seq_cst 64-bit CAS, release part): the copy is done; (TAKEN, us) -> (next lap's FREE, 0);
   * pairs with the next claim. Fails only if the slot was recovered (we were judged dead): the recoverer counted
   * the message lost. */
  if (!sbi_cas64(queue_pair(slot), &held, queue_make_pair(queue_next_lap(r, taken), 0))) return 0;
  /* Handle statistics (relaxed RMW). */
  __atomic_fetch_add(&r->received, 1, __ATOMIC_RELAXED);
  queue_bump_releases(r);
  return 1;
}

int sbi_ring_free_held(sbi_ring* r, uint8_t* slot, uint32_t seq) {
  return queue_free(r, slot, seq);
}

static int queue_try_take_slot(sbi_ring* r, uint32_t limit, uint32_t* need, sbi_held* out,
                const sbi_take_intent* intent) {
  uint32_t pos, i;
  /* SYNC QUEUE-CLOSED (seq_cst load) before looking at any slot: pairs with QUEUE-CLOSE-CHECK of senders. */
  int closed = sbi_load32(queue_word(r, SBI_Q_CLOSED), __ATOMIC_SEQ_CST) != 0;
  /* SYNC QUEUE-HEAD (relaxed load): a ticket hint; the slot's pair decides. */
  pos = sbi_load32(queue_word(r, SBI_Q_HEAD), __ATOMIC_RELAXED);
  for (i = 0; i < QUEUE_RETRY_LIMIT; i++) {
    uint32_t index = pos & r->mask;
    uint8_t* slot = queue_slot(r, index);
    uint32_t* sw = (uint32_t*)(void*)slot;
    /* SYNC QUEUE-SLOT-LOAD (acquire 64-bit load: a hint the take CAS validates; acquire so that the length
     * peeked below is the committed message's). */
    uint32_t seq = (uint32_t)sbi_load64(queue_pair(slot), __ATOMIC_ACQUIRE);
    uint32_t committed = pos * 4u + SBI_Q_COMMITTED;
    int32_t dif = (int32_t)(seq - committed);
    if (dif == 0) {
      uint32_t taken = committed + 1;
      uint64_t ready = queue_make_pair(committed, 0);
      uint64_t mine = queue_make_pair(taken, r->me.pid);
      uint32_t length;
      /* Relaxed peek: stable while the slot stays COMMITTED for this ticket (the CAS below checks that). */
      length = sbi_load32(&sw[SBI_Q_SLOT_LENGTH / 4], __ATOMIC_RELAXED);
      if (length <= r->slot_size && length > limit) {
        if (need != NULL) *need = length;
        return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE,
                 "queue \"%s\": the next message has %u bytes, more than the %u-byte buffer", r->name,
                 length, limit);
      }
      /* The body read by `before` is the committed one for the same reason as `length` (acquire load above). */
      if (intent != NULL) intent->before(intent->ctx, slot + SBI_Q_SLOT_HEADER, length);
      /* SYNC QUEUE-TAKE (seq_cst 64-bit CAS): (COMMITTED, 0) -> (TAKEN, our pid); exactly one consumer wins;
       * the acquire part pairs with the producer's COMMIT (body, length and flags are visible). */
      if (sbi_cas64(queue_pair(slot), &ready, mine)) {
        uint32_t p = pos;
        /* SYNC QUEUE-HEAD (relaxed CAS): move the hint on; failure means another consumer helped. */
        __atomic_compare_exchange_n(queue_word(r, SBI_Q_HEAD), &p, pos + 1, 0, __ATOMIC_RELAXED,
                      __ATOMIC_RELAXED);
        queue_stamp_owner(r, slot, taken);
        length = sw[SBI_Q_SLOT_LENGTH / 4];
        if (length > r->slot_size) {
          queue_give_back(r, slot, taken);
          if (intent != NULL) intent->withdraw(intent->ctx);
          return sbi_fail(SHMBUS_ESHM_CORRUPT,
                   "queue \"%s\" is corrupt: a slot claims %u bytes, more than the slot size %u; "
                   "unlink it",
                   r->name, length, r->slot_size);
        }
        out->slot = slot;
        out->seq = taken;
        out->body = slot + SBI_Q_SLOT_HEADER;
        out->length = length;
        out->flags = sw[SBI_Q_SLOT_FLAGS / 4];
        return SHMBUS_OK;
      }
      if (intent != NULL) intent->withdraw(intent->ctx); /* another consumer took it */
      /* SYNC QUEUE-HEAD (relaxed load): reload the hint after a lost race. */
      pos = sbi_load32(queue_word(r, SBI_Q_HEAD), __ATOMIC_RELAXED);
    } else if (dif < 0) {
      /* Ticket `pos` is not committed yet: empty, unless its producer died while writing it. */
      if (queue_maybe_recover(r, index, seq, committed - 1)) continue;
      /* A slot still WRITING after the end belongs to a sender that will give it back: not the end yet. */
      return closed && seq != committed - 1 ? SHMBUS_EEND : SHMBUS_EAGAIN;
    } else {
      uint32_t p = pos;
      /* Taken by another consumer (or already freed): help the hint along (SYNC QUEUE-HEAD, relaxed). */
      __atomic_compare_exchange_n(queue_word(r, SBI_Q_HEAD), &p, pos + 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
      pos = sbi_load32(queue_word(r, SBI_Q_HEAD), __ATOMIC_RELAXED);
    }
  }
  return sbi_fail(SHMBUS_ESHM_CORRUPT, "queue \"%s\" is corrupt: the consumer ticket never settles; unlink it",
           r->name);
}

int sbi_ring_try_take_slot(sbi_ring* r, uint32_t limit, uint32_t* need, sbi_held* out) {
  return queue_try_take_slot(r, limit, need, out, NULL);
}

static int queue_try_take(sbi_ring* r, uint32_t limit, uint32_t* need, sbi_body_reader reader, void* ctx,
             const sbi_take_intent* intent) {
  uint32_t i;
  for (i = 0; i < QUEUE_RETRY_LIMIT; i++) {
    sbi_held h;
    int rc = queue_try_take_slot(r, limit, need, &h, intent);
    if (rc != SHMBUS_OK) return rc;
    rc = reader(ctx, h.body, h.length, h.flags);
    if (rc != SHMBUS_OK) {
      queue_give_back(r, h.slot, h.seq);
      if (intent != NULL) intent->withdraw(intent->ctx);
      return rc;
    }
    /* A failed FREE: the slot was recovered under us (we were judged dead): the copy is void, take the next. */
    if (queue_free(r, h.slot, h.seq)) return SHMBUS_OK;
  }
  return sbi_fail(SHMBUS_ESHM_CORRUPT, "queue \"%s\" is corrupt: the consumer ticket never settles; unlink it",
           r->name);
}

int sbi_ring_try_take(sbi_ring* r, uint32_t limit, uint32_t* need, sbi_body_reader reader, void* ctx) {
  return queue_try_take(r, limit, need, reader, ctx, NULL);
}

/* ---- waiting -------------------------------------------------------------------------------------------------- */

uint32_t sbi_ring_commits(const sbi_ring* r) {
  /* SYNC QUEUE-COMMITS (seq_cst load): read before a try, so a commit in between ends the sleep. */
  return sbi_load32(queue_word(r, SBI_Q_COMMITS), __ATOMIC_SEQ_CST);
}

uint32_t sbi_ring_releases(const sbi_ring* r) {
  /* SYNC QUEUE-RELEASES (seq_cst load): read before a try, so a free in between ends the sleep. */
  return sbi_load32(queue_word(r, SBI_Q_RELEASES), __ATOMIC_SEQ_CST);
}

/* The slot whose holder blocks a waiting consumer (head, WRITING) or producer (tail - slots, TAKEN), if any. */
static int queue_blocker(sbi_ring* r, int consumer, uint8_t** slot, uint32_t* seq) {
  /* SYNC QUEUE-HEAD / QUEUE-TAIL (relaxed load): which slot a waiter waits on. */
  uint32_t pos = sbi_load32(queue_word(r, consumer ? SBI_Q_HEAD : SBI_Q_TAIL), __ATOMIC_RELAXED);
  uint8_t* s = queue_slot(r, pos & r->mask);
  /* SYNC QUEUE-SLOT-LOAD (relaxed 64-bit load): the state of that slot (a hint). */
  uint32_t v = (uint32_t)sbi_load64(queue_pair(s), __ATOMIC_RELAXED);
  uint32_t held = consumer ? pos * 4u + SBI_Q_WRITING : (pos - r->slots) * 4u + SBI_Q_TAKEN;
  if (v != held) return 0;
  *slot = s;
  *seq = v;
  return 1;
}

void sbi_ring_park(sbi_ring* r, int consumer, uint32_t seen, int64_t deadline_ns) {
  uint32_t* word = queue_word(r, consumer ? SBI_Q_COMMITS : SBI_Q_RELEASES);
  uint32_t* sleepers = queue_word(r, consumer ? SBI_Q_CONSUMER_WAITERS : SBI_Q_PRODUCER_WAITERS);
  uint8_t* slot = NULL;
  uint32_t seq = 0;
  int64_t now, left_ms;
  int blocked;
  if (r->spin_us > 0) {
    const int64_t start = sbi_os_now_ns();
    const int64_t until = start + (int64_t)r->spin_us * 1000;
    for (;;) {
      int k;
      /* SYNC QUEUE-COMMITS / QUEUE-RELEASES (seq_cst load): spin until the counter word moves. */
      for (k = 0; k < 64; k++) {
        if (sbi_load32(word, __ATOMIC_SEQ_CST) != seen) return;
      }
      now = sbi_os_now_ns();
      if (now >= until) break;
      sbi_os_yield(now - start);
    }
  }
  blocked = queue_blocker(r, consumer, &slot, &seq);
  if (blocked && queue_recover_if_dead(r, slot, seq)) return;
  now = sbi_os_now_ns();
  if (deadline_ns != INT64_MAX && now >= deadline_ns) return;
  left_ms = deadline_ns == INT64_MAX ? -1 : (deadline_ns - now + 999999) / 1000000;
  if (blocked && (left_ms < 0 || left_ms > (int64_t)r->liveness_ms)) left_ms = r->liveness_ms;
  /* SYNC PARK (§3, counter word): tag the sleepers word, re-check the word, futex-wait; never withdrawn. */
  (void)sbi_park_counter(word, sleepers, seen, left_ms);
}

/* One try of a blocking call (write, claim, read, take): returns what sbi_ring_wait returns. */
typedef int (*queue_attempt)(sbi_ring* r, void* ctx);

/* Tries, then parks on the side's counter word until the try gives anything but SHMBUS_EAGAIN, `timeout_ms` passes
 * (SHMBUS_ETIMEDOUT, message by `what`) or `stop` is set (SHMBUS_EABORTED). */
static int queue_wait(sbi_ring* r, int consumer, queue_attempt attempt, void* ctx, int64_t timeout_ms, const int* stop,
                      const char* what) {
  int64_t deadline = sbi_deadline(timeout_ms);
  for (;;) {
    uint32_t seen;
    int rc;
    /* The caller's process-local stop flag (relaxed load: checked again after every sleep). */
    if (stop != NULL && __atomic_load_n(stop, __ATOMIC_RELAXED)) return SHMBUS_EABORTED;
    seen = consumer ? sbi_ring_commits(r) : sbi_ring_releases(r);
    rc = attempt(r, ctx);
    if (rc != SHMBUS_EAGAIN) return rc;
    if (timeout_ms == 0 || sbi_time_up(deadline)) {
      return sbi_fail(SHMBUS_ETIMEDOUT, "%s on queue \"%s\" timed out after %lld ms%s", what, r->name,
                      (long long)timeout_ms, consumer ? "" : " (the queue stayed full)");
    }
    sbi_ring_park(r, consumer, seen, deadline);
  }
}

typedef struct queue_write_try {
  sbi_body_writer w;
  void* ctx;
  uint32_t flags;
} queue_write_try;

static int queue_try_write_attempt(sbi_ring* r, void* ctx) {
  const queue_write_try* t = SBI_CAST(const queue_write_try*, ctx);
  return sbi_ring_try_write(r, t->w, t->ctx, t->flags);
}

int sbi_ring_write(sbi_ring* r, sbi_body_writer w, void* ctx, uint32_t flags, int64_t timeout_ms) {
  queue_write_try t;
  t.w = w;
  t.ctx = ctx;
  t.flags = flags;
  return queue_wait(r, 0, queue_try_write_attempt, &t, timeout_ms, NULL, "send");
}

static int queue_try_claim_attempt(sbi_ring* r, void* ctx) {
  sbi_held* h = SBI_CAST(sbi_held*, ctx);
  int rc = sbi_ring_try_claim(r, &h->slot, &h->seq);
  if (rc == SHMBUS_OK) {
    h->body = h->slot + SBI_Q_SLOT_HEADER;
    h->length = 0;
    h->flags = 0;
  }
  return rc;
}

int sbi_ring_claim(sbi_ring* r, int64_t timeout_ms, sbi_held* out) {
  return queue_wait(r, 0, queue_try_claim_attempt, out, timeout_ms, NULL, "loan");
}

typedef struct queue_read_try {
  uint32_t limit;
  uint32_t* need;
  sbi_body_reader rd;
  void* ctx;
  sbi_held* held;
  const sbi_take_intent* intent;
} queue_read_try;

static int queue_try_read_attempt(sbi_ring* r, void* ctx) {
  const queue_read_try* t = SBI_CAST(const queue_read_try*, ctx);
  return t->held != NULL ? queue_try_take_slot(r, t->limit, t->need, t->held, t->intent)
                         : queue_try_take(r, t->limit, t->need, t->rd, t->ctx, t->intent);
}

int sbi_ring_read(sbi_ring* r, uint32_t limit, uint32_t* need, sbi_body_reader rd, void* ctx, int64_t timeout_ms,
          const int* stop, const sbi_take_intent* intent) {
  queue_read_try t;
  t.limit = limit;
  t.need = need;
  t.rd = rd;
  t.ctx = ctx;
  t.held = NULL;
  t.intent = intent;
  return queue_wait(r, 1, queue_try_read_attempt, &t, timeout_ms, stop, "receive");
}

int sbi_ring_take_slot(sbi_ring* r, int64_t timeout_ms, const int* stop, const sbi_take_intent* intent,
             sbi_held* out) {
  queue_read_try t;
  memset(&t, 0, sizeof t);
  t.limit = UINT32_MAX;
  t.held = out;
  t.intent = intent;
  return queue_wait(r, 1, queue_try_read_attempt, &t, timeout_ms, stop, "receive");
}

void sbi_ring_end(sbi_ring* r) {
  /* SYNC QUEUE-END (seq_cst exchange): pairs with QUEUE-CLOSED of both sides and QUEUE-CLOSE-CHECK of senders. */
  if (__atomic_exchange_n(queue_word(r, SBI_Q_CLOSED), 1u, __ATOMIC_SEQ_CST) == 0) queue_bump_both(r);
}

int sbi_ring_ended(const sbi_ring* r) {
  /* SYNC QUEUE-CLOSED (seq_cst load) */
  return sbi_load32(queue_word(r, SBI_Q_CLOSED), __ATOMIC_SEQ_CST) != 0;
}

void sbi_ring_shared(const sbi_ring* r, uint32_t* length, uint32_t* abandoned, uint32_t* lost) {
  /* Statistics (relaxed loads of the hints and counters, reporting only). */
  int32_t n = (int32_t)(sbi_load32(queue_word(r, SBI_Q_TAIL), __ATOMIC_RELAXED) -
              sbi_load32(queue_word(r, SBI_Q_HEAD), __ATOMIC_RELAXED));
  if (length != NULL) *length = n < 0 ? 0 : (uint32_t)n > r->slots ? r->slots : (uint32_t)n;
  if (abandoned != NULL) *abandoned = sbi_load32(queue_word(r, SBI_Q_ABANDONED), __ATOMIC_RELAXED);
  if (lost != NULL) *lost = sbi_load32(queue_word(r, SBI_Q_LOST), __ATOMIC_RELAXED);
}

/* ==== public Queue ============================================================================================== */


struct shmbus_queue {
  shmbus_segment* seg;
  sbi_ring ring;
};

#define QUEUE_DEFAULT_SLOTS 64u
#define QUEUE_DEFAULT_MAX_MESSAGE_SIZE 4096u
/* Default slot counts shrink so that a ring of big slots stays within this many bytes (at least 2 slots). */
#define QUEUE_RING_BUDGET (16u << 20)
/* How long an open waits for a creator that is still initialising (it takes microseconds). */
#define QUEUE_INIT_WAIT_MS 1000

/* Checked options with the defaults filled in. */
typedef struct queue_opts {
  uint32_t slots, max_message_size;
  unsigned mode;
  int64_t open_timeout_ms;
  uint32_t liveness_ms;
  uint32_t spin_us;
} queue_opts;

uint32_t sbi_default_slots(uint32_t message_size, uint32_t max) {
  uint32_t n = max;
  while (n > 2 && (uint64_t)n * message_size > QUEUE_RING_BUDGET) n >>= 1;
  return n;
}

int sbi_check_slots(uint32_t slots, const char* what) {
  if (slots >= 1 && slots <= SBI_Q_MAX_SLOTS && (slots & (slots - 1)) == 0) return SHMBUS_OK;
  return sbi_fail(SHMBUS_EINVAL_ARG, "%s: slots must be a power of two from 1 to 2^24 (got %u)", what, slots);
}

static int queue_options(const shmbus_queue_options* in, const char* what, queue_opts* out) {
  shmbus_queue_options o;
  memset(&o, 0, sizeof o);
  if (in != NULL) {
    if (in->struct_size < sizeof(size_t) || in->struct_size > sizeof o) {
      return sbi_fail(SHMBUS_EINVAL_ARG, "%s: options.struct_size must be sizeof(shmbus_queue_options) (got %zu)",
                      what, in->struct_size);
    }
    memcpy(&o, in, in->struct_size);
  }
  if (o.max_message_size > SBI_Q_MAX_SLOT_SIZE) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "%s: max_message_size must be from 1 to 2^30 (got %u)", what,
                    o.max_message_size);
  }
  out->max_message_size = o.max_message_size == 0 ? QUEUE_DEFAULT_MAX_MESSAGE_SIZE : o.max_message_size;
  out->slots = o.slots == 0 ? sbi_default_slots(out->max_message_size, QUEUE_DEFAULT_SLOTS) : o.slots;
  if (sbi_check_slots(out->slots, what) != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  if (sbi_check_mode(o.mode, &out->mode) != 0) return SHMBUS_EINVAL_ARG;
  if (o.open_timeout_ms < -1) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "%s: open_timeout_ms must be -1 (forever) or >= 0 (got %lld)", what,
                    (long long)o.open_timeout_ms);
  }
  out->open_timeout_ms = o.open_timeout_ms;
  out->liveness_ms = SBI_Q_DEFAULT_LIVENESS_MS;
  if (sbi_liveness_option(o.liveness_ms, what, &out->liveness_ms) != SHMBUS_OK) return SHMBUS_EINVAL_ARG;
  if (o.spin_us > 1000000) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "%s: spin_us must be at most 1000000 (got %d)", what, o.spin_us);
  }
  out->spin_us = o.spin_us == 0 ? SBI_Q_DEFAULT_SPIN_US : o.spin_us < 0 ? 0u : (uint32_t)o.spin_us;
  return SHMBUS_OK;
}

typedef struct queue_init_ctx {
  uint32_t slots, slot_size, first_ticket;
} queue_init_ctx;

static int queue_init_payload(uint8_t* payload, size_t size, void* ctx) {
  const queue_init_ctx* c = SBI_CAST(const queue_init_ctx*, ctx);
  (void)size;
  sbi_ring_init(payload, c->slots, c->slot_size, c->first_ticket);
  return SHMBUS_OK;
}

static int queue_wrap(shmbus_segment* seg, const queue_opts* o, shmbus_queue** out) {
  shmbus_queue* q = SBI_CAST(shmbus_queue*, calloc(1, sizeof *q));
  if (q == NULL) {
    sbi_segment_close(seg);
    return sbi_fail(SHMBUS_EOS, "queue \"%s\": out of memory", seg->name);
  }
  q->seg = seg;
  sbi_ring_attach(&q->ring, seg->payload, seg->params[0], seg->params[1], seg->name, o->spin_us, o->liveness_ms);
  *out = q;
  return SHMBUS_OK;
}

int sbi_queue_create_at(const char* name, const shmbus_queue_options* opts, uint32_t first_ticket,
                        shmbus_queue** out) {
  queue_opts o;
  uint32_t params[16];
  queue_init_ctx ctx;
  shmbus_segment* seg = NULL;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_create: out is NULL");
  *out = NULL;
  if ((rc = sbi_check_name(name)) != SHMBUS_OK) return rc;
  if ((rc = queue_options(opts, "shmbus_queue_create", &o)) != SHMBUS_OK) return rc;
  memset(params, 0, sizeof params);
  params[0] = o.slots;
  params[1] = o.max_message_size;
  ctx.slots = o.slots;
  ctx.slot_size = o.max_message_size;
  ctx.first_ticket = first_ticket;
  rc = sbi_segment_create(name, SHMBUS_KIND_QUEUE, params, (size_t)sbi_ring_size(o.slots, o.max_message_size),
                          o.mode, queue_init_payload, &ctx, &seg);
  if (rc != SHMBUS_OK) return rc;
  return queue_wrap(seg, &o, out);
}

int shmbus_queue_create_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out) {
  return sbi_queue_create_at(name, opts, 0, out);
}

int shmbus_queue_create(const char* name, uint32_t slots, uint32_t max_message_size, shmbus_queue** out) {
  shmbus_queue_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.slots = slots;
  o.max_message_size = max_message_size;
  return sbi_queue_create_at(name, &o, 0, out);
}

/* Opens once (no wait for the name to appear). */
static int queue_open_once(const char* name, const queue_opts* o, shmbus_queue** out) {
  shmbus_segment* seg = NULL;
  int rc = sbi_segment_open(name, SHMBUS_KIND_QUEUE, QUEUE_INIT_WAIT_MS, &seg);
  if (rc != SHMBUS_OK) return rc;
  rc = sbi_ring_validate(seg->name, 0, seg->payload_size, seg->params[0], seg->params[1]);
  if (rc != SHMBUS_OK) {
    sbi_segment_close(seg);
    return rc;
  }
  return queue_wrap(seg, o, out);
}

int shmbus_queue_open_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out) {
  queue_opts o;
  int64_t deadline;
  int64_t pause = 1;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_open: out is NULL");
  *out = NULL;
  if ((rc = sbi_check_name(name)) != SHMBUS_OK) return rc;
  if ((rc = queue_options(opts, "shmbus_queue_open", &o)) != SHMBUS_OK) return rc;
  deadline = sbi_deadline(o.open_timeout_ms);
  for (;;) {
    int64_t left;
    rc = queue_open_once(name, &o, out);
    if (rc != SHMBUS_ESHM_NOT_FOUND) return rc;
    left = sbi_left_ms(deadline);
    if (left == 0) return rc;
    /* Polled: shm names have no portable notification. Bounded, at most 20 ms between looks. */
    sbi_os_sleep_ms(left < 0 || left > pause ? pause : left);
    if (pause < 20) pause *= 2;
  }
}

int shmbus_queue_open(const char* name, shmbus_queue** out) {
  return shmbus_queue_open_ex(name, NULL, out);
}

int shmbus_queue_open_or_create_ex(const char* name, const shmbus_queue_options* opts, shmbus_queue** out) {
  queue_opts o;
  int rc;
  if (out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_open_or_create: out is NULL");
  *out = NULL;
  if ((rc = sbi_check_name(name)) != SHMBUS_OK) return rc;
  if ((rc = queue_options(opts, "shmbus_queue_open_or_create", &o)) != SHMBUS_OK) return rc;
  for (;;) {
    rc = queue_open_once(name, &o, out);
    if (rc != SHMBUS_ESHM_NOT_FOUND) return rc;
    rc = sbi_queue_create_at(name, opts, 0, out);
    if (rc != SHMBUS_ESHM_EXISTS) return rc;
  }
}

int shmbus_queue_open_or_create(const char* name, uint32_t slots, uint32_t max_message_size, shmbus_queue** out) {
  shmbus_queue_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.slots = slots;
  o.max_message_size = max_message_size;
  return shmbus_queue_open_or_create_ex(name, &o, out);
}

/* ---- send / receive ------------------------------------------------------------------------------------------ */

typedef struct queue_bytes {
  const void* data;
  size_t len;
} queue_bytes;

static int queue_write_bytes(void* ctx, uint8_t* body, uint32_t cap, uint32_t* len) {
  const queue_bytes* b = SBI_CAST(const queue_bytes*, ctx);
  if (b->len > cap) return SHMBUS_EMESSAGE_TOO_LARGE;
  if (b->len > 0) memcpy(body, b->data, b->len);
  *len = (uint32_t)b->len;
  return SHMBUS_OK;
}

static int queue_check_send(const shmbus_queue* q, const void* data, size_t len, uint32_t flags, const char* what) {
  if (q == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: the queue is NULL", what);
  if (data == NULL && len > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: data is NULL", what);
  if ((flags & ~SHMBUS_MSG_TEXT) != 0) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: unknown flags 0x%x", what, flags);
  if (len > q->ring.slot_size) {
    /* Checked before anything is claimed (as Node does): a message is never split. */
    return sbi_fail(SHMBUS_EMESSAGE_TOO_LARGE,
                    "queue \"%s\": a %zu-byte message is larger than max_message_size %u; create the queue with a "
                    "larger max_message_size",
                    q->seg->name, len, q->ring.slot_size);
  }
  return SHMBUS_OK;
}

int shmbus_queue_send_ex(shmbus_queue* q, const void* data, size_t len, uint32_t flags, int64_t timeout_ms) {
  queue_bytes b;
  int rc = queue_check_send(q, data, len, flags, "shmbus_queue_send");
  if (rc != SHMBUS_OK) return rc;
  if (timeout_ms < -1) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_send: timeout_ms must be -1 or >= 0");
  b.data = data;
  b.len = len;
  return sbi_ring_write(&q->ring, queue_write_bytes, &b, flags, timeout_ms);
}

int shmbus_queue_send(shmbus_queue* q, const void* data, size_t len, int64_t timeout_ms) {
  return shmbus_queue_send_ex(q, data, len, 0, timeout_ms);
}

int shmbus_queue_try_send_ex(shmbus_queue* q, const void* data, size_t len, uint32_t flags) {
  queue_bytes b;
  int rc = queue_check_send(q, data, len, flags, "shmbus_queue_try_send");
  if (rc != SHMBUS_OK) return rc;
  b.data = data;
  b.len = len;
  rc = sbi_ring_try_write(&q->ring, queue_write_bytes, &b, flags);
  if (rc == SHMBUS_EAGAIN) return sbi_fail(SHMBUS_EAGAIN, "queue \"%s\" is full", q->seg->name);
  return rc;
}

int shmbus_queue_try_send(shmbus_queue* q, const void* data, size_t len) {
  return shmbus_queue_try_send_ex(q, data, len, 0);
}

typedef struct queue_copy {
  void* buf;
  size_t len;
  uint32_t flags;
} queue_copy;

static int queue_read_copy(void* ctx, const uint8_t* body, uint32_t len, uint32_t flags) {
  queue_copy* c = SBI_CAST(queue_copy*, ctx);
  if (len > 0) memcpy(c->buf, body, len);
  c->len = len;
  c->flags = flags;
  return SHMBUS_OK;
}

static int queue_receive(shmbus_queue* q, void* buf, size_t cap, size_t* len, uint32_t* flags, int64_t timeout_ms,
                         int once) {
  queue_copy c;
  uint32_t limit, need = 0;
  int rc;
  const char* what = once ? "shmbus_queue_try_receive" : "shmbus_queue_receive";
  if (q == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: the queue is NULL", what);
  if (buf == NULL && cap > 0) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: buf is NULL", what);
  if (timeout_ms < -1) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: timeout_ms must be -1 or >= 0", what);
  limit = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
  c.buf = buf;
  c.len = 0;
  c.flags = 0;
  rc = once ? sbi_ring_try_take(&q->ring, limit, &need, queue_read_copy, &c)
            : sbi_ring_read(&q->ring, limit, &need, queue_read_copy, &c, timeout_ms, NULL, NULL);
  if (rc == SHMBUS_OK) {
    if (len != NULL) *len = c.len;
    if (flags != NULL) *flags = c.flags;
  } else if (rc == SHMBUS_EMESSAGE_TOO_LARGE) {
    if (len != NULL) *len = need;
  } else if (rc == SHMBUS_EAGAIN) {
    return sbi_fail(SHMBUS_EAGAIN, "queue \"%s\" is empty", q->seg->name);
  } else if (rc == SHMBUS_EEND) {
    return sbi_fail(SHMBUS_EEND, "queue \"%s\": end of stream (ended and drained)", q->seg->name);
  }
  return rc;
}

int shmbus_queue_receive_ex(shmbus_queue* q, void* buf, size_t cap, size_t* len, uint32_t* flags,
                            int64_t timeout_ms) {
  return queue_receive(q, buf, cap, len, flags, timeout_ms, 0);
}

int shmbus_queue_receive(shmbus_queue* q, void* buf, size_t cap, size_t* len, int64_t timeout_ms) {
  return queue_receive(q, buf, cap, len, NULL, timeout_ms, 0);
}

int shmbus_queue_try_receive_ex(shmbus_queue* q, void* buf, size_t cap, size_t* len, uint32_t* flags) {
  return queue_receive(q, buf, cap, len, flags, 0, 1);
}

int shmbus_queue_try_receive(shmbus_queue* q, void* buf, size_t cap, size_t* len) {
  return queue_receive(q, buf, cap, len, NULL, 0, 1);
}

/* ---- zero-copy --------------------------------------------------------------------------------------------------- */

static int queue_check_loan(const shmbus_queue* q, size_t size, const shmbus_qloan* loan, const char* what) {
  if (q == NULL || loan == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: NULL argument", what);
  return queue_check_send(q, "", size, 0, what);
}

static void queue_lend(const sbi_held* h, size_t size, shmbus_qloan* loan) {
  loan->data = h->body;
  loan->size = size;
  loan->slot_ = h->slot;
  loan->seq_ = h->seq;
  loan->open_ = 1;
}

int shmbus_queue_loan(shmbus_queue* q, size_t size, int64_t timeout_ms, shmbus_qloan* loan) {
  sbi_held h;
  int rc = queue_check_loan(q, size, loan, "shmbus_queue_loan");
  if (rc != SHMBUS_OK) return rc;
  loan->open_ = 0;
  if (timeout_ms < -1) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_loan: timeout_ms must be -1 or >= 0");
  rc = sbi_ring_claim(&q->ring, timeout_ms, &h);
  if (rc == SHMBUS_OK) queue_lend(&h, size, loan);
  return rc;
}

int shmbus_queue_try_loan(shmbus_queue* q, size_t size, shmbus_qloan* loan) {
  sbi_held h;
  int rc = queue_check_loan(q, size, loan, "shmbus_queue_try_loan");
  if (rc != SHMBUS_OK) return rc;
  loan->open_ = 0;
  rc = sbi_ring_try_claim(&q->ring, &h.slot, &h.seq);
  if (rc == SHMBUS_EAGAIN) return sbi_fail(SHMBUS_EAGAIN, "queue \"%s\" is full", q->seg->name);
  if (rc != SHMBUS_OK) return rc;
  h.body = h.slot + SBI_Q_SLOT_HEADER;
  queue_lend(&h, size, loan);
  return SHMBUS_OK;
}

/* The loan's slot, once it is checked to lie in this queue's ring (the struct is caller memory). */
static int queue_loan_slot(const shmbus_queue* q, const void* slot, uint32_t open, const char* what, uint8_t** out) {
  const uint8_t* first = q->ring.base + SBI_Q_SLOTS;
  uint64_t at;
  if (!open) return sbi_fail(SHMBUS_ECLOSED, "%s: already ended (committed, aborted or released)", what);
  at = (uint64_t)((const uint8_t*)slot - first);
  if ((const uint8_t*)slot < first || at % q->ring.stride != 0 || at / q->ring.stride >= q->ring.slots) {
    return sbi_fail(SHMBUS_EINVAL_ARG, "%s: the struct does not belong to queue \"%s\"", what, q->seg->name);
  }
  *out = q->ring.base + SBI_Q_SLOTS + at;
  return SHMBUS_OK;
}

int shmbus_queue_commit(shmbus_queue* q, shmbus_qloan* loan, size_t size, uint32_t flags) {
  uint8_t* slot = NULL;
  int rc;
  if (q == NULL || loan == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_commit: NULL argument");
  if ((rc = queue_loan_slot(q, loan->slot_, loan->open_, "shmbus_queue_commit", &slot)) != SHMBUS_OK) return rc;
  loan->open_ = 0;
  if (size > loan->size || (flags & ~SHMBUS_MSG_TEXT) != 0) {
    sbi_ring_give_back(&q->ring, slot, loan->seq_);
    return sbi_fail(SHMBUS_EINVAL_ARG,
                    "shmbus_queue_commit: size %zu is more than the %zu bytes loaned, or unknown flags 0x%x (the "
                    "loan was aborted)",
                    size, loan->size, flags);
  }
  return sbi_ring_commit_held(&q->ring, slot, loan->seq_, (uint32_t)size, flags);
}

int shmbus_queue_abort(shmbus_queue* q, shmbus_qloan* loan) {
  uint8_t* slot = NULL;
  int rc;
  if (q == NULL || loan == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_abort: NULL argument");
  if ((rc = queue_loan_slot(q, loan->slot_, loan->open_, "shmbus_queue_abort", &slot)) != SHMBUS_OK) return rc;
  loan->open_ = 0;
  sbi_ring_give_back(&q->ring, slot, loan->seq_);
  return SHMBUS_OK;
}

static int queue_receive_view(shmbus_queue* q, shmbus_qview* view, int64_t timeout_ms, int once) {
  sbi_held h;
  int rc;
  const char* what = once ? "shmbus_queue_try_receive_view" : "shmbus_queue_receive_view";
  if (q == NULL || view == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: NULL argument", what);
  view->open_ = 0;
  if (timeout_ms < -1) return sbi_fail(SHMBUS_EINVAL_ARG, "%s: timeout_ms must be -1 or >= 0", what);
  rc = once ? sbi_ring_try_take_slot(&q->ring, UINT32_MAX, NULL, &h) : sbi_ring_take_slot(&q->ring, timeout_ms, NULL, NULL, &h);
  if (rc == SHMBUS_EAGAIN) return sbi_fail(SHMBUS_EAGAIN, "queue \"%s\" is empty", q->seg->name);
  if (rc == SHMBUS_EEND) return sbi_fail(SHMBUS_EEND, "queue \"%s\": end of stream (ended and drained)", q->seg->name);
  if (rc != SHMBUS_OK) return rc;
  view->data = h.body;
  view->size = h.length;
  view->flags = h.flags & SHMBUS_MSG_TEXT;
  view->slot_ = h.slot;
  view->seq_ = h.seq;
  view->open_ = 1;
  return SHMBUS_OK;
}

int shmbus_queue_receive_view(shmbus_queue* q, shmbus_qview* view, int64_t timeout_ms) {
  return queue_receive_view(q, view, timeout_ms, 0);
}

int shmbus_queue_try_receive_view(shmbus_queue* q, shmbus_qview* view) {
  return queue_receive_view(q, view, 0, 1);
}

int shmbus_queue_release(shmbus_queue* q, shmbus_qview* view) {
  uint8_t* slot = NULL;
  int rc;
  if (q == NULL || view == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_release: NULL argument");
  if ((rc = queue_loan_slot(q, view->slot_, view->open_, "shmbus_queue_release", &slot)) != SHMBUS_OK) return rc;
  view->open_ = 0;
  /* 0: recovered under us (this process was judged dead); the message was counted lost. Nothing to undo. */
  (void)sbi_ring_free_held(&q->ring, slot, view->seq_);
  return SHMBUS_OK;
}

/* ---- end, stats, close ----------------------------------------------------------------------------------------- */

int shmbus_queue_end(shmbus_queue* q) {
  if (q == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_end: the queue is NULL");
  sbi_ring_end(&q->ring);
  return SHMBUS_OK;
}

int shmbus_queue_ended(const shmbus_queue* q) {
  if (q == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_ended: the queue is NULL");
  return sbi_ring_ended(&q->ring);
}

int shmbus_queue_get_stats(const shmbus_queue* q, shmbus_queue_stats* out) {
  if (q == NULL || out == NULL) return sbi_fail(SHMBUS_EINVAL_ARG, "shmbus_queue_get_stats: NULL argument");
  memset(out, 0, sizeof *out);
  sbi_ring_shared(&q->ring, &out->length, &out->abandoned, &out->lost);
  out->slots = q->ring.slots;
  out->max_message_size = q->ring.slot_size;
  /* Handle statistics (relaxed loads, reporting only). */
  out->sent = __atomic_load_n(&q->ring.sent, __ATOMIC_RELAXED);
  out->received = __atomic_load_n(&q->ring.received, __ATOMIC_RELAXED);
  return SHMBUS_OK;
}

uint32_t shmbus_queue_slots(const shmbus_queue* q) {
  return q == NULL ? 0 : q->ring.slots;
}

uint32_t shmbus_queue_max_message_size(const shmbus_queue* q) {
  return q == NULL ? 0 : q->ring.slot_size;
}

const char* shmbus_queue_name(const shmbus_queue* q) {
  return q == NULL ? NULL : q->seg->name;
}

void shmbus_queue_close(shmbus_queue* q) {
  if (q == NULL) return;
  sbi_segment_close(q->seg);
  free(q);
}

int shmbus_queue_unlink(const char* name) {
  return shmbus_segment_unlink(name);
}
