/*
 * peer.h: the line protocol of the C peer programs that Node cross tests spawn (test/helpers/peers.ts). A peer
 * prints "ready <pid>", then reads one command per stdin line and answers with stdout lines; a failed call answers
 * "error <NODE_CODE> <message>" and the peer keeps going. EOF on stdin ends the peer with status 0.
 *   static int on_command(int argc, char** argv) { ... return 0 to go on, 1 to stop; }
 *   int main(void) { return peer_run(on_command); }
 */
#ifndef SHMBUS_PEER_H
#define SHMBUS_PEER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmbus.h"

#define PEER_MAX_ARGS 32
#define PEER_UNUSED __attribute__((unused))

/* One answer line, flushed at once (the test waits for it). */
PEER_UNUSED __attribute__((format(printf, 1, 2))) static void peer_say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* Answers "error <code> <message>" for a failed call; returns rc so callers can `return peer_error(rc)`. */
PEER_UNUSED static int peer_error(int rc) {
  peer_say("error %s %s", shmbus_error_code(rc), shmbus_last_error_message());
  return rc;
}

/* Integer argument i (0 when absent): decimal, 0x hex or 0 octal as strtoll reads them. */
PEER_UNUSED static long long peer_int(int argc, char** argv, int i) {
  return i < argc ? strtoll(argv[i], NULL, 0) : 0;
}

/* Reads commands until `handle` returns non-zero or stdin ends. */
PEER_UNUSED static int peer_run(int (*handle)(int argc, char** argv)) {
  char line[4096];
  peer_say("ready %ld", (long)getpid());
  while (fgets(line, sizeof line, stdin) != NULL) {
    char* argv[PEER_MAX_ARGS];
    int argc = 0;
    char* save = NULL;
    char* tok = strtok_r(line, " \t\r\n", &save);
    while (tok != NULL && argc < PEER_MAX_ARGS) {
      argv[argc++] = tok;
      tok = strtok_r(NULL, " \t\r\n", &save);
    }
    if (argc > 0 && handle(argc, argv) != 0) break;
  }
  return 0;
}

#endif /* SHMBUS_PEER_H */
