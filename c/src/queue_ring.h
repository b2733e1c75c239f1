/* The Queue ring of PROTOCOL.md §6, shared by Queue (a queue segment, ring at payload offset 0) and Rpc (the
 * request ring at RPC_RING_OFFSET of an rpc segment, and each client's response queue). Internal. */
#ifndef SHMBUS_QUEUE_RING_H
#define SHMBUS_QUEUE_RING_H

#include "internal.h"

#define SBI_Q_TAIL 0u
#define SBI_Q_HEAD 64u
#define SBI_Q_COMMITS 128u
#define SBI_Q_CONSUMER_WAITERS 132u
#define SBI_Q_RELEASES 192u
#define SBI_Q_PRODUCER_WAITERS 196u
#define SBI_Q_CLOSED 256u
#define SBI_Q_ABANDONED 260u
#define SBI_Q_LOST 264u
#define SBI_Q_SLOTS 320u
#define SBI_Q_SLOT_HEADER 32u
#define SBI_Q_SLOT_SEQ 0u
#define SBI_Q_SLOT_PID 4u
#define SBI_Q_SLOT_START 8u
#define SBI_Q_SLOT_OWNER_SEQ 16u
#define SBI_Q_SLOT_LENGTH 20u
#define SBI_Q_SLOT_FLAGS 24u
#define SBI_Q_SLOT_NS 28u
#define SBI_Q_FLAG_TEXT 1u
#define SBI_Q_WRITING 1u
#define SBI_Q_COMMITTED 2u
#define SBI_Q_TAKEN 3u
#define SBI_Q_MAX_SLOTS (1u << 24)
#define SBI_Q_MAX_SLOT_SIZE (1u << 30)
#define SBI_Q_DEFAULT_SPIN_US 50u
#define SBI_Q_DEFAULT_LIVENESS_MS 50u

/* Bytes of one slot: its 32-byte header and the message, rounded up to a cache line. */
static inline uint64_t sbi_ring_stride(uint32_t slot_size) {
    return ((uint64_t)SBI_Q_SLOT_HEADER + slot_size + 63u) / 64u * 64u;
}

/* Bytes of a ring of `slots` slots of `slot_size` bytes. */
static inline uint64_t sbi_ring_size(uint32_t slots, uint32_t slot_size) {
    return SBI_Q_SLOTS + (uint64_t)slots * sbi_ring_stride(slot_size);
}

/* One process's view of a ring. A handle may be used by several threads at once. */
typedef struct sbi_ring {
    uint8_t* base;            /* the ring's first byte inside the mapping (64-byte aligned) */
    const char* name;         /* segment name, for messages */
    uint32_t slots, slot_size, mask;
    uint64_t stride;
    uint32_t spin_us, liveness_ms;
    sbi_identity me;
    /* A slot seen held by another process on the previous failed try (index + 1, 0 = none) and its seq: seeing it
     * again triggers a liveness check. Process-local, relaxed. */
    uint32_t stuck_index1, stuck_seq;
    /* This handle's traffic (relaxed adds: several threads may share a handle). */
    uint64_t sent, received, resent;
} sbi_ring;

/* Writes a message body into a claimed slot (`cap` bytes at `body`), sets *len. Returns 0 or an error code (the
 * slot is given back). */
typedef int (*sbi_body_writer)(void* ctx, uint8_t* body, uint32_t cap, uint32_t* len);
/* Copies what it needs of a taken message out of the ring (the slot is freed after it returns). Returns 0 or an
 * error code (the slot is given back, the message is dropped). */
typedef int (*sbi_body_reader)(void* ctx, const uint8_t* body, uint32_t len, uint32_t flags);

/* A slot this process holds: claimed (WRITING, a loan) or taken (TAKEN, a view), in state `seq`. */
typedef struct sbi_held {
    uint8_t* slot;
    uint8_t* body;      /* the message bytes (slot + 32) */
    uint32_t seq;
    uint32_t length;    /* a taken slot's message length (0 for a claimed one) */
    uint32_t flags;
} sbi_held;

/* Told by a consumer of the committed message it is about to take, before its TAKE CAS (the Rpc worker publishes
 * the request it takes, PROTOCOL §8 "Worker"), and told to withdraw that if it lost the race or gave the slot back.
 * `before` gets the message's body and its committed length (which may exceed slot_size in a corrupt ring: only
 * the first 32 bytes of a body are always inside its slot). */
typedef struct sbi_take_intent {
    void (*before)(void* ctx, const uint8_t* body, uint32_t length);
    void (*withdraw)(void* ctx);
    void* ctx;
} sbi_take_intent;

