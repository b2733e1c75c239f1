/*
 * shmbus.hpp: the C++17 layer over shmbus.h (RAII handles, exceptions carrying the code, spans, lock guards).
 * Sections are owned by different engineers: write only between your own markers.
 */
#ifndef SHMBUS_HPP
#define SHMBUS_HPP

#include "shmbus.h"

/* ==== SECTION: CORE ==== */
/* ==== END: CORE ==== */

/* ==== SECTION: TOPIC ==== */
/* ==== END: TOPIC ==== */

/* ==== SECTION: MAILBOX ==== */
/* ==== END: MAILBOX ==== */

/* ==== SECTION: QUEUE ==== */
/* ==== END: QUEUE ==== */

/* ==== SECTION: RPC ==== */
/* ==== END: RPC ==== */

#endif /* SHMBUS_HPP */
