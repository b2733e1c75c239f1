/* Uses an installed shmbus (C API) found through pkg-config: a named event. */
#include <shmbus.h>

#include <stdio.h>
#include <unistd.h>

int main(void) {
  char name[64];
  shmbus_event* e = NULL;
  snprintf(name, sizeof name, "consumer-c-%ld", (long)getpid());
  if (shmbus_event_create(name, SHMBUS_EVENT_MANUAL_RESET, &e) != SHMBUS_OK) return 1;
  shmbus_event_unlink(name);
  if (shmbus_event_set(e) != SHMBUS_OK || shmbus_event_wait(e, 0) != SHMBUS_OK) return 2;
  shmbus_event_close(e);
  puts("consumer ok");
  return 0;
}
