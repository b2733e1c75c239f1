/* semaphore.c: placeholder created by c-core so that c/shmbus.c compiles; its owner replaces it. */
