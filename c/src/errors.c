/* errors.c: the code table (values fixed by DECISIONS.md, names those of docs/errors.md) and the per-thread
   last-error message. */
#include "internal.h"

#include <stdio.h>

typedef struct sbi_error_entry {
  int code;
  const char* node_code;
  const char* text;
} sbi_error_entry;

static const sbi_error_entry sbi_errors[] = {
    {SHMBUS_OK, "OK", "success"},
    {SHMBUS_EINVAL_ARG, "ERR_INVALID_ARG", "invalid argument"},
    {SHMBUS_EINVALID_NAME, "ERR_INVALID_NAME", "invalid name (1-200 characters of A-Z a-z 0-9 . _ -)"},
    {SHMBUS_ESHM_NOT_FOUND, "ERR_SHM_NOT_FOUND", "no such segment"},
    {SHMBUS_ESHM_EXISTS, "ERR_SHM_EXISTS", "segment already exists"},
    {SHMBUS_ESHM_KIND, "ERR_SHM_KIND", "segment holds another kind"},
    {SHMBUS_ESHM_VERSION, "ERR_SHM_VERSION", "segment made by a newer protocol version"},
    {SHMBUS_ESHM_CORRUPT, "ERR_SHM_CORRUPT", "not a valid shmbus segment"},
    {SHMBUS_ESHM_NO_SPACE, "ERR_SHM_NO_SPACE", "no space left for shared memory"},
    {SHMBUS_ESHM_PERMISSION, "ERR_SHM_PERMISSION", "permission denied"},
    {SHMBUS_ETIMEDOUT, "ERR_TIMEOUT", "timed out"},
    {SHMBUS_ECLOSED, "ERR_CLOSED", "closed"},
    {SHMBUS_EMESSAGE_TOO_LARGE, "ERR_MESSAGE_TOO_LARGE", "message too large"},
    {SHMBUS_ENOT_OWNER, "ERR_NOT_OWNER", "not the owner of the lock"},
    {SHMBUS_ENO_SERVER, "ERR_NO_SERVER", "no live server"},
    {SHMBUS_EREMOTE, "ERR_REMOTE", "the remote handler failed"},
    {SHMBUS_EPUBLISHER_EXISTS, "ERR_PUBLISHER_EXISTS", "another publisher exists"},
    {SHMBUS_ETOO_MANY_WORKERS, "ERR_TOO_MANY_WORKERS", "too many workers"},
    {SHMBUS_EOS, "ERR_OS", "operating system error"},
    {SHMBUS_EABORTED, "ERR_ABORTED", "aborted"},
    {SHMBUS_EPARTS_CORRUPT, "ERR_PARTS_CORRUPT", "not a valid Parts record"},
    /* No Node code: Node expresses these outcomes as values (false, null). */
    {SHMBUS_EAGAIN, "EAGAIN", "would block (nothing available, no room, or busy)"},
    {SHMBUS_EEND, "EEND", "end of stream"},
};

static const sbi_error_entry* sbi_error_find(int code) {
  size_t i;
  for (i = 0; i < sizeof sbi_errors / sizeof sbi_errors[0]; i++) {
    if (sbi_errors[i].code == code) return &sbi_errors[i];
  }
  return NULL;
}

const char* shmbus_strerror(int code) {
  const sbi_error_entry* e = sbi_error_find(code);
  return e ? e->text : "unknown error";
}

const char* shmbus_error_code(int code) {
  const sbi_error_entry* e = sbi_error_find(code);
  return e ? e->node_code : "ERR_UNKNOWN";
}

/* Per thread, so concurrent failures in two threads never mix their messages. */
static SBI_THREAD_LOCAL char sbi_last_message[512];

const char* shmbus_last_error_message(void) { return sbi_last_message; }

int sbi_fail(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sbi_last_message, sizeof sbi_last_message, fmt, ap);
  va_end(ap);
  return code;
}

void sbi_clear_error(void) { sbi_last_message[0] = '\0'; }