/* ERR_SHM_CORRUPT unless a ring of these parameters fits in `avail` bytes from `base_offset` (64-aligned). */
int sbi_ring_validate(const char* name, uint64_t base_offset, uint64_t avail, uint32_t slots, uint32_t slot_size);
/* Lays out a fresh ring (inside a segment's init), tickets starting at `first_ticket`. */
void sbi_ring_init(uint8_t* base, uint32_t slots, uint32_t slot_size, uint32_t first_ticket);
void sbi_ring_attach(sbi_ring* r, uint8_t* base, uint32_t slots, uint32_t slot_size, const char* name,
                     uint32_t spin_us, uint32_t liveness_ms);

/* 0 sent; SHMBUS_EAGAIN full; SHMBUS_ECLOSED ended; the writer's error. */
int sbi_ring_try_write(sbi_ring* r, sbi_body_writer w, void* ctx, uint32_t flags);
/* 0 taken; SHMBUS_EAGAIN empty; SHMBUS_EEND ended and drained; SHMBUS_ESHM_CORRUPT; the reader's error. With
 * `limit` below the next message's length (and that length sane) it is not taken: SHMBUS_EMESSAGE_TOO_LARGE and
 * *need = its length. */
int sbi_ring_try_take(sbi_ring* r, uint32_t limit, uint32_t* need, sbi_body_reader rd, void* ctx);
/* Zero-copy. Claims a slot (a loan): 0 with slot/seq set, SHMBUS_EAGAIN full, SHMBUS_ECLOSED ended. */
int sbi_ring_try_claim(sbi_ring* r, uint8_t** slot, uint32_t* seq);
int sbi_ring_claim(sbi_ring* r, int64_t timeout_ms, sbi_held* out);
/* Commits a claimed slot with `length` body bytes: 0, SHMBUS_ECLOSED (ended: given back), SHMBUS_ESHM_CORRUPT (the
 * slot was recovered under us: nothing sent). */
int sbi_ring_commit_held(sbi_ring* r, uint8_t* slot, uint32_t seq, uint32_t length, uint32_t flags);
/* Gives back a slot held WRITING or TAKEN (a loan's abort; a taken message dropped). */
void sbi_ring_give_back(sbi_ring* r, uint8_t* slot, uint32_t seq);
/* Takes the next message and keeps the slot TAKEN (a view): 0 with *out set, else as sbi_ring_try_take. */
int sbi_ring_try_take_slot(sbi_ring* r, uint32_t limit, uint32_t* need, sbi_held* out);
/* `intent` (may be NULL): see sbi_take_intent. */
int sbi_ring_take_slot(sbi_ring* r, int64_t timeout_ms, const int* stop, const sbi_take_intent* intent,
                       sbi_held* out);
/* Frees a taken slot: 1 freed, 0 it had been recovered under us (counted lost; the bytes may have changed). */
int sbi_ring_free_held(sbi_ring* r, uint8_t* slot, uint32_t seq);
/* Blocking forms: wait while full / empty, until `timeout_ms` (-1 forever). `stop` (may be NULL): a process-local
 * flag checked between sleeps (SHMBUS_EABORTED once it is non-zero). */
int sbi_ring_write(sbi_ring* r, sbi_body_writer w, void* ctx, uint32_t flags, int64_t timeout_ms);
int sbi_ring_read(sbi_ring* r, uint32_t limit, uint32_t* need, sbi_body_reader rd, void* ctx, int64_t timeout_ms,
                  const int* stop, const sbi_take_intent* intent);
/* Sleeps until the consumers' (consumer = 1) or producers' futex word leaves `seen`, `deadline_ns` passes
 * (sbi monotonic ns, INT64_MAX = none), or a liveness interval passes while another process holds the blocking
 * slot. Spins first. */
void sbi_ring_park(sbi_ring* r, int consumer, uint32_t seen, int64_t deadline_ns);
uint32_t sbi_ring_commits(const sbi_ring* r);
uint32_t sbi_ring_releases(const sbi_ring* r);
/* Ends the stream for everyone (idempotent). */
void sbi_ring_end(sbi_ring* r);
int sbi_ring_ended(const sbi_ring* r);
void sbi_ring_shared(const sbi_ring* r, uint32_t* length, uint32_t* abandoned, uint32_t* lost);


/* Default slot count for `message_size`-byte messages: `max`, or fewer (a power of two, at least 2) so that the
 * ring stays within 16 MiB. */
uint32_t sbi_default_slots(uint32_t message_size, uint32_t max);
/* SHMBUS_EINVAL_ARG (message naming `what`) unless slots is a power of two from 1 to 2^24. */
int sbi_check_slots(uint32_t slots, const char* what);
/* shmbus_queue_create_ex whose tickets start at `first_ticket` (tests of the u32 wrap). */
int sbi_queue_create_at(const char* name, const shmbus_queue_options* opts, uint32_t first_ticket,
                        shmbus_queue** out);

#endif
